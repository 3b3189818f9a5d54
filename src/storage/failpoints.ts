/**
 * Named faults for tests, off unless named in `zkts.failpoints` (or the ZKTS_FAILPOINTS environment
 * variable) at start, or armed later through a file (below). A spec is a comma-separated list of
 * `point[=value][@first[xcount]]`: the fault hits the first-th call (1-based, default 1) of that
 * point's operation and the count-1 after it (default: every call from then on). Calls are counted
 * per operation (open, write, fsync) for the disk points, per point for the crash points, from the
 * moment the spec was armed.
 *
 * Disk (the txn log's file operations):
 *   open:emfile, open:enfile, open:enospc  opening or creating a file fails, nothing written
 *   fsync:eio                              fdatasync fails
 *   fsync:slow=MS                          fdatasync takes MS ms longer (a slow disk)
 *   write:short                            a write stores half its bytes, then none
 *   write:enospc                           a write fails with ENOSPC (the disk full mid-file)
 *   write:torn[=N]                         a power cut during a write: half of it (with N: all but
 *                                          its last N bytes) reaches the file, then the process is
 *                                          killed
 * Crashes (the process kills itself with SIGKILL at once, as a power cut would; no close, no flush):
 *   crash:before-log-fsync      at a txn log fdatasync: what was written since the last one is
 *                               zeroed (it never reached the disk), then killed
 *   crash:after-accepted-epoch  learner: acceptedEpoch written, its ACKEPOCH not sent
 *   crash:after-current-epoch   learner at NEWLEADER: the sync's txns logged and currentEpoch
 *                               written, the ACK of NEWLEADER not sent
 *   crash:after-newleader-ack   learner: the ACK of NEWLEADER sent and answered (the leader's
 *                               UPTODATE arrived), before UPTODATE is processed
 *   crash:after-snap-sent       leader: a learner's SNAP and snapshot stream written out, before
 *                               what follows it (NEWLEADER) is
 * Clock:
 *   clock:offset=[+|-]MS        the process's wall clock (Date.now: txn times, mtime/ctime) runs MS
 *                               ms off the system's from now on; 0 puts it back. Timers and timeouts
 *                               run on the monotonic clock and do not move.
 * Each point that fires writes one line `zkts: failpoint <point> hit ...` to stderr first.
 *
 * Arming at run time: with `zkts.failpointsFile` (or ZKTS_FAILPOINTS_FILE) naming a file, SIGUSR2
 * makes the process read that file and arm its spec in place of the one armed before (an empty file
 * disarms everything; a clock offset stays until a spec sets another).
 *
 * Example: `zkts.failpoints=fsync:eio@50` fails the 50th fdatasync and every one after it;
 * `fsync:slow=3000@5x1` makes the 5th fdatasync take 3 s more.
 */
import * as fs from 'node:fs';
import type { FsShim } from './txnlog';

const DISK_POINTS = ['open:emfile', 'open:enfile', 'open:enospc', 'fsync:eio', 'fsync:slow', 'write:short', 'write:enospc', 'write:torn'] as const;
export const CRASH_POINTS = ['crash:before-log-fsync', 'crash:after-accepted-epoch', 'crash:after-current-epoch', 'crash:after-newleader-ack', 'crash:after-snap-sent'] as const;
const CLOCK_POINTS = ['clock:offset'] as const;
const POINTS: readonly string[] = [...DISK_POINTS, ...CRASH_POINTS, ...CLOCK_POINTS];
/** The points that take `=value`, and must; and those that may. */
const VALUED: readonly string[] = ['fsync:slow', 'clock:offset'];
const OPTIONALLY_VALUED: readonly string[] = ['write:torn'];

type Point = (typeof DISK_POINTS)[number] | (typeof CRASH_POINTS)[number] | (typeof CLOCK_POINTS)[number];
export type CrashPoint = (typeof CRASH_POINTS)[number];
type Op = 'open' | 'write' | 'fsync';

/** The longest slow fsync a spec may ask for: a typo must not hang a test for hours. */
const MAX_SLOW_FSYNC_MS = 600_000;
/** A spec file is a line or two; anything much longer is not one. */
const MAX_SPEC_FILE_BYTES = 4096;

export class FailpointSpecError extends Error {
  override name = 'FailpointSpecError';
}

export interface Armed {
  point: Point;
  value?: number;
  first: number;
  count: number;
}

