/**
 * The Kerberos messages a GSS-API acceptor reads and writes (RFC 4120 section 5, RFC 4121
 * section 4.1): AP-REQ with its Ticket and Authenticator, AP-REP, inside the GSS-API initial
 * context token framing.
 */
import { SaslError } from '../mechanism';
import type { KerberosKey } from './crypto';
import {
  DerReader,
  TAG_GENERAL_STRING,
  TAG_OID,
  TAG_SEQUENCE,
  Tlv,
  bitSet,
  contextFields,
  decodeOne,
  encodeContext,
  encodeInteger,
  encodeOctets,
  encodeSequence,
  encodeTime,
  encodeTlv,
  malformed,
  readBitString,
  readGeneralString,
  readInteger,
  readOctets,
  readTime,
  required,
} from './der';
import type { PrincipalName } from './principal';

/** 1.2.840.113554.1.2.2, the Kerberos V5 GSS-API mechanism. */
export const KRB5_MECH_OID = Buffer.from('2a864886f712010202', 'hex');
/** 1.3.6.1.5.5.2, SPNEGO: named in the error when a client sends it. */
const SPNEGO_OID = Buffer.from('2b0601050502', 'hex');

export const TOK_AP_REQ = 0x0100;
export const TOK_AP_REP = 0x0200;
export const TOK_KRB_ERROR = 0x0300;

const APP_TICKET = 0x61;
const APP_AUTHENTICATOR = 0x62;
const APP_ENC_TICKET_PART = 0x63;
const APP_AP_REQ = 0x6e;
const APP_AP_REP = 0x6f;
const APP_ENC_AP_REP_PART = 0x7b;

export const AP_OPTION_USE_SESSION_KEY = 1;
export const AP_OPTION_MUTUAL_REQUIRED = 2;
export const TICKET_FLAG_INVALID = 7;

/** The checksum type of the GSS-API authenticator checksum (RFC 4121 section 4.1.1). */
export const GSS_CHECKSUM_TYPE = 0x8003;
export const GSS_FLAG_DELEG = 1;
export const GSS_FLAG_MUTUAL = 2;
export const GSS_FLAG_REPLAY = 4;
export const GSS_FLAG_SEQUENCE = 8;
export const GSS_FLAG_CONF = 16;
export const GSS_FLAG_INTEG = 32;

export interface EncryptedData {
  readonly etype: number;
  readonly kvno?: number;
  readonly cipher: Buffer;
}

export interface Ticket {
  readonly realm: string;
  readonly sname: PrincipalName;
  readonly encPart: EncryptedData;
}

export interface ApReq {
  readonly apOptions: Buffer;
  readonly ticket: Ticket;
  readonly authenticator: EncryptedData;
}

export interface EncTicketPart {
  readonly flags: Buffer;
  readonly key: KerberosKey;
  readonly client: PrincipalName;
  readonly authTimeMs: number;
  readonly startTimeMs?: number;
  readonly endTimeMs: number;
}

export interface Authenticator {
  readonly client: PrincipalName;
  readonly checksum?: { readonly type: number; readonly value: Buffer };
  readonly cusec: number;
  readonly ctimeMs: number;
  readonly subkey?: KerberosKey;
  readonly seqNumber?: number;
}

/** Splits a GSS-API initial context token (RFC 2743 3.1) into its token id and inner message. */
export function unwrapGssToken(token: Buffer): { tokenId: number; body: Buffer } {
  const outer = decodeOne(token, 0x60, 'GSS-API token');
  const reader = new DerReader(outer.content, 'GSS-API token');
  const oid = reader.expect(TAG_OID).content;
  if (!oid.equals(KRB5_MECH_OID)) {
    const name = oid.equals(SPNEGO_OID) ? 'SPNEGO' : `OID ${oid.toString('hex')}`;
    throw new SaslError(`GSSAPI: mechanism ${name} is not Kerberos V5 (1.2.840.113554.1.2.2)`);
  }
  const rest = reader.rest();
  if (rest.length < 2) throw malformed('GSS-API token: no token id');
  return { tokenId: rest.readUInt16BE(0), body: rest.subarray(2) };
}

