/**
 * The DER subset Kerberos messages use (RFC 4120 section 5): definite lengths, explicit context
 * tags, INTEGER, OCTET STRING, BIT STRING, GeneralString and GeneralizedTime. Every read is
 * bounds-checked; malformed input throws `SaslError` naming what was wrong.
 */
import { SaslError } from '../mechanism';

export const TAG_INTEGER = 0x02;
export const TAG_BIT_STRING = 0x03;
export const TAG_OCTET_STRING = 0x04;
export const TAG_OID = 0x06;
export const TAG_SEQUENCE = 0x30;
export const TAG_GENERAL_STRING = 0x1b;
export const TAG_GENERALIZED_TIME = 0x18;

/** One element: its identifier octet (low-tag-number form only, as Kerberos needs) and content. */
export interface Tlv {
  readonly tag: number;
  readonly content: Buffer;
}

export function malformed(what: string): SaslError {
  return new SaslError(`GSSAPI: malformed DER: ${what}`);
}

/** Reads consecutive elements from a buffer. */
export class DerReader {
  private offset = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  get atEnd(): boolean {
    return this.offset >= this.buf.length;
  }

  read(): Tlv {
    const buf = this.buf;
    if (this.offset + 2 > buf.length) throw malformed(`${this.what}: truncated element`);
    const tag = buf[this.offset];
    if ((tag & 0x1f) === 0x1f) throw malformed(`${this.what}: high tag numbers are not used by Kerberos`);
    let pos = this.offset + 1;
    let length = buf[pos++];
    if (length & 0x80) {
      const count = length & 0x7f;
      if (count === 0) throw malformed(`${this.what}: indefinite length`);
      if (count > 4) throw malformed(`${this.what}: length of ${count} octets`);
      if (pos + count > buf.length) throw malformed(`${this.what}: truncated length`);
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + buf[pos++];
    }
    if (pos + length > buf.length) {
      throw malformed(`${this.what}: element of ${length} bytes overruns its ${buf.length - pos}`);
    }
    this.offset = pos + length;
    return { tag, content: buf.subarray(pos, pos + length) };
  }

  expect(tag: number): Tlv {
    const tlv = this.read();
    if (tlv.tag !== tag) {
      throw malformed(`${this.what}: tag 0x${tlv.tag.toString(16)} where 0x${tag.toString(16)} was expected`);
    }
    return tlv;
  }

  /** The bytes not read yet. */
  rest(): Buffer {
    const rest = this.buf.subarray(this.offset);
    this.offset = this.buf.length;
    return rest;
  }

  end(): void {
    if (!this.atEnd) throw malformed(`${this.what}: ${this.buf.length - this.offset} trailing bytes`);
  }
}

/** Reads exactly one element of the given tag that fills `buf`. */
export function decodeOne(buf: Buffer, tag: number, what: string): Tlv {
  const reader = new DerReader(buf, what);
  const tlv = reader.expect(tag);
  reader.end();
  return tlv;
}

/**
 * The fields of a SEQUENCE whose members carry explicit context tags [0], [1], ...: the inner
 * element of each, by tag number. Tags must ascend; unknown numbers up to `maxField` are kept.
 */
export function contextFields(sequence: Tlv, what: string, maxField: number): Map<number, Tlv> {
  if (sequence.tag !== TAG_SEQUENCE) throw malformed(`${what}: not a SEQUENCE`);
  const reader = new DerReader(sequence.content, what);
  const fields = new Map<number, Tlv>();
  let last = -1;
  while (!reader.atEnd) {
    const field = reader.read();
    const number = field.tag & 0x1f;
    if ((field.tag & 0xe0) !== 0xa0) throw malformed(`${what}: member without a context tag`);
    if (number <= last) throw malformed(`${what}: field [${number}] out of order`);
    if (number > maxField) throw malformed(`${what}: unknown field [${number}]`);
    last = number;
    const inner = new DerReader(field.content, `${what} [${number}]`);
    fields.set(number, inner.read());
    inner.end();
  }
  return fields;
}

