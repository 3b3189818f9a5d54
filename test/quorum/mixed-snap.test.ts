// An Apache ZooKeeper 3.8.0 learner synced by SNAP from a zkts leader: zkts 2 and 3 lead with
// zookeeper.forceSnapshotSync, so ZooKeeper 1, started later on an empty dataDir, gets the zkts
// leader's one-pass stream (ACL section with every list the leader's tree holds, numbered from 1,
// some of them used by no node any more). ZooKeeper's learner takes it: it follows at the leader's
// zxid with the same nodes, data, Stats and ACLs, and its tree digest agrees with the leader's
// proposals after the SNAP.
import t from 'tap';
import { Err, OpCode } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import { waitFor, ZkClient } from '../util/client';
import { fourLetterWord, type RunningServer } from '../util/servers';
import { dumpTree, HOST, memberPorts, newDataDir, startZkMember, startZktsMember, zkDataDir, type ZktsMember } from './members';

const WAIT_MS = 30_000;
const WORLD_READ: R.ACL[] = [{ perms: 1, id: { scheme: 'world', id: 'anyone' } }];
const IP_ALL: R.ACL[] = [{ perms: 31, id: { scheme: 'ip', id: '127.0.0.1' } }];
const MIXED: R.ACL[] = [
  { perms: 31, id: { scheme: 'ip', id: '127.0.0.0/8' } },
  { perms: 1, id: { scheme: 'world', id: 'anyone' } },
];
const UNUSED_LATER: R.ACL[] = [{ perms: 3, id: { scheme: 'ip', id: '10.1.2.3' } }];

async function aclOf(c: ZkClient, p: string): Promise<string> {
  const r = await c.request(OpCode.getACL, (w) => R.encodeGetACLRequest(w, { path: p }));
  if (r.header.err !== Err.OK) return `err ${r.header.err}`;
  const { acl, stat } = R.decodeGetACLResponse(r.reader);
  return `${acl.map((a) => `${a.perms}:${a.id.scheme}:${a.id.id}`).join(',')} aversion=${stat.aversion}`;
}

t.test('a ZooKeeper 3.8.0 learner synced by SNAP from a zkts leader', async (t) => {
  const ports = await memberPorts(3);
  const members: ZktsMember[] = [];
  let zk: RunningServer | undefined;
  t.teardown(async () => {
    await zk?.stop();
    for (const m of members) await m.stop();
  });
  const props = { systemProps: { 'zookeeper.forceSnapshotSync': 'true' } };
  const started = await Promise.all([3, 2].map((sid) => startZktsMember(sid, newDataDir(sid, (f) => t.teardown(f)), ports, [], [], props)));
  members.push(...started);
  await waitFor(() => members.every((m) => m.server.notServing === undefined), 'zkts 2 and 3 serving', WAIT_MS);
  const leader = members.find((m) => m.peer.role === 'leading')!;
  t.ok(leader, 'a zkts member leads');

  const c = await ZkClient.connect(HOST, ports[leader.sid - 1].client);
  const ok = async (what: string, r: Promise<{ header: { err: number } }>) => t.equal((await r).header.err, Err.OK, what);
  await ok('create /acl', c.create('/acl', Buffer.from('parent')));
  await ok('a world-readable node', c.create('/acl/read', Buffer.from('r'), 0, WORLD_READ));
  await ok('an ip node', c.create('/acl/ip', Buffer.from('i'), 0, IP_ALL));
  await ok('a node with a two-entry list', c.create('/acl/mixed', null, 0, MIXED));
  for (let i = 0; i < 50; i++) await ok(`child ${i}`, c.create(`/acl/mixed-${i}`, Buffer.alloc(i, i), 0, i % 2 ? MIXED : WORLD_READ));
  // A list that no node uses once its node is gone: still in the leader's ACL cache.
  await ok('a node with a list of its own', c.create('/gone', null, 0, UNUSED_LATER));
  await ok('deleted', c.request(OpCode.delete, (w) => R.encodeDeleteRequest(w, { path: '/gone', version: -1 })));
  await ok('an ACL changed', c.request(OpCode.setACL, (w) => R.encodeSetACLRequest(w, { path: '/acl/ip', acl: MIXED, version: 0 })));
  await ok('an ephemeral', c.create('/eph', Buffer.from('e'), 1));

  const zkDir = zkDataDir(1, (f) => t.teardown(f));
  zk = await startZkMember(1, zkDir, ports);
  const deadline = Date.now() + WAIT_MS;
  while (!/Mode: follower/.test(await fourLetterWord(HOST, zk.port, 'srvr').catch(() => ''))) {
    if (Date.now() > deadline) throw new Error(`ZooKeeper 1 not following after ${WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  t.match(zk.log(), /Getting a snapshot from leader/, 'ZooKeeper was synced by SNAP');

  const z = await ZkClient.connect(HOST, ports[0].client);
  await ok('sync', z.request(OpCode.sync, (w) => w.writeString('/')));
  t.same(await dumpTree(z), await dumpTree(c), 'the same nodes, data and Stats on ZooKeeper as on the zkts leader');
  for (const p of ['/', '/acl', '/acl/read', '/acl/ip', '/acl/mixed', '/acl/mixed-7', '/acl/mixed-8', '/eph', '/zookeeper', '/zookeeper/config']) {
    t.equal(await aclOf(z, p), await aclOf(c, p), `${p}: the same ACL`);
  }
  // Writes after the SNAP: ZooKeeper checks the leader's TxnDigest against its own tree each time.
  await ok('a write after the SNAP', c.create('/after', Buffer.from('a'), 0, MIXED));
  await ok('and a setACL', c.request(OpCode.setACL, (w) => R.encodeSetACLRequest(w, { path: '/acl/mixed', acl: IP_ALL, version: 0 })));
  await ok('sync', z.request(OpCode.sync, (w) => w.writeString('/')));
  t.equal(await aclOf(z, '/after'), await aclOf(c, '/after'));
  t.equal(await aclOf(z, '/acl/mixed'), await aclOf(c, '/acl/mixed'));
  t.match(await fourLetterWord(HOST, zk.port, 'mntr'), /zk_digest_mismatches_count\t0\n/, 'no digest mismatch on ZooKeeper');
  const zkZxid = BigInt(/Zxid: (0x[0-9a-f]+)/.exec(await fourLetterWord(HOST, zk.port, 'srvr'))![1]);
  t.equal(zkZxid, leader.server.lastProcessedZxid, 'at the leader zxid');
  z.destroy();
  c.destroy();
});
