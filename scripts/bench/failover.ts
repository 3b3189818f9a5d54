/**
 * The ensemble benchmark's leader-kill trials alone: `node dist/scripts/bench/failover.js [zkts|zookeeper]`
 * starts a 3-member ensemble of that kind (the same settings as `--ensemble`), kills its leader
 * BENCH_ENSEMBLE_TRIALS times (default 5) and prints each trial's time to a write through a
 * survivor on a new session. With BENCH_FAILOVER_LOGS=dir, every trial's survivor logs are kept
 * under dir for a look at where the time went.
 */
import * as fs from 'node:fs';
import { compileDriver, fmt, log, median } from './driver';
import { failoverTrial, startZktsEnsemble, startZooKeeperEnsemble } from './ensemble';

async function main(): Promise<void> {
  const label = process.argv[2] === 'zookeeper' ? 'zookeeper' : 'zkts';
  const trials = Number(process.env.BENCH_ENSEMBLE_TRIALS ?? 5);
  const logs = process.env.BENCH_FAILOVER_LOGS;
  if (logs !== undefined) fs.mkdirSync(logs, { recursive: true });
  const classes = compileDriver();
  const e = label === 'zookeeper' ? await startZooKeeperEnsemble() : await startZktsEnsemble();
  const fresh: number[] = [];
  try {
    for (let i = 0; i < trials; i++) fresh.push((await failoverTrial({ classes, smoke: false }, e, logs)).freshMs);
  } finally {
    await e.stop();
    fs.rmSync(classes, { recursive: true, force: true });
  }
  log(`${label} failover, new session, ms: median ${fmt(median(fresh))}, trials ${fresh.map((x) => fmt(x)).join(' ')}`);
  process.stdout.write(JSON.stringify({ label, fresh }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
});
