/**
 * What both Zab shells do with their core: execute its Readies one at a time, each completely (with
 * its fsyncs) before the next is taken, and make txns durable through the database's txn log.
 */
import type { CommitStage } from '../server/commit';
import type { Txn } from '../storage/txn';
import type { Ready } from './ready';

export interface ReadyCore {
  hasReady(): boolean;
  ready(): Ready;
  advance(): void;
}

export class ReadyLoop {
  private running = false;
  private kickQueued = false;

  constructor(
    private readonly core: () => ReadyCore,
    private readonly execute: (rd: Ready) => Promise<void>,
    /** A Ready that could not be carried out: the role must end. */
    private readonly failed: (err: Error) => void,
    private readonly over: () => boolean,
  ) {}

  /**
   * kick(), once the code running now is done: the packets of one socket read, or the requests of
   * one client read, go into one Ready and out in one write per peer, rather than one each.
   */
  kickSoon(): void {
    if (this.kickQueued) return;
    this.kickQueued = true;
    queueMicrotask(() => {
      this.kickQueued = false;
      this.kick();
    });
  }

  /** Runs what the core has ready, unless a run is under way (it takes the new Readies too). */
  kick(): void {
    if (this.running || this.over()) return;
    this.running = true;
    void (async () => {
      try {
        const core = this.core();
        while (core.hasReady() && !this.over()) {
          const rd = core.ready();
          await this.execute(rd);
          core.advance();
        }
      } catch (e) {
        this.failed(e instanceof Error ? e : new Error(String(e)));
      } finally {
        this.running = false;
      }
    })();
  }
}

/** Logs txns and resolves once the fsync that covers the last of them returned (group commit). */
export function appendDurably(commit: CommitStage, txns: readonly Txn[]): Promise<void> {
  if (txns.length === 0) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    let left = txns.length;
    for (const txn of txns)
      commit.submit(
        txn,
        () => {
          if (--left === 0) resolve();
        },
        () => reject(commit.failure ?? new Error('the txn log failed')),
      );
  });
}
