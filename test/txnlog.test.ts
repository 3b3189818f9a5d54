// The txn log in ZooKeeper's format: entry bytes of every txn type, file layout and preallocation,
// torn tails at every byte of the last record, corruption before the tail, and a disk that fails.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Err, OpCode } from '../src/protocol/constants';
import type { ACL } from '../src/protocol/generated/records';
import type { Txn, TxnBody } from '../src/storage/txn';
import { deserializeTxn, serializeTxn, TxnFormatError, type TxnDigest } from '../src/storage/txnserde';
import {
  CorruptLogError,
  FILE_HEADER_BYTES,
  frameEntry,
  lastLoggedZxid,
  listLogFiles,
  paddedSize,
  readTxnLog,
  readTxnLogFile,
  realFs,
  TornLogTail,
  truncateLog,
  TxnLogFailedError,
  TxnLogWriter,
  type FsShim,
  type LogEntry,
} from '../src/storage/txnlog';
import { Adler32, adler32 } from '../src/storage/adler32';
import { logDumpMain } from '../src/storage/logdump';

const SESSION = 0x1000a5c6e7b0000n;
const ACL_OPEN: ACL[] = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
const ACL_DIGEST: ACL[] = [{ perms: 1, id: { scheme: 'digest', id: 'u:abcdefghijklmnopqrstuvwxyz0=' } }];

function tmpDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'txnlog-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function txn(zxid: bigint, body: TxnBody, type: number = body.type): Txn {
  return { hdr: { clientId: SESSION, cxid: Number(zxid % 1000n), zxid, time: 1_700_000_000_000n + zxid, type }, body };
}

/** One body of every kind the log can hold. */
function everyBody(): TxnBody[] {
  return [
    { type: OpCode.createSession, record: { timeOut: 30000 } },
    { type: OpCode.create, record: { path: '/a', data: Buffer.from('x'), acl: ACL_OPEN, ephemeral: false, parentCVersion: 1 } },
    { type: OpCode.create2, record: { path: '/a/e', data: null, acl: ACL_DIGEST, ephemeral: true, parentCVersion: 2 } },
    { type: OpCode.createContainer, record: { path: '/c', data: Buffer.alloc(0), acl: ACL_OPEN, parentCVersion: 3 } },
    { type: OpCode.createTTL, record: { path: '/t0000000004', data: Buffer.from('ttl'), acl: ACL_OPEN, parentCVersion: 4, ttl: 123456n } },
    { type: OpCode.setData, record: { path: '/a', data: Buffer.from([0, 1, 2, 255]), version: 1 } },
    { type: OpCode.setACL, record: { path: '/a', acl: [...ACL_OPEN, ...ACL_DIGEST], version: 1 } },
    { type: OpCode.check, record: { path: '/a', version: 1 } },
    { type: OpCode.delete, record: { path: '/a/e' } },
    { type: OpCode.deleteContainer, record: { path: '/c' } },
    { type: OpCode.error, record: { err: Err.NODEEXISTS } },
    {
      type: OpCode.multi,
      record: {
        txns: [
          { type: OpCode.check, record: { path: '/a', version: 1 } },
          { type: OpCode.create, record: { path: '/m', data: Buffer.from('m'), acl: ACL_OPEN, ephemeral: false, parentCVersion: 5 } },
          { type: OpCode.createTTL, record: { path: '/mt', data: null, acl: ACL_OPEN, parentCVersion: 6, ttl: 5000n } },
          { type: OpCode.createContainer, record: { path: '/mc', data: null, acl: ACL_OPEN, parentCVersion: 7 } },
          { type: OpCode.setData, record: { path: '/m', data: Buffer.from('n'), version: 0 } },
          { type: OpCode.delete, record: { path: '/m' } },
        ],
      },
    },
    {
      type: OpCode.multi,
      record: {
        txns: [
          { type: OpCode.create, record: { path: '/ok', data: null, acl: ACL_OPEN, ephemeral: false, parentCVersion: 8 } },
          { type: OpCode.error, record: { err: Err.NONODE } },
          { type: OpCode.error, record: { err: Err.RUNTIMEINCONSISTENCY } },
        ],
      },
    },
    { type: OpCode.closeSession, record: { paths2Delete: ['/a/e', '/b'] } },
    { type: OpCode.closeSession, record: { paths2Delete: [] } },
  ];
}

function everyTxn(firstZxid = 1n): Txn[] {
  return everyBody().map((b, i) => txn(firstZxid + BigInt(i), b));
}

function digestOf(zxid: bigint): TxnDigest {
  return { version: 2, treeDigest: 0x1234_5678_9abc_def0n ^ zxid };
}

