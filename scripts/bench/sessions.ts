/**
 * `npm run bench -- --sessions`: many idle sessions on one standalone server, ZooKeeper 3.8.0
 * (-Xmx1000m) and zkts alternately with the same zoo.cfg. For each count of sessions: how fast
 * they connect, the server's RSS per idle session (each session pinging, each with one data watch
 * on /fanout), and how long one setData takes to reach every watcher (from the request to the last
 * notification), with a check that every watcher got its event exactly once. The client is the
 * bench's own raw Jute client in C (scripts/bench/sessionclient.c, built here with cc) in a process
 * of its own.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { startReferenceZooKeeper, startZkts, type RunningServer } from '../../test/util/servers';
import { fmt, log, median, procRssMb, ROOT } from './driver';

export type SessionsServer = 'zookeeper' | 'zkts';

export interface SessionsSample {
  server: SessionsServer;
  sessions: number;
  connectPerSec: number;
  connectErrors: number;
  rssBaseMb: number;
  rssIdleMb: number;
  perSessionKb: number;
  fanoutMs: number[];
  missing: number;
  duplicated: number;
}

export interface SessionsOptions {
  counts: number[];
  rounds: number;
  /** Fan-out rounds per server start. */
  fanouts: number;
  /** Idle time before RSS is read: at least one ping from every session. */
  idleMs: number;
}

/** Descriptors a process may have at most here (the hard limit, which only a privileged process raises). */
export function hardDescriptorLimit(): number {
  const m = /^Max open files\s+\d+\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
}

/** Descriptors beyond the sessions that a server or the client needs (logs, data files, the JVM's jars). */
const DESCRIPTOR_MARGIN = 500;

/** Descriptors the server and the client get: the sessions, and room for everything else. */
export function descriptorLimit(sessions: number): number {
  return Math.min(hardDescriptorLimit(), sessions + DESCRIPTOR_MARGIN * 8);
}

/** The most sessions the hard descriptor limit leaves room for. */
export function maxSessions(): number {
  return hardDescriptorLimit() - DESCRIPTOR_MARGIN;
}

async function startServer(server: SessionsServer, sessions: number): Promise<RunningServer> {
  const extraConfig = { maxClientCnxns: '0', maxSessionTimeout: '60000' };
  const nofileLimit = descriptorLimit(sessions);
  return server === 'zookeeper'
    ? startReferenceZooKeeper({ jvmFlags: ['-Xmx1000m'], extraConfig, nofileLimit })
    : startZkts({ extraConfig, nofileLimit });
}

const CLIENT_SOURCE = path.join(ROOT, 'scripts', 'bench', 'sessionclient.c');
const CLIENT_BINARY = path.join(ROOT, 'dist', 'scripts', 'bench', 'sessionclient');

/** Builds the client when its binary is missing or older than its source. */
export function buildSessionClient(): string {
  const stale = !fs.existsSync(CLIENT_BINARY) || fs.statSync(CLIENT_BINARY).mtimeMs < fs.statSync(CLIENT_SOURCE).mtimeMs;
  if (stale) {
    fs.mkdirSync(path.dirname(CLIENT_BINARY), { recursive: true });
    try {
      execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', CLIENT_BINARY, CLIENT_SOURCE], { stdio: ['ignore', 'inherit', 'inherit'] });
    } catch (e) {
      throw new Error(`sessions: could not build ${CLIENT_SOURCE} with cc (scripts/install-deps.sh installs gcc): ${(e as Error).message}`);
    }
  }
  return CLIENT_BINARY;
}

/** The client process, answering one JSON line per command. */
class Client {
  private readonly answers: string[] = [];
  private waiter: ((line: string) => void) | undefined;
  private readonly child: ChildProcess;

  constructor(port: number, run: number, sessions: number) {
    const limit = descriptorLimit(sessions);
    this.child = spawn('prlimit', [`--nofile=${limit}:${limit}`, buildSessionClient(), '127.0.0.1', String(port), String(run)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const w = this.waiter;
      this.waiter = undefined;
      if (w) w(line);
      else this.answers.push(line);
    });
  }

