/**
 * Java's JKS key store format (what `keytool -storetype JKS` writes), read directly: Node cannot,
 * and no well-kept npm package reads it without pulling in a whole crypto library. The format:
 *
 *   u32 magic 0xFEEDFEED, u32 version (1 or 2), u32 entry count, then per entry
 *     u32 tag (1 private key, 2 trusted certificate), alias (u16 length + modified UTF-8), u64 time,
 *     tag 1: u32 length + EncryptedPrivateKeyInfo, u32 chain length, per certificate
 *            (version 2: type as u16 length + UTF-8) u32 length + DER
 *     tag 2: (version 2: type) u32 length + DER
 *   20 bytes: SHA-1(password as UTF-16BE, "Mighty Aphrodite", every byte before it).
 *
 * A key is protected with Sun's own scheme (OID 1.3.6.1.4.1.42.2.17.1.1): salt (20 bytes),
 * ciphertext, check (20 bytes); the key stream is SHA-1(password, salt), then SHA-1(password,
 * previous block); the check is SHA-1(password, plain key). Like Java's KeyManagerFactory as
 * ZooKeeper calls it, keys are opened with the store's password.
 */
import * as crypto from 'node:crypto';
import { algorithm, child, content, DerError, parseDer } from './der';
import { StorePasswordError } from './pbe';
import type { StoreContents } from './storecontents';

export const JKS_MAGIC = 0xfeedfeed;
export const JCEKS_MAGIC = 0xcececece;
const SUN_KEY_PROTECTOR = '1.3.6.1.4.1.42.2.17.1.1';
const DIGEST_BYTES = 20;
const MAX_ENTRIES = 100_000;

function utf16be(password: string): Buffer {
  const b = Buffer.alloc(password.length * 2);
  for (let i = 0; i < password.length; i++) b.writeUInt16BE(password.charCodeAt(i), i * 2);
  return b;
}

class Cursor {
  offset = 0;
  constructor(
    readonly buf: Buffer,
    readonly end: number,
  ) {}
  need(n: number, what: string): void {
    if (this.offset + n > this.end) throw new DerError(this.offset, `JKS ${what} runs past the end of the store`);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const b = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return b;
  }
  utf(what: string): string {
    // Modified UTF-8 differs from UTF-8 only for NUL and characters outside the BMP, which
    // aliases and certificate types do not use.
    return this.bytes(this.u16(what), what).toString('utf8');
  }
}

function unprotectKey(epkiBytes: Buffer, password: string, alias: string, offset: number): Buffer {
  const epki = parseDer(epkiBytes);
  const alg = algorithm(child(epki, 0, 'key algorithm'), 'key protection');
  if (alg.oid !== SUN_KEY_PROTECTOR) throw new DerError(offset, `key "${alias}" is protected with ${alg.oid}, not JKS's own scheme`);
  const data = content(child(epki, 1, 'protected key'));
  if (data.length < 2 * DIGEST_BYTES + 1) throw new DerError(offset, `key "${alias}" is too short`);
  const pw = utf16be(password);
  const salt = data.subarray(0, DIGEST_BYTES);
  const encrypted = data.subarray(DIGEST_BYTES, data.length - DIGEST_BYTES);
  const check = data.subarray(data.length - DIGEST_BYTES);
  const plain = Buffer.alloc(encrypted.length);
  let block = salt;
  for (let p = 0; p < encrypted.length; p += DIGEST_BYTES) {
    block = crypto.createHash('sha1').update(pw).update(block).digest();
    for (let i = 0; i < DIGEST_BYTES && p + i < encrypted.length; i++) plain[p + i] = encrypted[p + i] ^ block[i];
  }
  const mine = crypto.createHash('sha1').update(pw).update(plain).digest();
  if (!crypto.timingSafeEqual(mine, check)) throw new StorePasswordError(`cannot recover key "${alias}" (wrong password?)`);
  return plain;
}

/** Reads a JKS store. A null password skips the integrity check and cannot open private keys. */
export function readJks(buf: Buffer, password: string | null): StoreContents {
  if (buf.length < 12 + DIGEST_BYTES) throw new DerError(0, 'JKS store is too short');
  const magic = buf.readUInt32BE(0);
  if (magic === JCEKS_MAGIC) throw new DerError(0, 'JCEKS stores are not supported (ZooKeeper reads JKS, PKCS12 and PEM)');
  if (magic !== JKS_MAGIC) throw new DerError(0, `not a JKS store (magic 0x${magic.toString(16)})`);
  const end = buf.length - DIGEST_BYTES;
  if (password !== null) {
    const digest = crypto.createHash('sha1').update(utf16be(password)).update('Mighty Aphrodite', 'utf8').update(buf.subarray(0, end)).digest();
    if (!crypto.timingSafeEqual(digest, buf.subarray(end))) throw new StorePasswordError('keystore password was incorrect (integrity check failed)');
  }
  const c = new Cursor(buf, end);
  c.offset = 4;
  const version = c.u32('version');
  if (version !== 1 && version !== 2) throw new DerError(4, `JKS version ${version} is not 1 or 2`);
  const count = c.u32('entry count');
  if (count > MAX_ENTRIES) throw new DerError(8, `JKS entry count ${count} is not believable`);
  const out: StoreContents = { keys: [], trusted: [], notes: [] };
  const cert = (what: string): Buffer => {
    if (version === 2) {
      const type = c.utf(`${what} type`);
      if (type !== 'X.509') throw new DerError(c.offset, `${what} is of type ${type}, not X.509`);
    }
    const len = c.u32(`${what} length`);
    return Buffer.from(c.bytes(len, what));
  };
  for (let i = 0; i < count; i++) {
    const at = c.offset;
    const tag = c.u32('entry tag');
    const alias = c.utf('alias');
    c.bytes(8, 'timestamp');
    if (tag === 1) {
      const keyBytes = c.bytes(c.u32('key length'), 'key');
      const chainLength = c.u32('chain length');
      if (chainLength > 100) throw new DerError(c.offset, `chain of ${chainLength} certificates is not believable`);
      const chain: Buffer[] = [];
      for (let k = 0; k < chainLength; k++) chain.push(cert('certificate'));
      if (password === null) {
        out.notes.push(`private key "${alias}" (no password given)`);
        // Java's trust managers also trust the leaf of a key entry.
        if (chain[0]) out.trusted.push({ alias, der: chain[0] });
        continue;
      }
      if (chain.length === 0) throw new DerError(at, `key "${alias}" has no certificate`);
      out.keys.push({ alias, pkcs8: unprotectKey(Buffer.from(keyBytes), password, alias, at), chain });
    } else if (tag === 2) {
      out.trusted.push({ alias, der: cert('trusted certificate') });
    } else {
      throw new DerError(at, `JKS entry tag ${tag} is not 1 (key) or 2 (certificate)`);
    }
  }
  if (c.offset !== end) throw new DerError(c.offset, `${end - c.offset} unexpected bytes before the JKS digest`);
  return out;
}

