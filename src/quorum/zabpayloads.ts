/**
 * The Zab cores' view of the small payloads of the handshake and liveness packets: the codec is
 * `wire/packets.ts`; here its errors become `undefined`, which the cores answer by closing that
 * link (they never throw on a peer's bytes), and absent LearnerInfo fields get the cores' defaults.
 */

import {
  ackEpoch,
  encodeAckEpoch,
  encodeLearnerInfo as encodeLearnerInfoWire,
  encodePingTouches,
  encodeRequestData,
  encodeRevalidateReply as encodeRevalidateReplyWire,
  encodeRevalidateRequest,
  learnerInfo,
  pingTouches,
  QuorumWireError,
  requestData,
  revalidateReply,
  revalidateRequest,
  type ForwardedRequest,
} from './wire/packets';
import type { SessionTouch } from './ready';

export interface LearnerInfo {
  sid: bigint;
  /** 0 when the 8-byte form was sent. */
  protocolVersion: number;
  /** -1n when absent (8 and 12 byte forms). */
  configVersion: bigint;
}

/** A peer's malformed payload is `undefined`; anything else thrown is a bug here. */
function orUndefined<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch (e) {
    if (e instanceof QuorumWireError) return undefined;
    throw e;
  }
}

export function encodeLearnerInfo(info: LearnerInfo): Buffer {
  return encodeLearnerInfoWire(info);
}

export function decodeLearnerInfo(data: Buffer | null): LearnerInfo | undefined {
  const info = orUndefined(() => learnerInfo(data));
  if (info === undefined) return undefined;
  return { sid: info.sid, protocolVersion: info.protocolVersion ?? 0, configVersion: info.configVersion ?? -1n };
}

/** LEADERINFO and ACKEPOCH carry one int: the protocol version, or the learner's currentEpoch / -1. */
export function encodeInt(v: number): Buffer {
  return encodeAckEpoch(v);
}

export function decodeInt(data: Buffer | null): number | undefined {
  return orUndefined(() => ackEpoch(data));
}

/** PING from a learner: (long sessionId, int timeoutMs)*, a 0-length buffer when empty. */
export function encodeTouchTable(touches: readonly SessionTouch[]): Buffer {
  return encodePingTouches(touches);
}

export function decodeTouchTable(data: Buffer | null): SessionTouch[] | undefined {
  if (data === null) return [];
  return orUndefined(() => pingTouches(data));
}

/** REQUEST: long sessionId, int cxid, int op, then the request record. */
export type RequestHead = ForwardedRequest;

export function encodeRequest(r: RequestHead): Buffer {
  return encodeRequestData(r);
}

export function decodeRequest(data: Buffer | null): RequestHead | undefined {
  return orUndefined(() => requestData(data));
}

/** REVALIDATE learner -> leader: long sessionId, int timeoutMs. */
export function encodeRevalidate(sessionId: bigint, timeoutMs: number): Buffer {
  return encodeRevalidateRequest({ sessionId, timeoutMs });
}

export function decodeRevalidate(data: Buffer | null): { sessionId: bigint; timeoutMs: number } | undefined {
  return orUndefined(() => revalidateRequest(data));
}

/** REVALIDATE leader -> learner: long sessionId, bool valid. */
export function encodeRevalidateReply(sessionId: bigint, valid: boolean): Buffer {
  return encodeRevalidateReplyWire({ sessionId, valid });
}

export function decodeRevalidateReply(data: Buffer | null): { sessionId: bigint; valid: boolean } | undefined {
  return orUndefined(() => revalidateReply(data));
}

/** OpCode.sync: a forwarded sync is answered by the leader's SYNC packet. */
export const OP_SYNC = 9;

/** TxnHeader: clientId (8), cxid (4), zxid (8), time (8), then the type (4). */
const TXN_TYPE_OFFSET = 28;
const TXN_HEADER_BYTES = 32;
const OP_RECONFIG = 16;

/**
 * The configuration string a reconfig txn carries (its SetDataTxn's data), or undefined when the
 * txn is not a reconfig. A reconfig txn too short for its record gives '' (parsed, it fails).
 */
export function reconfigTxnConfig(txn: Buffer | null): string | undefined {
  if (txn === null || txn.length < TXN_HEADER_BYTES || txn.readInt32BE(TXN_TYPE_OFFSET) !== OP_RECONFIG) return undefined;
  let pos = TXN_HEADER_BYTES;
  if (txn.length < pos + 4) return '';
  const pathLen = txn.readInt32BE(pos);
  pos += 4 + Math.max(0, pathLen);
  if (pathLen < 0 || txn.length < pos + 4) return '';
  const dataLen = txn.readInt32BE(pos);
  pos += 4;
  if (dataLen < 0 || txn.length < pos + dataLen) return '';
  return txn.toString('utf8', pos, pos + dataLen);
}
