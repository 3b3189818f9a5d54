/**
 * PKCS#12 key and trust stores (RFC 7292), as keytool and `openssl pkcs12` write them. Node can
 * open a PKCS#12 file with a key (`pfx`), but not one that holds only certificates (a trust
 * store), and not one whose certificates are under RC2 (OpenSSL's legacy provider): this reader
 * opens both and hands Node plain keys and certificates.
 */
import { children, child, DerError, encoded, expectTag, octets, oid, parseDer, smallInt, Tag, type Der } from './der';
import { decryptPrivateKeyInfo, pbeDecrypt, verifyPkcs12Mac } from './pbe';
import type { StoreContents } from './storecontents';

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  safeContentsBag: '1.2.840.113549.1.12.10.1.6',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  /** Java's mark of a trusted certificate entry (its "trusted key usage" attribute). */
  javaTrustedKeyUsage: '2.16.840.1.113894.746875.1.1',
} as const;

/** Whether the bytes look like a PKCS#12 file (a SEQUENCE whose first element is INTEGER 3). */
export function looksLikePkcs12(buf: Buffer): boolean {
  try {
    const pfx = parseDer(buf);
    if (pfx.tag !== Tag.SEQUENCE) return false;
    const version = children(pfx)[0];
    return version !== undefined && version.tag === Tag.INTEGER && smallInt(version) === 3;
  } catch {
    return false;
  }
}

interface Bag {
  type: string;
  value: Der;
  localKeyId?: string;
  friendlyName?: string;
  trusted: boolean;
}

function bagAttributes(attrs: Der | undefined): Pick<Bag, 'localKeyId' | 'friendlyName' | 'trusted'> {
  const out: Pick<Bag, 'localKeyId' | 'friendlyName' | 'trusted'> = { trusted: false };
  if (!attrs) return out;
  for (const a of children(attrs)) {
    const id = oid(child(a, 0, 'attribute type'));
    const values = children(child(a, 1, 'attribute values'));
    if (id === OID.localKeyId && values[0]) out.localKeyId = octets(values[0], 'localKeyId').toString('hex');
    else if (id === OID.friendlyName && values[0]?.tag === Tag.BMP_STRING) {
      const b = values[0].buf.subarray(values[0].contentStart, values[0].end);
      let s = '';
      for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode(b.readUInt16BE(i));
      out.friendlyName = s;
    } else if (id === OID.javaTrustedKeyUsage) out.trusted = true;
  }
  return out;
}

function readSafeContents(safeContents: Der, password: string | null, bags: Bag[], depth: number): void {
  expectTag(safeContents, Tag.SEQUENCE, 'SafeContents');
  for (const bag of children(safeContents)) {
    const parts = children(bag);
    const type = oid(child(bag, 0, 'SafeBag.bagId'));
    const wrapped = expectTag(child(bag, 1, 'SafeBag.bagValue'), Tag.CONTEXT_0, 'SafeBag.bagValue');
    const value = child(wrapped, 0, 'SafeBag value');
    if (type === OID.safeContentsBag) {
      if (depth > 4) throw new DerError(bag.start, 'SafeContents nested too deeply');
      readSafeContents(value, password, bags, depth + 1);
      continue;
    }
    bags.push({ type, value, ...bagAttributes(parts[2]) });
  }
}

/** Reads a PKCS#12 store. A null password skips the integrity check (as Java does) and opens only what is not encrypted. */
export function readPkcs12(buf: Buffer, password: string | null): StoreContents {
  const pfx = expectTag(parseDer(buf), Tag.SEQUENCE, 'PFX');
  const [versionDer, authSafe, macData] = children(pfx);
  if (!versionDer || smallInt(versionDer) !== 3) throw new DerError(pfx.start, 'not a PKCS#12 file (version is not 3)');
  if (!authSafe) throw new DerError(pfx.start, 'PFX.authSafe is missing');
  if (oid(child(authSafe, 0, 'authSafe.contentType')) !== OID.data) throw new DerError(authSafe.start, 'only password-integrity PKCS#12 files are supported (authSafe is not data)');
  const authSafeBytes = octets(child(expectTag(child(authSafe, 1, 'authSafe.content'), Tag.CONTEXT_0, 'authSafe.content'), 0, 'authSafe octets'), 'authSafe');
  if (macData && password !== null) verifyPkcs12Mac(macData, authSafeBytes, password);
  const authSafeDer = parseDer(authSafeBytes);
  const bags: Bag[] = [];
  const skipped: string[] = [];
  for (const ci of children(expectTag(authSafeDer, Tag.SEQUENCE, 'AuthenticatedSafe'))) {
    const type = oid(child(ci, 0, 'ContentInfo.contentType'));
    const body = child(expectTag(child(ci, 1, 'ContentInfo.content'), Tag.CONTEXT_0, 'ContentInfo.content'), 0, 'ContentInfo body');
    if (type === OID.data) {
      readSafeContents(parseDer(octets(body, 'SafeContents')), password, bags, 0);
    } else if (type === OID.encryptedData) {
      const eci = child(body, 1, 'EncryptedData.encryptedContentInfo');
      const parts = children(eci);
      if (!parts[2]) continue; // No content: nothing encrypted.
      if (password === null) {
        skipped.push('encrypted certificates (no password given)');
        continue;
      }
      const plain = pbeDecrypt(parts[1], octets(parts[2], 'encryptedContent'), password);
      readSafeContents(parseDer(plain), password, bags, 0);
    } else {
      throw new DerError(ci.start, `ContentInfo type ${type} is not supported (public-key privacy mode)`);
    }
  }
  const out: StoreContents = { keys: [], trusted: [], notes: skipped };
  const certs = bags.filter((b) => b.type === OID.certBag);
  const certDer = (b: Bag): Buffer | undefined => {
    const certType = oid(child(b.value, 0, 'CertBag.certId'));
    if (certType !== OID.x509Certificate) return undefined;
    return Buffer.from(octets(child(child(b.value, 1, 'CertBag.certValue'), 0, 'certificate'), 'certificate'));
  };
  const usedCerts = new Set<Bag>();
  for (const b of bags) {
    let pkcs8: Buffer;
    if (b.type === OID.keyBag) pkcs8 = Buffer.from(encoded(b.value));
    else if (b.type === OID.pkcs8ShroudedKeyBag) {
      if (password === null) {
        out.notes.push('a private key (no password given)');
        continue;
      }
      pkcs8 = decryptPrivateKeyInfo(b.value, password);
    } else continue;
    // The key's certificate shares its localKeyId; the rest of its chain follows by issuer (storecontents.ts).
    const own = certs.find((c) => c.localKeyId !== undefined && c.localKeyId === b.localKeyId) ?? (certs.length === 1 ? certs[0] : undefined);
    const der = own ? certDer(own) : undefined;
    if (!own || !der) throw new DerError(b.value.start, `private key ${b.friendlyName ?? ''} has no certificate in the store`);
    usedCerts.add(own);
    out.keys.push({ alias: b.friendlyName ?? b.localKeyId ?? '', pkcs8, chain: [der] });
  }
  for (const c of certs) {
    const der = certDer(c);
    if (!der) continue;
    if (usedCerts.has(c)) continue;
    // Java lists a certificate as trusted only with its trusted-key-usage mark; OpenSSL writes
    // none. A certificate bag that belongs to no key is taken as trusted either way, and may also
    // complete a key's chain.
    out.trusted.push({ alias: c.friendlyName ?? '', der, marked: c.trusted });
  }
  return out;
}
