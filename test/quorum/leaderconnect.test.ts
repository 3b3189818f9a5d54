// A learner's connect to a new leader: a refused attempt is tried again after a short pause, not
// ZooKeeper's fixed 100 ms, for as long as ZooKeeper would keep trying, and never past
// tickTime x initLimit. The policy runs on a fake clock; the last test uses real sockets.
import t from 'tap';
import * as net from 'node:net';
import { CONNECT_RETRY_MS, CONNECT_WINDOW_MS, ZK_CONNECT_ATTEMPTS, ZK_CONNECT_RETRY_MS, connectToLeader } from '../../src/quorum/leaderconnect';
import { freePort } from '../util/servers';
import { waitFor } from '../util/client';

const HOST = '127.0.0.1';

/** A clock that moves only when the code under test sleeps (and by `costMs` per attempt). */
function fakeWorld(refusals: number, costMs = 0) {
  let nowMs = 1_000;
  const attemptsAtMs: number[] = [];
  const sleeps: number[] = [];
  const socket = new net.Socket();
  return {
    attemptsAtMs,
    sleeps,
    now: () => nowMs,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      nowMs += ms;
    },
    connectOnce: async (_host: string, _port: number, timeoutMs: number) => {
      attemptsAtMs.push(nowMs - 1_000);
      nowMs += Math.min(costMs, timeoutMs);
      if (attemptsAtMs.length <= refusals) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return socket;
    },
    socket,
  };
}

t.test('a leader whose port opens late is reached on the next short retry, past ZooKeeper\'s five tries', async (t) => {
  // The port opens 250 ms after the first attempt: ZooKeeper's learner would connect on its 4th
  // try, at 300 ms; this one tries every CONNECT_RETRY_MS.
  const refusals = Math.ceil(250 / CONNECT_RETRY_MS);
  const w = fakeWorld(refusals);
  const c = await connectToLeader({ addresses: [{ host: HOST, port: 1 }], timeoutMs: 20_000, ...w });
  t.equal(c.socket, w.socket, 'connected');
  t.equal(c.attempts, refusals + 1, 'one attempt per retry until the port opened');
  t.ok(c.attempts > ZK_CONNECT_ATTEMPTS, 'more attempts than ZooKeeper makes');
  t.match(c.firstError?.message, /ECONNREFUSED/, 'the first refusal is reported');
  t.ok(w.sleeps.length > 0 && w.sleeps.every((ms) => ms === CONNECT_RETRY_MS), 'every pause is the short one');
  t.ok(CONNECT_RETRY_MS < ZK_CONNECT_RETRY_MS, 'which is shorter than ZooKeeper\'s back-off');
  t.equal(w.attemptsAtMs[w.attemptsAtMs.length - 1], refusals * CONNECT_RETRY_MS, 'the connecting attempt came one pause after the last refusal');
});

t.test('a port that never opens is given up once ZooKeeper would have given up', async (t) => {
  const w = fakeWorld(Number.MAX_SAFE_INTEGER);
  await t.rejects(connectToLeader({ addresses: [{ host: HOST, port: 1 }], timeoutMs: 20_000, ...w }), /ECONNREFUSED/);
  const last = w.attemptsAtMs[w.attemptsAtMs.length - 1];
  t.ok(last >= CONNECT_WINDOW_MS, `the last attempt (${last} ms) is at the end of ZooKeeper's window (${CONNECT_WINDOW_MS} ms)`);
  t.ok(last < CONNECT_WINDOW_MS + CONNECT_RETRY_MS, 'and not a pause later');
  t.equal(w.attemptsAtMs.length, CONNECT_WINDOW_MS / CONNECT_RETRY_MS + 1, 'an attempt every pause in between');
});

t.test('no attempt and no retry goes past tickTime x initLimit', async (t) => {
  // Slow failures (30 ms each) under a 100 ms limit: the attempt budget shrinks with each try.
  const w = fakeWorld(Number.MAX_SAFE_INTEGER, 30);
  const timeouts: number[] = [];
  const connectOnce = (h: string, p: number, ms: number) => {
    timeouts.push(ms);
    return w.connectOnce(h, p, ms);
  };
  await t.rejects(connectToLeader({ addresses: [{ host: HOST, port: 1 }], timeoutMs: 100, now: w.now, sleep: w.sleep, connectOnce }));
  t.ok(w.attemptsAtMs.every((at) => at < 100), 'every attempt started within the limit');
  t.ok(timeouts.every((ms, i) => ms <= 100 - w.attemptsAtMs[i]), 'and was given only what was left of it');
  t.ok(w.now() - 1_000 <= 100, 'given up by the limit');
});

