// One data dir, two servers taking turns: Apache ZooKeeper 3.8 writes it, zkts serves it and writes
// more, ZooKeeper serves what zkts wrote and writes more, zkts reads that once again. At every switch
// the new server must serve exactly the tree the old one served (every Stat field, data, ACL,
// children), carry the zxid on, and keep the sessions: an ephemeral of a session nobody resumes stays
// until the session expires on the new server, and a session resumed with its id and password keeps
// working across both switches. ZooKeeper's log must show no digest or CRC complaint about zkts's
// files; ZooKeeper's TxnLogToolkit and SnapshotFormatter must read every file zkts wrote, and every
// snapshot of zkts must load as ZooKeeper loads one (checksums, digest equal to ZooKeeper's own).
// Variants: servers stopped with SIGTERM on a single data dir; servers SIGKILLed with a separate
// dataLogDir and a small snapCount (snapshots and log rolls while serving). A last test pins down
// the quota stats a snapshot load must recount.

import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateFlag, Err } from '../src/protocol/constants';
import type * as R from '../src/protocol/generated/records';
import { OPEN_ACL } from '../test/util/client';
import { startReferenceZooKeeper, startZkts, type RunningServer } from '../test/util/servers';
import { dataFiles, loadSnapshots, newFiles, snapshotFormatter, txnLogToolkit, type DataFile, type Dirs } from './datadir/files';
import { ALICE_AUTH, digestId, lineOf, SUPER_AUTH, Zk } from './datadir/zk';
import { delay } from './util/harness';
import { runZkCli } from './util/zkcli';

/** Sessions that nobody resumes after a switch; the new server must expire them. */
const SHORT_SESSION_MS = 6_000;
/** Sessions resumed across switches, and the clients' own sessions. */
const LONG_SESSION_MS = 30_000;
const EXPIRY_WAIT_MS = 30_000;
const TTL_MS = 3_600_000n;

const buf = (s: string): Buffer => Buffer.from(s, 'utf8');
const WORLD_READ: R.ACL = { perms: 1, id: { scheme: 'world', id: 'anyone' } };
const ALICE_ALL: R.ACL = { perms: 31, id: { scheme: 'digest', id: digestId(ALICE_AUTH) } };

interface Variant {
  name: string;
  stopWith: 'SIGTERM' | 'SIGKILL';
  separateLogDir: boolean;
  snapCount?: number;
}

const VARIANTS: Variant[] = [
  { name: 'SIGTERM, one data dir', stopWith: 'SIGTERM', separateLogDir: false },
  { name: 'SIGKILL, separate dataLogDir, snapCount=8', stopWith: 'SIGKILL', separateLogDir: true, snapCount: 8 },
];

function systemProps(v: Variant): Record<string, string> {
  const props: Record<string, string> = {
    'zookeeper.extendedTypesEnabled': 'true',
    'zookeeper.DigestAuthenticationProvider.superDigest': digestId(SUPER_AUTH),
    'zookeeper.preAllocSize': '64',
  };
  if (v.snapCount !== undefined) props['zookeeper.snapCount'] = String(v.snapCount);
  return props;
}

function config(dirs: Dirs, v: Variant): Record<string, string> {
  const cfg: Record<string, string> = { dataDir: dirs.dataDir, maxSessionTimeout: String(LONG_SESSION_MS * 2) };
  if (v.separateLogDir) cfg.dataLogDir = dirs.dataLogDir;
  if (v.snapCount !== undefined) cfg.snapCount = String(v.snapCount);
  return cfg;
}

function startZooKeeper(dirs: Dirs, v: Variant): Promise<RunningServer> {
  const jvmFlags = Object.entries(systemProps(v)).map(([k, val]) => `-D${k}=${val}`);
  return startReferenceZooKeeper({ extraConfig: config(dirs, v), jvmFlags });
}

function startOurs(dirs: Dirs, v: Variant): Promise<RunningServer> {
  return startZkts({ extraConfig: config(dirs, v), systemProps: systemProps(v) });
}

async function stopServer(server: RunningServer, v: Variant): Promise<void> {
  if (v.stopWith === 'SIGKILL') {
    try {
      process.kill(server.pid, 'SIGKILL');
    } catch {
      // Already gone: stop() reports nothing either way.
    }
  }
  await server.stop();
}