function readAll(dir: string, from = 0n): { entries: LogEntry[]; tail?: TornLogTail } {
  const entries: LogEntry[] = [];
  try {
    for (const e of readTxnLog(dir, from)) entries.push(e);
  } catch (e) {
    if (e instanceof TornLogTail) return { entries, tail: e };
    throw e;
  }
  return { entries };
}

async function writeLog(dir: string, txns: Txn[], opts: { preAllocBytes?: number; digests?: boolean; commitEvery?: number } = {}): Promise<void> {
  const w = new TxnLogWriter(dir, { preAllocBytes: opts.preAllocBytes ?? 0, forceSync: true });
  let n = 0;
  for (const x of txns) {
    w.append(x, opts.digests ? digestOf(x.hdr.zxid) : undefined);
    if (++n % (opts.commitEvery ?? 1) === 0) await w.commit();
  }
  await w.commit();
  await w.close();
}

// ---------------------------------------------------------------------------------------------
// Entry bytes

t.test('every txn type round-trips to identical bytes, with and without a digest', async (t) => {
  for (const x of everyTxn()) {
    for (const digest of [undefined, digestOf(x.hdr.zxid)]) {
      const bytes = serializeTxn(x, digest);
      const back = deserializeTxn(bytes);
      t.same(back.txn, x, `${x.body.type} decodes`);
      t.same(back.digest, digest, 'digest');
      t.equal(back.legacy, undefined);
      t.ok(serializeTxn(back.txn, back.digest).equals(bytes), `${x.body.type} re-encodes to the same bytes`);
    }
  }
});

t.test('entry layout: TxnHeader, record, digest', async (t) => {
  const x = txn(0x100000002n, { type: OpCode.error, record: { err: Err.NONODE } });
  const bytes = serializeTxn(x, { version: 2, treeDigest: 7n });
  const expect = Buffer.alloc(32 + 4 + 12);
  expect.writeBigInt64BE(SESSION, 0);
  expect.writeInt32BE(x.hdr.cxid, 8);
  expect.writeBigInt64BE(0x100000002n, 12);
  expect.writeBigInt64BE(x.hdr.time, 20);
  expect.writeInt32BE(-1, 28);
  expect.writeInt32BE(-101, 32);
  expect.writeInt32BE(2, 36);
  expect.writeBigInt64BE(7n, 40);
  t.same([...bytes], [...expect]);
  // A multi's sub-txns are {type, buffer of the sub-record}.
  const m = serializeTxn(txn(3n, { type: OpCode.multi, record: { txns: [{ type: OpCode.delete, record: { path: '/x' } }] } }));
  t.same([...m.subarray(32)], [0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 6, 0, 0, 0, 2, 0x2f, 0x78]);
});

t.test('reconfig is a setData of /zookeeper/config under its own header type', async (t) => {
  const x = txn(9n, { type: OpCode.setData, record: { path: '/zookeeper/config', data: Buffer.from('server.1=a:1:2\nversion=100000000'), version: -1 } }, OpCode.reconfig);
  const bytes = serializeTxn(x);
  const back = deserializeTxn(bytes);
  t.equal(back.txn.hdr.type, OpCode.reconfig);
  t.equal(back.txn.body.type, OpCode.setData);
  t.ok(serializeTxn(back.txn).equals(bytes));
});

t.test('older layouts 3.8 still reads: create without parentCVersion, closeSession without record', async (t) => {
  const create = txn(4n, { type: OpCode.create, record: { path: '/old', data: Buffer.from('v0'), acl: ACL_OPEN, ephemeral: true, parentCVersion: 0 } });
  // The V0 layout is the current one minus the trailing parentCVersion int.
  const v1 = serializeTxn(create);
  const v0 = v1.subarray(0, v1.length - 4);
  for (const digest of [undefined, digestOf(4n)]) {
    const bytes = digest ? Buffer.concat([v0, serializeTxn(txn(0n, { type: OpCode.error, record: { err: 0 } }), digest).subarray(36)]) : v0;
    const back = deserializeTxn(bytes);
    t.equal(back.legacy, 'createV0');
    t.equal(back.txn.body.type === OpCode.create && back.txn.body.record.parentCVersion, -1, 'parentCVersion -1 asks the tree to fix it up');
    t.same(back.digest, digest);
    t.ok(serializeTxn(back.txn, back.digest, back.legacy).equals(bytes));
  }
  const close = txn(5n, { type: OpCode.closeSession, record: { paths2Delete: [] } });
  const headerOnly = serializeTxn(close).subarray(0, 32);
  for (const digest of [undefined, digestOf(5n)]) {
    const bytes = digest ? Buffer.concat([headerOnly, serializeTxn(txn(0n, { type: OpCode.error, record: { err: 0 } }), digest).subarray(36)]) : headerOnly;
    const back = deserializeTxn(bytes);
    t.equal(back.legacy, 'closeSessionWithoutRecord');
    t.same(back.txn.body, { type: OpCode.closeSession, record: { paths2Delete: [] } });
    t.same(back.digest, digest);
    t.ok(serializeTxn(back.txn, back.digest, back.legacy).equals(bytes));
  }
});

