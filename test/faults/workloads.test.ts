// The fault suite's two workload programs (scripts/faults/workload: the Java client with Curator,
// and kazoo) against one standalone zkts, one Apache ZooKeeper 3.8.0 and one 3.9.5 (whose notifications
// carry their zxid, so that each watch event is matched to its change): each program runs a few
// seconds against each server, one after the other, and then its history must be well-formed by
// the contract and agree with the state read from the server afterwards (the last acknowledged
// register write is the value, every acknowledged sequential create exists, the counter moved once
// per acknowledged increment, no two lock holders at once, a watch event for every change). Then
// both programs at once against a zkts that is SIGKILLed and restarted midway: they keep going,
// record ops of unknown outcome, exit 0, and their histories are still well-formed and consistent
// with what the restarted server holds.

import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OpCode } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import {
  buildJavaWorkload,
  javaWorkloadCommand,
  kazooWorkloadCommand,
  workloadArgs,
  type WorkloadCommand,
  type WorkloadOptions,
} from '../../scripts/faults/workload/commands';
import { byProc, parseHistory, type HistoryOp } from '../../scripts/faults/workload/history';
import { ZkClient } from '../util/client';
import {
  guardChild,
  RunningServer,
  startReferenceZooKeeper,
  startReferenceZooKeeper39,
  startZkts,
  zookeeper39Available,
} from '../util/servers';

t.setTimeout(280_000);

const DURATION_MS = 4_000;
const KILL_RUN_DURATION_MS = 9_000;
// Long enough for sessions refused for a session timeout (6 s) to be given up, and for ops after:
// the kill comes a few seconds in and the restart takes about one; with 12 s a Curator worker of a
// loaded CI run once had no op on its new session before the end.
const EXPIRY_RUN_DURATION_MS = 20_000;
const PROCESSES = 3;
// A program ends within its duration plus the bounds of its last ops and closing.
const PROGRAM_TIMEOUT_MS = 60_000;
const OUTPUT_MAX_CHARS = 20_000;
const REG_KEYS = 32;

const WORKLOADS: WorkloadOptions['workloads'] = ['register', 'seq', 'counter', 'lock', 'watch'];

// ---------------------------------------------------------------------------------------------
// Servers, znodes and final state

async function withClient<T>(server: { host: string; port: number }, fn: (c: ZkClient) => Promise<T>): Promise<T> {
  const c = await ZkClient.connect(server.host, server.port, { timeoutMs: 10_000 });
  try {
    return await fn(c);
  } finally {
    await c.close().catch(() => undefined);
    c.destroy();
  }
}

const ZNODES: Array<[string, string]> = [
  ['/faults', ''],
  ['/faults/reg', ''],
  ...Array.from({ length: REG_KEYS }, (_, i): [string, string] => [`/faults/reg/${i}`, '0']),
  ['/faults/seq', ''],
  ['/faults/ctr', ''],
  ['/faults/ctr/a', '0'],
  ['/faults/ctr/b', '0'],
  ['/faults/lock', ''],
  ['/faults/lock/java', ''],
  ['/faults/lock/kazoo', ''],
];

async function createZnodes(server: RunningServer): Promise<void> {
  await withClient(server, async (c) => {
    for (const [p, data] of ZNODES) {
      const r = await c.create(p, Buffer.from(data));
      if (r.header.err !== 0) throw new Error(`create ${p}: error ${r.header.err}`);
    }
  });
}

interface FinalState {
  registers: Map<string, { exists: boolean; value?: number; version?: number; mzxid?: bigint }>;
  seqChildren: Set<string>;
  counter: { a: number; b: number };
}

async function readFinal(server: { host: string; port: number }): Promise<FinalState> {
  return withClient(server, async (c) => {
    const sync = await c.request(OpCode.sync, (w) => R.encodeSyncRequest(w, { path: '/faults' }));
    if (sync.header.err !== 0) throw new Error(`sync: error ${sync.header.err}`);
    const registers: FinalState['registers'] = new Map();
    for (let i = 0; i < REG_KEYS; i++) {
      const key = `/faults/reg/${i}`;
      const r = await c.getData(key);
      if (r.header.err === -101) {
        registers.set(key, { exists: false });
        continue;
      }
      if (r.header.err !== 0) throw new Error(`getData ${key}: error ${r.header.err}`);
      const { data, stat } = R.decodeGetDataResponse(r.reader);
      registers.set(key, { exists: true, value: Number((data ?? Buffer.alloc(0)).toString('ascii')), version: stat.version, mzxid: stat.mzxid });
    }
    const ch = await c.getChildren('/faults/seq');
    if (ch.header.err !== 0) throw new Error(`getChildren /faults/seq: error ${ch.header.err}`);
    const seqChildren = new Set(R.decodeGetChildrenResponse(ch.reader).children);
    const counter = { a: NaN, b: NaN };
    for (const name of ['a', 'b'] as const) {
      const r = await c.getData(`/faults/ctr/${name}`);
      if (r.header.err !== 0) throw new Error(`getData /faults/ctr/${name}: error ${r.header.err}`);
      counter[name] = Number((R.decodeGetDataResponse(r.reader).data ?? Buffer.alloc(0)).toString('ascii'));
    }
    return { registers, seqChildren, counter };
  });
}

// ---------------------------------------------------------------------------------------------
// Running a program