interface Listing {
  lines: string[];
  /** zxid of the lister's own createSession: the server's last zxid at start plus one. */
  openZxid: bigint;
  /** zxid of the lister's closeSession: the last txn before the server is stopped. */
  closeZxid: bigint;
}

/** The whole tree as a superuser sees it (digests unmasked), from a session of its own. */
async function listTree(server: RunningServer): Promise<Listing> {
  const c = await Zk.connect(server, { timeoutMs: LONG_SESSION_MS });
  const openZxid = await c.zxid();
  await c.auth(SUPER_AUTH);
  const lines = await c.listing();
  const closeZxid = await c.close();
  return { lines, openZxid, closeZxid };
}

/** Polls until `p` is gone on the server behind `c`; returns when it went. */
async function waitGone(c: Zk, p: string): Promise<number> {
  const deadline = Date.now() + EXPIRY_WAIT_MS;
  while (await c.exists(p)) {
    if (Date.now() > deadline) throw new Error(`${p} still there after ${EXPIRY_WAIT_MS} ms`);
    await delay(100);
  }
  return Date.now();
}

/** The next sequential suffix under `parent`, from a listing: ZooKeeper names children by its
 * stored count of creations, which the reported cversion encodes as 2 * stored - numChildren. */
function nextSequence(listing: string[], parent: string): number {
  const line = lineOf(listing, parent);
  const cv = line && /cversion=(-?\d+)/.exec(line);
  const nc = line && /numChildren=(\d+)/.exec(line);
  if (!cv || !nc) throw new Error(`no listing line for ${parent}`);
  return (Number(cv[1]) + Number(nc[1])) / 2;
}

const seq = (n: number): string => String(n).padStart(10, '0');

/** Paths of a listing that start with `prefix`. */
function pathsUnder(listing: string[], prefix: string): string[] {
  return listing.map((l) => l.slice(0, l.indexOf(' | '))).filter((p) => p.startsWith(prefix));
}

function serverLogProblems(log: string): string[] {
  return log
    .split('\n')
    .filter(
      (l) =>
        (/digest|crc|checksum|corrupt|snap|txn ?log/i.test(l) && /\b(WARN|ERROR|FATAL)\b/.test(l)) ||
        /Digests are not matching|digest mismatch|CRC|problem reading snap/i.test(l),
    );
}

/** Runs ZooKeeper's TxnLogToolkit, SnapshotFormatter and snapshot loading over files, with
 * assertions; returns the zxids the logs hold, in order. */
async function checkWithZooKeeperTools(t: Test, files: DataFile[], who: string): Promise<bigint[]> {
  const logged: bigint[] = [];
  for (const f of files) {
    const name = `${who} ${path.basename(f.file)}`;
    if (f.kind === 'log') {
      const d = await txnLogToolkit(f.file);
      t.equal(d.code, 0, `TxnLogToolkit exits 0 on ${name}`);
      t.same(d.problems, [], `TxnLogToolkit: no CRC error or exception on ${name}`);
      t.match(d.output, /ZooKeeper Transactional Log File with dbid 0 txnlog format version 2/, `${name}: header`);
      t.equal(d.eofAfter, d.zxids.length, `${name}: EOF after the ${d.zxids.length} txns listed`);
      t.ok(d.zxids.length > 0, `${name}: has txns`);
      t.equal(d.zxids[0], f.zxid, `${name}: first txn is the zxid in the file name`);
      const gaps = d.zxids.filter((z, i) => i > 0 && z !== d.zxids[i - 1] + 1n).map((z) => '0x' + z.toString(16));
      t.same(gaps, [], `${name}: zxids are consecutive`);
      logged.push(...d.zxids);
    } else {
      const d = await snapshotFormatter(f.file);
      t.equal(d.code, 0, `SnapshotFormatter exits 0 on ${name}`);
      t.same(d.problems, [], `SnapshotFormatter: no exception or checksum error on ${name}`);
      t.ok(d.paths.includes('/') && d.paths.includes('/zookeeper/quota'), `${name}: nodes listed (${d.paths.length})`);
    }
  }
  const snaps = await loadSnapshots(files.filter((f) => f.kind === 'snapshot').map((f) => f.file));
  t.equal(snaps.code, 0, `ZooKeeper loads ${who}'s snapshots (checksums verified): ${snaps.output.trim()}`);
  for (const s of snaps.loads) {
    t.ok(s.ok, `${who} ${path.basename(s.file)} loads: ${s.line}`);
    t.equal(s.digest, 'matches', `${who} ${path.basename(s.file)}: its digest is ZooKeeper's digest of the tree`);
  }
  return logged;
}

