// A minimal ZooKeeper client for tests: one raw socket, the generated codecs, nothing hidden. Every
// incoming frame gets a sequence number, so a test can tell whether a notification arrived before
// or after a given reply.
import type { Test } from 'tap';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { OpCode, Xid } from '../../src/protocol/constants';
import { FrameDecoder } from '../../src/protocol/frame';
import { JuteReader, JuteWriter } from '../../src/protocol/jute';
import * as R from '../../src/protocol/generated/records';
import { loadConfig } from '../../src/server/config';
import { ZooKeeperServer } from '../../src/server/server';

export const DEFAULT_WAIT_MS = 10_000;
/** Replies in tests are small; a large bound still catches a runaway length. */
const MAX_INCOMING_FRAME_BYTES = 64 * 1024 * 1024;

export const OPEN_ACL: R.ACL[] = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];

export interface Reply {
  header: R.ReplyHeader;
  /** Positioned after the header. */
  reader: JuteReader;
  /** The frame without its length prefix. */
  frame: Buffer;
  seq: number;
}

export interface Notification {
  event: R.WatcherEvent;
  seq: number;
}

export interface ConnectOptions {
  sessionId?: bigint;
  passwd?: Buffer;
  timeoutMs?: number;
  readOnly?: boolean;
  /** Send the ConnectRequest of a client older than read-only mode: no trailing readOnly flag. */
  oldClient?: boolean;
  lastZxidSeen?: bigint;
  /** Ping at a third of the negotiated timeout so an idle test session stays alive (default true). */
  keepAlive?: boolean;
  /** The xid of the first request (default 1); later ones count up from it. */
  firstXid?: number;
}

export class ConnectionClosedError extends Error {
  constructor(what: string) {
    super(`connection closed: ${what}`);
    this.name = 'ConnectionClosedError';
  }
}

/** Waits for a condition with a bound; polls on timers, never sleeps as a stand-in for an event. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A socket with framing: frames in arrival order, and a promise for the close. */
export class RawConnection {
  readonly frames: Buffer[] = [];
  closed = false;
  readonly whenClosed: Promise<void>;
  private readonly decoder: FrameDecoder;
  private listeners: Array<(frame: Buffer, seq: number) => void> = [];

