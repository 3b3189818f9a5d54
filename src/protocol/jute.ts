/**
 * Jute binary primitives: big-endian ints and longs, length-prefixed buffers, strings and vectors.
 * A length of -1 stands for null on the wire.
 */

import * as os from 'node:os';

// Longs go through an 8-byte scratch: Buffer's writeBigInt64BE splits the value with bigint
// arithmetic, making several bigints per call, which was a tenth of the garbage a write made.
const LONG_SCRATCH = new BigInt64Array(1);
const LONG_BYTES = new Uint8Array(LONG_SCRATCH.buffer);
/** Index in LONG_BYTES of the long's most significant byte. */
const MSB = os.endianness() === 'LE' ? 7 : 0;
const STEP = MSB === 7 ? -1 : 1;

/** Writes v (taken modulo 2^64, as a signed long) big-endian at b[pos, pos + 8), making no bigint. */
export function putLong(b: Uint8Array, pos: number, v: bigint): void {
  LONG_SCRATCH[0] = v;
  for (let i = 0, k = MSB; i < 8; i++, k += STEP) b[pos + i] = LONG_BYTES[k];
}

/** The signed long big-endian at b[pos, pos + 8) (the caller checks the bounds). */
export function getLong(b: Uint8Array, pos: number): bigint {
  for (let i = 0, k = MSB; i < 8; i++, k += STEP) LONG_BYTES[k] = b[pos + i];
  return LONG_SCRATCH[0];
}

export class JuteError extends Error {
  constructor(message: string, public readonly offset: number) {
    super(`${message} at offset ${offset}`);
    this.name = 'JuteError';
  }
}

export class JuteReader {
  pos: number;
  /** Null strings, buffers and vectors (length -1) read so far. */
  nullsRead = 0;
  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new JuteError(`record truncated: need ${n} bytes, have ${this.end - this.pos}`, this.pos);
  }

  readInt(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  readLong(): bigint {
    this.need(8);
    const v = getLong(this.buf, this.pos);
    this.pos += 8;
    return v;
  }

  readBool(): boolean {
    this.need(1);
    return this.buf[this.pos++] !== 0;
  }

  /** -1 is null; any other negative length is refused, as ZooKeeper refuses it. */
  private readLength(what: string): number {
    const at = this.pos;
    const len = this.readInt();
    if (len < -1) throw new JuteError(`${what} length ${len}`, at);
    return len;
  }

  readBuffer(): Buffer | null {
    const len = this.readLength('buffer');
    if (len === -1) {
      this.nullsRead++;
      return null;
    }
    this.need(len);
    // A copy: the frame's memory is reused by the decoder, the record outlives it.
    const out = Buffer.allocUnsafe(len);
    this.buf.copy(out, 0, this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** A null string (length -1) reads as "" and is counted in `nullsRead`, for callers that refuse it. */
  readString(): string {
    const len = this.readLength('string');
    if (len === -1) {
      this.nullsRead++;
      return '';
    }
    this.need(len);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  /** A vector's element count; -1 (null) reads as 0. Refuses counts the remaining bytes cannot hold. */
  readVectorLength(minElementBytes: number): number {
    const at = this.pos;
    const n = this.readInt();
    // ZooKeeper reads any negative count as an empty vector, -1 as a null one.
    if (n === -1) this.nullsRead++;
    if (n < 0) return 0;
    if (n * minElementBytes > this.end - this.pos) throw new JuteError(`vector count ${n} exceeds the remaining bytes`, at);
    return n;
  }
}

export class JuteWriter {
  buf: Buffer;
  pos = 0;

  constructor(initialBytes = 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  reset(): void {
    this.pos = 0;
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  writeInt(v: number): void {
    this.ensure(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
  }

  writeLong(v: bigint): void {
    this.ensure(8);
    putLong(this.buf, this.pos, v);
    this.pos += 8;
  }

  writeBool(v: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }

  writeBuffer(b: Buffer | null): void {
    if (b === null) {
      this.writeInt(-1);
      return;
    }
    this.ensure(4 + b.length);
    this.buf.writeInt32BE(b.length, this.pos);
    b.copy(this.buf, this.pos + 4);
    this.pos += 4 + b.length;
  }

  /** A buffer whose bytes are given as latin1 text (one char per byte), without making the Buffer. */
  writeLatin1Buffer(t: string): void {
    this.ensure(4 + t.length);
    this.buf.writeInt32BE(t.length, this.pos);
    this.buf.write(t, this.pos + 4, t.length, 'latin1');
    this.pos += 4 + t.length;
  }

  writeString(s: string): void {
    const len = Buffer.byteLength(s, 'utf8');
    this.ensure(4 + len);
    this.buf.writeInt32BE(len, this.pos);
    this.buf.write(s, this.pos + 4, len, 'utf8');
    this.pos += 4 + len;
  }

  writeRaw(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  /** A copy of what was written. */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

/** Encodes one record into a fresh buffer. */
export function encodeToBuffer<T>(encode: (w: JuteWriter, r: T) => void, record: T, initialBytes = 256): Buffer {
  const w = new JuteWriter(initialBytes);
  encode(w, record);
  return w.toBuffer();
}

/** Decodes one record from a whole buffer. */
export function decodeFromBuffer<T>(decode: (r: JuteReader) => T, buf: Buffer): T {
  return decode(new JuteReader(buf));
}
