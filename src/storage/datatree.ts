/**
 * The DataTree: znodes, their Stat as ZooKeeper computes it, ephemerals by session, containers and
 * TTL nodes. `apply` is deterministic: it reads nothing but the txn and the tree.
 */
import {
  Err,
  EventType,
  OpCode,
  ephemeralKind,
  Perms,
} from '../protocol/constants';
import { type ACL, type Stat, Stat_SIZE, StatPersisted_SIZE } from '../protocol/generated/records';
import { basename, join, parentOf, CONFIG_PATH, QUOTA_PATH, ZOOKEEPER_PATH } from './paths';
import { grownBuckets, INITIAL_CHILD_BUCKETS, javaHashSetCloneOrder, javaHashSetOrder } from './childorder';
import { computeTreeDigest, TreeDigest } from './digest';
import { LIMIT_NODE, QuotaPaths, quotaNodeOf, StatsTrack, limitPath, statPath } from './quota';
import type { Txn, TxnBody } from './txn';
import { putLong, type JuteWriter } from '../protocol/jute';
import * as S from './statslots';
import { type NameTable, ownName } from './names';
import { type SlotHolder, type StatChunk, StatSlots } from './statslots';

/** A session's ephemerals live in a HashSet of the default 16 buckets. */
const EPHEMERAL_SET_BUCKETS = 16;

/** A session's ephemeral paths, with the bucket count of ZooKeeper's set (for the order they are listed in). */
class EphemeralSet extends Set<string> {
  buckets = EPHEMERAL_SET_BUCKETS;
}

/** A read-only set of child names over some store of them; the rest follows from keys(). */
abstract class NameSet implements ReadonlySet<string> {
  abstract readonly size: number;
  abstract has(name: string): boolean;
  abstract keys(): IterableIterator<string>;
  values(): IterableIterator<string> {
    return this.keys();
  }
  *entries(): IterableIterator<[string, string]> {
    for (const k of this.keys()) yield [k, k];
  }
  forEach(fn: (value: string, key: string, set: ReadonlySet<string>) => void): void {
    for (const k of this.keys()) fn(k, k, this);
  }
  [Symbol.iterator](): IterableIterator<string> {
    return this.keys();
  }
}

/** A node's child names, over its map of children. */
class ChildNames extends NameSet {
  constructor(private readonly kids: ReadonlyMap<string, ZNode> | undefined) {
    super();
  }
  get size(): number {
    return this.kids === undefined ? 0 : this.kids.size;
  }
  has(name: string): boolean {
    return this.kids !== undefined && this.kids.has(name);
  }
  keys(): IterableIterator<string> {
    return (this.kids ?? NO_KIDS).keys();
  }
}

/**
 * A znode. Laid out for memory, as a tree holds millions: data is kept as a latin1 string (one
 * char per byte, lossless, about half the heap of a small Buffer); the Stat numbers live in a slot
 * of the tree's StatSlots (see statslots.ts); a node holds its children by name (the tree is a
 * trie, no full path is stored), in a map made only once there is a child.
 */
export class ZNode implements SlotHolder {
  private dataText: string | null;
  acl: ACL[];
  ephemeralOwner: bigint;
  private kids: Map<string, ZNode> | undefined = undefined;
  st!: StatChunk;
  at = 0;

  /** `zxid` and `time` undefined: left 0 (a node restored from a snapshot gets its stat next). */
  constructor(slots: StatSlots, data: Buffer | string | null, acl: ACL[], zxid: bigint | undefined, time: bigint | undefined, ephemeralOwner: bigint) {
    this.dataText = typeof data === 'string' || data === null ? data : data.toString('latin1');
    this.acl = acl;
    this.ephemeralOwner = ephemeralOwner === 0n ? ZERO : ephemeralOwner;
    // The slot comes zeroed.
    slots.place(this);
    const { st, at } = this;
    if (zxid !== undefined) {
      st.setLong(at, S.CZXID, zxid);
      st.setLong(at, S.MZXID, zxid);
      st.setLong(at, S.PZXID, zxid);
    }
    if (time !== undefined) {
      st.setLong(at, S.CTIME, time);
      st.setLong(at, S.MTIME, time);
    }
    st.setInt(at, S.CHILD_BUCKETS, INITIAL_CHILD_BUCKETS);
  }

  get czxid(): bigint {
    return this.st.long(this.at, S.CZXID);
  }
  set czxid(v: bigint) {
    this.st.setLong(this.at, S.CZXID, v);
  }
  get mzxid(): bigint {
    return this.st.long(this.at, S.MZXID);
  }
  set mzxid(v: bigint) {
    this.st.setLong(this.at, S.MZXID, v);
  }
  get ctime(): bigint {
    return this.st.long(this.at, S.CTIME);
  }
  set ctime(v: bigint) {
    this.st.setLong(this.at, S.CTIME, v);
  }
  get mtime(): bigint {
    return this.st.long(this.at, S.MTIME);
  }
  set mtime(v: bigint) {
    this.st.setLong(this.at, S.MTIME, v);
  }
  get pzxid(): bigint {
    return this.st.long(this.at, S.PZXID);
  }
  set pzxid(v: bigint) {
    this.st.setLong(this.at, S.PZXID, v);
  }
  get version(): number {
    return this.st.int(this.at, S.VERSION);
  }
  set version(v: number) {
    this.st.setInt(this.at, S.VERSION, v);
  }
  /** Counts child creations; clients see it translated (see statOf). */
  get cversion(): number {
    return this.st.int(this.at, S.CVERSION);
  }
  set cversion(v: number) {
    this.st.setInt(this.at, S.CVERSION, v);
  }
  get aversion(): number {
    return this.st.int(this.at, S.AVERSION);
  }
  set aversion(v: number) {
    this.st.setInt(this.at, S.AVERSION, v);
  }
  /** Buckets of the Java HashSet ZooKeeper would hold the children in (see childorder.ts). */
  get childBuckets(): number {
    return this.st.int(this.at, S.CHILD_BUCKETS);
  }
  set childBuckets(v: number) {
    this.st.setInt(this.at, S.CHILD_BUCKETS, v);
  }

