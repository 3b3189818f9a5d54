// Disk faults under a running server. An error that leaves the durable state unknown (fsync fails,
// a short write, the disk full in the middle of a file) ends the process with exit code 10, as
// ZooKeeper does; the write under the fault is never acknowledged and a restart recovers every
// acknowledged one. Until the process ends (here the exit is caught), every refused or abandoned
// request gives back what it holds.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { OpCode } from '../src/protocol/constants';
import { loadConfig } from '../src/server/config';
import { STORAGE_FAILURE_EXIT_CODE, ZooKeeperServer } from '../src/server/server';
import { DiskDatabase } from '../src/storage/diskdb';
import { realFs, type FsShim } from '../src/storage/txnlog';
import * as http from 'node:http';
import { AdminServer } from '../src/admin/adminserver';
import { ZkClient, waitFor } from './util/client';
import { fourLetterWord, freePort } from './util/servers';

interface DiskServer {
  server: ZooKeeperServer;
  lines: string[];
  exits: number[];
  port: number;
  /** The AdminServer's port, when one was asked for. */
  adminPort?: number;
  /** The next txn starts a new log file, as after a snapshot. */
  rollLog(): void;
  stop(): Promise<void>;
}

async function diskServer(dataDir: string, shim: FsShim, props: Record<string, string> = {}, withAdmin = false): Promise<DiskServer> {
  const adminPort = withAdmin ? await freePort() : undefined;
  const admin = adminPort === undefined ? '' : `admin.serverAddress=127.0.0.1\nadmin.serverPort=${adminPort}\n`;
  const config = loadConfig(`tickTime=2000\ndataDir=${dataDir}\nclientPort=0\nclientPortAddress=127.0.0.1\npreAllocSize=64\n4lw.commands.whitelist=*\n${admin}`, new Map(Object.entries(props)), dataDir);
  const lines: string[] = [];
  const exits: number[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
  let server: ZooKeeperServer | undefined;
  const db = await DiskDatabase.open(config, log, (err) => server?.storageFailed(err), shim);
  server = new ZooKeeperServer(config, log, Date.now, db);
  // The process would end here: the test keeps it, to look at the server after the fault.
  server.onFatal = (code) => void exits.push(code);
  await server.start();
  const s = server;
  const adminServer = adminPort === undefined ? undefined : new AdminServer(s, log);
  await adminServer?.start();
  return {
    server: s,
    lines,
    exits,
    port: s.address().port,
    adminPort,
    rollLog: () => db['writer'].rollLog(),
    stop: async () => {
      await adminServer?.stop();
      await s.stop();
    },
  };
}

/** realFs, or the broken variant while `failing()` says so. */
function switchable(broken: FsShim, failing: () => boolean): FsShim {
  return {
    open: (...a) => (failing() ? broken : realFs).open(...a),
    write: (...a) => (failing() ? broken : realFs).write(...a),
    fdatasync: (...a) => (failing() ? broken : realFs).fdatasync(...a),
    ftruncate: (...a) => (failing() ? broken : realFs).ftruncate(...a),
    close: (...a) => realFs.close(...a),
  };
}

const errno = (code: string, op: string) => Object.assign(new Error(`${code}: ${op} failed`), { code });

const FAULTS: [string, FsShim][] = [
  ['fsync fails (EIO)', { ...realFs, fdatasync: async () => { throw errno('EIO', 'fdatasync'); } }],
  ['the disk is full in the middle of the file (ENOSPC)', { ...realFs, write: () => { throw errno('ENOSPC', 'write'); } }],
  // Half the bytes land, then the disk takes no more.
  ['a short write', { ...realFs, write: (fd, buf, offset, length, position) => (length > 1 ? realFs.write(fd, buf, offset, Math.floor(length / 2), position) : 0) }],
];

for (const [name, broken] of FAULTS) {
  t.test(`${name}: exit code 10, nothing unacknowledged applied, a restart recovers every acknowledged write`, async (t) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-faults-'));
    t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    let failing = false;
    const s = await diskServer(dataDir, switchable(broken, () => failing));
    const writer = await ZkClient.connect('127.0.0.1', s.port);
    const reader = await ZkClient.connect('127.0.0.1', s.port);
    const acked: string[] = [];
    for (let i = 0; i < 20; i++) {
      const p = `/before-${i}`;
      t.equal((await writer.create(p)).header.err, 0);
      acked.push(p);
    }
    failing = true;
    const reply = await writer.create('/during').catch(() => undefined);
    t.notOk(reply, 'the write under the fault gets no reply');
    t.ok(await writer.raw.waitClosed(), 'its connection is closed (outcome unknown to the client)');
    t.same(s.exits, [STORAGE_FAILURE_EXIT_CODE], 'the process is ended with exit code 10, once');
    const fatal = s.lines.filter((l) => JSON.parse(l).level === 60);
    t.equal(fatal.length, 1, 'one fatal log line');
    t.match(fatal[0], /Severe unrecoverable error/, 'it says why');
    t.equal((await reader.exists('/before-0')).header.err, 0, 'until the exit, reads of an open session still work');
    t.equal((await reader.exists('/during')).header.err, -101, 'the unacknowledged write was not applied');
    t.equal(s.server.outstanding, 0, 'nothing is left outstanding');
    failing = false;
    await s.stop();
    const again = await diskServer(dataDir, realFs);
    t.teardown(() => again.stop());
    const c = await ZkClient.connect('127.0.0.1', again.port);
    for (const p of acked) t.equal((await c.exists(p)).header.err, 0, `${p} survived`);
    t.equal((await c.create('/after-restart')).header.err, 0, 'the restarted server takes writes');
    t.same(again.exits, []);
  });
}

