// The log as a leader's sync reads it and a learner's TRUNC cuts it, over logs that span several
// files and three epochs, with preallocated zero tails and snapshots between: truncation to a zxid
// leaves exactly the txns up to it (recovery rebuilds the tree as of it, and the writer goes on
// after it), refuses zxids the log does not hold without touching anything; the DIFF reader hands
// out every later entry's exact bytes in order with any read budget, stops at a bound, and refuses
// holes and damage; the snapshotSizeFactor rule weighs the files as ZooKeeper does.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { OpCode } from '../src/protocol/constants';
import { loadConfig } from '../src/server/config';
import { DataTree } from '../src/storage/datatree';
import { recover } from '../src/storage/diskdb';
import { diffFromLogAllowed, LogGapError, logBytesSince, logEntriesAfter } from '../src/storage/logdiff';
import { TruncateError, truncateLogTo } from '../src/storage/logtrunc';
import { writeSnapshot } from '../src/storage/snapshot';
import type { Txn, TxnBody } from '../src/storage/txn';
import { CorruptLogError, listLogFiles, readTxnLog, TxnLogWriter } from '../src/storage/txnlog';
import { serializeTxn } from '../src/storage/txnserde';
import { makeZxid } from '../src/storage/zxid';

const SESSION = 0x100000a5c6e0000n;
const OPEN = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
const z = (epoch: number, counter: number): bigint => makeZxid(BigInt(epoch), BigInt(counter));
const hex = (v: bigint): string => '0x' + v.toString(16);
const silent = pino({ level: 'silent' });
/** Txns per epoch; a new file every FILE_TXNS txns and at each epoch. */
const EPOCH_TXNS = [21, 15, 12];
const FILE_TXNS = 10;
/** Snapshots are taken after these zxids (and an empty one at 0). */
const SNAP_AT = [z(1, 21), z(2, 5), z(3, 3)];

function tmpDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'logsync-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Fixture {
  dir: string;
  txns: Txn[];
  /** The tree as of each zxid (listing lines). */
  treeAt: Map<bigint, string[]>;
}

function listing(tree: DataTree): string[] {
  const out: string[] = [];
  for (const p of tree.paths()) {
    const n = tree.getNode(p)!;
    out.push(`${p} ${JSON.stringify(tree.statOf(n), (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))} ${n.dataAsText === null ? 'null' : Buffer.from(n.dataAsText, 'latin1').toString('hex')}`);
  }
  return out.sort();
}

function bodyFor(epoch: number, counter: number): TxnBody {
  if (epoch === 1 && counter === 1) return { type: OpCode.createSession, record: { timeOut: 30000 } };
  // Every third txn is large, so that files outgrow their preallocation steps.
  const data = Buffer.alloc(counter % 3 === 0 ? 2500 : 20, `${epoch}.${counter}`);
  if (counter % 5 === 0) return { type: OpCode.setData, record: { path: `/e${epoch}n1`, data, version: -1 } };
  return { type: OpCode.create, record: { path: `/e${epoch}n${counter}`, data, acl: OPEN, ephemeral: false, parentCVersion: -1 } };
}

/** A dataDir with logs across files and epochs (the last one with its zero tail) and snapshots. */
async function buildFixture(t: Test): Promise<Fixture> {
  const dir = tmpDir(t);
  const tree = new DataTree();
  const sessions = new Map<bigint, number>();
  const treeAt = new Map<bigint, string[]>();
  const txns: Txn[] = [];
  const snapDir = path.join(dir, 'version-2');
  await writeSnapshot(snapDir, tree, sessions, 0n);
  const w = new TxnLogWriter(dir, { preAllocBytes: 4096, forceSync: false });
  let inFile = 0;
  for (let e = 1; e <= EPOCH_TXNS.length; e++) {
    w.rollLog();
    inFile = 0;
    for (let c = 1; c <= EPOCH_TXNS[e - 1]; c++) {
      if (inFile === FILE_TXNS) {
        w.rollLog();
        inFile = 0;
      }
      const zxid = z(e, c);
      const body = bodyFor(e, c);
      const txn: Txn = { hdr: { clientId: SESSION, cxid: c, zxid, time: 1_700_000_000_000n + zxid, type: body.type }, body };
      tree.apply(txn);
      if (body.type === OpCode.createSession) sessions.set(SESSION, 30000);
      w.append(txn, { version: 2, treeDigest: tree.digest.value });
      await w.commit();
      txns.push(txn);
      treeAt.set(zxid, listing(tree));
      inFile++;
      if (SNAP_AT.includes(zxid)) await writeSnapshot(snapDir, tree, sessions, zxid);
    }
  }
  await w.close();
  // The newest file as a crash leaves it: preallocated zeros after the last record.
  const files = listLogFiles(dir);
  fs.appendFileSync(files[files.length - 1].file, Buffer.alloc(4096));
  return { dir, txns, treeAt };
}

