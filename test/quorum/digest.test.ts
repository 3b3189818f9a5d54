// The TxnDigest a ZooKeeper 3.8.0 leader puts after each proposed txn is its tree digest once the
// txn is applied; Java followers compare it with their own. Replaying the captured proposals of an
// ensemble that started empty on zkts's DataTree must give the same digest after every txn.
import t from 'tap';
import { OpCode } from '../../src/protocol/constants';
import { JuteReader, JuteWriter } from '../../src/protocol/jute';
import { DataTree } from '../../src/storage/datatree';
import { computeTreeDigest } from '../../src/storage/digest';
import { deserializeTxn } from '../../src/storage/txnserde';
import { quorumPacketFromBytes, txnData } from '../../src/quorum/wire/packets';
import { readFixture } from './fixtures';

t.test("zkts's tree digest equals the leader's TxnDigest after every captured txn", async (t) => {
  const txns = readFixture('proposals.txt').map((l) => {
    const p = quorumPacketFromBytes(l.bytes);
    return deserializeTxn(txnData(p.type, p.data));
  });
  // Gap-free from the first zxid of epoch 1: the tree the leader started from is the initial one.
  t.equal(txns[0].txn.hdr.zxid, 0x100000001n, 'starts at the first txn of the first epoch');
  for (let i = 1; i < txns.length; i++) {
    const prev = txns[i - 1].txn.hdr.zxid;
    const z = txns[i].txn.hdr.zxid;
    t.ok(z === prev + 1n || (z >> 32n === (prev >> 32n) + 1n && (z & 0xffffffffn) === 1n), `0x${z.toString(16)} follows 0x${prev.toString(16)}`);
  }

  const tree = new DataTree();
  // The first txn, a createSession, leaves the tree as it was: its digest is the initial tree's.
  t.equal(txns[0].txn.hdr.type, OpCode.createSession);
  t.equal(tree.digest.value, txns[0].digest!.treeDigest, "the initial tree's digest is ZooKeeper's");
  let checked = 0;
  let errors = 0;
  for (const { txn, digest } of txns) {
    tree.replay(txn);
    const zxid = `0x${txn.hdr.zxid.toString(16)}`;
    if (txn.hdr.type === OpCode.error) {
      errors++;
      t.equal(digest, undefined, `${zxid}: an ErrorTxn has no digest`);
      continue;
    }
    t.equal(digest?.version, 2, `${zxid}: digest version 2`);
    t.equal(tree.digest.value, digest!.treeDigest, `${zxid} (${txn.hdr.type}): tree digest`);
    t.equal(computeTreeDigest(tree), digest!.treeDigest, `${zxid}: a full walk agrees`);
    checked++;
  }
  t.ok(checked >= 20, `${checked} digests compared`);
  t.ok(errors >= 2, `${errors} ErrorTxns without a digest`);
  t.ok(txns.some((d) => d.txn.hdr.type === OpCode.reconfig), 'a reconfig txn among them');
  t.ok(txns.some((d) => d.txn.hdr.type === OpCode.multi), 'a multi among them');
  t.ok(txns.some((d) => d.txn.hdr.type === OpCode.closeSession && d.txn.body.type === OpCode.closeSession && d.txn.body.record.paths2Delete.length > 0), 'a closeSession deleting an ephemeral');
});

/** The nodes of a raw SNAP stream (ZK-QUORUM-FACTS 2.5): path -> data and StatPersisted bytes. */
function snapNodes(b: Buffer): Map<string, { data: Buffer | null; stat: Buffer }> {
  const r = new JuteReader(b);
  const sessions = r.readInt();
  for (let i = 0; i < sessions; i++) {
    r.readLong();
    r.readInt();
  }
  const acls = r.readInt();
  for (let i = 0; i < acls; i++) {
    r.readLong();
    const n = r.readInt();
    for (let k = 0; k < n; k++) {
      r.readInt();
      r.readString();
      r.readString();
    }
  }
  const nodes = new Map<string, { data: Buffer | null; stat: Buffer }>();
  for (;;) {
    const path = r.readString();
    if (path === '/') break;
    const data = r.readBuffer();
    r.readLong();
    nodes.set(path === '' ? '/' : path, { data, stat: b.subarray(r.pos, r.pos + 60) });
    r.pos += 60;
  }
  return nodes;
}

t.test("the tree after the txns equals the leader's tree in its SNAP, node for node", async (t) => {
  const segments = readFixture('snap-stream.txt');
  const snap = quorumPacketFromBytes(segments[0].bytes);
  t.equal(snap.type, 15);
  const nodes = snapNodes(segments.find((s) => s.kind === 'raw')!.bytes);
  const tree = new DataTree();
  for (const l of readFixture('proposals.txt')) {
    const p = quorumPacketFromBytes(l.bytes);
    if (p.zxid > snap.zxid) break;
    tree.replay(deserializeTxn(txnData(p.type, p.data)).txn);
  }
  t.equal(tree.lastProcessedZxid, snap.zxid, `replayed up to the SNAP zxid 0x${snap.zxid.toString(16)}`);
  const mine = new Map([...tree.nodesPreOrder()]);
  t.same([...mine.keys()].sort(), [...nodes.keys()].sort(), 'the same paths');
  const w = new JuteWriter(64);
  for (const [path, theirs] of nodes) {
    const node = mine.get(path);
    if (!node) continue;
    // ZooKeeper's /zookeeper/config holds the config (version -1, mzxid = the epoch's first zxid);
    // each server fills it from its own config, outside the txns and outside the digest.
    if (path === '/zookeeper/config') continue;
    w.reset();
    node.writeStatPersisted(w);
    t.same(w.toBuffer().toString('hex'), theirs.stat.toString('hex'), `${path}: StatPersisted`);
    t.same(node.data?.toString('hex') ?? null, theirs.data?.toString('hex') ?? null, `${path}: data`);
  }
});
