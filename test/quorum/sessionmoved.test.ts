// A session reopened through another ensemble member moves there: the leader records the new owner
// (REVALIDATE from a learner, or its own client connection), and a request the session still sends
// through its old server fails with SESSIONMOVED, which that server answers by closing the
// connection. The same scenarios run against a 3-node Apache ZooKeeper 3.8.0 ensemble and a 3-node
// zkts ensemble, then mixed ensembles (a zkts leader, a ZooKeeper leader, each with a zkts and a
// ZooKeeper follower), and the outcomes each connection sees must be the same.

import t from 'tap';
import { Err, OpCode } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import { ConnectionClosedError, ZkClient, type Reply } from '../util/client';
import { startReferenceEnsemble, waitForLeaderAndFollowers } from '../util/ensemble';
import { startZktsEnsemble } from '../util/zktsensemble';
import { mixedEnsemble, type Roles } from './mixedensemble';

const HOST = '127.0.0.1';
const SESSION_TIMEOUT_MS = 30_000;


/** What a request got: its error code, or the connection closed with no reply. */
async function outcome(p: Promise<Reply>): Promise<string> {
  try {
    const r = await p;
    return `err ${r.header.err}`;
  } catch (e) {
    if (e instanceof ConnectionClosedError) return 'closed';
    throw e;
  }
}

function multiSetData(c: ZkClient, path: string): Promise<Reply> {
  return c.request(OpCode.multi, (w) => {
    R.encodeMultiHeader(w, { type: OpCode.setData, done: false, err: -1 });
    R.encodeSetDataRequest(w, { path, data: Buffer.from('m'), version: -1 });
    R.encodeMultiHeader(w, { type: -1, done: true, err: -1 });
  });
}

let connections = 0;

/**
 * A connection, new or reopening `from`'s session. Each starts its xids elsewhere: a server matches
 * a committed txn to its client's request by session and xid, so two connections of one session
 * must not have the same xid in flight (the refused write of one would answer the other's).
 */
async function connect(port: number, from?: ZkClient): Promise<ZkClient> {
  return ZkClient.connect(HOST, port, {
    timeoutMs: SESSION_TIMEOUT_MS,
    keepAlive: false,
    sessionId: from?.sessionId,
    passwd: from?.passwd,
    firstXid: 1 + 1000 * connections++,
  });
}

/**
 * The scenarios, each on its own session: reopened from one server on another, then used through
 * both connections. Returns what each step saw, in order.
 */
async function movedSessions(ports: Roles): Promise<Array<[string, unknown]>> {
  const out: Array<[string, unknown]> = [];
  const open: ZkClient[] = [];
  const port = (i: number) => ports.client[i];
  const [f1, f2] = ports.followers;
  const ld = ports.leader;
  try {
    // 1. follower -> other follower; the old connection reads and syncs, then writes.
    const a = await connect(port(f1));
    open.push(a);
    out.push(['a: create via follower', await outcome(a.create('/moved-a', Buffer.from('0')))]);
    const a2 = await connect(port(f2), a);
    open.push(a2);
    out.push(['a2: reopened on the other follower', a2.connectResponse.sessionId === a.sessionId && a2.connectResponse.timeOut > 0]);
    out.push(['a2: setData', await outcome(a2.setData('/moved-a', Buffer.from('1')))]);
    const before = (await a2.exists('/moved-a')).header.zxid;
    out.push(['a: read on the old follower', await outcome(a.exists('/moved-a'))]);
    out.push(['a: old connection still open after a read', !a.closed]);
    out.push(['a: sync on the old follower', await outcome(a.request(OpCode.sync, (w) => w.writeString('/')))]);
    out.push(['a: setData on the old follower', await outcome(a.setData('/moved-a', Buffer.from('2')))]);
    out.push(['a: old connection closed', await a.raw.waitClosed()]);
    const w = await a2.setData('/moved-a', Buffer.from('3'));
    out.push(['a2: setData after', `err ${w.header.err}`]);
    // The refused write was an error txn: it took a zxid of its own.
    out.push(['a2: zxids taken since (refused write + this one)', w.header.zxid - before]);
    out.push(['a2: data is the new owner\'s', R.decodeGetDataResponse((await a2.getData('/moved-a')).reader).data?.toString()]);

    // 2. leader -> follower; the old connection on the leader reads.
    const b = await connect(port(ld));
    open.push(b);
    out.push(['b: create via leader', await outcome(b.create('/moved-b', null))]);
    const b2 = await connect(port(f1), b);
    open.push(b2);
    out.push(['b2: reopened on a follower', b2.connectResponse.sessionId === b.sessionId && b2.connectResponse.timeOut > 0]);
    out.push(['b: read on the old leader', await outcome(b.exists('/moved-b'))]);
    out.push(['b: old connection closed', await b.raw.waitClosed()]);
    out.push(['b2: setData', await outcome(b2.setData('/moved-b', Buffer.from('x')))]);

    // 3. leader -> follower; the old connection on the leader pings.
    const c = await connect(port(ld));
    open.push(c);
    const c2 = await connect(port(f2), c);
    open.push(c2);
    out.push(['c: ping on the old leader', await outcome(c.ping())]);
    out.push(['c2: ping on the new follower', await outcome(c2.ping())]);

    // 4. follower -> leader; the old connection reads, pings, then sends a multi.
    const d = await connect(port(f2));
    open.push(d);
    out.push(['d: create via follower', await outcome(d.create('/moved-d', null))]);
    const d2 = await connect(port(ld), d);
    open.push(d2);
    out.push(['d2: reopened on the leader', d2.connectResponse.sessionId === d.sessionId && d2.connectResponse.timeOut > 0]);
    out.push(['d: read on the old follower', await outcome(d.getData('/moved-d'))]);
    out.push(['d: ping on the old follower', await outcome(d.ping())]);
    out.push(['d: multi on the old follower', await outcome(multiSetData(d, '/moved-d'))]);
    out.push(['d: old connection closed', await d.raw.waitClosed()]);
    out.push(['d2: multi on the leader', await outcome(multiSetData(d2, '/moved-d'))]);
    out.push(['d2: read on the leader', await outcome(d2.getData('/moved-d'))]);

    // 5. follower -> follower and back: the first server owns it again.
    const e = await connect(port(f1));
    open.push(e);
    const e2 = await connect(port(f2), e);
    open.push(e2);
    const e3 = await connect(port(f1), e2);
    open.push(e3);
    out.push(['e: first connection closed by the reopen on its server', await e.raw.waitClosed()]);
    out.push(['e3: create back on the first follower', await outcome(e3.create('/moved-e', null))]);
    out.push(['e2: setData on the follower it left', await outcome(e2.setData('/moved-e', null))]);
    out.push(['e2: closed', await e2.raw.waitClosed()]);

    // 6. the old connection closes the session: closeSession is not checked for an owner.
    const f = await connect(port(f1));
    open.push(f);
    const f2c = await connect(port(f2), f);
    open.push(f2c);
    out.push(['f: closeSession on the old follower', await outcome(f.request(OpCode.closeSession))]);
    out.push(['f2: write after the session was closed elsewhere', await outcome(f2c.create('/moved-f', null))]);
  } finally {
    for (const c of open) c.destroy();
  }
  return out;
}