/** The fixture's last zxid. */
function f0Last(): bigint {
  return z(EPOCH_TXNS.length, EPOCH_TXNS[EPOCH_TXNS.length - 1]);
}

function dirState(dir: string): string[] {
  const v2 = path.join(dir, 'version-2');
  return fs
    .readdirSync(v2)
    .sort()
    .map((f) => `${f}:${fs.statSync(path.join(v2, f)).size}`);
}

function loggedZxids(dir: string): bigint[] {
  return [...readTxnLog(dir, 0n)].map((e) => e.txn.hdr.zxid);
}

t.test('the fixture spans files and epochs', async (t) => {
  const f = await buildFixture(t);
  const names = listLogFiles(f.dir).map((l) => hex(l.zxid));
  t.same(names, ['0x100000001', '0x10000000b', '0x100000015', '0x200000001', '0x20000000b', '0x300000001', '0x30000000b']);
  t.equal(loggedZxids(f.dir).length, f.txns.length);
});

t.test('truncating to a zxid', async (t) => {
  for (const target of [z(2, 7), z(1, 21), z(2, 10), z(3, 12), z(3, 11), z(1, 1)]) {
    t.test(hex(target), async (t) => {
      const f = await buildFixture(t);
      const r = truncateLogTo(f.dir, f.dir, target);
      const expected = f.txns.map((x) => x.hdr.zxid).filter((x) => x <= target);
      t.same(loggedZxids(f.dir).map(hex), expected.map(hex), 'the log ends exactly at the zxid');
      t.equal(fs.statSync(r.file).size, r.size, 'the file holding it ends right after its entry (no zero tail)');
      t.ok(listLogFiles(f.dir).every((l) => l.zxid <= target), 'no file starts after it');
      const snaps = fs.readdirSync(path.join(f.dir, 'version-2')).filter((n) => n.startsWith('snapshot.'));
      t.ok(snaps.every((n) => BigInt('0x' + n.slice(9)) <= target), `no snapshot after it (${snaps.join(' ')})`);
      const rec = recover(loadConfig(`dataDir=${f.dir}\n`, new Map(), f.dir), silent);
      t.same(listing(rec.tree), f.treeAt.get(target), 'recovery rebuilds the tree as of the zxid');
      t.equal(hex(rec.tree.lastProcessedZxid), hex(target));
      // The writer goes on after it, in a new epoch, and everything reads back.
      const next = z(9, 1);
      const w = new TxnLogWriter(f.dir, { preAllocBytes: 4096, forceSync: true });
      const body: TxnBody = { type: OpCode.create, record: { path: '/after', data: null, acl: OPEN, ephemeral: false, parentCVersion: -1 } };
      w.append({ hdr: { clientId: SESSION, cxid: 1, zxid: next, time: 1n, type: body.type }, body });
      await w.commit();
      await w.close();
      t.same(loggedZxids(f.dir).map(hex), [...expected, next].map(hex), 'appends after the truncation read back');
      // Truncating again to the same zxid is harmless (a crash-interrupted run is simply redone).
      truncateLogTo(f.dir, f.dir, target);
      t.same(loggedZxids(f.dir).map(hex), expected.map(hex));
    });
  }

  t.test('a crash between the steps leaves a consistent dataDir, and running it again finishes', async (t) => {
    const target = z(2, 3);
    const last = f0Last();
    const f = await buildFixture(t);
    const v2 = path.join(f.dir, 'version-2');
    const rebuild = (): string[] => listing(recover(loadConfig(`dataDir=${f.dir}\n`, new Map(), f.dir), silent).tree);
    // Crash after step 1: the newer snapshots are gone, the log is whole: the same tree as before.
    for (const n of fs.readdirSync(v2)) if (n.startsWith('snapshot.') && BigInt('0x' + n.slice(9)) > target) fs.unlinkSync(path.join(v2, n));
    t.same(rebuild(), f.treeAt.get(last), 'after step 1: the tree before the truncation');
    // Crash after step 2: the later files are gone (newest first), the holder is not cut yet: a
    // prefix of the log, up to the holder's last txn.
    const files = listLogFiles(f.dir);
    const holder = files.filter((l) => l.zxid <= target).pop()!;
    for (const l of files.reverse()) if (l.zxid > target) fs.unlinkSync(l.file);
    t.same(rebuild(), f.treeAt.get(z(2, 10)), 'after step 2: the tree as of the holder\'s last txn');
    t.equal(path.basename(holder.file), 'log.200000001');
    truncateLogTo(f.dir, f.dir, target);
    t.same(rebuild(), f.treeAt.get(target), 'run again: the tree as of the zxid');
  });

  t.test('refused, with nothing changed, when the zxid is not in the log', async (t) => {
    const f = await buildFixture(t);
    const before = dirState(f.dir);
    for (const [zxid, why] of [
      [z(2, 99), /log\.20000000b is the log file that would hold it, but its txns before it end at 0x20000000f/],
      [z(2, 0), /log\.100000015 is the log file that would hold it, but its txns before it end at 0x100000015/],
      [z(4, 1), /log\.30000000b is the log file that would hold it, but its txns before it end at 0x30000000c/],
      [z(0, 5), /the txn log starts later, at 0x100000001/],
    ] as const) {
      t.throws(() => truncateLogTo(f.dir, f.dir, zxid), { name: 'TruncateError', message: why }, hex(zxid));
    }
    t.same(dirState(f.dir), before, 'the dataDir is untouched');
    const empty = tmpDir(t);
    t.throws(() => truncateLogTo(empty, empty, z(1, 1)), TruncateError, 'no log at all');
  });

  t.test('refused when no snapshot at or before the zxid would be left', async (t) => {
    const f = await buildFixture(t);
    // The older snapshots and logs purged: the oldest left are snapshot.200000005 and log.200000001.
    const v2 = path.join(f.dir, 'version-2');
    for (const n of fs.readdirSync(v2)) if (n === 'snapshot.0' || n === 'snapshot.100000015' || n.startsWith('log.1')) fs.unlinkSync(path.join(v2, n));
    const before = dirState(f.dir);
    t.throws(() => truncateLogTo(f.dir, f.dir, z(2, 3)), { name: 'TruncateError', message: /no snapshot at or before it would be left/ });
    t.same(dirState(f.dir), before);
    truncateLogTo(f.dir, f.dir, z(2, 6));
    t.equal(hex(loggedZxids(f.dir).pop()!), hex(z(2, 6)), 'a zxid after the oldest snapshot is fine');
  });
});

