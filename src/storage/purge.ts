/**
 * Purge: keeps the newest `retainCount` snapshots and the txn logs needed to replay from the
 * oldest of them, and deletes the rest (ZooKeeper's PurgeTxnLog rules).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const VERSION_DIR = 'version-2';
/** ZooKeeper refuses to keep fewer than 3 snapshots. */
export const MIN_RETAIN_COUNT = 3;

export interface DataFile {
  file: string;
  zxid: bigint;
}

/** `prefix.<hex zxid>[.suffix]` files of a version-2 directory, newest first. */
export function listDataFiles(dir: string, prefix: 'log' | 'snapshot'): DataFile[] {
  const vdir = path.join(dir, VERSION_DIR);
  if (!fs.existsSync(vdir)) return [];
  const out: DataFile[] = [];
  const re = new RegExp(`^${prefix}\\.([0-9a-fA-F]+)(\\.[a-z]+)?$`);
  for (const name of fs.readdirSync(vdir)) {
    const m = re.exec(name);
    if (m) out.push({ file: path.join(vdir, name), zxid: BigInt('0x' + m[1]) });
  }
  return out.sort((a, b) => (a.zxid < b.zxid ? 1 : a.zxid > b.zxid ? -1 : 0));
}

export interface PurgeResult {
  removed: string[];
  kept: string[];
}

export function purge(dataLogDir: string, snapDir: string, retainCount: number): PurgeResult {
  if (retainCount < MIN_RETAIN_COUNT) throw new Error(`snapRetainCount must be at least ${MIN_RETAIN_COUNT}, got ${retainCount}`);
  const snaps = listDataFiles(snapDir, 'snapshot');
  const logs = listDataFiles(dataLogDir, 'log');
  if (snaps.length <= retainCount) return { removed: [], kept: [...snaps, ...logs].map((f) => f.file) };
  const retained = snaps.slice(0, retainCount);
  const oldest = retained[retained.length - 1].zxid;
  // The newest log starting at or before the oldest retained snapshot holds the txns after it.
  const firstNeededLog = logs.find((l) => l.zxid <= oldest);
  const removed: string[] = [];
  const kept: string[] = [];
  for (const s of snaps) (s.zxid < oldest ? removed : kept).push(s.file);
  for (const l of logs) (l.zxid < oldest && l !== firstNeededLog ? removed : kept).push(l.file);
  for (const f of removed) fs.rmSync(f, { force: true });
  return { removed, kept };
}