t.test('unreadable entries fail naming the reason', async (t) => {
  const base = serializeTxn(txn(1n, { type: OpCode.delete, record: { path: '/x' } }));
  const unknown = Buffer.from(base);
  unknown.writeInt32BE(99, 28);
  t.throws(() => deserializeTxn(unknown), { name: 'TxnFormatError', message: /type unknown 99 \(99\) is not supported/ });
  const sync = Buffer.from(base);
  sync.writeInt32BE(OpCode.sync, 28);
  t.throws(() => deserializeTxn(sync), { message: /sync/ });
  t.throws(() => deserializeTxn(Buffer.concat([base, Buffer.alloc(3)])), { message: /3 unexpected bytes after the delete record/ });
  t.throws(() => deserializeTxn(base.subarray(0, 20)), TxnFormatError);
  const multi = serializeTxn(txn(2n, { type: OpCode.multi, record: { txns: [{ type: OpCode.delete, record: { path: '/x' } }] } }));
  const badSub = Buffer.from(multi);
  badSub.writeInt32BE(OpCode.createSession, 36);
  t.throws(() => deserializeTxn(badSub), { message: /multi op 0 \(createSession\)/ });
  const setAclSub = Buffer.from(multi);
  setAclSub.writeInt32BE(OpCode.getData, 36);
  t.throws(() => deserializeTxn(setAclSub), { message: /multi op 0 \(getData\): txn type 4 is not supported inside a multi/ });
  t.throws(() => serializeTxn(txn(3n, { type: OpCode.delete, record: { path: '/x' } }, OpCode.create)), { message: /does not match/ });
  t.throws(() =>
    serializeTxn(txn(3n, { type: OpCode.multi, record: { txns: [{ type: OpCode.createSession, record: { timeOut: 1 } }] } })),
  );
});

// ---------------------------------------------------------------------------------------------
// Files

t.test('file layout: name, header, framed records, zero end', async (t) => {
  const dir = tmpDir(t);
  const txns = everyTxn(0x200000001n);
  await writeLog(dir, txns, { digests: true, commitEvery: 4 });
  const files = listLogFiles(dir);
  t.same(files.map((f) => path.basename(f.file)), ['log.200000001']);
  const bytes = fs.readFileSync(files[0].file);
  t.same([...bytes.subarray(0, 16)], [0x5a, 0x4b, 0x4c, 0x47, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0], 'ZKLG, version 2, dbid 0');
  let off = FILE_HEADER_BYTES;
  for (const x of txns) {
    const entry = serializeTxn(x, digestOf(x.hdr.zxid));
    t.equal(bytes.readBigInt64BE(off), BigInt(adler32(entry)), 'checksum of the entry bytes as a long');
    t.equal(bytes.readInt32BE(off + 8), entry.length);
    t.ok(bytes.subarray(off + 12, off + 12 + entry.length).equals(entry));
    t.equal(bytes[off + 12 + entry.length], 0x42);
    off += entry.length + 13;
  }
  t.equal(bytes.length, off, 'no preallocation asked: the file ends after the last record');
  const { entries, tail } = readAll(dir);
  t.equal(tail, undefined);
  t.same(entries.map((e) => e.txn), txns);
  t.same(entries.map((e) => e.digest), txns.map((x) => digestOf(x.hdr.zxid)));
  t.equal(entries[0].offset, 16);
  t.equal(lastLoggedZxid(dir), txns[txns.length - 1].hdr.zxid);
  t.equal(lastLoggedZxid(tmpDir(t)), undefined);
});

