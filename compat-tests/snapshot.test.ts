// Snapshots against Apache ZooKeeper 3.8: we read the snapshots it writes (tree, Stats, ACLs,
// sessions, digest) and write them back byte for byte; its SnapshotFormatter reads ours; and it
// starts from a data dir that holds only a snapshot of ours and serves the same tree.

import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OpCode } from '../src/protocol/constants';
import * as R from '../src/protocol/generated/records';
import type { DataTree } from '../src/storage/datatree';
import { computeTreeDigest } from '../src/storage/digest';
import { snapshotDumpMain } from '../src/storage/snapdump';
import { listSnapshots, readSnapshot, serializeSnapshot, writeSnapshot, type LoadedSnapshot } from '../src/storage/snapshot';
import { ZkClient, OPEN_ACL } from '../test/util/client';
import { javaClasspath, startReferenceZooKeeper, type RunningServer } from '../test/util/servers';

const SESSION_TIMEOUT_MS = 60_000;
const JVM_FLAGS = ['-Dzookeeper.extendedTypesEnabled=true'];
const EXTRA = { maxSessionTimeout: '120000' };
const RUN_TIMEOUT_MS = 60_000;

interface Seen {
  data: Buffer | null;
  stat: R.Stat;
  acl: R.ACL[];
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-snapcompat-'));
}

async function ok(p: Promise<{ header: R.ReplyHeader }>, what: string): Promise<void> {
  const r = await p;
  if (r.header.err !== 0) throw new Error(`${what}: error ${r.header.err}`);
}

function createTTL(c: ZkClient, p: string, data: Buffer, ttl: bigint): Promise<{ header: R.ReplyHeader }> {
  return c.request(OpCode.createTTL, (w) => R.encodeCreateTTLRequest(w, { path: p, data, acl: OPEN_ACL, flags: 5, ttl }));
}

function createContainer(c: ZkClient, p: string, data: Buffer): Promise<{ header: R.ReplyHeader }> {
  return c.request(OpCode.createContainer, (w) => R.encodeCreateRequest(w, { path: p, data, acl: OPEN_ACL, flags: 4 }));
}

function setACL(c: ZkClient, p: string, acl: R.ACL[]): Promise<{ header: R.ReplyHeader }> {
  return c.request(OpCode.setACL, (w) => R.encodeSetACLRequest(w, { path: p, acl, version: -1 }));
}

/** Every node as the client sees it, by walking getChildren from the root. */
async function walk(c: ZkClient): Promise<Map<string, Seen>> {
  const seen = new Map<string, Seen>();
  const stack = ['/'];
  while (stack.length > 0) {
    const p = stack.pop()!;
    const d = await c.getData(p);
    if (d.header.err !== 0) throw new Error(`getData ${p}: error ${d.header.err}`);
    const gd = R.decodeGetDataResponse(d.reader);
    const a = await c.request(OpCode.getACL, (w) => R.encodeGetACLRequest(w, { path: p }));
    const acl = a.header.err === 0 ? R.decodeGetACLResponse(a.reader).acl : [];
    seen.set(p, { data: gd.data, stat: gd.stat, acl });
    const ch = await c.getChildren(p);
    for (const k of R.decodeGetChildrenResponse(ch.reader).children) stack.push(p === '/' ? `/${k}` : `${p}/${k}`);
  }
  return seen;
}

/** Differences between what a client saw and a tree, as text lines (empty when equal). */
function compareTree(seen: Map<string, Seen>, tree: DataTree): string[] {
  const diffs: string[] = [];
  const treePaths = new Set(tree.paths());
  for (const [p, s] of seen) {
    const n = tree.getNode(p);
    if (!n) {
      diffs.push(`${p}: missing from the snapshot`);
      continue;
    }
    treePaths.delete(p);
    const st = tree.statOf(n);
    for (const k of Object.keys(s.stat) as (keyof R.Stat)[])
      if (st[k] !== s.stat[k]) diffs.push(`${p}: ${k} ${String(st[k])} != client ${String(s.stat[k])}`);
    // ZooKeeper answers a null data with an empty buffer on the wire only when it is stored empty.
    const a = n.data === null ? 'null' : n.data.toString('hex');
    const b = s.data === null ? 'null' : s.data.toString('hex');
    if (a !== b) diffs.push(`${p}: data ${a} != client ${b}`);
    if (JSON.stringify(n.acl) !== JSON.stringify(s.acl)) diffs.push(`${p}: acl ${JSON.stringify(n.acl)} != client ${JSON.stringify(s.acl)}`);
  }
  for (const p of treePaths) diffs.push(`${p}: in the snapshot, not seen by the client`);
  return diffs;
}

function runJava(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('java', ['-cp', javaClasspath(), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`java ${args.join(' ')}: no exit in ${RUN_TIMEOUT_MS} ms`));
    }, RUN_TIMEOUT_MS);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** Builds a tree of every kind of node on a running ZooKeeper; returns the sessions that stay open. */
