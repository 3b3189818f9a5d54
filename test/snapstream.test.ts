// The snapshot stream a leader sends after SNAP: the encoder's bytes are a snapshot file's body
// (the file writer's nodes in its order, with ACL ids of the stream's own), ended by "BenWasHere"; the
// decoder rebuilds the same tree and sessions from chunks of any size (single bytes, random
// splits), says where the stream ended inside the last chunk, and refuses damage with its offset;
// a tree of 3,000 children changing while the stream is pulled is sent exactly as it was when the
// encoder was made; the spooled file is the snapshot file ZooKeeper's format gives for that tree.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OpCode } from '../src/protocol/constants';
import type { ACL } from '../src/protocol/generated/records';
import { JuteWriter } from '../src/protocol/jute';
import { Adler32 } from '../src/storage/adler32';
import { DataTree, OPEN_ACL_UNSAFE } from '../src/storage/datatree';
import { computeTreeDigest, DIGEST_VERSION } from '../src/storage/digest';
import { isSnapshotTempFile, readSnapshot, serializeSnapshot, SNAP_DBID, SNAP_MAGIC, SNAP_VERSION } from '../src/storage/snapshot';
import { SnapSpool, SnapStreamDecoder, SnapStreamEncoder, SnapStreamError } from '../src/storage/snapstream';
import type { Txn, TxnBody } from '../src/storage/txn';
import { prng } from './util/prng';

const S1 = 0x100000aaaa0001n;
const S2 = 0x200000bbbb0002n;
const S3 = 0x300000cccc0003n;
const SHARED: ACL[] = [
  { perms: 1, id: { scheme: 'digest', id: 'u:abc=' } },
  { perms: 31, id: { scheme: 'world', id: 'anyone' } },
];
const IP_ACL: ACL[] = [{ perms: 31, id: { scheme: 'ip', id: '10.0.0.0/8' } }];
/** "BenWasHere" as a Jute ustring. */
const BEN = Buffer.concat([Buffer.from([0, 0, 0, 10]), Buffer.from('BenWasHere')]);
/** Bytes of the packet after the stream, as the quorum port would carry them. */
const NEXT_PACKET = Buffer.from('000000000a0000000200000000', 'hex');


class Db {
  zxid = 0x500000000n;
  readonly tree = new DataTree();
  readonly sessions = new Map<bigint, number>();
  apply(body: TxnBody, clientId = S1): void {
    const zxid = ++this.zxid;
    const txn: Txn = { hdr: { clientId, cxid: 1, zxid, time: 1_700_000_000_000n + zxid, type: body.type }, body };
    this.tree.apply(txn);
    if (body.type === OpCode.createSession) this.sessions.set(clientId, body.record.timeOut);
    if (body.type === OpCode.closeSession) this.sessions.delete(clientId);
  }
}

function create(p: string, data: Buffer | null, acl: ACL[] = OPEN_ACL_UNSAFE, ephemeral = false): TxnBody {
  return { type: OpCode.create, record: { path: p, data, acl, ephemeral, parentCVersion: -1 } };
}

