// ZOOKEEPER-4643: a follower crashed at NEWLEADER after writing currentEpoch and before its sync's
// txns were on disk; with the new epoch it won the next election and truncated committed txns
// from the others. zkts makes the sync durable before it writes currentEpoch: the crash point
// `crash:after-current-epoch` (currentEpoch written, the ACK of NEWLEADER not sent) loses nothing.
import t from 'tap';
import { crashInNewEpochSync } from './newepochsync';

t.test('ZOOKEEPER-4643: crash after currentEpoch is written, before the ACK of NEWLEADER', async (t) => {
  await crashInNewEpochSync(t, 'crash:after-current-epoch');
});