  async ask(cmd: string, timeoutMs: number): Promise<Record<string, number>> {
    this.child.stdin!.write(`${cmd}\n`);
    const line =
      this.answers.shift() ??
      (await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`session client: no answer to ${cmd} within ${timeoutMs} ms`)), timeoutMs);
        this.waiter = (l) => {
          clearTimeout(timer);
          resolve(l);
        };
      }));
    const r = JSON.parse(line) as Record<string, number> & { error?: string };
    if (r.error) throw new Error(`session client: ${cmd}: ${r.error}`);
    return r;
  }

  async close(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.stdin!.end('close\n');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

async function measure(server: SessionsServer, sessions: number, opts: SessionsOptions, run: number): Promise<SessionsSample> {
  const s = await startServer(server, sessions);
  let client: Client | undefined;
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const rssBaseMb = procRssMb(s.pid);
    client = new Client(s.port, run, sessions);
    const c = await client.ask(`connect ${sessions}`, 300_000);
    const w = await client.ask('watch', 120_000);
    if (w.armed !== sessions) throw new Error(`${server}: ${w.armed} of ${sessions} watches set`);
    await new Promise((r) => setTimeout(r, opts.idleMs));
    const rssIdleMb = procRssMb(s.pid);
    const fanoutMs: number[] = [];
    let missing = 0;
    let duplicated = 0;
    for (let i = 0; i < opts.fanouts; i++) {
      const f = await client.ask('fanout', 120_000);
      fanoutMs.push(f.ms);
      missing += f.missing;
      duplicated += f.duplicated;
      await client.ask('watch', 120_000);
    }
    return {
      server,
      sessions,
      connectPerSec: c.perSec,
      connectErrors: c.errors,
      rssBaseMb,
      rssIdleMb,
      perSessionKb: ((rssIdleMb - rssBaseMb) * 1024) / sessions,
      fanoutMs,
      missing,
      duplicated,
    };
  } finally {
    await client?.close();
    await s.stop();
  }
}

export async function runSessionsBench(opts: SessionsOptions): Promise<SessionsSample[]> {
  const samples: SessionsSample[] = [];
  let run = 0;
  for (let round = 0; round < opts.rounds; round++) {
    for (const sessions of opts.counts) {
      const order: SessionsServer[] = round % 2 === 0 ? ['zookeeper', 'zkts'] : ['zkts', 'zookeeper'];
      for (const server of order) {
        const x = await measure(server, sessions, opts, ++run);
        samples.push(x);
        log(
          `sessions round ${round + 1} ${server.padEnd(9)} ${String(sessions).padStart(6)}: connect ${fmt(x.connectPerSec)}/s, ` +
            `${fmt(x.perSessionKb, 2)} KB/session (RSS ${fmt(x.rssBaseMb)} -> ${fmt(x.rssIdleMb)} MB), fan-out ${x.fanoutMs.map((m) => fmt(m)).join('/')} ms, missing ${x.missing}, duplicated ${x.duplicated}`,
        );
      }
    }
  }
  return samples;
}

function pick(samples: SessionsSample[], server: SessionsServer, sessions: number, f: (s: SessionsSample) => number): number {
  return median(samples.filter((s) => s.server === server && s.sessions === sessions).map(f));
}

/** Markdown table and an SVG chart (KB per session and fan-out ms against sessions, both servers). */
export function sessionsReport(samples: SessionsSample[], opts: SessionsOptions): { md: string; svg: string } {
  const counts = [...new Set(samples.map((s) => s.sessions))].sort((a, b) => a - b);
  const lines = [
    `Many sessions ${new Date().toISOString()}: ${opts.rounds} round(s), ${opts.fanouts} fan-outs per server start, medians. One standalone server at a time (ZooKeeper 3.8.0 with -Xmx1000m, zkts), the same zoo.cfg (maxClientCnxns=0), server and client each with a descriptor limit of the sessions + 4000, at most the hard limit (${hardDescriptorLimit()} here, so at most ${maxSessions()} sessions). The client is the bench's raw Jute client in C (scripts/bench/sessionclient.c, one epoll loop, at most 50 handshakes or requests in flight, ZooKeeper's default listen backlog): each session pings every 10 s and holds one data watch on /fanout.`,
    '',
    '| sessions | KB per idle session ZK / zkts | zkts/ZK memory | connects/s ZK / zkts | zkts/ZK connect rate | fan-out ms ZK / zkts | zkts/ZK fan-out time | events missing / duplicated |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const n of counts) {
    const kb = (srv: SessionsServer) => pick(samples, srv, n, (s) => s.perSessionKb);
    const cps = (srv: SessionsServer) => pick(samples, srv, n, (s) => s.connectPerSec);
    const fan = (srv: SessionsServer) => median(samples.filter((s) => s.server === srv && s.sessions === n).flatMap((s) => s.fanoutMs));
    const lost = samples.filter((s) => s.sessions === n).reduce((a, s) => a + s.missing, 0);
    const dup = samples.filter((s) => s.sessions === n).reduce((a, s) => a + s.duplicated, 0);
    lines.push(
      `| ${n} | ${fmt(kb('zookeeper'), 2)} / ${fmt(kb('zkts'), 2)} | ${fmt(kb('zkts') / kb('zookeeper'), 2)}x | ${fmt(cps('zookeeper'))} / ${fmt(cps('zkts'))} | ${fmt(cps('zkts') / cps('zookeeper'), 2)}x | ${fmt(fan('zookeeper'), 1)} / ${fmt(fan('zkts'), 1)} | ${fmt(fan('zkts') / fan('zookeeper'), 2)}x | ${lost} / ${dup} |`,
    );
  }
  return { md: lines.join('\n') + '\n', svg: sessionsSvg(samples, counts) };
}

