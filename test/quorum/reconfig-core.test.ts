// The Zab cores and the election with a pending reconfiguration that never commits: a last-seen
// configuration whose reconfig txn is not in the log is forgotten (so it is neither activated by a
// later leader nor waited for), a learner joining an established epoch is not handed an
// outstanding configuration to activate, and an election does not wait for the voters of a
// configuration a newer epoch's ensemble does not run. (Found by the stack simulation with reconfig.)
import t from 'tap';
import { OpCode } from '../../src/protocol/constants';
import { Election } from '../../src/quorum/election';
import { ZabLeader } from '../../src/quorum/leader';
import type { ZabLearner } from '../../src/quorum/learner';
import { followerCore } from './followercore';
import type { Ready } from '../../src/quorum/ready';
import { parseQuorumVerifier, type QuorumVerifier } from '../../src/quorum/verifier';
import { PeerState, type Notification } from '../../src/quorum/vote';
import { encodeLearnerInfo, PacketType, ZAB_PROTOCOL_VERSION, type QuorumPacket } from '../../src/quorum/wire/packets';
import { encodeInt } from '../../src/quorum/zabpayloads';
import { serializeTxn } from '../../src/storage/txnserde';

const line = (sid: number, type = 'participant'): string => `server.${sid}=127.0.0.1:${2000 + sid}:${3000 + sid}:${type};127.0.0.1:${4000 + sid}`;
const config = (version: bigint, ...members: string[]): QuorumVerifier => parseQuorumVerifier([...members, `version=${version.toString(16)}`].join('\n'));

const committed = config(0x100000000n, line(1), line(2), line(3));
/** A reconfig proposed at 0x100000005 (add 4), which the leader that proposed it never committed. */
const pending = config(0x100000005n, line(1), line(2), line(3), line(4));

const packet = (type: PacketType, zxid: bigint, data: Buffer | null = null): QuorumPacket => ({ type, zxid, data, authinfo: null });

function learner(lastLoggedZxid: bigint): ZabLearner {
  return followerCore(committed, { lastLoggedZxid, lastSeenVerifier: pending });
}

function take(core: { ready(): Ready; advance(): void }): Ready {
  const r = core.ready();
  core.advance();
  return r;
}

/** Through LEADERINFO of epoch 2 to the sync's first packet. */
function syncWith(l: ZabLearner, first: QuorumPacket): Ready {
  take(l);
  l.step(packet(PacketType.LEADERINFO, 0x200000000n, encodeInt(ZAB_PROTOCOL_VERSION)));
  take(l);
  l.step(first);
  return take(l);
}

t.test('a learner forgets its last-seen configuration when TRUNC or SNAP cuts the log it was in, and keeps it on DIFF', async (t) => {
  let l = learner(0x100000005n);
  let r = syncWith(l, packet(PacketType.TRUNC, 0x100000004n));
  t.equal(r.truncateTo, 0x100000004n);
  t.equal(r.dropSeenConfig, true, 'TRUNC cut the reconfig: .dynamic.next goes');
  t.equal(l.lastSeenVerifier, committed, 'the committed configuration is the last seen again');

  // A SNAP whose zxid is past the reconfig's does not hold it either: the new history diverged.
  l = learner(0x100000005n);
  r = syncWith(l, packet(PacketType.SNAP, 0x200000003n));
  t.equal(r.dropSeenConfig, true, 'SNAP replaces the log: forgotten whatever its zxid');
  t.equal(l.lastSeenVerifier, committed);

  l = learner(0x100000005n);
  r = syncWith(l, packet(PacketType.DIFF, 0x100000005n));
  t.equal(r.dropSeenConfig, undefined, 'DIFF keeps the log, and the reconfig with it');
  t.equal(l.lastSeenVerifier, pending);
});

t.test('a core started with a last-seen configuration newer than its log forgets it', async (t) => {
  const l = learner(0x100000004n);
  t.equal(l.lastSeenVerifier, committed);
  t.equal(take(l).dropSeenConfig, true);
  const leader = new ZabLeader({
    sid: 1n,
    verifier: committed,
    lastSeenVerifier: pending,
    reconfigEnabled: true,
    tickTimeMs: 100,
    initLimitTicks: 10,
    syncLimitTicks: 5,
    acceptedEpoch: 1n,
    currentEpoch: 1n,
    lastLoggedZxid: 0x100000004n,
    committedLog: [],
    nowMs: 0,
  });
  t.equal(leader.lastSeenVerifier, committed, 'not carried in NEWLEADER, not activated at establishment');
  t.equal(take(leader).dropSeenConfig, true);
  const withIt = learner(0x100000005n);
  t.equal(withIt.lastSeenVerifier, pending, 'kept while its txn is in the log');
});

