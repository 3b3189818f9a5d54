// Logs that cross leader epochs, as every member of a ZooKeeper ensemble has: recovery accepts the
// step from (e, c) to counter 1 of a higher epoch, and nothing else; a gap within an epoch, a higher
// epoch that does not start at counter 1, and zxids that go back to a txn never seen are refused
// with file and offset (a stretch logged twice, as a ZooKeeper follower can, is applied once).
// A server started on such a log goes on in the epoch it found, as standalone ZooKeeper does, and
// leaves the ensemble's epoch files alone.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { OpCode } from '../src/protocol/constants';
import { loadConfig } from '../src/server/config';
import { DataTree } from '../src/storage/datatree';
import { recover, RecoveryError } from '../src/storage/diskdb';
import { purge } from '../src/storage/purge';
import { writeSnapshot } from '../src/storage/snapshot';
import type { Txn, TxnBody } from '../src/storage/txn';
import { logEntriesAfter } from '../src/storage/logdiff';
import { encodeFileHeaderBytes, frameEntry, lastLoggedZxid, listLogFiles, readTxnLog, TxnLogWriter } from '../src/storage/txnlog';
import { serializeTxn } from '../src/storage/txnserde';
import { counterOf, epochOf, isNextZxid, makeZxid, zxidGapReason } from '../src/storage/zxid';
import { ZkClient } from './util/client';
import { startZkts, type RunningServer } from './util/servers';

const SESSION = 0x100000a5c6e0000n;
const OPEN = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
const z = (epoch: number, counter: number): bigint => makeZxid(BigInt(epoch), BigInt(counter));
const hex = (v: bigint): string => '0x' + v.toString(16);
const silent = pino({ level: 'silent' });

function tmpDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'epochlog-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A create of /n<epoch>-<counter> under the root: each txn leaves a node that names its zxid. */
function createTxn(zxid: bigint): Txn {
  const name = `/n${epochOf(zxid)}-${counterOf(zxid)}`;
  const body: TxnBody = { type: OpCode.create, record: { path: name, data: Buffer.from(hex(zxid)), acl: OPEN, ephemeral: false, parentCVersion: 1 } };
  return { hdr: { clientId: SESSION, cxid: 1, zxid, time: 1_700_000_000_000n, type: body.type }, body };
}

/** Log files as a ZooKeeper ensemble member leaves them: each list of zxids is one file. */
async function writeLogs(dir: string, files: bigint[][]): Promise<void> {
  for (const zxids of files) {
    const w = new TxnLogWriter(dir, { preAllocBytes: 0, forceSync: false });
    for (const x of zxids) w.append(createTxn(x));
    await w.commit();
    await w.close();
  }
}

/** A file holding these records in this order, whatever it is (the writer refuses disorder). */
function writeRawLog(dir: string, name: string, zxids: bigint[]): string {
  const file = path.join(dir, 'version-2', name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.concat([encodeFileHeaderBytes(), ...zxids.map((x) => frameEntry(serializeTxn(createTxn(x))))]));
  return file;
}

/** A snapshot of the tree those txns build, at the last of them. */
async function writeSnapshotOf(dir: string, zxids: bigint[]): Promise<void> {
  const tree = new DataTree();
  for (const x of zxids) tree.replay(createTxn(x));
  await writeSnapshot(path.join(dir, 'version-2'), tree, new Map(), zxids.length > 0 ? zxids[zxids.length - 1] : 0n, { fsync: false });
}

function recoverDir(dir: string) {
  return recover(loadConfig(`dataDir=${dir}\n`, new Map(), dir), silent);
}

function nodesOf(tree: DataTree): string[] {
  return [...tree.getNode('/')!.children].filter((n) => n !== 'zookeeper').sort();
}

