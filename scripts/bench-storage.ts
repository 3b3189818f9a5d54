/**
 * Durable write throughput, side by side: zkts and Apache ZooKeeper 3.8 (forceSync on for both),
 * the same load from the same client (8 sessions x 32 outstanding creates of 100 bytes), one
 * server at a time. Reports creates/s, the ratio, and zkts's txns per fsync.
 * Run: npm run build && node dist/scripts/bench-storage.js [seconds]
 */
import { ZkClient } from '../test/util/client';
import { startReferenceZooKeeper, startZkts, type RunningServer } from '../test/util/servers';

const SESSIONS = 8;
const OUTSTANDING = 32;
const VALUE = Buffer.alloc(100, 0x61);

async function load(server: RunningServer, seconds: number): Promise<number> {
  const clients = await Promise.all(Array.from({ length: SESSIONS }, () => ZkClient.connect(server.host, server.port)));
  await clients[0].create('/bench');
  const end = Date.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    clients.flatMap((c, k) =>
      Array.from({ length: OUTSTANDING }, async (_, j) => {
        for (let i = 0; Date.now() < end; i++) {
          const r = await c.create(`/bench/s${k}-${j}-${i}`, VALUE);
          if (!r || r.header.err !== 0) throw new Error(`create failed: ${r ? r.header.err : 'connection closed'}`);
          done++;
        }
      }),
    ),
  );
  for (const c of clients) await c.close();
  return done / seconds;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 5);
  const zk = await startReferenceZooKeeper();
  const zkRate = await load(zk, seconds);
  await zk.stop();
  const ts = await startZkts();
  const tsRate = await load(ts, seconds);
  await ts.stop();
  const closed = ts
    .log()
    .split('\n')
    .filter((l) => l.includes('txn log closed'))
    .map((l) => JSON.parse(l) as { txns: number; fsyncBatches: number; txnsPerFsync: number; maxBatch: number })
    .pop();
  process.stdout.write('| server | durable creates/s | txns per fsync (avg / max) |\n| --- | --- | --- |\n');
  process.stdout.write(`| Apache ZooKeeper 3.8.0 | ${zkRate.toFixed(0)} | n/a |\n`);
  process.stdout.write(`| zkts | ${tsRate.toFixed(0)} | ${closed ? `${closed.txnsPerFsync} / ${closed.maxBatch}` : 'n/a'} |\n`);
  process.stdout.write(`\nzkts / ZooKeeper: ${(tsRate / zkRate).toFixed(2)}x (${seconds} s each, ${SESSIONS} sessions x ${OUTSTANDING} outstanding, 100-byte values)\n`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack}\n`);
  process.exitCode = 1;
});
