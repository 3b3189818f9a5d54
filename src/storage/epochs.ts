/**
 * The two epoch files of an ensemble member, in ZooKeeper's format: `<dataDir>/version-2/acceptedEpoch`
 * (the newest epoch this server agreed to take part in, at LEADERINFO or as the leader when its
 * discovery quorum formed) and `<dataDir>/version-2/currentEpoch` (the epoch whose history this
 * server holds, at NEWLEADER or as the leader when its epoch quorum formed). Each holds the epoch
 * as a decimal number with no newline.
 *
 * At start they are checked against the log as ZooKeeper checks them, so that a server never votes
 * or syncs with epochs that contradict its own log.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomically } from './atomicfile';
import { VERSION_DIR } from './snapshot';
import { epochOf, zxidHex } from './zxid';

export const ACCEPTED_EPOCH_FILE = 'acceptedEpoch';
export const CURRENT_EPOCH_FILE = 'currentEpoch';
/** The name a file is written under before it is renamed into place. */
export const EPOCH_TMP_SUFFIX = '.tmp';
/** A decimal long is at most 20 characters; anything much longer is not an epoch file. */
const MAX_EPOCH_FILE_BYTES = 64;

/** The epoch files contradict each other or the log: the server must not start. */
export class EpochFileError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'EpochFileError';
  }
}

export interface Epochs {
  acceptedEpoch: bigint;
  currentEpoch: bigint;
}

/** What loadEpochs did besides reading, for the start's log lines. */
export interface EpochLoadNotes {
  /** Files that were missing and were created from the last logged zxid's epoch. */
  created: string[];
  /** Set when currentEpoch was older than the log and currentEpoch.tmp was taken instead. */
  tookTmp?: string;
  /**
   * Set (to the old value) when currentEpoch was older than the log, with no tmp file, and was
   * raised to the log's epoch because acceptedEpoch vouches for it.
   */
  raisedToLog?: bigint;
}

function versionDir(dataDir: string): string {
  return path.join(dataDir, VERSION_DIR);
}

export function epochFilePath(dataDir: string, name: string): string {
  return path.join(versionDir(dataDir), name);
}

/**
 * The epoch in a file, or undefined when there is no such file. Read as ZooKeeper reads it: the
 * first line as a signed decimal long (so a trailing newline written by hand is accepted).
 */
export function readEpochFile(file: string): bigint | undefined {
  let text: string;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(MAX_EPOCH_FILE_BYTES + 1);
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      if (n > MAX_EPOCH_FILE_BYTES) throw new EpochFileError(file, `more than ${MAX_EPOCH_FILE_BYTES} bytes: not an epoch file`);
      text = buf.toString('utf8', 0, n);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const line = text.split(/\r?\n|\r/)[0];
  if (!/^[+-]?\d{1,19}$/.test(line)) throw new EpochFileError(file, `holds ${JSON.stringify(line)}, not a decimal epoch`);
  const v = BigInt(line);
  if (v !== BigInt.asIntN(64, v)) throw new EpochFileError(file, `${line} does not fit a long`);
  return v;
}


/**
 * Writes an epoch file atomically: `<name>.tmp` is written and fsynced, then renamed over `<name>`,
 * then the directory is fsynced. ZooKeeper stops after the rename; the directory sync is ours
 * because a rename is only durable once its directory is: without it a crash right after could
 * bring back the old epoch, and a server that sent ACKEPOCH or ACKed NEWLEADER would forget the
 * promise it made, which is what the files exist to keep.
 */
export function writeEpochFile(dataDir: string, name: string, epoch: bigint): void {
  if (epoch !== BigInt.asIntN(64, epoch)) throw new RangeError(`epoch ${epoch} does not fit a long`);
  const dir = versionDir(dataDir);
  fs.mkdirSync(dir, { recursive: true });
  writeFileAtomically(path.join(dir, name), Buffer.from(epoch.toString(10), 'latin1'), EPOCH_TMP_SUFFIX);
}

export function writeAcceptedEpoch(dataDir: string, epoch: bigint): void {
  writeEpochFile(dataDir, ACCEPTED_EPOCH_FILE, epoch);
}

export function writeCurrentEpoch(dataDir: string, epoch: bigint): void {
  writeEpochFile(dataDir, CURRENT_EPOCH_FILE, epoch);
}

/**
 * Reads both epoch files at start, with ZooKeeper's rules, given the zxid of the last txn the
 * database holds (snapshot plus log; 0 when empty):
 * - a missing file is created with that zxid's epoch (a dataDir from a standalone server, or from
 *   before the files existed);
 * - currentEpoch older than that epoch: the server crashed while taking a new epoch (the log got
 *   txns of it, the rename did not happen), and `currentEpoch.tmp` holds it; it is taken and
 *   written as currentEpoch. Without the tmp file, when acceptedEpoch is at least the log's epoch,
 *   the server crashed at NEWLEADER after making the leader's history durable and before writing
 *   currentEpoch (the 3.8.5+ order, which ZooKeeper's start does not allow for and refuses): the
 *   log then holds that leader's whole history up to its last zxid, so the log's epoch is taken
 *   and written, as if the crash had come just after the write. Otherwise the start is refused;
 * - acceptedEpoch older than currentEpoch: refused (a server never holds history of an epoch it
 *   did not accept).
 */
export function loadEpochs(dataDir: string, lastZxid: bigint, notes: EpochLoadNotes = { created: [] }): Epochs {
  const epochOfZxid = epochOf(lastZxid);
  const currentFile = epochFilePath(dataDir, CURRENT_EPOCH_FILE);
  let currentEpoch = readEpochFile(currentFile);
  if (currentEpoch === undefined) {
    currentEpoch = epochOfZxid;
    writeCurrentEpoch(dataDir, currentEpoch);
    notes.created.push(currentFile);
  }
  if (epochOfZxid > currentEpoch) {
    const tmpFile = currentFile + EPOCH_TMP_SUFFIX;
    const fromTmp = readEpochFile(tmpFile);
    if (fromTmp !== undefined) {
      currentEpoch = fromTmp;
      writeCurrentEpoch(dataDir, currentEpoch);
      notes.tookTmp = tmpFile;
    } else {
      const accepted = readEpochFile(epochFilePath(dataDir, ACCEPTED_EPOCH_FILE));
      if (accepted === undefined || accepted < epochOfZxid) {
        throw new EpochFileError(
          currentFile,
          `the current epoch ${currentEpoch} is older than the epoch ${epochOfZxid} of the last zxid ${zxidHex(lastZxid)}, there is no ${CURRENT_EPOCH_FILE}${EPOCH_TMP_SUFFIX} and the accepted epoch ${accepted ?? 'is missing'}${accepted === undefined ? '' : ' is older too'}; refusing to start`,
        );
      }
      notes.raisedToLog = currentEpoch;
      currentEpoch = epochOfZxid;
      writeCurrentEpoch(dataDir, currentEpoch);
    }
  }
  const acceptedFile = epochFilePath(dataDir, ACCEPTED_EPOCH_FILE);
  let acceptedEpoch = readEpochFile(acceptedFile);
  if (acceptedEpoch === undefined) {
    acceptedEpoch = epochOfZxid;
    writeAcceptedEpoch(dataDir, acceptedEpoch);
    notes.created.push(acceptedFile);
  }
  if (acceptedEpoch < currentEpoch) {
    throw new EpochFileError(acceptedFile, `the accepted epoch ${acceptedEpoch} is older than the current epoch ${currentEpoch}; refusing to start`);
  }
  return { acceptedEpoch, currentEpoch };
}
