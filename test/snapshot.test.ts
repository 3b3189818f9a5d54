import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { OpCode } from '../src/protocol/constants';
import type { ACL } from '../src/protocol/generated/records';
import { DataTree, OPEN_ACL_UNSAFE, type ZNode } from '../src/storage/datatree';
import { computeTreeDigest, crc32Range, nodeDigest, TreeDigest } from '../src/storage/digest';
import { snapshotDumpMain } from '../src/storage/snapdump';
import {
  CorruptSnapshotError,
  findValidSnapshots,
  listSnapshots,
  parseSnapshot,
  readSnapshot,
  serializeSnapshot,
  snapshotFileName,
  writeSnapshot,
  zxidFromSnapshotName,
} from '../src/storage/snapshot';
import type { Txn, TxnBody } from '../src/storage/txn';

const S1 = 0x1000000aaaa0001n;
const S2 = 0x1000000aaaa0002n;
const CONTAINER_OWNER = -0x8000000000000000n;
const TTL_OWNER = -0x100000000000000n;
const SHARED: ACL[] = [
  { perms: 1, id: { scheme: 'digest', id: 'u:abc=' } },
  { perms: 31, id: { scheme: 'world', id: 'anyone' } },
];

function tmpDir(t: Test): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-snap-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

class Builder {
  zxid = 0n;
  constructor(readonly tree = new DataTree(true)) {}
  apply(body: TxnBody, clientId = S1): void {
    const zxid = ++this.zxid;
    const txn: Txn = { hdr: { clientId, cxid: 1, zxid, time: 1_700_000_000_000n + zxid, type: body.type }, body };
    const r = this.tree.apply(txn);
    if (r.result.err !== 0) throw new Error(`txn ${body.type} failed: ${r.result.err}`);
  }
  create(p: string, data: Buffer | null, opts: { acl?: ACL[]; ephemeral?: bigint } = {}): void {
    this.apply(
      { type: OpCode.create, record: { path: p, data, acl: opts.acl ?? OPEN_ACL_UNSAFE, ephemeral: opts.ephemeral !== undefined, parentCVersion: -1 } },
      opts.ephemeral ?? S1,
    );
  }
}

/** A tree with every kind of node and every Stat field away from its default. */
function richTree(): Builder {
  const b = new Builder();
  b.create('/a', Buffer.from('hello'));
  b.create('/a/null', null);
  b.create('/a/empty', Buffer.alloc(0));
  for (let i = 0; i < 4; i++) b.create(`/a/s${i}`, Buffer.from([i]));
  b.apply({ type: OpCode.delete, record: { path: '/a/s1' } });
  b.apply({ type: OpCode.setData, record: { path: '/a', data: Buffer.from('again'), version: 7 } });
  b.create('/eph', Buffer.from('e'), { ephemeral: S2 });
  b.create('/a/eph2', null, { ephemeral: S2 });
  b.apply({ type: OpCode.createContainer, record: { path: '/cont', data: Buffer.from('c'), acl: OPEN_ACL_UNSAFE, parentCVersion: -1 } });
  b.create('/cont/x', Buffer.from('x'));
  b.apply({ type: OpCode.createTTL, record: { path: '/ttl', data: Buffer.from('t'), acl: OPEN_ACL_UNSAFE, parentCVersion: -1, ttl: 12345n } });
  b.create('/shared1', Buffer.from('1'), { acl: SHARED });
  b.create('/shared2', Buffer.from('2'), { acl: SHARED });
  b.apply({ type: OpCode.setACL, record: { path: '/shared2', acl: [{ perms: 31, id: { scheme: 'ip', id: '10.0.0.0/8' } }], version: 3 } });
  b.create('/ünï-код-✓', Buffer.from('ü'));
  b.create('/q', Buffer.from('q'));
  b.create('/q/k', Buffer.from('kk'));
  b.create('/zookeeper/quota/q', null);
  b.create('/zookeeper/quota/q/zookeeper_limits', Buffer.from('count=10,bytes=-1'));
  b.create('/zookeeper/quota/q/zookeeper_stats', Buffer.from('count=2,bytes=3'));
  b.apply({ type: OpCode.setData, record: { path: '/q/k', data: Buffer.from('kkk'), version: 1 } });
  return b;
}