t.test('thousands of refused writes give back their outstanding counts; no connection stays paused', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-faults-'));
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  let failing = false;
  const outstandingLimit = 50;
  const s = await diskServer(dataDir, switchable(FAULTS[0][1], () => failing), { 'zookeeper.globalOutstandingLimit': String(outstandingLimit) });
  t.teardown(() => s.stop());
  const writer = await ZkClient.connect('127.0.0.1', s.port);
  const reader = await ZkClient.connect('127.0.0.1', s.port);
  t.equal((await writer.create('/before')).header.err, 0);
  // A write in flight when the fault comes, and reads queued behind it on the same connection.
  failing = true;
  const inFlight = writer.create('/during').catch(() => undefined);
  const behind = writer.exists('/before').catch(() => undefined);
  t.notOk(await inFlight);
  t.notOk(await behind);
  t.same(s.exits, [STORAGE_FAILURE_EXIT_CODE]);
  // Each round reopens the writer's session (no txn) and sends a write: it is refused and its
  // connection closed (requests behind it on the connection are dropped with it).
  const rounds = 2000;
  const before = s.server.metrics.writesAbandoned;
  for (let i = 0; i < rounds; i++) {
    const c = await ZkClient.connect('127.0.0.1', s.port, { sessionId: writer.sessionId, passwd: writer.passwd, keepAlive: false });
    const kind = i % 3;
    if (kind === 0) void c.create(`/refused-${i}`).catch(() => undefined);
    else if (kind === 1) void c.request(OpCode.sync, (w) => w.writeString('/')).catch(() => undefined);
    else void c.setData('/before', Buffer.from('x')).catch(() => undefined);
    if (!(await c.raw.waitClosed())) {
      t.fail(`round ${i}: the connection stayed open`);
      break;
    }
  }
  const refused = s.server.metrics.writesAbandoned - before;
  t.equal(refused, rounds, `one refused request per round (${refused} for ${rounds} rounds)`);
  await waitFor(() => s.server.cnxns.size === 1, 'only the reader left');
  t.equal(s.server.outstanding, 0, 'no outstanding count is left behind');
  t.equal(s.server['paused'].size, 0, 'no connection is paused');
  for (const c of s.server.cnxns) t.equal(c.inflightWrites, 0, 'no write counted in flight');
  // Past globalOutstandingLimit many times over, reads are still answered.
  for (let i = 0; i < 3 * outstandingLimit; i++) t.equal((await reader.exists('/before')).header.err, 0);
  t.equal(s.server.outstanding, 0);
  t.same(s.exits, [STORAGE_FAILURE_EXIT_CODE], 'the exit was asked for once');
});

