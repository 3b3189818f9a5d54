/**
 * Opens a key or trust store named by ZooKeeper's settings (`ssl.keyStore.location`, `.password`,
 * `.type` and their trust-store and quorum forms). The type is the setting's, or else the file
 * name's extension, as ZooKeeper chooses it. Like Java (whose JKS and PKCS12 key stores each read
 * the other format too), a JKS or PKCS12 store is read by what its bytes are; PEM is PEM.
 */
import * as fs from 'node:fs';
import { DerError } from './der';
import { JCEKS_MAGIC, JKS_MAGIC, readJks } from './jks';
import { StorePasswordError } from './pbe';
import { readPem } from './pemstore';
import { looksLikePkcs12, readPkcs12 } from './pkcs12';
import { completeChains, toPem, type StoreContents } from './storecontents';

export type StoreType = 'JKS' | 'PEM' | 'PKCS12' | 'BCFKS';
const STORE_TYPES: readonly StoreType[] = ['JKS', 'PEM', 'PKCS12', 'BCFKS'];
/** No store a server reads is anywhere near this; a bigger file is refused before it is read. */
const MAX_STORE_BYTES = 16 * 1024 * 1024;

/** A store that cannot be used; the message names the setting and the reason. */
export class StoreError extends Error {}

export interface StoreSpec {
  /** The setting that names the file (for messages), e.g. `ssl.keyStore.location`. */
  locationKey: string;
  location: string;
  password: string | null;
  /** The `.type` setting's value, if set. */
  type?: string;
  typeKey: string;
}

/** The store type from the `.type` setting, or from the file's extension when it is not set. */
export function storeTypeOf(spec: Pick<StoreSpec, 'location' | 'type' | 'typeKey' | 'locationKey'>): StoreType {
  if (spec.type !== undefined && spec.type.trim() !== '') {
    const t = spec.type.trim().toUpperCase();
    const known = STORE_TYPES.find((x) => x === t);
    if (!known) throw new StoreError(`${spec.typeKey}=${spec.type}: not a store type (JKS, PEM, PKCS12 or BCFKS)`);
    return known;
  }
  const lower = spec.location.toLowerCase();
  if (lower.endsWith('.jks')) return 'JKS';
  if (lower.endsWith('.pem')) return 'PEM';
  if (lower.endsWith('.p12') || lower.endsWith('.pfx')) return 'PKCS12';
  if (lower.endsWith('.bcfks')) return 'BCFKS';
  throw new StoreError(`${spec.locationKey}=${spec.location}: cannot tell the store type from the file name; set ${spec.typeKey} (JKS, PEM or PKCS12)`);
}

/** Reads and opens a store; every failure is a StoreError naming the setting, the file and why. */
export function loadStore(spec: StoreSpec): StoreContents {
  const type = storeTypeOf(spec);
  const where = `${spec.locationKey}=${spec.location}`;
  if (type === 'BCFKS') throw new StoreError(`${where}: BCFKS stores need the Bouncy Castle FIPS provider, which zkts does not have; use JKS, PKCS12 or PEM`);
  let buf: Buffer;
  try {
    const size = fs.statSync(spec.location).size;
    if (size > MAX_STORE_BYTES) throw new StoreError(`${where}: ${size} bytes is more than a store can be (${MAX_STORE_BYTES})`);
    buf = fs.readFileSync(spec.location);
  } catch (err) {
    if (err instanceof StoreError) throw err;
    throw new StoreError(`${where}: cannot read the file: ${(err as Error).message}`);
  }
  try {
    let contents: StoreContents;
    if (type === 'PEM') {
      contents = readPem(buf, spec.password, spec.location);
    } else {
      const magic = buf.length >= 4 ? buf.readUInt32BE(0) : 0;
      if (magic === JKS_MAGIC || magic === JCEKS_MAGIC) contents = readJks(buf, spec.password);
      else if (looksLikePkcs12(buf)) contents = readPkcs12(buf, spec.password);
      else throw new DerError(0, `neither a JKS nor a PKCS12 store (${type} was expected)`);
    }
    completeChains(contents);
    return contents;
  } catch (err) {
    if (err instanceof StorePasswordError) throw new StoreError(`${where}: ${err.message}`);
    if (err instanceof DerError) throw new StoreError(`${where}: corrupt ${type} store: ${err.message}`);
    throw new StoreError(`${where}: ${(err as Error).message}`);
  }
}

/** A key store's keys and chains in the form Node's TLS takes (`key`, `cert`). */
export function keyMaterial(s: StoreContents): { key: string[]; cert: string[] } {
  return {
    key: s.keys.map((k) => toPem(k.pkcs8, 'PRIVATE KEY')),
    cert: s.keys.map((k) => k.chain.map((c) => toPem(c, 'CERTIFICATE')).join('')),
  };
}

/**
 * A trust store's certificates for Node's `ca`: its trusted entries and, as Java's trust managers
 * take them, the first certificate of each key entry.
 */
export function trustMaterial(s: StoreContents): string[] {
  const ders = [...s.trusted.map((t) => t.der), ...s.keys.map((k) => k.chain[0])];
  const unique = ders.filter((d, i) => ders.findIndex((e) => e.equals(d)) === i);
  return unique.map((d) => toPem(d, 'CERTIFICATE'));
}