t.test('preallocation follows ZooKeeper: grow by preAllocSize when within 4 KiB of the end', async (t) => {
  t.equal(paddedSize(16, 16, 64 * 1024 * 1024), 64 * 1024 * 1024 + 16, 'a new file is preAllocSize past its header');
  t.equal(paddedSize(1000, 64 * 1024 * 1024 + 16, 64 * 1024 * 1024), 64 * 1024 * 1024 + 16, 'far from the end: unchanged');
  t.equal(paddedSize(64 * 1024 * 1024 + 16 - 4096, 64 * 1024 * 1024 + 16, 64 * 1024 * 1024), 128 * 1024 * 1024 + 16);
  t.equal(paddedSize(10_000, 8192, 8192), 16384, 'past the end: next multiple of the step');
  t.equal(paddedSize(16, 16, 0), 16, 'disabled');

  const dir = tmpDir(t);
  const step = 8192;
  const w = new TxnLogWriter(dir, { preAllocBytes: step, forceSync: true });
  const big = Buffer.alloc(1000, 0x61);
  const file = () => listLogFiles(dir)[0].file;
  w.append(txn(1n, { type: OpCode.setData, record: { path: '/a', data: big, version: 1 } }));
  await w.commit();
  t.equal(fs.statSync(file()).size, step + 16);
  let zxid = 2n;
  let written = 16 + (1000 + 32 + 4 + 2 + 4 + 4 + 13);
  // Keep appending one txn per commit; the size changes only when a write position comes close.
  const sizes = new Set<number>();
  while (written < 3 * step) {
    const before = written;
    const expected = paddedSize(before, Math.max(...[step + 16, ...sizes]), step);
    w.append(txn(zxid++, { type: OpCode.setData, record: { path: '/a', data: big, version: 1 } }));
    await w.commit();
    written += 1000 + 32 + 4 + 2 + 4 + 4 + 13;
    const size = fs.statSync(file()).size;
    t.equal(size, Math.max(expected, written), `size after the txn at ${before}`);
    sizes.add(size);
  }
  await w.close();
  t.same([...sizes].sort((a, b) => a - b), [step + 16, 2 * step + 16, 3 * step + 16, 4 * step + 16].filter((s) => s <= Math.max(...sizes)));
  const { entries, tail } = readAll(dir);
  t.equal(tail, undefined, 'the zero-filled end is not a tail');
  t.equal(entries.length, Number(zxid - 1n));
});

t.test('rollLog starts a new file at the next txn; reading from a zxid starts in its file', async (t) => {
  const dir = tmpDir(t);
  const w = new TxnLogWriter(dir, { preAllocBytes: 4096, forceSync: true });
  const all: Txn[] = [];
  for (let z = 1n; z <= 30n; z++) {
    const x = txn(z, { type: OpCode.setData, record: { path: '/a', data: Buffer.from(`v${z}`), version: Number(z) } });
    w.append(x);
    all.push(x);
    if (z % 3n === 0n) await w.commit();
    if (z === 10n || z === 20n) w.rollLog();
  }
  // A roll between two appends of the same commit: both files get their share.
  w.append(txn(31n, { type: OpCode.delete, record: { path: '/a' } }));
  w.rollLog();
  w.append(txn(32n, { type: OpCode.delete, record: { path: '/b' } }));
  await w.commit();
  await w.close();
  t.same(listLogFiles(dir).map((f) => path.basename(f.file)), ['log.1', 'log.b', 'log.15', 'log.20']);
  t.same(readAll(dir).entries.map((e) => e.txn.hdr.zxid), Array.from({ length: 32 }, (_, i) => BigInt(i + 1)));
  const from = readAll(dir, 15n).entries;
  t.equal(from[0].txn.hdr.zxid, 15n);
  t.equal(path.basename(from[0].file), 'log.b');
  t.equal(from.length, 18);
  t.equal(readAll(dir, 0x15n).entries[0].txn.hdr.zxid, 0x15n);
  t.equal(readAll(dir, 100n).entries.length, 0);
  t.equal(lastLoggedZxid(dir), 32n);
  t.same(all.slice(0, 30), readAll(dir).entries.slice(0, 30).map((e) => e.txn));
});

t.test('a finished file loses its preallocated zeros: at a roll and at close, not after a failure', async (t) => {
  const dir = tmpDir(t);
  const w = new TxnLogWriter(dir, { preAllocBytes: 64 * 1024, forceSync: true });
  const setData = (z: bigint) => txn(z, { type: OpCode.setData, record: { path: '/a', data: Buffer.from(`v${z}`), version: Number(z) } });
  for (let z = 1n; z <= 5n; z++) w.append(setData(z));
  await w.commit();
  const first = listLogFiles(dir)[0].file;
  t.equal(fs.statSync(first).size, 64 * 1024 + 16, 'preallocated while in use');
  w.rollLog();
  w.append(setData(6n));
  await w.commit();
  const end = (file: string) => {
    const items = [...readTxnLogFile(file)];
    const last = items[items.length - 1] as { offset: number };
    return { count: items.length, last: last.offset };
  };
  const firstSize = fs.statSync(first).size;
  t.ok(firstSize < 1024, `the rolled file is cut to its records (${firstSize} bytes)`);
  t.equal(end(first).count, 5);
  const second = listLogFiles(dir)[1].file;
  t.equal(fs.statSync(second).size, 64 * 1024 + 16, 'the current file keeps its zeros');
  w.append(setData(7n));
  await w.close();
  t.ok(fs.statSync(second).size < 1024, 'cut at close; uncommitted appends are not in it');
  t.same(readAll(dir).entries.map((e) => e.txn.hdr.zxid), [1n, 2n, 3n, 4n, 5n, 6n]);
  t.equal(readAll(dir).tail, undefined);
  // A cut file ends exactly after its last record's end-of-record byte.
  const bytes = fs.readFileSync(second);
  t.equal(bytes[bytes.length - 1], 0x42);

  // After a failed write nothing is cut: what reached the disk is unknown.
  const dir2 = tmpDir(t);
  let failWrites = false;
  const shim: FsShim = { ...realFs, write: (fd, buf, off, len, pos) => (failWrites ? Promise.reject(new Error('EIO: injected')) : realFs.write(fd, buf, off, len, pos)) };
  const w2 = new TxnLogWriter(dir2, { preAllocBytes: 64 * 1024, forceSync: true, fs: shim });
  w2.append(setData(1n));
  await w2.commit();
  failWrites = true;
  w2.append(setData(2n));
  await t.rejects(w2.commit(), /injected/);
  await w2.close();
  t.equal(fs.statSync(listLogFiles(dir2)[0].file).size, 64 * 1024 + 16, 'a failed log keeps its size');
});

