/**
 * What a Zab core (leader.ts, learner.ts) hands its shell after a batch of steps: the Ready. The core
 * does no I/O; the shell executes a Ready completely, IN THE ORDER OF THE FIELDS BELOW, then calls the
 * core's `advance()`. That order is the durability contract of Zab:
 *
 *  1. `truncateTo`       learner, TRUNC: cut the txn log after this zxid, reload the tree to it.
 *  2. `installSnapshot`  learner, SNAP: the snapshot stream that followed the SNAP packet replaces the
 *                        tree (in memory); its zxid is the tree's last processed zxid.
 *  3. `takeSnapshot`     learner at NEWLEADER after SNAP or TRUNC: write the tree as a snapshot at
 *                        this zxid and fsync it, because the log alone no longer rebuilds it. Logged
 *                        txns up to here are superseded: after a SNAP the old log may hold txns the
 *                        leader never committed, so recovery starts from this snapshot and must never
 *                        replay them (nor report them as the last logged zxid).
 *  3b. `dropSeenConfig`, then `seenConfig`: the last-seen configuration forgotten (`.dynamic.next`
 *                        removed) because its reconfig txn is not in the log (a crash lost it, or TRUNC
 *                        or SNAP cut it: it never commits); then a configuration proposed (written as
 *                        `<cfg>.dynamic.next`) before its txn is logged, as ZooKeeper's follower
 *                        writes it: a logged reconfig always has its `.dynamic.next` or a newer one.
 *  4. `append`           log these txns in order and fsync them.
 *  5. `acceptedEpoch`, then `currentEpoch`: each written atomically (tmp, fsync, rename), accepted
 *                        first, so that accepted >= current holds on disk at every instant.
 *                        currentEpoch comes after `append`: a learner's sync txns are durable before it
 *                        claims the new epoch (ZooKeeper 3.8.5+/3.9 order). A crash in between leaves
 *                        a log whose last epoch is newer than currentEpoch; the next start raises
 *                        currentEpoch to it (storage/epochs.ts `loadEpochs`) instead of refusing.
 *  5b. `activations`:    each configuration that became committed, in order (the dynamic config
 *                        files, /zookeeper/config, the election's members); before the commits, as
 *                        ZooKeeper activates a reconfig before it applies its txn.
 *  6. `commit`           apply to the tree in zxid order; each was durable (here or earlier) first.
 *                        Commits of txns made durable by an earlier Ready may be applied before this
 *                        Ready's `append` is durable, when it truncates, installs and writes no
 *                        epoch file (both roles do, so that an answer does not wait for the fsync
 *                        of the next batch).
 *                        `snapshotSends` pins a tree state inside this sequence (see SnapshotSend).
 *  7. `syncsCompleted`   learner: complete this many of the oldest pending client syncs.
 *  8. `send`             per destination in order, after everything above is durable; a PROPOSAL's
 *                        ACK therefore never leaves before the proposal is on disk. One exception,
 *                        the leader's broadcast: a Ready whose sends are all PROPOSAL, COMMIT,
 *                        INFORM, PING or SYNC and that writes no epoch file may send them, and apply
 *                        its `commit`s, while its `append` is still being made durable (the leader's
 *                        own ack counts only at `advance()`, so none of its commits and none of its
 *                        sends depends on that append). And the learner's PING answers, REQUESTs and
 *                        REVALIDATEs depend on no disk write: they leave first, in their order, and
 *                        the shell takes those queued after a Ready was made at once (learner.ts
 *                        `takeUrgent`) rather than behind that Ready's fsync.
 *  9. `close`            drop these learner connections (after their sends are flushed).
 * 10. `requests`, `touches`, `revalidations`: leader, hand up to the server (prep, sessions).
 * 11. `state`            the role's new state: serving, or over (back to LOOKING: drop every link and
 *                        rebuild the tree from disk, because in-memory state may hold txns that never
 *                        became durable or committed).
 *
 * `notes` are log lines (protocol oddities the core ignored); executing them in any order is fine.
 */

import type { QuorumVerifier } from './verifier';
import type { PacketId, QuorumPacket } from './wire/packets';

/** A txn as a log holds it and a PROPOSAL/INFORM carries it: TxnHeader + record [+ digest] bytes. */
export interface LoggedTxn {
  zxid: bigint;
  data: Buffer;
}

/** One packet to a destination: a learner connection id at the leader, 0 (the leader) at a learner. */
export interface PacketSend {
  kind: 'packet';
  to: number;
  packet: QuorumPacket;
}

