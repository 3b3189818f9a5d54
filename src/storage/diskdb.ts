/**
 * The database on disk, in ZooKeeper's format. Opening it recovers the newest valid snapshot plus
 * the txn log after it; while serving, it logs every txn (through the commit stage), takes a
 * snapshot every `snapCount` txns (randomised, as ZooKeeper does, so that servers of an ensemble
 * do not snapshot together) and purges old files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { OpCode } from '../protocol/constants';
import type { ServerConfig } from '../server/config';
import { LogCommitStage } from '../server/commit';
import type { Database, ReceivedTree } from './database';
import { DataTree } from './datatree';
import { collectGarbage, holdYoungGeneration, releaseYoungGeneration } from './heap';
import { purge, VERSION_DIR } from './purge';
import { CorruptSnapshotError, listSnapshots, readSnapshot, writeSnapshot } from './snapshot';
import type { Txn } from './txn';
import { CorruptLogError, readTxnLog, TornLogTail, truncateLog, TxnLogWriter, type FsShim } from './txnlog';
import { isNextZxid, zxidGapReason, zxidHex, ZxidHistory } from './zxid';

/** How long a shutdown waits for txns already handed to the log. */
const CLOSE_DRAIN_MS = 10_000;
/** Txns of one fsync at most. */
const MAX_COMMIT_BATCH = 1000;

export class RecoveryError extends Error {}

interface Recovered {
  tree: DataTree;
  sessions: Map<bigint, number>;
  snapshotZxid: bigint;
  snapshotFile?: string;
  replayed: number;
  /** Time spent loading the snapshot and replaying the log, in ms. */
  snapLoadMs: number;
  txnsLoadMs: number;
}

/** Newest valid snapshot, then the log after it. Corrupt snapshots fall back to older ones. */
export function recover(config: ServerConfig, log: Logger): Recovered {
  let tree = new DataTree(config.extendedTypesEnabled);
  let sessions = new Map<bigint, number>();
  let snapshotZxid = 0n;
  let snapshotFile: string | undefined;
  const snapStarted = performance.now();
  const snaps = listSnapshots(path.join(config.dataDir, VERSION_DIR));
  for (const s of snaps) {
    try {
      const r = readSnapshot(s.file, config.extendedTypesEnabled);
      // ZooKeeper's snapshots are fuzzy: the digest stored for the file's zxid may miss a txn the
      // nodes already hold. The computed digest is the tree's; the difference is only reported.
      if (r.digestMatches === false) log.info({ file: s.file, stored: r.digest?.digest.toString(), computed: r.tree.digest.value.toString() }, 'the snapshot\'s stored digest is not its nodes\' (a snapshot written while txns went on); the digest is computed from the nodes');
      tree = r.tree;
      sessions = r.sessions;
      snapshotZxid = r.zxid;
      snapshotFile = s.file;
      break;
    } catch (e) {
      if (!(e instanceof CorruptSnapshotError)) throw e;
      log.warn({ file: s.file, reason: e.message }, 'snapshot is corrupt; trying an older one');
    }
  }
  tree.recountQuotas();
  if (snaps.length > 0 && snapshotFile === undefined) {
    // Without any valid snapshot, only a log from the first txn (1, or an ensemble's 0x100000001) can rebuild the tree.
    log.warn({ snapshots: snaps.length }, 'no valid snapshot; replaying the whole log');
  }
  tree.lastProcessedZxid = snapshotZxid;
  const snapLoadMs = performance.now() - snapStarted;
  const txnsStarted = performance.now();
  let replayed = 0;
  const history = new ZxidHistory(snapshotZxid);
  let repeats: { count: number; file: string; offset: number; first: bigint; last: bigint } | undefined;
  try {
    for (const entry of readTxnLog(config.dataLogDir, snapshotZxid + 1n)) {
      const txn = entry.txn;
      if (txn.hdr.zxid <= tree.lastProcessedZxid && history.has(txn.hdr.zxid)) {
        // A stretch a ZooKeeper follower logged twice: already applied, so applied once.
        if (repeats === undefined) repeats = { count: 0, file: entry.file, offset: entry.offset, first: txn.hdr.zxid, last: txn.hdr.zxid };
        repeats.count++;
        repeats.last = txn.hdr.zxid;
        continue;
      }
      // Each txn must follow the one before (the snapshot's zxid for the first): the next counter,
      // or counter 1 of a higher epoch where an ensemble's leadership changed.
      if (!isNextZxid(tree.lastProcessedZxid, txn.hdr.zxid))
        throw new RecoveryError(`${zxidGapReason(tree.lastProcessedZxid, txn.hdr.zxid)} at ${entry.file} offset ${entry.offset}; refusing to start`);
      tree.replay(txn);
      trackSessions(sessions, txn);
      history.add(txn.hdr.zxid);
      replayed++;
    }
  } catch (e) {
    if (e instanceof TornLogTail) {
      log.warn({ file: e.file, offset: e.offset, reason: e.message }, 'truncating a torn record at the end of the txn log');
      truncateLog(e.file, e.offset);
    } else if (e instanceof CorruptLogError) {
      throw new RecoveryError(`txn log ${e.file} is corrupt at offset ${e.offset}: ${e.message}; refusing to start`);
    } else throw e;
  }
  if (repeats !== undefined) {
    log.warn(
      { file: repeats.file, offset: repeats.offset, txns: repeats.count, from: zxidHex(repeats.first), to: zxidHex(repeats.last) },
      'the txn log holds txns it already held before (logged twice, as a ZooKeeper follower can): each applied once',
    );
  }
  return { tree, sessions, snapshotZxid, snapshotFile, replayed, snapLoadMs, txnsLoadMs: performance.now() - txnsStarted };
}


