// Local sessions (localSessionsEnabled=true), with and without localSessionsUpgradingEnabled: a new
// session lives only on the server it connected to (no createSession txn), cannot be reopened on
// another server, closes and expires there without a txn, and an ephemeral create either fails
// (EPHEMERALONLOCALSESSION) or first upgrades it to a global session. The same scenario runs
// against a 3-node Apache ZooKeeper 3.8.0 ensemble, a 3-node zkts ensemble and mixed ensembles (a
// zkts leader, a ZooKeeper leader), and what each step sees must be the same; a standalone server with the key keeps global sessions, as ZooKeeper's.

import t from 'tap';
import { Err, OpCode } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import { JuteReader } from '../../src/protocol/jute';
import { ConnectionClosedError, ZkClient, type Reply } from '../util/client';
import { startReferenceEnsemble, waitForLeaderAndFollowers } from '../util/ensemble';
import { fourLetterWord, startReferenceZooKeeper, startZkts, type RunningServer } from '../util/servers';
import { startZktsEnsemble } from '../util/zktsensemble';
import { mixedEnsemble, type Roles } from './mixedensemble';

const HOST = '127.0.0.1';
const EPHEMERAL = 1;


async function outcome(p: Promise<Reply>): Promise<string> {
  try {
    return `err ${(await p).header.err}`;
  } catch (e) {
    if (e instanceof ConnectionClosedError) return 'closed';
    throw e;
  }
}

let connections = 0;

async function connect(port: number, opts: { from?: ZkClient; timeoutMs?: number } = {}): Promise<ZkClient> {
  return ZkClient.connect(HOST, port, {
    timeoutMs: opts.timeoutMs ?? 30_000,
    keepAlive: false,
    sessionId: opts.from?.sessionId,
    passwd: opts.from?.passwd,
    firstXid: 1 + 1000 * connections++,
  });
}

/** The zxid a server has applied, as the header of a read reply carries it. */
async function zxidAt(c: ZkClient): Promise<bigint> {
  return (await c.exists('/')).header.zxid;
}

/** A reopen's answer: 'valid' (same id, a timeout), 'expired' (timeout 0, id 0), or 'closed'. */
async function reopen(port: number, from: ZkClient): Promise<[string, ZkClient | undefined]> {
  let c: ZkClient;
  try {
    c = await connect(port, { from });
  } catch (e) {
    if (e instanceof ConnectionClosedError) return ['closed', undefined];
    throw e;
  }
  const r = c.connectResponse;
  if (r.sessionId === from.sessionId && r.timeOut > 0) return ['valid', c];
  return [r.timeOut === 0 && r.sessionId === 0n ? 'expired' : `other ${r.timeOut}`, c];
}

function multiCreate(c: ZkClient, ops: Array<{ path: string; flags: number }>): Promise<Reply> {
  return c.request(OpCode.multi, (w) => {
    for (const op of ops) {
      R.encodeMultiHeader(w, { type: OpCode.create, done: false, err: -1 });
      R.encodeCreateRequest(w, { path: op.path, data: null, acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], flags: op.flags });
    }
    R.encodeMultiHeader(w, { type: -1, done: true, err: -1 });
  });
}

/** A multi reply as "header err; op results (type/err)". */
function multiOutcome(r: Reply): string {
  if (r.header.err !== Err.OK) return `err ${r.header.err}`;
  const rd = new JuteReader(r.frame.subarray(R.ReplyHeader_SIZE));
  const parts: string[] = [];
  for (;;) {
    const h = R.decodeMultiHeader(rd);
    if (h.done) break;
    if (h.type === OpCode.error) {
      parts.push(`error ${rd.readInt()}`);
    } else {
      parts.push(`op ${h.type}`);
      if (h.type === OpCode.create) rd.readString();
      else break; // not used here
    }
  }
  return `ok; ${parts.join(', ')}`;
}