  /** Sets the stored Stat fields from a StatPersisted as a snapshot holds it (60 bytes at `at`). */
  readStatPersisted(b: Buffer, at: number): void {
    const st = this.st;
    const i = this.at;
    st.readLongBE(i, S.CZXID, b, at);
    st.readLongBE(i, S.MZXID, b, at + 8);
    st.readLongBE(i, S.CTIME, b, at + 16);
    st.readLongBE(i, S.MTIME, b, at + 24);
    st.setInt(i, S.VERSION, b.readInt32BE(at + 32));
    st.setInt(i, S.CVERSION, b.readInt32BE(at + 36));
    st.setInt(i, S.AVERSION, b.readInt32BE(at + 40));
    // ephemeralOwner (at + 44) is the node's field, set by its constructor.
    st.readLongBE(i, S.PZXID, b, at + 52);
  }

  /** Writes the stored Stat fields as a StatPersisted. */
  writeStatPersisted(w: JuteWriter): void {
    w.ensure(StatPersisted_SIZE);
    const p = w.pos;
    this.writeStatHead(w.buf, p, this.st.int(this.at, S.CVERSION), this.ephemeralOwner);
    this.st.writeLongBE(this.at, S.PZXID, w.buf, p + 52);
    w.pos = p + StatPersisted_SIZE;
  }

  /**
   * Writes the Stat a client sees (see DataTree.statOf), straight from the slot. `owner` is the
   * ephemeralOwner to show (0 for containers and TTL nodes).
   */
  writeStat(w: JuteWriter, owner: bigint): void {
    w.ensure(Stat_SIZE);
    const b = w.buf;
    const p = w.pos;
    this.writeStatHead(b, p, this.st.int(this.at, S.CVERSION) * 2 - this.childCount, owner);
    b.writeInt32BE(this.dataLength, p + 52);
    b.writeInt32BE(this.childCount, p + 56);
    this.st.writeLongBE(this.at, S.PZXID, b, p + 60);
    w.pos = p + Stat_SIZE;
  }

  /** The first 52 bytes, the same in Stat and StatPersisted: czxid to ephemeralOwner. */
  private writeStatHead(b: Buffer, p: number, cversion: number, owner: bigint): void {
    const st = this.st;
    const i = this.at;
    st.writeLongBE(i, S.CZXID, b, p);
    st.writeLongBE(i, S.MZXID, b, p + 8);
    st.writeLongBE(i, S.CTIME, b, p + 16);
    st.writeLongBE(i, S.MTIME, b, p + 24);
    b.writeInt32BE(st.int(i, S.VERSION), p + 32);
    b.writeInt32BE(cversion, p + 36);
    b.writeInt32BE(st.int(i, S.AVERSION), p + 40);
    putLong(b, p + 44, owner);
  }

  /** The stat bytes the node digest covers, in its order: czxid mzxid pzxid ctime mtime version cversion aversion ephemeralOwner. */
  writeDigestStat(b: Buffer): void {
    const st = this.st;
    const i = this.at;
    st.writeLongBE(i, S.CZXID, b, 0);
    st.writeLongBE(i, S.MZXID, b, 8);
    st.writeLongBE(i, S.PZXID, b, 16);
    st.writeLongBE(i, S.CTIME, b, 24);
    st.writeLongBE(i, S.MTIME, b, 32);
    b.writeInt32BE(st.int(i, S.VERSION), 40);
    b.writeInt32BE(st.int(i, S.CVERSION), 44);
    b.writeInt32BE(st.int(i, S.AVERSION), 48);
    putLong(b, 52, this.ephemeralOwner);
  }

  /** The data as a new Buffer (null for a node created with null data). */
  get data(): Buffer | null {
    return this.dataText === null ? null : Buffer.from(this.dataText, 'latin1');
  }

  set data(b: Buffer | null) {
    this.dataText = b === null ? null : b.toString('latin1');
  }

  get dataLength(): number {
    return this.dataText === null ? 0 : this.dataText.length;
  }

  get hasNullData(): boolean {
    return this.dataText === null;
  }

  /** Copies the data's bytes to the start of `scratch.buf` (grown as needed); their count. For checksums. */
  copyDataInto(scratch: { buf: Buffer }): number {
    const t = this.dataText ?? '';
    if (scratch.buf.length < t.length) scratch.buf = Buffer.allocUnsafe(t.length);
    return scratch.buf.write(t, 0, t.length, 'latin1');
  }

  /** The data as it is now, in the form writeDataText takes (strings are immutable: a snapshot). */
  get dataAsText(): string | null {
    return this.dataText;
  }

