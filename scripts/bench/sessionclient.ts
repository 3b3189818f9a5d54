/**
 * The many-sessions bench's client (scripts/bench/sessions.ts runs it in a process of its own, with
 * a descriptor limit to match): a raw Jute client that holds thousands of idle sessions in one
 * event loop, which the Java client cannot (two threads per session). Commands come as lines on
 * stdin, answers go as JSON lines on stdout:
 *   connect N      opens N sessions, at most WINDOW handshakes at a time; {connectMs, perSec, errors}
 *   watch          every session sets a data watch on /fanout (exists with watch); {ms, armed}
 *   fanout         one more session sets /fanout's data; {ms} from the request to the last
 *                  notification, and each session's count of notifications: {received, missing, duplicated}
 *   close          closes every socket and exits
 * Each session pings a third of its timeout after its last request, as ZooKeeper's clients do.
 * Sockets come from many loopback addresses (127.1.R.x, R given on the command line) so that
 * ephemeral ports and TIME_WAIT of earlier runs never run out.
 */
import * as net from 'node:net';
import * as readline from 'node:readline';

const SESSION_TIMEOUT_MS = 30_000;
const PING_AFTER_MS = SESSION_TIMEOUT_MS / 3;
const WINDOW = 1000;
const LOCAL_ADDRESSES = 200;
const FANOUT_PATH = '/fanout';
const XID_PING = -2;
const XID_NOTIFICATION = -1;
const OP_EXISTS = 3;
const OP_SET_DATA = 5;
const OP_CREATE = 1;
const OP_PING = 11;

const [host, portText, runText] = process.argv.slice(2);
const port = Number(portText);
const run = Number(runText ?? '1') % 250;

function frame(body: Buffer): Buffer {
  const b = Buffer.allocUnsafe(4 + body.length);
  b.writeInt32BE(body.length, 0);
  body.copy(b, 4);
  return b;
}

function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(4 + b.length);
  out.writeInt32BE(b.length, 0);
  b.copy(out, 4);
  return out;
}

function header(xid: number, op: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeInt32BE(xid, 0);
  b.writeInt32BE(op, 4);
  return b;
}

/** ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId, passwd (16 zero bytes), readOnly. */
const CONNECT = (() => {
  const b = Buffer.alloc(4 + 8 + 4 + 8 + 4 + 16 + 1);
  b.writeInt32BE(SESSION_TIMEOUT_MS, 12);
  b.writeInt32BE(16, 24);
  return frame(b);
})();
const PING = frame(header(XID_PING, OP_PING));

const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

class Session {
  socket: net.Socket;
  connected = false;
  sessionId = 0n;
  lastSentMs = Date.now();
  /** Notifications received in the current fan-out round. */
  events = 0;
  pending: Buffer | undefined;
  xid = 1;
  /** Replies awaited, by xid, resolved by the frame handler. */
  readonly waiting = new Map<number, (err: number) => void>();
  onConnected: ((ok: boolean) => void) | undefined;

  constructor(localAddress: string) {
    // Every socket reads into one shared buffer, handed to its callback at once: no buffer and no
    // stream event per read, so that the client's own cost per notification stays small beside the
    // server's (both run on the same cores).
    this.socket = net.connect({ host, port, localAddress, onread: { buffer: READ_BUFFER, callback: (n) => this.onData(READ_BUFFER.subarray(0, n)) } });
    this.socket.setNoDelay(true);
    this.socket.on('error', () => this.finish(false));
    this.socket.on('close', () => this.finish(false));
    this.socket.write(CONNECT);
  }

  private finish(ok: boolean): void {
    const f = this.onConnected;
    this.onConnected = undefined;
    f?.(ok);
  }

  /** Frames out of one read; never asks the socket to pause (the callback's answer). */
  private onData(d: Buffer): true {
    const buf = this.pending ? Buffer.concat([this.pending, d]) : d;
    let at = 0;
    while (buf.length - at >= 4) {
      const len = buf.readInt32BE(at);
      if (buf.length - at - 4 < len) break;
      this.onFrame(buf.subarray(at + 4, at + 4 + len));
      at += 4 + len;
    }
    this.pending = at < buf.length ? Buffer.from(buf.subarray(at)) : undefined;
    return true;
  }

  private onFrame(f: Buffer): void {
    if (!this.connected) {
      this.connected = true;
      this.sessionId = f.readBigInt64BE(8);
      this.finish(true);
      return;
    }
    const xid = f.readInt32BE(0);
    if (xid === XID_NOTIFICATION) {
      this.events++;
      if (fanout) fanout.onEvent();
      return;
    }
    if (xid === XID_PING) return;
    const err = f.readInt32BE(12);
    const w = this.waiting.get(xid);
    if (w) {
      this.waiting.delete(xid);
      w(err);
    }
  }

