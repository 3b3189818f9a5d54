/**
 * The admin command registry: every command is written once and returns structured data. The
 * four-letter words (fourletter.ts) render it as ZooKeeper's text, the AdminServer (adminserver.ts)
 * as ZooKeeper's JSON, with the same names, aliases and keys as ZooKeeper 3.8/3.9.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ServerCnxn } from '../server/cnxn';
import { resettableStats, type ZooKeeperServer } from '../server/server';
import type { LatencyRecorder } from './metricslatency';
import type { Watcher } from '../server/watches';
import { javaDouble, type Data, type Value } from './json';
import { MNTR_LAYOUT } from './mntrkeys';
import { leaderView, observersView, proposalSizes, votingView, zabStateView } from './ensemble';
import { VERSION_LINE } from './version';
import { serializeSnapshotChunksConcurrently } from '../storage/snapshot';
import { restoreFromSnapshot } from '../server/restore';

/**
 * The snapshot command's rate limit. ZooKeeper builds it from `zookeeper.admin.rateLimiterIntervalInMS`
 * (default 300000) but as microseconds, so one snapshot per 300 ms is what it allows; kept as is.
 */
class SnapshotRateLimiter {
  private lastResetMs = -Infinity;
  private remaining = 0;
  allow(nowMs: number, intervalMs: number): boolean {
    if (nowMs > this.lastResetMs + intervalMs) {
      this.remaining = 1;
      this.lastResetMs = nowMs;
    }
    if (this.remaining <= 0) return false;
    this.remaining--;
    return true;
  }
}

/** ZooTrace's default text trace level (what gtmk answers before any stmk). */
export const DEFAULT_TRACE_MASK = 306n;

/** What a command answers: its data, and the HTTP status (ZooKeeper answers 200 unless told otherwise). */
export interface CommandResult {
  data: Data;
  status: number;
  /** The response's `error` field (null unless set). */
  error?: string;
  /** Extra response headers (ZooKeeper's CommandResponse headers). */
  headers?: Record<string, string>;
  /**
   * Bytes made asynchronously (snapshot): their size goes in the `snapshot_size` header, and with
   * `send` they are the body (application/octet-stream) instead of the JSON.
   */
  stream?: { chunks: Promise<Buffer[]>; send: boolean };
}

export interface AdminCommand {
  /** The primary name first (the one `GET /commands` lists and responses carry), then aliases. */
  readonly names: readonly string[];
  /** Whether it needs a running server (ZooKeeper answers "not currently serving" otherwise). */
  readonly serverRequired: boolean;
  /** ZooKeeper 3.9 guards snapshot and restore with an Authorization header and ALL on "/". */
  readonly authRequired?: boolean;
  /** Answered only to POST (restore); every other command is a GET. */
  readonly post?: boolean;
  run(ctx: AdminContext, args: Record<string, string>): CommandResult;
  /**
   * A POST command's work once `run` let it through (status 200): `body` reads the request's body,
   * bounded (restore).
   */
  runPost?(ctx: AdminContext, body: () => Promise<Buffer>): Promise<CommandResult>;
}

/** What the commands read: the server, plus a little state of the admin surface itself. */
export class AdminContext {
  traceMask = DEFAULT_TRACE_MASK;
  /** The text of zoo.cfg as started (initial_configuration); empty when there was no file. */
  initialConfig = '';
  readonly snapshotLimiter = new SnapshotRateLimiter();
  readonly restoreLimiter = new SnapshotRateLimiter();
  constructor(readonly server: ZooKeeperServer) {}
}

// ---------------------------------------------------------------------------------------------
// Shared views of the server, each computed in one place.

const VERSION_DIR = 'version-2';

export function hex(z: bigint): string {
  return '0x' + BigInt.asUintN(64, z).toString(16);
}

function signed(z: bigint): bigint {
  return BigInt.asIntN(64, z);
}

/** Total size of the files in a directory (ZooKeeper's dataDirSize/dataLogSize); 0 if unreadable. */
function dirSize(dir: string): number {
  let total = 0;
  try {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      try {
        total += e.isDirectory() ? dirSize(p) : fs.statSync(p).size;
      } catch {
        // A file purged while we count is simply not counted.
      }
    }
  } catch {
    return 0;
  }
  return total;
}

export function dataDirSize(s: ZooKeeperServer): number {
  return dirSize(path.join(s.config.dataDir, VERSION_DIR));
}

export function logDirSize(s: ZooKeeperServer): number {
  return dirSize(path.join(s.config.dataLogDir, VERSION_DIR));
}

