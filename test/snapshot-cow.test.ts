// Snapshots written while txns go on being applied: the file is the tree as of the zxid it is named
// after, what a snapshot taken at that moment gives (byte for byte, but for where children deleted
// meanwhile come among their siblings), and replaying the later txns on it gives the live tree.

import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { OpCode } from '../src/protocol/constants';
import type { ACL } from '../src/protocol/generated/records';
import { DataTree, OPEN_ACL_UNSAFE, type ZNode } from '../src/storage/datatree';
import { computeTreeDigest } from '../src/storage/digest';
import {
  parseSnapshot,
  readSnapshot,
  serializeSnapshot,
  serializeSnapshotChunksConcurrently,
  writeSnapshot,
} from '../src/storage/snapshot';
import type { Txn, TxnBody } from '../src/storage/txn';
import { prng } from './util/prng';

const S1 = 0x1000000aaaa0001n;
const S2 = 0x1000000aaaa0002n;
const S3 = 0x1000000aaaa0003n;
const SHARED: ACL[] = [
  { perms: 1, id: { scheme: 'digest', id: 'u:abc=' } },
  { perms: 31, id: { scheme: 'world', id: 'anyone' } },
];
const IP_ACL: ACL[] = [{ perms: 31, id: { scheme: 'ip', id: '10.0.0.0/8' } }];
/** A parent whose children the snapshot lists over several steps. */
const WIDE = 300;


class Db {
  zxid = 0n;
  readonly tree = new DataTree(true);
  readonly sessions = new Map<bigint, number>();
  readonly log: Txn[] = [];

  apply(body: TxnBody, clientId = S1): void {
    const zxid = ++this.zxid;
    const txn: Txn = { hdr: { clientId, cxid: 1, zxid, time: 1_700_000_000_000n + zxid, type: body.type }, body };
    this.log.push(txn);
    this.tree.apply(txn);
    if (body.type === OpCode.createSession) this.sessions.set(clientId, body.record.timeOut);
    if (body.type === OpCode.closeSession) this.sessions.delete(clientId);
  }
}

function create(p: string, data: Buffer | null, acl: ACL[] = OPEN_ACL_UNSAFE, ephemeral = false): TxnBody {
  return { type: OpCode.create, record: { path: p, data, acl, ephemeral, parentCVersion: -1 } };
}

/** A tree with ephemerals, containers, shared and changed ACLs, a quota and a wide parent. */
function populate(db: Db): void {
  for (const s of [S1, S2, S3]) db.apply({ type: OpCode.createSession, record: { timeOut: 30000 } }, s);
  db.apply(create('/a', Buffer.from('a')));
  for (let i = 0; i < 20; i++) db.apply(create(`/a/n${i}`, Buffer.from(`n${i}`), i % 3 === 0 ? SHARED : OPEN_ACL_UNSAFE));
  db.apply(create('/a/n3/deep', Buffer.from('deep')));
  db.apply(create('/wide', null));
  for (let i = 0; i < WIDE; i++) db.apply(create(`/wide/c${i}`, Buffer.alloc(i % 7, i)));
  db.apply(create('/eph', Buffer.from('e'), OPEN_ACL_UNSAFE, true), S2);
  db.apply(create('/a/eph2', null, OPEN_ACL_UNSAFE, true), S2);
  db.apply({ type: OpCode.createContainer, record: { path: '/cont', data: Buffer.from('c'), acl: OPEN_ACL_UNSAFE, parentCVersion: -1 } });
  db.apply(create('/cont/x', Buffer.from('x')));
  db.apply(create('/q', Buffer.from('q')));
  db.apply(create('/q/k', Buffer.from('kk')));
  db.apply(create('/zookeeper/quota/q', null));
  db.apply(create('/zookeeper/quota/q/zookeeper_limits', Buffer.from('count=1000,bytes=-1')));
  db.apply(create('/zookeeper/quota/q/zookeeper_stats', Buffer.from('count=0,bytes=0')));
  db.apply({ type: OpCode.setACL, record: { path: '/a/n1', acl: IP_ACL, version: 1 } });
  db.apply({ type: OpCode.setData, record: { path: '/a', data: Buffer.from('a2'), version: 1 } });
}

