// Checks shared by the tests of mixed ZooKeeper/zkts ensembles: a create through one member,
// recorded when acknowledged, and, at the end, every acknowledged write on every member with
// identical trees (data and every Stat field) everywhere.
import type { Test } from 'tap';
import { Err, OpCode } from '../../src/protocol/constants';
import { ZkClient } from '../util/client';
import type { EnsembleMember } from '../util/ensemble';
import { dumpTree, HOST } from './members';

/** A member's kind as messages name it. */
export const side = (m: EnsembleMember): string => (m.kind === 'zkts' ? 'zkts' : 'ZooKeeper');

/** Creates `p` through member `m`; an acknowledged create is added to `acked`. */
export async function createThrough(t: Test, m: EnsembleMember, p: string, data: string, acked: string[]): Promise<void> {
  const c = await ZkClient.connect(HOST, m.clientPort);
  const err = (await c.create(p, Buffer.from(data))).header.err;
  t.equal(err, Err.OK, `create through ${side(m)} ${m.sid}`);
  if (err === Err.OK) acked.push(p);
  await c.close();
}

/** After a sync on each member: every path of `acked` is there, and the trees are identical. */
export async function expectIdenticalTrees(t: Test, members: readonly EnsembleMember[], acked: readonly string[]): Promise<void> {
  const dumps: string[][] = [];
  for (const m of members) {
    const c = await ZkClient.connect(HOST, m.clientPort);
    t.equal((await c.request(OpCode.sync, (w) => w.writeString('/'))).header.err, Err.OK);
    const dump = await dumpTree(c);
    c.destroy();
    const paths = new Set(dump.map((l) => l.split(' ')[0]));
    t.same(acked.filter((p) => !paths.has(p)), [], `${side(m)} ${m.sid} has every acknowledged write`);
    dumps.push(dump);
  }
  for (let i = 1; i < dumps.length; i++) t.same(dumps[i], dumps[0], `members ${members[0].sid} and ${members[i].sid}: identical trees`);
}
