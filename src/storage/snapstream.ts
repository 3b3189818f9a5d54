/**
 * The snapshot stream a leader writes on the quorum port right after a SNAP packet, and what a
 * learner makes of it. Its layout is a snapshot file's body without the FileHeader, the Adler-32
 * seals and the digest section, ended by the string "BenWasHere":
 *
 *   int sessionCount, sessionCount x { long sessionId; int timeoutMs }
 *   int aclCount,     aclCount x { long aclId; vector<ACL> }
 *   every node, parents first: ustring path (the root as ""), buffer data, long aclId, StatPersisted
 *   ustring "/"
 *   ustring "BenWasHere"
 *
 * The quorum port has no framing, so the learner decodes the stream as it arrives and resumes
 * packet decoding right after its last byte. A zkts leader makes it in one pass over the tree, each
 * node's bytes as the walk reaches it, its ACL section listing every list the tree holds numbered
 * from 1 (ZooKeeper's leader writes its own ids; a learner takes any).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { JuteWriter } from '../protocol/jute';
import { type ACL, encodeFileHeader, StatPersisted_SIZE } from '../protocol/generated/records';
import { Adler32 } from './adler32';
import { DataTree, OPEN_ACL_UNSAFE, type ZNode } from './datatree';
import { DIGEST_EXCLUDED_PREFIX, DIGEST_VERSION, isDigestExcluded, nodeDigest, nodeDigestOfRecord, TreeDigest } from './digest';
import { NameTable } from './names';
import { CONFIG_PATH, QUOTA_PATH, ZOOKEEPER_PATH } from './paths';
import { AclIdRecorder, SNAP_DBID, SNAP_MAGIC, SNAP_STREAM_TRAILER, SNAP_VERSION, SnapshotJob, snapshotFileName } from './snapshot';

const OPEN_UNSAFE_ACL_ID = -1n;
const SLASH = 0x2f;
const DIGEST_EXCLUDED_BYTES = Buffer.from(DIGEST_EXCLUDED_PREFIX, 'utf8');
/** Steps between two event-loop turns while the walk makes no bytes. */
const DEFAULT_STEPS_PER_SLICE = 64;

// ---------------------------------------------------------------------------------------------
// Encoding (leader)

export interface SnapStreamEncoderOptions {
  /** Nodes per step of the walk (default: the snapshot writer's). */
  nodesPerStep?: number;
}

/**
 * The stream of a tree as it is when the encoder is made, handed out chunk by chunk as the caller
 * asks: an exact copy-on-write snapshot, however the tree changes between calls (the SNAP packet's
 * zxid is `zxid`, the tree's last processed zxid at that moment). Only the chunks of one step are
 * held, so the caller's pace (its socket draining) bounds the memory. close() must be called if the
 * stream is abandoned before its end.
 */
export class SnapStreamEncoder implements Iterable<Buffer> {
  readonly zxid: bigint;
  private readonly job: SnapshotJob;
  private pending: Buffer[] = [];
  private finished = false;
  /** Stream bytes handed out so far. */
  bytesOut = 0;

  constructor(tree: DataTree, sessions: ReadonlyMap<bigint, number>, opts: SnapStreamEncoderOptions = {}) {
    this.zxid = tree.lastProcessedZxid;
    this.job = new SnapshotJob(tree, sessions, this.zxid, { nodesPerStep: opts.nodesPerStep, digest: null }, false, 'learner');
  }

  /**
   * The next chunk of the stream, or null after the last. Runs steps until a chunk is made (a
   * chunk's worth of nodes); a caller on the event loop uses chunks(), which pauses between slices.
   */
  next(): Buffer | null {
    for (;;) {
      const c = this.tryNext(Infinity);
      if (c !== undefined) return c;
    }
  }

