// ServerCnxn's output bounds and read holds, on a socket whose kernel side the test plays: what it
// has not "taken" stays in writableLength until the test drains it. test/backpressure.test.ts runs
// the same against real sockets and both servers.
import t from 'tap';
import { EventEmitter } from 'node:events';
import type * as net from 'node:net';
import pino from 'pino';
import { Hold, ServerCnxn, type CnxnHandler } from '../src/server/cnxn';
import { JuteWriter } from '../src/protocol/jute';

/** The socket surface ServerCnxn uses; writes stay pending until `drain()`. */
class FakeSocket extends EventEmitter {
  remoteAddress = '127.0.0.1';
  remotePort = 40000;
  destroyed = false;
  paused = false;
  writableLength = 0;
  writes = 0;
  private callbacks: Array<() => void> = [];
  setNoDelay(): void {}
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  isPaused(): boolean {
    return this.paused;
  }
  write(b: Buffer, cb?: () => void): boolean {
    this.writes++;
    this.writableLength += b.length;
    if (cb) this.callbacks.push(cb);
    return false;
  }
  /** The kernel takes everything: write callbacks, then 'drain'. */
  drain(): void {
    this.writableLength = 0;
    for (const cb of this.callbacks.splice(0)) cb();
    this.emit('drain');
  }
  end(): void {}
  destroy(): void {
    this.destroyed = true;
  }
}

function setup(softBytes: number, hardBytes: number, opts: { sessionlessMs?: number; words?: string[] } = {}) {
  const events: string[] = [];
  const frames: Buffer[] = [];
  const handler: CnxnHandler = {
    maxFrameBytes: 1 << 20,
    sessionlessCnxnTimeoutMs: opts.sessionlessMs ?? 10_000,
    outputLimits: { softBytes, hardBytes },
    stats: { packetsReceived: 0, packetsSent: 0, bytesReceived: 0 },
    onConnect: (c, f) => {
      events.push(`connect:${f.toString('hex')}`);
      c.state = 'open';
    },
    onRequest: (_c, f) => {
      frames.push(Buffer.from(f));
    },
    onFourLetterWord: (_c, word) => events.push(`word:${word}`),
    isFourLetterWord: (word) => (opts.words ?? []).includes(word),
    onClose: () => events.push('close'),
    onSessionlessExpired: () => events.push('expired'),
    onOutputPaused: () => events.push('paused'),
    onOutputOverflow: () => events.push('overflow'),
    canRead: () => true,
  };
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => lines.push(s) });
  const socket = new FakeSocket();
  const c = new ServerCnxn(socket as unknown as net.Socket, handler, log);
  return { c, socket, events, frames, lines };
}

const tick = () => new Promise((r) => process.nextTick(r));
const turn = () => new Promise((r) => setImmediate(r));
const reply = (c: ServerCnxn, bytes: number) => c.sendReply(1, 1n, 0, (w: JuteWriter) => w.writeBuffer(Buffer.alloc(bytes)));
const frame = (n: number) => {
  const b = Buffer.alloc(4 + n);
  b.writeInt32BE(n, 0);
  return b;
};

t.test('past the soft bound the connection is not read; below half of it, it is again', async (t) => {
  const { c, socket, events } = setup(10_000, 100_000);
  c.state = 'open';
  reply(c, 4_000);
  t.equal(c.pendingOutputBytes, 4_000 + 24, 'encoded and not flushed counts');
  t.ok(c.reading);
  await tick();
  t.equal(socket.writableLength, 4_024, 'flushed: now the kernel has not taken it');
  t.equal(c.pendingOutputBytes, 4_024, 'what the kernel did not take counts too');
  reply(c, 8_000);
  t.notOk(c.reading, 'past the soft bound');
  t.ok(socket.paused, 'its socket is paused');
  t.same(events, ['paused']);
  await tick();
  socket.writableLength = 6_000;
  socket.emit('drain');
  await turn();
  t.notOk(c.reading, 'still above half the soft bound');
  socket.drain();
  await turn();
  t.ok(c.reading, 'below half: read again');
  t.notOk(socket.paused);
});

t.test('neither hold releases a connection the other still holds', async (t) => {
  const { c, socket } = setup(10_000, 100_000);
  c.state = 'open';
  c.hold(Hold.Outstanding);
  reply(c, 20_000);
  await tick();
  t.notOk(c.reading);
  c.release(Hold.Outstanding);
  await turn();
  t.notOk(c.reading, 'the outstanding limit released it, its output still holds it');
  t.ok(socket.paused);
  c.hold(Hold.Outstanding);
  socket.drain();
  await turn();
  t.notOk(c.reading, 'its output drained, the outstanding limit still holds it');
  t.ok(socket.paused);
  c.release(Hold.Outstanding);
  await turn();
  t.ok(c.reading, 'both released');
  t.notOk(socket.paused);
});

