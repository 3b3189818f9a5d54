// The moment of ZOOKEEPER-4643, -4646 and -3911: a follower syncing with a leader of a NEW epoch,
// by DIFF, crashes inside NEWLEADER; afterwards it holds the newest currentEpoch of the ensemble,
// so an election between it and the old leader makes it the leader, and its log decides what
// the ensemble keeps. Had it lost the txns of its sync (ZooKeeper 3.8.0 logged them after or
// while it answered NEWLEADER, and wrote currentEpoch first), the writes acknowledged while it was
// down would be truncated from every member.
import type { Test } from 'tap';
import { checkConverged, failpointLine, ProcEnsemble, Writers } from './procensemble';

type Tap = Test;

export async function crashInNewEpochSync(t: Tap, point: string): Promise<void> {
  const e = await ProcEnsemble.create(t);
  await Promise.all([1, 2, 3].map((sid) => e.start(sid)));
  const leader = await e.leader(2);
  const [f, g] = [1, 2, 3].filter((s) => s !== leader);
  t.comment(`leader ${leader}; follower ${f} crashes in its sync; ${g} leads the new epoch`);
  const w = new Writers(e);
  t.teardown(() => w.stop());
  await w.more(30);
  await e.kill(f);
  // Committed by the leader and g alone: f gets them only from its sync.
  const before = w.acked.length;
  await w.more(60);
  const whileDown = w.acked.slice(before);
  await e.kill(leader);
  // g alone has no quorum; f, armed, comes back: g (the newer log) leads a new epoch and sends f a
  // DIFF of what it missed; f dies at the point.
  const exit = await e.startToCrash(f, `${point}@1x1`);
  t.equal(exit.signal, 'SIGKILL', `member ${f} killed itself`);
  const line = failpointLine(exit.log, point);
  t.ok(line, `at ${point}`);
  t.comment(line);
  if (point === 'crash:after-accepted-epoch') {
    // Discovery: acceptedEpoch is the new epoch, currentEpoch and the log are the old ones; the
    // old leader (newer log) and f elect the old leader, and f syncs from it.
    t.match(line, /"acceptedEpoch":"\d+"/, 'the new epoch accepted on disk, ACKEPOCH not sent');
    await e.kill(g);
    await Promise.all([e.start(f), e.start(leader)]);
    await e.waitMode(leader, 'leader');
    await e.waitMode(f, 'follower');
  } else {
    t.match(exit.log, /"syncMode":"DIFF"/, 'its sync was a DIFF');
    // From the failpoint's line: log lines written just before a SIGKILL may not reach the output.
    const logged = Number(/"syncTxnsLogged":(\d+)/.exec(line ?? '')?.[1] ?? 0);
    t.ok(logged >= 60, `NEWLEADER made the ${logged} txns of the DIFF durable before the point`);
    // The quorum that formed the new epoch is gone. f (currentEpoch of the new epoch) and the old
    // leader (older currentEpoch, every acknowledged write) elect f.
    await e.kill(g);
    await Promise.all([e.start(f), e.start(leader)]);
    await e.waitMode(f, 'leader');
    t.equal(await e.mode(f), 'leader', `member ${f} leads after its crash: its log is the ensemble's history`);
  }
  await w.more(20);
  await e.start(g);
  await w.more(20);
  await w.stop();
  t.ok(whileDown.length >= 60, `${whileDown.length} writes acknowledged while member ${f} was down`);
  await checkConverged(t, e, w.acked);
  t.same(w.errors, [], 'no write answered with an error');
}
