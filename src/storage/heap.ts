/**
 * Heap upkeep: around the start, and when idle after a burst of work (IdleCompactor, below). Loading a large tree allocates fast and keeps nearly everything,
 * which makes V8 grow its young generation to the limit (32 MB here), and V8 gives that back only in
 * a collection made while the allocation rate is low, which an idle server never makes on its own
 * (the IdleCompactor makes one). So the young generation is held at its first size while the database loads
 * (a load about a tenth slower), and may grow again once the start is done, as serving needs.
 * Starting also leaves much garbage behind (the load's buffers and strings, the start snapshot's
 * output) that an idle server may not collect for long; one full collection returns it.
 */
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { performance } from 'node:perf_hooks';

/** V8's default growth factor of the young generation. */
const DEFAULT_SEMI_SPACE_GROWTH_FACTOR = 2;

type GcFunction = (options?: { type: 'minor'; execution: 'sync' }) => void;
let gc: GcFunction | undefined;
let holds = 0;

/** A full collection, or with 'minor' a scavenge of the young generation only. */
export function collectGarbage(type: 'major' | 'minor' = 'major'): void {
  // Node exposes gc() only under --expose-gc; the flag can be set at run time, and a fresh
  // context then has the function.
  if (gc === undefined) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as GcFunction;
  }
  // gc() without options is V8's precise full collection; with { type: 'major' } it is another kind
  // that left three quarters of a dropped array in place here.
  if (type === 'major') gc();
  else gc({ type, execution: 'sync' });
}

/** Keeps the young generation at its size until as many releaseYoungGeneration calls. */
export function holdYoungGeneration(): void {
  if (holds++ === 0) v8.setFlagsFromString('--semi-space-growth-factor=1');
}

export function releaseYoungGeneration(): void {
  if (holds === 0) return;
  if (--holds === 0) v8.setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_SEMI_SPACE_GROWTH_FACTOR}`);
}

/** How often the idle check runs. */
const IDLE_CHECK_MS = 1000;
/** A second in which the event loop was busy less than this is idle. */
const IDLE_UTILIZATION = 0.05;
/** Growth of the heap's physical size since the last compaction that makes one worth its pause. */
const COMPACT_GROWTH_MIN_BYTES = 32 * 1024 * 1024;
const COMPACT_GROWTH_MIN_RATIO = 0.25;

/**
 * Whether an idle second should compact the heap: only after it grew by a good part since the
 * last compaction, so a quiet server compacts once after a burst of work and not again.
 */
export function shouldCompact(utilization: number, physicalBytes: number, baselineBytes: number): boolean {
  if (utilization >= IDLE_UTILIZATION) return false;
  const growth = physicalBytes - baselineBytes;
  return growth >= COMPACT_GROWTH_MIN_BYTES && growth >= baselineBytes * COMPACT_GROWTH_MIN_RATIO;
}

/** A full collection that also moves live objects off fragmented pages, so they can be returned. */
export function compactHeap(): void {
  v8.setFlagsFromString('--compact-on-every-full-gc');
  try {
    collectGarbage();
  } finally {
    v8.setFlagsFromString('--no-compact-on-every-full-gc');
  }
}

/**
 * V8 gives back the semi-spaces a burst grew its young generation to (16 MB each, 32 MB of memory)
 * only in a collection made while it rates the allocation rate as low: averaged over the intervals
 * between its last collections that make up the last 5 s. A server never collects while idle on
 * its own, so the memory stayed with it for good. An idle server scavenges every other idle second
 * while the young generation is grown: the first scavenges close the burst's interval (and fail to
 * shrink it), and once 5 s of quiet intervals are behind, one does (6-8 s after the burst).
 */
const YOUNG_SHRINK_IDLE_SECONDS = 1;

export function youngGenerationBytes(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/**
 * The young generation counts as grown above this size: V8 starts it at 1-2 MB and a start that
 * loads a database may leave it at a few MB; a burst of requests takes it to 32 MB.
 */
const YOUNG_GROWN_BYTES = 8 * 1024 * 1024;
/** Idle seconds between scavenges while the young generation stays grown. */
const YOUNG_SHRINK_RETRY_SECONDS = 2;

/**
 * Whether this idle second should scavenge to shrink the young generation: while it is grown,
 * from the first idle second, then every other one. `lastTryIdleSeconds` is the idle count at the
 * last try of this idle stretch (undefined: none yet).
 */
export function shouldShrinkYoung(idleSeconds: number, lastTryIdleSeconds: number | undefined, youngBytes: number): boolean {
  if (youngBytes <= YOUNG_GROWN_BYTES || idleSeconds < YOUNG_SHRINK_IDLE_SECONDS) return false;
  return lastTryIdleSeconds === undefined || idleSeconds - lastTryIdleSeconds >= YOUNG_SHRINK_RETRY_SECONDS;
}

/**
 * After a burst of work V8 keeps the garbage of it, and the old generation's pages half used,
 * until its heap limit comes near: a server that bulk-loaded half a million znodes held about 60 %
 * more memory than the same tree after a restart. Once the event loop has been idle for a second
 * after such growth, one compacting collection returns it (a pause of tens to a few hundred ms,
 * taken only when no request is waiting).
 */
export class IdleCompactor {
  private timer: NodeJS.Timeout | undefined;
  private last = performance.eventLoopUtilization();
  private baselineBytes = v8.getHeapStatistics().total_physical_size;
  /** Idle seconds in a row. */
  private idleSeconds = 0;
  /** idleSeconds at the last scavenge to shrink in this idle stretch. */
  private lastYoungTry: number | undefined;

  constructor(
    private readonly onCompact?: (ms: number, beforeBytes: number, afterBytes: number) => void,
    private readonly onYoungShrink?: (ms: number, beforeBytes: number, afterBytes: number) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.check(), IDLE_CHECK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    const now = performance.eventLoopUtilization();
    const window = performance.eventLoopUtilization(now, this.last);
    this.last = now;
    if (window.utilization >= IDLE_UTILIZATION) {
      this.idleSeconds = 0;
      this.lastYoungTry = undefined;
    } else this.idleSeconds++;
    const young = youngGenerationBytes();
    if (shouldShrinkYoung(this.idleSeconds, this.lastYoungTry, young)) {
      this.lastYoungTry = this.idleSeconds;
      const started = performance.now();
      collectGarbage('minor');
      this.onYoungShrink?.(performance.now() - started, young, youngGenerationBytes());
      this.last = performance.eventLoopUtilization();
    }
    const physical = v8.getHeapStatistics().total_physical_size;
    // The heap may also shrink on its own; the baseline follows it down.
    if (physical < this.baselineBytes) this.baselineBytes = physical;
    if (!shouldCompact(window.utilization, physical, this.baselineBytes)) return;
    const started = performance.now();
    compactHeap();
    const ms = performance.now() - started;
    this.baselineBytes = v8.getHeapStatistics().total_physical_size;
    this.onCompact?.(ms, physical, this.baselineBytes);
    // The collection itself is not the next window's work.
    this.last = performance.eventLoopUtilization();
  }
}
