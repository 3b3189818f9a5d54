/**
 * Snapshots in Apache ZooKeeper's own format (`snapshot.<hex zxid>` in the `version-2` directory),
 * so that ZooKeeper can start from ours and we from its.
 *
 * Layout (Jute, big-endian), all of it inside one Adler-32 checked stream:
 *
 *   FileHeader { int magic "ZKSN"; int version 2; long dbid -1 }
 *   int sessionCount, then sessionCount x { long sessionId; int timeoutMs }
 *   int aclCount, then aclCount x { long aclId; vector<ACL> acls }   (id -1, never listed: OPEN_ACL_UNSAFE)
 *   every node, parents first: ustring path (the root as ""), buffer data, long aclId, StatPersisted
 *   ustring "/"                                       end of the nodes
 *   long adler32(every byte before this long), ustring "/"
 *   long zxid, int digestVersion, long treeDigest     ZooKeeper 3.6+ (absent in older snapshots)
 *   long adler32(every byte before this long), ustring "/"
 *   long lastProcessedZxid                            ZooKeeper 3.9 (serializeLastProcessedZxid)
 *   long adler32(every byte before this long), ustring "/"
 *
 * The checksums run over the uncompressed bytes; `.gz` and `.snappy` files compress the whole
 * stream.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import * as zlib from 'node:zlib';
import { JuteError, JuteReader, JuteWriter } from '../protocol/jute';
import {
  type ACL,
  type StatPersisted,
  decodeACL,
  decodeFileHeader,
  decodeStatPersisted,
  StatPersisted_SIZE,
  encodeACL,
  encodeFileHeader,
  encodeStatPersisted,
} from '../protocol/generated/records';
import { Adler32, adler32 } from './adler32';
import { grownBuckets, javaHashSetOrder, javaHashSetOrderInSteps, tableSizeFor } from './childorder';
import { DataTree, OPEN_ACL_UNSAFE, sameAclList, type NodePreserver, writeDataText, ZNode } from './datatree';
import { DIGEST_VERSION } from './digest';
import { NameTable } from './names';
import { CONFIG_PATH, join, QUOTA_PATH, ZOOKEEPER_PATH } from './paths';

/** "ZKSN" */
export const SNAP_MAGIC = 0x5a4b534e;
export const SNAP_VERSION = 2;
export const SNAP_DBID = -1n;
export const SNAPSHOT_PREFIX = 'snapshot';
/** What ends the snapshot stream a leader sends a learner (the learner checks it). */
export const SNAP_STREAM_TRAILER = 'BenWasHere';
/** The directory under dataDir that ZooKeeper keeps its files in. */
export const VERSION_DIR = 'version-2';

const OPEN_UNSAFE_ACL_ID = -1n;
/** Serialized bytes are handed on (and checksummed) in pieces of about this size (small enough to copy in well under a ms). */
const CHUNK_BYTES = 128 * 1024;
const HEADER_BYTES = 16;
/** Smallest encodings, to refuse counts the remaining bytes cannot hold before allocating. */
const SESSION_MIN_BYTES = 12;
const ACL_ENTRY_MIN_BYTES = 12;
const ACL_MIN_BYTES = 12;

export type SnapshotCompression = 'none' | 'gz' | 'snappy';

export interface SnapshotDigest {
  /** The zxid the digest belongs to (the last txn applied when it was taken). */
  zxid: bigint;
  version: number;
  digest: bigint;
}

export interface LoadedSnapshot {
  tree: DataTree;
  sessions: Map<bigint, number>;
  /** The zxid in the file name (-1 when the name has none); the tree holds at least this much. */
  zxid: bigint;
  dbid: bigint;
  /** The digest section; absent in snapshots of ZooKeeper before 3.6 or with digests disabled. */
  digest?: SnapshotDigest;
  /**
   * Whether the tree's digest equals the stored one; only judged when the stored digest belongs to
   * the file's zxid and is of our digest version (otherwise the snapshot is fuzzy past it).
   */
  digestMatches?: boolean;
  /** ZooKeeper 3.9's last-processed-zxid section, when the file has one. */
  lastZxid?: bigint;
}

export interface SnapshotFile {
  file: string;
  zxid: bigint;
  compression: SnapshotCompression;
}

export class CorruptSnapshotError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`corrupt snapshot ${file} at offset ${offset}: ${reason}`);
    this.name = 'CorruptSnapshotError';
  }
}

// ---------------------------------------------------------------------------------------------
// Java HashMap iteration order, for the sections ZooKeeper writes from a HashMap<Long, ...> copy.

function javaLongSpreadHash(v: bigint): number {
  const u = BigInt.asUintN(64, v);
  const h = Number((u ^ (u >> 32n)) & 0xffffffffn) | 0;
  return h ^ (h >>> 16);
}

/** Bucket count of `new HashMap<>(m)` for a map of `size` entries. */
export function javaHashMapCopyBuckets(size: number): number {
  return tableSizeFor(Math.floor(Math.fround(Math.fround(size / 0.75) + 1)));
}

/** Bucket count of a HashMap filled by `size` puts. */
export function javaHashMapGrownBuckets(size: number): number {
  return grownBuckets(16, size);
}

/** Entries (in insertion order) in the order a HashMap<Long, ...> of `buckets` buckets iterates. */
export function javaLongHashMapOrder<T>(entries: readonly T[], keyOf: (e: T) => bigint, buckets: number): T[] {
  const mask = buckets - 1;
  const keyed = entries.map((e, i) => ({ e, b: javaLongSpreadHash(keyOf(e)) & mask, i }));
  keyed.sort((x, y) => x.b - y.b || x.i - y.i);
  return keyed.map((k) => k.e);
}

// ---------------------------------------------------------------------------------------------
// ACL ids. ZooKeeper refers to ACL lists by ids of its ReferenceCountedACLCache, handed out 1, 2, ...
// on first use; -1 is the built-in nodes' OPEN_ACL_UNSAFE. The tree keeps lists, not ids, so the
// ids read from (or written to) a snapshot are remembered: a tree read and written again keeps its
// ids, and so do successive snapshots of one tree. Nodes with one (interned) list almost always
// share its id, so the id is kept per list; a node is remembered on its own only when its id is
// not its list's (the built-in nodes' -1, or a file that gave equal lists two ids). A list that
// lost its last node keeps its id until the next snapshot drops it (ZooKeeper drops it at once).

interface AclIdMemo {
  acl: ACL[];
  id: bigint;
}
const aclIdOfNode = new WeakMap<ZNode, AclIdMemo>();
const aclIdOfList = new WeakMap<DataTree, Map<ACL[], bigint>>();
const aclIndexOfTree = new WeakMap<DataTree, bigint>();

/** The id a node had in the last snapshot read or written, if its list is still the same. */
function rememberedAclId(tree: DataTree, node: ZNode, acl: ACL[]): bigint | undefined {
  const memo = aclIdOfNode.get(node);
  if (memo !== undefined && memo.acl === acl) return memo.id;
  return aclIdOfList.get(tree)?.get(acl);
}

