/**
 * Pure rules of a reconfig's activation, as ZooKeeper's leader applies them when the reconfig
 * commits (docs/RECONFIG.md §5.1), and of what a member does when a configuration activates.
 */
import { javaHashMapOrder, verifiersEqual, type QuorumMember, type QuorumVerifier } from './verifier';

/** A learner's role by a configuration: observer if listed as one, else a (maybe non-voting) follower. */
export type LearnerRole = 'follower' | 'observer';

export function learnerRoleIn(qv: QuorumVerifier, sid: bigint): LearnerRole {
  return qv.observingMembers.has(sid) ? 'observer' : 'follower';
}

/** What activating `next` on top of `prev` means for one member (QuorumPeer.processReconfig). */
export interface ActivationEffect {
  /** `next` is newer than `prev`: it becomes the committed configuration. */
  newer: boolean;
  /** The members differ (not only the version): the election restarts with the new ones. */
  membersChanged: boolean;
  /** The member's learner role after (participants, voting or not, are followers). */
  role: LearnerRole;
  /** The role must restart: its learner type changed, or it must follow another leader. */
  restartRole: boolean;
  /**
   * With a designated leader, where the member goes straight after its role (no election round):
   * lead if it is the designated one, else follow or observe it.
   */
  designatedLeader: bigint | undefined;
}

/**
 * `currentRole`: the member's role now ('leader' counts as a participant); `currentLeader`: the
 * leader it follows. With a designated leader (COMMITANDACTIVATE, INFORMANDACTIVATE, the leader's
 * own commit) the leader changes when it is another server; without one (a learner activating
 * NEWLEADER's configuration at UPTODATE) when the leader it follows is no longer a voter at the
 * same quorum address. Without a designated leader the member looks for a leader by election.
 */
export function activationEffect(
  prev: QuorumVerifier,
  next: QuorumVerifier,
  self: { sid: bigint; currentRole: LearnerRole | 'leader'; currentLeader: bigint | undefined },
  designated: bigint | undefined,
): ActivationEffect {
  const role = learnerRoleIn(next, self.sid);
  const none: ActivationEffect = { newer: false, membersChanged: false, role, restartRole: false, designatedLeader: undefined };
  if (next.version <= prev.version) return { ...none, role: self.currentRole === 'observer' ? 'observer' : 'follower' };
  const membersChanged = !verifiersEqual(prev, next);
  if (!membersChanged) return { ...none, newer: true, role: self.currentRole === 'observer' ? 'observer' : 'follower' };
  const wasObserver = self.currentRole === 'observer';
  const roleChange = (role === 'observer') !== wasObserver;
  let leaderChange: boolean;
  if (designated !== undefined) {
    leaderChange = designated !== self.currentLeader;
  } else {
    const leader = self.currentLeader;
    const before = leader === undefined ? undefined : prev.votingMembers.has(leader) ? prev.members.get(leader) : undefined;
    const after = leader === undefined ? undefined : next.votingMembers.has(leader) ? next.members.get(leader) : undefined;
    leaderChange = before === undefined || after === undefined || !sameQuorumAddresses(before, after);
  }
  const restartRole = roleChange || leaderChange;
  return { newer: true, membersChanged, role, restartRole, designatedLeader: restartRole ? designated : undefined };
}

/** The acks one outstanding proposal holds, per configuration it must reach a quorum of. */
export type ProposalAcks = ReadonlyArray<ReadonlySet<bigint>>;

/**
 * Who leads once the reconfig commits (Leader.getDesignatedLeader): the leader itself if it is a
 * voter of the new configuration at the same quorum address; otherwise, among the new
 * configuration's voters that acked the reconfig, the one that also acked the most of the
 * proposals after it (each ack set narrows the candidates, in zxid order; the first candidate in
 * java.util.HashSet order is taken where several remain), so that the fewest proposals are lost.
 *
 * `reconfigAcks`: the new configuration's voters that acked the reconfig (a quorum of it).
 * `later`: the outstanding proposals after the reconfig, in zxid order, each with its ack sets.
 */
export function designatedLeader(
  self: { sid: bigint; member: QuorumMember | undefined },
  next: QuorumVerifier,
  reconfigAcks: ReadonlySet<bigint>,
  later: readonly ProposalAcks[],
): bigint {
  const mine = next.members.get(self.sid);
  if (mine !== undefined && next.votingMembers.has(self.sid) && self.member !== undefined && sameQuorumAddresses(mine, self.member)) return self.sid;
  let candidates = hashSetOrder([...reconfigAcks].filter((sid) => sid !== self.sid));
  if (candidates.length === 0) throw new Error('no voter of the new configuration acked the reconfig');
  let current = candidates[0];
  for (const acks of later) {
    for (const set of acks) {
      candidates = candidates.filter((sid) => set.has(sid));
      if (candidates.length === 0) return current;
      current = candidates[0];
      if (candidates.length === 1) return current;
    }
  }
  return current;
}

/** The iteration order of `new HashSet<Long>(c)`: a table of at least 16 buckets. */
function hashSetOrder(sids: bigint[]): bigint[] {
  const wanted = Math.max(Math.floor(sids.length / 0.75) + 1, 16);
  let capacity = 1;
  while (capacity < wanted) capacity *= 2;
  return javaHashMapOrder(sids, capacity);
}

/** MultipleAddresses.equals over the quorum addresses (host text and port). */
function sameQuorumAddresses(a: QuorumMember, b: QuorumMember): boolean {
  const set = (m: QuorumMember): Set<string> => new Set((m.addresses && m.addresses.length > 0 ? m.addresses : [m]).map((t) => `${t.host.toLowerCase()}:${t.quorumPort}`));
  const x = set(a);
  const y = set(b);
  return x.size === y.size && [...x].every((v) => y.has(v));
}
