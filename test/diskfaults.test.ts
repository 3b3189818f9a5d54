// Disk faults under a running server: when fsync fails or the disk is full, the write is never
// acknowledged, the server says why, later writes are refused, and reads go on.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../src/server/config';
import { ZooKeeperServer } from '../src/server/server';
import { DiskDatabase } from '../src/storage/diskdb';
import { realFs, type FsShim } from '../src/storage/txnlog';
import { ZkClient } from './util/client';

async function serverWith(t: { teardown(fn: () => unknown): void }, shim: FsShim) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-faults-'));
  const config = loadConfig(`tickTime=2000\ndataDir=${dataDir}\nclientPort=0\nclientPortAddress=127.0.0.1\npreAllocSize=64\n`, new Map(), dataDir);
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
  let server: ZooKeeperServer | undefined;
  const db = await DiskDatabase.open(config, log, (err) => server?.storageFailed(err), shim);
  server = new ZooKeeperServer(config, log, Date.now, db);
  await server.start();
  t.teardown(async () => {
    await server!.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return { server, lines };
}

for (const [name, fault] of [
  ['fsync fails (EIO)', (s: FsShim): FsShim => ({ ...s, fdatasync: async () => { throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }); } })],
  ['the disk is full (ENOSPC)', (s: FsShim): FsShim => ({ ...s, write: async () => { throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }); } })],
] as const) {
  t.test(`${name}: nothing is acknowledged, reads go on`, async (t) => {
    let failing = false;
    const base = realFs;
    const broken = fault(base);
    const shim: FsShim = {
      open: (...a) => (failing ? broken : base).open(...a),
      write: (...a) => (failing ? broken : base).write(...a),
      fdatasync: (...a) => (failing ? broken : base).fdatasync(...a),
      ftruncate: (...a) => (failing ? broken : base).ftruncate(...a),
      close: (...a) => base.close(...a),
    };
    const { server, lines } = await serverWith(t, shim);
    const port = server.address().port;
    const writerClient = await ZkClient.connect('127.0.0.1', port);
    const reader = await ZkClient.connect('127.0.0.1', port);
    t.equal((await writerClient.create('/before')).header.err, 0, 'a write before the fault is acknowledged');
    failing = true;
    const reply = await writerClient.create('/during').catch(() => undefined);
    t.notOk(reply, 'the write under the fault gets no reply');
    t.ok(await writerClient.raw.waitClosed(), 'its connection is closed (outcome unknown to the client)');
    t.ok(lines.some((l) => l.includes('cannot make txns durable')), 'the server says why');
    t.equal((await reader.exists('/before')).header.err, 0, 'reads of an open session still work');
    t.equal((await reader.exists('/during')).header.err, -101, 'the unacknowledged write was not applied');
    const refused = await reader.create('/after').catch(() => undefined);
    t.notOk(refused, 'a later write is refused');
    t.ok(await reader.raw.waitClosed(), 'and its connection closed');
    await t.rejects(ZkClient.connect('127.0.0.1', port), 'a new session is refused (it would be a txn)');
  });
}