  /**
   * At most `maxSteps` steps of work: a chunk, null after the last, or undefined when the steps
   * made no bytes yet (call again).
   */
  tryNext(maxSteps: number): Buffer | null | undefined {
    for (let n = 0; this.pending.length === 0; n++) {
      if (this.finished) return null;
      if (n >= maxSteps) return undefined;
      const done = this.job.step();
      this.pending = this.job.sink.take();
      if (done) this.finished = true;
    }
    const chunk = this.pending.shift()!;
    this.bytesOut += chunk.length;
    return chunk;
  }

  /**
   * The chunks, giving the event loop a turn after every `stepsPerSlice` steps that made no chunk
   * (txns go on being applied meanwhile; the stream stays the tree as of the encoder's creation).
   * Pull-based: nothing is made while the consumer is not asking.
   */
  async *chunks(stepsPerSlice = DEFAULT_STEPS_PER_SLICE): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        const c = this.tryNext(stepsPerSlice);
        if (c === null) return;
        if (c === undefined) await nextTurn();
        else yield c;
      }
    } finally {
      this.close();
    }
  }

  get done(): boolean {
    return this.finished && this.pending.length === 0;
  }

  close(): void {
    this.job.close();
    this.finished = true;
    this.pending = [];
  }

  *[Symbol.iterator](): Iterator<Buffer> {
    try {
      for (let c = this.next(); c !== null; c = this.next()) yield c;
    } finally {
      this.close();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding (learner)

/** The stream is damaged or hostile; `offset` counts stream bytes from its first. */
export class SnapStreamError extends Error {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`snapshot stream at offset ${offset}: ${reason}`);
    this.name = 'SnapStreamError';
  }
}

export interface SnapStreamDecoderOptions {
  /** The SNAP packet's zxid: the tree's lastProcessedZxid once decoded. */
  zxid: bigint;
  extendedTypesEnabled?: boolean;
  /**
   * Largest path, data or ACL string accepted, in bytes: jute.maxbuffer (0xfffff) plus its extra
   * size by default, as a ZooKeeper learner reads the stream.
   */
  maxFieldBytes?: number;
  /** Most sessions and ACL lists accepted. */
  maxSessions?: number;
  maxAclLists?: number;
  /** Most entries in one ACL list. */
  maxAclEntries?: number;
}

export interface SnapPushResult {
  /** "BenWasHere" has been consumed: the stream is complete. */
  done: boolean;
  /** Bytes of the pushed chunk that belonged to the stream (all of them unless done). */
  consumed: number;
}

export interface DecodedSnap {
  tree: DataTree;
  sessions: Map<bigint, number>;
  zxid: bigint;
}

const DEFAULT_MAX_FIELD_BYTES = 2 * 0xfffff;
const DEFAULT_MAX_SESSIONS = 1 << 24;
const DEFAULT_MAX_ACL_LISTS = 1 << 24;
const DEFAULT_MAX_ACL_ENTRIES = 1 << 16;
/** A pushed chunk is taken in slices of this size, so the decoder never copies a huge one whole. */
const SLICE_BYTES = 64 * 1024;

const enum Phase {
  SessionCount,
  Sessions,
  AclCount,
  AclHeader,
  AclEntries,
  Nodes,
  Trailer,
  Done,
  Failed,
}

/** The nodes a new DataTree holds before anything is restored into it. */
const BUILT_IN_PATHS: readonly string[] = ['/', ZOOKEEPER_PATH, QUOTA_PATH, CONFIG_PATH];

/** Thrown inside a parse when the record is not all there yet; the parse is retried later. */
const NEED_MORE = Symbol('need more');

/**
 * Decodes the stream from chunks of any size, building the DataTree and the session table as it
 * goes. Holds at most one record (one node: path, data, ACL id, stat) beyond what it has parsed,
 * bounded by maxFieldBytes. The first error makes it fail for good.
 */
