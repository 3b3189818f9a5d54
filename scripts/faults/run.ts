// `npm run faults`: the fault suite's runner. For each target (zkts, ZooKeeper 3.8.0) and seed it
// starts an ensemble on its own loopback addresses, creates the suite's znodes, starts the workload
// processes (FAULTS-SPEC.md's contract: Java, kazoo, and this project's TS one), runs the seeded
// nemesis, heals everything, reads the final state of every member, counts acknowledged writes
// lost, runs the porcupine checker, and writes a report. Usage:
//   npm run faults -- --target zkts|zookeeper|both --members 3|5 (--scenario NAME | --nemesis a,b)
//                     (--seed N | --seeds A..B) --duration-s S --out DIR

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { Err } from '../../src/protocol/constants';
import { ZkClient } from '../../test/util/client';
import { onCleanup } from './cleanup';
import { Cluster, memberAddress, startWatchdog, zktsClockHook, type Target } from './cluster';
import { collectFinal, countLost, readHistory, REGISTER_KEYS, type HistoryOp } from './final';
import { capabilities, ensureIptables, ensureNft, healLeftovers, NetFaults } from './net';
import { eventToJson, NEMESES, Nemesis, schedule, type ClockHook, type NemesisEvent, type NemesisKind } from './nemesis';
import { runChecker } from './checkerbin';
import { javaWorkloadCommand, kazooWorkloadCommand, type WorkloadCommand as SharedWorkloadCommand } from './workload/commands';
import { writeBatchReport, writeRunReport, verdict, type CheckerResult, type EventLine, type RunResult } from './report';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const SERVE_TIMEOUT_MS = 90_000;
const WORKLOAD_GRACE_MS = 40_000;
const SESSION_TIMEOUT_MS = 6000;
/** porcupine's time per check in a run; a recheck (--recheck) may give more. */
const CHECKER_TIMEOUT_S = 60;

export const SCENARIOS: Record<string, readonly NemesisKind[]> = {
  none: [],
  smoke: ['kill', 'partition-majority'],
  kill: ['kill'],
  pause: ['pause'],
  partitions: ['partition-majority', 'partition-bridge', 'partition-leader', 'partition-oneway'],
  network: ['loss', 'duplicate', 'delay', 'reorder'],
  failpoints: ['failpoint'],
  clock: ['clock'],
  all: ['kill', 'pause', 'partition-majority', 'partition-bridge', 'partition-leader', 'partition-oneway', 'loss', 'duplicate', 'delay', 'reorder', 'failpoint', 'clock'],
};

export type ClientKind = 'ts' | 'java' | 'kazoo';

export interface RunOptions {
  target: Target;
  members: number;
  scenario: string;
  nemeses: readonly NemesisKind[];
  seed: number;
  durationS: number;
  outDir: string;
  clients: readonly ClientKind[];
  processes: number;
  workloads: readonly string[];
  failpoints?: readonly string[];
  /** Clock jumps are made inside zkts; until that hook exists a `clock` fault is skipped (logged). */
  clockHook?: ClockHook;
  log?: (line: string) => void;
}

// --- workload processes -----------------------------------------------------------------------

interface WorkloadCommand {
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
}

function workloadCommand(kind: ClientKind, o: RunOptions, connect: string, outFile: string): WorkloadCommand | { missing: string } {
  const args = [
    '--connect', connect,
    '--seed', String(o.seed),
    '--duration-ms', String(o.durationS * 1000),
    '--out', outFile,
    '--workloads', o.workloads.join(','),
    '--processes', String(o.processes),
    '--session-timeout-ms', String(SESSION_TIMEOUT_MS),
    '--prefix', kind,
  ];
  if (kind === 'ts') return { cmd: process.execPath, args: [path.join(__dirname, 'tsworkload.js'), ...args] };
  if (kind === 'kazoo') return withCommand(() => kazooWorkloadCommand(args));
  return withCommand(() => javaWorkloadCommand(args));
}

/** A workload program's command line, or why there is none (its build failed). */
function withCommand(make: () => SharedWorkloadCommand): WorkloadCommand | { missing: string } {
  try {
    const c = make();
    return { cmd: c.command, args: c.args, env: c.env };
  } catch (err) {
    return { missing: (err as Error).message.slice(0, 2000) };
  }
}

