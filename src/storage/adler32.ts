/** Adler-32, the checksum of ZooKeeper's txn log records and snapshots (java.util.zip.Adler32). */

const MOD = 65521;
/**
 * Longest run of bytes before the sums are reduced. zlib's 5552 keeps them within 32 bits unsigned;
 * 3800 keeps them within 31 bits, so that V8 adds int32s (about a quarter faster).
 */
const NMAX = 3800;

export class Adler32 {
  private a = 1;
  private b = 0;

  update(buf: Uint8Array, start = 0, end = buf.length): this {
    let a = this.a;
    let b = this.b;
    let i = start;
    while (i < end) {
      const stop = Math.min(end, i + NMAX);
      // Eight bytes a step: the sums after them in one go (b gains 8a and each byte times the
      // number of steps it stays in a), the same values as a byte at a time.
      for (; i + 8 <= stop; i += 8) {
        const x0 = buf[i];
        const x1 = buf[i + 1];
        const x2 = buf[i + 2];
        const x3 = buf[i + 3];
        const x4 = buf[i + 4];
        const x5 = buf[i + 5];
        const x6 = buf[i + 6];
        const x7 = buf[i + 7];
        b = (b + 8 * a + 8 * x0 + 7 * x1 + 6 * x2 + 5 * x3 + 4 * x4 + 3 * x5 + 2 * x6 + x7) | 0;
        a = (a + x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7) | 0;
      }
      for (; i < stop; i++) {
        a = (a + buf[i]) | 0;
        b = (b + a) | 0;
      }
      a %= MOD;
      b %= MOD;
    }
    this.a = a;
    this.b = b;
    return this;
  }

  /** The checksum as an unsigned 32-bit value (what Java's getValue() returns as a long). */
  value(): number {
    return ((this.b << 16) | this.a) >>> 0;
  }
}

export function adler32(buf: Uint8Array, start = 0, end = buf.length): number {
  return new Adler32().update(buf, start, end).value();
}