function populate(db: Db, wide = 40): void {
  for (const s of [S1, S2, S3]) db.apply({ type: OpCode.createSession, record: { timeOut: 30000 + Number(s & 0xffn) } }, s);
  db.apply(create('/a', Buffer.from('a')));
  for (let i = 0; i < 20; i++) db.apply(create(`/a/n${i}`, Buffer.from(`n${i}`), i % 3 === 0 ? SHARED : OPEN_ACL_UNSAFE));
  db.apply(create('/a/n3/deep', Buffer.from('d\u00e9ep', 'utf8')));
  db.apply(create('/big', null));
  for (let i = 0; i < wide; i++) db.apply(create(`/big/c${i}`, Buffer.alloc(i % 7, i)));
  // Names beyond ASCII and longer than the decoder's table of short names.
  db.apply(create('/big/caf\u00e9', Buffer.from('u')));
  db.apply(create('/big/c1\u4e2d', null));
  db.apply(create('/big/' + 'long'.repeat(10), null));
  db.apply(create('/eph', Buffer.from('e'), OPEN_ACL_UNSAFE, true), S2);
  db.apply(create('/a/eph2', null, IP_ACL, true), S2);
  db.apply({ type: OpCode.createContainer, record: { path: '/cont', data: Buffer.from('c'), acl: OPEN_ACL_UNSAFE, parentCVersion: -1 } });
  db.apply(create('/cont/x', Buffer.from('x')));
  db.apply(create('/large', Buffer.alloc(300_000, 7)));
  db.apply(create('/q', Buffer.from('q')));
  db.apply(create('/q/k', Buffer.from('kk')));
  db.apply(create('/zookeeper/quota/q', null));
  db.apply(create('/zookeeper/quota/q/zookeeper_limits', Buffer.from('count=1000,bytes=-1')));
  db.apply(create('/zookeeper/quota/q/zookeeper_stats', Buffer.from('count=0,bytes=0')));
  db.apply({ type: OpCode.setACL, record: { path: '/a/n1', acl: IP_ACL, version: 0 } });
  db.apply({ type: OpCode.setData, record: { path: '/a', data: Buffer.from('a2'), version: 0 } });
  db.apply({ type: OpCode.delete, record: { path: '/a/n7' } });
  // The stats node as a load recounts it, so that both sides agree on it.
  db.tree.recountQuotas();
}

/** Every node with its Stat, data and ACL, every session, and the ephemerals per session. */
function describe(tree: DataTree, sessions: ReadonlyMap<bigint, number>): string[] {
  const out: string[] = [];
  for (const p of tree.paths()) {
    const n = tree.getNode(p)!;
    const stat = JSON.stringify(tree.statOf(n), (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v));
    const data = n.dataAsText === null ? 'null' : Buffer.from(n.dataAsText, 'latin1').toString('hex').slice(0, 64) + `/${n.dataLength}`;
    const acl = n.acl.map((a) => `${a.perms}:${a.id.scheme}:${a.id.id}`).join(',');
    out.push(`${p} ${stat} ${data} ${acl}`);
  }
  out.sort();
  for (const [id, to] of [...sessions].sort((x, y) => (x[0] < y[0] ? -1 : 1))) out.push(`session ${id.toString(16)} ${to} ${[...tree.ephemeralsOf(id)].sort().join(',')}`);
  return out;
}

function encodeAll(tree: DataTree, sessions: ReadonlyMap<bigint, number>): Buffer {
  return Buffer.concat([...new SnapStreamEncoder(tree, sessions, { nodesPerStep: 7 })]);
}

/** Decodes `bytes` + NEXT_PACKET pushed in the given chunk sizes; checks where the stream ended. */
function decodeSplit(t: Test, bytes: Buffer, zxid: bigint, sizes: () => number): SnapStreamDecoder {
  const all = Buffer.concat([bytes, NEXT_PACKET]);
  const d = new SnapStreamDecoder({ zxid });
  let at = 0;
  let rest: Buffer | undefined;
  let short = 0;
  while (at < all.length) {
    const n = Math.max(1, Math.min(sizes(), all.length - at));
    const chunk = all.subarray(at, at + n);
    const r = d.push(chunk);
    if (r.done) {
      rest = Buffer.concat([chunk.subarray(r.consumed), all.subarray(at + n)]);
      t.equal(at + r.consumed, bytes.length, 'the stream ends where its bytes end');
      break;
    }
    if (r.consumed !== chunk.length) short++;
    at += n;
  }
  t.equal(short, 0, 'every chunk before the end is consumed whole');
  t.ok(d.done, 'done after "BenWasHere"');
  t.ok(rest?.equals(NEXT_PACKET), 'the bytes after it are handed back untouched');
  t.equal(d.bytesConsumed, bytes.length);
  return d;
}