/** Collects the ids of a snapshot's nodes: per list, and per node where they differ. */
export class AclIdRecorder {
  private readonly byList = new Map<ACL[], bigint>();
  record(node: ZNode, acl: ACL[], id: bigint): void {
    let listId = this.byList.get(acl);
    if (listId === undefined && id !== OPEN_UNSAFE_ACL_ID) this.byList.set(acl, (listId = id));
    if (listId === id) aclIdOfNode.delete(node);
    else aclIdOfNode.set(node, { acl, id });
  }
  /** Whether `id` is the id recorded for `acl` (a node with both needs no memo of its own). */
  isListId(acl: ACL[], id: bigint): boolean {
    return this.byList.get(acl) === id;
  }
  finish(tree: DataTree, index: bigint): void {
    aclIdOfList.set(tree, this.byList);
    aclIndexOfTree.set(tree, index);
  }
}

// ---------------------------------------------------------------------------------------------
// A consistent view of a changing tree. A snapshot is the tree as of its zxid, but it is written
// in slices while txns go on being applied. The tree tells the view before it changes a node (see
// DataTree.beforeMutate), and the view keeps a shallow copy of the node as it was, the first time
// only. A node without a copy is unchanged since the snapshot began. Nodes deleted since are found
// by their copies.
//
// Children are not copied: a parent of a create load may have hundreds of thousands, and a copy
// would be one long stall inside a txn. The walk lists a parent's map of children as it is when
// the walk gets there, in steps, and tells the old children from the new by czxid: a node created
// since the start has a newer one than any node there was. Children deleted since the start, and
// not yet reached, are the ones the view was told of.

/** What a snapshot writes of a node: a ZNode, or a copy of one as it was. */
interface NodeState {
  /** The data as latin1 text (strings never change: a reference keeps the data as it was). */
  readonly dataAsText: string | null;
  readonly acl: ACL[];
  readonly czxid: bigint;
  readonly mzxid: bigint;
  readonly ctime: bigint;
  readonly mtime: bigint;
  readonly version: number;
  readonly cversion: number;
  readonly aversion: number;
  readonly ephemeralOwner: bigint;
  readonly pzxid: bigint;
  /** The node's map of children (live: the same map object, not a copy). */
  readonly childMap: ReadonlyMap<string, ZNode> | undefined;
  readonly childBuckets: number;
}

/** Marks a parent whose children are listed: deletes under it no longer concern the walk. */
const LISTED: string[] = [];

class SnapshotView implements NodePreserver {
  /** Per path changed since the start: the node that was there. */
  private readonly keptNode = new Map<string, ZNode>();
  /** Per such node, its fields then. */
  private readonly kept = new Map<ZNode, NodeState>();
  /** Per parent path, the names of children there at the start and deleted since. */
  private readonly removed = new Map<string, string[]>();
  /** Nodes with a newer czxid were created after the start. */
  readonly newestCzxid: bigint;

  constructor(private readonly tree: DataTree) {
    this.newestCzxid = tree.newestCzxid;
  }

  preserve(path: string, node: ZNode): void {
    // The first change after the start is to the node that was there at the start: a new node at
    // a path that had one can only come after the old one's delete, which is kept first.
    if (this.keptNode.has(path)) return;
    const state: NodeState = {
      // Data strings and ACL lists are replaced by the tree, never changed: references will do.
      dataAsText: node.dataAsText,
      acl: node.acl,
      czxid: node.czxid,
      mzxid: node.mzxid,
      ctime: node.ctime,
      mtime: node.mtime,
      version: node.version,
      cversion: node.cversion,
      aversion: node.aversion,
      ephemeralOwner: node.ephemeralOwner,
      pzxid: node.pzxid,
      // A node's map is made at its first child and dropped when it has none left, so the map it
      // has now holds (or held) every child it had at the start.
      childMap: node.childMap,
      childBuckets: node.childBuckets,
    };
    this.keptNode.set(path, node);
    this.kept.set(node, state);
  }

  childRemoved(parentPath: string, name: string, child: ZNode): void {
    let names = this.removed.get(parentPath);
    if (names === LISTED || child.czxid > this.newestCzxid) return;
    if (names === undefined) this.removed.set(parentPath, (names = []));
    names.push(name);
  }

  /**
   * The names of the children the node at `path` (in state `s`) had at the start, in insertion
   * order but for those deleted since, which come last. `namesPerStep` names a step.
   */
  *childrenAtStart(path: string, s: NodeState, namesPerStep: number): Generator<undefined, string[]> {
    const names: string[] = [];
    const kids = s.childMap;
    if (kids !== undefined) {
      let untilYield = namesPerStep;
      for (const [name, child] of kids) {
        if (child.czxid <= this.newestCzxid) names.push(name);
        if (--untilYield === 0) {
          untilYield = namesPerStep;
          yield;
        }
      }
    }
    // Taken in the step the map's iteration ended: a child deleted later was listed. (Paths
    // without deletes are not marked: deletes after their listing are kept, unused, till the end.)
    const removed = this.removed.get(path);
    if (removed === undefined) return names;
    this.removed.set(path, LISTED);
    // A child may have been deleted after the iteration passed it.
    const unlisted = new Set(removed);
    for (let i = 0; i < names.length; i++) {
      unlisted.delete(names[i]);
      if ((i + 1) % namesPerStep === 0) yield;
    }
    for (const name of unlisted) names.push(name);
    return names;
  }

  /** The node that was at `path` at the start. */
  nodeAt(path: string): ZNode | undefined {
    return this.keptNode.get(path) ?? this.tree.getNode(path);
  }

  /**
   * The node that was at `path` (child `name` in `kids`, the map of the parent at the start) at
   * the start. A child unchanged since is still in that map.
   */
  childAt(kids: ReadonlyMap<string, ZNode>, path: string, name: string): ZNode | undefined {
    return (this.keptNode.size === 0 ? undefined : this.keptNode.get(path)) ?? kids.get(name);
  }

