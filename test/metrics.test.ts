// Prometheus metrics (/metrics) as ZooKeeper 3.8's PrometheusMetricsProvider serves them, the
// request latency recorder behind readlatency/updatelatency, and `zkts status`.
import t from 'tap';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import pino from 'pino';
import { promDouble, PrometheusMetrics, zookeeperMetricDefs } from '../src/admin/metrics';
import { LatencyRecorder, WINDOW_MS } from '../src/admin/metricslatency';
import { MetricsServer } from '../src/admin/metricsserver';
import { fetchStatus, formatStatus, parseMntr, parseSrvr } from '../src/admin/status';
import { fourLetterWord, freePort, startZkts } from './util/servers';
import { startInProcessZkts, ZkClient, type InProcessServer } from './util/client';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const SAMPLE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? (NaN|[+-]Inf|-?\d+(?:\.\d+)?(?:E-?\d+)?)$/;
const LABEL_RE = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** A strict reader of text format 0.0.4: every line must parse, every sample must follow its family's HELP and TYPE. */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  let current: Family | undefined;
  if (text !== '' && !text.endsWith('\n')) throw new Error('exposition does not end with a newline');
  for (const line of text.split('\n').slice(0, -1)) {
    let m: RegExpExecArray | null;
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line))) {
      if (families.has(m[1])) throw new Error(`family ${m[1]} declared twice`);
      current = { name: m[1], type: '', help: m[2], samples: [] };
      families.set(m[1], current);
    } else if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary|histogram|untyped)$/.exec(line))) {
      if (!current || current.name !== m[1] || current.type !== '') throw new Error(`TYPE without its HELP: ${line}`);
      current.type = m[2];
    } else if ((m = SAMPLE_RE.exec(line))) {
      if (!current || current.type === '') throw new Error(`sample before HELP/TYPE: ${line}`);
      const name = m[1];
      const suffixes = current.type === 'summary' ? ['', '_count', '_sum'] : current.type === 'histogram' ? ['_bucket', '_count', '_sum'] : [''];
      if (!suffixes.some((s) => name === current!.name + s)) throw new Error(`sample ${name} outside its family ${current.name}`);
      const labels: Record<string, string> = {};
      for (const l of (m[3] ?? '').matchAll(LABEL_RE)) labels[l[1]] = l[2];
      const v = m[4];
      current.samples.push({ name, labels, value: v === 'NaN' ? NaN : v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
    } else {
      throw new Error(`unparseable line: ${JSON.stringify(line)}`);
    }
  }
  return families;
}

