// The election port's connection manager over real loopback sockets: managers talking to each
// other, raw sockets playing hostile or slow peers, and a live ZooKeeper 3.8.0 ensemble whose third
// voter is one of our managers.
import t from 'tap';
import pino from 'pino';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ElectionPeers, ElectionPeersOptions, LinkEvent, ReceivedNotification } from '../../src/quorum/peers';
import {
  decodeNotification,
  ElectionAddress,
  ElectionFrameReader,
  encodeFrame,
  encodeInitialMessage,
  encodeLegacyInitialMessage,
  encodeNotification,
  InitialMessage,
  OutgoingNotification,
  parseInitialMessage,
  PROTOCOL_VERSION_V2,
} from '../../src/quorum/wire/election';
import { LONG_MIN, Notification, PeerState } from '../../src/quorum/vote';
import { waitFor } from '../util/client';
import { fourLetterWord, freePort, RunningServer, startReferenceZooKeeper } from '../util/servers';

const HOST = '127.0.0.1';
const WAIT_MS = 10_000;
const LIVE_WAIT_MS = 60_000;

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

interface Harness {
  peers: ElectionPeers;
  address: ElectionAddress;
  received: ReceivedNotification[];
  links: LinkEvent[];
  initials: bigint[];
  logs: LogLine[];
}

const started: ElectionPeers[] = [];
t.teardown(async () => {
  for (const p of started) await p.close();
});

async function manager(
  sid: bigint,
  view: Map<bigint, ElectionAddress | ElectionAddress[]>,
  extra: Partial<ElectionPeersOptions> & { poll?: boolean } = {},
): Promise<Harness> {
  const received: ReceivedNotification[] = [];
  const links: LinkEvent[] = [];
  const initials: bigint[] = [];
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => logs.push(JSON.parse(s) as LogLine) });
  const { poll, ...options } = extra;
  const peers = new ElectionPeers({
    mySid: sid,
    listenAddress: { host: HOST, port: 0 },
    peers: view,
    handshakeTimeoutMs: 2000,
    logger,
    onNotification: poll ? undefined : (r) => received.push(r),
    onLink: (e) => links.push(e),
    onInitialMessage: (m) => initials.push(m.sid),
    ...options,
  });
  started.push(peers);
  const address = await peers.start();
  return { peers, address, received, links, initials, logs };
}

function vote(state: PeerState, leader: bigint, electionEpoch: bigint, config = 'version=0'): OutgoingNotification {
  return { state, leader, zxid: 0n, electionEpoch, peerEpoch: 0n, config };
}

function from(h: Harness, sid: bigint): Notification[] {
  return h.received.filter((r) => r.sid === sid).map((r) => r.notification);
}

function logged(h: Harness, pattern: RegExp): LogLine[] {
  return h.logs.filter((l) => pattern.test(`${l.msg} ${typeof l.reason === 'string' ? l.reason : ''}`));
}

/** A raw TCP peer: everything it reads, and whether it was closed. */
class RawPeer {
  bytes = Buffer.alloc(0);
  closed = false;
  readonly whenClosed: Promise<void>;
  constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => (this.bytes = Buffer.concat([this.bytes, c])));
    socket.on('error', () => undefined);
    this.whenClosed = new Promise((resolve) => socket.once('close', () => ((this.closed = true), resolve())));
  }
  static connect(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: HOST, port }, () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }
  /** The initial message and the notifications received so far. */
  parse(): { sid: bigint | undefined; notifications: Notification[] } {
    const initial = parseInitialMessage(this.bytes);
    if (!initial) return { sid: undefined, notifications: [] };
    const frames = new ElectionFrameReader().push(this.bytes.subarray(initial.bytes));
    return { sid: initial.message.sid, notifications: frames.map((f) => decodeNotification(initial.message.sid, f)) };
  }
}

/** A listening raw peer: records its accepted connections. */
async function rawListener(): Promise<{ server: net.Server; port: number; accepted: RawPeer[]; pauseOnAccept: boolean }> {
  const state = { server: net.createServer(), port: 0, accepted: [] as RawPeer[], pauseOnAccept: false };
  state.server.on('connection', (s) => {
    const peer = new RawPeer(s);
    if (state.pauseOnAccept) s.pause();
    state.accepted.push(peer);
  });
  await new Promise<void>((r) => state.server.listen({ host: HOST, port: 0 }, r));
  state.port = (state.server.address() as net.AddressInfo).port;
  t.teardown(() => {
    for (const p of state.accepted) p.socket.destroy();
    state.server.close();
  });
  return state;
}

function frameOf(n: OutgoingNotification): Buffer {
  return encodeFrame(encodeNotification(n));
}

// ---------------------------------------------------------------------------------------------

