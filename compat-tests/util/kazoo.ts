// Shared by the Kazoo compat tests (kazoo.test.ts: standalone servers and 3-member ensembles,
// kazoo-ensemble5.test.ts: 5-member ensembles): running the pytest suite in compat-tests/kazoo
// against a connect string, reading its transcripts and per-test outcomes, and checking a run on
// ensembles against standalone transcripts.

import type { Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunningServer } from '../../test/util/servers';
import { runProcess } from './harness';
import { ENSEMBLE_TARGETS, startEnsembleTarget, type EnsembleTargetName, type RunningEnsemble } from './ensembles';

// This module runs as dist/compat-tests/util/kazoo.js; pytest runs from the repository root.
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const SUITE_DIR = path.join('compat-tests', 'kazoo');
// Kazoo and pytest are installed for Debian's interpreter, not for the python3 first on PATH.
const PYTHON = '/usr/bin/python3';

const PYTEST_TIMEOUT_MS = 130_000;
const TAIL_CHARS = 12_000;

// Given to standalone servers: JVM -D flags for the reference, -D arguments for zkts.
export const SERVER_PROPS: Record<string, string> = {
  'zookeeper.extendedTypesEnabled': 'true',
  'znode.container.checkIntervalMs': '500',
};

export interface PytestResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  output: string;
  durationMs: number;
}

/** The release whose behaviour the suite expects where 3.8 and 3.9 differ (zkts follows 3.9). */
export type Release = '3.8' | '3.9';

/**
 * Tests whose transcripts differ between ZooKeeper 3.8.0 and 3.9.5 by design: exists asks READ in
 * 3.9 (ZOOKEEPER-2590). The suite expects each release's answer (ZK_SERVER_RELEASE); zkts is
 * compared with 3.9.5 on these too.
 */
export const DIFFERENT_IN_3_9: ReadonlySet<string> = new Set(['test_digest_acl_enforced']);

/**
 * Where a zkts ensemble is known to differ from a ZooKeeper 3.8.0 ensemble: the test is marked
 * todo with the reason (it still runs, and its outcome is printed).
 */
const ZKTS_ENSEMBLE_DIVERGENCES: ReadonlyMap<string, string> = new Map([]);

export async function runPytest(
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

export function tail(text: string): string {
  return text.length <= TAIL_CHARS ? text : '...' + text.slice(text.length - TAIL_CHARS);
}

export function readTranscript(file: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export function summaryLine(output: string): string {
  const lines = output.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

/** pytest's JUnit XML: test name -> 'passed', 'failed' or 'skipped'. */
export function junitOutcomes(file: string): Map<string, string> {
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

/**
 * The suite against a fresh standalone server (started by `start`, stopped at the end): asserts
 * that every test passes and returns the transcripts (undefined when there are none).
 */
export async function runOnStandalone(
  t: Test,
  label: string,
  start: () => Promise<RunningServer>,
  transcriptPath: string,
  release: Release,
  pytestArgs: string[] = [],
): Promise<Record<string, unknown> | undefined> {
  let server: RunningServer;
  try {
    server = await start();
  } catch (err) {
    t.fail(`${label}: server did not start`, { error: (err as Error).message });
    return undefined;
  }
  t.teardown(() => server.stop());
  const result = await runPytest(server.connectString, transcriptPath, release, { args: pytestArgs });
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
}

/** Standalone transcripts the ensemble runs are compared with. */
export interface StandaloneTranscripts {
  /** ZooKeeper 3.8.0's, every test. */
  reference?: Record<string, unknown>;
  /** ZooKeeper 3.9.5's, at least the tests in DIFFERENT_IN_3_9. */
  reference39?: Record<string, unknown>;
}

/**
 * The suite against a `size`-member ZooKeeper 3.8.0 ensemble and a `size`-member zkts ensemble,
 * the clients given every member (Kazoo picks one at random for each client, so a test's clients
 * are spread over the members). Every test must pass on both; ZooKeeper's ensemble must tell the
 * story of a standalone 3.8.0, and zkts's ensemble the same story (3.9.5's where the releases
 * differ). `standalone()` is read once the ensembles have run.
 */
export async function checkOnEnsembles(t: Test, size: number, standalone: () => StandaloneTranscripts): Promise<void> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `zkts-kazoo-ensemble${size}-`));
  t.teardown(() => fs.rmSync(workDir, { recursive: true, force: true }));
  const outcomes = new Map<EnsembleTargetName, Map<string, string>>();
  const transcripts = new Map<EnsembleTargetName, Record<string, unknown>>();
  for (const target of ENSEMBLE_TARGETS) {
    const where = `${size}-member ${target}`;
    let ensemble: RunningEnsemble;
    try {
      ensemble = await startEnsembleTarget(target, { extraConfig: { extendedTypesEnabled: 'true' }, systemProps: { 'znode.container.checkIntervalMs': '500' } }, size);
    } catch (err) {
      t.fail(`${where}: ensemble did not start`, { error: (err as Error).message });
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
    t.notOk(result.timedOut, `pytest against the ${where} ends in time: ${summaryLine(result.output)}`);
    const got = junitOutcomes(junit);
    outcomes.set(target, got);
    t.ok(got.size > 0, `${where}: pytest reported ${got.size} tests`);
    const failedHere = [...got].filter(([, o]) => o === 'failed').map(([n]) => n);
    if (failedHere.length > 0) t.comment(`pytest output against the ${where}:\n${tail(result.output)}`);
    const transcript = readTranscript(transcriptPath);
    if (transcript) transcripts.set(target, transcript);
    else t.fail(`no transcript from the ${where} run`);
  }

  const ref = outcomes.get('reference-ensemble');
  const zk = outcomes.get('zkts-ensemble');
  if (!ref || !zk) return;
  for (const [name, outcome] of ref) t.equal(outcome, 'passed', `${size}-member ZooKeeper ensemble: ${name}`);
  for (const name of ref.keys()) {
    const reason = ZKTS_ENSEMBLE_DIVERGENCES.get(name);
    t.equal(zk.get(name), 'passed', `${size}-member zkts ensemble: ${name}`, reason ? { todo: reason } : {});
  }
  // Each divergence noted above must still show, or the note is stale.
  for (const name of ZKTS_ENSEMBLE_DIVERGENCES.keys()) t.ok(ref.has(name), `the suite still has ${name}`);

  const refT = transcripts.get('reference-ensemble');
  const zkT = transcripts.get('zkts-ensemble');
  const { reference, reference39 } = standalone();
  if (!refT || !zkT || !reference || !reference39) {
    t.fail('a transcript is missing (standalone or ensemble)');
    return;
  }
  for (const name of DIFFERENT_IN_3_9) t.ok(name in reference39, `standalone ZooKeeper 3.9.5 recorded ${name}`);
  for (const name of Object.keys(reference).sort()) {
    t.same(refT[name], reference[name], `transcript of ${name}: the ${size}-member ZooKeeper ensemble as standalone 3.8.0`);
    const expected = DIFFERENT_IN_3_9.has(name) ? reference39[name] : refT[name];
    const reason = ZKTS_ENSEMBLE_DIVERGENCES.get(name);
    t.same(
      zkT[name],
      expected,
      `transcript of ${name}: the ${size}-member zkts ensemble as the ZooKeeper ensemble${DIFFERENT_IN_3_9.has(name) ? ' (3.9.5 standalone: the releases differ here)' : ''}`,
      reason ? { todo: reason } : {},
    );
  }
}
