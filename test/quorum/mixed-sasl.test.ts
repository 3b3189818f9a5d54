// Quorum SASL (DIGEST-MD5) in mixed ensembles of Apache ZooKeeper 3.8.0 and zkts processes.
// 1. SASL on and required everywhere, 2 ZooKeeper + 1 zkts and 1 ZooKeeper + 2 zkts: the leader is
//    killed twice so that each side leads while the other follows; writes through every member;
//    identical trees at the end.
// 2. A wrong QuorumLearner password on one member: a zkts member among ZooKeepers, the same on a
//    ZooKeeper member among ZooKeepers (the reference behaviour), and a ZooKeeper member among zkts
//    members (zkts refusing it). Each time the other two serve, the third cannot join, and the side
//    that checked the password logs the failure.
// 3. The rolling-upgrade steps: enableSasl alone still talks to a member without SASL; members that
//    require it as learners authenticate to members that only enable it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { type EnsembleMember, type MemberKind, type ReferenceEnsemble, startReferenceEnsemble } from '../util/ensemble';
import { HOST, settledZxids } from './members';
import { createThrough, expectIdenticalTrees, side } from './mixedchecks';

const JAAS = (password: string) => `QuorumServer {
  org.apache.zookeeper.server.auth.DigestLoginModule required
  user_test="test";
};
QuorumLearner {
  org.apache.zookeeper.server.auth.DigestLoginModule required
  username="test"
  password="${password}";
};
`;
const REQUIRED = { 'quorum.auth.enableSasl': 'true', 'quorum.auth.learnerRequireSasl': 'true', 'quorum.auth.serverRequireSasl': 'true' };
const BASE = { tickTime: '500', '4lw.commands.whitelist': '*' };
const WAIT_MS = 30_000;
const POLL_MS = 100;


function jaasFiles(t: Test): { good: string; wrong: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-qsasl-jaas-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const good = path.join(dir, 'good.conf');
  const wrong = path.join(dir, 'wrong.conf');
  fs.writeFileSync(good, JAAS('test'));
  fs.writeFileSync(wrong, JAAS('not-the-password'));
  return { good, wrong };
}
const flags = (jaas: string) => ['-Xmx128m', `-Djava.security.auth.login.config=${jaas}`];

