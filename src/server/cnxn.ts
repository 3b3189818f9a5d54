/**
 * One client connection: framing, the handshake, the session's request queue, and batched replies.
 * It decodes and encodes; what a request means is the server's business.
 */
import type * as net from 'node:net';
import type { Logger } from 'pino';
import { FrameDecoder, FrameError } from '../protocol/frame';
import { JuteError, JuteWriter } from '../protocol/jute';
import * as R from '../protocol/generated/records';
import { encodeConnectResponse, encodeNotificationFrame } from '../protocol/requests';
import type { SaslServerExchange } from './sasl/mechanism';
import type { Session } from './sessions';
import type { Watcher } from './watches';

/** A decoded request waiting for, or under, processing. */
export interface Request {
  xid: number;
  type: number;
  /** The decoded body; undefined when it could not be decoded (answered with MARSHALLINGERROR). */
  body: unknown;
  isWrite: boolean;
  receivedAtMs: number;
  /** For a read: how many of the session's writes must be applied before it is answered. */
  writesBefore: number;
  /** A write's body as the client sent it (after the RequestHeader): what a learner forwards. */
  raw?: Buffer;
}

export interface CnxnHandler {
  maxFrameBytes: number;
  /** From accept to a complete ConnectRequest, at most (zookeeper.nio.sessionlessCnxnTimeout). */
  sessionlessCnxnTimeoutMs: number;
  /** Bounds on a connection's pending output: past `softBytes` it is not read, past `hardBytes` it is closed. */
  outputLimits: OutputLimits;
  /** Server-wide packet counters (srvr's Received and Sent). */
  stats: { packetsReceived: number; packetsSent: number; bytesReceived: number };
  onConnect(c: ServerCnxn, frame: Buffer): void;
  onRequest(c: ServerCnxn, frame: Buffer): void;
  /** `rest` is what followed the word in the same read (stmk's mask). */
  onFourLetterWord(c: ServerCnxn, word: string, rest?: Buffer): void;
  isFourLetterWord(word: string): boolean;
  onClose(c: ServerCnxn): void;
  /** The connection is being closed for not sending its ConnectRequest in time. */
  onSessionlessExpired(c: ServerCnxn): void;
  /** The connection stopped being read for its pending output. */
  onOutputPaused(c: ServerCnxn): void;
  /** The connection was closed for passing the hard bound on its pending output. */
  onOutputOverflow(c: ServerCnxn): void;
  canRead(c: ServerCnxn, acl: R.ACL[]): boolean;
}

export interface OutputLimits {
  softBytes: number;
  hardBytes: number;
}

/** Why a connection is not being read; it is read again once no reason is left. */
export const enum Hold {
  /** The server's limits on outstanding requests (the connection's own or the global one). */
  Outstanding = 1,
  /** Its client does not take its replies: pending output past the soft bound. */
  Output = 2,
  /** It had its share of this event-loop turn; other connections go first. */
  Turn = 4,
}

let nextCnxnId = 1;

/** The connection a socket belongs to, for the listeners all connections share. */
const CNXN = Symbol('cnxn');
type CnxnSocket = net.Socket & { [CNXN]?: ServerCnxn };

function onSocketData(this: CnxnSocket, chunk: Buffer): void {
  this[CNXN]?.onData(chunk);
}
function onSocketDrain(this: CnxnSocket): void {
  this[CNXN]?.onDrain();
}
function onSocketError(this: CnxnSocket, err: Error): void {
  this[CNXN]?.socketError(err);
}
function onSocketClose(this: CnxnSocket): void {
  this[CNXN]?.closed();
}
function flushCnxn(c: ServerCnxn): void {
  c.flush();
}
/** The size of a fresh output buffer. */
const OUT_BUFFER_BYTES = 4096;
/** Output buffers up to this size go back to the pool once flushed; larger ones are handed to the socket. */
const MAX_POOLED_OUT_BYTES = 64 * 1024;
/** Idle output buffers kept for reuse: at most 16 x 64 KiB. */
const MAX_POOLED_OUT_BUFFERS = 16;
const outPool: JuteWriter[] = [];
/**
 * Received bytes kept undecoded while a connection is held. Its socket is paused then, so this
 * is about one read's worth; more means the peer keeps sending into a paused socket.
 */
