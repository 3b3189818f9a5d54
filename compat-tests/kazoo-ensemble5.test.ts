// The Kazoo suite (compat-tests/kazoo) on 5-member ensembles, ZooKeeper 3.8.0's and zkts's, the
// clients given every member: every test must pass on both, ZooKeeper's ensemble must write
// standalone 3.8.0's transcripts and zkts's ensemble the same (3.9.5's where the releases differ),
// as on 3-member ensembles in kazoo.test.ts. A file of its own so that each stays within its
// timeout.

import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startReferenceZooKeeper } from '../test/util/servers';
import { checkOnEnsembles, DIFFERENT_IN_3_9, runOnStandalone, SERVER_PROPS, type StandaloneTranscripts } from './util/kazoo';

// A standalone run, a short one, then two 5-member ensembles in turn.
t.setTimeout(600_000);

let standalone: StandaloneTranscripts = {};

// The transcripts to compare with, from fresh servers: standalone 3.8.0's, every test, and 3.9.5's
// of the tests where the releases differ (kazoo.test.ts compares the two releases on every test).
t.test('Kazoo suite: standalone ZooKeeper 3.8.0 (and 3.9.5 where the releases differ)', async (t) => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-kazoo-standalone-'));
  t.teardown(() => fs.rmSync(workDir, { recursive: true, force: true }));
  const jvmFlags = Object.entries(SERVER_PROPS).map(([key, value]) => `-D${key}=${value}`);
  const reference = await runOnStandalone(t, 'reference ZooKeeper', () => startReferenceZooKeeper({ jvmFlags }), path.join(workDir, 'reference.json'), '3.8');
  const reference39 = await runOnStandalone(
    t,
    'ZooKeeper 3.9.5',
    () => startReferenceZooKeeper({ version: '3.9.5', jvmFlags }),
    path.join(workDir, 'reference39.json'),
    '3.9',
    ['-k', [...DIFFERENT_IN_3_9].join(' or ')],
  );
  standalone = { reference, reference39 };
  t.ok(reference !== undefined && Object.keys(reference).length > 0, 'the reference run recorded transcripts');
});

t.test('Kazoo suite on 5-member ensembles: ZooKeeper 3.8.0 and zkts', (t) => checkOnEnsembles(t, 5, () => standalone));