  /** Writes the data as Jute's length-prefixed buffer, without an intermediate Buffer. */
  writeData(w: JuteWriter): void {
    writeDataText(w, this.dataText);
  }

  /** Child names in insertion order; see childorder.ts for the order clients see. */
  get children(): ReadonlySet<string> {
    return new ChildNames(this.kids);
  }

  get childCount(): number {
    return this.kids === undefined ? 0 : this.kids.size;
  }

  child(name: string): ZNode | undefined {
    return this.kids === undefined ? undefined : this.kids.get(name);
  }

  /**
   * The map of children itself, live (a snapshot lists it in steps: a Map's iterator sees the
   * entries added after it began, and skips those deleted before it reached them).
   */
  get childMap(): ReadonlyMap<string, ZNode> | undefined {
    return this.kids;
  }

  /** Children by name, in insertion order. */
  childEntries(): IterableIterator<[string, ZNode]> {
    return (this.kids ?? NO_KIDS).entries();
  }

  /** Adds a child, or replaces the node under that name keeping its place. */
  setChild(name: string, node: ZNode): void {
    (this.kids ??= new Map()).set(name, node);
  }

  removeChild(name: string): void {
    if (this.kids === undefined) return;
    this.kids.delete(name);
    if (this.kids.size === 0) this.kids = undefined;
  }

  hasChild(name: string): boolean {
    return this.kids !== undefined && this.kids.has(name);
  }

  /** Becomes `from` (its fields and children): for the root, which is never replaced. */
  takeFieldsOf(from: ZNode): void {
    this.dataText = from.dataText;
    this.acl = from.acl;
    this.ephemeralOwner = from.ephemeralOwner;
    this.kids = from.kids;
    this.st.copySlot(this.at, from.st, from.at);
  }

  /** Hands this node's children over to `to` (a node replacing this one). */
  moveChildrenTo(to: ZNode): void {
    to.kids = this.kids;
    this.kids = undefined;
  }
}

/** Whether a and b have the same first `len` chars (both are at least that long). */
function samePrefix(a: string, b: string, len: number): boolean {
  for (let i = len - 1; i >= 0; i--) if (a.charCodeAt(i) !== b.charCodeAt(i)) return false;
  return true;
}

/** Writes data kept as latin1 text as Jute's length-prefixed buffer. */
export function writeDataText(w: JuteWriter, t: string | null): void {
  if (t === null) {
    w.writeInt(-1);
    return;
  }
  w.ensure(4 + t.length);
  w.buf.writeInt32BE(t.length, w.pos);
  w.buf.write(t, w.pos + 4, t.length, 'latin1');
  w.pos += 4 + t.length;
}

const ZERO = 0n;
/** Txns whose results carry the node's Stat, as their replies do (a plain create's carries the path only). */
const REPLY_HAS_STAT: ReadonlySet<number> = new Set([OpCode.create2, OpCode.createTTL, OpCode.createContainer, OpCode.setData, OpCode.setACL]);
const NO_KIDS: ReadonlyMap<string, ZNode> = new Map();

/**
 * A snapshot being written while the tree goes on changing: told before a node's fields or children
 * change (or the node goes), so that it can keep what the node was when the snapshot began.
 */
export interface NodePreserver {
  preserve(path: string, node: ZNode): void;
  /** Told before child `name` of the node at `parentPath` is deleted (after preserve of both). */
  childRemoved(parentPath: string, name: string, child: ZNode): void;
}

export interface WatchEvent {
  type: number;
  path: string;
  /** The node's ACL when the event happened, for checks on who may learn of it. */
  acl: ACL[];
}

export interface TxnResult {
  type: number;
  err: number;
  zxid: bigint;
  path?: string;
  stat?: Stat;
  multi?: TxnResult[];
  /** /zookeeper/config's new data, for a reconfig's reply. */
  data?: Buffer | null;
}

export const OPEN_ACL_UNSAFE: ACL[] = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];

export const READ_ACL_UNSAFE: ACL[] = [{ perms: Perms.READ, id: { scheme: 'world', id: 'anyone' } }];

export function sameAclList(a: readonly ACL[], b: readonly ACL[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].perms !== b[i].perms || a[i].id.scheme !== b[i].id.scheme || a[i].id.id !== b[i].id.id) return false;
  }
  return true;
}

/** Interns equal ACL lists so that nodes share one array. */
class AclCache {
  private readonly byKey = new Map<string, ACL[]>();
  /** The interned lists themselves: interning one again is a lookup by identity. */
  private readonly members = new Set<ACL[]>();
  /** The list interned last: creates in a row mostly carry equal lists. */
  private last: ACL[] | undefined;
  intern(acl: ACL[]): ACL[] {
    if (this.members.has(acl)) return acl;
    if (this.last !== undefined && sameAclList(acl, this.last)) return this.last;
    this.last = this.internByKey(acl);
    return this.last;
  }
  private internByKey(acl: ACL[]): ACL[] {
    const key = acl.map((a) => `${a.perms}:${a.id.scheme}:${a.id.id}`).join(',');
    let found = this.byKey.get(key);
    if (!found) {
      found = acl.map((a) => ({ perms: a.perms, id: { scheme: a.id.scheme, id: a.id.id } }));
      this.byKey.set(key, found);
      this.members.add(found);
    }
    return found;
  }
  get size(): number {
    return this.byKey.size;
  }
  /** Every list interned, in the order they were. */
  lists(): ACL[][] {
    return [...this.byKey.values()];
  }
}

