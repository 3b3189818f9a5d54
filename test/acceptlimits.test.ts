// The pieces of AcceptLimits that need no second server: the rate-limited log, the limit and the
// descriptor count read from /proc, and a listener whose descriptor budget is exhausted.
// test/cnxnlimits.test.ts runs the whole against zkts and ZooKeeper under a real descriptor limit.
import * as fs from 'node:fs';
import * as net from 'node:net';
import t from 'tap';
import pino from 'pino';
import { AcceptLimits, openDescriptorCount, openFileLimit, RateLimitedLog } from '../src/server/acceptlimits';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { lines, log };
}

t.test('a rate-limited log writes one line per interval, with the count of those it left out', async (t) => {
  const { lines, log } = capture();
  let now = 1_000;
  const rl = new RateLimitedLog(log, 1_000, () => now);
  rl.note({ n: 1 }, 'refused');
  for (let i = 0; i < 5; i++) rl.note({ n: 2 + i }, 'refused');
  now += 999;
  rl.note({ n: 7 }, 'refused');
  t.equal(lines.length, 1, 'one line within the interval');
  now += 1;
  rl.note({ n: 8 }, 'refused');
  t.same(
    lines.map((l) => [l.n, l.alsoSinceLastLogged]),
    [
      [1, 0],
      [8, 6],
    ],
    'the next line carries the count of the six left out',
  );
});

t.test('the open-file limit and the open descriptors, from /proc/self', async (t) => {
  const text = fs.readFileSync('/proc/self/limits', 'latin1');
  const soft = /^Max open files\s+(\S+)/m.exec(text)![1];
  t.equal(openFileLimit(), soft === 'unlimited' ? undefined : Number(soft));
  const before = (await openDescriptorCount())!;
  const fd = fs.openSync('/proc/self/limits', 'r');
  try {
    t.equal(await openDescriptorCount(), before + 1, 'one more file open, one more counted');
  } finally {
    fs.closeSync(fd);
  }
});

t.test('with a reserve larger than the limit no client gets in, and each refusal is counted', async (t) => {
  const limit = openFileLimit();
  if (limit === undefined) {
    t.pass('no open-file limit on this system');
    return;
  }
  const { lines, log } = capture();
  const counters = { connectionRejected: 0, descriptorReserveRefused: 0, acceptErrors: 0 };
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => {
    if (gate.admit(s)) accepted.push(s);
  });
  const gate = new AcceptLimits(server, 0, limit, counters, log);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  await gate.start();
  t.teardown(() => {
    gate.stop();
    for (const s of accepted) s.destroy();
    server.close();
  });
  t.equal(gate.allowed, 0, 'nothing left for clients');
  const port = (server.address() as net.AddressInfo).port;
  for (let i = 0; i < 3; i++) {
    await new Promise<void>((resolve) => {
      const c = net.createConnection({ host: '127.0.0.1', port });
      c.on('error', () => undefined);
      c.on('close', () => resolve());
    });
  }
  t.equal(accepted.length, 0, 'every connection closed');
  t.same(counters, { connectionRejected: 3, descriptorReserveRefused: 3, acceptErrors: 0 });
  t.equal(lines.filter((l) => l.msg === 'too few file descriptors left for a new connection; closing it').length, 1, 'logged once for the three');
});