function snapshotCompression(config: ServerConfig, log: Logger): 'none' | 'gz' {
  const method = config.systemProps.get('zookeeper.snapshot.compression.method') ?? '';
  if (method === 'gz') return 'gz';
  if (method === 'snappy') log.warn('snapshot.compression.method=snappy: snappy snapshots are read but written uncompressed');
  else if (method !== '') log.warn({ method }, 'unknown snapshot.compression.method; writing uncompressed');
  return 'none';
}

function newLogWriter(config: ServerConfig, log: Logger, fsShim?: FsShim): TxnLogWriter {
  return new TxnLogWriter(config.dataLogDir, {
    preAllocBytes: config.preAllocSizeKb * 1024,
    forceSync: config.forceSync,
    fs: fsShim,
    openRetryMs: config.storageOpenRetryMs,
    onStall: (err) => {
      if (err) log.error({ err: err.message, code: (err as NodeJS.ErrnoException).code, retryMs: config.storageOpenRetryMs }, 'cannot open a txn log file; writes wait while it is retried');
      else log.info('txn log file opened; writes go on');
    },
  });
}

function trackSessions(sessions: Map<bigint, number>, txn: Txn): void {
  const b = txn.body;
  if (b.type === OpCode.createSession) sessions.set(txn.hdr.clientId, b.record.timeOut);
  else if (b.type === OpCode.closeSession) sessions.delete(txn.hdr.clientId);
}

export class DiskDatabase implements Database {
  readonly commit: LogCommitStage;
  private txnsSinceSnapshot = 0;
  private snapshotThreshold: number;
  private snapshotting: Promise<void> | undefined;
  private purgeTimer: NodeJS.Timeout | undefined;
  /** What the start measured (mntr's startup summaries); the start snapshot's time is in snapshotMs. */
  startup = { dbInitMs: 0, snapLoadMs: 0, txnsLoaded: 0, txnsLoadMs: 0, snapshotMs: 0 };
  /** Told of each snapshot written while serving, with its duration in ms. */
  onSnapshot: ((ms: number) => void) | undefined;

  /** zookeeper.snapshot.compression.method: gz is written; snappy is read only. */
  private readonly compression: 'none' | 'gz';