interface ProgramRun {
  name: string;
  code: number | null;
  signal: string | null;
  stderr: string;
  ops: HistoryOp[];
  problems: string[];
  historyPath: string;
}

function tail(text: string): string {
  return text.length <= OUTPUT_MAX_CHARS ? text : '...' + text.slice(text.length - OUTPUT_MAX_CHARS);
}

function runProgram(name: string, cmd: WorkloadCommand, historyPath: string, workDir: string): Promise<ProgramRun> {
  return new Promise((resolve) => {
    const child = spawn(cmd.command, cmd.args, { env: cmd.env, stdio: ['ignore', 'ignore', 'pipe'] });
    const release = guardChild(child, workDir);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = tail(stderr + chunk.toString('utf8'));
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), PROGRAM_TIMEOUT_MS);
    const finish = (code: number | null, signal: string | null): void => {
      clearTimeout(timer);
      release();
      const text = fs.existsSync(historyPath) ? fs.readFileSync(historyPath, 'utf8') : '';
      const parsed = parseHistory(text);
      resolve({ name, code, signal, stderr, ops: parsed.ops, problems: parsed.problems, historyPath });
    };
    child.once('exit', (code, signal) => finish(code, signal));
    child.once('error', (err) => {
      stderr += `spawn error: ${err.message}`;
      finish(null, null);
    });
  });
}

function programCommand(
  program: 'java' | 'kazoo',
  server: { connect: string[] },
  out: string,
  seed: number,
  durationMs: number,
  extra: Partial<Pick<WorkloadOptions, 'thinkMs' | 'lockHoldMaxMs' | 'workloads' | 'prefix' | 'processes'>> = {},
): WorkloadCommand {
  const args = workloadArgs({
    connect: server.connect,
    seed,
    durationMs,
    out,
    workloads: WORKLOADS,
    processes: PROCESSES,
    sessionTimeoutMs: 6000,
    prefix: program,
    ...extra,
  });
  return program === 'java' ? javaWorkloadCommand(args) : kazooWorkloadCommand(args);
}

// ---------------------------------------------------------------------------------------------
// Checks of histories against each other and the final state. Each returns its problems.

const SETTERS = new Set(['write', 'cas', 'create', 'delete']);

function ended(op: HistoryOp): bigint {
  // An info op may take effect at any time after its start.
  return op.t1 ?? BigInt(Number.MAX_SAFE_INTEGER) * 1_000_000n;
}

/**
 * The final register value was put there by an op that no acknowledged write followed: the last
 * acknowledged one, or one whose outcome is unknown; the initial "0" only when no write was
 * acknowledged.
 */
function registerProblems(ops: HistoryOp[], final: FinalState): string[] {
  const problems: string[] = [];
  for (const [key, state] of final.registers) {
    const setters = ops.filter((o) => o.wl === 'register' && o.key === key && SETTERS.has(o.f) && o.status !== 'fail');
    const acked = setters.filter((o) => o.status === 'ok');
    let writers: HistoryOp[];
    if (state.exists) {
      writers = setters.filter((o) => o.f !== 'delete' && o.in.value === state.value);
      if (writers.length > 1) problems.push(`${key}: value ${state.value} written by ${writers.length} ops (values must be unique)`);
      if (writers.length === 0) {
        if (state.value === 0 && acked.length === 0) continue;
        problems.push(`${key}: final value ${state.value} was written by no op of the histories`);
        continue;
      }
    } else {
      writers = setters.filter((o) => o.f === 'delete');
      if (writers.length === 0) {
        problems.push(`${key}: deleted, but no delete in the histories`);
        continue;
      }
    }
    const lastOk = writers.some((w) => !acked.some((x) => x !== w && x.t0 > ended(w)));
    if (!lastOk) {
      const w = writers[0];
      const after = acked.find((x) => x !== w && x.t0 > ended(w))!;
      problems.push(`${key}: final state (${state.exists ? `value ${state.value}` : 'deleted'}) is from line ${w.line} of ${w.proc}, ` +
        `but ${after.proc} line ${after.line} (${after.f}, acknowledged) started after it ended`);
    }
  }
  return problems;
}

function seqProblems(ops: HistoryOp[], final: FinalState): string[] {
  const problems: string[] = [];
  const seqOps = ops.filter((o) => o.f === 'seq-create');
  const okNames = seqOps.filter((o) => o.status === 'ok').map((o) => o.out!.name as string);
  const info = seqOps.filter((o) => o.status === 'info').length;
  if (new Set(okNames).size !== okNames.length) problems.push('seq: one name acknowledged twice');
  for (const n of okNames) if (!final.seqChildren.has(n)) problems.push(`seq: acknowledged ${n} is not on the server`);
  const extra = [...final.seqChildren].filter((n) => !okNames.includes(n));
  if (extra.length > info) problems.push(`seq: ${extra.length} children nobody was told of, ${info} creates of unknown outcome`);
  return problems;
}

