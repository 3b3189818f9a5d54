// node-zookeeper-client against the reference ZooKeeper and against zkts: one scenario, its own
// expectations checked against both servers, and identical transcripts (Stat fields exact, zxids
// relative to the first zxid of the scenario).

import t from 'tap';
import { createHash } from 'node:crypto';
import * as zookeeper from 'node-zookeeper-client';
import type { Test } from 'tap';
import { compareWithReferences, dumpTranscript, firstDifference, startProxy, startTarget, TARGETS, TargetName, waitFor } from './util/harness';
import { ENSEMBLE_TARGETS, startEnsembleTarget, type RunningEnsemble } from './util/ensembles';
import { Ctx, longOf, Session } from './util/nzk';

const { ACL, Id, Permission, CreateMode } = zookeeper;
const EVENT_TIMEOUT_MS = 15_000;
const EXPIRY_TIMEOUT_MS = 30_000;
const ALICE_DIGEST = `alice:${createHash('sha1').update('alice:secret').digest('base64')}`;

const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

/**
 * Sessions A and B use `connectString`; C goes through a proxy to `cTarget` (on an ensemble, another
 * member than A's), and what A sees of C's nodes is synchronised through A's watches.
 */
async function scenario(connectString: string, cTarget: { host: string; port: number }, out: string[]): Promise<string[]> {
  const ctx = new Ctx();
  const sessions: Session[] = [];
  const open = async (name: string, options?: zookeeper.ClientOptions): Promise<Session> => {
    const s = await Session.open(name, ctx, connectString, options);
    sessions.push(s);
    return s;
  };
  try {
    const a = await open('A');
    const b = await open('B');
    out.push(`A timeout=${a.client.getSessionTimeout()} B timeout=${b.client.getSessionTimeout()}`);

    // The first write fixes the base: /n gets czxid b+1.
    out.push(await a.create('/n', buf('data'), CreateMode.PERSISTENT));
    {
      const stat = await new Promise<zookeeper.Stat>((resolve, reject) =>
        a.client.exists('/n', undefined, (e, s) => (e || !s ? reject(e ?? new Error('no /n')) : resolve(s))),
      );
      ctx.baseZxid = longOf(stat.czxid) - 1n;
    }

    // create in every mode, and the ways it fails
    out.push(await a.create('/n', buf('again')));
    out.push(await a.create('/n/ps-', buf('p1'), CreateMode.PERSISTENT_SEQUENTIAL));
    out.push(await a.create('/n/ps-', null, CreateMode.PERSISTENT_SEQUENTIAL));
    out.push(await a.create('/n/e', buf('eph'), CreateMode.EPHEMERAL));
    out.push(await b.create('/n/es-', buf('eseq'), CreateMode.EPHEMERAL_SEQUENTIAL));
    out.push(await a.create('/n/e/child', buf('x')));
    out.push(await a.create('/nochild/x', buf('x')));
    out.push(await a.create('/n/empty', buf('')));
    out.push(await a.create('/n/nulldata', null));
    out.push(await a.create('/container', buf('c'), 4));
    out.push(await a.create('/ttlnode', buf('t'), 5));
    out.push(await a.create('/badmode', buf('t'), 7));
    out.push(await a.create('/zookeeper/x', buf('x')));

    // reads
    out.push(await a.getData('/n'));
    out.push(await a.getData('/n/empty'));
    out.push(await a.getData('/n/nulldata'));
    out.push(await a.getData('/n/e'));
    out.push(await b.getData('/n/e'));
    out.push(await a.getData('/missing'));
    out.push(await a.exists('/n'));
    out.push(await a.exists('/missing'));
    out.push(await a.getChildren('/n'));
    out.push(await a.getChildren('/missing'));
    out.push(await a.getChildren('/'));
    out.push(await a.getData('/'));
    out.push(await a.getChildren('/zookeeper'));

    // writes with versions
    out.push(await a.setData('/n', buf('v1'), 5));
    out.push(await a.setData('/n', buf('v1'), 0));
    out.push(await a.setData('/n', buf('v2'), -1));
    out.push(await a.setData('/n', buf(''), 2));
    out.push(await a.setData('/missing', buf('x'), -1));
    out.push(await a.getData('/n'));
    out.push(await a.remove('/n', -1));
    out.push(await a.remove('/n/ps-0000000000', 3));
    out.push(await a.remove('/n/ps-0000000000', 0));
    out.push(await a.remove('/n/ps-0000000000', -1));
    out.push(await a.remove('/missing', -1));
    out.push(await a.getChildren('/n'));

    // watches: one-shot data, exists and child watches, fired by another session
    out.push(await a.create('/w', buf('w0')));
    out.push(await a.getData('/w', 'A-data-w'));
    out.push(await a.exists('/w', 'A-exists-w'));
    out.push(await a.getChildren('/w', 'A-child-w'));
    out.push(await a.exists('/w-later', 'A-exists-w-later'));
    out.push(await b.setData('/w', buf('w1')));
    out.push(await b.setData('/w', buf('w2')));
    out.push(await b.create('/w/c1', buf('c')));
    out.push(await b.create('/w/c2', buf('c')));
    out.push(await b.create('/w-later', buf('l')));
    out.push(await a.getData('/w', 'A-data-w-2'));
    out.push(await a.getChildren('/w', 'A-child-w-2'));
    out.push(await b.remove('/w/c1'));
    out.push(await b.remove('/w/c2'));
    out.push(await b.remove('/w'));
    out.push(await a.getData('/w-later', 'A-data-w-later'));
    out.push(await a.getChildren('/w-later', 'A-child-w-later'));
    out.push(await b.remove('/w-later'));
    await a.barrier();
    out.push(`A events: ${a.events.join(' | ')}`);
    a.events.length = 0;

    // ACLs and auth
    const aliceAll = new ACL(Permission.ALL, new Id('digest', ALICE_DIGEST));
    const worldRead = new ACL(Permission.READ, new Id('world', 'anyone'));
    out.push(await a.create('/acl', buf('secret'), CreateMode.PERSISTENT, [aliceAll, worldRead]));
    out.push(await a.getACL('/acl'));
    out.push(await b.getData('/acl'));
    out.push(await b.setData('/acl', buf('x')));
    out.push(await b.create('/acl/child', buf('x')));
    out.push(await b.setACL('/acl', ACL.OPEN_ACL_UNSAFE));
    b.client.addAuthInfo('digest', buf('alice:secret'));
    out.push(await b.setData('/acl', buf('by-alice')));
    out.push(await b.setACL('/acl', [aliceAll], 5));
    out.push(await b.setACL('/acl', [aliceAll], 0));
    out.push(await b.getACL('/acl'));
    out.push(await a.getData('/acl'));
    out.push(await a.getACL('/acl'));
    out.push(await b.create('/acl/mine', buf('m'), CreateMode.PERSISTENT, ACL.CREATOR_ALL_ACL));
    out.push(await b.getACL('/acl/mine'));
    out.push(await a.create('/noauth', buf('x'), CreateMode.PERSISTENT, ACL.CREATOR_ALL_ACL));
    out.push(await a.create('/readonly', buf('r'), CreateMode.PERSISTENT, ACL.READ_ACL_UNSAFE));
    out.push(await a.setData('/readonly', buf('w')));
    out.push(await a.remove('/readonly'));
    out.push(await a.setACL('/missing', ACL.OPEN_ACL_UNSAFE));
    out.push(await a.getACL('/missing'));
    out.push(await a.setACL('/n', [new ACL(Permission.ALL, new Id('bogus', 'x'))]));
    out.push(await a.setACL('/n', [new ACL(Permission.ALL, new Id('ip', '127.0.0.1'))]));
    out.push(await a.getACL('/n'));
    out.push(await a.getData('/n'));

    // transactions
    out.push(
      await a.commit('ok', (tx) =>
        tx
          .create('/m', buf('m0'))
          .setData('/m', buf('m1'), 0)
          .check('/m', 1)
          .create('/m/c', null, ACL.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_SEQUENTIAL)
          .create('/m/e', buf('e'), ACL.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL)
          .remove('/m/c0000000000', 0),
      ),
    );
    out.push(await a.getData('/m'));
    out.push(await a.getChildren('/m'));
    out.push(await a.getData('/m', 'A-data-m'));
    out.push(
      await a.commit('bad-version', (tx) =>
        tx.setData('/m', buf('m2')).check('/m', 7).create('/m/never', buf('x')).remove('/m/e'),
      ),
    );
    out.push(await a.commit('no-node', (tx) => tx.create('/m/x', buf('x')).remove('/missing').create('/m/y', buf('y'))));
    out.push(await a.commit('exists', (tx) => tx.create('/m', buf('x'))));
    out.push(await a.commit('not-empty', (tx) => tx.check('/m', 1).remove('/m')));
    out.push(await a.getData('/m'));
    out.push(await a.commit('noauth', (tx) => tx.check('/m', 1).setData('/acl', buf('x'))));
    out.push(
      await b.commit('writes', (tx) => tx.setData('/m', buf('m3'), 1).remove('/m/e', -1).create('/m/z', buf('z'))),
    );
    await a.barrier();
    out.push(await a.getData('/m'));
    out.push(await a.getChildren('/m'));
    out.push(`A events: ${a.events.join(' | ')}`);
    a.events.length = 0;

    // close: B's ephemerals go, A's watches on them fire
    out.push(await a.getChildren('/n', 'A-child-n'));
    out.push(await a.exists('/n/es-0000000003', 'A-exists-es'));
    b.close();
    await waitFor(() => a.events.some((e) => e.startsWith('A-exists-es:')), EVENT_TIMEOUT_MS, 'events of B closing');
    await a.barrier();
    out.push(`A events: ${[...a.events].sort().join(' | ')}`);
    a.events.length = 0;
    out.push(await a.getChildren('/n'));

    // expiry: C is cut off behind a proxy until the server expires its session, then let back in
    const proxy = await startProxy(cTarget.host, cTarget.port);
    try {
      const c = await Session.open('C', ctx, proxy.connectString, { sessionTimeout: 4000 });
      sessions.push(c);
      out.push(`C timeout=${c.client.getSessionTimeout()}`);
      out.push(await a.exists('/n/c-eph', 'A-exists-c-eph-created'));
      out.push(await c.create('/n/c-eph', buf('c'), CreateMode.EPHEMERAL));
      await waitFor(() => a.events.length >= 1, EVENT_TIMEOUT_MS, "A's watch on C's ephemeral");
      out.push(`A events: ${a.events.join(' | ')}`);
      a.events.length = 0;
      out.push(await a.exists('/n/c-eph', 'A-exists-c-eph'));
      out.push(await a.getData('/n/c-eph'));
      let cExpired = false;
      c.client.once('expired', () => (cExpired = true));
      proxy.block();
      await waitFor(() => a.events.length >= 1, EXPIRY_TIMEOUT_MS, 'the server to expire session C');
      await a.barrier();
      proxy.unblock();
      await waitFor(() => cExpired, EXPIRY_TIMEOUT_MS, 'session C to learn it expired');
      const states = c.states.filter((s, i, all) => i === 0 || all[i - 1] !== s);
      // Up to EXPIRED: what the client does after that is its own business.
      out.push(`C states: ${states.slice(0, states.indexOf('EXPIRED') + 1).join(',')}`);
      out.push(`A events: ${a.events.join(' | ')}`);
    } finally {
      await proxy.close();
    }
    out.push(await a.exists('/n/c-eph'));
    out.push(await a.getChildren('/n'));
    out.push(await a.getData('/'));
    out.push(await a.getChildren('/'));
    out.push(`A states: ${a.states.join(',')}`);
    return out;
  } finally {
    for (const s of sessions) s.close();
  }
}

