/**
 * Password-based encryption as PKCS#12 files and encrypted PKCS#8 keys use it: the PKCS#12 key
 * derivation (RFC 7292 appendix B) for the legacy pbeWithSHAAnd* schemes and the MAC, and PBES2
 * (PBKDF2 with an AES or triple-DES cipher, RFC 8018) that Java 11.0.12+ and OpenSSL 3 write.
 */
import * as crypto from 'node:crypto';
import { algorithm, child, children, DerError, octets, oid, smallInt, Tag, type Der } from './der';
import { rc2CbcDecryptRaw } from './rc2';

/** A store whose password does not open it (or whose integrity check fails). */
export class StorePasswordError extends Error {}

export const OID = {
  sha1: '1.3.14.3.2.26',
  sha224: '2.16.840.1.101.3.4.2.4',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  hmacWithSHA1: '1.2.840.113549.2.7',
  hmacWithSHA224: '1.2.840.113549.2.8',
  hmacWithSHA256: '1.2.840.113549.2.9',
  hmacWithSHA384: '1.2.840.113549.2.10',
  hmacWithSHA512: '1.2.840.113549.2.11',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  aes128cbc: '2.16.840.1.101.3.4.1.2',
  aes192cbc: '2.16.840.1.101.3.4.1.22',
  aes256cbc: '2.16.840.1.101.3.4.1.42',
  desEde3Cbc: '1.2.840.113549.3.7',
  pbeSha3KeyTripleDes: '1.2.840.113549.1.12.1.3',
  pbeSha2KeyTripleDes: '1.2.840.113549.1.12.1.4',
  pbeSha128BitRc2: '1.2.840.113549.1.12.1.5',
  pbeSha40BitRc2: '1.2.840.113549.1.12.1.6',
} as const;

const DIGESTS: Record<string, { name: string; blockBytes: number }> = {
  [OID.sha1]: { name: 'sha1', blockBytes: 64 },
  [OID.sha224]: { name: 'sha224', blockBytes: 64 },
  [OID.sha256]: { name: 'sha256', blockBytes: 64 },
  [OID.sha384]: { name: 'sha384', blockBytes: 128 },
  [OID.sha512]: { name: 'sha512', blockBytes: 128 },
};

const PRFS: Record<string, string> = {
  [OID.hmacWithSHA1]: 'sha1',
  [OID.hmacWithSHA224]: 'sha224',
  [OID.hmacWithSHA256]: 'sha256',
  [OID.hmacWithSHA384]: 'sha384',
  [OID.hmacWithSHA512]: 'sha512',
};

const PBES2_CIPHERS: Record<string, { name: string; keyBytes: number }> = {
  [OID.aes128cbc]: { name: 'aes-128-cbc', keyBytes: 16 },
  [OID.aes192cbc]: { name: 'aes-192-cbc', keyBytes: 24 },
  [OID.aes256cbc]: { name: 'aes-256-cbc', keyBytes: 32 },
  [OID.desEde3Cbc]: { name: 'des-ede3-cbc', keyBytes: 24 },
};

/** The PKCS#12 form of a password: UTF-16BE with a two-byte terminator (none when there is no password). */
export function bmpPassword(password: string | null): Buffer {
  if (password === null) return Buffer.alloc(0);
  const b = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) b.writeUInt16BE(password.charCodeAt(i), i * 2);
  return b;
}

