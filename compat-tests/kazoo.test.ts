// Differential compat test through Kazoo (Python): the pytest suite in compat-tests/kazoo runs
// against the reference Apache ZooKeeper 3.8 and against zkts, each a fresh server. Both runs must
// pass, and the transcripts they write (one JSON object per test: stats with relative zxids,
// error class names, event sequences) must be identical, test by test.

import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunningServer, startReferenceZooKeeper, startZkts } from '../test/util/servers';
import { runProcess } from './util/harness';
import { ENSEMBLE_TARGETS, startEnsembleTarget, type EnsembleTargetName, type RunningEnsemble } from './util/ensembles';

// This file runs as dist/compat-tests/kazoo.test.js; pytest runs from the repository root.
const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SUITE_DIR = path.join('compat-tests', 'kazoo');
// Kazoo and pytest are installed for Debian's interpreter, not for the python3 first on PATH.
const PYTHON = '/usr/bin/python3';

// Five servers or ensembles in turn (three standalone, two 3-member ensembles): past tap's
// default 300 s per file on two busy cores.
t.setTimeout(600_000);

const PYTEST_TIMEOUT_MS = 130_000;
const TAIL_CHARS = 12_000;

// Given to both servers: JVM -D flags for the reference, -D arguments for zkts.
const SERVER_PROPS: Record<string, string> = {
  'zookeeper.extendedTypesEnabled': 'true',
  'znode.container.checkIntervalMs': '500',
};

interface PytestResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  output: string;
  durationMs: number;
}

/** The release whose behaviour the suite expects where 3.8 and 3.9 differ (zkts follows 3.9). */
type Release = '3.8' | '3.9';

/**
 * Tests whose transcripts differ between ZooKeeper 3.8.0 and 3.9.5 by design: exists asks READ in
 * 3.9 (ZOOKEEPER-2590). The suite expects each release's answer (ZK_SERVER_RELEASE); zkts is
 * compared with 3.9.5 on these too.
 */
const DIFFERENT_IN_3_9: ReadonlySet<string> = new Set(['test_digest_acl_enforced']);

async function runPytest(
  connectString: string,
  transcriptPath: string,
  release: Release,
  extra: { env?: Record<string, string>; args?: string[] } = {},
): Promise<PytestResult> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...(extra.env ?? {}),
    ZK_SERVER_RELEASE: release,
    ZK_HOSTS: connectString,
    ZK_TRANSCRIPT: transcriptPath,
    PYTHONDONTWRITEBYTECODE: '1',
    PYTHONUNBUFFERED: '1',
  };
  delete env.NODE_OPTIONS;
  const r = await runProcess(PYTHON, ['-m', 'pytest', '-q', SUITE_DIR, '-p', 'no:cacheprovider', ...(extra.args ?? [])], { timeoutMs: PYTEST_TIMEOUT_MS, cwd: REPO_ROOT, env });
  return { code: r.code, signal: r.signal, timedOut: r.timedOut, output: r.stdout + r.stderr, durationMs: r.durationMs };
}

function tail(text: string): string {
  return text.length <= TAIL_CHARS ? text : '...' + text.slice(text.length - TAIL_CHARS);
}

