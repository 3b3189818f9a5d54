// multiAddress (ZOOKEEPER-3188) used, not only parsed: three zkts members, each with two addresses
// on different loopback IPs (127.0.0.1 and 127.0.0.2). Every member knows its peers' first
// address by a port nothing listens on, so each election connect and each learner's connect to the
// leader has to get through on the second address; and the leader's own first quorum port is held
// by another socket before it starts, so it leads on its second one. The ensemble forms and serves
// writes, and fails over to a new leader the same way.
import t from 'tap';
import * as net from 'node:net';
import { Err, OpCode } from '../../src/protocol/constants';
import { waitFor, ZkClient } from '../util/client';
import { waitForLeaderAndFollowers } from '../util/ensemble';
import { freePort, startReferenceZooKeeper, type RunningServer } from '../util/servers';
import { HOST, newDataDir, startZktsMember, zkDataDir, type MemberPorts, type ZktsMember } from './members';

const HOST2 = '127.0.0.2';
const WAIT_MS = 30_000;

interface Addresses {
  first: { quorum: number; election: number };
  second: { quorum: number; election: number };
  /** Where the peers' configurations put this member's first address: nothing listens there. */
  dead: { quorum: number; election: number };
  client: number;
}

async function pair(): Promise<{ quorum: number; election: number }> {
  return { quorum: await freePort(), election: await freePort() };
}

/** Member `sid`'s server lines: its own with both real addresses, its peers' with a dead first one. */
function linesFor(sid: number, all: Addresses[]): string[] {
  return all.map((a, i) => {
    const first = i + 1 === sid ? a.first : a.dead;
    return `server.${i + 1}=${HOST}:${first.quorum}:${first.election}|${HOST2}:${a.second.quorum}:${a.second.election};${HOST}:${a.client}`;
  });
}

t.test('three zkts members with two addresses each, one of them unusable, elect, serve and fail over', async (t) => {
  const all: Addresses[] = [];
  for (let i = 0; i < 3; i++) all.push({ first: await pair(), second: await pair(), dead: await pair(), client: await freePort() });
  // Another process holds member 3's first quorum port (member 3 leads a fresh ensemble).
  const squatter = net.createServer((c) => c.destroy());
  await new Promise<void>((r) => squatter.listen(all[2].first.quorum, HOST, () => r()));
  t.teardown(() => squatter.close());

  const ports: MemberPorts[] = all.map((a) => ({ quorum: a.first.quorum, election: a.first.election, client: a.client }));
  const dirs = [1, 2, 3].map((sid) => newDataDir(sid, (f) => t.teardown(f)));
  const logs: string[][] = [[], [], []];
  const start = (sid: number) =>
    startZktsMember(sid, dirs[sid - 1], ports, ['multiAddress.enabled=true'], [], { serverLines: linesFor(sid, all), logLines: logs[sid - 1] });
  const members: (ZktsMember | undefined)[] = [];
  t.teardown(async () => {
    for (const m of members) await m?.stop();
  });
  for (const sid of [1, 2, 3]) members.push(await start(sid));
  const live = () => members.filter((m): m is ZktsMember => m !== undefined);
  await waitFor(() => live().every((m) => m.server.notServing === undefined), 'all three serving', WAIT_MS);
  t.same(members.map((m) => m!.peer.role), ['following', 'following', 'leading'], 'member 3 leads, 1 and 2 follow');

  const lines = (sid: number, re: RegExp) => logs[sid - 1].filter((l) => re.test(l)).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(lines(3, /cannot bind a quorum address/).some((l) => l.address === `${HOST}:${all[2].first.quorum}`), 'the leader could not bind its first quorum address');
  const bound = lines(3, /LEADING: the quorum port is open/)[0]?.addresses;
  t.same(bound, [`${HOST2}:${all[2].second.quorum}`], 'and leads on its second one only');
  for (const sid of [1, 2]) {
    t.ok(
      lines(sid, /connected to the leader, using this address/).some((l) => l.address === `${HOST2}:${all[2].second.quorum}`),
      `member ${sid} reached the leader on its second address`,
    );
    t.ok(
      lines(sid, /cannot open election channel/).some((l) => typeof l.address === 'string' && l.address.startsWith(`${HOST}:`)),
      `member ${sid}'s election connects met a dead first address`,
    );
  }
  for (const sid of [1, 2, 3]) {
    t.equal(lines(sid, /accepting election connections/).length, 2, `member ${sid} listens on both election addresses`);
  }

  const clients = await Promise.all(all.map((a) => ZkClient.connect(HOST, a.client)));
  for (let i = 0; i < 9; i++) {
    const r = await clients[i % 3].create(`/m${i}`, Buffer.from(String(i)));
    t.equal(r.header.err, Err.OK, `create /m${i} through member ${(i % 3) + 1}`);
  }
  for (const c of clients) t.equal((await c.request(OpCode.sync, (w) => w.writeString('/'))).header.err, Err.OK);
  for (const c of clients) t.equal((await c.exists('/m8')).header.err, Err.OK, 'every member has the last write');
  for (const c of clients) c.destroy();

  // The leader goes: 1 and 2 elect 2 over their second addresses and go on serving writes.
  await members[2]!.stop();
  members[2] = undefined;
  await waitFor(() => live().every((m) => m.server.notServing === undefined && m.peer.role !== 'looking'), 'a new leader', WAIT_MS);
  t.same(live().map((m) => m.peer.role), ['following', 'leading'], 'member 2 leads now');
  const c1 = await ZkClient.connect(HOST, all[0].client);
  t.equal((await c1.create('/after', null)).header.err, Err.OK, 'a write commits with two of three');
  t.equal((await c1.exists('/m8')).header.err, Err.OK, 'and the acknowledged ones are there');
  c1.destroy();
});

