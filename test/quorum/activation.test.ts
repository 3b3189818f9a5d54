// Who leads after a reconfig commits, as ZooKeeper 3.8.0/3.9.5 chose on live ensembles
// (docs/RECONFIG.md §3.3) and as its rule narrows candidates by later acks.
import t from 'tap';
import { designatedLeader } from '../../src/quorum/activation';
import { parseQuorumVerifier } from '../../src/quorum/verifier';

const OLD = parseQuorumVerifier('server.1=127.0.0.1:46201:46301\nserver.2=127.0.0.1:46202:46302\nserver.3=127.0.0.1:46203:46303\nversion=100000000');
const me = (sid: bigint) => ({ sid, member: OLD.members.get(sid) });

t.test('the leader stays when it is a voter of the new configuration at the same quorum address', async (t) => {
  const next = parseQuorumVerifier('server.1=127.0.0.1:46201:46301\nserver.2=127.0.0.1:46212:46302\nserver.3=127.0.0.1:46203:46303\nversion=100000002');
  t.equal(designatedLeader(me(3n), next, new Set([1n, 2n, 3n]), []), 3n, 'a follower\'s quorum port changed: no leader change');
});

t.test('a leader removed or moved hands over to the first voter that acked (s1 in the observed runs)', async (t) => {
  const removed = parseQuorumVerifier('server.1=127.0.0.1:46201:46301\nserver.2=127.0.0.1:46202:46302\nversion=100000002');
  t.equal(designatedLeader(me(3n), removed, new Set([2n, 1n]), []), 1n);
  const moved = parseQuorumVerifier('server.1=127.0.0.1:46201:46301\nserver.2=127.0.0.1:46202:46302\nserver.3=127.0.0.1:46213:46303\nversion=100000002');
  t.equal(designatedLeader(me(3n), moved, new Set([1n, 2n, 3n]), []), 1n, 'its own ack does not count');
  const observer = parseQuorumVerifier('server.1=127.0.0.1:46201:46301\nserver.2=127.0.0.1:46202:46302\nserver.3=127.0.0.1:46203:46303:observer\nversion=100000002');
  t.equal(designatedLeader(me(3n), observer, new Set([1n, 2n]), []), 1n, 'a leader turned observer');
});

t.test('later proposals narrow the candidates to the one that acked the most of them', async (t) => {
  const removed = parseQuorumVerifier('server.1=127.0.0.1:46201:46301\nserver.2=127.0.0.1:46202:46302\nserver.4=127.0.0.1:46204:46304\nversion=100000002');
  t.equal(designatedLeader(me(3n), removed, new Set([1n, 2n, 4n]), [[new Set([2n, 4n])], [new Set([4n, 3n])]]), 4n);
  t.equal(designatedLeader(me(3n), removed, new Set([1n, 2n, 4n]), [[new Set([2n, 4n])], [new Set([3n])]]), 2n, 'nobody acked the last: the best so far');
  t.equal(designatedLeader(me(3n), removed, new Set([1n, 2n, 4n]), [[new Set([1n, 2n, 4n]), new Set([4n])]]), 4n, 'each ack set of a proposal narrows in turn');
});