function readTranscript(file: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function summaryLine(output: string): string {
  const lines = output.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

// The standalone transcripts, for the ensemble runs to be compared with.
let standalone: { reference?: Record<string, unknown>; reference39?: Record<string, unknown> } = {};

t.test('Kazoo suite: ZooKeeper 3.8.0, ZooKeeper 3.9.5 and zkts', async (t) => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-kazoo-compat-'));
  t.teardown(() => fs.rmSync(workDir, { recursive: true, force: true }));
  const jvmFlags = Object.entries(SERVER_PROPS).map(([key, value]) => `-D${key}=${value}`);
  const runAgainst = async (
    label: string,
    start: () => Promise<RunningServer>,
    transcriptPath: string,
    release: Release,
  ): Promise<Record<string, unknown> | undefined> => {
    let server: RunningServer;
    try {
      server = await start();
    } catch (err) {
      t.fail(`${label}: server did not start`, { error: (err as Error).message });
      return undefined;
    }
    t.teardown(() => server.stop());
    const result = await runPytest(server.connectString, transcriptPath, release);
    const passed = result.code === 0 && !result.timedOut;
    t.ok(
      passed,
      `pytest against ${label}: ${summaryLine(result.output)}`,
      passed
        ? {}
        : {
            exitCode: result.code,
            signal: result.signal,
            timedOut: result.timedOut,
            durationMs: result.durationMs,
            serverLog: tail(server.log()),
          },
    );
    if (!passed) t.comment(`pytest output against ${label}:\n${tail(result.output)}`);
    await server.stop();
    return readTranscript(transcriptPath);
  };


  const reference = await runAgainst(
    'reference ZooKeeper',
    () => startReferenceZooKeeper({ jvmFlags }),
    path.join(workDir, 'reference.json'),
    '3.8',
  );
  const reference39 = await runAgainst(
    'ZooKeeper 3.9.5',
    () => startReferenceZooKeeper({ version: '3.9.5', jvmFlags }),
    path.join(workDir, 'reference39.json'),
    '3.9',
  );
  const zkts = await runAgainst(
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

/**
 * Where a zkts ensemble is known to differ from a ZooKeeper 3.8.0 ensemble: the test is marked
 * todo with the reason (it still runs, and its outcome is printed).
 */
const ZKTS_ENSEMBLE_DIVERGENCES: ReadonlyMap<string, string> = new Map([]);

/** pytest's JUnit XML: test name -> 'passed', 'failed' or 'skipped'. */
function junitOutcomes(file: string): Map<string, string> {
  const out = new Map<string, string>();
  let xml: string;
  try {
    xml = fs.readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const m of xml.matchAll(/<testcase\b[^>]*\bname="([^"]+)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = m[3] ?? '';
    out.set(m[1], /<(failure|error)\b/.test(body) ? 'failed' : /<skipped\b/.test(body) ? 'skipped' : 'passed');
  }
  return out;
}

// The same suite against a 3-member ZooKeeper 3.8.0 ensemble and a 3-member zkts ensemble, the
// clients given every member (Kazoo picks one at random for each client, so a test's clients are
// spread over the members). ZooKeeper's ensemble must tell the story of a standalone 3.8.0, and
// zkts's ensemble the same story (3.9.5's where the releases differ).
t.test('Kazoo suite on 3-member ensembles: ZooKeeper 3.8.0 and zkts', async (t) => {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-kazoo-ensemble-'));
  t.teardown(() => fs.rmSync(workDir, { recursive: true, force: true }));
  const outcomes = new Map<EnsembleTargetName, Map<string, string>>();
  const transcripts = new Map<EnsembleTargetName, Record<string, unknown>>();
  for (const target of ENSEMBLE_TARGETS) {
    let ensemble: RunningEnsemble;
    try {
      ensemble = await startEnsembleTarget(target, { extraConfig: { extendedTypesEnabled: 'true' }, systemProps: { 'znode.container.checkIntervalMs': '500' } });
    } catch (err) {
      t.fail(`${target}: ensemble did not start`, { error: (err as Error).message });
      continue;
    }
    t.teardown(() => ensemble.stop());
    const junit = path.join(workDir, `${target}.xml`);
    const transcriptPath = path.join(workDir, `${target}.json`);
    const release: Release = target === 'reference-ensemble' ? '3.8' : '3.9';
    const result = await runPytest(ensemble.connectString, transcriptPath, release, {
      env: { ZK_ENSEMBLE_CONFIG: ensemble.dynamicConfig },
      args: [`--junitxml=${junit}`],
    });
    await ensemble.stop();
    t.notOk(result.timedOut, `pytest against ${target} ends in time: ${summaryLine(result.output)}`);
    const got = junitOutcomes(junit);
    outcomes.set(target, got);
    t.ok(got.size > 0, `${target}: pytest reported ${got.size} tests`);
    const failedHere = [...got].filter(([, o]) => o === 'failed').map(([n]) => n);
    if (failedHere.length > 0) t.comment(`pytest output against ${target}:\n${tail(result.output)}`);
    const transcript = readTranscript(transcriptPath);
    if (transcript) transcripts.set(target, transcript);
    else t.fail(`no transcript from the ${target} run`);
  }

  const ref = outcomes.get('reference-ensemble');
  const zk = outcomes.get('zkts-ensemble');
  if (!ref || !zk) return;
  for (const [name, outcome] of ref) t.equal(outcome, 'passed', `ZooKeeper ensemble: ${name}`);
  for (const name of ref.keys()) {
    const reason = ZKTS_ENSEMBLE_DIVERGENCES.get(name);
    t.equal(zk.get(name), 'passed', `zkts ensemble: ${name}`, reason ? { todo: reason } : {});
  }
  // Each divergence noted above must still show, or the note is stale.
  for (const name of ZKTS_ENSEMBLE_DIVERGENCES.keys()) t.ok(ref.has(name), `the suite still has ${name}`);

  const refT = transcripts.get('reference-ensemble');
  const zkT = transcripts.get('zkts-ensemble');
  const { reference, reference39 } = standalone;
  if (!refT || !zkT || !reference || !reference39) {
    t.fail('a transcript is missing (standalone or ensemble)');
    return;
  }
  for (const name of Object.keys(reference).sort()) {
    t.same(refT[name], reference[name], `transcript of ${name}: the ZooKeeper ensemble as standalone 3.8.0`);
    const expected = DIFFERENT_IN_3_9.has(name) ? reference39[name] : refT[name];
    const reason = ZKTS_ENSEMBLE_DIVERGENCES.get(name);
    t.same(zkT[name], expected, `transcript of ${name}: the zkts ensemble as the ZooKeeper ensemble${DIFFERENT_IN_3_9.has(name) ? ' (3.9.5 standalone: the releases differ here)' : ''}`, reason ? { todo: reason } : {});
  }
});
