/**
 * Pure rules of a reconfig's activation, as ZooKeeper's leader applies them when the reconfig
 * commits (docs/RECONFIG.md §5.1). Not yet called by the leader.
 */
import { javaHashMapOrder, type QuorumMember, type QuorumVerifier } from './verifier';

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
