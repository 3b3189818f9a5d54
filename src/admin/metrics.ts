/**
 * Prometheus metrics as ZooKeeper 3.8's PrometheusMetricsProvider exposes them: the same metric
 * names, types, HELP texts and quantile labels, in text format 0.0.4 as its Prometheus client
 * (simpleclient 0.9) writes it, values as Java doubles ("1.0", "1.0E7", "NaN") and a trailing
 * comma after the last label. Node.js process metrics stand in for the JVM's.
 *
 * The metric list comes from the mntr registry (MNTR_LAYOUT): ZooKeeper's mntr is a dump of the
 * same metrics, so its key kinds tell summary (BASIC/ADVANCED) from counter and gauge.
 */
import * as fs from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import type { ZooKeeperServer } from '../server/server';
import { monitorValues, readFdCounts, summaryRecorder, zktsValues } from './commands';
import { JavaDouble, type Value } from './json';
import type { LatencyRecorder } from './metricslatency';
import { MNTR_LAYOUT } from './mntrkeys';

export const PROMETHEUS_METRICS_PROVIDER = 'org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider';
export const DEFAULT_METRICS_PROVIDER = 'org.apache.zookeeper.metrics.impl.DefaultMetricsProvider';
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The gauges ZooKeeperServer registers; every other numeric mntr key is a ServerMetrics counter. */
export const SERVER_GAUGES: ReadonlySet<string> = new Set([
  'avg_latency', 'max_latency', 'min_latency', 'packets_received', 'packets_sent', 'num_alive_connections',
  'outstanding_requests', 'uptime', 'znode_count', 'watch_count', 'ephemerals_count', 'approximate_data_size',
  'global_sessions', 'local_sessions', 'open_file_descriptor_count', 'max_file_descriptor_count',
  'connection_drop_probability', 'last_client_response_size', 'max_client_response_size', 'min_client_response_size',
  'outstanding_tls_handshake', 'auth_failed_count', 'non_mtls_remote_conn_count', 'non_mtls_local_conn_count',
]);
/**
 * The gauges ZooKeeper registers only on an ensemble member (QuorumPeer's quorum_size, the
 * leader's learner and proposal figures, an observer's observer_master_id), as mntr has them.
 */
const QUORUM_GAUGES = [
  'quorum_size', 'observer_master_id', 'learners', 'synced_followers', 'synced_non_voting_followers', 'synced_observers',
  'pending_syncs', 'leader_uptime', 'last_proposal_size', 'min_proposal_size', 'max_proposal_size',
];
/** Labelled metrics (label "key"): not in mntr until they have children. */
const GAUGE_SETS = ['quota_count_limit_per_namespace', 'quota_bytes_limit_per_namespace', 'quota_count_usage_per_namespace', 'quota_bytes_usage_per_namespace'];
const COUNTER_SETS = ['quota_exceeded_error_per_namespace'];
const SUMMARY_SETS: ReadonlyArray<[string, boolean]> = [
  ['write_per_namespace', false],
  ['read_per_namespace', false],
  ['learner_handler_qp_size', false],
  ['learner_handler_qp_time_ms', true],
  ['ack_latency', true],
];
/** ZooKeeper's summaries: BASIC ones carry the median, ADVANCED ones also the 90th and 99th percentile. */
const BASIC_QUANTILES = [0.5];
const ADVANCED_QUANTILES = [0.5, 0.9, 0.99];

export type MetricType = 'gauge' | 'counter' | 'summary';

export interface MetricDef {
  name: string;
  type: MetricType;
  /** Summaries: ADVANCED (3 quantiles) or BASIC (median). */
  advanced?: boolean;
  /** Labelled by "key" (per namespace, per learner). */
  labelled?: boolean;
}

/** Every ZooKeeper metric of a standalone 3.8 server, in mntr order, then the labelled ones. */
export function zookeeperMetricDefs(): MetricDef[] {
  const out: MetricDef[] = [];
  for (const entry of MNTR_LAYOUT) {
    const sp = entry.indexOf(' ');
    const kind = entry.slice(0, sp);
    const name = entry.slice(sp + 1);
    if (kind === 's') continue; // version and server_state are added by mntr itself
    if (kind === '%S' || kind === '%P') out.push({ name, type: 'summary', advanced: kind === '%P' });
    else out.push({ name, type: SERVER_GAUGES.has(name) ? 'gauge' : 'counter' });
  }
  for (const name of GAUGE_SETS) out.push({ name, type: 'gauge', labelled: true });
  for (const name of COUNTER_SETS) out.push({ name, type: 'counter', labelled: true });
  for (const [name, advanced] of SUMMARY_SETS) out.push({ name, type: 'summary', advanced, labelled: true });
  return out;
}