t.test('two managers: the larger sid initiates the surviving link; both directions and loopback deliver', async (t) => {
  const view = new Map<bigint, ElectionAddress>();
  const a = await manager(1n, view);
  const b = await manager(2n, view);
  view.set(1n, a.address).set(2n, b.address);

  // The smaller sid asks first: it announces itself and gives way; the larger connects back.
  a.peers.send(2n, vote(PeerState.LOOKING, 1n, 1n));
  await waitFor(() => from(b, 1n).length === 1, 'b hears a', WAIT_MS);
  t.same(from(b, 1n)[0], { sid: 1n, state: 0, leader: 1n, zxid: 0n, electionEpoch: 1n, peerEpoch: 0n, version: 2, config: 'version=0' });
  t.same(b.initials, [1n], 'b read a\'s initial message (and closed that connection)');
  t.same(a.initials, [2n], 'a accepted b\'s connection');
  const ab = a.peers.linkInfo(2n)!;
  const ba = b.peers.linkInfo(1n)!;
  t.equal(ab.initiatedByMe, false, 'a keeps the connection b initiated');
  t.equal(ba.initiatedByMe, true);
  t.equal(ab.localPort, ba.remotePort, 'one TCP connection');
  t.equal(ab.remotePort, ba.localPort);
  t.same(a.links.filter((e) => e.up).length, 1, 'a had one link up');
  t.ok(logged(a, /have the smaller server id/).length >= 1, 'a logged giving way');

  b.peers.send(1n, vote(PeerState.LOOKING, 2n, 1n));
  await waitFor(() => from(a, 2n).length === 1, 'a hears b', WAIT_MS);
  t.equal(from(a, 2n)[0].leader, 2n);

  // To myself: through the receive queue, decoded like any other.
  a.peers.send(1n, vote(PeerState.LOOKING, 1n, 7n, 'loop'));
  await waitFor(() => from(a, 1n).length === 1, 'loopback', WAIT_MS);
  t.same(from(a, 1n)[0], { sid: 1n, state: 0, leader: 1n, zxid: 0n, electionEpoch: 7n, peerEpoch: 0n, version: 2, config: 'loop' });
  t.ok(a.peers.haveDelivered());
  t.same(a.peers.stats(), { receiveDropped: 0, sendReplaced: 0, rejected: 0 });
});

t.test('three managers asking at once converge on one link per pair, initiated by the larger sid', async (t) => {
  const view = new Map<bigint, ElectionAddress>();
  const hs = [await manager(1n, view), await manager(2n, view), await manager(3n, view)];
  hs.forEach((h, i) => view.set(BigInt(i + 1), h.address));
  for (const h of hs) for (let j = 1n; j <= 3n; j++) h.peers.send(j, vote(PeerState.LOOKING, j, 1n, `from-${hs.indexOf(h) + 1}`));
  await waitFor(
    () => hs.every((h, i) => [1n, 2n, 3n].every((s) => from(h, s).length >= 1 && (s === BigInt(i + 1) || h.peers.isConnected(s)))),
    'every manager hears every other and itself',
    WAIT_MS,
  );
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      if (i === j) continue;
      const mine = hs[i].peers.linkInfo(BigInt(j + 1))!;
      const theirs = hs[j].peers.linkInfo(BigInt(i + 1))!;
      t.equal(mine.initiatedByMe, i > j, `${i + 1}->${j + 1}: initiated by the larger sid`);
      t.equal(mine.localPort, theirs.remotePort, `${i + 1}<->${j + 1}: the same connection on both sides`);
      t.equal(from(hs[i], BigInt(j + 1))[0].config, `from-${j + 1}`);
    }
  }
});

t.test('a new link re-sends the last message: duplicates are normal', async (t) => {
  const view = new Map<bigint, ElectionAddress>();
  const a = await manager(1n, view);
  const b = await manager(2n, view);
  view.set(1n, a.address).set(2n, b.address);
  b.peers.send(1n, vote(PeerState.FOLLOWING, 2n, 3n));
  await waitFor(() => from(a, 2n).length === 1, 'first delivery', WAIT_MS);
  a.peers.disconnect(2n);
  await waitFor(() => !b.peers.isConnected(1n), 'b sees the link go', WAIT_MS);
  b.peers.connectAll();
  await waitFor(() => from(a, 2n).length === 2, 'the re-send', WAIT_MS);
  t.same(from(a, 2n)[1], from(a, 2n)[0], 'the same notification again');
  t.equal(b.links.filter((e) => e.up).length, 2, 'two links over time');
  // The other way: a (smaller) reconnects by asking b to call back, and b re-sends again.
  a.peers.disconnect(2n);
  await waitFor(() => !b.peers.isConnected(1n), 'b sees the link go again', WAIT_MS);
  a.peers.connectAll();
  await waitFor(() => from(a, 2n).length === 3, 'the re-send after a call-back', WAIT_MS);
});