/**
 * Leader sync from the on-disk txn log: for every logged txn with afterZxid < zxid <= toZxid, in order,
 * send PROPOSAL(zxid, txn bytes) then COMMIT(zxid). The range is gap-free within each epoch (syncplan).
 */
export interface LogRangeSend {
  kind: 'logRange';
  to: number;
  afterZxid: bigint;
  toZxid: bigint;
}

/**
 * Leader sync by snapshot: send SNAP(zxid), then the tree serialized exactly as of `zxid` (every
 * commit <= zxid applied, none after), then "BenWasHere". The shell takes that state while executing
 * `commit` (e.g. a copy-on-write handle right after applying `zxid`, or before the first commit when
 * `zxid` was applied by an earlier Ready) and streams it here, in this send's place.
 */
export interface SnapshotSend {
  kind: 'snapshot';
  to: number;
  zxid: bigint;
}

export type Send = PacketSend | LogRangeSend | SnapshotSend;

/** A client request a learner forwarded (REQUEST), for the leader's server to prepare. */
export interface LearnerRequest {
  /** The learner connection it came on; replies (SYNC) and ownership refer to it. */
  conn: number;
  sid: bigint;
  sessionId: bigint;
  cxid: number;
  op: number;
  /** The request record after the RequestHeader. */
  body: Buffer;
  authinfo: PacketId[] | null;
}

/** A session a learner saw active since its last ping (PING touch table). */
export interface SessionTouch {
  sessionId: bigint;
  timeoutMs: number;
}

export interface Revalidation {
  conn: number;
  sessionId: bigint;
  timeoutMs: number;
}

export interface RevalidationResult {
  sessionId: bigint;
  valid: boolean;
}

/** A configuration that became the committed one, with the leader its reconfig designated. */
export interface Activation {
  verifier: QuorumVerifier;
  designatedLeader?: bigint;
}

export type StateChange =
  /** Leader: a quorum acked NEWLEADER. Learner: UPTODATE arrived. Clients may be served. */
  | { kind: 'serving'; epoch: bigint }
  /**
   * The role is over; the core ignores everything after this. `designatedLeader`: a reconfig named
   * the next leader, so the member takes its next role at once (lead it or follow it), without an
   * election round, as ZooKeeper's peer does after a reconfig changed its leader or its role.
   */
  | { kind: 'looking'; reason: string; designatedLeader?: bigint };

export interface Ready {
  truncateTo?: bigint;
  installSnapshot?: bigint;
  takeSnapshot?: bigint;
  append: LoggedTxn[];
  acceptedEpoch?: bigint;
  currentEpoch?: bigint;
  /**
   * The last-seen configuration is the committed one again: the reconfig that proposed it is not in
   * this member's log any more, so it never commits and must not be activated or waited for.
   */
  dropSeenConfig?: true;
  /** A newer configuration seen (a reconfig proposed, or NEWLEADER's): the last-seen one now. */
  seenConfig?: QuorumVerifier;
  activations: Activation[];
  commit: LoggedTxn[];
  syncsCompleted: number;
  send: Send[];
  close: { conn: number; reason: string }[];
  requests: LearnerRequest[];
  touches: SessionTouch[];
  revalidations: Revalidation[];
  /** Learner: answers to REVALIDATE requests this server forwarded. */
  revalidated: RevalidationResult[];
  state?: StateChange;
  notes: string[];
}

export function emptyReady(): Ready {
  return {
    append: [],
    activations: [],
    commit: [],
    syncsCompleted: 0,
    send: [],
    close: [],
    requests: [],
    touches: [],
    revalidations: [],
    revalidated: [],
    notes: [],
  };
}

/** Whether executing this Ready would do anything (so the shell can skip an empty one). */
export function readyIsEmpty(r: Ready): boolean {
  return (
    r.truncateTo === undefined &&
    r.installSnapshot === undefined &&
    r.takeSnapshot === undefined &&
    r.append.length === 0 &&
    r.acceptedEpoch === undefined &&
    r.currentEpoch === undefined &&
    r.dropSeenConfig === undefined &&
    r.seenConfig === undefined &&
    r.activations.length === 0 &&
    r.commit.length === 0 &&
    r.syncsCompleted === 0 &&
    r.send.length === 0 &&
    r.close.length === 0 &&
    r.requests.length === 0 &&
    r.touches.length === 0 &&
    r.revalidations.length === 0 &&
    r.revalidated.length === 0 &&
    r.state === undefined &&
    r.notes.length === 0
  );
}
