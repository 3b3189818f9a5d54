/**
 * ZooKeeper's tree digest (3.6+, digest version 2). Each node's digest is the CRC-32 of its path
 * (UTF-8; the root as ""), its data (nothing for null) and 60 bytes of stat: czxid, mzxid, pzxid,
 * ctime, mtime (longs), version, cversion, aversion (ints, cversion as stored), ephemeralOwner
 * (long), all big-endian. The tree digest is the sum of the node digests modulo 2^64 (an additive
 * hash, so a change is "subtract the old node digest, add the new one"). Nodes under
 * "/zookeeper/" are left out (their quota stats change locally); "/zookeeper" itself counts.
 *
 * ZooKeeper writes this value at the end of snapshots (ZxidDigest) and into txn log entries
 * (TxnDigest) when `zookeeper.digest.enabled` is true, the default.
 */
import * as zlib from 'node:zlib';
import type { DataTree, ZNode } from './datatree';

export const DIGEST_VERSION = 2;

/** Paths starting with this are not part of the digest. */
export const DIGEST_EXCLUDED_PREFIX = '/zookeeper/';

const STAT_BYTES = 60;

type Crc32 = (data: Uint8Array, value?: number) => number;

/**
 * CRC-32 tables for eight bytes at a time ("slicing-by-8"): table k (at k * 256) is the CRC of a
 * byte followed by k zero bytes. Twice as fast as a byte at a time, and snapshot loading computes
 * every node's digest.
 */
const crcTables = new Int32Array(256 * 8);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  crcTables[n] = c;
}
for (let n = 0; n < 256; n++) {
  let c = crcTables[n];
  for (let k = 1; k < 8; k++) {
    c = crcTables[c & 0xff] ^ (c >>> 8);
    crcTables[k * 256 + n] = c;
  }
}

