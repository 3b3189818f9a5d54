// Patroni 3.0 (Debian's, Kazoo inside) keeping a 3-node PostgreSQL 15 cluster highly available
// with its zookeeper DCS on a 3-member ensemble, under a write load (one row per transaction,
// through libpq's multi-host connection to whichever node is primary; synchronous_mode, so a
// commit returns once the synchronous standby has it):
// - bootstrap: the three nodes race for the initialize key, one initdb's, the others clone from it;
//   one primary, two streaming replicas, one of them synchronous; rows written reach the replicas;
// - the ensemble's leader is SIGKILLed under the load and started again: the ensemble elects a new
//   leader within Patroni's retry_timeout, Patroni's sessions move to the remaining members, and
//   nothing fails over: the same primary all along (every poll of every node's REST API), the same
//   timeline, the same postmaster, no failover in Patroni's history, the load going on;
// - the Patroni primary (Patroni, postmaster, backends) is SIGKILLed: its leader key goes with its
//   session, the synchronous standby takes over within a bound (ttl plus a few loops), the load
//   goes on at the new primary, the timeline goes up by one, and the old primary, started again,
//   rejoins as a replica (pg_rewind) and streams; nothing fails over a second time;
// - no acknowledged row lost, no row that was never written, every node with the same rows; with
//   Patroni stopped and its sessions expired, every ensemble member holds the same copy of
//   Patroni's znodes, without ephemerals.
// The same scenario on Apache ZooKeeper 3.8.0 members and on zkts members; the outcomes must be
// the same.

import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dumpTranscript, waitFor } from './util/harness';
import {
  APP_ENSEMBLES,
  ensembleLogs,
  killMember,
  memberTree,
  memberTrees,
  relativePaths,
  restartMember,
  startAppEnsemble,
  type AppEnsembleName,
} from './fault-apps/ensemble';
import { PATRONI, PG_BIN_DIR, PatroniNode, type PatroniStatus, type PatroniTiming } from './fault-apps/patroni';
import { PgWriter } from './fault-apps/pgwriter';

t.setTimeout(600_000);

// ttl is the ZooKeeper session timeout; loop_wait + 2 * retry_timeout <= ttl.
const TIMING: PatroniTiming = { ttlS: 20, loopWaitS: 2, retryTimeoutS: 9 };
const SCOPE = 'pgcluster';
const DCS_ROOT = '/service';
const LEADER_KEY = `${DCS_ROOT}/${SCOPE}/leader`;
const NODE_NAMES = ['pg1', 'pg2', 'pg3'];
const BOOTSTRAP_WAIT_MS = 150_000;
/** The leader key outlives the dead primary by up to ttl; then a loop or two to promote. */
const FAILOVER_BOUND_MS = (TIMING.ttlS + 5 * TIMING.loopWaitS + 10) * 1000;
const REJOIN_WAIT_MS = 120_000;
const PROGRESS_WAIT_MS = 90_000;
const CONVERGE_WAIT_MS = 60_000;
/** A stopped Patroni's session expires after ttl (the server may round it up by a tick or two). */
const SESSION_EXPIRY_WAIT_MS = (TIMING.ttlS + 20) * 1000;
const WRITE_RATE_PER_S = 40;
/** Acknowledged rows that show the load going on after each step. */
const PROGRESS_ROWS = 40;
const MONITOR_POLL_MS = 500;
/** Kazoo's log line (INFO, which Patroni's log shows) when a connection goes SUSPENDED. */
const KAZOO_CONNECTION_LOST = 'Zookeeper connection lost';
const POLL_MS = 250;

type Outcome = Array<[string, unknown]>;

function isPrimaryRole(role: string | undefined): boolean {
  return role === 'master' || role === 'primary';
}

interface Poll {
  at: number;
  /** Nodes that said they are primary. */
  primaries: string[];
}

/** Polls every running node's /patroni, to see every primary there was (a failover storm). */
class RoleMonitor {
  readonly polls: Poll[] = [];
  private stopped = false;
  private done: Promise<void> = Promise.resolve();

  constructor(private readonly nodes: readonly PatroniNode[]) {}