export interface ConnectionInfo {
  remote: string;
  /** As ZooKeeper's selection key: 1 (OP_READ) while read, plus 4 (OP_WRITE) while output is pending. */
  interestOps: number;
  /** zkts: bytes encoded and not yet taken by the kernel. */
  pendingOutputBytes: number;
  outstanding: number;
  packetsReceived: number;
  packetsSent: number;
  sessionId: bigint;
  lastOp: string;
  establishedAtMs: number;
  sessionTimeoutMs: number;
  lastCxid: number;
  lastZxid: bigint;
  lastResponseTimeMs: number;
  lastLatencyMs: number;
  minLatencyMs: number;
  avgLatencyMs: number;
  maxLatencyMs: number;
}

/** java.nio.channels.SelectionKey's interest bits. */
const OP_READ = 1;
const OP_WRITE = 4;

export function connectionInfo(c: ServerCnxn): ConnectionInfo {
  return {
    remote: `${c.remoteIp}:${c.remotePort}`,
    interestOps: c.state === 'closed' ? 0 : (c.reading ? OP_READ : 0) | (c.pendingOutputBytes > 0 ? OP_WRITE : 0),
    pendingOutputBytes: c.pendingOutputBytes,
    // Requests received and not yet answered: reads waiting for the session's writes, and writes under way.
    outstanding: c.queue.length + c.inflightWrites,
    packetsReceived: c.packetsReceived,
    packetsSent: c.packetsSent,
    sessionId: c.sessionId,
    lastOp: c.lastOp,
    establishedAtMs: c.establishedAtMs,
    sessionTimeoutMs: c.session?.timeoutMs ?? 0,
    lastCxid: c.lastCxid,
    lastZxid: c.lastZxid,
    lastResponseTimeMs: 0,
    lastLatencyMs: c.lastLatencyMs,
    minLatencyMs: c.latencyCount ? c.minLatencyMs : 0,
    avgLatencyMs: c.latencyCount ? Math.round(c.totalLatencyMs / c.latencyCount) : 0,
    maxLatencyMs: c.maxLatencyMs,
  };
}

function connectionJson(i: ConnectionInfo, brief: boolean): Data {
  const out: Data = {
    remote_socket_address: i.remote,
    interest_ops: i.interestOps,
    outstanding_requests: i.outstanding,
    packets_received: i.packetsReceived,
    packets_sent: i.packetsSent,
  };
  if (!brief) {
    Object.assign(out, {
      session_id: signed(i.sessionId),
      last_operation: i.lastOp,
      established: i.establishedAtMs,
      session_timeout: i.sessionTimeoutMs,
      last_cxid: i.lastCxid,
      last_zxid: signed(i.lastZxid),
      last_response_time: i.lastResponseTimeMs,
      last_latency: i.lastLatencyMs,
      min_latency: i.minLatencyMs,
      avg_latency: i.avgLatencyMs,
      max_latency: i.maxLatencyMs,
      // zkts's own field, after ZooKeeper's.
      zkts_pending_output_bytes: i.pendingOutputBytes,
    });
  }
  return out;
}

/** Clients' connections: handshaking ones too, as ZooKeeper lists every accepted socket. */
function connections(s: ZooKeeperServer): ConnectionInfo[] {
  return [...s.cnxns].map(connectionInfo);
}

export function resetConnectionStats(s: ZooKeeperServer): void {
  for (const c of s.cnxns) {
    c.minLatencyMs = Number.MAX_SAFE_INTEGER;
    c.maxLatencyMs = c.totalLatencyMs = c.latencyCount = c.lastLatencyMs = 0;
    c.packetsReceived = c.packetsSent = 0;
    c.lastCxid = -1;
    c.lastZxid = -1n;
    c.lastOp = 'NA';
  }
}

export function resetServerStats(s: ZooKeeperServer): void {
  Object.assign(s.stats, resettableStats());
}

export interface LatencySummary {
  min: number;
  avg: number;
  max: number;
}

export function latency(s: ZooKeeperServer): LatencySummary {
  const st = s.stats;
  if (st.latencyCount === 0) return { min: 0, avg: 0, max: 0 };
  return { min: st.minLatencyMs, avg: Math.round((st.totalLatencyMs / st.latencyCount) * 10000) / 10000, max: st.maxLatencyMs };
}

/** ZooKeeper's node map holds the root twice ("" and "/"), and its count shows it. */
export function nodeCount(s: ZooKeeperServer): number {
  return s.tree.nodeCount + 1;
}

export function ephemeralsCount(s: ZooKeeperServer): number {
  let n = 0;
  for (const sid of s.tree.sessionsWithEphemerals()) n += s.tree.ephemeralsOf(sid).size;
  return n;
}

/** Sum of path lengths and data lengths over all nodes, as DataTree.approximateDataSize counts. */
export function approximateDataSize(s: ZooKeeperServer): number {
  return s.tree.approximateDataSize();
}