/** What ZooKeeper 3.8.0 does, checked on the live ensemble before it serves as the expectation. */
const ZOOKEEPER_FACTS: Array<[string, unknown]> = [
  ['a: read on the old follower', 'err 0'],
  ['a: sync on the old follower', 'err 0'],
  ['a: setData on the old follower', 'closed'],
  ['a2: zxids taken since (refused write + this one)', 2n],
  ['b: read on the old leader', 'closed'],
  ['c: ping on the old leader', 'closed'],
  ['d: ping on the old follower', 'err 0'],
  ['d: multi on the old follower', 'closed'],
  ['e2: setData on the follower it left', 'closed'],
  ['f: closeSession on the old follower', 'err 0'],
];

t.test('a moved session: ZooKeeper 3.8.0, zkts and mixed ensembles see the same', async (t) => {
  let expected: Array<[string, unknown]> = [];
  await t.test('ZooKeeper 3.8.0 ensemble', async (t) => {
    const zk = await startReferenceEnsemble();
    t.teardown(() => zk.stop());
    const zkLeader = await zk.waitForQuorum();
    const followers = zk.members.filter((m) => m !== zkLeader).map((m) => m.sid - 1) as [number, number];
    expected = await movedSessions({ leader: zkLeader.sid - 1, followers, client: zk.members.map((m) => m.clientPort) });
    const seen = new Map(expected);
    for (const [step, value] of ZOOKEEPER_FACTS) t.equal(seen.get(step), value, `ZooKeeper: ${step}`);
  });
  if (expected.length === 0) return;

  await t.test('zkts ensemble (separate processes)', async (t) => {
    const ens = await startZktsEnsemble(3);
    t.teardown(() => ens.stop());
    const leader = await waitForLeaderAndFollowers(ens.clientPorts.map((port) => ({ host: HOST, port })));
    const followers = [0, 1, 2].filter((i) => i !== leader) as [number, number];
    t.same(await movedSessions({ leader, followers, client: ens.clientPorts }), expected, 'every step as on ZooKeeper');
  });

  await t.test('zkts leader, a zkts and a ZooKeeper follower', async (t) => {
    const roles = await mixedEnsemble(t, [2, 3]);
    t.equal(roles.leader, 2, 'zkts (sid 3) leads');
    t.equal(roles.followers[0], 0, 'ZooKeeper (sid 1) follows');
    t.same(await movedSessions(roles), expected, 'every step as on ZooKeeper');
  });

  await t.test('ZooKeeper leader, a zkts and a ZooKeeper follower', async (t) => {
    const roles = await mixedEnsemble(t, [1]);
    t.equal(roles.leader, 2, 'ZooKeeper (sid 3) leads');
    t.equal(roles.followers[0], 0, 'zkts (sid 1) follows');
    t.same(await movedSessions(roles), expected, 'every step as on ZooKeeper');
  });
});
