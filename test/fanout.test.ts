// The two-thread notification writer (src/server/fanout.ts) on real loopback sockets: every
// socket gets the frame exactly once, a full socket gets the rest through its stream, a broken one
// reports a failure, and through a server each watcher gets its event once, before the reply of
// the change that caused it.
import t from 'tap';
import * as net from 'node:net';
import { ParallelFrameWriter, FanoutNotifier, type DirectWatcher } from '../src/server/fanout';
import { startInProcessZkts, ZkClient, waitFor } from './util/client';
import { EventType } from '../src/protocol/constants';

interface Pair {
  /** The accepted side, which the writer writes to. */
  server: net.Socket;
  client: net.Socket;
  received: Buffer[];
}

/** `n` connected pairs; with `unread`, the accepted sides are never read (they do not notice a reset). */
async function pairs(n: number, unread = false): Promise<{ pairs: Pair[]; close(): Promise<void> }> {
  const accepted: net.Socket[] = [];
  const listener = net.createServer({ pauseOnConnect: unread }, (s) => accepted.push(s));
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const port = (listener.address() as net.AddressInfo).port;
  const clients: Array<{ client: net.Socket; received: Buffer[] }> = [];
  for (let i = 0; i < n; i++) {
    const client = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    client.on('data', (d) => received.push(d));
    client.on('error', () => {});
    clients.push({ client, received });
    await new Promise((r) => client.once('connect', r));
  }
  await waitFor(() => accepted.length === n, `${n} accepted`);
  // Accepted sockets come in connect order; match them to the clients by port.
  const byPort = new Map(accepted.map((s) => [s.remotePort, s]));
  const out = clients.map((c) => ({ ...c, server: byPort.get(c.client.localPort!)! }));
  for (const p of out) p.server.on('error', () => {});
  return {
    pairs: out,
    async close() {
      for (const p of out) {
        p.client.destroy();
        p.server.destroy();
      }
      await new Promise((r) => listener.close(r));
    },
  };
}

function fdOf(s: net.Socket): number {
  return (s as unknown as { _handle: { fd: number } })._handle.fd;
}

t.test('a batch larger than the first shared arrays: every socket gets each frame once, in order', async (t) => {
  // 1,500 sockets: more than the 1,024 the arrays start with, so they grow between batches.
  const { pairs: ps, close } = await pairs(1500);
  t.teardown(close);
  const writer = new ParallelFrameWriter();
  t.teardown(() => writer.close());
  const fds = ps.map((p) => fdOf(p.server));
  const first = Buffer.from('first-frame');
  const second = Buffer.alloc(300, 0x61); // larger than the first frame buffer too
  const r1 = writer.writeAll(first, fds, fds.length);
  t.ok(r1.subarray(0, fds.length).every((n) => n === first.length), 'the kernel took the whole first frame on every socket');
  const r2 = writer.writeAll(second, fds, 1000);
  t.ok(r2.subarray(0, 1000).every((n) => n === second.length), 'and the second on the first 1,000');
  const want = (i: number) => (i < 1000 ? first.length + second.length : first.length);
  await waitFor(() => ps.every((p, i) => Buffer.concat(p.received).length >= want(i)), 'all bytes received');
  await new Promise((r) => setTimeout(r, 100));
  const wrong = ps.filter((p, i) => !Buffer.concat(p.received).equals(i < 1000 ? Buffer.concat([first, second]) : first));
  t.equal(wrong.length, 0, 'each socket received exactly its frames, once each, in order');
  t.ok(writer.usable, 'the thread is still there');
});

t.test('sockets that cannot take a frame whole get the rest through their stream; a broken one reports -1', async (t) => {
  // The accepted sides are not read: `broken`'s does not notice the reset until it writes.
  const { pairs: ps, close } = await pairs(3, true);
  t.teardown(close);
  const [full, ok, broken] = ps;
  // Nobody reads `full`'s client: a frame larger than both kernel buffers cannot be taken whole.
  full.client.pause();
  broken.client.resetAndDestroy();
  await new Promise((r) => setTimeout(r, 200));
  const big = Buffer.alloc(16 << 20);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i, i);
  const written: number[] = [];
  const watchers: DirectWatcher[] = [full, ok, broken].map((p) => ({
    notify: () => t.fail('not written the slow way'),
    canRead: () => true,
    directWriteFd: () => fdOf(p.server),
    directWritten: (frame, n) => {
      written.push(n);
      if (n >= 0 && n < frame.length) p.server.write(frame.subarray(n));
    },
  }));
  const notifier = new FanoutNotifier(2, (e) => t.fail(e.message));
  t.teardown(() => notifier.close());
  notifier.notifyAll(watchers, EventType.NodeDataChanged, '/x', big);
  t.ok(written[0] >= 0 && written[0] < big.length, `the full socket took part of the frame (${written[0]} bytes)`);
  t.ok(written[1] >= 0 && written[1] < big.length, `so did the other (${written[1]} bytes): its client reads only after this call`);
  t.equal(written[2], -1, 'the reset socket failed');
  full.client.resume();
  await waitFor(() => Buffer.concat(full.received).length >= big.length, 'the full socket got the rest', 20_000);
  t.ok(Buffer.concat(full.received).equals(big), 'and the bytes arrived whole and in order');
  await waitFor(() => Buffer.concat(ok.received).length >= big.length, 'the other socket got the rest', 20_000);
  t.ok(Buffer.concat(ok.received).equals(big), 'on the other socket too');
});

t.test('through a server: each watcher gets its event once, before the reply to the change', async (t) => {
  // A threshold of 2 puts every event with two or more watchers through the writer.
  const srv = await startInProcessZkts({ maxClientCnxns: '0' }, { 'zkts.watch.parallelFanoutMinWatchers': '2' });
  t.teardown(() => srv.stop());
  const clients = await Promise.all(Array.from({ length: 300 }, () => ZkClient.connect(srv.host, srv.port)));
  t.teardown(() => clients.forEach((c) => c.destroy()));
  t.equal((await clients[0].create('/fan', Buffer.from('0'))).header.err, 0);
  for (let round = 1; round <= 3; round++) {
    for (const c of clients) t.equal((await c.exists('/fan', true)).header.err, 0);
    const before = clients.map((c) => c.notifications.length);
    const reply = await clients[0].setData('/fan', Buffer.from(String(round)));
    t.equal(reply.header.err, 0);
    const n0 = clients[0].notifications[before[0]];
    t.ok(n0 && n0.seq < reply.seq, `round ${round}: the writer's own event came before its reply`);
    await waitFor(() => clients.every((c, i) => c.notifications.length > before[i]), `round ${round}: all events`);
    await new Promise((r) => setTimeout(r, 100));
    const counts = clients.map((c, i) => c.notifications.length - before[i]);
    t.ok(
      counts.every((n) => n === 1),
      `round ${round}: every watcher got exactly one event`,
    );
    t.ok(
      clients.every((c) => {
        const e = c.notifications[c.notifications.length - 1].event;
        return e.type === EventType.NodeDataChanged && e.path === '/fan';
      }),
      `round ${round}: and it is NodeDataChanged /fan`,
    );
  }
});
