// A quorum role that ends keeps its tree when the disk holds exactly it (DiskDatabase.sameAsDisk):
// the kept tree and sessions must be what recovery from the disk rebuilds, and nothing is kept
// when memory and disk differ.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { CreateFlag, OpCode } from '../src/protocol/constants';
import { loadConfig, type ServerConfig } from '../src/server/config';
import { AuthRegistry } from '../src/server/auth';
import { Prep, type WriteRequest } from '../src/server/prep';
import { appendDurably } from '../src/quorum/readyloop';
import { OPEN_ACL_UNSAFE } from '../src/storage/datatree';
import { computeTreeDigest } from '../src/storage/digest';
import { DiskDatabase, recover } from '../src/storage/diskdb';
import type { Txn } from '../src/storage/txn';

const log = pino({ level: 'silent' });

function setup(t: { teardown(fn: () => void): void }): ServerConfig {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-sameasdisk-'));
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  return loadConfig(`tickTime=2000\ndataDir=${dataDir}\nclientPort=0\npreAllocSize=64\n`, new Map(), dataDir);
}

/** Prepares writes against the database's tree, as a leader's prep does, zxids going on from the tree's. */
function writer(db: DiskDatabase) {
  const prep = new Prep(db.tree, new AuthRegistry(undefined, false), { extendedTypesEnabled: false, reconfigEnabled: false, enforceQuota: false, digestEnabled: true });
  let zxid = db.tree.lastProcessedZxid;
  return (req: WriteRequest, session: bigint): Txn => {
    zxid++;
    const time = 1_700_000_000_000n + zxid;
    const body = prep.prepare(req, session, [], zxid, time);
    prep.applied(zxid);
    return { hdr: { clientId: session, cxid: Number(zxid & 0xffffn), zxid, time, type: body.type === OpCode.error ? OpCode.error : req.type }, body, digest: { version: 2, treeDigest: prep.lastTreeDigest } };
  };
}

/** Logs the txn durably, then applies it, as every role does. */
async function logAndApply(db: DiskDatabase, txn: Txn): Promise<void> {
  await appendDurably(db.commit, [txn]);
  db.tree.apply(txn);
  db.afterApply(txn, () => new Map());
}

const data = Buffer.from('v');
const sessionA = 0x100n;
const sessionB = 0x200n;

async function someTraffic(db: DiskDatabase): Promise<void> {
  const next = writer(db);
  await logAndApply(db, next({ type: OpCode.createSession, record: { timeOut: 5000 } }, sessionA));
  await logAndApply(db, next({ type: OpCode.createSession, record: { timeOut: 7000 } }, sessionB));
  await logAndApply(db, next({ type: OpCode.create, record: { path: '/p', data, acl: OPEN_ACL_UNSAFE, flags: CreateFlag.PERSISTENT } }, sessionA));
  for (let i = 0; i < 5; i++) await logAndApply(db, next({ type: OpCode.create2, record: { path: '/p/e-', data, acl: OPEN_ACL_UNSAFE, flags: CreateFlag.EPHEMERAL_SEQUENTIAL } }, i % 2 ? sessionA : sessionB));
  await logAndApply(db, next({ type: OpCode.setData, record: { path: '/p', data: Buffer.from('w'), version: -1 } }, sessionA));
  await logAndApply(db, next({ type: OpCode.closeSession, record: null }, sessionA));
}

t.test('kept when the log ends at the txn the tree applied last: the same tree and sessions recovery rebuilds', async (t) => {
  const config = setup(t);
  const db = await DiskDatabase.open(config, log, (e) => t.fail(e.message));
  await someTraffic(db);
  t.equal(db.sameAsDisk(), undefined, 'nothing is kept before the close');
  await db.close();
  const kept = db.sameAsDisk();
  t.ok(kept, 'kept');
  const r = recover(config, log);
  t.equal(kept!.tree, db.tree, 'the tree in memory');
  t.equal(kept!.source, 'memory');
  t.equal(kept!.tree.lastProcessedZxid, r.tree.lastProcessedZxid);
  t.equal(kept!.tree.nodeCount, r.tree.nodeCount);
  t.equal(computeTreeDigest(kept!.tree), computeTreeDigest(r.tree), 'the digest of the whole tree');
  t.same([...kept!.sessions].sort(), [...r.sessions].sort(), 'the sessions the txns leave');
  t.same([...kept!.sessions], [[sessionB, 7000]]);

  // Adopted by the next role, it goes on logging after the same zxid, and a restart still agrees.
  const next = DiskDatabase.adopt(config, log, (e) => t.fail(e.message), kept!);
  await someTraffic(next);
  await next.close();
  const again = recover(config, log);
  t.equal(computeTreeDigest(next.tree), computeTreeDigest(again.tree), 'after more txns, the disk still rebuilds the tree in memory');
  t.ok(next.sameAsDisk());
});

t.test('not kept when the log holds a txn the tree did not apply (a proposal never committed)', async (t) => {
  const config = setup(t);
  const db = await DiskDatabase.open(config, log, (e) => t.fail(e.message));
  await someTraffic(db);
  const next = writer(db);
  await appendDurably(db.commit, [next({ type: OpCode.create, record: { path: '/q', data, acl: OPEN_ACL_UNSAFE, flags: CreateFlag.PERSISTENT } }, sessionB)]);
  await db.close();
  t.equal(db.sameAsDisk(), undefined);
  t.equal(recover(config, log).tree.lastProcessedZxid, db.tree.lastProcessedZxid + 1n, 'recovery applies it');
});

t.test('not kept when the tree applied a txn the log does not hold', async (t) => {
  const config = setup(t);
  const db = await DiskDatabase.open(config, log, (e) => t.fail(e.message));
  await someTraffic(db);
  const next = writer(db);
  db.tree.apply(next({ type: OpCode.create, record: { path: '/q', data, acl: OPEN_ACL_UNSAFE, flags: CreateFlag.PERSISTENT } }, sessionB));
  await db.close();
  t.equal(db.sameAsDisk(), undefined);
});

t.test('a database opened from disk and closed untouched is kept', async (t) => {
  const config = setup(t);
  const first = await DiskDatabase.open(config, log, (e) => t.fail(e.message));
  await someTraffic(first);
  await first.close();
  const db = await DiskDatabase.open(config, log, (e) => t.fail(e.message));
  await db.close();
  const kept = db.sameAsDisk();
  t.ok(kept);
  t.equal(computeTreeDigest(kept!.tree), computeTreeDigest(first.tree));
  t.same([...kept!.sessions], [[sessionB, 7000]]);
});
