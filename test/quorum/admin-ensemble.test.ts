// The operations surface of an ensemble member, differential: the same AdminServer commands, mntr
// and srvr on a ZooKeeper 3.8.0 ensemble and on a zkts ensemble, each of three participants and one
// observer. For each role (leader, follower, observer) the JSON answers must have the same keys
// and value types; leader_id, is_leader, the voting members and zabstate must say the same things;
// mntr must have the same keys; and the quorum counters must move by the same amounts when the
// same writes go through the quorum.
import { MNTR_KEYS_ADDED_IN_3_9 } from '../../src/admin/mntrkeys';
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as http from 'node:http';
import pino from 'pino';
import { AdminServer } from '../../src/admin/adminserver';
import { PrometheusMetrics } from '../../src/admin/metrics';
import { Err } from '../../src/protocol/constants';
import { waitFor, ZkClient } from '../util/client';
import { startReferenceEnsemble, type ReferenceEnsemble } from '../util/ensemble';
import { fourLetterWord, freePort } from '../util/servers';
import { HOST, memberPorts, mntrPairs, newDataDir, startZktsMember, type ZktsMember } from './members';

const WAIT_MS = 60_000;
const CHROMIUM = '/usr/bin/chromium';
const WRITES = 5;
const COMMANDS = ['leader', 'voting_view', 'observers', 'zabstate', 'configuration', 'server_stats', 'stats', 'learners', 'is_read_only'];

type Role = 'leader' | 'follower' | 'observer';

