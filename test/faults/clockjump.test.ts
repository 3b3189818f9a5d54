// Wall-clock jumps on one member (`clock:offset`, armed at run time): a minute forward and a minute
// back on the leader, then forward on a follower. Sessions live on (an ephemeral node stays, its
// session answers), nobody goes back to election, writes go on; only the stamps move (the mtime of
// a node created meanwhile follows the leader's clock, which makes txn times).
import t from 'tap';
import { CreateFlag, Err } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import { monotonicNowMs } from '../../src/server/clock';
import { ZkClient } from '../util/client';
import { fourLetterWord } from '../util/servers';
import { HOST } from '../quorum/members';
import { checkConverged, ProcEnsemble, Writers } from './procensemble';

const SESSION_TIMEOUT_MS = 6000;
/** Longer than the session timeout and syncLimit (2.5 s): a jump that broke either would show. */
const WINDOW_MS = 7000;
const JUMP_MS = 60_000;
/** How far a stamp may be from the expected time: the write's own latency and the test's. */
const STAMP_SLACK_MS = 5000;

t.test('a minute forward and back on one member: sessions live, no election, only the stamps move', async (t) => {
  const e = await ProcEnsemble.create(t);
  await Promise.all([1, 2, 3].map((sid) => e.start(sid)));
  const leader = await e.leader(2);
  const [f] = [1, 2, 3].filter((s) => s !== leader);
  const w = new Writers(e, '/w', 50);
  t.teardown(() => w.stop());
  await w.more(20);
  // A session on the follower holding an ephemeral node; its client pings every 2 s.
  const holder = await ZkClient.connect(HOST, e.clientPort(f), { timeoutMs: SESSION_TIMEOUT_MS });
  t.teardown(() => holder.destroy());
  t.equal((await holder.create('/eph-clock', null, CreateFlag.EPHEMERAL)).header.err, Err.OK);
  const stamper = await ZkClient.connect(HOST, e.clientPort(leader), { timeoutMs: SESSION_TIMEOUT_MS });
  t.teardown(() => stamper.destroy());

  const lookingCounts = async () => Promise.all([1, 2, 3].map(async (sid) => /zk_looking_count\t(\d+)/.exec(await fourLetterWord(HOST, e.clientPort(sid), 'mntr'))?.[1]));
  const modes = async () => Promise.all([1, 2, 3].map((sid) => e.mode(sid)));
  const looking0 = await lookingCounts();
  const modes0 = await modes();
  t.ok(looking0.every((c) => c !== undefined), `looking counts ${looking0.join(', ')}`);

  const stampOf = async (p: string): Promise<number> => {
    t.equal((await stamper.create(p)).header.err, Err.OK, `create ${p}`);
    const r = await stamper.exists(p);
    return Number(R.decodeExistsResponse(r.reader).stat.mtime);
  };
  const jump = async (sid: number, offsetMs: number, label: string) => {
    const hits = () => e.members[sid - 1]!.log().split(`zkts: failpoint clock:offset hit: the wall clock runs ${offsetMs} ms off`).length;
    const before = hits();
    await e.arm(sid, `clock:offset=${offsetMs >= 0 ? '+' : ''}${offsetMs}`);
    t.equal(hits(), before + 1, `member ${sid}: ${label}`);
    const start = monotonicNowMs();
    const acked = w.acked.length;
    while (monotonicNowMs() - start < WINDOW_MS) await w.more(1);
    t.ok(w.acked.length > acked, `${w.acked.length - acked} writes acknowledged in the ${WINDOW_MS} ms after the jump`);
    t.notOk(holder.closed, 'the holder\'s connection is open');
    t.equal((await holder.exists('/eph-clock')).header.err, Err.OK, 'its session answers');
    const other = await ZkClient.connect(HOST, e.clientPort(leader));
    const eph = await other.exists('/eph-clock');
    t.equal(eph.header.err, Err.OK, 'its ephemeral node is there: the session did not expire');
    other.destroy();
    t.same(await modes(), modes0, 'every member in the role it had');
    t.same(await lookingCounts(), looking0, 'no member went back to election');
  };

  await jump(leader, JUMP_MS, 'the leader a minute forward');
  const fwd = (await stampOf('/stamp-forward')) - Date.now();
  t.ok(Math.abs(fwd - JUMP_MS) < STAMP_SLACK_MS, `mtime ${fwd} ms from now: the leader's clock stamps it`);
  await jump(leader, -JUMP_MS, 'the leader a minute back');
  const back = (await stampOf('/stamp-back')) - Date.now();
  t.ok(Math.abs(back + JUMP_MS) < STAMP_SLACK_MS, `mtime ${back} ms from now`);
  await jump(leader, 0, 'the leader on time');
  await jump(f, JUMP_MS, 'a follower a minute forward');
  const onTime = (await stampOf('/stamp-follower-jumped')) - Date.now();
  t.ok(Math.abs(onTime) < STAMP_SLACK_MS, `mtime ${onTime} ms from now: a follower's clock stamps nothing`);
  await jump(f, 0, 'the follower on time');

  // Closed, not dropped: the ephemeral node goes now rather than at some member's dump.
  await holder.close();
  await stamper.close();
  await w.stop();
  await checkConverged(t, e, w.acked);
  t.same(w.errors, [], 'no write answered with an error');
});