async function populate(server: RunningServer): Promise<{ clients: ZkClient[]; lastZxid: bigint }> {
  const a = await ZkClient.connect(server.host, server.port, { timeoutMs: SESSION_TIMEOUT_MS });
  const b = await ZkClient.connect(server.host, server.port, { timeoutMs: SESSION_TIMEOUT_MS });
  const shared: R.ACL[] = [
    { perms: 1, id: { scheme: 'digest', id: 'reader:x/dNTmNxWUhF4ZYQx4yaYp7JFc0=' } },
    { perms: 31, id: { scheme: 'world', id: 'anyone' } },
  ];
  await ok(a.create('/a', Buffer.from('hello')), 'create /a');
  await ok(a.create('/a/null', null), 'create /a/null');
  await ok(a.create('/a/empty', Buffer.alloc(0)), 'create /a/empty');
  for (let i = 0; i < 4; i++) await ok(a.create('/a/seq-', Buffer.from(`s${i}`), 2), 'create seq');
  await ok(a.delete('/a/seq-0000000003'), 'delete seq');
  await ok(a.setData('/a', Buffer.from('hello again')), 'setData /a');
  await ok(a.setData('/a', Buffer.from('third')), 'setData /a');
  await ok(b.create('/eph', Buffer.from('mine'), 1), 'create /eph');
  await ok(b.create('/a/eph-seq-', null, 3), 'create ephemeral sequential');
  await ok(createContainer(a, '/cont', Buffer.from('c')), 'create container');
  await ok(a.create('/cont/child', Buffer.from('x')), 'create container child');
  await ok(createTTL(a, '/ttl', Buffer.from('t'), 3_600_000n), 'create ttl');
  await ok(a.create('/shared1', Buffer.from('1'), 0, shared), 'create shared1');
  await ok(a.create('/shared2', Buffer.from('2'), 0, shared), 'create shared2');
  await ok(a.create('/aclchg', Buffer.from('acl')), 'create aclchg');
  await ok(setACL(a, '/aclchg', [{ perms: 31, id: { scheme: 'ip', id: '127.0.0.1' } }, { perms: 1, id: { scheme: 'world', id: 'anyone' } }]), 'setACL');
  await ok(a.create('/ünï-код-✓', Buffer.from('ü')), 'create unicode');
  await ok(a.create('/quotaed', Buffer.from('q')), 'create quotaed');
  await ok(a.create('/quotaed/k', Buffer.from('kk')), 'create quotaed/k');
  await ok(a.create('/zookeeper/quota/quotaed', null), 'create quota node');
  await ok(a.create('/zookeeper/quota/quotaed/zookeeper_limits', Buffer.from('count=10,bytes=-1')), 'create limits');
  await ok(a.create('/zookeeper/quota/quotaed/zookeeper_stats', Buffer.from('count=2,bytes=3')), 'create stats');
  const last = await a.setData('/quotaed/k', Buffer.from('kkk'));
  return { clients: [a, b], lastZxid: last.header.zxid };
}

