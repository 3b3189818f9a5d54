// Storage faults in a real server process. Named failpoints (zkts.failpoints) end zkts with exit
// code 10 and a restart recovers every acknowledged write; and the same descriptor starvation
// (`prlimit --nofile`, a client holding the descriptors, a log roll) is done to ZooKeeper 3.8.0
// and to zkts in one run, comparing exit codes and what a restart recovers.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ZkClient, waitFor } from './util/client';
import { startReferenceZooKeeper, startZkts, type RunningServer } from './util/servers';

const HOST = '127.0.0.1';
const EXIT_WAIT_MS = 30_000;

/** Creates /w-0, /w-1, ... one after another until one is not acknowledged; the acknowledged ones. */
async function writeUntilRefused(c: ZkClient, max: number, prefix = '/w-'): Promise<string[]> {
  const acked: string[] = [];
  for (let i = 0; i < max; i++) {
    const p = `${prefix}${i}`;
    const r = await c.create(p).catch(() => undefined);
    if (!r || r.header.err !== 0) break;
    acked.push(p);
  }
  return acked;
}

async function exitCodeOf(s: RunningServer): Promise<number | null | 'still running'> {
  // A timer that holds the test process open: the child process does not.
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), EXIT_WAIT_MS)));
  const r = await Promise.race([s.exited!, timeout]);
  clearTimeout(timer);
  return r === 'still running' ? r : r.code;
}

/** Which of `paths` a fresh server on the same data holds. */
async function presentAfterRestart(start: () => Promise<RunningServer>, paths: string[]): Promise<{ present: number; missing: string[] }> {
  const s = await start();
  try {
    const c = await ZkClient.connect(HOST, s.port);
    const missing: string[] = [];
    for (const p of paths) if ((await c.exists(p)).header.err !== 0) missing.push(p);
    c.destroy();
    return { present: paths.length - missing.length, missing };
  } finally {
    await s.stop();
  }
}

