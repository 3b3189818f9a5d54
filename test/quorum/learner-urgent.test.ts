// A follower whose disk is slow still answers the leader's PINGs, and forwards its clients'
// requests, at once: the core hands those packets to the shell apart from its Readies
// (takeUrgent), in their order, while the Ready that logs a proposal waits for its fsync. Its ACK
// stays behind the log write. (ZooKeeper's follower thread answers pings and forwards requests
// while its sync thread is in an fsync.)
import t from 'tap';
import { OpCode } from '../../src/protocol/constants';
import type { ZabLearner } from '../../src/quorum/learner';
import { followerCore } from './followercore';
import type { Ready } from '../../src/quorum/ready';
import { parseQuorumVerifier } from '../../src/quorum/verifier';
import { PacketType, ZAB_PROTOCOL_VERSION, type QuorumPacket } from '../../src/quorum/wire/packets';
import { encodeInt } from '../../src/quorum/zabpayloads';
import { serializeTxn } from '../../src/storage/txnserde';

const line = (sid: number): string => `server.${sid}=127.0.0.1:${2000 + sid}:${3000 + sid}:participant;127.0.0.1:${4000 + sid}`;
const verifier = parseQuorumVerifier([line(1), line(2), line(3), 'version=100000000'].join('\n'));
const packet = (type: PacketType, zxid: bigint, data: Buffer | null = null): QuorumPacket => ({ type, zxid, data, authinfo: null });
const NAMES = new Map<number, string>([
  [PacketType.PING, 'PING'],
  [PacketType.REQUEST, 'REQUEST'],
  [PacketType.ACK, 'ACK'],
  [PacketType.REVALIDATE, 'REVALIDATE'],
]);
const name = (type: number): string => NAMES.get(type) ?? String(type);
const types = (r: Ready) => r.send.map((s) => (s.kind === 'packet' ? `${name(s.packet.type)} ${s.packet.zxid.toString(16)}` : s.kind));

function servingFollower(): ZabLearner {
  const l = followerCore(verifier, { lastLoggedZxid: 0x100000000n, touches: { take: () => [{ sessionId: 0x5n, timeoutMs: 3000 }] } });
  const step = (p: QuorumPacket) => {
    l.step(p);
    l.ready();
    l.advance();
  };
  l.ready();
  l.advance();
  step(packet(PacketType.LEADERINFO, 0x200000000n, encodeInt(ZAB_PROTOCOL_VERSION)));
  step(packet(PacketType.DIFF, 0x100000000n));
  step(packet(PacketType.NEWLEADER, 0x200000000n));
  step(packet(PacketType.UPTODATE, 0n));
  return l;
}

t.test('PING answers and forwarded requests leave at once while a proposal waits for its fsync', async (t) => {
  const l = servingFollower();
  t.equal(l.phase, 'serving');
  const txn = serializeTxn({ hdr: { clientId: 0x5n, cxid: 1, zxid: 0x200000001n, time: 0n, type: OpCode.create }, body: { type: OpCode.create, record: { path: '/a', data: Buffer.alloc(0), acl: [], ephemeral: false, parentCVersion: 1 } } });
  l.step(packet(PacketType.PROPOSAL, 0x200000001n, txn));
  t.same(l.takeUrgent(), [], 'nothing urgent in a proposal');
  const logging = l.ready();
  t.same(logging.append.map((a) => a.zxid), [0x200000001n], 'the proposal is to be logged');
  // The Ready is executing (its fsync under way): the leader pings, a client writes.
  l.step(packet(PacketType.PING, 0x200000001n));
  t.ok(l.forward({ sessionId: 0x5n, cxid: 2, op: OpCode.delete, body: Buffer.from('x') }, null), 'forwarded');
  const urgent = l.takeUrgent();
  t.same(urgent.map((p) => name(p.type)), ['PING', 'REQUEST'], 'the PING answer and the request, in their order, taken while the Ready waits');
  t.ok(urgent[0].data !== null && urgent[0].data.length > 0, 'the PING answer carries the touch table');
  t.same(l.takeUrgent(), [], 'taken once');
  l.advance();
  t.same(types(logging), ['ACK 200000001'], "the proposal's ACK went with its Ready, after the log write");
  t.equal(l.hasReady(), false, 'nothing left for a later Ready');
});

t.test('nothing is urgent before the learner serves', async (t) => {
  const l = followerCore(verifier, { lastLoggedZxid: 0x100000000n });
  l.step(packet(PacketType.PING, 0n));
  t.same(l.takeUrgent(), [], 'a PING before UPTODATE is not answered');
  t.equal(l.forward({ sessionId: 0x5n, cxid: 1, op: OpCode.delete, body: Buffer.alloc(0) }, null), false, 'no forwarding before serving');
});
