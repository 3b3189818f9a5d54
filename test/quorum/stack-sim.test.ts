// The whole quorum stack in one process, from a seed (stacksim/sim.ts): 3 or 5 voters (some runs
// with an observer), each running the real election core and, for the role it decides, the real
// leader or learner core, moving LOOKING -> LEADING/FOLLOWING/OBSERVING -> LOOKING as quorumpeer
// does. Faults: election notifications lost, duplicated, delayed; quorum connections FIFO with
// random delays, stalled or reset by partitions (splits, an isolated leader, a bridge, one-way);
// crashes that lose what was not fsynced (also mid-Ready and mid-fsync), restarts from the disk,
// pauses (a process stops for a while and goes on late). Readys run as the shells run them: one at a
// time, with an fsync latency during which the core steps new packets. Clients attach to any serving
// member (refused by one behind their lastZxidSeen), write, read and sync()+read.
//
// Checked after every step: one established leader per epoch; every commit on a quorum's disk, in
// increasing zxid order, of its leader's epoch; a new leader's history holds the whole committed
// order (no committed txn lost); a superseded leader that was paused and establishes or commits late
// may only establish or commit what the order already holds, in place; every serving member's
// applied sequence a prefix of the committed order; integrity (only client writes, each once); a
// client never sees a zxid below its lastZxidSeen; a read after sync() sees every write acknowledged
// before the sync started (unless a superseded leader answered it, as ZooKeeper's may until its
// syncLimit runs out: counted apart). On restart, a currentEpoch older than the log must be one
// loadEpochs raises (acceptedEpoch vouching for the log's epoch). At the end, after
// healing and a quiet period: one leader, everyone serving with it, all holding the same full order,
// every acknowledged write in it.
//
// ZKTS_STACK_SEED=N replays one seed and prints its whole trace; ZKTS_STACK_SEEDS=K runs K seeds.
import t from 'tap';
import { SimFailure, StackSim, type SimStats } from './stacksim/sim';

const one = process.env.ZKTS_STACK_SEED;

function runOne(seed: number, fullTrace: boolean): { sim: StackSim; error?: Error } {
  const sim = new StackSim(seed, fullTrace);
  try {
    sim.run();
    return { sim };
  } catch (e) {
    return { sim, error: e as Error };
  }
}

if (one !== undefined) {
  t.test(`seed=${one}`, async (t) => {
    const { sim, error } = runOne(Number(one), true);
    t.comment(sim.traceLines().join('\n'));
    t.comment(JSON.stringify(sim.stats));
    t.error(error, 'the seed runs clean');
  });
} else {
  const count = Number(process.env.ZKTS_STACK_SEEDS ?? 2000);
  t.test(`${count} seeds`, async (t) => {
    const started = Date.now();
    const total: Record<keyof SimStats, number> = {} as Record<keyof SimStats, number>;
    let failed = 0;
    for (let seed = 1; seed <= count; seed++) {
      const { sim, error } = runOne(seed, false);
      if (error !== undefined) {
        failed++;
        if (failed <= 3) {
          t.comment(sim.traceLines().slice(-120).join('\n'));
          const kind = error instanceof SimFailure ? '' : ` (${error.stack ?? ''})`;
          t.fail(`seed=${seed}: ${error.message}${kind} (replay: ZKTS_STACK_SEED=${seed})`);
        }
        continue;
      }
      for (const [k, v] of Object.entries(sim.stats)) total[k as keyof SimStats] = (total[k as keyof SimStats] ?? 0) + v;
    }
    t.comment(`seeds=${count} ${JSON.stringify(total)} in ${Date.now() - started} ms`);
    t.equal(failed, 0, 'every seed keeps the invariants and converges');
    // The runs must exercise the stack, or the checks above prove little.
    if (count >= 50 && failed === 0) {
      t.ok(total.established > count * 2 && total.crashes > count && total.partitions > count && total.pauses > count / 2, 'leaders changed under crashes, partitions and pauses');
      t.ok(total.commits > count * 20 && total.acked > count * 10, 'client writes were committed and acknowledged');
      t.ok(total.reads > count * 10 && total.syncReads > count, 'clients read and synced');
      t.ok(total.snaps > 0 && total.truncs > 0 && total.diffs > 0 && total.refused > 0, 'SNAP, TRUNC and DIFF syncs happened; a member behind a client refused it');
    }
  });

  t.test('a seed replays exactly', async (t) => {
    for (const seed of [3, 77]) {
      const a = runOne(seed, false);
      const b = runOne(seed, false);
      t.same(a.sim.traceLines(), b.sim.traceLines(), `seed=${seed}: the same trace twice`);
    }
  });
}
