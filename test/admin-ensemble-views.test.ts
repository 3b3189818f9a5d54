// The ensemble views of the admin surface on a given member status: who leads, the voting view's
// addresses, and the console's positions and lags as the leader computes them.
import t from 'tap';
import { ensembleRows, leaderView, observersView, votingView } from '../src/admin/ensemble';
import { loadConfig } from '../src/server/config';
import type { LearnerHandlerStatus, QuorumStatus } from '../src/server/server';
import { parseQuorumVerifier } from '../src/quorum/verifier';

const verifier = parseQuorumVerifier(
  ['server.1=10.0.0.1:2888:3888:participant;2181', 'server.2=10.0.0.2:2888:3888:participant', 'server.3=10.0.0.3:2888:3888:participant', 'server.4=10.0.0.4:2888:3888:observer', 'version=0'].join('\n'),
);

function handler(sid: bigint, over: Partial<LearnerHandlerStatus>): LearnerHandlerStatus {
  return { sid, learnerType: 'participant', remoteAddress: '/10.0.0.9:40000', establishedAtMs: 1, queuedBytes: 0, packetsReceived: 0, packetsSent: 0, requests: 0, lastZxid: -1n, sentZxid: -1n, lastAckedZxid: -1n, synced: true, ...over };
}

function leaderStatus(handlers: LearnerHandlerStatus[]): QuorumStatus {
  return {
    peerState: 'leading - broadcast',
    quorumSize: 3,
    mySid: 3n,
    zabState: 'broadcast',
    leaderSid: 3n,
    verifier,
    leader: { handlers, learners: handlers.length, syncedFollowers: 1, syncedNonVotingFollowers: 0, syncedObservers: 1, pendingSyncs: 0, leaderUptimeMs: 5, lastProposalSize: -1, minProposalSize: -1, maxProposalSize: -1 },
  };
}

t.test('the leader computes each learner position and lag', async (t) => {
  const q = leaderStatus([
    // A follower two txns behind (it acknowledged 0x500000003 of 0x500000005).
    handler(1n, { lastAckedZxid: 0x500000003n, sentZxid: 0x500000005n }),
    // An observer is placed by what it was sent; it acknowledges nothing after its sync.
    handler(4n, { learnerType: 'observer', sentZxid: 0x500000005n, lastAckedZxid: 0x500000000n }),
  ]);
  const rows = ensembleRows(q, 'leader', 0x500000005n);
  t.same(
    rows.map((r) => [r.sid, r.role, r.zxid, r.lagTxns, r.synced]),
    [
      ['1', 'follower', '0x500000003', 2, true],
      ['2', 'not connected', null, null, null],
      ['3', 'leader', '0x500000005', 0, null],
      ['4', 'observer', '0x500000005', 0, true],
    ],
  );
  // A learner still at an older epoch has no lag that counts txns.
  const old = ensembleRows(leaderStatus([handler(1n, { lastAckedZxid: 0x4000000aan })]), 'leader', 0x500000001n);
  t.equal(old[0].zxid, '0x4000000aa');
  t.equal(old[0].lagTxns, null);
});

t.test('a learner knows itself and the leader only', async (t) => {
  const q: QuorumStatus = { peerState: 'following - broadcast', quorumSize: 3, mySid: 2n, zabState: 'broadcast', leaderSid: 3n, verifier };
  const rows = ensembleRows(q, 'follower', 0x500000002n);
  t.same(rows.map((r) => [r.sid, r.role, r.zxid]), [['1', 'unknown', null], ['2', 'follower', '0x500000002'], ['3', 'leader', null], ['4', 'unknown', null]]);
  t.same(leaderView(q), { is_leader: false, leader_id: 3n, leader_ip: '10.0.0.3' });
  t.same(observersView(q), { synced_observers: 0, observers: [] }, 'only a leader lists observers');
  t.same(leaderView({ ...q, leaderSid: undefined, zabState: 'election' }), { is_leader: false, leader_id: -1n, leader_ip: '' }, 'no leader while looking');
});

t.test('voting_view: voters only; client addresses from ;port lines and for itself', async (t) => {
  const q: QuorumStatus = { peerState: 'following - broadcast', quorumSize: 3, mySid: 2n, zabState: 'broadcast', leaderSid: 3n, verifier };
  const config = loadConfig('dataDir=/tmp/x\nclientPort=2182\nclientPortAddress=10.0.0.2\n', new Map(), '/tmp/x');
  const view = votingView(q, config, 2182).current_config as Record<string, Record<string, unknown>>;
  t.same(Object.keys(view), ['1', '2', '3']);
  t.same(view['1'], { server_addresses: ['10.0.0.1:2888'], election_addresses: ['10.0.0.1:3888'], client_address: '0.0.0.0:2181', learner_type: 'participant' });
  t.equal(view['2'].client_address, '10.0.0.2:2182', 'its own from zoo.cfg');
  t.equal(view['3'].client_address, '', 'unknown for a member without a client part');
});

t.test('observers on the leader: Java\'s view of a learner handler', async (t) => {
  const q = leaderStatus([handler(1n, {}), handler(4n, { learnerType: 'observer', packetsSent: 7, packetsReceived: 3, requests: 2, lastZxid: 0x500000005n, queuedBytes: 12 })]);
  t.same(observersView(q), {
    synced_observers: 1,
    observers: [{ remote_socket_address: '/10.0.0.9:40000', sid: 4n, established: 1, queued_packets: 0, queued_packets_size: 12, packets_received: 3, packets_sent: 7, requests: 2, last_zxid: 0x500000005n }],
  });
});
