/**
 * A latency recorder for the request path: count, sum, min and max since start, and quantile
 * estimates over the last ten minutes from fixed buckets. Recording allocates nothing.
 *
 * The window follows the Prometheus client ZooKeeper 3.8 uses for its summaries: observations age
 * out after 10 minutes, in 5 steps of 2 minutes.
 */

/** Bucket upper bounds in ms; latencies are whole milliseconds, so the small buckets are exact. */
const BOUNDS_MS = Float64Array.from([
  0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 65, 80, 100, 125, 150, 200, 250, 300, 400, 500, 650, 800, 1000, 1250,
  1500, 2000, 2500, 3000, 4000, 5000, 6500, 8000, 10000, 15000, 20000, 30000, 60000, 120000,
]);
/** One more bucket than bounds: everything above the last bound. */
const BUCKETS = BOUNDS_MS.length + 1;
export const WINDOW_MS = 10 * 60 * 1000;
const AGE_STEPS = 5;
const STEP_MS = WINDOW_MS / AGE_STEPS;

export class LatencyRecorder {
  /** Since start; never reset, so scrapers see monotonic _count and _sum. */
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = 0;
  /** AGE_STEPS rows of BUCKETS counts; row `step` takes new observations. */
  private readonly ages = new Uint32Array(AGE_STEPS * BUCKETS);
  private step = 0;
  private nextStepAtMs: number;

  constructor(nowMs: number) {
    this.nextStepAtMs = nowMs + STEP_MS;
  }

  observe(valueMs: number, nowMs: number): void {
    if (!(valueMs >= 0)) return;
    if (nowMs >= this.nextStepAtMs) this.age(nowMs);
    this.count++;
    this.sum += valueMs;
    if (valueMs < this.min) this.min = valueMs;
    if (valueMs > this.max) this.max = valueMs;
    this.ages[this.step * BUCKETS + bucketOf(valueMs)]++;
  }

  /** Drops the observations older than the window. */
  age(nowMs: number): void {
    let steps = 0;
    while (nowMs >= this.nextStepAtMs && steps < AGE_STEPS) {
      this.step = (this.step + 1) % AGE_STEPS;
      this.ages.fill(0, this.step * BUCKETS, (this.step + 1) * BUCKETS);
      this.nextStepAtMs += STEP_MS;
      steps++;
    }
    // Idle for longer than the whole window: everything has aged out already.
    if (nowMs >= this.nextStepAtMs) this.nextStepAtMs = nowMs + STEP_MS;
  }

  /** Observations within the window. */
  windowCount(nowMs: number): number {
    this.age(nowMs);
    let n = 0;
    for (let i = 0; i < this.ages.length; i++) n += this.ages[i];
    return n;
  }

  /**
   * The q-quantile (0 < q <= 1) of the window's observations, NaN when there are none (as the
   * Prometheus client answers for an empty summary). Linear within a bucket, clamped to min/max.
   */
  quantile(q: number, nowMs: number): number {
    const n = this.windowCount(nowMs);
    if (n === 0) return Number.NaN;
    const rank = q * n;
    let cum = 0;
    for (let b = 0; b < BUCKETS; b++) {
      let inBucket = 0;
      for (let a = 0; a < AGE_STEPS; a++) inBucket += this.ages[a * BUCKETS + b];
      if (inBucket === 0 || cum + inBucket < rank) {
        cum += inBucket;
        continue;
      }
      const hi = b < BOUNDS_MS.length ? BOUNDS_MS[b] : this.max;
      const lo = b === 0 ? 0 : BOUNDS_MS[b - 1];
      const v = hi - lo <= 1 ? hi : lo + ((hi - lo) * (rank - cum)) / inBucket;
      return Math.min(Math.max(v, this.min), this.max);
    }
    return this.max;
  }
}

function bucketOf(v: number): number {
  let lo = 0;
  let hi = BOUNDS_MS.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (BOUNDS_MS[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
