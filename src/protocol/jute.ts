/**
 * Jute binary primitives: big-endian ints and longs, length-prefixed buffers, strings and vectors.
 * A length of -1 stands for null on the wire.
 */

export class JuteError extends Error {
  constructor(message: string, public readonly offset: number) {
    super(`${message} at offset ${offset}`);
    this.name = 'JuteError';
  }
}

export class JuteReader {
  pos: number;
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
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  readBool(): boolean {
    this.need(1);
    return this.buf[this.pos++] !== 0;
  }

  readBuffer(): Buffer | null {
    const len = this.readInt();
    if (len < 0) return null;
    this.need(len);
    // A copy: the frame's memory is reused by the decoder, the record outlives it.
    const out = Buffer.allocUnsafe(len);
    this.buf.copy(out, 0, this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  readString(): string {
    const len = this.readInt();
    if (len < 0) return '';
    this.need(len);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  /** A vector's element count; -1 (null) reads as 0. Refuses counts the remaining bytes cannot hold. */
  readVectorLength(minElementBytes: number): number {
    const at = this.pos;
    const n = this.readInt();
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
    this.buf.writeBigInt64BE(v, this.pos);
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
