/**
 * PEM key and trust stores as ZooKeeper reads them (`ssl.keyStore.type=PEM`): one file with the
 * private key (PKCS#8, encrypted with the store's password or not) and its certificate chain; a
 * trust store is a file of certificates. Traditional PKCS#1/SEC1 keys are taken too.
 */
import * as crypto from 'node:crypto';
import { parseDer } from './der';
import { decryptPrivateKeyInfo, StorePasswordError } from './pbe';
import type { StoreContents } from './storecontents';

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const MAX_BLOCKS = 10_000;

export function looksLikePem(buf: Buffer): boolean {
  return /-----BEGIN [A-Z0-9 ]+-----/.test(buf.subarray(0, 64 * 1024).toString('latin1'));
}

export function readPem(buf: Buffer, password: string | null, file: string): StoreContents {
  const text = buf.toString('latin1');
  const out: StoreContents = { keys: [], trusted: [], notes: [] };
  const keys: Buffer[] = [];
  const certs: Buffer[] = [];
  let n = 0;
  for (const m of text.matchAll(BLOCK)) {
    if (++n > MAX_BLOCKS) throw new Error(`${file}: more than ${MAX_BLOCKS} PEM blocks`);
    const label = m[1];
    const body = m[2];
    const offset = m.index ?? 0;
    if (label === 'CERTIFICATE' || label === 'TRUSTED CERTIFICATE') {
      certs.push(Buffer.from(body.replace(/\s+/g, ''), 'base64'));
    } else if (label === 'PRIVATE KEY') {
      keys.push(Buffer.from(body.replace(/\s+/g, ''), 'base64'));
    } else if (label === 'ENCRYPTED PRIVATE KEY') {
      if (password === null || password === '') throw new StorePasswordError(`${file}: the private key at offset ${offset} is encrypted and no password is set`);
      keys.push(decryptPrivateKeyInfo(parseDer(Buffer.from(body.replace(/\s+/g, ''), 'base64')), password));
    } else if (/^(RSA|EC|DSA) PRIVATE KEY$/.test(label)) {
      try {
        const k = crypto.createPrivateKey({ key: m[0], format: 'pem', passphrase: password ?? undefined });
        keys.push(k.export({ format: 'der', type: 'pkcs8' }));
      } catch (err) {
        throw new StorePasswordError(`${file}: the ${label} at offset ${offset} does not open: ${(err as Error).message}`);
      }
    }
  }
  if (keys.length > 1) throw new Error(`${file}: ${keys.length} private keys; a PEM key store holds one`);
  if (keys.length === 1) {
    if (certs.length === 0) throw new Error(`${file}: a private key but no certificate`);
    out.keys.push({ alias: '', pkcs8: keys[0], chain: certs });
  } else {
    for (const der of certs) out.trusted.push({ alias: '', der });
  }
  return out;
}