async function collect(it: AsyncIterable<{ zxid: bigint; body: Buffer }>): Promise<{ zxid: bigint; body: Buffer }[]> {
  const out: { zxid: bigint; body: Buffer }[] = [];
  for await (const e of it) out.push(e);
  return out;
}

t.test('reading a DIFF from the log', async (t) => {
  const f = await buildFixture(t);
  // The bodies as the log holds them: what the writer serialized (header, record, digest).
  const bodies = new Map<bigint, Buffer>();
  for (const e of readTxnLog(f.dir, 0n)) bodies.set(e.txn.hdr.zxid, serializeTxn(e.txn, e.digest));
  const all = f.txns.map((x) => x.hdr.zxid);
  for (const after of [0n, z(1, 5), z(1, 10), z(1, 21), z(2, 0), z(2, 14), z(3, 12)]) {
    for (const budget of [16, 100, 4096, 1 << 20]) {
      const got = await collect(logEntriesAfter(f.dir, after, { readBudgetBytes: budget }));
      const want = all.filter((x) => x > after);
      if (!t.same(got.map((e) => hex(e.zxid)), want.map(hex), `after ${hex(after)}, budget ${budget}: the zxids`)) continue;
      t.ok(
        got.every((e) => e.body.equals(bodies.get(e.zxid)!)),
        `after ${hex(after)}, budget ${budget}: each body is the entry's bytes`,
      );
    }
  }
  const bounded = await collect(logEntriesAfter(f.dir, z(1, 19), { toZxid: z(2, 4) }));
  t.same(bounded.map((e) => hex(e.zxid)), [z(1, 20), z(1, 21), z(2, 1), z(2, 2), z(2, 3), z(2, 4)].map(hex), 'a bound stops it');
  await t.rejects(collect(logEntriesAfter(f.dir, z(3, 5), { toZxid: z(3, 20) })), LogGapError, 'a bound past the log end is a gap');
  // Pull-based: a consumer that stops early closes the files (no error, no leak of the rest).
  const it = logEntriesAfter(f.dir, 0n, { readBudgetBytes: 64 });
  t.equal(hex((await it.next()).value!.zxid), hex(z(1, 1)));
  await it.return(undefined);

  t.test('a hole in the log is refused', async (t) => {
    const g = await buildFixture(t);
    fs.unlinkSync(path.join(g.dir, 'version-2', 'log.10000000b'));
    await t.rejects(collect(logEntriesAfter(g.dir, z(1, 2))), { name: 'LogGapError', message: /0x100000015 follows 0x10000000a: txns 0x10000000b to 0x100000014 are missing/ });
    await t.rejects(collect(logEntriesAfter(g.dir, z(1, 0))), LogGapError);
  });

  t.test('damage is refused with file and offset', async (t) => {
    const g = await buildFixture(t);
    const file = path.join(g.dir, 'version-2', 'log.200000001');
    const b = fs.readFileSync(file);
    b[16 + 12 + 40] ^= 0xff; // inside the first entry's body
    fs.writeFileSync(file, b);
    const err = await collect(logEntriesAfter(g.dir, z(1, 20))).then(
      () => undefined,
      (e: unknown) => e,
    );
    t.type(err, CorruptLogError);
    t.match((err as CorruptLogError).message, /log\.200000001 offset 16: checksum mismatch/);
  });
});