function sessionIdOf(w: Watcher): bigint {
  return (w as { sessionId?: bigint }).sessionId ?? 0n;
}

/**
 * ZooKeeper keeps two watch tables: data (data/exist watches, persistent and persistent-recursive
 * ones) and child (child watches and persistent ones). wchc/wchp/wchs report the data table;
 * mntr's watch_count is the sum of both table sizes.
 */
export function dataWatches(s: ZooKeeperServer): Map<string, Watcher[]> {
  const out = new Map<string, Watcher[]>();
  for (const [p, set] of s.watches.byPath()) {
    const ws = [...set].filter((w) => s.watches.inDataTable(p, w));
    if (ws.length > 0) out.set(p, ws);
  }
  return out;
}

export function watchCount(s: ZooKeeperServer): number {
  let n = 0;
  for (const [p, set] of s.watches.byPath())
    for (const w of set) {
      // ZooKeeper 3.8.0 puts persistent and persistent-recursive watches in both tables.
      if (s.watches.inDataTable(p, w)) n++;
      if (s.watches.inChildTable(p, w)) n++;
    }
  return n;
}

export function watchesBySession(s: ZooKeeperServer): Map<bigint, string[]> {
  const out = new Map<bigint, string[]>();
  for (const [p, ws] of dataWatches(s))
    for (const w of ws) {
      const sid = sessionIdOf(w);
      let list = out.get(sid);
      if (!list) out.set(sid, (list = []));
      list.push(p);
    }
  return out;
}

export function watchSummary(s: ZooKeeperServer): { connections: number; paths: number; watches: number } {
  const watchers = new Set<Watcher>();
  let watches = 0;
  const byPath = dataWatches(s);
  for (const ws of byPath.values()) {
    watches += ws.length;
    ws.forEach((w) => watchers.add(w));
  }
  return { connections: watchers.size, paths: byPath.size, watches };
}

/** Sessions by the tick bucket they expire in, oldest first. */
export function sessionExpiry(s: ZooKeeperServer): Array<[number, bigint[]]> {
  const buckets = new Map<number, bigint[]>();
  for (const sess of s.sessions.all()) {
    let b = buckets.get(sess.expiresAtMs);
    if (!b) buckets.set(sess.expiresAtMs, (b = []));
    b.push(sess.id);
  }
  return [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([t, ids]) => [t, ids.sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))]);
}

/** Connections by the time they expire unless heard from (a session's deadline, or the handshake's). */
export function connectionExpiry(s: ZooKeeperServer): Array<[number, ServerCnxn[]]> {
  const tick = s.config.tickTimeMs;
  const buckets = new Map<number, ServerCnxn[]>();
  for (const c of s.cnxns) {
    const t = c.session?.expiresAtMs || (Math.floor((c.establishedAtMs + s.config.minSessionTimeoutMs) / tick) + 1) * tick;
    let b = buckets.get(t);
    if (!b) buckets.set(t, (b = []));
    b.push(c);
  }
  return [...buckets.entries()].sort((a, b) => a[0] - b[0]);
}

