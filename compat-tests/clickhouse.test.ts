// ClickHouse 18.16 (Debian bookworm's clickhouse-server) as a client: its own ZooKeeper client is
// older than read-only mode, so it sends a ConnectRequest without the readOnly flag and accepts
// only the 36-byte ConnectResponse. Two ClickHouse servers share a ReplicatedMergeTree table
// through the server under test: inserts on both replicas, deduplication of a repeated block (on
// the same replica and on the other), ALTER ADD COLUMN reaching the other replica, and one replica
// SIGKILLed and started again, catching up with rows inserted while it was down (its old session
// has to expire first). The same scenario runs against Apache ZooKeeper 3.8.0 and against zkts and
// the outcomes (rows, columns, replica states, the table's znodes) must be the same.

import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import { dumpTranscript, startTarget, waitFor, type TargetName } from './util/harness';
import { ClickHouseServer, CLICKHOUSE_SERVER } from './clickhouse/server';

// Short ticks, so that the killed replica's session expires within seconds.
const SERVER_CONFIG = { tickTime: '500' };
const ZK_SESSION_TIMEOUT_MS = 3_000;
const TABLE_PATH = '/clickhouse/tables/t';
const REPLICATION_WAIT_MS = 30_000;
const CATCH_UP_WAIT_MS = 60_000;
const POLL_MS = 100;
const HANDSHAKE_ERROR = /Unexpected handshake length|Marshalling error/;

type Outcome = Array<[string, unknown]>;

function rows(tsv: string): string[] {
  return tsv.split('\n').filter((l) => l !== '');
}

/** Waits until `read` returns `want`, with a bound; returns the last value read. */
async function waitValue(read: () => Promise<string>, want: string, timeoutMs: number, what: string): Promise<string> {
  let last = '';
  await waitFor(
    async () => {
      last = await read().catch((e: Error) => `error: ${e.message}`);
      return last === want;
    },
    timeoutMs,
    `${what} (last: ${JSON.stringify(last.slice(0, 300))})`,
    POLL_MS,
  );
  return last;
}

