// A learner further behind than the leader's in-memory committed window (zookeeper.commitLogCount,
// 500) is synced by DIFF from the leader's txn log on disk when the log files to read weigh at most
// zookeeper.snapshotSizeFactor (0.33) of the newest snapshot, as ZooKeeper's leader does; past that
// limit it gets a SNAP. Members: Apache ZooKeeper 3.8.0 (sid 1) and zkts (sids 2 and 3).
import t, { type Test } from 'tap';
import { Err, OpCode } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import { waitFor, ZkClient } from '../util/client';
import { fourLetterWord, type RunningServer } from '../util/servers';
import { HOST, memberPorts, newDataDir, startZkMember, startZktsMember, zkDataDir, type ZktsMember } from './members';

const WAIT_MS = 30_000;
// Small preallocated log blocks, so that the log's size on disk is near its contents' (ZooKeeper
// counts the files' sizes), and frequent snapshots of a tree that weighs about 1.6 MB.
const EXTRA = ['preAllocSize=16', 'snapCount=200'];
const BEHIND = 700;
const data = (r: { reader: unknown }) => R.decodeGetDataResponse(r.reader as never).data?.toString();
const syncNote = (lines: string[], sid: number) =>
  lines.map((l) => (JSON.parse(l) as { msg?: string }).msg ?? '').filter((m) => m.startsWith(`sync sid ${sid}: `));

async function writeBehind(c: ZkClient, round: string, t: Test): Promise<void> {
  let failed = 0;
  for (let i = 0; i < BEHIND; i++) if ((await c.setData('/small', Buffer.from(`${round}-${i}`))).header.err !== Err.OK) failed++;
  t.equal(failed, 0, `${BEHIND} writes while a member is down`);
}

t.test('DIFF from the on-disk log to a ZooKeeper follower and to zkts followers', async (t) => {
  const ports = await memberPorts(3);
  const zkDir = zkDataDir(1, (f) => t.teardown(f));
  const dirs = [newDataDir(2, (f) => t.teardown(f)), newDataDir(3, (f) => t.teardown(f))];
  const logs: Record<number, string[]> = { 2: [], 3: [] };
  const members = new Map<number, ZktsMember>();
  let zk: RunningServer | undefined;
  t.teardown(async () => {
    for (const m of members.values()) await m.stop();
    await zk?.stop();
  });
  const startMember = async (sid: number) => members.set(sid, await startZktsMember(sid, dirs[sid - 2], ports, EXTRA, [], { logLines: logs[sid] }));
  await startMember(3);
  await startMember(2);
  zk = await startZkMember(1, zkDir, ports, { preAllocSize: '16', snapCount: '200' });
  await waitFor(() => members.get(3)!.server.notServing === undefined, 'zkts 3 serving', WAIT_MS);
  t.equal(members.get(3)!.peer.role, 'leading', 'zkts 3 leads (the largest sid)');

  const c = await ZkClient.connect(HOST, ports[2].client);
  const big = Buffer.alloc(8000, 'x');
  let failed = 0;
  for (let i = 0; i < 200; i++) if ((await c.create(`/big-${i}`, big)).header.err !== Err.OK) failed++;
  t.equal(failed, 0, '200 nodes of 8 KB');
  t.equal((await c.create('/small', Buffer.from('0'))).header.err, Err.OK);
  // Small writes past a log roll (at most snapCount txns), so that the log a DIFF reads from here
  // on holds none of the large creates.
  for (let i = 0; i < 250; i++) await c.setData('/small', Buffer.from('0'));

  // A ZooKeeper follower 700 txns behind: DIFF read from the zkts leader's log.
  await zk.stop();
  await writeBehind(c, 'a', t);
  zk = await startZkMember(1, zkDir, ports, { preAllocSize: '16', snapCount: '200' });
  const c1 = await ZkClient.connect(HOST, ports[0].client);
  await c1.request(OpCode.sync, (w) => w.writeString('/'));
  t.equal(data(await c1.getData('/small')), `a-${BEHIND - 1}`, 'the ZooKeeper follower has every write it missed');
  t.match(zk.log(), /Getting a diff from the leader/, 'ZooKeeper was synced by DIFF');
  t.notMatch(zk.log(), /Getting a snapshot from leader/, 'and not by SNAP');
  t.match(syncNote(logs[3], 1).slice(-1)[0], /^sync sid 1: DIFF .*zxid in the log/, 'the leader chose DIFF over its log');
  const zkZxid = BigInt(/Zxid: (0x[0-9a-f]+)/.exec(await fourLetterWord(HOST, zk.port, 'srvr'))![1]);
  t.equal(zkZxid, members.get(3)!.server.lastProcessedZxid, 'at the leader zxid');
  c1.destroy();

  // A zkts follower 700 txns behind, the same way.
  await members.get(2)!.stop();
  members.delete(2);
  await writeBehind(c, 'b', t);
  await startMember(2);
  await waitFor(() => members.get(2)!.server.notServing === undefined, 'zkts 2 serving again', WAIT_MS);
  t.match(syncNote(logs[3], 2).slice(-1)[0], /^sync sid 2: DIFF .*zxid in the log/, 'the zkts follower was synced by DIFF from disk');
  const c2 = await ZkClient.connect(HOST, ports[1].client);
  await c2.request(OpCode.sync, (w) => w.writeString('/'));
  t.equal(data(await c2.getData('/small')), `b-${BEHIND - 1}`, 'the zkts follower has every write it missed');
  c2.destroy();
  c.destroy();

  // A new leader reads its log's tail at the start of its epoch: zkts 3 stopped, zkts 2 (the larger
  // remaining sid) leads, and zkts 3 back 700 txns later is DIFFed from zkts 2's disk.
  await members.get(3)!.stop();
  members.delete(3);
  await waitFor(() => members.get(2)!.peer.role === 'leading' && members.get(2)!.server.notServing === undefined, 'zkts 2 leading', WAIT_MS);
  const c2b = await ZkClient.connect(HOST, ports[1].client);
  await writeBehind(c2b, 'c', t);
  await startMember(3);
  await waitFor(() => members.get(3)!.server.notServing === undefined, 'zkts 3 serving again', WAIT_MS);
  t.match(syncNote(logs[2], 3).slice(-1)[0], /^sync sid 3: DIFF .*zxid in the log/, 'the new leader DIFFed from the log it found on disk');
  const c3 = await ZkClient.connect(HOST, ports[2].client);
  await c3.request(OpCode.sync, (w) => w.writeString('/'));
  t.equal(data(await c3.getData('/small')), `c-${BEHIND - 1}`);
  t.equal(members.get(3)!.server.lastProcessedZxid, members.get(2)!.server.lastProcessedZxid, 'at the leader zxid');
  c3.destroy();
  c2b.destroy();
});

