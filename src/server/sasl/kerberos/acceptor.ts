/**
 * Accepting a Kerberos V5 GSS-API security context (RFC 4121): the AP-REQ's ticket is decrypted
 * with the service key from the keytab, its authenticator with the ticket's session key; the
 * client, times, replay and checksum are checked; an AP-REP is made when mutual authentication is
 * asked for. One round trip; user-to-user (use-session-key) and delegation are not supported.
 */
import * as crypto from 'node:crypto';
import { SaslError } from '../mechanism';
import { KerberosKey, checkKey, enctype } from './crypto';
import type { KeytabEntry } from './keytab';
import {
  AP_OPTION_MUTUAL_REQUIRED,
  AP_OPTION_USE_SESSION_KEY,
  GSS_CHECKSUM_TYPE,
  GSS_FLAG_MUTUAL,
  TICKET_FLAG_INVALID,
  TOK_AP_REP,
  TOK_AP_REQ,
  bitSet,
  decodeApReq,
  decodeAuthenticator,
  decodeEncTicketPart,
  encodeApRep,
  encodeEncApRepPart,
  gssChecksumFlags,
  unwrapGssToken,
  wrapGssToken,
} from './messages';
import { PrincipalName, principalToString, samePrincipal } from './principal';
import type { ReplayCache } from './replay';

/** Key usages of RFC 4120 section 7.5.1. */
const USAGE_TICKET = 2;
const USAGE_AP_REQ_AUTHENTICATOR = 11;
const USAGE_AP_REP_ENC_PART = 12;

export interface AcceptorOptions {
  readonly service: PrincipalName;
  readonly keytab: readonly KeytabEntry[];
  readonly clockSkewMs: number;
  readonly nowMs: number;
  readonly replayCache: ReplayCache;
}

/** An established context: who the client is and the state the per-message tokens need. */
export interface AcceptedContext {
  readonly client: PrincipalName;
  /** The initiator's subkey if it sent one, else the session key (no acceptor subkey is made). */
  readonly key: KerberosKey;
  readonly gssFlags: number;
  readonly initiatorSeq: number;
  readonly acceptorSeq: number;
  /** The AP-REP to send back (GSS-framed), when mutual authentication was asked for. */
  readonly apRep?: Buffer;
}

function refuse(reason: string): SaslError {
  return new SaslError(`GSSAPI: ${reason}`);
}

function serviceKey(opts: AcceptorOptions, etype: number, kvno: number | undefined): KerberosKey {
  const candidates = opts.keytab.filter((e) => samePrincipal(e.principal, opts.service) && e.key.enctype === etype);
  const service = principalToString(opts.service);
  if (candidates.length === 0) {
    throw refuse(`no key for ${service} with encryption type ${enctype(etype).name} in the keytab`);
  }
  if (kvno === undefined) {
    // No kvno in the ticket: the newest key.
    return candidates.reduce((a, b) => (b.kvno > a.kvno ? b : a)).key;
  }
  const match = candidates.find((e) => e.kvno === kvno || (e.kvno & 0xff) === kvno);
  if (!match) {
    throw refuse(`no key for ${service} with kvno ${kvno} in the keytab (has ${candidates.map((e) => e.kvno).join(', ')})`);
  }
  return match.key;
}

