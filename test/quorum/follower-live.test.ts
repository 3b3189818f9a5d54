// A zkts server as a follower of a live Apache ZooKeeper 3.8.0 ensemble: two ZooKeeper servers
// (ids 1 and 2) run and have a leader; zkts (id 3) joins, elects with them, syncs from the
// ZooKeeper leader on its own protocol, and serves: writes through zkts commit in the ensemble,
// writes through ZooKeeper reach zkts, and every member ends with the same tree. Restarted, zkts
// catches up on what it missed.
import { MNTR_KEYS_ADDED_IN_3_9 } from '../../src/admin/mntrkeys';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { Err, OpCode } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import { waitFor, ZkClient } from '../util/client';
import { fourLetterWord, type RunningServer, startReferenceZooKeeper } from '../util/servers';
import { memberPorts, mntrPairs, serverLines, startZktsMember } from './members';

const HOST = '127.0.0.1';
const WAIT_MS = 30_000;

const data = (r: { reader: unknown }) => R.decodeGetDataResponse(r.reader as never).data?.toString();

t.test('zkts follows a ZooKeeper 3.8.0 leader, serves, and catches up after a restart', async (t) => {
  const ports = await memberPorts(3);
  const servers: RunningServer[] = [];
  t.teardown(async () => {
    for (const s of servers) await s.stop();
  });
  const startZk = (sid: number) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `zk-follow-${sid}-`));
    fs.writeFileSync(path.join(dataDir, 'myid'), `${sid}\n`);
    t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const extraConfig: Record<string, string> = { dataDir, tickTime: '500', initLimit: '10', syncLimit: '5', '4lw.commands.whitelist': '*' };
    for (const line of serverLines(ports)) {
      const [k, v] = line.split('=');
      extraConfig[k] = v;
    }
    return startReferenceZooKeeper({ extraConfig, port: ports[sid - 1].client });
  };
  const launched = await Promise.allSettled([startZk(1), startZk(2)]);
  for (const r of launched) if (r.status === 'fulfilled') servers.push(r.value);
  for (const r of launched) if (r.status === 'rejected') throw r.reason;
  const [zk1, zk2] = servers;

  // Data written before zkts joins: it arrives with the sync.
  const before = await ZkClient.connect(HOST, zk1.port);
  t.equal((await before.create('/before', Buffer.from('b'))).header.err, Err.OK);
  for (let i = 0; i < 20; i++) await before.create(`/before/n${i}`, Buffer.from(String(i)));

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-follow-'));
  fs.writeFileSync(path.join(dataDir, 'myid'), '3\n');
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  let z = await startZktsMember(3, dataDir, ports);
  t.teardown(() => z.stop());
  await waitFor(() => z.server.notServing === undefined, 'zkts serving', WAIT_MS);
  t.equal(z.peer.role, 'following');
  t.ok(z.peer.leaderSid === 1n || z.peer.leaderSid === 2n, 'it follows the ZooKeeper leader');
  t.match(await fourLetterWord(HOST, ports[2].client, 'ruok'), 'imok');

  // mntr of a follower: the keys of a ZooKeeper follower's, the same role. zkts lists them in
  // 3.9.5's order, with 3.9's snapshot and restore keys: compared as sets with 3.8.0's.
  const zkFollower = z.peer.leaderSid === 1n ? zk2 : zk1;
  const ours = mntrPairs(await fourLetterWord(HOST, ports[2].client, 'mntr'));
  const theirs = mntrPairs(await fourLetterWord(HOST, zkFollower.port, 'mntr'));
  // Per-namespace summaries appear only once a namespace was used; zkts's own keys (zk_zkts_*) come last.
  const keys = (pairs: Array<[string, string]>) =>
    pairs
      .map(([k]) => k)
      .filter((k) => !k.endsWith('_per_namespace') && !k.startsWith('zk_zkts_') && !MNTR_KEYS_ADDED_IN_3_9.has(k.slice(3)))
      .sort();
  t.same(keys(ours), keys(theirs), 'a follower mntr has ZooKeeper follower keys');
  t.ok(ours.some(([k]) => k === 'zk_cnt_restore_time'), 'and 3.9\'s');
  for (const k of ['zk_server_state', 'zk_peer_state', 'zk_quorum_size'])
    t.equal(ours.find(([x]) => x === k)?.[1], theirs.find(([x]) => x === k)?.[1], `${k} as ZooKeeper says it`);

  const c = await ZkClient.connect(HOST, ports[2].client);
  t.equal(c.sessionId >> 56n, 3n, 'zkts made the session id, its sid in the top byte');
  t.equal(data(await c.getData('/before/n7')), '7', 'the synced data is served');
  t.equal((await c.create('/viaZkts', Buffer.from('z'))).header.err, Err.OK, 'a write through zkts commits');
  t.equal((await c.create('/viaZkts/eph', null, 1)).header.err, Err.OK, 'an ephemeral through zkts');
  t.equal((await c.create('/viaZkts', null)).header.err, Err.NODEEXISTS, 'a failing write is answered as ZooKeeper answers it');
  // ZooKeeper's followers serve what zkts wrote (after a sync, which ZooKeeper's reads need).
  const onZk2 = await ZkClient.connect(HOST, zk2.port);
  t.equal((await onZk2.request(OpCode.sync, (w) => w.writeString('/viaZkts'))).header.err, Err.OK);
  t.equal(data(await onZk2.getData('/viaZkts')), 'z', 'ZooKeeper sees the write made through zkts');
  t.equal((await onZk2.exists('/viaZkts/eph')).header.err, Err.OK);
  // And zkts sees what ZooKeeper's clients write, with a watch firing.
  t.equal((await c.exists('/viaZk', true)).header.err, Err.NONODE);
  t.equal((await onZk2.create('/viaZk', Buffer.from('k'))).header.err, Err.OK);
  await c.waitNotification((e) => e.path === '/viaZk', WAIT_MS);
  t.equal((await c.request(OpCode.sync, (w) => w.writeString('/viaZk'))).header.err, Err.OK, 'a sync through zkts goes through the ZooKeeper leader');
  t.equal(data(await c.getData('/viaZk')), 'k', 'zkts serves the write made through ZooKeeper');
  // The ephemeral goes when the zkts session closes, everywhere.
  await c.close();
  await onZk2.request(OpCode.sync, (w) => w.writeString('/viaZkts'));
  t.equal((await onZk2.exists('/viaZkts/eph')).header.err, Err.NONODE, 'the zkts session close removed its ephemeral in ZooKeeper');

  // Restart zkts; meanwhile ZooKeeper takes more writes.
  await z.stop();
  for (let i = 0; i < 10; i++) await before.create(`/while/${i}`.replace('/while/', '/while-'), Buffer.from(String(i)));
  z = await startZktsMember(3, dataDir, ports);
  await waitFor(() => z.server.notServing === undefined, 'zkts serving again', WAIT_MS);
  const again = await ZkClient.connect(HOST, ports[2].client);
  await again.request(OpCode.sync, (w) => w.writeString('/'));
  t.equal(data(await again.getData('/while-9')), '9', 'the writes it missed arrived');
  t.equal(data(await again.getData('/viaZkts')), 'z', 'its own earlier writes are still there');
  // Same tree digest as the ZooKeeper leader would compute: compare the zxid and the node count.
  const zkSrvr = await fourLetterWord(HOST, zk1.port, 'srvr');
  const zkZxid = BigInt(/Zxid: (0x[0-9a-f]+)/.exec(zkSrvr)![1]);
  await waitFor(() => z.server.lastProcessedZxid === zkZxid, 'zkts at the leader zxid', WAIT_MS);
  const zkNodes = Number(/Node count: (\d+)/.exec(zkSrvr)![1]);
  t.equal(z.server.tree.nodeCount + 1, zkNodes, 'the same number of nodes');
  // The ZooKeeper leader's proposals carry its TxnDigest: zkts checked its tree against each one.
  t.match(await fourLetterWord(HOST, ports[2].client, 'mntr'), /zk_digest_mismatches_count\t0\n/, 'the zkts follower found its tree equal to the leader digest after every txn');
  await again.close();
  await before.close();
  await onZk2.close();
});
