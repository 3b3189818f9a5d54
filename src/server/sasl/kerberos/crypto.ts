/**
 * Kerberos encryption types an MIT KDC issues by default, on node:crypto:
 * aes128/aes256-cts-hmac-sha1-96 (RFC 3961/3962: AES-CBC with ciphertext stealing, HMAC-SHA1-96,
 * keys derived with DK and n-fold) and aes128-cts-hmac-sha256-128 / aes256-cts-hmac-sha384-192
 * (RFC 8009: the same CTS mode, keys from KDF-HMAC-SHA2, the HMAC taken over the ciphertext).
 */
import * as crypto from 'node:crypto';
import { SaslError } from '../mechanism';

const BLOCK = 16;
const ZERO_IV = Buffer.alloc(BLOCK);

export interface Enctype {
  readonly id: number;
  readonly name: string;
  readonly keyBytes: number;
  /** Bytes of the integrity tag appended to ciphertexts, and of checksums. */
  readonly macBytes: number;
  encrypt(key: Buffer, usage: number, plaintext: Buffer): Buffer;
  /** Throws `SaslError` when the integrity check fails. */
  decrypt(key: Buffer, usage: number, ciphertext: Buffer): Buffer;
  checksum(key: Buffer, usage: number, data: Buffer): Buffer;
}

// ---------------------------------------------------------------------------------------------
// AES with ciphertext stealing (CBC-CS3 with the last two blocks always swapped, IV zero)

function aesName(key: Buffer, mode: 'cbc' | 'ecb'): string {
  if (key.length !== 16 && key.length !== 32) throw new SaslError(`GSSAPI: AES key of ${key.length} bytes`);
  return `aes-${key.length * 8}-${mode}`;
}

