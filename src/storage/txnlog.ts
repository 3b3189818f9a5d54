/**
 * ZooKeeper's txn log files, byte for byte: `<dataLogDir>/version-2/log.<hex zxid of the first txn>`,
 * a FileHeader {magic "ZKLG", version 2, dbid 0}, then per txn: the Adler-32 of the entry bytes as a
 * long, the entry length as an int, the entry bytes (see txnserde.ts) and the end-of-record byte 'B'.
 * Files grow in preAllocSize steps of zeros, and a zero length marks the end of the records.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { JuteWriter } from '../protocol/jute';
import { encodeFileHeader, FileHeader_SIZE } from '../protocol/generated/records';
import { adler32 } from './adler32';
import type { Txn } from './txn';
import { deserializeTxn, serializeTxnView, TxnFormatError, type TxnDigest } from './txnserde';

export const LOG_VERSION_DIR = 'version-2';
export const LOG_FILE_PREFIX = 'log.';
/** "ZKLG" read as a big-endian int. */
export const TXNLOG_MAGIC = 0x5a4b4c47;
export const TXNLOG_VERSION = 2;
export const FILE_HEADER_BYTES = FileHeader_SIZE;
/** ZooKeeper's default preAllocSize (64 MiB). */
export const DEFAULT_PREALLOC_BYTES = 64 * 1024 * 1024;
/** The file grows once the write position comes this close to its end. */
const PAD_THRESHOLD_BYTES = 4096;
const END_OF_RECORD = 0x42;
/** checksum (long) + length (int). */
const RECORD_HEAD_BYTES = 12;
/** Bytes around an entry: checksum, length and the end-of-record byte. */
export const RECORD_OVERHEAD_BYTES = RECORD_HEAD_BYTES + 1;
/** Larger entries are refused when reading: far above jute.maxbuffer, so only garbage is this big. */
const MAX_ENTRY_BYTES = 256 * 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;

/** A record before the end of the log is damaged: the log cannot be replayed past it. */
export class CorruptLogError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${file} offset ${offset}: ${reason}`);
    this.name = 'CorruptLogError';
  }
}

/**
 * The newest log file ends in a record that was not completely written (a crash during a write that
 * was never acknowledged). Everything before `offset` was read; truncateLog(file, offset) removes
 * the rest.
 */
export class TornLogTail extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${file} offset ${offset}: ${reason}`);
    this.name = 'TornLogTail';
  }
}

export interface LogEntry {
  txn: Txn;
  digest?: TxnDigest;
  file: string;
  /** Offset of the record (its checksum) in the file. */
  offset: number;
}

export interface LogFile {
  file: string;
  /** zxid of the file's first txn, from its name. */
  zxid: bigint;
}

export function logDirOf(dataLogDir: string): string {
  return path.join(dataLogDir, LOG_VERSION_DIR);
}

export function logFileName(zxid: bigint): string {
  return LOG_FILE_PREFIX + zxid.toString(16);
}

/** Log files of `<dataLogDir>/version-2`, oldest first. Names that are not log.<hex> are ignored. */
export function listLogFiles(dataLogDir: string): LogFile[] {
  const dir = logDirOf(dataLogDir);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: LogFile[] = [];
  for (const name of names) {
    // As ZooKeeper: the part after "log." up to the next dot is the zxid in hex.
    if (!name.startsWith(LOG_FILE_PREFIX)) continue;
    const hex = name.slice(LOG_FILE_PREFIX.length).split('.')[0];
    if (!/^[0-9a-fA-F]{1,16}$/.test(hex)) continue;
    out.push({ file: path.join(dir, name), zxid: BigInt.asIntN(64, BigInt('0x' + hex)) });
  }
  out.sort((a, b) => (a.zxid < b.zxid ? -1 : a.zxid > b.zxid ? 1 : 0));
  return out;
}