export class DataTree {
  private readonly slots = new StatSlots();
  private readonly root: ZNode;
  private count = 0;
  /**
   * The parent of the last node getNode walked to (not the root), and a path under it: creates
   * and reads in a row mostly go under one parent, whose own walk is then skipped. Forgotten
   * whenever a node leaves the tree.
   */
  private lastParent: ZNode | undefined;
  private lastParentOf = '';
  private lastParentLength = 0;
  /** restoreNode's last parent, by path (see there). */
  private lastRestoredParentPath = '';
  private lastRestoredParent: ZNode | undefined;
  private readonly ephemerals = new Map<bigint, EphemeralSet>();
  readonly containers = new Set<string>();
  readonly ttls = new Set<string>();
  readonly acls = new AclCache();
  readonly quotas = new QuotaPaths();
  /** ZooKeeper's tree digest, kept up to date with every change (written to logs and snapshots). */
  readonly digest = new TreeDigest();
  lastProcessedZxid = 0n;
  /**
   * The newest czxid among nodes read from snapshots: a fuzzy snapshot may hold nodes created
   * after its own zxid, which the log replay then skips.
   */
  private newestRestoredCzxidValue: bigint | undefined = 0n;
  /** newestRestoredCzxid's halves, signed high and unsigned low (the bigint is made when asked for). */
  private newestCzxidHigh = 0;
  private newestCzxidLow = 0;
  /** Told when a subtree goes past a soft quota (ZooKeeper logs a warning and goes on). */
  onQuotaExceeded: (message: string) => void = () => undefined;
  /** Whether apply makes results' Stats and watch events (not while replaying). */
  private reporting = true;
  /** Events of the txn being applied; handed out with its result. */
  private events: WatchEvent[] = [];
  /** Snapshots in progress (see snapshot.ts). */
  private readonly preservers: NodePreserver[] = [];

  constructor(readonly extendedTypesEnabled = false) {
    const root = (this.root = new ZNode(this.slots, Buffer.alloc(0), this.acls.intern(OPEN_ACL_UNSAFE), 0n, 0n, 0n));
    this.count = 1;
    for (const p of [ZOOKEEPER_PATH, QUOTA_PATH, CONFIG_PATH]) {
      const n = new ZNode(this.slots, Buffer.alloc(0), root.acl, 0n, 0n, 0n);
      this.addChild(this.getNode(parentOf(p))!, basename(p), n);
      this.count++;
    }
    // The config node is world-readable only, and ZooKeeper sets its ACL with version -1.
    const config = this.getNode(CONFIG_PATH)!;
    config.acl = this.acls.intern(READ_ACL_UNSAFE);
    config.aversion = -1;
    for (const [p, n] of this.nodesPreOrder()) this.digest.afterChange(p, n);
  }

  /**
   * An ensemble member's /zookeeper/config: its quorum verifier's string, as ZooKeeper writes it
   * into the tree each time it loads its database (a setData with version -1: the node's version
   * reads -1, its mzxid the config's version, its mtime the load time). The node is outside the
   * digest, so every member may stamp its own mtime.
   */
  setQuorumConfig(text: string, configVersion: bigint, timeMs: bigint): void {
    const n = this.getNode(CONFIG_PATH)!;
    this.beforeMutate(CONFIG_PATH, n);
    n.data = Buffer.from(text, 'utf8');
    n.version = -1;
    n.mzxid = configVersion;
    n.mtime = timeMs;
    this.digest.afterChange(CONFIG_PATH, n);
  }

  /** No node in the tree now has a newer czxid: every node created from now on does. */
  get newestCzxid(): bigint {
    const restored = this.newestRestoredCzxid;
    return this.lastProcessedZxid > restored ? this.lastProcessedZxid : restored;
  }

  private get newestRestoredCzxid(): bigint {
    return (this.newestRestoredCzxidValue ??= BigInt.asIntN(64, (BigInt(this.newestCzxidHigh) << 32n) | BigInt(this.newestCzxidLow)));
  }

  /**
   * After a snapshot's nodes are restored: the tree digest as the snapshot stores it (trusted), or
   * computed by a walk of the tree. Returns the value set.
   */
  setDigest(stored?: bigint): bigint {
    const value = stored ?? computeTreeDigest(this);
    this.digest.set(value);
    return value;
  }

  addPreserver(p: NodePreserver): void {
    this.preservers.push(p);
  }

  removePreserver(p: NodePreserver): void {
    const i = this.preservers.indexOf(p);
    if (i >= 0) this.preservers.splice(i, 1);
  }

  /** Before a node's data, Stat, ACL or children change, or it is deleted. */
  private beforeMutate(path: string, node: ZNode): void {
    this.digest.beforeChange(path, node);
    this.preserve(path, node);
  }

  /** For changes the digest does not see (quota stat nodes, children). */
  private preserve(path: string, node: ZNode): void {
    for (let i = 0; i < this.preservers.length; i++) this.preservers[i].preserve(path, node);
  }

  /** Every node, parents before children (the order snapshots are written in). */
  *nodesPreOrder(): Generator<[string, ZNode]> {
    const stack: [string, ZNode][] = [['/', this.root]];
    while (stack.length > 0) {
      const [path, n] = stack.pop()!;
      yield [path, n];
      const kids = this.childrenOf(n);
      for (let i = kids.length - 1; i >= 0; i--) stack.push([join(path, kids[i]), n.child(kids[i])!]);
    }
  }