t.test('ZooKeeper 3.8 writes a snapshot; we read it, write it back identically, and it reads ours', async (t) => {
  const dataDir = tmpDir();
  const dataDir2 = tmpDir();
  t.teardown(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(dataDir2, { recursive: true, force: true });
  });

  // 1. Populate, then restart on the same data dir: ZooKeeper replays its log and takes a
  //    snapshot of the result at start, with no client writing meanwhile.
  let server = await startReferenceZooKeeper({ extraConfig: { ...EXTRA, dataDir }, jvmFlags: JVM_FLAGS });
  let seen: Map<string, Seen>;
  let lastZxid: bigint;
  let sessionIds: bigint[];
  try {
    const p = await populate(server);
    lastZxid = p.lastZxid;
    sessionIds = p.clients.map((c) => c.sessionId);
    seen = await walk(p.clients[0]);
    // No closeSession: the sessions and their ephemerals must outlive the restart.
    for (const c of p.clients) c.destroy();
  } finally {
    await server.stop();
  }
  server = await startReferenceZooKeeper({ extraConfig: { ...EXTRA, dataDir }, jvmFlags: JVM_FLAGS });
  await server.stop();

  const snapDir = path.join(dataDir, 'version-2');
  const snaps = listSnapshots(snapDir);
  t.ok(snaps.length >= 2, `snapshots: ${snaps.map((s) => path.basename(s.file)).join(', ')}`);
  const newest = snaps[0];
  t.equal(newest.zxid, lastZxid, 'the start-up snapshot is at the last zxid');

  const loaded: LoadedSnapshot = readSnapshot(newest.file, true);
  t.same(compareTree(seen, loaded.tree), [], 'every node, Stat, data and ACL as the client saw it');
  t.same([...loaded.sessions.keys()].sort(), [...sessionIds].sort(), 'both sessions are in the snapshot');
  for (const timeout of loaded.sessions.values()) t.equal(timeout, SESSION_TIMEOUT_MS, 'session timeout');
  t.same([...loaded.tree.ephemeralsOf(sessionIds[1])].sort(), ['/a/eph-seq-0000000006', '/eph'], 'ephemerals by owner');
  t.ok(loaded.tree.containers.has('/cont') && loaded.tree.ttls.has('/ttl'), 'container and TTL nodes');
  t.equal(loaded.tree.quotas.covering('/quotaed/k'), '/quotaed', 'quota restored');

  t.ok(loaded.digest, 'the snapshot has a digest');
  t.equal(loaded.digest!.zxid, lastZxid, 'digest zxid');
  t.equal(loaded.digest!.version, 2, 'digest version');
  t.equal(computeTreeDigest(loaded.tree), loaded.digest!.digest, 'our digest of the tree equals ZooKeeper\'s');
  t.equal(loaded.digestMatches, true, 'digestMatches');

  const original = fs.readFileSync(newest.file);
  const rewritten = serializeSnapshot(loaded.tree, loaded.sessions, loaded.zxid, { digest: loaded.digest });
  t.equal(rewritten.length, original.length, 'same length');
  t.ok(rewritten.equals(original), 'rewritten byte for byte');
  // With our own digest section (the tree's digest at the file's zxid) the bytes are the same too,
  // because ZooKeeper took this snapshot with no txn in flight.
  t.ok(serializeSnapshot(loaded.tree, loaded.sessions, loaded.zxid).equals(original), 'default digest section too');

  // 2. ZooKeeper's SnapshotFormatter reads a snapshot of ours, and prints what we print.
  const ours = await writeSnapshot(path.join(dataDir2, 'version-2'), loaded.tree, loaded.sessions, loaded.zxid);
  const fmt = await runJava(['-Dlog4j.configuration=file:/dev/null', 'org.apache.zookeeper.server.SnapshotFormatter', ours], { TZ: 'UTC' });
  t.equal(fmt.code, 0, `SnapshotFormatter exits 0 (${fmt.err.slice(0, 500)})`);
  let dumped = '';
  const saveTz = process.env.TZ;
  process.env.TZ = 'UTC';
  try {
    const code = await snapshotDumpMain([ours], { out: (s) => (dumped += s), err: () => undefined });
    t.equal(code, 0, 'snapshot-dump exits 0');
  } finally {
    if (saveTz === undefined) delete process.env.TZ;
    else process.env.TZ = saveTz;
  }
  // SnapshotFormatter of 3.8.0 does not read the digest section; the rest must agree line for line.
  const javaLines = fmt.out.split('\n').filter((l) => l !== '' && !l.startsWith('log4j:'));
  const ourLines = dumped.split('\n').filter((l) => l !== '' && !l.startsWith('Target zxid digest'));
  t.same(ourLines, javaLines, 'snapshot-dump prints what SnapshotFormatter prints');

  // 3. ZooKeeper starts on a data dir holding only our snapshot and serves the same tree.
  server = await startReferenceZooKeeper({ extraConfig: { ...EXTRA, dataDir: dataDir2 }, jvmFlags: JVM_FLAGS });
  let served: Map<string, Seen>;
  try {
    const c = await ZkClient.connect(server.host, server.port, { timeoutMs: SESSION_TIMEOUT_MS });
    served = await walk(c);
    await c.close();
  } finally {
    await server.stop();
  }
  t.same(compareTree(served, loaded.tree), [], 'ZooKeeper serves our snapshot\'s tree');
  t.notMatch(server.log(), /Digests are not matching|problem reading snap file|CRC corruption/, 'no digest or CRC complaint');
  // At start it rewrote the snapshot under the same name; all but the digest section (which it
  // leaves empty right after a load) is what we wrote.
  const again = readSnapshot(ours, true);
  t.same(compareTree(served, again.tree), [], 'its rewrite holds the same tree');
});

for (const method of ['gz', 'snappy'] as const) {
  t.test(`ZooKeeper 3.8 with snapshot compression ${method}: we read its snapshots`, async (t) => {
    const dataDir = tmpDir();
    t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const jvmFlags = [...JVM_FLAGS, `-Dzookeeper.snapshot.compression.method=${method}`];
    let server = await startReferenceZooKeeper({ extraConfig: { ...EXTRA, dataDir }, jvmFlags });
    let seen: Map<string, Seen>;
    try {
      const c = await ZkClient.connect(server.host, server.port, { timeoutMs: SESSION_TIMEOUT_MS });
      await ok(c.create('/big', Buffer.alloc(100_000, 'ab')), 'create /big');
      for (let i = 0; i < 50; i++) await ok(c.create(`/big/n${i}`, Buffer.from(`node ${i}`.repeat(i))), 'create child');
      await ok(c.create('/eph', null, 1), 'create /eph');
      seen = await walk(c);
      c.destroy();
    } finally {
      await server.stop();
    }
    server = await startReferenceZooKeeper({ extraConfig: { ...EXTRA, dataDir }, jvmFlags });
    await server.stop();
    const newest = listSnapshots(path.join(dataDir, 'version-2'))[0];
    t.equal(newest.compression, method, path.basename(newest.file));
    const loaded = readSnapshot(newest.file, true);
    t.same(compareTree(seen, loaded.tree), [], 'the tree as the client saw it');
    t.equal(loaded.digestMatches, true, 'digest matches');
  });
}
