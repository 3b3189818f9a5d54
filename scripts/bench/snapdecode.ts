/**
 * The learner's side of a SNAP, apart from the network: a tree shaped as the ensemble bench's
 * populate makes it (/bench-big/pNNNN/nI, 1,000 per parent, 100 B each) is encoded once into
 * memory, then decoded (and optionally spooled) from 64 KiB chunks as a socket delivers them.
 *   node dist/scripts/bench/snapdecode.js [znodes=200000] [rounds=3] [spool dir]
 */
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';
import * as os from 'node:os';
import * as path from 'node:path';
import { OpCode } from '../../src/protocol/constants';
import { DataTree, OPEN_ACL_UNSAFE } from '../../src/storage/datatree';
import { computeTreeDigest } from '../../src/storage/digest';
import { SnapSpool, SnapStreamDecoder, SnapStreamEncoder } from '../../src/storage/snapstream';
import type { Txn, TxnBody } from '../../src/storage/txn';

const znodes = Number(process.argv[2] ?? 200_000);
const rounds = Number(process.argv[3] ?? 3);
const spoolDir = process.argv[4];
const CHUNK = 64 * 1024;

function build(): DataTree {
  const tree = new DataTree();
  let zxid = 0x100000000n;
  const apply = (body: TxnBody): void => {
    zxid++;
    const txn: Txn = { hdr: { clientId: 0x1234n, cxid: 1, zxid, time: 1_700_000_000_000n + zxid, type: body.type }, body };
    tree.apply(txn);
  };
  const create = (p: string, data: Buffer): void => apply({ type: OpCode.create, record: { path: p, data, acl: OPEN_ACL_UNSAFE, ephemeral: false, parentCVersion: -1 } });
  const value = Buffer.alloc(100, 0x61);
  create('/bench-big', Buffer.alloc(0));
  for (let i = 0; i < znodes; i++) {
    const parent = `/bench-big/p${String(Math.floor(i / 1000)).padStart(4, '0')}`;
    if (i % 1000 === 0) create(parent, Buffer.alloc(0));
    create(`${parent}/n${i % 1000}`, value);
  }
  return tree;
}

/**
 * SNAPDECODE_STREAM_FILE=file: the stream is kept in that file (made once), so that the decode can
 * run in a process of its own that holds no other tree, as a learner's does.
 */
function streamAndTree(): { stream: Buffer; zxid: bigint; digest: bigint; nodes: number } {
  const file = process.env.SNAPDECODE_STREAM_FILE;
  if (file && fs.existsSync(file)) {
    const meta = JSON.parse(fs.readFileSync(file + '.json', 'utf8')) as { zxid: string; digest: string; nodes: number };
    return { stream: fs.readFileSync(file), zxid: BigInt(meta.zxid), digest: BigInt(meta.digest), nodes: meta.nodes };
  }
  const tree = build();
  const stream = Buffer.concat([...new SnapStreamEncoder(tree, new Map([[0x1234n, 30000]]))]);
  const out = { stream, zxid: tree.lastProcessedZxid, digest: computeTreeDigest(tree), nodes: tree.nodeCount };
  if (file) {
    fs.writeFileSync(file, stream);
    fs.writeFileSync(file + '.json', JSON.stringify({ zxid: out.zxid.toString(), digest: out.digest.toString(), nodes: out.nodes }));
  }
  return out;
}

async function main(): Promise<void> {
  const tree = streamAndTree();
  const stream = tree.stream;
  const chunks: Buffer[] = [];
  for (let off = 0; off < stream.length; off += CHUNK) chunks.push(stream.subarray(off, Math.min(stream.length, off + CHUNK)));
  const want = tree.digest;
  console.log(`${znodes} znodes: stream ${(stream.length / 1e6).toFixed(1)} MB in ${chunks.length} chunks`);
  // SNAPDECODE_PROFILE=file: a CPU profile of the last round's decode alone.
  const profileFile = process.env.SNAPDECODE_PROFILE;
  const session = profileFile ? new inspector.Session() : undefined;
  const post = (m: string, params?: object): Promise<unknown> =>
    new Promise((res, rej) => session!.post(m, params ?? {}, (err, v) => (err ? rej(err) : res(v))));
  if (session) {
    session.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 200 });
  }
  for (let r = 0; r < rounds; r++) {
    const profiling = session !== undefined && r === rounds - 1;
    if (profiling) await post('Profiler.start');
    if (typeof global.gc === 'function') global.gc();
    if (process.env.SNAPDECODE_MARK) console.log(`decode begins`);
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const dec = new SnapStreamDecoder({ zxid: tree.zxid });
    const spool = spoolDir ? SnapSpool.start(fs.mkdtempSync(path.join(spoolDir, 'snapdec-')), tree.zxid) : undefined;
    for (const c of chunks) {
      const res = dec.push(c);
      spool?.append(res.consumed === c.length ? c : c.subarray(0, res.consumed));
    }
    const t1 = performance.now();
    if (profiling) fs.writeFileSync(profileFile!, JSON.stringify(((await post('Profiler.stop')) as { profile: unknown }).profile));
    const c1 = process.cpuUsage(c0);
    const decoded = dec.decoded();
    let file = '';
    if (spool) file = await spool.finish(decoded.tree.digest.value);
    const t2 = performance.now();
    if (decoded.tree.digest.value !== want || decoded.tree.nodeCount !== tree.nodes) throw new Error('decoded tree differs');
    console.log(`round ${r + 1}: decode ${(t1 - t0).toFixed(0)} ms (cpu ${((c1.user + c1.system) / 1000).toFixed(0)} ms)${spool ? `, spool finish ${(t2 - t1).toFixed(0)} ms` : ''}, heap ${(process.memoryUsage().heapUsed / 1e6).toFixed(0)} MB`);
    if (file) fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
void os;