// The same lines and the same unusable addresses with one member Apache ZooKeeper 3.8.0: as the
// leader (sid 3: its first quorum port is held by another socket, and zkts learners reach it on the
// second), and as a follower (sid 1: its learner reaches the zkts leader on the second address).
for (const zkSid of [3, 1]) {
  t.test(`mixed: ZooKeeper 3.8.0 as member ${zkSid} of a multi-address ensemble with two zkts members`, async (t) => {
    const all: Addresses[] = [];
    for (let i = 0; i < 3; i++) all.push({ first: await pair(), second: await pair(), dead: await pair(), client: await freePort() });
    const squatter = net.createServer((c) => c.destroy());
    await new Promise<void>((r) => squatter.listen(all[2].first.quorum, HOST, () => r()));
    t.teardown(() => squatter.close());
    const ports: MemberPorts[] = all.map((a) => ({ quorum: a.first.quorum, election: a.first.election, client: a.client }));
    const stops: Array<() => Promise<void>> = [];
    t.teardown(async () => {
      for (const stop of stops.reverse()) await stop();
    });
    const logs: string[][] = [[], [], []];
    let zk: RunningServer | undefined;
    // ZooKeeper first (it takes longest to start), so that all three look for a leader together.
    const startOne = async (sid: number): Promise<void> => {
      if (sid === zkSid) {
        const dataDir = zkDataDir(sid, (f) => t.teardown(f));
        const cfg: Record<string, string> = { dataDir, tickTime: '500', initLimit: '10', syncLimit: '5', '4lw.commands.whitelist': '*', 'multiAddress.enabled': 'true' };
        for (const line of linesFor(sid, all)) {
          const eq = line.indexOf('=');
          cfg[line.slice(0, eq)] = line.slice(eq + 1);
        }
        zk = await startReferenceZooKeeper({ extraConfig: cfg, port: all[sid - 1].client, readyWhen: 'answering', jvmFlags: ['-Dzookeeper.multiAddress.enabled=true'] });
        stops.push(() => zk!.stop());
        return;
      }
      const m = await startZktsMember(sid, newDataDir(sid, (f) => t.teardown(f)), ports, ['multiAddress.enabled=true'], [], { serverLines: linesFor(sid, all), logLines: logs[sid - 1] });
      stops.push(() => m.stop());
    };
    await startOne(zkSid);
    for (const r of await Promise.allSettled([1, 2, 3].filter((sid) => sid !== zkSid).map(startOne))) if (r.status === 'rejected') throw r.reason;
    const leader = await waitForLeaderAndFollowers(all.map((a) => ({ host: HOST, port: a.client })), WAIT_MS);
    t.equal(leader, 2, 'member 3 leads');
    const zkLog = zk!.log();
    if (zkSid === 3) {
      t.match(zkLog, new RegExp(`Couldn't bind to .*${HOST}:${all[2].first.quorum}`), 'ZooKeeper could not bind its first quorum address, and leads on the other');
      for (const sid of [1, 2]) {
        const used = logs[sid - 1].filter((l) => /connected to the leader, using this address/.test(l)).map((l) => (JSON.parse(l) as { address: string }).address);
        t.same(used, [`${HOST2}:${all[2].second.quorum}`], `zkts member ${sid} reached the ZooKeeper leader on its second address`);
      }
    } else {
      t.match(zkLog, new RegExp(`Successfully connected to leader, using address: .*${HOST2.replace(/\./g, '\\.')}:${all[2].second.quorum}`), 'ZooKeeper\'s learner reached the zkts leader on its second address');
    }
    const clients = await Promise.all(all.map((a) => ZkClient.connect(HOST, a.client)));
    t.teardown(() => clients.forEach((c) => c.destroy()));
    for (let i = 0; i < 6; i++) t.equal((await clients[i % 3].create(`/x${i}`, Buffer.from(String(i)))).header.err, Err.OK, `create /x${i} through member ${(i % 3) + 1}`);
    for (const c of clients) await c.request(OpCode.sync, (w) => w.writeString('/'));
    for (const c of clients) t.equal((await c.exists('/x5')).header.err, Err.OK, 'every member has the last write');
  });
}