export function readFdCounts(): { open: number; max: number } {
  let open = 0;
  let max = 0;
  try {
    open = fs.readdirSync('/proc/self/fd').length;
  } catch {
    open = 0;
  }
  try {
    const m = /^Max open files\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (m) max = m[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  } catch {
    max = 0;
  }
  return { open, max };
}

/** ZooKeeper's per-namespace summaries appear once a client has read or written under /<ns>. */
function namespaceSummaries(s: ZooKeeperServer): string[] {
  const names: string[] = [];
  for (const ns of s.stats.readNamespaces) names.push(`${ns}_read_per_namespace`);
  for (const ns of s.stats.writeNamespaces) names.push(`${ns}_write_per_namespace`);
  return names.sort();
}

/** The recorder behind a summary of this mntr/Prometheus name, if zkts keeps one. */
export function summaryRecorder(s: ZooKeeperServer, name: string): LatencyRecorder | undefined {
  if (name === 'readlatency') return s.readLatency;
  if (name === 'updatelatency') return s.updateLatency;
  const learner = /^(\d+)_learner_handler_qp_(size|time_ms)$/.exec(name);
  if (learner) return (learner[2] === 'size' ? s.metrics.learnerQueueSize : s.metrics.learnerQueueTime).get(learner[1]);
  return s.metrics.summary(name);
}

/** mntr's values, keys without the zk_ prefix, in ZooKeeper's order. */
export function monitorValues(s: ZooKeeperServer, nowMs: number): Array<[string, Value]> {
  const lat = latency(s);
  const fds = readFdCounts();
  const real: Record<string, Value> = {
    version: VERSION_LINE,
    server_state: s.serverState,
    ephemerals_count: ephemeralsCount(s),
    num_alive_connections: s.cnxns.size,
    avg_latency: javaDouble(lat.avg),
    outstanding_requests: s.outstanding,
    znode_count: nodeCount(s),
    global_sessions: s.sessions.size - s.sessions.countLocal(),
    local_sessions: s.sessions.countLocal(),
    last_client_response_size: -1,
    packets_sent: s.stats.packetsSent,
    packets_received: s.stats.packetsReceived,
    max_client_response_size: -1,
    watch_count: watchCount(s),
    auth_failed_count: s.stats.authFailed + s.metrics.unsuccessfulHandshakes,
    min_latency: lat.min,
    max_file_descriptor_count: fds.max,
    approximate_data_size: approximateDataSize(s),
    open_file_descriptor_count: fds.open,
    uptime: nowMs - s.stats.startedAtMs,
    max_latency: lat.max,
    min_client_response_size: -1,
    bytes_received_count: s.stats.bytesReceived,
    ...s.metrics.counters(),
  };
  const out: Array<[string, Value]> = [];
  // The summaries without a counterpart in zkts read 0 (README, "Metrics").
  const summary = (base: string, percentiles: boolean) => {
    const r = summaryRecorder(s, base);
    if (r && r.count > 0) {
      const q = (x: number) => Math.round(r.quantile(x, nowMs));
      out.push([`avg_${base}`, javaDouble(Math.round((r.sum / r.count) * 10000) / 10000)], [`min_${base}`, r.min], [`max_${base}`, r.max], [`cnt_${base}`, r.count], [`sum_${base}`, r.sum]);
      if (percentiles) out.push([`p50_${base}`, q(0.5)], [`p95_${base}`, q(0.95)], [`p99_${base}`, q(0.99)], [`p999_${base}`, q(0.999)]);
      return;
    }
    out.push([`avg_${base}`, javaDouble(0)], [`min_${base}`, 0], [`max_${base}`, 0], [`cnt_${base}`, 0], [`sum_${base}`, 0]);
    if (percentiles) out.push([`p50_${base}`, 0], [`p95_${base}`, 0], [`p99_${base}`, 0], [`p999_${base}`, 0]);
  };
  // An ensemble member's keys go in where ZooKeeper 3.8's mntr has them (captured from a live
  // ensemble): after the standalone key they follow.
  // A read-only member shows no quorum keys: ZooKeeper's read-only server is not a quorum server.
  const quorum = s.readOnly ? undefined : s.quorumStatus?.();
  const extras = new Map<string, Array<[string, Value]>>();
  if (quorum) {
    const after: Array<[string, Value]> = [['peer_state', quorum.peerState]];
    // An observer names the member it observes (ZooKeeper's observer master: here the leader).
    if (s.serverState === 'observer' && quorum.leaderSid !== undefined) after.push(['observer_master_id', quorum.leaderSid]);
    extras.set('server_state', after);
    extras.set('non_mtls_local_conn_count', [['quorum_size', quorum.quorumSize]]);
    const l = quorum.leader;
    if (l) {
      extras.set('avg_latency', [['min_proposal_size', l.minProposalSize]]);
      extras.set('packets_received', [['max_proposal_size', l.maxProposalSize]]);
      extras.set('max_client_response_size', [['synced_followers', l.syncedFollowers]]);
      extras.set('watch_count', [['synced_non_voting_followers', l.syncedNonVotingFollowers], ['synced_observers', l.syncedObservers]]);
      extras.set('open_file_descriptor_count', [['last_proposal_size', l.lastProposalSize], ['pending_syncs', l.pendingSyncs], ['leader_uptime', l.leaderUptimeMs]]);
      extras.set('outstanding_tls_handshake', [['learners', l.learners]]);
    }
  }
  for (const entry of MNTR_LAYOUT) {
    const sp = entry.indexOf(' ');
    const kind = entry.slice(0, sp);
    const key = entry.slice(sp + 1);
    if (kind === '%S' || kind === '%P') summary(key, kind === '%P');
    else out.push([key, key in real ? real[key] : kind === 'd' ? javaDouble(0) : kind === 's' ? '' : 0]);
    const after = extras.get(key);
    if (after) out.push(...after);
  }
  for (const ns of namespaceSummaries(s)) summary(ns, false);
  // A leader's per-learner summaries, keyed by sid, once it has sent them something.
  for (const sid of [...s.metrics.learnerQueueSize.keys()].sort()) summary(`${sid}_learner_handler_qp_size`, false);
  for (const sid of [...s.metrics.learnerQueueTime.keys()].sort()) summary(`${sid}_learner_handler_qp_time_ms`, true);
  for (const [k, v] of Object.entries(zktsValues(s))) out.push([k, v]);
  return out;
}

/** zkts's own mntr keys (after ZooKeeper's): connections, their unsent replies, and refusals at accept. */
export function zktsValues(s: ZooKeeperServer): Record<string, number> {
  let paused = 0;
  let pendingBytes = 0;
  for (const c of s.cnxns) {
    if (c.outputHeld) paused++;
    pendingBytes += c.pendingOutputBytes;
  }
  return {
    zkts_storage_writable: s.storageProblem ? 0 : 1,
    zkts_writes_abandoned_count: s.metrics.writesAbandoned,
    zkts_output_paused_connections: paused,
    zkts_output_pending_bytes: pendingBytes,
    zkts_output_pause_count: s.metrics.outputPauses,
    zkts_output_overflow_closed_count: s.metrics.outputOverflowCloses,
    zkts_client_sockets_allowed: s.clientSocketsAllowed,
    zkts_descriptor_reserve_refused_count: s.metrics.descriptorReserveRefused,
    zkts_accept_error_count: s.metrics.acceptErrors,
  };
}

export function serverStatsJson(s: ZooKeeperServer, nowMs: number): Data {
  const lat = latency(s);
  return {
    packets_sent: s.stats.packetsSent,
    packets_received: s.stats.packetsReceived,
    fsync_threshold_exceed_count: 0,
    client_response_stats: clientResponseJson(),
    data_dir_size: dataDirSize(s),
    log_dir_size: logDirSize(s),
    provider_null: false,
    server_state: s.serverState,
    last_processed_zxid: signed(s.lastProcessedZxid),
    outstanding_requests: s.outstanding,
    avg_latency: javaDouble(lat.avg),
    max_latency: lat.max,
    min_latency: lat.min,
    num_alive_client_connections: s.cnxns.size,
    auth_failed_count: s.stats.authFailed + s.metrics.unsuccessfulHandshakes,
    non_mtlsremote_conn_count: s.metrics.nonMtlsRemoteConns,
    non_mtlslocal_conn_count: s.metrics.nonMtlsLocalConns,
    uptime: nowMs - s.stats.startedAtMs,
  };
}

function clientResponseJson(): Data {
  return { last_buffer_size: -1, min_buffer_size: -1, max_buffer_size: -1 };
}

/** conf: ZooKeeper's dumpConf keys (4lw) and ServerConfig.toMap keys (JSON) come from here. */
export interface ConfView {
  clientPort: number;
  secureClientPort: number;
  dataDir: string;
  dataDirSize: number;
  dataLogDir: string;
  dataLogSize: number;
  tickTime: number;
  maxClientCnxns: number;
  minSessionTimeout: number;
  maxSessionTimeout: number;
  clientPortListenBacklog: number;
  serverId: number;
}

export function confView(s: ZooKeeperServer): ConfView {
  const c = s.config;
  let clientPort = c.clientPort ?? 0;
  try {
    clientPort = s.address().port;
  } catch {
    // Not listening (yet): the configured port.
  }
  return {
    clientPort,
    secureClientPort: c.secureClientPort ?? -1,
    dataDir: path.join(c.dataDir, VERSION_DIR),
    dataDirSize: dataDirSize(s),
    dataLogDir: path.join(c.dataLogDir, VERSION_DIR),
    dataLogSize: logDirSize(s),
    tickTime: c.tickTimeMs,
    maxClientCnxns: c.maxClientCnxns,
    minSessionTimeout: c.minSessionTimeoutMs,
    maxSessionTimeout: c.maxSessionTimeoutMs,
    clientPortListenBacklog: c.clientPortListenBacklog,
    serverId: s.quorumStatus ? (c.serverId ?? 0) : 0,
  };
}

function javaOsName(): string {
  const p = process.platform;
  return p === 'linux' ? 'Linux' : p === 'darwin' ? 'Mac OS X' : p === 'win32' ? 'Windows' : p;
}

function javaArch(): string {
  const a = process.arch;
  return a === 'x64' ? 'amd64' : a === 'arm64' ? 'aarch64' : a === 'ia32' ? 'x86' : a;
}

function mb(bytes: number): string {
  return `${Math.floor(bytes / (1024 * 1024))}MB`;
}

/**
 * envi: ZooKeeper's Environment keys, in its order. The java.* entries describe the runtime that
 * serves, here Node.js, so that tools reading these keys find them.
 */
export function environment(): Array<[string, string]> {
  const mem = process.memoryUsage();
  const heapMax = (require('node:v8') as typeof import('node:v8')).getHeapStatistics().heap_size_limit;
  let user = '';
  try {
    user = os.userInfo().username;
  } catch {
    user = '';
  }
  return [
    ['zookeeper.version', VERSION_LINE],
    ['host.name', os.hostname()],
    ['java.version', process.versions.node],
    ['java.vendor', 'Node.js'],
    ['java.home', path.dirname(path.dirname(process.execPath))],
    ['java.class.path', process.argv[1] ?? ''],
    ['java.library.path', ''],
    ['java.io.tmpdir', os.tmpdir()],
    ['java.compiler', '<NA>'],
    ['os.name', javaOsName()],
    ['os.arch', javaArch()],
    ['os.version', os.release()],
    ['user.name', user],
    ['user.home', os.homedir()],
    ['user.dir', process.cwd()],
    ['os.memory.free', mb(mem.heapTotal - mem.heapUsed)],
    ['os.memory.max', mb(heapMax)],
    ['os.memory.total', mb(mem.heapTotal)],
  ];
}

/** system_properties: the effective -D and zoo.cfg properties plus the platform ones, sorted. */
function systemProperties(s: ZooKeeperServer): Data {
  const props = new Map<string, string>([
    ['file.separator', path.sep],
    ['java.io.tmpdir', os.tmpdir()],
    ['line.separator', os.EOL],
    ['os.arch', javaArch()],
    ['os.name', javaOsName()],
    ['os.version', os.release()],
    ['path.separator', path.delimiter],
    ['user.dir', process.cwd()],
    ['user.home', os.homedir()],
  ]);
  for (const [k, v] of s.config.systemProps) props.set(k, v);
  const out: Data = {};
  for (const k of [...props.keys()].sort()) out[k] = props.get(k) as string;
  return out;
}

/** The newest snapshot in dataDir: zxid from its name, time from the file. */
export function lastSnapshot(s: ZooKeeperServer): { zxid: bigint; timestampSec: number } | undefined {
  const dir = path.join(s.config.dataDir, VERSION_DIR);
  let best: { zxid: bigint; file: string } | undefined;
  try {
    for (const name of fs.readdirSync(dir)) {
      const m = /^snapshot\.([0-9a-fA-F]+)$/.exec(name);
      if (!m) continue;
      const zxid = BigInt('0x' + m[1]);
      if (!best || zxid > best.zxid) best = { zxid, file: path.join(dir, name) };
    }
    if (!best) return undefined;
    return { zxid: best.zxid, timestampSec: Math.floor(fs.statSync(best.file).mtimeMs / 1000) };
  } catch {
    return undefined;
  }
}

/** Long.parseLong: an optional sign, decimal digits, 64-bit. */
export function parseJavaLong(text: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(text)) return undefined;
  const n = BigInt(text);
  return n === BigInt.asIntN(64, n) ? n : undefined;
}

