// The txn log against Apache ZooKeeper 3.8 itself: (a) every txn kind the reference server logs
// decodes and re-encodes to the identical entry bytes; (b) a log zkts writes is read by ZooKeeper's
// own TxnLogToolkit and replayed by the reference server at start.

import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zookeeper from 'node-zookeeper-client';
import { javaClasspath, startReferenceZooKeeper } from '../test/util/servers';
import { log4jOffConfig, runMerged, withTimeout } from './util/harness';
import { OpCode } from '../src/protocol/constants';
import type { Txn, TxnBody } from '../src/storage/txn';
import { deserializeTxn, serializeTxn, txnTypeName } from '../src/storage/txnserde';
import { listLogFiles, readTxnLog, TxnLogWriter, TXNLOG_MAGIC } from '../src/storage/txnlog';

const JAVA_TIMEOUT_MS = 90_000;

// Drives every kind of write through the Java client; prints one line per step.
const SCENARIO_JAVA = `
import java.util.*;
import java.util.concurrent.*;
import org.apache.zookeeper.*;
import org.apache.zookeeper.data.*;

public class LogScenario {
  static ZooKeeper connect(String cs) throws Exception {
    CountDownLatch up = new CountDownLatch(1);
    ZooKeeper zk = new ZooKeeper(cs, 30000, e -> { if (e.getState() == Watcher.Event.KeeperState.SyncConnected) up.countDown(); });
    if (!up.await(20, TimeUnit.SECONDS)) throw new RuntimeException("no connection");
    return zk;
  }
  interface Step { void run() throws Exception; }
  static void step(String name, Step s) {
    try { s.run(); System.out.println(name + " ok"); }
    catch (KeeperException e) { System.out.println(name + " " + e.code()); }
    catch (Exception e) { System.out.println(name + " FAILED " + e); System.exit(3); }
  }
  public static void main(String[] a) throws Exception {
    ZooKeeper zk = connect(a[0]);
    ZooKeeper other = connect(a[0]);
    List<ACL> open = ZooDefs.Ids.OPEN_ACL_UNSAFE;
    Stat st = new Stat();
    step("create", () -> zk.create("/p", "d1".getBytes(), open, CreateMode.PERSISTENT));
    step("create2", () -> zk.create("/p/c2", "x".getBytes(), open, CreateMode.PERSISTENT, st));
    step("ephemeral", () -> zk.create("/p/e", "e".getBytes(), open, CreateMode.EPHEMERAL));
    step("ephemeralSeq", () -> zk.create("/p/es-", new byte[0], open, CreateMode.EPHEMERAL_SEQUENTIAL));
    step("persistentSeq", () -> zk.create("/p/s-", null, open, CreateMode.PERSISTENT_SEQUENTIAL));
    step("otherEphemeral", () -> other.create("/o", "o".getBytes(), open, CreateMode.EPHEMERAL));
    step("container", () -> zk.create("/c", null, open, CreateMode.CONTAINER));
    step("containerChild", () -> zk.create("/c/child", null, open, CreateMode.PERSISTENT));
    step("ttl", () -> zk.create("/ttl", "t".getBytes(), open, CreateMode.PERSISTENT_WITH_TTL, st, 100000));
    step("ttlSeq", () -> zk.create("/ttls-", "t".getBytes(), open, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, st, 100000));
    step("setData", () -> zk.setData("/p", "d2".getBytes(), 0));
    step("setACL", () -> zk.setACL("/p/c2", Arrays.asList(
        new ACL(ZooDefs.Perms.ALL, new Id("digest", "u:yHbl5mC0JHUZtD4cjmE2mBdxIjc=")),
        new ACL(ZooDefs.Perms.READ, ZooDefs.Ids.ANYONE_ID_UNSAFE)), -1));
    step("delete", () -> zk.delete("/p/s-0000000003", -1));
    step("multiOk", () -> zk.multi(Arrays.asList(
        Op.check("/p", 1),
        Op.create("/m", "m".getBytes(), open, CreateMode.PERSISTENT),
        Op.setData("/m", "n".getBytes(), -1),
        Op.create("/mc", null, open, CreateMode.CONTAINER),
        Op.create("/mt", null, open, CreateMode.PERSISTENT_WITH_TTL, 5000),
        Op.delete("/m", -1))));
    step("multiFailed", () -> zk.multi(Arrays.asList(
        Op.create("/m2", null, open, CreateMode.PERSISTENT),
        Op.delete("/nonexistent", -1),
        Op.setData("/p", null, -1))));
    step("createExisting", () -> zk.create("/p", null, open, CreateMode.PERSISTENT));
    step("badVersion", () -> zk.setData("/p", null, 99));
    step("emptyContainer", () -> zk.delete("/c/child", -1));
    long deadline = System.currentTimeMillis() + 30000;
    while (zk.exists("/c", false) != null && System.currentTimeMillis() < deadline) Thread.sleep(50);
    System.out.println("containerGone " + (zk.exists("/c", false) == null));
    other.close();
    zk.close();
    System.out.println("done");
  }
}
`;