function tempDataDir(t: { teardown(fn: () => unknown): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-storagefail-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

for (const failpoint of ['fsync:eio@25', 'write:short@25', 'write:enospc@25']) {
  t.test(`failpoint ${failpoint}: exit code 10 with one fatal line; a restart has every acknowledged write`, async (t) => {
    const dataDir = tempDataDir(t);
    const s = await startZkts({ extraConfig: { dataDir }, systemProps: { 'zkts.failpoints': failpoint } });
    t.teardown(() => s.stop());
    const c = await ZkClient.connect(HOST, s.port);
    const acked = await writeUntilRefused(c, 200);
    t.ok(acked.length > 0 && acked.length < 200, `some writes acknowledged before the fault (${acked.length})`);
    t.equal(await exitCodeOf(s), 10, 'exit code 10');
    const fatal = s.log().split('\n').filter((l) => l.includes('"level":60'));
    t.equal(fatal.length, 1, 'one fatal line');
    t.match(fatal[0], /Severe unrecoverable error/);
    const after = await presentAfterRestart(() => startZkts({ extraConfig: { dataDir } }), acked);
    t.same(after.missing, [], `all ${acked.length} acknowledged writes recovered`);
  });
}

t.test('failpoint open:emfile for a few opens: writes wait, then go on; no exit', async (t) => {
  const dataDir = tempDataDir(t);
  // Opens 1-2 are the start's; the first log file (at the first session) meets the fault.
  const s = await startZkts({ extraConfig: { dataDir }, systemProps: { 'zkts.failpoints': 'open:emfile@1x4' } });
  t.teardown(() => s.stop());
  const c = await ZkClient.connect(HOST, s.port);
  t.same(await writeUntilRefused(c, 20), Array.from({ length: 20 }, (_, i) => `/w-${i}`), 'every write acknowledged');
  t.match(s.log(), /cannot open a txn log file; writes wait/);
  t.match(s.log(), /txn log file opened; writes go on/);
  await s.stop();
  t.equal((await s.exited!).code === 10, false, 'it did not exit with code 10');
});

t.test('failpoint open:enfile that does not clear: exit code 10 after zkts.storage.openRetryMs', async (t) => {
  const dataDir = tempDataDir(t);
  const s = await startZkts({ extraConfig: { dataDir }, systemProps: { 'zkts.failpoints': 'open:enfile', 'zkts.storage.openRetryMs': '1000' } });
  t.teardown(() => s.stop());
  const started = Date.now();
  const c = await ZkClient.connect(HOST, s.port, {}, 5000).catch(() => undefined);
  t.notOk(c, 'no session: its createSession could not be logged');
  t.equal(await exitCodeOf(s), 10);
  t.ok(Date.now() - started >= 900, 'not before the bound');
});

/**
 * zkts keeps descriptors free of client connections (zkts.cnxn.descriptorReserve), so that with
 * the default reserve clients never starve its log roll (test/cnxnlimits.test.ts); the reserve is
 * turned off here to reach the open failure and its policy.
 */
const NO_DESCRIPTOR_RESERVE = { 'zkts.cnxn.descriptorReserve': '0' };

/**
 * Runs one server under `prlimit --nofile=<limit>`: a writer session, then fillers that take every
 * descriptor left, then writes until one is refused (a log roll every few txns needs a new file).
 */
async function starve(kind: 'zookeeper' | 'zkts', limit: number) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `starve-${kind}-`));
  const extraConfig = { dataDir, snapCount: '10', maxClientCnxns: '0' };
  const wrapper = ['prlimit', `--nofile=${limit}:${limit}`, '--'];
  const start = (limited: boolean) =>
    kind === 'zookeeper'
      ? startReferenceZooKeeper({ extraConfig, wrapper: limited ? wrapper : undefined })
      : startZkts({ extraConfig, wrapper: limited ? wrapper : undefined, systemProps: { ...NO_DESCRIPTOR_RESERVE, 'zkts.storage.openRetryMs': '3000' } });
  const s = await start(true);
  const fillers: ZkClient[] = [];
  try {
    const writer = await ZkClient.connect(HOST, s.port);
    const acked = await writeUntilRefused(writer, 5, '/before-');
    for (let i = 0; i < limit; i++) {
      const f = await ZkClient.connect(HOST, s.port, {}, 2000).catch(() => undefined);
      if (!f) break;
      fillers.push(f);
    }
    acked.push(...(await writeUntilRefused(writer, 100, '/starved-')));
    const code = await exitCodeOf(s);
    const log = s.log();
    await s.stop();
    for (const f of fillers) f.destroy();
    const after = await presentAfterRestart(() => start(false), acked);
    return { code, fillers: fillers.length, acked: acked.length, missing: after.missing, log };
  } finally {
    for (const f of fillers) f.destroy();
    await s.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

t.test('descriptor starvation at a log roll (prlimit --nofile=400): neither server acknowledges a write it loses; an exit is code 10 after a severe error', async (t) => {
  const zk = await starve('zookeeper', 400);
  const ts = await starve('zkts', 400);
  t.comment(`ZooKeeper: exit ${zk.code}, ${zk.fillers} fillers, ${zk.acked} acknowledged; zkts: exit ${ts.code}, ${ts.fillers} fillers, ${ts.acked} acknowledged`);
  t.same(zk.missing, [], 'ZooKeeper: every acknowledged write recovered');
  t.same(ts.missing, [], 'zkts: every acknowledged write recovered');
  t.ok(ts.fillers > 100 && zk.fillers > 100, 'the fillers took the descriptors');
  // Where the starved open happens depends on the race between fillers and the roll: ZooKeeper
  // usually exits with 10 after a severe error in its snapshot or log thread, but when a request
  // processor fails first it shuts down through its ERROR state and exits 0; zkts, which retries,
  // may get a descriptor back before its bound (a file of its own closed) and go on. ZooKeeper's
  // outcome is reported, not asserted: only what it acknowledged must survive.
  t.match(ts.log, /cannot open a txn log file; writes wait/, 'zkts retried first');
  t.comment(`ZooKeeper's last line: ${zk.log.trim().split('\n').filter((l) => /ERROR|Severe/.test(l)).slice(-1)[0] ?? '(none)'}`);
  if (ts.code !== 'still running') {
    t.equal(ts.code, 10, 'zkts exits with code 10');
    t.match(ts.log, /Severe unrecoverable error/, 'zkts logs a severe unrecoverable error');
  }
});