function counterProblems(ops: HistoryOp[], final: FinalState): string[] {
  const problems: string[] = [];
  const { a, b } = final.counter;
  if (a !== b) problems.push(`counter: a=${a} b=${b}`);
  const incr = ops.filter((o) => o.f === 'incr');
  const ok = incr.filter((o) => o.status === 'ok');
  const info = incr.filter((o) => o.status === 'info').length;
  if (a < ok.length || a > ok.length + info) problems.push(`counter: a=${a} after ${ok.length} acknowledged increments and ${info} of unknown outcome`);
  const tos = ok.map((o) => o.out!.to as number).sort((x, y) => x - y);
  if (new Set(tos).size !== tos.length) problems.push('counter: two acknowledged increments to the same value');
  if (tos.some((v) => v < 1 || v > a)) problems.push(`counter: an acknowledged increment to a value outside 1..${a}`);
  for (const o of ops) {
    if (o.status !== 'ok') continue;
    if (o.f === 'read-both' && o.out!.a !== o.out!.b) problems.push(`counter: read-both saw a=${o.out!.a} b=${o.out!.b} (line ${o.line})`);
    if (o.f === 'read-a-then-b' && (o.out!.a as number) > (o.out!.b as number)) problems.push(`counter: read a=${o.out!.a} then b=${o.out!.b} (line ${o.line})`);
  }
  return problems;
}

/** Holding intervals [acquire.t1, next release.t0 or lost.t0) of one lock path never overlap. */
function lockProblems(ops: HistoryOp[]): string[] {
  const problems: string[] = [];
  const intervals: Array<{ proc: string; from: bigint; to: bigint; line: number }> = [];
  const lockOps = ops.filter((o) => o.wl === 'lock');
  for (const [proc, list] of byProc(lockOps)) {
    const sorted = [...list].sort((x, y) => (x.t0 < y.t0 ? -1 : x.t0 > y.t0 ? 1 : x.line - y.line));
    let holding = false;
    for (const o of sorted) {
      if (o.f === 'acquire' && o.status === 'ok') holding = true;
      else if (o.f === 'release') holding = false;
      else if (o.f === 'lost') {
        if (!holding) problems.push(`lock: ${proc} recorded lost at line ${o.line} without holding the lock`);
        holding = false;
      }
    }
    for (let i = 0; i < sorted.length; i++) {
      const acq = sorted[i];
      if (acq.f !== 'acquire' || acq.status !== 'ok') continue;
      const end = sorted.slice(i + 1).find((o) => o.f === 'release' || o.f === 'lost');
      intervals.push({ proc, from: acq.t1!, to: end ? end.t0 : BigInt(Number.MAX_SAFE_INTEGER) * 1_000_000n, line: acq.line });
    }
  }
  intervals.sort((x, y) => (x.from < y.from ? -1 : x.from > y.from ? 1 : 0));
  for (let i = 1; i < intervals.length; i++) {
    const prev = intervals[i - 1];
    const cur = intervals[i];
    if (cur.from < prev.to) problems.push(`lock: ${cur.proc} (line ${cur.line}) acquired while ${prev.proc} (line ${prev.line}) held it`);
  }
  return problems;
}

/**
 * The watcher saw every change its program's workers made: one event per acknowledged change,
 * of the right type, at the change's zxid when events carry one; zxids rise; the read after an
 * event is not older than the event.
 */
function watchProblems(ops: HistoryOp[]): { problems: string[]; events: number; withZxid: number } {
  const problems: string[] = [];
  const watchers = [...byProc(ops.filter((o) => o.wl === 'watch'))].map(([proc]) => proc);
  if (watchers.length !== 1) return { problems: [`watch: ${watchers.length} watcher procs`], events: 0, withZxid: 0 };
  const watcher = watchers[0];
  const mine = ops.filter((o) => o.proc === watcher).sort((x, y) => (x.t0 < y.t0 ? -1 : x.t0 > y.t0 ? 1 : x.line - y.line));
  const events = mine.filter((o) => o.f === 'event');
  const withZxid = events.filter((e) => e.out!.zxid !== null).length;
  if (events.length > 0 && withZxid !== 0 && withZxid !== events.length) problems.push(`watch: ${withZxid} of ${events.length} events carry a zxid`);
  let lastZxid = -1n;
  for (const e of events) {
    if (e.out!.zxid === null) continue;
    const z = BigInt(e.out!.zxid as string);
    if (z <= lastZxid) problems.push(`watch: event zxid ${e.out!.zxid} (line ${e.line}) not after the one before`);
    lastZxid = z;
  }
  // The read after each event.
  for (let i = 0; i < mine.length; i++) {
    const e = mine[i];
    if (e.f !== 'event') continue;
    const read = mine[i + 1];
    if (!read || read.f !== 'read' || read.key !== e.out!.path) {
      problems.push(`watch: event at line ${e.line} is not followed by a read of ${e.out!.path}`);
      continue;
    }
    if (read.status === 'ok' && read.out!.exists === true && e.out!.zxid !== null && BigInt(read.out!.mzxid as string) < BigInt(e.out!.zxid as string)) {
      problems.push(`watch: read at line ${read.line} (mzxid ${read.out!.mzxid}) is older than the event before it (${e.out!.zxid})`);
    }
  }
  const changes = ops.filter((o) => o.wl === 'register' && o.proc !== watcher && SETTERS.has(o.f) && o.status !== 'fail');
  const typeOf: Record<string, string> = { write: 'NodeDataChanged', cas: 'NodeDataChanged', create: 'NodeCreated', delete: 'NodeDeleted' };
  const keys = new Set([...changes.map((o) => o.key), ...events.map((e) => e.out!.path as string)]);
  for (const key of keys) {
    for (const type of ['NodeDataChanged', 'NodeCreated', 'NodeDeleted']) {
      const ok = changes.filter((o) => o.key === key && typeOf[o.f] === type && o.status === 'ok').length;
      const info = changes.filter((o) => o.key === key && typeOf[o.f] === type && o.status === 'info').length;
      const seen = events.filter((e) => e.out!.path === key && e.out!.type === type).length;
      if (seen < ok || seen > ok + info) problems.push(`watch: ${key} ${type}: ${seen} events for ${ok} acknowledged changes and ${info} of unknown outcome`);
    }
  }
  if (withZxid > 0) {
    const eventAt = new Set(events.map((e) => `${e.out!.path} ${e.out!.type} ${e.out!.zxid}`));
    for (const o of changes) {
      if (o.status !== 'ok' || o.f === 'delete') continue;
      const k = `${o.key} ${typeOf[o.f]} ${o.out!.mzxid}`;
      if (!eventAt.has(k)) problems.push(`watch: no event for ${o.proc} line ${o.line} (${k})`);
    }
  }
  return { problems, events: events.length, withZxid };
}