  request(op: number, body: Buffer): Promise<number> {
    const xid = this.xid++;
    this.lastSentMs = Date.now();
    this.socket.write(frame(Buffer.concat([header(xid, op), body])));
    return new Promise((resolve) => this.waiting.set(xid, resolve));
  }
}

let sessions: Session[] = [];
let writer: Session | undefined;
let fanout: { remaining: number; lastMs: number; onEvent(): void } | undefined;

function localAddress(i: number): string {
  return `127.1.${run}.${1 + (i % LOCAL_ADDRESSES)}`;
}

function open(i: number): Promise<Session | undefined> {
  return new Promise((resolve) => {
    const s = new Session(localAddress(i));
    s.onConnected = (ok) => resolve(ok ? s : undefined);
  });
}

async function connect(n: number): Promise<Record<string, number>> {
  const start = process.hrtime.bigint();
  let next = 0;
  let errors = 0;
  const opened: Session[] = [];
  const worker = async () => {
    while (next < n) {
      const s = await open(next++);
      if (s) opened.push(s);
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(WINDOW, n) }, worker));
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  sessions = sessions.concat(opened);
  writer ??= await open(n);
  if (writer) {
    const err = await writer.request(OP_CREATE, Buffer.concat([str(FANOUT_PATH), str('x'), worldAcl(), int(0)]));
    if (err !== 0 && err !== -110) errors++;
  }
  return { connectMs: ms, perSec: (opened.length / ms) * 1000, sessions: opened.length, errors };
}

function int(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(v, 0);
  return b;
}

/** world:anyone with all permissions. */
function worldAcl(): Buffer {
  return Buffer.concat([int(1), int(31), str('world'), str('anyone')]);
}

async function watch(): Promise<Record<string, number>> {
  const start = process.hrtime.bigint();
  const body = Buffer.concat([str(FANOUT_PATH), Buffer.from([1])]);
  const errs = await Promise.all(sessions.map((s) => s.request(OP_EXISTS, body)));
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, armed: errs.filter((e) => e === 0).length };
}

async function fan(): Promise<Record<string, number>> {
  for (const s of sessions) s.events = 0;
  const start = process.hrtime.bigint();
  let setErr = 0;
  await new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    fanout = {
      remaining: sessions.length,
      lastMs: 0,
      onEvent() {
        this.remaining--;
        if (this.remaining === 0) {
          this.lastMs = Number(process.hrtime.bigint() - start) / 1e6;
          clearTimeout(timer);
          resolve();
        }
      },
    };
    // A notification that never comes ends the round after 60 s; the counts then say which.
    timer = setTimeout(resolve, 60_000);
    void writer!.request(OP_SET_DATA, Buffer.concat([str(FANOUT_PATH), str(String(Date.now())), int(-1)])).then((e) => (setErr = e));
  });
  const ms = fanout!.lastMs || Number(process.hrtime.bigint() - start) / 1e6;
  fanout = undefined;
  // Late duplicates would show here: wait a moment before counting.
  await new Promise((r) => setTimeout(r, 200));
  let missing = 0;
  let duplicated = 0;
  for (const s of sessions) {
    if (s.events === 0) missing++;
    else if (s.events > 1) duplicated++;
  }
  return { ms, received: sessions.length - missing, missing, duplicated, setErr };
}

setInterval(() => {
  const now = Date.now();
  for (const s of sessions) {
    if (s.connected && now - s.lastSentMs >= PING_AFTER_MS) {
      s.lastSentMs = now;
      s.socket.write(PING);
    }
  }
  if (writer && now - writer.lastSentMs >= PING_AFTER_MS) {
    writer.lastSentMs = now;
    writer.socket.write(PING);
  }
}, 1000).unref();

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, arg] = line.trim().split(/\s+/);
  const answer = (p: Promise<Record<string, number>>) =>
    p.then(
      (r) => process.stdout.write(JSON.stringify(r) + '\n'),
      (e: Error) => process.stdout.write(JSON.stringify({ error: e.message }) + '\n'),
    );
  if (cmd === 'connect') void answer(connect(Number(arg)));
  else if (cmd === 'watch') void answer(watch());
  else if (cmd === 'fanout') void answer(fan());
  else if (cmd === 'close') {
    for (const s of sessions) s.socket.destroy();
    writer?.socket.destroy();
    process.exit(0);
  }
});
rl.on('close', () => process.exit(0));
