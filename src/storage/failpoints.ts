/**
 * Named storage faults for tests, off unless named in `zkts.failpoints` (or the ZKTS_FAILPOINTS
 * environment variable): a comma-separated list of `point[@first[xcount]]`, where the fault hits
 * the first-th call (1-based, default 1) of that operation and the count-1 after it (default: every
 * call from then on). Points:
 *   open:emfile, open:enfile, open:enospc  opening or creating a file fails, nothing written
 *   fsync:eio                              fdatasync fails
 *   write:short                            a write stores half its bytes, then none
 *   write:enospc                           a write fails with ENOSPC (the disk full mid-file)
 * Example: `zkts.failpoints=fsync:eio@50` fails the 50th fdatasync and every one after it.
 */
import type { FsShim } from './txnlog';

const POINTS = ['open:emfile', 'open:enfile', 'open:enospc', 'fsync:eio', 'write:short', 'write:enospc'] as const;
type Point = (typeof POINTS)[number];

export class FailpointSpecError extends Error {}

interface Armed {
  point: Point;
  first: number;
  count: number;
}

export function parseFailpoints(spec: string): Armed[] {
  const out: Armed[] = [];
  for (const part of spec.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = /^([a-z]+:[a-z]+)(?:@(\d+)(?:x(\d+))?)?$/.exec(part);
    if (!m || !(POINTS as readonly string[]).includes(m[1])) throw new FailpointSpecError(`unknown failpoint "${part}" (known: ${POINTS.join(', ')})`);
    out.push({ point: m[1] as Point, first: m[2] ? Number(m[2]) : 1, count: m[3] ? Number(m[3]) : Infinity });
  }
  return out;
}

function errnoError(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: failpoint ${syscall}`), { code, syscall });
}

/** `base` with the faults of `spec` injected; calls are counted per operation (open, write, fsync). */
export function withFailpoints(base: FsShim, spec: string): FsShim {
  const armed = parseFailpoints(spec);
  const calls = { open: 0, write: 0, fsync: 0 };
  const hit = (op: 'open' | 'write' | 'fsync'): Point | undefined => {
    const n = ++calls[op];
    return armed.find((a) => a.point.startsWith(op + ':') && n >= a.first && n < a.first + a.count)?.point;
  };
  let shortFd = -1;
  return {
    open: async (file, flags) => {
      const p = hit('open');
      if (p !== undefined) throw errnoError(p.slice(5).toUpperCase(), 'open');
      return base.open(file, flags);
    },
    write: (fd, buf, offset, length, position) => {
      const p = hit('write');
      if (p === 'write:enospc') throw errnoError('ENOSPC', 'write');
      if (p === 'write:short' || shortFd === fd) {
        // The first write stores half; the disk then takes nothing more of this file.
        if (shortFd === fd) return 0;
        shortFd = fd;
        return base.write(fd, buf, offset, Math.max(1, Math.floor(length / 2)), position);
      }
      return base.write(fd, buf, offset, length, position);
    },
    fdatasync: async (fd) => {
      if (hit('fsync') !== undefined) throw errnoError('EIO', 'fdatasync');
      return base.fdatasync(fd);
    },
    ftruncate: (fd, length) => base.ftruncate(fd, length),
    close: (fd) => base.close(fd),
  };
}
