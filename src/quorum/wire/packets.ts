/**
 * Packets of the quorum port (leader <-> learner), as ZooKeeper 3.8 exchanges them: a
 * `QuorumPacket{int type, long zxid, buffer data, vector<Id> authinfo}` record each, back to back
 * with no outer length. The codec and the incremental decoder build on these types.
 */

import { JuteError, JuteReader, JuteWriter } from '../../protocol/jute';

/** Packet types (ZooKeeper's Leader constants). */
export const enum PacketType {
  REQUEST = 1,
  PROPOSAL = 2,
  ACK = 3,
  COMMIT = 4,
  PING = 5,
  REVALIDATE = 6,
  SYNC = 7,
  INFORM = 8,
  COMMITANDACTIVATE = 9,
  NEWLEADER = 10,
  FOLLOWERINFO = 11,
  UPTODATE = 12,
  DIFF = 13,
  TRUNC = 14,
  SNAP = 15,
  OBSERVERINFO = 16,
  LEADERINFO = 17,
  ACKEPOCH = 18,
  INFORMANDACTIVATE = 19,
}

/** An auth id carried with a REQUEST (and echoed in PING). */
export interface PacketId {
  scheme: string;
  id: string;
}

export interface QuorumPacket {
  type: number;
  zxid: bigint;
  /** null when the sender wrote a null buffer (length -1); a 0-length buffer is an empty Buffer. */
  data: Buffer | null;
  /** null when the sender wrote a null vector (count -1). */
  authinfo: PacketId[] | null;
  /** When set, `data`'s bytes as latin1 text: encoded from it, without the Buffer. */
  readonly dataLatin1?: string;
}

/** The Zab protocol version a 3.4+ learner and leader speak (LearnerInfo, LEADERINFO). */
export const ZAB_PROTOCOL_VERSION = 0x10000;

// ---------------------------------------------------------------------------------------------
// Codec. The layout is ZooKeeper's QuorumPacket record; it is written by hand rather than with the
// generated record because a null data buffer, a 0-length one, and a null authinfo vector must all
// survive a decode and re-encode (the generated vector type has no null).


const TYPE_NAMES: Record<number, string> = {
  1: 'REQUEST',
  2: 'PROPOSAL',
  3: 'ACK',
  4: 'COMMIT',
  5: 'PING',
  6: 'REVALIDATE',
  7: 'SYNC',
  8: 'INFORM',
  9: 'COMMITANDACTIVATE',
  10: 'NEWLEADER',
  11: 'FOLLOWERINFO',
  12: 'UPTODATE',
  13: 'DIFF',
  14: 'TRUNC',
  15: 'SNAP',
  16: 'OBSERVERINFO',
  17: 'LEADERINFO',
  18: 'ACKEPOCH',
  19: 'INFORMANDACTIVATE',
};

/** ZooKeeper's name for a packet type (Leader.getPacketType), or "UNKNOWN(n)". */
export function packetTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `UNKNOWN(${type})`;
}

/** The packet type for a name ("PING" -> 5); undefined for names ZooKeeper does not have. */
export function packetTypeOf(name: string): number | undefined {
  for (const [k, v] of Object.entries(TYPE_NAMES)) if (v === name) return Number(k);
  return undefined;
}

/** A quorum packet, or the data of one, that is not what ZooKeeper sends. The connection closes. */
export class QuorumWireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuorumWireError';
  }
}

function fail(type: number | string, what: string): never {
  throw new QuorumWireError(`${typeof type === 'number' ? packetTypeName(type) : type} packet: ${what}`);
}

/** jute.maxbuffer's default (ZooKeeper 3.8): the read limit of one buffer, before the extra. */
export const JUTE_MAXBUFFER_DEFAULT = 0xfffff;
/** zookeeper.jute.maxbuffer.extrasize's default on the quorum port: as much again. */
export const JUTE_MAXBUFFER_EXTRA_DEFAULT = 0xfffff;
/** Auth ids per REQUEST: a client carries a handful (ip, digest, sasl, x509...). */
export const MAX_AUTHINFO_DEFAULT = 64;

export interface QuorumPacketLimits {
  /** Largest data buffer or auth string accepted: jute.maxbuffer + extrasize. */
  maxBufferBytes: number;
  /** Largest authinfo count accepted. */
  maxAuthinfo: number;
}

