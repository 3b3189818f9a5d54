// Disk faults armed at run time in one member of a 3-member ensemble of processes under write
// load: a slow fsync (the ensemble commits on), a torn last write (a power cut mid-write: the
// restart cuts the torn record, named with its offset, and the member catches up), ENOSPC and EIO
// (the member exits with code 10 as a standalone server does, and its restart catches up). After
// each, every acknowledged write is on every member and the trees are identical.
import t, { type Test } from 'tap';
import { monotonicNowMs } from '../../src/server/clock';
import { checkConverged, failpointLine, ProcEnsemble, Writers } from './procensemble';

async function ensemble(t: Test, extra: Record<string, string> = {}) {
  const e = await ProcEnsemble.create(t, extra);
  await Promise.all([1, 2, 3].map((sid) => e.start(sid)));
  const leader = await e.leader(2);
  const followers = [1, 2, 3].filter((s) => s !== leader);
  const w = new Writers(e);
  t.teardown(() => w.stop());
  await w.more(30);
  return { e, leader, followers, w };
}

t.test('fsync:slow: with one slow follower the ensemble commits at its pace; with two, at the disk\'s', async (t) => {
  // A proposal that comes while a slow fsync runs is acked after that one and its own: up to twice
  // the slow fsync (3 s). The leader drops a follower whose oldest proposal is unacked for syncLimit
  // (ZooKeeper's transaction timeout too): 10 ticks of 500 ms keep both followers in, where 5 made
  // the leader drop both and the ensemble go through elections at the disk's pace (12-37 s).
  const { e, followers, w } = await ensemble(t, { syncLimit: '10' });
  const [f, g] = followers;
  await e.arm(f, 'fsync:slow=1500');
  let start = monotonicNowMs();
  await w.more(60);
  const oneSlowMs = monotonicNowMs() - start;
  t.ok(failpointLine(e.members[f - 1]!.log(), 'fsync:slow'), `member ${f}'s fsyncs are slow`);
  t.comment(`60 writes with one slow follower: ${Math.round(oneSlowMs)} ms`);
  await e.arm(g, 'fsync:slow=1500');
  start = monotonicNowMs();
  await w.more(6);
  const twoSlowMs = monotonicNowMs() - start;
  t.ok(failpointLine(e.members[g - 1]!.log(), 'fsync:slow'), `member ${g}'s too`);
  // A commit needs a follower's ACK, which waits for its fsync. The 3 writers' next writes may ride
  // on a slow fsync that began before the clock started (3 took 1382 ms once); 6 writes take two
  // rounds, the second of them a whole slow fsync at least.
  t.ok(twoSlowMs >= 1400, `6 writes with both followers slow took ${Math.round(twoSlowMs)} ms: a commit waits for a slow fsync`);
  await e.arm(f, '');
  await e.arm(g, '');
  await w.more(30);
  await w.stop();
  t.same(e.running(), [1, 2, 3], 'nobody left the ensemble');
  await checkConverged(t, e, w.acked);
  t.same(w.errors, [], 'no write answered with an error');
});

t.test('write:torn: a power cut mid-write; the restart cuts the torn record and catches up', async (t) => {
  const { e, followers, w } = await ensemble(t);
  const [f] = followers;
  // All of the write but its last byte reaches the file: its last record is torn whatever its size.
  await e.arm(f, 'write:torn=1@1x1');
  const exit = await e.exitOf(f);
  t.equal(exit.signal, 'SIGKILL', `member ${f} killed itself`);
  const line = failpointLine(exit.log, 'write:torn');
  t.ok(line, 'at write:torn');
  t.comment(line);
  await w.more(30);
  const s = await e.start(f);
  await e.waitMode(f, 'follower');
  const torn = s.log().split('\n').find((l) => l.includes('truncating a torn record at the end of the txn log'));
  t.ok(torn, 'the restart names the torn record');
  t.match(torn, /"file":"[^"]+log\.[0-9a-f]+","offset":\d+/, 'with its file and offset');
  t.comment(torn);
  await w.more(30);
  await w.stop();
  await checkConverged(t, e, w.acked);
  t.same(w.errors, [], 'no write answered with an error');
});

for (const point of ['write:enospc', 'fsync:eio']) {
  t.test(`${point} on a follower: it exits with code 10; its restart catches up`, async (t) => {
    const { e, followers, w } = await ensemble(t);
    const [f] = followers;
    await e.arm(f, `${point}@1x1`);
    const exit = await e.exitOf(f);
    t.equal(exit.code, 10, 'exit code 10');
    t.ok(failpointLine(exit.log, point), `at ${point}`);
    const fatal = exit.log.split('\n').filter((l) => l.includes('"level":60'));
    t.equal(fatal.length, 1, 'one fatal line');
    t.match(fatal[0], /Severe unrecoverable error/);
    await w.more(30);
    await e.start(f);
    await e.waitMode(f, 'follower');
    await w.more(30);
    await w.stop();
    await checkConverged(t, e, w.acked);
    t.same(w.errors, [], 'no write answered with an error');
  });
}