function httpGet(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** What each health surface says: four-letter words, AdminServer, console, Prometheus-style metrics. */
async function health(s: DiskServer) {
  const mntr = await fourLetterWord('127.0.0.1', s.port, 'mntr');
  const ruok = await httpGet(s.adminPort!, '/commands/ruok');
  const monitor = JSON.parse((await httpGet(s.adminPort!, '/commands/monitor')).body);
  const console = JSON.parse((await httpGet(s.adminPort!, '/console/api/stats')).body);
  return {
    ruok: await fourLetterWord('127.0.0.1', s.port, 'ruok'),
    srvr: await fourLetterWord('127.0.0.1', s.port, 'srvr'),
    writable: /zk_zkts_storage_writable\t(\d)/.exec(mntr)?.[1],
    adminRuokStatus: ruok.status,
    adminRuokError: JSON.parse(ruok.body).error as string | null,
    adminMonitorWritable: monitor.zkts_storage_writable,
    consoleStorageError: console.storageError as string | null,
  };
}

t.test('a txn log file that cannot be opened (EMFILE): writes wait, health says so, and all goes on once it opens', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-faults-'));
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  let failing = false;
  let refusedOpens = 0;
  const broken: FsShim = {
    ...realFs,
    open: async () => {
      refusedOpens++;
      throw errno('EMFILE', 'open');
    },
  };
  const s = await diskServer(dataDir, switchable(broken, () => failing), { 'zkts.storage.openRetryMs': '60000' }, true);
  t.teardown(() => s.stop());
  const reader = await ZkClient.connect('127.0.0.1', s.port, { timeoutMs: 30000 });
  const healthy = await health(s);
  t.same(
    healthy,
    { ruok: 'imok', srvr: healthy.srvr, writable: '1', adminRuokStatus: 200, adminRuokError: null, adminMonitorWritable: 1, consoleStorageError: null },
    'healthy before',
  );
  t.match(healthy.srvr, /^Zookeeper version: /);
  s.rollLog();
  failing = true;
  const writer = await ZkClient.connect('127.0.0.1', s.port, { timeoutMs: 30000 }, 1500).catch(() => undefined);
  t.notOk(writer, 'a new session waits (its createSession is a txn)');
  await waitFor(() => refusedOpens >= 3, 'the open to be retried');
  const stalled = await health(s);
  t.same(
    stalled,
    {
      ruok: '',
      srvr: 'This ZooKeeper instance is not currently serving requests\n',
      writable: '0',
      adminRuokStatus: 503,
      adminRuokError: stalled.adminRuokError,
      adminMonitorWritable: 0,
      consoleStorageError: stalled.consoleStorageError,
    },
    'every health surface says the server cannot take writes',
  );
  t.match(stalled.adminRuokError, /cannot take writes: .*EMFILE/);
  t.match(stalled.consoleStorageError, /EMFILE/);
  t.ok(s.lines.some((l) => l.includes('cannot open a txn log file')), 'the log says why');
  t.same(s.exits, [], 'no exit within the bound');
  failing = false;
  await waitFor(() => s.server.storageProblem === undefined, 'the open to succeed', 15000);
  t.equal((await reader.create('/after')).header.err, 0, 'writes go on');
  const again = await health(s);
  t.same([again.ruok, again.writable, again.adminRuokStatus, again.consoleStorageError], ['imok', '1', 200, null], 'healthy again');
  t.equal(s.server.outstanding, 0);
  t.same(s.exits, []);
});

t.test('a txn log file that stays unopenable past zkts.storage.openRetryMs: exit code 10, counts released', async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-faults-'));
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  let failing = false;
  const broken: FsShim = { ...realFs, open: async () => { throw errno('ENFILE', 'open'); } };
  const s = await diskServer(dataDir, switchable(broken, () => failing), { 'zkts.storage.openRetryMs': '500' });
  t.teardown(() => s.stop());
  const reader = await ZkClient.connect('127.0.0.1', s.port);
  s.rollLog();
  failing = true;
  const started = Date.now();
  const reply = await reader.create('/during').catch(() => undefined);
  t.notOk(reply, 'the waiting write is not acknowledged');
  t.same(s.exits, [STORAGE_FAILURE_EXIT_CODE], 'exit code 10 once the bound passed');
  t.ok(Date.now() - started >= 450, 'not before the bound');
  t.match(s.lines.find((l) => JSON.parse(l).level === 60), /could not open a txn log file.*Severe unrecoverable error/);
  t.equal(s.server.outstanding, 0, 'its outstanding count was given back');
});