t.test('isNextZxid: the next counter, or counter 1 of a higher epoch', (t) => {
  const cases: [bigint, bigint, boolean][] = [
    [0n, 1n, true],
    [0n, z(1, 1), true],
    [z(1, 6), z(1, 7), true],
    [z(1, 7), z(2, 1), true],
    [z(1, 7), z(5, 1), true],
    [0xffffffffn, z(1, 0), true],
    [z(2, 0), z(2, 1), true],
    [z(1, 6), z(1, 8), false],
    [z(1, 7), z(2, 2), false],
    [z(1, 7), z(2, 0), false],
    [z(2, 3), z(1, 4), false],
    [z(2, 3), z(2, 3), false],
    [0n, 2n, false],
    [0n, z(1, 2), false],
  ];
  for (const [prev, next, ok] of cases) t.equal(isNextZxid(prev, next), ok, `${hex(prev)} -> ${hex(next)}`);
  t.match(zxidGapReason(z(1, 6), z(1, 9)), /txns 0x100000007 to 0x100000008 are missing/);
  t.match(zxidGapReason(z(1, 6), z(1, 8)), /txns 0x100000007 are missing/);
  t.match(zxidGapReason(z(1, 7), z(2, 3)), /txns 0x200000001 to 0x200000002 of epoch 2 are missing/);
  t.match(zxidGapReason(z(2, 3), z(1, 4)), /go backwards/);
  t.match(zxidGapReason(z(1, 7), z(2, 0)), /counter 0/);
  t.end();
});

t.test('a log across epochs from an empty snapshot is replayed whole', async (t) => {
  const dir = tmpDir(t);
  const zxids = [z(1, 1), z(1, 2), z(1, 3), z(2, 1), z(2, 2), z(4, 1)];
  await writeSnapshotOf(dir, []);
  await writeLogs(dir, [zxids]);
  const r = recoverDir(dir);
  t.equal(r.snapshotZxid, 0n);
  t.equal(r.replayed, zxids.length);
  t.equal(hex(r.tree.lastProcessedZxid), hex(z(4, 1)));
  t.same(nodesOf(r.tree), ['n1-1', 'n1-2', 'n1-3', 'n2-1', 'n2-2', 'n4-1']);
});

t.test('without any snapshot, a log starting at 0x100000001 is replayed; one starting later is refused', async (t) => {
  const dir = tmpDir(t);
  await writeLogs(dir, [[z(1, 1), z(1, 2)], [z(2, 1)]]);
  const r = recoverDir(dir);
  t.equal(r.replayed, 3);
  t.equal(hex(r.tree.lastProcessedZxid), hex(z(2, 1)));

  const late = tmpDir(t);
  await writeLogs(late, [[z(1, 2), z(1, 3)]]);
  t.throws(() => recoverDir(late), { message: /txns 0x100000001 of epoch 1 are missing at .*log\.100000002 offset 16/ });
});

t.test('a snapshot at the end of an epoch and the log going on in a higher one', async (t) => {
  // As a new leader leaves it: its snapshot at the previous epoch's last zxid, the log file that
  // began before it holding the new epoch's txns (or a new file for them).
  for (const sameFile of [true, false]) {
    const dir = tmpDir(t);
    const before = [z(1, 1), z(1, 2), z(2, 1), z(2, 2), z(2, 3)];
    const after = [z(3, 1), z(3, 2)];
    await writeLogs(dir, sameFile ? [[...before, ...after]] : [before, after]);
    await writeSnapshotOf(dir, before);
    const r = recoverDir(dir);
    t.equal(r.snapshotZxid, z(2, 3), `${sameFile ? 'one file' : 'two files'}: from the snapshot`);
    t.equal(r.replayed, 2, 'only the txns after it are replayed');
    t.equal(hex(r.tree.lastProcessedZxid), hex(z(3, 2)));
    t.same(nodesOf(r.tree), [...before, ...after].map((x) => `n${epochOf(x)}-${counterOf(x)}`).sort());
  }
});