// ---------------------------------------------------------------------------------------------
// The commands

function ok(data: Data = {}): CommandResult {
  return { data, status: 200 };
}

function get(names: string[], run: (ctx: AdminContext, args: Record<string, string>) => Data, serverRequired = true): AdminCommand {
  return { names, serverRequired, run: (ctx, args) => ok(run(ctx, args)) };
}

const now = () => Date.now();

export const COMMANDS: readonly AdminCommand[] = [
  get(['connection_stat_reset', 'crst'], ({ server }) => {
    resetConnectionStats(server);
    return {};
  }),
  get(['configuration', 'conf', 'config'], ({ server }) => {
    const c = confView(server);
    return {
      client_port: c.clientPort,
      data_dir: c.dataDir,
      data_log_dir: c.dataLogDir,
      tick_time: c.tickTime,
      max_client_cnxns: c.maxClientCnxns,
      min_session_timeout: c.minSessionTimeout,
      max_session_timeout: c.maxSessionTimeout,
      server_id: c.serverId,
      client_port_listen_backlog: c.clientPortListenBacklog,
    };
  }),
  get(['connections', 'cons'], ({ server }) => ({
    connections: connections(server).map((i) => connectionJson(i, false)),
    secure_connections: [],
  })),
  get(['hash'], ({ server }) => ({
    // Jackson lays out DataTree.ZxidDigest by its fields: zxid, digest, digestVersion.
    digests: server.digestLog.map((d) => ({ zxid: d.zxid, digest: d.digest, digestVersion: d.digestVersion })),
  })),
  get(['dirs'], ({ server }) => ({ datadir_size: dataDirSize(server), logdir_size: logDirSize(server) })),
  get(['dump'], ({ server }) => {
    const expiry: Data = {};
    for (const [t, ids] of sessionExpiry(server)) expiry[String(t)] = ids.map(signed);
    const ephemerals: Data = {};
    for (const sid of server.tree.sessionsWithEphemerals()) ephemerals[String(signed(sid))] = server.tree.ephemeralsListed(sid);
    return { expiry_time_to_session_ids: expiry, session_id_to_ephemeral_paths: ephemerals };
  }),
  get(
    ['environment', 'env', 'envi'],
    () => {
      const out: Data = {};
      for (const [k, v] of environment()) out[k] = v;
      return out;
    },
    false,
  ),
  get(['get_trace_mask', 'gtmk'], (ctx) => ({ tracemask: ctx.traceMask }), false),
  get(['initial_configuration', 'icfg'], (ctx) => ({ initial_configuration: ctx.initialConfig })),
  get(['is_read_only', 'isro'], ({ server }) => ({ read_only: server.readOnly })),
  get(['last_snapshot', 'lsnp'], ({ server }) => {
    const snap = lastSnapshot(server);
    return { zxid: snap ? snap.zxid.toString(16) : 'ffffffffffffffff', timestamp: snap ? snap.timestampSec : -1 };
  }),
  get(['leader', 'lead'], ({ server }) => {
    const q = server.quorumStatus?.();
    return q ? leaderView(q) : { error: 'server is not initialized' };
  }),
  get(
    ['monitor', 'mntr'],
    ({ server }) => {
      const out: Data = {};
      for (const [k, v] of monitorValues(server, now())) out[k] = v;
      return out;
    },
    false,
  ),
  get(['observer_connection_stat_reset', 'orst'], ({ server }) => {
    server.resetObserverStats?.();
    return {};
  }),
  {
    names: ['restore', 'rest'],
    serverRequired: true,
    authRequired: true,
    post: true,
    // Reached only with valid credentials: ZooKeeper 3.9's RestoreCommand.
    run: (ctx) => restoreChecks(ctx),
    runPost: (ctx, body) => restoreCommand(ctx, body),
  },
  // ZooKeeper answers an empty 200 whenever it runs; zkts says when it cannot take writes.
  {
    names: ['ruok'],
    serverRequired: true,
    run: ({ server }) => {
      const problem = server.notServing;
      return problem ? { data: {}, status: 503, error: `the server cannot take writes: ${problem.message}` } : ok();
    },
  },
  get(
    ['set_trace_mask', 'stmk'],
    (ctx, args): Data => {
      if (!('traceMask' in args)) return { error: 'setTraceMask requires long traceMask argument' };
      const mask = parseJavaLong(args.traceMask);
      if (mask === undefined) return { error: `setTraceMask requires long traceMask argument, got ${args.traceMask}` };
      ctx.traceMask = mask;
      return { tracemask: mask };
    },
    false,
  ),
  {
    names: ['snapshot', 'snap'],
    serverRequired: true,
    authRequired: true,
    // Reached only with valid credentials: ZooKeeper 3.9's SnapshotCommand.
    run: (ctx, args) => snapshotCommand(ctx, args),
  },
  get(['server_stats', 'srvr'], ({ server }) => serverStatsData(server)),
  get(['stats', 'stat'], ({ server }) => ({
    ...serverStatsData(server),
    connections: connections(server).map((i) => connectionJson(i, true)),
    secure_connections: [],
  })),
  get(['stat_reset', 'srst'], ({ server }) => {
    resetServerStats(server);
    return {};
  }),
  get(['observers', 'obsr'], ({ server }) => observersView(server.quorumStatus?.())),
  get(['system_properties', 'sysp'], ({ server }) => systemProperties(server), false),
  get(['voting_view'], ({ server }) => {
    const q = server.quorumStatus?.();
    return q ? votingView(q, server.config, confView(server).clientPort) : { current_config: {} };
  }),
  get(['watches', 'wchc'], ({ server }) => {
    const out: Data = {};
    for (const [sid, paths] of watchesBySession(server)) out[String(signed(sid))] = paths;
    return { session_id_to_watched_paths: out };
  }),
  get(['watches_by_path', 'wchp'], ({ server }) => {
    const out: Data = {};
    for (const [p, ws] of dataWatches(server)) out[p] = ws.map((w) => signed(sessionIdOf(w)));
    return { path_to_session_ids: out };
  }),
  get(['watch_summary', 'wchs'], ({ server }) => {
    const w = watchSummary(server);
    return { num_connections: w.connections, num_paths: w.paths, num_total_watches: w.watches };
  }),
  get(
    ['zabstate'],
    ({ server }) => {
      const q = server.quorumStatus?.();
      return q ? zabStateView(q, server.config, confView(server).clientPort, server.lastProcessedZxid) : { voting: false, zabstate: '' };
    },
    false,
  ),
];