  /** Keeps the newest czxid restored, compared as two 32-bit halves (signed high, unsigned low: the signed 64-bit order), without a bigint per node. */
  private noteRestoredCzxid(b: Buffer, statAt: number): void {
    const czxidHigh = b.readInt32BE(statAt);
    const czxidLow = b.readUInt32BE(statAt + 4);
    if (czxidHigh > this.newestCzxidHigh || (czxidHigh === this.newestCzxidHigh && czxidLow > this.newestCzxidLow)) {
      this.newestCzxidHigh = czxidHigh;
      this.newestCzxidLow = czxidLow;
      this.newestRestoredCzxidValue = undefined;
    }
  }

  /**
   * restoreNode's common case, for a loader that found the parent itself and holds no path string:
   * a new child `name` (a string of its own) of `parent`, a node of this tree, with `acl` interned
   * in this tree's cache, no ephemeral owner and not a quota's limits, while no snapshot is being
   * written. Returns undefined, having changed nothing, for any other case: the caller then uses
   * restoreNode.
   */
  restoreChild(parent: ZNode, name: string, data: string | null, acl: ACL[], b: Buffer, statAt: number): ZNode | undefined {
    // ephemeralOwner is 8 bytes at +44: a node with one is indexed by its path, as a quota's limits are.
    if (b.readInt32BE(statAt + 44) !== 0 || b.readInt32BE(statAt + 48) !== 0 || name === LIMIT_NODE || this.preservers.length > 0 || parent.hasChild(name)) return undefined;
    const node = new ZNode(this.slots, data, acl, undefined, undefined, ZERO);
    node.readStatPersisted(b, statAt);
    this.noteRestoredCzxid(b, statAt);
    this.count++;
    this.addChild(parent, name, node);
    return node;
  }

  /**
   * Puts a node read from a snapshot into the tree, replacing one at the same path (the built-in
   * system nodes). Its parent must already be there. Its Stat is the StatPersisted in `b` at
   * `statAt` (raw cversion), which the caller has checked is all there. The tree digest is left
   * alone: once every node is in, the caller sets it (setDigest).
   */
  restoreNode(
    path: string,
    data: Buffer | string | null,
    acl: ACL[],
    b: Buffer,
    statAt: number,
    /** Where equal child names are shared during a load. */
    names?: NameTable,
  ): ZNode {
    let parentPath = '';
    let parent: ZNode | undefined;
    let name = '';
    if (path !== '/') {
      // Snapshots list nodes parents first, siblings together: the last parent is usually this
      // one's, found without cutting the parent's path out of this one.
      const slash = path.lastIndexOf('/');
      const last = this.lastRestoredParentPath;
      if (this.lastRestoredParent !== undefined && (slash === 0 ? last === '/' : slash === last.length && path.startsWith(last))) {
        parentPath = last;
        parent = this.lastRestoredParent;
      } else {
        parentPath = slash <= 0 ? '/' : path.slice(0, slash);
        parent = this.getNode(parentPath);
        if (!parent) throw new Error(`snapshot node ${path} comes before its parent`);
        this.lastRestoredParentPath = parentPath;
        this.lastRestoredParent = parent;
      }
      name = ownName(path.slice(slash + 1));
      if (names !== undefined) name = names.intern(name);
    }
    // ephemeralOwner is 8 bytes at +44; most nodes have none.
    const owner = b.readInt32BE(statAt + 44) === 0 && b.readInt32BE(statAt + 48) === 0 ? ZERO : b.readBigInt64BE(statAt + 44);
    const node = new ZNode(this.slots, data, this.acls.intern(acl), undefined, undefined, owner);
    node.readStatPersisted(b, statAt);
    this.noteRestoredCzxid(b, statAt);
    const old = parent === undefined ? this.root : parent.child(name);
    if (old) {
      this.beforeMutate(path, old);
      old.moveChildrenTo(node);
      this.forgetLastParent();
      node.childBuckets = grownBuckets(INITIAL_CHILD_BUCKETS, node.childCount);
    } else this.count++;
    if (parent === undefined) {
      // The root is the trie itself: its fields move into place, the object stays.
      this.root.takeFieldsOf(node);
      this.slots.release(node);
      return this.root;
    }
    if (old) this.slots.release(old);
    this.preserve(parentPath, parent);
    this.addChild(parent, name, node);
    this.indexNode(path, owner, true);
    return node;
  }

  /** Adds a node to (or drops it from) the indexes kept beside the tree: owners and quotas. */
  private indexNode(path: string, owner: bigint, add: boolean): void {
    switch (ephemeralKind(owner, true)) {
      case 'container':
        if (add) this.containers.add(path);
        else this.containers.delete(path);
        break;
      case 'ttl':
        if (add) this.ttls.add(path);
        else this.ttls.delete(path);
        break;
      case 'normal':
        if (add) this.addEphemeral(owner, path);
        else this.ephemerals.get(owner)?.delete(path);
        break;
      default:
        break;
    }
    const quotaNode = quotaNodeOf(path);
    if (quotaNode?.kind === 'limit') {
      if (add) this.quotas.add(quotaNode.quotaPath);
      else this.quotas.delete(quotaNode.quotaPath);
    }
  }

