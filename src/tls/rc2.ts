/**
 * RC2 decryption in CBC mode (RFC 2268). PKCS#12 files written by Java 8 to 11.0.11 and by OpenSSL
 * 1.x encrypt their certificates with pbeWithSHAAnd40BitRC2-CBC by default; OpenSSL 3 (and so
 * Node) keeps RC2 in its legacy provider, which Node does not load, so a store from those tools
 * would not open without this.
 */

/** PITABLE of RFC 2268 section 2, a permutation of 0..255. */
const PITABLE = Buffer.from(
  'd978f9c419ddb5ed28e9fd794aa0d89dc67e37832b76538e624c6488448bfba2179a59f587b34f1361456d8d09817d32' +
    'bd8f40eb86b77b0bf09521225c6b4e8254d66593ce60b21c7356c014a78cf1dc1275ca1f3bbee4d1423dd430a33cb626' +
    '6fbf0eda4669075727f21d9bbc944303f811c7f690ef3ee706c3d52fc8661ed708e8eade8052eef784aa72ac354d6a2a' +
    '961ad2715a1549744b9fd05e0418a4ecc2e0416e0f51cbcc2491af50a1f47039997c3a8523b8b47afc02365b25559731' +
    '2d5dfa98e38a92ae05df2910676cbac9d300e6cfe19ea82c6316013f58e289a90d38341bab33ffb0bb480c5fb9b1cd2e' +
    'c5f3db47e5a59c770aa62068fe7fc1ad',
  'hex',
);

/** The 64 16-bit key words for `key` with `effectiveBits` effective key bits. */
export function rc2KeySchedule(key: Buffer, effectiveBits: number): Uint16Array {
  if (key.length < 1 || key.length > 128) throw new Error(`an RC2 key has 1 to 128 bytes, not ${key.length}`);
  if (effectiveBits < 1 || effectiveBits > 1024) throw new Error(`RC2 effective key bits must be 1 to 1024, not ${effectiveBits}`);
  const l = Buffer.alloc(128);
  key.copy(l);
  const t = key.length;
  for (let i = t; i < 128; i++) l[i] = PITABLE[(l[i - 1] + l[i - t]) & 0xff];
  const t8 = Math.ceil(effectiveBits / 8);
  const tm = 0xff >> (8 * t8 - effectiveBits);
  l[128 - t8] = PITABLE[l[128 - t8] & tm];
  for (let i = 127 - t8; i >= 0; i--) l[i] = PITABLE[l[i + 1] ^ l[i + t8]];
  const k = new Uint16Array(64);
  for (let i = 0; i < 64; i++) k[i] = l[2 * i] | (l[2 * i + 1] << 8);
  return k;
}

const SHIFTS = [1, 2, 3, 5];

/** Decrypts one 8-byte block of `src` at `offset` into `dst`. */
function decryptBlock(k: Uint16Array, src: Buffer, offset: number, dst: Buffer, dstOffset: number): void {
  const r = [src.readUInt16LE(offset), src.readUInt16LE(offset + 2), src.readUInt16LE(offset + 4), src.readUInt16LE(offset + 6)];
  let j = 63;
  const mixRounds = (n: number): void => {
    for (let round = 0; round < n; round++) {
      for (let i = 3; i >= 0; i--) {
        const s = SHIFTS[i];
        r[i] = ((r[i] >>> s) | (r[i] << (16 - s))) & 0xffff;
        const a = r[(i + 3) & 3];
        const b = r[(i + 2) & 3];
        const c = r[(i + 1) & 3];
        r[i] = (r[i] - k[j] - (a & b) - (~a & c)) & 0xffff;
        j--;
      }
    }
  };
  const mash = (): void => {
    for (let i = 3; i >= 0; i--) r[i] = (r[i] - k[r[(i + 3) & 3] & 63]) & 0xffff;
  };
  mixRounds(5);
  mash();
  mixRounds(6);
  mash();
  mixRounds(5);
  for (let i = 0; i < 4; i++) dst.writeUInt16LE(r[i], dstOffset + 2 * i);
}

/** RC2-CBC decryption without touching padding (the caller removes it). */
export function rc2CbcDecryptRaw(key: Buffer, effectiveBits: number, iv: Buffer, data: Buffer): Buffer {
  if (iv.length !== 8) throw new Error('an RC2 IV has 8 bytes');
  if (data.length % 8 !== 0) throw new Error(`RC2 ciphertext of ${data.length} bytes is not whole blocks`);
  const k = rc2KeySchedule(key, effectiveBits);
  const out = Buffer.alloc(data.length);
  let prev = iv;
  for (let p = 0; p < data.length; p += 8) {
    decryptBlock(k, data, p, out, p);
    for (let i = 0; i < 8; i++) out[p + i] ^= prev[i];
    prev = data.subarray(p, p + 8);
  }
  return out;
}