const EXPECT: readonly string[] = [
  'create /n mode=0 -> /n',
  'create /n mode=0 -> NODE_EXISTS(-110)',
  'create /n/ps- mode=2 -> /n/ps-0000000000',
  'create /n/ps- mode=2 -> /n/ps-0000000001',
  'create /n/es- mode=3 -> /n/es-0000000003',
  'create /n/e/child mode=0 -> NO_CHILDREN_FOR_EPHEMERALS(-108)',
  'create /nochild/x mode=0 -> NO_NODE(-101)',
  'setData /n v=5 -> BAD_VERSION(-103)',
  'remove /n v=-1 -> NOT_EMPTY(-111)',
  'remove /n/ps-0000000000 v=3 -> BAD_VERSION(-103)',
  'remove /n/ps-0000000000 v=0 -> ok',
  'remove /missing v=-1 -> NO_NODE(-101)',
  'getData /missing -> NO_NODE(-101)',
  'exists /missing -> null',
  'setData /acl v=-1 -> NO_AUTH(-102)',
  'create /noauth mode=0 -> INVALID_ACL(-114)',
  'setData /readonly v=-1 -> NO_AUTH(-102)',
  'exists /n/c-eph -> null',
];

function checkScenario(t: Test, label: string, lines: readonly string[]): void {
  for (const e of EXPECT) t.ok(lines.includes(e), `${label}: ${e}`);
  t.match(
    lines.find((l) => l.startsWith('getData /n ->')) ?? '',
    /^getData \/n -> "data" \{czxid=b\+1 mzxid=b\+1 pzxid=b\+\d+ version=0 cversion=\d+ aversion=0 ephemeralOwner=0 dataLength=4 numChildren=\d+ times=ok\}$/,
    `${label}: first getData /n`,
  );
  t.match(lines.find((l) => l.startsWith('getData /n/e ->')) ?? '', /ephemeralOwner=A /, `${label}: owner of /n/e`);
  t.ok(
    lines.some((l) => l.startsWith('A events: A-data-w: NODE_DATA_CHANGED /w | ')),
    `${label}: first data watch fires once with NODE_DATA_CHANGED`,
  );
  t.ok(lines.includes('C states: SYNC_CONNECTED,DISCONNECTED,EXPIRED'), `${label}: C expires`);
  t.ok(lines.includes('create /container mode=4 -> /container'), `${label}: container mode through create`);
  t.ok(lines.includes('create /ttlnode mode=5 -> UNIMPLEMENTED(-6)'), `${label}: TTL mode through create`);
  t.ok(lines.includes('A events: A-exists-c-eph-created: NODE_CREATED /n/c-eph'), `${label}: A sees C's ephemeral created`);
  t.ok(
    lines.some((l) => l === 'A events: A-exists-c-eph: NODE_DELETED /n/c-eph'),
    `${label}: ephemeral of the expired session is deleted`,
  );
}