/** Txns that touch every kind of change, many of them on nodes the snapshot has not written yet. */
function laterTxns(db: Db, seed: number, count: number): { body: TxnBody; clientId: bigint }[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const out: { body: TxnBody; clientId: bigint }[] = [];
  // Fixed ones first: the wide parent changes, a deleted node comes back with other data, a session goes.
  out.push({ body: { type: OpCode.delete, record: { path: '/wide/c5' } }, clientId: S1 });
  out.push({ body: create('/wide/new', Buffer.from('new')), clientId: S1 });
  out.push({ body: { type: OpCode.delete, record: { path: '/a/n3/deep' } }, clientId: S1 });
  out.push({ body: create('/a/n3/deep', Buffer.from('reborn'), IP_ACL), clientId: S1 });
  out.push({ body: { type: OpCode.setData, record: { path: '/a/n3/deep', data: Buffer.from('again'), version: 1 } }, clientId: S1 });
  out.push({ body: { type: OpCode.closeSession, record: { paths2Delete: ['/eph', '/a/eph2'] } }, clientId: S2 });
  out.push({ body: create('/q/k2', Buffer.from('quota')), clientId: S1 });
  out.push({ body: { type: OpCode.setData, record: { path: '/q/k', data: Buffer.from('kkkk'), version: 1 } }, clientId: S1 });
  out.push({
    body: {
      type: OpCode.multi,
      record: {
        txns: [
          create('/m', Buffer.from('m')),
          create('/m/1', null),
          { type: OpCode.setData, record: { path: '/a/n2', data: Buffer.from('multi'), version: 1 } },
          { type: OpCode.delete, record: { path: '/cont/x' } },
        ],
      },
    },
    clientId: S1,
  });
  out.push({ body: { type: OpCode.delete, record: { path: '/cont' } }, clientId: S1 });
  out.push({ body: { type: OpCode.setACL, record: { path: '/', acl: SHARED, version: 1 } }, clientId: S1 });
  out.push({ body: { type: OpCode.createSession, record: { timeOut: 5000 } }, clientId: S2 + 10n });
  // Then random ones over the nodes known to exist.
  const live = new Set<string>();
  for (const p of db.tree.paths()) if (!p.startsWith('/zookeeper') && p !== '/') live.add(p);
  live.delete('/wide/c5');
  live.delete('/eph');
  live.delete('/a/eph2');
  live.delete('/cont/x');
  live.delete('/cont');
  for (const p of ['/wide/new', '/q/k2', '/m', '/m/1']) live.add(p);
  let made = 0;
  for (let i = 0; i < count; i++) {
    if (i % 40 === 20) {
      // The wide parent again, at different points of the walk (before and after it lists it).
      const gone = `/wide/c${10 + i / 20}`;
      out.push({ body: { type: OpCode.delete, record: { path: gone } }, clientId: S1 });
      out.push({ body: create(`/wide/m${i}`, null), clientId: S1 });
      live.delete(gone);
      live.add(`/wide/m${i}`);
      continue;
    }
    const r = rnd();
    const paths = [...live];
    if (r < 0.35) {
      const parent = pick(paths);
      const p = `${parent}/r${made++}`;
      out.push({ body: create(p, Buffer.from(p)), clientId: S1 });
      live.add(p);
    } else if (r < 0.55) {
      // A leaf (the tree itself does not check).
      const leaves = paths.filter((p) => !paths.some((q) => q.startsWith(p + '/')));
      const p = pick(leaves);
      out.push({ body: { type: OpCode.delete, record: { path: p } }, clientId: S1 });
      live.delete(p);
    } else if (r < 0.85) {
      out.push({ body: { type: OpCode.setData, record: { path: pick(paths), data: rnd() < 0.2 ? null : Buffer.from(`d${i}`), version: i } }, clientId: S1 });
    } else {
      out.push({ body: { type: OpCode.setACL, record: { path: pick(paths), acl: rnd() < 0.5 ? IP_ACL : SHARED, version: i } }, clientId: S1 });
    }
  }
  return out;
}