  private addChild(parent: ZNode, name: string, node: ZNode): void {
    parent.setChild(name, node);
    parent.childBuckets = grownBuckets(parent.childBuckets, parent.childCount);
  }

  /** Child names in the order ZooKeeper lists them. */
  childrenOf(n: ZNode): string[] {
    return javaHashSetOrder(n.children, n.childBuckets);
  }

  getNode(path: string): ZNode | undefined {
    if (path === '/' || path === '') return this.root;
    if (path.charCodeAt(0) !== 47) return undefined;
    const cached = this.lastParent;
    if (cached !== undefined) {
      const len = this.lastParentLength;
      if (path.length > len + 1 && path.charCodeAt(len) === 47 && path.indexOf('/', len + 1) < 0 && samePrefix(path, this.lastParentOf, len)) {
        return cached.child(path.slice(len + 1));
      }
    }
    // A walk down the trie, one name per step.
    let n: ZNode | undefined = this.root;
    let from = 1;
    for (;;) {
      const slash = path.indexOf('/', from);
      if (slash < 0) {
        if (from > 1) {
          this.lastParent = n;
          this.lastParentOf = path;
          this.lastParentLength = from - 1;
        }
        return n.child(path.slice(from));
      }
      n = n.child(path.slice(from, slash));
      if (n === undefined) return undefined;
      from = slash + 1;
    }
  }

  /** Nodes leave the tree: a parent remembered by getNode may be one of them. */
  private forgetLastParent(): void {
    this.lastParent = undefined;
    this.lastParentOf = '';
  }

  get nodeCount(): number {
    return this.count;
  }

  ephemeralsOf(sessionId: bigint): ReadonlySet<string> {
    return this.ephemerals.get(sessionId) ?? new Set();
  }

  /** A session's ephemerals in the order ZooKeeper lists them (getEphemerals, closeSession). */
  ephemeralsListed(sessionId: bigint): string[] {
    const set = this.ephemerals.get(sessionId);
    if (!set) return [];
    return javaHashSetCloneOrder(set, set.buckets);
  }

  private addEphemeral(sessionId: bigint, path: string): void {
    let set = this.ephemerals.get(sessionId);
    if (!set) this.ephemerals.set(sessionId, (set = new EphemeralSet()));
    set.add(path);
    set.buckets = grownBuckets(set.buckets, set.size);
  }

  sessionsWithEphemerals(): IterableIterator<bigint> {
    return this.ephemerals.keys();
  }

  *paths(): IterableIterator<string> {
    for (const [p] of this.nodesPreOrder()) yield p;
  }

  /** Writes statOf(n) as Jute, without making it. */
  writeStatOf(w: JuteWriter, n: ZNode): void {
    n.writeStat(w, ephemeralKind(n.ephemeralOwner, this.extendedTypesEnabled) === 'normal' ? n.ephemeralOwner : ZERO);
  }

  /** The Stat a client sees. */
  statOf(n: ZNode): Stat {
    const kind = ephemeralKind(n.ephemeralOwner, this.extendedTypesEnabled);
    return {
      czxid: n.czxid,
      mzxid: n.mzxid,
      ctime: n.ctime,
      mtime: n.mtime,
      version: n.version,
      // Stored cversion counts creates; each child no longer present was also deleted once.
      cversion: n.cversion * 2 - n.childCount,
      aversion: n.aversion,
      ephemeralOwner: kind === 'normal' ? n.ephemeralOwner : 0n,
      dataLength: n.dataLength,
      numChildren: n.childCount,
      pzxid: n.pzxid,
    };
  }

  /**
   * Sum of path lengths and data lengths over all nodes (ZooKeeper's approximateDataSize; the root
   * counts as "/"). A walk of the trie that makes no path strings.
   */
  approximateDataSize(): number {
    let total = 0;
    const nodes: ZNode[] = [this.root];
    const pathLengths: number[] = [1];
    while (nodes.length > 0) {
      const n = nodes.pop()!;
      const len = pathLengths.pop()!;
      total += len + n.dataLength;
      const base = len === 1 ? 1 : len + 1;
      for (const [name, c] of n.childEntries()) {
        nodes.push(c);
        pathLengths.push(base + name.length);
      }
    }
    return total;
  }

  /** Number of descendants of the node at path (not counting it). */
  countDescendants(path: string): number {
    const n = this.getNode(path);
    if (!n) return 0;
    let count = 0;
    const stack = [n];
    while (stack.length > 0) {
      const node = stack.pop()!;
      for (const [, c] of node.childEntries()) {
        count++;
        stack.push(c);
      }
    }
    return count;
  }

  /**
   * Applies a txn as recovery replays it: the same changes, without the reply's Stat or watch
   * events, which nobody would read.
   */
  replay(txn: Txn): void {
    this.reporting = false;
    try {
      this.apply(txn);
    } finally {
      this.reporting = true;
    }
  }

  /** Applies a txn; returns the result and the watch events it caused, in order. */
  apply(txn: Txn): { result: TxnResult; events: WatchEvent[] } {
    this.events = [];
    const result = this.applyBody(txn.hdr.zxid, txn.hdr.time, txn.hdr.clientId, txn.body);
    if (txn.hdr.zxid > this.lastProcessedZxid) this.lastProcessedZxid = txn.hdr.zxid;
    const events = this.events;
    this.events = [];
    return { result, events };
  }