/** Every workload produced acknowledged ops, and every worker recorded some. */
function workloadCoverageProblems(run: ProgramRun): string[] {
  const problems: string[] = [];
  for (const wl of WORKLOADS) {
    if (!run.ops.some((o) => o.wl === wl && o.status === 'ok')) problems.push(`${run.name}: no acknowledged ${wl} op`);
  }
  const prefix = run.name.startsWith('java') ? 'java' : 'kazoo';
  const procs = new Set(run.ops.map((o) => o.proc));
  for (let w = 0; w < PROCESSES; w++) if (!procs.has(`${prefix}-${w}`)) problems.push(`${run.name}: worker ${prefix}-${w} recorded nothing`);
  return problems;
}

/**
 * Every op of the contract occurs (over several runs of one program: each op is a seeded choice,
 * and a busy machine leaves a single short run few ops).
 */
function opCoverageProblems(run: ProgramRun): string[] {
  const need: Array<[string, (o: HistoryOp) => boolean]> = [
    ['register read', (o) => o.f === 'read' && o.wl === 'register'],
    ['register sync-read', (o) => o.f === 'sync-read'],
    ['register write', (o) => o.f === 'write'],
    ['register cas', (o) => o.f === 'cas'],
    ['register create', (o) => o.f === 'create'],
    ['register delete', (o) => o.f === 'delete'],
    ['seq-create', (o) => o.f === 'seq-create'],
    ['counter incr', (o) => o.f === 'incr'],
    [run.name.startsWith('java') ? 'counter read-both' : 'counter read-a-then-b', (o) => o.f === (run.name.startsWith('java') ? 'read-both' : 'read-a-then-b')],
    ['lock acquire', (o) => o.f === 'acquire'],
    ['lock release', (o) => o.f === 'release'],
    ['watch event', (o) => o.f === 'event'],
    ['watch state', (o) => o.f === 'state'],
  ];
  const problems: string[] = [];
  for (const [what, pred] of need) {
    // Fails count too for create/delete (NODEEXISTS, NONODE are answers), but one must be ok.
    const all = run.ops.filter(pred);
    if (all.length === 0) problems.push(`${run.name}: no ${what}`);
  }
  for (const f of ['read', 'write', 'seq-create', 'incr', 'acquire', 'release', 'event']) {
    if (!run.ops.some((o) => o.f === f && o.status === 'ok')) problems.push(`${run.name}: no acknowledged ${f}`);
  }
  return problems;
}

function describe(run: ProgramRun): Record<string, unknown> {
  const count = (s: string): number => run.ops.filter((o) => o.status === s).length;
  return { code: run.code, signal: run.signal, ops: run.ops.length, ok: count('ok'), fail: count('fail'), info: count('info'), history: run.historyPath, stderr: tail(run.stderr) };
}