interface RawEntry {
  file: string;
  offset: number;
  bytes: Buffer;
}

/** The entries of a log file, framed as ZooKeeper frames them, read without the code under test. */
function rawEntries(file: string): RawEntry[] {
  const b = fs.readFileSync(file);
  if (b.readInt32BE(0) !== TXNLOG_MAGIC) throw new Error(`${file}: bad magic`);
  const out: RawEntry[] = [];
  let off = 16;
  while (off + 12 <= b.length) {
    const len = b.readInt32BE(off + 8);
    if (len === 0) break;
    out.push({ file, offset: off, bytes: b.subarray(off + 12, off + 12 + len) });
    if (b[off + 12 + len] !== 0x42) throw new Error(`${file} offset ${off}: no end-of-record byte`);
    off += 13 + len;
  }
  return out;
}

t.test('every txn ZooKeeper 3.8 logs decodes and re-encodes to identical bytes', async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'txnlog-compat-'));
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  fs.writeFileSync(path.join(work, 'LogScenario.java'), SCENARIO_JAVA);
  const zk = await startReferenceZooKeeper({
    jvmFlags: ['-Dzookeeper.extendedTypesEnabled=true', '-Dznode.container.checkIntervalMs=100'],
    extraConfig: { preAllocSize: '64' },
  });
  t.teardown(() => zk.stop());
  const run = await runMerged(
    'java',
    [`-Dlog4j.configuration=file:${log4jOffConfig()}`, '-cp', javaClasspath(), path.join(work, 'LogScenario.java'), zk.connectString],
    '',
    JAVA_TIMEOUT_MS,
  );
  t.equal(run.code, 0, run.output);
  t.match(run.output, /multiFailed NONODE/);
  t.match(run.output, /createExisting NODEEXISTS/);
  t.match(run.output, /badVersion BADVERSION/);
  t.match(run.output, /containerGone true/);
  // Copy the log while the server runs (the launcher removes its data dir on stop); every write
  // above was acknowledged, so it is in the file.
  const copy = path.join(work, 'data');
  fs.mkdirSync(path.join(copy, 'version-2'), { recursive: true });
  for (const f of listLogFiles(zk.dataDir)) fs.copyFileSync(f.file, path.join(copy, 'version-2', path.basename(f.file)));
  await zk.stop();

  const files = listLogFiles(copy);
  t.ok(files.length >= 1, 'ZooKeeper wrote a log');
  t.equal(fs.statSync(files[0].file).size, 64 * 1024 + 16, 'preAllocSize=64 (KiB): the file is one step past its header');
  const raw = files.flatMap((f) => rawEntries(f.file));
  const entries = [...readTxnLog(copy, 0n)];
  t.equal(entries.length, raw.length, 'readTxnLog reads every entry, without a tail');
  const seen = new Map<string, number>();
  const withoutDigest: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const r = raw[i];
    const d = deserializeTxn(r.bytes);
    const name = txnTypeName(d.txn.hdr.type);
    seen.set(name, (seen.get(name) ?? 0) + 1);
    if (!d.digest) withoutDigest.push(`${name}${d.txn.body.type === OpCode.error ? `(${d.txn.body.record.err})` : ''}`);
    t.equal(d.legacy, undefined, `${name} at ${r.offset}: current layout`);
    const again = serializeTxn(d.txn, d.digest, d.legacy);
    t.ok(again.equals(r.bytes), `${name} at ${r.offset} re-encodes identically`);
    t.same(entries[i].txn, d.txn);
    t.equal(entries[i].offset, r.offset);
    if (d.txn.body.type === OpCode.multi) for (const sub of d.txn.body.record.txns) seen.set(`multi/${txnTypeName(sub.type)}`, 1);
  }
  // ZooKeeper 3.8 appends a TxnDigest to every entry except the error txn of a failed write.
  t.same(withoutDigest, ['error(-110)', 'error(-103)'], 'only error txns lack a digest');
  for (const kind of [
    'createSession',
    'create',
    'create2',
    'createContainer',
    'createTtl',
    'setData',
    'setACL',
    'delete',
    'deleteContainer',
    'multi',
    'error',
    'closeSession',
    'multi/check',
    'multi/create',
    'multi/createContainer',
    'multi/createTtl',
    'multi/setData',
    'multi/delete',
    'multi/error',
  ]) {
    t.ok(seen.has(kind), `the log holds ${kind}`);
  }
  // closeSession lists the session's ephemerals.
  const closes = entries.filter((e) => e.txn.body.type === OpCode.closeSession).map((e) => e.txn.body.record as { paths2Delete: string[] });
  t.same(closes.map((c) => [...c.paths2Delete].sort()), [['/o'], ['/p/e', '/p/es-0000000002']]);
  // The failed multi: the op before the failure logged as it was prepared, the failure, then
  // RUNTIMEINCONSISTENCY for the rest.
  const failed = entries.find((e) => e.txn.body.type === OpCode.multi && e.txn.body.record.txns.some((s) => s.type === OpCode.error));
  t.same(
    failed && (failed.txn.body.record as { txns: TxnBody[] }).txns.map((s) => [s.type, s.type === OpCode.error ? s.record.err : null]),
    [
      [OpCode.create, null],
      [OpCode.error, -101],
      [OpCode.error, -2],
    ],
  );
  t.comment(`txn kinds: ${[...seen].map(([k, n]) => `${k}=${n}`).join(' ')}`);
});

