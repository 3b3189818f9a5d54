/**
 * One client connection: framing, the handshake, the session's request queue, and batched replies.
 * It decodes and encodes; what a request means is the server's business.
 */
import type * as net from 'node:net';
import type { Logger } from 'pino';
import { KeeperState, Xid } from '../protocol/constants';
import { FrameDecoder, FrameError } from '../protocol/frame';
import { JuteError, JuteWriter } from '../protocol/jute';
import * as R from '../protocol/generated/records';
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
}

export interface CnxnHandler {
  maxFrameBytes: number;
  /** Server-wide packet counters (srvr's Received and Sent). */
  stats: { packetsReceived: number; packetsSent: number; bytesReceived: number };
  onConnect(c: ServerCnxn, frame: Buffer): void;
  onRequest(c: ServerCnxn, frame: Buffer): void;
  /** `rest` is what followed the word in the same read (stmk's mask). */
  onFourLetterWord(c: ServerCnxn, word: string, rest?: Buffer): void;
  isFourLetterWord(word: string): boolean;
  onClose(c: ServerCnxn): void;
  canRead(c: ServerCnxn, acl: R.ACL[]): boolean;
}

let nextCnxnId = 1;
/** Output buffer size kept between turns; a larger one is dropped after its flush. */
const MAX_KEPT_OUT_BYTES = 256 * 1024;

export class ServerCnxn implements Watcher {
  readonly id = nextCnxnId++;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The peer's address as ZooKeeper's ip scheme names it (IPv4 without the v6 mapping). */
  readonly remoteIp: string;
  readonly establishedAtMs = Date.now();
  state: 'handshake' | 'open' | 'closed' = 'handshake';
  session: Session | undefined;
  /** Authenticated identities (ZooKeeper's authInfo); every connection starts with its ip. */
  readonly ids: R.Id[];
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
  /** Frames encoded this event-loop turn, not yet handed to the socket. */
  private out = new JuteWriter(4096);
  private flushScheduled = false;
  private sniffed = false;

  constructor(
    readonly socket: net.Socket,
    private readonly handler: CnxnHandler,
    private readonly log: Logger,
  ) {
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.remoteIp = this.remoteAddress.startsWith('::ffff:') ? this.remoteAddress.slice(7) : this.remoteAddress;
    this.ids = [{ scheme: 'ip', id: this.remoteIp }];
    this.decoder = new FrameDecoder(handler.maxFrameBytes, (frame) => this.onFrame(frame));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.log.debug({ err: err.message, cnxn: this.id }, 'socket error'));
    socket.on('close', () => this.closed());
  }

  get sessionId(): bigint {
    return this.session?.id ?? 0n;
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.handler.stats.bytesReceived += chunk.length;
    try {
      if (!this.sniffed && this.state === 'handshake') {
        this.sniffed = true;
        // Four-letter words share the port: a connection that opens with one is answered and closed.
        if (chunk.length >= 4) {
          const word = chunk.toString('latin1', 0, 4);
          if (this.handler.isFourLetterWord(word)) {
            this.handler.onFourLetterWord(this, word, chunk.subarray(4));
            return;
          }
        }
      }
      this.decoder.push(chunk);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      const where = { cnxn: this.id, remote: `${this.remoteAddress}:${this.remotePort}`, sessionId: this.hexSessionId(), reason };
      if (e instanceof FrameError || e instanceof JuteError) this.log.warn(where, 'closing connection on bad input');
      // A fault while serving one connection closes that connection, not the server.
      else this.log.error({ ...where, stack: e instanceof Error ? e.stack : undefined }, 'closing connection on an internal error');
      this.close();
    }
  }

  private onFrame(frame: Buffer): void {
    if (this.state === 'closed') return;
    this.packetsReceived++;
    this.handler.stats.packetsReceived++;
    if (this.state === 'handshake') this.handler.onConnect(this, frame);
    else this.handler.onRequest(this, frame);
  }

  hexSessionId(): string {
    return '0x' + BigInt.asUintN(64, this.sessionId).toString(16);
  }

  /**
   * Encodes a frame behind those already pending; the frames of one event-loop turn go to the
   * socket as one buffer in one write (a socket write per frame cost more than the encoding).
   */
  private sendFrame(encodeBody: (w: JuteWriter) => void): void {
    if (this.state === 'closed') return;
    const w = this.out;
    const start = w.pos;
    try {
      w.writeInt(0);
      encodeBody(w);
    } catch (e) {
      // No half frame may stay behind the frames already pending.
      w.pos = start;
      throw e;
    }
    this.endFrame(start);
  }

  /** Fills in the length of the frame that starts at `start` and schedules the flush. */
  private endFrame(start: number): void {
    const w = this.out;
    w.buf.writeInt32BE(w.pos - start - 4, start);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
    this.packetsSent++;
    this.handler.stats.packetsSent++;
  }

  /** Hands the pending frames to the socket. */
  private flush(): void {
    this.flushScheduled = false;
    const w = this.out;
    if (w.pos === 0) return;
    if (!this.socket.destroyed) this.socket.write(w.toBuffer());
    // A writer grown by a burst is not kept for the connection's lifetime.
    if (w.buf.length > MAX_KEPT_OUT_BYTES) this.out = new JuteWriter(4096);
    else w.reset();
  }

  sendConnectResponse(rsp: R.ConnectResponse): void {
    this.sendFrame((w) => R.encodeConnectResponse(w, rsp));
  }

  /** A reply: header, then the body if the request succeeded and has one. */
  sendReply(xid: number, zxid: bigint, err: number, body?: (w: JuteWriter) => void, bodyOnError = false): void {
    if (this.state === 'closed') return;
    // As sendFrame, without a closure and a header object per reply: every request has one.
    const w = this.out;
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
    this.endFrame(start);
  }

  /** Watcher: a notification frame (xid -1). */
  notify(type: number, path: string): void {
    this.sendFrame((w) => {
      R.encodeReplyHeader(w, { xid: Xid.notification, zxid: -1n, err: 0 });
      R.encodeWatcherEvent(w, { type, state: KeeperState.SyncConnected, path });
    });
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
    // What was answered before the close still goes out, ahead of the FIN.
    this.flush();
    this.socket.end();
    // A peer that never reads must not hold the socket open.
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.handler.onClose(this);
  }

  private closed(): void {
    if (this.state !== 'closed') {
      this.state = 'closed';
      this.handler.onClose(this);
    }
  }

  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    if (this.state !== 'closed') this.socket.resume();
  }
}
