// Differential compat test through Kazoo (Python): the pytest suite in compat-tests/kazoo runs
// against the reference Apache ZooKeeper 3.8 and against zkts, each a fresh server. Both runs must
// pass, and the transcripts they write (one JSON object per test: stats with relative zxids,
// error class names, event sequences) must be identical, test by test. Then the suite on 3-member
// ensembles (kazoo-ensemble5.test.ts: 5-member ones).

import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startReferenceZooKeeper, startZkts } from '../test/util/servers';
import { checkOnEnsembles, DIFFERENT_IN_3_9, runOnStandalone, SERVER_PROPS, type StandaloneTranscripts } from './util/kazoo';

// Five servers or ensembles in turn (three standalone, two 3-member ensembles): past tap's
// default 300 s per file on two busy cores.
t.setTimeout(600_000);

// The standalone transcripts, for the ensemble runs to be compared with.
let standalone: StandaloneTranscripts = {};

t.test('Kazoo suite: ZooKeeper 3.8.0, ZooKeeper 3.9.5 and zkts', async (t) => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-kazoo-compat-'));
  t.teardown(() => fs.rmSync(workDir, { recursive: true, force: true }));
  const jvmFlags = Object.entries(SERVER_PROPS).map(([key, value]) => `-D${key}=${value}`);

  const reference = await runOnStandalone(
    t,
    'reference ZooKeeper',
    () => startReferenceZooKeeper({ jvmFlags }),
    path.join(workDir, 'reference.json'),
    '3.8',
  );
  const reference39 = await runOnStandalone(
    t,
    'ZooKeeper 3.9.5',
    () => startReferenceZooKeeper({ version: '3.9.5', jvmFlags }),
    path.join(workDir, 'reference39.json'),
    '3.9',
  );
  const zkts = await runOnStandalone(
    t,
    'zkts',
    () => startZkts({ systemProps: SERVER_PROPS }),
    path.join(workDir, 'zkts.json'),
    '3.9',
  );

  standalone = { reference, reference39 };
  if (reference === undefined) {
    t.fail('no transcript from the reference run');
    return;
  }
  t.ok(Object.keys(reference).length > 0, 'the reference run recorded transcripts');
  if (reference39 === undefined || zkts === undefined) {
    t.fail(`no transcript from the ${reference39 === undefined ? 'ZooKeeper 3.9.5' : 'zkts'} run`);
    return;
  }
  // 3.9.5 against 3.8.0, then zkts against 3.9.5 (where the releases differ, zkts follows 3.9).
  const names = [...new Set([...Object.keys(reference), ...Object.keys(reference39), ...Object.keys(zkts)])].sort();
  for (const name of names) {
    if (DIFFERENT_IN_3_9.has(name)) t.notSame(reference39[name], reference[name], `transcript of ${name}: ZooKeeper 3.9.5 differs from 3.8.0 (exists asks READ)`);
    else t.same(reference39[name], reference[name], `transcript of ${name}: ZooKeeper 3.9.5 as 3.8.0`);
    t.same(zkts[name], reference39[name], `transcript of ${name}: zkts as ZooKeeper 3.9.5`);
  }
});

// The same suite against a 3-member ZooKeeper 3.8.0 ensemble and a 3-member zkts ensemble.
t.test('Kazoo suite on 3-member ensembles: ZooKeeper 3.8.0 and zkts', (t) => checkOnEnsembles(t, 3, () => standalone));