export function encodeFileHeaderBytes(dbid = 0n): Buffer {
  const w = new JuteWriter(FILE_HEADER_BYTES);
  encodeFileHeader(w, { magic: TXNLOG_MAGIC, version: TXNLOG_VERSION, dbid });
  return w.toBuffer();
}

/** One framed record: checksum, length, entry, end-of-record byte. */
export function frameEntry(entry: Buffer): Buffer {
  const w = new JuteWriter(entry.length + RECORD_OVERHEAD_BYTES);
  appendFramed(w, entry);
  return w.toBuffer();
}

/** Appends the framed record of `entry` to w. */
function appendFramed(w: JuteWriter, entry: Buffer): void {
  w.ensure(entry.length + RECORD_OVERHEAD_BYTES);
  const out = w.buf;
  const at = w.pos;
  // Adler-32 is unsigned 32-bit: the checksum long's high half is zero.
  out.writeInt32BE(0, at);
  out.writeUInt32BE(adler32(entry), at + 4);
  out.writeInt32BE(entry.length, at + 8);
  entry.copy(out, at + RECORD_HEAD_BYTES);
  out[at + RECORD_HEAD_BYTES + entry.length] = END_OF_RECORD;
  w.pos = at + entry.length + RECORD_OVERHEAD_BYTES;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** Positional reads over one file through a reused buffer, so large logs are never held whole. */
class FileCursor {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  private bufLen = 0;
  readonly size: number;

  constructor(private readonly fd: number) {
    this.size = fs.fstatSync(fd).size;
  }

  /** Up to n bytes at offset (fewer at the end of the file); valid until the next call. */
  read(offset: number, n: number): Buffer {
    const want = Math.max(0, Math.min(n, this.size - offset));
    if (offset >= this.bufStart && offset + want <= this.bufStart + this.bufLen) {
      return this.buf.subarray(offset - this.bufStart, offset - this.bufStart + want);
    }
    const fill = Math.min(Math.max(want, READ_CHUNK_BYTES), this.size - offset);
    if (this.buf.length < fill) this.buf = Buffer.allocUnsafe(fill);
    let got = 0;
    while (got < fill) {
      const k = fs.readSync(this.fd, this.buf, got, fill - got, offset + got);
      if (k === 0) break;
      got += k;
    }
    this.bufStart = offset;
    this.bufLen = got;
    return this.buf.subarray(0, Math.min(want, got));
  }

  allZeroFrom(offset: number): boolean {
    for (let at = offset; at < this.size; ) {
      const chunk = this.read(at, READ_CHUNK_BYTES);
      if (chunk.length === 0) return true;
      if (!isZero(chunk)) return false;
      at += chunk.length;
    }
    return true;
  }
}

const ZEROS = Buffer.alloc(READ_CHUNK_BYTES);

/** Native comparison: preallocated tails are megabytes of zeros. */
function isZero(b: Buffer): boolean {
  for (let at = 0; at < b.length; at += ZEROS.length) {
    const part = b.subarray(at, Math.min(b.length, at + ZEROS.length));
    if (!part.equals(ZEROS.subarray(0, part.length))) return false;
  }
  return true;
}

type RecordAt =
  | { kind: 'entry'; entry: Buffer; next: number }
  | { kind: 'end' }
  | { kind: 'bad'; reason: string; extent: number };

/** Reads the record at offset: a good entry, the zero-filled end, or why it is bad. */
function recordAt(c: FileCursor, offset: number): RecordAt {
  const head = c.read(offset, RECORD_HEAD_BYTES);
  if (head.length < RECORD_HEAD_BYTES) {
    if (head.every((b) => b === 0)) return { kind: 'end' };
    return { kind: 'bad', reason: `record header cut short (${head.length} of ${RECORD_HEAD_BYTES} bytes)`, extent: c.size };
  }
  // The checksum long as two halves: no bigint per record.
  const crcHigh = head.readInt32BE(0);
  const crcLow = head.readUInt32BE(4);
  const len = head.readInt32BE(8);
  if (len === 0) {
    if (crcHigh === 0 && crcLow === 0) return { kind: 'end' };
    return { kind: 'bad', reason: 'record with a checksum but zero length', extent: offset + RECORD_HEAD_BYTES };
  }
  if (len < 0 || len > MAX_ENTRY_BYTES) return { kind: 'bad', reason: `invalid record length ${len}`, extent: c.size };
  const total = RECORD_OVERHEAD_BYTES + len;
  if (offset + total > c.size) {
    return { kind: 'bad', reason: `record cut short (${c.size - offset} of ${total} bytes)`, extent: c.size };
  }
  const body = c.read(offset, total);
  const entry = body.subarray(RECORD_HEAD_BYTES, RECORD_HEAD_BYTES + len);
  const sum = adler32(entry);
  if (crcHigh !== 0 || sum !== crcLow) {
    const stored = BigInt.asUintN(64, head.readBigInt64BE(0));
    return { kind: 'bad', reason: `checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${sum.toString(16)})`, extent: offset + total };
  }
  if (body[RECORD_HEAD_BYTES + len] !== END_OF_RECORD) {
    return { kind: 'bad', reason: `missing end-of-record byte 0x42 (found 0x${body[RECORD_HEAD_BYTES + len].toString(16)})`, extent: offset + total };
  }
  // A view into the cursor's buffer: every reader decodes it (copying what it keeps) before the
  // next read.
  return { kind: 'entry', entry, next: offset + total };
}

/**
 * Whether an intact record starts anywhere in [from, to). A damaged record followed by intact ones
 * is damage to acknowledged data; a damaged record followed by nothing intact is a torn write.
 */
function intactRecordIn(c: FileCursor, from: number, to: number): boolean {
  const end = Math.min(to, c.size - RECORD_OVERHEAD_BYTES + 1);
  let at = from;
  while (at < end) {
    // A record's length has a non-zero byte within its first 12 bytes: skip runs of zeros.
    const nz = nextNonZero(c, at, Math.min(end + RECORD_HEAD_BYTES, c.size));
    if (nz < 0) return false;
    for (let p = Math.max(at, nz - RECORD_HEAD_BYTES + 1); p <= nz && p < end; p++) {
      if (candidateIsIntact(c, p)) return true;
    }
    at = nz + 1;
  }
  return false;
}

function nextNonZero(c: FileCursor, from: number, to: number): number {
  for (let at = from; at < to; ) {
    const chunk = c.read(at, Math.min(READ_CHUNK_BYTES, to - at));
    if (chunk.length === 0) return -1;
    if (isZero(chunk)) {
      at += chunk.length;
      continue;
    }
    for (let i = 0; i < chunk.length; i++) if (chunk[i] !== 0) return at + i;
    at += chunk.length;
  }
  return -1;
}

function candidateIsIntact(c: FileCursor, at: number): boolean {
  const head = c.read(at, RECORD_HEAD_BYTES);
  if (head.length < RECORD_HEAD_BYTES) return false;
  // Adler-32 fits 32 bits, so the checksum long's high half is zero.
  if (head.readInt32BE(0) !== 0) return false;
  const len = head.readInt32BE(8);
  if (len <= 0 || len > MAX_ENTRY_BYTES || at + RECORD_OVERHEAD_BYTES + len > c.size) return false;
  return recordAt(c, at).kind === 'entry';
}

/** Whether the damaged record at offset is a torn write rather than damage before intact records. */
function looksTorn(c: FileCursor, offset: number, extent: number): boolean {
  const to = c.allZeroFrom(Math.min(extent, c.size)) ? extent : c.size;
  return !intactRecordIn(c, offset + 1, to);
}

export type FileItem = { kind: 'entry'; entry: Buffer; offset: number } | { kind: 'tail'; offset: number; reason: string };

/**
 * The records of one log file. A damaged record with nothing intact after it ends the file as a
 * 'tail' item; a damaged record with intact records after it throws CorruptLogError.
 */
export function* fileRecords(file: string): Generator<FileItem> {
  const fd = fs.openSync(file, 'r');
  try {
    const c = new FileCursor(fd);
    const header = c.read(0, FILE_HEADER_BYTES);
    const complete = header.length === FILE_HEADER_BYTES;
    const magic = complete ? header.readInt32BE(0) : 0;
    const version = complete ? header.readInt32BE(4) : 0;
    if (!complete || magic !== TXNLOG_MAGIC) {
      // A file created by a crashed write: its header never reached the disk, so nothing in it was acknowledged.
      if (!complete || c.allZeroFrom(0)) {
        yield { kind: 'tail', offset: 0, reason: 'file header missing or incomplete' };
        return;
      }
      throw new CorruptLogError(file, 0, `invalid magic number 0x${(magic >>> 0).toString(16)} (expected 0x${TXNLOG_MAGIC.toString(16)}, "ZKLG")`);
    }
    if (version !== TXNLOG_VERSION) throw new CorruptLogError(file, 0, `unsupported txn log format version ${version}`);
    let offset = FILE_HEADER_BYTES;
    for (;;) {
      const r = recordAt(c, offset);
      if (r.kind === 'entry') {
        yield { kind: 'entry', entry: r.entry, offset };
        offset = r.next;
        continue;
      }
      if (r.kind === 'end') {
        if (c.allZeroFrom(offset)) return;
        if (intactRecordIn(c, offset + 1, c.size)) throw new CorruptLogError(file, offset, 'zero-filled record followed by intact records');
        yield { kind: 'tail', offset, reason: 'partly written data after the last record' };
        return;
      }
      if (!looksTorn(c, offset, r.extent)) throw new CorruptLogError(file, offset, r.reason);
      yield { kind: 'tail', offset, reason: r.reason };
      return;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Where a txn header (clientId long, cxid int, zxid long, ...) has its zxid. */
const TXN_HEADER_ZXID_AT = 12;
const TXN_HEADER_ZXID_END = TXN_HEADER_ZXID_AT + 8;

function decodeAt(file: string, offset: number, entry: Buffer): { txn: Txn; digest?: TxnDigest } {
  try {
    const d = deserializeTxn(entry);
    return d.digest === undefined ? { txn: d.txn } : { txn: d.txn, digest: d.digest };
  } catch (e) {
    if (e instanceof TxnFormatError) throw new CorruptLogError(file, offset, e.message);
    throw e;
  }
}

export interface ReadOptions {
  /**
   * Torn tails of files other than the newest: ZooKeeper leaves them behind when it restarts after
   * a crash (it starts a new file instead of truncating), and skips them when reading. Reported here;
   * reading goes on with the next file.
   */
  onSkippedTail?: (tail: TornLogTail) => void;
}

/**
 * Txns from the first with zxid >= fromZxid on, across all log files in zxid order, starting with
 * the file that holds fromZxid. Every record after that first one is yielded as it is, whatever its
 * zxid: the caller checks the order (see zxid.ts). Ends at the zero-filled end of the newest file.
 * A torn record at the end of the newest file is thrown as TornLogTail after every intact txn was
 * yielded; damage before the end throws CorruptLogError.
 */
export function* readTxnLog(dataLogDir: string, fromZxid: bigint, opts: ReadOptions = {}): Generator<LogEntry> {
  const files = logFilesFrom(listLogFiles(dataLogDir), fromZxid);
  let started = false;
  for (let i = 0; i < files.length; i++) {
    const file = files[i].file;
    const newest = i === files.length - 1;
    for (const item of fileRecords(file)) {
      if (item.kind === 'tail') {
        const tail = new TornLogTail(file, item.offset, item.reason);
        if (newest) throw tail;
        opts.onSkippedTail?.(tail);
        break;
      }
      // Records before fromZxid (most of a file that began before the snapshot) are checked
      // against their checksums but not decoded: the txn header's zxid is all they are read for.
      if (!started && item.entry.length >= TXN_HEADER_ZXID_END && item.entry.readBigInt64BE(TXN_HEADER_ZXID_AT) < fromZxid) continue;
      const d = decodeAt(file, item.offset, item.entry);
      if (!started && d.txn.hdr.zxid < fromZxid) continue;
      started = true;
      const entry: LogEntry = { txn: d.txn, file, offset: item.offset };
      if (d.digest !== undefined) entry.digest = d.digest;
      yield entry;
    }
  }
}

/** The file that starts at or before zxid (the newest such), and all after it. */
function logFilesFrom(files: LogFile[], zxid: bigint): LogFile[] {
  let first = 0;
  for (let i = 0; i < files.length; i++) if (files[i].zxid <= zxid) first = i;
  return files.slice(first);
}

/** The records of one file, for tools: intact txns, then a torn tail if there is one. */
export function* readTxnLogFile(file: string): Generator<LogEntry | TornLogTail> {
  for (const item of fileRecords(file)) {
    if (item.kind === 'tail') {
      yield new TornLogTail(file, item.offset, item.reason);
      return;
    }
    yield { ...decodeAt(file, item.offset, item.entry), file, offset: item.offset };
  }
}

/**
 * zxid of the last intact txn in the logs, or undefined when there is none. A torn tail does not
 * count (it is not part of the log).
 */
export function lastLoggedZxid(dataLogDir: string): bigint | undefined {
  const files = listLogFiles(dataLogDir);
  for (let i = files.length - 1; i >= 0; i--) {
    let last: bigint | undefined;
    for (const item of fileRecords(files[i].file)) {
      if (item.kind === 'tail') break;
      const zxid = decodeAt(files[i].file, item.offset, item.entry).txn.hdr.zxid;
      // The highest, not the last: a stretch logged twice (see ZxidHistory) may end the file.
      if (last === undefined || zxid > last) last = zxid;
    }
    if (last !== undefined) return last;
  }
  return undefined;
}

/**
 * Cuts a log file at offset (the start of a torn record) and syncs it. A file whose header is
 * incomplete (offset below the header size) holds nothing and is removed.
 */
export function truncateLog(file: string, offset: number): void {
  if (offset < FILE_HEADER_BYTES) {
    fs.unlinkSync(file);
    syncDirSync(path.dirname(file));
    return;
  }
  const fd = fs.openSync(file, 'r+');
  try {
    fs.ftruncateSync(fd, offset);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function syncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/** The file operations the writer uses; tests substitute failing ones. */
export interface FsShim {
  open(file: string, flags: string): Promise<number>;
  /** Bytes written; may be synchronous (it throws then rather than rejects). */
  write(fd: number, buf: Buffer, offset: number, length: number, position: number): number | Promise<number>;
  fdatasync(fd: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  close(fd: number): Promise<void>;
}

// Made once: promisify builds a new wrapper on every call (1-2 % of a setData load's CPU when it
// was called per fdatasync).
const openAsync = promisify(fs.open);
const fdatasyncAsync = promisify(fs.fdatasync);
const ftruncateAsync = promisify(fs.ftruncate);
const closeAsync = promisify(fs.close);

export const realFs: FsShim = {
  open: (file, flags) => openAsync(file, flags),
  // A write lands in the page cache and returns in microseconds: done on the event loop it saves
  // a thread-pool round trip per commit, which under CPU contention costs a scheduling delay each
  // way. The fdatasync, which waits for the disk, stays off the event loop.
  write: (fd, buf, offset, length, position) => fs.writeSync(fd, buf, offset, length, position),
  fdatasync: (fd) => fdatasyncAsync(fd),
  ftruncate: (fd, length) => ftruncateAsync(fd, length),
  close: (fd) => closeAsync(fd),
};

export interface TxnLogWriterOptions {
  /** preAllocSize in bytes; 0 or less turns preallocation off. */
  preAllocBytes: number;
  /** false skips fdatasync (zookeeper.forceSync=no). */
  forceSync: boolean;
  fs?: FsShim;
  /**
   * How long opening a file is retried while it fails with an error that wrote nothing (EMFILE,
   * ENFILE, ENOSPC at creation); default DEFAULT_OPEN_RETRY_MS. Past it the commit fails.
   */
  openRetryMs?: number;
  /** Told when opening starts to be retried (with the error) and when it succeeds again (undefined). */
  onStall?: (err: Error | undefined) => void;
}

export const DEFAULT_OPEN_RETRY_MS = 30_000;
/** Errors of open() that leave nothing behind: the open can simply be tried again. */
const RETRYABLE_OPEN_CODES = new Set(['EMFILE', 'ENFILE', 'ENOSPC']);
const OPEN_RETRY_FIRST_DELAY_MS = 10;
const OPEN_RETRY_MAX_DELAY_MS = 1000;

/** Opening a file kept failing for the whole retry bound. */
export class StorageStalledError extends Error {
  constructor(
    override readonly cause: Error,
    readonly waitedMs: number,
  ) {
    super(`could not open a txn log file for ${Math.round(waitedMs)} ms: ${cause.message}`);
    this.name = 'StorageStalledError';
  }
}

/** The writer refuses appends after a failed write or sync: what reached the disk is unknown. */
export class TxnLogFailedError extends Error {
  constructor(override readonly cause: Error) {
    super(`the txn log failed earlier and accepts no more txns: ${cause.message}`);
    this.name = 'TxnLogFailedError';
  }
}

/**
 * The file size ZooKeeper pads to (FilePadding): once the write position is within 4 KiB of the
 * known size, grow by one preAllocSize step (or to the next multiple of it past the position).
 */
export function paddedSize(position: number, size: number, preAllocBytes: number): number {
  if (preAllocBytes > 0 && position + PAD_THRESHOLD_BYTES >= size) {
    if (position > size) {
      const grown = position + preAllocBytes;
      return grown - (grown % preAllocBytes);
    }
    return size + preAllocBytes;
  }
  return size;
}

interface OpenLog {
  file: string;
  fd: number | null;
  /** Offset of the next byte to write (everything before it was handed to write()). */
  written: number;
  /** Size the file has been extended to. */
  extended: number;
  /** Size the appends so far ask for (ZooKeeper pads at append time, from the written position). */
  target: number;
}

interface Segment {
  log: OpenLog;
  /** The framed records, one after another. */
  out: JuteWriter;
}

/** Segment buffers kept for reuse, and the largest kept. */
const SPARE_SEGMENT_WRITERS = 2;
const MAX_KEPT_SEGMENT_BYTES = 4 * 1024 * 1024;

/**
 * Appends txns to the log. append() only buffers; commit() writes what was buffered and makes it
 * durable with one fdatasync per file touched. The first append after construction or rollLog()
 * starts a new file named after that txn's zxid, as ZooKeeper does after a restart or a snapshot.
 */
export class TxnLogWriter {
  private readonly fs: FsShim;
  private readonly dir: string;
  private current: OpenLog | null = null;
  private rollPending = false;
  private pending: Segment[] = [];
  /** Segment buffers written out, for the next segments. */
  private readonly spareWriters: JuteWriter[] = [];
  /** Files rolled away from, closed once their last data is synced. */
  private retired: OpenLog[] = [];
  private failure: Error | null = null;
  private closed = false;
  private chain: Promise<void> = Promise.resolve();
  private lastZxid: bigint | undefined;
  /** While an open is being retried: why. */
  private stall: Error | undefined;

  constructor(
    dataLogDir: string,
    private readonly opts: TxnLogWriterOptions,
  ) {
    this.dir = logDirOf(dataLogDir);
    this.fs = opts.fs ?? realFs;
  }

  /** The zxid of the last txn appended through this writer (undefined: none yet). */
  get lastAppendedZxid(): bigint | undefined {
    return this.lastZxid;
  }

  /**
   * Buffers a txn, with its TxnDigest (the txn's own unless another is given); throws if the log
   * has failed or is closed, or if zxids go backwards.
   */
  append(txn: Txn, digest: TxnDigest | undefined = txn.digest): void {
    if (this.failure) throw new TxnLogFailedError(this.failure);
    if (this.closed) throw new Error('txn log writer is closed');
    const zxid = txn.hdr.zxid;
    if (this.lastZxid !== undefined && zxid <= this.lastZxid) {
      throw new Error(`txn log append out of order: zxid 0x${zxid.toString(16)} after 0x${this.lastZxid.toString(16)}`);
    }
    const entry = serializeTxnView(txn, digest);
    this.lastZxid = zxid;
    if (this.current === null || this.rollPending) {
      if (this.current !== null) this.retired.push(this.current);
      this.current = {
        file: path.join(this.dir, logFileName(zxid)),
        fd: null,
        written: FILE_HEADER_BYTES,
        extended: 0,
        target: FILE_HEADER_BYTES,
      };
      this.rollPending = false;
    }
    const log = this.current;
    log.target = paddedSize(log.written, log.target, this.opts.preAllocBytes);
    let seg = this.pending[this.pending.length - 1];
    if (seg === undefined || seg.log !== log) {
      const out = this.spareWriters.pop() ?? new JuteWriter(64 * 1024);
      out.reset();
      seg = { log, out };
      this.pending.push(seg);
    }
    appendFramed(seg.out, entry);
  }

  /** The next append starts a new file (after a snapshot). */
  rollLog(): void {
    if (this.current !== null) this.rollPending = true;
  }

  /** Why commits are waiting, while an open is retried. */
  get stalled(): Error | undefined {
    return this.stall;
  }

  /** The file appends currently go to, if any. */
  get currentFile(): string | undefined {
    return this.current?.file;
  }

  /**
   * Writes everything appended so far and syncs it. Rejects on any write or sync error, after which
   * the writer refuses appends. Calls run one after another in call order.
   */
  commit(): Promise<void> {
    const run = this.chain.then(() => this.commitNow());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async commitNow(): Promise<void> {
    if (this.failure) throw new TxnLogFailedError(this.failure);
    const segments = this.pending;
    this.pending = [];
    const retired = this.retired;
    this.retired = [];
    try {
      let newFile = false;
      const touched: OpenLog[] = [];
      for (const seg of segments) {
        const log = seg.log;
        if (log.fd === null) {
          await this.createFile(log);
          newFile = true;
        }
        const fd = log.fd as number;
        if (log.target > log.extended) {
          await this.fs.ftruncate(fd, log.target);
          log.extended = log.target;
        }
        const data = seg.out.buf.subarray(0, seg.out.pos);
        await this.writeAll(fd, data, log.written);
        log.written += data.length;
        if (this.spareWriters.length < SPARE_SEGMENT_WRITERS && seg.out.buf.length <= MAX_KEPT_SEGMENT_BYTES) this.spareWriters.push(seg.out);
        if (log.written > log.extended) log.extended = log.written;
        if (log.written > log.target) log.target = log.written;
        if (!touched.includes(log)) touched.push(log);
      }
      if (this.opts.forceSync) {
        for (const log of touched) await this.fs.fdatasync(log.fd as number);
        // A new file's directory entry must be durable too, or a crash can lose the whole file.
        if (newFile) await this.syncDir();
      }
      for (const log of retired) await this.closeLog(log);
    } catch (e) {
      this.failure = e instanceof Error ? e : new Error(String(e));
      throw this.failure;
    }
  }

  private async createFile(log: OpenLog): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true });
    let fd: number;
    try {
      fd = await this.openRetrying(log.file, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // Left by a crash before any txn in it was complete (its torn tail was cut at recovery):
      // reuse the name, as ZooKeeper does. A file that holds txns is never overwritten.
      if (lastLoggedZxidInFile(log.file) !== undefined) throw new Error(`${log.file} already exists and holds txns`);
      fd = await this.openRetrying(log.file, 'w');
    }
    log.fd = fd;
    await this.writeAll(fd, encodeFileHeaderBytes(), 0);
  }

  private async writeAll(fd: number, data: Buffer, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const w = this.fs.write(fd, data, done, data.length - done, position + done);
      const n = typeof w === 'number' ? w : await w;
      if (n <= 0) throw new Error(`write to the txn log made no progress at offset ${position + done}`);
      done += n;
    }
  }

  /**
   * Opens a file, retrying with backoff while the open fails with an error that wrote nothing
   * (out of descriptors, or no room for a new file): the commits behind it wait meanwhile. Gives
   * up after openRetryMs with StorageStalledError.
   */
  private async openRetrying(file: string, flags: string): Promise<number> {
    const boundMs = this.opts.openRetryMs ?? DEFAULT_OPEN_RETRY_MS;
    const startedMs = performance.now();
    let delayMs = OPEN_RETRY_FIRST_DELAY_MS;
    for (;;) {
      try {
        const fd = await this.fs.open(file, flags);
        if (this.stall) {
          this.stall = undefined;
          this.opts.onStall?.(undefined);
        }
        return fd;
      } catch (e) {
        const err = e instanceof Error ? e : new Error(String(e));
        if (!RETRYABLE_OPEN_CODES.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
        const waitedMs = performance.now() - startedMs;
        if (waitedMs >= boundMs) {
          this.stall = undefined;
          throw new StorageStalledError(err, waitedMs);
        }
        if (!this.stall) {
          this.stall = err;
          this.opts.onStall?.(err);
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(delayMs, boundMs - waitedMs)));
        delayMs = Math.min(2 * delayMs, OPEN_RETRY_MAX_DELAY_MS);
      }
    }
  }

  private async syncDir(): Promise<void> {
    const fd = await this.openRetrying(this.dir, 'r');
    try {
      await this.fs.fdatasync(fd);
    } finally {
      await this.fs.close(fd);
    }
  }

  /**
   * Closes a file no more txns go to. Its preallocated zeros past the last record are cut off
   * first (not after a failure: what reached the disk is then unknown): a reader stops at the end
   * of the file as at a zero length, and otherwise the next start reads and checks every zero
   * byte, up to preAllocSize per file (ZooKeeper reads such files as well). A crash before the
   * cut leaves the zeros, which a start reads as before.
   */
  private async closeLog(log: OpenLog): Promise<void> {
    if (log.fd === null) return;
    const fd = log.fd;
    log.fd = null;
    try {
      if (this.failure === null && log.extended > log.written) {
        await this.fs.ftruncate(fd, log.written);
        log.extended = log.written;
      }
    } finally {
      await this.fs.close(fd);
    }
  }

  /** Waits for commits in flight, then closes the files. Appended but uncommitted txns are dropped. */
  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    this.pending = [];
    const logs = [...this.retired, ...(this.current ? [this.current] : [])];
    this.retired = [];
    this.current = null;
    for (const log of logs) {
      try {
        await this.closeLog(log);
      } catch {
        // Nothing more can be lost by a failed close: every commit already synced or failed.
      }
    }
  }
}

function lastLoggedZxidInFile(file: string): bigint | undefined {
  let last: bigint | undefined;
  try {
    for (const item of fileRecords(file)) {
      if (item.kind === 'tail') break;
      last = decodeAt(file, item.offset, item.entry).txn.hdr.zxid;
    }
  } catch (e) {
    if (e instanceof CorruptLogError) return 0n;
    throw e;
  }
  return last;
}