const MAX_HELD_INPUT_BYTES = 1024 * 1024;
/**
 * Frames one connection decodes between two yields of the event loop: a burst of pipelined
 * requests (one read can carry thousands) would otherwise hold every other session up. Counted
 * across turns, so a steady connection yields one extra turn per thousand requests.
 */
const MAX_FRAMES_PER_TURN = 1000;

export class ServerCnxn implements Watcher {
  readonly id = nextCnxnId++;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The peer's address as ZooKeeper's ip scheme names it (IPv4 without the v6 mapping). */
  readonly remoteIp: string;
  readonly establishedAtMs = Date.now();
  state: 'handshake' | 'open' | 'closed' = 'handshake';
  /** The ConnectRequest had no readOnly flag: every ConnectResponse to it leaves the flag out. */
  oldClient = false;
  session: Session | undefined;
  /** Authenticated identities (ZooKeeper's authInfo); every connection starts with its ip. */
  readonly ids: R.Id[];
  /** This connection's SASL exchange, made at its first SASL packet when the server offers SASL. */
  saslExchange: SaslServerExchange | undefined;
  /** SASL tokens received, bounded by the server. */
  saslSteps = 0;
  /** Reads waiting for earlier writes of the session, in arrival order. */
  readonly queue: Request[] = [];
  /** Writes handed to prep/commit whose replies are not sent yet. */
  inflightWrites = 0;
  /** Writes handed to prep/commit, and those of them answered (the commit stage answers in order). */
  writesSubmitted = 0;
  writesCompleted = 0;
  packetsReceived = 0;
  packetsSent = 0;
  lastCxid = 0;
  lastZxid = 0n;
  lastOp = 'NA';
  lastLatencyMs = 0;
  minLatencyMs = Number.MAX_SAFE_INTEGER;
  maxLatencyMs = 0;
  totalLatencyMs = 0;
  latencyCount = 0;
  private readonly decoder: FrameDecoder;
  /**
   * Frames encoded this event-loop turn, not yet handed to the socket; taken from the pool when
   * there is something to send and given back when flushed, so an idle connection holds none.
   */
  private out: JuteWriter | undefined;
  private flushScheduled = false;
  /**
   * The first bytes of the connection until there are four, to tell a four-letter word from a
   * frame length; undefined once told. A word may come in more than one segment.
   */
  private sniff: Buffer | undefined = Buffer.alloc(0);
  /** Closes a connection that has not sent its ConnectRequest in time, however slowly it sends. */
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** The reasons (Hold bits) this connection is not read. */
  private holds = 0;
  private resumeScheduled = false;
  /** Frames decoded since this connection last yielded the event loop. */
  private framesSinceYield = 0;

  constructor(
    readonly socket: net.Socket,
    private readonly handler: CnxnHandler,
    private readonly log: Logger,
    opts: { noDelayInherited?: boolean } = {},
  ) {
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.remoteIp = this.remoteAddress.startsWith('::ffff:') ? this.remoteAddress.slice(7) : this.remoteAddress;
    this.ids = [{ scheme: 'ip', id: this.remoteIp }];
    this.decoder = new FrameDecoder(handler.maxFrameBytes, this, MAX_HELD_INPUT_BYTES);
    if (!opts.noDelayInherited) socket.setNoDelay(true);
    // Listeners shared by every connection (no closures per connection): each finds its
    // connection on the socket.
    (socket as CnxnSocket)[CNXN] = this;
    socket.on('data', onSocketData);
    socket.on('drain', onSocketDrain);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    // From accept, not from the last byte: a client that trickles its ConnectRequest is held to it too.
    this.handshakeTimer = setTimeout(() => this.handshakeExpired(), handler.sessionlessCnxnTimeoutMs);
    this.handshakeTimer.unref();
  }

