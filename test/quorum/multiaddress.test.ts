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
import { freePort } from '../util/servers';
import { HOST, newDataDir, startZktsMember, type MemberPorts, type ZktsMember } from './members';

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