function cbcEncrypt(key: Buffer, data: Buffer): Buffer {
  const cipher = crypto.createCipheriv(aesName(key, 'cbc'), key, ZERO_IV).setAutoPadding(false);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

function cbcDecrypt(key: Buffer, data: Buffer): Buffer {
  const decipher = crypto.createDecipheriv(aesName(key, 'cbc'), key, ZERO_IV).setAutoPadding(false);
  return Buffer.concat([decipher.update(data), decipher.final()]);
}

function ecbDecryptBlock(key: Buffer, block: Buffer): Buffer {
  const decipher = crypto.createDecipheriv(aesName(key, 'ecb'), key, null).setAutoPadding(false);
  return Buffer.concat([decipher.update(block), decipher.final()]);
}

export function ctsEncrypt(key: Buffer, plaintext: Buffer): Buffer {
  const len = plaintext.length;
  if (len < BLOCK) throw new RangeError('CTS needs at least one block');
  if (len === BLOCK) return cbcEncrypt(key, plaintext);
  const blocks = Math.ceil(len / BLOCK);
  const lastBytes = len - BLOCK * (blocks - 1);
  const padded = Buffer.concat([plaintext, Buffer.alloc(BLOCK * blocks - len)]);
  const c = cbcEncrypt(key, padded);
  const beforeLastTwo = BLOCK * (blocks - 2);
  return Buffer.concat([
    c.subarray(0, beforeLastTwo),
    c.subarray(beforeLastTwo + BLOCK),
    c.subarray(beforeLastTwo, beforeLastTwo + lastBytes),
  ]);
}

export function ctsDecrypt(key: Buffer, ciphertext: Buffer): Buffer {
  const len = ciphertext.length;
  if (len < BLOCK) throw new SaslError('GSSAPI: ciphertext shorter than one block');
  if (len === BLOCK) return cbcDecrypt(key, ciphertext);
  const blocks = Math.ceil(len / BLOCK);
  const lastBytes = len - BLOCK * (blocks - 1);
  const beforeLastTwo = BLOCK * (blocks - 2);
  // The stream ends with E(last block) followed by the head of the block before it.
  const encLast = ciphertext.subarray(beforeLastTwo, beforeLastTwo + BLOCK);
  const partial = ciphertext.subarray(beforeLastTwo + BLOCK);
  const mixed = ecbDecryptBlock(key, encLast); // last plaintext (zero padded) XOR previous ciphertext
  const previous = Buffer.concat([partial, mixed.subarray(lastBytes)]);
  const last = Buffer.alloc(lastBytes);
  for (let i = 0; i < lastBytes; i++) last[i] = mixed[i] ^ partial[i];
  const head = cbcDecrypt(key, Buffer.concat([ciphertext.subarray(0, beforeLastTwo), previous]));
  return Buffer.concat([head, last]);
}

// ---------------------------------------------------------------------------------------------
// RFC 3961 n-fold and DK

/** n-fold of RFC 3961 section 5.1, for outputs of `outBytes`. */
export function nfold(input: Buffer, outBytes: number): Buffer {
  const inBits = BigInt(input.length * 8);
  const outBits = BigInt(outBytes * 8);
  const gcd = (a: bigint, b: bigint): bigint => (b === 0n ? a : gcd(b, a % b));
  const lcmBits = (inBits * outBits) / gcd(inBits, outBits);
  const inMask = (1n << inBits) - 1n;
  const outMask = (1n << outBits) - 1n;
  const value = BigInt('0x' + input.toString('hex'));
  let sum = 0n;
  const copies = lcmBits / inBits;
  // Concatenate the copies (each rotated right 13 bits more than the one before) as one number.
  let whole = 0n;
  for (let i = 0n; i < copies; i++) {
    const r = (13n * i) % inBits;
    const rotated = r === 0n ? value : ((value >> r) | (value << (inBits - r))) & inMask;
    whole = (whole << inBits) | rotated;
  }
  for (let shift = lcmBits - outBits; shift >= 0n; shift -= outBits) {
    sum += (whole >> shift) & outMask;
  }
  while (sum > outMask) sum = (sum & outMask) + (sum >> outBits); // ones' complement carry
  return Buffer.from(sum.toString(16).padStart(outBytes * 2, '0'), 'hex');
}

function usageConstant(usage: number, kind: number): Buffer {
  const c = Buffer.alloc(5);
  c.writeUInt32BE(usage >>> 0, 0);
  c[4] = kind;
  return c;
}

const KIND_KE = 0xaa;
const KIND_KI = 0x55;
const KIND_KC = 0x99;

/** n-folded usage constants: a handful of usages recur, and n-fold is most of a derivation. */
const foldedConstants = new Map<string, Buffer>();
const FOLDED_CONSTANTS_MAX = 256;

function foldedConstant(constant: Buffer): Buffer {
  const id = constant.toString('hex');
  let folded = foldedConstants.get(id);
  if (!folded) {
    folded = nfold(constant, BLOCK);
    if (foldedConstants.size >= FOLDED_CONSTANTS_MAX) foldedConstants.clear();
    foldedConstants.set(id, folded);
  }
  return folded;
}

/** DK(base, constant) for the AES-SHA1 enctypes (random-to-key is the identity). */
export function deriveKeyDk(base: Buffer, constant: Buffer): Buffer {
  let block = constant.length === BLOCK ? constant : foldedConstant(constant);
  const parts: Buffer[] = [];
  let have = 0;
  while (have < base.length) {
    block = cbcEncrypt(base, block);
    parts.push(block);
    have += BLOCK;
  }
  return Buffer.concat(parts).subarray(0, base.length);
}

function hmac(hash: string, key: Buffer, ...data: Buffer[]): Buffer {
  const h = crypto.createHmac(hash, key);
  for (const d of data) h.update(d);
  return h.digest();
}

function integrityFailure(): SaslError {
  return new SaslError('GSSAPI: decrypt integrity check failed (wrong key or tampered data)');
}

function aesSha1(id: number, name: string, keyBytes: number): Enctype {
  const macBytes = 12;
  return {
    id,
    name,
    keyBytes,
    macBytes,
    encrypt(key, usage, plaintext) {
      const ke = deriveKeyDk(key, usageConstant(usage, KIND_KE));
      const ki = deriveKeyDk(key, usageConstant(usage, KIND_KI));
      const p = Buffer.concat([crypto.randomBytes(BLOCK), plaintext]);
      return Buffer.concat([ctsEncrypt(ke, p), hmac('sha1', ki, p).subarray(0, macBytes)]);
    },
    decrypt(key, usage, ciphertext) {
      if (ciphertext.length < BLOCK + macBytes) throw new SaslError('GSSAPI: ciphertext too short');
      const ke = deriveKeyDk(key, usageConstant(usage, KIND_KE));
      const ki = deriveKeyDk(key, usageConstant(usage, KIND_KI));
      const body = ciphertext.subarray(0, ciphertext.length - macBytes);
      const mac = ciphertext.subarray(ciphertext.length - macBytes);
      const p = ctsDecrypt(ke, body);
      if (!crypto.timingSafeEqual(hmac('sha1', ki, p).subarray(0, macBytes), mac)) throw integrityFailure();
      return p.subarray(BLOCK);
    },
    checksum(key, usage, data) {
      const kc = deriveKeyDk(key, usageConstant(usage, KIND_KC));
      return hmac('sha1', kc, data).subarray(0, macBytes);
    },
  };
}

/** KDF-HMAC-SHA2 of RFC 8009 section 3. */
export function kdfHmacSha2(hash: string, key: Buffer, label: Buffer, bits: number): Buffer {
  const k = Buffer.alloc(4);
  k.writeUInt32BE(bits, 0);
  return hmac(hash, key, Buffer.from([0, 0, 0, 1]), label, Buffer.from([0]), k).subarray(0, bits / 8);
}

function aesSha2(id: number, name: string, keyBytes: number, hash: string, macBytes: number): Enctype {
  const ke = (key: Buffer, usage: number) => kdfHmacSha2(hash, key, usageConstant(usage, KIND_KE), keyBytes * 8);
  const ki = (key: Buffer, usage: number) => kdfHmacSha2(hash, key, usageConstant(usage, KIND_KI), macBytes * 8);
  return {
    id,
    name,
    keyBytes,
    macBytes,
    encrypt(key, usage, plaintext) {
      const c = ctsEncrypt(ke(key, usage), Buffer.concat([crypto.randomBytes(BLOCK), plaintext]));
      return Buffer.concat([c, hmac(hash, ki(key, usage), ZERO_IV, c).subarray(0, macBytes)]);
    },
    decrypt(key, usage, ciphertext) {
      if (ciphertext.length < BLOCK + macBytes) throw new SaslError('GSSAPI: ciphertext too short');
      const c = ciphertext.subarray(0, ciphertext.length - macBytes);
      const mac = ciphertext.subarray(ciphertext.length - macBytes);
      if (!crypto.timingSafeEqual(hmac(hash, ki(key, usage), ZERO_IV, c).subarray(0, macBytes), mac)) {
        throw integrityFailure();
      }
      return ctsDecrypt(ke(key, usage), c).subarray(BLOCK);
    },
    checksum(key, usage, data) {
      const kc = kdfHmacSha2(hash, key, usageConstant(usage, KIND_KC), macBytes * 8);
      return hmac(hash, kc, data).subarray(0, macBytes);
    },
  };
}

const ENCTYPES: ReadonlyMap<number, Enctype> = new Map(
  [
    aesSha1(17, 'aes128-cts-hmac-sha1-96', 16),
    aesSha1(18, 'aes256-cts-hmac-sha1-96', 32),
    aesSha2(19, 'aes128-cts-hmac-sha256-128', 16, 'sha256', 16),
    aesSha2(20, 'aes256-cts-hmac-sha384-192', 32, 'sha384', 24),
  ].map((e) => [e.id, e]),
);

export function findEnctype(id: number): Enctype | undefined {
  return ENCTYPES.get(id);
}

export function enctype(id: number): Enctype {
  const e = ENCTYPES.get(id);
  if (!e) {
    throw new SaslError(
      `GSSAPI: unsupported encryption type ${id} (supported: ${[...ENCTYPES.values()].map((x) => x.name).join(', ')})`,
    );
  }
  return e;
}

/** A key with its type; the value is checked against the type's length. */
export interface KerberosKey {
  readonly enctype: number;
  readonly value: Buffer;
}

export function checkKey(key: KerberosKey): KerberosKey {
  const e = enctype(key.enctype);
  if (key.value.length !== e.keyBytes) {
    throw new SaslError(`GSSAPI: ${e.name} key of ${key.value.length} bytes`);
  }
  return key;
}