function startWorkload(c: WorkloadCommand, logFile: string): { child: ChildProcess; done: Promise<number | null> } {
  const fd = fs.openSync(logFile, 'a');
  const env = { ...process.env, ...(c.env ?? {}) };
  delete env.NODE_OPTIONS;
  const child = spawn(c.cmd, c.args, { stdio: ['ignore', fd, fd], env });
  fs.closeSync(fd);
  const pid = child.pid;
  const release = onCleanup(`kill -9 workload ${pid}`, () => {
    try {
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  });
  const stopWatchdog = pid === undefined ? () => undefined : startWatchdog(pid);
  const done = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      release();
      stopWatchdog();
      resolve(code);
    });
    child.once('error', () => {
      release();
      stopWatchdog();
      resolve(-1);
    });
  });
  return { child, done };
}

// --- znodes ---------------------------------------------------------------------------------

const ZNODES: Array<[string, string]> = [
  ['/faults', ''],
  ['/faults/reg', ''],
  ...REGISTER_KEYS.map((k): [string, string] => [k, '0']),
  ['/faults/seq', ''],
  ['/faults/ctr', ''],
  ['/faults/ctr/a', '0'],
  ['/faults/ctr/b', '0'],
  ['/faults/lock', ''],
  ['/faults/lock/java', ''],
  ['/faults/lock/kazoo', ''],
];

async function createZnodes(cluster: Cluster): Promise<void> {
  const leader = await cluster.waitServing(SERVE_TIMEOUT_MS);
  const c = await ZkClient.connect(leader.address, leader.clientPort, { timeoutMs: SESSION_TIMEOUT_MS });
  try {
    for (const [p, data] of ZNODES) {
      const r = await c.create(p, Buffer.from(data));
      if (r.header.err !== Err.OK && r.header.err !== Err.NODEEXISTS) throw new Error(`create ${p}: error ${r.header.err}`);
    }
  } finally {
    await c.close(3000).catch(() => undefined);
    c.destroy();
  }
}

// --- checker ----------------------------------------------------------------------------------

/** Runs the checker (built once per source version); a build that fails is no pass. */
async function checkRun(runDir: string, histories: string[], finalPath: string, timeoutS = CHECKER_TIMEOUT_S, memoryMb?: number): Promise<CheckerResult> {
  let r;
  try {
    r = await runChecker({ histories, finalPath, outDir: path.join(runDir, 'checker'), timeoutS, ...(memoryMb !== undefined ? { memoryMb } : {}) });
  } catch (err) {
    const message = (err as Error).message;
    // Only a failed build means the checker is missing; anything else is a run with no verdict.
    if (/go build/.test(message)) return { available: false, reason: message.slice(0, 2000) };
    return { available: true, valid: 'unknown', reason: message.slice(0, 500), histories: histories.length };
  }
  fs.writeFileSync(path.join(runDir, 'checker.json'), JSON.stringify(r.result, null, 1));
  if (r.stderr) fs.writeFileSync(path.join(runDir, 'checker.stderr'), r.stderr);
  const v = r.result.valid;
  const valid = v === true && r.exitCode === 0 ? true : v === false || r.exitCode === 1 ? false : 'unknown';
  return { available: true, valid, anomalies: r.result.anomalies?.length ?? 0, exitCode: r.exitCode, histories: histories.length, reason: valid === 'unknown' ? `exit ${r.exitCode}` : undefined };
}

// --- one run ----------------------------------------------------------------------------------

export function reproduceCommand(o: RunOptions): string {
  const which = SCENARIOS[o.scenario] && o.scenario !== 'custom' ? `--scenario ${o.scenario}` : `--nemesis ${o.nemeses.join(',')}`;
  return `npm run faults -- --target ${o.target} --members ${o.members} ${which} --seed ${o.seed} --duration-s ${o.durationS} --clients ${o.clients.join(',')} --processes ${o.processes}`;
}

