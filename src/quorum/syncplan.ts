/**
 * How a leader brings one learner's history in line with its own (ZK-QUORUM-FACTS §2.4): DIFF (send the
 * committed txns the learner lacks), TRUNC (the learner drops a tail the leader never committed, then
 * gets the rest), or SNAP (a whole tree). Pure: it works on zxids only; the leader turns the plan into
 * packets.
 *
 * Two rules on top of ZooKeeper's table, both about never leaving a hole in a learner's log:
 *  - a replay is gap-free: every txn after the learner's point is sent, in order, with no counter
 *    skipped within an epoch (3.9 learners abort a DIFF that skips one);
 *  - a TRUNC never crosses an epoch: when the learner's last zxid is absent from the leader's history
 *    and the next txn the leader has is of another epoch, the shared prefix is unknown, so SNAP.
 */

import { counterOf, epochOf, isNextZxid } from '../storage/zxid';
import { invariant } from './invariant';

/** Consecutive txns of one epoch: every counter from counterOf(first) to counterOf(last) is present. */
export interface ZxidRun {
  first: bigint;
  last: bigint;
}

export interface TxnLogSource {
  /** Committed txns on disk, older than (and chaining into) the in-memory committed log. */
  runs: readonly ZxidRun[];
  /** Whether replaying from after this zxid stays within the size limit (ZooKeeper: 0.33 × snapshot). */
  withinSizeLimit(afterZxid: bigint): boolean;
}

export interface SyncInput {
  /** The zxid the learner's ACKEPOCH carried: its last logged txn (or a new epoch's counter-0 zxid). */
  peerLastZxid: bigint;
  /** The leader's last committed zxid; a new epoch's counter-0 zxid once the epoch is established. */
  lastProcessedZxid: bigint;
  /** The in-memory committed log (ZooKeeper: the last 500), ascending runs, possibly empty. */
  committedLog: readonly ZxidRun[];
  /** Present when txn-log sync is enabled. */
  txnLog?: TxnLogSource;
  /** zookeeper.forceSnapshotSync */
  forceSnapshot?: boolean;
}

/** Txns afterZxid < zxid <= toZxid are replayed (PROPOSAL + COMMIT each). */
export interface Replay {
  afterZxid: bigint;
  toZxid: bigint;
  /** Where the replayed txns older than the committed log come from; undefined = none from disk. */
  fromTxnLogUpTo?: bigint;
}

export type SyncPlan =
  | { kind: 'DIFF'; zxid: bigint; replay?: Replay; lastQueuedZxid: bigint; reason: string }
  | { kind: 'TRUNC'; zxid: bigint; replay?: Replay; lastQueuedZxid: bigint; reason: string }
  | { kind: 'SNAP'; zxid: bigint; lastQueuedZxid: bigint; reason: string };

const isNewEpochZxid = (zxid: bigint): boolean => counterOf(zxid) === 0n;

/** Checks runs are ascending, well formed and gap-free between each other. */
export function runsAreGapFree(runs: readonly ZxidRun[]): boolean {
  for (let i = 0; i < runs.length; i++) {
    const r = runs[i];
    if (r.last < r.first || epochOf(r.first) !== epochOf(r.last) || counterOf(r.first) === 0n) return false;
    if (i > 0 && !isNextZxid(runs[i - 1].last, r.first)) return false;
  }
  return true;
}

/** Adds a zxid to the ascending run list (the leader's committed log as it grows). */
export function appendToRuns(runs: ZxidRun[], zxid: bigint): void {
  const last = runs[runs.length - 1];
  if (last !== undefined && zxid === last.last + 1n && epochOf(zxid) === epochOf(last.last)) {
    last.last = zxid;
  } else {
    runs.push({ first: zxid, last: zxid });
  }
}

