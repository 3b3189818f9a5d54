// The faults-checker binary (Go, scripts/faults/checker): built once per version of its sources
// into dist/faults-checker/<hash>/, and run on a run's histories (FAULTS-SPEC.md "Checker contract").

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const CHECKER_SOURCE_DIR = path.join(REPO_ROOT, 'scripts', 'faults', 'checker');
const CHECKER_BUILD_DIR = path.join(REPO_ROOT, 'dist', 'faults-checker');
const GO_FALLBACK = '/usr/local/go/bin/go';
const BUILD_TIMEOUT_MS = 600_000;
// The checker's own bound is its porcupine timeout per check; this only stops a hung process.
const RUN_TIMEOUT_MARGIN_MS = 600_000;
const OUTPUT_BYTES_MAX = 64 * 1024 * 1024;

/** The go command: $GO, else `go` on the PATH, else Go's default install location. */
export function findGo(): string {
  if (process.env.GO) return process.env.GO;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'go');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  fs.accessSync(GO_FALLBACK, fs.constants.X_OK); // throws: no Go toolchain
  return GO_FALLBACK;
}

/** A hash of what the binary is built from: go.mod, go.sum and the non-test Go files. */
export function checkerSourceHash(): string {
  const hash = createHash('sha256');
  const names = fs
    .readdirSync(CHECKER_SOURCE_DIR)
    .filter((n) => n === 'go.mod' || n === 'go.sum' || (n.endsWith('.go') && !n.endsWith('_test.go')))
    .sort();
  for (const name of names) {
    hash.update(name).update('\0').update(fs.readFileSync(path.join(CHECKER_SOURCE_DIR, name))).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runProcess(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let overflow = false;
    const collect = (chunks: Buffer[], size: number, chunk: Buffer): number => {
      if (size + chunk.length > OUTPUT_BYTES_MAX) {
        overflow = true;
        child.kill('SIGKILL');
        return size;
      }
      chunks.push(chunk);
      return size + chunk.length;
    };
    child.stdout.on('data', (c: Buffer) => (outBytes = collect(out, outBytes, c)));
    child.stderr.on('data', (c: Buffer) => (errBytes = collect(err, errBytes, c)));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (overflow) {
        reject(new Error(`${cmd}: output larger than ${OUTPUT_BYTES_MAX} bytes`));
        return;
      }
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/**
 * Builds the checker unless this version of its sources is already built; returns the binary's
 * path. Modules come from the Go module proxy (GOFLAGS=-mod=mod), pinned by go.sum.
 */
export async function buildChecker(): Promise<string> {
  const dir = path.join(CHECKER_BUILD_DIR, checkerSourceHash());
  const bin = path.join(dir, 'faults-checker');
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(dir, { recursive: true });
  // Build beside the final path and rename, so concurrent builds never expose a partial binary.
  const tmp = path.join(dir, `faults-checker.${process.pid}.tmp`);
  const env = { ...process.env, GOFLAGS: '-mod=mod' };
  const r = await runProcess(findGo(), ['build', '-o', tmp, '.'], { cwd: CHECKER_SOURCE_DIR, env, timeoutMs: BUILD_TIMEOUT_MS });
  if (r.code !== 0) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`go build of the faults checker failed (exit ${r.code ?? r.signal}):\n${r.stderr}`);
  }
  fs.renameSync(tmp, bin);
  // Binaries of older sources are of no more use.
  for (const other of fs.readdirSync(CHECKER_BUILD_DIR)) {
    if (other !== path.basename(dir)) fs.rmSync(path.join(CHECKER_BUILD_DIR, other), { recursive: true, force: true });
  }
  return bin;
}

export interface CheckerArgs {
  histories: string[];
  finalPath: string;
  outDir: string;
  timeoutS?: number;
  /** Heap limit of porcupine's search; beyond it the run is unknown (exit 2). */
  memoryMb?: number;
}

export interface CheckerRun {
  /** 0 valid, 1 anomaly found, 2 unknown or bad input. */
  exitCode: number | null;
  /** The JSON object the checker printed (FAULTS-SPEC.md "Checker contract"). */
  result: CheckerOutput;
  stderr: string;
}

export interface CheckerCheck {
  valid: boolean | 'unknown';
  ops: number;
  ok: number;
  fail: number;
  info: number;
  anomalies: number;
  keys?: Record<string, { result: 'linearizable' | 'illegal' | 'unknown'; ops: number; visualization?: string; error?: string }>;
  porcupine?: { result: 'linearizable' | 'illegal' | 'unknown'; ops: number; visualization?: string; error?: string };
  visualization: string[];
}

export interface CheckerOutput {
  valid: boolean | 'unknown';
  checks: Record<'register' | 'seq' | 'counter' | 'lock' | 'watch', CheckerCheck>;
  anomalies: { check: string; what: string; ops: { at: string; op: unknown }[] }[];
  anomaliesTotal: number;
  error?: string;
}

/** Runs the checker (building it first if needed). */
export async function runChecker(args: CheckerArgs): Promise<CheckerRun> {
  const bin = await buildChecker();
  const timeoutS = args.timeoutS ?? 60;
  const argv: string[] = [];
  for (const h of args.histories) argv.push('--history', h);
  argv.push('--final', args.finalPath, '--out', args.outDir, '--timeout-s', String(timeoutS));
  if (args.memoryMb !== undefined) argv.push('--memory-mb', String(args.memoryMb));
  const r = await runProcess(bin, argv, { timeoutMs: timeoutS * 1000 * 8 + RUN_TIMEOUT_MARGIN_MS });
  let result: CheckerOutput;
  try {
    result = JSON.parse(r.stdout) as CheckerOutput;
  } catch {
    throw new Error(`faults-checker printed no JSON (exit ${r.code ?? r.signal}):\n${r.stdout.slice(0, 2000)}\n${r.stderr.slice(-2000)}`);
  }
  return { exitCode: r.code, result, stderr: r.stderr };
}
