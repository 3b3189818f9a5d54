/**
 * Memory of a populated 3-member zkts ensemble, for comparing builds: starts the members of each
 * given build (the path of its dist/src/cli.js) on loopback, populates the tree as the ensemble
 * bench does (one session, 1,000 children per parent, 100 B each), lets it rest, and reads every
 * member's RSS from /proc (anonymous, file-backed, malloc's main heap). Builds alternate over
 * rounds (A B, B A, ...) to spread the machine's noise. With --set-seconds, a short setData run
 * (8 sessions x 32 outstanding, spread over the members) follows the reading; with --hold, the
 * members stay up that long after it (their pids are printed) for a closer look.
 *
 *   node dist/scripts/bench/memprobe.js [--znodes N] [--rounds N] [--set-seconds S] [--hold S] [--via leader|follower] CLI_JS...
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { srvrStatus, waitForLeaderAndFollowers } from '../../test/util/ensemble';
import { freePort } from '../../test/util/servers';
import { compileDriver, runDriver } from './driver';

const HOST = '127.0.0.1';
const REST_MS = 15_000;
const QUORUM_TIMEOUT_MS = 120_000;

/** Members running now, and their dirs: stopped by their pids and removed if this script is interrupted. */
const running = new Set<ChildProcess>();
const rootDirs = new Set<string>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const c of running) if (c.exitCode === null && c.signalCode === null) process.kill(c.pid!, 'SIGKILL');
    for (const d of rootDirs) fs.rmSync(d, { recursive: true, force: true });
    process.exit(1);
  });
}

interface Member {
  sid: number;
  clientPort: number;
  child: ChildProcess;
  exited: Promise<void>;
}

/** kB figures of one process. */
function readMemory(pid: number): Record<string, number> {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (re: RegExp, text: string) => Number(re.exec(text)?.[1] ?? NaN);
  const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  // The [heap] mapping is malloc's main arena.
  const smaps = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8');
  let heapKb = 0;
  const heapAt = smaps.indexOf('[heap]');
  if (heapAt >= 0) heapKb = kb(/Rss:\s+(\d+) kB/, smaps.slice(heapAt));
  return {
    rss: kb(/VmRSS:\s+(\d+) kB/, status),
    anon: kb(/RssAnon:\s+(\d+) kB/, status),
    file: kb(/RssFile:\s+(\d+) kB/, status),
    mallocHeap: heapKb,
    pss: kb(/^Pss:\s+(\d+) kB/m, rollup),
  };
}

async function startEnsemble(cli: string, rootDir: string): Promise<Member[]> {
  const ports: { client: number; quorum: number; election: number }[] = [];
  const taken = new Set<number>();
  while (ports.length < 3) {
    const p = [await freePort(), await freePort(), await freePort()];
    if (new Set(p).size < 3 || p.some((x) => taken.has(x))) continue;
    p.forEach((x) => taken.add(x));
    ports.push({ client: p[0], quorum: p[1], election: p[2] });
  }
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  return ports.map((p, i) => {
    const sid = i + 1;
    const dir = path.join(rootDir, `member${sid}`);
    const dataDir = path.join(dir, 'data');
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'myid'), `${sid}\n`);
    const cfg = [
      'tickTime=2000',
      'initLimit=10',
      'syncLimit=5',
      'maxClientCnxns=0',
      `dataDir=${dataDir}`,
      `clientPort=${p.client}`,
      `clientPortAddress=${HOST}`,
      'admin.enableServer=false',
      '4lw.commands.whitelist=*',
      ...ports.map((q, j) => `server.${j + 1}=${HOST}:${q.quorum}:${q.election}`),
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'zoo.cfg'), cfg + '\n');
    const logFd = fs.openSync(path.join(dir, 'server.log'), 'a');
    const child = spawn(process.execPath, [cli, 'server', path.join(dir, 'zoo.cfg')], { cwd: dir, stdio: ['ignore', logFd, logFd], env });
    fs.closeSync(logFd);
    running.add(child);
    const exited = new Promise<void>((r) =>
      child.once('exit', () => {
        running.delete(child);
        r();
      }),
    );
    return { sid, clientPort: p.client, child, exited };
  });
}