t.test('appends out of zxid order are refused', async (t) => {
  const w = new TxnLogWriter(tmpDir(t), { preAllocBytes: 0, forceSync: false });
  w.append(txn(5n, { type: OpCode.delete, record: { path: '/a' } }));
  t.throws(() => w.append(txn(5n, { type: OpCode.delete, record: { path: '/a' } })), /out of order/);
  await w.close();
  t.throws(() => w.append(txn(6n, { type: OpCode.delete, record: { path: '/a' } })), /closed/);
});

// ---------------------------------------------------------------------------------------------
// Torn tails and corruption

async function fiveTxnLog(t: Test, preAllocBytes: number): Promise<{ dir: string; file: string; offsets: number[]; ends: number[] }> {
  const dir = tmpDir(t);
  const txns = [1n, 2n, 3n, 4n, 5n].map((z) => txn(z, { type: OpCode.setData, record: { path: '/node', data: Buffer.from(`value ${z}`), version: Number(z) } }));
  await writeLog(dir, txns, { preAllocBytes, digests: true });
  const file = listLogFiles(dir)[0].file;
  const offsets: number[] = [];
  const ends: number[] = [];
  let off = 16;
  for (const x of txns) {
    offsets.push(off);
    off += serializeTxn(x, digestOf(x.hdr.zxid)).length + 13;
    ends.push(off);
  }
  return { dir, file, offsets, ends };
}

for (const prealloc of [0, 4096]) {
  t.test(`a torn last record at every byte offset (preallocation ${prealloc}) is reported, then truncated`, async (t) => {
    const { dir, file, offsets, ends } = await fiveTxnLog(t, prealloc);
    const original = fs.readFileSync(file);
    const start = offsets[4];
    const end = ends[4];
    let reported = 0;
    for (let k = 0; k < end - start; k++) {
      // k bytes of the last record reached the disk; the rest is zeros (preallocated) or absent.
      const torn = prealloc > 0 ? Buffer.concat([original.subarray(0, start + k), Buffer.alloc(original.length - start - k)]) : original.subarray(0, start + k);
      fs.writeFileSync(file, torn);
      const { entries, tail } = readAll(dir);
      t.same(entries.map((e) => e.txn.hdr.zxid), [1n, 2n, 3n, 4n], `k=${k}: intact txns`);
      if (tail) {
        reported++;
        t.equal(tail.file, file);
        t.equal(tail.offset, start, `k=${k}: tail at the record`);
      } else {
        t.ok(torn.subarray(start, start + k).every((b) => b === 0), `k=${k}: only an all-zero prefix reads as the clean end`);
      }
    }
    // The checksum's high half is always zero, so up to 4 written bytes look like the zero end.
    t.ok(reported >= end - start - 5, `${reported} torn tails reported`);

    // Recovery: cut the tail, then a new writer continues in a new file.
    fs.writeFileSync(file, Buffer.concat([original.subarray(0, start + 20), Buffer.alloc(prealloc)]));
    const { tail } = readAll(dir);
    t.ok(tail);
    truncateLog(tail!.file, tail!.offset);
    t.equal(fs.statSync(file).size, start);
    t.equal(readAll(dir).tail, undefined);
    t.equal(lastLoggedZxid(dir), 4n);
    await writeLog(dir, [txn(5n, { type: OpCode.delete, record: { path: '/node' } })], { preAllocBytes: prealloc });
    t.same(listLogFiles(dir).map((f) => path.basename(f.file)), ['log.1', 'log.5']);
    const after = readAll(dir);
    t.same(after.entries.map((e) => [e.txn.hdr.zxid, e.txn.body.type]), [[1n, 5], [2n, 5], [3n, 5], [4n, 5], [5n, 2]]);
  });
}

