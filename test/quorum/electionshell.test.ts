// The election shell on real sockets: zkts servers elect a leader among themselves as
// FastLeaderElection does (the best (epoch, zxid, sid) wins, a restarted or late server follows the
// running leader, the rest elect again when the leader goes), and a zkts server joining a running
// Apache ZooKeeper 3.8.0 ensemble decides what the ZooKeeper servers decided.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import t from 'tap';
import type { ElectionDecision } from '../../src/quorum/election';
import { ElectionShell } from '../../src/quorum/electionshell';
import { MajorityVerifier, type QuorumMember } from '../../src/quorum/verifier';
import { PeerState } from '../../src/quorum/vote';
import { waitFor } from '../util/client';
import { fourLetterWord, freePort, type RunningServer, startReferenceZooKeeper } from '../util/servers';

const HOST = '127.0.0.1';
const DECIDE_MS = 15_000;
const log = pino({ level: 'silent' });

async function members(n: number): Promise<QuorumMember[]> {
  const out: QuorumMember[] = [];
  for (let sid = 1; sid <= n; sid++) out.push({ sid: BigInt(sid), host: HOST, quorumPort: await freePort(), electionPort: await freePort(), type: 'participant' });
  return out;
}

function shell(t: { teardown(f: () => unknown): void }, sid: bigint, ms: QuorumMember[]): ElectionShell {
  const s = new ElectionShell({ mySid: sid, verifier: new MajorityVerifier(ms, 0n), learnerType: 'participant', tickTimeMs: 2000, syncLimitTicks: 5, logger: log });
  t.teardown(() => s.close());
  return s;
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const stateName = (s: PeerState) => ['LOOKING', 'FOLLOWING', 'LEADING', 'OBSERVING'][s];

t.test('three zkts servers elect the largest sid when their histories are equal', async (t) => {
  const ms = await members(3);
  const shells = ms.map((m) => shell(t, m.sid, ms));
  for (const s of shells) await s.start();
  const decisions = await within(Promise.all(shells.map((s) => s.lookForLeader(0n, 0n))), DECIDE_MS, 'decisions');
  t.same(decisions.map((d) => d.vote.leader), [3n, 3n, 3n], 'all follow 3');
  t.same(decisions.map((d) => stateName(d.state)), ['FOLLOWING', 'FOLLOWING', 'LEADING']);
  t.same(new Set(decisions.map((d) => d.electionEpoch)).size, 1, 'in one round');
});

t.test('the longest history wins: a higher zxid beats a larger sid, a higher epoch beats a higher zxid', async (t) => {
  const ms = await members(3);
  const shells = ms.map((m) => shell(t, m.sid, ms));
  for (const s of shells) await s.start();
  let d = await within(Promise.all([shells[0].lookForLeader(0x100000009n, 1n), shells[1].lookForLeader(0x100000003n, 1n), shells[2].lookForLeader(0x100000003n, 1n)]), DECIDE_MS, 'zxid');
  t.same(d.map((x) => x.vote.leader), [1n, 1n, 1n], 'the server with zxid 0x100000009 leads');
  t.equal(d[0].state, PeerState.LEADING);
  // A new search of all three, as after the leader stepped down: the epoch now decides.
  d = await within(Promise.all([shells[0].lookForLeader(0x100000009n, 1n), shells[1].lookForLeader(0x200000001n, 2n), shells[2].lookForLeader(0x100000003n, 1n)]), DECIDE_MS, 'epoch');
  t.same(d.map((x) => x.vote.leader), [2n, 2n, 2n], 'the server of epoch 2 leads');
});

t.test('a server that starts late follows the running leader; when the leader goes the others elect again', async (t) => {
  const ms = await members(3);
  const [s1, s2, s3] = ms.map((m) => shell(t, m.sid, ms));
  await s1.start();
  await s2.start();
  const first = await within(Promise.all([s1.lookForLeader(0n, 0n), s2.lookForLeader(0n, 0n)]), DECIDE_MS, 'two of three');
  t.same(first.map((d) => d.vote.leader), [2n, 2n], 'a quorum of two elects 2');
  // Both take up their roles: the settled votes carry the new epoch.
  s1.settled(PeerState.FOLLOWING, { ...first[0].vote, peerEpoch: 1n });
  s2.settled(PeerState.LEADING, { ...first[1].vote, peerEpoch: 1n });
  await s3.start();
  const late = await within(s3.lookForLeader(0n, 0n), DECIDE_MS, 'late joiner');
  t.equal(late.vote.leader, 2n, 'the late server follows 2 although its own sid is larger');
  t.equal(late.state, PeerState.FOLLOWING);
  t.not(late.via, 'looking', 'from the settled servers answers, not from its own proposal');
  s3.settled(PeerState.FOLLOWING, { ...late.vote, peerEpoch: 1n });
  await s2.close();
  const again = await within(Promise.all([s1.lookForLeader(0x100000004n, 1n), s3.lookForLeader(0x100000004n, 1n)]), DECIDE_MS, 'after the leader left');
  t.same(again.map((d) => d.vote.leader), [3n, 3n], 'the two left elect 3');
  t.equal(again[1].state, PeerState.LEADING);
});

t.test('a server that missed reconfigs takes the newer configuration it hears as its own before it decides, so it knows the leader', async (t) => {
  // 1, 2 and 3 run configuration {1,2,3} of version 0x100000003 under leader 3; server 4 starts with
  // an old one, {1,2,4} of version 0, which does not know 3. It hears the newer configuration from
  // 1 and 2, takes it (ZooKeeper's processReconfig from the election) and follows 3: the member
  // must learn that configuration too, or it cannot find the leader it elected.
  const ms = await members(4);
  const current = new MajorityVerifier(ms.slice(0, 3), 0x100000003n);
  const old = new MajorityVerifier([ms[0], ms[1], ms[3]], 0n);
  const shells = ms.slice(0, 3).map((m) => {
    const s = new ElectionShell({ mySid: m.sid, verifier: current, learnerType: 'participant', tickTimeMs: 2000, syncLimitTicks: 5, logger: log });
    t.teardown(() => s.close());
    return s;
  });
  for (const s of shells) await s.start();
  const first = await within(Promise.all(shells.map((s) => s.lookForLeader(0x100000003n, 1n))), DECIDE_MS, 'three of the current configuration');
  t.same(first.map((d) => d.vote.leader), [3n, 3n, 3n]);
  first.forEach((d, i) => shells[i].settled(d.state, { ...d.vote, peerEpoch: 1n }));
  const heard: MajorityVerifier[] = [];
  const late = new ElectionShell({
    mySid: 4n,
    verifier: old,
    learnerType: 'participant',
    tickTimeMs: 2000,
    syncLimitTicks: 5,
    logger: log,
    onConfigHeard: (qv) => heard.push(qv as MajorityVerifier),
  });
  t.teardown(() => late.close());
  await late.start();
  const d = await within(late.lookForLeader(0x100000001n, 1n), DECIDE_MS, 'the server with the old configuration');
  t.equal(d.vote.leader, 3n, 'it follows 3, a member only the newer configuration has');
  t.equal(d.state, PeerState.FOLLOWING);
  t.same(
    heard.map((qv) => [qv.version, [...qv.members.keys()].sort()]),
    [[0x100000003n, [1n, 2n, 3n]]],
    'the newer configuration was handed to the member once, before the decision',
  );
});

t.test('live ZooKeeper 3.8.0: a zkts server joining a running ensemble decides what ZooKeeper decided, and they elect together', async (t) => {
  const ms = await members(3);
  const servers: RunningServer[] = [];
  t.teardown(async () => {
    for (const s of servers) await s.stop();
  });
  const start = (m: QuorumMember) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `zk-elect-${m.sid}-`));
    fs.writeFileSync(path.join(dataDir, 'myid'), `${m.sid}\n`);
    t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const extraConfig: Record<string, string> = { dataDir, initLimit: '10', syncLimit: '5', '4lw.commands.whitelist': '*' };
    for (const x of ms) extraConfig[`server.${x.sid}`] = `${HOST}:${x.quorumPort}:${x.electionPort}`;
    return startReferenceZooKeeper({ extraConfig });
  };
  const launched = await Promise.allSettled([start(ms[0]), start(ms[1])]);
  for (const r of launched) if (r.status === 'fulfilled') servers.push(r.value);
  for (const r of launched) if (r.status === 'rejected') throw r.reason;
  const modes = await Promise.all(servers.map(async (s) => /Mode: (\w+)/.exec(await fourLetterWord(HOST, s.port, 'srvr'))![1]));
  const leader = BigInt(modes.indexOf('leader') + 1);
  t.ok(leader === 1n || leader === 2n, 'ZooKeeper 1 and 2 elected one of them');

  const ours = shell(t, 3n, ms);
  await ours.start();
  const d: ElectionDecision = await within(ours.lookForLeader(0n, 0n), DECIDE_MS, 'zkts joins');
  t.equal(d.vote.leader, leader, 'zkts follows the leader ZooKeeper elected');
  t.equal(d.state, PeerState.FOLLOWING);
  t.equal(d.vote.peerEpoch, 1n, 'at the epoch ZooKeeper established');
  ours.settled(PeerState.FOLLOWING, d.vote);

  // The ZooKeeper leader goes: the ZooKeeper server left and zkts elect together. ZooKeeper's
  // history is longer (epoch 1), so it leads, and both sides say so.
  const survivorIndex = leader === 1n ? 1 : 0;
  const survivor = servers[survivorIndex];
  await servers[1 - survivorIndex].stop();
  const again = await within(ours.lookForLeader(0n, 0n), DECIDE_MS, 'the second election');
  t.equal(again.vote.leader, BigInt(survivorIndex + 1), 'zkts follows the surviving ZooKeeper server');
  await waitFor(() => /LEADING - LEADER ELECTION TOOK/.test(survivor.log()), 'ZooKeeper leads', DECIDE_MS);
  t.pass('the ZooKeeper server took the lead that zkts voted for');
});