/** zkts log lines at warn level or above (pino levels 40+). */
function ourLogProblems(log: string): string[] {
  // A server killed while writing a snapshot can leave an empty file; skipping it for an older
  // snapshot (with a warning) is the right answer, so that warning is not a problem here.
  return log.split('\n').filter((l) => /"level":(4|5|6)\d/.test(l) && !/file too short for its header \(0 bytes\)/.test(l));
}

/** ZooKeeper: every kind of node and txn, a quota set by zkCli. Sessions e1 and e2 stay open. */
async function zooKeeperWrites(t: Test, server: RunningServer, w: Zk, e1: Zk, e2: Zk): Promise<void> {
  await w.auth(ALICE_AUTH);
  await w.create('/app', buf('v0'));
  for (let i = 1; i <= 3; i++) t.equal((await w.setData('/app', buf(`v${i}`), i - 1)).version, i, `/app version ${i}`);
  await w.setDataFails('/app', buf('x'), 99, Err.BADVERSION);
  await w.createFails('/app', Err.NODEEXISTS);
  await w.create('/app/null', null);
  await w.create('/app/empty', Buffer.alloc(0), 0, OPEN_ACL, true);
  // /app has had two children created: the sequence starts at 2.
  for (let i = 0; i < 3; i++) t.equal(await w.create('/app/seq-', buf(`s${i}`), CreateFlag.PERSISTENT_SEQUENTIAL), `/app/seq-${seq(2 + i)}`);
  await w.delete(`/app/seq-${seq(3)}`, 0);
  await w.create('/app/gone', buf('g'));
  await w.delete('/app/gone');
  for (const p of ['/deep', '/deep/a', '/deep/a/b', '/deep/a/b/c']) await w.create(p, buf(p));
  await e1.create('/app/eph-short', buf('e1'), CreateFlag.EPHEMERAL);
  await e1.create('/app/eph-short-', null, CreateFlag.EPHEMERAL_SEQUENTIAL);
  await e2.create('/app/eph-long', buf('e2'), CreateFlag.EPHEMERAL);
  await w.createContainer('/box', buf('c'));
  await w.create('/box/item', buf('i'));
  t.equal(await w.createTTL('/ttl', buf('t'), TTL_MS), '/ttl');
  t.match(await w.createTTL('/ttlseq-', buf('ts'), TTL_MS, CreateFlag.PERSISTENT_SEQUENTIAL_WITH_TTL), /^\/ttlseq-\d{10}$/);
  await w.create('/secret', buf('s'), 0, [ALICE_ALL, WORLD_READ]);
  await w.create('/mine', buf('m'), 0, [{ perms: 31, id: { scheme: 'auth', id: '' } }]);
  await w.create('/shared1', buf('1'), 0, [ALICE_ALL, WORLD_READ]);
  await w.create('/shared2', buf('2'), 0, [ALICE_ALL, WORLD_READ]);
  await w.create('/ip', buf('ip'));
  await w.setACL('/ip', [{ perms: 31, id: { scheme: 'ip', id: '127.0.0.1' } }, WORLD_READ]);
  await w.setACL('/ip', [{ perms: 31, id: { scheme: 'ip', id: '127.0.0.0/8' } }, { perms: 3, id: { scheme: 'ip', id: '10.1.2.3' } }], 1);
  const ok = await w.multi([
    { op: 'check', path: '/app', version: 3 },
    { op: 'create', path: '/multi', data: buf('m') },
    { op: 'create2', path: '/multi/a', data: null },
    { op: 'create', path: '/multi/s-', data: buf('s'), flags: CreateFlag.PERSISTENT_SEQUENTIAL },
    { op: 'setData', path: '/multi', data: buf('m2'), version: 0 },
    { op: 'createContainer', path: '/multi/box', data: null },
    { op: 'create', path: '/multi/box/x', data: null },
    { op: 'createTTL', path: '/multi/ttl', data: buf('t'), ttl: TTL_MS },
    { op: 'create', path: '/multi/tmp', data: null },
    { op: 'delete', path: '/multi/tmp' },
    { op: 'delete', path: '/app/null' },
  ]);
  t.same(ok.map((r) => r.err), ok.map(() => 0), 'multi on ZooKeeper succeeds');
  await w.create('/app/null', null);
  const failed = await w.multi([
    { op: 'create', path: '/mfail', data: null },
    { op: 'delete', path: '/nonexistent' },
    { op: 'setData', path: '/app', data: null },
  ]);
  t.same(failed.map((r) => r.err), [0, Err.NONODE, Err.RUNTIMEINCONSISTENCY], 'failed multi on ZooKeeper');
  const cli = await runZkCli(server.connectString, ['setquota -n 100 /app']);
  t.equal(cli.exitCode, 0, 'zkCli setquota on ZooKeeper');
  await w.create('/app/after-quota', buf('q'));
  await w.setData('/app/after-quota', buf('qq'));
}

