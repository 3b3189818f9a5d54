/**
 * RFC 4121 Wrap tokens (token id 0x0504): a 16-byte header (flags, EC, RRC, sequence number),
 * then either the plaintext and a checksum, or the encryption of plaintext | filler | header.
 */
import * as crypto from 'node:crypto';
import { SaslError } from '../mechanism';
import { KerberosKey, enctype } from './crypto';

export const KG_USAGE_ACCEPTOR_SEAL = 22;
export const KG_USAGE_INITIATOR_SEAL = 24;

const FLAG_SENT_BY_ACCEPTOR = 0x01;
const FLAG_SEALED = 0x02;
const FLAG_ACCEPTOR_SUBKEY = 0x04;
const HEADER_BYTES = 16;

function header(flags: number, ec: number, rrc: number, seq: bigint): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h[0] = 0x05;
  h[1] = 0x04;
  h[2] = flags;
  h[3] = 0xff;
  h.writeUInt16BE(ec, 4);
  h.writeUInt16BE(rrc, 6);
  h.writeBigUInt64BE(seq, 8);
  return h;
}

/** A Wrap token from the acceptor, integrity-protected only (no acceptor subkey in use). */
export function wrapFromAcceptor(key: KerberosKey, seq: number, plaintext: Buffer, confidential = false): Buffer {
  const e = enctype(key.enctype);
  const flags = FLAG_SENT_BY_ACCEPTOR | (confidential ? FLAG_SEALED : 0);
  if (confidential) {
    const h = header(flags, 0, 0, BigInt(seq));
    return Buffer.concat([h, e.encrypt(key.value, KG_USAGE_ACCEPTOR_SEAL, Buffer.concat([plaintext, h]))]);
  }
  const cksum = e.checksum(key.value, KG_USAGE_ACCEPTOR_SEAL, Buffer.concat([plaintext, header(flags, 0, 0, BigInt(seq))]));
  return Buffer.concat([header(flags, cksum.length, 0, BigInt(seq)), plaintext, cksum]);
}

export interface Unwrapped {
  readonly plaintext: Buffer;
  readonly sealed: boolean;
  readonly seq: bigint;
}

function bad(reason: string): SaslError {
  return new SaslError(`GSSAPI: bad wrap token: ${reason}`);
}

/** Checks and opens a Wrap token sent by the initiator. */
export function unwrapFromInitiator(key: KerberosKey, token: Buffer): Unwrapped {
  if (token.length < HEADER_BYTES) throw bad(`${token.length} bytes`);
  if (token[0] !== 0x05 || token[1] !== 0x04) {
    throw bad(`token id 0x${token.readUInt16BE(0).toString(16).padStart(4, '0')} is not 0x0504`);
  }
  const flags = token[2];
  if (token[3] !== 0xff) throw bad('filler is not 0xff');
  if (flags & FLAG_SENT_BY_ACCEPTOR) throw bad('sent by the acceptor, not the initiator');
  if (flags & FLAG_ACCEPTOR_SUBKEY) throw bad('claims an acceptor subkey, none was asserted');
  if (flags & ~(FLAG_SENT_BY_ACCEPTOR | FLAG_SEALED | FLAG_ACCEPTOR_SUBKEY)) throw bad(`unknown flags 0x${flags.toString(16)}`);
  const ec = token.readUInt16BE(4);
  const rrc = token.readUInt16BE(6);
  const seq = token.readBigUInt64BE(8);
  const e = enctype(key.enctype);
  // Undo the right rotation by RRC octets of everything after the header.
  const rotated = token.subarray(HEADER_BYTES);
  const shift = rotated.length === 0 ? 0 : rrc % rotated.length;
  const data = Buffer.concat([rotated.subarray(shift), rotated.subarray(0, shift)]);
  const sealed = (flags & FLAG_SEALED) !== 0;
  if (sealed) {
    const decrypted = e.decrypt(key.value, KG_USAGE_INITIATOR_SEAL, data);
    if (decrypted.length < ec + HEADER_BYTES) throw bad('sealed data shorter than its filler and header');
    const innerHeader = decrypted.subarray(decrypted.length - HEADER_BYTES);
    // The encrypted copy of the header has RRC zero; everything else must match.
    const expected = header(flags, ec, 0, seq);
    if (!innerHeader.equals(expected)) throw bad('encrypted header does not match');
    return { plaintext: decrypted.subarray(0, decrypted.length - HEADER_BYTES - ec), sealed, seq };
  }
  if (ec !== e.macBytes) throw bad(`checksum of ${ec} bytes, ${e.name} has ${e.macBytes}`);
  if (data.length < ec) throw bad('shorter than its checksum');
  const plaintext = data.subarray(0, data.length - ec);
  const cksum = data.subarray(data.length - ec);
  const expected = e.checksum(key.value, KG_USAGE_INITIATOR_SEAL, Buffer.concat([plaintext, header(flags, 0, 0, seq)]));
  if (!crypto.timingSafeEqual(expected, cksum)) throw bad('checksum mismatch');
  return { plaintext, sealed, seq };
}
