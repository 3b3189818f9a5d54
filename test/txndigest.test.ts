// The TxnDigest Prep works out for each txn before it is applied (as ZooKeeper's leader does, from
// its pending change records) equals the tree's digest once the txn is applied, through random
// pipelined writes of every kind: creates of every mode, deletes, setData (short, long and null
// data), setACL, checks, multis that commit or fail, createSession, closeSession with ephemerals,
// and error txns. Seeds replay with TXNDIGEST_SEED.
import t from 'tap';
import { CreateFlag, OpCode } from '../src/protocol/constants';
import type { Id } from '../src/protocol/generated/records';
import { AuthRegistry } from '../src/server/auth';
import { Prep, type WriteOp, type WriteRequest } from '../src/server/prep';
import { DataTree, OPEN_ACL_UNSAFE } from '../src/storage/datatree';
import { computeTreeDigest } from '../src/storage/digest';
import type { Txn } from '../src/storage/txn';
import { prng } from './util/prng';

const IDS: Id[] = [{ scheme: 'ip', id: '127.0.0.1' }];
const SESSIONS = [0x100000000000001n, 0x100000000000002n, 0x100000000000003n];
const PATHS = ['/a', '/a/b', '/a/b/c', '/a/d', '/e', '/e/f', '/g', '/zookeeper/x'];
const SEEDS = process.env.TXNDIGEST_SEED !== undefined ? [Number(process.env.TXNDIGEST_SEED)] : Array.from({ length: 200 }, (_, i) => i + 1);

function run(seed: number): string | undefined {
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const tree = new DataTree(true);
  const prep = new Prep(tree, new AuthRegistry(undefined, false), { extendedTypesEnabled: true, reconfigEnabled: false, enforceQuota: false, digestEnabled: true });
  const data = (): Buffer | null => {
    const r = rand();
    if (r < 0.1) return null;
    if (r < 0.2) return Buffer.alloc(2000 + Math.floor(rand() * 3000), Math.floor(rand() * 256));
    return Buffer.from(`v${Math.floor(rand() * 1000)}`);
  };
  const op = (): WriteOp => {
    const path = pick(PATHS);
    const r = rand();
    if (r < 0.4) {
      const mode = pick([CreateFlag.PERSISTENT, CreateFlag.EPHEMERAL, CreateFlag.PERSISTENT_SEQUENTIAL, CreateFlag.EPHEMERAL_SEQUENTIAL]);
      const kind = rand();
      if (kind < 0.1) return { type: OpCode.createContainer, record: { path, data: data(), acl: OPEN_ACL_UNSAFE, flags: CreateFlag.CONTAINER } };
      if (kind < 0.2) return { type: OpCode.createTTL, record: { path, data: data(), acl: OPEN_ACL_UNSAFE, flags: CreateFlag.PERSISTENT_WITH_TTL, ttl: 1000n } };
      return { type: OpCode.create2, record: { path, data: data(), acl: OPEN_ACL_UNSAFE, flags: mode } };
    }
    if (r < 0.6) return { type: OpCode.setData, record: { path, data: data(), version: rand() < 0.8 ? -1 : Math.floor(rand() * 3) } };
    if (r < 0.8) return { type: OpCode.delete, record: { path, version: -1 } };
    if (r < 0.9) return { type: OpCode.setACL, record: { path, acl: OPEN_ACL_UNSAFE, version: -1 } };
    return { type: OpCode.check, record: { path, version: -1 } };
  };
  const request = (): WriteRequest => {
    const r = rand();
    if (r < 0.15) return { type: OpCode.multi, record: Array.from({ length: 1 + Math.floor(rand() * 4) }, op) };
    if (r < 0.2) return { type: OpCode.closeSession, record: null };
    if (r < 0.23) return { type: OpCode.createSession, record: { timeOut: 5000 } };
    return op();
  };
  let zxid = 0n;
  let time = 1_700_000_000_000n;
  const pending: Txn[] = [];
  for (let step = 0; step < 400; step++) {
    // Prepare a few txns ahead of the tree, then apply some: prep works on pending records.
    const ahead = 1 + Math.floor(rand() * 4);
    for (let i = 0; i < ahead; i++) {
      zxid++;
      time += BigInt(Math.floor(rand() * 50));
      const session = pick(SESSIONS);
      const req = request();
      const body = prep.prepare(req, session, IDS, zxid, time);
      const type = body.type === OpCode.error ? OpCode.error : req.type;
      pending.push({ hdr: { clientId: session, cxid: step, zxid, time, type }, body, digest: { version: 2, treeDigest: prep.lastTreeDigest } });
    }
    const apply = 1 + Math.floor(rand() * pending.length);
    for (const txn of pending.splice(0, apply)) {
      prep.applied(txn.hdr.zxid);
      tree.apply(txn);
      const actual = BigInt.asIntN(64, tree.digest.value);
      if (actual !== txn.digest!.treeDigest) return `seed ${seed}: after txn 0x${txn.hdr.zxid.toString(16)} (${JSON.stringify(txn.body, (_k, v) => (typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? `<${v.length} B>` : v))}) the tree digest is ${actual}, prepared ${txn.digest!.treeDigest}`;
    }
  }
  if (BigInt.asIntN(64, tree.digest.value) !== BigInt.asIntN(64, computeTreeDigest(tree))) return `seed ${seed}: the running digest is not the tree's`;
  return undefined;
}

t.test('a prepared TxnDigest is the tree digest after the txn', async (t) => {
  const failures = SEEDS.map(run).filter((f): f is string => f !== undefined);
  t.same(failures.slice(0, 3), [], `${SEEDS.length} seeds of 400 steps (replay one with TXNDIGEST_SEED=n)`);
});

t.test('without digests Prep works out none', async (t) => {
  const tree = new DataTree(true);
  const prep = new Prep(tree, new AuthRegistry(undefined, false), { extendedTypesEnabled: false, reconfigEnabled: false, enforceQuota: false });
  prep.prepare({ type: OpCode.create2, record: { path: '/a', data: Buffer.from('x'), acl: OPEN_ACL_UNSAFE, flags: 0 } }, SESSIONS[0], IDS, 1n, 5n);
  t.equal(prep.lastTreeDigest, 0n);
});