export function parseFailpoints(spec: string): Armed[] {
  const out: Armed[] = [];
  for (const part of spec.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = /^([a-z]+:[a-z-]+)(?:=([+-]?\d+))?(?:@(\d+)(?:x(\d+))?)?$/.exec(part);
    if (!m || !POINTS.includes(m[1])) throw new FailpointSpecError(`unknown failpoint "${part}" (known: ${POINTS.join(', ')}; syntax point[=value][@first[xcount]])`);
    const point = m[1] as Point;
    if (!OPTIONALLY_VALUED.includes(point) && VALUED.includes(point) !== (m[2] !== undefined)) {
      throw new FailpointSpecError(VALUED.includes(point) ? `failpoint "${part}" needs a value (${point}=N)` : `failpoint "${part}" takes no value`);
    }
    const value = m[2] === undefined ? undefined : Number(m[2]);
    if (point === 'fsync:slow' && (value! < 0 || value! > MAX_SLOW_FSYNC_MS)) throw new FailpointSpecError(`failpoint "${part}": 0 to ${MAX_SLOW_FSYNC_MS} ms`);
    if (point === 'write:torn' && value !== undefined && value < 1) throw new FailpointSpecError(`failpoint "${part}": the bytes lost are at least 1`);
    const first = m[3] ? Number(m[3]) : 1;
    const count = m[4] ? Number(m[4]) : Infinity;
    if (first < 1 || count < 1) throw new FailpointSpecError(`failpoint "${part}": first and count start at 1`);
    out.push({ point, value, first, count });
  }
  return out;
}