function sessionsSvg(samples: SessionsSample[], counts: number[]): string {
  const panels: Array<{ title: string; value: (srv: SessionsServer, n: number) => number }> = [
    { title: 'RSS per idle session, KB (lower is better)', value: (srv, n) => pick(samples, srv, n, (s) => s.perSessionKb) },
    { title: 'watch fan-out to every session, ms (lower is better)', value: (srv, n) => median(samples.filter((s) => s.server === srv && s.sessions === n).flatMap((s) => s.fanoutMs)) },
  ];
  const colors: Record<SessionsServer, string> = { zookeeper: '#d9534f', zkts: '#2f7ed8' };
  const panelW = 380;
  const panelH = 220;
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${panelW * panels.length + 20}" height="${panelH + 60}" font-family="sans-serif" font-size="12">`;
  panels.forEach((p, i) => {
    const x0 = 10 + i * panelW;
    const max = Math.max(1, ...counts.flatMap((n) => (['zookeeper', 'zkts'] as const).map((srv) => p.value(srv, n) || 0)));
    svg += `<text x="${x0}" y="16" font-weight="bold">${p.title}</text>`;
    const groupW = (panelW - 40) / counts.length;
    counts.forEach((n, k) => {
      (['zookeeper', 'zkts'] as const).forEach((srv, j) => {
        const v = p.value(srv, n) || 0;
        const h = (v / max) * (panelH - 40);
        const x = x0 + 10 + k * groupW + j * (groupW / 2 - 4);
        svg += `<rect x="${x.toFixed(1)}" y="${(30 + panelH - 40 - h).toFixed(1)}" width="${(groupW / 2 - 8).toFixed(1)}" height="${h.toFixed(1)}" fill="${colors[srv]}"/>`;
        svg += `<text x="${x.toFixed(1)}" y="${(26 + panelH - 40 - h).toFixed(1)}" font-size="10">${fmt(v, v < 10 ? 1 : 0)}</text>`;
      });
      svg += `<text x="${(x0 + 10 + k * groupW).toFixed(1)}" y="${panelH + 5}">${n} sessions</text>`;
    });
  });
  svg += `<rect x="10" y="${panelH + 25}" width="12" height="12" fill="${colors.zookeeper}"/><text x="26" y="${panelH + 35}">ZooKeeper 3.8.0</text>`;
  svg += `<rect x="150" y="${panelH + 25}" width="12" height="12" fill="${colors.zkts}"/><text x="166" y="${panelH + 35}">zkts</text>`;
  return svg + '</svg>\n';
}

/** Runs the workload and writes bench/results/sessions/latest.{md,json,svg} (not for a smoke run). */
export async function mainSessions(smoke: boolean, outDir: string): Promise<void> {
  // 20,000 where the descriptor limit allows; below it, as many as it leaves room for.
  const counts = (process.env.BENCH_SESSIONS ?? (smoke ? '200' : '1000,10000,20000'))
    .split(',')
    .filter((x) => x !== '')
    .map((x) => Math.min(Number(x), maxSessions()));
  log(`sessions: hard descriptor limit ${hardDescriptorLimit()}, so at most ${maxSessions()} sessions`);
  const opts: SessionsOptions = {
    counts,
    rounds: smoke ? 1 : Number(process.env.BENCH_ROUNDS ?? 2),
    fanouts: smoke ? 2 : 5,
    idleMs: smoke ? 1000 : 12_000,
  };
  const samples = await runSessionsBench(opts);
  const { md, svg } = sessionsReport(samples, opts);
  process.stdout.write(md);
  if (!smoke) {
    const dir = path.join(outDir, 'sessions');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'latest.md'), md);
    fs.writeFileSync(path.join(dir, 'latest.svg'), svg);
    fs.writeFileSync(path.join(dir, 'latest.json'), JSON.stringify(samples, null, 2));
  }
  const bad = samples.reduce((n, s) => n + s.missing + s.duplicated + s.connectErrors, 0);
  if (bad > 0) process.exitCode = 1;
}
