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
// With reconfig (a second batch): members keep a committed and a last-seen configuration on their
// disks (the committed one and `.dynamic.next` survive crashes), pass them to the cores, execute
// every Ready's seenConfig and activations, take the designated role at once after a reconfig
// ended theirs, and take a newer configuration heard in the election; a pool of 5-7 servers, some
// provisioned outside the configuration; an admin client asks the leader for reconfigs at random
// moments (add a server, remove one or the leader, a voter to observer and back, a new member
// set, now and then with a stale version), decided by reconfigrequest.ts and proposed as prep
// does. A server its own committed configuration leaves out refuses to start; an operator starts it
// again (the ensemble's newest configuration plus itself, its data kept) once a reconfig lists it.
// An election notification a partition kept is re-sent when the link comes back (peers.ts).
// Checked as well: one configuration per version, whoever activates
// it; a configuration activated by a leader or by COMMITANDACTIVATE/INFORMANDACTIVATE is held as
// its reconfig txn there (or is an epoch's versioning of the initial one); every commit on a
// quorum of each configuration it spans (the one in force, its own if a reconfig, and the old
// one when proposed while its leader's reconfig was outstanding); at the end every member of the
// last configuration runs, every running server holds the leader's committed configuration,
// which is the committed order's last, every activated version is a committed reconfig, and the
// trees are identical.
//
// ZKTS_STACK_SEED=N replays one seed and prints its whole trace (with ZKTS_STACK_RECONFIG=1, a
// reconfig seed); ZKTS_STACK_SEEDS=K and ZKTS_STACK_RECONFIG_SEEDS=K size the two batches.
import t from 'tap';
import { SimFailure, StackSim, type SimStats } from './stacksim/sim';

const one = process.env.ZKTS_STACK_SEED;
const reconfigOne = process.env.ZKTS_STACK_RECONFIG === '1';

function runOne(seed: number, fullTrace: boolean, reconfig = false): { sim: StackSim; error?: Error } {
  const sim = new StackSim(seed, fullTrace, { reconfig });
  try {
    sim.run();
    return { sim };
  } catch (e) {
    return { sim, error: e as Error };
  }
}

if (one !== undefined) {
  t.test(`seed=${one}`, async (t) => {
    const { sim, error } = runOne(Number(one), true, reconfigOne);
    t.comment(sim.traceLines().join('\n'));
    t.comment(JSON.stringify(sim.stats));
    t.error(error, 'the seed runs clean');
  });
} else {
  const count = Number(process.env.ZKTS_STACK_SEEDS ?? 300);
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

  const reconfigCount = Number(process.env.ZKTS_STACK_RECONFIG_SEEDS ?? 200);
  t.test(`${reconfigCount} seeds with reconfig`, async (t) => {
    const started = Date.now();
    const total: Record<keyof SimStats, number> = {} as Record<keyof SimStats, number>;
    let failed = 0;
    for (let seed = 1; seed <= reconfigCount; seed++) {
      const { sim, error } = runOne(seed, false, true);
      if (error !== undefined) {
        failed++;
        if (failed <= 3) {
          t.comment(sim.traceLines().slice(-120).join('\n'));
          const kind = error instanceof SimFailure ? '' : ` (${error.stack ?? ''})`;
          t.fail(`reconfig seed=${seed}: ${error.message}${kind} (replay: ZKTS_STACK_RECONFIG=1 ZKTS_STACK_SEED=${seed})`);
        }
        continue;
      }
      for (const [k, v] of Object.entries(sim.stats)) total[k as keyof SimStats] = (total[k as keyof SimStats] ?? 0) + v;
    }
    t.comment(`reconfig seeds=${reconfigCount} ${JSON.stringify(total)} in ${Date.now() - started} ms`);
    t.equal(failed, 0, 'every reconfig seed keeps the invariants and converges');
    if (reconfigCount >= 50 && failed === 0) {
      t.ok(total.reconfigsCommitted > reconfigCount && total.reconfigsRefused > 0, 'reconfigs were committed, and some refused');
      t.ok(total.activations > reconfigCount * 5 && total.designatedRoles > reconfigCount / 2, 'members activated configurations and took designated roles');
      t.ok(total.refusedStarts > 0 && total.configRestarts > 0, 'removed servers refused to start; elections restarted on newer configurations');
      t.ok(total.established > reconfigCount * 2 && total.crashes > reconfigCount && total.commits > reconfigCount * 20, 'under crashes and leader changes, with client writes');
    }
  });

  t.test('a seed replays exactly', async (t) => {
    for (const seed of [3, 77]) {
      for (const reconfig of [false, true]) {
        const a = runOne(seed, false, reconfig);
        const b = runOne(seed, false, reconfig);
        t.same(a.sim.traceLines(), b.sim.traceLines(), `seed=${seed}${reconfig ? ' with reconfig' : ''}: the same trace twice`);
      }
    }
  });
}
