/**
 * The quorum port as a byte stream: QuorumPackets back to back with no outer length, except that
 * after SNAP the leader writes a raw snapshot stream inline. The decoder takes bytes as they arrive
 * (any split) and hands out whole packets; between packets its owner can switch it to raw mode,
 * which passes bytes to a consumer until the consumer has read its whole stream.
 *
 * Memory: a packet is assembled field by field into buffers of exactly the announced size, each
 * length checked against the limits before anything is allocated, so at most one packet (bounded by
 * the limits) is held. Nothing is concatenated.
 */
import { getLong, JuteWriter } from '../../protocol/jute';
import {
  checkAuthCount,
  checkLength,
  encodeQuorumPacket,
  JUTE_MAXBUFFER_DEFAULT,
  JUTE_MAXBUFFER_EXTRA_DEFAULT,
  MAX_AUTHINFO_DEFAULT,
  packetTypeName,
  QuorumWireError,
  type PacketId,
  type QuorumPacket,
} from './packets';

/**
 * Reads the raw stream that follows a packet (the snapshot after SNAP). Given the next bytes (a
 * view, valid during the call only), it returns how many it used; `done` once its stream ended.
 * Until done it must use every byte; once done, the bytes it did not use are packets again.
 */
export type RawConsumer = (chunk: Buffer) => { used: number; done: boolean };

export interface QuorumFramerOptions {
  /** jute.maxbuffer (ZooKeeper's default 0xfffff). */
  maxBufferBytes?: number;
  /** zookeeper.jute.maxbuffer.extrasize (default: as much again); added to maxBufferBytes. */
  extraBufferBytes?: number;
  /** Most auth ids accepted in one packet. */
  maxAuthinfo?: number;
}

const enum Stage {
  /** type, zxid, data length: 16 bytes. */
  HEAD,
  DATA,
  /** authinfo count: 4 bytes. */
  COUNT,
  /** length of the next auth string: 4 bytes. */
  STRING_LENGTH,
  STRING,
}

const HEAD_BYTES = 16;

export class QuorumPacketFramer {
  /** Largest data buffer or auth string: jute.maxbuffer + extrasize. */
  readonly maxBufferBytes: number;
  readonly maxAuthinfo: number;

  private stage = Stage.HEAD;
  /** The fixed-size fields being assembled (head, count, string length). */
  private readonly scratch = Buffer.alloc(HEAD_BYTES);
  private scratchFill = 0;

  private type = 0;
  private zxid = 0n;
  private data: Buffer | null = null;
  private dataFill = 0;
  private authinfo: PacketId[] | null = null;
  private authCount = 0;
  /** Auth strings read so far in this packet (two per id). */
  private stringsRead = 0;
  private authBytes = 0;
  private pendingScheme = '';
  private string: Buffer | null = null;
  private stringFill = 0;

  private raw: RawConsumer | undefined;
  private failure: Error | undefined;
  /** Bytes of the input so far (for error messages). */
  private offset = 0;

  constructor(
    private readonly onPacket: (packet: QuorumPacket) => void,
    options: QuorumFramerOptions = {},
  ) {
    this.maxBufferBytes = (options.maxBufferBytes ?? JUTE_MAXBUFFER_DEFAULT) + (options.extraBufferBytes ?? JUTE_MAXBUFFER_EXTRA_DEFAULT);
    this.maxAuthinfo = options.maxAuthinfo ?? MAX_AUTHINFO_DEFAULT;
  }

  /** Whether the bytes pushed next go to a raw consumer. */
  get inRawMode(): boolean {
    return this.raw !== undefined;
  }

  /** Whether a packet is partly read (an end of stream now would cut it). */
  get midPacket(): boolean {
    return this.stage !== Stage.HEAD || this.scratchFill > 0;
  }

  /** Bytes held for the packet being assembled (at most one packet's, within the limits). */
  get heldBytes(): number {
    return HEAD_BYTES + (this.data?.length ?? 0) + this.authBytes;
  }

  /**
   * Sends the bytes that follow the last packet to `consumer` until it reports done. Called from
   * onPacket (for the SNAP packet) or between pushes; never inside a packet.
   */
  rawMode(consumer: RawConsumer): void {
    if (this.raw !== undefined) throw new QuorumWireError('quorum stream: already in raw mode');
    if (this.midPacket) throw new QuorumWireError('quorum stream: raw mode requested inside a packet');
    this.raw = consumer;
  }

  /**
   * Takes the next bytes of the stream; calls onPacket for each packet they complete. Throws a
   * QuorumWireError on a malformed or oversized packet, after which the stream is unusable (every
   * later push throws the same error): the connection closes.
   */
  push(chunk: Buffer): void {
    if (this.failure) throw this.failure;
    try {
      this.consume(chunk);
    } catch (e) {
      this.failure = e instanceof Error ? e : new Error(String(e));
      throw e;
    }
  }

  /** The stream ended: throws when it ended inside a packet or a raw stream. */
  end(): void {
    if (this.failure) throw this.failure;
    if (this.raw !== undefined) throw new QuorumWireError(`quorum stream: ended inside a raw stream at offset ${this.offset}`);
    if (this.midPacket) throw new QuorumWireError(`quorum stream: ended inside a packet at offset ${this.offset}`);
  }

