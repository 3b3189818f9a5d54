/**
 * Packets of the quorum port (leader <-> learner), as ZooKeeper 3.8 exchanges them: a
 * `QuorumPacket{int type, long zxid, buffer data, vector<Id> authinfo}` record each, back to back
 * with no outer length. The codec and the incremental decoder build on these types.
 */

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
}

/** The Zab protocol version a 3.4+ learner and leader speak (LearnerInfo, LEADERINFO). */
export const ZAB_PROTOCOL_VERSION = 0x10000;