/** CRC-32 of data[from, to): for short ranges, cheaper than a view for zlib's. */
export function crc32Range(data: Uint8Array, from: number, to: number, value = 0): number {
  const t = crcTables;
  let c = ~value;
  let i = from;
  for (; i + 8 <= to; i += 8) {
    const a = c ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
    const b = data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24);
    c =
      t[1792 + (a & 0xff)] ^
      t[1536 + ((a >>> 8) & 0xff)] ^
      t[1280 + ((a >>> 16) & 0xff)] ^
      t[1024 + (a >>> 24)] ^
      t[768 + (b & 0xff)] ^
      t[512 + ((b >>> 8) & 0xff)] ^
      t[256 + ((b >>> 16) & 0xff)] ^
      t[b >>> 24];
  }
  for (; i < to; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

function crc32Fallback(data: Uint8Array, value = 0): number {
  return crc32Range(data, 0, data.length, value);
}

// zlib.crc32 exists from Node 20.15; the table version keeps older 20.x working.
const crc32: Crc32 = (zlib as unknown as { crc32?: Crc32 }).crc32 ?? crc32Fallback;

// The stat's CRC is taken in JS (crc32Range): for its 60 bytes, a third of zlib's per call.
const statScratch = Buffer.alloc(STAT_BYTES);
// Big-endian 64-bit writes of bigints through a DataView: V8's own, several times cheaper than
// Buffer's writeBigInt64BE (which checks the range in JS), and wrapping to 64 bits as asIntN does.
const statView = new DataView(statScratch.buffer, statScratch.byteOffset, STAT_BYTES);
const SHORT_DATA_BYTES = 1024;
const dataScratch = { buf: Buffer.alloc(4096) };

type Crc32OfText = (text: string, value?: number) => number;
/** CRC-32 of a string's UTF-8 bytes; zlib's takes strings as they are, without a Buffer. */
const crc32OfText: Crc32OfText = (zlib as unknown as { crc32?: Crc32OfText }).crc32 ?? ((t, v) => crc32Fallback(Buffer.from(t, 'utf8'), v));

export function isDigestExcluded(path: string): boolean {
  return path.startsWith(DIGEST_EXCLUDED_PREFIX);
}

/** A node's digest: an unsigned 32-bit CRC, or 0 for paths the digest leaves out. */
export function nodeDigest(path: string, node: ZNode): number {
  if (isDigestExcluded(path)) return 0;
  return nodeDigestFromCrc(path, pathDataCrcOfNode(path, node), node);
}

/** A node's digest when the CRC of its path and data is known: its stat goes in as the node holds it. */
export function nodeDigestFromCrc(path: string, pathDataCrcValue: number, node: ZNode): number {
  if (isDigestExcluded(path)) return 0;
  node.writeDigestStat(statScratch);
  return crc32Range(statScratch, 0, STAT_BYTES, pathDataCrcValue);
}

/** The CRC of a node's path and data: the part of its digest a change of its stat leaves alone. */
export function pathDataCrcOfNode(path: string, node: ZNode): number {
  let crc = path === '/' ? 0 : crc32OfText(path);
  if (node.dataLength > 0) {
    const len = node.copyDataInto(dataScratch);
    // Short data in place; zlib's wants a view of exactly the bytes, an object per call.
    crc = len <= SHORT_DATA_BYTES ? crc32Range(dataScratch.buf, 0, len, crc) : crc32(dataScratch.buf.subarray(0, len), crc);
  }
  return crc;
}

/** As pathDataCrcOfNode, for data that is not in a node yet. */
export function pathDataCrc(path: string, data: Buffer | null): number {
  const crc = path === '/' ? 0 : crc32OfText(path);
  if (data === null || data.length === 0) return crc;
  return data.length <= SHORT_DATA_BYTES ? crc32Range(data, 0, data.length, crc) : crc32(data, crc);
}

/**
 * A node's digest from the bytes of its snapshot record, without making the node or its path
 * string: the path's UTF-8 bytes b[pathAt, pathAt + pathLen) (none for the root), its data
 * b[dataAt, dataAt + dataLen) (dataLen <= 0: none) and its StatPersisted at statAt (czxid mzxid
 * ctime mtime version cversion aversion ephemeralOwner pzxid), whose fields the digest takes in
 * its own order. The caller leaves out excluded paths.
 */
export function nodeDigestOfRecord(b: Buffer, pathAt: number, pathLen: number, dataAt: number, dataLen: number, statAt: number): number {
  let crc = pathLen > 0 ? crc32Range(b, pathAt, pathAt + pathLen, 0) : 0;
  if (dataLen > 0) crc = dataLen <= SHORT_DATA_BYTES ? crc32Range(b, dataAt, dataAt + dataLen, crc) : crc32(b.subarray(dataAt, dataAt + dataLen), crc);
  // czxid mzxid, then pzxid (the record's last field), then ctime to ephemeralOwner.
  crc = crc32Range(b, statAt, statAt + 16, crc);
  crc = crc32Range(b, statAt + 52, statAt + 60, crc);
  return crc32Range(b, statAt + 16, statAt + 52, crc);
}

/** The stat fields a node digest covers. */
export interface DigestStat {
  czxid: bigint;
  mzxid: bigint;
  pzxid: bigint;
  ctime: bigint;
  mtime: bigint;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: bigint;
}

/** A node digest from the CRC of its path and data and its stat; 0 for excluded paths. */
export function digestFromParts(path: string, pathDataCrcValue: number, s: DigestStat): number {
  if (isDigestExcluded(path)) return 0;
  const v = statView;
  v.setBigInt64(0, s.czxid);
  v.setBigInt64(8, s.mzxid);
  v.setBigInt64(16, s.pzxid);
  v.setBigInt64(24, s.ctime);
  v.setBigInt64(32, s.mtime);
  v.setInt32(40, s.version | 0);
  v.setInt32(44, s.cversion | 0);
  v.setInt32(48, s.aversion | 0);
  v.setBigInt64(52, s.ephemeralOwner);
  return crc32Range(statScratch, 0, STAT_BYTES, pathDataCrcValue);
}

const FOLD_EVERY = 1 << 20;
/** Nodes whose digest is remembered after a change: enough for the hot nodes of a write load. */
const RECENT_NODES_MAX = 1024;

/** The running tree digest: a signed 64-bit sum of node digests, as ZooKeeper keeps it. */
export class TreeDigest {
  private sum = 0n;
  /** Node digests not yet folded into `sum`: a double holds up to 2^20 of them exactly. */
  private partial = 0;
  private pending = 0;
  /**
   * The digest of each node changed last, as afterChange computed it: a node written again (a hot
   * node's setData, the parent of many creates) takes it out without a second CRC. Every change
   * goes through beforeChange and afterChange, which replaces or drops the entry, so none is
   * stale. Deleted nodes stay until the memory is emptied.
   */
  private readonly recent = new Map<ZNode, number>();
  /** The node of the last beforeChange. */
  private changing: ZNode | undefined;

  get value(): bigint {
    this.fold();
    return this.sum;
  }

  add(nodeDigestValue: number): void {
    this.partial += nodeDigestValue;
    if (++this.pending === FOLD_EVERY) this.fold();
  }

  remove(nodeDigestValue: number): void {
    this.partial -= nodeDigestValue;
    if (++this.pending === FOLD_EVERY) this.fold();
  }

  private fold(): void {
    if (this.pending === 0) return;
    this.sum = BigInt.asIntN(64, this.sum + BigInt(this.partial));
    this.partial = 0;
    this.pending = 0;
  }

  /**
   * Before a node's data or stat changes, or it goes: its digest leaves the sum. Unless the node
   * is among those changed last, computed again rather than kept per node: nodes carry no digest
   * of their own (a snapshot's load need not compute one per node).
   */
  beforeChange(path: string, node: ZNode): void {
    this.changing = node;
    const known = this.recent.get(node);
    // The entry stays: afterChange overwrites it in place (a delete and a new key per change made
    // V8 rebuild the Map's table every few changes).
    this.remove(known === undefined ? nodeDigest(path, node) : known);
  }

  /** After a node's data or stat changed (or after it was added). */
  afterChange(path: string, node: ZNode): void {
    const d = nodeDigest(path, node);
    this.add(d);
    // Only nodes changed after their creation are remembered: a new node is seldom changed soon,
    // and a Map key per create cost more than the CRC it saves. Any other entry for the node is
    // dropped, so that none is stale.
    if (d === 0 || this.changing !== node) {
      if (this.recent.size > 0) this.recent.delete(node);
      return;
    }
    this.changing = undefined;
    // Emptied when full rather than trimmed by its oldest entry: V8 finds a Map's first key by
    // walking over the deleted ones, which made a run of creates slower than no memory at all.
    if (this.recent.size >= RECENT_NODES_MAX && !this.recent.has(node)) this.recent.clear();
    this.recent.set(node, d);
  }

  /** Sets the sum, as a snapshot stores it or a walk computes it. */
  set(value: bigint): void {
    this.recent.clear();
    this.changing = undefined;
    this.sum = BigInt.asIntN(64, value);
    this.partial = 0;
    this.pending = 0;
  }
}

/** The digest of the whole tree, by a full walk. */
export function computeTreeDigest(tree: DataTree): bigint {
  // Sums of up to 2^21 uint32 values stay exact in a double; fold into the bigint before that.
  const FOLD_EVERY = 1 << 20;
  let sum = 0n;
  let partial = 0;
  let n = 0;
  for (const [path, node] of tree.nodesPreOrder()) {
    partial += nodeDigest(path, node);
    if (++n === FOLD_EVERY) {
      sum += BigInt(partial);
      partial = 0;
      n = 0;
    }
  }
  return BigInt.asIntN(64, sum + BigInt(partial));
}