function fields(n: ZNode): string {
  return JSON.stringify(
    { data: n.data === null ? null : n.data.toString('hex'), acl: n.acl, czxid: n.czxid, mzxid: n.mzxid, ctime: n.ctime, mtime: n.mtime, version: n.version, cversion: n.cversion, aversion: n.aversion, ephemeralOwner: n.ephemeralOwner, pzxid: n.pzxid, children: [...n.children].sort(), childBuckets: n.childBuckets },
    (_k, v) => (typeof v === 'bigint' ? v.toString() : v),
  );
}

function treeDiffs(a: DataTree, b: DataTree): string[] {
  const diffs: string[] = [];
  const pa = new Set(a.paths());
  for (const p of b.paths()) if (!pa.has(p)) diffs.push(`${p}: only in the second`);
  for (const p of pa) {
    const y = b.getNode(p);
    if (!y) diffs.push(`${p}: only in the first`);
    else if (fields(a.getNode(p)!) !== fields(y)) diffs.push(`${p}: ${fields(a.getNode(p)!)} != ${fields(y)}`);
  }
  return diffs;
}

/**
 * Per parent, the names of its children in the order a snapshot gave them (a loaded tree's maps
 * keep the order they were read in), without those `gone` says were deleted since.
 */
function fileOrder(tree: DataTree, gone: (path: string, n: ZNode) => boolean): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [p, n] of tree.nodesPreOrder()) {
    const names: string[] = [];
    for (const [name, c] of n.childEntries()) if (!gone(p === '/' ? `/${name}` : `${p}/${name}`, c)) names.push(name);
    out.set(p, names);
  }
  return out;
}

/**
 * `bytes` are the snapshot `expected` of the tree at zxid `z`, which became `live`. A child deleted
 * before the walk listed its parent comes after its siblings, not in its place: the order among
 * the children that remain, which a restart gives clients, is the same.
 */
function sameAsAtStart(t: Test, bytes: Buffer, expected: Buffer, z: bigint, live: DataTree): void {
  const gone = (p: string, n: ZNode): boolean => live.getNode(p)?.czxid !== n.czxid;
  const atStart = parseSnapshot(expected, 'mem', z, true).tree;
  t.equal(bytes.length, expected.length, 'as long as a snapshot taken at the start');
  t.same(fileOrder(parseSnapshot(bytes, 'mem', z, true).tree, gone), fileOrder(atStart, gone), 'the children that remain in the order of a snapshot taken at the start');
}

function preserversOf(tree: DataTree): unknown[] {
  return (tree as unknown as { preservers: unknown[] }).preservers;
}