export class SnapStreamDecoder {
  private readonly tree: DataTree;
  private readonly sessions = new Map<bigint, number>();
  private readonly aclLists = new Map<bigint, ACL[]>();
  private readonly recorder = new AclIdRecorder();
  private readonly names = new NameTable();
  private readonly maxField: number;
  private readonly maxSessions: number;
  private readonly maxAclLists: number;
  private readonly maxAclEntries: number;
  private phase = Phase.SessionCount;
  /** Items left in the current section (sessions, ACL lists, entries of the current list). */
  private left = 0;
  private aclListsLeft = 0;
  private aclId = 0n;
  private aclIndex = 0n;
  private acl: ACL[] = [];
  private rootSeen = false;
  /** The previous node's ACL id (as a bigint and as its two 32-bit halves) and list. */
  private lastAclId = 0n;
  private lastAclIdHigh = 0;
  private lastAclIdLow = 0;
  private lastAcl: ACL[] | undefined;
  /** OPEN_ACL_UNSAFE as this tree's cache holds it (ACL id -1). */
  private readonly openUnsafe: ACL[];
  /** The list the recorder last confirmed as its id's, while the ACL id stays the same. */
  private recordedAcl: ACL[] | undefined;
  /**
   * The parent of the last nodes restored: the node, its path's UTF-8 bytes (parentBytes[0,
   * parentLen); the root's are none) and whether its children are outside the digest.
   */
  private parent: ZNode | undefined;
  private parentBytes = Buffer.alloc(256);
  private parentLen = 0;
  private parentExcluded = false;
  /**
   * The tree digest, summed node by node as the records arrive (no walk of the tree at the end).
   * `digestExact` turns false if a record replaced a node other than the first of a built-in one
   * (a stream naming a path twice): the end then computes the digest by a walk.
   */
  private readonly digest = new TreeDigest();
  private digestExact = true;
  /** The built-in nodes (see DataTree's constructor) the stream has replaced. */
  private readonly builtInsSeen = new Set<string>();
  /** Unparsed bytes: buf[pos, end). `base` is the stream offset of buf[0]. */
  private buf = Buffer.alloc(SLICE_BYTES);
  private pos = 0;
  private end = 0;
  private base = 0;
  private failure: SnapStreamError | undefined;
  private result: DecodedSnap | undefined;

  constructor(private readonly opts: SnapStreamDecoderOptions) {
    this.tree = new DataTree(opts.extendedTypesEnabled ?? false);
    this.openUnsafe = this.tree.acls.intern(OPEN_ACL_UNSAFE);
    this.maxField = opts.maxFieldBytes ?? DEFAULT_MAX_FIELD_BYTES;
    this.maxSessions = opts.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.maxAclLists = opts.maxAclLists ?? DEFAULT_MAX_ACL_LISTS;
    this.maxAclEntries = opts.maxAclEntries ?? DEFAULT_MAX_ACL_ENTRIES;
  }

  get done(): boolean {
    return this.phase === Phase.Done;
  }

  /** Stream bytes parsed so far. */
  get bytesConsumed(): number {
    return this.base + this.pos;
  }

  /** The decoded tree and sessions, once done. */
  decoded(): DecodedSnap {
    if (this.result === undefined) throw new Error('the snapshot stream is not complete');
    return this.result;
  }

  /** Feeds the next bytes received. Throws SnapStreamError on damage (and on every call after). */
  push(chunk: Buffer): SnapPushResult {
    if (this.failure) throw this.failure;
    if (this.phase === Phase.Done) return { done: true, consumed: 0 };
    let taken = 0;
    while (taken < chunk.length) {
      const n = Math.min(SLICE_BYTES, chunk.length - taken);
      this.append(chunk, taken, taken + n);
      taken += n;
      this.parse();
      if (this.done) {
        // What was appended but not parsed belongs to the packets after the stream.
        const consumed = taken - (this.end - this.pos);
        this.end = this.pos;
        return { done: true, consumed };
      }
    }
    return { done: false, consumed: chunk.length };
  }