async function localSessions(roles: Roles, upgrading: boolean, tag: string): Promise<Array<[string, unknown]>> {
  const out: Array<[string, unknown]> = [];
  const open: ZkClient[] = [];
  const track = <T extends ZkClient | undefined>(c: T): T => {
    if (c) open.push(c);
    return c;
  };
  const port = (i: number) => roles.client[i];
  const [f1, f2] = roles.followers;
  const p = (name: string) => `/${tag}-${name}`;
  try {
    // A new session through a follower: no txn for it; a persistent create takes one zxid.
    const x = track(await connect(port(f1)));
    out.push(['x: create persistent', await outcome(x.create(p('x'), null))]);
    const z0 = await zxidAt(x);
    const a = track(await connect(port(f1)));
    out.push(['a: session id names the follower', Number(a.sessionId >> 56n) === f1 + 1]);
    out.push(['a: create persistent', await outcome(a.create(p('a'), null))]);
    const z1 = await zxidAt(a);
    out.push(['a: zxids taken by the session and a create', z1 - z0]);
    out.push(['a: create ephemeral', await outcome(a.create(p('a-eph'), null, EPHEMERAL))]);
    const z2 = await zxidAt(a);
    out.push(['a: zxids taken by the ephemeral create', z2 - z1]);
    out.push(['a: ephemeral exists', await outcome(a.exists(p('a-eph')))]);
    const [aElsewhere, a2] = await reopen(port(f2), a);
    track(a2);
    out.push(['a: reopened on the other follower', aElsewhere]);
    if (a2) out.push(['a2: connection closed after the answer', await a2.raw.waitClosed(aElsewhere === 'valid' ? 200 : 5000)]);
    out.push(['a: old connection still serves', await outcome(a.exists(p('a')))]);

    // A multi holding an ephemeral create, on a fresh session through the other follower.
    const m = track(await connect(port(f2)));
    const zm = await zxidAt(m);
    out.push(['m: multi with an ephemeral create', multiOutcome(await multiCreate(m, [{ path: p('m'), flags: 0 }, { path: p('m-eph'), flags: EPHEMERAL }]))]);
    out.push(['m: zxids taken', (await zxidAt(m)) - zm]);
    out.push(['m: persistent of the multi exists', await outcome(m.exists(p('m')))]);

    // Reopened on the same server: valid, and the first connection is closed.
    const b = track(await connect(port(f1)));
    const [bSame, b2] = await reopen(port(f1), b);
    track(b2);
    out.push(['b: reopened on the same follower', bSame]);
    out.push(['b: first connection closed', await b.raw.waitClosed()]);
    if (b2) out.push(['b2: create', await outcome(b2.create(p('b'), null))]);

    // closeSession of a local session: answered, no txn.
    const d = track(await connect(port(f1)));
    const zd = await zxidAt(d);
    const closeReply = await d.request(OpCode.closeSession);
    out.push(['d: closeSession', `err ${closeReply.header.err}`]);
    out.push(['d: closeSession reply zxid minus before', closeReply.header.zxid - zd]);
    out.push(['d: connection closed', await d.raw.waitClosed()]);
    const [dAgain, d2] = await reopen(port(f1), d);
    track(d2);
    out.push(['d: reopened after its close', dAgain]);

    // A session of the leader.
    const c = track(await connect(port(roles.leader)));
    out.push(['c: session id names the leader', Number(c.sessionId >> 56n) === roles.leader + 1]);
    const zc = await zxidAt(c);
    out.push(['c: create ephemeral via the leader', await outcome(c.create(p('c-eph'), null, EPHEMERAL))]);
    out.push(['c: zxids taken', (await zxidAt(c)) - zc]);
    const [cElsewhere, c2] = await reopen(port(f1), c);
    track(c2);
    out.push(['c: reopened on a follower', cElsewhere]);

    // Expiry: the server closes the connection of an idle local session, which is then gone.
    const e = track(await connect(port(f2), { timeoutMs: 1 }));
    out.push(['e: expired connection closed', await e.raw.waitClosed(20_000)]);
    const [eAgain, e2] = await reopen(port(f2), e);
    track(e2);
    // ZooKeeper 3.8.0 answers this reopen either way, on the same ensemble from run to run: a
    // ConnectResponse saying expired, or a close before any answer (both seen under load). Either
    // refuses the session. The close most likely is the expired session's own, still on its way
    // through the follower when the new connection takes the session id.
    out.push(['e: reopened after expiry', eAgain === 'expired' || eAgain === 'closed' ? 'refused' : eAgain]);

    // mntr of the first follower: its local sessions apart from the global ones.
    const mntr = await fourLetterWord(HOST, port(f1), 'mntr');
    const key = (k: string) => new RegExp(`^zk_${k}\\t(\\d+)$`, 'm').exec(mntr)?.[1];
    out.push(['f1: mntr local_sessions, global_sessions', [key('local_sessions'), key('global_sessions')]]);
  } finally {
    for (const c of open) c.destroy();
  }
  return out;
}

function rolesOf(leader: number, client: number[]): Roles {
  return { leader, followers: [0, 1, 2].filter((i) => i !== leader) as [number, number], client };
}