/** Waits (bounded) until each history has an acknowledged worker op; whether they all did. */
async function waitForAcks(workDir: string, files: string[]): Promise<boolean> {
  const acked = (file: string): boolean => {
    try {
      // A worker's op (a watcher's reads may follow the other program's writes).
      return /"proc":"[a-z]+-\d+","wl":"(register|seq|counter)"[^\n]*"status":"ok"/.test(fs.readFileSync(path.join(workDir, file), 'utf8'));
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 30_000;
  while (!files.every(acked)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

// ---------------------------------------------------------------------------------------------

interface Target {
  name: string;
  server: RunningServer;
}

async function runAgainst(target: Target, workDir: string, seed: number): Promise<{ runs: ProgramRun[]; final: FinalState }> {
  await createZnodes(target.server);
  const runs: ProgramRun[] = [];
  // One program after the other: each watcher then sees exactly its own program's changes.
  for (const program of ['java', 'kazoo'] as const) {
    const out = path.join(workDir, `${target.name}-${program}.jsonl`);
    const cmd = programCommand(program, { connect: [target.server.connectString] }, out, seed, DURATION_MS);
    runs.push(await runProgram(`${program} on ${target.name}`, cmd, out, workDir));
  }
  const final = await readFinal(target.server);
  return { runs, final };
}

function checkConsistency(t: Test, label: string, runs: ProgramRun[], final: FinalState): void {
  const all = runs.flatMap((r) => r.ops);
  t.same(registerProblems(all, final), [], `${label}: every register holds the value of the last acknowledged write`);
  t.same(seqProblems(all, final), [], `${label}: every acknowledged sequential create is there, and nothing unaccounted`);
  t.same(counterProblems(all, final), [], `${label}: the counter moved once per acknowledged increment; reads were atomic`);
  for (const run of runs) {
    t.same(lockProblems(run.ops), [], `${run.name}: no two lock holders at once`);
  }
}

t.test('workload programs against zkts, ZooKeeper 3.8.0 and ZooKeeper 3.9.5', async (t) => {
  if (!zookeeper39Available()) {
    t.fail('ZooKeeper 3.9.5 client jars missing: run scripts/install-deps.sh');
    return;
  }
  buildJavaWorkload();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'faults-workloads-'));
  let keep = false;
  t.teardown(() => {
    if (!keep) fs.rmSync(workDir, { recursive: true, force: true });
  });

  const [zkts, zookeeper, zookeeper39] = await Promise.all([startZkts(), startReferenceZooKeeper(), startReferenceZooKeeper39()]);
  t.teardown(() => zkts.stop());
  t.teardown(() => zookeeper.stop());
  t.teardown(() => zookeeper39.stop());
  const targets: Target[] = [
    { name: 'zkts', server: zkts },
    { name: 'zookeeper', server: zookeeper },
    // A 3.9 server sends each notification with its zxid: the watch check then matches every
    // event to its change's zxid.
    { name: 'zookeeper39', server: zookeeper39 },
  ];
  const results = await Promise.all(targets.map((target, i) => runAgainst(target, workDir, 1000 + i)));

  targets.forEach((target, i) => {
    const { runs, final } = results[i];
    for (const run of runs) {
      t.equal(run.code, 0, `${run.name}: exits 0`, describe(run));
      t.same(run.problems, [], `${run.name}: the history is well-formed (${run.ops.length} ops)`);
      t.same(workloadCoverageProblems(run), [], `${run.name}: every workload produced acknowledged ops`);
      t.equal(run.ops.filter((o) => o.status === 'info').length, 0, `${run.name}: no op of unknown outcome on a healthy server`, describe(run));
      t.equal(run.ops.filter((o) => o.f === 'lost').length, 0, `${run.name}: no lock lost on a healthy server`);
      const w = watchProblems(run.ops);
      t.same(w.problems, [], `${run.name}: one watch event per change, in zxid order, no stale read after one (${w.events} events)`);
      // ZooKeeper 3.8.0 (and zkts, which answers as 3.8 does) send no zxid with a notification;
      // a 3.9 server does, and then every event must sit at its change's zxid (watchProblems).
      if (target.name === 'zookeeper39') t.equal(w.withZxid, w.events, `${run.name}: every event carries its zxid from ZooKeeper 3.9.5`);
      else t.comment(`${run.name}: ${w.withZxid} of ${w.events} events carry a zxid`);
      const sessions = new Set(run.ops.filter((o) => o.session !== null).map((o) => `${o.proc} ${o.session}`));
      t.ok(sessions.size >= PROCESSES, `${run.name}: ops name their sessions`);
      t.ok(run.ops.every((o) => o.member === null || o.member === target.server.connectString), `${run.name}: ops name the member they went to`);
    }
    checkConsistency(t, target.name, runs, final);
  });
  for (const program of ['java', 'kazoo']) {
    const ops = results.flatMap((r) => r.runs).filter((r) => r.name.startsWith(program)).flatMap((r) => r.ops);
    t.same(opCoverageProblems({ name: program, ops } as ProgramRun), [], `${program}: every op of the contract occurred`);
  }
  if (t.passing() === false) keep = true;
});

t.test('workload programs keep going through a SIGKILL and restart of zkts', async (t) => {
  buildJavaWorkload();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'faults-workloads-kill-'));
  const dataDir = path.join(workDir, 'data');
  fs.mkdirSync(dataDir);
  let keep = false;
  t.teardown(() => {
    if (!keep) fs.rmSync(workDir, { recursive: true, force: true });
  });

  let server = await startZkts({ extraConfig: { dataDir } });
  const port = server.port;
  let current: RunningServer | undefined = server;
  t.teardown(() => current?.stop());
  await createZnodes(server);

  // Plain ops (every workload but the lock) in one process per client, so that at the kill some
  // are in flight; the lock alone, by one worker that holds it long (0..2000 ms) and lets it go
  // for a few ms, in another, so that at the kill it most likely holds it.
  const plain: WorkloadOptions['workloads'] = ['register', 'seq', 'counter', 'watch'];
  const specs = [
    { name: 'java', program: 'java' as const, extra: { workloads: plain, thinkMs: 1 } },
    { name: 'kazoo', program: 'kazoo' as const, extra: { workloads: plain, thinkMs: 1 } },
    { name: 'javalock', program: 'java' as const, extra: { workloads: ['lock'] as WorkloadOptions['workloads'], processes: 1, lockHoldMaxMs: 2000 } },
    { name: 'kazoolock', program: 'kazoo' as const, extra: { workloads: ['lock'] as WorkloadOptions['workloads'], processes: 1, lockHoldMaxMs: 2000 } },
  ];
  const runs = specs.map((spec) => {
    const out = path.join(workDir, `${spec.name}.jsonl`);
    const cmd = programCommand(spec.program, { connect: [server.connectString] }, out, 77, KILL_RUN_DURATION_MS, { ...spec.extra, prefix: spec.name });
    return runProgram(`${spec.name} (kill)`, cmd, out, workDir);
  });

  // Kill once both plain programs have acknowledged ops, so that the kill lands amid them.
  t.ok(await waitForAcks(workDir, ['java.jsonl', 'kazoo.jsonl']), 'both programs acknowledged ops before the kill');
  await new Promise((r) => setTimeout(r, 1_000));
  const killedAt = process.hrtime.bigint();
  process.kill(server.pid, 'SIGKILL');
  await server.exited;
  await server.stop();
  current = undefined;
  await new Promise((r) => setTimeout(r, 1_500));
  server = await startZkts({ port, extraConfig: { dataDir } });
  current = server;
  const restartedAt = process.hrtime.bigint();

  const done = await Promise.all(runs);
  const final = await readFinal(server);
  for (const run of done) {
    t.equal(run.code, 0, `${run.name}: exits 0`, describe(run));
    t.same(run.problems, [], `${run.name}: the history is well-formed (${run.ops.length} ops)`);
    const unknown = run.ops.filter((o) => o.status === 'info' && o.t0 < restartedAt);
    t.ok(run.ops.filter((o) => o.status === 'ok' && o.t0 > restartedAt && o.wl !== 'watch').length > 0, `${run.name}: acknowledged ops after the restart`);
    if (!run.name.includes('lock')) {
      t.ok(
        run.ops.some((o) => o.f === 'state' && o.out!.state === 'Disconnected' && o.t0 >= killedAt),
        `${run.name}: the watcher recorded the disconnection`,
      );
    }
    const lostHere = run.ops.filter((o) => o.f === 'lost').length;
    t.comment(`${run.name}: ${JSON.stringify({ ...describe(run), stderr: undefined, infoBeforeRestart: unknown.length, lost: lostHere })}`);
  }
  const plainRuns = done.filter((r) => !r.name.includes('lock'));
  const lockRuns = done.filter((r) => r.name.includes('lock'));
  for (const run of lockRuns) t.same(lockProblems(run.ops), [], `${run.name}: no two lock holders at once`);
  const lost = lockRuns.flatMap((r) => r.ops).filter((o) => o.f === 'lost');
  t.ok(lost.length > 0, `a lock holder recorded the lock as lost at the kill (${lost.length}: ${lost.map((o) => o.proc).join(', ')})`);
  const infoOrFail = plainRuns.flatMap((r) => r.ops).filter((o) => o.wl !== 'watch' && o.t0 < restartedAt && (o.t1 === null || o.t1 >= killedAt) && o.status !== 'ok');
  t.ok(infoOrFail.length > 0, `ops in flight at the kill were recorded as info or fail (${infoOrFail.length})`);
  checkConsistency(t, 'kill run', plainRuns, final);
  if (t.passing() === false) keep = true;
});