t.test('send queue of one: a newer message replaces an unsent one', async (t) => {
  const raw = await rawListener();
  const b = await manager(2n, new Map([[1n, { host: HOST, port: raw.port }]]));
  for (let round = 1n; round <= 3n; round++) b.peers.send(1n, vote(PeerState.LOOKING, 2n, round));
  t.notOk(b.peers.haveDelivered(), 'the only queue is not empty');
  await waitFor(() => raw.accepted.length === 1 && raw.accepted[0].parse().notifications.length === 1, 'first frame', WAIT_MS);
  b.peers.send(1n, vote(PeerState.LOOKING, 2n, 4n));
  await waitFor(() => raw.accepted[0].parse().notifications.length === 2, 'second frame', WAIT_MS);
  const seen = raw.accepted[0].parse();
  t.equal(seen.sid, 2n, 'the initial message first');
  t.same(seen.notifications.map((n) => n.electionEpoch), [3n, 4n], 'rounds 1 and 2 were replaced before they went out');
  t.equal(b.peers.stats().sendReplaced, 2);
  t.ok(b.peers.haveDelivered());
});

t.test('receive queue of 100 drops the oldest', async (t) => {
  const a = await manager(1n, new Map(), { poll: true });
  const raw = await RawPeer.connect(a.address.port);
  const frames = [];
  for (let round = 0n; round < 150n; round++) frames.push(frameOf(vote(PeerState.LOOKING, 9n, round)));
  raw.socket.write(Buffer.concat([encodeInitialMessage(9n, [{ host: HOST, port: 1 }]), ...frames]));
  await waitFor(() => a.peers.stats().receiveDropped === 50, '50 dropped', WAIT_MS);
  t.equal(a.peers.receiveQueueLength, 100);
  const rounds: bigint[] = [];
  for (let r = a.peers.poll(); r; r = a.peers.poll()) rounds.push(r.notification.electionEpoch);
  t.same(rounds, Array.from({ length: 100 }, (_, i) => BigInt(i + 50)), 'the newest 100, in order');
});

t.test('hostile input closes only that connection, with a log line; the good link keeps working', async (t) => {
  const view = new Map<bigint, ElectionAddress>();
  const m = await manager(5n, view, { handshakeTimeoutMs: 300 });
  const p = await manager(6n, view);
  view.set(5n, m.address).set(6n, p.address);
  p.peers.send(5n, vote(PeerState.LOOKING, 6n, 1n));
  await waitFor(() => from(m, 6n).length === 1, 'the good link', WAIT_MS);

  const closedAfter = async (bytes: Buffer | undefined, what: string, log: RegExp): Promise<RawPeer> => {
    const raw = await RawPeer.connect(m.address.port);
    if (bytes) raw.socket.write(bytes);
    await waitFor(() => raw.closed, `${what}: closed`, WAIT_MS);
    t.ok(raw.closed, `${what}: closed`);
    await waitFor(() => logged(m, log).length > 0, `${what}: logged`, WAIT_MS);
    return raw;
  };

  await closedAfter(Buffer.alloc(64, 0xff), 'garbage with the sign bit', /unrecognized protocol version -1/);
  // ASCII reads as a pre-3.5 sid (a first long >= 0): accepted as a stranger, then its "frame length" is absurd.
  await closedAfter(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'HTTP garbage', /invalid frame length/);
  const hugeAddress = encodeInitialMessage(7n, [{ host: HOST, port: 1 }]);
  hugeAddress.writeInt32BE(0x7fffffff, 16);
  await closedAfter(hugeAddress, 'huge address length', /unreasonable address length 2147483647/);
  const hugeFrame = Buffer.concat([encodeInitialMessage(7n, [{ host: HOST, port: 1 }]), Buffer.from([0x7f, 0xff, 0xff, 0xff])]);
  await closedAfter(hugeFrame, 'huge frame length', /invalid frame length 2147483647/);
  await closedAfter(Buffer.concat([encodeInitialMessage(7n, [{ host: HOST, port: 1 }]), Buffer.alloc(4)]), 'zero frame length', /invalid frame length 0/);
  await closedAfter(undefined, 'silent peer', /no initial message in time/);
  await closedAfter(encodeInitialMessage(5n, [{ host: HOST, port: 1 }]), 'my own sid', /my own server id/);
  const unknownVersion = encodeInitialMessage(7n, [{ host: HOST, port: 1 }]);
  unknownVersion.writeBigInt64BE(-65534n, 0);
  await closedAfter(unknownVersion, 'unknown version', /unrecognized protocol version -65534/);

  // A malformed notification on a live link is dropped; the link stays.
  const stranger = await RawPeer.connect(m.address.port);
  const bad = Buffer.alloc(24);
  bad.writeInt32BE(20, 0);
  const unknownState = frameOf(vote(PeerState.LOOKING, 100n, 1n));
  unknownState.writeInt32BE(9, 4);
  stranger.socket.write(Buffer.concat([encodeInitialMessage(100n, [{ host: HOST, port: 1 }]), bad, unknownState, frameOf(vote(PeerState.LOOKING, 100n, 2n))]));
  await waitFor(() => from(m, 100n).length === 1, 'the stranger is heard', WAIT_MS);
  t.equal(from(m, 100n)[0].electionEpoch, 2n);
  t.equal(m.peers.stats().rejected, 2);
  t.ok(logged(m, /notification of 20 bytes/).length === 1, 'short notification logged');
  t.ok(logged(m, /unknown state 9/).length === 1, 'unknown state logged');
  t.notOk(stranger.closed, 'the link stays');
  // A stranger with a larger sid is kept and answered, as ZooKeeper answers non-voters.
  t.equal(m.peers.linkInfo(100n)?.initiatedByMe, false);
  m.peers.send(100n, vote(PeerState.FOLLOWING, 6n, 1n));
  await waitFor(() => new ElectionFrameReader().push(stranger.bytes).length === 1, 'the answer to the stranger', WAIT_MS);
  t.equal(decodeNotification(5n, new ElectionFrameReader().push(stranger.bytes)[0]).state, PeerState.FOLLOWING);
  stranger.socket.destroy();
  await waitFor(() => !m.peers.isConnected(100n), 'the stranger gone', WAIT_MS);
  m.peers.send(100n, vote(PeerState.FOLLOWING, 6n, 1n));
  t.ok(logged(m, /unknown server id with no connection/).length === 1, 'nothing is kept for a gone stranger');

  // A stranger with a smaller sid is called back at the address it announced.
  const callback = await rawListener();
  const small = await RawPeer.connect(m.address.port);
  small.socket.write(encodeInitialMessage(2n, [{ host: HOST, port: callback.port }]));
  await waitFor(() => callback.accepted.length === 1 && callback.accepted[0].parse().sid === 5n, 'called back', WAIT_MS);
  await small.whenClosed;
  t.equal(m.peers.linkInfo(2n)?.initiatedByMe, true, 'the call-back is the link');

  // Long.MAX_VALUE (an old observer's id) gets a stand-in -1, which is smaller: called back too.
  const observerCallback = await rawListener();
  const observer = await RawPeer.connect(m.address.port);
  observer.socket.write(encodeInitialMessage((1n << 63n) - 1n, [{ host: HOST, port: observerCallback.port }]));
  await waitFor(() => observerCallback.accepted.length === 1 && observerCallback.accepted[0].parse().sid === 5n, 'observer called back', WAIT_MS);
  observerCallback.accepted[0].socket.write(frameOf(vote(PeerState.LOOKING, LONG_MIN, 1n)));
  await waitFor(() => from(m, -1n).length === 1, 'the observer heard under -1', WAIT_MS);
  // A pre-3.5 peer (sid alone) with a larger sid is kept.
  const legacy = await RawPeer.connect(m.address.port);
  legacy.socket.write(Buffer.concat([encodeLegacyInitialMessage(40n), frameOf(vote(PeerState.LOOKING, 40n, 1n))]));
  await waitFor(() => from(m, 40n).length === 1, 'the pre-3.5 peer heard', WAIT_MS);

  // Through all of it the good link carried on.
  t.equal(m.peers.linkInfo(6n)?.initiatedByMe, false);
  p.peers.send(5n, vote(PeerState.LOOKING, 6n, 2n));
  m.peers.send(6n, vote(PeerState.LOOKING, 6n, 2n));
  await waitFor(() => from(m, 6n).length === 2 && from(p, 5n).length === 1, 'the good link still works', WAIT_MS);
  t.equal(m.links.filter((e) => e.sid === 6n).length, 1, 'the good link never went down');
});

