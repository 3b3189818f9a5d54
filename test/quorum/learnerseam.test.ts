// The server's learner and leader seams, wired in one process without the quorum protocol: a
// learner forwards its clients' writes to a leader, the leader prepares and commits them, and
// every committed txn reaches the learner in zxid order. What this proves is the server side a
// quorum builds on: writes through either server land identically in both trees, a learner's
// client is answered when its own txn commits there, sessions are made by the learner (its sid in
// the top byte) and revalidated at the leader, sync through a learner, and a lost leader gives
// back every forwarded write.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import t, { type Test } from 'tap';
import { Err, OpCode } from '../../src/protocol/constants';
import type { CommitStage } from '../../src/server/commit';
import { loadConfig } from '../../src/server/config';
import { ZooKeeperServer, type LeaderLink } from '../../src/server/server';
import type { Database } from '../../src/storage/database';
import { DataTree } from '../../src/storage/datatree';
import type { Txn } from '../../src/storage/txn';
import * as R from '../../src/protocol/generated/records';
import { waitFor, ZkClient } from '../util/client';

/** The leader's commit stage: commits at once, then hands each txn to the learners, in order. */
class RelayCommitStage implements CommitStage {
  readonly pending = 0;
  readonly failure = undefined;
  readonly stalled = undefined;
  readonly learners: ZooKeeperServer[] = [];
  /** While set, txns wait here (a slow quorum) instead of committing. */
  held: Array<() => void> | undefined;
  submit(txn: Txn, done: () => void): void {
    const run = () => {
      done();
      for (const l of this.learners) l.learnerCommitted(txn);
    };
    if (this.held) this.held.push(run);
    else run();
  }
  barrier(done: () => void): void {
    if (this.held) this.held.push(done);
    else done();
  }
  release(): void {
    const h = this.held ?? [];
    this.held = undefined;
    for (const f of h) f();
  }
}

function memoryDb(commit: CommitStage): Database {
  return { tree: new DataTree(false), sessions: new Map(), commit, afterApply() {}, async close() {} };
}