t.test('real sockets: refused while the port is closed, connected once it listens', async (t) => {
  const port = await freePort();
  let listener: net.Server | undefined;
  let accepted = 0;
  let pauses = 0;
  t.teardown(() => listener?.close());
  // The leader binds its port during the learner's third pause after a refusal.
  const sleep = async (ms: number) => {
    await new Promise((r) => setTimeout(r, ms));
    if (++pauses === 3) {
      listener = net.createServer((c) => {
        accepted++;
        c.destroy();
      });
      await new Promise<void>((r) => listener!.listen(port, HOST, () => r()));
    }
  };
  const c = await connectToLeader({ addresses: [{ host: HOST, port }], timeoutMs: 20_000, sleep });
  t.teardown(() => c.socket.destroy());
  t.equal(c.attempts, 4, 'three refusals, then the attempt after the port opened connected');
  t.match(c.firstError?.message, /ECONNREFUSED/, 'refused while nothing listened');
  t.equal(c.socket.remotePort, port, "to the leader's port");
  await new Promise<void>((r) => c.socket.once('close', () => r()));
  t.equal(accepted, 1, 'the listener took exactly one connection');
});

t.test('several addresses (multiAddress): all are tried at once, the first to connect wins, the others stop', async (t) => {
  // A refuses forever, B opens after 3 refusals: the learner is on B, and A is no longer tried.
  let nowMs = 1_000;
  const attempts = new Map<number, number[]>([[1, []], [2, []]]);
  const socket = new net.Socket();
  const connectOnce = async (_host: string, port: number) => {
    const list = attempts.get(port)!;
    list.push(nowMs - 1_000);
    if (port === 1 || list.length <= 3) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    return socket;
  };
  const c = await connectToLeader({
    addresses: [{ host: HOST, port: 1 }, { host: HOST, port: 2 }],
    timeoutMs: 20_000,
    now: () => nowMs,
    sleep: async (ms) => void (nowMs += ms),
    connectOnce,
  });
  t.equal(c.socket, socket, 'connected');
  t.same(c.address, { host: HOST, port: 2 }, 'through the address that opened');
  t.equal(c.attempts, 4, 'its fourth attempt');
  const aAtWin = attempts.get(1)!.length;
  t.ok(aAtWin >= 3 && aAtWin <= 5, `the dead address was tried alongside (${aAtWin} times)`);
  await new Promise((r) => setImmediate(r));
  nowMs += 1_000;
  await new Promise((r) => setTimeout(r, 20));
  t.equal(attempts.get(1)!.length, aAtWin, 'and not again once the other connected');
});

t.test('several addresses: when every one fails, the error names each', async (t) => {
  const connectOnce = async (_host: string, port: number): Promise<net.Socket> => {
    throw new Error(`refused on ${port}`);
  };
  let nowMs = 0;
  await t.rejects(
    connectToLeader({ addresses: [{ host: HOST, port: 1 }, { host: '127.0.0.2', port: 2 }], timeoutMs: 20_000, now: () => nowMs, sleep: async (ms) => void (nowMs += ms), connectOnce }),
    /127\.0\.0\.1:1: refused on 1.*127\.0\.0\.2:2: refused on 2|127\.0\.0\.2:2: refused on 2.*127\.0\.0\.1:1: refused on 1/,
  );
});

t.test('real sockets, two addresses both listening: one connection is kept, the redundant one is closed', async (t) => {
  const servers: net.Server[] = [];
  const accepted: net.Socket[] = [];
  t.teardown(() => {
    for (const s of accepted) s.destroy();
    for (const s of servers) s.close();
  });
  const addresses = [];
  for (const host of [HOST, '127.0.0.2']) {
    const server = net.createServer((s) => {
      s.on('error', () => undefined);
      accepted.push(s);
    });
    await new Promise<void>((r) => server.listen(0, host, () => r()));
    servers.push(server);
    addresses.push({ host, port: (server.address() as net.AddressInfo).port });
  }
  const c = await connectToLeader({ addresses, timeoutMs: 20_000 });
  t.teardown(() => c.socket.destroy());
  t.ok(addresses.some((a) => a.host === c.address.host && a.port === c.address.port), 'connected to one of them');
  // Each listener accepts at most once; a connection that lost the race is closed by the learner.
  await waitFor(() => accepted.length >= 1 && accepted.filter((s) => !s.destroyed && !s.readableEnded).length === 1, 'one open connection', 5_000);
  const open = accepted.filter((s) => !s.readableEnded);
  t.equal(open.length, 1, 'exactly one connection stays open');
  t.equal(open[0].localPort, c.address.port, 'the one the learner uses');
});

t.test('real sockets: the first address refuses, the second listens: connected through the second', async (t) => {
  const dead = await freePort();
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.2', () => r()));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const c = await connectToLeader({ addresses: [{ host: HOST, port: dead }, { host: '127.0.0.2', port }], timeoutMs: 20_000 });
  c.socket.destroy();
  t.same(c.address, { host: '127.0.0.2', port }, 'the live address');
});
