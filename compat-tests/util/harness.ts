// Shared helpers for the differential compat tests: the servers under comparison (the reference
// Apache ZooKeeper 3.8.0, the second reference 3.9.5, and zkts), bounded waits, child processes
// with a deadline, and transcript comparison. Where 3.8.0 and 3.9.5 differ, zkts follows 3.9.5.

import type { Test } from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunningServer, startReferenceZooKeeper, startZkts, type ReferenceVersion } from '../../test/util/servers';

/** 'reference' is ZooKeeper 3.8.0 (Debian's), 'reference39' ZooKeeper 3.9.5. */
export type TargetName = 'reference' | 'reference39' | 'zkts';

export interface ServerOptions {
  extraConfig?: Record<string, string>;
  // Java system properties, given to the reference JVM as -Dk=v and to zkts as systemProps.
  systemProps?: Record<string, string>;
}

export const TARGETS: readonly TargetName[] = ['reference', 'reference39', 'zkts'];

/** The reference release behind a target name (undefined for zkts). */
export function referenceVersionOf(name: TargetName): ReferenceVersion | undefined {
  return name === 'reference' ? '3.8.0' : name === 'reference39' ? '3.9.5' : undefined;
}

export async function startTarget(name: TargetName, opts: ServerOptions = {}): Promise<RunningServer> {
  const props = opts.systemProps ?? {};
  const version = referenceVersionOf(name);
  if (version !== undefined) {
    return startReferenceZooKeeper({
      version,
      extraConfig: opts.extraConfig,
      jvmFlags: Object.entries(props).map(([k, v]) => `-D${k}=${v}`),
    });
  }
  return startZkts({ extraConfig: opts.extraConfig, systemProps: props });
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Polls `condition` until it holds, failing after `timeoutMs`.
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  pollMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(pollMs);
  }
}

// Rejects when `promise` does not settle within `timeoutMs`.
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
  durationMs: number;
}

// Runs a process to its end, collecting stdout and stderr apart; SIGKILLed after `timeoutMs`.
export function runProcess(
  command: string,
  args: readonly string[],
  opts: { timeoutMs: number; cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<RunResult> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    const finish = (code: number | null, signal: NodeJS.Signals | null, extra = ''): void => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        timedOut,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + extra,
        durationMs: Date.now() - started,
      });
    };
    child.once('error', (e) => finish(null, null, `\nspawn error: ${e.message}`));
    child.once('close', (code, signal) => finish(code, signal));
  });
}

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  // stdout and stderr interleaved as the process wrote them (one file descriptor for both).
  output: string;
}

// Runs a process with `input` on stdin; stdout and stderr share one file so that their relative
// order is kept. The process is SIGKILLed after `timeoutMs`.
export async function runMerged(
  command: string,
  args: readonly string[],
  input: string,
  timeoutMs: number,
  env?: NodeJS.ProcessEnv,
): Promise<ProcessResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zk-compat-out-'));
  const outPath = path.join(dir, 'output');
  const fd = fs.openSync(outPath, 'w');
  try {
    const child = spawn(command, args, { stdio: ['pipe', fd, fd], env: env ?? process.env });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
    let status: { code: number | null; signal: NodeJS.Signals | null };
    try {
      status = await withTimeout(exited, timeoutMs, `${command} ${args.join(' ')}`);
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\noutput so far:\n${fs.readFileSync(outPath, 'utf8')}`);
    }
    return { ...status, output: fs.readFileSync(outPath, 'utf8') };
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function log4jOffConfig(): string {
  const file = path.join(os.tmpdir(), 'zk-compat-log4j-off.properties');
  if (!fs.existsSync(file)) fs.writeFileSync(file, 'log4j.rootLogger=OFF\n');
  return file;
}

// A readable first difference between two line lists, for assertion messages.
export function firstDifference(
  expected: readonly string[],
  actual: readonly string[],
  labels: readonly [string, string] = ['reference', 'zkts'],
): string {
  const n = Math.max(expected.length, actual.length);
  for (let i = 0; i < n; i++) {
    if (expected[i] !== actual[i]) {
      const from = Math.max(0, i - 3);
      const show = (lines: readonly string[]): string =>
        lines
          .slice(from, i + 4)
          .map((l, k) => `  ${from + k + 1}: ${l}`)
          .join('\n');
      return `line ${i + 1}:\n${labels[0]}:\n${show(expected)}\n${labels[1]}:\n${show(actual)}`;
    }
  }
  return 'identical';
}

/**
 * The closing comparison of a per-target scenario: ZooKeeper 3.9.5 told the same story as 3.8.0,
 * and zkts the same as 3.9.5 (where the two releases differ, zkts follows 3.9.5).
 */
export function compareWithReferences(t: Test, transcripts: ReadonlyMap<TargetName, readonly string[]>): void {
  const missing = TARGETS.filter((name) => !transcripts.has(name));
  if (missing.length > 0) {
    t.fail(`missing transcripts: ${missing.join(', ')}`);
    return;
  }
  const ref38 = transcripts.get('reference')!;
  const ref39 = transcripts.get('reference39')!;
  const zkts = transcripts.get('zkts')!;
  t.strictSame(ref39, ref38, `ZooKeeper 3.9.5's transcript is 3.8.0's: ${firstDifference(ref38, ref39, ['3.8.0', '3.9.5'])}`);
  t.strictSame(zkts, ref39, `zkts's transcript is ZooKeeper 3.9.5's: ${firstDifference(ref39, zkts, ['3.9.5', 'zkts'])}`);
}

// With ZK_COMPAT_DUMP=<dir>, transcripts are also written there (one file per test and target), to
// read a whole disagreement at once.
export function dumpTranscript(test: string, target: string, lines: readonly string[]): void {
  const dir = process.env.ZK_COMPAT_DUMP;
  if (!dir) return;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${test}.${target}.txt`), lines.join('\n') + '\n');
}

// A TCP forwarder in front of a server, to cut a client off (its session then expires on the
// server) and to let it back in.
export interface Proxy {
  port: number;
  connectString: string;
  block(): void;
  unblock(): void;
  close(): Promise<void>;
}

export async function startProxy(targetHost: string, targetPort: number): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  let blocked = false;
  const server = net.createServer((client) => {
    if (blocked) {
      client.destroy();
      return;
    }
    const upstream = net.createConnection({ host: targetHost, port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    connectString: `127.0.0.1:${address.port}`,
    block(): void {
      blocked = true;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    unblock(): void {
      blocked = false;
    },
    close(): Promise<void> {
      blocked = true;
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