export function planSync(input: SyncInput): SyncPlan {
  const { peerLastZxid: peer, lastProcessedZxid, committedLog } = input;
  invariant(runsAreGapFree(committedLog), 'the committed log has a gap');
  const snap = (reason: string): SyncPlan => ({ kind: 'SNAP', zxid: lastProcessedZxid, lastQueuedZxid: lastProcessedZxid, reason });

  if (input.forceSnapshot) return snap('snapshot sync forced');
  if (peer === lastProcessedZxid) return { kind: 'DIFF', zxid: peer, lastQueuedZxid: peer, reason: 'in sync' };

  const empty = committedLog.length === 0;
  const minCommitted = empty ? lastProcessedZxid : committedLog[0].first;
  const maxCommitted = empty ? lastProcessedZxid : committedLog[committedLog.length - 1].last;

  if (peer > maxCommitted && !isNewEpochZxid(peer)) {
    return { kind: 'TRUNC', zxid: maxCommitted, lastQueuedZxid: maxCommitted, reason: 'learner ahead of the committed log' };
  }
  if (!empty && minCommitted <= peer && peer <= maxCommitted) {
    return walk(committedLog, peer, maxCommitted, undefined) ?? snap('cannot truncate across an epoch');
  }
  if (peer < minCommitted && input.txnLog !== undefined) {
    const diskRuns = input.txnLog.runs.filter((r) => empty || r.first < minCommitted).map((r) =>
      !empty && r.last >= minCommitted ? { first: r.first, last: minCommitted - 1n } : r,
    );
    const runs = [...diskRuns, ...committedLog];
    // The log must hold the learner's own zxid or an older one: a log starting after it cannot tell
    // what the learner lacks (an empty learner, zxid 0, always needs the whole history: SNAP).
    const reaches = diskRuns.length > 0 && diskRuns[0].first <= peer;
    if (reaches && runsAreGapFree(runs) && input.txnLog.withinSizeLimit(peer)) {
      const diskLast = diskRuns[diskRuns.length - 1].last;
      const plan = walk(runs, peer, maxCommitted, diskLast);
      if (plan !== undefined) return plan;
      return snap('cannot truncate across an epoch');
    }
  }
  return snap('learner older than the logs');
}

/**
 * ZooKeeper's walk of a committed history from the learner's zxid: DIFF when the zxid is there (or
 * is a counter-0 zxid), TRUNC to the txn before the first one past it within its epoch, else undefined
 * (SNAP).
 */
function walk(runs: readonly ZxidRun[], peer: bigint, maxCommitted: bigint, diskLast: bigint | undefined): SyncPlan | undefined {
  let prev: bigint | undefined;
  let next: bigint | undefined;
  for (const r of runs) {
    if (r.last < peer) {
      prev = r.last;
      continue;
    }
    next = peer >= r.first ? peer : r.first;
    if (next > r.first) prev = next - 1n;
    break;
  }
  const replayAfter = (afterZxid: bigint): Replay | undefined => {
    if (afterZxid >= maxCommitted) return undefined;
    const fromTxnLogUpTo = diskLast !== undefined && diskLast > afterZxid ? diskLast : undefined;
    return { afterZxid, toZxid: maxCommitted, fromTxnLogUpTo };
  };
  if (next === undefined) {
    if (!isNewEpochZxid(peer)) return undefined;
    return { kind: 'DIFF', zxid: maxCommitted, lastQueuedZxid: peer, reason: 'new-epoch zxid past the log' };
  }
  if (next === peer) {
    return { kind: 'DIFF', zxid: maxCommitted, replay: replayAfter(peer), lastQueuedZxid: maxCommitted, reason: 'zxid in the log' };
  }
  if (isNewEpochZxid(peer)) {
    invariant(isNextZxid(peer, next) || epochOf(next) > epochOf(peer), 'a DIFF after a new-epoch zxid would skip txns');
    return { kind: 'DIFF', zxid: maxCommitted, replay: replayAfter(peer), lastQueuedZxid: maxCommitted, reason: 'new-epoch zxid' };
  }
  if (epochOf(next) !== epochOf(peer) || prev === undefined) return undefined;
  return { kind: 'TRUNC', zxid: prev, replay: replayAfter(prev), lastQueuedZxid: maxCommitted, reason: 'zxid absent from the log' };
}