t.test('damage before the tail is a CorruptLogError naming file and offset', async (t) => {
  const { dir, file, offsets, ends } = await fiveTxnLog(t, 4096);
  const original = fs.readFileSync(file);
  const cases: [string, (b: Buffer) => void, RegExp][] = [
    ['a payload byte', (b) => (b[offsets[1] + 40] ^= 0x01), /checksum mismatch/],
    ['the checksum', (b) => (b[offsets[1] + 7] ^= 0x10), /checksum mismatch/],
    ['the end-of-record byte', (b) => (b[ends[1] - 1] = 0x41), /end-of-record/],
    ['the length, made huge', (b) => b.writeInt32BE(0x7ffffff0, offsets[1] + 8), /invalid record length/],
    ['the length, made longer', (b) => b.writeInt32BE(b.readInt32BE(offsets[1] + 8) + 20, offsets[1] + 8), /checksum mismatch|end-of-record/],
    ['the record, zeroed', (b) => b.fill(0, offsets[1], ends[1]), /zero-filled record followed by intact records/],
  ];
  for (const [what, damage, reason] of cases) {
    const b = Buffer.from(original);
    damage(b);
    fs.writeFileSync(file, b);
    const seen: bigint[] = [];
    const err = t.throws(() => {
      for (const e of readTxnLog(dir, 0n)) seen.push(e.txn.hdr.zxid);
    }, CorruptLogError) as unknown as CorruptLogError;
    t.equal(err.file, file, what);
    t.equal(err.offset, offsets[1], `${what}: offset of the damaged record`);
    t.match(err.reason, reason, what);
    t.same(seen, [1n], `${what}: txns before it were read`);
    // Records before the zxid asked for are not decoded, but still checked.
    t.throws(() => [...readTxnLog(dir, 4n)], { name: 'CorruptLogError', offset: offsets[1] }, `${what}: found when reading from a later zxid`);
  }
  // A bad header.
  const b = Buffer.from(original);
  b.write('ZKLX', 0);
  fs.writeFileSync(file, b);
  t.throws(() => [...readTxnLog(dir, 0n)], { name: 'CorruptLogError', offset: 0, message: /magic/ });
  b.write('ZKLG', 0);
  b.writeInt32BE(3, 4);
  fs.writeFileSync(file, b);
  t.throws(() => [...readTxnLog(dir, 0n)], { name: 'CorruptLogError', message: /version 3/ });
  // An intact record whose content is not a txn this server reads.
  const entry = serializeTxn(txn(2n, { type: OpCode.delete, record: { path: '/x' } }));
  entry.writeInt32BE(77, 28);
  fs.writeFileSync(file, Buffer.concat([original.subarray(0, offsets[1]), frameEntry(entry), original.subarray(ends[1])]));
  t.throws(() => [...readTxnLog(dir, 0n)], { name: 'CorruptLogError', offset: offsets[1], message: /unknown 77/ });
  // Before the zxid asked for, only the header's zxid is read: the record is passed over.
  t.same(
    [...readTxnLog(dir, 3n)].map((e) => e.txn.hdr.zxid),
    [3n, 4n, 5n],
    'an intact record before the zxid asked for is not decoded',
  );
});

t.test('a torn tail in an older file (ZooKeeper restarted into a new file) is skipped and reported', async (t) => {
  const { dir, file, offsets } = await fiveTxnLog(t, 0);
  const b = fs.readFileSync(file);
  fs.writeFileSync(file, b.subarray(0, offsets[4] + 30));
  await writeLog(dir, [txn(5n, { type: OpCode.delete, record: { path: '/node' } }), txn(6n, { type: OpCode.error, record: { err: -101 } })]);
  const skipped: TornLogTail[] = [];
  const zxids = [...readTxnLog(dir, 0n, { onSkippedTail: (x) => skipped.push(x) })].map((e) => e.txn.hdr.zxid);
  t.same(zxids, [1n, 2n, 3n, 4n, 5n, 6n]);
  t.equal(skipped.length, 1);
  t.equal(skipped[0].offset, offsets[4]);
  t.equal(lastLoggedZxid(dir), 6n);
});

t.test('a newest file without a complete header is a tail at offset 0; its name can be reused', async (t) => {
  const { dir } = await fiveTxnLog(t, 0);
  const empty = path.join(dir, 'version-2', 'log.6');
  for (const content of [Buffer.alloc(0), Buffer.from([0x5a, 0x4b]), Buffer.alloc(4096)]) {
    fs.writeFileSync(empty, content);
    const { entries, tail } = readAll(dir);
    t.equal(entries.length, 5);
    t.equal(tail?.file, empty);
    t.equal(tail?.offset, 0);
    t.equal(lastLoggedZxid(dir), 5n);
  }
  truncateLog(empty, 0);
  t.notOk(fs.existsSync(empty), 'removed');
  // A header-only file (torn first record cut away) is reused by the next writer.
  const headerOnly = path.join(dir, 'version-2', 'log.6');
  fs.writeFileSync(headerOnly, fs.readFileSync(listLogFiles(dir)[0].file).subarray(0, 16));
  await writeLog(dir, [txn(6n, { type: OpCode.delete, record: { path: '/node' } })]);
  t.same(readAll(dir).entries.map((e) => e.txn.hdr.zxid), [1n, 2n, 3n, 4n, 5n, 6n]);
  // A file that holds txns is never overwritten.
  const w = new TxnLogWriter(dir, { preAllocBytes: 0, forceSync: false });
  w.append(txn(6n, { type: OpCode.delete, record: { path: '/other' } }));
  await t.rejects(w.commit(), /already exists and holds txns/);
  await w.close();
});