t.test('a snapshot past the end of the older log (a follower synced by SNAP) and the log after it', async (t) => {
  const dir = tmpDir(t);
  // The member's own log reached 0x100000002; the snapshot it got holds up to 0x200000004; its log
  // goes on in the same file (ZooKeeper keeps appending to the open file).
  writeRawLog(dir, 'log.100000001', [z(1, 1), z(1, 2), z(2, 5), z(2, 6)]);
  await writeSnapshotOf(dir, [z(1, 1), z(1, 2), z(2, 1), z(2, 2), z(2, 3), z(2, 4)]);
  const r = recoverDir(dir);
  t.equal(r.replayed, 2);
  t.equal(hex(r.tree.lastProcessedZxid), hex(z(2, 6)));
  // Without the snapshot the same log has a real gap.
  for (const f of fs.readdirSync(path.join(dir, 'version-2'))) if (f.startsWith('snapshot.')) fs.rmSync(path.join(dir, 'version-2', f));
  t.throws(() => recoverDir(dir), { message: /zxid 0x200000005 follows 0x100000002: txns 0x200000001 to 0x200000004 of epoch 2 are missing at .*log\.100000001 offset / });
});

for (const [what, zxids, reason] of [
  ['a gap within an epoch', [z(1, 1), z(1, 2), z(2, 1), z(2, 2), z(2, 4)], /zxid 0x200000004 follows 0x200000002: txns 0x200000003 are missing/],
  ['a higher epoch that does not start at counter 1', [z(1, 1), z(1, 2), z(2, 2)], /zxid 0x200000002 follows 0x100000002: txns 0x200000001 of epoch 2 are missing/],
  ['a lower epoch after a higher one (a txn never seen before)', [z(1, 1), z(2, 1), z(2, 2), z(1, 2)], /zxid 0x100000002 follows 0x200000002: zxids go backwards/],
] as const) {
  t.test(`${what} is refused with the file and offset`, async (t) => {
    const dir = tmpDir(t);
    const file = writeRawLog(dir, 'log.100000001', [...zxids]);
    // The offending record is the last: header 16 bytes, then each record as long as its frame.
    const offset = 16 + zxids.slice(0, -1).reduce((n, x) => n + frameEntry(serializeTxn(createTxn(x))).length, 0);
    let err: unknown;
    try {
      recoverDir(dir);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof RecoveryError, 'a RecoveryError');
    t.match((err as Error).message, reason);
    t.match((err as Error).message, `${file} offset ${offset}; refusing to start`);
  });
}

// A ZooKeeper 3.8.0 follower's log in a mixed ensemble (test/quorum/mixed-ensembles.test.ts, on a
// loaded machine) held 0x300000001-0xa and then 0x300000001 again. ZooKeeper's recovery logs an
// error there and reads on; zkts applies each txn once.
t.test('a stretch of txns logged twice (a ZooKeeper follower synced twice) is applied once', async (t) => {
  const dir = tmpDir(t);
  const once = [z(3, 1), z(3, 2), z(3, 3), z(3, 4)];
  writeRawLog(dir, 'log.200000001', [z(2, 1), z(2, 2)]);
  const file = writeRawLog(dir, 'log.300000001', [...once, ...once, z(3, 5)]);
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
  const r = recover(loadConfig(`dataDir=${dir}\n`, new Map(), dir), log);
  t.equal(r.replayed, 7, 'two of epoch 2, four of epoch 3, then the one after the repeat');
  t.equal(hex(r.tree.lastProcessedZxid), hex(z(3, 5)));
  t.same([...r.tree.getNode('/')!.children].filter((n) => n.startsWith('n')).sort(), ['n2-1', 'n2-2', 'n3-1', 'n3-2', 'n3-3', 'n3-4', 'n3-5']);
  const warned = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.txns === 4);
  t.ok(warned, 'the repeat is logged');
  t.equal(warned?.file, file);
  t.equal(warned?.from, hex(z(3, 1)));
  t.equal(warned?.to, hex(z(3, 4)));
  t.equal(lastLoggedZxid(dir), z(3, 5));

  // A DIFF read from this log gives each txn once.
  const diff: string[] = [];
  for await (const e of logEntriesAfter(dir, z(2, 2))) diff.push(hex(e.zxid));
  t.same(diff, [...once, z(3, 5)].map(hex));

  // A file that ends inside the repeat: the log still reaches its highest zxid.
  const dir2 = tmpDir(t);
  writeRawLog(dir2, 'log.300000001', [...once, z(3, 1), z(3, 2)]);
  t.equal(lastLoggedZxid(dir2), z(3, 4));
  t.equal(hex(recoverDir(dir2).tree.lastProcessedZxid), hex(z(3, 4)));
});

