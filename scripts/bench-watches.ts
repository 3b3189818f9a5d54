/**
 * The cost of closing a connection, by the watches held: WatchManager.removeWatcher for a watcher
 * with no watches while others hold 0, 10k, 300k and 1M data watches, and for a watcher that
 * holds 100k watches of its own. Also the heap per watch.
 * Run: npm run build && node --expose-gc dist/scripts/bench-watches.js [path to a built watches.js]
 * (the optional path measures another build, e.g. an older checkout's dist/src/server/watches.js).
 *
 * With --wire, the same over the network, zkts and Apache ZooKeeper 3.8 side by side: one session
 * holds N watches, sockets that never send a byte connect and close in a loop, and another session
 * pings all along; its round trips show how long closes hold up everyone else.
 * Run: node dist/scripts/bench-watches.js --wire [watch counts...]
 */
import * as net from 'node:net';
import * as path from 'node:path';
import { ZkClient } from '../test/util/client';
import { startReferenceZooKeeper, startZkts, type RunningServer } from '../test/util/servers';
import type { Watcher, WatchManager as WatchManagerType } from '../src/server/watches';

type Ctor = new () => WatchManagerType;
const wireMode = process.argv[2] === '--wire';
const modulePath = process.argv[2] && !wireMode ? path.resolve(process.argv[2]) : '../src/server/watches';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { WatchManager } = require(modulePath) as { WatchManager: Ctor };

const CLOSES = 200;

function newWatcher(): Watcher {
  return { notify: () => undefined, canRead: () => true };
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Milliseconds per close of a connection without watches, others holding `held` watches. */
function idleClose(held: number): { perCloseMs: number; heapPerWatchBytes: number } {
  gc();
  const before = process.memoryUsage().heapUsed;
  const m = new WatchManager();
  // Held by 10 sessions, as real load spreads them.
  const holders = Array.from({ length: 10 }, newWatcher);
  for (let i = 0; i < held; i++) m.addDataWatch(`/app/node-${i}`, holders[i % holders.length]);
  gc();
  const heapPerWatchBytes = held > 0 ? (process.memoryUsage().heapUsed - before) / held : 0;
  const closes = held >= 300_000 ? 20 : CLOSES;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < closes; i++) {
    const w = newWatcher();
    m.removeWatcher(w);
  }
  const perCloseMs = Number(process.hrtime.bigint() - t0) / 1e6 / closes;
  return { perCloseMs, heapPerWatchBytes };
}

/** Milliseconds to close a session holding `own` watches, next to 300k of others. */
function ownClose(own: number): number {
  const m = new WatchManager();
  const other = newWatcher();
  for (let i = 0; i < 300_000; i++) m.addDataWatch(`/app/node-${i}`, other);
  const w = newWatcher();
  for (let i = 0; i < own; i++) m.addDataWatch(`/mine/node-${i}`, w);
  const t0 = process.hrtime.bigint();
  m.removeWatcher(w);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (m.stats().watches !== 300_000) throw new Error('close removed the wrong watches');
  return ms;
}

function main(): void {
  console.log(`module: ${modulePath}`);
  for (const held of [0, 10_000, 300_000, 1_000_000]) {
    const r = idleClose(held);
    console.log(`close without watches, ${held} held by others: ${r.perCloseMs.toFixed(4)} ms/close; heap ${r.heapPerWatchBytes.toFixed(0)} B/watch`);
  }
  console.log(`close of a session with 100000 own watches (300000 held by others): ${ownClose(100_000).toFixed(2)} ms`);
}

const WIRE_CLOSES = 300;
const CLOSE_INTERVAL_MS = 5;
const WATCH_WINDOW = 2000;

async function silentSocket(host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const sock = net.createConnection({ host, port });
    sock.once('error', reject);
    sock.once('connect', () => {
      sock.destroy();
      resolve();
    });
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function wireRun(server: RunningServer, held: number): Promise<string> {
  const holder = await ZkClient.connect(server.host, server.port, { timeoutMs: 30_000 });
  for (let i = 0; i < held; i += WATCH_WINDOW) {
    const batch: Array<Promise<unknown>> = [];
    for (let j = i; j < Math.min(held, i + WATCH_WINDOW); j++) batch.push(holder.exists(`/w/${j}`, true));
    await Promise.all(batch);
    holder.replies.length = 0;
  }
  const pinger = await ZkClient.connect(server.host, server.port, { timeoutMs: 30_000 });
  const rtts: number[] = [];
  let closing = true;
  const pinging = (async () => {
    while (closing) {
      const t0 = process.hrtime.bigint();
      await pinger.ping();
      rtts.push(Number(process.hrtime.bigint() - t0) / 1e6);
      pinger.replies.length = 0;
    }
  })();
  const t0 = Date.now();
  // Paced, so that the pings sample the whole run rather than queue behind a burst.
  for (let i = 0; i < WIRE_CLOSES; i++) {
    await silentSocket(server.host, server.port);
    await new Promise((r) => setTimeout(r, CLOSE_INTERVAL_MS));
  }
  // The last closes are processed after the client's side is done: one more ping round covers them.
  await pinger.ping();
  const elapsedMs = Date.now() - t0;
  closing = false;
  await pinging;
  holder.destroy();
  pinger.destroy();
  rtts.sort((a, b) => a - b);
  return `${WIRE_CLOSES} connect+close, one per ${CLOSE_INTERVAL_MS} ms, in ${elapsedMs} ms; ${rtts.length} pings, another session's ping p50 ${percentile(rtts, 50).toFixed(2)} p99 ${percentile(rtts, 99).toFixed(2)} max ${rtts[rtts.length - 1].toFixed(2)} ms`;
}

async function wire(): Promise<void> {
  const counts = process.argv.slice(3).map(Number);
  for (const held of counts.length > 0 ? counts : [0, 10_000, 300_000]) {
    for (const [name, start] of [['zookeeper', startReferenceZooKeeper], ['zkts', startZkts]] as const) {
      const server = await start({ extraConfig: { maxClientCnxns: '0' } });
      try {
        console.log(`${name}, ${held} watches held: ${await wireRun(server, held)}`);
      } finally {
        await server.stop();
      }
    }
  }
}

if (wireMode) {
  wire().catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main();
}
