/**
 * Which sets of servers form a quorum. Versioned, as ZooKeeper's QuorumVerifier is, so that dynamic
 * reconfiguration can hold an old and a new one side by side.
 */

export type LearnerType = 'participant' | 'observer';

/** One member of a configuration, as a `server.N=` line names it. */
export interface QuorumMember {
  sid: bigint;
  host: string;
  quorumPort: number;
  electionPort: number;
  type: LearnerType;
  /** Present when the server line carried a `;[host:]port` client part. */
  clientAddress?: { host: string; port: number };
}

export interface QuorumVerifier {
  /** The config version (a zxid once a leader has written it; 0 for a static zoo.cfg). */
  readonly version: bigint;
  /** Every member, voters and observers. */
  readonly members: ReadonlyMap<bigint, QuorumMember>;
  /** The sids with a vote (weight > 0). */
  readonly votingMembers: ReadonlySet<bigint>;
  readonly observingMembers: ReadonlySet<bigint>;
  /** 0 for observers and unknown sids. */
  weight(sid: bigint): number;
  /** Whether these sids (unknown ones and observers count for nothing) are a quorum. */
  containsQuorum(sids: Iterable<bigint>): boolean;
  /** ZooKeeper's QuorumVerifier.toString(): one `server.N=...` line each, then `version=<hex>`. */
  toString(): string;
}