/** zkts: the same kinds again, over what ZooKeeper wrote. */
async function ourWrites(t: Test, server: RunningServer, w: Zk, e2: Zk, e3: Zk, before: string[]): Promise<void> {
  await w.auth(ALICE_AUTH);
  t.equal((await w.setData('/app', buf('v4'), 3)).version, 4, '/app version 4 on zkts');
  await w.setData('/app', buf('v5'));
  await w.setData('/app/empty', null);
  await w.setDataFails('/app', buf('x'), 3, Err.BADVERSION);
  await w.createFails('/multi', Err.NODEEXISTS);
  const next = nextSequence(before, '/app');
  t.equal(await w.create('/app/seq-', buf('z'), CreateFlag.PERSISTENT_SEQUENTIAL), `/app/seq-${seq(next)}`, 'the sequence goes on from ZooKeeper\'s counter');
  await w.create('/app/seq-', null, CreateFlag.PERSISTENT_SEQUENTIAL, OPEN_ACL, true);
  await w.delete(`/app/seq-${seq(2)}`);
  await w.delete('/deep/a/b/c');
  await w.create('/deep/a/b/d', buf('d'));
  await w.setData('/secret', buf('s2'));
  await w.setACL('/secret', [ALICE_ALL, { perms: 3, id: { scheme: 'ip', id: '127.0.0.1' } }]);
  await w.setACL('/app/empty', [ALICE_ALL, WORLD_READ]);
  await w.create('/shared3', buf('3'), 0, [ALICE_ALL, WORLD_READ]);
  await w.create('/ours', buf('zkts'), 0, [{ perms: 31, id: { scheme: 'auth', id: '' } }], true);
  await w.createContainer('/box2', null);
  await w.create('/box2/item', buf('i'));
  await w.createTTL('/ttl2', buf('t2'), TTL_MS);
  await e2.create('/app/eph-long-2', buf('e2 on zkts'), CreateFlag.EPHEMERAL);
  await e3.create('/e3', buf('e3'), CreateFlag.EPHEMERAL);
  await e3.create('/app/e3-', null, CreateFlag.EPHEMERAL_SEQUENTIAL);
  const ok = await w.multi([
    { op: 'check', path: '/multi', version: 1 },
    { op: 'setData', path: '/multi', data: buf('m3'), version: 1 },
    { op: 'create', path: '/multi/b', data: buf('b') },
    { op: 'create', path: '/multi/s-', data: null, flags: CreateFlag.PERSISTENT_SEQUENTIAL },
    { op: 'createContainer', path: '/multi/box2', data: buf('c') },
    { op: 'create2', path: '/multi/box2/x', data: null },
    { op: 'createTTL', path: '/multi/ttl2', data: null, ttl: TTL_MS },
    { op: 'delete', path: '/multi/a' },
    { op: 'delete', path: '/shared2' },
  ]);
  t.same(ok.map((r) => r.err), ok.map(() => 0), 'multi on zkts succeeds');
  const failed = await w.multi([
    { op: 'setData', path: '/multi', data: null },
    { op: 'check', path: '/multi', version: 99 },
    { op: 'delete', path: '/app' },
  ]);
  t.same(failed.map((r) => r.err), [0, Err.BADVERSION, Err.RUNTIMEINCONSISTENCY], 'failed multi on zkts');
  const cli = await runZkCli(server.connectString, ['setquota -b 1000 /deep']);
  t.equal(cli.exitCode, 0, 'zkCli setquota on zkts');
  await w.create('/app/on-zkts', buf('quota counts this'));
  await w.create('/deep/e', buf('and this'));
}

