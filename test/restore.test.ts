// The restore's refusals that need no snapshot work: an ensemble member, a server without a
// database on disk. The whole restore is in compat-tests/restore.test.ts, against ZooKeeper 3.9.5.
import t from 'tap';
import { restoreFromSnapshot, RestoreRefused } from '../src/server/restore';
import type { ZooKeeperServer } from '../src/server/server';
import { startInProcessZkts } from './util/client';

t.test('an ensemble member refuses to restore, before reading the snapshot', async (t) => {
  const member = { config: { distributed: true }, reopenDatabase: async () => undefined } as unknown as ZooKeeperServer;
  const err = await restoreFromSnapshot(member, Buffer.from('not read')).catch((e: unknown) => e);
  t.ok(err instanceof RestoreRefused, 'refused as a request the mode does not allow');
  await t.rejects(restoreFromSnapshot(member, Buffer.alloc(0)), /standalone server only/);
});

t.test('a server without a database on disk refuses; its tree is untouched', async (t) => {
  const zk = await startInProcessZkts({});
  t.teardown(() => zk.stop());
  t.equal(zk.server.reopenDatabase, undefined);
  const before = zk.server.tree.nodeCount;
  await t.rejects(restoreFromSnapshot(zk.server, Buffer.from('x')), /no database on disk/);
  t.equal(zk.server.tree.nodeCount, before);
  t.equal(zk.server.restoreRunning, false);
  t.equal(zk.server.notServing, undefined, 'still serving');
});