/**
 * The tree as it is now in ZooKeeper's snapshot format, serialized in slices while clients go on
 * being served, with ZooKeeper's last_zxid and snapshot_size headers. ZooKeeper writes a snapshot
 * file and streams that; here the bytes go to the response only (the data dir is left alone).
 */
function rateLimiterIntervalMs(ctx: AdminContext): number {
  const interval = Number.parseInt(ctx.server.config.systemProps.get('zookeeper.admin.rateLimiterIntervalInMS') ?? '300000', 10);
  return Number.isFinite(interval) ? interval : 300000;
}

/** Snapshot and restore need the last-processed-zxid section, which a 3.9 setting can turn off. */
function lastZxidSectionEnabled(ctx: AdminContext): boolean {
  return (ctx.server.config.systemProps.get('zookeeper.serializeLastProcessedZxid.enabled') ?? 'true').toLowerCase() === 'true';
}

function snapshotCommand(ctx: AdminContext, args: Record<string, string>): CommandResult {
  const s = ctx.server;
  const props = s.config.systemProps;
  if ((props.get('zookeeper.admin.snapshot.enabled') ?? 'true').toLowerCase() !== 'true') return { data: {}, status: 503 };
  if (!lastZxidSectionEnabled(ctx)) return { data: {}, status: 500 };
  // ZooKeeper's snapshot limiter takes the interval as microseconds: one per 300 ms by default.
  if (!ctx.snapshotLimiter.allow(performance.now(), rateLimiterIntervalMs(ctx) / 1000)) {
    s.metrics.snapshotRateLimited++;
    return { data: {}, status: 429 };
  }
  const streaming = 'streaming' in args ? args.streaming.toLowerCase() === 'true' : true;
  const zxid = s.lastProcessedZxid;
  const chunks = serializeSnapshotChunksConcurrently(s.tree, s.sessionTimeouts(), zxid, { lastZxidSection: true });
  chunks.catch(() => s.metrics.snapshotErrors++);
  const headers = { last_zxid: '0x' + BigInt.asUintN(64, zxid).toString(16) };
  return { data: {}, status: 200, headers, stream: { chunks, send: streaming } };
}