const SESSION = 0x100000abcdef0001n;

function txn(zxid: bigint, body: TxnBody, type: number = body.type): Txn {
  return { hdr: { clientId: SESSION, cxid: Number(zxid), zxid, time: BigInt(Date.now()), type }, body };
}

const OPEN = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];

/** A history that replays on an empty tree: zxids 1.. in order, parent cversions as they would be. */
function history(): Txn[] {
  const bodies: TxnBody[] = [
    { type: OpCode.createSession, record: { timeOut: 30000 } },
    { type: OpCode.create2, record: { path: '/a', data: Buffer.from('one'), acl: OPEN, ephemeral: false, parentCVersion: 1 } },
    { type: OpCode.setData, record: { path: '/a', data: Buffer.from('two'), version: 1 } },
    { type: OpCode.create, record: { path: '/a/eph', data: null, acl: OPEN, ephemeral: true, parentCVersion: 1 } },
    { type: OpCode.createContainer, record: { path: '/box', data: Buffer.from('c'), acl: OPEN, parentCVersion: 2 } },
    { type: OpCode.createTTL, record: { path: '/ttl', data: Buffer.from('t'), acl: OPEN, parentCVersion: 3, ttl: 3_600_000n } },
    { type: OpCode.setACL, record: { path: '/ttl', acl: [{ perms: 1, id: { scheme: 'world', id: 'anyone' } }], version: 1 } },
    { type: OpCode.error, record: { err: -110 } },
    {
      type: OpCode.multi,
      record: {
        txns: [
          { type: OpCode.check, record: { path: '/a', version: 1 } },
          { type: OpCode.create, record: { path: '/a/m', data: Buffer.from('m'), acl: OPEN, ephemeral: false, parentCVersion: 2 } },
          { type: OpCode.setData, record: { path: '/a/m', data: Buffer.from('mm'), version: 1 } },
        ],
      },
    },
    {
      type: OpCode.multi,
      record: {
        txns: [
          { type: OpCode.error, record: { err: 0 } },
          { type: OpCode.error, record: { err: -101 } },
        ],
      },
    },
    { type: OpCode.delete, record: { path: '/box' } },
    { type: OpCode.closeSession, record: { paths2Delete: ['/a/eph'] } },
  ];
  return bodies.map((b, i) => txn(BigInt(i + 1), b));
}