function firstDiff(a: Buffer, b: Buffer): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}

function rawFields(n: ZNode): Record<string, unknown> {
  return {
    data: n.data === null ? null : n.data.toString('hex'),
    acl: n.acl,
    czxid: n.czxid,
    mzxid: n.mzxid,
    ctime: n.ctime,
    mtime: n.mtime,
    version: n.version,
    cversion: n.cversion,
    aversion: n.aversion,
    ephemeralOwner: n.ephemeralOwner,
    pzxid: n.pzxid,
    children: [...n.children].sort(),
  };
}

function sameTree(t: Test, a: DataTree, b: DataTree, what: string): void {
  const pa = [...a.paths()].sort();
  t.same([...b.paths()].sort(), pa, `${what}: same paths`);
  const diffs: string[] = [];
  for (const p of pa) {
    const x = JSON.stringify(rawFields(a.getNode(p)!), (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
    const y = JSON.stringify(rawFields(b.getNode(p)!), (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
    if (x !== y) diffs.push(`${p}: ${x} != ${y}`);
  }
  t.same(diffs, [], `${what}: every node's data, ACL, Stat (raw cversion) and children`);
  t.same([...b.containers].sort(), [...a.containers].sort(), `${what}: containers`);
  t.same([...b.ttls].sort(), [...a.ttls].sort(), `${what}: ttls`);
  for (const s of a.sessionsWithEphemerals()) t.same([...b.ephemeralsOf(s)].sort(), [...a.ephemeralsOf(s)].sort(), `${what}: ephemerals of ${s}`);
}

t.test('round trip of every node kind, Stat field and session', async (t) => {
  const dir = tmpDir(t);
  const b = richTree();
  const sessions = new Map([
    [S1, 30000],
    [S2, 4000],
  ]);
  const file = await writeSnapshot(dir, b.tree, sessions, b.zxid);
  t.equal(path.basename(file), snapshotFileName(b.zxid));
  t.equal(path.basename(file), `snapshot.${b.zxid.toString(16)}`);
  t.same(fs.readdirSync(dir), [path.basename(file)], 'no temp file left behind');
  const r = readSnapshot(file, true);
  t.equal(r.zxid, b.zxid);
  t.equal(r.dbid, -1n);
  t.same(r.sessions, sessions);
  sameTree(t, b.tree, r.tree, 'read back');
  t.equal(r.tree.getNode('/a/null')!.data, null, 'null data stays null');
  t.same(r.tree.getNode('/a/empty')!.data, Buffer.alloc(0), 'empty data stays empty');
  t.equal(r.tree.statOf(r.tree.getNode('/a')!).cversion, b.tree.statOf(b.tree.getNode('/a')!).cversion, 'client cversion');
  t.equal(r.tree.quotas.covering('/q/k'), '/q', 'quota restored');
  t.equal(r.tree.lastProcessedZxid, b.zxid);
  t.same(r.digest, { zxid: b.zxid, version: 2, digest: computeTreeDigest(b.tree) });
  t.equal(r.digestMatches, true);
  // Writing what was read gives the same bytes (ACL ids are kept per node).
  t.ok(serializeSnapshot(r.tree, r.sessions, r.zxid).equals(fs.readFileSync(file)), 'rewrite is byte-identical');
});

t.test('layout: header, sessions, shared ACL lists, root as "", end marker, seals', async (t) => {
  const b = richTree();
  const buf = serializeSnapshot(b.tree, new Map([[S1, 30000]]), b.zxid);
  t.equal(buf.toString('latin1', 0, 4), 'ZKSN');
  t.equal(buf.readInt32BE(4), 2, 'version');
  t.equal(buf.readBigInt64BE(8), -1n, 'dbid');
  t.equal(buf.readInt32BE(16), 1, 'one session');
  t.equal(buf.readBigInt64BE(20), S1);
  t.equal(buf.readInt32BE(28), 30000);
  // ACL lists: READ_ACL_UNSAFE (config), OPEN_ACL_UNSAFE, SHARED (once for two nodes), the ip list.
  t.equal(buf.readInt32BE(32), 4, 'four ACL lists, the shared one once');
  let pos = 36;
  for (let i = 0; i < 4; i++) {
    pos += 8;
    const n = buf.readInt32BE(pos);
    pos += 4;
    for (let j = 0; j < n; j++) {
      pos += 4;
      pos += 4 + buf.readInt32BE(pos);
      pos += 4 + buf.readInt32BE(pos);
    }
  }
  t.equal(buf.readInt32BE(pos), 0, 'the root comes first, as the path ""');
  t.equal(buf.readInt32BE(pos + 4), 0, 'root data is empty');
  t.equal(buf.readBigInt64BE(pos + 8), -1n, 'root ACL id -1');
  const next = buf.readInt32BE(pos + 16 + 60);
  t.equal(buf.toString('utf8', pos + 80, pos + 81), '/', 'then a child of the root, by its full path');
  t.ok(next > 1);
  const r = parseSnapshot(buf, 'mem', b.zxid, true);
  t.same(r.tree.getNode('/shared1')!.acl, SHARED);
  // The last 5 bytes are the "/" that ZooKeeper looks for to call a file complete.
  t.same([...buf.subarray(buf.length - 5)], [0, 0, 0, 1, 0x2f]);
  // Without the digest section: nodes end with "/", then the seal is last.
  const plain = serializeSnapshot(b.tree, new Map([[S1, 30000]]), b.zxid, { digest: null });
  t.same([...plain.subarray(plain.length - 18, plain.length - 13)], [0, 0, 0, 1, 0x2f], 'end-of-nodes marker');
  t.equal(parseSnapshot(plain, 'mem', b.zxid, true).digest, undefined, 'no digest section');
  t.equal(buf.length - plain.length, 8 + 4 + 8 + 8 + 5, 'digest section is zxid, version, digest, seal');
});

t.test('10k nodes', async (t) => {
  const dir = tmpDir(t);
  const b = new Builder();
  for (let i = 0; i < 100; i++) {
    b.create(`/d${i}`, Buffer.from(`dir ${i}`));
    for (let j = 0; j < 99; j++) b.create(`/d${i}/n${j}`, j % 3 === 0 ? null : Buffer.alloc(j, i));
  }
  t.equal(b.tree.nodeCount, 4 + 100 * 100);
  const file = await writeSnapshot(dir, b.tree, new Map(), b.zxid, { fsync: false });
  const r = readSnapshot(file);
  sameTree(t, b.tree, r.tree, '10k');
  t.equal(r.digestMatches, true);
});

t.test('a load computes the digest from the nodes and only compares a stored one', async (t) => {
  const b = richTree();
  const real = computeTreeDigest(b.tree);
  // A digest section that does not belong to these nodes, as a fuzzy ZooKeeper snapshot can hold
  // for its own zxid: the tree's digest is the nodes', the stored one judged against it.
  const forged = { zxid: b.zxid, version: 2, digest: real + 1n };
  const own = parseSnapshot(serializeSnapshot(b.tree, new Map(), b.zxid, { digest: forged }), 'mem', b.zxid, true);
  t.equal(own.tree.digest.value, real, 'own zxid: computed from the nodes, not taken');
  t.equal(own.digestMatches, false, 'and the stored one judged');
  const fuzzy = { zxid: b.zxid - 1n, version: 2, digest: real + 1n };
  const other = parseSnapshot(serializeSnapshot(b.tree, new Map(), b.zxid, { digest: fuzzy }), 'mem', b.zxid, true);
  t.equal(other.tree.digest.value, real, 'a digest of another zxid: computed from the nodes');
  t.equal(other.digestMatches, undefined, 'and not judged');
  const none = parseSnapshot(serializeSnapshot(b.tree, new Map(), b.zxid, { digest: null }), 'mem', b.zxid, true);
  t.equal(none.tree.digest.value, real, 'no digest section: computed');
  // Writes after the load keep the sum up to date from the value computed.
  const exact = parseSnapshot(serializeSnapshot(b.tree, new Map(), b.zxid), 'mem', b.zxid, true);
  t.equal(exact.tree.digest.value, real);
  t.equal(exact.digestMatches, true);
  const after = new Builder(exact.tree);
  after.zxid = b.zxid;
  after.apply({ type: OpCode.setData, record: { path: '/a', data: Buffer.from('new'), version: 8 } });
  after.create('/a/later', Buffer.from('x'));
  after.apply({ type: OpCode.delete, record: { path: '/a/null' } });
  t.equal(exact.tree.digest.value, computeTreeDigest(exact.tree), 'after a setData, a create and a delete');
});

t.test('every flipped byte and every truncation is caught', async (t) => {
  const dir = tmpDir(t);
  const b = new Builder();
  b.create('/x', Buffer.from('data'), { acl: SHARED });
  b.create('/x/e', null, { ephemeral: S1 });
  const file = await writeSnapshot(dir, b.tree, new Map([[S1, 5000]]), b.zxid, { fsync: false });
  const good = fs.readFileSync(file);
  const sealEnd = good.length - 33; // the digest section and its seal follow the first seal
  const missed: number[] = [];
  const badFile: string[] = [];
  for (let i = 0; i < good.length; i++) {
    const bad = Buffer.from(good);
    bad[i] ^= 0x40;
    fs.writeFileSync(file, bad);
    try {
      readSnapshot(file);
      missed.push(i);
    } catch (err) {
      if (!(err instanceof CorruptSnapshotError) || err.file !== file || err.offset < 0 || err.offset > good.length) badFile.push(`${i}: ${String(err)}`);
    }
  }
  t.same(missed, [], 'no flipped byte goes unnoticed');
  t.same(badFile, [], 'each is a CorruptSnapshotError naming the file and an offset in it');

  const accepted: number[] = [];
  for (let len = 0; len < good.length; len++) {
    fs.writeFileSync(file, good.subarray(0, len));
    try {
      readSnapshot(file);
      accepted.push(len);
    } catch (err) {
      if (!(err instanceof CorruptSnapshotError)) throw err;
    }
  }
  // Cut right after the first seal, the file is a snapshot without the digest section, as
  // ZooKeeper before 3.6 wrote them (and ZooKeeper reads it the same way).
  t.same(accepted, [sealEnd], 'only the cut at the digest section reads, as a digest-less snapshot');

  const bad = Buffer.from(good);
  bad[40] ^= 1;
  fs.writeFileSync(file, bad);
  const err = (() => {
    try {
      readSnapshot(file);
    } catch (e) {
      return e as CorruptSnapshotError;
    }
    return undefined;
  })();
  t.ok(err instanceof CorruptSnapshotError);
  t.match(err!.message, file);
  t.match(err!.message, /offset \d+/);
});

t.test('a file larger than the read window reads and fails as the same bytes in memory do', async (t) => {
  const dir = tmpDir(t);
  const b = new Builder();
  for (let i = 0; i < 30; i++) {
    b.create(`/d${i}`, Buffer.from(`dir ${i}`));
    for (let j = 0; j < 500; j++) b.create(`/d${i}/n${j}`, Buffer.alloc(100 + ((i * 7 + j) % 150), j));
  }
  // One node larger than the first window (1 MB), so that the window must grow.
  b.create('/d29/big', Buffer.alloc(1536 * 1024, 7));
  b.create('/d29/after', Buffer.from('after the big one'));
  const file = await writeSnapshot(dir, b.tree, new Map([[S1, 5000]]), b.zxid, { fsync: false });
  const good = fs.readFileSync(file);
  t.ok(good.length > 4 * 1024 * 1024, `the file (${good.length} bytes) spans several windows`);
  const r = readSnapshot(file);
  sameTree(t, b.tree, r.tree, 'windowed');
  t.equal(r.digestMatches, true);
  t.equal(r.tree.getNode('/d29/big')?.dataLength, 1536 * 1024);

  /** The error reading `bytes` from a file, and parsing them in memory. */
  const both = (bytes: Buffer): [string, string] => {
    const outcome = (fn: () => unknown): string => {
      try {
        fn();
        return 'read';
      } catch (err) {
        if (!(err instanceof CorruptSnapshotError)) throw err;
        return `${err.offset}: ${err.message.replace(file, 'F').replace('mem', 'F')}`;
      }
    };
    fs.writeFileSync(file, bytes);
    return [outcome(() => readSnapshot(file)), outcome(() => parseSnapshot(bytes, 'mem', b.zxid))];
  };
  const flipped = Buffer.from(good);
  flipped[Math.floor(good.length * 0.6)] ^= 0x10;
  const [fromFile, inMemory] = both(flipped);
  t.match(fromFile, /checksum mismatch/);
  t.equal(fromFile, inMemory, 'a flipped byte late in the file: the same checksum error');

  const at = good.indexOf(Buffer.from('/d23/n417'));
  t.ok(at > 0);
  const badLength = Buffer.from(good);
  badLength.writeInt32BE(0x7fffff00, at - 4);
  const [lenFile, lenMemory] = both(badLength);
  t.match(lenFile, new RegExp(`^${at}: `), 'a bad path length is reported where the path is');
  t.equal(lenFile, lenMemory);

  for (const cut of [0.3, 0.55, 0.8, 0.95, 0.999].map((f) => Math.floor(good.length * f))) {
    const [cutFile, cutMemory] = both(good.subarray(0, cut));
    t.not(cutFile, 'read', `a file cut at ${cut} does not read`);
    t.equal(cutFile, cutMemory, `a file cut at ${cut}: the same error`);
  }
});

t.test('gz: written and read, truncation caught', async (t) => {
  const dir = tmpDir(t);
  const b = richTree();
  const file = await writeSnapshot(dir, b.tree, new Map([[S2, 4000]]), b.zxid, { compression: 'gz' });
  t.equal(path.basename(file), `snapshot.${b.zxid.toString(16)}.gz`);
  const raw = fs.readFileSync(file);
  t.same([raw[0], raw[1]], [0x1f, 0x8b], 'gzip magic');
  t.ok(zlib.gunzipSync(raw).equals(serializeSnapshot(b.tree, new Map([[S2, 4000]]), b.zxid)), 'checksums over the uncompressed bytes');
  const r = readSnapshot(file, true);
  sameTree(t, b.tree, r.tree, 'gz');
  fs.writeFileSync(file, raw.subarray(0, raw.length - 30));
  t.throws(() => readSnapshot(file, true), CorruptSnapshotError);
  fs.writeFileSync(file, Buffer.from('not gzip at all'));
  t.throws(() => readSnapshot(file, true), CorruptSnapshotError);
});

t.test('listing and falling back past corrupt snapshots', async (t) => {
  const dir = tmpDir(t);
  const b = new Builder();
  const files: string[] = [];
  for (let i = 0; i < 3; i++) {
    b.create(`/n${i}`, Buffer.from([i]));
    files.push(await writeSnapshot(dir, b.tree, new Map(), b.zxid, { fsync: false, compression: i === 1 ? 'gz' : 'none' }));
  }
  fs.writeFileSync(path.join(dir, 'tmp.snapshot.99'), 'torn');
  fs.writeFileSync(path.join(dir, 'log.1'), 'a log');
  t.same(
    listSnapshots(dir).map((s) => path.basename(s.file)),
    ['snapshot.3', 'snapshot.2.gz', 'snapshot.1'],
    'newest first, temp files and logs ignored',
  );
  t.same(listSnapshots(path.join(dir, 'missing')), []);
  t.equal(zxidFromSnapshotName('snapshot.1a.gz'), 0x1an);
  t.equal(zxidFromSnapshotName('snapshot.xyz'), -1n);

  const raw = fs.readFileSync(files[2]);
  raw[raw.length - 40] ^= 1;
  fs.writeFileSync(files[2], raw);
  const corrupt: string[] = [];
  const it = findValidSnapshots(dir, false, (e) => corrupt.push(path.basename(e.file)));
  const first = it.next();
  t.notOk(first.done);
  t.equal(path.basename(first.value!.file), 'snapshot.2.gz', 'falls back to the next older one');
  t.equal(first.value!.zxid, 2n);
  t.ok(first.value!.tree.getNode('/n1') && !first.value!.tree.getNode('/n2'));
  t.same(corrupt, ['snapshot.3']);
  t.equal(path.basename(it.next().value!.file), 'snapshot.1');
  t.ok(it.next().done);
});

t.test('ACL ids stay stable across snapshots of one tree', async (t) => {
  const b = richTree();
  const zxid1 = b.zxid;
  const first = serializeSnapshot(b.tree, new Map(), zxid1);
  const r1 = parseSnapshot(first, 'mem', zxid1, true);
  b.create('/later', null, { acl: SHARED });
  const second = parseSnapshot(serializeSnapshot(b.tree, new Map(), b.zxid), 'mem', b.zxid, true);
  sameTree(t, b.tree, second.tree, 'second');
  // The ids the first snapshot gave are kept; the new node reuses the shared list's id.
  const again = serializeSnapshot(r1.tree, new Map(), zxid1);
  t.equal(firstDiff(again, first), -1, 'the read tree writes the same ids');
  const aclMap = (buf: Buffer): number => buf.readInt32BE(16 + 4);
  t.equal(aclMap(serializeSnapshot(b.tree, new Map(), b.zxid)), aclMap(first), 'no new ACL id for a known list');
});

t.test('CRC-32 eight bytes at a time equals the byte-at-a-time definition', async (t) => {
  const reference = (b: Uint8Array, from: number, to: number, value: number): number => {
    let c = ~value;
    for (let i = from; i < to; i++) {
      c ^= b[i];
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    return ~c >>> 0;
  };
  const b = Buffer.alloc(300);
  for (let i = 0; i < b.length; i++) b[i] = (i * 131 + 7) & 0xff;
  const wrong: string[] = [];
  for (let from = 0; from < 20; from++)
    for (let len = 0; len < 70; len++)
      for (const value of [0, 1, 0xdeadbeef]) {
        if (crc32Range(b, from, from + len, value) !== reference(b, from, from + len, value)) wrong.push(`${from}+${len}@${value}`);
      }
  t.same(wrong, []);
  t.equal(crc32Range(Buffer.from('123456789'), 0, 9), 0xcbf43926, 'the standard check value');
});

t.test('tree digest', async (t) => {
  const b = richTree();
  const tree = b.tree;
  t.equal(nodeDigest('/zookeeper/quota', tree.getNode('/zookeeper/quota')!), 0, 'nodes under /zookeeper/ are left out');
  t.not(nodeDigest('/zookeeper', tree.getNode('/zookeeper')!), 0, '/zookeeper itself counts');
  // Incremental upkeep as the tree would do it: out before a change, in after it.
  const d = new TreeDigest();
  for (const p of tree.paths()) d.afterChange(p, tree.getNode(p)!);
  t.equal(d.value, computeTreeDigest(tree));
  const n = tree.getNode('/a')!;
  d.beforeChange('/a', n);
  n.data = Buffer.from('changed');
  n.version++;
  d.afterChange('/a', n);
  t.equal(d.value, computeTreeDigest(tree));
  // An empty tree (root, /zookeeper and its excluded children) as ZooKeeper computes it.
  t.equal(computeTreeDigest(new DataTree()), BigInt(nodeDigest('/', new DataTree().getNode('/')!) + nodeDigest('/zookeeper', new DataTree().getNode('/zookeeper')!)));
});

t.test('snapshot-dump', async (t) => {
  const dir = tmpDir(t);
  const b = richTree();
  const file = await writeSnapshot(dir, b.tree, new Map([[S2, 4000]]), b.zxid, { fsync: false });
  const run = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await snapshotDumpMain(args, { out: (s) => (out += s), err: (s) => (err += s) });
    return { code, out, err };
  };
  const plain = await run([file]);
  t.equal(plain.code, 0);
  t.match(plain.out, `ZNode Details (count=${b.tree.nodeCount + 1}):`);
  t.match(plain.out, /----\n\/eph\n {2}cZxid = 0x0{13}\w\n/);
  t.match(plain.out, `0x${S2.toString(16)}, 4000, 2`);
  t.match(plain.out, /Target zxid digest is: \w+, -?\d+ \(version 2, matches the tree\)/);
  t.match(plain.out, `Last zxid: 0x${b.zxid.toString(16)}`);
  const withData = await run(['-d', file]);
  t.match(withData.out, `  data = ${Buffer.from('again').toString('base64')}`);
  const json = await run(['--json', file]);
  t.match(json.out, /^\[1,0,\{"progname":"SnapshotFormatter.java"/);
  t.match(json.out, /\{"name":"eph","asize":1,"dsize":1,"dev":0,"ino":\d+\}/);
  t.equal((await run([])).code, 2);
  t.equal((await run(['-d', '--json', file])).code, 2);
  fs.writeFileSync(file, 'garbage');
  const bad = await run([file]);
  t.equal(bad.code, 1);
  t.match(bad.err, /corrupt snapshot/);
});