async function snapshotWhileChanging(t: Test, seed: number, sliceSteps: number, txnsPerPause: number, nodesPerStep: number): Promise<void> {
  const live = new Db();
  const frozen = new Db();
  populate(live);
  populate(frozen);
  const z = live.zxid;
  const expected = serializeSnapshot(frozen.tree, frozen.sessions, z);
  const later = laterTxns(live, seed, 400);
  let next = 0;
  let pauses = 0;
  const chunks = await serializeSnapshotChunksConcurrently(live.tree, live.sessions, z, {
    sliceSteps,
    nodesPerStep,
    sliceMs: Infinity,
    pause: async () => {
      pauses++;
      for (let k = 0; k < txnsPerPause && next < later.length; k++, next++) live.apply(later[next].body, later[next].clientId);
    },
  });
  while (next < later.length) live.apply(later[next].body, later[next].clientId), next++;
  const bytes = Buffer.concat(chunks);
  t.ok(pauses >= 2, `the snapshot paused ${pauses} times`);
  t.ok(live.zxid > z + 100n, `${live.zxid - z} txns were applied meanwhile`);
  t.equal(preserversOf(live.tree).length, 0, 'the tree no longer tells the finished snapshot of changes');
  // A child deleted before the walk listed its parent comes after its siblings, not in its place:
  // the order among the children that remain, which a restart gives clients, is the same.
  const loaded = parseSnapshot(bytes, 'mem', z, true);
  const atStart = parseSnapshot(expected, 'mem', z, true);
  const gone = (p: string, n: ZNode): boolean => live.tree.getNode(p)?.czxid !== n.czxid;
  t.equal(bytes.length, expected.length, 'as long as a snapshot taken at the start');
  t.same(fileOrder(loaded.tree, gone), fileOrder(atStart.tree, gone), 'children that remain are in the order of a snapshot taken at the start');

  t.equal(loaded.digestMatches, true, 'its digest is the tree digest at the start');
  t.same(treeDiffs(frozen.tree, loaded.tree), [], 'it reads back as the tree at the start');
  t.same(loaded.sessions, frozen.sessions, 'and the sessions at the start');
  for (const txn of live.log) if (txn.hdr.zxid > z) loaded.tree.apply(txn);
  t.same(treeDiffs(live.tree, loaded.tree), [], 'replaying the later txns on it gives the live tree');
  t.equal(loaded.tree.digest.value, live.tree.digest.value, 'and the live digest');
  t.equal(computeTreeDigest(loaded.tree), live.tree.digest.value);
}

for (const [seed, sliceSteps, txnsPerPause, nodesPerStep] of [
  [1, 1, 1, 1],
  [2, 3, 2, 1],
  [3, 7, 1, 1],
  [4, 40, 5, 1],
  [5, 400, 50, 1],
  [6, 1, 1, 3],
  [7, 1, 2, 32],
] as const) {
  t.test(`txns between slices (seed ${seed}, ${sliceSteps} steps of ${nodesPerStep} nodes a slice, ${txnsPerPause} txns a pause)`, (t) =>
    snapshotWhileChanging(t, seed, sliceSteps, txnsPerPause, nodesPerStep),
  );
}

/** Creates and setData under the wide parent and elsewhere, zxids from `first` on: no deletes. */
function createLoad(count: number, first: bigint): Txn[] {
  const out: Txn[] = [];
  for (let i = 0; i < count; i++) {
    const zxid = first + BigInt(i);
    const body: TxnBody =
      i % 3 === 2
        ? { type: OpCode.setData, record: { path: `/wide/c${i % WIDE}`, data: Buffer.from(`s${i}`), version: i } }
        : create(i % 3 === 0 ? `/wide/load${i}` : `/a/n${i % 20}/load${i}`, Buffer.from(`l${i}`));
    out.push({ hdr: { clientId: S1, cxid: 1, zxid, time: 1_700_000_000_000n + zxid, type: body.type }, body });
  }
  return out;
}

async function snapshotUnderLoad(tree: DataTree, sessions: Map<bigint, number>, z: bigint, load: Txn[]): Promise<Buffer> {
  let next = 0;
  const chunks = await serializeSnapshotChunksConcurrently(tree, sessions, z, {
    sliceSteps: 1,
    nodesPerStep: 1,
    sliceMs: Infinity,
    pause: async () => {
      if (next < load.length) tree.apply(load[next++]);
    },
  });
  while (next < load.length) tree.apply(load[next++]);
  return Buffer.concat(chunks);
}

