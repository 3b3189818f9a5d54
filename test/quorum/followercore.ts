// A follower's Zab core (sid 2, leader 1, epoch 1 accepted and current, ticks of 100 ms) for the
// core tests, with what a test changes given.
import { ZabLearner, type LearnerOptions } from '../../src/quorum/learner';
import type { QuorumVerifier } from '../../src/quorum/verifier';

export function followerCore(verifier: QuorumVerifier, over: Partial<LearnerOptions> & { lastLoggedZxid: bigint }): ZabLearner {
  return new ZabLearner({
    sid: 2n,
    role: 'follower',
    tickTimeMs: 100,
    initLimitTicks: 10,
    syncLimitTicks: 5,
    acceptedEpoch: 1n,
    currentEpoch: 1n,
    verifier,
    lastSeenVerifier: verifier,
    leaderSid: 1n,
    touches: { take: () => [] },
    nowMs: 0,
    ...over,
  });
}
