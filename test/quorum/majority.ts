// A plain majority QuorumVerifier for the Zab core tests (the real one lives in src/quorum).
import type { LearnerType, QuorumMember, QuorumVerifier } from '../../src/quorum/verifier';

export function majorityVerifier(voters: readonly bigint[], observers: readonly bigint[] = []): QuorumVerifier {
  const members = new Map<bigint, QuorumMember>();
  const add = (sid: bigint, type: LearnerType) =>
    members.set(sid, { sid, host: '127.0.0.1', quorumPort: 3310 + Number(sid), electionPort: 3320 + Number(sid), type });
  voters.forEach((s) => add(s, 'participant'));
  observers.forEach((s) => add(s, 'observer'));
  const votingMembers = new Set(voters);
  const observingMembers = new Set(observers);
  return {
    version: 0n,
    members,
    votingMembers,
    observingMembers,
    weight: (sid) => (votingMembers.has(sid) ? 1 : 0),
    containsQuorum(sids: Iterable<bigint>): boolean {
      let n = 0;
      for (const s of new Set(sids)) if (votingMembers.has(s)) n++;
      return n * 2 > votingMembers.size;
    },
    toString: () =>
      [...members.values()].map((m) => `server.${m.sid}=${m.host}:${m.quorumPort}:${m.electionPort}:${m.type}\n`).join('') + 'version=0',
  };
}
