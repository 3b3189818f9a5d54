/**
 * The ensemble part of the benchmark: a 3-node Apache ZooKeeper 3.8.0 ensemble and a 3-node zkts
 * ensemble, one after the other in the same run, every member on this machine with forceSync on,
 * ZooKeeper's default tickTime (2000 ms), initLimit 10, syncLimit 5. The load comes from the Java
 * client with its default NIO socket, session i pinned to member i mod 3.
 *
 * Measured per side: setData, ephemeral-sequential create and getData (8 sessions x 32
 * outstanding, 100 B); the leader killed with SIGKILL, time until a write succeeds through a
 * surviving member (median over trials; the killed member is restarted and the ensemble settles
 * between trials); RSS of every member holding the same tree; and a learner with an empty dataDir
 * joining a leader that holds that tree (a SNAP), from its start to following at the leader's zxid.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startReferenceEnsemble, srvrStatus, waitForLeaderAndFollowers } from '../../test/util/ensemble';
import { freePort, startZkts, type RunningServer } from '../../test/util/servers';
import { fmt, log, median, procCpuSec, procRssMb, runDriver, settleDisk, spawnDriver } from './driver';

const HOST = '127.0.0.1';
const QUORUM_TIMEOUT_MS = 120_000;
const POLL_MS = 20;
/** How long the SNAP log line of a learner that joined may take to reach its log file. */
const SNAP_LOG_WAIT_MS = 5_000;
/** A failover slower than this keeps the survivors' logs. */
const SLOW_FAILOVER_MS = 10_000;
/**
 * How long a populated ensemble (or a joined learner) rests before its RSS is read: memory at rest,
 * not in the wake of the load. An idle zkts hands back its grown young generation within about 10 s;
 * ZooKeeper's JVM keeps its heap either way.
 */
const REST_MS = 15_000;

export type EnsembleLabel = 'zookeeper' | 'zkts';

/** The line a learner logs when the leader synced it with a SNAP. */
const SNAP_LOG_LINE: Record<EnsembleLabel, RegExp> = {
  zookeeper: /Getting a snapshot from leader/,
  zkts: /SNAP: installed the leader snapshot/,
};

/** One member of either kind, started and stopped by its PID. */
export interface BenchMember {
  readonly sid: number;
  readonly clientPort: number;
  readonly dataDir: string;
  pid(): number | undefined;
  /** Starts the member on its dataDir; resolves once it answers (it may still be syncing). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
  /** The log of the running process. */
  log(): string;
}

export interface BenchEnsemble {
  readonly label: EnsembleLabel;
  readonly members: readonly BenchMember[];
  /** Every member's client address, in sid order. */
  readonly connectString: string;
  stop(): Promise<void>;
}

/** Settings both sides share: ZooKeeper's defaults where zoo.cfg leaves them out. */
const SHARED_CONFIG: Record<string, string> = { tickTime: '2000', initLimit: '10', syncLimit: '5', maxClientCnxns: '0' };

export async function startZooKeeperEnsemble(): Promise<BenchEnsemble> {
  // -Xmx1000m as zkServer.sh starts it, as the standalone benchmark runs it.
  const e = await startReferenceEnsemble({ jvmFlags: ['-Xmx1000m'], extraConfig: SHARED_CONFIG, quorumTimeoutMs: QUORUM_TIMEOUT_MS });
  return {
    label: 'zookeeper',
    connectString: e.connectString,
    members: e.members.map((m) => ({
      sid: m.sid,
      clientPort: m.clientPort,
      dataDir: m.dataDir,
      pid: () => m.pid,
      start: () => m.start(),
      stop: () => m.stop(),
      kill: () => m.kill(),
      log: () => m.log(),
    })),
    stop: () => e.stop(),
  };
}