t.test('too many connections awaiting an initial message are refused', async (t) => {
  const m = await manager(5n, new Map(), { maxHandshakingConnections: 2, handshakeTimeoutMs: 5000 });
  const silent = [await RawPeer.connect(m.address.port), await RawPeer.connect(m.address.port)];
  // The listener accepts in arrival order, so the third is the one over the limit.
  const third = await RawPeer.connect(m.address.port);
  await third.whenClosed;
  t.ok(logged(m, /too many connections awaiting/).length === 1);
  t.notOk(silent[0].closed || silent[1].closed, 'the others wait for their timeout');
});

t.test('a peer that stops reading: one frame held here at most, then the link is closed', async (t) => {
  const raw = await rawListener();
  raw.pauseOnAccept = true;
  const b = await manager(2n, new Map([[1n, { host: HOST, port: raw.port }]]), { sendStallTimeoutMs: 1000 });
  const config = 'x'.repeat(256 * 1024);
  const frameBytes = 4 + 44 + config.length;
  let round = 0n;
  let maxHeld = 0;
  // Fill the kernel's buffers (both ends) until the socket holds bytes.
  while ((b.peers.linkInfo(1n)?.writableLength ?? 0) === 0 && round < 400n) {
    b.peers.send(1n, vote(PeerState.LOOKING, 2n, ++round, config));
    await new Promise((r) => setImmediate(r));
  }
  t.ok(b.peers.isConnected(1n), 'still linked');
  t.ok((b.peers.linkInfo(1n)?.writableLength ?? 0) > 0, `the socket is full after ${round} frames`);
  for (let i = 0; i < 50; i++) {
    b.peers.send(1n, vote(PeerState.LOOKING, 2n, ++round, config));
    maxHeld = Math.max(maxHeld, b.peers.linkInfo(1n)?.writableLength ?? 0);
    await new Promise((r) => setImmediate(r));
  }
  t.ok(maxHeld <= frameBytes, `at most one frame in the socket (${maxHeld} <= ${frameBytes})`);
  t.ok(b.peers.stats().sendReplaced >= 49, 'newer messages replaced the waiting one');
  await waitFor(() => !b.peers.isConnected(1n), 'the stalled link closed', WAIT_MS);
  t.match(b.links.at(-1), { sid: 1n, up: false, reason: /no write progress in 1000 ms/ });
  t.ok(logged(b, /peer is not reading/).length === 1);
});