t.test('a repeat that reaches below the snapshot is skipped too', async (t) => {
  const dir = tmpDir(t);
  const once = [z(1, 1), z(1, 2), z(1, 3), z(1, 4)];
  writeRawLog(dir, 'log.100000001', [...once, ...once, z(1, 5)]);
  await writeSnapshotOf(dir, [z(1, 1), z(1, 2)]);
  const r = recoverDir(dir);
  t.equal(r.replayed, 3, '0x100000003, 0x100000004 and 0x100000005');
  t.equal(hex(r.tree.lastProcessedZxid), hex(z(1, 5)));
});

t.test('the reader yields every record after the first it was asked for, in file order', async (t) => {
  const dir = tmpDir(t);
  writeRawLog(dir, 'log.100000001', [z(1, 1), z(1, 2), z(2, 1), z(1, 3)]);
  const seen = [...readTxnLog(dir, z(1, 2))].map((e) => hex(e.txn.hdr.zxid));
  t.same(seen, [z(1, 2), z(2, 1), z(1, 3)].map(hex), 'records before the start are skipped, a later lower one is not');
});

t.test('purge keeps the log that holds the txns after the oldest kept snapshot, across epochs', async (t) => {
  const dir = tmpDir(t);
  const v2 = path.join(dir, 'version-2');
  fs.mkdirSync(v2);
  for (const n of ['snapshot.0', 'snapshot.100000007', 'snapshot.200000003', 'snapshot.300000002', 'snapshot.300000009', 'log.100000001', 'log.200000001', 'log.300000001', 'acceptedEpoch', 'currentEpoch']) {
    fs.writeFileSync(path.join(v2, n), '');
  }
  const r = purge(dir, dir, 3);
  // The oldest kept snapshot is 0x200000003: log.200000001 holds what follows it.
  t.same(r.removed.map((f) => path.basename(f)).sort(), ['log.100000001', 'snapshot.0', 'snapshot.100000007']);
  t.same(fs.readdirSync(v2).sort(), ['acceptedEpoch', 'currentEpoch', 'log.200000001', 'log.300000001', 'snapshot.200000003', 'snapshot.300000002', 'snapshot.300000009']);
});

t.test('a server on an epoch-3 log goes on in epoch 3 and leaves the epoch files alone', async (t) => {
  const dir = tmpDir(t);
  await writeSnapshotOf(dir, []);
  await writeLogs(dir, [[z(1, 1), z(1, 2), z(3, 1), z(3, 2)]]);
  const v2 = path.join(dir, 'version-2');
  fs.writeFileSync(path.join(v2, 'acceptedEpoch'), '3');
  fs.writeFileSync(path.join(v2, 'currentEpoch'), '3');
  let server: RunningServer | undefined = await startZkts({ extraConfig: { dataDir: dir, preAllocSize: '64' } });
  t.teardown(() => server?.stop());
  const c = await ZkClient.connect(server.host, server.port);
  const created = await c.create('/after', Buffer.from('x'));
  t.equal(created.header.err, 0);
  t.equal(hex(created.header.zxid), hex(z(3, 4)), 'createSession took 0x300000003, the create 0x300000004');
  t.equal((await c.exists('/n3-2')).header.err, 0, 'the last logged node is there');
  await c.close();
  await server.stop();
  server = undefined;
  t.equal(fs.readFileSync(path.join(v2, 'acceptedEpoch'), 'utf8'), '3');
  t.equal(fs.readFileSync(path.join(v2, 'currentEpoch'), 'utf8'), '3');
  t.ok(listLogFiles(dir).some((f) => f.zxid === z(3, 3)), 'its log file starts at 0x300000003');
  const r = recoverDir(dir);
  t.equal(hex(r.tree.lastProcessedZxid), hex(z(3, 5)), 'and recovers to its closeSession 0x300000005');
});