/** One member of either ensemble, as the test talks to it. */
interface Endpoint {
  sid: number;
  clientPort: number;
  adminPort: number;
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} on ${port}: no answer`)));
    req.on('error', reject);
  });
}

async function command(e: Endpoint, name: string): Promise<Record<string, unknown>> {
  const r = await get(e.adminPort, `/commands/${name}`);
  if (r.status !== 200) throw new Error(`${name} on member ${e.sid}: HTTP ${r.status}`);
  return JSON.parse(r.body) as Record<string, unknown>;
}

/** A JSON value's shape: keys (sorted) and value types, recursively; arrays by their first element. */
function shape(v: unknown, ignore: ReadonlySet<string> = new Set()): unknown {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length === 0 ? ['empty'] : [shape(v[0], ignore)];
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) if (!ignore.has(k)) out[k] = shape((v as Record<string, unknown>)[k], ignore);
    return out;
  }
  return typeof v;
}

async function mntr(e: Endpoint): Promise<Map<string, string>> {
  return new Map(mntrPairs(await fourLetterWord(HOST, e.clientPort, 'mntr', 5000)));
}

/**
 * mntr's keys, with the sid in a per-learner key made generic; zkts's own keys and 3.9's (the
 * reference is 3.8.0) left out, and the
 * per-namespace ones, which follow what each server counts as a read or write of a namespace
 * (README, "Metrics"), not the quorum.
 */
function mntrKeys(m: Map<string, string>): string[] {
  return [...m.keys()]
    .filter((k) => !k.startsWith('zk_zkts_') && !k.endsWith('_per_namespace') && !MNTR_KEYS_ADDED_IN_3_9.has(k.slice(3)))
    .map((k) => k.replace(/^zk_(avg|min|max|cnt|sum|p50|p95|p99|p999)_\d+_learner_handler/, 'zk_$1_N_learner_handler'))
    .filter((k, i, all) => all.indexOf(k) === i)
    .sort();
}

const num = (m: Map<string, string>, k: string) => Number(m.get(k));

async function roles(members: Endpoint[]): Promise<Map<Role, Endpoint>> {
  const out = new Map<Role, Endpoint>();
  for (const e of members) {
    const mode = /^Mode: (\w+)/m.exec(await fourLetterWord(HOST, e.clientPort, 'srvr', 5000))?.[1] as Role | undefined;
    if (mode && !out.has(mode)) out.set(mode, e);
  }
  return out;
}

/** What one ensemble answers, per role, before and after the same writes. */
interface Observed {
  json: Map<Role, Map<string, Record<string, unknown>>>;
  before: Map<Role, Map<string, string>>;
  after: Map<Role, Map<string, string>>;
  conf: Map<Role, string>;
  srvr: Map<Role, string>;
  leaderSid: number;
  observersAfterReset: Record<string, unknown>;
}

/** Bounded: a learner applies a commit shortly after the leader answered the write. */
async function waitForNode(c: ZkClient, path: string): Promise<void> {
  for (const deadline = Date.now() + WAIT_MS; (await c.exists(path)).header.err !== Err.OK; ) {
    if (Date.now() > deadline) throw new Error(`${path} never reached the learner`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function observe(t: Test, members: Endpoint[], leaderSid: number): Promise<Observed> {
  const byRole = await roles(members);
  t.same([...byRole.keys()].sort(), ['follower', 'leader', 'observer'], 'a leader, a follower and an observer');
  const json = new Map<Role, Map<string, Record<string, unknown>>>();
  const before = new Map<Role, Map<string, string>>();
  const conf = new Map<Role, string>();
  const srvr = new Map<Role, string>();
  for (const [role, e] of byRole) {
    const answers = new Map<string, Record<string, unknown>>();
    for (const c of COMMANDS) answers.set(c, await command(e, c));
    json.set(role, answers);
    conf.set(role, await fourLetterWord(HOST, e.clientPort, 'conf', 5000));
    srvr.set(role, await fourLetterWord(HOST, e.clientPort, 'srvr', 5000));
  }
  // The writes, through the leader, on sessions made before the counts are taken (a session is a
  // txn too); each learner then has them (a read through it after the leader answered).
  const leader = byRole.get('leader')!;
  const c = await ZkClient.connect(HOST, leader.clientPort);
  const learnerClients = [await ZkClient.connect(HOST, byRole.get('follower')!.clientPort), await ZkClient.connect(HOST, byRole.get('observer')!.clientPort)];
  try {
    for (const [role, e] of byRole) before.set(role, await mntr(e));
    for (let i = 0; i < WRITES; i++) t.equal((await c.create(`/admin-ensemble-${i}`, Buffer.from('x'))).header.err, Err.OK);
    for (const lc of learnerClients) await waitForNode(lc, `/admin-ensemble-${WRITES - 1}`);
    // The leader's session moves to the follower: the follower asks the leader (REVALIDATE).
    c.destroy();
    const moved = await ZkClient.connect(HOST, byRole.get('follower')!.clientPort, { sessionId: c.sessionId, passwd: c.passwd });
    t.equal(moved.sessionId, c.sessionId, 'the session reconnects through the follower');
    moved.destroy();
  } finally {
    c.destroy();
    for (const lc of learnerClients) lc.destroy();
  }
  const after = new Map<Role, Map<string, string>>();
  for (const [role, e] of byRole) after.set(role, await mntr(e));
  await command(leader, 'observer_connection_stat_reset');
  const observersAfterReset = await command(leader, 'observers');
  return { json, before, after, conf, srvr, leaderSid, observersAfterReset };
}

t.test('an ensemble member answers the admin commands, mntr and the quorum metrics as ZooKeeper 3.8 does', async (t) => {
  // ZooKeeper 3.8.0: sids 1-3 participants, sid 4 an observer, every AdminServer on.
  let ens: ReferenceEnsemble | undefined = await startReferenceEnsemble({
    members: ['3.8.0', '3.8.0', '3.8.0', '3.8.0'],
    start: false,
    extraConfig: { 'admin.enableServer': 'true', 'admin.serverAddress': HOST },
  });
  t.teardown(() => ens?.stop());
  const observerLine = ens.serverLines['server.4'] + ':observer';
  const zkEndpoints: Endpoint[] = [];
  for (const m of ens.members) {
    const adminPort = await freePort();
    m.config['server.4'] = observerLine;
    m.config['admin.serverPort'] = String(adminPort);
    zkEndpoints.push({ sid: m.sid, clientPort: m.clientPort, adminPort });
  }
  ens.members[3].config.peerType = 'observer';
  await Promise.all(ens.members.map((m) => m.start()));
  const zkLeader = await ens.waitForQuorum({ members: ens.members.slice(0, 3), timeoutMs: WAIT_MS });
  const observerUp = async () => (await ens!.members[3].srvr()).mode === 'observer';
  for (const deadline = Date.now() + WAIT_MS; !(await observerUp()); ) {
    if (Date.now() > deadline) throw new Error('the ZooKeeper observer does not serve');
    await new Promise((r) => setTimeout(r, 100));
  }
  const zk = await observe(t, zkEndpoints, zkLeader.sid);
  await ens.stop();
  ens = undefined;

  // zkts: the same shape, in process, each member with its AdminServer.
  const ports = await memberPorts(4);
  const adminPorts = [await freePort(), await freePort(), await freePort(), await freePort()];
  const members: ZktsMember[] = [];
  const admins: AdminServer[] = [];
  t.teardown(async () => {
    for (const a of admins) await a.stop();
    for (const m of members) await m.stop();
  });
  for (const sid of [1, 2, 3, 4]) {
    const extra = ['admin.enableServer=true', `admin.serverAddress=${HOST}`, `admin.serverPort=${adminPorts[sid - 1]}`];
    const m = await startZktsMember(sid, newDataDir(sid, (f) => t.teardown(f)), ports, extra, [4]);
    members.push(m);
    const admin = new AdminServer(m.server, pino({ level: 'silent' }));
    await admin.start();
    admins.push(admin);
  }
  await waitFor(() => members.every((m) => m.server.notServing === undefined && m.peer.role !== 'looking'), 'the zkts ensemble serving', WAIT_MS);
  const zktsLeader = members.find((m) => m.peer.role === 'leading')!;
  const zkts = await observe(
    t,
    members.map((m, i) => ({ sid: m.sid, clientPort: ports[i].client, adminPort: adminPorts[i] })),
    zktsLeader.sid,
  );

  for (const role of ['leader', 'follower', 'observer'] as const) {
    t.test(`${role}: the commands' keys and value types`, async (t) => {
      // Sizes and counts vary; which keys there are and their types do not.
      for (const c of COMMANDS) t.same(shape(zkts.json.get(role)!.get(c)), shape(zk.json.get(role)!.get(c)), c);
    });
    t.test(`${role}: what the commands say`, async (t) => {
      for (const [name, o] of [['ZooKeeper', zk], ['zkts', zkts]] as const) {
        const j = o.json.get(role)!;
        const leader = j.get('leader')!;
        t.equal(leader.leader_id, o.leaderSid, `${name}: leader_id`);
        t.equal(leader.is_leader, role === 'leader', `${name}: is_leader`);
        t.equal(leader.leader_ip, HOST, `${name}: leader_ip`);
        const view = j.get('voting_view')!.current_config as Record<string, Record<string, unknown>>;
        t.same(Object.keys(view).sort(), ['1', '2', '3'], `${name}: the voting members, not the observer`);
        t.same(Object.values(view).map((v) => v.learner_type), ['participant', 'participant', 'participant'], `${name}: learner types`);
        const zab = j.get('zabstate')!;
        t.equal(zab.zabstate, 'broadcast', `${name}: zabstate`);
        t.equal(zab.voting, role !== 'observer', `${name}: voting`);
        t.equal(zab.is_leader, role === 'leader', `${name}: zabstate is_leader`);
        const self = view[String(zab.myid)];
        if (role !== 'observer') t.match(self.client_address, new RegExp(`^${HOST.replace(/\./g, '\\.')}:\\d+$`), `${name}: its own client address`);
        t.equal(j.get('configuration')!.server_id, zab.myid, `${name}: configuration's server_id is the myid`);
        t.equal(j.get('learners')!.error, 'Unknown command: learners', `${name}: 3.8 has no learners command`);
        const obs = j.get('observers')!;
        if (role === 'leader') {
          t.equal(obs.synced_observers, 1, `${name}: the leader counts its observer`);
          const list = obs.observers as Array<Record<string, unknown>>;
          t.same(list.map((x) => x.sid), [4], `${name}: the observer's handler`);
          t.match(list[0].remote_socket_address, /^\/127\.0\.0\.1:\d+$/, `${name}: the learner's address as Java prints it`);
        } else t.same(obs.observers, [], `${name}: only the leader lists observers`);
        const stats = j.get('server_stats')!;
        t.equal('proposal_stats' in stats, role === 'leader', `${name}: proposal_stats only on the leader`);
        t.equal((stats.server_stats as Record<string, unknown>).server_state, role, `${name}: server_state`);
        t.match(o.srvr.get(role)!, new RegExp(`^Mode: ${role}$`, 'm'), `${name}: srvr's Mode`);
        t.equal(/^Proposal sizes last\/min\/max: -?\d+\/-?\d+\/-?\d+$/m.test(o.srvr.get(role)!), role === 'leader', `${name}: srvr's proposal sizes only on the leader`);
        const conf = o.conf.get(role)!;
        t.match(conf, /\ninitLimit=\d+\nsyncLimit=\d+\nelectionAlg=3\nelectionPort=\d+\nquorumPort=\d+\npeerType=[01]\nmembership: \n/, `${name}: conf's quorum part`);
        t.match(conf, new RegExp(`peerType=${role === 'observer' ? 1 : 0}\n`), `${name}: conf's peerType`);
        t.equal(conf.match(/^server\.\d=.*:(participant|observer)$/gm)?.length, 4, `${name}: conf lists the members`);
      }
      // After orst on the leader, its observer's counts start again.
      for (const [name, o] of [['ZooKeeper', zk], ['zkts', zkts]] as const) {
        const list = o.observersAfterReset.observers as Array<Record<string, unknown>>;
        const beforeReset = (o.json.get('leader')!.get('observers')!.observers as Array<Record<string, unknown>>)[0];
        t.equal(list[0].requests, 0, `${name}: orst resets requests`);
        t.ok((list[0].packets_sent as number) < (beforeReset.packets_sent as number) + WRITES * 2, `${name}: orst resets packets_sent`);
      }
    });
    t.test(`${role}: mntr's keys`, async (t) => {
      t.same(mntrKeys(zkts.after.get(role)!), mntrKeys(zk.after.get(role)!));
      t.equal(zkts.after.get(role)!.get('zk_peer_state'), zk.after.get(role)!.get('zk_peer_state'), 'peer_state');
      if (role === 'observer') t.equal(zkts.after.get(role)!.get('zk_observer_master_id'), String(zkts.leaderSid), 'the observer names its leader');
    });
  }

  t.test('the quorum counters move as ZooKeeper moves them', async (t) => {
    const delta = (o: Observed, role: Role, k: string) => num(o.after.get(role)!, k) - num(o.before.get(role)!, k);
    const moves: Array<[Role, string, number]> = [
      ['leader', 'zk_proposal_count', WRITES],
      ['leader', 'zk_commit_count', WRITES],
      ['leader', 'zk_cnt_quorum_ack_latency', WRITES],
      ['follower', 'zk_learner_proposal_received_count', WRITES],
      ['follower', 'zk_learner_commit_received_count', WRITES],
      ['observer', 'zk_learner_commit_received_count', WRITES],
      ['observer', 'zk_learner_proposal_received_count', 0],
      ['follower', 'zk_cnt_commit_propagation_latency', WRITES],
      ['observer', 'zk_cnt_commit_propagation_latency', WRITES],
      ['follower', 'zk_proposal_count', 0],
      ['leader', 'zk_revalidate_count', 1],
      ['follower', 'zk_connection_revalidate_count', 1],
    ];
    for (const [role, key, expected] of moves) {
      t.equal(delta(zk, role, key), expected, `ZooKeeper ${role}: ${key} moves by ${expected}`);
      t.equal(delta(zkts, role, key), expected, `zkts ${role}: ${key} moves by ${expected}`);
    }
    // A proposal's latency is counted only when above 0 ms (the learner's clock against the leader's).
    for (const [name, o] of [['ZooKeeper', zk], ['zkts', zkts]] as const) {
      const d = delta(o, 'follower', 'zk_cnt_proposal_latency');
      t.ok(d >= 0 && d <= WRITES, `${name} follower: proposal_latency counts at most one per write (${d})`);
      t.equal(delta(o, 'observer', 'zk_cnt_proposal_latency'), 0, `${name} observer: no proposals, no proposal_latency`);
    }
    // What the start recorded: one election each for leader and follower (none on the observer),
    // one sync each for the follower and the observer, one DIFF per learner on the leader.
    const once: Array<[Role, string]> = [
      ['leader', 'zk_cnt_election_time'],
      ['follower', 'zk_cnt_election_time'],
      ['observer', 'zk_cnt_election_time'],
      ['follower', 'zk_cnt_follower_sync_time'],
      ['observer', 'zk_cnt_observer_sync_time'],
      ['leader', 'zk_looking_count'],
      ['observer', 'zk_looking_count'],
    ];
    for (const [role, key] of once) t.equal(zkts.after.get(role)!.get(key), zk.after.get(role)!.get(key), `${role}: ${key} as ZooKeeper's`);
    // DIFF or SNAP depends on timing (ZooKeeper 3.8.0 was seen with both); one sync per learner.
    for (const [name, o] of [['ZooKeeper', zk], ['zkts', zkts]] as const)
      t.equal(num(o.after.get('leader')!, 'zk_diff_count') + num(o.after.get('leader')!, 'zk_snap_count'), 3, `${name}: the leader synced three learners`);
    t.ok(num(zkts.after.get('leader')!, 'zk_sum_quorum_ack_latency') >= 0, 'quorum_ack_latency sums the waits');
    // The per-learner summaries on the leader: a queue size per packet written to each learner, and
    // one queue wait sampled at each learner's sync.
    for (const [name, o] of [['ZooKeeper', zk], ['zkts', zkts]] as const) {
      const before = o.before.get('leader')!;
      const after = o.after.get('leader')!;
      for (const sid of [1, 2, 3, 4].filter((s) => s !== o.leaderSid)) {
        const size = `zk_cnt_${sid}_learner_handler_qp_size`;
        t.ok(num(after, size) >= num(before, size) + WRITES, `${name}: ${size} grows with the writes`);
        t.equal(num(after, `zk_cnt_${sid}_learner_handler_qp_time_ms`), 1, `${name}: sid ${sid}: one queue wait, at its sync`);
      }
    }
  });

  t.test('the same counters on /metrics', async (t) => {
    const prom = new PrometheusMetrics(false);
    prom.attach(zktsLeader.server);
    const text = prom.render();
    const sample = (re: RegExp) => Number(re.exec(text)?.[1]);
    const m = await mntr({ sid: zktsLeader.sid, clientPort: ports[zktsLeader.sid - 1].client, adminPort: 0 });
    t.ok(num(m, 'zk_proposal_count') >= WRITES, 'the leader has proposed');
    t.equal(sample(/^proposal_count (\S+)$/m), num(m, 'zk_proposal_count'), 'proposal_count');
    t.equal(sample(/^commit_count (\S+)$/m), num(m, 'zk_commit_count'), 'commit_count');
    t.equal(sample(/^election_time_count (\S+)$/m), 1, 'election_time');
    t.equal(sample(/^quorum_ack_latency_count (\S+)$/m), num(m, 'zk_cnt_quorum_ack_latency'), 'quorum_ack_latency');
    t.equal(sample(/^quorum_size (\S+)$/m), 3, 'quorum_size');
    t.equal(sample(/^synced_followers (\S+)$/m), 2, 'synced_followers');
    t.equal(sample(/^synced_observers (\S+)$/m), 1, 'synced_observers');
    t.equal(sample(/^learners (\S+)$/m), 3, 'learners');
    t.ok(sample(/^max_proposal_size (\S+)$/m) > 0, 'max_proposal_size');
    for (const sid of [1, 2, 3, 4].filter((s) => s !== zktsLeader.sid))
      t.ok(sample(new RegExp(`^learner_handler_qp_size_count\\{key="${sid}",\\} (\\S+)$`, 'm')) > 0, `learner_handler_qp_size for sid ${sid}`);
    const follower = members.find((x) => x.peer.role === 'following')!;
    const fprom = new PrometheusMetrics(false);
    fprom.attach(follower.server);
    const ftext = fprom.render();
    t.ok(Number(/^learner_proposal_received_count (\S+)$/m.exec(ftext)?.[1]) >= WRITES, 'learner_proposal_received_count on a follower');
    t.equal(Number(/^follower_sync_time_count (\S+)$/m.exec(ftext)?.[1]), 1, 'follower_sync_time on a follower');
    t.equal(Number(/^quorum_size (\S+)$/m.exec(ftext)?.[1]), 3, 'quorum_size on a follower');
    t.notMatch(ftext, /^learners /m, 'no leader gauges on a follower');
  });
  t.test('the web console shows every member with its role, zxid and lag', async (t) => {
    type Row = { sid: string; role: string; zxid: string | null; lagTxns: number | null; synced: boolean | null };
    const consoleStats = async (sid: number) => JSON.parse((await get(adminPorts[sid - 1], '/console/api/stats')).body) as { mode: string; zxid: string; ensemble: { mySid: string; leaderSid: string; members: Row[] } };
    const lead = await consoleStats(zktsLeader.sid);
    t.equal(lead.mode, 'leader');
    t.equal(lead.ensemble.leaderSid, String(zktsLeader.sid));
    const roleOf = (sid: number) => (sid === zktsLeader.sid ? 'leader' : sid === 4 ? 'observer' : 'follower');
    t.same(lead.ensemble.members.map((r) => [r.sid, r.role]), [1, 2, 3, 4].map((sid) => [String(sid), roleOf(sid)]), 'the leader lists every member in its role');
    for (const r of lead.ensemble.members) {
      // Every write was applied everywhere before the counts were taken: no member is behind.
      t.equal(r.zxid, lead.zxid, `sid ${r.sid}: at the leader's zxid`);
      t.equal(r.lagTxns, 0, `sid ${r.sid}: no lag`);
      if (r.sid !== String(zktsLeader.sid)) t.equal(r.synced, true, `sid ${r.sid}: synced`);
    }
    // The page draws the same table (when Chromium is there to look at it).
    if (fs.existsSync(CHROMIUM)) {
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
      try {
        const page = await browser.newPage();
        await page.goto(`http://${HOST}:${adminPorts[zktsLeader.sid - 1]}/`);
        const rowsShown = page.locator('#ensemble-table tbody tr');
        await rowsShown.nth(3).waitFor({ timeout: 15_000 });
        const texts = await rowsShown.allTextContents();
        t.equal(texts.length, 4, 'the console page shows four members');
        t.same(texts.map((x) => /(leader|follower|observer)/.exec(x)?.[1]), [1, 2, 3, 4].map(roleOf), 'each in its role');
        t.match(await page.locator('#mode-badge').textContent(), 'leader', 'the mode badge says leader');
      } finally {
        await browser.close();
      }
    } else t.comment(`${CHROMIUM} is absent: the console page itself is not looked at`);
    const follower = members.find((x) => x.peer.role === 'following')!;
    const fol = await consoleStats(follower.sid);
    t.equal(fol.mode, 'follower');
    const rows = new Map(fol.ensemble.members.map((r) => [r.sid, r]));
    t.equal(rows.get(String(zktsLeader.sid))!.role, 'leader', 'a follower names the leader');
    t.equal(rows.get(String(follower.sid))!.zxid, fol.zxid, 'and knows its own zxid');
    t.equal(fol.ensemble.members.filter((r) => r.zxid !== null).length, 1, 'but no other member\'s');
    // A follower that goes away shows as not connected on the leader.
    await follower.stop();
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const r = (await consoleStats(zktsLeader.sid)).ensemble.members.find((x) => x.sid === String(follower.sid))!;
      if (r.role === 'not connected') break;
      if (Date.now() > deadline) throw new Error(`sid ${follower.sid} still shown as ${r.role}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    t.pass('a stopped follower is shown as not connected');
  });

});
