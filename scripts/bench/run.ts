/**
 * The benchmark: Apache ZooKeeper 3.8 (Debian, -Xmx1000m, forceSync on), zkts (forceSync on) and
 * the null server, one at a time, driven by the same load generator (the official Java client's
 * async API, scripts/bench/LoadDriver.java, compiled here). Every workload runs with both of the
 * client's sockets, NIO (its default) and Netty, one after the other on the same server, in
 * alternating order. Rounds alternate the servers (A B A B).
 *
 * Reports, per workload and server: ops/s, latency percentiles, server CPU per op, RSS, fsyncs
 * and txns per fsync, the longest pause (zkts: event-loop delay; ZooKeeper: GC pause), and the
 * zkts/ZooKeeper ratio; then watch fan-out, a session-connect storm, and 500k/1M-node trees (RSS,
 * snapshot time and size, restart to serving). Writes markdown, JSON and SVG to bench/results/.
 *   npm run bench                        full run
 *   npm run bench -- --smoke             a seconds-long run that only checks the benchmark works
 *   npm run bench -- --only 'get|set'    workloads whose name matches the pattern
 *   npm run bench -- --client-socket nio one client socket (nio, netty or both; default both)
 *   npm run bench -- --tls               TLS only: get/set/create over TLS 1.2 and 1.3, and a connect
 *                                        storm with full handshakes (scripts/bench/tlsbench.ts)
 *   npm run bench -- --sessions          many idle sessions (1k, 10k, 20k; BENCH_SESSIONS): RSS per
 *                                        session, connect rate, watch fan-out (scripts/bench/sessions.ts)
 *   npm run bench -- --ensemble          only the ensemble workloads (scripts/bench/ensemble.ts):
 *                                        a 3-node ZooKeeper and a 3-node zkts side by side
 * Env: BENCH_SECONDS (measured seconds per workload), BENCH_ROUNDS, BENCH_BIG (node counts,
 * comma-separated, "" to skip), BENCH_OUT (results directory), BENCH_SERVERS (e.g. "zkts", to
 * measure one server while working on it). Ensemble part: BENCH_ENSEMBLE=0 leaves it out of a full
 * run, BENCH_ENSEMBLE_ZNODES (tree for RSS and SNAP sync; default 1000000), BENCH_ENSEMBLE_TRIALS
 * (leader kills per side; default 5); an ensemble-only run writes to bench/results/ensemble/.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fourLetterWord, freePort, startReferenceZooKeeper, startZkts, type RunningServer } from '../../test/util/servers';
import { ENSEMBLE_WORKLOADS, ensembleReport, runEnsembleBench, value as ensembleValue, type EnsembleLabel, type EnsembleResult } from './ensemble';
import { mainSessions } from './sessions';
import { TLS_PROTOCOLS, tlsBenchSetup, type TlsProtocol } from './tlsbench';
import { compileDriver, DRIVER_JVM, fmt, log, median, procCpuSec, procRssMb, ROOT, runDriver, settleDisk, type ClientSocket } from './driver';

interface Workload {
  op: string;
  sessions: number;
  outstanding: number;
  valueBytes: number;
}

interface Sample {
  server: string;
  workload: string;
  socket: ClientSocket;
  opsPerSec: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  errors: number;
  serverCpuUsPerOp: number;
  clientCpuSec: number;
  rssMb: number;
  fsyncs: number;
  txnsPerFsync: number;
  pauseMaxMs: number;
}

interface Extra {
  server: string;
  name: string;
  values: Record<string, number>;
}

type Label = 'zookeeper' | 'zkts' | 'null';

/** A started server plus what the benchmark reads from it. */
interface Target {
  label: Label;
  server: RunningServer;
  /** Longest pause since the last call, in ms (NaN when not known). */
  pauseMaxMs(): Promise<number>;
}

const WARMUP_SECONDS = 1;
/** A mixed load run on each server after it starts, before any workload is measured. */
const SERVER_WARMUP_SECONDS = 5;

function name(w: Workload): string {
  return `${w.op} ${w.sessions}x${w.outstanding} ${w.valueBytes}B`;
}

async function mntr(server: RunningServer): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const text = await fourLetterWord(server.host, server.port, 'mntr', 10_000);
  for (const line of text.split('\n')) {
    const [k, v] = line.split('\t');
    if (k && v !== undefined && !Number.isNaN(Number(v))) out.set(k, Number(v));
  }
  return out;
}