export async function runOne(o: RunOptions): Promise<RunResult> {
  const log = o.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const runDir = path.resolve(o.outDir, `${o.target}-${o.scenario}-m${o.members}-s${o.seed}`);
  fs.rmSync(runDir, { recursive: true, force: true });
  fs.mkdirSync(runDir, { recursive: true });
  const errors: string[] = [];
  const events: NemesisEvent[] = [];
  const eventsFd = fs.openSync(path.join(runDir, 'nemesis.jsonl'), 'w');
  const logEvent = (e: NemesisEvent): void => {
    events.push(e);
    fs.writeSync(eventsFd, `${eventToJson(e)}\n`);
    log(`[${o.target} s${o.seed}] ${e.kind} ${e.phase}${e.members ? ` [${e.members.join(',')}]` : ''}${e.leader !== undefined ? ` leader=${e.leader}` : ''}${e.detail ? ` ${e.detail}` : ''}`);
  };
  ensureNft();
  try {
    ensureIptables();
  } catch (err) {
    log(`iptables could not be installed (no delay or reordering): ${(err as Error).message}`);
  }
  const leftovers = healLeftovers();
  if (leftovers.length) log(`removed fault tables of dead runs: ${leftovers.join(', ')}`);
  const caps = capabilities();
  const addresses = Array.from({ length: o.members }, (_, i) => memberAddress(o.target, i + 1));
  const net = new NetFaults(addresses);
  net.install();
  let cluster: Cluster | undefined;
  const histories: string[] = [];
  const clientsRun: string[] = [];
  let startNs = Number(process.hrtime.bigint());
  let endNs = startNs;
  let treesIdentical = false;
  let treeDiff: string[] = [];
  let ops: HistoryOp[] = [];
  let lost = { lost: 0, checked: 0, details: [] as string[] };
  let checker: CheckerResult = { available: false, reason: 'not run' };
  const plan = schedule({ seed: o.seed, durationMs: o.durationS * 1000, members: o.members, nemeses: o.nemeses, failpoints: o.failpoints });
  fs.writeFileSync(path.join(runDir, 'plan.json'), JSON.stringify(plan, null, 1));
  try {
    cluster = await Cluster.create({ target: o.target, members: o.members, dir: path.join(runDir, 'members') });
    fs.writeFileSync(path.join(runDir, 'members.json'), JSON.stringify(cluster.members.map((m) => ({ id: m.id, address: m.connectString, quorumPort: m.quorumPort, electionPort: m.electionPort, dir: m.dir })), null, 1));
    cluster.startAll();
    await createZnodes(cluster);
    const nemesis = new Nemesis({ cluster, net, capabilities: caps, log: logEvent, clockHook: o.clockHook ?? (o.target === 'zkts' ? zktsClockHook() : undefined) });
    nemesis.startLeaderWatch();
    startNs = Number(process.hrtime.bigint());
    const running: Array<Promise<number | null>> = [];
    for (const kind of o.clients) {
      const file = path.join(runDir, `history-${kind}.jsonl`);
      const cmd = workloadCommand(kind, o, cluster.connectString(), file);
      if ('missing' in cmd) {
        errors.push(`workload ${kind} not available: ${cmd.missing}`);
        continue;
      }
      histories.push(file);
      clientsRun.push(kind);
      const w = startWorkload(cmd, path.join(runDir, `workload-${kind}.log`));
      running.push(w.done.then((code) => {
        if (code !== 0) errors.push(`workload ${kind} exited with ${code} (see workload-${kind}.log)`);
        return code;
      }));
    }
    await nemesis.run(plan);
    await nemesis.heal();
    // A member that died on its own is a finding, unless storage failpoints were meant to kill it.
    if (!o.nemeses.includes('failpoint')) errors.push(...nemesis.crashes);
    for (const e of events) if (e.phase === 'error') errors.push(`nemesis ${e.kind} failed: ${e.detail}`);
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([Promise.all(running).then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), o.durationS * 1000 + WORKLOAD_GRACE_MS)))]);
    clearTimeout(timer);
    if (!finished) errors.push('a workload process did not exit in time (killed)');
    await cluster.waitServing(SERVE_TIMEOUT_MS);
    // A session a workload gave up on may still expire and take its ephemerals while the members
    // are read: collectFinal reads again until their trees agree.
    await nemesis.stopLeaderWatch();
    endNs = Number(process.hrtime.bigint());
    const finalHistory = path.join(runDir, 'history-final.jsonl');
    const fin = await collectFinal(cluster, finalHistory);
    fs.writeFileSync(path.join(runDir, 'FINAL.json'), JSON.stringify(fin.final, null, 1));
    treesIdentical = fin.treesIdentical;
    treeDiff = fin.treeDiff;
    ops = histories.flatMap(readHistory);
    lost = countLost(ops, fin.final);
    checker = await checkRun(runDir, [...histories, finalHistory], path.join(runDir, 'FINAL.json'));
    if (!checker.available) log(`!!! checker not available: ${checker.reason}`);
  } catch (err) {
    errors.push((err as Error).stack ?? String(err));
  } finally {
    await cluster?.stopAll().catch((e) => errors.push(`stopping members: ${(e as Error).message}`));
    try {
      net.remove();
    } catch (e) {
      errors.push((e as Error).message);
    }
    fs.closeSync(eventsFd);
  }
  if (endNs === startNs) endNs = Number(process.hrtime.bigint());
  const counted = ops.filter((x) => !x.proc.startsWith('final-'));
  const result: RunResult = {
    target: o.target,
    members: o.members,
    scenario: o.scenario,
    nemeses: [...o.nemeses],
    seed: o.seed,
    durationS: o.durationS,
    runDir,
    startNs,
    endNs,
    ops: {
      total: counted.length,
      ok: counted.filter((x) => x.status === 'ok').length,
      fail: counted.filter((x) => x.status === 'fail').length,
      info: counted.filter((x) => x.status === 'info').length,
    },
    lost,
    historiesChecked: checker.available && checker.valid !== undefined ? (checker.histories ?? 0) : 0,
    checker,
    treesIdentical,
    treeDiff,
    workloads: clientsRun,
    reproduce: reproduceCommand(o),
    errors,
  };
  const eventLines: EventLine[] = events.map((e) => ({ ...e, t: Number(e.t) }));
  writeRunReport(result, eventLines, ops);
  log(`[${o.target} s${o.seed}] ${verdict(result)}: ops ${result.ops.total} ok ${result.ops.ok} lost ${lost.lost} trees ${treesIdentical ? 'identical' : 'DIFFER'}; ${path.join(runDir, 'run.html')}`);
  return result;
}