  /** The zxid the disk held up to when this database was opened (the tree's then). */
  private readonly openedAtZxid: bigint;
  /** The sessions the txns on disk leave: those at the open, then each applied txn's change. */
  private readonly loggedSessions: Map<bigint, number>;
  /** Set by close() when every txn handed to the log reached it and the log closed without error. */
  private closedCleanly = false;

  private constructor(
    readonly tree: DataTree,
    readonly sessions: Map<bigint, number>,
    private readonly writer: TxnLogWriter,
    private readonly config: ServerConfig,
    private readonly log: Logger,
    onFailure: (err: Error) => void,
  ) {
    this.commit = new LogCommitStage(writer, MAX_COMMIT_BATCH, onFailure);
    this.compression = snapshotCompression(config, log);
    this.snapshotThreshold = this.nextThreshold();
    this.openedAtZxid = tree.lastProcessedZxid;
    this.loggedSessions = new Map(sessions);
  }

  /**
   * After close(): the tree and sessions in memory, when they are exactly what recovery from disk
   * would rebuild (the log ends at the txn the tree applied last, and every txn handed to the log
   * is in it), so that the next role can take them instead of reading the disk again; undefined
   * otherwise (the log holds txns the tree never applied, or the tree applied some the log may not
   * hold, or the log failed).
   */
  sameAsDisk(): ReceivedTree | undefined {
    if (!this.closedCleanly) return undefined;
    const logged = this.writer.lastAppendedZxid ?? this.openedAtZxid;
    if (logged !== this.tree.lastProcessedZxid) return undefined;
    return { tree: this.tree, sessions: new Map(this.loggedSessions), source: 'memory' };
  }

  /**
   * Recovers the database and starts a clean snapshot of it, as ZooKeeper takes one at start.
   * Clients are served while it is written (it is the tree as of the start, whatever changes
   * meanwhile); until it is complete the snapshot before it and the log still hold everything.
   */
  static async open(config: ServerConfig, log: Logger, onFailure: (err: Error) => void, fsShim?: FsShim): Promise<DiskDatabase> {
    for (const dir of [config.dataDir, config.dataLogDir]) fs.mkdirSync(path.join(dir, VERSION_DIR), { recursive: true });
    // Until the start snapshot is written (see heap.ts).
    holdYoungGeneration();
    const started = Date.now();
    const initStarted = performance.now();
    let r: Recovered;
    try {
      r = recover(config, log);
    } catch (e) {
      releaseYoungGeneration();
      throw e;
    }
    const dbInitMs = performance.now() - initStarted;
    log.info(
      { snapshot: r.snapshotFile ?? null, snapshotZxid: '0x' + r.snapshotZxid.toString(16), replayed: r.replayed, zxid: '0x' + r.tree.lastProcessedZxid.toString(16), nodes: r.tree.nodeCount, sessions: r.sessions.size, ms: Date.now() - started },
      'database recovered',
    );
    const db = new DiskDatabase(r.tree, r.sessions, newLogWriter(config, log, fsShim), config, log, onFailure);
    db.startup = { dbInitMs, snapLoadMs: r.snapLoadMs, txnsLoaded: r.replayed, txnsLoadMs: r.txnsLoadMs, snapshotMs: 0 };
    const zxid = r.tree.lastProcessedZxid;
    const snapStarted = performance.now();
    db.snapshotting = writeSnapshot(path.join(config.dataDir, VERSION_DIR), r.tree, r.sessions, zxid, { compression: db.compression })
      .then((file) => {
        const ms = performance.now() - snapStarted;
        db.startup.snapshotMs = ms;
        // The start is done once its garbage is gone (see heap.ts); then it is reported.
        db.finishStart();
        db.onSnapshot?.(ms);
        log.info({ file, zxid: '0x' + zxid.toString(16), ms: Math.round(ms) }, 'start snapshot taken');
      })
      .catch((e) => {
        db.finishStart();
        log.error({ err: (e as Error).message }, 'start snapshot failed; the txn log still holds every txn');
      })
      .finally(() => (db.snapshotting = undefined));
    db.schedulePurge();
    return db;
  }