/** A snapshot body's sessions, ACL lists and nodes as text, each node's ACL id resolved to its list. */
function bodyRecords(b: Buffer): { records: string[]; aclIds: bigint[] } {
  let at = 0;
  const int = () => ((at += 4), b.readInt32BE(at - 4));
  const long = () => ((at += 8), b.readBigInt64BE(at - 8));
  const bytes = () => {
    const n = int();
    if (n < 0) return null;
    at += n;
    return b.subarray(at - n, at);
  };
  const records: string[] = [];
  for (let n = int(); n > 0; n--) records.push(`session ${long()} ${int()}`);
  const lists = new Map<bigint, string>([[-1n, 'open (-1)']]);
  const aclIds: bigint[] = [];
  for (let n = int(); n > 0; n--) {
    const id = long();
    aclIds.push(id);
    const entries: string[] = [];
    for (let k = int(); k > 0; k--) entries.push(`${int()}:${bytes()!.toString()}:${bytes()!.toString()}`);
    lists.set(id, entries.join(','));
  }
  for (;;) {
    const p = bytes()!.toString();
    if (p === '/') break;
    const data = bytes();
    const acl = lists.get(long());
    records.push(`${p} ${data === null ? 'null' : data.toString('hex')} ${acl} ${b.subarray(at, (at += 60)).toString('hex')}`);
  }
  return { records, aclIds };
}

t.test('the stream: the file writer\'s sessions and nodes in its order, every ACL list the tree holds numbered from 1, "BenWasHere"', async (t) => {
  const db = new Db();
  populate(db);
  const stream = encodeAll(db.tree, db.sessions);
  const file = serializeSnapshot(db.tree, db.sessions, db.tree.lastProcessedZxid);
  // File: 16-byte header, the body up to and including the nodes' "/", then two seals and the digest section.
  const fileBody = file.subarray(16, file.length - 46);
  t.equal(fileBody.subarray(fileBody.length - 5).toString('hex'), '000000012f', 'the file body ends with the nodes\' "/"');
  const body = stream.subarray(0, stream.length - BEN.length);
  const got = bodyRecords(body);
  t.same(got.records, bodyRecords(fileBody).records, 'the same sessions, and the same nodes in the same order with the same data, ACL lists and stats');
  t.same(got.aclIds, Array.from({ length: got.aclIds.length }, (_x, i) => BigInt(i + 1)), 'ACL ids 1, 2, ... in the order the tree interned the lists');
  t.equal(got.aclIds.length, db.tree.acls.size, 'every list the tree holds');
  t.ok(stream.subarray(stream.length - BEN.length).equals(BEN), 'it ends with "BenWasHere"');
  t.equal(body.subarray(body.length - 5).toString('hex'), '000000012f', 'after the nodes\' "/"');
});

t.test('round trip, whole and in chunks of any size', async (t) => {
  const db = new Db();
  populate(db);
  const want = describe(db.tree, db.sessions);
  const zxid = db.tree.lastProcessedZxid;
  const stream = encodeAll(db.tree, db.sessions);
  const check = (d: SnapStreamDecoder, what: string): void => {
    const got = d.decoded();
    t.same(describe(got.tree, got.sessions), want, `${what}: the same tree, ACLs, sessions and ephemerals`);
    t.equal(got.tree.lastProcessedZxid, zxid);
    t.equal(got.tree.digest.value, db.tree.digest.value, `${what}: the same tree digest`);
    t.equal(got.tree.nodeCount, db.tree.nodeCount);
  };
  check(decodeSplit(t, stream, zxid, () => stream.length + 100), 'one chunk');
  check(decodeSplit(t, stream, zxid, () => 1), '1-byte chunks');
  for (const seed of [1, 2, 3, 42]) {
    const rnd = prng(seed);
    // Mostly small pieces, sometimes large ones: records are split at every kind of place.
    check(decodeSplit(t, stream, zxid, () => (rnd() < 0.1 ? Math.floor(rnd() * 400_000) : Math.floor(rnd() * 40) + 1)), `seed ${seed}`);
  }
  // A stream as ZooKeeper's leader sends it (its snapshot file's body, its ACL ids): the decoded
  // tree keeps those ids and writes the same file.
  const file = serializeSnapshot(db.tree, db.sessions, zxid);
  const zkStream = Buffer.concat([file.subarray(16, file.length - 46), BEN]);
  const d = decodeSplit(t, zkStream, zxid, () => 4096).decoded();
  t.same(describe(d.tree, d.sessions), want, 'a stream with the file\'s ACL ids: the same tree');
  t.ok(serializeSnapshot(d.tree, d.sessions, zxid).equals(file), 'and its snapshot file is byte for byte the original\'s');
});