async function scenario(t: Test, target: TargetName): Promise<Outcome> {
  const out: Outcome = [];
  const timings: Record<string, number> = {};
  let mark = Date.now();
  const lap = (name: string): void => {
    const now = Date.now();
    timings[name] = now - mark;
    mark = now;
  };
  const zk = await startTarget(target, { extraConfig: SERVER_CONFIG });
  const replicas: ClickHouseServer[] = [];
  t.teardown(async () => {
    for (const r of replicas) await r.remove();
    await zk.stop();
  });
  const launch = (replica: string) =>
    ClickHouseServer.launch({
      name: `${target}/${replica}`,
      zookeeper: { host: zk.host, port: zk.port },
      zookeeperSessionTimeoutMs: ZK_SESSION_TIMEOUT_MS,
      shard: '01',
      replica,
    }).then((r) => {
      replicas.push(r);
      return r;
    });
  const [r1, r2] = await Promise.all([launch('r1'), launch('r2')]);
  lap('start two ClickHouse servers');

  const ddl = `CREATE TABLE t (k UInt32, v String) ENGINE = ReplicatedMergeTree('${TABLE_PATH}', '{replica}') PARTITION BY tuple() ORDER BY k`;
  await r1.query(ddl);
  await r2.query(ddl);
  lap('create the replicated table on both');

  const all = (r: ClickHouseServer) => r.query('SELECT k, v FROM t ORDER BY k').then(rows);
  const count = (r: ClickHouseServer) => r.query('SELECT count() FROM t').then((s) => s.trim());
  const sync = async () => {
    await r1.query('SYSTEM SYNC REPLICA t', REPLICATION_WAIT_MS);
    await r2.query('SYSTEM SYNC REPLICA t', REPLICATION_WAIT_MS);
  };

  await r1.query("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')");
  await r2.query("INSERT INTO t VALUES (4, 'd'), (5, 'e')");
  await sync();
  out.push(['after inserts on both: r1', await all(r1)]);
  out.push(['after inserts on both: r2', await all(r2)]);
  t.same(await all(r1), ['1\ta', '2\tb', '3\tc', '4\td', '5\te'], `${target}: r1 has the rows of both replicas`);
  t.same(await all(r2), await all(r1), `${target}: r2 has the same rows`);
  lap('insert on both, sync');

  // The same block again, on the same replica and on the other: both are dropped by the block id.
  const block = "INSERT INTO t VALUES (6, 'f'), (7, 'g')";
  await r1.query(block);
  await r1.query(block);
  await r2.query(block);
  await sync();
  out.push(['after a block inserted three times: counts', [await count(r1), await count(r2)]]);
  t.same([await count(r1), await count(r2)], ['7', '7'], `${target}: the repeated block is kept once`);
  lap('deduplication');

  await r1.query('ALTER TABLE t ADD COLUMN w UInt8 DEFAULT 7');
  const columns = (r: ClickHouseServer) =>
    r.query("SELECT name, type FROM system.columns WHERE database = 'default' AND table = 't'").then(rows);
  await waitValue(() => columns(r2).then((c) => c.join(',')), 'k\tUInt32,v\tString,w\tUInt8', REPLICATION_WAIT_MS, `${target}: the new column on r2`);
  out.push(['columns after ALTER: r1', await columns(r1)]);
  out.push(['columns after ALTER: r2', await columns(r2)]);
  await r2.query("INSERT INTO t (k, v, w) VALUES (8, 'h', 9)");
  await sync();
  out.push(['r1 reads the new column', rows(await r1.query('SELECT k, w FROM t WHERE k >= 7 ORDER BY k'))]);
  lap('ALTER ADD COLUMN');

  // A crash of r2: its session stays until it expires; r1 goes on taking rows.
  await r2.kill();
  await r1.query("INSERT INTO t (k, v) VALUES (9, 'i')");
  await r1.query("INSERT INTO t (k, v, w) VALUES (10, 'j', 1), (11, 'k', 2)");
  lap('kill r2, insert on r1');
  await r2.start();
  lap('start r2 again');
  const expected = (await count(r1)).trim();
  await waitValue(() => count(r2), expected, CATCH_UP_WAIT_MS, `${target}: r2 catching up to ${expected} rows`);
  // Writable again: the restarted replica's own insert reaches r1.
  await waitFor(
    async () => (await r2.query("SELECT is_readonly FROM system.replicas WHERE table = 't'").catch(() => '')).trim() === '0',
    CATCH_UP_WAIT_MS,
    `${target}: r2 leaving read-only mode`,
    POLL_MS,
  );
  await r2.query("INSERT INTO t (k, v) VALUES (12, 'l')");
  await sync();
  lap('r2 catches up, writes again');
  const full = (r: ClickHouseServer) => r.query('SELECT k, v, w FROM t ORDER BY k').then(rows);
  out.push(['after the restart: r1', await full(r1)]);
  out.push(['after the restart: r2', await full(r2)]);
  t.same(await full(r2), await full(r1), `${target}: both replicas agree after the restart`);
  t.equal((await full(r1)).length, 12, `${target}: every distinct row is there once`);

  const replicaState = (r: ClickHouseServer) =>
    r.query("SELECT is_readonly, is_session_expired, total_replicas, active_replicas, inserts_in_queue FROM system.replicas WHERE table = 't'").then(rows);
  out.push(['system.replicas: r1', await replicaState(r1)]);
  out.push(['system.replicas: r2', await replicaState(r2)]);
  const children = (p: string) => r1.query(`SELECT name FROM system.zookeeper WHERE path = '${p}' ORDER BY name`).then(rows);
  out.push(['znodes of the table', await children(TABLE_PATH)]);
  out.push(['replicas', await children(`${TABLE_PATH}/replicas`)]);
  out.push(['block ids kept for deduplication', (await children(`${TABLE_PATH}/blocks`)).length]);
  out.push(['znodes of replica r2 (is_active is the ephemeral of its session)', await children(`${TABLE_PATH}/replicas/r2`)]);

  for (const r of [r1, r2]) t.same(r.logLines(HANDSHAKE_ERROR), [], `${r.name}: no handshake errors in the log`);
  const rss = [r1, r2].map((r) => `${r.name} RSS ${r.rssMb()} MB`).join(', ');
  t.comment(`${target}: ${Object.entries(timings).map(([k, v]) => `${k} ${v} ms`).join('; ')}; ${rss}`);
  dumpTranscript('clickhouse', target, out.map(([k, v]) => `${k}: ${JSON.stringify(v)}`));
  return out;
}

t.test('ClickHouse 18.16 replicas through zkts and through ZooKeeper', { skip: !fs.existsSync(CLICKHOUSE_SERVER) && `${CLICKHOUSE_SERVER} not installed (scripts/install-deps.sh)` }, async (t) => {
  const outcomes: Partial<Record<TargetName, Outcome>> = {};
  // ClickHouse's run is long: against ZooKeeper 3.8.0 and zkts only, not 3.9.5 too.
  for (const target of ['reference', 'zkts'] as const) {
    await t.test(target, async (t) => {
      outcomes[target] = await scenario(t, target);
    });
  }
  t.same(outcomes.zkts, outcomes.reference, 'zkts and ZooKeeper give the same outcome');
});