  private append(chunk: Buffer, from: number, to: number): void {
    const n = to - from;
    if (this.end + n > this.buf.length) {
      const keep = this.end - this.pos;
      // A record never needs more than this: a bigger one failed its length check already.
      const target = Math.max(keep + n, SLICE_BYTES);
      const dst = target > this.buf.length ? Buffer.allocUnsafe(Math.max(target, Math.min(this.buf.length * 2, 3 * this.maxField + SLICE_BYTES))) : this.buf;
      this.buf.copy(dst, 0, this.pos, this.end);
      this.buf = dst;
      this.base += this.pos;
      this.pos = 0;
      this.end = keep;
    }
    chunk.copy(this.buf, this.end, from, to);
    this.end += n;
  }

  private fail(offset: number, reason: string): never {
    this.phase = Phase.Failed;
    this.failure = new SnapStreamError(offset, reason);
    throw this.failure;
  }

  private parse(): void {
    for (;;) {
      const start = this.pos;
      try {
        if (!this.step()) return;
      } catch (e) {
        if (e === NEED_MORE) {
          this.pos = start;
          return;
        }
        throw e;
      }
    }
  }

  // Readers over buf[pos, end); NEED_MORE when the bytes are not there yet.
  private need(n: number): void {
    if (this.end - this.pos < n) throw NEED_MORE;
  }
  private int(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  private long(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  /** A length-prefixed field's bounds; -1 length is null (start -1). */
  private field(what: string): { at: number; len: number } {
    const lenAt = this.base + this.pos;
    const len = this.int();
    if (len < -1) this.fail(lenAt, `${what} has length ${len}`);
    if (len > this.maxField) this.fail(lenAt, `${what} length ${len} is over the limit of ${this.maxField} bytes`);
    if (len === -1) return { at: -1, len: -1 };
    this.need(len);
    const at = this.pos;
    this.pos += len;
    return { at, len };
  }
  private string(what: string): string | null {
    const f = this.field(what);
    return f.len < 0 ? null : this.buf.toString('utf8', f.at, f.at + f.len);
  }

  /** Parses one record of the current phase; false once done. */
  private step(): boolean {
    const at = this.base + this.pos;
    switch (this.phase) {
      case Phase.SessionCount: {
        const n = this.int();
        if (n < 0 || n > this.maxSessions) this.fail(at, `session count ${n} is out of range`);
        this.left = n;
        this.phase = n > 0 ? Phase.Sessions : Phase.AclCount;
        return true;
      }
      case Phase.Sessions: {
        this.need(12);
        const id = this.long();
        const timeoutMs = this.int();
        this.sessions.set(id, timeoutMs);
        if (--this.left === 0) this.phase = Phase.AclCount;
        return true;
      }
      case Phase.AclCount: {
        const n = this.int();
        if (n < 0 || n > this.maxAclLists) this.fail(at, `ACL list count ${n} is out of range`);
        this.aclListsLeft = n;
        this.phase = n > 0 ? Phase.AclHeader : Phase.Nodes;
        return true;
      }
      case Phase.AclHeader: {
        this.need(12);
        const id = this.long();
        const n = this.int();
        if (n < 0 || n > this.maxAclEntries) this.fail(at + 8, `ACL list ${id} has ${n} entries`);
        if (this.aclLists.has(id)) this.fail(at, `ACL list ${id} appears twice`);
        this.aclId = id;
        this.acl = [];
        this.left = n;
        if (n === 0) this.endAclList();
        else this.phase = Phase.AclEntries;
        return true;
      }
      case Phase.AclEntries: {
        const perms = this.int();
        const scheme = this.string('ACL scheme');
        const id = this.string('ACL id');
        if (scheme === null || id === null) this.fail(at, `ACL list ${this.aclId} holds a null scheme or id`);
        this.acl.push({ perms, id: { scheme, id } });
        if (--this.left === 0) this.endAclList();
        return true;
      }
      case Phase.Nodes:
        return this.node(at);
      case Phase.Trailer: {
        const s = this.string('trailer');
        if (s !== SNAP_STREAM_TRAILER) this.fail(at, `expected "${SNAP_STREAM_TRAILER}" after the nodes, found ${JSON.stringify(s)}`);
        this.finish();
        return false;
      }
      default:
        return false;
    }
  }

  private endAclList(): void {
    this.aclLists.set(this.aclId, this.tree.acls.intern(this.acl));
    if (this.aclId > this.aclIndex) this.aclIndex = this.aclId;
    this.phase = --this.aclListsLeft === 0 ? Phase.Nodes : Phase.AclHeader;
  }

  private node(at: number): boolean {
    // The record's fields are found in place; no path string is made for the common node (see
    // below), and nothing is retried once the state changes.
    const b = this.buf;
    this.need(4);
    const pathLen = b.readInt32BE(this.pos);
    if (pathLen < -1 || pathLen > this.maxField) this.field('node path');
    if (pathLen === -1) this.fail(at, 'null node path');
    this.need(4 + pathLen + 4);
    const pathAt = this.pos + 4;
    if (pathLen === 1 && b[pathAt] === SLASH) {
      this.pos = pathAt + 1;
      if (!this.rootSeen) this.fail(at, 'the nodes end before the root');
      this.phase = Phase.Trailer;
      return true;
    }
    if ((pathLen === 0) === this.rootSeen) {
      this.pos = pathAt + pathLen;
      this.fail(at, this.rootSeen ? 'a second root' : `the first node is ${JSON.stringify(b.toString('utf8', pathAt, pathAt + pathLen))}, not the root`);
    }
    const dataLenAt = pathAt + pathLen;
    const dataLen = b.readInt32BE(dataLenAt);
    if (dataLen < -1 || dataLen > this.maxField) {
      this.pos = dataLenAt;
      this.field('node data');
    }
    const dataAt = dataLenAt + 4;
    const aclAt = dataAt + (dataLen < 0 ? 0 : dataLen);
    if (this.end - aclAt < 8 + StatPersisted_SIZE) throw NEED_MORE;
    // Nodes in a row mostly share their ACL list: its id is read as a bigint only when it changes.
    const idHigh = b.readInt32BE(aclAt);
    const idLow = b.readInt32BE(aclAt + 4);
    const sameAcl = this.lastAcl !== undefined && idHigh === this.lastAclIdHigh && idLow === this.lastAclIdLow;
    const aclId = sameAcl ? this.lastAclId : b.readBigInt64BE(aclAt);
    const statAt = aclAt + 8;
    this.pos = statAt + StatPersisted_SIZE;
    // The whole record is here: from now on nothing is retried, so state may change.
    this.rootSeen = true;
    if (pathLen > 0 && (b[pathAt] !== SLASH || (pathLen > 1 && b[pathAt + pathLen - 1] === SLASH))) {
      this.fail(at, `bad node path ${JSON.stringify(b.toString('utf8', pathAt, pathAt + pathLen))}`);
    }
    const acl = sameAcl ? this.lastAcl : aclId === OPEN_UNSAFE_ACL_ID ? this.openUnsafe : this.aclLists.get(aclId);
    if (acl === undefined) this.fail(this.base + aclAt, `node ${pathLen === 0 ? '/' : b.toString('utf8', pathAt, pathAt + pathLen)} refers to ACL id ${aclId}, which the stream did not list`);
    if (!sameAcl) this.recordedAcl = undefined;
    this.lastAcl = acl;
    this.lastAclId = aclId;
    this.lastAclIdHigh = idHigh;
    this.lastAclIdLow = idLow;
    // Data as the latin1 text the tree keeps it in (as the snapshot reader does).
    const data = dataLen < 0 ? null : b.toString('latin1', dataAt, dataAt + dataLen);
    // The parent is the last node's parent (siblings come together), compared by bytes; the node's
    // name is then the only string made, and a name seen before (a table by bytes) not even that.
    let slash = pathLen - 1;
    while (slash > 0 && b[pathAt + slash] !== SLASH) slash--;
    let node: ZNode | undefined;
    let excluded: boolean;
    if (pathLen > 0 && this.sameParent(b, pathAt, slash)) {
      node = this.tree.restoreChild(this.parent!, this.names.internBytes(b, pathAt + slash + 1, pathAt + pathLen), data, acl, b, statAt);
      excluded = this.parentExcluded;
    } else excluded = pathLen > DIGEST_EXCLUDED_BYTES.length && b.compare(DIGEST_EXCLUDED_BYTES, 0, DIGEST_EXCLUDED_BYTES.length, pathAt, pathAt + DIGEST_EXCLUDED_BYTES.length) === 0;
    if (node === undefined) {
      // Any other node (the root, a new parent, an ephemeral, a repeat) goes through restoreNode with its path.
      const p = b.toString('utf8', pathAt, pathAt + pathLen);
      const nodePath = p === '' ? '/' : p;
      const countBefore = this.tree.nodeCount;
      try {
        node = this.tree.restoreNode(nodePath, data, acl, b, statAt, this.names);
      } catch (e) {
        this.fail(at, (e as Error).message);
      }
      if (this.tree.nodeCount === countBefore) {
        // It took the place of a node the tree had: a built-in one the first time, else a repeat.
        if (BUILT_IN_PATHS.includes(nodePath) && !this.builtInsSeen.has(nodePath)) this.builtInsSeen.add(nodePath);
        else this.digestExact = false;
        // A replaced node may have been the parent in hand.
        this.parent = undefined;
      }
      if (nodePath !== '/') this.takeParent(b, pathAt, slash);
    }
    if (!excluded) this.digest.add(nodeDigestOfRecord(b, pathAt, pathLen, dataAt, dataLen, statAt));
    // The ACL id the node came with, for the next snapshot written: a new node with the same list
    // and id as the last one recorded needs nothing more (the recorder would only confirm that).
    if (this.recordedAcl !== acl || node.acl !== acl) {
      this.recorder.record(node, node.acl, aclId);
      this.recordedAcl = this.recorder.isListId(node.acl, aclId) && node.acl === acl ? acl : undefined;
    }
    return true;
  }

  /** Whether the parent in hand is the one of the path b[pathAt, ...) whose last "/" is at pathAt + slash. */
  private sameParent(b: Buffer, pathAt: number, slash: number): boolean {
    if (this.parent === undefined) return false;
    const pb = this.parentBytes;
    if (slash !== this.parentLen) return false;
    for (let i = slash - 1; i >= 0; i--) if (b[pathAt + i] !== pb[i]) return false;
    return true;
  }

  /** Takes the parent of the node just restored at b[pathAt, ...) (last "/" at pathAt + slash) in hand. */
  private takeParent(b: Buffer, pathAt: number, slash: number): void {
    const parentPath = slash === 0 ? '/' : b.toString('utf8', pathAt, pathAt + slash);
    const parent = this.tree.getNode(parentPath);
    if (parent === undefined) {
      this.parent = undefined;
      return;
    }
    if (this.parentBytes.length < slash) this.parentBytes = Buffer.allocUnsafe(Math.max(slash, 2 * this.parentBytes.length));
    b.copy(this.parentBytes, 0, pathAt, pathAt + slash);
    this.parentLen = slash;
    this.parent = parent;
    this.parentExcluded = isDigestExcluded(parentPath + '/');
  }

  private finish(): void {
    const tree = this.tree;
    this.recorder.finish(tree, this.aclIndex);
    tree.lastProcessedZxid = this.opts.zxid;
    if (this.digestExact) {
      // Built-in nodes the stream did not name stay as the tree made them.
      for (const p of BUILT_IN_PATHS) {
        const n = this.builtInsSeen.has(p) ? undefined : tree.getNode(p);
        if (n) this.digest.add(nodeDigest(p, n));
      }
      tree.setDigest(this.digest.value);
    } else tree.setDigest();
    tree.recountQuotas();
    this.phase = Phase.Done;
    this.result = { tree, sessions: this.sessions, zxid: this.opts.zxid };
  }
}

// ---------------------------------------------------------------------------------------------
// Spooling (learner)

/** A spool's writes: a few socket reads' worth each. */
const SPOOL_BLOCK_BYTES = 1024 * 1024;
/** A spool's file is flushed to the disk after each this many bytes, while the stream goes on. */
const SPOOL_SYNC_EVERY_BYTES = 32 * 1024 * 1024;

/** The trailer as it ends the stream: int length, then the bytes. */
const TRAILER_BYTES = (() => {
  const w = new JuteWriter(32);
  w.writeString(SNAP_STREAM_TRAILER);
  return w.toBuffer();
})();

/**
 * Writes the stream a learner receives, as it receives it, into `snapshot.<zxid hex>` in
 * ZooKeeper's file format: the FileHeader, the stream's bytes up to the nodes' "/", the Adler-32
 * seal, the digest section (the tree's digest as decoded, for the SNAP zxid) and its seal. The
 * file is under a temp name until finish() has fsynced it, renamed it and fsynced the directory:
 * the learner calls finish() before it acknowledges NEWLEADER, so a snapshot it acknowledged is
 * one a crash cannot take away.
 *
 * append() copies the bytes into a block and returns at once; full blocks are written one after
 * another in the background (a write per socket read, each with its own await, fell behind the
 * stream). `backlogBytes` says how much waits for the disk: the caller stops reading past a limit.
 */
export class SnapSpool {
  private readonly adler = new Adler32();
  /** Bytes not yet handed to the writer; the stream's last TRAILER_BYTES.length always stay here. */
  private block = Buffer.allocUnsafe(SPOOL_BLOCK_BYTES);
  private blockLen = 0;
  private position = 0;
  private closed = false;
  private fh: fs.promises.FileHandle | undefined;
  private fhClosed = false;
  /** File offset up to which a datasync has run or runs. */
  private syncedTo = 0;
  /** The datasync under way, if any (it never rejects: see flushFailure). */
  private flushing: Promise<void> | undefined;
  private flushFailure: Error | undefined;
  /** The writes so far, in order; rejected once one fails (finish() reports it). */
  private writes: Promise<void>;
  /** Bytes handed to the writer and not yet written. */
  backlogBytes = 0;
  /** Called each time a block has been written. */
  onWritten: (() => void) | undefined;

  private constructor(
    readonly dir: string,
    readonly zxid: bigint,
    private readonly tempPath: string,
    readonly finalPath: string,
  ) {
    const w = new JuteWriter(16);
    encodeFileHeader(w, { magic: SNAP_MAGIC, version: SNAP_VERSION, dbid: SNAP_DBID });
    const header = w.toBuffer();
    this.writes = (async () => {
      await fs.promises.mkdir(dir, { recursive: true });
      this.fh = await fs.promises.open(tempPath, 'w', 0o644);
      await this.out(header);
    })();
    this.writes.catch(() => undefined);
  }

  /**
   * Starts the file in `dir`, the snapshot directory (`<dataDir>/version-2`, created if missing);
   * the file is opened in the background, and bytes may be appended at once.
   */
  static start(dir: string, zxid: bigint): SnapSpool {
    const name = snapshotFileName(zxid);
    return new SnapSpool(dir, zxid, path.join(dir, 'tmp.' + name), path.join(dir, name));
  }

  /** As start(), once the file is open and its header written. */
  static async create(dir: string, zxid: bigint): Promise<SnapSpool> {
    const spool = SnapSpool.start(dir, zxid);
    try {
      await spool.writes;
    } catch (e) {
      await spool.abort();
      throw e;
    }
    return spool;
  }

  /** Stream bytes as received (only those that belong to the stream: see SnapPushResult.consumed); copied. */
  append(bytes: Buffer): void {
    if (this.closed) throw new Error('snapshot spool is closed');
    for (let off = 0; off < bytes.length; ) {
      const n = Math.min(bytes.length - off, this.block.length - this.blockLen);
      bytes.copy(this.block, this.blockLen, off, off + n);
      this.blockLen += n;
      off += n;
      if (this.blockLen === this.block.length) this.handOff();
    }
  }

  /** As append(); resolves once the bytes are handed to the writer. */
  async write(bytes: Buffer): Promise<void> {
    this.append(bytes);
  }

  /** Hands the block to the writer but its last bytes, which may be the trailer's. */
  private handOff(): void {
    const keep = TRAILER_BYTES.length;
    const next = Buffer.allocUnsafe(SPOOL_BLOCK_BYTES);
    this.block.copy(next, 0, this.blockLen - keep, this.blockLen);
    this.queue(this.block.subarray(0, this.blockLen - keep));
    this.block = next;
    this.blockLen = keep;
  }

  private queue(b: Buffer): void {
    this.backlogBytes += b.length;
    this.writes = this.writes.then(async () => {
      await this.out(b);
      // Flushed as it goes, so that the fsync before the ACK of NEWLEADER has little left to do;
      // the writes after it do not wait for the flush (one at a time).
      if (this.position - this.syncedTo >= SPOOL_SYNC_EVERY_BYTES && this.flushing === undefined) {
        this.syncedTo = this.position;
        // A failed flush fails the spool: a later fsync need not report the same error again.
        const flushing: Promise<void> = this.fh!.datasync().then(
          () => undefined,
          (e: Error) => void (this.flushFailure ??= e),
        ).then(() => {
          if (this.flushing === flushing) this.flushing = undefined;
        });
        this.flushing = flushing;
      }
      this.backlogBytes -= b.length;
      this.onWritten?.();
    });
    this.writes.catch(() => undefined);
  }

  /**
   * Seals the file with `treeDigest` (the decoded tree's digest), makes it durable and gives it its
   * name; returns the path. The stream must have ended with its trailer.
   */
  async finish(treeDigest: bigint): Promise<string> {
    if (this.closed) throw new Error('snapshot spool is closed');
    try {
      const keep = TRAILER_BYTES.length;
      if (this.blockLen < keep || !this.block.subarray(this.blockLen - keep, this.blockLen).equals(TRAILER_BYTES)) {
        throw new Error(`the spooled stream does not end with "${SNAP_STREAM_TRAILER}"`);
      }
      this.queue(this.block.subarray(0, this.blockLen - keep));
      this.blockLen = 0;
      await this.writes;
      const w = new JuteWriter(64);
      w.writeLong(BigInt(this.adler.value()));
      w.writeString('/');
      await this.out(w.toBuffer());
      const d = new JuteWriter(64);
      d.writeLong(this.zxid);
      d.writeInt(DIGEST_VERSION);
      d.writeLong(treeDigest);
      await this.out(d.toBuffer());
      const s = new JuteWriter(16);
      s.writeLong(BigInt(this.adler.value()));
      s.writeString('/');
      await this.out(s.toBuffer());
      const fh = this.fh!;
      await this.flushing;
      if (this.flushFailure) throw this.flushFailure;
      await fh.sync();
      this.fhClosed = true;
      await fh.close();
      this.closed = true;
      await fs.promises.rename(this.tempPath, this.finalPath);
      const dh = await fs.promises.open(this.dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
      return this.finalPath;
    } catch (e) {
      await this.abort();
      throw e;
    }
  }

  /** Drops the temp file (a sync that failed or was cut off), once the writes under way have ended. */
  async abort(): Promise<void> {
    this.closed = true;
    await this.writes.catch(() => undefined);
    await this.flushing;
    if (this.fh !== undefined && !this.fhClosed) {
      this.fhClosed = true;
      await this.fh.close().catch(() => undefined);
    }
    await fs.promises.unlink(this.tempPath).catch(() => undefined);
  }

  private async out(b: Buffer): Promise<void> {
    // A seal covers every byte before it, an earlier seal's bytes included.
    this.adler.update(b);
    const fh = this.fh!;
    let off = 0;
    while (off < b.length) {
      const { bytesWritten } = await fh.write(b, off, b.length - off, this.position + off);
      off += bytesWritten;
    }
    this.position += b.length;
  }
}