/** Collector.doubleToGoString: Java's Double.toString, with Go's spelling of the infinities. */
export function promDouble(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  if (n === Number.NEGATIVE_INFINITY) return '-Inf';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(n);
  if (abs >= 1e-3 && abs < 1e7) return Number.isInteger(n) ? n.toFixed(1) : String(n);
  const [mant, exp] = n.toExponential().split('e');
  return `${mant.includes('.') ? mant : mant + '.0'}E${exp.startsWith('+') ? exp.slice(1) : exp}`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function labels(pairs: ReadonlyArray<[string, string]>): string {
  if (pairs.length === 0) return '';
  let s = '{';
  for (const [k, v] of pairs) s += `${k}="${escapeLabel(v)}",`;
  return s + '}';
}

/** Builds one exposition; the text format's rules live here and nowhere else. */
class Exposition {
  private readonly lines: string[] = [];
  constructor(private readonly wanted: ReadonlySet<string> | undefined) {}

  family(name: string, type: MetricType, help: string): boolean {
    if (this.wanted && !this.wanted.has(name)) return false;
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    return true;
  }

  sample(name: string, value: number, pairs: ReadonlyArray<[string, string]> = []): void {
    this.lines.push(`${name}${labels(pairs)} ${promDouble(value)}`);
  }

  text(): string {
    return this.lines.length === 0 ? '' : this.lines.join('\n') + '\n';
  }
}

function numeric(v: Value | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof JavaDouble) return v.value;
  return 0;
}

/** Sampling interval of the event loop delay histogram. */
const LOOP_RESOLUTION_MS = 10;

/** When this process started, in seconds since the epoch (process_start_time_seconds). */
const PROCESS_START_SEC = (Date.now() - process.uptime() * 1000) / 1000;

function procStatusKb(key: string): number {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * What /metrics serves. ZooKeeper's counters never go back (its Prometheus provider ignores
 * stat resets), so counters read from resettable mntr values are kept monotonic here.
 */
export class PrometheusMetrics {
  private server: ZooKeeperServer | undefined;
  private readonly counterBase = new Map<string, { last: number; base: number }>();
  private loopDelay: IntervalHistogram | undefined;

  constructor(
    private readonly exportJvmInfo: boolean,
    private readonly now: () => number = Date.now,
  ) {
    if (exportJvmInfo) {
      this.loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
      this.loopDelay.enable();
    }
  }

  /** ZooKeeper registers its server gauges once the server exists; until then they are absent. */
  attach(server: ZooKeeperServer): void {
    this.server = server;
  }

  close(): void {
    this.loopDelay?.disable();
    this.loopDelay = undefined;
  }

  /** The exposition; `names` limits it to those families (the client's `name[]` parameter). */
  render(names?: ReadonlySet<string>): string {
    const out = new Exposition(names && names.size > 0 ? names : undefined);
    this.zookeeper(out);
    this.zkts(out);
    if (this.exportJvmInfo) this.process(out);
    return out.text();
  }

  private monotonic(name: string, value: number): number {
    let c = this.counterBase.get(name);
    if (!c) this.counterBase.set(name, (c = { last: 0, base: 0 }));
    if (value < c.last) c.base += c.last;
    c.last = value;
    return c.base + value;
  }

  private zookeeper(out: Exposition): void {
    const s = this.server;
    const nowMs = this.now();
    const mntr = new Map<string, Value>(s ? monitorValues(s, nowMs) : []);
    for (const def of zookeeperMetricDefs()) {
      const { name, type } = def;
      // Gauges are callbacks into the running server; without one ZooKeeper has none registered.
      if (type === 'gauge' && !s) continue;
      if (!out.family(name, type, name)) continue;
      if (def.labelled) {
        if (type === 'summary' && s && (name === 'read_per_namespace' || name === 'write_per_namespace')) {
          const set = name === 'read_per_namespace' ? s.stats.readNamespaces : s.stats.writeNamespaces;
          for (const ns of [...set].sort()) summarySamples(out, name, def.advanced === true, undefined, nowMs, [['key', ns]]);
        }
        if (type === 'summary' && s && (name === 'learner_handler_qp_size' || name === 'learner_handler_qp_time_ms')) {
          const set = name === 'learner_handler_qp_size' ? s.metrics.learnerQueueSize : s.metrics.learnerQueueTime;
          for (const sid of [...set.keys()].sort()) summarySamples(out, name, def.advanced === true, set.get(sid), nowMs, [['key', sid]]);
        }
        continue;
      }
      if (type === 'summary') {
        summarySamples(out, name, def.advanced === true, s ? recorderOf(s, name) : undefined, nowMs);
      } else if (type === 'counter') {
        out.sample(name, this.monotonic(name, numeric(mntr.get(name))));
      } else {
        out.sample(name, numeric(mntr.get(name)));
      }
    }
    // An ensemble member's own gauges, while it has them (a leader's only while it leads).
    if (s?.quorumStatus) for (const name of QUORUM_GAUGES) if (mntr.has(name) && out.family(name, 'gauge', name)) out.sample(name, numeric(mntr.get(name)));
  }