t.test('a learner joining an established epoch gets the committed configuration in NEWLEADER, not an outstanding one', async (t) => {
  const leader = new ZabLeader({
    sid: 1n,
    verifier: committed,
    reconfigEnabled: true,
    tickTimeMs: 100,
    initLimitTicks: 10,
    syncLimitTicks: 5,
    acceptedEpoch: 1n,
    currentEpoch: 1n,
    lastLoggedZxid: 0x100000004n,
    committedLog: [],
    nowMs: 0,
  });
  const info = (sid: bigint) => packet(PacketType.FOLLOWERINFO, 0x100000000n, encodeLearnerInfo({ sid, protocolVersion: ZAB_PROTOCOL_VERSION, configVersion: committed.version }));
  leader.connected(2);
  leader.step(2, info(2n));
  take(leader);
  leader.step(2, packet(PacketType.ACKEPOCH, 0x100000004n, encodeInt(1)));
  take(leader);
  leader.step(2, packet(PacketType.ACK, 0x200000000n));
  t.equal(leader.phase, 'broadcast', 'established with 1 and 2');
  take(leader);
  const zxid = leader.nextZxid();
  const next = config(zxid, line(1), line(2), line(3), line(4));
  const txn = serializeTxn({
    hdr: { clientId: 0n, cxid: 1, zxid, time: 0n, type: OpCode.reconfig },
    body: { type: OpCode.setData, record: { path: '/zookeeper/config', data: Buffer.from(next.toString(), 'utf8'), version: -1 } },
  });
  t.ok(leader.propose(zxid, txn).ok);
  t.equal(leader.lastSeenVerifier.version, zxid, 'the reconfig is outstanding');
  take(leader);
  leader.connected(3);
  leader.step(3, info(3n));
  take(leader);
  leader.step(3, packet(PacketType.ACKEPOCH, 0x100000004n, encodeInt(1)));
  const sent = take(leader).send.flatMap((s) => (s.kind === 'packet' && s.packet.type === PacketType.NEWLEADER ? [s.packet] : []));
  t.equal(sent.length, 1);
  t.equal(sent[0].data?.toString('utf8'), committed.toString(), "NEWLEADER carries the committed configuration (the learner activates it at UPTODATE)");
});

t.test('an election stops waiting for a pending configuration that a newer epoch ensemble does not run', async (t) => {
  // Server 3 proposed the reconfig to {3,4,5} (version 0x300000013), lost its leadership, and
  // 1 and 2 (with 3, the committed configuration) went on under leader 2 in epoch 4.
  const c = config(0x300000004n, line(1), line(2), line(3));
  const next = config(0x300000013n, line(3), line(4), line(5));
  const e = new Election({ mySid: 3n, verifier: c, nextVerifier: next, learnerType: 'participant' });
  e.startLooking(0, 0x300000013n, 3n);
  e.ready();
  e.advance();
  const settled = (sid: bigint, state: PeerState): Notification => ({
    sid,
    state,
    leader: 2n,
    zxid: 0x400000002n,
    electionEpoch: 5n,
    peerEpoch: 4n,
    version: 2,
    config: c.toString(),
  });
  e.step(10, settled(2n, PeerState.LEADING));
  t.equal(e.ready().decided, undefined, 'the leader alone is no quorum');
  e.advance();
  e.step(11, settled(1n, PeerState.FOLLOWING));
  const d = e.ready().decided;
  t.ok(d !== undefined, 'a quorum of the committed configuration following an epoch-4 leader decides');
  t.equal(d?.vote.leader, 2n);
  t.equal(d?.state, PeerState.FOLLOWING);

  // While the reconfig could still commit (the leader's epoch is not newer than it), it is waited for.
  const e2 = new Election({ mySid: 3n, verifier: c, nextVerifier: next, learnerType: 'participant' });
  e2.startLooking(0, 0x300000013n, 3n);
  e2.ready();
  e2.advance();
  e2.step(10, { ...settled(2n, PeerState.LEADING), peerEpoch: 3n });
  e2.advance();
  e2.step(11, { ...settled(1n, PeerState.FOLLOWING), peerEpoch: 3n });
  t.equal(e2.ready().decided, undefined, 'a quorum of {3,4,5} is still needed');
});