export function wrapGssToken(tokenId: number, body: Buffer): Buffer {
  const id = Buffer.alloc(2);
  id.writeUInt16BE(tokenId, 0);
  return encodeTlv(0x60, Buffer.concat([encodeTlv(TAG_OID, KRB5_MECH_OID), id, body]));
}

function readPrincipalName(tlv: Tlv, realm: string, what: string): PrincipalName {
  const fields = contextFields(tlv, what, 1);
  readInteger(required(fields, 0, what), `${what} name-type`);
  const names = required(fields, 1, what);
  if (names.tag !== TAG_SEQUENCE) throw malformed(`${what}: name-string is not a SEQUENCE`);
  const reader = new DerReader(names.content, what);
  const components: string[] = [];
  while (!reader.atEnd) {
    if (components.length >= 16) throw malformed(`${what}: more than 16 name components`);
    components.push(readGeneralString(reader.expect(TAG_GENERAL_STRING), what));
  }
  if (components.length === 0) throw malformed(`${what}: empty name`);
  return { components, realm };
}

function readEncryptedData(tlv: Tlv, what: string): EncryptedData {
  const fields = contextFields(tlv, what, 2);
  const kvnoField = fields.get(1);
  return {
    etype: readInteger(required(fields, 0, what), `${what} etype`),
    kvno: kvnoField ? readInteger(kvnoField, `${what} kvno`) : undefined,
    cipher: readOctets(required(fields, 2, what), `${what} cipher`),
  };
}

function readKey(tlv: Tlv, what: string): KerberosKey {
  const fields = contextFields(tlv, what, 1);
  return {
    enctype: readInteger(required(fields, 0, what), `${what} keytype`),
    value: Buffer.from(readOctets(required(fields, 1, what), `${what} keyvalue`)),
  };
}

function checkVersion(tlv: Tlv, expected: number, what: string): void {
  const v = readInteger(tlv, what);
  if (v !== expected) throw new SaslError(`GSSAPI: ${what} is ${v}, not ${expected}`);
}

function application(buf: Buffer, tag: number, what: string): Tlv {
  const app = decodeOne(buf, tag, what);
  return decodeOne(app.content, TAG_SEQUENCE, what);
}

export function decodeApReq(body: Buffer): ApReq {
  const fields = contextFields(application(body, APP_AP_REQ, 'AP-REQ'), 'AP-REQ', 4);
  checkVersion(required(fields, 0, 'AP-REQ'), 5, 'AP-REQ pvno');
  checkVersion(required(fields, 1, 'AP-REQ'), 14, 'AP-REQ msg-type');
  const apOptions = readBitString(required(fields, 2, 'AP-REQ'), 'AP-REQ ap-options');
  const ticketApp = required(fields, 3, 'AP-REQ');
  if (ticketApp.tag !== APP_TICKET) throw malformed('AP-REQ: ticket is not a Ticket');
  const t = contextFields(decodeOne(ticketApp.content, TAG_SEQUENCE, 'Ticket'), 'Ticket', 3);
  checkVersion(required(t, 0, 'Ticket'), 5, 'Ticket tkt-vno');
  const realm = readGeneralString(required(t, 1, 'Ticket'), 'Ticket realm');
  const ticket: Ticket = {
    realm,
    sname: readPrincipalName(required(t, 2, 'Ticket'), realm, 'Ticket sname'),
    encPart: readEncryptedData(required(t, 3, 'Ticket'), 'Ticket enc-part'),
  };
  return {
    apOptions,
    ticket,
    authenticator: readEncryptedData(required(fields, 4, 'AP-REQ'), 'AP-REQ authenticator'),
  };
}