  private applyBody(zxid: bigint, time: bigint, sessionId: bigint, body: TxnBody, inMulti = false): TxnResult {
    const r: TxnResult = { type: body.type, err: Err.OK, zxid };
    switch (body.type) {
      case OpCode.create:
      case OpCode.create2: {
        const t = body.record;
        r.err = this.createNode(t.path, t.data, t.acl, t.ephemeral ? sessionId : 0n, t.parentCVersion, zxid, time);
        r.path = t.path;
        break;
      }
      case OpCode.createTTL: {
        const t = body.record;
        r.err = this.createNode(t.path, t.data, t.acl, -0x100000000000000n | t.ttl, t.parentCVersion, zxid, time);
        r.path = t.path;
        break;
      }
      case OpCode.createContainer: {
        const t = body.record;
        r.err = this.createNode(t.path, t.data, t.acl, -0x8000000000000000n, t.parentCVersion, zxid, time);
        r.path = t.path;
        break;
      }
      case OpCode.delete:
      case OpCode.deleteContainer:
        r.path = body.record.path;
        r.err = this.deleteNode(body.record.path, zxid);
        break;
      case OpCode.setData: {
        const t = body.record;
        r.path = t.path;
        const n = this.getNode(t.path);
        if (!n) {
          r.err = Err.NONODE;
          break;
        }
        const bytesDiff = (t.data?.length ?? 0) - n.dataLength;
        this.beforeMutate(t.path, n);
        n.data = t.data;
        n.version = t.version;
        n.mzxid = zxid;
        n.mtime = time;
        this.digest.afterChange(t.path, n);
        const q = this.quotas.covering(t.path);
        if (q !== undefined) this.updateQuotaStat(q, bytesDiff, 0);
        this.emit(EventType.NodeDataChanged, t.path, n.acl);
        if (t.path === CONFIG_PATH) r.data = t.data;
        break;
      }
      case OpCode.setACL: {
        const t = body.record;
        r.path = t.path;
        const n = this.getNode(t.path);
        if (!n) {
          r.err = Err.NONODE;
          break;
        }
        this.beforeMutate(t.path, n);
        n.acl = this.acls.intern(t.acl);
        n.aversion = t.version;
        this.digest.afterChange(t.path, n);
        break;
      }
      case OpCode.check:
        r.path = body.record.path;
        break;
      case OpCode.createSession:
        break;
      case OpCode.closeSession: {
        // The txn lists the paths in the order ZooKeeper deletes them; anything the session still
        // owns beyond them goes too.
        const paths = [...body.record.paths2Delete];
        const listed = new Set(paths);
        for (const p of this.ephemeralsListed(sessionId)) if (!listed.has(p)) paths.push(p);
        this.ephemerals.delete(sessionId);
        for (const p of paths) this.deleteNode(p, zxid);
        break;
      }
      case OpCode.error:
        r.err = body.record.err;
        break;
      case OpCode.multi:
        r.multi = this.applyMulti(zxid, time, sessionId, body.record.txns);
        r.err = r.multi.find((m) => m.err !== Err.OK)?.err ?? Err.OK;
        break;
    }
    // A create inside a multi reports its Stat too: the reply shows it if the client sent create2.
    if (this.reporting && r.err === Err.OK && r.path !== undefined && (REPLY_HAS_STAT.has(body.type) || (inMulti && body.type === OpCode.create))) {
      const n = this.getNode(r.path);
      if (n) r.stat = this.statOf(n);
    }
    return r;
  }

  private applyMulti(zxid: bigint, time: bigint, sessionId: bigint, txns: TxnBody[]): TxnResult[] {
    const failed = txns.some((t) => t.type === OpCode.error);
    if (failed) {
      // All or nothing: report OK for the ops before the failure and RUNTIMEINCONSISTENCY after it.
      let seenError = false;
      return txns.map((t) => {
        let err: number;
        if (t.type === OpCode.error) {
          seenError = true;
          err = t.record.err;
        } else err = seenError ? Err.RUNTIMEINCONSISTENCY : Err.OK;
        return { type: OpCode.error, err, zxid };
      });
    }
    return txns.map((t) => this.applyBody(zxid, time, sessionId, t, true));
  }

  private emit(type: number, path: string, acl: ACL[]): void {
    if (this.reporting) this.events.push({ type, path, acl });
  }

  private createNode(
    path: string,
    data: Buffer | null,
    acl: ACL[],
    ephemeralOwner: bigint,
    parentCVersion: number,
    zxid: bigint,
    time: bigint,
  ): number {
    const parentPath = parentOf(path);
    const parent = this.getNode(parentPath);
    if (!parent) return Err.NONODE;
    const name = basename(path);
    if (parent.hasChild(name)) return Err.NODEEXISTS;
    this.beforeMutate(parentPath, parent);
    parent.cversion = parentCVersion === -1 ? parent.cversion + 1 : parentCVersion;
    parent.pzxid = zxid;
    this.digest.afterChange(parentPath, parent);
    const node = new ZNode(this.slots, data, this.acls.intern(acl), zxid, time, ephemeralOwner);
    this.addChild(parent, ownName(name), node);
    this.count++;
    this.digest.afterChange(path, node);
    this.indexNode(path, ephemeralOwner, true);
    const quotaNode = quotaNodeOf(path);
    if (quotaNode?.kind === 'stat') this.recountQuota(quotaNode.quotaPath);
    const q = this.quotas.covering(path);
    if (q !== undefined) this.updateQuotaStat(q, data?.length ?? 0, 1);
    this.emit(EventType.NodeCreated, path, node.acl);
    this.emit(EventType.NodeChildrenChanged, parentPath, parent.acl);
    return Err.OK;
  }