export const DEFAULT_PACKET_LIMITS: QuorumPacketLimits = {
  maxBufferBytes: JUTE_MAXBUFFER_DEFAULT + JUTE_MAXBUFFER_EXTRA_DEFAULT,
  maxAuthinfo: MAX_AUTHINFO_DEFAULT,
};

/** Appends one packet to `w`: nothing is allocated besides what `w` may grow by. */
export function encodeQuorumPacket(w: JuteWriter, p: QuorumPacket): void {
  w.writeInt(p.type);
  w.writeLong(p.zxid);
  if (p.dataLatin1 !== undefined) w.writeLatin1Buffer(p.dataLatin1);
  else w.writeBuffer(p.data);
  if (p.authinfo === null) {
    w.writeInt(-1);
    return;
  }
  w.writeInt(p.authinfo.length);
  for (const id of p.authinfo) {
    w.writeString(id.scheme);
    w.writeString(id.id);
  }
}

/** One packet's bytes, in a fresh buffer. */
export function quorumPacketBytes(p: QuorumPacket): Buffer {
  const w = new JuteWriter(32 + (p.data?.length ?? 0));
  encodeQuorumPacket(w, p);
  return w.toBuffer();
}

/**
 * Reads one packet that must be wholly in `r` (the incremental framer handles partial input).
 * Lengths are checked against `limits` before anything is allocated.
 */
export function decodeQuorumPacket(r: JuteReader, limits: QuorumPacketLimits = DEFAULT_PACKET_LIMITS): QuorumPacket {
  let type: number | string = 'quorum';
  try {
    type = r.readInt();
    const zxid = r.readLong();
    const dataLength = r.readInt();
    checkLength(type, 'data', dataLength, limits.maxBufferBytes);
    let data: Buffer | null = null;
    if (dataLength >= 0) {
      if (r.remaining() < dataLength) fail(type, `data of ${dataLength} bytes is truncated (${r.remaining()} left)`);
      data = Buffer.from(r.buf.subarray(r.pos, r.pos + dataLength));
      r.pos += dataLength;
    }
    const count = r.readInt();
    checkAuthCount(type, count, limits.maxAuthinfo);
    let authinfo: PacketId[] | null = null;
    if (count >= 0) {
      authinfo = [];
      for (let i = 0; i < count; i++) {
        const scheme = readAuthString(r, type, limits.maxBufferBytes);
        const id = readAuthString(r, type, limits.maxBufferBytes);
        authinfo.push({ scheme, id });
      }
    }
    return { type, zxid, data, authinfo };
  } catch (e) {
    if (e instanceof JuteError) fail(type, e.message);
    throw e;
  }
}

/** Decodes a buffer that holds exactly one packet. */
export function quorumPacketFromBytes(buf: Buffer, limits: QuorumPacketLimits = DEFAULT_PACKET_LIMITS): QuorumPacket {
  const r = new JuteReader(buf);
  const p = decodeQuorumPacket(r, limits);
  if (r.remaining() !== 0) fail(p.type, `${r.remaining()} bytes after the packet`);
  return p;
}

/** A data buffer or auth string length: -1 (null) or 0..limit, as jute's checkLength allows. */
export function checkLength(type: number | string, what: string, len: number, limit: number): void {
  if (len < -1) fail(type, `${what} length ${len}`);
  if (len > limit) fail(type, `${what} length ${len} exceeds the limit of ${limit} bytes`);
}

export function checkAuthCount(type: number | string, count: number, limit: number): void {
  if (count < -1) fail(type, `authinfo count ${count}`);
  if (count > limit) fail(type, `authinfo count ${count} exceeds the limit of ${limit}`);
}