// ---------------------------------------------------------------------------------------------
// A disk that fails

interface Faults {
  fsyncs: number;
  failFsync?: NodeJS.ErrnoException;
  failWrite?: NodeJS.ErrnoException;
  /** Write only this many bytes of the next write, then fail it. */
  tearNextWriteAt?: number;
  /** Accept only this many bytes per write call (short writes, no error). */
  shortWrites?: number;
}

function faultyFs(f: Faults): FsShim {
  return {
    ...realFs,
    async write(fd, buf, offset, length, position) {
      if (f.failWrite) throw f.failWrite;
      if (f.tearNextWriteAt !== undefined) {
        const n = f.tearNextWriteAt;
        f.tearNextWriteAt = undefined;
        await realFs.write(fd, buf, offset, Math.min(n, length), position);
        throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
      }
      return realFs.write(fd, buf, offset, f.shortWrites ? Math.min(f.shortWrites, length) : length, position);
    },
    async fdatasync(fd) {
      f.fsyncs++;
      if (f.failFsync) throw f.failFsync;
      return realFs.fdatasync(fd);
    },
  };
}

const ENOSPC = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
const EIO = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });

t.test('one fsync per commit; none with forceSync off; short writes are completed', async (t) => {
  const f: Faults = { fsyncs: 0, shortWrites: 7 };
  const dir = tmpDir(t);
  const w = new TxnLogWriter(dir, { preAllocBytes: 1024, forceSync: true, fs: faultyFs(f) });
  w.append(txn(1n, { type: OpCode.createSession, record: { timeOut: 5000 } }));
  await w.commit();
  t.equal(f.fsyncs, 2, 'the file and, once, its directory');
  for (let z = 2n; z < 10n; z++) w.append(txn(z, { type: OpCode.delete, record: { path: `/n${z}` } }));
  await w.commit();
  t.equal(f.fsyncs, 3);
  await w.commit();
  t.equal(f.fsyncs, 3, 'nothing new: no fsync');
  // Commits called back to back run in order; the first takes everything appended before it starts,
  // so the second finds nothing left to sync.
  w.append(txn(10n, { type: OpCode.delete, record: { path: '/a' } }));
  const p1 = w.commit();
  w.append(txn(11n, { type: OpCode.delete, record: { path: '/b' } }));
  const p2 = w.commit();
  await Promise.all([p1, p2]);
  t.equal(f.fsyncs, 4);
  await w.close();
  t.same(readAll(dir).entries.map((e) => e.txn.hdr.zxid), Array.from({ length: 11 }, (_, i) => BigInt(i + 1)));

  const g: Faults = { fsyncs: 0 };
  const w2 = new TxnLogWriter(tmpDir(t), { preAllocBytes: 0, forceSync: false, fs: faultyFs(g) });
  w2.append(txn(1n, { type: OpCode.delete, record: { path: '/a' } }));
  await w2.commit();
  t.equal(g.fsyncs, 0);
  await w2.close();
});

for (const [what, faults] of [
  ['fsync fails (EIO)', { fsyncs: 0, failFsync: EIO }],
  ['the disk is full (ENOSPC)', { fsyncs: 0, failWrite: ENOSPC }],
  ['a write is torn', { fsyncs: 0, tearNextWriteAt: 25 }],
] as [string, Faults][]) {
  t.test(`${what}: commit rejects and the writer refuses further appends`, async (t) => {
    const dir = tmpDir(t);
    const ok: Faults = { fsyncs: 0 };
    const shim = faultyFs(ok);
    const w = new TxnLogWriter(dir, { preAllocBytes: 4096, forceSync: true, fs: shim });
    w.append(txn(1n, { type: OpCode.createSession, record: { timeOut: 5000 } }));
    await w.commit();
    Object.assign(ok, faults);
    w.append(txn(2n, { type: OpCode.delete, record: { path: '/a' } }));
    const code = (faults.failFsync ?? faults.failWrite)?.code ?? 'EIO';
    await t.rejects(w.commit(), { code });
    // Healthy again, but the writer does not pretend: what reached the disk is unknown.
    ok.failFsync = undefined;
    ok.failWrite = undefined;
    t.throws(() => w.append(txn(3n, { type: OpCode.delete, record: { path: '/b' } })), TxnLogFailedError);
    await t.rejects(w.commit(), TxnLogFailedError);
    await w.close();
    // The log holds txn 1, and txn 2 either whole or as a torn tail.
    const { entries, tail } = readAll(dir);
    t.same(entries.map((e) => e.txn.hdr.zxid).slice(0, 1), [1n]);
    if (faults.tearNextWriteAt !== undefined) {
      t.equal(entries.length, 1);
      t.ok(tail, 'torn write reads as a torn tail');
    }
  });
}

