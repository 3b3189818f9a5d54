// The DIFF/TRUNC/SNAP choice, case by case (ZK-QUORUM-FACTS §2.4), with the two extra rules: replays
// are gap-free and a TRUNC never crosses an epoch.
import t from 'tap';
import { appendToRuns, planSync, runsAreGapFree, type SyncInput, type ZxidRun } from '../../src/quorum/syncplan';

const z = (epoch: number, counter: number): bigint => (BigInt(epoch) << 32n) | BigInt(counter);
const runs = (...zxids: bigint[]): ZxidRun[] => {
  const out: ZxidRun[] = [];
  for (const x of zxids) appendToRuns(out, x);
  return out;
};
const range = (epoch: number, from: number, to: number): bigint[] => Array.from({ length: to - from + 1 }, (_, i) => z(epoch, from + i));
const plan = (input: SyncInput) => {
  const p = planSync(input);
  return { kind: p.kind, zxid: p.zxid, replay: 'replay' in p ? p.replay : undefined, lastQueued: p.lastQueuedZxid };
};

t.test('runs', async (t) => {
  t.same(runs(...range(1, 1, 3), ...range(2, 1, 2)), [{ first: z(1, 1), last: z(1, 3) }, { first: z(2, 1), last: z(2, 2) }]);
  t.ok(runsAreGapFree(runs(...range(1, 1, 3), ...range(3, 1, 2))), 'an epoch without txns is no gap');
  t.notOk(runsAreGapFree(runs(z(1, 1), z(1, 3))), 'a skipped counter is a gap');
  t.notOk(runsAreGapFree(runs(z(1, 1), z(2, 2))), 'a new epoch starts at counter 1');
});

t.test('the table', async (t) => {
  const log = runs(...range(1, 1, 7), ...range(2, 1, 3));
  const base = { lastProcessedZxid: z(2, 3), committedLog: log };
  t.same(plan({ ...base, peerLastZxid: z(1, 2), forceSnapshot: true }), { kind: 'SNAP', zxid: z(2, 3), replay: undefined, lastQueued: z(2, 3) }, 'forced');
  t.same(plan({ ...base, peerLastZxid: z(2, 3) }), { kind: 'DIFF', zxid: z(2, 3), replay: undefined, lastQueued: z(2, 3) }, 'in sync: empty DIFF');
  t.same(plan({ ...base, peerLastZxid: z(2, 5) }), { kind: 'TRUNC', zxid: z(2, 3), replay: undefined, lastQueued: z(2, 3) }, 'ahead: TRUNC to the last commit');
  t.same(
    plan({ ...base, peerLastZxid: z(1, 5) }),
    { kind: 'DIFF', zxid: z(2, 3), replay: { afterZxid: z(1, 5), toZxid: z(2, 3), fromTxnLogUpTo: undefined }, lastQueued: z(2, 3) },
    'in the log: DIFF and the rest, across the epoch',
  );
  t.same(
    plan({ ...base, peerLastZxid: z(2, 0) }),
    { kind: 'DIFF', zxid: z(2, 3), replay: { afterZxid: z(2, 0), toZxid: z(2, 3), fromTxnLogUpTo: undefined }, lastQueued: z(2, 3) },
    'a new-epoch zxid: DIFF from there',
  );
  t.same(plan({ ...base, peerLastZxid: z(1, 9) }).kind, 'SNAP', 'absent and the next txn is of another epoch: no TRUNC across epochs');
  t.same(plan({ ...base, peerLastZxid: z(1, 0) }).kind, 'SNAP', 'older than the log, no txn-log sync: SNAP');
  t.same(plan({ ...base, peerLastZxid: 0n }).kind, 'SNAP', 'an empty learner: SNAP');
});

t.test('gap-free histories only', async (t) => {
  // Within a gap-free history a zxid in range is either present or followed by another epoch's txn, so
  // the walk's same-epoch TRUNC cannot arise; a history with a hole is refused outright.
  const p = planSync({ lastProcessedZxid: z(1, 4), committedLog: [{ first: z(1, 1), last: z(1, 4) }], peerLastZxid: z(1, 3) });
  t.equal(p.kind, 'DIFF');
  t.throws(
    () => planSync({ lastProcessedZxid: z(1, 9), committedLog: [{ first: z(1, 1), last: z(1, 4) }, { first: z(1, 6), last: z(1, 9) }], peerLastZxid: z(1, 5) }),
    /gap/,
    'a committed log with a gap is refused',
  );
});

t.test('txn-log sync', async (t) => {
  const window = runs(...range(2, 5, 8));
  const disk = runs(...range(1, 1, 7), ...range(2, 1, 8));
  const input = { lastProcessedZxid: z(2, 8), committedLog: window, txnLog: { runs: disk, withinSizeLimit: () => true } };
  t.same(
    plan({ ...input, peerLastZxid: z(1, 6) }),
    { kind: 'DIFF', zxid: z(2, 8), replay: { afterZxid: z(1, 6), toZxid: z(2, 8), fromTxnLogUpTo: z(2, 4) }, lastQueued: z(2, 8) },
    'the disk log reaches the learner: DIFF from disk, then from memory',
  );
  t.equal(plan({ ...input, peerLastZxid: z(1, 6), txnLog: { runs: disk, withinSizeLimit: () => false } }).kind, 'SNAP', 'too large: SNAP');
  t.equal(plan({ ...input, peerLastZxid: 0n, txnLog: { runs: disk, withinSizeLimit: () => true } }).kind, 'SNAP', 'the log must hold the learner\'s zxid or older');
  t.equal(plan({ ...input, peerLastZxid: z(1, 3), txnLog: { runs: runs(...range(1, 1, 7)), withinSizeLimit: () => true } }).kind, 'SNAP', 'a disk log that does not chain into the window is not used');
  t.equal(plan({ ...input, peerLastZxid: z(1, 9) }).kind, 'SNAP', 'absent from the disk log and the next txn of another epoch: SNAP');
});