  private consume(chunk: Buffer): void {
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.raw !== undefined) {
        pos += this.feedRaw(chunk, pos);
        continue;
      }
      switch (this.stage) {
        case Stage.HEAD: {
          pos = this.fillScratch(chunk, pos, HEAD_BYTES);
          if (this.scratchFill < HEAD_BYTES) break;
          this.scratchFill = 0;
          this.type = this.scratch.readInt32BE(0);
          this.zxid = getLong(this.scratch, 4);
          const len = this.scratch.readInt32BE(12);
          checkLength(this.type, 'data', len, this.maxBufferBytes);
          if (len === -1) {
            this.data = null;
            this.stage = Stage.COUNT;
          } else {
            this.data = len === 0 ? Buffer.alloc(0) : Buffer.allocUnsafe(len);
            this.dataFill = 0;
            this.stage = len === 0 ? Stage.COUNT : Stage.DATA;
          }
          break;
        }
        case Stage.DATA: {
          const data = this.data!;
          const n = Math.min(data.length - this.dataFill, end - pos);
          chunk.copy(data, this.dataFill, pos, pos + n);
          this.dataFill += n;
          pos += n;
          this.offset += n;
          if (this.dataFill === data.length) this.stage = Stage.COUNT;
          break;
        }
        case Stage.COUNT: {
          pos = this.fillScratch(chunk, pos, 4);
          if (this.scratchFill < 4) break;
          this.scratchFill = 0;
          const count = this.scratch.readInt32BE(0);
          checkAuthCount(this.type, count, this.maxAuthinfo);
          this.authCount = count;
          this.authinfo = count === -1 ? null : [];
          this.stringsRead = 0;
          this.authBytes = 0;
          if (count <= 0) this.emit();
          else this.stage = Stage.STRING_LENGTH;
          break;
        }
        case Stage.STRING_LENGTH: {
          pos = this.fillScratch(chunk, pos, 4);
          if (this.scratchFill < 4) break;
          this.scratchFill = 0;
          const len = this.scratch.readInt32BE(0);
          checkLength(this.type, 'authinfo string', len, this.maxBufferBytes);
          if (len > 0 && this.authBytes + len > this.maxBufferBytes)
            throw new QuorumWireError(`${packetTypeName(this.type)} packet: authinfo holds more than ${this.maxBufferBytes} bytes`);
          if (len <= 0) {
            // ZooKeeper writes no null ids; a null reads as "", as jute's ustring reader gives it.
            this.stringDone('');
          } else {
            this.authBytes += len;
            this.string = Buffer.allocUnsafe(len);
            this.stringFill = 0;
            this.stage = Stage.STRING;
          }
          break;
        }
        case Stage.STRING: {
          const s = this.string!;
          const n = Math.min(s.length - this.stringFill, end - pos);
          chunk.copy(s, this.stringFill, pos, pos + n);
          this.stringFill += n;
          pos += n;
          this.offset += n;
          if (this.stringFill === s.length) {
            this.string = null;
            this.stringDone(s.toString('utf8'));
          }
          break;
        }
      }
    }
  }

  /** Copies up to `want - scratchFill` bytes into the scratch; returns the new position. */
  private fillScratch(chunk: Buffer, pos: number, want: number): number {
    const n = Math.min(want - this.scratchFill, chunk.length - pos);
    chunk.copy(this.scratch, this.scratchFill, pos, pos + n);
    this.scratchFill += n;
    this.offset += n;
    return pos + n;
  }

  private stringDone(s: string): void {
    if (this.stringsRead++ % 2 === 0) {
      this.pendingScheme = s;
    } else {
      this.authinfo!.push({ scheme: this.pendingScheme, id: s });
    }
    if (this.stringsRead === this.authCount * 2) this.emit();
    else this.stage = Stage.STRING_LENGTH;
  }

  private emit(): void {
    const packet: QuorumPacket = { type: this.type, zxid: this.zxid, data: this.data, authinfo: this.authinfo };
    this.stage = Stage.HEAD;
    this.data = null;
    this.authinfo = null;
    this.authBytes = 0;
    this.onPacket(packet);
  }

  private feedRaw(chunk: Buffer, pos: number): number {
    const consumer = this.raw!;
    const available = chunk.length - pos;
    const { used, done } = consumer(chunk.subarray(pos));
    if (!Number.isInteger(used) || used < 0 || used > available)
      throw new QuorumWireError(`quorum stream: raw consumer reported ${used} of ${available} bytes used`);
    if (!done && used !== available)
      throw new QuorumWireError(`quorum stream: raw consumer used ${used} of ${available} bytes without finishing`);
    if (done) this.raw = undefined;
    this.offset += used;
    return used;
  }
}

/** Larger writers are dropped after use, so that one big packet does not pin its memory. */
const MAX_KEPT_WRITER_BYTES = 1024 * 1024;

/**
 * Writes packets through one reusable JuteWriter: the output buffer (which the socket keeps until
 * it is sent) is the only allocation per call.
 */
export class QuorumPacketEncoder {
  private w: JuteWriter;

  constructor(private readonly initialBytes = 4096) {
    this.w = new JuteWriter(initialBytes);
  }

  /** One packet's bytes. */
  encode(packet: QuorumPacket): Buffer {
    const w = this.w;
    w.reset();
    encodeQuorumPacket(w, packet);
    return this.take();
  }

  /** Several packets back to back, in one buffer (one socket write). */
  encodeAll(packets: readonly QuorumPacket[]): Buffer {
    const w = this.w;
    w.reset();
    for (const p of packets) encodeQuorumPacket(w, p);
    return this.take();
  }

  private take(): Buffer {
    const out = this.w.toBuffer();
    if (this.w.buf.length > MAX_KEPT_WRITER_BYTES) this.w = new JuteWriter(this.initialBytes);
    return out;
  }
}