async function startPair(t: Test) {
  const dirs: string[] = [];
  const configFor = (sid: number) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-seam-'));
    dirs.push(dataDir);
    fs.writeFileSync(path.join(dataDir, 'myid'), `${sid}\n`);
    const text = [
      'tickTime=2000',
      'initLimit=5',
      'syncLimit=2',
      `dataDir=${dataDir}`,
      'clientPort=0',
      'clientPortAddress=127.0.0.1',
      '4lw.commands.whitelist=*',
      'server.1=127.0.0.1:1:2',
      'server.2=127.0.0.1:3:4',
      'server.3=127.0.0.1:5:6',
    ].join('\n');
    return loadConfig(text, new Map(), dataDir);
  };
  const log = pino({ level: 'silent' });
  const relay = new RelayCommitStage();
  const leader = new ZooKeeperServer(configFor(1), log, Date.now, memoryDb(relay));
  const learner = new ZooKeeperServer(configFor(2), log, Date.now, memoryDb(relay));
  relay.learners.push(learner);
  const revalidations: bigint[] = [];
  const link: LeaderLink = {
    forwardRequest: (sessionId, cxid, type, body, ids) => leader.submitForwarded(sessionId, cxid, type, Buffer.from(body), [...(ids ?? [])]),
    revalidate: async (sessionId, timeoutMs) => {
      revalidations.push(sessionId);
      return leader.touchSession(sessionId, timeoutMs);
    },
  };
  learner.setLeaderLink(link);
  leader.onForwardedSync = () => learner.learnerSynced();
  await leader.start();
  await learner.start();
  t.teardown(async () => {
    await learner.stop();
    await leader.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  return { leader, learner, relay, revalidations };
}

const connect = (s: ZooKeeperServer, opts = {}) => ZkClient.connect('127.0.0.1', s.address().port, opts);

function dataOf(tree: DataTree, p: string): string | undefined {
  const n = tree.getNode(p);
  if (n === undefined) return undefined;
  const d = n.data;
  return typeof d === 'string' ? Buffer.from(d, 'latin1').toString() : (d ?? Buffer.alloc(0)).toString();
}

t.test('writes through the learner commit at the leader and are answered when they apply on the learner', async (t) => {
  const { leader, learner } = await startPair(t);
  const c = await connect(learner);
  t.equal(c.connectResponse.timeOut > 0, true, 'the session was created through the leader');
  t.equal(c.sessionId >> 56n, 2n, 'the learner makes the session id, its sid in the top byte');
  t.ok(leader.sessions.get(c.sessionId), 'the leader tracks the session');
  const created = await c.create('/a', Buffer.from('one'));
  t.equal(created.header.err, Err.OK);
  t.equal(dataOf(leader.tree, '/a'), 'one');
  t.equal(dataOf(learner.tree, '/a'), 'one');
  t.equal(created.header.zxid, learner.lastProcessedZxid);
  const dup = await c.create('/a', Buffer.from('two'));
  t.equal(dup.header.err, Err.NODEEXISTS, 'a failed write is an error txn committed like any other');
  const set = await c.setData('/a', Buffer.from('three'));
  t.equal(set.header.err, Err.OK);
  const got = await c.getData('/a');
  t.equal(got.header.err, Err.OK);
  t.equal(R.decodeGetDataResponse(got.reader).data?.toString(), 'three', 'a read after a write of the session sees it');
  t.equal(leader.tree.digest.value, learner.tree.digest.value, 'both trees have the same digest');
  t.equal(leader.lastProcessedZxid, learner.lastProcessedZxid);
  await c.close();
  t.equal(learner.sessions.get(c.sessionId), undefined, 'the committed closeSession removes the session on the learner');
  t.equal(leader.sessions.get(c.sessionId), undefined, 'and on the leader');
});

t.test('writes through the leader reach the learner; ephemerals of a learner session go with it', async (t) => {
  const { leader, learner } = await startPair(t);
  const onLeader = await connect(leader);
  const onLearner = await connect(learner);
  t.equal((await onLeader.create('/x', Buffer.from('L'))).header.err, Err.OK);
  t.equal((await onLearner.create('/x/eph', null, 1)).header.err, Err.OK, 'an ephemeral through the learner');
  t.equal(dataOf(learner.tree, '/x'), 'L');
  t.ok(leader.tree.getNode('/x/eph'));
  await onLearner.close();
  t.equal(leader.tree.getNode('/x/eph'), undefined, 'the ephemeral is gone on the leader');
  t.equal(learner.tree.getNode('/x/eph'), undefined, 'and on the learner');
  await onLeader.close();
});

t.test('a session reconnecting to the learner is revalidated at the leader; a bad password is refused there first', async (t) => {
  const { leader, learner, revalidations } = await startPair(t);
  const first = await connect(leader);
  const id = first.sessionId;
  first.stopKeepAlive();
  first.destroy();
  const moved = await connect(learner, { sessionId: id, passwd: first.passwd });
  t.equal(moved.sessionId, id, 'the session moved to the learner');
  t.same(revalidations, [id], 'the learner asked the leader');
  t.equal((await moved.create('/m', null)).header.err, Err.OK, 'and writes through it');
  const bad = await connect(learner, { sessionId: id, passwd: Buffer.alloc(16, 7) });
  t.equal(bad.connectResponse.timeOut, 0, 'a wrong password gets the expired answer');
  t.same(revalidations, [id], 'without asking the leader');
  const unknown = 0x0200000000001234n;
  const gone = await connect(learner, { sessionId: unknown, passwd: (await import('../../src/server/sessions')).sessionPassword(unknown) });
  t.equal(gone.connectResponse.timeOut, 0, 'a session the leader does not know is expired');
  await moved.close();
  void leader;
});

t.test('sync through the learner waits for the writes before it at the leader', async (t) => {
  const { learner, relay } = await startPair(t);
  const c = await connect(learner);
  relay.held = [];
  const write = c.create('/s', Buffer.from('v'));
  const sync = c.request(OpCode.sync, (w) => w.writeString('/s'));
  await waitFor(() => relay.held!.length === 2, 'both at the leader');
  t.equal(learner.tree.getNode('/s'), undefined, 'nothing applied while the leader holds them');
  relay.release();
  const [w, s] = await Promise.all([write, sync]);
  t.equal(w.header.err, Err.OK);
  t.equal(s.header.err, Err.OK);
  t.ok(s.header.zxid >= w.header.zxid, 'the sync answer covers the write before it');
  await c.close();
});

t.test('losing the leader gives back the forwarded writes and closes their connections', async (t) => {
  const { leader, learner, relay } = await startPair(t);
  const c = await connect(learner);
  relay.held = [];
  const write = c.create('/lost', null);
  await waitFor(() => relay.held!.length === 1, 'the write at the leader');
  learner.setLeaderLink(undefined);
  await t.rejects(write, /connection closed: before the reply/, 'the write is never answered: the client sees its connection close');
  await waitFor(() => c.closed, 'the connection closed');
  t.equal(learner.outstanding, 0, 'the request gave back its outstanding slot');
  relay.learners.length = 0;
  relay.release();
  void leader;
});

t.test('a server its role keeps from serving closes its clients, refuses sessions and says so to ruok and srvr', async (t) => {
  const { learner } = await startPair(t);
  const { fourLetterWord } = await import('../util/servers');
  const c = await connect(learner);
  learner.setRoleProblem('no leader yet (LOOKING)');
  await waitFor(() => c.closed, 'the client connection closed');
  await t.rejects(connect(learner), /connection closed/, 'a new session is refused');
  const port = learner.address().port;
  t.equal(await fourLetterWord('127.0.0.1', port, 'ruok'), '', 'ruok stays silent');
  t.match(await fourLetterWord('127.0.0.1', port, 'srvr'), /not currently serving/);
  learner.setRoleProblem(undefined);
  t.equal(await fourLetterWord('127.0.0.1', port, 'ruok'), 'imok');
  const again = await connect(learner);
  t.ok(again.connectResponse.timeOut > 0, 'serving again');
  await again.close();
});

t.test('a learner serves from a database put in place while it does not serve (a SNAP), with its sessions', async (t) => {
  const { learner, relay } = await startPair(t);
  const c = await connect(learner);
  t.equal((await c.create('/before', null)).header.err, Err.OK);
  t.throws(() => learner.replaceDatabase(memoryDb(relay)), /serving clients/, 'not while serving');
  learner.setRoleProblem('syncing with the leader');
  const db = memoryDb(relay);
  const tree = db.tree;
  // A tree as a snapshot from the leader would bring it: a node and a session at zxid 0x100000005.
  const sessionId = 0x0100000000000042n;
  const txn = (zxid: bigint, cxid: number, body: Txn['body']): Txn => ({ hdr: { clientId: sessionId, cxid, zxid, time: 1n, type: body.type }, body });
  tree.replay(txn(0x100000004n, 0, { type: OpCode.createSession, record: { timeOut: 30000 } }));
  tree.replay(txn(0x100000005n, 1, { type: OpCode.create, record: { path: '/fromsnap', data: Buffer.from('s'), acl: [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }], ephemeral: false, parentCVersion: 1 } } as Txn['body']));
  db.sessions.set(sessionId, 30000);
  learner.replaceDatabase(db);
  learner.setRoleProblem(undefined);
  t.equal(learner.lastProcessedZxid, 0x100000005n);
  t.ok(learner.sessions.get(sessionId), 'the snapshot sessions are known');
  const again = await connect(learner);
  t.equal((await again.exists('/fromsnap')).header.err, Err.OK, 'the new tree is served');
  t.equal((await again.exists('/before')).header.err, Err.NONODE, 'the old one is gone');
  await again.close();
});