function errnoError(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: failpoint ${syscall}`), { code, syscall });
}

const realDateNow = Date.now.bind(Date);
let wallOffsetMs = 0;
let wallClockInstalled = false;

/**
 * Puts the process's wall clock behind an offset (0 until `setWallClockOffset`). Done when
 * failpoints are set up, before the server is built: code that keeps `Date.now` as a function
 * (a default clock argument) keeps this one, and sees every later jump as a real one would show.
 */
export function installWallClock(): void {
  if (wallClockInstalled) return;
  wallClockInstalled = true;
  Date.now = () => realDateNow() + wallOffsetMs;
}

/**
 * Moves the process's wall clock: Date.now() returns the system's time plus `offsetMs` from now on.
 * Everything that stamps wall time (txn times, hence mtime/ctime; log lines) follows; timers and
 * the monotonic clock (server/clock.ts) do not.
 */
export function setWallClockOffset(offsetMs: number): void {
  installWallClock();
  wallOffsetMs = offsetMs;
}

export function wallClockOffsetMs(): number {
  return wallOffsetMs;
}

/** Where a fired point reports (stderr, synchronously: a crash point kills the process right after). */
export type FailpointReport = (line: string) => void;

const stderrReport: FailpointReport = (line) => {
  try {
    fs.writeSync(2, line + '\n');
  } catch {
    // stderr gone: the fault still happens.
  }
};

/**
 * The armed faults of this process. The disk shim (`withFailpoints`) and the quorum shells ask it
 * at the moments the points name; nothing asks it when no spec was given (the shells get none).
 */
export class Failpoints {
  private armed: Armed[] = [];
  private calls = new Map<string, number>();
  /** Disk points that do not end the process are reported at their first hit after arming. */
  private reported = new Set<string>();

  constructor(
    spec = '',
    private readonly report: FailpointReport = stderrReport,
    /** How a crash point ends the process; a test of this module replaces it. */
    private readonly kill: () => void = () => process.kill(process.pid, 'SIGKILL'),
  ) {
    installWallClock();
    this.arm(spec);
  }

  /** Arms `spec` in place of what was armed (counts start again); throws FailpointSpecError. */
  arm(spec: string): void {
    const armed = parseFailpoints(spec);
    this.armed = armed;
    this.calls = new Map();
    this.reported = new Set();
    const clock = armed.find((a) => a.point === 'clock:offset');
    if (clock !== undefined) {
      setWallClockOffset(clock.value!);
      this.report(`zkts: failpoint clock:offset hit: the wall clock runs ${clock.value} ms off from now on`);
    }
  }

  /** The points armed now, as a spec. */
  describe(): string {
    return this.armed.map((a) => `${a.point}${a.value === undefined ? '' : `=${a.value}`}@${a.first}${a.count === Infinity ? '' : `x${a.count}`}`).join(',');
  }

  /** Counts a call of `key` and gives the armed point among `points` that this call hits. */
  private hit(key: string, matches: (p: Point) => boolean): Armed | undefined {
    if (this.armed.length === 0) return undefined;
    const n = (this.calls.get(key) ?? 0) + 1;
    this.calls.set(key, n);
    return this.armed.find((a) => matches(a.point) && n >= a.first && n < a.first + a.count);
  }

  /** A disk operation is about to run: the armed disk point it hits, if any. */
  diskHit(op: Op): Armed | undefined {
    const a = this.hit(op, (p) => p.startsWith(op + ':'));
    if (a !== undefined && a.point !== 'write:torn' && !this.reported.has(a.point)) {
      this.reported.add(a.point);
      this.report(`zkts: failpoint ${a.point} hit: ${JSON.stringify({ call: this.calls.get(op), value: a.value ?? null })} (reported once)`);
    }
    return a;
  }

  /** Whether crash point `point` fires at this call. */
  crashHits(point: CrashPoint): boolean {
    return this.hit(point, (p) => p === point) !== undefined;
  }

  /** At crash point `point`: when it fires, says so on stderr and kills the process (never returns then). */
  crash(point: CrashPoint, detail: Record<string, string | number> = {}, beforeKill?: () => void): void {
    if (!this.crashHits(point)) return;
    this.die(point, detail, beforeKill);
  }

  /** Reports and kills; `beforeKill` does what the power cut leaves behind on disk. */
  die(point: string, detail: Record<string, string | number>, beforeKill?: () => void): void {
    beforeKill?.();
    this.report(`zkts: failpoint ${point} hit: ${JSON.stringify(detail)}; killing the process (SIGKILL)`);
    this.kill();
  }

  /** Whether any point is armed. */
  get active(): boolean {
    return this.armed.length > 0;
  }
}

/**
 * `base` with the disk faults of `failpoints` injected. Writes since each file's last fdatasync are
 * remembered (their ranges, bounded) so that a power cut can take them back.
 */
export function withFailpoints(base: FsShim, failpoints: Failpoints): FsShim {
  let shortFd = -1;
  /** Per fd: [position, length] written since the last fdatasync; past the bound, one range covers them. */
  const unsynced = new Map<number, Array<[number, number]>>();
  const MAX_RANGES = 1024;
  const remember = (fd: number, position: number, length: number) => {
    let ranges = unsynced.get(fd);
    if (ranges === undefined) unsynced.set(fd, (ranges = []));
    if (ranges.length >= MAX_RANGES) {
      const lo = Math.min(...ranges.map((r) => r[0]), position);
      const hi = Math.max(...ranges.map((r) => r[0] + r[1]), position + length);
      ranges.length = 0;
      ranges.push([lo, hi - lo]);
    } else ranges.push([position, length]);
  };
  /** What a power cut leaves of the unsynced writes of `fd`: the file's old bytes (zeros: the log is preallocated). */
  const loseUnsynced = (fd: number): void => {
    for (const [position, length] of unsynced.get(fd) ?? []) fs.writeSync(fd, Buffer.alloc(length), 0, length, position);
  };
  return {
    open: async (file, flags) => {
      const p = failpoints.diskHit('open');
      if (p !== undefined) throw errnoError(p.point.slice(5).toUpperCase(), 'open');
      return base.open(file, flags);
    },
    write: (fd, buf, offset, length, position) => {
      const armed = failpoints.diskHit('write');
      const p = armed?.point;
      if (p === 'write:enospc') throw errnoError('ENOSPC', 'write');
      if (p === 'write:torn') {
        const kept = armed!.value === undefined ? Math.max(1, Math.floor(length / 2)) : Math.max(0, length - armed!.value);
        failpoints.die('write:torn', { fd, position, length, kept }, () => {
          fs.writeSync(fd, buf, offset, kept, position);
        });
        return 0;
      }
      if (p === 'write:short' || shortFd === fd) {
        // The first write stores half; the disk then takes nothing more of this file.
        if (shortFd === fd) return 0;
        shortFd = fd;
        return base.write(fd, buf, offset, Math.max(1, Math.floor(length / 2)), position);
      }
      remember(fd, position, length);
      return base.write(fd, buf, offset, length, position);
    },
    fdatasync: async (fd) => {
      const p = failpoints.diskHit('fsync');
      if (p?.point === 'fsync:eio') throw errnoError('EIO', 'fdatasync');
      if (p?.point === 'fsync:slow') await new Promise((r) => setTimeout(r, p.value));
      if (failpoints.crashHits('crash:before-log-fsync')) {
        failpoints.die('crash:before-log-fsync', { fd, unsyncedBytes: (unsynced.get(fd) ?? []).reduce((n, r) => n + r[1], 0) }, () => loseUnsynced(fd));
      }
      await base.fdatasync(fd);
      unsynced.delete(fd);
    },
    ftruncate: (fd, length) => base.ftruncate(fd, length),
    close: async (fd) => {
      unsynced.delete(fd);
      return base.close(fd);
    },
  };
}

/**
 * Arms the spec in `file` each time the process gets SIGUSR2 (a nemesis picks the moment). A spec
 * that does not parse is reported and changes nothing. Returns the handler's remover.
 */
export function armOnSignal(failpoints: Failpoints, file: string, onArmed: (spec: string, err?: Error) => void): () => void {
  const handler = () => {
    try {
      const fd = fs.openSync(file, 'r');
      let text: string;
      try {
        const buf = Buffer.alloc(MAX_SPEC_FILE_BYTES + 1);
        const n = fs.readSync(fd, buf, 0, buf.length, 0);
        if (n > MAX_SPEC_FILE_BYTES) throw new FailpointSpecError(`${file}: more than ${MAX_SPEC_FILE_BYTES} bytes`);
        text = buf.toString('utf8', 0, n).replace(/\s+/g, ',');
      } finally {
        fs.closeSync(fd);
      }
      failpoints.arm(text);
      onArmed(failpoints.describe());
    } catch (e) {
      onArmed('', e as Error);
    }
  };
  process.on('SIGUSR2', handler);
  return () => process.off('SIGUSR2', handler);
}
