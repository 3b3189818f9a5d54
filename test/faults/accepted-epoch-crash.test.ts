// A learner killed between writing acceptedEpoch (LEADERINFO of a newer epoch) and sending the
// ACKEPOCH that depends on it (`crash:after-accepted-epoch`): it restarts having promised an epoch
// the leader never heard of, joins the next one, and no acknowledged write is lost.
import t from 'tap';
import { crashInNewEpochSync } from './newepochsync';

t.test('crash after acceptedEpoch is written, before ACKEPOCH', async (t) => {
  await crashInNewEpochSync(t, 'crash:after-accepted-epoch');
});