t.test('under a create load (no deletes) the bytes are those of a snapshot taken at the start', async (t) => {
  const live = new Db();
  populate(live);
  const z = live.zxid;
  const expected = serializeSnapshot(live.tree, live.sessions, z);
  const load = createLoad(600, z + 1n);
  const bytes = await snapshotUnderLoad(live.tree, live.sessions, z, load);
  t.ok(live.tree.getNode(`/wide/load${load.length - 3}`), 'the load went on to the end');
  t.ok(live.tree.getNode('/wide')!.childCount > WIDE + 100, 'the wide parent grew while it was listed');
  t.ok(bytes.equals(expected));
});

t.test('nodes a fuzzy snapshot holds beyond its zxid are written by the next snapshot', async (t) => {
  const db = new Db();
  populate(db);
  // As ZooKeeper's fuzzy snapshots may be: named after a zxid older than the last changes in it.
  const z = db.zxid - 10n;
  const loaded = parseSnapshot(serializeSnapshot(db.tree, db.sessions, db.zxid), 'mem', z, true);
  t.equal(loaded.tree.lastProcessedZxid, z);
  const beyond = [...loaded.tree.paths()].filter((p) => loaded.tree.getNode(p)!.czxid > z);
  t.ok(beyond.length >= 5, `${beyond.length} nodes are newer than the snapshot's zxid`);
  const expected = serializeSnapshot(loaded.tree, loaded.sessions, z);
  const bytes = await snapshotUnderLoad(loaded.tree, loaded.sessions, z, createLoad(300, db.zxid + 1n));
  t.ok(bytes.equals(expected));
  const again = parseSnapshot(bytes, 'mem', z, true).tree;
  t.same(beyond.filter((p) => !again.getNode(p)), [], 'none of them is left out');
});

t.test('an unchanged tree gives the bytes of the synchronous snapshot, by default on setImmediate', async (t) => {
  const db = new Db();
  populate(db);
  const sync = serializeSnapshot(db.tree, db.sessions, db.zxid);
  // The ACL ids remembered by the first snapshot are the ones the second hands out again.
  const chunks = await serializeSnapshotChunksConcurrently(db.tree, db.sessions, db.zxid, { sliceMs: 0 });
  t.ok(chunks.length >= 1);
  t.ok(Buffer.concat(chunks).equals(sync));
  const noDigest = await serializeSnapshotChunksConcurrently(db.tree, db.sessions, db.zxid, { digest: null, sliceSteps: 5, nodesPerStep: 1 });
  t.ok(Buffer.concat(noDigest).equals(serializeSnapshot(db.tree, db.sessions, db.zxid, { digest: null })), 'without the digest section too');
});

t.test('writeSnapshot (plain and gz) while txns are applied', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-snapcow-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const compression of ['none', 'gz'] as const) {
    const live = new Db();
    const frozen = new Db();
    populate(live);
    populate(frozen);
    const z = live.zxid;
    const later = laterTxns(live, 7, 200);
    let next = 0;
    const writing = writeSnapshot(path.join(dir, compression), live.tree, live.sessions, z, {
      compression,
      fsync: false,
      sliceSteps: 4,
      nodesPerStep: 1,
      pause: () =>
        new Promise((resolve) =>
          setImmediate(() => {
            if (next < later.length) live.apply(later[next].body, later[next].clientId), next++;
            resolve();
          }),
        ),
    });
    // Applied before the writer's first await returns (its directory and file are made first).
    live.apply(later[next].body, later[next].clientId), next++;
    const file = await writing;
    t.ok(next > 50, `${next} txns applied while writing`);
    const raw = fs.readFileSync(file);
    const plain = compression === 'gz' ? zlib.gunzipSync(raw) : raw;
    sameAsAtStart(t, plain, serializeSnapshot(frozen.tree, frozen.sessions, z), z, live.tree);
    const r = readSnapshot(file, true);
    t.equal(r.zxid, z);
    t.equal(r.digestMatches, true);
    t.same(treeDiffs(frozen.tree, r.tree), [], `${compression}: reads back as the tree at the start`);
  }
});