t.test('the stream is the tree as it was when the encoder was made (3,000 children changing)', async (t) => {
  const db = new Db();
  populate(db, 3000);
  const want = describe(db.tree, db.sessions);
  const wantBytes = encodeAll(db.tree, db.sessions);
  const zxid = db.tree.lastProcessedZxid;
  const enc = new SnapStreamEncoder(db.tree, db.sessions, { nodesPerStep: 16 });
  t.equal(enc.zxid, zxid, 'the SNAP zxid is the tree\'s at the start');
  const rnd = prng(7);
  const chunks: Buffer[] = [];
  let changes = 0;
  let pulls = 0;
  for (let c = enc.next(); c !== null; c = enc.next()) {
    chunks.push(c);
    pulls++;
    // Between pulls the tree goes on: deletes, creates, data and ACL changes, a session ends.
    for (let k = 0; k < 40; k++) {
      const i = Math.floor(rnd() * 3000);
      const p = `/big/c${i}`;
      if (db.tree.getNode(p)) {
        if (rnd() < 0.5) db.apply({ type: OpCode.delete, record: { path: p } });
        else db.apply({ type: OpCode.setData, record: { path: p, data: Buffer.from(`changed ${k}`), version: -1 } });
      } else db.apply(create(p, Buffer.from('reborn'), SHARED));
      db.apply(create(`/big/new${pulls}_${k}`, null));
      changes += 2;
    }
    if (pulls === 1) {
      db.apply({ type: OpCode.closeSession, record: { paths2Delete: ['/eph', '/a/eph2'] } }, S2);
      db.apply({ type: OpCode.setACL, record: { path: '/a', acl: IP_ACL, version: -1 } });
      db.apply({ type: OpCode.delete, record: { path: '/a/n3/deep' } });
      db.apply({ type: OpCode.delete, record: { path: '/a/n3' } });
      db.apply({ type: OpCode.setData, record: { path: '/large', data: Buffer.from('small now'), version: -1 } });
    }
  }
  t.ok(pulls > 3, `pulled in ${pulls} chunks, ${changes} changes in between`);
  t.ok(enc.done);
  const stream = Buffer.concat(chunks);
  t.ok(stream.equals(wantBytes), 'byte for byte the stream of the unchanged tree');
  const d = decodeSplit(t, stream, zxid, () => 997).decoded();
  t.same(describe(d.tree, d.sessions), want, 'decoded: the tree and sessions at the start');
  t.notSame(describe(db.tree, db.sessions), want, 'while the live tree did change');
});

t.test('the async stream gives the event loop turns, and the tree may change in them', async (t) => {
  const db = new Db();
  populate(db, 3000);
  const want = describe(db.tree, db.sessions);
  const zxid = db.tree.lastProcessedZxid;
  const enc = new SnapStreamEncoder(db.tree, db.sessions, { nodesPerStep: 4 });
  let turns = 0;
  let k = 0;
  // A timer-driven writer: it only runs when the stream yields the event loop.
  const writer = setInterval(() => {
    turns++;
    db.apply(create(`/big/t${k++}`, null));
    db.apply({ type: OpCode.delete, record: { path: `/big/c${k}` } });
  }, 0);
  const parts: Buffer[] = [];
  try {
    // The consumer itself never waits for a macrotask: any writer turn is one the stream gave.
    for await (const c of enc.chunks(8)) parts.push(c);
  } finally {
    clearInterval(writer);
  }
  t.ok(turns > 0, `the event loop ran ${turns} writer turns during the stream`);
  const d = decodeSplit(t, Buffer.concat(parts), zxid, () => 65536).decoded();
  t.same(describe(d.tree, d.sessions), want, 'the stream is the tree as of the encoder\'s creation');
});

t.test('bounded memory: chunks stay small however large the tree', async (t) => {
  const db = new Db();
  populate(db, 3000);
  let largest = 0;
  for (const c of new SnapStreamEncoder(db.tree, db.sessions)) largest = Math.max(largest, c.length);
  // One node's data is 300 kB: a chunk holds at most a chunk's worth plus one node.
  t.ok(largest < 600_000, `largest chunk ${largest} bytes`);
});