  private handshakeExpired(): void {
    this.handshakeTimer = undefined;
    if (this.state !== 'handshake') return;
    this.handler.onSessionlessExpired(this);
    // Closed by the server, not dropped by its client: onClose before the socket is destroyed.
    this.state = 'closed';
    this.sniff = undefined;
    this.decoder.clear();
    this.handler.onClose(this);
    this.socket.destroy();
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer === undefined) return;
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
  }

  get sessionId(): bigint {
    return this.session?.id ?? 0n;
  }

  /** @internal the socket's 'data'. */
  onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.handler.stats.bytesReceived += chunk.length;
    try {
      if (this.sniff !== undefined) {
        // Four-letter words share the port: a connection that opens with one is answered and closed.
        const head = this.sniff.length === 0 ? chunk : Buffer.concat([this.sniff, chunk]);
        if (head.length < 4) {
          this.sniff = head;
          return;
        }
        this.sniff = undefined;
        const word = head.toString('latin1', 0, 4);
        if (this.handler.isFourLetterWord(word)) {
          this.handler.onFourLetterWord(this, word, head.subarray(4));
          return;
        }
        chunk = head;
      }
      this.decoder.push(chunk);
    } catch (e) {
      this.failed(e);
    }
  }

  /** @internal the socket's 'error' (its 'close' follows). */
  socketError(err: Error): void {
    this.log.debug({ err: err.message, cnxn: this.id }, 'socket error');
  }

  /** A fault while serving one connection closes that connection, not the server. */
  private failed(e: unknown): void {
    const reason = e instanceof Error ? e.message : String(e);
    const where = { cnxn: this.id, remote: `${this.remoteAddress}:${this.remotePort}`, sessionId: this.hexSessionId(), reason };
    if (e instanceof FrameError || e instanceof JuteError) this.log.warn(where, 'closing connection on bad input');
    else this.log.error({ ...where, stack: e instanceof Error ? e.stack : undefined }, 'closing connection on an internal error');
    this.close();
  }

  /** FrameSink: whether the next frame may be decoded now. */
  readyForFrame(): boolean {
    return this.holds === 0 && this.state !== 'closed';
  }

  /** FrameSink: one frame received. */
  onFrame(frame: Buffer): void {
    if (this.state === 'closed') return;
    if (++this.framesSinceYield >= MAX_FRAMES_PER_TURN) {
      this.framesSinceYield = 0;
      this.hold(Hold.Turn);
      setImmediate(() => this.release(Hold.Turn));
    }
    this.packetsReceived++;
    this.handler.stats.packetsReceived++;
    if (this.state === 'handshake') {
      this.clearHandshakeTimer();
      this.handler.onConnect(this, frame);
    } else this.handler.onRequest(this, frame);
  }

  hexSessionId(): string {
    return '0x' + BigInt.asUintN(64, this.sessionId).toString(16);
  }

  /**
   * Encodes a frame behind those already pending; the frames of one event-loop turn go to the
   * socket as one buffer in one write (a socket write per frame cost more than the encoding).
   * Past the soft bound on pending output the connection stops being read; past the hard bound
   * (replies it cannot avoid: watch events, answers to requests already under way) it is closed.
   */
  private sendFrame(encodeBody: (w: JuteWriter) => void): void {
    if (this.state === 'closed') return;
    const w = this.writer();
    const start = w.pos;
    try {
      w.writeInt(0);
      encodeBody(w);
    } catch (e) {
      // No half frame may stay behind the frames already pending.
      w.pos = start;
      throw e;
    }
    this.endFrame(w, start);
  }

  /** The output buffer, taken from the pool when the connection has nothing pending. */
  private writer(): JuteWriter {
    return (this.out ??= outPool.pop() ?? new JuteWriter(OUT_BUFFER_BYTES));
  }

  /** Fills in the length of the frame that starts at `start` and schedules the flush. */
  private endFrame(w: JuteWriter, start: number): void {
    w.buf.writeInt32BE(w.pos - start - 4, start);
    this.counted(w.pos);
  }

  /** A frame was added (to `pendingInBuffer` bytes in the output buffer): flush, count, bound. */
  private counted(pendingInBuffer: number): void {
    if (pendingInBuffer > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(flushCnxn, this);
    }
    this.packetsSent++;
    this.handler.stats.packetsSent++;
    const pending = this.pendingOutputBytes;
    if (pending > this.handler.outputLimits.hardBytes) this.overflow(pending);
    else if (pending > this.handler.outputLimits.softBytes) this.hold(Hold.Output);
  }

  /** Bytes encoded for this connection and not yet taken by the kernel. */
  get pendingOutputBytes(): number {
    return (this.out?.pos ?? 0) + this.socket.writableLength;
  }

  /** Whether it is not read because its client does not take its replies. */
  get outputHeld(): boolean {
    return (this.holds & Hold.Output) !== 0;
  }

  /** Whether its socket is being read (ZooKeeper's read interest). */
  get reading(): boolean {
    return this.holds === 0 && this.state !== 'closed';
  }

  /** Hands the pending frames to the socket, and the output buffer back to the pool. */
  flush(): void {
    this.flushScheduled = false;
    const w = this.out;
    if (w === undefined) return;
    this.out = undefined;
    if (w.pos > 0 && !this.socket.destroyed) {
      // A held connection learns from its write's completion when the kernel has taken its
      // output ('drain' follows only writes that filled the socket's own buffer).
      const done = this.outputHeld ? this.afterWriteCallback() : undefined;
      if (w.buf.length > MAX_POOLED_OUT_BYTES) {
        // A buffer grown by large replies goes to the socket as it is, no copy; it is not kept.
        this.socket.write(w.buf.subarray(0, w.pos), done);
        return;
      }
      this.socket.write(w.toBuffer(), done);
    }
    w.reset();
    if (w.buf.length <= MAX_POOLED_OUT_BYTES && outPool.length < MAX_POOLED_OUT_BUFFERS) outPool.push(w);
    // The kernel may have taken it all at once, and then no 'drain' follows.
    if (this.outputHeld && this.pendingOutputBytes <= this.lowWaterBytes) this.release(Hold.Output);
  }

  /** Below this, a connection held for its output is read again (half the soft bound). */
  private get lowWaterBytes(): number {
    return Math.floor(this.handler.outputLimits.softBytes / 2);
  }

  /** @internal the socket's 'drain'. */
  onDrain(): void {
    if (this.outputHeld && this.pendingOutputBytes <= this.lowWaterBytes) this.release(Hold.Output);
  }

  /** A write's completion callback, made only for a connection held for its output. */
  private afterWrite: (() => void) | undefined;
  private afterWriteCallback(): () => void {
    return (this.afterWrite ??= () => this.onDrain());
  }

  /** Past the hard bound: the client is not reading; its replies are dropped with the connection. */
  private overflow(pendingBytes: number): void {
    this.log.warn(
      {
        cnxn: this.id,
        sessionId: this.hexSessionId(),
        remote: `${this.remoteAddress}:${this.remotePort}`,
        pendingBytes,
        hardLimitBytes: this.handler.outputLimits.hardBytes,
      },
      'closing connection: its client does not read its replies',
    );
    this.handler.onOutputOverflow(this);
    this.abort();
  }

  /** Closes at once, dropping what is not sent. */
  private abort(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearHandshakeTimer();
    this.out = undefined;
    this.decoder.clear();
    this.socket.destroy();
    this.handler.onClose(this);
  }

  /** Stops reading for this reason (the socket and the frames already received). */
  hold(reason: Hold): void {
    if ((this.holds & reason) !== 0) return;
    if (this.holds === 0 && this.state !== 'closed') this.socket.pause();
    this.holds |= reason;
    if (reason === Hold.Output) this.handler.onOutputPaused(this);
  }

  /** Drops this reason; once none is left, reading goes on, first with the bytes already received. */
  release(reason: Hold): void {
    if ((this.holds & reason) === 0) return;
    this.holds &= ~reason;
    if (this.holds !== 0 || this.state === 'closed' || this.resumeScheduled) return;
    // Not from inside the caller (often the processing of this connection's own request), and
    // after other connections' I/O of this turn.
    this.resumeScheduled = true;
    setImmediate(() => {
      this.resumeScheduled = false;
      if (this.holds !== 0 || this.state === 'closed') return;
      try {
        this.decoder.resume();
      } catch (e) {
        this.failed(e);
        return;
      }
      // The socket only once the bytes held are decoded, so that they never pile up.
      if (this.reading) this.socket.resume();
    });
  }

  sendConnectResponse(rsp: R.ConnectResponse): void {
    this.sendFrame((w) => encodeConnectResponse(w, rsp, this.oldClient));
  }

  /** A reply: header, then the body if the request succeeded and has one. */
  sendReply(xid: number, zxid: bigint, err: number, body?: (w: JuteWriter) => void, bodyOnError = false): void {
    if (this.state === 'closed') return;
    // As sendFrame, without a closure and a header object per reply: every request has one.
    const w = this.writer();
    const start = w.pos;
    try {
      w.writeInt(0);
      // ReplyHeader: xid, zxid, err.
      w.writeInt(xid);
      w.writeLong(zxid);
      w.writeInt(err);
      if (body && (err === 0 || bodyOnError)) body(w);
    } catch (e) {
      w.pos = start;
      throw e;
    }
    this.endFrame(w, start);
  }

  /** Watcher: a notification frame (xid -1), shared by every watcher of one event. */
  notify(type: number, path: string, frame: Buffer = encodeNotificationFrame(type, path)): void {
    if (this.state === 'closed' || this.socket.destroyed) return;
    const w = this.out;
    if (w !== undefined) {
      // Behind frames still pending: copied into the output buffer, in order.
      w.writeRaw(frame);
      this.counted(w.pos);
      return;
    }
    // Nothing of this connection waits to be written, so the frame goes to the socket now, as it
    // is: no copy and no buffer per watcher when one event goes to thousands of them.
    this.socket.write(frame, this.outputHeld ? this.afterWriteCallback() : undefined);
    this.counted(0);
  }

  /**
   * For the fan-out writer (fanout.ts): the socket's descriptor when a notification may be written
   * to it directly, by any thread. Only a plain socket with nothing of this connection pending,
   * here or in the socket, so that the frame cannot overtake earlier output; -1 otherwise.
   */
  directWriteFd(): number {
    if (this.state === 'closed' || this.out !== undefined || this.outputHeld) return -1;
    const s = this.socket as net.Socket & { encrypted?: boolean; _handle?: { fd?: number } | null };
    if (s.encrypted || s.destroyed || s.connecting || !s.writable || s.writableLength !== 0 || s.writableCorked !== 0) return -1;
    const fd = s._handle?.fd;
    return typeof fd === 'number' && fd >= 0 ? fd : -1;
  }

  /** After a direct write of a notification: what the kernel did not take goes through the socket. */
  directWritten(frame: Buffer, written: number): void {
    if (written === frame.length) {
      // Nothing was pending and nothing is: no bound to check.
      this.packetsSent++;
      this.handler.stats.packetsSent++;
      return;
    }
    if (written >= 0) this.socket.write(frame.subarray(written));
    this.counted(0);
  }

  canRead(acl: R.ACL[]): boolean {
    return this.handler.canRead(this, acl);
  }

  sendRaw(text: string): void {
    if (this.state === 'closed') return;
    this.flush();
    this.socket.write(text);
  }

  /** Closes after what is queued has been written. */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearHandshakeTimer();
    this.sniff = undefined;
    // What was answered before the close still goes out, ahead of the FIN.
    this.flush();
    this.socket.end();
    // A peer that never reads must not hold the socket open.
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.decoder.clear();
    this.handler.onClose(this);
  }

  /** @internal the socket's 'close'. */
  closed(): void {
    if (this.state !== 'closed') {
      this.state = 'closed';
      this.clearHandshakeTimer();
      this.sniff = undefined;
      this.out = undefined;
      this.decoder.clear();
      this.handler.onClose(this);
    }
  }
}