t.test('workload programs move to new sessions when their server comes back without their sessions', async (t) => {
  // The server is SIGKILLed and comes back on an empty data dir: it knows none of the sessions and
  // is behind every zxid the clients have seen, so it refuses their old sessions for ever. Each
  // worker and watcher must give its session up (Curator's expiry after the session timeout, the
  // programs' own rule for kazoo and the raw watcher) and go on, under its own proc name, on a new
  // one. What the histories say about the data is not checked here: the data went with the dir.
  buildJavaWorkload();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'faults-workloads-expiry-'));
  let keep = false;
  t.teardown(() => {
    if (!keep) fs.rmSync(workDir, { recursive: true, force: true });
  });
  let server = await startZkts({ extraConfig: { dataDir: path.join(workDir, 'data1') } });
  const port = server.port;
  let current: RunningServer | undefined = server;
  t.teardown(() => current?.stop());
  await createZnodes(server);

  const runs = (['java', 'kazoo'] as const).map((program) => {
    const out = path.join(workDir, `${program}.jsonl`);
    const cmd = programCommand(program, { connect: [server.connectString] }, out, 91, EXPIRY_RUN_DURATION_MS);
    return runProgram(`${program} (expiry)`, cmd, out, workDir);
  });
  await waitForAcks(workDir, ['java.jsonl', 'kazoo.jsonl']);
  process.kill(server.pid, 'SIGKILL');
  await server.exited;
  await server.stop();
  current = undefined;
  server = await startZkts({ port, extraConfig: { dataDir: path.join(workDir, 'data2') } });
  current = server;
  const restartedAt = process.hrtime.bigint();
  await createZnodes(server);

  const done = await Promise.all(runs);
  for (const run of done) {
    t.equal(run.code, 0, `${run.name}: exits 0`, describe(run));
    t.same(run.problems, [], `${run.name}: the history is well-formed (${run.ops.length} ops)`);
    for (const [proc, ops] of byProc(run.ops)) {
      const first = ops.find((o) => o.session !== null)?.session;
      const later = ops.filter((o) => o.status === 'ok' && o.t0 > restartedAt && o.session !== null && o.session !== first);
      t.ok(later.length > 0, `${run.name}: ${proc} went on with acknowledged ops on a new session (${new Set(ops.map((o) => o.session)).size} sessions)`);
    }
  }
  if (t.passing() === false) keep = true;
});