function corruptCase(t: Test, name: string, bytes: Buffer, offset: number, reason: RegExp, opts: { maxFieldBytes?: number } = {}): void {
  for (const size of [1, 13, bytes.length]) {
    const d = new SnapStreamDecoder({ zxid: 5n, ...opts });
    let err: unknown;
    try {
      for (let at = 0; at < bytes.length; at += size) d.push(bytes.subarray(at, at + size));
    } catch (e) {
      err = e;
    }
    t.type(err, SnapStreamError, `${name} (chunks of ${size})`);
    t.equal((err as SnapStreamError).offset, offset, `${name}: offset`);
    t.match((err as SnapStreamError).reason, reason, `${name}: reason`);
    t.throws(() => d.push(Buffer.alloc(1)), SnapStreamError, `${name}: it stays failed`);
  }
}

t.test('damage is refused with its offset', async (t) => {
  const db = new Db();
  populate(db);
  const good = encodeAll(db.tree, db.sessions);
  const sessionsEnd = 4 + 12 * db.sessions.size;

  const bad1 = Buffer.from(good);
  bad1.writeInt32BE(-5, 0);
  corruptCase(t, 'negative session count', bad1, 0, /session count -5/);

  const bad2 = Buffer.from(good);
  bad2.writeInt32BE(-2, sessionsEnd);
  corruptCase(t, 'negative ACL count', bad2, sessionsEnd, /ACL list count -2/);

  const trailerAt = good.length - BEN.length;
  const bad3 = Buffer.from(good);
  bad3[good.length - 1] ^= 1;
  corruptCase(t, 'a wrong trailer', bad3, trailerAt, /expected "BenWasHere" after the nodes, found "BenWasHerd"/);

  // The first node (the root): its path length made huge.
  const aclEnd = firstNodeOffset(good);
  const bad4 = Buffer.from(good);
  bad4.writeInt32BE(0x7fffffff, aclEnd);
  corruptCase(t, 'a huge path length', bad4, aclEnd, /node path length 2147483647 is over the limit/);

  const bad5 = Buffer.from(good);
  // The root's ACL id (after path "" and its data) pointed at a list the stream never had.
  const rootDataLen = good.readInt32BE(aclEnd + 4);
  const rootAclAt = aclEnd + 8 + Math.max(0, rootDataLen);
  bad5.writeBigInt64BE(999n, rootAclAt);
  corruptCase(t, 'an unknown ACL id', bad5, rootAclAt, /refers to ACL id 999/);

  // A node before its parent: the stream with "/a" renamed "/b/x"-like: a path whose parent is missing.
  const w = new JuteWriter(1024);
  w.writeInt(0);
  w.writeInt(0);
  writeNode(w, '');
  const orphanAt = w.pos;
  writeNode(w, '/no/parent');
  w.writeString('/');
  w.writeString('BenWasHere');
  corruptCase(t, 'a node before its parent', w.toBuffer(), orphanAt, /comes before its parent/);

  const w2 = new JuteWriter(1024);
  w2.writeInt(0);
  w2.writeInt(0);
  writeNode(w2, '/x');
  corruptCase(t, 'a first node that is not the root', w2.toBuffer(), 8, /the first node is "\/x", not the root/);

  corruptCase(t, 'garbage', Buffer.from('this is not a snapshot stream at all'), 0, /session count/);

  // A limit on fields: data larger than allowed is refused at its length, before it is buffered.
  const w3 = new JuteWriter(1024);
  w3.writeInt(0);
  w3.writeInt(0);
  writeNode(w3, '');
  w3.writeString('/big');
  const dataAt = w3.pos;
  w3.writeBuffer(Buffer.alloc(200));
  corruptCase(t, 'data over the field limit', w3.toBuffer(), dataAt, /node data length 200 is over the limit of 100 bytes/, { maxFieldBytes: 100 });

  // A stream cut short is simply not done.
  const d = new SnapStreamDecoder({ zxid: 5n });
  t.same(d.push(good.subarray(0, good.length - 1)), { done: false, consumed: good.length - 1 });
  t.notOk(d.done);
  t.throws(() => d.decoded(), /not complete/);
});

