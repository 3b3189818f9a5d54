// node-zookeeper-client against the reference ZooKeeper and against zkts: one scenario, its own
// expectations checked against both servers, and identical transcripts (Stat fields exact, zxids
// relative to the first zxid of the scenario).

import t from 'tap';
import { createHash } from 'node:crypto';
import * as zookeeper from 'node-zookeeper-client';
import { compareWithReferences, dumpTranscript, startProxy, startTarget, TARGETS, TargetName, waitFor } from './util/harness';
import { Ctx, longOf, Session } from './util/nzk';

const { ACL, Id, Permission, CreateMode } = zookeeper;
const EVENT_TIMEOUT_MS = 15_000;
const EXPIRY_TIMEOUT_MS = 30_000;
const ALICE_DIGEST = `alice:${createHash('sha1').update('alice:secret').digest('base64')}`;

const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

async function scenario(connectString: string, out: string[]): Promise<string[]> {
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
    const proxy = await startProxy('127.0.0.1', Number(connectString.split(':')[1]));
    try {
      const c = await Session.open('C', ctx, proxy.connectString, { sessionTimeout: 4000 });
      sessions.push(c);
      out.push(`C timeout=${c.client.getSessionTimeout()}`);
      out.push(await c.create('/n/c-eph', buf('c'), CreateMode.EPHEMERAL));
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

const transcripts = new Map<TargetName, string[]>();

for (const target of TARGETS) {
  t.test(`node-zookeeper-client scenario against ${target}`, async (t) => {
    const server = await startTarget(target);
    t.teardown(() => server.stop());
    const lines: string[] = [];
    try {
      await scenario(server.connectString, lines);
    } finally {
      dumpTranscript('nodeclient', target, lines);
    }
    transcripts.set(target, lines);
    for (const e of EXPECT) t.ok(lines.includes(e), `${target}: ${e}`);
    t.match(
      lines.find((l) => l.startsWith('getData /n ->')) ?? '',
      /^getData \/n -> "data" \{czxid=b\+1 mzxid=b\+1 pzxid=b\+\d+ version=0 cversion=\d+ aversion=0 ephemeralOwner=0 dataLength=4 numChildren=\d+ times=ok\}$/,
      `${target}: first getData /n`,
    );
    t.match(lines.find((l) => l.startsWith('getData /n/e ->')) ?? '', /ephemeralOwner=A /, `${target}: owner of /n/e`);
    t.ok(
      lines.some((l) => l.startsWith('A events: A-data-w: NODE_DATA_CHANGED /w | ')),
      `${target}: first data watch fires once with NODE_DATA_CHANGED`,
    );
    t.ok(lines.includes('C states: SYNC_CONNECTED,DISCONNECTED,EXPIRED'), `${target}: C expires`);
    t.ok(lines.includes('create /container mode=4 -> /container'), `${target}: container mode through create`);
    t.ok(lines.includes('create /ttlnode mode=5 -> UNIMPLEMENTED(-6)'), `${target}: TTL mode through create`);
    t.ok(
      lines.some((l) => l === 'A events: A-exists-c-eph: NODE_DELETED /n/c-eph'),
      `${target}: ephemeral of the expired session is deleted`,
    );
  });
}

t.test('zkts transcript is identical to the reference transcripts (3.8.0 and 3.9.5)', async (t) => {
  compareWithReferences(t, transcripts);
});
