/**
 * The cost of closing a connection, by the watches held: WatchManager.removeWatcher for a watcher
 * with no watches while others hold 0, 10k, 300k and 1M data watches, and for a watcher that
 * holds 100k watches of its own. Also the heap per watch.
 * Run: npm run build && node --expose-gc dist/scripts/bench-watches.js [path to a built watches.js]
 * (the optional path measures another build, e.g. an older checkout's dist/src/server/watches.js).
 */
import * as path from 'node:path';
import type { Watcher, WatchManager as WatchManagerType } from '../src/server/watches';

type Ctor = new () => WatchManagerType;
const modulePath = process.argv[2] ? path.resolve(process.argv[2]) : '../src/server/watches';
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

main();