const transcripts = new Map<TargetName, string[]>();

for (const target of TARGETS) {
  t.test(`node-zookeeper-client scenario against ${target}`, async (t) => {
    const server = await startTarget(target);
    t.teardown(() => server.stop());
    const lines: string[] = [];
    try {
      await scenario(server.connectString, server, lines);
    } finally {
      dumpTranscript('nodeclient', target, lines);
    }
    transcripts.set(target, lines);
    checkScenario(t, target, lines);
  });
}

t.test('zkts transcript is identical to the reference transcripts (3.8.0 and 3.9.5)', async (t) => {
  compareWithReferences(t, transcripts);
});

/**
 * Clients on different members of an ensemble. Nothing here reads another member's write without
 * a watch event first (node-zookeeper-client has no sync()): W writes through one member, R on
 * another sees the write through its watches and then reads it; E's ephemerals on one member are
 * seen and, once E closes, seen gone from another; M, given every member, loses its member and
 * carries on with the same session and its ephemeral on another.
 */
async function acrossMembers(ensemble: RunningEnsemble, out: string[]): Promise<void> {
  const ctx = new Ctx();
  const sessions: Session[] = [];
  const open = async (name: string, connectString: string): Promise<Session> => {
    const s = await Session.open(name, ctx, connectString, { sessionTimeout: 20_000 });
    sessions.push(s);
    return s;
  };
  const events = async (s: Session, count: number, what: string): Promise<string> => {
    await waitFor(() => s.events.length >= count, EVENT_TIMEOUT_MS, what);
    await s.barrier();
    const line = `${s.name} events: ${[...s.events].sort().join(' | ')}`;
    s.events.length = 0;
    return line;
  };
  try {
    const leader = await ensemble.leaderIndex();
    const n = ensemble.memberPorts.length;
    const [one, two] = [(leader + 1) % n, (leader + 2) % n];
    const w = await open('W', ensemble.memberConnectStrings[one]);
    const r = await open('R', ensemble.memberConnectStrings[two]);
    // a write through one member, seen from another through watches, then read there
    out.push(await r.exists('/x', 'R-exists-x'));
    out.push(await w.create('/x', buf('x0')));
    {
      const stat = await new Promise<zookeeper.Stat>((resolve, reject) =>
        w.client.exists('/x', undefined, (e, st) => (e || !st ? reject(e ?? new Error('no /x')) : resolve(st))),
      );
      ctx.baseZxid = longOf(stat.czxid) - 1n;
    }
    out.push(await events(r, 1, 'R: /x created'));
    out.push(await r.getData('/x', 'R-data-x'));
    out.push(await r.getChildren('/x', 'R-child-x'));
    out.push(await w.setData('/x', buf('x1'), 0));
    out.push(await w.create('/x/p', buf('p')));
    out.push(await events(r, 2, 'R: /x changed and its child created'));
    out.push(await r.getData('/x'));
    out.push(await r.getChildren('/x'));

    // ephemerals of a session on the leader, seen from a follower and cleaned up when it closes
    const e = await open('E', ensemble.memberConnectStrings[leader]);
    out.push(await r.getChildren('/x', 'R-child-x-2'));
    // R and W read only once their members show the last create (a watch on it): each member
    // applies a commit in its own time.
    out.push(await r.exists('/x/es-0000000002', 'R-exists-es-created'));
    out.push(await w.exists('/x/es-0000000002', 'W-exists-es'));
    out.push(await e.create('/x/e1', buf('e'), CreateMode.EPHEMERAL));
    out.push(await e.create('/x/es-', buf('s'), CreateMode.EPHEMERAL_SEQUENTIAL));
    out.push(await events(r, 2, "R: E's ephemerals created"));
    out.push(await r.getData('/x/e1', 'R-data-e1'));
    out.push(await r.exists('/x/es-0000000002', 'R-exists-es'));
    out.push(await r.getChildren('/x', 'R-child-x-3'));
    out.push(await events(w, 1, "W: E's last ephemeral created"));
    out.push(await w.getChildren('/x'));
    e.close();
    out.push(await events(r, 3, "R: E's ephemerals deleted"));
    out.push(await r.getChildren('/x'));

    // a session moves when its member stops: M holds an ephemeral and a watch, its member goes
    // M is given both followers, so that stopping its member leaves the leader in place.
    const m = await open('M', [ensemble.memberConnectStrings[one], ensemble.memberConnectStrings[two]].join(','));
    out.push(await m.create('/x/m', buf('m'), CreateMode.EPHEMERAL));
    out.push(await m.getData('/x/p', 'M-data-p'));
    const idBefore = m.idHex;
    const member = await ensemble.memberOfSession(idBefore);
    if (member === undefined) throw new Error(`no member lists session ${idBefore} in cons`);
    const statesBefore = m.states.length;
    await ensemble.stopMember(member);
    await waitFor(() => m.states.slice(statesBefore).includes('SYNC_CONNECTED'), 30_000, 'M to reconnect to another member');
    out.push(`M states after its member stopped: ${m.states.slice(statesBefore).join(',')}`);
    out.push(`M keeps its session: ${m.idHex === idBefore}`);
    const now = await ensemble.memberOfSession(idBefore);
    out.push(`M on another member: ${now !== undefined && now !== member}`);
    // A survivor other than M's new member, to look from there. V's own write first: once it is
    // answered, V's member has applied everything committed before it (M's ephemeral included).
    const other = [0, 1, 2].find((i) => i !== member && i !== now)!;
    const v = await open('V', ensemble.memberConnectStrings[other]);
    out.push(await v.create('/x/v', buf('v')));
    out.push(await v.exists('/x/m', 'V-exists-m'));
    out.push(await v.getData('/x/p', 'V-data-p'));
    out.push(await m.setData('/x/m', buf('m1'), 0));
    out.push(await v.setData('/x/p', buf('p1'), 0));
    out.push(await events(m, 1, "M: the watch it set before moving fires after V's write"));
    out.push(await events(v, 2, "V: M's write and its own"));
    out.push(await v.exists('/x/m', 'V-exists-m-2'));
    m.close();
    out.push(await events(v, 1, "V: M's ephemeral deleted when M closes"));
    out.push(await v.getChildren('/x'));
  } finally {
    for (const s of sessions) s.close();
  }
}

