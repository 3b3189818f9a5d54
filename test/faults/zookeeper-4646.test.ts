// ZOOKEEPER-4646 (and ZOOKEEPER-3911 before it): a follower answered NEWLEADER while its sync's
// txns were still on their way to disk (3911: not even handed to the log yet); a crash right after
// lost txns a quorum had acknowledged. zkts sends that ACK only after the fsync: the crash point
// `crash:after-newleader-ack` (the ACK sent and answered by the leader's UPTODATE) loses nothing.
import t from 'tap';
import { crashInNewEpochSync } from './newepochsync';

t.test('ZOOKEEPER-4646 / ZOOKEEPER-3911: crash after the ACK of NEWLEADER was sent and answered', async (t) => {
  await crashInNewEpochSync(t, 'crash:after-newleader-ack');
});
