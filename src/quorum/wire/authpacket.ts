/**
 * QuorumAuthPacket, the record of quorum SASL (`zookeeper.jute`): long magic, int status, buffer
 * token, unframed on both the election port (after the initial message) and the quorum port
 * (before FOLLOWERINFO/OBSERVERINFO). docs/QUORUM-SASL.md has the exchange as ZooKeeper 3.8.0 runs it.
 *
 * `AuthPacketReader` takes bytes in any split and hands out whole packets; every token length is
 * checked against a bound before anything is kept, so it holds at most one bounded packet.
 */
import { encodeToBuffer } from '../../protocol/jute';
import { encodeQuorumAuthPacket } from '../../protocol/generated/records';

/**
 * QuorumAuth.QUORUM_AUTH_MAGIC_NUMBER, written in Java as -0xa0dbcafecafe1234L: that hex literal is
 * already a negative long, so the value is positive, 5f 24 35 01 35 01 ed cc on the wire.
 */
export const QUORUM_AUTH_MAGIC = 0x5f2435013501edccn;
/** magic (8) + status (4) + token length (4). */
export const AUTH_PACKET_HEADER_BYTES = 16;
/**
 * Tokens this side reads at most. DIGEST-MD5 tokens are a few hundred bytes (Java refuses
 * challenges over 2048 and responses over 4096); a larger length is hostile and closes the link.
 */
export const AUTH_TOKEN_MAX_BYTES = 8192;

/** QuorumAuth.Status. */
export enum AuthStatus {
  IN_PROGRESS = 0,
  SUCCESS = 1,
  ERROR = -1,
}

export interface QuorumAuthPacket {
  magic: bigint;
  /** As read: any int (an unknown value is Java's ERROR). */
  status: number;
  /** null for a length of -1. */
  token: Buffer | null;
}

export class AuthWireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthWireError';
  }
}

export function encodeAuthPacket(status: AuthStatus, token: Buffer | null): Buffer {
  return encodeToBuffer(encodeQuorumAuthPacket, { magic: QUORUM_AUTH_MAGIC, status, token }, AUTH_PACKET_HEADER_BYTES + (token?.length ?? 0));
}

/** Whether 8 bytes are the magic: how ZooKeeper's server tells an authenticating peer (`nextPacketIsAuth`). */
export function startsWithAuthMagic(bytes: Buffer): boolean {
  return bytes.length >= 8 && bytes.readBigInt64BE(0) === QUORUM_AUTH_MAGIC;
}

export class AuthPacketReader {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly maxTokenBytes: number = AUTH_TOKEN_MAX_BYTES) {}

  /** Bytes received but not yet part of a returned packet. */
  get buffered(): Buffer {
    return this.pending;
  }

  /**
   * Adds bytes; returns the next whole packet and leaves the rest buffered, or undefined when more
   * is needed. Throws AuthWireError for a wrong magic or a token length out of bounds.
   */
  push(chunk: Buffer): QuorumAuthPacket | undefined {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    return this.next();
  }

  /** The next whole packet from what is buffered, if there is one. */
  next(): QuorumAuthPacket | undefined {
    const b = this.pending;
    if (b.length >= 8 && !startsWithAuthMagic(b)) throw new AuthWireError(`not a quorum auth packet: magic 0x${b.subarray(0, 8).toString('hex')}`);
    if (b.length < AUTH_PACKET_HEADER_BYTES) return undefined;
    const status = b.readInt32BE(8);
    const len = b.readInt32BE(12);
    if (len < -1 || len > this.maxTokenBytes) throw new AuthWireError(`quorum auth token length ${len} is out of bounds (-1..${this.maxTokenBytes})`);
    const size = AUTH_PACKET_HEADER_BYTES + Math.max(len, 0);
    if (b.length < size) return undefined;
    const token = len === -1 ? null : Buffer.from(b.subarray(AUTH_PACKET_HEADER_BYTES, size));
    this.pending = b.subarray(size);
    return { magic: QUORUM_AUTH_MAGIC, status, token };
  }
}
