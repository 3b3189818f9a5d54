/**
 * The small fixed payloads of the Zab handshake and liveness packets (ZK-QUORUM-FACTS §2.2): LearnerInfo,
 * the LEADERINFO and ACKEPOCH ints, the PING touch table, REQUEST and REVALIDATE bodies. Decoders return
 * undefined on malformed input, which closes that link; they never throw.
 */

import type { SessionTouch } from './ready';

export interface LearnerInfo {
  sid: bigint;
  /** 0 when the 8-byte form was sent. */
  protocolVersion: number;
  /** -1n when absent (8 and 12 byte forms). */
  configVersion: bigint;
}

export function encodeLearnerInfo(info: LearnerInfo): Buffer {
  const b = Buffer.alloc(20);
  b.writeBigInt64BE(info.sid, 0);
  b.writeInt32BE(info.protocolVersion, 8);
  b.writeBigInt64BE(info.configVersion, 12);
  return b;
}

/** The leader accepts the 8, 12 and 20 byte forms. */
export function decodeLearnerInfo(data: Buffer | null): LearnerInfo | undefined {
  if (data === null || data.length < 8) return undefined;
  const sid = data.readBigInt64BE(0);
  const protocolVersion = data.length >= 12 ? data.readInt32BE(8) : 0;
  const configVersion = data.length >= 20 ? data.readBigInt64BE(12) : -1n;
  return { sid, protocolVersion, configVersion };
}

/** LEADERINFO and ACKEPOCH carry one int: the protocol version, or the learner's currentEpoch / -1. */
export function encodeInt(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v, 0);
  return b;
}

export function decodeInt(data: Buffer | null): number | undefined {
  if (data === null || data.length < 4) return undefined;
  return data.readInt32BE(0);
}

/** PING from a learner: (long sessionId, int timeoutMs)*, a 0-length buffer when empty. */
export function encodeTouchTable(touches: readonly SessionTouch[]): Buffer {
  const b = Buffer.alloc(touches.length * 12);
  touches.forEach((t, i) => {
    b.writeBigInt64BE(t.sessionId, i * 12);
    b.writeInt32BE(t.timeoutMs, i * 12 + 8);
  });
  return b;
}

export function decodeTouchTable(data: Buffer | null): SessionTouch[] | undefined {
  if (data === null) return [];
  if (data.length % 12 !== 0) return undefined;
  const out: SessionTouch[] = [];
  for (let off = 0; off < data.length; off += 12) {
    out.push({ sessionId: data.readBigInt64BE(off), timeoutMs: data.readInt32BE(off + 8) });
  }
  return out;
}

/** REQUEST: long sessionId, int cxid, int op, then the request record. */
export interface RequestHead {
  sessionId: bigint;
  cxid: number;
  op: number;
  body: Buffer;
}

export function encodeRequest(r: RequestHead): Buffer {
  const b = Buffer.alloc(16 + r.body.length);
  b.writeBigInt64BE(r.sessionId, 0);
  b.writeInt32BE(r.cxid, 8);
  b.writeInt32BE(r.op, 12);
  r.body.copy(b, 16);
  return b;
}

export function decodeRequest(data: Buffer | null): RequestHead | undefined {
  if (data === null || data.length < 16) return undefined;
  return {
    sessionId: data.readBigInt64BE(0),
    cxid: data.readInt32BE(8),
    op: data.readInt32BE(12),
    body: data.subarray(16),
  };
}

/** REVALIDATE learner -> leader: long sessionId, int timeoutMs. */
export function encodeRevalidate(sessionId: bigint, timeoutMs: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeBigInt64BE(sessionId, 0);
  b.writeInt32BE(timeoutMs, 8);
  return b;
}

export function decodeRevalidate(data: Buffer | null): { sessionId: bigint; timeoutMs: number } | undefined {
  if (data === null || data.length < 12) return undefined;
  return { sessionId: data.readBigInt64BE(0), timeoutMs: data.readInt32BE(8) };
}

/** REVALIDATE leader -> learner: long sessionId, bool valid. */
export function encodeRevalidateReply(sessionId: bigint, valid: boolean): Buffer {
  const b = Buffer.alloc(9);
  b.writeBigInt64BE(sessionId, 0);
  b.writeUInt8(valid ? 1 : 0, 8);
  return b;
}

export function decodeRevalidateReply(data: Buffer | null): { sessionId: bigint; valid: boolean } | undefined {
  if (data === null || data.length < 9) return undefined;
  return { sessionId: data.readBigInt64BE(0), valid: data.readUInt8(8) !== 0 };
}

/** OpCode.sync: a forwarded sync is answered by the leader's SYNC packet. */
export const OP_SYNC = 9;