  /** The fields at the start of a node that was in the tree then. */
  stateOf(node: ZNode): NodeState {
    return (this.kept.size === 0 ? undefined : this.kept.get(node)) ?? node;
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/** A chunk's buffer: a chunk ends at the first node past CHUNK_BYTES. */
const CHUNK_BUFFER_BYTES = CHUNK_BYTES + 64 * 1024;
/** Buffers kept for reuse: a slice makes a few chunks, and they are written before the next one. */
const MAX_SPARE_CHUNK_BUFFERS = 8;

/**
 * Collects serialized bytes in chunks and keeps the running Adler-32 over them. When the chunks
 * are written out as they are made, their buffers come back for the next ones: a buffer per chunk
 * came from malloc's heap, and freed among longer-lived allocations, left 10-35 MB of the process
 * pinned after one snapshot of 500k nodes.
 */
class CheckedSink {
  readonly w = new JuteWriter(CHUNK_BUFFER_BYTES);
  readonly chunks: Buffer[] = [];
  private readonly adler = new Adler32();
  private readonly spare: Buffer[] = [];

  constructor(
    private readonly reuseBuffers: boolean,
    /** Whether seal() is used: the stream to a learner has no checksums, and skips their cost. */
    private readonly checksummed = true,
  ) {}

  maybeFlush(): void {
    if (this.w.pos >= CHUNK_BYTES) this.flush();
  }

  flush(): void {
    if (this.w.pos === 0) return;
    if (this.checksummed) this.adler.update(this.w.buf, 0, this.w.pos);
    if (this.reuseBuffers) {
      this.chunks.push(this.w.buf.subarray(0, this.w.pos));
      this.w.buf = this.spare.pop() ?? Buffer.allocUnsafe(CHUNK_BUFFER_BYTES);
    } else {
      this.chunks.push(this.w.toBuffer());
    }
    this.w.reset();
  }

  /** The chunks made since the last call. */
  take(): Buffer[] {
    return this.chunks.splice(0);
  }

  /** Chunks taken and written out: their buffers take the next ones. */
  giveBack(chunks: readonly Buffer[]): void {
    if (!this.reuseBuffers) return;
    for (const c of chunks) {
      // A chunk's buffer is its own ArrayBuffer (allocUnsafe above pool size), at offset 0.
      if (this.spare.length < MAX_SPARE_CHUNK_BUFFERS && c.byteOffset === 0 && c.buffer.byteLength === CHUNK_BUFFER_BYTES) {
        this.spare.push(Buffer.from(c.buffer, 0, CHUNK_BUFFER_BYTES));
      }
    }
  }

  /** The checksum of everything so far and the "/" that follows it. */
  seal(): void {
    if (!this.checksummed) throw new Error('seal() on a sink without checksums');
    this.flush();
    this.w.writeLong(BigInt(this.adler.value()));
    this.w.writeString('/');
    this.flush();
  }
}

export interface SerializeOptions {
  /**
   * Nodes a step handles in each pass over the nodes (default 32): a resumption of the walk per
   * node cost about as much as the node's bytes.
   */
  nodesPerStep?: number;
  /**
   * The digest section: by default the tree's digest at `zxid` (an empty one at zxid 0, as
   * ZooKeeper writes before its first txn); null leaves the section out, as ZooKeeper does with
   * `zookeeper.digest.enabled=false`.
   */
  digest?: SnapshotDigest | null;
  /**
   * Writes ZooKeeper 3.9's last-processed-zxid section after the digest, with `zxid` (the tree is
   * exactly as of it): what 3.9's snapshot and restore commands need. Files on disk leave it out,
   * as 3.8 writes them (both releases read either).
   */
  lastZxidSection?: boolean;
}

export interface ConcurrentSerializeOptions extends SerializeOptions {
  /**
   * Longest run of work between two pauses, in ms (default 2: under a create load, requests that
   * met a snapshot waited less, p99.9 about a third lower than with 5 ms slices).
   */
  sliceMs?: number;
  /** At most this many steps between two pauses (default no limit). */
  sliceSteps?: number;
  /** How the work gives way to the event loop between slices (default: setImmediate). */
  pause?: () => Promise<void>;
}

const DEFAULT_SLICE_MS = 2;
const DEFAULT_NODES_PER_STEP = 32;
/** The clock is read every this many steps. */
const STEPS_PER_CLOCK_READ = 2;

/**
 * The walk both forms of a snapshot make over the tree as of its start: parents first, children
 * in the order ZooKeeper writes them. A parent's children are taken one at a time from its frame,
 * so that a parent with a million children is not one long step.
 */
class PreorderWalk {
  path = '/';
  private current: ZNode | undefined;
  private started = false;
  private readonly frames: { parent: string; map: ReadonlyMap<string, ZNode>; kids: string[]; next: number }[] = [];

  constructor(private readonly view: SnapshotView) {}

  /** The node `next` moved to. */
  get node(): ZNode {
    return this.current!;
  }

  /** Moves to the next node (`path`, `node`); false once every node has been visited. */
  next(): boolean {
    if (!this.started) {
      this.started = true;
      this.current = this.view.nodeAt('/');
    } else {
      for (;;) {
        const top = this.frames[this.frames.length - 1];
        if (top === undefined) return false;
        if (top.next === top.kids.length) {
          this.frames.pop();
          continue;
        }
        const name = top.kids[top.next++];
        this.path = join(top.parent, name);
        this.current = this.view.childAt(top.map, this.path, name);
        break;
      }
    }
    if (!this.current) throw new Error(`snapshot: ${this.path} was removed without its state being kept`);
    return true;
  }

  /**
   * Has the current node's children (state `s`) visited next: their names and order are worked
   * out over steps of `stepSize` for a big parent (its map may change between them).
   */
  *descend(s: NodeState, stepSize: number): Generator<undefined, void> {
    if (s.childMap === undefined) return;
    const names = yield* this.view.childrenAtStart(this.path, s, stepSize);
    const kids = yield* javaHashSetOrderInSteps(names, s.childBuckets, stepSize);
    if (kids.length > 0) this.frames.push({ parent: this.path, map: s.childMap, kids, next: 0 });
  }
}

/**
 * One snapshot of a tree as it is when the job is made: the sessions, the digest and (through the
 * view) every node are taken as of then, however the tree changes while the steps run. The job
 * must be closed, which stops the copying.
 */
export class SnapshotJob {
  private readonly view: SnapshotView;
  private readonly steps: Generator<undefined, Buffer[]>;
  private closed = false;
  /** Where the bytes go; taken from as they are made (streaming) or all at the end. */
  readonly sink: CheckedSink;
  chunks: Buffer[] | undefined;
  private readonly lastZxidSection: boolean;

  constructor(
    private readonly tree: DataTree,
    sessions: ReadonlyMap<bigint, number>,
    private readonly zxid: bigint,
    opts: SerializeOptions,
    /** The chunks taken are written out before the next steps (see CheckedSink.giveBack). */
    chunksWrittenOut = false,
    /**
     * 'learner': the stream a leader sends after SNAP instead of a file's bytes: no FileHeader, no
     * checksums, no digest section, "BenWasHere" after the nodes' "/", and ACL ids of its own
     * (see runLearner).
     */
    private readonly form: 'file' | 'learner' = 'file',
  ) {
    this.sink = new CheckedSink(chunksWrittenOut, form === 'file');
    this.lastZxidSection = opts.lastZxidSection === true;
    const sessionList = javaLongHashMapOrder([...sessions], (e) => e[0], javaHashMapCopyBuckets(sessions.size));
    let digest = opts.digest;
    if (digest === undefined) {
      digest = zxid > 0n ? { zxid, version: DIGEST_VERSION, digest: tree.digest.value } : { zxid: 0n, version: DIGEST_VERSION, digest: 0n };
    }
    this.view = new SnapshotView(tree);
    tree.addPreserver(this.view);
    // Every node there now is reached by the walk, and no other.
    const nodesPerStep = Math.max(1, opts.nodesPerStep ?? DEFAULT_NODES_PER_STEP);
    this.steps = form === 'learner' ? this.runLearner(sessionList, nodesPerStep) : this.run(sessionList, digest, tree.nodeCount, nodesPerStep);
  }

  /** Does a step; true when the snapshot is complete (its bytes are in `chunks`). */
  step(): boolean {
    const r = this.steps.next();
    if (!r.done) return false;
    this.chunks = r.value;
    this.close();
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tree.removePreserver(this.view);
  }

  /**
   * The stream to a learner in one pass: each node's bytes are made as the walk reaches it, so the
   * first ones go out at once instead of after a walk of the whole tree. That needs every ACL id
   * before the first node: the section lists every list the tree has interned (those of the nodes
   * as of the start among them), numbered from 1 in the order the tree interned them, and each node
   * refers to its list's number (the root and the built-in nodes to -1 while open, as ZooKeeper
   * writes them). A learner keeps the lists its nodes use under those numbers; the ids the tree
   * remembers for its own snapshot files stay as they are.
   */
  private *runLearner(sessionList: [bigint, number][], nodesPerStep: number): Generator<undefined, Buffer[]> {
    const { view } = this;
    const sink = this.sink;
    const w = sink.w;
    w.writeInt(sessionList.length);
    for (const [id, timeoutMs] of sessionList) {
      w.writeLong(id);
      w.writeInt(timeoutMs);
      sink.maybeFlush();
    }
    const lists = this.tree.acls.lists();
    const idOf = new Map<ACL[], bigint>();
    w.writeInt(lists.length);
    for (const acl of lists) {
      const id = BigInt(idOf.size + 1);
      idOf.set(acl, id);
      w.writeLong(id);
      w.writeInt(acl.length);
      for (const a of acl) encodeACL(w, a);
      sink.maybeFlush();
    }
    yield;
    const walk = new PreorderWalk(view);
    let untilYield = nodesPerStep;
    while (walk.next()) {
      const p = walk.path;
      const s = view.stateOf(walk.node);
      let id = (p === '/' || p === ZOOKEEPER_PATH || p === QUOTA_PATH) && sameAclList(s.acl, OPEN_ACL_UNSAFE) ? OPEN_UNSAFE_ACL_ID : idOf.get(s.acl);
      if (id === undefined) {
        // Not interned (not made by the tree itself): found by its entries, else the stream cannot be made.
        for (const [acl, listId] of idOf) if (sameAclList(acl, s.acl)) id = listId;
        if (id === undefined) throw new Error(`snapshot: the ACL list of ${p} is not among the tree's`);
      }
      w.writeString(p === '/' ? '' : p);
      // Live nodes write their data straight from the tree; kept copies hold its text.
      if (s instanceof ZNode) s.writeData(w);
      else writeDataText(w, s.dataAsText);
      w.writeLong(id);
      if (s instanceof ZNode) s.writeStatPersisted(w);
      else encodeStatPersisted(w, s);
      sink.maybeFlush();
      yield* walk.descend(s, nodesPerStep * 64);
      if (--untilYield === 0) {
        untilYield = nodesPerStep;
        yield;
      }
    }
    w.writeString('/');
    w.writeString(SNAP_STREAM_TRAILER);
    sink.flush();
    return sink.chunks;
  }

  private *run(sessionList: [bigint, number][], digest: SnapshotDigest | null, expected: number, nodesPerStep: number): Generator<undefined, Buffer[]> {
    const { tree, view } = this;

    // 1. Every node, parents first, as of the start. Paths are kept as UTF-8 bytes rather than
    // strings: half a million strings that live through the whole snapshot make for long GC pauses.
    let nodes: ZNode[] = new Array<ZNode>(expected);
    let pathEnds = new Float64Array(expected + 1);
    let pathBytes = Buffer.allocUnsafe(Math.max(1024, expected * 16));
    let pathPos = 0;
    /** ZooKeeper creates these with ACL id -1 and keeps it until someone sets their ACL. */
    const builtIn = new Set<number>();
    let count = 0;
    const walk = new PreorderWalk(view);
    // A step is nodesPerStep nodes of a pass; true when the node just handled ends one.
    let untilYield = nodesPerStep;
    const stepDone = (): boolean => {
      if (--untilYield > 0) return false;
      untilYield = nodesPerStep;
      return true;
    };
    while (walk.next()) {
      const p = walk.path;
      const node = walk.node;
      if (count === nodes.length) {
        nodes = nodes.concat(new Array<ZNode>(count));
        const ends = new Float64Array(count * 2 + 1);
        ends.set(pathEnds);
        pathEnds = ends;
      }
      nodes[count] = node;
      if (p === '/' || p === ZOOKEEPER_PATH || p === QUOTA_PATH) builtIn.add(count);
      if (p !== '/') {
        if (pathPos + 3 * p.length > pathBytes.length) {
          const bigger = Buffer.allocUnsafe(Math.max(pathBytes.length * 2, pathPos + 3 * p.length));
          pathBytes.copy(bigger, 0, 0, pathPos);
          pathBytes = bigger;
        }
        pathPos += pathBytes.write(p, pathPos, 'utf8');
      }
      pathEnds[++count] = pathPos;
      yield* walk.descend(view.stateOf(node), nodesPerStep * 64);
      if (stepDone()) yield;
    }

    // 2. ACL ids (see above): the ids kept per node first, then new ones in node order.
    const ids = new Array<bigint>(count);
    const lists = new Map<bigint, ACL[]>();
    const idOfList = new Map<ACL[], bigint>();
    let index = aclIndexOfTree.get(tree) ?? 0n;
    for (let i = 0; i < count; i++) {
      const acl = view.stateOf(nodes[i]).acl;
      const id = rememberedAclId(tree, nodes[i], acl);
      if (id !== undefined) {
        ids[i] = id;
        if (id !== OPEN_UNSAFE_ACL_ID) {
          lists.set(id, acl);
          if (!idOfList.has(acl)) idOfList.set(acl, id);
          if (id > index) index = id;
        }
      }
      if (stepDone()) yield;
    }
    const idFor = (acl: ACL[]): bigint => {
      let id = idOfList.get(acl);
      if (id === undefined) {
        id = ++index;
        idOfList.set(acl, id);
        lists.set(id, acl);
      }
      return id;
    };
    // A fresh ZooKeeper gives the config node's list the first id, before any client writes.
    const config = view.nodeAt(CONFIG_PATH);
    if (config && rememberedAclId(tree, config, view.stateOf(config).acl) === undefined) idFor(view.stateOf(config).acl);
    const used = new Set<bigint>();
    let lastUsed: bigint | undefined;
    for (let i = 0; i < count; i++) {
      let id = ids[i];
      if (id === undefined) {
        const acl = view.stateOf(nodes[i]).acl;
        ids[i] = id = builtIn.has(i) && sameAclList(acl, OPEN_ACL_UNSAFE) ? OPEN_UNSAFE_ACL_ID : idFor(acl);
      }
      if (id !== lastUsed) used.add((lastUsed = id));
      if (stepDone()) yield;
    }
    // Ids no node uses any more are not written (ZooKeeper drops them with their last user).
    for (const id of lists.keys()) if (!used.has(id)) lists.delete(id);

    // 3. The bytes.
    const recorder = new AclIdRecorder();
    const sink = this.sink;
    const w = sink.w;
    if (this.form === 'file') encodeFileHeader(w, { magic: SNAP_MAGIC, version: SNAP_VERSION, dbid: SNAP_DBID });
    w.writeInt(sessionList.length);
    for (const [id, timeoutMs] of sessionList) {
      w.writeLong(id);
      w.writeInt(timeoutMs);
      sink.maybeFlush();
      yield;
    }

    const aclEntries = javaLongHashMapOrder(
      [...lists].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
      (e) => e[0],
      javaHashMapCopyBuckets(lists.size),
    );
    w.writeInt(aclEntries.length);
    for (const [id, acl] of aclEntries) {
      w.writeLong(id);
      w.writeInt(acl.length);
      for (const a of acl) encodeACL(w, a);
      sink.maybeFlush();
      yield;
    }

    for (let i = 0; i < count; i++) {
      const n = view.stateOf(nodes[i]);
      // The path as writeString would write it (the root as "").
      const from = pathEnds[i];
      const len = pathEnds[i + 1] - from;
      w.ensure(4 + len);
      const out = w.buf;
      out.writeInt32BE(len, w.pos);
      // A byte loop: Buffer.copy makes a view object per call, which costs more for a short path.
      let o = w.pos + 4;
      for (let k = from; k < from + len; k++) out[o++] = pathBytes[k];
      w.pos = o;
      // Live nodes write their data straight from the tree; kept copies hold its text.
      if (n instanceof ZNode) n.writeData(w);
      else writeDataText(w, n.dataAsText);
      w.writeLong(ids[i]);
      if (n instanceof ZNode) n.writeStatPersisted(w);
      else encodeStatPersisted(w, n);
      sink.maybeFlush();
      // Remembered with the list it had then: a node whose ACL has changed since gets its new list's id.
      recorder.record(nodes[i], n.acl, ids[i]);
      if (stepDone()) yield;
    }
    w.writeString('/');
    sink.seal();

    if (digest !== null) {
      w.writeLong(digest.zxid);
      w.writeInt(digest.version);
      if (digest.version < 2) w.writeString(BigInt.asUintN(64, digest.digest).toString(16));
      else w.writeLong(digest.digest);
      sink.seal();
      if (this.lastZxidSection) {
        w.writeLong(this.zxid);
        sink.seal();
      }
    }
    recorder.finish(tree, index);
    return sink.chunks;
  }
}

/** The uncompressed snapshot bytes of a tree, in chunks, all at once: the tree must not change meanwhile. */
export function serializeSnapshotChunks(
  tree: DataTree,
  sessions: ReadonlyMap<bigint, number>,
  zxid: bigint,
  opts: SerializeOptions = {},
): Buffer[] {
  const job = new SnapshotJob(tree, sessions, zxid, opts);
  try {
    while (!job.step());
    return job.chunks!;
  } finally {
    job.close();
  }
}

/** The uncompressed snapshot bytes of a tree, all at once. */
export function serializeSnapshot(
  tree: DataTree,
  sessions: ReadonlyMap<bigint, number>,
  zxid: bigint,
  opts: SerializeOptions = {},
): Buffer {
  return Buffer.concat(serializeSnapshotChunks(tree, sessions, zxid, opts));
}


/**
 * The uncompressed snapshot bytes of the tree (and `sessions`) as they are at the call, made in
 * slices of about `sliceMs` with pauses between them, while the tree goes on changing: the same
 * bytes that serializeSnapshotChunks would give at the call.
 */
export async function serializeSnapshotChunksConcurrently(
  tree: DataTree,
  sessions: ReadonlyMap<bigint, number>,
  zxid: bigint,
  opts: ConcurrentSerializeOptions = {},
): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  await runSnapshotJob(new SnapshotJob(tree, sessions, zxid, opts), opts, async (made) => {
    for (const c of made) chunks.push(c);
  });
  return chunks;
}

/**
 * Runs a job's steps in slices, handing the chunks made to `consume` between slices and waiting
 * for it (writeSnapshot streams them to its file, so a big tree's snapshot never sits in memory
 * whole).
 */
async function runSnapshotJob(job: SnapshotJob, opts: ConcurrentSerializeOptions, consume: (chunks: Buffer[]) => Promise<void>): Promise<void> {
  const sliceMs = opts.sliceMs ?? DEFAULT_SLICE_MS;
  const sliceSteps = opts.sliceSteps ?? Infinity;
  const pause = opts.pause ?? (() => nextTurn());
  try {
    for (;;) {
      const start = performance.now();
      let done = false;
      for (let n = 1; ; n++) {
        if ((done = job.step())) break;
        if (n >= sliceSteps || (n % STEPS_PER_CLOCK_READ === 0 && performance.now() - start >= sliceMs)) break;
      }
      const made = job.sink.take();
      if (made.length > 0) {
        await consume(made);
        job.sink.giveBack(made);
      }
      if (done) return;
      await pause();
    }
  } finally {
    job.close();
  }
}

export function snapshotFileName(zxid: bigint, compression: SnapshotCompression = 'none'): string {
  const suffix = compression === 'none' ? '' : `.${compression}`;
  return `${SNAPSHOT_PREFIX}.${BigInt.asUintN(64, zxid).toString(16)}${suffix}`;
}

/** Temp names do not start with "snapshot.", so that neither ZooKeeper nor we take them for snapshots. */
const TEMP_PREFIX = 'tmp.';

export function isSnapshotTempFile(name: string): boolean {
  return name.startsWith(TEMP_PREFIX + SNAPSHOT_PREFIX + '.');
}

/** Compresses on the thread pool, so that no single call holds the event loop, and writes out what it made. */
class GzipToFile {
  private readonly gz = zlib.createGzip({ chunkSize: 64 * 1024 });
  private made: Buffer[] = [];
  private failure: Error | undefined;
  private readonly ended: Promise<void>;

