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
