// An observer in a zkts ensemble: three participants and one observer (server.4=...:observer,
// peerType=observer). The observer follows the leader without a vote (INFORM, no ACK), serves
// reads and forwards writes; with one participant down the two left still commit, and with two
// down the observer alone makes no quorum.
import t from 'tap';
import { Err, OpCode } from '../../src/protocol/constants';
import { waitFor, ZkClient } from '../util/client';
import { fourLetterWord } from '../util/servers';
import { HOST, memberPorts, newDataDir, startZktsMember, type ZktsMember } from './members';

const WAIT_MS = 30_000;

t.test('an observer follows without a vote, serves and forwards', async (t) => {
  const ports = await memberPorts(4);
  const observers = [4];
  const members: (ZktsMember | undefined)[] = await Promise.all([1, 2, 3, 4].map((sid) => startZktsMember(sid, newDataDir(sid, (f) => t.teardown(f)), ports, [], observers)));
  t.teardown(async () => {
    for (const m of members) await m?.stop();
  });
  await waitFor(() => members.every((m) => m!.server.notServing === undefined), 'all serving', WAIT_MS);
  t.same(members.map((m) => m!.peer.role), ['following', 'following', 'leading', 'observing']);
  t.match(await fourLetterWord(HOST, ports[3].client, 'srvr'), /Mode: observer/);
  const o = await ZkClient.connect(HOST, ports[3].client);
  t.equal(o.sessionId >> 56n, 4n, 'the observer makes its own session ids');
  t.equal((await o.create('/fromObserver', Buffer.from('o'))).header.err, Err.OK, 'a write through the observer commits');
  const l = await ZkClient.connect(HOST, ports[2].client);
  t.equal((await l.create('/fromLeader', null)).header.err, Err.OK);
  t.equal((await o.request(OpCode.sync, (w) => w.writeString('/'))).header.err, Err.OK);
  t.equal((await o.exists('/fromLeader')).header.err, Err.OK, 'the observer applies what the leader commits');
  o.destroy();
  l.destroy();
  // Two participants down: the leader and the observer are no quorum, so nothing is served.
  await members[0]!.stop();
  await members[1]!.stop();
  members[0] = members[1] = undefined;
  await waitFor(() => members[2]!.server.notServing !== undefined && members[3]!.server.notServing !== undefined, 'no quorum without two voters', WAIT_MS);
  t.pass('the observer does not count toward a quorum');
});
