/**
 * DIFF from disk: a leader whose in-memory committed log no longer reaches a learner's zxid can
 * still send it the txns from its on-disk log, when the log reaches back far enough and weighs
 * less than a fraction of a snapshot (zookeeper.snapshotSizeFactor, default 0.33); otherwise SNAP.
 *
 * The reader hands out each entry's zxid and its body bytes: a txn log entry without its checksum,
 * length and end-of-record byte, which is exactly what a PROPOSAL carries. It reads in chunks of a
 * fixed budget through one reused buffer, so a log of any length is streamed, never held.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { adler32 } from './adler32';
import { listSnapshots, VERSION_DIR } from './snapshot';
import { CorruptLogError, FILE_HEADER_BYTES, listLogFiles, type LogFile, RECORD_OVERHEAD_BYTES, TXNLOG_MAGIC, TXNLOG_VERSION } from './txnlog';
import { epochOf, isNextZxid, zxidGapReason, zxidHex, ZxidHistory } from './zxid';

/** ZooKeeper's default zookeeper.snapshotSizeFactor. */
export const DEFAULT_SNAPSHOT_SIZE_FACTOR = 0.33;
/** Bytes read from a file per step (default). */
export const DEFAULT_READ_BUDGET_BYTES = 256 * 1024;
/** Larger entries are taken for damage: far above jute.maxbuffer plus its extra size. */
const MAX_ENTRY_BYTES = 64 * 1024 * 1024;
const RECORD_HEAD_BYTES = 12;
const END_OF_RECORD = 0x42;
/** Where a txn header (clientId long, cxid int, zxid long, ...) has its zxid. */
const TXN_HEADER_ZXID_AT = 12;

export interface DiffEntry {
  zxid: bigint;
  /** The entry's bytes: TxnHeader, txn record, TxnDigest (if any). The caller owns them. */
  body: Buffer;
}

export interface DiffReadOptions {
  /** Stop after this zxid (the leader's last committed txn): later entries are not sent. */
  toZxid?: bigint;
  /** Bytes read per step (default DEFAULT_READ_BUDGET_BYTES). */
  readBudgetBytes?: number;
}

/** The log does not go on from the asked zxid without a hole. */
export class LogGapError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'LogGapError';
  }
}

/** The files a read from `afterZxid` needs: the newest that starts at or before the next zxid, and all later. */
function filesFrom(files: LogFile[], afterZxid: bigint): LogFile[] {
  let first = 0;
  for (let i = 0; i < files.length; i++) if (files[i].zxid <= afterZxid + 1n) first = i;
  return files.slice(first);
}

/** One file's records through a reused read buffer. */
class ChunkedLogFile {
  private buf: Buffer;
  /** File offset of buf[0], and how many bytes of buf are valid. */
  private start = 0;
  private len = 0;

  private constructor(
    private readonly fh: fs.promises.FileHandle,
    readonly file: string,
    readonly size: number,
    private readonly budget: number,
  ) {
    this.buf = Buffer.allocUnsafe(budget);
  }

