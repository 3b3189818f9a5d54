/**
 * The commit stage: where a prepared txn becomes durable (standalone: the txn log; replicated: a
 * quorum's ack) before it is applied. It calls `done` for txns strictly in submission order.
 */
import type { Txn } from '../storage/txn';

export interface CommitStage {
  submit(txn: Txn, done: () => void): void;
  /** Calls `done` once every txn submitted before it is committed (sync). */
  barrier(done: () => void): void;
  /** Txns submitted and not yet committed. */
  readonly pending: number;
}

/** Keeps txns in memory only: each is committed as it is submitted. */
export class MemoryCommitStage implements CommitStage {
  readonly pending = 0;
  submit(_txn: Txn, done: () => void): void {
    done();
  }
  barrier(done: () => void): void {
    done();
  }
}