const ACROSS_EXPECT: readonly string[] = [
  'R events: R-exists-x: NODE_CREATED /x',
  'R events: R-child-x: NODE_CHILDREN_CHANGED /x | R-data-x: NODE_DATA_CHANGED /x',
  'R events: R-child-x-2: NODE_CHILDREN_CHANGED /x | R-exists-es-created: NODE_CREATED /x/es-0000000002',
  'W events: W-exists-es: NODE_CREATED /x/es-0000000002',
  'R events: R-child-x-3: NODE_CHILDREN_CHANGED /x | R-data-e1: NODE_DELETED /x/e1 | R-exists-es: NODE_DELETED /x/es-0000000002',
  'M keeps its session: true',
  'M on another member: true',
  'M events: M-data-p: NODE_DATA_CHANGED /x/p',
  'V events: V-data-p: NODE_DATA_CHANGED /x/p | V-exists-m: NODE_DATA_CHANGED /x/m',
  'V events: V-exists-m-2: NODE_DELETED /x/m',
  'getChildren /x -> [p, v] {czxid=b+1 mzxid=b+2 pzxid=b+14 version=1 cversion=8 aversion=0 ephemeralOwner=0 dataLength=2 numChildren=2 times=ok}',
];

const ensembleTranscripts = new Map<string, { scenario: string[]; across: string[] }>();