async function drive(classes: string, t: Target, w: Workload, socket: ClientSocket, seconds: number, tls?: { connectString: string; protocol: TlsProtocol; props: Record<string, string> }): Promise<Sample> {
  const m0 = t.label === 'null' ? undefined : await mntr(t.server);
  await t.pauseMaxMs();
  const cpu0 = procCpuSec(t.server.pid);
  const args = [tls?.connectString ?? t.server.connectString, w.op, String(w.sessions), String(w.outstanding), String(seconds), String(w.valueBytes), String(WARMUP_SECONDS)];
  const j = runDriver(classes, socket, args, seconds + 300, tls?.props ?? {});
  const cpu1 = procCpuSec(t.server.pid);
  const pauseMaxMs = await t.pauseMaxMs();
  const m1 = t.label === 'null' ? undefined : await mntr(t.server);
  const fsyncs = m0 && m1 ? (m1.get('zk_cnt_fsynctime') ?? 0) - (m0.get('zk_cnt_fsynctime') ?? 0) : 0;
  // Server CPU covers the warm-up as well; so does the op count it is divided by.
  const opsAll = j.ops * ((seconds + WARMUP_SECONDS) / seconds);
  return {
    server: t.label,
    workload: tls ? `${name(w)} ${tls.protocol}` : name(w),
    socket,
    opsPerSec: j.opsPerSec,
    p50Us: j.p50Us,
    p99Us: j.p99Us,
    p999Us: j.p999Us,
    errors: j.errors,
    serverCpuUsPerOp: opsAll > 0 ? ((cpu1 - cpu0) * 1e6) / opsAll : 0,
    clientCpuSec: j.clientCpuSec,
    rssMb: procRssMb(t.server.pid),
    fsyncs,
    txnsPerFsync: fsyncs > 0 && isWrite(w.op) ? (opsAll * txnsPerOp(w.op)) / fsyncs : NaN,
    pauseMaxMs,
  };
}

function isWrite(op: string): boolean {
  return !['get', 'exists', 'children'].includes(op);
}

/** Txns one request makes (a mix counts its writes only). */
function txnsPerOp(op: string): number {
  if (op.startsWith('mix')) return 1 - Number(op.slice(3)) / 100;
  return 1;
}

async function startNull(): Promise<RunningServer> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'scripts', 'bench', 'nullserver.js'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('null server did not start')), 10_000);
    child.stdout!.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return {
    host: '127.0.0.1',
    port,
    pid: child.pid!,
    connectString: `127.0.0.1:${port}`,
    dataDir: '',
    log: () => '',
    stop: async () => {
      child.kill('SIGTERM');
    },
  };
}

/** ZooKeeper as zkServer.sh starts it by default, with its GC pauses logged. */
async function startZooKeeperTarget(extraConfig: Record<string, string> = {}): Promise<Target> {
  const gcLog = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zk-gc-')), 'gc.log');
  const server = await startReferenceZooKeeper({ jvmFlags: ['-Xmx1000m', `-Xlog:gc:file=${gcLog}`], extraConfig: { maxClientCnxns: '0', ...extraConfig } });
  let offset = 0;
  return {
    label: 'zookeeper',
    server: { ...server, stop: async () => { await server.stop(); fs.rmSync(path.dirname(gcLog), { recursive: true, force: true }); } },
    async pauseMaxMs() {
      let text = '';
      try {
        const buf = fs.readFileSync(gcLog);
        text = buf.subarray(offset).toString('utf8');
        offset = buf.length;
      } catch {
        return NaN;
      }
      let max = 0;
      for (const m of text.matchAll(/Pause.* ([\d.]+)ms$/gm)) max = Math.max(max, Number(m[1]));
      return max;
    },
  };
}

/** zkts with its Prometheus endpoint on, read for the longest event-loop delay. */
async function startZktsTarget(extraConfig: Record<string, string> = {}): Promise<Target> {
  const metricsPort = await freePort();
  const server = await startZkts({
    extraConfig: {
      maxClientCnxns: '0',
      'metricsProvider.className': 'org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider',
      'metricsProvider.httpHost': '127.0.0.1',
      'metricsProvider.httpPort': String(metricsPort),
      ...extraConfig,
    },
  });
  return {
    label: 'zkts',
    server,
    async pauseMaxMs() {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const m = /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text);
      return m ? Number(m[1]) * 1000 : NaN;
    },
  };
}

async function startNullTarget(): Promise<Target> {
  return { label: 'null', server: await startNull(), pauseMaxMs: async () => NaN };
}