  start(): void {
    this.done = (async () => {
      while (!this.stopped) {
        const at = Date.now();
        const statuses = await Promise.all(this.nodes.map((n) => (n.isRunning() ? n.status() : Promise.resolve(undefined))));
        this.polls.push({ at, primaries: this.nodes.filter((_n, i) => isPrimaryRole(statuses[i]?.role)).map((n) => n.name) });
        await new Promise((r) => setTimeout(r, MONITOR_POLL_MS));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** The primaries seen from `from` on, in order, each run of the same one once. */
  primariesSince(from: number, until = Infinity): string[] {
    const seen: string[] = [];
    for (const p of this.polls) {
      if (p.at < from || p.at > until) continue;
      const key = p.primaries.join('+');
      if (key !== '' && seen[seen.length - 1] !== key) seen.push(key);
    }
    return seen;
  }
}

interface Healthy {
  primary: PatroniNode;
  syncStandby: string;
  statuses: Map<string, PatroniStatus>;
}

/**
 * One node running as primary, every other running as a replica and streaming from it (in the
 * primary's pg_stat_replication), one of them synchronous.
 */
async function healthy(nodes: readonly PatroniNode[]): Promise<Healthy | undefined> {
  const statuses = new Map<string, PatroniStatus>();
  for (const n of nodes) {
    const s = await n.status();
    if (!s) return undefined;
    statuses.set(n.name, s);
  }
  const primaries = nodes.filter((n) => isPrimaryRole(statuses.get(n.name)?.role) && statuses.get(n.name)?.state === 'running');
  if (primaries.length !== 1) return undefined;
  const primary = primaries[0];
  const replication = statuses.get(primary.name)?.replication ?? [];
  let syncStandby = '';
  for (const n of nodes) {
    if (n === primary) continue;
    const s = statuses.get(n.name);
    if (s?.role !== 'replica' || s.state !== 'running') return undefined;
    const r = replication.find((x) => x.application_name === n.name);
    if (r?.state !== 'streaming') return undefined;
    if (r.sync_state === 'sync') syncStandby = n.name;
  }
  if (syncStandby === '') return undefined;
  return { primary, syncStandby, statuses };
}

async function waitHealthy(nodes: readonly PatroniNode[], timeoutMs: number, what: string): Promise<Healthy> {
  let result: Healthy | undefined;
  let last = '';
  await waitFor(
    async () => {
      result = await healthy(nodes);
      if (!result) {
        last = (await Promise.all(nodes.map(async (n) => `${n.name}=${JSON.stringify(await n.status())}`))).join(' ').slice(0, 1500);
      }
      return result !== undefined;
    },
    timeoutMs,
    `${what} (last: ${last})`,
    POLL_MS * 2,
  );
  if (!result) throw new Error(what);
  return result;
}

async function writerProgress(writer: PgWriter, rows: number, what: string, port?: number): Promise<number> {
  const count = () => writer.outcomes().filter((o) => o.status === 'ok' && (port === undefined || o.port === port)).length;
  const from = count();
  const started = Date.now();
  await waitFor(() => count() >= from + rows, PROGRESS_WAIT_MS, `${what} (acknowledged: ${count()}; writer: ${writer.log().slice(-500)})`, POLL_MS);
  return Date.now() - started;
}

async function scenario(t: Test, target: AppEnsembleName): Promise<Outcome> {
  const out: Outcome = [];
  const timings: string[] = [];
  const ensemble = await startAppEnsemble(target);
  const clusterDir = fs.mkdtempSync(path.join(os.tmpdir(), 'patroni-'));
  // The postgres user walks into its nodes' directories.
  fs.chmodSync(clusterDir, 0o755);
  const nodes: PatroniNode[] = [];
  let monitor: RoleMonitor | undefined;
  let load: PgWriter | undefined;
  t.teardown(async () => {
    await monitor?.stop();
    await load?.stop();
    await Promise.all(nodes.map((n) => n.stop()));
    await ensemble.stop();
    fs.rmSync(clusterDir, { recursive: true, force: true });
  });
  const zookeeperHosts = ensemble.members.map((m) => m.connectString);
  for (const name of NODE_NAMES) nodes.push(await PatroniNode.create({ name, scope: SCOPE, clusterDir, zookeeperHosts, timing: TIMING }));
  const writer = new PgWriter(clusterDir, nodes.map((n) => n.pgAddress), WRITE_RATE_PER_S);
  load = writer;

  try {
    // Bootstrap: all three at once, racing for the initialize key.
    let mark = Date.now();
    for (const n of nodes) n.start();
    const boot = await waitHealthy(nodes, BOOTSTRAP_WAIT_MS, `${target}: a primary with two streaming replicas`);
    timings.push(`bootstrap ${Date.now() - mark} ms`);
    const clones = nodes.filter((n) => /bootstrapped from leader/.test(n.log())).map((n) => n.name);
    t.same(clones.sort(), nodes.filter((n) => n !== boot.primary).map((n) => n.name).sort(), `${target}: the replicas were cloned from the primary, which alone ran initdb`);
    out.push(['bootstrap: one primary, two streaming replicas cloned from it, one of them synchronous', true]);

    await boot.primary.sql('CREATE TABLE t (id bigint PRIMARY KEY)');
    monitor = new RoleMonitor(nodes);
    monitor.start();
    writer.start();
    await writerProgress(writer, PROGRESS_ROWS, `${target}: writes acknowledged by the primary`);
    for (const n of nodes.filter((x) => x !== boot.primary)) {
      await waitFor(async () => Number((await n.sql('SELECT count(*) FROM t').catch(() => ['0']))[0]) > 0, CONVERGE_WAIT_MS, `${target}: rows on replica ${n.name}`, POLL_MS);
    }
    out.push(['rows written on the primary reach both replicas', true]);

    // The ensemble's leader killed under the load.
    const primary = boot.primary;
    const before = await primary.status();
    const zkPhaseFrom = Date.now();
    const zkLeader = await ensemble.waitForQuorum();
    const connectionsLost = () => nodes.map((n) => n.log().split(KAZOO_CONNECTION_LOST).length - 1);
    const lostBefore = connectionsLost();
    const leaderKeyOwner = async () => (await memberTree(ensemble.members.find((m) => m.isRunning()) ?? ensemble.members[0], LEADER_KEY))[0]?.ephemeralOwner;
    const ownerBefore = await leaderKeyOwner();
    const outage = await killMember(ensemble, zkLeader, 'leader');
    timings.push(`ensemble leader ${zkLeader.sid} killed: two members serve after ${outage.quorumOfTwoMs} ms`);
    timings.push(`writes going on ${await writerProgress(writer, PROGRESS_ROWS, `${target}: writes with the ensemble leader down`)} ms later`);
    await restartMember(ensemble, zkLeader);
    // Several Patroni loops with the member back, all healthy.
    await writerProgress(writer, PROGRESS_ROWS, `${target}: writes after the ensemble member is back`);
    const afterZk = await waitHealthy(nodes, PROGRESS_WAIT_MS, `${target}: the cluster healthy after the ensemble member is back`);
    const after = await primary.status();
    // Every member drops its clients when the leader goes (a follower serves nobody until it
    // follows again), so the kill reaches each node's Kazoo, which keeps its session elsewhere.
    const lostAfter = connectionsLost();
    const reached = nodes.filter((_n, i) => lostAfter[i] > lostBefore[i]).map((n) => n.name);
    t.same(reached, NODE_NAMES, `${target}: every Patroni node lost its ensemble connection when the leader was killed`);
    out.push(['Patroni nodes whose ensemble connection the leader kill broke', reached.length]);
    const ownerAfter = await leaderKeyOwner();
    t.ok(ownerBefore !== undefined && ownerBefore !== '0x0', `${target}: the leader key is an ephemeral (owner ${ownerBefore})`);
    t.equal(ownerAfter, ownerBefore, `${target}: the primary's session, owner of the leader key, lived through the kill`);
    out.push(["the leader key's session lived through the ensemble leader's kill", ownerBefore !== undefined && ownerAfter === ownerBefore]);
    const zkPhasePrimaries = monitor.primariesSince(zkPhaseFrom);
    t.same(zkPhasePrimaries, [primary.name], `${target}: the same primary all along while the ensemble leader was down and back`);
    t.equal(afterZk.primary, primary, `${target}: ${primary.name} still primary`);
    t.equal(after?.timeline, before?.timeline, `${target}: the timeline did not change`);
    t.equal(after?.postmaster_start_time, before?.postmaster_start_time, `${target}: the primary's postmaster was not restarted`);
    const historyAfterZk = await primary.api('/history');
    t.same(historyAfterZk?.body, [], `${target}: no failover in Patroni's history`);
    out.push(['ensemble leader killed and restarted under the load: primaries seen', zkPhasePrimaries.length]);
    out.push(['... timeline and postmaster unchanged, no failover in the history', after?.timeline === before?.timeline && after?.postmaster_start_time === before?.postmaster_start_time && JSON.stringify(historyAfterZk?.body) === '[]']);

    // The Patroni primary crashes: the synchronous standby must take over.
    const syncStandby = afterZk.syncStandby;
    const killedAt = Date.now();
    await primary.kill();
    let newPrimary: PatroniNode | undefined;
    await waitFor(
      async () => {
        for (const n of nodes) {
          if (n === primary) continue;
          const s = await n.status();
          if (isPrimaryRole(s?.role) && s?.state === 'running' && (await n.api('/primary'))?.status === 200) newPrimary = n;
        }
        return newPrimary !== undefined;
      },
      FAILOVER_BOUND_MS,
      `${target}: a replica promoted after the primary was killed`,
      POLL_MS,
    );
    const failoverMs = Date.now() - killedAt;
    timings.push(`primary ${primary.name} killed: ${newPrimary?.name} primary after ${failoverMs} ms`);
    if (!newPrimary) throw new Error('no new primary');
    t.equal(newPrimary.name, syncStandby, `${target}: the synchronous standby took over`);
    out.push(['primary killed: the synchronous standby took over within the bound', newPrimary.name === syncStandby]);
    timings.push(
      `writes acknowledged by the new primary ${await writerProgress(writer, PROGRESS_ROWS, `${target}: writes on the new primary`, newPrimary.pgPort)} ms later`,
    );
    const promoted = await newPrimary.status();
    t.equal(promoted?.timeline, (before?.timeline ?? 0) + 1, `${target}: the new primary is on the next timeline`);
    out.push(['timeline after the failover', (promoted?.timeline ?? 0) - (before?.timeline ?? 0)]);

    // The old primary comes back and rejoins as a replica.
    mark = Date.now();
    primary.start();
    const rejoined = await waitHealthy(nodes, REJOIN_WAIT_MS, `${target}: ${primary.name} rejoined as a streaming replica`);
    timings.push(`${primary.name} rejoined after ${Date.now() - mark} ms (${/running pg_rewind/.test(primary.log()) ? 'pg_rewind' : 'no rewind'})`);
    t.equal(rejoined.primary, newPrimary, `${target}: ${newPrimary.name} still primary once ${primary.name} is back`);
    out.push(['the old primary rejoined as a streaming replica', rejoined.primary === newPrimary]);
    await writerProgress(writer, PROGRESS_ROWS, `${target}: writes with the old primary back as a replica`, newPrimary.pgPort);
    const failoverPrimaries = monitor.primariesSince(killedAt);
    t.same(failoverPrimaries, [newPrimary.name], `${target}: one failover, no second one`);
    out.push(['primaries seen from the kill on', failoverPrimaries.length]);
    await writer.stop();
    await monitor.stop();

    // Rows: every acknowledged one there, nothing never written, the same on every node.
    const outcomes = writer.outcomes();
    const acked = outcomes.filter((o) => o.status === 'ok').map((o) => o.id);
    const issued = new Set(outcomes.map((o) => o.id));
    const lastIssued = outcomes.reduce((m, o) => Math.max(m, o.id), 0);
    const ids = (await newPrimary.sql('SELECT id FROM t ORDER BY id')).map(Number);
    const present = new Set(ids);
    const lost = acked.filter((id) => !present.has(id));
    // The row of the last insert may be in flight when the writer stops, its line never written.
    const neverWritten = ids.filter((id) => !issued.has(id) && id !== lastIssued + 1);
    t.same(lost, [], `${target}: every acknowledged row (${acked.length}) is on the primary`);
    t.same(neverWritten, [], `${target}: no row that was never written`);
    out.push(['acknowledged rows lost', lost.length]);
    out.push(['rows never written', neverWritten.length]);
    const summary = 'SELECT count(*), coalesce(max(id), 0), coalesce(sum(id), 0) FROM t';
    const want = (await newPrimary.sql(summary))[0];
    for (const n of nodes.filter((x) => x !== newPrimary)) {
      let got = '';
      await waitFor(
        async () => {
          got = (await n.sql(summary).catch((e: Error) => [e.message]))[0];
          return got === want;
        },
        CONVERGE_WAIT_MS,
        `${target}: ${n.name} with the primary's rows (${want}; last ${got})`,
        POLL_MS,
      );
    }
    out.push(['every node has the same rows', true]);
    t.comment(`${target}: ${acked.length} writes acknowledged, ${outcomes.filter((o) => o.status !== 'ok').length} failed or unknown`);

    // Patroni stopped (replicas first, so nothing fails over): every member the same znodes.
    for (const n of nodes.filter((x) => x !== newPrimary)) await n.stop();
    await newPrimary.stop();
    // Patroni leaves its sessions open when it stops: the member keys go when they expire.
    const stoppedAt = Date.now();
    let ephemerals: string[] = [];
    await waitFor(
      async () => {
        ephemerals = (await memberTree(ensemble.members[0], DCS_ROOT)).filter((e) => e.ephemeralOwner !== '0x0').map((e) => e.path);
        return ephemerals.length === 0;
      },
      SESSION_EXPIRY_WAIT_MS,
      `${target}: Patroni's ephemeral znodes gone once its sessions expired (left: ${ephemerals.join(', ')})`,
      POLL_MS * 4,
    );
    timings.push(`Patroni's ephemerals gone ${Date.now() - stoppedAt} ms after it stopped`);
    const trees = await memberTrees(ensemble, DCS_ROOT);
    for (let i = 1; i < trees.length; i++) t.same(trees[i], trees[0], `${target}: member ${i + 1} holds the same ${DCS_ROOT} subtree as member 1`);
    out.push(['every member holds the same Patroni znodes', trees.every((tr) => JSON.stringify(tr) === JSON.stringify(trees[0]))]);
    t.same(
      trees.map((tr) => tr.filter((e) => e.ephemeralOwner !== '0x0').length),
      [0, 0, 0],
      `${target}: no leader key or member key on any member once Patroni's sessions expired`,
    );
    out.push(["Patroni's znodes once it stopped", relativePaths(trees[0], DCS_ROOT)]);
    t.comment(`${target}: ${timings.join('; ')}`);
  } catch (err) {
    t.comment(`${target}: ensemble logs:\n${ensembleLogs(ensemble)}`);
    for (const n of nodes) t.comment(n.logTail());
    t.comment(`writer: ${writer.log()}`);
    throw err;
  }
  dumpTranscript('patroni', target, out.map(([k, v]) => `${k}: ${JSON.stringify(v)}`));
  return out;
}

const missing = [PATRONI, path.join(PG_BIN_DIR, 'initdb')].find((f) => !fs.existsSync(f));
t.test(
  'Patroni with PostgreSQL 15 on 3-member ensembles, the ensemble leader and the primary killed under writes: ZooKeeper 3.8.0 and zkts',
  { skip: missing !== undefined && `${missing} not installed (scripts/install-deps.sh)` },
  async (t) => {
    const outcomes: Partial<Record<AppEnsembleName, Outcome>> = {};
    for (const target of APP_ENSEMBLES) {
      await t.test(target, async (t) => {
        outcomes[target] = await scenario(t, target);
      });
    }
    t.same(outcomes['zkts-ensemble'], outcomes['reference-ensemble'], 'zkts and ZooKeeper give the same outcome');
  },
);