/** The restore command's checks before its body is read, in ZooKeeper's order. */
function restoreChecks(ctx: AdminContext): CommandResult {
  const s = ctx.server;
  if ((s.config.systemProps.get('zookeeper.admin.restore.enabled') ?? 'true').toLowerCase() !== 'true') return { data: {}, status: 503 };
  if (!lastZxidSectionEnabled(ctx)) return { data: {}, status: 500 };
  // Its limiter, unlike the snapshot's, takes the interval as milliseconds: one per 5 minutes.
  if (!ctx.restoreLimiter.allow(performance.now(), rateLimiterIntervalMs(ctx))) {
    s.metrics.restoreRateLimited++;
    return { data: {}, status: 429 };
  }
  return { data: {}, status: 200 };
}

async function restoreCommand(ctx: AdminContext, body: () => Promise<Buffer>): Promise<CommandResult> {
  const s = ctx.server;
  try {
    const zxid = await restoreFromSnapshot(s, await body());
    return { data: { last_zxid: zxid }, status: 200 };
  } catch (e) {
    s.metrics.restoreErrors++;
    s.log.warn({ err: (e as Error).message }, 'restore over the AdminServer failed');
    return { data: {}, status: 500 };
  }
}

function serverStatsData(s: ZooKeeperServer): Data {
  const t = now();
  const out: Data = {
    version: VERSION_LINE,
    read_only: s.readOnly,
    server_stats: serverStatsJson(s, t),
    client_response: clientResponseJson(),
  };
  // A leader's stats carry its proposals' sizes (ZooKeeper's LeaderZooKeeperServer).
  const sizes = proposalSizes(s.quorumStatus?.());
  if (sizes) out.proposal_stats = { last_buffer_size: sizes.last, min_buffer_size: sizes.min, max_buffer_size: sizes.max };
  out.node_count = nodeCount(s);
  return out;
}

const BY_NAME = new Map<string, AdminCommand>();
for (const c of COMMANDS) for (const n of c.names) BY_NAME.set(n, c);

export function findCommand(name: string): AdminCommand | undefined {
  return BY_NAME.get(name);
}

/** Primary names, sorted: what `GET /commands` links to. */
export function primaryNames(): string[] {
  return COMMANDS.map((c) => c.names[0]).sort();
}

/** A command's response as ZooKeeper shapes it: its data, then "command" and "error". */
export function commandResponse(name: string, data: Data, error: string | null = null): Data {
  const out: Data = { ...data, command: name };
  if (!('error' in out) || error !== null) out.error = error;
  return out;
}
