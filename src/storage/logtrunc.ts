/**
 * TRUNC: a learner whose log holds txns the new leader never committed cuts its log back to the
 * leader's zxid. Afterwards the log ends exactly at that zxid's entry, and no snapshot holds
 * anything after it, so a restart (or the reload that follows) rebuilds the tree as of that zxid.
 *
 * Order, chosen so that a crash at any point leaves a dataDir that recovers to a consistent state
 * and on which the same truncation can simply be run again:
 *   1. snapshots newer than the zxid are removed (then the directory is fsynced). Until the log is
 *      cut, the older snapshot plus the whole log still rebuild the same tree as before; removing
 *      them last instead would let a crash leave a snapshot holding txns the log no longer has;
 *   2. log files that start after the zxid are removed, newest first (then the directory is
 *      fsynced), so that what is left is always a prefix of the log, never a log with a hole;
 *   3. the file that holds the zxid is cut right after its entry and fsynced. The cut also drops
 *      its preallocated zeros: the writer never appends to an existing file (the next txn starts
 *      a new file named after it), and readers take the end of the file as the end of the log.
 * Everything is checked before anything is removed: a zxid that is not in the log is refused with
 * the dataDir untouched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listSnapshots, VERSION_DIR } from './snapshot';
import { CorruptLogError, fileRecords, listLogFiles, logDirOf, RECORD_OVERHEAD_BYTES, syncDirSync } from './txnlog';
import { makeZxid, zxidHex } from './zxid';

/** The zxid cannot be truncated to: nothing was changed. */
export class TruncateError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'TruncateError';
  }
}

export interface TruncateResult {
  /** The file now ending at the zxid, and its new size. */
  file: string;
  size: number;
  removedLogs: string[];
  removedSnapshots: string[];
}

/** Where a txn header (clientId long, cxid int, zxid long, ...) has its zxid. */
const TXN_HEADER_ZXID_AT = 12;

/** Where the entry of `zxid` ends in the one log file that can hold it, or why it is not there. */
function locate(dataLogDir: string, zxid: bigint): { file: string; end: number; later: string[] } {
  const files = listLogFiles(dataLogDir);
  if (files.length === 0) throw new TruncateError(`cannot truncate to ${zxidHex(zxid)}: there are no txn log files in ${logDirOf(dataLogDir)}`);
  let holder = -1;
  for (let i = 0; i < files.length; i++) if (files[i].zxid <= zxid) holder = i;
  if (holder < 0) throw new TruncateError(`cannot truncate to ${zxidHex(zxid)}: the txn log starts later, at ${zxidHex(files[0].zxid)}`);
  const file = files[holder].file;
  let last: bigint | undefined;
  for (const item of fileRecords(file)) {
    if (item.kind === 'tail') break;
    if (item.entry.length < TXN_HEADER_ZXID_AT + 8) throw new CorruptLogError(file, item.offset, `entry of ${item.entry.length} bytes is too short for a txn header`);
    const at = item.entry.readBigInt64BE(TXN_HEADER_ZXID_AT);
    if (at === zxid) {
      return { file, end: item.offset + RECORD_OVERHEAD_BYTES + item.entry.length, later: files.slice(holder + 1).map((f) => f.file) };
    }
    if (at > zxid) break;
    last = at;
  }
  const where = last === undefined ? 'it holds no txn before it' : `its txns before it end at ${zxidHex(last)}`;
  throw new TruncateError(`cannot truncate to ${zxidHex(zxid)}: ${path.basename(file)} is the log file that would hold it, but ${where}`);
}

/**
 * Makes the log end exactly at `zxid` (see the order above). `dataDir` holds the snapshots,
 * `dataLogDir` the logs (the same directory unless dataLogDir is configured). Throws TruncateError,
 * changing nothing, when the zxid is not in the log or no snapshot at or before it would be left
 * to rebuild the tree from (unless the log starts at the very first txn: 1, or an ensemble's
 * 0x100000001).
 */
export function truncateLogTo(dataDir: string, dataLogDir: string, zxid: bigint): TruncateResult {
  const { file, end, later } = locate(dataLogDir, zxid);
  const snapDir = path.join(dataDir, VERSION_DIR);
  const snaps = listSnapshots(snapDir);
  const newer = snaps.filter((s) => s.zxid > zxid);
  const kept = snaps.filter((s) => s.zxid <= zxid);
  const firstLog = listLogFiles(dataLogDir)[0].zxid;
  if (kept.length === 0 && firstLog !== 1n && firstLog !== makeZxid(1n, 1n)) {
    throw new TruncateError(
      `cannot truncate to ${zxidHex(zxid)}: no snapshot at or before it would be left (${snaps.map((s) => path.basename(s.file)).join(' ') || 'none'}) and the log starts at ${zxidHex(firstLog)}`,
    );
  }

  for (const s of newer) fs.unlinkSync(s.file);
  if (newer.length > 0) syncDirSync(snapDir);

  const removedLogs = [...later].reverse();
  for (const f of removedLogs) fs.unlinkSync(f);
  if (removedLogs.length > 0) syncDirSync(logDirOf(dataLogDir));

  const fd = fs.openSync(file, 'r+');
  try {
    fs.ftruncateSync(fd, end);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return { file, size: end, removedLogs, removedSnapshots: newer.map((s) => s.file) };
}