export function required(fields: Map<number, Tlv>, number: number, what: string): Tlv {
  const field = fields.get(number);
  if (!field) throw malformed(`${what}: field [${number}] is missing`);
  return field;
}

/** An INTEGER that fits Kerberos' Int32/UInt32. */
export function readInteger(tlv: Tlv, what: string): number {
  if (tlv.tag !== TAG_INTEGER) throw malformed(`${what}: not an INTEGER`);
  const c = tlv.content;
  if (c.length === 0 || c.length > 5) throw malformed(`${what}: INTEGER of ${c.length} bytes`);
  let value = 0;
  for (const byte of c) value = value * 256 + byte;
  if (c[0] & 0x80) value -= 2 ** (8 * c.length);
  if (value < -0x80000000 || value > 0xffffffff) throw malformed(`${what}: INTEGER out of range`);
  return value;
}

export function readOctets(tlv: Tlv, what: string): Buffer {
  if (tlv.tag !== TAG_OCTET_STRING) throw malformed(`${what}: not an OCTET STRING`);
  return tlv.content;
}

export function readGeneralString(tlv: Tlv, what: string): string {
  if (tlv.tag !== TAG_GENERAL_STRING) throw malformed(`${what}: not a GeneralString`);
  return tlv.content.toString('utf8');
}

/** A BIT STRING's bits as a buffer (bit 0 is the most significant bit of byte 0). */
export function readBitString(tlv: Tlv, what: string): Buffer {
  if (tlv.tag !== TAG_BIT_STRING) throw malformed(`${what}: not a BIT STRING`);
  if (tlv.content.length < 1 || tlv.content[0] > 7) throw malformed(`${what}: bad BIT STRING`);
  return tlv.content.subarray(1);
}

export function bitSet(bits: Buffer, bit: number): boolean {
  const byte = bit >> 3;
  return byte < bits.length && (bits[byte] & (0x80 >> (bit & 7))) !== 0;
}

/** KerberosTime: GeneralizedTime "YYYYMMDDHHMMSSZ", as milliseconds since the epoch. */
export function readTime(tlv: Tlv, what: string): number {
  if (tlv.tag !== TAG_GENERALIZED_TIME) throw malformed(`${what}: not a GeneralizedTime`);
  const text = tlv.content.toString('latin1');
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) throw malformed(`${what}: time "${text.slice(0, 20)}" is not YYYYMMDDHHMMSSZ`);
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  if (!Number.isFinite(ms)) throw malformed(`${what}: invalid time`);
  return ms;
}

// ---------------------------------------------------------------------------------------------
// Encoding

export function encodeTlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let header: Buffer;
  if (n < 0x80) header = Buffer.from([tag, n]);
  else if (n < 0x100) header = Buffer.from([tag, 0x81, n]);
  else if (n < 0x10000) header = Buffer.from([tag, 0x82, n >> 8, n & 0xff]);
  else header = Buffer.from([tag, 0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([header, content]);
}

export function encodeSequence(members: Buffer[]): Buffer {
  return encodeTlv(TAG_SEQUENCE, Buffer.concat(members));
}

export function encodeContext(number: number, inner: Buffer): Buffer {
  return encodeTlv(0xa0 | number, inner);
}

export function encodeInteger(value: number): Buffer {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) {
    throw new RangeError(`INTEGER ${value} out of range`);
  }
  const bytes: number[] = [];
  let v = value;
  // Minimal two's complement: emit bytes until the sign is carried by the top byte.
  for (;;) {
    const byte = ((v % 256) + 256) % 256;
    bytes.unshift(byte);
    v = Math.floor(v / 256);
    if ((v === 0 && (byte & 0x80) === 0) || (v === -1 && (byte & 0x80) !== 0)) break;
  }
  return encodeTlv(TAG_INTEGER, Buffer.from(bytes));
}

export function encodeOctets(value: Buffer): Buffer {
  return encodeTlv(TAG_OCTET_STRING, value);
}

export function encodeTime(ms: number): Buffer {
  const text = new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
  return encodeTlv(TAG_GENERALIZED_TIME, Buffer.from(text, 'latin1'));
}