// --- merging and rechecking batches -----------------------------------------------------------

/** Every run (run.json) under the given batch dirs, by target then seed. */
export function readRuns(dirs: readonly string[]): RunResult[] {
  const runs: RunResult[] = [];
  for (const dir of dirs) {
    for (const name of fs.readdirSync(dir)) {
      const file = path.join(dir, name, 'run.json');
      if (fs.existsSync(file)) runs.push(JSON.parse(fs.readFileSync(file, 'utf8')) as RunResult);
    }
  }
  return runs.sort((a, b) => a.target.localeCompare(b.target) || a.scenario.localeCompare(b.scenario) || a.seed - b.seed);
}

/**
 * Runs the checker again, with more time, on runs whose only shortfall is that porcupine did not
 * finish (histories and final state are kept in each run dir); their reports are rewritten.
 */
async function recheck(runs: RunResult[], timeoutS: number, memoryMb: number | undefined, log: (l: string) => void): Promise<void> {
  for (const r of runs) {
    const onlyUndecided = r.errors.length === 0 && r.lost.lost === 0 && r.treesIdentical && r.checker.available && r.checker.valid === 'unknown';
    if (!onlyUndecided) continue;
    // Already rechecked with as much time: the same search would end the same way.
    const before = /^still undecided after (\d+) s per check(?: and (\d+) MB)?/.exec(r.checker.reason ?? '');
    if (before && Number(before[1]) >= timeoutS && Number(before[2] ?? 4096) >= (memoryMb ?? 4096)) {
      log(`[${r.target} s${r.seed}] recheck: skipped, undecided after ${before[1]} s already`);
      continue;
    }
    const histories = fs.readdirSync(r.runDir).filter((f) => /^history-.*\.jsonl$/.test(f)).map((f) => path.join(r.runDir, f));
    const finalHistory = histories.filter((h) => h.endsWith('history-final.jsonl'));
    const ordered = [...histories.filter((h) => !finalHistory.includes(h)), ...finalHistory];
    const c = await checkRun(r.runDir, ordered, path.join(r.runDir, 'FINAL.json'), timeoutS, memoryMb);
    const budget = `${timeoutS} s per check${memoryMb !== undefined ? ` and ${memoryMb} MB` : ''}`;
    r.checker = { ...c, reason: c.valid === 'unknown' ? `still undecided after ${budget}` : `decided on recheck (${budget})` };
    r.historiesChecked = c.available && c.valid !== undefined ? (c.histories ?? 0) : 0;
    const events = fs.existsSync(path.join(r.runDir, 'nemesis.jsonl'))
      ? fs.readFileSync(path.join(r.runDir, 'nemesis.jsonl'), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as EventLine)
      : [];
    writeRunReport(r, events, ordered.flatMap(readHistory));
    log(`[${r.target} s${r.seed}] recheck: ${verdict(r)}`);
  }
}

// --- command line -----------------------------------------------------------------------------