t.test('asking again and again does not hammer a dead peer: the backoff spaces the attempts', async (t) => {
  const deadPort = await freePort();
  const b = await manager(2n, new Map([[1n, { host: HOST, port: deadPort }]]), { reconnectBackoffMinMs: 200, reconnectBackoffMaxMs: 400 });
  b.peers.send(1n, vote(PeerState.LOOKING, 2n, 1n));
  const attempts = (): number => logged(b, /cannot open election channel/).length;
  await waitFor(() => attempts() === 1, 'first attempt fails', WAIT_MS);
  const t0 = Date.now();
  while (Date.now() - t0 < 500) {
    b.peers.connectAll();
    await new Promise((r) => setTimeout(r, 5));
  }
  // 500 ms of asking every 5 ms: attempts at about 200 and 600 ms after the first, not 100.
  t.ok(attempts() >= 2 && attempts() <= 3, `${attempts()} attempts`);
  // The peer comes up: the next ask (the pending one) connects and the queued message goes out.
  const a = await manager(1n, new Map(), { listenAddress: { host: HOST, port: deadPort } });
  await waitFor(() => from(a, 2n).length === 1, 'delivered once the peer is up', WAIT_MS);
});

/** A clock the test moves: timers fire only in advance(). */
class FakeTimers {
  nowMs = 0;
  private nextId = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.nowMs;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.nextId;
    this.pending.set(id, { at: this.nowMs + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  /** Moves to the earliest pending timer and fires it; false when none. */
  fireNext(): boolean {
    let first: [number, { at: number; fn: () => void }] | undefined;
    for (const entry of this.pending) if (!first || entry[1].at < first[1].at) first = entry;
    if (!first) return false;
    this.pending.delete(first[0]);
    this.nowMs = Math.max(this.nowMs, first[1].at);
    first[1].fn();
    return true;
  }
}

t.test('reconnect backoff doubles up to its cap and resets when a link forms (injected clock)', async (t) => {
  const timers = new FakeTimers();
  const deadPort = await freePort();
  const b = await manager(2n, new Map([[1n, { host: HOST, port: deadPort }]]), {
    timers,
    reconnectBackoffMinMs: 100,
    reconnectBackoffMaxMs: 800,
  });
  const attemptTimes: number[] = [];
  const failures = (): number => logged(b, /cannot open election channel/).length;
  b.peers.send(1n, vote(PeerState.LOOKING, 2n, 1n));
  attemptTimes.push(timers.nowMs);
  for (let i = 1; i <= 6; i++) {
    await waitFor(() => failures() === i, `attempt ${i} fails`, WAIT_MS);
    // Asked at once: the ask waits for the end of the backoff.
    b.peers.connectAll();
    b.peers.connectAll();
    // Fire timers until the next attempt starts (the connect timeout timer is cleared on failure).
    t.ok(timers.fireNext(), 'a deferred attempt is pending');
    attemptTimes.push(timers.nowMs);
  }
  const gaps = attemptTimes.slice(1).map((at, i) => at - attemptTimes[i]);
  t.same(gaps, [100, 200, 400, 800, 800, 800], 'doubling from the minimum to the cap');
  // The peer comes up and connects to us (a smaller sid): the backoff is forgotten and the call-back is immediate.
  const a = await manager(1n, new Map([[2n, b.address]]), { listenAddress: { host: HOST, port: deadPort } });
  a.peers.send(2n, vote(PeerState.LOOKING, 1n, 1n));
  await waitFor(() => b.peers.isConnected(1n) && from(a, 2n).length === 1, 'linked, queued vote delivered', WAIT_MS);
  t.equal(b.peers.linkInfo(1n)!.initiatedByMe, true);
});

t.test('a connect that gets no answer gives up after cnxTimeoutMs', async (t) => {
  // A listener with a full accept queue: the kernel drops further SYNs, so a connect hangs.
  const py = spawn('python3', ['-c', 'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)']);
  t.teardown(() => {
    if (py.pid !== undefined) process.kill(py.pid, 'SIGKILL');
  });
  const port = await new Promise<number>((resolve, reject) => {
    py.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
    py.once('error', reject);
  });
  const filler = await RawPeer.connect(port);
  t.teardown(() => filler.socket.destroy());
  const b = await manager(2n, new Map([[1n, { host: HOST, port }]]), { cnxTimeoutMs: 300 });
  const t0 = Date.now();
  b.peers.send(1n, vote(PeerState.LOOKING, 2n, 1n));
  await waitFor(() => logged(b, /cannot open election channel/).length === 1, 'the connect gave up', WAIT_MS);
  const elapsedMs = Date.now() - t0;
  t.ok(elapsedMs >= 290 && elapsedMs < 3000, `gave up after ${elapsedMs} ms`);
  t.match(logged(b, /cannot open election channel/)[0], { err: 'connect timed out after 300 ms', sid: '1' });
  t.notOk(b.peers.isConnected(1n));
});

// ---------------------------------------------------------------------------------------------
// Live interop: two ZooKeeper 3.8.0 voters and a third voter whose election port is ours.

interface ZkMember {
  sid: bigint;
  quorumPort: number;
  electionPort: number;
}

function configString(members: ZkMember[]): string {
  return members.map((m) => `server.${m.sid}=${HOST}:${m.quorumPort}:${m.electionPort}:participant\n`).join('') + 'version=0';
}

async function startEnsembleMember(member: ZkMember, members: ZkMember[]): Promise<RunningServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `zk-election-${member.sid}-`));
  fs.writeFileSync(path.join(dataDir, 'myid'), `${member.sid}\n`);
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const extraConfig: Record<string, string> = { dataDir, initLimit: '10', syncLimit: '5' };
  for (const m of members) extraConfig[`server.${m.sid}`] = `${HOST}:${m.quorumPort}:${m.electionPort}`;
  return startReferenceZooKeeper({ extraConfig });
}