  private constructor(readonly socket: net.Socket) {
    this.decoder = new FrameDecoder(MAX_INCOMING_FRAME_BYTES, {
      onFrame: (f) => {
        const copy = Buffer.from(f);
        const seq = this.frames.length;
        this.frames.push(copy);
        for (const l of this.listeners) l(copy, seq);
      },
    });
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    socket.on('error', () => undefined);
    this.whenClosed = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  static open(host: string, port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection({ host, port });
      s.setNoDelay(true);
      const onError = (e: Error) => reject(e);
      s.once('error', onError);
      s.once('connect', () => {
        s.off('error', onError);
        resolve(new RawConnection(s));
      });
    });
  }

  onFrame(l: (frame: Buffer, seq: number) => void): void {
    this.listeners.push(l);
  }

  write(bytes: Buffer): void {
    if (!this.closed) this.socket.write(bytes);
  }

  /** Waits until the server closes the connection; false if it is still open after the bound. */
  async waitClosed(timeoutMs = DEFAULT_WAIT_MS): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    const r = await Promise.race([this.whenClosed.then(() => true), timedOut]);
    clearTimeout(timer);
    return r;
  }

  async waitFrames(n: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    await waitFor(() => this.frames.length >= n || this.closed, `${n} frames`, timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A length-prefixed frame around whatever `body` writes. */
export function frame(body: (w: JuteWriter) => void): Buffer {
  const w = new JuteWriter(64);
  w.writeInt(0);
  body(w);
  w.buf.writeInt32BE(w.pos - 4, 0);
  return w.toBuffer();
}

export function connectFrame(opts: ConnectOptions = {}): Buffer {
  const req: R.ConnectRequest = {
    protocolVersion: 0,
    lastZxidSeen: opts.lastZxidSeen ?? 0n,
    timeOut: opts.timeoutMs ?? 30_000,
    sessionId: opts.sessionId ?? 0n,
    passwd: opts.passwd ?? Buffer.alloc(16),
    readOnly: opts.readOnly ?? false,
  };
  if (!opts.oldClient) return frame((w) => R.encodeConnectRequest(w, req));
  return frame((w) => {
    w.writeInt(req.protocolVersion);
    w.writeLong(req.lastZxidSeen);
    w.writeInt(req.timeOut);
    w.writeLong(req.sessionId);
    w.writeBuffer(req.passwd);
  });
}

export function requestFrame(xid: number, type: number, body?: (w: JuteWriter) => void): Buffer {
  return frame((w) => {
    R.encodeRequestHeader(w, { xid, type });
    body?.(w);
  });
}

/** The ConnectResponse; servers leave out readOnly for clients that did not send it. */
/**
 * A ReconfigRequest body as ZooKeeper's Java client sends it: a field not given is a null ustring
 * (length -1). The server tells null from empty: a non-null newMembers, even empty, asks for a
 * non-incremental reconfig.
 */
export function writeReconfigRequest(
  w: JuteWriter,
  r: { joiningServers?: string | null; leavingServers?: string | null; newMembers?: string | null; curConfigId?: bigint },
): void {
  for (const s of [r.joiningServers, r.leavingServers, r.newMembers]) {
    if (s === undefined || s === null) w.writeInt(-1);
    else w.writeString(s);
  }
  w.writeLong(r.curConfigId ?? -1n);
}

export function decodeConnectResponse(f: Buffer): R.ConnectResponse {
  const r = new JuteReader(f);
  const protocolVersion = r.readInt();
  const timeOut = r.readInt();
  const sessionId = r.readLong();
  const passwd = r.readBuffer();
  const readOnly = r.remaining() > 0 ? r.readBool() : false;
  return { protocolVersion, timeOut, sessionId, passwd, readOnly };
}

export class ZkClient {
  connectResponse!: R.ConnectResponse;
  readonly notifications: Notification[] = [];
  readonly replies: Reply[] = [];
  private nextXid = 1;
  private readonly pending = new Map<number, Array<(r: Reply) => void>>();
  private keepAlive: NodeJS.Timeout | undefined;

  private constructor(readonly raw: RawConnection) {
    raw.whenClosed.then(() => {
      this.stopKeepAlive();
      for (const waiters of this.pending.values()) for (const w of waiters) w(undefined as unknown as Reply);
      this.pending.clear();
    });
  }

  get sessionId(): bigint {
    return this.connectResponse.sessionId;
  }
  get passwd(): Buffer {
    return this.connectResponse.passwd ?? Buffer.alloc(16);
  }
  get closed(): boolean {
    return this.raw.closed;
  }

  /**
   * Opens a connection and runs the handshake. Resolves with the client even when the server
   * refuses the session in its ConnectResponse; rejects if the server closes without one.
   */
  static async connect(host: string, port: number, opts: ConnectOptions = {}, timeoutMs = DEFAULT_WAIT_MS): Promise<ZkClient> {
    const raw = await RawConnection.open(host, port);
    const c = new ZkClient(raw);
    if (opts.firstXid !== undefined) c.nextXid = opts.firstXid;
    raw.write(connectFrame(opts));
    await raw.waitFrames(1, timeoutMs).catch((e) => {
      raw.destroy();
      throw e;
    });
    if (raw.frames.length === 0) throw new ConnectionClosedError('before the ConnectResponse');
    c.connectResponse = decodeConnectResponse(raw.frames[0]);
    raw.onFrame((f, seq) => c.onFrame(f, seq));
    // Frames that came right behind the ConnectResponse.
    for (let i = 1; i < raw.frames.length; i++) c.onFrame(raw.frames[i], i);
    if (opts.keepAlive !== false && c.connectResponse.timeOut > 0) {
      c.keepAlive = setInterval(() => c.raw.write(requestFrame(Xid.ping, OpCode.ping)), Math.max(50, Math.floor(c.connectResponse.timeOut / 3)));
      c.keepAlive.unref();
    }
    return c;
  }

  private onFrame(f: Buffer, seq: number): void {
    const reader = new JuteReader(f);
    const header = R.decodeReplyHeader(reader);
    // Keep-alive pings are not the test's business unless it waits for one.
    if (header.xid === Xid.ping && !this.pending.has(Xid.ping)) return;
    if (header.xid === Xid.notification) {
      this.notifications.push({ event: R.decodeWatcherEvent(reader), seq });
      return;
    }
    const reply: Reply = { header, reader, frame: f, seq };
    this.replies.push(reply);
    const waiters = this.pending.get(header.xid);
    const w = waiters?.shift();
    if (waiters && waiters.length === 0) this.pending.delete(header.xid);
    w?.(reply);
  }

  /** Sends a request and waits for the reply with its xid. */
  request(type: number, body?: (w: JuteWriter) => void, opts: { xid?: number; timeoutMs?: number } = {}): Promise<Reply> {
    const xid = opts.xid ?? this.nextXid++;
    const p = this.expectReply(xid, opts.timeoutMs);
    this.raw.write(requestFrame(xid, type, body));
    return p;
  }

  /** A promise for the next reply with this xid; rejects on close or after the bound. */
  expectReply(xid: number, timeoutMs = DEFAULT_WAIT_MS): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      if (this.raw.closed) return reject(new ConnectionClosedError(`before the reply to xid ${xid}`));
      const timer = setTimeout(() => reject(new Error(`no reply to xid ${xid} in ${timeoutMs} ms`)), timeoutMs);
      let list = this.pending.get(xid);
      if (!list) this.pending.set(xid, (list = []));
      list.push((r) => {
        clearTimeout(timer);
        if (r === undefined) reject(new ConnectionClosedError(`before the reply to xid ${xid}`));
        else resolve(r);
      });
    });
  }

  /** Sends a request without waiting; returns its xid. */
  send(type: number, body?: (w: JuteWriter) => void): number {
    const xid = this.nextXid++;
    this.raw.write(requestFrame(xid, type, body));
    return xid;
  }

  ping(): Promise<Reply> {
    return this.request(OpCode.ping, undefined, { xid: Xid.ping });
  }

  /** Waits for a notification matching `pred` (one already received counts). */
  async waitNotification(pred: (e: R.WatcherEvent) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<Notification> {
    let found: Notification | undefined;
    await waitFor(() => (found = this.notifications.find((n) => pred(n.event))) !== undefined, 'a notification', timeoutMs);
    return found!;
  }

  // Shorthands for the common calls; each resolves with the reply, whatever its error code.

  create(path: string, data: Buffer | null = null, flags = 0, acl: R.ACL[] = OPEN_ACL): Promise<Reply> {
    return this.request(OpCode.create, (w) => R.encodeCreateRequest(w, { path, data, acl, flags }));
  }
  create2(path: string, data: Buffer | null = null, flags = 0, acl: R.ACL[] = OPEN_ACL): Promise<Reply> {
    return this.request(OpCode.create2, (w) => R.encodeCreateRequest(w, { path, data, acl, flags }));
  }
  delete(path: string, version = -1): Promise<Reply> {
    return this.request(OpCode.delete, (w) => R.encodeDeleteRequest(w, { path, version }));
  }
  exists(path: string, watch = false): Promise<Reply> {
    return this.request(OpCode.exists, (w) => R.encodeExistsRequest(w, { path, watch }));
  }
  getData(path: string, watch = false): Promise<Reply> {
    return this.request(OpCode.getData, (w) => R.encodeGetDataRequest(w, { path, watch }));
  }
  setData(path: string, data: Buffer | null, version = -1): Promise<Reply> {
    return this.request(OpCode.setData, (w) => R.encodeSetDataRequest(w, { path, data, version }));
  }
  getChildren(path: string, watch = false): Promise<Reply> {
    return this.request(OpCode.getChildren, (w) => R.encodeGetChildrenRequest(w, { path, watch }));
  }

  /** Stops the pings, so that the session can expire while the connection stays open. */
  stopKeepAlive(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }

  /** closeSession: resolves with its reply, after which the server closes the connection. */
  async close(timeoutMs = DEFAULT_WAIT_MS): Promise<Reply | undefined> {
    if (this.raw.closed) return undefined;
    const reply = await this.request(OpCode.closeSession, undefined, { timeoutMs }).catch(() => undefined);
    if (!(await this.raw.waitClosed(timeoutMs))) this.raw.destroy();
    return reply;
  }

  destroy(): void {
    this.stopKeepAlive();
    this.raw.destroy();
  }
}