async function stopEnsemble(members: Member[]): Promise<void> {
  for (const m of members) if (m.child.exitCode === null && m.child.signalCode === null) process.kill(m.child.pid!, 'SIGTERM');
  await Promise.race([Promise.all(members.map((m) => m.exited)), new Promise((r) => setTimeout(r, 10_000))]);
  for (const m of members) if (m.child.exitCode === null && m.child.signalCode === null) process.kill(m.child.pid!, 'SIGKILL');
  await Promise.all(members.map((m) => m.exited));
}

async function waitForSameZxid(members: Member[]): Promise<void> {
  const deadline = Date.now() + QUORUM_TIMEOUT_MS;
  for (;;) {
    const z = (await Promise.all(members.map((m) => srvrStatus(HOST, m.clientPort)))).map((s) => s.zxid);
    if (z.every((x) => x !== undefined && x === z[0])) return;
    if (Date.now() > deadline) throw new Error('zxids differ');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function probe(cli: string, classes: string, znodes: number, setSeconds: number, holdSeconds: number, via: string | undefined): Promise<string> {
  const rootDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-memprobe-'));
  rootDirs.add(rootDir);
  const members = await startEnsemble(cli, rootDir);
  try {
    const endpoints = members.map((m) => ({ host: HOST, port: m.clientPort }));
    const leader = await waitForLeaderAndFollowers(endpoints, QUORUM_TIMEOUT_MS);
    const cs = endpoints.map((e) => `${e.host}:${e.port}`).join(',');
    const load0 = os.loadavg()[0];
    // --via: the populating session goes to that member only ('leader' or 'follower': the first of them).
    const viaIndex = via === 'leader' ? leader : via === 'follower' ? (leader === 0 ? 1 : 0) : -1;
    const populateCs = viaIndex < 0 ? cs : `${HOST}:${members[viaIndex].clientPort}`;
    const p = runDriver(classes, 'nio', [populateCs, 'populate', '0', String(znodes), '100'], 3600);
    if (p.errors > 0) throw new Error(`populate: ${p.errors} errors`);
    await waitForSameZxid(members);
    await new Promise((r) => setTimeout(r, REST_MS));
    const mem = members.map((m) => readMemory(m.child.pid!));
    const mb = (kb: number) => (kb / 1024).toFixed(1);
    let line = `populate ${Math.round(p.opsPerSec)}/s${viaIndex < 0 ? '' : ` via ${members[viaIndex].sid}`} load ${load0.toFixed(1)} |`;
    mem.forEach((m, i) => {
      line += ` ${i === leader ? 'L' : 'F'}${members[i].sid} rss ${mb(m.rss)} (anon ${mb(m.anon)} file ${mb(m.file)} mallocheap ${mb(m.mallocHeap)}) |`;
    });
    if (holdSeconds > 0) {
      console.log(`holding ${holdSeconds} s: pids ${members.map((m) => `${m.sid}=${m.child.pid}`).join(' ')}, leader ${members[leader].sid}; ${line}`);
      await new Promise((r) => setTimeout(r, holdSeconds * 1000));
    }
    if (setSeconds > 0) {
      const s = runDriver(classes, 'nio', [cs, 'set', '8', '32', String(setSeconds), '100', '2'], setSeconds + 300, { 'bench.spread': 'true' });
      line += ` set ${Math.round(s.opsPerSec)} ops/s p99 ${s.p99Us} us`;
    }
    return line;
  } finally {
    await stopEnsemble(members);
    fs.rmSync(rootDir, { recursive: true, force: true });
    rootDirs.delete(rootDir);
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let znodes = 200_000;
  let rounds = 1;
  let setSeconds = 0;
  let holdSeconds = 0;
  let via: string | undefined;
  const clis: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--znodes') znodes = Number(argv[++i]);
    else if (argv[i] === '--rounds') rounds = Number(argv[++i]);
    else if (argv[i] === '--set-seconds') setSeconds = Number(argv[++i]);
    else if (argv[i] === '--hold') holdSeconds = Number(argv[++i]);
    else if (argv[i] === '--via') via = argv[++i];
    else clis.push(path.resolve(argv[i]));
  }
  if (clis.length === 0) throw new Error('usage: memprobe [--znodes N] [--rounds N] [--set-seconds S] CLI_JS...');
  const classes = compileDriver();
  try {
    for (let r = 0; r < rounds; r++) {
      for (const cli of r % 2 === 0 ? clis : [...clis].reverse()) {
        console.log(`${cli}: ${await probe(cli, classes, znodes, setSeconds, holdSeconds, via)}`);
      }
    }
  } finally {
    fs.rmSync(classes, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