t.test('the history check finds what breaks the contract', async (t) => {
  const good = (over: Record<string, unknown> = {}): string =>
    JSON.stringify({
      proc: 'java-0', wl: 'register', f: 'cas', key: '/faults/reg/2', in: { value: 17, expectedVersion: 4 },
      status: 'ok', out: { version: 5, mzxid: '0x100000a3' }, err: null, t0: 1000, t1: 2000,
      session: '0x1000012340000', member: '127.0.0.21:2181', ...over,
    });
  t.same(parseHistory(good() + '\n').problems, [], 'the example line of the contract is well-formed');
  // Times past 2^53 are read exactly.
  const big = parseHistory(good().replace('"t0":1000', '"t0":9007199254740993').replace('"t1":2000', '"t1":9007199254740995') + '\n');
  t.same(big.problems, [], 'times past 2^53 parse');
  t.equal(big.ops[0].t0, 9007199254740993n, 't0 is read as the exact bigint');
  const cases: Array<[string, string]> = [
    ['not JSON', '{"proc":'],
    ['no field', JSON.stringify({ proc: 'java-0' })],
    ['unknown f', good({ f: 'swap' })],
    ['ok without out', good({ out: null })],
    ['bad zxid', good({ out: { version: 5, mzxid: '100000a3' } })],
    ['fail without a code name', good({ status: 'fail', out: null, err: 'bad version' })],
    ['info with t1', good({ status: 'info', out: null, err: 'CONNECTIONLOSS' })],
    ['t1 before t0', good({ t0: 3000 })],
    ['cas without expectedVersion', good({ in: { value: 17 } })],
    ['bad session', good({ session: 'abc' })],
    ['event with t1 != t0', good({ wl: 'watch', f: 'event', in: {}, out: { type: 'NodeCreated', path: '/faults/reg/1', zxid: null } })],
    ['incr to the wrong value', good({ wl: 'counter', f: 'incr', key: '/faults/ctr/a', in: { from: 3, va: 3, vb: 3 }, out: { to: 5 } })],
  ];
  for (const [what, line] of cases) {
    t.ok(parseHistory(line + '\n').problems.length > 0, `found: ${what}`);
  }
  const overlap = parseHistory(good() + '\n' + good({ t0: 1500, t1: 2500 }) + '\n');
  t.ok(overlap.problems.some((p) => p.includes('starts before')), 'found: two ops of one proc overlapping');
  const twoProcs = parseHistory(good() + '\n' + good({ proc: 'java-1', t0: 1500, t1: 2500 }) + '\n');
  t.same(twoProcs.problems, [], 'ops of two procs may overlap');
});

