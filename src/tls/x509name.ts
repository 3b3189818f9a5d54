/**
 * A certificate's subject as Java's `X500Principal.getName()` writes it (RFC 2253 form), which is
 * the id ZooKeeper's x509 authentication gives a client and the string `x509` ACLs hold: RDNs from
 * last to first, joined by ","; the AVAs of a multi-valued RDN joined by "+"; the RFC 2253
 * keywords (CN, C, L, ST, O, OU, STREET, DC, UID) by name and any other attribute as its dotted
 * OID with the value's DER in hex after "#"; the characters ,=+<>#;"\ escaped with a backslash
 * wherever they are (Java escapes "#" anywhere, not only first), a space at either end too.
 */
import { children, child, content, encoded, expectTag, oid, parseDer, Tag, type Der } from './der';

const RFC2253_KEYWORDS: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.9': 'STREET',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
};

const STRING_TAGS = new Set([0x0c /* UTF8 */, 0x13 /* Printable */, 0x14 /* Teletex */, 0x16 /* IA5 */, 0x1a /* Visible */, 0x1c /* Universal */, 0x1e /* BMP */, 0x12 /* Numeric */]);

function decodeString(v: Der): string {
  const b = content(v);
  switch (v.tag) {
    case 0x1e: {
      let s = '';
      for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode(b.readUInt16BE(i));
      return s;
    }
    case 0x1c: {
      let s = '';
      for (let i = 0; i + 3 < b.length; i += 4) s += String.fromCodePoint(b.readUInt32BE(i));
      return s;
    }
    case 0x0c:
      return b.toString('utf8');
    default:
      // Printable, IA5, Visible, Numeric and Teletex strings as Java reads them: one byte a character.
      return b.toString('latin1');
  }
}

const ESCAPED = new Set([',', '=', '+', '<', '>', '#', ';', '"', '\\']);

function escapeValue(s: string): string {
  let out = '';
  const chars = [...s];
  chars.forEach((ch, i) => {
    const first = i === 0;
    const last = i === chars.length - 1;
    if (ESCAPED.has(ch)) out += `\\${ch}`;
    else if (ch === ' ' && (first || last)) out += '\\ ';
    else out += ch;
  });
  return out;
}

function ava(a: Der): { key: string; text: string } {
  expectTag(a, Tag.SEQUENCE, 'AttributeTypeAndValue');
  const type = oid(child(a, 0, 'attribute type'));
  const value = child(a, 1, 'attribute value');
  const keyword = RFC2253_KEYWORDS[type];
  if (keyword && STRING_TAGS.has(value.tag)) return { key: keyword, text: `${keyword}=${escapeValue(decodeString(value))}` };
  return { key: keyword ?? type, text: `${keyword ?? type}=#${encoded(value).toString('hex')}` };
}

/** The RFC 2253 form of a DER Name (a SEQUENCE of RDNs). */
export function rfc2253Name(name: Der): string {
  expectTag(name, Tag.SEQUENCE, 'Name');
  return children(name)
    .reverse()
    .map((rdn) => {
      const avas = children(expectTag(rdn, Tag.SET, 'RelativeDistinguishedName')).map(ava);
      return avas.map((x) => x.text).join('+');
    })
    .join(',');
}

/** The subject Name element of a DER certificate. */
export function subjectOf(certDer: Buffer): Der {
  const cert = parseDer(certDer);
  const tbs = child(cert, 0, 'tbsCertificate');
  const parts = children(tbs);
  // version [0] is optional; subject is the 6th field counting it, the 5th without.
  const base = parts[0]?.tag === Tag.CONTEXT_0 ? 1 : 0;
  const subject = parts[base + 4];
  if (!subject) throw new Error('certificate has no subject');
  return subject;
}

/** The certificate's subject as `X500Principal.getName()` gives it. */
export function subjectRfc2253(certDer: Buffer): string {
  return rfc2253Name(subjectOf(certDer));
}