/** ZooKeeper again: a little more over what zkts wrote. */
async function zooKeeperWritesAgain(t: Test, w: Zk): Promise<void> {
  await w.auth(ALICE_AUTH);
  t.equal((await w.setData('/app', buf('v6'), 5)).version, 6, '/app version 6 on ZooKeeper');
  await w.create('/final', buf('f'));
  await w.create('/app/seq-', buf('zk'), CreateFlag.PERSISTENT_SEQUENTIAL);
  await w.delete('/ttl2');
  await w.delete('/box2/item');
  await w.setACL('/ours', [ALICE_ALL, WORLD_READ]);
  const ok = await w.multi([
    { op: 'create', path: '/final/m', data: null },
    { op: 'setData', path: '/multi', data: buf('m4') },
    { op: 'delete', path: '/multi/b' },
  ]);
  t.same(ok.map((r) => r.err), [0, 0, 0], 'multi on ZooKeeper succeeds');
  await w.createFails('/final', Err.NODEEXISTS);
}

for (const v of VARIANTS) {
  t.test(`ZooKeeper 3.8 and zkts take turns on one data dir (${v.name})`, async (t) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-datadir-'));
    const dirs: Dirs = { dataDir: path.join(root, 'data'), dataLogDir: v.separateLogDir ? path.join(root, 'log') : path.join(root, 'data') };
    fs.mkdirSync(dirs.dataDir);
    fs.mkdirSync(dirs.dataLogDir, { recursive: true });
    const running = new Set<RunningServer>();
    const clients: Zk[] = [];
    t.teardown(async () => {
      for (const c of clients) c.drop();
      for (const s of running) await s.stop();
      fs.rmSync(root, { recursive: true, force: true });
    });
    const track = (s: RunningServer): RunningServer => (running.add(s), s);
    const stop = async (s: RunningServer): Promise<void> => {
      await stopServer(s, v);
      running.delete(s);
    };
    const connect = async (s: RunningServer, opts: Parameters<typeof Zk.connect>[1] = {}): Promise<Zk> => {
      const c = await Zk.connect(s, opts);
      clients.push(c);
      return c;
    };
    const started = Date.now();

    // 1. ZooKeeper on an empty data dir.
    const zk1 = track(await startZooKeeper(dirs, v));
    const w1 = await connect(zk1, { timeoutMs: LONG_SESSION_MS });
    const e1 = await connect(zk1, { timeoutMs: SHORT_SESSION_MS });
    const e2 = await connect(zk1, { timeoutMs: LONG_SESSION_MS });
    t.equal(e1.timeout, SHORT_SESSION_MS, 'short session timeout negotiated');
    await zooKeeperWrites(t, zk1, w1, e1, e2);
    await w1.close();
    const l1 = await listTree(zk1);
    t.ok(lineOf(l1.lines, '/app/eph-short') && lineOf(l1.lines, '/zookeeper/quota/app/zookeeper_limits'), 'ZooKeeper listing has the ephemeral and the quota');
    // e1 and e2 are not closed: the server goes away under them.
    await stop(zk1);
    e1.drop();
    e2.drop();

    // 2. zkts on ZooKeeper's files.
    const beforeOurs1 = dataFiles(dirs);
    let t0 = Date.now();
    const ts2 = track(await startOurs(dirs, v));
    const l2 = await listTree(ts2);
    t.same(l2.lines, l1.lines, 'zkts serves exactly the tree ZooKeeper served');
    t.equal(l2.openZxid, l1.closeZxid + 1n, 'zkts carries on from ZooKeeper\'s last zxid');
    const w2 = await connect(ts2, { timeoutMs: LONG_SESSION_MS });
    const e2b = await connect(ts2, { sessionId: e2.sessionId, passwd: e2.passwd, timeoutMs: LONG_SESSION_MS, lastZxidSeen: l1.closeZxid });
    t.equal(e2b.sessionId, e2.sessionId, 'zkts resumes the ZooKeeper session');
    t.ok(e2b.timeout > 0, `zkts accepts the ZooKeeper session's password (timeout ${e2b.timeout})`);
    const gone1 = await waitGone(w2, '/app/eph-short');
    t.ok(gone1 - t0 >= SHORT_SESSION_MS, `the unresumed session expired on zkts after its timeout (${gone1 - t0} ms after start)`);
    t.same(pathsUnder((await listTree(ts2)).lines, '/app/eph-short'), [], 'with its ephemeral sequential node');
    const e1again = await connect(ts2, { sessionId: e1.sessionId, passwd: e1.passwd, timeoutMs: SHORT_SESSION_MS });
    t.equal(e1again.timeout, 0, 'the expired session is refused');
    e1again.drop();
    t.ok(await w2.exists('/app/eph-long'), 'the resumed session keeps its ephemeral');

    // 3. zkts writes more.
    const e3 = await connect(ts2, { timeoutMs: SHORT_SESSION_MS });
    t.equal(e3.timeout, SHORT_SESSION_MS, 'short session timeout negotiated on zkts');
    await ourWrites(t, ts2, w2, e2b, e3, l2.lines);
    await w2.close();
    const l3 = await listTree(ts2);
    t.ok(lineOf(l3.lines, '/e3') && lineOf(l3.lines, '/zookeeper/quota/deep/zookeeper_limits'), 'zkts listing has its ephemeral and quota');
    await stop(ts2);
    t.same(ourLogProblems(ts2.log()), [], 'zkts logged no warning on ZooKeeper\'s files');
    t.match(ts2.log(), /"msg":"database recovered"/, 'zkts recovered the data dir');
    e2b.drop();
    e3.drop();
    const afterOurs1 = dataFiles(dirs);
    const ours1 = newFiles(beforeOurs1, afterOurs1);
    t.ok(ours1.some((f) => f.kind === 'log') && ours1.some((f) => f.kind === 'snapshot'), `zkts wrote a log and a snapshot: ${ours1.map((f) => path.basename(f.file)).join(', ')}`);
    const lastLogged = await checkWithZooKeeperTools(t, ours1, 'zkts');
    t.equal(lastLogged[lastLogged.length - 1], l3.closeZxid, 'zkts logged every txn up to the last one it acknowledged');

    // 4. ZooKeeper on what zkts wrote.
    t0 = Date.now();
    const zk4 = track(await startZooKeeper(dirs, v));
    const l4 = await listTree(zk4);
    t.same(l4.lines, l3.lines, 'ZooKeeper serves exactly the tree zkts served');
    t.equal(l4.openZxid, l3.closeZxid + 1n, 'ZooKeeper carries on from zkts\'s last zxid');
    const w4 = await connect(zk4, { timeoutMs: LONG_SESSION_MS });
    const e2c = await connect(zk4, { sessionId: e2.sessionId, passwd: e2.passwd, timeoutMs: LONG_SESSION_MS, lastZxidSeen: l3.closeZxid });
    t.equal(e2c.sessionId, e2.sessionId, 'ZooKeeper resumes the session once more');
    t.ok(e2c.timeout > 0, 'and accepts its password');
    const gone3 = await waitGone(w4, '/e3');
    t.ok(gone3 - t0 >= SHORT_SESSION_MS, `the zkts session expired on ZooKeeper after its timeout (${gone3 - t0} ms after start)`);
    t.same(pathsUnder((await listTree(zk4)).lines, '/app/e3-'), [], 'with its ephemeral sequential node');
    await e2c.create('/app/eph-long-3', null, CreateFlag.EPHEMERAL);
    await zooKeeperWritesAgain(t, w4);
    await e2c.close();
    for (const p of ['/app/eph-long', '/app/eph-long-2', '/app/eph-long-3']) t.notOk(await w4.exists(p), `closing the session removed ${p}`);
    await w4.close();
    const l5 = await listTree(zk4);
    await stop(zk4);
    t.same(serverLogProblems(zk4.log()), [], 'ZooKeeper logged no digest, CRC or corruption problem reading zkts\'s files');
    const read4 = /Reading snapshot (\S+)/.exec(zk4.log());
    t.ok(read4 && ours1.some((f) => f.file === path.resolve(read4[1])), `ZooKeeper started from a snapshot zkts wrote (${read4?.[1]})`);
    t.match(zk4.log(), /The digest in the snapshot has digest version of 2, with zxid as 0x[0-9a-f]+/, 'ZooKeeper read the digest section of zkts\'s snapshot');

    // 5. zkts once more, on what ZooKeeper added.
    const beforeOurs2 = dataFiles(dirs);
    const theirs2 = newFiles(afterOurs1, beforeOurs2);
    const ts5 = track(await startOurs(dirs, v));
    const l6 = await listTree(ts5);
    t.same(l6.lines, l5.lines, 'zkts serves exactly the tree ZooKeeper served last');
    t.equal(l6.openZxid, l5.closeZxid + 1n, 'zkts carries on from ZooKeeper\'s last zxid again');
    await stop(ts5);
    t.same(ourLogProblems(ts5.log()), [], 'zkts logged no warning on ZooKeeper\'s files');
    const rec5 = /"snapshot":"([^"]+)"[^\n]*"msg":"database recovered"/.exec(ts5.log());
    t.ok(rec5 && theirs2.some((f) => f.file === rec5[1]), `zkts started from a snapshot ZooKeeper wrote (${rec5?.[1]})`);
    const ours2 = newFiles(beforeOurs2, dataFiles(dirs));
    t.ok(ours2.some((f) => f.kind === 'snapshot'), 'zkts took its start-up snapshot');
    await checkWithZooKeeperTools(t, ours2, 'zkts');
    t.comment(`${v.name}: ${Date.now() - started} ms, files: ${dataFiles(dirs).map((f) => path.basename(f.file)).join(' ')}`);
  });
}

