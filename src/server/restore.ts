/**
 * Restoring the database from a snapshot posted to the AdminServer (ZooKeeper 3.9's `restore`
 * command): the tree and sessions of the snapshot replace the server's.
 *
 * ZooKeeper swaps its in-memory database and goes on logging txns after its own last zxid, so a
 * restart before its next snapshot brings the old tree back. Here the restored tree is written as
 * a snapshot first, named with the server's last zxid (or the snapshot's, if later): a restart
 * serves the restored tree and the txns after it. Only a standalone server restores; an ensemble
 * member restored on its own would hold a history its quorum never agreed on.
 */
import * as path from 'node:path';
import { parseSnapshot, VERSION_DIR, writeSnapshot } from '../storage/snapshot';
import type { ZooKeeperServer } from './server';

/** A restore the server refused before touching anything (the request is at fault, or the mode). */
export class RestoreRefused extends Error {}

/**
 * Restores `bytes` (an uncompressed snapshot stream, as the snapshot command sends) and resolves
 * with the snapshot's last processed zxid (0 when it has no such section), as ZooKeeper answers.
 */
export async function restoreFromSnapshot(server: ZooKeeperServer, bytes: Buffer): Promise<bigint> {
  const config = server.config;
  if (config.distributed) throw new RestoreRefused('restore is served by a standalone server only: an ensemble member restored alone would hold a history its quorum never agreed on');
  const reopen = server.reopenDatabase;
  if (reopen === undefined) throw new RestoreRefused('this server keeps no database on disk to restore into');
  const startedMs = performance.now();
  // Decoded and checked (checksums, every node's path and ACL) before anything is disturbed.
  const loaded = parseSnapshot(bytes, 'the restore request', -1n, config.extendedTypesEnabled);
  const restoredZxid = loaded.lastZxid ?? 0n;
  const { tree, sessions } = loaded;
  if (loaded.digest && loaded.digest.zxid === restoredZxid && tree.digest.value !== loaded.digest.digest) {
    server.metrics.digestMismatches++;
    server.log.warn({ zxid: '0x' + restoredZxid.toString(16) }, 'the restored snapshot\'s digest does not match its nodes');
  }
  server.log.info({ zxid: '0x' + server.lastProcessedZxid.toString(16), nodes: server.tree.nodeCount, sessions: server.sessions.size }, 'before the restore');

  await server.beginRestore();
  let oldClosed = false;
  try {
    // Later txns must follow everything already in the log, or a restart would replay old ones.
    const zxid = server.lastProcessedZxid > restoredZxid ? server.lastProcessedZxid : restoredZxid;
    tree.lastProcessedZxid = zxid;
    await writeSnapshot(path.join(config.dataDir, VERSION_DIR), tree, sessions, zxid);
    oldClosed = true;
    await server.db.close();
    server.replaceDatabase(await reopen({ tree, sessions }));
  } catch (err) {
    // Before the old database was closed nothing changed; after, the server has no database.
    if (oldClosed) server.storageFailed(err as Error);
    throw err;
  } finally {
    server.endRestore();
  }
  const ms = Math.round(performance.now() - startedMs);
  server.metrics.restoreTime.observe(ms, Date.now());
  server.log.info({ zxid: '0x' + restoredZxid.toString(16), nodes: tree.nodeCount, sessions: sessions.size, ms }, 'database restored from a snapshot');
  return restoredZxid;
}