t.test("an observer of the committed configuration that a pending one makes a voter counts for the latter's NEWLEADER quorum", async (t) => {
  // Committed: voters 1 and 3, 2 observes. Pending (logged at 0x400000017, left uncommitted by the
  // last leader): voters 1 and 2, 3 observes. 2 still connects as an observer.
  const c = config(0x400000007n, line(1), line(2, 'observer'), line(3));
  const next = config(0x400000017n, line(1), line(2), line(3, 'observer'));
  const leader = new ZabLeader({
    sid: 1n,
    verifier: c,
    lastSeenVerifier: next,
    reconfigEnabled: true,
    tickTimeMs: 100,
    initLimitTicks: 10,
    syncLimitTicks: 5,
    acceptedEpoch: 4n,
    currentEpoch: 4n,
    lastLoggedZxid: 0x400000018n,
    committedLog: [],
    nowMs: 0,
  });
  const info = (type: PacketType, sid: bigint) => packet(type, 0x400000000n, encodeLearnerInfo({ sid, protocolVersion: ZAB_PROTOCOL_VERSION, configVersion: c.version }));
  leader.connected(3);
  leader.step(3, info(PacketType.FOLLOWERINFO, 3n));
  leader.connected(2);
  leader.step(2, info(PacketType.OBSERVERINFO, 2n));
  take(leader);
  leader.step(3, packet(PacketType.ACKEPOCH, 0x400000018n, encodeInt(4)));
  leader.step(2, packet(PacketType.ACKEPOCH, 0x400000018n, encodeInt(4)));
  take(leader);
  leader.step(3, packet(PacketType.ACK, 0x500000000n));
  t.equal(leader.phase, 'newleader', 'a quorum of the committed configuration is not enough');
  leader.step(2, packet(PacketType.ACK, 0x500000000n));
  t.equal(leader.phase, 'broadcast', "2's ack makes the pending configuration's quorum");
  const r = take(leader);
  t.same(
    r.activations.map((a) => a.verifier.version),
    [0x400000017n],
    'the pending configuration is activated with the epoch',
  );
});

t.test('between NEWLEADER and UPTODATE both ends wait as long as initLimit, not syncLimit', async (t) => {
  // The epoch's quorum may need a pending configuration's voters, which come later: a learner that
  // acked NEWLEADER and its leader both keep the link while the leader may still wait (initLimit).
  const leader = new ZabLeader({
    sid: 1n,
    verifier: config(0x100000000n, line(1), line(2), line(3), line(4), line(5)),
    tickTimeMs: 100,
    initLimitTicks: 10,
    syncLimitTicks: 5,
    acceptedEpoch: 1n,
    currentEpoch: 1n,
    lastLoggedZxid: 0x100000004n,
    committedLog: [],
    nowMs: 0,
  });
  const info = (sid: bigint) => packet(PacketType.FOLLOWERINFO, 0x100000000n, encodeLearnerInfo({ sid, protocolVersion: ZAB_PROTOCOL_VERSION, configVersion: 0x100000000n }));
  for (const sid of [2n, 3n]) {
    leader.connected(Number(sid));
    leader.step(Number(sid), info(sid));
  }
  take(leader);
  for (const sid of [2, 3]) leader.step(sid, packet(PacketType.ACKEPOCH, 0x100000004n, encodeInt(1)));
  take(leader);
  leader.step(2, packet(PacketType.ACK, 0x200000000n));
  t.equal(leader.phase, 'newleader', '1 and 2 are no quorum of five');
  leader.tick(700);
  t.same(take(leader).close, [], 'the learner that acked is kept past syncLimit');
  leader.step(3, packet(PacketType.ACK, 0x200000000n));
  t.equal(leader.phase, 'broadcast', 'the quorum forms later');
  t.ok(
    take(leader).send.some((x) => x.kind === 'packet' && x.to === 2 && x.packet.type === PacketType.UPTODATE),
    'and the first learner is still there for its UPTODATE',
  );

  const l = learner(0x100000005n);
  syncWith(l, packet(PacketType.DIFF, 0x100000005n));
  l.step(packet(PacketType.NEWLEADER, 0x200000000n, null));
  take(l);
  l.tick(700);
  t.equal(l.phase, 'newleader', 'the learner waits past syncLimit for UPTODATE');
  l.tick(1_000);
  t.equal(l.phase, 'over', 'and gives up at initLimit');
});