  /** zkts's own metrics, under mntr's names for them. */
  private zkts(out: Exposition): void {
    const s = this.server;
    if (!s) return;
    const v = zktsValues(s);
    const families: Array<[string, MetricType, string]> = [
      ['zkts_storage_writable', 'gauge', '1 while the txn log takes writes, 0 while it cannot (a failed or stalled disk).'],
      ['zkts_writes_abandoned_count', 'counter', 'Writes never applied because the storage failed; each closed its connection.'],
      ['zkts_output_paused_connections', 'gauge', 'Connections not read because their clients do not take their replies.'],
      ['zkts_output_pending_bytes', 'gauge', 'Bytes of replies encoded and not yet taken by the kernel, over all connections.'],
      ['zkts_output_pause_count', 'counter', 'Times a connection stopped being read for its pending replies.'],
      ['zkts_output_overflow_closed_count', 'counter', 'Connections closed for passing the hard bound on pending replies.'],
      ['zkts_client_sockets_allowed', 'gauge', 'Client connections allowed now by maxCnxns and the open file descriptors left beyond the reserve (-1: no limit).'],
      ['zkts_descriptor_reserve_refused_count', 'counter', 'Connections closed at accept to keep the descriptor reserve free.'],
      ['zkts_accept_error_count', 'counter', 'Accepts of client connections that failed in the kernel (EMFILE and the like).'],
    ];
    for (const [name, type, help] of families) if (out.family(name, type, help)) out.sample(name, v[name] ?? 0);
  }

  /** Process metrics with the names Prometheus clients use, plus Node.js ones in place of the JVM's. */
  private process(out: Exposition): void {
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    const fds = readFdCounts();
    if (out.family('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.'))
      out.sample('process_cpu_seconds_total', (cpu.user + cpu.system) / 1e6);
    if (out.family('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.'))
      out.sample('process_start_time_seconds', Math.round(PROCESS_START_SEC * 1000) / 1000);
    if (out.family('process_open_fds', 'gauge', 'Number of open file descriptors.')) out.sample('process_open_fds', fds.open);
    if (out.family('process_max_fds', 'gauge', 'Maximum number of open file descriptors.')) out.sample('process_max_fds', fds.max);
    if (out.family('process_virtual_memory_bytes', 'gauge', 'Virtual memory size in bytes.'))
      out.sample('process_virtual_memory_bytes', procStatusKb('VmSize'));
    if (out.family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.')) out.sample('process_resident_memory_bytes', mem.rss);
    if (out.family('nodejs_heap_size_total_bytes', 'gauge', 'Process heap size from Node.js in bytes.')) out.sample('nodejs_heap_size_total_bytes', mem.heapTotal);
    if (out.family('nodejs_heap_size_used_bytes', 'gauge', 'Process heap size used from Node.js in bytes.')) out.sample('nodejs_heap_size_used_bytes', mem.heapUsed);
    if (out.family('nodejs_external_memory_bytes', 'gauge', 'Node.js external memory size in bytes.')) out.sample('nodejs_external_memory_bytes', mem.external);
    if (out.family('nodejs_heap_space_size_used_bytes', 'gauge', 'Process heap space size used from Node.js in bytes.'))
      for (const sp of v8.getHeapSpaceStatistics()) out.sample('nodejs_heap_space_size_used_bytes', sp.space_used_size, [['space', sp.space_name.replace(/_space$/, '')]]);
    const h = this.loopDelay;
    // The histogram counts in nanoseconds and includes its own sampling interval, which is not lag;
    // each scrape reports the delays seen since the last one.
    const sec = (ns: number) => (Number.isFinite(ns) && h && h.count > 0 ? Math.max(0, ns - LOOP_RESOLUTION_MS * 1e6) / 1e9 : 0);
    if (out.family('nodejs_eventloop_lag_seconds', 'gauge', 'Mean event loop delay since the last scrape in seconds.'))
      out.sample('nodejs_eventloop_lag_seconds', sec(h?.mean ?? 0));
    if (out.family('nodejs_eventloop_lag_max_seconds', 'gauge', 'Longest event loop delay since the last scrape in seconds.'))
      out.sample('nodejs_eventloop_lag_max_seconds', sec(h?.max ?? 0));
    if (out.family('nodejs_eventloop_lag_p99_seconds', 'gauge', '99th percentile of the event loop delay since the last scrape in seconds.'))
      out.sample('nodejs_eventloop_lag_p99_seconds', sec(h?.percentile(99) ?? 0));
    h?.reset();
    if (out.family('nodejs_version_info', 'gauge', 'Node.js version info.')) {
      const [major, minor, patch] = process.versions.node.split('.');
      out.sample('nodejs_version_info', 1, [['version', process.version], ['major', major], ['minor', minor], ['patch', patch]]);
    }
  }
}

function recorderOf(s: ZooKeeperServer, name: string): LatencyRecorder | undefined {
  return summaryRecorder(s, name);
}

function summarySamples(
  out: Exposition,
  name: string,
  advanced: boolean,
  rec: LatencyRecorder | undefined,
  nowMs: number,
  pairs: ReadonlyArray<[string, string]> = [],
): void {
  for (const q of advanced ? ADVANCED_QUANTILES : BASIC_QUANTILES)
    out.sample(name, rec ? rec.quantile(q, nowMs) : Number.NaN, [...pairs, ['quantile', String(q)]]);
  out.sample(`${name}_count`, rec ? rec.count : 0, pairs);
  out.sample(`${name}_sum`, rec ? rec.sum : 0, pairs);
}