export function acceptSecContext(token: Buffer, opts: AcceptorOptions): AcceptedContext {
  const { tokenId, body } = unwrapGssToken(token);
  if (tokenId !== TOK_AP_REQ) throw refuse(`expected an AP-REQ token, got token id 0x${tokenId.toString(16)}`);
  const apReq = decodeApReq(body);
  if (bitSet(apReq.apOptions, AP_OPTION_USE_SESSION_KEY)) throw refuse('user-to-user tickets are not supported');

  const { ticket } = apReq;
  const sname = { components: ticket.sname.components, realm: ticket.realm };
  if (!samePrincipal(sname, opts.service)) {
    throw refuse(`ticket is for ${principalToString(sname)}, not ${principalToString(opts.service)}`);
  }
  const key = checkKey(serviceKey(opts, ticket.encPart.etype, ticket.encPart.kvno));
  const encTicket = decodeEncTicketPart(
    decryptOrRefuse(key, USAGE_TICKET, ticket.encPart.cipher, 'ticket'),
  );
  const sessionKey = checkKey(encTicket.key);
  const now = opts.nowMs;
  const skew = opts.clockSkewMs;
  if (bitSet(encTicket.flags, TICKET_FLAG_INVALID)) throw refuse('ticket is flagged invalid');
  const start = encTicket.startTimeMs ?? encTicket.authTimeMs;
  if (start - now > skew) throw refuse('ticket not yet valid');
  if (now - encTicket.endTimeMs > skew) throw refuse('ticket expired');

  if (apReq.authenticator.etype !== sessionKey.enctype) {
    throw refuse(`authenticator encryption type ${apReq.authenticator.etype} differs from the session key's`);
  }
  const auth = decodeAuthenticator(
    decryptOrRefuse(sessionKey, USAGE_AP_REQ_AUTHENTICATOR, apReq.authenticator.cipher, 'authenticator'),
  );
  if (!samePrincipal(auth.client, encTicket.client)) {
    throw refuse(
      `authenticator client ${principalToString(auth.client)} differs from the ticket's ${principalToString(encTicket.client)}`,
    );
  }
  if (Math.abs(now - auth.ctimeMs) > skew) {
    throw refuse(`clock skew too great (authenticator time is ${Math.round((auth.ctimeMs - now) / 1000)} s off)`);
  }
  if (auth.cusec < 0 || auth.cusec > 999_999) throw refuse('authenticator cusec out of range');
  if (!auth.checksum || auth.checksum.type !== GSS_CHECKSUM_TYPE) {
    throw refuse('authenticator has no GSS-API checksum (type 0x8003)');
  }
  const gssFlags = gssChecksumFlags(auth.checksum.value);
  if (auth.subkey) checkKey(auth.subkey);

  const replayKey = [
    principalToString(auth.client),
    auth.ctimeMs,
    auth.cusec,
    crypto.createHash('sha256').update(apReq.authenticator.cipher).digest('base64'),
  ].join(' ');
  opts.replayCache.check(replayKey, now, auth.ctimeMs + skew + 1);

  const initiatorSeq = auth.seqNumber ?? 0;
  const mutual = bitSet(apReq.apOptions, AP_OPTION_MUTUAL_REQUIRED) || (gssFlags & GSS_FLAG_MUTUAL) !== 0;
  let acceptorSeq = initiatorSeq;
  let apRep: Buffer | undefined;
  if (mutual) {
    // A fresh 31-bit sequence number, as MIT's acceptor does (without an AP-REP both sides use the initiator's).
    acceptorSeq = crypto.randomBytes(4).readUInt32BE(0) & 0x3fffffff;
    const encPart = encodeEncApRepPart(auth.ctimeMs, auth.cusec, acceptorSeq);
    const cipher = enctype(sessionKey.enctype).encrypt(sessionKey.value, USAGE_AP_REP_ENC_PART, encPart);
    apRep = wrapGssToken(TOK_AP_REP, encodeApRep(sessionKey.enctype, cipher));
  }
  return {
    client: encTicket.client,
    key: auth.subkey ?? sessionKey,
    gssFlags,
    initiatorSeq,
    acceptorSeq,
    apRep,
  };
}

function decryptOrRefuse(key: KerberosKey, usage: number, cipher: Buffer, what: string): Buffer {
  try {
    return enctype(key.enctype).decrypt(key.value, usage, cipher);
  } catch (err) {
    if (err instanceof SaslError) throw refuse(`${what}: ${err.message.replace(/^GSSAPI: /, '')}`);
    throw err;
  }
}
