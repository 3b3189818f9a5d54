// The command lines of the fault suite's two workload programs (FAULTS-SPEC "Workload process
// contract"): the Java one (java/FaultsWorkload.java, built by build-java.sh against ZooKeeper
// 3.9.5's client and Debian's Curator) and the kazoo one (kazoo_workload.py, on Kazoo 2.10.0 from
// the cache when scripts/fetch-client-suites.sh put it there, else Debian's python3-kazoo).

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// This module runs as dist/scripts/faults/workload/commands.js; the programs stay in the source tree.
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..', '..');
export const WORKLOAD_SOURCE_DIR = path.join(REPO_ROOT, 'scripts', 'faults', 'workload');
const BUILD_SCRIPT = path.join(WORKLOAD_SOURCE_DIR, 'build-java.sh');
const KAZOO_SCRIPT = path.join(WORKLOAD_SOURCE_DIR, 'kazoo_workload.py');
const KAZOO_VERSION_DIR = 'kazoo-2.10.0';
// Kazoo and Debian's python modules are installed for Debian's interpreter.
const PYTHON = '/usr/bin/python3';
const BUILD_TIMEOUT_MS = 180_000;

export interface WorkloadCommand {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

/** The contract's arguments. */
export interface WorkloadOptions {
  /** Members, host:port each; worker w puts member (w mod n) first. */
  connect: readonly string[];
  seed: number;
  durationMs: number;
  out: string;
  workloads: readonly ('register' | 'seq' | 'counter' | 'lock' | 'watch')[];
  processes: number;
  sessionTimeoutMs?: number;
  prefix: string;
  /** Optional: each worker waits a random 0..thinkMs between ops (default 5). */
  thinkMs?: number;
  /**
   * Optional: register values are (valueBase + w) * 1e6 + counter. The defaults (Java 0, kazoo
   * 1000) keep values unique per key when one process of each writes the same registers.
   */
  valueBase?: number;
  /** Optional: a lock holder keeps the lock a random 0..lockHoldMaxMs (default 20). */
  lockHoldMaxMs?: number;
}

export function workloadArgs(opts: WorkloadOptions): string[] {
  const args = [
    '--connect',
    opts.connect.join(','),
    '--seed',
    String(opts.seed),
    '--duration-ms',
    String(opts.durationMs),
    '--out',
    opts.out,
    '--workloads',
    opts.workloads.join(','),
    '--processes',
    String(opts.processes),
    '--session-timeout-ms',
    String(opts.sessionTimeoutMs ?? 6000),
    '--prefix',
    opts.prefix,
  ];
  if (opts.thinkMs !== undefined) args.push('--think-ms', String(opts.thinkMs));
  if (opts.valueBase !== undefined) args.push('--value-base', String(opts.valueBase));
  if (opts.lockHoldMaxMs !== undefined) args.push('--lock-hold-max-ms', String(opts.lockHoldMaxMs));
  return args;
}

function cacheRoot(): string {
  return (
    process.env.ZKTS_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'zkts')
  );
}

/** Where build-java.sh puts its builds (one dir per source version, with classes/ and classpath). */
export function javaWorkloadDir(): string {
  return path.join(cacheRoot(), 'faults-workload-java');
}

/**
 * Builds the Java workload when its source or jars changed (build-java.sh is idempotent and quick
 * when nothing did) and returns the build dir. Throws with the script's output when it fails.
 */
export function buildJavaWorkload(): string {
  const r = spawnSync('bash', [BUILD_SCRIPT], { encoding: 'utf8', timeout: BUILD_TIMEOUT_MS });
  if (r.status !== 0) {
    throw new Error(`build-java.sh failed (${r.error?.message ?? `status ${r.status}`}):\n${r.stderr}${r.stdout}`);
  }
  const dir = r.stdout.trim().split('\n').pop();
  if (!dir || !fs.existsSync(path.join(dir, 'classpath'))) throw new Error(`build-java.sh printed no build dir: ${r.stdout}`);
  return dir;
}

/** `java -cp <cp> FaultsWorkload <args>`, built first if needed. */
export function javaWorkloadCommand(args: readonly string[]): WorkloadCommand {
  const dir = buildJavaWorkload();
  const classpath = fs.readFileSync(path.join(dir, 'classpath'), 'utf8').trim();
  return {
    command: 'java',
    args: ['-Xmx256m', '-XX:+UseSerialGC', '-cp', classpath, 'FaultsWorkload', ...args],
    env: { ...process.env },
  };
}

/** Kazoo 2.10.0 from the cache when fetched, else Debian's python3-kazoo (2.8.0). */
export function kazooPythonPath(): string | undefined {
  const dir = path.join(cacheRoot(), KAZOO_VERSION_DIR);
  return fs.existsSync(path.join(dir, '.complete')) ? dir : undefined;
}

/** `python3 scripts/faults/workload/kazoo_workload.py <args>`. */
export function kazooWorkloadCommand(args: readonly string[]): WorkloadCommand {
  const env: NodeJS.ProcessEnv = { ...process.env };
  const kazooDir = kazooPythonPath();
  if (kazooDir !== undefined) {
    env.PYTHONPATH = [kazooDir, ...(process.env.PYTHONPATH ? [process.env.PYTHONPATH] : [])].join(path.delimiter);
  }
  // Unbuffered: stderr lines of a program that is killed still arrive.
  env.PYTHONUNBUFFERED = '1';
  return { command: PYTHON, args: [KAZOO_SCRIPT, ...args], env };
}