  static async open(file: string, budget: number): Promise<ChunkedLogFile> {
    const fh = await fs.promises.open(file, 'r');
    try {
      return new ChunkedLogFile(fh, file, (await fh.stat()).size, budget);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  close(): Promise<void> {
    return this.fh.close();
  }

  /**
   * n bytes at offset (fewer at the end of the file), valid until the next call. Reads at most
   * the budget per read; an entry larger than the budget gets a buffer of its own size.
   */
  async read(offset: number, n: number): Promise<Buffer> {
    const want = Math.max(0, Math.min(n, this.size - offset));
    if (offset >= this.start && offset + want <= this.start + this.len) return this.buf.subarray(offset - this.start, offset - this.start + want);
    if (want > this.buf.length) this.buf = Buffer.allocUnsafe(want);
    else if (this.buf.length > this.budget && want <= this.budget) this.buf = Buffer.allocUnsafe(this.budget);
    const fill = Math.min(Math.max(want, this.budget), this.buf.length, this.size - offset);
    let got = 0;
    while (got < fill) {
      const { bytesRead } = await this.fh.read(this.buf, got, fill - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.start = offset;
    this.len = got;
    return this.buf.subarray(0, Math.min(want, got));
  }
}

/**
 * The entries after `afterZxid`, in order, across log files, up to `toZxid` if given. Each entry
 * must follow the one before (the first: `afterZxid`) by the zxid rule, else LogGapError: a
 * learner must get every txn (3.9 learners abort a DIFF with a hole). A file ends at a zero
 * length or at a record cut short by its end (a torn write ZooKeeper skips); a bad checksum or
 * end-of-record byte throws CorruptLogError.
 */
export async function* logEntriesAfter(dataLogDir: string, afterZxid: bigint, opts: DiffReadOptions = {}): AsyncGenerator<DiffEntry> {
  const budget = Math.max(RECORD_HEAD_BYTES, opts.readBudgetBytes ?? DEFAULT_READ_BUDGET_BYTES);
  const toZxid = opts.toZxid;
  let prev = afterZxid;
  const history = new ZxidHistory(afterZxid);
  for (const lf of filesFrom(listLogFiles(dataLogDir), afterZxid)) {
    const f = await ChunkedLogFile.open(lf.file, budget);
    try {
      const header = await f.read(0, FILE_HEADER_BYTES);
      if (header.length < FILE_HEADER_BYTES) continue;
      if (header.readInt32BE(0) !== TXNLOG_MAGIC) throw new CorruptLogError(lf.file, 0, 'invalid magic number (expected "ZKLG")');
      if (header.readInt32BE(4) !== TXNLOG_VERSION) throw new CorruptLogError(lf.file, 4, `unsupported txn log format version ${header.readInt32BE(4)}`);
      let offset = FILE_HEADER_BYTES;
      for (;;) {
        const head = await f.read(offset, RECORD_HEAD_BYTES);
        if (head.length < RECORD_HEAD_BYTES) break;
        const crcHigh = head.readInt32BE(0);
        const crcLow = head.readUInt32BE(4);
        const len = head.readInt32BE(8);
        if (len === 0) break;
        if (len < 0 || len > MAX_ENTRY_BYTES) throw new CorruptLogError(lf.file, offset, `invalid record length ${len}`);
        if (offset + RECORD_OVERHEAD_BYTES + len > f.size) break;
        const rec = await f.read(offset, RECORD_OVERHEAD_BYTES + len);
        const entry = rec.subarray(RECORD_HEAD_BYTES, RECORD_HEAD_BYTES + len);
        if (crcHigh !== 0 || adler32(entry) !== crcLow) throw new CorruptLogError(lf.file, offset, 'checksum mismatch');
        if (rec[RECORD_HEAD_BYTES + len] !== END_OF_RECORD) throw new CorruptLogError(lf.file, offset, 'missing end-of-record byte 0x42');
        if (len < TXN_HEADER_ZXID_AT + 8) throw new CorruptLogError(lf.file, offset, `entry of ${len} bytes is too short for a txn header`);
        const zxid = entry.readBigInt64BE(TXN_HEADER_ZXID_AT);
        offset += RECORD_OVERHEAD_BYTES + len;
        if (zxid <= afterZxid) continue;
        if (toZxid !== undefined && zxid > toZxid) return;
        // A stretch logged twice (see ZxidHistory): the learner gets each txn once.
        if (zxid <= prev && history.has(zxid)) continue;
        if (!isNextZxid(prev, zxid)) throw new LogGapError(`${path.basename(lf.file)}: ${zxidGapReason(prev, zxid)}`);
        prev = zxid;
        history.add(zxid);
        // A copy: the read buffer is reused for the next entries.
        yield { zxid, body: Buffer.from(entry) };
        if (zxid === toZxid) return;
      }
    } finally {
      await f.close();
    }
  }
  if (toZxid !== undefined && prev < toZxid) throw new LogGapError(`the txn log ends at ${zxidHex(prev)}, before ${zxidHex(toZxid)}`);
}

export interface LogSpan {
  /**
   * Whether a log file starts at or before `zxid`, so that the log holds a txn at or before it
   * (ZooKeeper's test: a peer at a new epoch's zxid, before its first txn, is not reached).
   */
  reaches: boolean;
  /**
   * Bytes of the log files a DIFF from `zxid` reads: the file holding the next zxid and all
   * later ones, counted by file size as ZooKeeper counts them (preallocated space included).
   */
  bytes: number;
}

/** How far back the log reaches and what a DIFF from `zxid` would read of it. */
export function logBytesSince(dataLogDir: string, zxid: bigint): LogSpan {
  const files = listLogFiles(dataLogDir);
  if (files.length === 0 || files[0].zxid > zxid) return { reaches: false, bytes: 0 };
  let bytes = 0;
  for (const f of filesFrom(files, zxid)) bytes += fs.statSync(f.file).size;
  return { reaches: true, bytes };
}

/**
 * ZooKeeper's rule for a DIFF from the on-disk log: the log reaches the peer's zxid and weighs
 * no more than `factor` times the newest snapshot file's size (a factor below 0 turns it off; no
 * snapshot, no DIFF).
 */
export function diffFromLogAllowed(dataDir: string, dataLogDir: string, peerZxid: bigint, factor = DEFAULT_SNAPSHOT_SIZE_FACTOR): boolean {
  if (factor < 0) return false;
  const newest = listSnapshots(path.join(dataDir, VERSION_DIR))[0];
  if (newest === undefined) return false;
  const limit = factor * fs.statSync(newest.file).size;
  const span = logBytesSince(dataLogDir, peerZxid);
  return span.reaches && span.bytes <= Math.floor(limit);
}

/** Consecutive zxids of one epoch, as the sync planner takes them. */
export interface LoggedRun {
  first: bigint;
  last: bigint;
}

export interface LogTail {
  /** The last `windowCount` entries up to `toZxid`, oldest first: a new leader's committed window. */
  window: DiffEntry[];
  /** Every zxid read, as ascending runs each within one epoch: what a DIFF from disk can replay. */
  runs: LoggedRun[];
}

/**
 * What a new leader needs of its log to DIFF learners: the in-memory window, and which zxids the
 * log holds. Only the tail a DIFF from disk could ever read is scanned (the files that fit in
 * `snapshotSizeFactor` times the newest snapshot, and at least the last two files for the window),
 * so a long log is not read at every election. A log with a hole, or damage, gives nothing: the
 * learners behind get a SNAP.
 */
export async function readLogTail(
  dataDir: string,
  dataLogDir: string,
  toZxid: bigint,
  opts: { windowCount: number; snapshotSizeFactor: number },
): Promise<LogTail> {
  const files = listLogFiles(dataLogDir);
  if (files.length === 0) return { window: [], runs: [] };
  let budget = 0;
  if (opts.snapshotSizeFactor >= 0) {
    const newest = listSnapshots(path.join(dataDir, VERSION_DIR))[0];
    if (newest !== undefined) budget = opts.snapshotSizeFactor * fs.statSync(newest.file).size;
  }
  let first = files.length - 1;
  let bytes = fs.statSync(files[first].file).size;
  while (first > 0) {
    const size = fs.statSync(files[first - 1].file).size;
    if (bytes + size > budget && first <= files.length - 2) break;
    bytes += size;
    first--;
  }
  const window: DiffEntry[] = [];
  const runs: LoggedRun[] = [];
  try {
    for await (const e of logEntriesAfter(dataLogDir, files[first].zxid - 1n, { toZxid })) {
      window.push(e);
      if (window.length > opts.windowCount) window.shift();
      const last = runs[runs.length - 1];
      if (last !== undefined && e.zxid === last.last + 1n && epochOf(e.zxid) === epochOf(last.last)) last.last = e.zxid;
      else runs.push({ first: e.zxid, last: e.zxid });
    }
  } catch {
    return { window: [], runs: [] };
  }
  return { window, runs };
}