/** The body bytes after the reply header, as hex (for byte-for-byte comparisons). */
export function bodyHex(r: Reply): string {
  return r.frame.subarray(R.ReplyHeader_SIZE).toString('hex');
}

// --- differential scenarios -------------------------------------------------------------------

export interface Endpoint {
  name: string;
  host: string;
  port: number;
}

/**
 * What a scenario records, made comparable across servers: zxids relative to the zxid the server
 * had when the scenario began, times and session ids replaced by stable symbols.
 */
export class Scenario {
  readonly transcript: Array<[string, unknown]> = [];
  readonly clients: ZkClient[] = [];
  /** The server's last zxid after the scenario's first connect. */
  base = 0n;
  private readonly sessions: bigint[] = [];

  constructor(readonly endpoint: Endpoint) {}

  async connect(opts: ConnectOptions = {}): Promise<ZkClient> {
    const c = await ZkClient.connect(this.endpoint.host, this.endpoint.port, opts);
    this.clients.push(c);
    if (c.sessionId !== 0n && !this.sessions.includes(c.sessionId)) this.sessions.push(c.sessionId);
    if (this.clients.length === 1) this.base = (await c.ping()).header.zxid;
    return c;
  }

  /** A stable name for a session id (`S0` is the scenario's first session). */
  session(id: bigint): string {
    if (id === 0n) return '0';
    const i = this.sessions.indexOf(id);
    return i >= 0 ? `S${i}` : `other:${id}`;
  }

