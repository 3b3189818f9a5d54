// A zkts ensemble in one process: three members elect a leader, establish an epoch on ZooKeeper's
// learner protocol, and serve; writes through every member commit in one order and every member
// ends with the same tree; when the leader stops, the others elect a new one and nothing
// acknowledged is lost; the old leader comes back as a follower and catches up.
import t from 'tap';
import { Err, OpCode } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import { waitFor, ZkClient } from '../util/client';
import { HOST, memberPorts, newDataDir, startZktsMember, type ZktsMember } from './members';

const WAIT_MS = 30_000;
const data = (r: { reader: unknown }) => R.decodeGetDataResponse(r.reader as never).data?.toString();

t.test('three zkts members elect, serve, fail over and catch up', async (t) => {
  const ports = await memberPorts(3);
  const dirs = [1, 2, 3].map((sid) => newDataDir(sid, (f) => t.teardown(f)));
  const members: (ZktsMember | undefined)[] = await Promise.all([1, 2, 3].map((sid) => startZktsMember(sid, dirs[sid - 1], ports)));
  t.teardown(async () => {
    for (const m of members) await m?.stop();
  });
  const live = () => members.filter((m): m is ZktsMember => m !== undefined);
  await waitFor(() => live().every((m) => m.server.notServing === undefined), 'all three serving', WAIT_MS);
  const roles = members.map((m) => m!.peer.role);
  t.same(roles, ['following', 'following', 'leading'], 'the largest sid leads a fresh ensemble');

  const clients = await Promise.all(ports.map((p) => ZkClient.connect(HOST, p.client)));
  t.same(clients.map((c) => c.sessionId >> 56n), [1n, 2n, 3n], 'each member makes its own session ids');
  let acked = 0;
  for (let i = 0; i < 30; i++) {
    const c = clients[i % 3];
    const r = await c.create(`/n${i}`, Buffer.from(String(i)));
    t.equal(r.header.err, Err.OK, `create /n${i} through member ${(i % 3) + 1}`);
    acked++;
  }
  for (const c of clients) t.equal((await c.request(OpCode.sync, (w) => w.writeString('/'))).header.err, Err.OK);
  for (const c of clients) t.equal(data(await c.getData('/n29')), '29', 'every member serves the last write after a sync');
  await waitFor(() => new Set(live().map((m) => m.server.lastProcessedZxid)).size === 1, 'the same zxid everywhere', WAIT_MS);
  t.equal(new Set(live().map((m) => m.server.tree.digest.value)).size, 1, 'the same tree digest everywhere');

  // The leader stops: the two left elect member 2 and serve; the acknowledged writes are there.
  for (const c of clients) c.destroy();
  await members[2]!.stop();
  members[2] = undefined;
  await waitFor(() => live().every((m) => m.server.notServing === undefined && m.peer.role !== 'looking'), 'a new leader', WAIT_MS);
  t.same(live().map((m) => m.peer.role), ['following', 'leading'], 'member 2 leads now');
  const c1 = await ZkClient.connect(HOST, ports[0].client);
  for (let i = 0; i < acked; i++) t.equal((await c1.exists(`/n${i}`)).header.err, Err.OK);
  t.equal((await c1.create('/after', Buffer.from('a'))).header.err, Err.OK, 'writes go on with two of three');
  c1.destroy();

  // Member 3 comes back as a follower and catches up.
  members[2] = await startZktsMember(3, dirs[2], ports);
  await waitFor(() => members[2]!.server.notServing === undefined, 'member 3 back', WAIT_MS);
  t.equal(members[2]!.peer.role, 'following');
  const c3 = await ZkClient.connect(HOST, ports[2].client);
  await c3.request(OpCode.sync, (w) => w.writeString('/'));
  t.equal(data(await c3.getData('/after')), 'a', 'it has the write made while it was down');
  await waitFor(() => new Set(live().map((m) => m.server.tree.digest.value)).size === 1, 'identical trees', WAIT_MS);
  c3.destroy();
});

t.test('five zkts members keep serving with two down, and stop with three down', async (t) => {
  const ports = await memberPorts(5);
  const sids = [1, 2, 3, 4, 5];
  const members: (ZktsMember | undefined)[] = await Promise.all(sids.map((sid) => startZktsMember(sid, newDataDir(sid, (f) => t.teardown(f)), ports)));
  t.teardown(async () => {
    for (const m of members) await m?.stop();
  });
  const live = () => members.filter((m): m is ZktsMember => m !== undefined);
  await waitFor(() => live().every((m) => m.server.notServing === undefined), 'all five serving', WAIT_MS);
  t.equal(members[4]!.peer.role, 'leading', 'member 5 leads');
  const c = await ZkClient.connect(HOST, ports[0].client);
  t.equal((await c.create('/five', null)).header.err, Err.OK);
  c.destroy();
  // The leader and one follower go: three of five are a quorum.
  await members[4]!.stop();
  await members[3]!.stop();
  members[4] = members[3] = undefined;
  await waitFor(() => live().every((m) => m.server.notServing === undefined && m.peer.role !== 'looking'), 'three of five serving', WAIT_MS);
  t.equal(live().filter((m) => m.peer.role === 'leading').length, 1, 'one new leader');
  t.equal(members[2]!.peer.role, 'leading', 'member 3 (the largest left) leads');
  const c2 = await ZkClient.connect(HOST, ports[1].client);
  t.equal((await c2.exists('/five')).header.err, Err.OK, 'the acknowledged write is there');
  t.equal((await c2.create('/three-of-five', null)).header.err, Err.OK, 'writes go on');
  c2.destroy();
  // A third goes: two of five are no quorum, and nobody serves.
  await members[2]!.stop();
  members[2] = undefined;
  await waitFor(() => live().every((m) => m.server.notServing !== undefined), 'no quorum, no service', WAIT_MS);
  t.pass('two of five do not serve');
});