async function writeHistory(dir: string, digests: boolean): Promise<Txn[]> {
  const txns = history();
  const w = new TxnLogWriter(dir, { preAllocBytes: 64 * 1024, forceSync: true });
  for (const [i, x] of txns.entries()) {
    // Digests on some entries only: ZooKeeper reads either.
    w.append(x, digests && i % 2 === 0 ? { version: 2, treeDigest: 0n } : undefined);
    if (i % 4 === 3) await w.commit();
  }
  await w.commit();
  await w.close();
  return txns;
}

t.test("ZooKeeper's TxnLogToolkit dumps a log zkts wrote", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'txnlog-toolkit-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const txns = await writeHistory(dir, true);
  const file = listLogFiles(dir)[0].file;
  const run = await runMerged(
    'java',
    [
      `-Dlog4j.configuration=file:${log4jOffConfig()}`,
      '-cp',
      javaClasspath(),
      'org.apache.zookeeper.server.persistence.TxnLogToolkit',
      '-d',
      file,
    ],
    '',
    JAVA_TIMEOUT_MS,
  );
  t.equal(run.code, 0, run.output);
  t.match(run.output, /ZooKeeper Transactional Log File with dbid 0 txnlog format version 2/);
  t.match(run.output, new RegExp(`EOF reached after ${txns.length} txns\\.`));
  t.notMatch(run.output, /CRC ERROR|Exception|partial/);
  for (const x of txns) {
    const name = txnTypeName(x.hdr.type);
    t.match(run.output, new RegExp(`session 0x${SESSION.toString(16)} cxid 0x${x.hdr.cxid.toString(16)} zxid 0x${x.hdr.zxid.toString(16)} ${name}`), `${name} listed`);
  }
  t.match(run.output, / create2 \/a,one,/);
  t.match(run.output, / multi check:.*;create:.*;setData:/);
});

t.test('the reference server replays a log zkts wrote', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'txnlog-replay-'));
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  await writeHistory(dataDir, false);
  // Without a snapshot ZooKeeper only replays a log it is told to trust from an empty tree.
  const zk = await startReferenceZooKeeper({
    extraConfig: { dataDir },
    jvmFlags: ['-Dzookeeper.extendedTypesEnabled=true', '-Dzookeeper.snapshot.trust.empty=true'],
  });
  t.teardown(() => zk.stop());
  const client = zookeeper.createClient(zk.connectString, { sessionTimeout: 10_000, retries: 0 });
  const connected = new Promise<void>((resolve) => client.once('connected', () => resolve()));
  client.connect();
  t.teardown(() => client.close());
  await withTimeout(connected, 20_000, 'connect');
  const getData = (p: string) =>
    new Promise<{ data: Buffer | undefined; stat: zookeeper.Stat }>((resolve, reject) =>
      client.getData(p, undefined, (err, data, stat) => (err ? reject(err) : resolve({ data, stat }))),
    );
  const exists = (p: string) => new Promise<boolean>((resolve, reject) => client.exists(p, undefined, (err, stat) => (err ? reject(err) : resolve(!!stat))));
  const children = (p: string) =>
    new Promise<string[]>((resolve, reject) => client.getChildren(p, undefined, (err, c) => (err ? reject(err) : resolve(c))));
  const a = await getData('/a');
  t.equal(a.data?.toString(), 'two');
  t.equal(a.stat.version, 1);
  t.equal(a.stat.czxid.readBigInt64BE(0), 2n);
  t.equal(a.stat.mzxid.readBigInt64BE(0), 3n);
  const m = await getData('/a/m');
  t.equal(m.data?.toString(), 'mm');
  t.equal(m.stat.czxid.readBigInt64BE(0), 9n);
  t.notOk(await exists('/a/eph'), 'closeSession removed the ephemeral');
  t.notOk(await exists('/box'), 'deleted');
  t.ok(await exists('/ttl'));
  t.same((await children('/')).sort(), ['a', 'ttl', 'zookeeper']);
  t.pass(`reference server replayed the log (${zk.connectString})`);
});