/** What ZooKeeper 3.8.0 does, checked on the live ensemble before it serves as the expectation. */
const ZOOKEEPER_FACTS: Record<'off' | 'on', Array<[string, unknown]>> = {
  off: [
    ['a: zxids taken by the session and a create', 1n],
    ['a: create ephemeral', `err ${Err.EPHEMERALONLOCALSESSION}`],
    ['a: zxids taken by the ephemeral create', 1n],
    ['a: reopened on the other follower', 'expired'],
    ['m: multi with an ephemeral create', `ok; error 0, error ${Err.SESSIONEXPIRED}`],
    ['d: closeSession reply zxid minus before', 0n],
    ['d: reopened after its close', 'expired'],
    ['c: create ephemeral via the leader', `err ${Err.EPHEMERALONLOCALSESSION}`],
    ['c: zxids taken', 1n],
    ['e: reopened after expiry', 'refused'],
    ['f1: mntr local_sessions, global_sessions', ['3', '0']],
  ],
  on: [
    ['a: zxids taken by the session and a create', 1n],
    ['a: create ephemeral', 'err 0'],
    ['a: zxids taken by the ephemeral create', 2n],
    ['a: reopened on the other follower', 'valid'],
    ['c: zxids taken', 2n],
    ['e: reopened after expiry', 'refused'],
    ['f1: mntr local_sessions, global_sessions', ['2', '3']],
  ],
};

for (const upgrading of [false, true]) {
  const cfg = { localSessionsEnabled: 'true', localSessionsUpgradingEnabled: String(upgrading) };
  t.test(`local sessions, upgrading ${upgrading ? 'on' : 'off'}: ZooKeeper 3.8.0 and zkts ensembles see the same`, async (t) => {
    let expected: Array<[string, unknown]> = [];
    await t.test('ZooKeeper 3.8.0 ensemble', async (t) => {
      const zk = await startReferenceEnsemble({ extraConfig: { ...cfg, tickTime: '500', '4lw.commands.whitelist': '*' } });
      t.teardown(() => zk.stop());
      const leader = await zk.waitForQuorum();
      expected = await localSessions(rolesOf(leader.sid - 1, zk.members.map((m) => m.clientPort)), upgrading, 'zk');
      const seen = new Map(expected);
      for (const [step, value] of ZOOKEEPER_FACTS[upgrading ? 'on' : 'off']) t.same(seen.get(step), value, `ZooKeeper: ${step}`);
    });
    if (expected.length === 0) return;
    await t.test('zkts ensemble', async (t) => {
      const ens = await startZktsEnsemble(3, cfg);
      t.teardown(() => ens.stop());
      const leader = await waitForLeaderAndFollowers(ens.clientPorts.map((port) => ({ host: HOST, port })));
      t.same(await localSessions(rolesOf(leader, ens.clientPorts), upgrading, 'zkts'), expected, 'every step as on ZooKeeper');
    });
    await t.test('zkts leader, a zkts and a ZooKeeper follower', async (t) => {
      const roles = await mixedEnsemble(t, [2, 3], cfg);
      t.same([roles.leader, roles.followers], [2, [0, 1]], 'zkts (sid 3) leads, ZooKeeper (sid 1) follows');
      t.same(await localSessions(roles, upgrading, 'mixed-zkts'), expected, 'every step as on ZooKeeper');
    });
    await t.test('ZooKeeper leader, a zkts and a ZooKeeper follower', async (t) => {
      const roles = await mixedEnsemble(t, [1], cfg);
      t.same([roles.leader, roles.followers], [2, [0, 1]], 'ZooKeeper (sid 3) leads, zkts (sid 1) follows');
      t.same(await localSessions(roles, upgrading, 'mixed-zk'), expected, 'every step as on ZooKeeper');
    });
  });
}

t.test('standalone with localSessionsEnabled: sessions stay global, as in ZooKeeper', async (t) => {
  const cfg = { localSessionsEnabled: 'true', localSessionsUpgradingEnabled: 'false' };
  const run = async (s: RunningServer) => {
    const a = await connect(s.port);
    const z0 = await zxidAt(a);
    const eph = await outcome(a.create('/standalone-eph', null, EPHEMERAL));
    const b = await connect(s.port);
    const z1 = await zxidAt(b);
    a.destroy();
    b.destroy();
    return { eph, createSessionTakesAZxid: z1 - z0 };
  };
  const zk = await startReferenceZooKeeper({ extraConfig: cfg });
  let expected;
  try {
    expected = await run(zk);
  } finally {
    await zk.stop();
  }
  t.same(expected, { eph: 'err 0', createSessionTakesAZxid: 2n }, 'ZooKeeper: the ephemeral and the next session each take a zxid');
  const z = await startZkts({ extraConfig: cfg });
  try {
    t.same(await run(z), expected, 'zkts the same');
  } finally {
    await z.stop();
  }
});