function readAuthString(r: JuteReader, type: number, limit: number): string {
  const len = r.readInt();
  checkLength(type, 'authinfo string', len, limit);
  // ZooKeeper writes no null ids; a null reads as "" (jute's Id fields are ustrings).
  if (len === -1) return '';
  if (r.remaining() < len) fail(type, `authinfo string of ${len} bytes is truncated`);
  const s = r.buf.toString('utf8', r.pos, r.pos + len);
  r.pos += len;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Payloads: the data buffer of each packet type, as ZooKeeper 3.8 fills and reads it.

function need(type: number, data: Buffer | null, what: string): Buffer {
  if (data === null) fail(type, `${what} expected, data is null`);
  return data;
}

function exactly(type: number, data: Buffer | null, bytes: number, what: string): Buffer {
  const b = need(type, data, what);
  if (b.length !== bytes) fail(type, `${what} must be ${bytes} bytes, got ${b.length}`);
  return b;
}

/** FOLLOWERINFO / OBSERVERINFO data. Older learners send only the sid, or the sid and version. */
export interface LearnerInfo {
  sid: bigint;
  /** Absent in the 8-byte form (ZooKeeper then assumes the pre-Zab-1.0 protocol, 0x1). */
  protocolVersion?: number;
  /** The learner's committed config version; absent in the 8- and 12-byte forms. */
  configVersion?: bigint;
}

/**
 * Decodes a LearnerInfo (the type names the packet in errors). As ZooKeeper's leader reads it:
 * at least the 8-byte sid, the protocol version when 12 bytes or more came, the config version
 * when 20 or more; bytes past those are not read.
 */
export function learnerInfo(data: Buffer | null, type: number = PacketType.FOLLOWERINFO): LearnerInfo {
  const b = need(type, data, 'LearnerInfo');
  if (b.length < 8) fail(type, `LearnerInfo must be at least 8 bytes, got ${b.length}`);
  const info: LearnerInfo = { sid: b.readBigInt64BE(0) };
  if (b.length >= 12) info.protocolVersion = b.readInt32BE(8);
  if (b.length >= 20) info.configVersion = b.readBigInt64BE(12);
  return info;
}

export function encodeLearnerInfo(info: LearnerInfo): Buffer {
  if (info.configVersion !== undefined && info.protocolVersion === undefined)
    throw new QuorumWireError('LearnerInfo: a configVersion needs a protocolVersion');
  const b = Buffer.alloc(info.configVersion !== undefined ? 20 : info.protocolVersion !== undefined ? 12 : 8);
  b.writeBigInt64BE(info.sid, 0);
  if (info.protocolVersion !== undefined) b.writeInt32BE(info.protocolVersion, 8);
  if (info.configVersion !== undefined) b.writeBigInt64BE(info.configVersion, 12);
  return b;
}

function intData(type: number, data: Buffer | null, what: string): number {
  return exactly(type, data, 4, what).readInt32BE(0);
}

function intBytes(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v, 0);
  return b;
}

/** LEADERINFO data: the leader's protocol version (0x10000). */
export function leaderInfoVersion(data: Buffer | null): number {
  return intData(PacketType.LEADERINFO, data, 'protocol version');
}

export function encodeLeaderInfo(protocolVersion: number = ZAB_PROTOCOL_VERSION): Buffer {
  return intBytes(protocolVersion);
}

/** ACKEPOCH data: the learner's currentEpoch, or -1 when it had already accepted the new epoch. */
export function ackEpoch(data: Buffer | null): number {
  return intData(PacketType.ACKEPOCH, data, 'current epoch');
}

export function encodeAckEpoch(currentEpoch: number): Buffer {
  return intBytes(currentEpoch);
}

/** REVALIDATE from a learner: a client reconnected with this session. */
export interface RevalidateRequest {
  sessionId: bigint;
  timeoutMs: number;
}

/** REVALIDATE from the leader: whether the session is alive (the learner then owns it). */
export interface RevalidateReply {
  sessionId: bigint;
  valid: boolean;
}

export function revalidateRequest(data: Buffer | null): RevalidateRequest {
  const b = exactly(PacketType.REVALIDATE, data, 12, 'learner revalidation (session id, timeout)');
  return { sessionId: b.readBigInt64BE(0), timeoutMs: b.readInt32BE(8) };
}

export function encodeRevalidateRequest(r: RevalidateRequest): Buffer {
  const b = Buffer.alloc(12);
  b.writeBigInt64BE(r.sessionId, 0);
  b.writeInt32BE(r.timeoutMs, 8);
  return b;
}

export function revalidateReply(data: Buffer | null): RevalidateReply {
  const b = exactly(PacketType.REVALIDATE, data, 9, 'leader revalidation (session id, valid)');
  // Java's readBoolean: any non-zero byte is true.
  return { sessionId: b.readBigInt64BE(0), valid: b[8] !== 0 };
}

export function encodeRevalidateReply(r: RevalidateReply): Buffer {
  const b = Buffer.alloc(9);
  b.writeBigInt64BE(r.sessionId, 0);
  b[8] = r.valid ? 1 : 0;
  return b;
}

/** One entry of a learner PING's touch table: a global session active since the last ping. */
export interface SessionTouch {
  sessionId: bigint;
  timeoutMs: number;
}

const TOUCH_BYTES = 12;

