/**
 * What the client listener lets in. Beyond `maxCnxns`, or when client sockets would leave fewer
 * than `descriptorReserve` free file descriptors under the process's RLIMIT_NOFILE, a new
 * connection is closed at accept, before anything is made for it. The reserve keeps the server
 * able to open its own files (a new txn log, a snapshot) when clients hold every other descriptor;
 * without it the process runs into EMFILE, where libuv accepts and closes each new socket silently.
 * Every refusal is counted and logged, at most once a second with a count of those not logged.
 */
import { monotonicNowMs } from './clock';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import type { Logger } from 'pino';

/** How often the descriptors that are not client sockets (files, pipes, listeners) are counted again. */
const RECOUNT_INTERVAL_MS = 1000;
/** Far from the limit (less than half of it in use), a count this old still does. */
const STALE_COUNT_OK_MS = 10_000;
/** At most one log line per reason in this interval; the others are counted into the next one. */
const LOG_INTERVAL_MS = 1000;

/** The soft RLIMIT_NOFILE of this process, from /proc/self/limits; undefined if unknown or unlimited. */
export function openFileLimit(): number | undefined {
  try {
    const text = fs.readFileSync('/proc/self/limits', 'latin1');
    const m = /^Max open files\s+(\S+)/m.exec(text);
    if (!m || m[1] === 'unlimited') return undefined;
    const n = Number(m[1]);
    return Number.isSafeInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Descriptors open in this process (entries of /proc/self/fd); undefined where there is no /proc. */
export async function openDescriptorCount(): Promise<number | undefined> {
  try {
    return (await fs.promises.readdir('/proc/self/fd')).length;
  } catch {
    return undefined;
  }
}

/** Logs an event at most once per interval, with how many times it happened since the last line. */
export class RateLimitedLog {
  private lastLoggedAtMs = -Infinity;
  private suppressed = 0;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = LOG_INTERVAL_MS,
    private readonly now: () => number = monotonicNowMs,
  ) {}

  note(fields: Record<string, unknown>, message: string): void {
    const t = this.now();
    if (t - this.lastLoggedAtMs < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.log.warn({ ...fields, alsoSinceLastLogged: this.suppressed }, message);
    this.lastLoggedAtMs = t;
    this.suppressed = 0;
  }
}

export interface AcceptCounters {
  /** Connections refused at accept, for any reason (ZooKeeper's connection_rejected). */
  connectionRejected: number;
  /** Of those, refused to keep the descriptor reserve (zkts). */
  descriptorReserveRefused: number;
  /** Accepts that failed in the kernel (EMFILE, ENFILE, ...) (zkts). */
  acceptErrors: number;
}

export class AcceptLimits {
  /** The soft limit on open descriptors, read at start. */
  readonly fileLimit: number | undefined;
  /** Client sockets the descriptors allow at the last count (Infinity when there is no limit to keep). */
  descriptorBudget = Infinity;
  private timer: NodeJS.Timeout | undefined;
  private counting = false;
  /** Descriptors that were not client sockets at the last count, and when it was made. */
  private others = 0;
  private countedAtMs = -Infinity;
  private readonly maxCnxnsLog: RateLimitedLog;
  private readonly reserveLog: RateLimitedLog;
  private readonly errorLog: RateLimitedLog;

  constructor(
    private readonly listener: net.Server,
    private readonly maxCnxns: number,
    private readonly descriptorReserve: number,
    private readonly counters: AcceptCounters,
    private readonly log: Logger,
  ) {
    this.fileLimit = openFileLimit();
    this.maxCnxnsLog = new RateLimitedLog(log);
    this.reserveLog = new RateLimitedLog(log);
    this.errorLog = new RateLimitedLog(log);
    this.apply();
    listener.on('drop', (d?: { remoteAddress?: string; remotePort?: number }) => this.dropped(d));
  }

  /** Counts the descriptors now and then again every second, until stop. */
  async start(): Promise<void> {
    if (this.fileLimit === undefined) return;
    await this.recount();
    this.log.info(
      { openFileLimit: this.fileLimit, descriptorReserve: this.descriptorReserve, clientSocketsAllowed: this.allowed },
      'client connections limited by open file descriptors',
    );
    this.timer = setInterval(() => void this.recount(), RECOUNT_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** A failed accept, as the listener reports it: counted and logged, the listener goes on. */
  acceptFailed(err: NodeJS.ErrnoException): void {
    this.counters.connectionRejected++;
    this.counters.acceptErrors++;
    this.errorLog.note({ code: err.code, reason: err.message }, 'error accepting a new connection');
  }

  private dropped(d: { remoteAddress?: string; remotePort?: number } | undefined): void {
    this.counters.connectionRejected++;
    const remote = d?.remoteAddress !== undefined ? `${d.remoteAddress}:${d.remotePort ?? 0}` : undefined;
    if (this.maxCnxns > 0 && this.descriptorBudget >= this.maxCnxns) {
      this.maxCnxnsLog.note({ remote, maxCnxns: this.maxCnxns }, 'too many connections (maxCnxns); closing a new one');
      return;
    }
    this.counters.descriptorReserveRefused++;
    this.reserveLog.note(
      { remote, openFileLimit: this.fileLimit, descriptorReserve: this.descriptorReserve, clientSocketsAllowed: this.allowed },
      'too few file descriptors left for a new connection; closing it',
    );
  }

  /** Descriptors that are not client sockets are the total less the listener's connections. */
  private async recount(): Promise<void> {
    if (this.counting || this.fileLimit === undefined) return;
    this.counting = true;
    try {
      const clients0 = await this.clientSockets();
      // Reading /proc/self/fd costs with every open socket: far from the limit it is done seldom.
      if (clients0 + this.others < this.fileLimit / 2 && performance.now() - this.countedAtMs < STALE_COUNT_OK_MS) return;
      const open = await openDescriptorCount();
      if (open === undefined) return;
      const clients = await this.clientSockets();
      this.others = Math.max(0, open - clients);
      this.countedAtMs = performance.now();
      this.descriptorBudget = Math.max(0, this.fileLimit - this.descriptorReserve - this.others);
      this.apply();
    } finally {
      this.counting = false;
    }
  }

  private clientSockets(): Promise<number> {
    return new Promise<number>((resolve) => this.listener.getConnections((err, n) => resolve(err ? 0 : n)));
  }

  /** Client sockets allowed now. */
  get allowed(): number {
    return Math.min(this.maxCnxns > 0 ? this.maxCnxns : Infinity, this.descriptorBudget);
  }

  /**
   * Whether an accepted socket may stay; when none may, it is refused here (the listener's own
   * check takes a limit of 0 for none at all, so it is given 1 and the rest is done here).
   */
  admit(socket: net.Socket): boolean {
    if (this.allowed > 0) return true;
    this.dropped({ remoteAddress: socket.remoteAddress, remotePort: socket.remotePort });
    socket.destroy();
    return false;
  }

  private apply(): void {
    this.listener.maxConnections = Math.max(1, this.allowed);
  }
}