  /**
   * A database over a tree this process already holds, as the disk has it: a learner's, after the
   * leader's SNAP was decoded and spooled durably, or the one a role ended with when the disk holds
   * the same (sameAsDisk). No recovery from disk and no start snapshot. The txn log must hold
   * nothing after it.
   */
  static adopt(config: ServerConfig, log: Logger, onFailure: (err: Error) => void, loaded: ReceivedTree, fsShim?: FsShim): DiskDatabase {
    for (const dir of [config.dataDir, config.dataLogDir]) fs.mkdirSync(path.join(dir, VERSION_DIR), { recursive: true });
    log.info(
      { zxid: '0x' + loaded.tree.lastProcessedZxid.toString(16), nodes: loaded.tree.nodeCount, sessions: loaded.sessions.size },
      loaded.source === 'memory' ? 'database kept in memory (the disk holds the same)' : 'database taken from a received snapshot',
    );
    const db = new DiskDatabase(loaded.tree, loaded.sessions, newLogWriter(config, log, fsShim), config, log, onFailure);
    db.startFinished = true;
    db.schedulePurge();
    return db;
  }

  private startFinished = false;

  private finishStart(): void {
    if (this.startFinished) return;
    this.startFinished = true;
    collectGarbage();
    releaseYoungGeneration();
  }

  /** snapCount/2 plus a random part of snapCount/2, as ZooKeeper spreads snapshots. */
  private nextThreshold(): number {
    const half = Math.max(1, Math.floor(this.config.snapCount / 2));
    return half + Math.floor(Math.random() * half);
  }

  afterApply(txn: Txn, sessions: () => Map<bigint, number>): void {
    trackSessions(this.loggedSessions, txn);
    if (++this.txnsSinceSnapshot < this.snapshotThreshold) return;
    if (this.snapshotting) return;
    this.txnsSinceSnapshot = 0;
    this.snapshotThreshold = this.nextThreshold();
    this.writer.rollLog();
    const zxid = this.tree.lastProcessedZxid;
    const started = Date.now();
    const startedPrecise = performance.now();
    // writeSnapshot takes the tree as it is at the call, and writes it while txns go on.
    this.snapshotting = writeSnapshot(path.join(this.config.dataDir, VERSION_DIR), this.tree, sessions(), zxid, { compression: this.compression })
      .then((file) => {
        this.onSnapshot?.(performance.now() - startedPrecise);
        this.log.info({ file, zxid: '0x' + zxid.toString(16), ms: Date.now() - started }, 'snapshot taken');
      })
      .catch((e) => this.log.error({ err: (e as Error).message }, 'snapshot failed; the txn log still holds every txn'))
      .finally(() => (this.snapshotting = undefined));
  }

  private schedulePurge(): void {
    const hours = this.config.autopurgePurgeIntervalHours;
    if (hours <= 0) return;
    const run = () => {
      try {
        const r = purge(this.config.dataLogDir, this.config.dataDir, this.config.autopurgeSnapRetainCount);
        if (r.removed.length > 0) this.log.info({ removed: r.removed }, 'purged old snapshots and logs');
      } catch (e) {
        this.log.error({ err: (e as Error).message }, 'purge failed');
      }
    };
    this.purgeTimer = setInterval(run, hours * 3600_000);
    this.purgeTimer.unref();
  }

  async close(): Promise<void> {
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    // Let txns already handed to the log reach the disk (bounded: a failed disk never answers).
    let drained = false;
    if (!this.commit.failure) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_DRAIN_MS);
        this.commit.barrier(() => {
          clearTimeout(timer);
          drained = true;
          resolve();
        });
      });
    }
    if (this.snapshotting) await this.snapshotting;
    await this.writer.close();
    this.closedCleanly = drained && !this.commit.failure && this.commit.pending === 0;
    const st = this.commit.stats;
    this.log.info({ txns: st.txns, fsyncBatches: st.batches, maxBatch: st.maxBatch, txnsPerFsync: st.batches ? +(st.txns / st.batches).toFixed(2) : 0 }, 'txn log closed');
  }
}
