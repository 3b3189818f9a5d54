/** Adler-32, the checksum of ZooKeeper's txn log records and snapshots (java.util.zip.Adler32). */

const MOD = 65521;
/** Largest run of bytes before the sums must be reduced so they stay exact in doubles. */
const NMAX = 5552;

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
        a += buf[i];
        b += a;
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
