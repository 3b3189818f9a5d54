/**
 * The database: the tree, the sessions it knows, and how txns become durable. The in-memory one
 * is here; the one on disk, in ZooKeeper's format, is in diskdb.ts.
 */
import { MemoryCommitStage, type CommitStage } from '../server/commit';
import { DataTree } from './datatree';
import type { Txn } from './txn';

/** A whole tree received from elsewhere (a leader's SNAP), already durable on disk as a snapshot; or kept (see source). */
export interface ReceivedTree {
  tree: DataTree;
  sessions: Map<bigint, number>;
  /** 'memory': the tree a role ended with, the disk holding the same (not a received snapshot). */
  source?: 'snapshot' | 'memory';
}

export interface Database {
  readonly tree: DataTree;
  /** Sessions (id -> timeout) that were open when the server last stopped. */
  readonly sessions: Map<bigint, number>;
  readonly commit: CommitStage;
  /** Called after each txn is applied; `sessions` lists the live sessions for a snapshot. */
  afterApply(txn: Txn, sessions: () => Map<bigint, number>): void;
  close(): Promise<void>;
  /** After close(): the tree and sessions, when the disk holds exactly them (see DiskDatabase). */
  sameAsDisk?(): ReceivedTree | undefined;
}

/** Keeps everything in memory: nothing survives a restart. */
export class MemoryDatabase implements Database {
  readonly tree: DataTree;
  readonly sessions = new Map<bigint, number>();
  readonly commit = new MemoryCommitStage();
  constructor(extendedTypesEnabled: boolean) {
    this.tree = new DataTree(extendedTypesEnabled);
  }
  afterApply(): void {}
  async close(): Promise<void> {}
}