t.test('a snapshot of many chunks written while txns are applied (chunk buffers are reused)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-snapcow-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const live = new Db();
  const frozen = new Db();
  for (const db of [live, frozen]) {
    populate(db);
    // About 1.5 MB of node records: a dozen chunks, each a different fill.
    for (let i = 0; i < 3000; i++) db.apply(create(`/a/n${i % 20}/big${i}`, Buffer.alloc(500, i % 251)));
  }
  const z = live.zxid;
  const load = createLoad(400, z + 1n);
  let next = 0;
  const file = await writeSnapshot(path.join(dir, 'many'), live.tree, live.sessions, z, {
    fsync: false,
    sliceSteps: 10,
    nodesPerStep: 8,
    pause: async () => {
      if (next < load.length) live.tree.apply(load[next++]);
    },
  });
  t.ok(next > 100, `${next} txns applied while writing`);
  const expected = serializeSnapshot(frozen.tree, frozen.sessions, z);
  t.ok(expected.length > 12 * 128 * 1024, `${expected.length} bytes`);
  t.ok(fs.readFileSync(file).equals(expected), 'the bytes of the tree at the start');
});

t.test('a failed snapshot stops keeping copies', async (t) => {
  const db = new Db();
  populate(db);
  let pauses = 0;
  await t.rejects(
    serializeSnapshotChunksConcurrently(db.tree, db.sessions, db.zxid, {
      sliceSteps: 10,
      nodesPerStep: 1,
      pause: async () => {
        if (++pauses === 3) throw new Error('stop');
      },
    }),
    /stop/,
  );
  t.equal(preserversOf(db.tree).length, 0);
});

t.test('quota stat nodes are recounted after a load', async (t) => {
  const db = new Db();
  populate(db);
  db.apply(create('/q/more', Buffer.from('12345')));
  const stat = db.tree.getNode('/zookeeper/quota/q/zookeeper_stats')!;
  const right = stat.data!.toString();
  t.equal(right, 'count=3,bytes=8');
  const loaded = parseSnapshot(serializeSnapshot(db.tree, db.sessions, db.zxid), 'mem', db.zxid, true);
  // As a fuzzy snapshot of ZooKeeper's may hold it: written before the last changes under /q.
  loaded.tree.getNode('/zookeeper/quota/q/zookeeper_stats')!.data = Buffer.from('count=1,bytes=1');
  const digest = loaded.tree.digest.value;
  loaded.tree.recountQuotas();
  t.equal(loaded.tree.getNode('/zookeeper/quota/q/zookeeper_stats')!.data!.toString(), right);
  t.equal(loaded.tree.digest.value, digest, 'stat nodes are outside the digest');
});

t.test('a parent of many children, changed while their order is worked out over several steps', async (t) => {
  const live = new Db();
  const frozen = new Db();
  for (const db of [live, frozen]) {
    db.apply(create('/big', null));
    for (let i = 0; i < 3000; i++) db.apply(create(`/big/c${i}`, Buffer.from(`v${i}`)));
  }
  const z = live.zxid;
  const expected = serializeSnapshot(frozen.tree, frozen.sessions, z);
  let pauses = 0;
  const chunks = await serializeSnapshotChunksConcurrently(live.tree, live.sessions, z, {
    sliceSteps: 1,
    nodesPerStep: 1,
    sliceMs: Infinity,
    pause: async () => {
      // Children come and go under the big parent at every pause, from its listing on.
      pauses++;
      live.apply(pauses % 2 === 0 ? create(`/big/new${pauses}`, Buffer.from('n')) : { type: OpCode.delete, record: { path: `/big/c${pauses}` } });
    },
  });
  t.ok(pauses > 3000 * 2, `${pauses} pauses`);
  t.ok(Buffer.concat(chunks).equals(expected), 'the bytes of the tree at the start');
});