const STARTERS: Record<Label, (extra?: Record<string, string>) => Promise<Target>> = {
  zookeeper: startZooKeeperTarget,
  zkts: startZktsTarget,
  null: startNullTarget,
};

function svgChart(rows: { workload: string; ratio: number }[]): string {
  const barH = 22;
  const width = 760;
  const left = 230;
  const scale = (width - left - 60) / Math.max(2.5, ...rows.map((r) => (Number.isFinite(r.ratio) ? r.ratio : 0)));
  const h = rows.length * barH + 50;
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" font-family="sans-serif" font-size="12">`;
  s += `<text x="10" y="18" font-weight="bold">zkts / Apache ZooKeeper 3.8 (higher is better)</text>`;
  const x1 = left + scale;
  s += `<line x1="${x1}" y1="28" x2="${x1}" y2="${h - 10}" stroke="#888" stroke-dasharray="4"/><text x="${x1 + 3}" y="${h - 12}" fill="#666">1.0</text>`;
  rows.forEach((r, i) => {
    const y = 32 + i * barH;
    const ratio = Number.isFinite(r.ratio) ? r.ratio : 0;
    s += `<text x="10" y="${y + 14}">${r.workload}</text>`;
    s += `<rect x="${left}" y="${y + 2}" width="${(ratio * scale).toFixed(1)}" height="${barH - 6}" fill="${ratio >= 1 ? '#2f7ed8' : '#d9534f'}"/>`;
    s += `<text x="${left + ratio * scale + 5}" y="${y + 14}">${ratio.toFixed(2)}x</text>`;
  });
  return s + '</svg>\n';
}

/** Watch fan-out and the connect storm, on a running server. */
function driveEvents(classes: string, socket: ClientSocket, t: Target, smoke: boolean): Extra[] {
  const out: Extra[] = [];
  const fanSessions = smoke ? 50 : 1000;
  const f = runDriver(classes, socket, [t.server.connectString, 'fanout', String(fanSessions), smoke ? '2' : '5'], 600);
  out.push({ server: t.label, name: `watch fan-out, ${fanSessions} sessions`, values: { medianMs: f.medianMs, maxMs: f.maxMs } });
  log(`${t.label.padEnd(9)} fan-out ${fanSessions}: median ${f.medianMs} ms, max ${f.maxMs} ms`);
  const stormSessions = smoke ? 200 : 10_000;
  const s = runDriver(classes, socket, [t.server.connectString, 'storm', String(stormSessions), '256'], 900);
  out.push({ server: t.label, name: `connect storm, ${stormSessions} sessions (256 at a time)`, values: { seconds: s.seconds, perSec: s.opsPerSec, p99Ms: s.p99Us / 1000, errors: s.errors } });
  log(`${t.label.padEnd(9)} storm ${stormSessions}: ${s.seconds} s, ${s.opsPerSec}/s, errors ${s.errors}`);
  return out;
}

/** How long a populated server rests before its RSS is read again. */
const REST_MS = 5000;