function parseSeeds(seed: string | undefined, seeds: string | undefined): number[] {
  if (seeds) {
    const m = /^(\d+)\.\.(\d+)$/.exec(seeds);
    if (!m || Number(m[2]) < Number(m[1])) throw new Error(`--seeds must be A..B, not ${seeds}`);
    return Array.from({ length: Number(m[2]) - Number(m[1]) + 1 }, (_, i) => Number(m[1]) + i);
  }
  const n = Number(seed ?? '1');
  if (!Number.isInteger(n) || n < 0) throw new Error(`--seed must be a non-negative integer`);
  return [n];
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name('faults')
    .option('--target <t>', 'zkts | zookeeper | both', 'zkts')
    .option('--members <n>', '3 or 5', '3')
    .option('--scenario <name>', `one of ${Object.keys(SCENARIOS).join(', ')}`)
    .option('--nemesis <list>', `comma-separated: ${NEMESES.join(', ')}`)
    .option('--seed <n>', 'the seed of one run')
    .option('--seeds <a..b>', 'a batch of seeds')
    .option('--duration-s <s>', 'workload and nemesis time per run', '60')
    .option('--out <dir>', 'where run dirs and the report go', 'faults-out')
    .option('--clients <list>', 'workload processes: ts,java,kazoo', 'ts,java,kazoo')
    .option('--processes <k>', 'worker sessions per workload process', '3')
    .option('--workloads <list>', 'register,seq,counter,lock,watch', 'register,seq,counter,lock,watch')
    .option('--failpoints <list>', 'zkts failpoint specs a failpoint fault picks from (; separated)')
    .option('--merge <dirs>', 'no runs: one report (into --out) of the runs in these batch dirs (comma-separated)')
    .option('--recheck', 'with --merge: rerun the checker on runs porcupine did not decide')
    .option('--checker-timeout-s <s>', 'porcupine time per check for --recheck', '600')
    .option('--checker-memory-mb <mb>', "porcupine's heap bound for --recheck (the checker's default: 4096)")
    .exitOverride();
  program.parse(argv, { from: 'user' });
  const opts = program.opts<Record<string, string | undefined>>();
  if (opts.merge) {
    const runs = readRuns(opts.merge.split(',').filter((d) => d !== ''));
    const memoryMb = opts.checkerMemoryMb !== undefined ? Number(opts.checkerMemoryMb) : undefined;
    if (opts.recheck) await recheck(runs, Number(opts.checkerTimeoutS), memoryMb, (l) => process.stdout.write(`${l}\n`));
    const outDir = path.resolve(opts.out ?? 'faults-out');
    fs.mkdirSync(outDir, { recursive: true });
    writeBatchReport(outDir, runs);
    process.stdout.write(`${runs.length} runs; report: ${path.join(outDir, 'report.md')} and report.html\n`);
    return runs.every((r) => verdict(r) === 'pass') ? 0 : 1;
  }
  const targets: Target[] = opts.target === 'both' ? ['zkts', 'zookeeper'] : opts.target === 'zkts' || opts.target === 'zookeeper' ? [opts.target] : [];
  if (targets.length === 0) throw new Error(`--target must be zkts, zookeeper or both`);
  const members = Number(opts.members);
  if (members !== 3 && members !== 5) throw new Error('--members must be 3 or 5');
  let scenario = opts.scenario ?? 'custom';
  let nemeses: NemesisKind[];
  if (opts.nemesis) {
    nemeses = opts.nemesis.split(',').filter((x) => x !== '') as NemesisKind[];
    for (const n of nemeses) if (!(NEMESES as readonly string[]).includes(n)) throw new Error(`unknown nemesis ${n}`);
    if (!opts.scenario) scenario = 'custom';
  } else {
    if (!opts.scenario) scenario = 'smoke';
    const s = SCENARIOS[scenario];
    if (!s) throw new Error(`unknown scenario ${scenario} (known: ${Object.keys(SCENARIOS).join(', ')})`);
    nemeses = [...s];
  }
  const clients = (opts.clients ?? '').split(',').filter((c) => c !== '') as ClientKind[];
  for (const c of clients) if (c !== 'ts' && c !== 'java' && c !== 'kazoo') throw new Error(`unknown client ${c}`);
  const durationS = Number(opts.durationS);
  if (!(durationS > 0)) throw new Error('--duration-s must be positive');
  const outDir = path.resolve(opts.out ?? 'faults-out');
  fs.mkdirSync(outDir, { recursive: true });
  const results: RunResult[] = [];
  for (const seed of parseSeeds(opts.seed, opts.seeds)) {
    for (const target of targets) {
      results.push(
        await runOne({
          target,
          members,
          scenario,
          nemeses,
          seed,
          durationS,
          outDir,
          clients,
          processes: Number(opts.processes),
          workloads: (opts.workloads ?? '').split(','),
          failpoints: opts.failpoints?.split(';'),
        }),
      );
      writeBatchReport(outDir, results);
    }
  }
  process.stdout.write(`report: ${path.join(outDir, 'report.md')} and report.html\n`);
  return results.every((r) => verdict(r) === 'pass') ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      const code = (err as { code?: string }).code;
      if (code === 'commander.helpDisplayed' || code === 'commander.version') process.exit(0);
      process.stderr.write(`faults: ${(err as Error).message}\n`);
      process.exit(2);
    },
  );
}