/** `cliOf`: the cli.js each start of a member runs (default: this build's), for comparing builds. */
export async function startZktsEnsemble(cliOf: (sid: number) => string | undefined = () => undefined): Promise<BenchEnsemble> {
  const ports: { client: number; quorum: number; election: number }[] = [];
  const taken = new Set<number>();
  const pick = async () => {
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) {
        taken.add(p);
        return p;
      }
    }
  };
  for (let i = 0; i < 3; i++) ports.push({ client: await pick(), quorum: await pick(), election: await pick() });
  const rootDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-bench-ensemble-'));
  const serverLines: Record<string, string> = {};
  ports.forEach((p, i) => (serverLines[`server.${i + 1}`] = `${HOST}:${p.quorum}:${p.election}`));
  const members = ports.map((p, i): BenchMember => {
    const sid = i + 1;
    const dataDir = path.join(rootDir, `member${sid}`);
    fs.mkdirSync(dataDir);
    fs.writeFileSync(path.join(dataDir, 'myid'), `${sid}\n`);
    let running: RunningServer | undefined;
    return {
      sid,
      clientPort: p.client,
      dataDir,
      pid: () => running?.pid,
      async start() {
        if (running) throw new Error(`zkts member ${sid} is already running`);
        running = await startZkts({ port: p.client, cliPath: cliOf(sid), extraConfig: { ...SHARED_CONFIG, ...serverLines, dataDir } });
      },
      async stop() {
        await running?.stop();
        running = undefined;
      },
      async kill() {
        if (!running) return;
        try {
          process.kill(running.pid, 'SIGKILL');
        } catch {
          // Already gone; stop() still waits for the exit.
        }
        await running.stop();
        running = undefined;
      },
      log: () => running?.log() ?? '',
    };
  });
  const stop = async () => {
    await Promise.all(members.map((m) => m.stop().catch(() => undefined)));
    fs.rmSync(rootDir, { recursive: true, force: true });
  };
  try {
    // A member is ready once it serves, which needs a quorum: start all three together.
    await Promise.all(members.map((m) => m.start()));
  } catch (e) {
    await stop();
    throw e;
  }
  return { label: 'zkts', members, connectString: ports.map((p) => `${HOST}:${p.client}`).join(','), stop };
}

const STARTERS: Record<EnsembleLabel, () => Promise<BenchEnsemble>> = { zookeeper: startZooKeeperEnsemble, zkts: startZktsEnsemble };

/** Waits (bounded) for one leader and every other running member following; returns the leader. */
export async function leaderOf(e: BenchEnsemble): Promise<BenchMember> {
  const running = e.members.filter((m) => m.pid() !== undefined);
  const i = await waitForLeaderAndFollowers(running.map((m) => ({ host: HOST, port: m.clientPort })), QUORUM_TIMEOUT_MS);
  return running[i];
}