  constructor(private readonly fh: fs.promises.FileHandle) {
    this.gz.on('data', (b: Buffer) => this.made.push(b));
    this.ended = new Promise((resolve, reject) => {
      this.gz.on('error', (e) => {
        this.failure = e;
        reject(e);
      });
      this.gz.on('end', resolve);
    });
    this.ended.catch(() => undefined);
  }

  async write(chunks: Buffer[]): Promise<void> {
    for (const c of chunks) {
      if (this.failure) throw this.failure;
      if (!this.gz.write(c)) await new Promise<void>((resolve) => this.gz.once('drain', resolve));
    }
    await this.flushMade();
  }

  async end(): Promise<void> {
    this.gz.end();
    await this.ended;
    await this.flushMade();
  }

  private async flushMade(): Promise<void> {
    const made = this.made;
    this.made = [];
    await writeAll(this.fh, made);
  }
}

async function writeAll(fh: fs.promises.FileHandle, chunks: readonly Buffer[]): Promise<void> {
  for (const c of chunks) {
    let off = 0;
    while (off < c.length) {
      const { bytesWritten } = await fh.write(c, off, c.length - off);
      off += bytesWritten;
    }
  }
}

export interface WriteSnapshotOptions extends ConcurrentSerializeOptions {
  compression?: 'none' | 'gz';
  /** fsync the file and the directory (default true). */
  fsync?: boolean;
}

/**
 * Writes `snapshot.<hex zxid>` (`.gz` when compressed) into `dir`, the snapshot directory itself
 * (`<dataDir>/version-2`, created if missing). The bytes go to a temp name first and are renamed
 * into place, so a crash never leaves a partial file under a snapshot's name. The snapshot is of
 * the tree as it is at the call, though it is made in slices while the tree goes on changing.
 */
export async function writeSnapshot(
  dir: string,
  tree: DataTree,
  sessions: ReadonlyMap<bigint, number>,
  zxid: bigint,
  opts: WriteSnapshotOptions = {},
): Promise<string> {
  const compression = opts.compression ?? 'none';
  const fsync = opts.fsync ?? true;
  // Taken now, before anything is awaited: the snapshot is the tree as it is at the call.
  // Plain chunks are written before the next slice; gzip may hold on to them.
  const job = new SnapshotJob(tree, sessions, zxid, opts, compression === 'none');
  const name = snapshotFileName(zxid, compression);
  const finalPath = path.join(dir, name);
  const tempPath = path.join(dir, TEMP_PREFIX + name);
  let fh: fs.promises.FileHandle;
  try {
    await fs.promises.mkdir(dir, { recursive: true });
    fh = await fs.promises.open(tempPath, 'w', 0o644);
  } catch (err) {
    job.close();
    throw err;
  }
  try {
    // Chunks go to the file (through gzip when asked) as the slices make them.
    const gz = compression === 'gz' ? new GzipToFile(fh) : undefined;
    await runSnapshotJob(job, opts, (chunks) => (gz ? gz.write(chunks) : writeAll(fh, chunks)));
    if (gz) await gz.end();
    if (fsync) await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await fs.promises.unlink(tempPath).catch(() => undefined);
    throw err;
  }
  await fh.close();
  await fs.promises.rename(tempPath, finalPath);
  if (fsync) {
    const dh = await fs.promises.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
  return finalPath;
}

// ---------------------------------------------------------------------------------------------
// Reading

/** The zxid in a snapshot file name as ZooKeeper reads it, or -1. */
export function zxidFromSnapshotName(name: string): bigint {
  const parts = name.split('.');
  if (parts.length < 2 || parts[0] !== SNAPSHOT_PREFIX || !/^[0-9a-fA-F]{1,16}$/.test(parts[1])) return -1n;
  return BigInt.asIntN(64, BigInt('0x' + parts[1]));
}

/** Compression by the name's last extension, as ZooKeeper decides it. */
export function compressionOf(name: string): SnapshotCompression {
  const parts = name.split('.');
  if (parts.length < 2) return 'none';
  const ext = parts[parts.length - 1].toLowerCase();
  return ext === 'gz' ? 'gz' : ext === 'snappy' ? 'snappy' : 'none';
}

function juteReason(err: JuteError): string {
  return err.message.replace(/ at offset \d+$/, '');
}

/** The "/" after a checksum (ZooKeeper checks for it to tell a complete file from a torn one). */
function readSealPath(r: JuteReader, corrupt: (offset: number, reason: string) => CorruptSnapshotError): void {
  const at = r.pos;
  if (r.readString() !== '/') throw corrupt(at, 'the "/" after the checksum is missing');
}

/** A Jute buffer read as the latin1 text the tree keeps data in (no Buffer in between). */
function readDataText(r: JuteReader): string | null {
  const len = r.readInt();
  if (len < 0) return null;
  if (len > r.remaining()) throw new JuteError(`record truncated: need ${len} bytes, have ${r.remaining()}`, r.pos);
  const text = r.buf.toString('latin1', r.pos, r.pos + len);
  r.pos += len;
  return text;
}

/** The first window of a snapshot read from its file; it grows for a record larger than it. */
const WINDOW_BYTES = 1024 * 1024;

/**
 * Uncompressed snapshot bytes, read through a window that slides along the file: reading a large
 * snapshot whole costs more in fresh memory than in parsing it (every page of a new buffer is
 * faulted in), and doubles the peak memory of a restart. Bytes already in memory (a decompressed
 * snapshot, a test's) are one window that never slides. Keeps the running Adler-32 of the bytes
 * passed over, for the checksums.
 */
class SnapshotInput {
  r: JuteReader;
  /** File offset of the window's first byte. */
  base = 0;
  private readonly adler = new Adler32();
  /** File offset up to which `adler` has summed. */
  private summed = 0;

  constructor(
    private buf: Buffer,
    /** Bytes of the file; the window holds them all when there is no fd. */
    readonly size: number,
    private readonly fd?: number,
  ) {
    this.r = new JuteReader(buf, 0, fd === undefined ? size : 0);
    if (fd !== undefined) this.ensure(1);
  }

  /** Bytes of the file after the reader's position. */
  fileRemaining(): number {
    return this.size - (this.base + this.r.pos);
  }

  /**
   * Makes n bytes after the reader's position readable, as far as the file has them (the reader
   * reports a record cut short as usual). May slide the window: positions taken from the reader
   * before the call no longer hold.
   */
  ensure(n: number): void {
    const r = this.r;
    if (r.pos + n <= r.end || this.fd === undefined) return;
    const keep = r.end - r.pos;
    const want = Math.min(Math.max(n, WINDOW_BYTES), this.fileRemaining());
    this.sumTo(this.base + r.pos);
    if (want > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(want, this.buf.length * 2));
      this.buf.copy(bigger, 0, r.pos, r.end);
      this.buf = bigger;
    } else this.buf.copy(this.buf, 0, r.pos, r.end);
    this.base += r.pos;
    let end = keep;
    const limit = Math.min(this.buf.length, this.size - this.base);
    while (end < limit) {
      const got = fs.readSync(this.fd, this.buf, end, limit - end, this.base + end);
      if (got === 0) break;
      end += got;
    }
    this.r = new JuteReader(this.buf, 0, end);
  }

  /** ensure() for `fixed` bytes, then `fields` length-prefixed fields, then `tail` bytes. */
  ensureRecord(fixed: number, fields: number, tail: number): void {
    let need = fixed;
    for (let i = 0; i < fields; i++) {
      this.ensure(need + 4);
      const at = this.r.pos + need;
      const len = at + 4 <= this.r.end ? this.r.buf.readInt32BE(at) : 0;
      need += 4 + (len > 0 ? len : 0);
    }
    this.ensure(need + tail);
  }

  /** Adler-32 of the file's bytes before window position `pos` (which only grows from call to call). */
  checksumTo(pos: number): number {
    this.sumTo(this.base + pos);
    return this.adler.value();
  }

  private sumTo(fileOffset: number): void {
    if (fileOffset <= this.summed) return;
    this.adler.update(this.buf, this.summed - this.base, fileOffset - this.base);
    this.summed = fileOffset;
  }
}

/** Parses uncompressed snapshot bytes. `zxid` is the file's (from its name). */
export function parseSnapshot(buf: Buffer, file: string, zxid: bigint, extendedTypesEnabled = false): LoadedSnapshot {
  return parseSnapshotInput(new SnapshotInput(buf, buf.length), file, zxid, extendedTypesEnabled);
}


function parseSnapshotInput(input: SnapshotInput, file: string, zxid: bigint, extendedTypesEnabled: boolean): LoadedSnapshot {
  // Offsets in errors count from the file's start; `offset` is a position in the current window.
  const corrupt = (offset: number, reason: string): CorruptSnapshotError => new CorruptSnapshotError(file, input.base + offset, reason);
  try {
    if (input.size < HEADER_BYTES) throw corrupt(input.size, `file too short for its header (${input.size} bytes)`);
    input.ensure(HEADER_BYTES + 4);
    let r = input.r;
    const header = decodeFileHeader(r);
    if (header.magic !== SNAP_MAGIC) throw corrupt(0, `bad magic 0x${(header.magic >>> 0).toString(16)} (want ZKSN)`);

    const sessions = new Map<bigint, number>();
    let at = r.pos;
    const sessionCount = r.readInt();
    if (sessionCount < 0 || sessionCount * SESSION_MIN_BYTES > input.fileRemaining())
      throw corrupt(at, `session count ${sessionCount} does not fit the file`);
    for (let i = 0; i < sessionCount; i++) {
      input.ensure(SESSION_MIN_BYTES);
      r = input.r;
      const id = r.readLong();
      sessions.set(id, r.readInt());
    }

    const tree = new DataTree(extendedTypesEnabled);
    const aclLists = new Map<bigint, ACL[]>();
    let aclIndex = 0n;
    input.ensure(4);
    r = input.r;
    at = r.pos;
    const aclCount = r.readInt();
    if (aclCount < 0 || aclCount * ACL_ENTRY_MIN_BYTES > input.fileRemaining()) throw corrupt(at, `ACL count ${aclCount} does not fit the file`);
    for (let i = 0; i < aclCount; i++) {
      input.ensure(12);
      r = input.r;
      const id = r.readLong();
      at = r.pos;
      const n = r.readInt();
      if (n < 0) throw corrupt(at, `ACL list ${id} is null`);
      if (n * ACL_MIN_BYTES > input.fileRemaining()) throw corrupt(at, `ACL list length ${n} does not fit the file`);
      const acl: ACL[] = [];
      for (let j = 0; j < n; j++) {
        // perms, scheme, id
        input.ensureRecord(4, 2, 0);
        acl.push(decodeACL(input.r));
      }
      aclLists.set(id, tree.acls.intern(acl));
      if (id > aclIndex) aclIndex = id;
    }

    const recorder = new AclIdRecorder();
    const names = new NameTable();
    for (;;) {
      // path, data, ACL id, StatPersisted: one node, whole in the window.
      input.ensureRecord(0, 2, 8 + StatPersisted_SIZE);
      r = input.r;
      const buf = r.buf;
      at = r.pos;
      const p = r.readString();
      if (p === '/') break;
      const data = readDataText(r);
      const aclAt = r.pos;
      const aclId = r.readLong();
      const statAt = r.pos;
      // restoreNode reads the stat from its bytes; too few of them fail as decoding would.
      if (r.remaining() < StatPersisted_SIZE) decodeStatPersisted(r);
      r.pos = statAt + StatPersisted_SIZE;
      const acl = aclId === OPEN_UNSAFE_ACL_ID ? OPEN_ACL_UNSAFE : aclLists.get(aclId);
      if (!acl) throw corrupt(aclAt, `node ${p === '' ? '/' : p} refers to ACL id ${aclId}, which is not in the snapshot`);
      const nodePath = p === '' ? '/' : p;
      if (nodePath[0] !== '/' || (nodePath.length > 1 && nodePath.endsWith('/'))) throw corrupt(at, `bad node path ${JSON.stringify(p)}`);
      let node: ZNode;
      try {
        node = tree.restoreNode(nodePath, data, acl, buf, statAt, names);
      } catch (err) {
        throw corrupt(at, (err as Error).message);
      }
      recorder.record(node, node.acl, aclId);
    }

    // The rest is a checksum, "/", and maybe a digest section: a few dozen bytes.
    input.ensure(input.fileRemaining());
    r = input.r;
    const sealAt = r.pos;
    const sum = input.checksumTo(sealAt);
    const stored = r.readLong();
    readSealPath(r, corrupt);
    if (stored !== BigInt(sum))
      throw corrupt(sealAt, `checksum mismatch: stored 0x${BigInt.asUintN(64, stored).toString(16)}, computed 0x${sum.toString(16)}`);

    let digest: SnapshotDigest | undefined;
    let lastZxid: bigint | undefined;
    if (r.remaining() > 0) {
      const digestZxid = r.readLong();
      const version = r.readInt();
      let value: bigint;
      if (version < 2) {
        const hexAt = r.pos;
        const text = r.readString();
        if (!/^[0-9a-fA-F]{1,16}$/.test(text)) throw corrupt(hexAt, `bad digest ${JSON.stringify(text)}`);
        value = BigInt.asIntN(64, BigInt('0x' + text));
      } else value = r.readLong();
      const seal2At = r.pos;
      const sum2 = input.checksumTo(seal2At);
      const stored2 = r.readLong();
      readSealPath(r, corrupt);
      if (stored2 !== BigInt(sum2))
        throw corrupt(seal2At, `checksum mismatch after the digest: stored 0x${BigInt.asUintN(64, stored2).toString(16)}, computed 0x${sum2.toString(16)}`);
      digest = { zxid: digestZxid, version, digest: value };
      if (r.remaining() > 0) {
        lastZxid = r.readLong();
        const seal3At = r.pos;
        const sum3 = input.checksumTo(seal3At);
        const stored3 = r.readLong();
        readSealPath(r, corrupt);
        if (stored3 !== BigInt(sum3))
          throw corrupt(seal3At, `checksum mismatch after the last processed zxid: stored 0x${BigInt.asUintN(64, stored3).toString(16)}, computed 0x${sum3.toString(16)}`);
      }
    }

    recorder.finish(tree, aclIndex);
    tree.lastProcessedZxid = zxid;

    const loaded: LoadedSnapshot = { tree, sessions, zxid, dbid: header.dbid };
    // The tree's digest is always computed from the nodes, never taken from the file: ZooKeeper
    // writes its snapshots while txns go on, so a digest stored for the file's own zxid can miss a
    // txn whose node change the file already holds. A stored digest is only compared.
    const exact = digest !== undefined && digest.zxid === zxid && digest.zxid > 0n && digest.version === DIGEST_VERSION ? digest : undefined;
    const computed = tree.setDigest();
    if (exact) loaded.digestMatches = computed === exact.digest;
    if (digest) loaded.digest = digest;
    if (lastZxid !== undefined) loaded.lastZxid = lastZxid;
    return loaded;
  } catch (err) {
    if (err instanceof JuteError) throw corrupt(err.offset, juteReason(err));
    throw err;
  }
}

/** The uncompressed bytes of a snapshot file. */
export function readSnapshotBytes(file: string): Buffer {
  const raw = fs.readFileSync(file);
  switch (compressionOf(path.basename(file))) {
    case 'gz':
      try {
        return zlib.gunzipSync(raw);
      } catch (err) {
        // Parse what can be inflated so that the error names where the stream breaks off.
        let partial: Buffer;
        try {
          partial = zlib.gunzipSync(raw, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
        } catch {
          throw new CorruptSnapshotError(file, 0, `gzip: ${(err as Error).message}`);
        }
        parseSnapshot(partial, file, -1n);
        throw new CorruptSnapshotError(file, partial.length, `gzip: ${(err as Error).message}`);
      }
    case 'snappy':
      return snappyJavaStreamDecode(raw, file);
    default:
      return raw;
  }
}

/**
 * Reads and checks a snapshot. Throws CorruptSnapshotError (offsets count uncompressed bytes) when
 * it is truncated, fails a checksum or does not parse; other errors are I/O errors.
 */
export function readSnapshot(file: string, extendedTypesEnabled = false): LoadedSnapshot {
  const zxid = zxidFromSnapshotName(path.basename(file));
  if (compressionOf(path.basename(file)) !== 'none') return parseSnapshot(readSnapshotBytes(file), file, zxid, extendedTypesEnabled);
  const fd = fs.openSync(file, 'r');
  try {
    const input = new SnapshotInput(Buffer.allocUnsafe(WINDOW_BYTES), fs.fstatSync(fd).size, fd);
    return parseSnapshotInput(input, file, zxid, extendedTypesEnabled);
  } finally {
    fs.closeSync(fd);
  }
}

/** Snapshot files in `dir` (the version-2 directory), newest first. */
export function listSnapshots(dir: string): SnapshotFile[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: SnapshotFile[] = [];
  for (const name of names) {
    const zxid = zxidFromSnapshotName(name);
    if (zxid < 0n) continue;
    out.push({ file: path.join(dir, name), zxid, compression: compressionOf(name) });
  }
  out.sort((a, b) => (a.zxid > b.zxid ? -1 : a.zxid < b.zxid ? 1 : 0));
  return out;
}

/**
 * The snapshots of `dir` that read and check cleanly, newest first, read one at a time as the
 * caller asks for the next: recovery takes the first and falls back to older ones only when it
 * must. Corrupt ones are reported to `onCorrupt` and skipped.
 */
export function* findValidSnapshots(
  dir: string,
  extendedTypesEnabled = false,
  onCorrupt: (err: CorruptSnapshotError) => void = () => undefined,
): Generator<LoadedSnapshot & { file: string }> {
  for (const s of listSnapshots(dir)) {
    let loaded: LoadedSnapshot;
    try {
      loaded = readSnapshot(s.file, extendedTypesEnabled);
    } catch (err) {
      if (err instanceof CorruptSnapshotError) {
        onCorrupt(err);
        continue;
      }
      throw err;
    }
    yield { ...loaded, file: s.file };
  }
}

// ---------------------------------------------------------------------------------------------
// snappy-java's stream format (what ZooKeeper writes with compression method "snappy"): a 16-byte
// header (0x82 "SNAPPY" 0x00, int version, int compatible version), then blocks of
// { int compressedLength; raw Snappy block }.

const SNAPPY_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const SNAPPY_HEADER_BYTES = 16;

function snappyJavaStreamDecode(raw: Buffer, file: string): Buffer {
  if (raw.length < SNAPPY_HEADER_BYTES || !raw.subarray(0, 8).equals(SNAPPY_MAGIC))
    throw new CorruptSnapshotError(file, 0, 'not a snappy-java stream (bad magic)');
  const blocks: Buffer[] = [];
  let pos = SNAPPY_HEADER_BYTES;
  let total = 0;
  while (pos < raw.length) {
    if (pos + 4 > raw.length) break;
    const len = raw.readInt32BE(pos);
    if (len < 0 || pos + 4 + len > raw.length) break;
    let block: Buffer;
    try {
      block = snappyDecodeBlock(raw.subarray(pos + 4, pos + 4 + len));
    } catch (err) {
      throw new CorruptSnapshotError(file, total, `snappy block: ${(err as Error).message}`);
    }
    blocks.push(block);
    total += block.length;
    pos += 4 + len;
  }
  const out = Buffer.concat(blocks, total);
  if (pos < raw.length) {
    // A torn block: parse what came before so the error names the first missing byte.
    parseSnapshot(out, file, -1n);
    throw new CorruptSnapshotError(file, total, 'snappy stream ends inside a block');
  }
  return out;
}

/** Decodes one raw Snappy block (format_description.txt of the Snappy project). */
function snappyDecodeBlock(src: Buffer): Buffer {
  let pos = 0;
  let outLen = 0;
  for (let shift = 0; ; shift += 7) {
    if (pos >= src.length || shift > 28) throw new Error('bad length varint');
    const b = src[pos++];
    outLen += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) break;
  }
  const out = Buffer.allocUnsafe(outLen);
  let o = 0;
  while (pos < src.length) {
    const tag = src[pos++];
    let len: number;
    let offset: number;
    switch (tag & 3) {
      case 0: {
        len = (tag >>> 2) + 1;
        if (len > 60) {
          const extra = len - 60;
          if (pos + extra > src.length) throw new Error('literal length past the end');
          len = src.readUIntLE(pos, extra) + 1;
          pos += extra;
        }
        if (pos + len > src.length || o + len > outLen) throw new Error('literal past the end');
        src.copy(out, o, pos, pos + len);
        pos += len;
        o += len;
        continue;
      }
      case 1:
        if (pos + 1 > src.length) throw new Error('copy past the end');
        len = ((tag >>> 2) & 7) + 4;
        offset = ((tag >>> 5) << 8) | src[pos++];
        break;
      case 2:
        if (pos + 2 > src.length) throw new Error('copy past the end');
        len = (tag >>> 2) + 1;
        offset = src.readUInt16LE(pos);
        pos += 2;
        break;
      default:
        if (pos + 4 > src.length) throw new Error('copy past the end');
        len = (tag >>> 2) + 1;
        offset = src.readUInt32LE(pos);
        pos += 4;
        break;
    }
    if (offset === 0 || offset > o || o + len > outLen) throw new Error('bad copy');
    // Copies may overlap their own output (runs), so byte by byte.
    for (let i = 0; i < len; i++, o++) out[o] = out[o - offset];
  }
  if (o !== outLen) throw new Error(`block holds ${o} bytes, its header says ${outLen}`);
  return out;
}