t.test('past zookeeper.snapshotSizeFactor the leader sends a SNAP instead', async (t) => {
  const ports = await memberPorts(3);
  const dirs = [1, 2, 3].map((sid) => newDataDir(sid, (f) => t.teardown(f)));
  const logs: Record<number, string[]> = { 1: [], 2: [], 3: [] };
  const members = new Map<number, ZktsMember>();
  t.teardown(async () => {
    for (const m of members.values()) await m.stop();
  });
  // A factor of 0.0001 makes even one small log file too heavy against the snapshot.
  const extra = [...EXTRA, 'snapshotSizeFactor=0.0001'];
  const startMember = async (sid: number) => members.set(sid, await startZktsMember(sid, dirs[sid - 1], ports, extra, [], { logLines: logs[sid] }));
  for (const sid of [3, 2, 1]) await startMember(sid);
  await waitFor(() => members.get(3)!.server.notServing === undefined && members.get(1)!.server.notServing === undefined, 'serving', WAIT_MS);
  const c = await ZkClient.connect(HOST, ports[2].client);
  t.equal((await c.create('/small', Buffer.from('0'))).header.err, Err.OK);
  await members.get(1)!.stop();
  members.delete(1);
  await writeBehind(c, 'a', t);
  await startMember(1);
  await waitFor(() => members.get(1)!.server.notServing === undefined, 'zkts 1 serving again', WAIT_MS);
  t.match(syncNote(logs[3], 1).slice(-1)[0], /^sync sid 1: SNAP /, 'SNAP: the log is too heavy to replay');
  const c1 = await ZkClient.connect(HOST, ports[0].client);
  await c1.request(OpCode.sync, (w) => w.writeString('/'));
  t.equal(data(await c1.getData('/small')), `a-${BEHIND - 1}`);
  c1.destroy();
  c.destroy();
});
