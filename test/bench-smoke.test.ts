// The benchmark keeps working: a seconds-long run against all three servers. No timing is
// asserted; the numbers of a run this short mean nothing.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

t.test('the benchmark runs end to end (smoke)', async (t) => {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [path.join(__dirname, '../scripts/bench/run.js'), '--smoke'], { encoding: 'utf8', timeout: 240_000, env });
  t.equal(r.status, 0, 'the smoke run exits 0', { stderr: r.stderr.slice(-3000) });
  for (const socket of ['nio', 'netty']) {
    const row = new RegExp(`\\| get 8x32 100B \\| ${socket} \\| \\d+ \\| \\d+ \\| [\\d.]+x \\| \\d+ \\|`);
    t.match(r.stdout, row, `the table has a getData row over the ${socket} client socket for ZooKeeper, zkts and the null server`);
  }
  t.match(r.stdout, /Errors returned to the client: 0\./);
});

t.test('the TLS benchmark runs end to end (smoke)', async (t) => {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [path.join(__dirname, '../scripts/bench/run.js'), '--tls', '--smoke'], { encoding: 'utf8', timeout: 400_000, env });
  t.equal(r.status, 0, 'the TLS smoke run exits 0 (no client errors)', { stderr: r.stderr.slice(-3000), stdout: r.stdout.slice(-3000) });
  for (const protocol of ['TLSv1.2', 'TLSv1.3']) {
    t.match(r.stdout, new RegExp(`\\| set 8x32 100B ${protocol.replace('.', '\\.')} \\| \\d+ \\| \\d+ \\| [\\d.]+x \\|`), `a setData row over ${protocol} for ZooKeeper and zkts`);
    t.match(r.stdout, new RegExp(`\\| TLS connect storm ${protocol.replace('.', '\\.')}, \\d+ sessions \\(64 at a time\\) \\| \\d+ \\| \\d+ \\|`), `a connect storm row over ${protocol}`);
  }
});

t.test('the many-sessions benchmark runs end to end (smoke)', async (t) => {
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_SESSIONS: '300' };
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [path.join(__dirname, '../scripts/bench/run.js'), '--sessions', '--smoke'], { encoding: 'utf8', timeout: 240_000, env });
  // Exit 0 means every session connected and every watcher got each event exactly once.
  t.equal(r.status, 0, 'the smoke run exits 0', { stderr: r.stderr.slice(-3000), stdout: r.stdout.slice(-3000) });
  t.match(r.stdout, /\| 300 \| [\d.]+ \/ [\d.]+ \| [\d.]+x \| \d+ \/ \d+ \| [\d.]+x \| [\d.]+ \/ [\d.]+ \| [\d.]+x \| 0 \/ 0 \|/, 'a row for 300 sessions on both servers, nothing missing or duplicated');
});
