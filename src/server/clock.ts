/**
 * The process's two clocks. Wall time (Date.now) is what ZooKeeper stamps into txns (mtime, ctime)
 * and may jump (NTP steps, an operator, a failpoint: storage/failpoints.ts `clock:offset`). Session
 * expiry, election and sync timeouts and every other interval run on the monotonic clock, as
 * ZooKeeper runs them on System.nanoTime: a wall-clock jump must not expire a session or end a role.
 *
 * The monotonic clock reads as milliseconds near the epoch (anchored at the process's start), so
 * that figures derived from it (session ids, uptimes) look like the wall times they replace;
 * it counts whole milliseconds.
 */
export function monotonicNowMs(): number {
  // Whole milliseconds, as Date.now gives: some users make bigints of it (session ids).
  return Math.floor(performance.timeOrigin + performance.now());
}

/** Wall time, read at each call (so an injected offset applies). */
export function wallNowMs(): number {
  return Date.now();
}