// ---------------------------------------------------------------------------------------------
// log-dump

t.test('log-dump prints one line per txn, or JSON lines', async (t) => {
  const dir = tmpDir(t);
  const txns = everyTxn(0x300000001n);
  await writeLog(dir, txns, { digests: true });
  const file = listLogFiles(dir)[0].file;
  const run = async (args: string[]) => {
    let out = '';
    let err = '';
    const code = await logDumpMain(args, { out: (s) => (out += s), err: (s) => (err += s) });
    return { code, out, err };
  };
  const text = await run([file]);
  t.equal(text.code, 0, text.err);
  const lines = text.out.trim().split('\n');
  t.equal(lines.length, txns.length + 2);
  t.match(lines[1], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z session 0x1000a5c6e7b0000 cxid 0x379 zxid 0x300000001 createSession timeOut=30000 digest=2:0x/);
  t.match(lines[2], / zxid 0x300000002 create \/a,x,\[world:anyone:31\],false,1/);
  t.match(lines[5], / createTtl \/t0000000004,ttl,\[world:anyone:31\],4,123456/);
  t.match(text.out, / multi check:\/a,1;create:\/m,m,\[world:anyone:31\],false,5;createTtl:/);
  t.match(text.out, / closeSession paths2Delete=\[\/a\/e, \/b\]/);
  t.equal(lines[lines.length - 1], `EOF reached after ${txns.length} txns.`);

  const json = await run(['--json', file]);
  t.equal(json.code, 0);
  const objs = json.out.trim().split('\n').map((l) => JSON.parse(l));
  t.equal(objs.length, txns.length);
  t.match(objs[0], { offset: 16, session: '0x1000a5c6e7b0000', zxid: '0x300000001', type: 'createSession', record: { timeOut: 30000 }, digest: { version: 2 } });
  t.match(objs[5], { type: 'setData', record: { path: '/a', data: Buffer.from([0, 1, 2, 255]).toString('base64'), version: 1 } });
  t.match(objs[11], { type: 'multi', record: { txns: [{ type: 'check' }, { type: 'create' }, { type: 'createTtl', record: { ttl: '5000' } }] } });

  const b = fs.readFileSync(file);
  fs.writeFileSync(file, b.subarray(0, b.length - 3));
  const torn = await run([file]);
  t.equal(torn.code, 0);
  t.match(torn.out, /torn record at offset \d+: record cut short/);
  b[40] ^= 1;
  fs.writeFileSync(file, b);
  const bad = await run([file]);
  t.equal(bad.code, 1);
  t.match(bad.err, /corrupt record after 0 txns: .* offset 16: checksum mismatch/);
  t.equal((await run([])).code, 2);
  t.equal((await run(['--bogus', file])).code, 2);
  t.equal((await run([path.join(dir, 'nope')])).code, 1);
});

t.test('readTxnLogFile yields the tail instead of throwing', async (t) => {
  const { file, offsets } = await fiveTxnLog(t, 0);
  const b = fs.readFileSync(file);
  fs.writeFileSync(file, b.subarray(0, offsets[3] + 5));
  const items = [...readTxnLogFile(file)];
  t.equal(items.length, 4);
  t.ok(items[3] instanceof TornLogTail);
  t.equal((items[3] as TornLogTail).offset, offsets[3]);
});

t.test('adler32 against zlib values, whole and in pieces', (t) => {
  t.equal(adler32(Buffer.from('Wikipedia')), 0x11e60398);
  // All 0xff: the sums grow fastest, the case the reduction interval is sized for.
  const ff = Buffer.alloc(1 << 20, 0xff);
  t.equal(adler32(ff), 0x8e88ef11);
  const lcg = Buffer.alloc(100000);
  for (let i = 0, x = 1; i < lcg.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    lcg[i] = (x >>> 16) & 0xff;
  }
  t.equal(adler32(lcg), 0xa0e54a09);
  const pieces = new Adler32();
  for (let at = 0, n = 1; at < ff.length; at += n, n = n * 3 + 1) pieces.update(ff, at, Math.min(ff.length, at + n));
  t.equal(pieces.value(), 0x8e88ef11);
  t.end();
});