t.test('the consistency checks find a history the final state contradicts', async (t) => {
  let line = 0;
  const op = (o: Partial<HistoryOp> & Pick<HistoryOp, 'proc' | 'wl' | 'f' | 'key'>): HistoryOp => ({
    in: {}, status: 'ok', out: {}, err: null, t0: 0n, t1: 0n, session: '0x1', member: null, line: ++line, ...o,
  });
  const final = (registers: FinalState['registers'], seq: string[] = [], a = 0, b = a): FinalState => ({
    registers, seqChildren: new Set(seq), counter: { a, b },
  });
  const reg = (value: number | null): FinalState['registers'] =>
    new Map([['/faults/reg/0', value === null ? { exists: false } : { exists: true, value, version: 1, mzxid: 5n }]]);
  const w1 = op({ proc: 'java-0', wl: 'register', f: 'write', key: '/faults/reg/0', in: { value: 1 }, out: { version: 1, mzxid: '0x5' }, t0: 10n, t1: 20n });
  const w2 = op({ proc: 'java-1', wl: 'register', f: 'write', key: '/faults/reg/0', in: { value: 2 }, out: { version: 2, mzxid: '0x6' }, t0: 30n, t1: 40n });
  t.same(registerProblems([w1, w2], final(reg(2))), [], 'the last acknowledged write is the value');
  t.ok(registerProblems([w1, w2], final(reg(1))).length > 0, 'found: a write that a later acknowledged write followed is the value');
  t.ok(registerProblems([w1, w2], final(reg(3))).length > 0, 'found: a value nobody wrote');
  t.ok(registerProblems([w1, w2], final(reg(0))).length > 0, 'found: the initial value after acknowledged writes');
  t.ok(registerProblems([w1, w2], final(reg(null))).length > 0, 'found: deleted without a delete');
  const w1info = { ...w1, status: 'info' as const, t1: null, out: null };
  t.same(registerProblems([w1info, w2], final(reg(1))), [], 'a write of unknown outcome may be the value');

  const seq = (name: string, status: 'ok' | 'info' = 'ok'): HistoryOp =>
    op({ proc: 'java-0', wl: 'seq', f: 'seq-create', key: '/faults/seq/n-', status, out: status === 'ok' ? { name } : null, t1: status === 'ok' ? 0n : null });
  t.same(seqProblems([seq('n-0000000000'), seq('n-0000000001')], final(reg(0), ['n-0000000000', 'n-0000000001'])), [], 'every acknowledged name is there');
  t.ok(seqProblems([seq('n-0000000000'), seq('n-0000000001')], final(reg(0), ['n-0000000000'])).length > 0, 'found: an acknowledged name missing');
  t.ok(seqProblems([seq('n-0000000000')], final(reg(0), ['n-0000000000', 'n-0000000001'])).length > 0, 'found: a child nobody created');
  t.same(seqProblems([seq('n-0000000000'), seq('', 'info')], final(reg(0), ['n-0000000000', 'n-0000000001'])), [], 'a create of unknown outcome may be there');

  const incr = (from: number): HistoryOp => op({ proc: 'java-0', wl: 'counter', f: 'incr', key: '/faults/ctr/a', in: { from, va: from, vb: from }, out: { to: from + 1 } });
  t.same(counterProblems([incr(0), incr(1)], final(reg(0), [], 2)), [], 'two increments, counter at 2');
  t.ok(counterProblems([incr(0), incr(1)], final(reg(0), [], 1)).length > 0, 'found: an acknowledged increment lost');
  t.ok(counterProblems([incr(0), incr(1)], final(reg(0), [], 2, 1)).length > 0, 'found: a != b');
  t.ok(counterProblems([incr(0), incr(0)], final(reg(0), [], 2)).length > 0, 'found: two increments to one value');
  const torn = op({ proc: 'java-0', wl: 'counter', f: 'read-both', key: '/faults/ctr/a', out: { a: 2, b: 1 } });
  t.ok(counterProblems([incr(0), incr(1), torn], final(reg(0), [], 2)).length > 0, 'found: a read-only multi that saw half a transaction');

  const lk = (proc: string, f: string, t0: bigint, t1: bigint): HistoryOp => op({ proc, wl: 'lock', f, key: '/faults/lock/java', t0, t1 });
  t.same(lockProblems([lk('java-0', 'acquire', 0n, 10n), lk('java-0', 'release', 20n, 25n), lk('java-1', 'acquire', 5n, 22n), lk('java-1', 'release', 30n, 31n)]), [], 'one holder after the other');
  t.ok(lockProblems([lk('java-0', 'acquire', 0n, 10n), lk('java-0', 'release', 20n, 25n), lk('java-1', 'acquire', 5n, 15n)]).length > 0, 'found: two holders at once');
  t.same(lockProblems([lk('java-0', 'acquire', 0n, 10n), lk('java-0', 'lost', 12n, 12n), lk('java-0', 'release', 20n, 25n), lk('java-1', 'acquire', 15n, 18n)]), [], 'a lost lock ends its holding');
  t.ok(lockProblems([lk('java-0', 'acquire', 0n, 10n), lk('java-0', 'release', 20n, 25n), lk('java-0', 'lost', 30n, 30n)]).length > 0, 'found: lost without holding');

  const change = op({ proc: 'java-0', wl: 'register', f: 'write', key: '/faults/reg/1', in: { value: 1 }, out: { version: 1, mzxid: '0x7' }, t0: 1n, t1: 2n });
  const ev = (zxid: string | null, t: bigint): HistoryOp => op({ proc: 'java-watch-0', wl: 'watch', f: 'event', key: '/faults/reg/1', out: { type: 'NodeDataChanged', path: '/faults/reg/1', zxid }, t0: t, t1: t });
  const rd = (mzxid: string, t: bigint): HistoryOp => op({ proc: 'java-watch-0', wl: 'register', f: 'read', key: '/faults/reg/1', out: { exists: true, value: 1, version: 1, mzxid }, t0: t, t1: t + 1n });
  t.same(watchProblems([change, ev('0x7', 3n), rd('0x7', 4n)]).problems, [], 'one event at the change, a fresh read after it');
  t.ok(watchProblems([change]).problems.length > 0, 'found: a change without its event');
  t.ok(watchProblems([change, ev('0x7', 3n), rd('0x7', 4n), ev('0x7', 6n), rd('0x7', 7n)]).problems.length > 0, 'found: one change notified twice');
  t.ok(watchProblems([change, ev('0x8', 3n), rd('0x8', 4n)]).problems.length > 0, 'found: an event at another zxid');
  t.ok(watchProblems([change, ev('0x7', 3n), rd('0x6', 4n)]).problems.length > 0, 'found: a stale read after the event');
  t.ok(watchProblems([change, ev('0x7', 3n)]).problems.length > 0, 'found: an event without its read');
});

t.test('the programs exit 2 on bad arguments and 3 when the history cannot be written', async (t) => {
  buildJavaWorkload();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'faults-workloads-args-'));
  t.teardown(() => fs.rmSync(workDir, { recursive: true, force: true }));
  const good = (out: string): string[] =>
    workloadArgs({ connect: ['127.0.0.1:1'], seed: 1, durationMs: 0, out, workloads: ['register'], processes: 1, prefix: 'x' });
  const cases: Array<[string, string[], number]> = [
    ['an unknown workload', good(path.join(workDir, 'a.jsonl')).map((a) => (a === 'register' ? 'register,queue' : a)), 2],
    ['no --out', good(path.join(workDir, 'b.jsonl')).filter((a, i, all) => a !== '--out' && all[i - 1] !== '--out'), 2],
    ['a history in a missing dir', good(path.join(workDir, 'missing', 'c.jsonl')), 3],
  ];
  for (const program of ['java', 'kazoo'] as const) {
    for (const [what, args, code] of cases) {
      const cmd = program === 'java' ? javaWorkloadCommand(args) : kazooWorkloadCommand(args);
      const run = await runProgram(`${program} ${what}`, cmd, path.join(workDir, 'none.jsonl'), workDir);
      t.equal(run.code, code, `${program}: ${what} exits ${code}`, { stderr: run.stderr });
    }
  }
});
