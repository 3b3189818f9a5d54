// ZooKeeper 3.9's AdminServer snapshot and restore commands, zkts against ZooKeeper 3.9.5 in one run:
// a snapshot taken from one server restores into the other (both ways), each restore answers as
// 3.9.5 does (status, last_zxid), the restored server serves exactly the tree the snapshot holds
// (every Stat field), takes writes after it, and the rate limit, a corrupt body and the metrics
// behave alike. zkts also keeps the restored tree across a restart (checked on zkts only: it writes
// the restored tree as a snapshot before it serves it).

import t from 'tap';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateFlag } from '../src/protocol/constants';
import { fourLetterWord, freePort, startReferenceZooKeeper, startZkts, type RunningServer } from '../test/util/servers';
import { Zk } from './datadir/zk';
import { delay } from './util/harness';

const SESSION_MS = 30_000;
/** The restore limiter's interval (ms): short, so that the test can wait it out. */
const RATE_INTERVAL_MS = 1000;
const AUTH = { Authorization: 'digest restorer:pw' };
const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(port: number, urlPath: string, method: string, body?: Buffer): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, headers: { ...AUTH, ...(body ? { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${urlPath}: no answer`)));
    req.end(body);
  });
}

interface Side {
  name: string;
  server: RunningServer;
  adminPort: number;
}

async function snapshotOf(side: Side): Promise<{ bytes: Buffer; lastZxid: string }> {
  const r = await request(side.adminPort, '/commands/snapshot', 'GET');
  if (r.status !== 200) throw new Error(`${side.name}: snapshot answered ${r.status}: ${r.body.toString()}`);
  return { bytes: r.body, lastZxid: String(r.headers.last_zxid) };
}

async function restore(side: Side, bytes: Buffer): Promise<{ status: number; json: unknown }> {
  const r = await request(side.adminPort, '/commands/restore', 'POST', bytes);
  let json: unknown;
  try {
    json = JSON.parse(r.body.toString());
  } catch {
    json = r.body.toString();
  }
  return { status: r.status, json };
}

async function listing(server: RunningServer): Promise<string[]> {
  const c = await Zk.connect(server, { timeoutMs: SESSION_MS });
  const lines = await c.listing();
  await c.close();
  c.drop();
  // /zookeeper/config and /zookeeper/quota are the server's own, not the snapshot's.
  return lines.filter((l) => !l.startsWith('/zookeeper'));
}

async function mntrValues(server: RunningServer, keys: string[]): Promise<Record<string, string>> {
  const text = await fourLetterWord(server.host, server.port, 'mntr');
  const all = new Map(text.split('\n').map((l) => l.split('\t') as [string, string]));
  return Object.fromEntries(keys.map((k) => [k, all.get(k) ?? 'missing']));
}

/** The same small tree on a server, with an ephemeral of a session left open (sessions are in snapshots). */
async function populate(server: RunningServer, label: string): Promise<Zk> {
  const c = await Zk.connect(server, { timeoutMs: SESSION_MS });
  await c.create(`/${label}`, buf(`from ${label}`));
  await c.create(`/${label}/a`, buf('a'));
  await c.setData(`/${label}/a`, buf('a2'));
  await c.create(`/${label}/seq-`, null, CreateFlag.PERSISTENT_SEQUENTIAL);
  await c.create(`/${label}/eph`, buf('e'), CreateFlag.EPHEMERAL);
  return c;
}

t.test('snapshot and restore between ZooKeeper 3.9.5 and zkts', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-restore-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const props = { 'zookeeper.admin.rateLimiterIntervalInMS': String(RATE_INTERVAL_MS) };
  const adminConfig = async () => {
    const adminPort = await freePort();
    return { adminPort, extraConfig: { 'admin.enableServer': 'true', 'admin.serverPort': String(adminPort), 'admin.serverAddress': '127.0.0.1' } };
  };
  const zkAdmin = await adminConfig();
  const zk: Side = {
    name: 'ZooKeeper 3.9.5',
    adminPort: zkAdmin.adminPort,
    server: await startReferenceZooKeeper({ version: '3.9.5', extraConfig: zkAdmin.extraConfig, jvmFlags: Object.entries(props).map(([k, v]) => `-D${k}=${v}`) }),
  };
  t.teardown(() => zk.server.stop());
  const zktsDataDir = path.join(root, 'zkts-data');
  const tsAdmin = await adminConfig();
  const tsConfig = { ...tsAdmin.extraConfig, dataDir: zktsDataDir };
  let ts: Side = { name: 'zkts', adminPort: tsAdmin.adminPort, server: await startZkts({ extraConfig: tsConfig, systemProps: props }) };
  t.teardown(() => ts.server.stop());

  const zkClient = await populate(zk.server, 'fromzk');
  const tsClient = await populate(ts.server, 'fromzkts');
  const zkSnap = await snapshotOf(zk);
  const tsSnap = await snapshotOf(ts);
  const zkTree = await listing(zk.server);
  const tsTree = await listing(ts.server);
  zkClient.drop();
  tsClient.drop();

  // Each restores the other's snapshot.
  const onTs = await restore(ts, zkSnap.bytes);
  const onZk = await restore(zk, tsSnap.bytes);
  t.equal(onZk.status, 200, `ZooKeeper restores zkts's snapshot: ${JSON.stringify(onZk.json)}`);
  t.same(onTs, { status: 200, json: { last_zxid: Number(BigInt(zkSnap.lastZxid)), command: 'restore', error: null } }, 'zkts restores ZooKeeper\'s snapshot and answers its last zxid');
  t.same(onZk.json, { last_zxid: Number(BigInt(tsSnap.lastZxid)), command: 'restore', error: null }, 'ZooKeeper reads the last zxid section of zkts\'s snapshot');
  t.same(await listing(ts.server), zkTree, 'zkts serves the tree ZooKeeper had, every Stat field');
  t.same(await listing(zk.server), tsTree, 'ZooKeeper serves the tree zkts had, every Stat field');

  // Writes go on after the restore; sessions in the snapshot were restored with it.
  const after = await Zk.connect(ts.server, { timeoutMs: SESSION_MS });
  await after.create('/after-restore', buf('x'));
  const afterZxid = await after.close();
  after.drop();
  t.ok(afterZxid > BigInt(zkSnap.lastZxid), 'a write after the restore gets a later zxid');
  const restoredAndMore = await listing(ts.server);

  // zkts keeps the restored tree across a restart.
  await ts.server.stop();
  ts = { ...ts, server: await startZkts({ extraConfig: tsConfig, systemProps: props }) };
  t.same(await listing(ts.server), restoredAndMore, 'after a restart zkts serves the restored tree and the write after it');

  // The rate limit (one restore per interval), then a body that is no snapshot: the same answers.
  await delay(RATE_INTERVAL_MS + 200);
  const [okTs, okZk] = [await restore(ts, zkSnap.bytes), await restore(zk, zkSnap.bytes)];
  const [limitedTs, limitedZk] = [await restore(ts, zkSnap.bytes), await restore(zk, zkSnap.bytes)];
  t.same([okTs.status, limitedTs.status], [okZk.status, limitedZk.status], `a second restore within the interval: ${limitedZk.status} on both`);
  t.equal(limitedTs.status, 429);
  await delay(RATE_INTERVAL_MS + 200);
  const garbage = Buffer.concat([zkSnap.bytes.subarray(0, 200), Buffer.from('not the rest of a snapshot')]);
  const [badTs, badZk] = [await restore(ts, garbage), await restore(zk, garbage)];
  t.same(badTs, badZk, `a corrupt snapshot: ${badZk.status} on both`);
  t.equal(badTs.status, 500);
  t.same(await listing(ts.server), zkTree, 'the corrupt one changed nothing');

  const keys = ['zk_restore_rate_limited_count', 'zk_restore_error_count', 'zk_cnt_restore_time', 'zk_snapshot_error_count'];
  // zkts restarted after its first restore: its counts start again there.
  t.same(await mntrValues(ts.server, keys), { zk_restore_rate_limited_count: '1', zk_restore_error_count: '1', zk_cnt_restore_time: '1', zk_snapshot_error_count: '0' }, 'zkts counts the limited, failed and timed restores');
  t.same(await mntrValues(zk.server, keys), { zk_restore_rate_limited_count: '1', zk_restore_error_count: '1', zk_cnt_restore_time: '2', zk_snapshot_error_count: '0' }, 'as ZooKeeper does');
});
