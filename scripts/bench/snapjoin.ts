/**
 * The SNAP join of the ensemble benchmark alone, for comparing builds of the learner: a 3-member
 * zkts ensemble (this build), then a follower stopped, its dataDir emptied (myid kept) and started
 * again on build A or B in turn (A B, B A, ...), timed from its start to `srvr` saying follower at
 * the leader's zxid; first while the tree is nearly empty, then with SNAPJOIN_ZNODES znodes (100 B,
 * populated as the ensemble benchmark does). The SNAP of the tree is the difference of the medians.
 * Build A is this one unless SNAPJOIN_A_CLI names another; the leader and the other follower run this build.
 * SNAPJOIN_ZOOKEEPER=1: the same joins on an Apache ZooKeeper 3.8.0 ensemble instead (no builds).
 *   SNAPJOIN_B_CLI=/path/to/other/dist/src/cli.js [SNAPJOIN_ZNODES=200000] [SNAPJOIN_TRIALS=3] \
 *     node dist/scripts/bench/snapjoin.js
 */
import * as os from 'node:os';
import { compileDriver, fmt, log, median, procCpuSec, runDriver, settleDisk } from './driver';
import { joinFromEmpty, leaderOf, startZooKeeperEnsemble, startZktsEnsemble, waitForSameZxid, type BenchEnsemble } from './ensemble';

const ZNODES = Number(process.env.SNAPJOIN_ZNODES ?? 200_000);
const TRIALS = Number(process.env.SNAPJOIN_TRIALS ?? 3);
const A_CLI = process.env.SNAPJOIN_A_CLI;
const B_CLI = process.env.SNAPJOIN_B_CLI;

interface Joins {
  ms: Map<string, number[]>;
  /** The learner's CPU time from its start to following (its own work, whatever the machine's load). */
  cpuMs: Map<string, number[]>;
}

async function joins(e: BenchEnsemble, builds: [string, string | undefined][], setCli: (c: string | undefined) => void, what: string): Promise<Joins> {
  const out = new Map<string, number[]>(builds.map(([name]) => [name, []]));
  const cpu = new Map<string, number[]>(builds.map(([name]) => [name, []]));
  for (let t = 0; t < TRIALS; t++) {
    const order = t % 2 === 0 ? builds : [...builds].reverse();
    for (const [name, cli] of order) {
      setCli(cli);
      settleDisk();
      const j = await joinFromEmpty(e, 0);
      if (what !== 'near-empty' && j.snapSeen !== 1) {
        const lines = e.members.map((m) => m.log().split('\n').filter((l) => /SNAP|snapshot|error|rror/.test(l)).slice(-8).join('\n'));
        throw new Error(`${name}: the learner did not log a SNAP\n${lines.join('\n---\n')}`);
      }
      // The member joinFromEmpty restarted: the first that is not the leader.
      const leader = await leaderOf(e);
      const learner = e.members.find((m) => m !== leader)!;
      const cpuMs = procCpuSec(learner.pid()!) * 1000;
      out.get(name)!.push(j.joinMs);
      cpu.get(name)!.push(cpuMs);
      log(`${what}: ${name} joined in ${fmt(j.joinMs)} ms, learner CPU ${fmt(cpuMs)} ms (load average ${os.loadavg()[0].toFixed(1)})`);
    }
  }
  return { ms: out, cpuMs: cpu };
}

async function main(): Promise<void> {
  const zookeeper = process.env.SNAPJOIN_ZOOKEEPER === '1';
  if (!B_CLI && !zookeeper) throw new Error('SNAPJOIN_B_CLI names the other build\'s dist/src/cli.js');
  const classes = compileDriver();
  let cli: string | undefined;
  const e = zookeeper ? await startZooKeeperEnsemble() : await startZktsEnsemble(() => cli);
  try {
    await leaderOf(e);
    // One write, so that every member reports the same zxid (a new leader's epoch alone does not reach the followers' srvr).
    const one = runDriver(classes, 'nio', [e.connectString, 'populate', String(ZNODES), String(ZNODES + 1), '100'], 300);
    if (one.errors > 0) throw new Error('the first write failed');
    await waitForSameZxid(e);
    const builds: [string, string | undefined][] = zookeeper
      ? [['ZooKeeper', undefined]]
      : [
          [A_CLI ? 'A' : 'A (this build)', A_CLI],
          ['B', B_CLI],
        ];
    const setCli = (c: string | undefined): void => void (cli = c);
    const base = await joins(e, builds, setCli, 'near-empty');
    const p = runDriver(classes, 'nio', [e.connectString, 'populate', '0', String(ZNODES), '100'], 3600);
    if (p.errors > 0) throw new Error(`populate had ${p.errors} errors`);
    log(`populated ${ZNODES} znodes at ${fmt(p.opsPerSec)}/s`);
    await waitForSameZxid(e);
    const full = await joins(e, builds, setCli, `${ZNODES} znodes`);
    for (const [name] of builds) {
      const b = median(base.ms.get(name)!);
      const f = median(full.ms.get(name)!);
      const bc = median(base.cpuMs.get(name)!);
      const fc = median(full.cpuMs.get(name)!);
      log(`${name}: near-empty ${base.ms.get(name)!.map((x) => fmt(x)).join(' ')} (median ${fmt(b)}); ${ZNODES} znodes ${full.ms.get(name)!.map((x) => fmt(x)).join(' ')} (median ${fmt(f)}); SNAP ${fmt(f - b)} ms`);
      log(`${name}: learner CPU near-empty ${base.cpuMs.get(name)!.map((x) => fmt(x)).join(' ')} (median ${fmt(bc)}); ${ZNODES} znodes ${full.cpuMs.get(name)!.map((x) => fmt(x)).join(' ')} (median ${fmt(fc)}); SNAP ${fmt(fc - bc)} ms`);
    }
  } finally {
    await e.stop();
  }
}

void main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
