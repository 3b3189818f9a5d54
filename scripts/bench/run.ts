/**
 * The benchmark: Apache ZooKeeper 3.8 (Debian, -Xmx1000m, forceSync on), zkts (forceSync on) and
 * the null server, one at a time, driven by the same load generator (the official Java client's
 * async API, scripts/bench/LoadDriver.java, compiled here). Rounds alternate the servers (A B A B).
 * Reports ops/s, latency percentiles, server CPU per op, RSS and the zkts/ZooKeeper ratio, as
 * markdown and SVG in bench/results/.
 *   npm run bench                 full run
 *   npm run bench -- --smoke      a seconds-long run that only checks the benchmark works
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, javaClasspath, startReferenceZooKeeper, startZkts, type RunningServer } from '../../test/util/servers';

interface Workload {
  op: string;
  sessions: number;
  outstanding: number;
  valueBytes: number;
}

interface Sample {
  server: string;
  workload: string;
  opsPerSec: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  errors: number;
  serverCpuUsPerOp: number;
  clientCpuSec: number;
  rssMb: number;
}

const ROOT = path.resolve(__dirname, '..', '..', '..');
const RESULTS = path.join(ROOT, 'bench', 'results');
const TICKS_PER_SEC = 100;

function name(w: Workload): string {
  return `${w.op} ${w.sessions}x${w.outstanding} ${w.valueBytes}B`;
}

function procCpuSec(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC;
}

function procRssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

function compileDriver(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-bench-'));
  const r = spawnSync('javac', ['-d', dir, '-cp', javaClasspath(), path.join(ROOT, 'scripts', 'bench', 'LoadDriver.java')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`javac failed: ${r.stderr}`);
  return dir;
}

function drive(classes: string, server: { connectString: string; pid: number }, w: Workload, seconds: number, label: string): Sample {
  const cpu0 = procCpuSec(server.pid);
  const r = spawnSync('java', ['-Xmx512m', '-cp', [classes, javaClasspath()].join(':'), '-Dlog4j.configuration=file:/dev/null', 'LoadDriver', server.connectString, w.op, String(w.sessions), String(w.outstanding), String(seconds), String(w.valueBytes)], { encoding: 'utf8', timeout: (seconds + 120) * 1000 });
  const cpu1 = procCpuSec(server.pid);
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`${label} ${name(w)}: no result (exit ${r.status}): ${r.stderr.slice(-2000)}`);
  const j = JSON.parse(line) as { ops: number; errors: number; opsPerSec: number; p50Us: number; p99Us: number; p999Us: number; clientCpuSec: number };
  return {
    server: label,
    workload: name(w),
    opsPerSec: j.opsPerSec,
    p50Us: j.p50Us,
    p99Us: j.p99Us,
    p999Us: j.p999Us,
    errors: j.errors,
    serverCpuUsPerOp: j.ops > 0 ? ((cpu1 - cpu0) * 1e6) / j.ops : 0,
    clientCpuSec: j.clientCpuSec,
    rssMb: procRssMb(server.pid),
  };
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

const STARTERS: Record<string, () => Promise<RunningServer>> = {
  // No per-address connection limit: the 64-session workloads come from one address.
  zookeeper: () => startReferenceZooKeeper({ jvmFlags: ['-Xmx1000m'], extraConfig: { maxClientCnxns: '0' } }),
  zkts: () => startZkts({ extraConfig: { maxClientCnxns: '0' } }),
  null: startNull,
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function svgChart(rows: { workload: string; ratio: number }[]): string {
  const barH = 22;
  const width = 760;
  const left = 230;
  const scale = (width - left - 60) / Math.max(2.5, ...rows.map((r) => r.ratio));
  const h = rows.length * barH + 50;
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" font-family="sans-serif" font-size="12">`;
  s += `<text x="10" y="18" font-weight="bold">zkts / Apache ZooKeeper 3.8 throughput (higher is better)</text>`;
  const x1 = left + scale;
  s += `<line x1="${x1}" y1="28" x2="${x1}" y2="${h - 10}" stroke="#888" stroke-dasharray="4"/><text x="${x1 + 3}" y="${h - 12}" fill="#666">1.0</text>`;
  rows.forEach((r, i) => {
    const y = 32 + i * barH;
    s += `<text x="10" y="${y + 14}">${r.workload}</text>`;
    s += `<rect x="${left}" y="${y + 2}" width="${(r.ratio * scale).toFixed(1)}" height="${barH - 6}" fill="${r.ratio >= 1 ? '#2f7ed8' : '#d9534f'}"/>`;
    s += `<text x="${left + r.ratio * scale + 5}" y="${y + 14}">${r.ratio.toFixed(2)}x</text>`;
  });
  return s + '</svg>\n';
}

async function main(): Promise<void> {
  const smoke = process.argv.includes('--smoke');
  const seconds = smoke ? 2 : Number(process.env.BENCH_SECONDS ?? 8);
  const rounds = smoke ? 1 : Number(process.env.BENCH_ROUNDS ?? 2);
  const workloads: Workload[] = smoke
    ? [
        { op: 'get', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'set', sessions: 8, outstanding: 32, valueBytes: 100 },
      ]
    : [
        { op: 'get', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'get', sessions: 64, outstanding: 32, valueBytes: 1024 },
        { op: 'exists', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'children', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'set', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'set', sessions: 8, outstanding: 32, valueBytes: 1024 },
        { op: 'create', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'eseq', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'multi', sessions: 8, outstanding: 32, valueBytes: 100 },
        { op: 'get', sessions: 1, outstanding: 1, valueBytes: 100 },
        { op: 'set', sessions: 1, outstanding: 1, valueBytes: 100 },
      ];
  const classes = compileDriver();
  const samples: Sample[] = [];
  const order = ['zookeeper', 'zkts', 'null'];
  for (let round = 0; round < rounds; round++) {
    for (const label of round % 2 === 0 ? order : [...order].reverse()) {
      const server = await STARTERS[label]();
      try {
        for (const w of workloads) {
          if (label === 'null' && w.op !== 'get' && w.op !== 'exists' && w.op !== 'children') continue;
          const s = drive(classes, server, w, seconds, label);
          samples.push(s);
          process.stderr.write(`round ${round + 1} ${label.padEnd(9)} ${s.workload.padEnd(22)} ${s.opsPerSec.toFixed(0).padStart(7)} ops/s p99 ${s.p99Us} us\n`);
        }
      } finally {
        await server.stop();
      }
    }
  }
  const lines = [
    `Benchmark ${new Date().toISOString()} on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'cpu'}), ${rounds} round(s) of ${seconds} s, medians; client: ZooKeeper's Java client (async).`,
    '',
    '| workload | ZooKeeper ops/s | zkts ops/s | zkts/ZK | null ops/s | zkts % of null | p99 µs ZK / zkts | server CPU µs/op ZK / zkts | RSS MB ZK / zkts |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const chart: { workload: string; ratio: number }[] = [];
  for (const w of workloads) {
    const pick = (server: string) => samples.filter((s) => s.server === server && s.workload === name(w));
    const m = (server: string, k: keyof Sample) => {
      const xs = pick(server).map((s) => s[k] as number);
      return xs.length ? median(xs) : NaN;
    };
    const zk = m('zookeeper', 'opsPerSec');
    const ts = m('zkts', 'opsPerSec');
    const nul = m('null', 'opsPerSec');
    chart.push({ workload: name(w), ratio: ts / zk });
    lines.push(
      `| ${name(w)} | ${zk.toFixed(0)} | ${ts.toFixed(0)} | ${(ts / zk).toFixed(2)}x | ${Number.isNaN(nul) ? '-' : nul.toFixed(0)} | ${Number.isNaN(nul) ? '-' : ((ts / nul) * 100).toFixed(0) + ' %'} | ${m('zookeeper', 'p99Us')} / ${m('zkts', 'p99Us')} | ${m('zookeeper', 'serverCpuUsPerOp').toFixed(1)} / ${m('zkts', 'serverCpuUsPerOp').toFixed(1)} | ${m('zookeeper', 'rssMb').toFixed(0)} / ${m('zkts', 'rssMb').toFixed(0)} |`,
    );
  }
  const errors = samples.reduce((n, s) => n + s.errors, 0);
  lines.push('', `Errors returned to the client: ${errors}. Client CPU (s, median over runs): ${median(samples.map((s) => s.clientCpuSec)).toFixed(2)}.`);
  const md = lines.join('\n') + '\n';
  process.stdout.write(md);
  if (!smoke) {
    fs.mkdirSync(RESULTS, { recursive: true });
    fs.writeFileSync(path.join(RESULTS, 'latest.md'), md);
    fs.writeFileSync(path.join(RESULTS, 'latest.json'), JSON.stringify(samples, null, 2));
    fs.writeFileSync(path.join(RESULTS, 'latest.svg'), svgChart(chart));
  }
  fs.rmSync(classes, { recursive: true, force: true });
  if (errors > 0) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});
