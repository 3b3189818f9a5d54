// Observers across implementations: a zkts observer of a 3-voter Apache ZooKeeper 3.8.0 ensemble,
// and a ZooKeeper 3.8.0 observer of a 3-voter zkts ensemble. The observer serves reads, forwards
// writes, sees the voters' writes, says `Mode: observer`, follows a new leader after the leader is
// killed, and ends with the voters' tree.
import t from 'tap';
import { Err, OpCode } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import { ZkClient } from '../util/client';
import { type MemberKind, startReferenceEnsemble } from '../util/ensemble';
import { fourLetterWord } from '../util/servers';
import { dumpTree, HOST } from './members';

const SHAPES: Array<{ name: string; members: MemberKind[] }> = [
  { name: 'a zkts observer of ZooKeeper voters', members: ['3.8.0', '3.8.0', '3.8.0', 'zkts'] },
  { name: 'a ZooKeeper observer of zkts voters', members: ['zkts', 'zkts', 'zkts', '3.8.0'] },
];
const data = (r: { reader: unknown }) => R.decodeGetDataResponse(r.reader as never).data?.toString();

for (const shape of SHAPES) {
  t.test(shape.name, async (t) => {
    const ens = await startReferenceEnsemble({ members: shape.members, observers: [4], extraConfig: { tickTime: '500', '4lw.commands.whitelist': '*' } });
    t.teardown(() => ens.stop());
    const observer = ens.member(4);
    const leader = await ens.waitForQuorum();
    t.not(leader.sid, 4, 'an observer never leads');
    t.match(await fourLetterWord(HOST, observer.clientPort, 'srvr'), /Mode: observer/);

    const voter = ens.members.find((m) => m.sid !== 4 && m.sid !== leader.sid)!;
    const viaObserver = await ZkClient.connect(HOST, observer.clientPort);
    const viaVoter = await ZkClient.connect(HOST, voter.clientPort);
    t.equal((await viaObserver.create('/from-observer', Buffer.from('o'))).header.err, Err.OK, 'a write through the observer is forwarded and committed');
    t.equal((await viaVoter.create('/from-voter', Buffer.from('v'))).header.err, Err.OK);
    t.equal((await viaObserver.create('/from-observer', null)).header.err, Err.NODEEXISTS, 'a failing write answered as ZooKeeper answers it');
    t.equal((await viaObserver.request(OpCode.sync, (w) => w.writeString('/'))).header.err, Err.OK, 'sync through the observer');
    t.equal(data(await viaObserver.getData('/from-voter')), 'v', "the observer serves the voters' write");
    await viaVoter.request(OpCode.sync, (w) => w.writeString('/'));
    t.equal(data(await viaVoter.getData('/from-observer')), 'o', "the voters have the observer's write");
    // A watch set on the observer fires for a write through a voter.
    await viaObserver.getData('/from-voter', true);
    await viaVoter.setData('/from-voter', Buffer.from('v2'));
    const ev = await viaObserver.waitNotification((e) => e.path === '/from-voter');
    t.equal(ev.event.type, 3, 'NodeDataChanged on the observer');
    viaVoter.destroy();

    // The leader killed: the observer follows the new one and goes on serving writes.
    await leader.kill();
    const next = await ens.waitForQuorum();
    t.not(next.sid, leader.sid);
    t.match(await fourLetterWord(HOST, observer.clientPort, 'srvr'), /Mode: observer/, 'still an observer under the new leader');
    const again = await ZkClient.connect(HOST, observer.clientPort);
    t.equal((await again.create('/after-failover', Buffer.from('f'))).header.err, Err.OK, 'a write through the observer after the failover');
    await leader.start();
    await ens.waitForQuorum();

    const dumps: string[][] = [];
    for (const m of ens.members) {
      const c = await ZkClient.connect(HOST, m.clientPort);
      await c.request(OpCode.sync, (w) => w.writeString('/'));
      dumps.push(await dumpTree(c));
      c.destroy();
    }
    for (let i = 1; i < dumps.length; i++) t.same(dumps[i], dumps[0], `member ${i + 1} has member 1's tree`);
    t.ok(dumps[3].some((l) => l.startsWith('/after-failover ')), "the observer's write after the failover is everywhere");
    viaObserver.destroy();
    again.destroy();
  });
}
