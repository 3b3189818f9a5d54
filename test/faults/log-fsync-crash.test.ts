// A power cut between writing txns to the log and their fsync (`crash:before-log-fsync`): the
// member loses what it wrote since its last fsync, which it never acknowledged (a follower ACKs a
// proposal after its fsync; a leader counts its own ack only then). On a follower and on the
// leader, the member restarts, catches up, and no acknowledged write is lost.
import t from 'tap';
import { checkConverged, failpointLine, ProcEnsemble, Writers } from './procensemble';

for (const role of ['follower', 'leader'] as const) {
  t.test(`crash:before-log-fsync on the ${role}`, async (t) => {
    const e = await ProcEnsemble.create(t);
    await Promise.all([1, 2, 3].map((sid) => e.start(sid)));
    const leader = await e.leader(2);
    const victim = role === 'leader' ? leader : [1, 2, 3].find((s) => s !== leader)!;
    const w = new Writers(e);
    t.teardown(() => w.stop());
    await w.more(30);
    await e.arm(victim, 'crash:before-log-fsync@1x1');
    const exit = await e.exitOf(victim);
    t.equal(exit.signal, 'SIGKILL', `member ${victim} killed itself`);
    const line = failpointLine(exit.log, 'crash:before-log-fsync');
    t.ok(line, 'at crash:before-log-fsync');
    t.comment(line);
    t.ok(Number(/"unsyncedBytes":(\d+)/.exec(line ?? '')?.[1]) > 0, 'with written, unsynced txns lost');
    await w.more(30);
    await e.start(victim);
    await e.waitMode(victim, role === 'leader' ? 'follower' : 'follower');
    await w.more(30);
    await w.stop();
    await checkConverged(t, e, w.acked);
    t.same(w.errors, [], 'no write answered with an error');
  });
}
