/**
 * What the benchmark's parts share: the load driver (scripts/bench/LoadDriver.java on the official
 * Java client, compiled at run time) and readings of a server process from /proc.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { javaClasspath } from '../../test/util/servers';

/** The Java client's two socket implementations; NIO is its default. */
export type ClientSocket = 'nio' | 'netty';
const SOCKET_CLASS: Record<ClientSocket, string> = {
  nio: 'org.apache.zookeeper.ClientCnxnSocketNIO',
  netty: 'org.apache.zookeeper.ClientCnxnSocketNetty',
};

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const DRIVER_JVM = ['-Xmx1g', '-XX:+UseParallelGC'];
const TICKS_PER_SEC = 100;

export function procCpuSec(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC;
}

export function procRssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** Compiles the driver into a temp dir (the caller removes it). */
export function compileDriver(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-bench-'));
  const r = spawnSync('javac', ['-d', dir, '-cp', javaClasspath(), path.join(ROOT, 'scripts', 'bench', 'LoadDriver.java')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`javac failed: ${r.stderr}`);
  // The client logs at WARN: log4j's default level, DEBUG, would make the client the bottleneck.
  fs.writeFileSync(path.join(dir, 'log4j.properties'), 'log4j.rootLogger=WARN\n');
  return dir;
}

function driverArgv(classes: string, socket: ClientSocket, args: string[], jvmProps: Record<string, string>): string[] {
  return [
    ...DRIVER_JVM,
    `-Dzookeeper.clientCnxnSocket=${SOCKET_CLASS[socket]}`,
    `-Dlog4j.configuration=file:${path.join(classes, 'log4j.properties')}`,
    ...Object.entries(jvmProps).map(([k, v]) => `-D${k}=${v}`),
    '-cp',
    [classes, javaClasspath()].join(':'),
    'LoadDriver',
    ...args,
  ];
}

/** Runs the driver over the given client socket; returns its JSON line. */
export function runDriver(classes: string, socket: ClientSocket, args: string[], timeoutSec: number, jvmProps: Record<string, string> = {}): Record<string, number> {
  const r = spawnSync('java', driverArgv(classes, socket, args, jvmProps), {
    encoding: 'utf8',
    timeout: timeoutSec * 1000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`driver ${args.join(' ')}: no result (exit ${r.status}, ${r.signal ?? ''}): ${(r.stderr ?? '').slice(-2000)}`);
  return JSON.parse(line) as Record<string, number>;
}

/** A driver the caller talks to over stdin/stdout (the failover probe). */
export interface DriverProcess {
  /** Resolves with the next stdout line that satisfies `match`, or rejects after `timeoutMs`. */
  line(match: (l: string) => boolean, timeoutMs: number): Promise<string>;
  write(text: string): void;
  /** Kills the driver (by its pid) if it is still running. */
  stop(): void;
}

export function spawnDriver(classes: string, socket: ClientSocket, args: string[]): DriverProcess {
  const child: ChildProcess = spawn('java', driverArgv(classes, socket, args, {}), { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let exited = false;
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (const w of waiters) w();
  });
  // Only the tail is kept, for the error message.
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
  child.once('exit', () => {
    exited = true;
    for (const w of waiters) w();
  });
  return {
    line(match, timeoutMs) {
      return new Promise<string>((resolve, reject) => {
        const check = () => {
          const found = out.split('\n').find((l) => match(l));
          if (found !== undefined) return done(() => resolve(found));
          if (exited) done(() => reject(new Error(`driver ${args.join(' ')} exited without the line: ${err}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`driver ${args.join(' ')}: no line after ${timeoutMs} ms: ${err}`))), timeoutMs);
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    write(text) {
      child.stdin!.write(text);
    },
    stop() {
      if (!exited && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    },
  };
}

/**
 * Writes every dirty page out, so that the next server's fsyncs do not wait behind the write-back
 * of what the previous one wrote (on this VM that halved the next server's write throughput).
 */
export function settleDisk(): void {
  spawnSync('sync', [], { stdio: 'ignore' });
}

export function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function fmt(x: number, digits = 0): string {
  return Number.isNaN(x) ? '-' : x.toFixed(digits);
}

export function log(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}