// ZooKeeper's snapshots are fuzzy: a quota's zookeeper_stats node can be saved with counts that do
// not match the saved subtree (e.g. the 'count=0,bytes=0' a quota starts with, caught before the
// server recounted it). ZooKeeper therefore recounts every quota's stats from the tree whenever it
// loads a snapshot (DataTree.setupQuota). The stale counts are made deterministic here by writing
// them with setData, then letting ZooKeeper take its start-up snapshot of them.
t.test('quota stats are recounted from the tree when a snapshot is loaded, as ZooKeeper does', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-datadir-quota-'));
  const v: Variant = { name: 'quota', stopWith: 'SIGTERM', separateLogDir: false };
  const dirs = (name: string): Dirs => ({ dataDir: path.join(root, name), dataLogDir: path.join(root, name) });
  const running = new Set<RunningServer>();
  t.teardown(async () => {
    for (const s of running) await s.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });
  const run = async <T>(start: Promise<RunningServer>, fn: (s: RunningServer) => Promise<T>): Promise<T> => {
    const s = await start;
    running.add(s);
    try {
      return await fn(s);
    } finally {
      await s.stop();
      running.delete(s);
    }
  };
  const statsPath = '/zookeeper/quota/q/zookeeper_stats';
  fs.mkdirSync(dirs('a').dataDir);
  await run(startZooKeeper(dirs('a'), v), async (s) => {
    const w = await Zk.connect(s);
    await w.create('/q', buf('12345'));
    for (let i = 0; i < 4; i++) await w.create(`/q/c${i}`, buf('x'));
    const cli = await runZkCli(s.connectString, ['setquota -n 100 /q']);
    t.equal(cli.exitCode, 0, 'zkCli setquota');
    await w.setData(statsPath, buf('count=0,bytes=0'));
    await w.close();
  });
  // Replays the setData after its recount and saves the stale counts in its start-up snapshot.
  const served = await run(startZooKeeper(dirs('a'), v), async (s) => listTree(s));
  t.match(lineOf(served.lines, statsPath), /data=636f756e743d302c62797465733d30 /, 'the snapshot holds count=0,bytes=0');
  fs.cpSync(dirs('a').dataDir, dirs('b').dataDir, { recursive: true });
  const theirs = await run(startZooKeeper(dirs('a'), v), async (s) => listTree(s));
  const ours = await run(startOurs(dirs('b'), v), async (s) => listTree(s));
  t.match(lineOf(theirs.lines, statsPath), new RegExp(`data=${Buffer.from('count=5,bytes=9').toString('hex')} `), 'ZooKeeper recounts: count=5,bytes=9');
  t.same(ours.lines, theirs.lines, 'zkts serves what ZooKeeper serves from the same files');
});
