// ZOOKEEPER-3642: a leader that died after sending a learner its SNAP and before NEWLEADER left
// ZooKeeper's learner with the leader's tree in memory only (the snapshot was written at
// NEWLEADER); the learner kept that tree across the election, the next leader synced it by DIFF
// from the snapshot's zxid, and a restart of the learner lost everything up to that zxid. zkts
// writes the received snapshot durably before it installs it, and every role ends with the tree
// reloaded from disk: the crash point `crash:after-snap-sent` (the leader has written the SNAP and
// its stream, not NEWLEADER) loses nothing.
import t from 'tap';
import { checkConverged, failpointLine, ProcEnsemble, Writers } from './procensemble';

t.test('ZOOKEEPER-3642: the leader is killed after a SNAP, before NEWLEADER', async (t) => {
  // No DIFF from the txn log, and a follower more than the 500 txns of the committed log behind:
  // its sync is a SNAP.
  const e = await ProcEnsemble.create(t, {}, { 'zookeeper.snapshotSizeFactor': '-1' });
  await Promise.all([1, 2, 3].map((sid) => e.start(sid)));
  const leader = await e.leader(2);
  const [f, g] = [1, 2, 3].filter((s) => s !== leader);
  t.comment(`leader ${leader} dies after sending member ${f} a SNAP`);
  const w = new Writers(e);
  t.teardown(() => w.stop());
  await w.more(20);
  await e.kill(f);
  await w.more(600);
  await e.arm(leader, 'crash:after-snap-sent@1x1');
  await e.start(f);
  const exit = await e.exitOf(leader);
  t.equal(exit.signal, 'SIGKILL', `leader ${leader} killed itself`);
  const line = failpointLine(exit.log, 'crash:after-snap-sent');
  t.ok(line, 'at crash:after-snap-sent');
  t.comment(line);
  // f got the whole snapshot and installed it (the state ZooKeeper kept in memory only), then
  // syncs again with g's new epoch.
  await e.waitMode(f, 'follower');
  const fLog = e.members[f - 1]!.log();
  t.match(fLog, /"syncMode":"SNAP"/, `member ${f} was sent a SNAP`);
  t.match(fLog, /SNAP: installed the leader snapshot/, `member ${f} installed it before NEWLEADER`);
  const syncs = [...fLog.matchAll(/"syncMode":"(\w+)"/g)].map((m) => m[1]);
  t.ok(syncs.length >= 2, `then synced with member ${g}: ${syncs.join(', ')}`);
  t.comment(`member ${(await e.mode(g)) === 'leader' ? g : f} leads the next epoch`);
  await w.more(20);
  // The restart that lost ZooKeeper's data.
  await e.kill(f);
  await e.start(f);
  await e.waitMode(f, 'follower');
  await w.more(20);
  await e.start(leader);
  await w.more(20);
  await w.stop();
  await checkConverged(t, e, w.acked);
  t.same(w.errors, [], 'no write answered with an error');
});