function writeNode(w: JuteWriter, p: string): void {
  w.writeString(p);
  w.writeBuffer(null);
  w.writeLong(-1n);
  for (let i = 0; i < 4; i++) w.writeLong(1n);
  for (let i = 0; i < 3; i++) w.writeInt(0);
  w.writeLong(0n);
  w.writeLong(1n);
}

/** Where the nodes start: after the sessions and the ACL lists. */
function firstNodeOffset(b: Buffer): number {
  let at = 4 + 12 * b.readInt32BE(0);
  const lists = b.readInt32BE(at);
  at += 4;
  for (let i = 0; i < lists; i++) {
    at += 8;
    const n = b.readInt32BE(at);
    at += 4;
    for (let j = 0; j < n; j++) {
      at += 4;
      at += 4 + b.readInt32BE(at);
      at += 4 + b.readInt32BE(at);
    }
  }
  return at;
}

t.test('spooled as a snapshot file, durable under its name', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapspool-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const db = new Db();
  populate(db, 500);
  const zxid = db.tree.lastProcessedZxid;
  const stream = Buffer.concat([encodeAll(db.tree, db.sessions), NEXT_PACKET]);
  const v2 = path.join(dir, 'version-2');
  const spool = await SnapSpool.create(v2, zxid);
  t.ok(fs.readdirSync(v2).every(isSnapshotTempFile), 'under a temp name while it is written');
  const dec = new SnapStreamDecoder({ zxid });
  const rnd = prng(99);
  for (let at = 0; at < stream.length; ) {
    const n = Math.floor(rnd() * 5000) + 1;
    const chunk = stream.subarray(at, at + n);
    const r = dec.push(chunk);
    await spool.write(chunk.subarray(0, r.consumed));
    at += n;
    if (r.done) break;
  }
  const file = await spool.finish(dec.decoded().tree.digest.value);
  t.same(fs.readdirSync(v2), [`snapshot.${zxid.toString(16)}`], 'renamed into place, no temp left');
  const decoded = dec.decoded();
  t.ok(fs.readFileSync(file).equals(serializeSnapshot(decoded.tree, decoded.sessions, zxid)), 'the file is the one the snapshot writer makes of the decoded tree');
  const loaded = readSnapshot(file);
  t.equal(loaded.digestMatches, true, 'it reads back with a matching digest');
  t.same(describe(loaded.tree, loaded.sessions), describe(db.tree, db.sessions));

  // A stream that did not end with its trailer is not given a snapshot's name.
  const bad = await SnapSpool.create(v2, zxid + 1n);
  await bad.write(stream.subarray(0, 1000));
  await t.rejects(bad.finish(0n), /does not end with "BenWasHere"/);
  t.same(fs.readdirSync(v2), [`snapshot.${zxid.toString(16)}`], 'and its temp file is removed');
});