/** The PKCS#12 key derivation (RFC 7292 B.2): `id` 1 for a key, 2 for an IV, 3 for a MAC key. */
export function pkcs12Kdf(digestOid: string, password: Buffer, salt: Buffer, id: 1 | 2 | 3, iterations: number, outBytes: number): Buffer {
  const d = DIGESTS[digestOid];
  if (!d) throw new Error(`digest ${digestOid} is not supported for the PKCS#12 key derivation`);
  const v = d.blockBytes;
  const fill = (src: Buffer): Buffer => {
    if (src.length === 0) return Buffer.alloc(0);
    const out = Buffer.alloc(v * Math.ceil(src.length / v));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length];
    return out;
  };
  const diversifier = Buffer.alloc(v, id);
  const input = Buffer.concat([fill(salt), fill(password)]);
  const out: Buffer[] = [];
  let have = 0;
  while (have < outBytes) {
    let a = crypto.createHash(d.name).update(diversifier).update(input).digest();
    for (let i = 1; i < iterations; i++) a = crypto.createHash(d.name).update(a).digest();
    out.push(a);
    have += a.length;
    if (have >= outBytes) break;
    // I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block of I, with B = A repeated to v bytes.
    const b = Buffer.alloc(v);
    for (let i = 0; i < v; i++) b[i] = a[i % a.length];
    for (let off = 0; off < input.length; off += v) {
      let carry = 1;
      for (let i = v - 1; i >= 0; i--) {
        const sum = input[off + i] + b[i] + carry;
        input[off + i] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(out).subarray(0, outBytes);
}

/** Checks a PKCS#12 MacData over `data`; throws StorePasswordError when it does not match. */
export function verifyPkcs12Mac(macData: Der, data: Buffer, password: string | null): void {
  const digestInfo = child(macData, 0, 'MacData.mac');
  const alg = algorithm(child(digestInfo, 0, 'DigestInfo.digestAlgorithm'), 'mac digest algorithm');
  const expected = octets(child(digestInfo, 1, 'DigestInfo.digest'), 'mac digest');
  const salt = octets(child(macData, 1, 'MacData.macSalt'), 'mac salt');
  const parts = children(macData);
  const iterations = parts[2] ? smallInt(parts[2]) : 1;
  const d = DIGESTS[alg.oid];
  if (!d) throw new DerError(digestInfo.start, `MAC digest ${alg.oid} is not supported (PBMAC1 and others are not)`);
  const key = pkcs12Kdf(alg.oid, bmpPassword(password), salt, 3, iterations, expected.length);
  const mac = crypto.createHmac(d.name, key).update(data).digest();
  if (mac.length !== expected.length || !crypto.timingSafeEqual(mac, expected)) {
    throw new StorePasswordError('keystore password was incorrect (integrity check failed)');
  }
}

function stripPadding(b: Buffer, blockBytes: number): Buffer {
  const n = b.length ? b[b.length - 1] : 0;
  if (n < 1 || n > blockBytes || n > b.length) throw new StorePasswordError('decryption failed (wrong password?)');
  for (let i = b.length - n; i < b.length; i++) if (b[i] !== n) throw new StorePasswordError('decryption failed (wrong password?)');
  return b.subarray(0, b.length - n);
}

function nodeDecrypt(cipher: string, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  try {
    const d = crypto.createDecipheriv(cipher, key, iv);
    return Buffer.concat([d.update(data), d.final()]);
  } catch (err) {
    if (/bad decrypt|wrong final block length/i.test((err as Error).message)) throw new StorePasswordError('decryption failed (wrong password?)');
    throw err;
  }
}

/**
 * Decrypts `data` under the password-based scheme `alg` (an AlgorithmIdentifier). PBES2 takes the
 * password as UTF-8 bytes, the PKCS#12 schemes as BMP; both are how Java and OpenSSL write them.
 */
export function pbeDecrypt(alg: Der, data: Buffer, password: string | null): Buffer {
  const { oid: id, params } = algorithm(alg, 'encryption algorithm');
  const pw = password ?? '';
  if (id === OID.pbes2) {
    if (!params) throw new DerError(alg.start, 'PBES2 without parameters');
    const kdf = algorithm(child(params, 0, 'PBES2 keyDerivationFunc'), 'PBES2 key derivation');
    const enc = algorithm(child(params, 1, 'PBES2 encryptionScheme'), 'PBES2 encryption scheme');
    if (kdf.oid !== OID.pbkdf2 || !kdf.params) throw new DerError(alg.start, `PBES2 key derivation ${kdf.oid} is not supported (only PBKDF2)`);
    const kp = children(kdf.params);
    const salt = octets(kp[0], 'PBKDF2 salt');
    const iterations = smallInt(kp[1]);
    let keyBytes: number | undefined;
    let prf = 'sha1';
    for (const p of kp.slice(2)) {
      if (p.tag === Tag.INTEGER) keyBytes = smallInt(p);
      else if (p.tag === Tag.SEQUENCE) {
        const prfOid = oid(child(p, 0, 'PBKDF2 prf'));
        const name = PRFS[prfOid];
        if (!name) throw new DerError(p.start, `PBKDF2 PRF ${prfOid} is not supported`);
        prf = name;
      }
    }
    const cipher = PBES2_CIPHERS[enc.oid];
    if (!cipher) throw new DerError(alg.start, `PBES2 cipher ${enc.oid} is not supported`);
    if (!enc.params) throw new DerError(alg.start, 'PBES2 cipher without an IV');
    const iv = octets(enc.params, 'PBES2 IV');
    const key = crypto.pbkdf2Sync(Buffer.from(pw, 'utf8'), salt, iterations, keyBytes ?? cipher.keyBytes, prf);
    return nodeDecrypt(cipher.name, key, iv, data);
  }
  if (!params) throw new DerError(alg.start, `${id} without parameters`);
  const salt = octets(child(params, 0, 'PBE salt'), 'PBE salt');
  const iterations = smallInt(child(params, 1, 'PBE iterations'));
  const bmp = bmpPassword(pw);
  const derive = (kind: 1 | 2, n: number): Buffer => pkcs12Kdf(OID.sha1, bmp, salt, kind, iterations, n);
  switch (id) {
    case OID.pbeSha3KeyTripleDes:
      return nodeDecrypt('des-ede3-cbc', derive(1, 24), derive(2, 8), data);
    case OID.pbeSha2KeyTripleDes:
      return nodeDecrypt('des-ede-cbc', derive(1, 16), derive(2, 8), data);
    case OID.pbeSha128BitRc2:
      return stripPadding(rc2CbcDecryptRaw(derive(1, 16), 128, derive(2, 8), data), 8);
    case OID.pbeSha40BitRc2:
      return stripPadding(rc2CbcDecryptRaw(derive(1, 5), 40, derive(2, 8), data), 8);
    default:
      throw new DerError(alg.start, `encryption algorithm ${id} is not supported`);
  }
}

/**
 * Decrypts an EncryptedPrivateKeyInfo (PKCS#8) to the DER of its PrivateKeyInfo. A wrong password
 * gives valid-looking padding about once in 256 tries, so the result must also be a key Node reads.
 */
export function decryptPrivateKeyInfo(epki: Der, password: string | null): Buffer {
  const alg = child(epki, 0, 'EncryptedPrivateKeyInfo.encryptionAlgorithm');
  const data = octets(child(epki, 1, 'EncryptedPrivateKeyInfo.encryptedData'), 'encrypted key');
  const plain = pbeDecrypt(alg, data, password);
  try {
    crypto.createPrivateKey({ key: plain, format: 'der', type: 'pkcs8' });
  } catch {
    throw new StorePasswordError('decryption failed (wrong password?)');
  }
  return plain;
}