t.test('multiAddress: each server knows its peers\' first election address by a dead port; they elect over the second', async (t) => {
  const HOST2 = '127.0.0.2';
  const real: QuorumMember[] = [];
  const dead = new Map<bigint, number>();
  for (let sid = 1n; sid <= 3n; sid++) {
    const first = { host: HOST, quorumPort: await freePort(), electionPort: await freePort() };
    const second = { host: HOST2, quorumPort: await freePort(), electionPort: await freePort() };
    real.push({ sid, ...first, type: 'participant', addresses: [first, second] });
    dead.set(sid, await freePort());
  }
  // Server `sid`'s view: itself with both addresses, its peers with a dead first election port.
  const viewOf = (sid: bigint): QuorumMember[] =>
    real.map((m) => {
      if (m.sid === sid) return m;
      const first = { ...m.addresses![0], electionPort: dead.get(m.sid)! };
      return { ...m, electionPort: first.electionPort, addresses: [first, m.addresses![1]] };
    });
  const shells = real.map((m) => {
    const s = new ElectionShell({ mySid: m.sid, verifier: new MajorityVerifier(viewOf(m.sid), 0n), learnerType: 'participant', tickTimeMs: 2000, syncLimitTicks: 5, logger: log, multiAddressEnabled: true });
    t.teardown(() => s.close());
    return s;
  });
  for (const s of shells) await s.start();
  const decisions = await within(Promise.all(shells.map((s) => s.lookForLeader(0n, 0n))), DECIDE_MS, 'decisions');
  t.same(decisions.map((d) => d.vote.leader), [3n, 3n, 3n], 'all follow 3');
  t.same(decisions.map((d) => stateName(d.state)), ['FOLLOWING', 'FOLLOWING', 'LEADING']);
  t.equal(new Set(decisions.map((d) => d.electionEpoch)).size, 1, 'in one round');
});