for (const [target, size] of [...ENSEMBLE_TARGETS.map((x) => [x, 3] as const), ...ENSEMBLE_TARGETS.map((x) => [x, 5] as const)]) {
  t.test(`node-zookeeper-client on a ${size}-member ${target}`, async (t) => {
    const ensemble = await startEnsembleTarget(target, {}, size);
    t.teardown(() => ensemble.stop());
    const leader = await ensemble.leaderIndex();
    // A and B on a follower, C (through the proxy) on another follower.
    const [ab, c] = [(leader + 1) % size, (leader + 2) % size];
    const scenarioLines: string[] = [];
    const acrossLines: string[] = [];
    try {
      await scenario(ensemble.memberConnectStrings[ab], { host: '127.0.0.1', port: ensemble.memberPorts[c] }, scenarioLines);
      await acrossMembers(ensemble, acrossLines);
    } catch (err) {
      t.comment(`${target} logs:\n${ensemble.logs().slice(-20_000)}`);
      throw err;
    } finally {
      dumpTranscript(`nodeclient-ensemble${size}`, target, [...scenarioLines, '# across members', ...acrossLines]);
    }
    checkScenario(t, target, scenarioLines);
    for (const e of ACROSS_EXPECT) t.ok(acrossLines.includes(e), `${target}: ${e}`);
    t.match(
      acrossLines.find((l) => l.startsWith('M states after its member stopped:')) ?? '',
      /^M states after its member stopped: DISCONNECTED,(?!.*EXPIRED).*SYNC_CONNECTED$/,
      `${target}: M reconnects without expiring`,
    );
    ensembleTranscripts.set(`${target}/${size}`, { scenario: scenarioLines, across: acrossLines });
  });
}

t.test('ensembles: the ZooKeeper ensemble tells the standalone story, the zkts ensemble the ZooKeeper ensemble\'s', async (t) => {
  const standalone = transcripts.get('reference');
  for (const size of [3, 5]) {
    const ref = ensembleTranscripts.get(`reference-ensemble/${size}`);
    const zk = ensembleTranscripts.get(`zkts-ensemble/${size}`);
    if (!ref || !zk || !standalone) {
      t.fail(`a transcript is missing (${size} members)`);
      continue;
    }
    t.strictSame(ref.scenario, standalone, `${size}-member ZooKeeper ensemble as standalone 3.8.0: ${firstDifference(standalone, ref.scenario, ['3.8.0', '3.8.0 ensemble'])}`);
    t.strictSame(zk.scenario, ref.scenario, `${size}-member zkts ensemble as ZooKeeper ensemble: ${firstDifference(ref.scenario, zk.scenario, ['3.8.0 ensemble', 'zkts ensemble'])}`);
    t.strictSame(zk.across, ref.across, `across members, ${size}-member zkts ensemble as ZooKeeper ensemble: ${firstDifference(ref.across, zk.across, ['3.8.0 ensemble', 'zkts ensemble'])}`);
  }
});
