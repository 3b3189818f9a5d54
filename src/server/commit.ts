/**
 * The commit stage: where a prepared txn becomes durable (standalone: the txn log; replicated: a
 * quorum's ack) before it is applied. It calls `done` for txns strictly in submission order.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Txn } from '../storage/txn';

export interface CommitStage {
  /**
   * Calls `done` once the txn is committed, or `abandoned` if it never will be (the stage failed
   * before or while committing it): exactly one of the two is called, so that the caller can
   * release what the request holds.
   */
  submit(txn: Txn, done: () => void, abandoned?: () => void): void;
  /** Calls `done` once every txn submitted before it is committed (sync), or `abandoned`. */
  barrier(done: () => void, abandoned?: () => void): void;
  /** Txns submitted and not yet committed. */
  readonly pending: number;
  /** Set once the stage can no longer make txns durable; nothing more is committed. */
  readonly failure: Error | undefined;
  /** Set while commits wait for the storage to become writable again (see TxnLogWriter). */
  readonly stalled: Error | undefined;
}

const noop = (): void => undefined;

/** Longest run of callbacks of one batch before the event loop gets a turn. */
const APPLY_SLICE_MS = 10;

/** Keeps txns in memory only: each is committed as it is submitted. */
export class MemoryCommitStage implements CommitStage {
  readonly pending = 0;
  readonly failure = undefined;
  readonly stalled = undefined;
  submit(_txn: Txn, done: () => void, _abandoned?: () => void): void {
    done();
  }
  barrier(done: () => void, _abandoned?: () => void): void {
    done();
  }
}

/** What the log stage needs of a txn log. */
export interface TxnLogSink {
  append(txn: Txn): void;
  /** Writes what was appended and makes it durable (one fsync). */
  commit(): Promise<void>;
  /** Why commits are waiting for the storage, while they are (a file that cannot be opened yet). */
  readonly stalled?: Error | undefined;
}

/** Where the log stage reports each fsync (the server's metrics); without one nothing is measured. */
export interface LogCommitMetrics {
  flushed(txns: number, queued: number, fsyncMs: number, flushMs: number): void;
}

export interface LogCommitStats {
  batches: number;
  txns: number;
  maxBatch: number;
}

/**
 * Group commit: txns submitted while an fsync is under way wait and go together in the next one,
 * up to `maxBatch` per fsync. A txn is committed only once the fsync that covers it returned.
 */
export class LogCommitStage implements CommitStage {
  /** Completions waiting for the next fsync; undefined txn marks a barrier. */
  private waiting: Waiting[] = [];
  private flushing = false;
  /** Entries of the batches handed to the log and not yet done. */
  private inFlight = 0;
  failure: Error | undefined;
  readonly stats: LogCommitStats = { batches: 0, txns: 0, maxBatch: 0 };
  metrics: LogCommitMetrics | undefined;

  constructor(
    private readonly log: TxnLogSink,
    private readonly maxBatch: number,
    private readonly onFailure: (err: Error) => void,
  ) {}

  get pending(): number {
    return this.waiting.length + this.inFlight;
  }

  get stalled(): Error | undefined {
    return this.failure ? undefined : this.log.stalled;
  }

  submit(txn: Txn, done: () => void, abandoned: () => void = noop): void {
    if (this.failure) return abandoned();
    this.waiting.push({ txn, done, abandoned });
    this.schedule();
  }

  barrier(done: () => void, abandoned: () => void = noop): void {
    if (this.failure) return abandoned();
    if (!this.flushing && this.waiting.length === 0) done();
    else {
      this.waiting.push({ done, abandoned });
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.flushing) return;
    this.flushing = true;
    // Let the rest of this event-loop turn add to the batch.
    setImmediate(() => void this.flush());
  }

  /**
   * Commits the waiting txns batch by batch. The next batch goes to the log before the callbacks
   * of the one just made durable run, so that the disk works on it while they apply and answer.
   * Callbacks still run batch by batch, in submission order, each after its own fsync.
   */
  private async flush(): Promise<void> {
    let current: InFlightBatch | undefined = this.waiting.length > 0 && !this.failure ? this.startBatch() : undefined;
    while (current !== undefined) {
      let durableAtMs: number;
      try {
        durableAtMs = await current.durable;
      } catch (e) {
        this.failure = e instanceof Error ? e : new Error(String(e));
        const lost = [...current.batch, ...this.waiting];
        this.waiting = [];
        this.inFlight = 0;
        this.onFailure(this.failure);
        // Nothing of these is committed: their requests give back what they hold.
        for (const w of lost) w.abandoned();
        break;
      }
      const fsyncMs = durableAtMs - current.fsyncStartedMs;
      const next = this.waiting.length > 0 && !this.failure ? this.startBatch() : undefined;
      const { batch, txns } = current;
      this.stats.batches += txns > 0 ? 1 : 0;
      this.stats.txns += txns;
      this.stats.maxBatch = Math.max(this.stats.maxBatch, txns);
      // A batch whose txns take long to apply (a session closing with thousands of ephemerals)
      // gives way to the event loop between txns, so that reads and pings are not held for all of it.
      let sliceStartMs = performance.now();
      for (let i = 0; i < batch.length; i++) {
        this.inFlight--;
        batch[i].done();
        if (i + 1 < batch.length && performance.now() - sliceStartMs >= APPLY_SLICE_MS) {
          await nextTurn();
          sliceStartMs = performance.now();
        }
      }
      if (this.metrics && txns > 0) this.metrics.flushed(txns, current.queued, fsyncMs, performance.now() - current.startedMs);
      // Txns submitted while these callbacks ran (by a callback, or by requests read while the
      // apply gave way) found the stage flushing; without a batch after this one they would wait
      // for the next submit.
      current = next ?? (this.waiting.length > 0 && !this.failure ? this.startBatch() : undefined);
    }
    this.flushing = false;
  }

  /** Takes the next batch off the queue and hands its txns to the log (one write and fsync). */
  private startBatch(): InFlightBatch {
    const queued = this.waiting.length;
    const startedMs = this.metrics ? performance.now() : 0;
    const batch = this.waiting.length > this.maxBatch ? this.waiting.splice(0, this.maxBatch) : this.waiting.splice(0);
    this.inFlight += batch.length;
    let txns = 0;
    for (const w of batch) {
      if (w.txn) {
        this.log.append(w.txn);
        txns++;
      }
    }
    const fsyncStartedMs = this.metrics ? performance.now() : 0;
    // Resolves to when the fsync returned (the callbacks of the batch before may still run then).
    const durable = txns > 0 ? this.log.commit().then(() => (this.metrics ? performance.now() : 0)) : Promise.resolve(fsyncStartedMs);
    // Failures are taken up when the batch's turn comes.
    durable.catch(() => undefined);
    return { batch, txns, queued, startedMs, fsyncStartedMs, durable };
  }
}

interface Waiting {
  txn?: Txn;
  done: () => void;
  abandoned: () => void;
}

interface InFlightBatch {
  batch: Waiting[];
  txns: number;
  queued: number;
  startedMs: number;
  fsyncStartedMs: number;
  /** Settles once the batch's txns are durable, with the time then (0 without metrics). */
  durable: Promise<number>;
}
