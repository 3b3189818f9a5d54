/**
 * Whether a certificate chain a peer showed leads to one of a set of trusted certificates, checked
 * outside a handshake. ZooKeeper 3.9's X509AuthenticationProvider does this for the AdminServer:
 * the chain Jetty accepted (against the ssl.quorum.* trust store) is checked again against the
 * client port's trust store (ssl.trustStore.*) before it becomes an x509 identity.
 *
 * Checked: each link's validity period, that each certificate names and is signed by the next,
 * and that the last one is issued by (or is) a trusted certificate. The handshake has already
 * done the full path validation; this decides only which trust store the chain belongs to.
 */

import { X509Certificate } from 'node:crypto';

const CHAIN_DEPTH_MAX = 10;

function validAt(cert: X509Certificate, nowMs: number): boolean {
  return Date.parse(cert.validFrom) <= nowMs && nowMs <= Date.parse(cert.validTo);
}

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** `chain[0]` is the peer's own certificate, the rest what it sent to go with it. */
export function chainTrusted(chain: readonly X509Certificate[], trusted: readonly X509Certificate[], nowMs = Date.now()): boolean {
  if (chain.length === 0 || trusted.length === 0) return false;
  const rest = chain.slice(1);
  let current = chain[0];
  for (let depth = 0; depth < CHAIN_DEPTH_MAX; depth++) {
    if (!validAt(current, nowMs)) return false;
    if (trusted.some((t) => t.raw.equals(current.raw))) return true;
    const anchor = trusted.find((t) => signedBy(current, t));
    if (anchor) return validAt(anchor, nowMs);
    const next = rest.find((c) => !c.raw.equals(current.raw) && signedBy(current, c));
    if (!next) return false;
    current = next;
  }
  return false;
}

/** The peer's chain as Node gives it (getPeerCertificate(true)), leaf first, without repeats. */
export function peerChain(peer: { raw?: Buffer; issuerCertificate?: unknown } | undefined): X509Certificate[] {
  const out: X509Certificate[] = [];
  let node = peer as { raw?: Buffer; issuerCertificate?: unknown } | undefined;
  while (node && node.raw && out.length < CHAIN_DEPTH_MAX) {
    const cert = new X509Certificate(node.raw);
    if (out.some((c) => c.raw.equals(cert.raw))) break;
    out.push(cert);
    node = node.issuerCertificate as typeof node;
  }
  return out;
}
