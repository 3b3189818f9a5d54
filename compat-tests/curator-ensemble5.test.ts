// The Java client's and Curator's scenarios (compat-tests/java) on 5-member ensembles, ZooKeeper
// 3.8.0's and zkts's, the programs given every member: ZooKeeper's ensemble must print standalone
// 3.8.0's transcript, zkts's ensemble standalone 3.9.5's, as on 3-member ensembles in
// curator.test.ts (which compares the standalone servers with each other and with zkts). A file
// of its own so that each stays within its timeout.

import t from 'tap';
import { ENSEMBLE_TARGETS } from './util/ensembles';
import { checkOnEnsemble, compileJavaPrograms, PROGRAMS, referenceTranscripts } from './util/javaprograms';

// Per program two standalone servers and two 5-member ensembles in turn.
t.setTimeout(600_000);

t.test('Java client and Curator scenarios on 5-member ensembles: ZooKeeper 3.8.0 and zkts', async (t) => {
  const programs = await compileJavaPrograms(t);
  if (!programs) return;
  for (const program of PROGRAMS) {
    await t.test(program.mainClass, async (t) => {
      // The transcripts to compare with: standalone 3.8.0's and 3.9.5's, from fresh servers.
      const references = await referenceTranscripts(t, programs, program);
      for (const target of ENSEMBLE_TARGETS) await checkOnEnsemble(t, programs, program, target, 5, references);
    });
  }
});