t.test('live ZooKeeper 3.8.0: servers 1 and 2 are ZooKeeper, server 3 is our manager', async (t) => {
  const members: ZkMember[] = [];
  for (let sid = 1n; sid <= 3n; sid++) members.push({ sid, quorumPort: await freePort(), electionPort: await freePort() });
  const config = configString(members);
  const view = new Map(members.map((m) => [m.sid, { host: HOST, port: m.electionPort }]));
  const ours = await manager(3n, view, { listenAddress: { host: HOST, port: members[2].electionPort }, handshakeTimeoutMs: 10_000 });

  const servers: RunningServer[] = [];
  t.teardown(async () => {
    for (const s of servers) await s.stop();
  });
  // Both at once: neither answers `srvr` with a Mode until the two have elected a leader.
  const launched = await Promise.allSettled([startEnsembleMember(members[0], members), startEnsembleMember(members[1], members)]);
  for (const r of launched) if (r.status === 'fulfilled') servers.push(r.value);
  for (const r of launched) if (r.status === 'rejected') throw r.reason;
  const modeOf = new Map<bigint, string>();
  for (let i = 0; i < 2; i++) modeOf.set(BigInt(i + 1), /Mode: (\w+)/.exec(await fourLetterWord(HOST, servers[i].port, 'srvr'))![1]);
  t.same([...modeOf.values()].sort(), ['follower', 'leader'], 'ZooKeeper 1 and 2 elected a leader');
  const leader = [...modeOf].find(([, mode]) => mode === 'leader')![0];

  // Both connected to us (they have smaller sids: each announced itself and gave way), and we
  // connected back and kept those connections.
  // ZooKeeper retries a peer it could not reach on its notification timeout, which doubles (up to
  // 60 s) while it elects: on a loaded machine the links can take longer than the other waits here.
  await waitFor(() => ours.peers.isConnected(1n) && ours.peers.isConnected(2n), 'links to both', LIVE_WAIT_MS);
  t.ok(ours.initials.includes(1n) && ours.initials.includes(2n), 'we read both initial messages');
  t.equal(ours.peers.linkInfo(1n)!.initiatedByMe, true, 'the link to 1 is ours (3 > 1)');
  t.equal(ours.peers.linkInfo(2n)!.initiatedByMe, true, 'the link to 2 is ours (3 > 2)');

  // Their election traffic reached us: LOOKING votes for the round 1, with their config.
  await waitFor(() => from(ours, 1n).length > 0 && from(ours, 2n).length > 0, 'notifications from both', WAIT_MS);
  for (const sid of [1n, 2n]) {
    for (const n of from(ours, sid)) {
      t.equal(n.state, PeerState.LOOKING, `${sid}: LOOKING during the election`);
      t.equal(n.electionEpoch, 1n, `${sid}: round 1`);
      t.equal(n.zxid, 0n);
      t.equal(n.peerEpoch, 0n);
      t.equal(n.version, 2);
      t.equal(n.config, config, `${sid}: the config string we compute`);
      t.ok(n.leader === 1n || n.leader === 2n);
    }
  }
  // A LOOKING vote of ours is answered by each with its current vote and state (§1.7).
  const before = ours.received.length;
  for (const sid of [1n, 2n]) ours.peers.send(sid, { state: PeerState.LOOKING, leader: 3n, zxid: 0n, electionEpoch: 1n, peerEpoch: 0n, config });
  await waitFor(
    () => [1n, 2n].every((sid) => ours.received.slice(before).some((r) => r.sid === sid)),
    'answers from both',
    WAIT_MS,
  );
  for (const sid of [1n, 2n]) {
    const answer = ours.received.slice(before).find((r) => r.sid === sid)!.notification;
    t.equal(answer.state, sid === leader ? PeerState.LEADING : PeerState.FOLLOWING, `${sid}: its state`);
    t.equal(answer.leader, leader, `${sid}: its leader`);
    t.equal(answer.electionEpoch, 1n, `${sid}: the round of its vote`);
    t.equal(answer.zxid, 0n, `${sid}: the zxid at the election`);
    t.equal(answer.peerEpoch, 1n, `${sid}: the epoch it settled on`);
    t.equal(answer.config, config);
  }

  // Strangers: ZooKeeper talks to sids outside its config and answers them with its vote.
  // A larger one (100) keeps its connection to server 2.
  const strangerView = new Map(members.slice(0, 2).map((m) => [m.sid, { host: HOST, port: m.electionPort }]));
  const big = await manager(100n, strangerView);
  big.peers.send(2n, { state: PeerState.LOOKING, leader: LONG_MIN, zxid: LONG_MIN, electionEpoch: 1n, peerEpoch: LONG_MIN, config });
  await waitFor(() => from(big, 2n).length > 0, 'server 2 answers sid 100', WAIT_MS);
  t.equal(big.peers.linkInfo(2n)!.initiatedByMe, true, 'ZooKeeper kept the connection of the larger stranger');
  t.equal(from(big, 2n)[0].state, leader === 2n ? PeerState.LEADING : PeerState.FOLLOWING);
  t.equal(from(big, 2n)[0].leader, leader);
  t.equal(from(big, 2n)[0].electionEpoch, 1n, 'a non-voter is answered with the logicalclock');
  // A smaller one (0) gives way to server 1, which calls it back at the address it announced.
  const small = await manager(0n, strangerView);
  small.peers.send(1n, { state: PeerState.LOOKING, leader: LONG_MIN, zxid: LONG_MIN, electionEpoch: 1n, peerEpoch: LONG_MIN, config });
  await waitFor(() => from(small, 1n).length > 0, 'server 1 answers sid 0', WAIT_MS);
  t.equal(small.peers.linkInfo(1n)!.initiatedByMe, false, 'ZooKeeper called the smaller stranger back');
  t.ok(small.initials.includes(1n));
  t.equal(from(small, 1n)[0].leader, leader);

  // A non-voter is answered before its state is looked at: even an unknown state (9) gets the vote.
  const raw = await RawPeer.connect(members[1].electionPort);
  t.teardown(() => raw.socket.destroy());
  const odd = frameOf({ state: PeerState.LOOKING, leader: LONG_MIN, zxid: LONG_MIN, electionEpoch: 1n, peerEpoch: LONG_MIN, config });
  odd.writeInt32BE(9, 4);
  raw.socket.write(Buffer.concat([encodeInitialMessage(101n, [{ host: HOST, port: 1 }]), odd]));
  await waitFor(() => new ElectionFrameReader().push(raw.bytes).length >= 1, 'server 2 answers a stranger in state 9', WAIT_MS);
  const oddAnswer = decodeNotification(2n, new ElectionFrameReader().push(raw.bytes)[0]);
  t.equal(oddAnswer.leader, leader, 'answered with its vote');

  // ZooKeeper's own account of the handshakes with us (3 is larger than both) and with sid 0.
  for (const [i, sid] of [[0, 1n], [1, 2n]] as const) {
    t.match(servers[i].log(), new RegExp(`Have smaller server identifier, so dropping the connection: \\(myId:${sid} --> sid:3\\)`), `${sid} gave way to 3`);
  }
  // And each decoded our vote (its log line of every voter's notification).
  for (const i of [0, 1]) {
    t.match(servers[i].log(), /Notification: my state:(FOLLOWING|LEADING); n\.sid:3, n\.state:LOOKING, n\.leader:3, n\.round:0x1, n\.peerEpoch:0x0, n\.zxid:0x0, message format version:0x2, n\.config version:0x0/, `${i + 1} read our vote`);
  }

  for (const s of servers) await s.stop();
  servers.length = 0;
  // With both gone our links drop, with a log line each.
  await waitFor(() => !ours.peers.isConnected(1n) && !ours.peers.isConnected(2n), 'links down after the stop', WAIT_MS);
});

