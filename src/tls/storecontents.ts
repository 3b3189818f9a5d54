/**
 * What a key or trust store holds once opened, whatever its format: private keys (PKCS#8 DER) each
 * with its certificate chain (leaf first), and trusted certificates. This is what Node's TLS takes.
 */
import * as crypto from 'node:crypto';

export interface KeyEntry {
  alias: string;
  /** PrivateKeyInfo DER. */
  pkcs8: Buffer;
  /** Certificates, leaf first (DER). */
  chain: Buffer[];
}

export interface TrustedEntry {
  alias: string;
  der: Buffer;
  /** For PKCS#12: whether Java's trusted-key-usage mark is on it. */
  marked?: boolean;
}

export interface StoreContents {
  keys: KeyEntry[];
  trusted: TrustedEntry[];
  /** What could not be opened (e.g. encrypted parts of a store read without a password). */
  notes: string[];
}

/**
 * Completes each key's chain from the store's other certificates, issuer by issuer, as keytool
 * stores a chain in PKCS#12: one certificate bag each, only the leaf tied to the key.
 */
export function completeChains(s: StoreContents): void {
  const pool = s.trusted.map((t) => ({ der: t.der, x: new crypto.X509Certificate(t.der) }));
  for (const k of s.keys) {
    for (let i = 0; i < 10; i++) {
      const last = new crypto.X509Certificate(k.chain[k.chain.length - 1]);
      if (last.issuer === last.subject) break;
      const next = pool.find((p) => last.checkIssued(p.x) && !k.chain.some((c) => c.equals(p.der)));
      if (!next) break;
      k.chain.push(next.der);
    }
  }
}

export function toPem(der: Buffer, label: 'CERTIFICATE' | 'PRIVATE KEY'): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