t.test('the digest summed record by record is the one a walk of the decoded tree gives', async (t) => {
  const decode = (b: Buffer) => {
    const d = new SnapStreamDecoder({ zxid: 0x700000001n });
    t.equal(d.push(b).done, true);
    return d.decoded().tree;
  };
  const stream = (paths: string[]) => {
    const w = new JuteWriter(1024);
    w.writeInt(0);
    w.writeInt(0);
    for (const p of paths) writeNode(w, p);
    w.writeString('/');
    w.writeString('BenWasHere');
    return w.toBuffer();
  };
  // Built-in nodes the stream leaves out stay as a new tree has them, and count as they are.
  const sparse = decode(stream(['', '/x', '/x/y']));
  t.equal(sparse.digest.value, computeTreeDigest(sparse), 'a stream without /zookeeper and its children');
  t.equal(sparse.nodeCount, 6);
  // A path named twice: the second record replaces the first, whose digest must not stay.
  const twice = decode(stream(['', '/zookeeper', '/x', '/x/y', '/x', '/x/z']));
  t.equal(twice.digest.value, computeTreeDigest(twice), 'a stream that names /x twice');
  // A parent named again between its children (its children move to the new node), a child
  // named twice in a row, and a grandchild after its parent's siblings.
  const again = decode(stream(['', '/x', '/x/a', '/x/a', '/x/b', '/x', '/x/c', '/x/a/d', '/y', '/x/e']));
  t.equal(again.digest.value, computeTreeDigest(again), 'a stream that names a parent and a child twice');
  t.same([...again.getNode('/x')!.children].sort(), ['a', 'b', 'c', 'e']);
  t.ok(again.getNode('/x/a/d'));
  t.equal(again.nodeCount, 4 + 7);
  // A quota's limits node after its stats node (a sibling of the node before it) is a quota all the same.
  const quota = decode(stream(['', '/zookeeper', '/zookeeper/quota', '/zookeeper/quota/q', '/zookeeper/quota/q/zookeeper_stats', '/zookeeper/quota/q/zookeeper_limits', '/q', '/q/a']));
  t.same([...quota.quotas.all()], ['/q'], 'the quota is known');
  t.equal(quota.getNode('/zookeeper/quota/q/zookeeper_stats')!.data?.toString(), 'count=2,bytes=0', 'and its stats recounted');
  const db = new Db();
  populate(db, 200);
  const full = decode(encodeAll(db.tree, db.sessions));
  t.equal(full.digest.value, computeTreeDigest(full), 'a leader\'s stream (quota nodes left out of the digest)');
  t.equal(full.digest.value, db.tree.digest.value);
});

t.test('the spool writes in blocks: any length, a trailer across a block boundary, flushed as it goes', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snapspool-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const MiB = 1024 * 1024;
  const rnd = prng(7);
  // Around the 1 MiB blocks (the trailer's 14 bytes on both sides of a boundary) and past the 32 MiB flush.
  const lengths = [BEN.length, 1000, MiB - 1, MiB, MiB + 5, MiB + BEN.length, MiB + BEN.length + 1, 2 * MiB + 3, 33 * MiB + 7];
  for (const [i, len] of lengths.entries()) {
    const body = Buffer.allocUnsafe(len);
    for (let k = 0; k < len - BEN.length; k += 4096) body[k] = Math.floor(rnd() * 256);
    BEN.copy(body, len - BEN.length);
    const zxid = 0x900000000n + BigInt(i);
    const spool = SnapSpool.start(path.join(dir, 'version-2'), zxid);
    for (let at = 0; at < len; ) {
      const n = rnd() < 0.2 ? Math.floor(rnd() * 3 * MiB) + 1 : Math.floor(rnd() * 70_000) + 1;
      spool.append(body.subarray(at, at + n));
      at += n;
    }
    t.ok(spool.backlogBytes <= len, 'the backlog counts bytes not yet written');
    const file = await spool.finish(0x1234n);
    const head = new JuteWriter(64);
    head.writeInt(SNAP_MAGIC);
    head.writeInt(SNAP_VERSION);
    head.writeLong(SNAP_DBID);
    const adler = new Adler32();
    const parts = [head.toBuffer(), body.subarray(0, len - BEN.length)];
    for (const b of parts) adler.update(b);
    const seal = new JuteWriter(64);
    seal.writeLong(BigInt(adler.value()));
    seal.writeString('/');
    seal.writeLong(zxid);
    seal.writeInt(DIGEST_VERSION);
    seal.writeLong(0x1234n);
    adler.update(seal.toBuffer());
    seal.writeLong(BigInt(adler.value()));
    seal.writeString('/');
    parts.push(seal.toBuffer());
    t.ok(fs.readFileSync(file).equals(Buffer.concat(parts)), `${len} bytes: the header, the stream without its trailer, the seals`);
    t.equal(spool.backlogBytes, 0);
    fs.rmSync(file);
  }
  // Appended bytes whose end is not the trailer: refused, and no file is left.
  const bad = SnapSpool.start(path.join(dir, 'version-2'), 0x9ffn);
  bad.append(Buffer.alloc(MiB + 100, 1));
  await t.rejects(bad.finish(0n), /does not end with "BenWasHere"/);
  t.same(fs.readdirSync(path.join(dir, 'version-2')), [], 'the temp file is removed');
});