t.test('relisten: a reconfig moves the election port; links up stay, new ones come to the new port', async (t) => {
  const view = new Map<bigint, ElectionAddress>();
  const a = await manager(1n, view);
  const b = await manager(2n, view);
  view.set(1n, a.address).set(2n, b.address);
  a.peers.send(2n, vote(PeerState.LOOKING, 1n, 1n));
  await waitFor(() => from(b, 1n).length === 1, 'b hears a', WAIT_MS);
  const oldPort = b.address.port;
  const moved = await b.peers.relisten({ host: HOST, port: await freePort() });
  t.not(moved.port, oldPort, 'b listens on another port');
  const refused = await RawPeer.connect(oldPort).then(
    (p) => (p.socket.destroy(), 'accepted'),
    () => 'refused',
  );
  t.equal(refused, 'refused', 'the old port no longer accepts');
  b.peers.send(1n, vote(PeerState.LOOKING, 2n, 2n));
  await waitFor(() => from(a, 2n).length === 1, 'a still hears b on the link that was up', WAIT_MS);
  // A third member that knows only the new address reaches b there.
  const view3 = new Map(view).set(2n, moved);
  const c = await manager(3n, view3);
  view3.set(3n, c.address);
  b.peers.setPeers(new Map(view3));
  c.peers.send(2n, vote(PeerState.LOOKING, 3n, 1n));
  await waitFor(() => from(b, 3n).length === 1, 'b hears c through its new port', WAIT_MS);
  t.pass('a new link reaches the moved port');
});

