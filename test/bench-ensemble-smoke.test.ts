// The ensemble part of the benchmark keeps working: a seconds-long run of a 3-node ZooKeeper and
// a 3-node zkts ensemble (workloads, one leader kill, memory and a SNAP join of a small tree). No
// timing is asserted; the numbers of a run this short mean nothing.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

t.test('the ensemble benchmark runs end to end (smoke)', async (t) => {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, [path.join(__dirname, '../scripts/bench/run.js'), '--smoke', '--ensemble'], { encoding: 'utf8', timeout: 270_000, env });
  t.equal(r.status, 0, 'the smoke run exits 0 (no client errors, no failed side)', { stderr: r.stderr.slice(-3000) });
  for (const title of ['setData', 'ephemeral-sequential create', 'getData']) {
    const row = new RegExp(`\\| ${title} \\| \\d+ \\| \\d+ \\| [\\d.]+x \\|.*\\| 0 / 0 \\|`);
    t.match(r.stdout, row, `a ${title} row with ops/s of both ensembles and no errors`);
  }
  t.match(r.stdout, /\| leader killed \(SIGKILL\): a write succeeds on a new session through a survivor, median of 1, ms \| \d+ \| \d+ \|/, 'a failover time on both sides');
  t.match(r.stdout, /\| 2000 znodes \(100 B, 1,000 children per parent\): largest member RSS after \d+ s at rest, MB \| \d+ \| \d+ \|/, 'member RSS on both sides');
  t.match(r.stdout, /joining a leader with 2000 znodes \(SNAP\): start to following at the leader's zxid, ms \| \d+ \| \d+ \|/, 'a SNAP join on both sides');
  t.notMatch(r.stdout, /Ensemble workloads failed/);
});