t.test('a leader gives zxids of its epoch, and refuses a write that would exhaust the counter', async (t) => {
  const { leader, learner } = await startPair(t);
  leader.beginEpoch(5n);
  t.throws(() => leader.beginEpoch(4n), /does not follow/, 'epochs only go up');
  const c = await connect(learner);
  t.equal(c.connectResponse.timeOut > 0, true);
  t.equal(learner.lastProcessedZxid, 0x500000001n, 'the first txn of epoch 5 is 0x500000001');
  t.equal((await c.create('/e', null)).header.zxid, 0x500000002n);
  let exhausted = 0;
  // The leader gives up its role: its learners lose it, and what they forwarded is given back.
  leader.onZxidExhausted = () => {
    exhausted++;
    learner.setLeaderLink(undefined);
  };
  (leader as unknown as { lastProposedZxid: bigint }).lastProposedZxid = 0x5fffffffdn;
  t.equal((await c.create('/last', null)).header.zxid, 0x5fffffffen, 'counter 0xfffffffe is the last one given');
  await t.rejects(c.create('/over', null), /connection closed/, 'the next write is refused and its client disconnected');
  t.equal(exhausted, 1, 'the quorum is told to start a new epoch');
  t.equal(leader.tree.getNode('/over'), undefined);
});