/** Whether a TCP connect to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port }, () => (s.destroy(), resolve(true)));
    s.once('error', () => (s.destroy(), resolve(false)));
  });
}

t.test('multiAddress: every election address listens; a connect skips a dead address; the initial message lists them all', async (t) => {
  const HOST2 = '127.0.0.2';
  const initials: InitialMessage[] = [];
  const b = await manager(2n, new Map(), {
    listenAddress: [{ host: HOST, port: 0 }, { host: HOST2, port: 0 }],
    onInitialMessage: (m) => initials.push(m),
  });
  const listening = b.peers.listeningAddresses();
  t.same(listening.map((a) => a.host), [HOST, HOST2], 'b listens on both of its addresses');
  for (const a of listening) t.ok(await accepts(a.host, a.port), `and accepts on ${a.host}:${a.port}`);
  // a knows b by a dead first address and a live second one.
  const deadPort = await freePort();
  const a = await manager(3n, new Map([[2n, [{ host: HOST, port: deadPort }, listening[1]]]]), {
    listenAddress: [{ host: HOST, port: 0 }, { host: HOST2, port: 0 }],
    protocolVersion: PROTOCOL_VERSION_V2,
  });
  a.peers.send(2n, vote(PeerState.LOOKING, 3n, 1n));
  await waitFor(() => from(b, 3n).length === 1, 'b hears a through its second address', WAIT_MS);
  const failures = (): number => logged(a, /cannot open election channel/).length;
  t.equal(failures(), 1, 'the dead first address failed once, and the second was tried at once');
  t.equal(logged(a, /cannot open election channel/)[0].address, `${HOST}:${deadPort}`, 'the failure names the dead address');
  const m = initials.find((i) => i.sid === 3n);
  t.equal(m?.protocolVersion, PROTOCOL_VERSION_V2, 'the initial message is protocol version -65535');
  t.same(m?.addresses.map((x) => x.host), [HOST, HOST2], 'with both of a\'s addresses');
  // The next connect starts from the address that worked.
  a.peers.disconnect(2n);
  await waitFor(() => !b.peers.isConnected(3n), 'the link is down', WAIT_MS);
  a.peers.send(2n, vote(PeerState.LOOKING, 3n, 2n));
  await waitFor(() => from(b, 3n).length === 2, 'b hears a again', WAIT_MS);
  t.equal(failures(), 1, 'without trying the dead address again');
});

t.test('multiAddress: an election address that cannot be bound is left out; relisten moves every address', async (t) => {
  const HOST2 = '127.0.0.2';
  // Another process's socket holds b's first port: it accepts connections and says nothing.
  let squatted = 0;
  const squatter = net.createServer((c) => {
    squatted++;
    c.on('error', () => undefined);
    c.resume();
  });
  await new Promise<void>((r) => squatter.listen(0, HOST, () => r()));
  t.teardown(() => squatter.close());
  const taken = (squatter.address() as net.AddressInfo).port;
  const b = await manager(2n, new Map(), { listenAddress: [{ host: HOST, port: taken }, { host: HOST2, port: 0 }] });
  t.same(b.peers.listeningAddresses().map((a) => a.host), [HOST2], 'only the free address listens');
  t.equal(logged(b, /cannot listen on an election address/).length, 1, 'the taken one is logged');
  t.equal(b.address.host, HOST2, 'start resolves with the address that bound');
  const a = await manager(1n, new Map([[2n, [{ host: HOST, port: taken }, b.peers.listeningAddresses()[0]]]]));
  b.peers.setPeers(new Map([[1n, a.address]]));
  // 1 < 2: a announces itself and b connects back. a's first try lands on the squatter, which
  // accepts and never answers; the next try (the election's connectAll) starts at the other address.
  a.peers.send(2n, vote(PeerState.LOOKING, 1n, 1n));
  await waitFor(() => (a.peers.connectAll(), from(b, 1n).length === 1), 'b hears a', WAIT_MS);
  t.equal(squatted, 1, 'the squatted port took one connect, and only one');
  const old = b.peers.listeningAddresses()[0];
  const next = [{ host: HOST, port: await freePort() }, { host: HOST2, port: await freePort() }];
  await b.peers.relisten(next);
  t.same(b.peers.listeningAddresses(), next, 'relisten binds both new addresses');
  for (const x of next) t.ok(await accepts(x.host, x.port), `${x.host}:${x.port} accepts`);
  t.notOk(await accepts(old.host, old.port), 'the old address no longer accepts');
});