  zxid(z: bigint): string {
    if (z <= 0n) return String(z);
    return z >= this.base ? `base+${z - this.base}` : 'before';
  }

  normalize(v: unknown, key = ''): unknown {
    if (typeof v === 'bigint') {
      if (/zxid$/i.test(key)) return this.zxid(v);
      if (key === 'ctime' || key === 'mtime') return v > 0n ? 'time' : String(v);
      if (key === 'ephemeralOwner' || key === 'sessionId') return this.sessions.includes(v) ? this.session(v) : String(v);
      return String(v);
    }
    if (Buffer.isBuffer(v)) return v.toString('hex');
    if (Array.isArray(v)) return v.map((x) => this.normalize(x, key));
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = this.normalize(x, k);
      return out;
    }
    return v;
  }

  /** Records a reply: its error, its zxid, and the body decoded when the request succeeded. */
  reply<T>(label: string, r: Reply, decode?: (reader: JuteReader) => T): void {
    const entry: Record<string, unknown> = { err: r.header.err, zxid: this.zxid(r.header.zxid) };
    if (r.header.err === 0 && decode) entry.body = this.normalize(decode(r.reader));
    else if (r.reader.remaining() > 0) entry.rest = r.frame.subarray(r.reader.pos).toString('hex');
    this.transcript.push([label, entry]);
  }

  note(label: string, v: unknown): void {
    this.transcript.push([label, this.normalize(v)]);
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close().catch(() => c.destroy())));
  }
}

/**
 * Runs the same scenario against each endpoint, one after the other, and returns the transcripts
 * (normalized) by endpoint name. Every session the scenario opened is closed afterwards.
 */
/**
 * A comparer of one zkts and one ZooKeeper server: runs a scenario on both and asserts that the
 * transcripts are the same; returns them for further checks.
 */
export function differential(
  zkts: { host: string; port: number },
  zookeeper: { host: string; port: number },
): (t: Test, fn: (s: Scenario) => Promise<void>) => Promise<Record<string, Array<[string, unknown]>>> {
  const endpoints: Endpoint[] = [
    { name: 'zkts', host: zkts.host, port: zkts.port },
    { name: 'zookeeper', host: zookeeper.host, port: zookeeper.port },
  ];
  return async (t, fn) => {
    const out = await runScenario(endpoints, fn);
    t.same(out.zkts, out.zookeeper, 'zkts transcript matches ZooKeeper');
    return out;
  };
}

export async function runScenario(endpoints: Endpoint[], fn: (s: Scenario) => Promise<void>): Promise<Record<string, Array<[string, unknown]>>> {
  const out: Record<string, Array<[string, unknown]>> = {};
  for (const e of endpoints) {
    const s = new Scenario(e);
    try {
      await fn(s);
    } catch (err) {
      s.note('scenario threw', (err as Error).message);
    } finally {
      await s.closeAll();
    }
    out[e.name] = s.transcript;
  }
  // For investigating a difference: the raw transcripts, side by side.
  const dir = process.env.ZKTS_TRANSCRIPT_DIR;
  if (dir) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${Date.now()}-${process.pid}.json`), JSON.stringify(out, null, 1));
  }
  return out;
}

// --- an in-process zkts -----------------------------------------------------------------------

export interface InProcessServer extends Endpoint {
  server: ZooKeeperServer;
  stop(): Promise<void>;
}

/** A zkts server in this process on an ephemeral port of 127.0.0.1, logging nothing. */
export async function startInProcessZkts(
  extraConfig: Record<string, string> = {},
  systemProps: Record<string, string> = {},
  now?: () => number,
): Promise<InProcessServer> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-inproc-'));
  const entries: Record<string, string> = { tickTime: '2000', dataDir, clientPort: '0', clientPortAddress: '127.0.0.1', ...extraConfig };
  const text = Object.entries(entries)
    .map(([k, v]) => `${k}=${v}\n`)
    .join('');
  const config = loadConfig(text, new Map(Object.entries(systemProps)), dataDir);
  const server = new ZooKeeperServer(config, pino({ level: 'silent' }), now);
  await server.start();
  return {
    name: 'zkts',
    host: '127.0.0.1',
    port: server.address().port,
    server,
    async stop() {
      await server.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