/** Large trees: populate, restart, and read RSS, snapshot time and size, restart time. */
async function driveBigTree(classes: string, socket: ClientSocket, label: Label, counts: number[]): Promise<Extra[]> {
  const out: Extra[] = [];
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-big-${label}-`));
  const config = { dataDir };
  let t = await STARTERS[label](config);
  try {
    let have = 0;
    for (const n of counts) {
      const p = runDriver(classes, socket, [t.server.connectString, 'populate', String(have), String(n), '100'], 3600);
      if (p.errors > 0) throw new Error(`${label}: populate had ${p.errors} errors`);
      have = n;
      const rssLoaded = procRssMb(t.server.pid);
      // The same tree at rest: what a server holding it keeps once a burst of work is over.
      await new Promise((r) => setTimeout(r, REST_MS));
      const rssRest = procRssMb(t.server.pid);
      await t.server.stop();
      settleDisk();
      const t0 = performance.now();
      t = await STARTERS[label](config);
      const restartMs = performance.now() - t0;
      // zkts serves while its start snapshot is written; wait for it to be counted.
      let m = await mntr(t.server);
      for (let i = 0; i < 600 && !((m.get('zk_cnt_snapshottime') ?? 0) > 0); i++) {
        await new Promise((r) => setTimeout(r, 100));
        m = await mntr(t.server);
      }
      const snapDir = path.join(dataDir, 'version-2');
      const snaps = fs.readdirSync(snapDir).filter((f) => f.startsWith('snapshot.')).map((f) => fs.statSync(path.join(snapDir, f)));
      const newest = snaps.sort((a, b) => b.mtimeMs - a.mtimeMs)[0];
      const values = {
        populatePerSec: p.opsPerSec,
        rssLoadedMb: rssLoaded,
        rssRestMb: rssRest,
        restartMs,
        rssRestartedMb: procRssMb(t.server.pid),
        snapshotMs: m.get('zk_max_snapshottime') ?? NaN,
        snapshotMb: newest ? newest.size / 1024 / 1024 : NaN,
        znodes: m.get('zk_znode_count') ?? NaN,
      };
      out.push({ server: label, name: `${n} znodes`, values });
      log(`${label.padEnd(9)} ${n} znodes: ${JSON.stringify(values)}`);
    }
  } finally {
    await t.server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    settleDisk();
  }
  return out;
}

/**
 * `--tls`: get, set and create through the Java client's Netty socket over TLS 1.2 and 1.3 to a
 * TLS-only secureClientPort, and a connect storm with a full handshake per session; ZooKeeper and
 * zkts alternately, `rounds` times. Writes bench/results/tls/latest.md.
 */
async function mainTls(smoke: boolean, seconds: number, rounds: number, outDir: string): Promise<void> {
  const workloads: Workload[] = [
    { op: 'get', sessions: 8, outstanding: 32, valueBytes: 100 },
    { op: 'set', sessions: 8, outstanding: 32, valueBytes: 100 },
    { op: 'create', sessions: 8, outstanding: 32, valueBytes: 100 },
  ];
  const setup = tlsBenchSetup();
  const classes = compileDriver();
  const samples: Sample[] = [];
  const extras: Extra[] = [];
  const stormSessions = smoke ? 100 : 2000;
  try {
    for (let round = 0; round < rounds; round++) {
      for (const label of (round % 2 === 0 ? ['zookeeper', 'zkts'] : ['zkts', 'zookeeper']) as Label[]) {
        const securePort = await freePort();
        const t = await STARTERS[label](setup.serverConfig(securePort));
        const connectString = `127.0.0.1:${securePort}`;
        try {
          runDriver(classes, 'netty', [connectString, 'mix50', '8', '32', String(smoke ? 1 : SERVER_WARMUP_SECONDS), '100', '0'], 300, setup.clientProps('TLSv1.2'));
          for (const protocol of TLS_PROTOCOLS) {
            for (const w of workloads) {
              const s = await drive(classes, t, w, 'netty', seconds, { connectString, protocol, props: setup.clientProps(protocol) });
              samples.push(s);
              log(`tls round ${round + 1} ${label.padEnd(9)} ${s.workload.padEnd(28)} ${s.opsPerSec.toFixed(0).padStart(7)} ops/s p99 ${s.p99Us} us`);
            }
            const st = runDriver(classes, 'netty', [connectString, 'storm', String(stormSessions), '64'], 900, setup.clientProps(protocol));
            extras.push({ server: label, name: `TLS connect storm ${protocol}, ${stormSessions} sessions (64 at a time)`, values: { perSec: st.opsPerSec, seconds: st.seconds, errors: st.errors } });
            log(`tls round ${round + 1} ${label.padEnd(9)} storm ${protocol}: ${st.opsPerSec}/s, errors ${st.errors}`);
          }
        } finally {
          await t.server.stop();
          settleDisk();
        }
      }
    }
  } finally {
    setup.cleanup();
    fs.rmSync(classes, { recursive: true, force: true });
  }
  const lines = [
    `TLS benchmark ${new Date().toISOString()}: ${rounds} round(s) of ${seconds} s per workload; medians. ZooKeeper's Java client (Debian's 3.8.0) with its Netty socket and a client certificate, to a TLS-only secureClientPort (clientAuth=need) of ZooKeeper 3.8.0 (Netty factory, -Xmx1000m) and of zkts, on the same machine.`,
    '',
    '| workload | ZK ops/s | zkts ops/s | zkts/ZK | p99 µs ZK / zkts |',
    '|---|---|---|---|---|',
  ];
  for (const n of [...new Set(samples.map((s) => s.workload))]) {
    const zk = pickMedian(samples, 'zookeeper', n, 'netty', 'opsPerSec');
    const ts = pickMedian(samples, 'zkts', n, 'netty', 'opsPerSec');
    lines.push(`| ${n} | ${fmt(zk)} | ${fmt(ts)} | ${fmt(ts / zk, 2)}x | ${fmt(pickMedian(samples, 'zookeeper', n, 'netty', 'p99Us'))} / ${fmt(pickMedian(samples, 'zkts', n, 'netty', 'p99Us'))} |`);
  }
  lines.push('', '| connect storm (full handshakes) | ZK sessions/s | zkts sessions/s | zkts/ZK |', '|---|---|---|---|');
  for (const n of [...new Set(extras.map((e) => e.name))]) {
    const zk = extraMedian(extras, 'zookeeper', n, 'perSec');
    const ts = extraMedian(extras, 'zkts', n, 'perSec');
    lines.push(`| ${n} | ${fmt(zk)} | ${fmt(ts)} | ${fmt(ts / zk, 2)}x |`);
  }
  const md = lines.join('\n') + '\n';
  process.stdout.write(md);
  if (!smoke) {
    fs.mkdirSync(path.join(outDir, 'tls'), { recursive: true });
    fs.writeFileSync(path.join(outDir, 'tls', 'latest.md'), md);
    fs.writeFileSync(path.join(outDir, 'tls', 'latest.json'), JSON.stringify({ samples, extras }, null, 2));
  }
  const errors = samples.reduce((n, s) => n + s.errors, 0) + extras.reduce((n, e) => n + (e.values.errors ?? 0), 0);
  if (errors > 0) process.exitCode = 1;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const smoke = argv.includes('--smoke');
  if (argv.includes('--sessions')) return mainSessions(smoke, process.env.BENCH_OUT ?? path.join(ROOT, 'bench', 'results'));
  if (argv.includes('--tls')) {
    const secondsTls = smoke ? 1 : Number(process.env.BENCH_SECONDS ?? 5);
    const roundsTls = smoke ? 1 : Number(process.env.BENCH_ROUNDS ?? 2);
    return mainTls(smoke, secondsTls, roundsTls, process.env.BENCH_OUT ?? path.join(ROOT, 'bench', 'results'));
  }
  const ensembleOnly = argv.includes('--ensemble');
  const onlyAt = argv.indexOf('--only');
  const only = onlyAt >= 0 ? new RegExp(argv[onlyAt + 1]) : undefined;
  const socketAt = argv.indexOf('--client-socket');
  const socketArg = socketAt >= 0 ? argv[socketAt + 1] : 'both';
  if (!['nio', 'netty', 'both'].includes(socketArg)) throw new Error(`--client-socket: nio, netty or both, not ${socketArg}`);
  const sockets: ClientSocket[] = socketArg === 'both' ? ['nio', 'netty'] : [socketArg as ClientSocket];
  // Fan-out, storm, warm-up and large trees use one socket: the client's default where it is measured.
  const eventSocket = sockets[0];
  const seconds = smoke ? 1 : Number(process.env.BENCH_SECONDS ?? 5);
  const rounds = smoke ? 1 : Number(process.env.BENCH_ROUNDS ?? 2);
  const big = (process.env.BENCH_BIG ?? (smoke ? '2000' : '500000,1000000')).split(',').filter(Boolean).map(Number);
  const outDir = process.env.BENCH_OUT ?? path.join(ROOT, 'bench', 'results', ...(ensembleOnly ? ['ensemble'] : []));
  const all: Workload[] = smoke
    ? [
        { op: 'get', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'set', sessions: 8, outstanding: 32, valueBytes: 100 },
      ]
    : [
        { op: 'get', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'get', sessions: 8, outstanding: 32, valueBytes: 1024 },
        { op: 'get', sessions: 64, outstanding: 32, valueBytes: 100 },
        { op: 'exists', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'children', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'mix90', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'mix50', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'set', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'set', sessions: 8, outstanding: 32, valueBytes: 1024 },
        { op: 'set', sessions: 64, outstanding: 32, valueBytes: 100 },
        { op: 'create', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'eseq', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'delete', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'multi', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'get', sessions: 1, outstanding: 1, valueBytes: 100 },
        { op: 'set', sessions: 1, outstanding: 1, valueBytes: 100 },
      ];
  const workloads = ensembleOnly ? [] : only ? all.filter((w) => only.test(name(w))) : all;
  const events = !ensembleOnly && (!only || only.test('fanout') || only.test('storm'));
  const classes = compileDriver();
  const samples: Sample[] = [];
  const extras: Extra[] = [];
  const servers = (process.env.BENCH_SERVERS ?? 'zookeeper,zkts,null').split(',') as Label[];
  // No standalone server is started when nothing is to be measured on one (--ensemble, --only ensemble).
  const order: Label[] = workloads.length === 0 && !events ? [] : (['zookeeper', 'zkts', 'null'] as Label[]).filter((l) => servers.includes(l));
  for (let round = 0; round < rounds; round++) {
    for (const label of round % 2 === 0 ? order : [...order].reverse()) {
      const t = await STARTERS[label]();
      try {
        // Unmeasured, so that ZooKeeper's JIT has compiled its paths before the first workload.
        if (label !== 'null') runDriver(classes, eventSocket, [t.server.connectString, 'mix50', '8', '32', String(smoke ? 1 : SERVER_WARMUP_SECONDS), '100', '0'], 300);
        for (const w of workloads) {
          if (label === 'null' && isWrite(w.op)) continue;
          // Both sockets back to back on the same server, the first one alternating with the
          // round, so that a server's warming up or the machine's load hits both alike.
          for (const socket of round % 2 === 0 ? sockets : [...sockets].reverse()) {
            const s = await drive(classes, t, w, socket, seconds);
            samples.push(s);
            log(`round ${round + 1} ${label.padEnd(9)} ${s.workload.padEnd(20)} ${socket.padEnd(5)} ${s.opsPerSec.toFixed(0).padStart(7)} ops/s p99 ${s.p99Us} us, pause ${fmt(s.pauseMaxMs, 1)} ms, client cpu ${s.clientCpuSec}s`);
          }
        }
        if (events && label !== 'null') extras.push(...driveEvents(classes, eventSocket, t, smoke));
      } finally {
        await t.server.stop();
        settleDisk();
      }
    }
  }
  if (!ensembleOnly && (!only || only.test('znodes'))) {
    for (const label of (['zookeeper', 'zkts'] as Label[]).filter((l) => servers.includes(l))) {
      try {
        extras.push(...(await driveBigTree(classes, eventSocket, label, big)));
      } catch (e) {
        log(`${label}: large tree failed: ${(e as Error).message.slice(0, 500)}`);
        extras.push({ server: label, name: `large tree failed`, values: {} });
      }
    }
  }
  // A plain --smoke leaves the ensembles out: `--smoke --ensemble` checks them on their own.
  const withEnsemble = ensembleOnly || (!smoke && !only && process.env.BENCH_ENSEMBLE !== '0') || (only?.test('ensemble') ?? false);
  const ensembleOpts = {
    classes,
    smoke,
    seconds,
    warmupSeconds: WARMUP_SECONDS,
    serverWarmupSeconds: smoke ? 1 : SERVER_WARMUP_SECONDS,
    failoverTrials: smoke ? 1 : Number(process.env.BENCH_ENSEMBLE_TRIALS ?? 5),
    znodes: smoke ? 2000 : Number(process.env.BENCH_ENSEMBLE_ZNODES ?? 1_000_000),
    rounds,
  };
  const ensemble: EnsembleResult[] = withEnsemble
    ? await runEnsembleBench(ensembleOpts, (['zookeeper', 'zkts'] as EnsembleLabel[]).filter((l) => servers.includes(l)))
    : [];
  let md = ensembleOnly ? '' : report(samples, extras, workloads, { rounds, seconds, sockets, eventSocket });
  if (withEnsemble) md += (md ? '\n' : `Benchmark ${new Date().toISOString()}, ensemble workloads only.\n\n`) + ensembleReport(ensemble, ensembleOpts);
  process.stdout.write(md);
  if (!smoke) {
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'latest.md'), md);
    fs.writeFileSync(path.join(outDir, 'latest.json'), JSON.stringify({ samples, extras, ensemble }, null, 2));
    const rows = [...chartRows(samples, extras, workloads, sockets), ...ensembleChartRows(ensemble, ensembleOpts.znodes)];
    fs.writeFileSync(path.join(outDir, 'latest.svg'), svgChart(rows));
  }
  fs.rmSync(classes, { recursive: true, force: true });
  const errors =
    samples.reduce((n, s) => n + s.errors, 0) + extras.reduce((n, e) => n + (e.values.errors ?? 0), 0) + ensemble.reduce((n, e) => n + (e.values.errors ?? 0), 0);
  if (errors > 0) process.exitCode = 1;
}

function pickMedian(samples: Sample[], server: string, workload: string, socket: ClientSocket, k: keyof Sample): number {
  return median(samples.filter((s) => s.server === server && s.workload === workload && s.socket === socket).map((s) => s[k] as number));
}

function extraMedian(extras: Extra[], server: string, nameOf: string, k: string): number {
  return median(extras.filter((e) => e.server === server && e.name === nameOf).map((e) => e.values[k] ?? NaN));
}

/** Ensemble ratios, each oriented so that higher is better for zkts. */
function ensembleChartRows(results: EnsembleResult[], znodes: number): { workload: string; ratio: number }[] {
  if (results.length === 0) return [];
  const v = (server: EnsembleLabel, n: string, k: string) => ensembleValue(results, server, n, k);
  const rows = ENSEMBLE_WORKLOADS.map((w) => {
    const n = `ensemble ${w.op} 8x32 100B`;
    return { workload: `ensemble ${w.op}, ops/s`, ratio: v('zkts', n, 'opsPerSec') / v('zookeeper', n, 'opsPerSec') };
  });
  rows.push({ workload: 'ensemble failover (1/time)', ratio: v('zookeeper', 'ensemble failover', 'freshMs') / v('zkts', 'ensemble failover', 'freshMs') });
  const big = `ensemble ${znodes} znodes`;
  rows.push({ workload: `ensemble SNAP sync (1/time)`, ratio: v('zookeeper', big, 'snapSyncMs') / v('zkts', big, 'snapSyncMs') });
  rows.push({ workload: `ensemble member RSS (1/MB)`, ratio: v('zookeeper', big, 'rssMaxMb') / v('zkts', big, 'rssMaxMb') });
  return rows;
}

function chartRows(samples: Sample[], extras: Extra[], workloads: Workload[], sockets: ClientSocket[]): { workload: string; ratio: number }[] {
  const rows = workloads.flatMap((w) =>
    sockets.map((socket) => ({
      workload: `${name(w)}, ${socket}`,
      ratio: pickMedian(samples, 'zkts', name(w), socket, 'opsPerSec') / pickMedian(samples, 'zookeeper', name(w), socket, 'opsPerSec'),
    })),
  );
  for (const n of new Set(extras.map((e) => e.name))) {
    if (n.startsWith('watch fan-out')) rows.push({ workload: 'fan-out (1/time)', ratio: extraMedian(extras, 'zookeeper', n, 'medianMs') / extraMedian(extras, 'zkts', n, 'medianMs') });
    if (n.startsWith('connect storm')) rows.push({ workload: 'connect storm', ratio: extraMedian(extras, 'zkts', n, 'perSec') / extraMedian(extras, 'zookeeper', n, 'perSec') });
    if (n.endsWith('znodes')) {
      rows.push({ workload: `${n}: RSS (1/MB)`, ratio: extraMedian(extras, 'zookeeper', n, 'rssRestartedMb') / extraMedian(extras, 'zkts', n, 'rssRestartedMb') });
      rows.push({ workload: `${n}: restart (1/time)`, ratio: extraMedian(extras, 'zookeeper', n, 'restartMs') / extraMedian(extras, 'zkts', n, 'restartMs') });
    }
  }
  return rows;
}

function report(samples: Sample[], extras: Extra[], workloads: Workload[], run: { rounds: number; seconds: number; sockets: ClientSocket[]; eventSocket: ClientSocket }): string {
  const cpu = os.cpus();
  const lines = [
    `Benchmark ${new Date().toISOString()} on ${cpu.length} cores (${cpu[0]?.model ?? 'cpu'}), ${Math.round(os.totalmem() / 2 ** 20)} MB RAM; ${run.rounds} round(s), ${run.seconds} s measured per workload after ${WARMUP_SECONDS} s warm-up; medians over rounds.`,
    `Client: ZooKeeper's Java client (async API), ${DRIVER_JVM.join(' ')}, with its ${run.sockets.map((s) => (s === 'nio' ? 'NIO socket (its default)' : 'Netty socket')).join(' and its ')}${run.sockets.length > 1 ? ': each workload runs with both, back to back on the same server' : ''}; fan-out and large trees use ${run.eventSocket === 'nio' ? 'NIO' : 'Netty'}. ZooKeeper 3.8 runs with -Xmx1000m; both servers fsync every write (forceSync=yes).`,
    '',
    'Workload names: op sessions x outstanding value size. mixNN: NN % getData, the rest setData. Pause: the longest event-loop delay (zkts) or GC pause (ZooKeeper) during the workload. Txns/fsync: writes per log fsync.',
    '',
    '| workload | client socket | ZK ops/s | zkts ops/s | zkts/ZK | null ops/s | zkts % of null | p50 µs ZK / zkts | p99 µs ZK / zkts | p99.9 µs ZK / zkts | server CPU µs/op ZK / zkts | RSS MB ZK / zkts | txns/fsync ZK / zkts | max pause ms ZK / zkts |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const w of workloads) for (const socket of run.sockets) {
    const n = name(w);
    const m = (server: string, k: keyof Sample) => pickMedian(samples, server, n, socket, k);
    const zk = m('zookeeper', 'opsPerSec');
    const ts = m('zkts', 'opsPerSec');
    const nul = m('null', 'opsPerSec');
    const pair = (k: keyof Sample, d = 0) => `${fmt(m('zookeeper', k), d)} / ${fmt(m('zkts', k), d)}`;
    lines.push(
      `| ${n} | ${socket} | ${fmt(zk)} | ${fmt(ts)} | ${fmt(ts / zk, 2)}x | ${fmt(nul)} | ${Number.isNaN(nul) ? '-' : fmt((ts / nul) * 100) + ' %'} | ${pair('p50Us')} | ${pair('p99Us')} | ${pair('p999Us')} | ${pair('serverCpuUsPerOp', 1)} | ${pair('rssMb')} | ${pair('txnsPerFsync', 1)} | ${pair('pauseMaxMs', 1)} |`,
    );
  }
  const errors = samples.reduce((n, s) => n + s.errors, 0);
  lines.push('', `Errors returned to the client: ${errors}. Client CPU per workload (s, median): ${fmt(median(samples.map((s) => s.clientCpuSec)), 2)}.`);
  const names = [...new Set(extras.map((e) => e.name))];
  const ev = names.filter((n) => !n.endsWith('znodes') && !n.includes('failed'));
  if (ev.length) {
    lines.push('', '| event workload | ZooKeeper | zkts | zkts better by |', '| --- | --- | --- | --- |');
    for (const n of ev) {
      const v = (s: string, k: string) => extraMedian(extras, s, n, k);
      if (n.startsWith('watch fan-out')) {
        lines.push(`| ${n}: setData to last notification, median ms | ${fmt(v('zookeeper', 'medianMs'), 1)} | ${fmt(v('zkts', 'medianMs'), 1)} | ${fmt(v('zookeeper', 'medianMs') / v('zkts', 'medianMs'), 2)}x |`);
        lines.push(`| ${n}: worst round, ms | ${fmt(v('zookeeper', 'maxMs'), 1)} | ${fmt(v('zkts', 'maxMs'), 1)} | ${fmt(v('zookeeper', 'maxMs') / v('zkts', 'maxMs'), 2)}x |`);
      } else {
        lines.push(`| ${n}: sessions/s | ${fmt(v('zookeeper', 'perSec'))} | ${fmt(v('zkts', 'perSec'))} | ${fmt(v('zkts', 'perSec') / v('zookeeper', 'perSec'), 2)}x |`);
        lines.push(`| ${n}: p99 connect ms | ${fmt(v('zookeeper', 'p99Ms'), 1)} | ${fmt(v('zkts', 'p99Ms'), 1)} | ${fmt(v('zookeeper', 'p99Ms') / v('zkts', 'p99Ms'), 2)}x |`);
      }
    }
  }
  const trees = names.filter((n) => n.endsWith('znodes') || n.includes('failed'));
  if (trees.length) {
    lines.push('', '| large tree (100 B values, 1,000 children per parent) | ZooKeeper | zkts | zkts better by |', '| --- | --- | --- | --- |');
    const rows: [string, string, number, boolean][] = [
      ['RSS right after populating, MB', 'rssLoadedMb', 0, false],
      ['RSS 5 s after populating, MB', 'rssRestMb', 0, false],
      ['RSS after restart, MB', 'rssRestartedMb', 0, false],
      ['restart to serving, ms', 'restartMs', 0, false],
      ['snapshot at start, ms', 'snapshotMs', 0, false],
      ['snapshot size, MB', 'snapshotMb', 1, false],
      ['populate, creates/s', 'populatePerSec', 0, true],
    ];
    for (const n of trees) {
      if (n.includes('failed')) {
        lines.push(`| large tree failed on ${extras.filter((e) => e.name === n).map((e) => e.server).join(', ')} | | | |`);
        continue;
      }
      for (const [label, k, d, higher] of rows) {
        const zk = extraMedian(extras, 'zookeeper', n, k);
        const ts = extraMedian(extras, 'zkts', n, k);
        lines.push(`| ${n}: ${label} | ${fmt(zk, d)} | ${fmt(ts, d)} | ${fmt(higher ? ts / zk : zk / ts, 2)}x |`);
      }
    }
  }
  return lines.join('\n') + '\n';
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});