function value(fams: Map<string, Family>, family: string, sample = family, labels: Record<string, string> = {}): number {
  const f = fams.get(family);
  if (!f) throw new Error(`no family ${family}`);
  const s = f.samples.find((x) => x.name === sample && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  if (!s) throw new Error(`no sample ${sample} ${JSON.stringify(labels)}`);
  return s.value;
}

function httpGet(port: number, p: string, method = 'GET'): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${p}: no answer`)));
    req.end();
  });
}

async function withMetrics(extra: Record<string, string>, fn: (zk: InProcessServer, scrape: () => Promise<Map<string, Family>>, port: number) => Promise<void>): Promise<void> {
  const zk = await startInProcessZkts(extra);
  const ms = new MetricsServer('127.0.0.1', 0, new PrometheusMetrics(true), pino({ level: 'silent' }));
  await ms.start();
  ms.metrics.attach(zk.server);
  const port = ms.address().port;
  const scrape = async () => {
    const r = await httpGet(port, '/metrics');
    if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
    return parseExposition(r.body);
  };
  try {
    await fn(zk, scrape, port);
  } finally {
    await ms.stop();
    await zk.stop();
  }
}

t.test('values are written as Java doubles, as ZooKeeper\'s Prometheus client writes them', async (t) => {
  t.equal(promDouble(0), '0.0');
  t.equal(promDouble(5), '5.0');
  t.equal(promDouble(1.5), '1.5');
  t.equal(promDouble(9999999), '9999999.0');
  t.equal(promDouble(1e7), '1.0E7');
  t.equal(promDouble(1795594039.325), '1.795594039325E9');
  t.equal(promDouble(0.0001), '1.0E-4');
  t.equal(promDouble(NaN), 'NaN');
  t.equal(promDouble(Infinity), '+Inf');
  t.equal(promDouble(-Infinity), '-Inf');
});

t.test('latency recorder: exact for whole milliseconds, windowed quantiles, lifetime count and sum', async (t) => {
  const r = new LatencyRecorder(0);
  t.ok(Number.isNaN(r.quantile(0.5, 0)), 'no observations: NaN');
  for (let i = 0; i < 90; i++) r.observe(1, 10);
  for (let i = 0; i < 9; i++) r.observe(3, 10);
  r.observe(250, 10);
  t.equal(r.count, 100);
  t.equal(r.sum, 90 + 27 + 250);
  t.equal(r.min, 1);
  t.equal(r.max, 250);
  t.equal(r.quantile(0.5, 10), 1);
  t.equal(r.quantile(0.9, 10), 1);
  t.equal(r.quantile(0.95, 10), 3);
  t.ok(r.quantile(0.999, 10) > 200 && r.quantile(0.999, 10) <= 250, 'the tail falls in the slow bucket');
  r.observe(-1, 10);
  t.equal(r.count, 100, 'a negative latency (clock step) is not recorded');
  t.equal(r.windowCount(WINDOW_MS - 1), 100, 'still inside the window');
  r.observe(7, WINDOW_MS + 1);
  t.equal(r.windowCount(WINDOW_MS + 1), 1, 'old observations age out of the quantiles');
  t.equal(r.quantile(0.5, WINDOW_MS + 1), 7);
  t.equal(r.count, 101, 'but _count keeps them');
  t.equal(r.windowCount(10 * WINDOW_MS), 0, 'a long idle time empties the window');
});

t.test('metric names, types and quantiles are ZooKeeper 3.9\'s', async (t) => {
  const defs = new Map(zookeeperMetricDefs().map((d) => [d.name, d]));
  // Counts of ZooKeeper 3.9.5's ServerMetrics (counters, BASIC and ADVANCED summaries, sets) and
  // of ZooKeeperServer's registered gauges: 3.8.0's plus 4 counters and a BASIC summary of the
  // snapshot and restore commands.
  const count = (p: (d: ReturnType<typeof zookeeperMetricDefs>[number]) => boolean) => [...defs.values()].filter(p).length;
  t.equal(count((d) => d.type === 'counter' && !d.labelled), 51);
  t.equal(count((d) => d.type === 'gauge' && !d.labelled), 24);
  t.equal(count((d) => d.type === 'summary' && !d.labelled && !d.advanced), 42);
  t.same(defs.get('restore_time'), { name: 'restore_time', type: 'summary', advanced: false });
  t.same(defs.get('snapshot_rate_limited_count'), { name: 'snapshot_rate_limited_count', type: 'counter' });
  t.equal(count((d) => d.type === 'summary' && !d.labelled && d.advanced === true), 23);
  t.equal(count((d) => d.labelled === true), 10);
  t.same(defs.get('readlatency'), { name: 'readlatency', type: 'summary', advanced: true });
  t.same(defs.get('updatelatency'), { name: 'updatelatency', type: 'summary', advanced: true });
  t.same(defs.get('fsynctime'), { name: 'fsynctime', type: 'summary', advanced: false });
  t.same(defs.get('commit_count'), { name: 'commit_count', type: 'counter' });
  t.same(defs.get('znode_count'), { name: 'znode_count', type: 'gauge' });
  t.same(defs.get('packets_received'), { name: 'packets_received', type: 'gauge' });
  t.notOk(defs.has('version') || defs.has('server_state'), 'mntr-only strings are not metrics');
});

t.test('/metrics: a valid exposition with HELP and TYPE for every family', async (t) => {
  await withMetrics({}, async (zk, scrape, port) => {
    const r = await httpGet(port, '/metrics');
    t.equal(r.status, 200);
    t.equal(r.type, 'text/plain; version=0.0.4; charset=utf-8');
    const fams = parseExposition(r.body);
    for (const d of zookeeperMetricDefs()) {
      const f = fams.get(d.name);
      t.ok(f, `${d.name} served`);
      if (!f) continue;
      t.equal(f.type, d.type, `${d.name} is a ${d.type}`);
      t.equal(f.help, d.name, 'ZooKeeper uses the name as HELP');
      if (d.labelled) continue;
      if (d.type === 'summary') {
        const qs = f.samples.filter((s) => s.name === d.name).map((s) => s.labels.quantile);
        t.same(qs, d.advanced ? ['0.5', '0.9', '0.99'] : ['0.5'], `${d.name} quantiles`);
        t.equal(f.samples.filter((s) => s.name === `${d.name}_count` || s.name === `${d.name}_sum`).length, 2);
      } else t.equal(f.samples.length, 1, `${d.name} has one sample`);
    }
    t.ok(/^readlatency\{quantile="0.5",\} /m.test(r.body), 'labels end with a comma, as simpleclient writes them');
    for (const n of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'process_max_fds', 'process_start_time_seconds', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes'])
      t.ok(fams.has(n), `${n} served (exportJvmInfo)`);
    t.equal(fams.get('process_cpu_seconds_total')?.type, 'counter');
    t.ok(value(fams, 'process_open_fds') > 0);
    t.ok(Math.abs(value(fams, 'process_start_time_seconds') - Date.now() / 1000) < 3600);
    t.equal(value(fams, 'znode_count'), 5, 'gauges read the live server (the root counted twice, as ZooKeeper does)');
    t.equal((await httpGet(port, '/')).status, 404);
    t.equal((await httpGet(port, '/metrics', 'DELETE')).status, 405);
    const only = parseExposition((await httpGet(port, '/metrics?name[]=znode_count&name[]=readlatency')).body);
    t.same([...only.keys()], ['znode_count', 'readlatency'], 'name[] selects families');
    void zk;
    void scrape;
  });
});

t.test('/metrics: latencies recorded per request, counters monotonic', async (t) => {
  await withMetrics({ '4lw.commands.whitelist': '*' }, async (zk, scrape) => {
    const before = await scrape();
    const c = await ZkClient.connect(zk.host, zk.port);
    const reads0 = value(before, 'readlatency', 'readlatency_count');
    const updates0 = value(before, 'updatelatency', 'updatelatency_count');
    for (let i = 0; i < 10; i++) await c.create(`/m${i}`, Buffer.from('x'));
    for (let i = 0; i < 25; i++) await c.getData(`/m${i % 10}`);
    await c.exists('/nope');
    const after = await scrape();
    t.equal(value(after, 'updatelatency', 'updatelatency_count') - updates0, 10, 'each create is an update');
    t.equal(value(after, 'readlatency', 'readlatency_count') - reads0, 26, 'each getData/exists is a read');
    t.ok(value(after, 'readlatency', 'readlatency_sum') >= 0);
    t.notOk(Number.isNaN(value(after, 'readlatency', 'readlatency', { quantile: '0.99' })), 'quantiles once there are reads');
    t.ok(Number.isNaN(value(after, 'fsynctime', 'fsynctime', { quantile: '0.5' })), 'an unrecorded summary has NaN quantiles');
    t.equal(value(after, 'znode_count'), 15);
    t.same(
      after.get('write_per_namespace')?.samples.filter((s) => s.name === 'write_per_namespace_count').map((s) => s.labels.key),
      Array.from({ length: 10 }, (_, i) => `m${i}`).sort(),
      'per-namespace summaries have a child per namespace, as in mntr',
    );
    const bytes1 = value(after, 'bytes_received_count');
    t.ok(bytes1 > 0, 'bytes_received_count is real');
    // srst resets mntr's values; a Prometheus counter must not go back.
    t.equal(await fourLetterWord(zk.host, zk.port, 'srst'), 'Server stats reset.\n');
    await c.getData('/m1');
    const later = await scrape();
    for (const f of later.values())
      if (f.type === 'counter' || f.type === 'summary')
        for (const s of f.samples) {
          if (f.type === 'summary' && s.name === f.name) continue;
          const prev = after.get(f.name)?.samples.find((p) => p.name === s.name && JSON.stringify(p.labels) === JSON.stringify(s.labels));
          if (prev) t.ok(s.value >= prev.value, `${s.name}${JSON.stringify(s.labels)} did not go back`);
        }
    t.ok(value(later, 'bytes_received_count') > bytes1, 'counter keeps growing across srst');
    t.equal(value(later, 'packets_received') < value(after, 'packets_received'), true, 'packets_received is a gauge and follows srst, as in ZooKeeper');
    c.destroy();
  });
});

t.test('the metric names of ZooKeeper\'s Grafana dashboard are served', async (t) => {
  const fixture = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'grafana-zookeeper-metrics.json'), 'utf8')) as { metrics: string[] };
  t.ok(fixture.metrics.length > 100);
  // A standalone ZooKeeper 3.8 does not serve these either: the leader's and learners' gauges
  // and summary sets are registered only in a quorum, and jvm_* come from the JVM.
  const QUORUM_ONLY = ['quorum_size', 'leader_uptime', 'learners', 'synced_non_voting_followers', 'synced_observers', 'last_proposal_size', 'max_proposal_size', 'min_proposal_size'];
  const JVM = ['jvm_classes_loaded', 'jvm_threads_current', 'jvm_threads_deadlocked', 'jvm_threads_state', 'jvm_memory_pool_bytes_used', 'jvm_gc_collection_seconds_sum'];
  await withMetrics({}, async (_zk, scrape) => {
    const fams = await scrape();
    const served = (n: string): boolean => {
      const f = fams.get(n);
      if (f) return true;
      const m = /^(.*)_(count|sum|bucket|total)$/.exec(n);
      if (!m) return false;
      const base = fams.get(m[1]);
      if (!base) return false;
      if (m[2] === 'bucket') return base.type === 'histogram';
      if (m[2] === 'total') return base.type === 'counter';
      return base.type === 'summary' || base.type === 'histogram';
    };
    const missing = fixture.metrics.filter((n) => !served(n));
    t.same(missing.sort(), [...QUORUM_ONLY, ...JVM].filter((n) => fixture.metrics.includes(n)).sort(), 'only quorum-only and JVM names are missing');
    t.ok(fixture.metrics.filter(served).length >= 110, 'the dashboard\'s ZooKeeper metrics are served');
  });
});

t.test('zkts status: mntr, and srvr when mntr is not whitelisted', async (t) => {
  t.same([...parseMntr('zk_version\t3.8.0\nzk_znode_count\t5\n')], [['version', '3.8.0'], ['znode_count', '5']]);
  t.equal(parseSrvr('Zxid: 0x1f\nMode: standalone\n').get('Zxid'), '0x1f');
  const all = await startInProcessZkts({ '4lw.commands.whitelist': '*' });
  const srvrOnly = await startInProcessZkts({ '4lw.commands.whitelist': 'srvr' });
  try {
    const c = await ZkClient.connect(all.host, all.port);
    await c.create('/s', Buffer.from('abc'));
    const st = await fetchStatus(`${all.host}:${all.port}`);
    t.same(st.sources, ['mntr', 'srvr']);
    t.equal(st.mode, 'standalone');
    t.equal(st.znodes, '6');
    t.equal(st.sessions, '1');
    t.equal(st.zxid, '0x2');
    t.match(st.version ?? '', /zkts/);
    const text = formatStatus(st);
    t.match(text, /^Mode: +standalone$/m);
    t.match(text, /^Latency: +min\/avg\/max \d+\/[\d.]+\/\d+ ms$/m);
    t.match(text, /^Sessions: +1$/m);
    c.destroy();
    const fallback = await fetchStatus(`${srvrOnly.host}:${srvrOnly.port}`);
    t.same(fallback.sources, ['srvr']);
    t.equal(fallback.mode, 'standalone');
    t.equal(fallback.znodes, '5');
    t.match(formatStatus(fallback), /^Sessions: +unknown \(mntr not whitelisted\)$/m);
  } finally {
    await all.stop();
    await srvrOnly.stop();
  }
});

t.test('zkts server serves /metrics with the Prometheus provider; zkts status reads it', async (t) => {
  const metricsPort = await freePort();
  const zk = await startZkts({
    extraConfig: {
      'metricsProvider.className': 'org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider',
      'metricsProvider.httpPort': String(metricsPort),
      'metricsProvider.httpHost': '127.0.0.1',
      'metricsProvider.exportJvmInfo': 'false',
    },
  });
  try {
    const fams = parseExposition((await httpGet(metricsPort, '/metrics')).body);
    t.equal(value(fams, 'znode_count'), 5);
    t.notOk(fams.has('process_cpu_seconds_total'), 'exportJvmInfo=false leaves out the process metrics');
    const cli = path.resolve(__dirname, '..', 'src', 'cli.js');
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const r = spawnSync(process.execPath, [cli, 'status', zk.connectString], { encoding: 'utf8', env, timeout: 20_000 });
    t.equal(r.status, 0, r.stderr);
    t.match(r.stdout, /^Mode: +standalone$/m);
    t.match(r.stdout, /^Znodes: +5$/m);
    const down = spawnSync(process.execPath, [cli, 'status', `127.0.0.1:${await freePort()}`], { encoding: 'utf8', env, timeout: 20_000 });
    t.equal(down.status, 1, 'an unreachable server is an error');
    t.match(down.stderr, /zkts: status of/);
  } finally {
    await zk.stop();
  }
});

t.test('a disk-backed server: fsyncs, batches, snapshots and startup summaries are real', async (t) => {
  const metricsPort = await freePort();
  const zk = await startZkts({
    extraConfig: {
      snapCount: '20',
      '4lw.commands.whitelist': '*',
      'metricsProvider.className': 'org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider',
      'metricsProvider.httpPort': String(metricsPort),
      'metricsProvider.httpHost': '127.0.0.1',
      'metricsProvider.exportJvmInfo': 'false',
    },
  });
  t.teardown(() => zk.stop());
  const mntr = async () => {
    const m = new Map<string, number>();
    for (const line of (await fourLetterWord(zk.host, zk.port, 'mntr')).split('\n')) {
      const [k, v] = line.split('\t');
      if (k) m.set(k.replace(/^zk_/, ''), Number(v));
    }
    return m;
  };
  // The start snapshot is written while clients are already served: wait for it (bounded).
  let m0 = await mntr();
  for (let i = 0; i < 100 && m0.get('cnt_snapshottime') !== 1; i++) {
    await new Promise((r) => setTimeout(r, 50));
    m0 = await mntr();
  }
  t.equal(m0.get('cnt_snapshottime'), 1, 'the snapshot taken at start');
  t.equal(m0.get('cnt_dbinittime'), 1);
  t.equal(m0.get('cnt_startup_txns_loaded'), 1);
  t.equal(m0.get('cnt_startup_snap_load_time'), 1);
  const c = await ZkClient.connect(zk.host, zk.port);
  t.teardown(() => c.destroy());
  for (let i = 0; i < 40; i++) await c.create(`/f${i}`, null);
  let m1 = await mntr();
  for (let i = 0; i < 50 && m1.get('cnt_snapshottime')! < 2; i++) {
    await new Promise((r) => setTimeout(r, 50));
    m1 = await mntr();
  }
  t.ok(m1.get('cnt_fsynctime')! > m0.get('cnt_fsynctime')!, 'fsyncs counted');
  t.ok(m1.get('sum_sync_processor_batch_size')! >= 41, 'every txn (session + 40 creates) in some batch');
  t.ok(m1.get('cnt_snapshottime')! >= 2, 'a snapshot after snapCount txns');
  t.equal(m1.get('snap_count'), 0, 'snap_count counts SNAP syncs to learners, none in standalone');
  t.equal(m1.get('connection_request_count'), 1);

  const fams = parseExposition((await httpGet(metricsPort, '/metrics')).body);
  t.equal(value(fams, 'fsynctime', 'fsynctime_count'), m1.get('cnt_fsynctime'));
  t.ok(value(fams, 'sync_processor_batch_size', 'sync_processor_batch_size_sum') >= 41);
  t.ok(value(fams, 'snapshottime', 'snapshottime_count') >= 2);
  t.equal(value(fams, 'connection_request_count'), 1);
  t.ok(value(fams, 'prep_processor_request_queued') >= 41);
});

t.test("zkts's own families: connections held and closed for unsent replies", async (t) => {
  await withMetrics({}, async (zk, scrape) => {
    const families = await scrape();
    const types = Object.fromEntries(
      ['zkts_output_paused_connections', 'zkts_output_pending_bytes', 'zkts_output_pause_count', 'zkts_output_overflow_closed_count'].map((n) => [n, families.get(n)?.type]),
    );
    t.same(types, {
      zkts_output_paused_connections: 'gauge',
      zkts_output_pending_bytes: 'gauge',
      zkts_output_pause_count: 'counter',
      zkts_output_overflow_closed_count: 'counter',
    });
    zk.server.metrics.outputOverflowCloses += 2;
    const after = await scrape();
    t.same(after.get('zkts_output_overflow_closed_count')?.samples.map((s) => s.value), [2], 'the counter follows the server');
    t.same(after.get('zkts_output_paused_connections')?.samples.map((s) => s.value), [0]);
  });
});