/** A learner PING's touch table (0 bytes when no session was active). */
export function pingTouches(data: Buffer | null): SessionTouch[] {
  const b = need(PacketType.PING, data, 'touch table');
  if (b.length % TOUCH_BYTES !== 0) fail(PacketType.PING, `touch table of ${b.length} bytes is not a whole number of 12-byte entries`);
  const out: SessionTouch[] = [];
  for (let at = 0; at < b.length; at += TOUCH_BYTES) out.push({ sessionId: b.readBigInt64BE(at), timeoutMs: b.readInt32BE(at + 8) });
  return out;
}

export function encodePingTouches(touches: readonly SessionTouch[]): Buffer {
  const b = Buffer.alloc(touches.length * TOUCH_BYTES);
  touches.forEach((t, i) => {
    b.writeBigInt64BE(t.sessionId, i * TOUCH_BYTES);
    b.writeInt32BE(t.timeoutMs, i * TOUCH_BYTES + 8);
  });
  return b;
}

/** REQUEST data: a client write a learner forwards to the leader. */
export interface ForwardedRequest {
  sessionId: bigint;
  cxid: number;
  /** The client op code (create 1, createSession -10, ...). */
  op: number;
  /** The request record as the client sent it after its RequestHeader (may be empty). */
  body: Buffer;
}

const REQUEST_HEAD_BYTES = 16;

export function requestData(data: Buffer | null): ForwardedRequest {
  const b = need(PacketType.REQUEST, data, 'forwarded request');
  if (b.length < REQUEST_HEAD_BYTES) fail(PacketType.REQUEST, `forwarded request of ${b.length} bytes is shorter than its 16-byte head`);
  return {
    sessionId: b.readBigInt64BE(0),
    cxid: b.readInt32BE(8),
    op: b.readInt32BE(12),
    body: Buffer.from(b.subarray(REQUEST_HEAD_BYTES)),
  };
}

export function encodeRequestData(r: ForwardedRequest): Buffer {
  const b = Buffer.alloc(REQUEST_HEAD_BYTES + r.body.length);
  b.writeBigInt64BE(r.sessionId, 0);
  b.writeInt32BE(r.cxid, 8);
  b.writeInt32BE(r.op, 12);
  r.body.copy(b, REQUEST_HEAD_BYTES);
  return b;
}

/** COMMITANDACTIVATE data: the leader designated by the committed reconfig. */
export function commitAndActivateLeader(data: Buffer | null): bigint {
  return exactly(PacketType.COMMITANDACTIVATE, data, 8, 'designated leader').readBigInt64BE(0);
}

export function encodeCommitAndActivate(designatedLeader: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(designatedLeader, 0);
  return b;
}

/** INFORMANDACTIVATE data: the designated leader, then the reconfig txn's bytes. */
export interface InformAndActivate {
  designatedLeader: bigint;
  txn: Buffer;
}

export function informAndActivate(data: Buffer | null): InformAndActivate {
  const b = need(PacketType.INFORMANDACTIVATE, data, 'designated leader and txn');
  if (b.length <= 8) fail(PacketType.INFORMANDACTIVATE, `${b.length} bytes hold no txn after the designated leader`);
  return { designatedLeader: b.readBigInt64BE(0), txn: Buffer.from(b.subarray(8)) };
}

export function encodeInformAndActivate(designatedLeader: bigint, txn: Buffer): Buffer {
  const b = Buffer.alloc(8 + txn.length);
  b.writeBigInt64BE(designatedLeader, 0);
  txn.copy(b, 8);
  return b;
}

/** NEWLEADER data: the leader's last-seen config, QuorumVerifier.toString() in UTF-8. */
export function newLeaderConfig(data: Buffer | null): string {
  return need(PacketType.NEWLEADER, data, 'config').toString('utf8');
}

/** PROPOSAL / INFORM data: the txn bytes (a txn-log entry body); see storage/txnserde.ts. */
export function txnData(type: number, data: Buffer | null): Buffer {
  const b = need(type, data, 'txn');
  if (b.length === 0) fail(type, 'empty txn');
  return b;
}

/**
 * The first long of a QuorumAuthPacket (quorum SASL, off by default): a leader peeks at 8 bytes and
 * runs the SASL exchange only when they are this value.
 */
export const QUORUM_AUTH_MAGIC = -0xa0dbcafecafe1234n;

/** QuorumAuthPacket status values. */
export const enum QuorumAuthStatus {
  IN_PROGRESS = 0,
  SUCCESS = 1,
  ERROR = -1,
}
