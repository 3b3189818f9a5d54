// Adler-32: eight bytes a step gives what a byte at a time gives (and java.util.zip.Adler32's known
// values), whole or in pieces of any size, up to the largest sums.
import t from 'tap';
import { Adler32, adler32 } from '../src/storage/adler32';
import { prng } from './util/prng';

/** A byte at a time, as the definition goes. */
function reference(b: Uint8Array): number {
  let a = 1;
  let s = 0;
  for (const x of b) {
    a = (a + x) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

function bytes(seed: number, n: number): Buffer {
  const rnd = prng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

t.test('known values and the definition', async (t) => {
  t.equal(adler32(Buffer.alloc(0)), 1);
  t.equal(adler32(Buffer.from('Wikipedia')), 0x11e60398);
  for (const n of [1, 7, 8, 9, 3799, 3800, 3801, 10_000, 100_003]) {
    const b = bytes(n, n);
    t.equal(adler32(b), reference(b), `${n} random bytes`);
    const ff = Buffer.alloc(n, 0xff);
    t.equal(adler32(ff), reference(ff), `${n} bytes of 0xff (the largest sums)`);
  }
  // Updates in pieces of any size.
  const b = bytes(5, 50_000);
  const rnd = prng(9);
  const a = new Adler32();
  for (let at = 0; at < b.length; ) {
    const n = Math.min(b.length - at, 1 + Math.floor(rnd() * 5000));
    a.update(b, at, at + n);
    at += n;
  }
  t.equal(a.value(), reference(b));
});
