/**
 * Where znodes keep their Stat numbers: slots in shared typed arrays rather than fields of the
 * node object. A field holding a zxid or a time needs a bigint object of its own (Node's V8 has no
 * unboxed 64-bit fields), and a tree of millions of nodes then spends more heap on bigints and
 * fields than on data, and its load is mostly garbage collection. A slot holds the five longs and
 * four ints in 56 bytes the collector never looks into.
 *
 * Slots come in chunks that never move, so a node keeps its chunk and index. A deleted node's slot
 * goes back for reuse, and the node (which a snapshot in progress or a reply may still read) gets a
 * copy in a slot that is never handed out again.
 */
import * as os from 'node:os';

/** The longs of a slot, in this order. */
export const CZXID = 0;
export const MZXID = 1;
export const CTIME = 2;
export const MTIME = 3;
export const PZXID = 4;
const LONGS = 5;

/** The ints of a slot, in this order: the child bucket count is for listing order (see childorder.ts). */
export const VERSION = 0;
export const CVERSION = 1;
export const AVERSION = 2;
export const CHILD_BUCKETS = 3;
const INTS = 4;

const SLOT_BYTES = LONGS * 8 + INTS * 4;
/** A small tree's slots. */
const SLOTS_IN_FIRST_CHUNK = 4096;
/**
 * Then 56 MB chunks. malloc maps memory this large on its own, and the pages take up memory only
 * once slots in them are used. Smaller chunks came from malloc's heap, among buffers freed
 * meanwhile (a load, a snapshot), and pinned that freed memory: 30-60 MB of it at 500k nodes.
 */
const SLOTS_PER_CHUNK = 1 << 20;
/** Copies for deleted nodes come from smaller chunks: they are usually garbage soon. */
const SLOTS_PER_RETIRED_CHUNK = 256;

/** Which 32-bit half of a long is the high one, in memory. */
const HI = os.endianness() === 'LE' ? 1 : 0;
const LO = 1 - HI;

export class StatChunk {
  readonly longs: BigInt64Array;
  /** The longs as 32-bit halves: written out as big-endian bytes without making a bigint. */
  readonly words: Uint32Array;
  readonly ints: Int32Array;

  constructor(
    readonly slots: number,
    /** Holds copies for deleted nodes: its slots are never given back. */
    readonly retired = false,
  ) {
    const buf = new ArrayBuffer(slots * SLOT_BYTES);
    this.longs = new BigInt64Array(buf, 0, slots * LONGS);
    this.words = new Uint32Array(buf, 0, slots * LONGS * 2);
    this.ints = new Int32Array(buf, slots * LONGS * 8, slots * INTS);
  }

  /** Writes long `which` of `slot` big-endian into b at pos. */
  writeLongBE(slot: number, which: number, b: Buffer, pos: number): void {
    const w = (slot * LONGS + which) * 2;
    b.writeUInt32BE(this.words[w + HI], pos);
    b.writeUInt32BE(this.words[w + LO], pos + 4);
  }

  /** Sets long `which` of `slot` from 8 big-endian bytes of b at pos. */
  readLongBE(slot: number, which: number, b: Buffer, pos: number): void {
    const w = (slot * LONGS + which) * 2;
    // The bytes put together here rather than by readUInt32BE, which checks its offset each call (a
    // load calls this five times a node); the caller has checked that they are all there.
    this.words[w + HI] = (b[pos] << 24) | (b[pos + 1] << 16) | (b[pos + 2] << 8) | b[pos + 3];
    this.words[w + LO] = (b[pos + 4] << 24) | (b[pos + 5] << 16) | (b[pos + 6] << 8) | b[pos + 7];
  }

  long(slot: number, which: number): bigint {
    return this.longs[slot * LONGS + which];
  }

  setLong(slot: number, which: number, v: bigint): void {
    this.longs[slot * LONGS + which] = v;
  }

  int(slot: number, which: number): number {
    return this.ints[slot * INTS + which];
  }

  setInt(slot: number, which: number, v: number): void {
    this.ints[slot * INTS + which] = v;
  }

  /** Copies a whole slot (from another chunk or this one). */
  copySlot(slot: number, from: StatChunk, fromSlot: number): void {
    this.longs.set(from.longs.subarray(fromSlot * LONGS, fromSlot * LONGS + LONGS), slot * LONGS);
    this.ints.set(from.ints.subarray(fromSlot * INTS, fromSlot * INTS + INTS), slot * INTS);
  }
}

/** What holds a slot: a znode. */
export interface SlotHolder {
  st: StatChunk;
  at: number;
}

/** Hands out and takes back the slots of one tree's nodes. */
export class StatSlots {
  private chunk = new StatChunk(SLOTS_IN_FIRST_CHUNK);
  private next = 0;
  /** Slots given back, as parallel stacks of chunk and index. */
  private readonly freeChunks: StatChunk[] = [];
  private readonly freeSlots: number[] = [];
  private retired = new StatChunk(SLOTS_PER_RETIRED_CHUNK, true);
  private retiredNext = 0;
  /** Slots held by live nodes. */
  private live = 0;

  /** Gives `h` a slot, zeroed. */
  place(h: SlotHolder): void {
    this.live++;
    if (this.freeSlots.length > 0) {
      const chunk = this.freeChunks.pop()!;
      const slot = this.freeSlots.pop()!;
      chunk.longs.fill(0n, slot * LONGS, slot * LONGS + LONGS);
      chunk.ints.fill(0, slot * INTS, slot * INTS + INTS);
      h.st = chunk;
      h.at = slot;
      return;
    }
    if (this.next === this.chunk.slots) {
      this.chunk = new StatChunk(SLOTS_PER_CHUNK);
      this.next = 0;
    }
    h.st = this.chunk;
    h.at = this.next++;
  }

  /** Takes back `h`'s slot for reuse; `h` keeps its numbers in a slot of its own. */
  release(h: SlotHolder): void {
    if (h.st.retired) return;
    this.live--;
    if (this.retiredNext === SLOTS_PER_RETIRED_CHUNK) {
      this.retired = new StatChunk(SLOTS_PER_RETIRED_CHUNK, true);
      this.retiredNext = 0;
    }
    const slot = this.retiredNext++;
    this.retired.copySlot(slot, h.st, h.at);
    this.freeChunks.push(h.st);
    this.freeSlots.push(h.at);
    h.st = this.retired;
    h.at = slot;
  }

  /** Slots held by live nodes. */
  get inUse(): number {
    return this.live;
  }
}