  private deleteNode(path: string, zxid: bigint): number {
    if (path === '/') return Err.NONODE;
    const parentPath = parentOf(path);
    const parent = this.getNode(parentPath);
    if (!parent) return Err.NONODE;
    const name = basename(path);
    const node = parent.child(name);
    if (!node) return Err.NONODE;
    this.beforeMutate(path, node);
    // Before the children change, so that a snapshot in progress keeps the parent's old list.
    this.beforeMutate(parentPath, parent);
    for (let i = 0; i < this.preservers.length; i++) this.preservers[i].childRemoved(parentPath, name, node);
    // A valid txn never deletes a node with children (prep refuses it); were one to, its
    // subtree goes with it, out of the digest and the indexes as well.
    if (node.childCount > 0) this.dropDescendants(path, node);
    parent.removeChild(name);
    this.forgetLastParent();
    this.count--;
    if (zxid > parent.pzxid) parent.pzxid = zxid;
    this.digest.afterChange(parentPath, parent);
    this.indexNode(path, node.ephemeralOwner, false);
    const q = this.quotas.covering(path);
    if (q !== undefined) this.updateQuotaStat(q, -node.dataLength, -1);
    this.emit(EventType.NodeDeleted, path, node.acl);
    this.emit(EventType.NodeChildrenChanged, parentPath, parent.acl);
    this.slots.release(node);
    return Err.OK;
  }

  private dropDescendants(path: string, node: ZNode): void {
    const stack: [string, ZNode][] = [];
    for (const [name, c] of node.childEntries()) stack.push([join(path, name), c]);
    while (stack.length > 0) {
      const [p, n] = stack.pop()!;
      for (const [name, c] of n.childEntries()) stack.push([join(p, name), c]);
      this.beforeMutate(p, n);
      this.indexNode(p, n.ephemeralOwner, false);
      this.slots.release(n);
      this.count--;
    }
  }

  /**
   * Recounts every quota's stat node from the tree, as ZooKeeper does after loading a snapshot:
   * a snapshot taken while writes went on may hold stats that do not match its nodes.
   */
  recountQuotas(): void {
    for (const q of [...this.quotas.all()]) this.recountQuota(q);
  }

  private recountQuota(quotaPath: string): void {
    const sp = statPath(quotaPath);
    const stat = this.getNode(sp);
    if (!stat) return;
    this.preserve(sp, stat);
    let count = 0n;
    let bytes = 0n;
    const top = this.getNode(quotaPath);
    const stack = top ? [top] : [];
    while (stack.length > 0) {
      const n = stack.pop()!;
      count++;
      bytes += BigInt(n.dataLength);
      for (const [, c] of n.childEntries()) stack.push(c);
    }
    const st = new StatsTrack();
    st.set('count', count);
    st.set('bytes', bytes);
    // Stat nodes change in place: their version and mzxid stay, as in ZooKeeper.
    const text = st.toString();
    if (stat.data === null || stat.data.toString('utf8') !== text) stat.data = Buffer.from(text, 'utf8');
  }

  private updateQuotaStat(quotaPath: string, bytesDiff: number, countDiff: number): void {
    const sp = statPath(quotaPath);
    const stat = this.getNode(sp);
    if (!stat) return;
    this.preserve(sp, stat);
    const st = StatsTrack.parse(stat.data);
    st.set('count', st.count + BigInt(countDiff));
    st.set('bytes', st.bytes + BigInt(bytesDiff));
    stat.data = Buffer.from(st.toString(), 'utf8');
    const limits = this.getNode(limitPath(quotaPath));
    if (!limits) return;
    const lim = StatsTrack.parse(limits.data);
    if (lim.count > -1n && lim.count < st.count)
      this.onQuotaExceeded(`Quota exceeded: ${quotaPath} [current count=${st.count}, soft quota=${lim.count}]`);
    if (lim.bytes > -1n && lim.bytes < st.bytes)
      this.onQuotaExceeded(`Quota exceeded: ${quotaPath} [current bytes=${st.bytes}, soft quota=${lim.bytes}]`);
  }

  /**
   * For enforced quotas: the quota path whose hard limit a change of `bytesDiff` bytes and
   * `countDiff` nodes under `path` would pass, or undefined.
   */
  quotaExceededBy(path: string, bytesDiff: number, countDiff: number): string | undefined {
    const q = this.quotas.covering(path);
    if (q === undefined) return undefined;
    const limits = this.getNode(limitPath(q));
    const stat = this.getNode(statPath(q));
    if (!limits || !stat) return undefined;
    const lim = StatsTrack.parse(limits.data);
    const cur = StatsTrack.parse(stat.data);
    if (countDiff !== 0 && lim.countHardLimit > -1n && cur.count + BigInt(countDiff) > lim.countHardLimit) return q;
    if (bytesDiff !== 0 && lim.byteHardLimit > -1n && cur.bytes + BigInt(bytesDiff) > lim.byteHardLimit) return q;
    return undefined;
  }
}