export function decodeEncTicketPart(plain: Buffer): EncTicketPart {
  const f = contextFields(application(trimmed(plain, APP_ENC_TICKET_PART), APP_ENC_TICKET_PART, 'EncTicketPart'), 'EncTicketPart', 10);
  const crealm = readGeneralString(required(f, 2, 'EncTicketPart'), 'EncTicketPart crealm');
  const start = f.get(6);
  return {
    flags: readBitString(required(f, 0, 'EncTicketPart'), 'EncTicketPart flags'),
    key: readKey(required(f, 1, 'EncTicketPart'), 'EncTicketPart key'),
    client: readPrincipalName(required(f, 3, 'EncTicketPart'), crealm, 'EncTicketPart cname'),
    authTimeMs: readTime(required(f, 5, 'EncTicketPart'), 'EncTicketPart authtime'),
    startTimeMs: start ? readTime(start, 'EncTicketPart starttime') : undefined,
    endTimeMs: readTime(required(f, 7, 'EncTicketPart'), 'EncTicketPart endtime'),
  };
}

export function decodeAuthenticator(plain: Buffer): Authenticator {
  const what = 'Authenticator';
  const f = contextFields(application(trimmed(plain, APP_AUTHENTICATOR), APP_AUTHENTICATOR, what), what, 8);
  checkVersion(required(f, 0, what), 5, 'Authenticator vno');
  const crealm = readGeneralString(required(f, 1, what), `${what} crealm`);
  const cksumField = f.get(3);
  let checksum: Authenticator['checksum'];
  if (cksumField) {
    const c = contextFields(cksumField, `${what} cksum`, 1);
    checksum = {
      type: readInteger(required(c, 0, `${what} cksum`), `${what} cksumtype`),
      value: readOctets(required(c, 1, `${what} cksum`), `${what} checksum`),
    };
  }
  const subkey = f.get(6);
  const seq = f.get(7);
  return {
    client: readPrincipalName(required(f, 2, what), crealm, `${what} cname`),
    checksum,
    cusec: readInteger(required(f, 4, what), `${what} cusec`),
    ctimeMs: readTime(required(f, 5, what), `${what} ctime`),
    subkey: subkey ? readKey(subkey, `${what} subkey`) : undefined,
    seqNumber: seq ? readInteger(seq, `${what} seq-number`) >>> 0 : undefined,
  };
}

/**
 * Decrypted plaintext may carry padding after the DER element (older enctypes pad to the block);
 * the element's own length tells where it ends.
 */
function trimmed(plain: Buffer, tag: number): Buffer {
  const reader = new DerReader(plain, 'decrypted message');
  const first = reader.read();
  if (first.tag !== tag) throw malformed(`decrypted message: tag 0x${first.tag.toString(16)}`);
  return plain.subarray(0, plain.length - reader.rest().length);
}

/** The AP-REP body: EncAPRepPart {ctime, cusec, seq-number} already encrypted by the caller. */
export function encodeEncApRepPart(ctimeMs: number, cusec: number, seqNumber: number): Buffer {
  return encodeTlv(
    APP_ENC_AP_REP_PART,
    encodeSequence([
      encodeContext(0, encodeTime(ctimeMs)),
      encodeContext(1, encodeInteger(cusec)),
      encodeContext(3, encodeInteger(seqNumber)),
    ]),
  );
}

export function encodeApRep(etype: number, cipher: Buffer): Buffer {
  const encPart = encodeSequence([encodeContext(0, encodeInteger(etype)), encodeContext(2, encodeOctets(cipher))]);
  return encodeTlv(
    APP_AP_REP,
    encodeSequence([
      encodeContext(0, encodeInteger(5)),
      encodeContext(1, encodeInteger(15)),
      encodeContext(2, encPart),
    ]),
  );
}

/** The GSS-API checksum's flags (RFC 4121 4.1.1): Lgth must be 16; channel bindings unchecked. */
export function gssChecksumFlags(value: Buffer): number {
  if (value.length < 24) throw malformed(`GSS-API checksum of ${value.length} bytes`);
  const lgth = value.readUInt32LE(0);
  if (lgth !== 16) throw malformed(`GSS-API checksum Lgth ${lgth}`);
  return value.readUInt32LE(20);
}

export { bitSet };