/** Waits (bounded) until `pred` holds; fails with `what` otherwise. */
async function until(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

const count = (text: string, needle: string) => text.split(needle).length - 1;


const SHAPES: Array<{ name: string; members: MemberKind[] }> = [
  { name: '2 ZooKeeper + 1 zkts', members: ['3.8.0', '3.8.0', 'zkts'] },
  { name: '1 ZooKeeper + 2 zkts', members: ['zkts', 'zkts', '3.8.0'] },
];

for (const shape of SHAPES) {
  t.test(`${shape.name}, quorum SASL required everywhere: each side leads and follows; identical trees`, async (t) => {
    const { good } = jaasFiles(t);
    const ens = await startReferenceEnsemble({ members: shape.members, extraConfig: { ...BASE, ...REQUIRED }, jvmFlags: flags(good) });
    t.teardown(() => ens.stop());
    const logs: Record<number, string> = {};
    const keepLog = (m: EnsembleMember) => (logs[m.sid] = (logs[m.sid] ?? '') + m.log());
    const acked: string[] = [];
    const round = async (tag: string) => {
      for (const m of ens.members.filter((x) => x.isRunning())) await createThrough(t, m, `/sasl-${tag}-${m.sid}`, tag, acked);
    };
    const largestRunningSid = () => Math.max(...ens.members.filter((x) => x.isRunning()).map((x) => x.sid));
    const first = await ens.waitForQuorum();
    await round('a');
    keepLog(first);
    await first.kill();
    const second = await ens.waitForQuorum();
    t.equal(second.sid, largestRunningSid(), `${side(first)} ${first.sid} killed: ${side(second)} ${second.sid} leads`);
    await round('b');
    await first.start();
    await ens.waitForQuorum();
    t.equal((await first.srvr()).mode, 'follower', `the restarted ${side(first)} ${first.sid} follows (it authenticated again)`);
    await round('c');
    keepLog(second);
    await second.kill();
    const third = await ens.waitForQuorum();
    t.equal(third.sid, largestRunningSid(), `${side(second)} ${second.sid} killed: ${side(third)} ${third.sid} leads`);
    t.equal(new Set([first, second, third].map(side)).size, 2, 'each side led while the other followed');
    await round('d');
    await second.start();
    await ens.waitForQuorum();
    await round('e');
    await expectIdenticalTrees(t, ens.members, acked);
    const zxids = await settledZxids(ens.members.map((m) => m.clientPort));
    t.equal(new Set(zxids).size, 1, `the same zxid everywhere (${zxids.join(', ')})`);

    // The exchanges really ran: zkts logged them as learner and as server, ZooKeeper too.
    for (const m of ens.members) keepLog(m);
    const zkts = ens.members.filter((m) => m.kind === 'zkts').map((m) => logs[m.sid]).join('\n');
    const zk = ens.members.filter((m) => m.kind !== 'zkts').map((m) => logs[m.sid]).join('\n');
    t.ok(zkts.includes('quorum SASL: authenticated to the leader'), 'a zkts follower authenticated to its leader');
    t.ok(zkts.includes('quorum SASL: authenticated the learner'), 'a zkts leader authenticated its learners');
    t.ok(zkts.includes('quorum SASL: authenticated the connecting server'), 'zkts authenticated election connections');
    t.ok(zk.includes('Successfully authenticated learner: authenticationID=test;  authorizationID=test.'), 'ZooKeeper authenticated peers');
    t.notOk(/SASL authentication failed|failed to authenticate/i.test(zkts), 'no failed exchange on the zkts side');
  });
}

interface WrongCase {
  name: string;
  members: MemberKind[];
  /** The side whose password check refuses member 3. */
  checker: 'zkts' | 'ZooKeeper';
}
const WRONG: WrongCase[] = [
  { name: 'a zkts member among ZooKeepers', members: ['3.8.0', '3.8.0', 'zkts'], checker: 'ZooKeeper' },
  { name: 'a ZooKeeper member among ZooKeepers (the reference)', members: ['3.8.0', '3.8.0', '3.8.0'], checker: 'ZooKeeper' },
  { name: 'a ZooKeeper member among zkts members', members: ['zkts', 'zkts', '3.8.0'], checker: 'zkts' },
];

// What each side logs when it refuses a peer's password, and what the refused side logs.
const REFUSED_LINE = { ZooKeeper: 'Failed to authenticate using SASL', zkts: 'failed to authenticate the connecting server' };
const REFUSED_REASON = 'Mismatched response';
const LEARNER_FAILED_LINE = { ZooKeeper: 'Authentication failed against server addr', zkts: 'quorum SASL authentication failed' };

for (const c of WRONG) {
  t.test(`a wrong QuorumLearner password on ${c.name}: it cannot join; the other two serve`, async (t) => {
    const { good, wrong } = jaasFiles(t);
    const ens: ReferenceEnsemble = await startReferenceEnsemble({
      members: c.members,
      extraConfig: { ...BASE, ...REQUIRED },
      jvmFlags: flags(good),
      memberJvmFlags: { 3: flags(wrong) },
      start: false,
    });
    t.teardown(() => ens.stop());
    const [m1, m2, m3] = ens.members;
    await Promise.all([m1.start(), m2.start(), m3.start()]);
    await ens.waitForQuorum({ members: [m1, m2] });
    const acked: string[] = [];
    await createThrough(t, m1, `/sasl-w-${m1.sid}`, 'w', acked);
    await createThrough(t, m2, `/sasl-w-${m2.sid}`, 'w', acked);
    // Member 3 connects back to the smaller sids and is refused each time; wait until both refused it twice.
    await until(() => [m1, m2].every((m) => count(m.log(), REFUSED_LINE[c.checker]) >= 2), `members 1 and 2 refusing member 3 (${REFUSED_LINE[c.checker]})`);
    for (const m of [m1, m2]) t.ok(m.log().includes(REFUSED_REASON), `${side(m)} ${m.sid} logs why: ${REFUSED_REASON}`);
    const m3side = side(m3) as 'zkts' | 'ZooKeeper';
    t.ok(m3.log().includes(LEARNER_FAILED_LINE[m3side]), `member 3 (${m3side}) logs its failed authentication: ${LEARNER_FAILED_LINE[m3side]}`);
    t.equal((await m3.srvr()).mode, undefined, 'member 3 is not serving');
    t.same(
      [(await m1.srvr()).mode, (await m2.srvr()).mode].sort(),
      ['follower', 'leader'],
      'members 1 and 2 still lead and follow',
    );
    await expectIdenticalTrees(t, [m1, m2], acked);
  });
}

t.test('rolling upgrade steps: enableSasl alone talks to a member without SASL; learners that require it authenticate to members that only enable it', async (t) => {
  const { good } = jaasFiles(t);
  const steps: Array<{ name: string; members: MemberKind[]; configs: Array<Record<string, string>> }> = [
    {
      name: 'ZooKeeper without SASL, two zkts with enableSasl',
      members: ['3.8.0', 'zkts', 'zkts'],
      configs: [{}, { 'quorum.auth.enableSasl': 'true' }, { 'quorum.auth.enableSasl': 'true' }],
    },
    {
      name: 'zkts with enableSasl; ZooKeeper and zkts that also require SASL as learners',
      members: ['zkts', '3.8.0', 'zkts'],
      configs: [
        { 'quorum.auth.enableSasl': 'true' },
        { 'quorum.auth.enableSasl': 'true', 'quorum.auth.learnerRequireSasl': 'true' },
        { 'quorum.auth.enableSasl': 'true', 'quorum.auth.learnerRequireSasl': 'true' },
      ],
    },
  ];
  for (const step of steps) {
    const ens = await startReferenceEnsemble({ members: step.members, extraConfig: BASE, jvmFlags: flags(good), start: false });
    try {
      // Each member's own quorum.auth.* (its zoo.cfg entries are taken when it starts).
      ens.members.forEach((m, i) => Object.assign(m.config, step.configs[i]));
      await Promise.all(ens.members.map((m) => m.start()));
      await ens.waitForQuorum();
      const acked: string[] = [];
      for (const m of ens.members) await createThrough(t, m, `/sasl-r-${m.sid}`, 'r', acked);
      await expectIdenticalTrees(t, ens.members, acked);
      const zktsLogs = ens.members.filter((m) => m.kind === 'zkts').map((m) => m.log()).join('\n');
      if (step.configs.some((cfg) => cfg['quorum.auth.learnerRequireSasl'] === 'true')) {
        t.ok(zktsLogs.includes('quorum SASL: authenticated'), `${step.name}: zkts ran the exchange`);
      } else {
        t.ok(zktsLogs.includes('keeping an unauthenticated') || zktsLogs.includes('an unauthenticated learner'), `${step.name}: zkts let the member without SASL on`);
      }
      t.pass(`${step.name}: all three serve`);
    } finally {
      await ens.stop();
    }
  }
});