t.test('frames already received wait while held, and come once released', async (t) => {
  const { c, socket, frames } = setup(10_000, 100_000);
  socket.emit('data', frame(40)); // the handshake
  t.equal(c.state, 'open');
  c.hold(Hold.Outstanding);
  socket.emit('data', Buffer.concat([frame(1), frame(2), frame(3)]));
  t.equal(frames.length, 0, 'none decoded while held');
  c.release(Hold.Outstanding);
  t.equal(frames.length, 0, 'not from inside the release');
  await turn();
  t.same(
    frames.map((f) => f.length),
    [1, 2, 3],
    'all, in order, on the next turn',
  );
});

t.test('a burst yields the event loop every 1,000 requests', async (t) => {
  const { c, socket, frames } = setup(10_000_000, 100_000_000);
  socket.emit('data', frame(40));
  const burst = Buffer.concat(Array.from({ length: 2500 }, () => frame(8)));
  socket.emit('data', burst);
  t.ok(frames.length <= 1000, `at most 1,000 in one go (${frames.length})`);
  t.notOk(c.reading);
  for (let i = 0; i < 20 && frames.length < 2500; i++) await turn();
  t.equal(frames.length, 2500, 'the rest on later turns');
  t.ok(c.reading);
});

t.test('past the hard bound the connection is closed once, with one warning', async (t) => {
  const { c, socket, events, lines } = setup(10_000, 50_000);
  c.state = 'open';
  reply(c, 30_000);
  await tick();
  reply(c, 30_000);
  t.equal(c.state, 'closed');
  t.ok(socket.destroyed, 'destroyed, not ended: its client is not reading');
  t.same(events, ['paused', 'overflow', 'close']);
  t.equal(lines.length, 1);
  const line = JSON.parse(lines[0]) as Record<string, unknown>;
  t.equal(line.msg, 'closing connection: its client does not read its replies');
  t.equal(line.remote, '127.0.0.1:40000');
  t.equal(line.sessionId, '0x0');
  t.ok((line.pendingBytes as number) > 50_000, 'with the bytes pending');
  reply(c, 10);
  t.same(events, ['paused', 'overflow', 'close'], 'nothing more after the close');
});

t.test('an idle connection holds no output buffer', async (t) => {
  const { c, socket } = setup(10_000, 100_000);
  c.state = 'open';
  const held = () => (c as unknown as { out: unknown }).out;
  t.equal(held(), undefined, 'none before the first reply');
  reply(c, 10);
  t.not(held(), undefined);
  await tick();
  t.equal(held(), undefined, 'given back once flushed');
  t.equal(socket.writes, 1);
});

t.test('a four-letter word is told from a frame length over however many segments it comes in', async (t) => {
  const word = setup(10_000, 100_000, { words: ['ruok'] });
  for (const b of ['r', 'u', 'o', 'k']) word.socket.emit('data', Buffer.from(b, 'latin1'));
  t.same(word.events, ['word:ruok'], 'one byte a segment');
  const split = setup(10_000, 100_000, { words: ['ruok'] });
  split.socket.emit('data', Buffer.from([0, 0]));
  split.socket.emit('data', Buffer.from([0, 2, 0xab]));
  split.socket.emit('data', Buffer.from([0xcd]));
  t.same(split.events, ['connect:abcd'], 'a length prefix in two segments is a frame');
});

t.test('a connection without a complete ConnectRequest is closed at the sessionless deadline', async (t) => {
  const slow = setup(10_000, 100_000, { sessionlessMs: 50 });
  slow.socket.emit('data', Buffer.from([0, 0, 0, 40, 1]));
  await waitUntil(() => slow.events.includes('expired'), 2_000);
  t.same(slow.events, ['expired', 'close'], 'expired, then closed');
  t.ok(slow.socket.destroyed, 'its socket destroyed');
  t.equal(slow.c.state, 'closed');

  const quick = setup(10_000, 100_000, { sessionlessMs: 50 });
  quick.socket.emit('data', Buffer.from([0, 0, 0, 1, 7]));
  // Three deadlines later it is still open: the ConnectRequest stopped the clock.
  await new Promise((r) => setTimeout(r, 150));
  t.same(quick.events, ['connect:07']);
  t.notOk(quick.socket.destroyed);
});

async function waitUntil(cond: () => boolean, boundMs: number): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}
