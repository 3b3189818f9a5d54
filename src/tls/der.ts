/**
 * A DER reader for the few ASN.1 structures the key store formats hold (PKCS#12, PKCS#8, the
 * algorithm identifiers of password-based encryption). It reads, never writes, checks every length
 * against its enclosing element, and names the offset of whatever it cannot read, so that a corrupt
 * store is reported with where it breaks.
 */

export const Tag = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
  /** [0] constructed: EXPLICIT tagging, or a constructed IMPLICIT OCTET STRING. */
  CONTEXT_0: 0xa0,
  /** [0] primitive: an IMPLICIT OCTET STRING. */
  CONTEXT_0_PRIMITIVE: 0x80,
} as const;

/** A store's bytes that do not parse; `offset` is into the whole file. */
export class DerError extends Error {
  constructor(
    readonly offset: number,
    reason: string,
  ) {
    super(`${reason} at offset ${offset}`);
  }
}

/** One element: its tag and where its content lies in `buf`. */
export interface Der {
  readonly buf: Buffer;
  readonly tag: number;
  /** Where the element's header starts. */
  readonly start: number;
  /** Where its content starts and ends (exclusive). */
  readonly contentStart: number;
  readonly end: number;
}

/** Reads the element at `offset`, which must end at or before `limit`. */
export function readDer(buf: Buffer, offset: number, limit = buf.length): Der {
  if (offset + 2 > limit) throw new DerError(offset, 'truncated ASN.1 header');
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError(offset, `ASN.1 tag 0x${tag.toString(16)} with a long tag number is not expected here`);
  let len = buf[offset + 1];
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    // Indefinite lengths (BER) are not DER; four bytes cover any length a key store can have.
    if (n === 0 || n > 4) throw new DerError(offset, n === 0 ? 'indefinite ASN.1 length (BER, not DER)' : 'ASN.1 length over 4 bytes');
    if (p + n > limit) throw new DerError(offset, 'truncated ASN.1 length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  if (p + len > limit) throw new DerError(offset, `ASN.1 element of ${len} bytes runs past its end (${limit - p} left)`);
  return { buf, tag, start: offset, contentStart: p, end: p + len };
}

/** Reads a whole buffer that must be exactly one element. */
export function parseDer(buf: Buffer): Der {
  const d = readDer(buf, 0);
  if (d.end !== buf.length) throw new DerError(d.end, `${buf.length - d.end} bytes after the ASN.1 element`);
  return d;
}

export function expectTag(d: Der, tag: number, what: string): Der {
  if (d.tag !== tag) throw new DerError(d.start, `${what}: expected ASN.1 tag 0x${tag.toString(16)}, found 0x${d.tag.toString(16)}`);
  return d;
}

/** The elements inside a constructed element. */
export function children(d: Der): Der[] {
  const out: Der[] = [];
  let p = d.contentStart;
  while (p < d.end) {
    const c = readDer(d.buf, p, d.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

/** The content bytes (a view, not a copy). */
export function content(d: Der): Buffer {
  return d.buf.subarray(d.contentStart, d.end);
}

/** The whole element, header included (a view). */
export function encoded(d: Der): Buffer {
  return d.buf.subarray(d.start, d.end);
}

/** A child at `index`, or an error that names what was missing. */
export function child(d: Der, index: number, what: string): Der {
  const c = children(d)[index];
  if (!c) throw new DerError(d.start, `${what} is missing`);
  return c;
}

export function oid(d: Der): string {
  expectTag(d, Tag.OID, 'object identifier');
  const b = content(d);
  if (b.length === 0) throw new DerError(d.start, 'empty object identifier');
  const parts: number[] = [];
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if ((b[i] & 0x80) === 0) {
      parts.push(v);
      v = 0;
    } else if (i === b.length - 1) {
      throw new DerError(d.start, 'object identifier ends inside a component');
    }
  }
  const first = parts[0] < 40 ? 0 : parts[0] < 80 ? 1 : 2;
  return [first, parts[0] - first * 40, ...parts.slice(1)].join('.');
}

/** A non-negative INTEGER that fits a JS number (iteration counts, versions, key lengths). */
export function smallInt(d: Der): number {
  expectTag(d, Tag.INTEGER, 'integer');
  const b = content(d);
  if (b.length === 0 || b.length > 6 || b[0] & 0x80) throw new DerError(d.start, 'integer out of range');
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

/**
 * An OCTET STRING's bytes; a constructed one (BER segments, which Java's and OpenSSL's PKCS#12
 * writers do not use, but the IMPLICIT [0] of EncryptedContentInfo may carry) is joined.
 */
export function octets(d: Der, what: string): Buffer {
  if (d.tag === Tag.OCTET_STRING || d.tag === Tag.CONTEXT_0_PRIMITIVE) return content(d);
  if (d.tag === Tag.CONTEXT_0 || d.tag === 0x24) return Buffer.concat(children(d).map((c) => octets(c, what)));
  throw new DerError(d.start, `${what}: expected an octet string, found tag 0x${d.tag.toString(16)}`);
}

/** An AlgorithmIdentifier: its OID and its parameters, if any (absent or NULL gives undefined). */
export function algorithm(d: Der, what: string): { oid: string; params?: Der } {
  expectTag(d, Tag.SEQUENCE, what);
  const [id, params] = children(d);
  if (!id) throw new DerError(d.start, `${what}: no algorithm`);
  return { oid: oid(id), params: params && params.tag !== Tag.NULL ? params : undefined };
}