t.test('the log weighed for a DIFF (snapshotSizeFactor)', async (t) => {
  const f = await buildFixture(t);
  const files = listLogFiles(f.dir);
  const size = (i: number): number => fs.statSync(files[i].file).size;
  const sum = (from: number): number => files.slice(from).reduce((s, _f, i) => s + size(from + i), 0);
  t.same(logBytesSince(f.dir, z(2, 12)), { reaches: true, bytes: sum(4) }, 'from the file holding the zxid on');
  t.same(logBytesSince(f.dir, z(1, 1)), { reaches: true, bytes: sum(0) });
  t.same(logBytesSince(f.dir, 0n), { reaches: false, bytes: 0 }, 'the log does not reach zxid 0 (it starts at 0x100000001)');
  const snap = fs.statSync(path.join(f.dir, 'version-2', 'snapshot.300000003')).size;
  const needed = sum(4) / snap;
  t.ok(diffFromLogAllowed(f.dir, f.dir, z(2, 12), needed + 0.01), `allowed with a factor above ${needed.toFixed(2)}`);
  t.notOk(diffFromLogAllowed(f.dir, f.dir, z(2, 12), needed - 0.01), 'refused below it');
  t.notOk(diffFromLogAllowed(f.dir, f.dir, 0n, 1000), 'refused when the log does not reach the zxid');
  t.notOk(diffFromLogAllowed(f.dir, f.dir, z(2, 12), -1), 'a negative factor turns it off');
});
