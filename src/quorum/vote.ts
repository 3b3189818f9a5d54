/**
 * What leader election exchanges: a server's state and its vote, as FastLeaderElection's
 * notifications carry them on the election port.
 */

/** ServerState as ZooKeeper numbers it on the wire. */
export const enum PeerState {
  LOOKING = 0,
  FOLLOWING = 1,
  LEADING = 2,
  OBSERVING = 3,
}

/** A vote: who should lead, and the history (zxid, epoch) that backs the choice. */
export interface Vote {
  /** The proposed leader's sid; Long.MIN_VALUE (-2^63) for "none" (an observer's vote). */
  leader: bigint;
  /** The proposer's last logged zxid, or MIN for observers. */
  zxid: bigint;
  /** The epoch of that history: currentEpoch, or MIN for observers. */
  peerEpoch: bigint;
}

/** One election message, version 2 (the only one 3.8 sends), from a given sid. */
export interface Notification extends Vote {
  /** The sender. */
  sid: bigint;
  state: PeerState;
  /** The sender's election round (logicalclock). */
  electionEpoch: bigint;
  /** 2 for current senders; 0 when the frame had no version field (28 or 40 B forms). */
  version: number;
  /** The sender's committed config string (QuorumVerifier.toString()); undefined when absent. */
  config: string | undefined;
}

/** Java's Long.MIN_VALUE, which FastLeaderElection uses for "no leader / no zxid / no epoch". */
export const LONG_MIN = -(1n << 63n);