/** Waits (bounded) until every member reports the same zxid; returns it. */
export async function waitForSameZxid(e: BenchEnsemble): Promise<bigint> {
  const deadline = Date.now() + QUORUM_TIMEOUT_MS;
  for (;;) {
    const zxids = (await Promise.all(e.members.map((m) => srvrStatus(HOST, m.clientPort)))).map((s) => s.zxid);
    if (zxids.every((z) => z !== undefined && z === zxids[0])) return zxids[0]!;
    if (Date.now() > deadline) throw new Error(`${e.label}: members' zxids differ after ${QUORUM_TIMEOUT_MS} ms: ${zxids.map((z) => z?.toString(16)).join(' ')}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function epochUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

export interface EnsembleOptions {
  classes: string;
  smoke: boolean;
  seconds: number;
  warmupSeconds: number;
  serverWarmupSeconds: number;
  failoverTrials: number;
  znodes: number;
  rounds: number;
}

/** One measured figure of one side; `name` says what, `values` the numbers. */
export interface EnsembleResult {
  server: EnsembleLabel;
  name: string;
  values: Record<string, number>;
}

export const ENSEMBLE_WORKLOADS = [
  { op: 'set', title: 'setData' },
  { op: 'eseq', title: 'ephemeral-sequential create' },
  { op: 'get', title: 'getData' },
] as const;

const SESSIONS = 8;
const OUTSTANDING = 32;
const VALUE_BYTES = 100;

function workloadName(op: string): string {
  return `ensemble ${op} ${SESSIONS}x${OUTSTANDING} ${VALUE_BYTES}B`;
}

async function throughput(opts: EnsembleOptions, e: BenchEnsemble, op: string): Promise<EnsembleResult> {
  const pids = e.members.map((m) => m.pid()!);
  const cpu0 = pids.map(procCpuSec);
  const j = runDriver(
    opts.classes,
    'nio',
    [e.connectString, op, String(SESSIONS), String(OUTSTANDING), String(opts.seconds), String(VALUE_BYTES), String(opts.warmupSeconds)],
    opts.seconds + 300,
    { 'bench.spread': 'true' },
  );
  const cpu = pids.reduce((sum, pid, i) => sum + procCpuSec(pid) - cpu0[i], 0);
  const opsAll = j.ops * ((opts.seconds + opts.warmupSeconds) / opts.seconds);
  const values = {
    opsPerSec: j.opsPerSec,
    p50Us: j.p50Us,
    p99Us: j.p99Us,
    p999Us: j.p999Us,
    errors: j.errors,
    // All three members' CPU, warm-up included, over the ops of warm-up and measurement.
    serverCpuUsPerOp: opsAll > 0 ? (cpu * 1e6) / opsAll : NaN,
    clientCpuSec: j.clientCpuSec,
  };
  log(`${e.label.padEnd(9)} ${workloadName(op).padEnd(28)} ${fmt(j.opsPerSec).padStart(7)} ops/s p99 ${j.p99Us} us, members' cpu ${fmt(values.serverCpuUsPerOp, 1)} us/op`);
  return { server: e.label, name: workloadName(op), values };
}

/** Kills the leader, measures until a write succeeds through a survivor, restarts the leader. */
export async function failoverTrial(opts: Pick<EnsembleOptions, 'classes' | 'smoke'>, e: BenchEnsemble, keepLogsDir?: string): Promise<Record<string, number>> {
  const leader = await leaderOf(e);
  const survivors = e.members.filter((m) => m !== leader);
  const driver = spawnDriver(opts.classes, 'nio', [survivors.map((m) => `${HOST}:${m.clientPort}`).join(','), 'failover', '120']);
  try {
    await driver.line((l) => l === 'ready', 60_000);
    const killUs = epochUs();
    await leader.kill();
    // Sent once the leader has exited: anything the driver counts started after the death.
    driver.write(`${killUs}\n`);
    const j = JSON.parse(await driver.line((l) => l.startsWith('{'), 180_000)) as Record<string, number>;
    log(`${e.label.padEnd(9)} leader ${leader.sid} killed: a write through a survivor after ${fmt(j.freshMs)} ms (new session), ${fmt(j.sessionMs)} ms (session open before the kill), ${j.probes} probes`);
    if (keepLogsDir !== undefined) {
      const dir = fs.mkdtempSync(path.join(keepLogsDir, 'trial-'));
      fs.writeFileSync(path.join(dir, 'kill.json'), JSON.stringify({ leader: leader.sid, killUs, ...j }) + '\n');
      for (const m of survivors) fs.writeFileSync(path.join(dir, `member${m.sid}.log`), m.log());
    } else if (!opts.smoke && !(j.freshMs >= 0 && j.freshMs < SLOW_FAILOVER_MS)) {
      // Kept for a look at why: the survivors' logs of this trial (not in a smoke run, which
      // leaves nothing behind).
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-failover-${e.label}-`));
      for (const m of survivors) fs.writeFileSync(path.join(dir, `member${m.sid}.log`), m.log());
      log(`${e.label.padEnd(9)} slow failover: the survivors' logs are in ${dir}`);
    }
    return { freshMs: j.freshMs, sessionMs: j.sessionMs, errors: j.errors };
  } finally {
    driver.stop();
    await leader.start();
    await leaderOf(e);
    await waitForSameZxid(e);
  }
}

/**
 * Wipes a follower's dataDir (keeping myid), starts it, and times it until it follows at the
 * leader's zxid: with an empty dataDir the leader can only send it a SNAP.
 */
export async function joinFromEmpty(e: BenchEnsemble, restMs = REST_MS): Promise<Record<string, number>> {
  const leader = await leaderOf(e);
  const learner = e.members.find((m) => m !== leader)!;
  const zxid = await waitForSameZxid(e);
  await learner.stop();
  for (const f of fs.readdirSync(learner.dataDir)) if (f !== 'myid') fs.rmSync(path.join(learner.dataDir, f), { recursive: true, force: true });
  settleDisk();
  const t0 = performance.now();
  await learner.start();
  const deadline = Date.now() + QUORUM_TIMEOUT_MS;
  for (;;) {
    const s = await srvrStatus(HOST, learner.clientPort);
    if (s.mode === 'follower' && s.zxid !== undefined && s.zxid >= zxid) break;
    if (Date.now() > deadline) throw new Error(`${e.label}: member ${learner.sid} did not follow at 0x${zxid.toString(16)} within ${QUORUM_TIMEOUT_MS} ms (${s.mode}, 0x${s.zxid?.toString(16)})`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const joinMs = performance.now() - t0;
  // What the learner says it got (ZooKeeper's Learner and zkts's learner shell log it).
  // The log is written asynchronously: the line may reach the file a little after the join.
  const logDeadline = Date.now() + SNAP_LOG_WAIT_MS;
  while (!SNAP_LOG_LINE[e.label].test(learner.log()) && Date.now() < logDeadline) await new Promise((r) => setTimeout(r, POLL_MS));
  const snapSeen = SNAP_LOG_LINE[e.label].test(learner.log()) ? 1 : 0;
  await new Promise((r) => setTimeout(r, restMs));
  return { joinMs, rssJoinedMb: procRssMb(learner.pid()!), snapSeen };
}

/**
 * One side in one round: the throughput workloads; with `events`, then the leader kills, the
 * memory of a populated ensemble and the SNAP join (once per side, in its last round).
 */
async function side(opts: EnsembleOptions, label: EnsembleLabel, events: boolean, out: EnsembleResult[]): Promise<void> {
  log(`${label.padEnd(9)} starting a 3-member ensemble`);
  const e = await STARTERS[label]();
  try {
    await leaderOf(e);
    // Unmeasured, so that ZooKeeper's JIT has compiled its paths before the first workload.
    runDriver(opts.classes, 'nio', [e.connectString, 'mix50', String(SESSIONS), String(OUTSTANDING), String(opts.serverWarmupSeconds), String(VALUE_BYTES), '0'], 300, { 'bench.spread': 'true' });
    for (const w of ENSEMBLE_WORKLOADS) {
      out.push(await throughput(opts, e, w.op));
      settleDisk();
    }
    if (!events) return;
    // The sessions of the eseq run are closed; their ephemerals go with them before the kill.
    const trials: Record<string, number>[] = [];
    for (let i = 0; i < opts.failoverTrials; i++) trials.push(await failoverTrial(opts, e));
    out.push({
      server: label,
      name: 'ensemble failover',
      values: {
        freshMs: median(trials.map((t) => (t.freshMs < 0 ? NaN : t.freshMs))),
        sessionMs: median(trials.map((t) => (t.sessionMs < 0 ? NaN : t.sessionMs))),
        freshMinMs: Math.min(...trials.map((t) => t.freshMs)),
        freshMaxMs: Math.max(...trials.map((t) => t.freshMs)),
        sessionMinMs: Math.min(...trials.map((t) => t.sessionMs)),
        sessionMaxMs: Math.max(...trials.map((t) => t.sessionMs)),
        slowTrials: trials.filter((t) => !(t.freshMs >= 0 && t.freshMs < SLOW_FAILOVER_MS)).length,
        trials: trials.length,
        errors: trials.reduce((n, t) => n + t.errors, 0),
        ...Object.fromEntries(trials.flatMap((t, i) => [[`trial${i + 1}FreshMs`, t.freshMs], [`trial${i + 1}SessionMs`, t.sessionMs]])),
      },
    });
    // A learner joining a leader with a near-empty tree: the fixed cost of starting and syncing.
    const base = await joinFromEmpty(e);
    log(`${label.padEnd(9)} learner joining a near-empty leader: ${fmt(base.joinMs)} ms`);
    const p = runDriver(opts.classes, 'nio', [e.connectString, 'populate', '0', String(opts.znodes), String(VALUE_BYTES)], 3600);
    if (p.errors > 0) throw new Error(`${label}: populate had ${p.errors} errors`);
    await waitForSameZxid(e);
    await new Promise((r) => setTimeout(r, REST_MS));
    const leader = await leaderOf(e);
    const rss = e.members.map((m) => procRssMb(m.pid()!));
    const leaderRss = procRssMb(leader.pid()!);
    log(`${label.padEnd(9)} ${opts.znodes} znodes (populated at ${fmt(p.opsPerSec)}/s): members' RSS ${rss.map((r) => fmt(r)).join(', ')} MB`);
    settleDisk();
    const join = await joinFromEmpty(e);
    log(`${label.padEnd(9)} learner joining a leader with ${opts.znodes} znodes: ${fmt(join.joinMs)} ms, then RSS ${fmt(join.rssJoinedMb)} MB`);
    out.push({
      server: label,
      name: `ensemble ${opts.znodes} znodes`,
      values: {
        populatePerSec: p.opsPerSec,
        rssMaxMb: Math.max(...rss),
        rssMinMb: Math.min(...rss),
        rssLeaderMb: leaderRss,
        rssJoinedMb: join.rssJoinedMb,
        joinMs: join.joinMs,
        joinBaseMs: base.joinMs,
        snapSeen: join.snapSeen,
        snapSyncMs: join.joinMs - base.joinMs,
      },
    });
  } finally {
    await e.stop();
    settleDisk();
  }
}

/**
 * Both sides, alternating over rounds (A B, then B A, ...), each round on freshly started
 * ensembles; the failover, memory and SNAP figures come from each side's last round. A side that
 * fails is reported as failed, with what it measured before; the other still runs. The load average is kept with each round:
 * the machine is shared.
 */
export async function runEnsembleBench(opts: EnsembleOptions, labels: readonly EnsembleLabel[]): Promise<EnsembleResult[]> {
  const out: EnsembleResult[] = [];
  for (let round = 0; round < opts.rounds; round++) {
    for (const label of round % 2 === 0 ? labels : [...labels].reverse()) {
      const load0 = os.loadavg()[0];
      try {
        await side(opts, label, round === opts.rounds - 1, out);
      } catch (err) {
        log(`${label}: ensemble workloads failed: ${(err as Error).message.slice(0, 1000)}`);
        out.push({ server: label, name: 'ensemble failed', values: { errors: 1 } });
      }
      out.push({ server: label, name: 'ensemble load average', values: { before: load0, after: os.loadavg()[0] } });
    }
  }
  return out;
}

/** The median over rounds of one figure. */
export function value(results: readonly EnsembleResult[], server: EnsembleLabel, name: string, k: string): number {
  return median(results.filter((r) => r.server === server && r.name === name).map((r) => r.values[k] ?? NaN));
}

/** Whether a target holds, or '-' when a figure is missing. */
function verdict(ok: boolean | undefined): string {
  return ok === undefined ? 'not measured' : ok ? '**met**' : '**not met**';
}

export function ensembleReport(results: readonly EnsembleResult[], opts: Pick<EnsembleOptions, 'seconds' | 'warmupSeconds' | 'failoverTrials' | 'znodes' | 'rounds'>): string {
  const lines = [
    `Ensembles: 3 members each, all on this machine (${os.cpus().length} cores shared with the load driver and whatever else runs), forceSync on, tickTime 2000 ms, initLimit 10, syncLimit 5; ZooKeeper 3.8.0 members with -Xmx1000m. Java client with its default NIO socket, ${SESSIONS} sessions x ${OUTSTANDING} outstanding, ${VALUE_BYTES} B values, session i connected to member i mod 3; ${opts.seconds} s measured after ${opts.warmupSeconds} s warm-up; ${opts.rounds} round(s), sides alternating (A B B A), each round on freshly started ensembles, medians over rounds; failover, memory and SNAP from each side's last round. Members' CPU: the three members' CPU time per op.`,
    '',
    '| ensemble workload | ZK ops/s | zkts ops/s | zkts/ZK | p50 µs ZK / zkts | p99 µs ZK / zkts | p99 zkts/ZK | p99.9 µs ZK / zkts | members\' CPU µs/op ZK / zkts | errors ZK / zkts |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const w of ENSEMBLE_WORKLOADS) {
    const n = workloadName(w.op);
    const v = (s: EnsembleLabel, k: string) => value(results, s, n, k);
    const pair = (k: string, d = 0) => `${fmt(v('zookeeper', k), d)} / ${fmt(v('zkts', k), d)}`;
    lines.push(
      `| ${w.title} | ${fmt(v('zookeeper', 'opsPerSec'))} | ${fmt(v('zkts', 'opsPerSec'))} | ${fmt(v('zkts', 'opsPerSec') / v('zookeeper', 'opsPerSec'), 2)}x | ${pair('p50Us')} | ${pair('p99Us')} | ${fmt(v('zkts', 'p99Us') / v('zookeeper', 'p99Us'), 2)}x | ${pair('p999Us')} | ${pair('serverCpuUsPerOp', 1)} | ${pair('errors')} |`,
    );
  }
  const fo = (s: EnsembleLabel, k: string) => value(results, s, 'ensemble failover', k);
  const big = `ensemble ${opts.znodes} znodes`;
  const bz = (s: EnsembleLabel, k: string) => value(results, s, big, k);
  lines.push(
    '',
    `| ensemble event | ZooKeeper | zkts | zkts/ZK |`,
    '| --- | --- | --- | --- |',
    `| leader killed (SIGKILL): a write succeeds on a new session through a survivor, median of ${fmt(fo('zkts', 'trials'))}, ms | ${fmt(fo('zookeeper', 'freshMs'))} | ${fmt(fo('zkts', 'freshMs'))} | ${fmt(fo('zkts', 'freshMs') / fo('zookeeper', 'freshMs'), 2)}x |`,
    `| the same, fastest and slowest trial, ms | ${fmt(fo('zookeeper', 'freshMinMs'))}-${fmt(fo('zookeeper', 'freshMaxMs'))} | ${fmt(fo('zkts', 'freshMinMs'))}-${fmt(fo('zkts', 'freshMaxMs'))} | |`,
    `| trials slower than ${SLOW_FAILOVER_MS / 1000} s | ${fmt(fo('zookeeper', 'slowTrials'))} | ${fmt(fo('zkts', 'slowTrials'))} | |`,
    `| leader killed: a write succeeds on a session opened before the kill (the client's own reconnect), median, ms | ${fmt(fo('zookeeper', 'sessionMs'))} | ${fmt(fo('zkts', 'sessionMs'))} | ${fmt(fo('zkts', 'sessionMs') / fo('zookeeper', 'sessionMs'), 2)}x |`,
    `| the same, fastest and slowest trial, ms | ${fmt(fo('zookeeper', 'sessionMinMs'))}-${fmt(fo('zookeeper', 'sessionMaxMs'))} | ${fmt(fo('zkts', 'sessionMinMs'))}-${fmt(fo('zkts', 'sessionMaxMs'))} | |`,
    `| ${opts.znodes} znodes (100 B, 1,000 children per parent): largest member RSS after ${REST_MS / 1000} s at rest, MB | ${fmt(bz('zookeeper', 'rssMaxMb'))} | ${fmt(bz('zkts', 'rssMaxMb'))} | ${fmt(bz('zkts', 'rssMaxMb') / bz('zookeeper', 'rssMaxMb'), 2)}x |`,
    `| the same: smallest member RSS, MB | ${fmt(bz('zookeeper', 'rssMinMb'))} | ${fmt(bz('zkts', 'rssMinMb'))} | ${fmt(bz('zkts', 'rssMinMb') / bz('zookeeper', 'rssMinMb'), 2)}x |`,
    `| the same: leader RSS, MB | ${fmt(bz('zookeeper', 'rssLeaderMb'))} | ${fmt(bz('zkts', 'rssLeaderMb'))} | ${fmt(bz('zkts', 'rssLeaderMb') / bz('zookeeper', 'rssLeaderMb'), 2)}x |`,
    `| learner with an empty dataDir joining a leader with ${opts.znodes} znodes (SNAP): start to following at the leader's zxid, ms | ${fmt(bz('zookeeper', 'joinMs'))} | ${fmt(bz('zkts', 'joinMs'))} | ${fmt(bz('zkts', 'joinMs') / bz('zookeeper', 'joinMs'), 2)}x |`,
    `| the same with a near-empty tree (process start and handshake), ms | ${fmt(bz('zookeeper', 'joinBaseMs'))} | ${fmt(bz('zkts', 'joinBaseMs'))} | ${fmt(bz('zkts', 'joinBaseMs') / bz('zookeeper', 'joinBaseMs'), 2)}x |`,
    `| SNAP sync of the ${opts.znodes} znodes (the difference of the two), ms | ${fmt(bz('zookeeper', 'snapSyncMs'))} | ${fmt(bz('zkts', 'snapSyncMs'))} | ${fmt(bz('zkts', 'snapSyncMs') / bz('zookeeper', 'snapSyncMs'), 2)}x |`,
    `| the learner's log says it got a SNAP | ${bz('zookeeper', 'snapSeen') === 1 ? 'yes' : 'no'} | ${bz('zkts', 'snapSeen') === 1 ? 'yes' : 'no'} | |`,
    `| the joined learner's RSS ${REST_MS / 1000} s later, MB | ${fmt(bz('zookeeper', 'rssJoinedMb'))} | ${fmt(bz('zkts', 'rssJoinedMb'))} | ${fmt(bz('zkts', 'rssJoinedMb') / bz('zookeeper', 'rssJoinedMb'), 2)}x |`,
    `| populating the tree through the ensemble, creates/s (one session, 256 in flight) | ${fmt(bz('zookeeper', 'populatePerSec'))} | ${fmt(bz('zkts', 'populatePerSec'))} | ${fmt(bz('zkts', 'populatePerSec') / bz('zookeeper', 'populatePerSec'), 2)}x |`,
  );
  const loads = results.filter((r) => r.name === 'ensemble load average');
  if (loads.length) lines.push('', `1-minute load average of the machine before and after each side's round (it has ${os.cpus().length} cores): ${loads.map((r) => `${r.server} ${fmt(r.values.before, 1)} to ${fmt(r.values.after, 1)}`).join(', ')}.`);
  const failed = results.filter((r) => r.name === 'ensemble failed').map((r) => r.server);
  if (failed.length) lines.push('', `Ensemble workloads failed on: ${failed.join(', ')} (see the run's log).`);
  // The issue-16 targets, judged on the figures above.
  const known = (...xs: number[]) => xs.every((x) => Number.isFinite(x));
  const write = (op: string) => {
    const n = workloadName(op);
    const zo = value(results, 'zookeeper', n, 'opsPerSec');
    const to = value(results, 'zkts', n, 'opsPerSec');
    const zp = value(results, 'zookeeper', n, 'p99Us');
    const tp = value(results, 'zkts', n, 'p99Us');
    return known(zo, to, zp, tp) ? to >= 2 * zo && tp <= zp / 2 : undefined;
  };
  const ratio = (a: number, b: number, ok: (r: number) => boolean) => (known(a, b) ? ok(a / b) : undefined);
  lines.push(
    '',
    '| target (issue 16) | verdict |',
    '| --- | --- |',
    `| setData: ops/s at least 2x ZooKeeper's, p99 at most half | ${verdict(write('set'))} |`,
    `| ephemeral-sequential create: ops/s at least 2x, p99 at most half | ${verdict(write('eseq'))} |`,
    `| getData: ops/s at least 2x | ${verdict(ratio(value(results, 'zkts', workloadName('get'), 'opsPerSec'), value(results, 'zookeeper', workloadName('get'), 'opsPerSec'), (r) => r >= 2))} |`,
    `| leader killed: time to a write through a survivor at most ZooKeeper's (new session, median) | ${verdict(ratio(fo('zkts', 'freshMs'), fo('zookeeper', 'freshMs'), (r) => r <= 1))}${fo('zkts', 'slowTrials') > 0 ? ` (${fmt(fo('zkts', 'slowTrials'))} of zkts's ${fmt(fo('zkts', 'trials'))} trials took over ${SLOW_FAILOVER_MS / 1000} s, the slowest ${fmt(fo('zkts', 'freshMaxMs'))} ms)` : ''} |`,
    `| SNAP sync at most half ZooKeeper's (${opts.znodes} znodes${opts.znodes === 1_000_000 ? '' : ', not the 1,000,000 the issue names'}) | ${verdict(ratio(bz('zkts', 'snapSyncMs'), bz('zookeeper', 'snapSyncMs'), (r) => r <= 0.5))} |`,
    `| every member's RSS at most a third of a ZooKeeper member's with the same tree (largest zkts member against smallest ZooKeeper member) | ${verdict(ratio(bz('zkts', 'rssMaxMb'), bz('zookeeper', 'rssMinMb'), (r) => r <= 1 / 3))} |`,
  );
  return lines.join('\n') + '\n';
}
