/**
 * Prep: turns a write request into a txn, or into an error txn, against the tree as it will be once
 * every txn already prepared is applied (the pending change records). Pure: no I/O, no clocks;
 * the zxid and the txn time are handed in.
 *
 * With digests enabled it also works out the tree digest each txn will leave (ZooKeeper's
 * TxnDigest, carried in proposals and log entries): every change record keeps the stat fields and
 * the CRC of path and data its node digest covers, so a txn's digest is the one before it, minus
 * the digests of the nodes it changes as they were, plus theirs as it leaves them.
 */
import {
  createModeFromFlag,
  CONTAINER_EPHEMERAL_OWNER,
  ephemeralKind,
  Err,
  KeeperError,
  OpCode,
  Perms,
  TTL_MAX_MS,
  ttlEphemeralOwner,
} from '../protocol/constants';
import type {
  ACL,
  CheckVersionRequest,
  CreateRequest,
  CreateTTLRequest,
  DeleteRequest,
  Id,
  SetACLRequest,
  SetDataRequest,
} from '../protocol/generated/records';
import type { DataTree } from '../storage/datatree';
import { digestFromParts, nodeDigestFromCrc, pathDataCrc, pathDataCrcOfNode } from '../storage/digest';
import { CONFIG_PATH, isSpecialPath, parentOf, pathInvalidReason } from '../storage/paths';
import { decideReconfig, type ReconfigContext } from '../quorum/reconfigrequest';
import type { ReconfigRequestIn } from '../protocol/requests';
import type { QuorumVerifier } from '../quorum/verifier';
import type { TxnBody } from '../storage/txn';
import type { AuthRegistry } from './auth';

/** A node as the pending txns leave it; `exists: false` marks a pending delete. */
interface ChangeRecord {
  zxid: bigint;
  path: string;
  exists: boolean;
  version: number;
  cversion: number;
  aversion: number;
  ephemeralOwner: bigint;
  childCount: number;
  acl: ACL[];
  czxid: bigint;
  mzxid: bigint;
  pzxid: bigint;
  ctime: bigint;
  mtime: bigint;
  /** CRC of path and data (digests enabled). */
  dataCrc: number;
  /** Node digest of this state (0 when gone), and of the state this txn changed it from. */
  digest: number;
  prevDigest: number;
}

export type WriteOp =
  | { type: typeof OpCode.create | typeof OpCode.create2 | typeof OpCode.createContainer; record: CreateRequest }
  | { type: typeof OpCode.createTTL; record: CreateTTLRequest }
  | { type: typeof OpCode.delete | typeof OpCode.deleteContainer; record: DeleteRequest }
  | { type: typeof OpCode.setData; record: SetDataRequest }
  | { type: typeof OpCode.setACL; record: SetACLRequest }
  | { type: typeof OpCode.check; record: CheckVersionRequest };

export type WriteRequest =
  | WriteOp
  | { type: typeof OpCode.multi; record: WriteOp[] }
  | { type: typeof OpCode.createSession; record: { timeOut: number } }
  | { type: typeof OpCode.closeSession; record: null }
  | { type: typeof OpCode.reconfig; record: ReconfigRequestIn };

/** What a leader's prep needs to decide a reconfig: ReconfigContext without the zxid. */
export type ReconfigPrepContext = Omit<ReconfigContext, 'zxid'>;

export interface PrepOptions {
  extendedTypesEnabled: boolean;
  reconfigEnabled: boolean;
  enforceQuota: boolean;
  /** Work out each txn's tree digest (zookeeper.digest.enabled). */
  digestEnabled?: boolean;
  /** The quorum leader's configurations and synced followers; undefined on any other server. */
  reconfigContext?: () => ReconfigPrepContext | undefined;
}

export class Prep {
  /** Change records in zxid order from `head` on (those before it are applied), and the newest one per path. */
  private readonly outstanding: ChangeRecord[] = [];
  private head = 0;
  private readonly byPath = new Map<string, ChangeRecord>();

  constructor(
    private readonly tree: DataTree,
    private readonly auth: AuthRegistry,
    private readonly options: PrepOptions,
  ) {}

  /** The tree digest the last prepared txn leaves (digests enabled). */
  lastTreeDigest = 0n;

  /** Change records ever added and ever dropped (ZooKeeper's outstanding_changes_queued/_removed). */
  changesQueued = 0;
  changesRemoved = 0;

  get outstandingCount(): number {
    return this.outstanding.length - this.head;
  }

  /** The session check of the request being prepared (see `prepare`). */
  private sessionCheck: ((ephemeral: boolean) => number) | undefined;

  /**
   * Builds the txn body of a write request; failures become an error txn, as ZooKeeper logs them.
   * `time` is the txn's (a new node's ctime, a changed one's mtime: the digest covers them).
   * `checkSession` says whether the session may write (OK, or SESSIONEXPIRED, SESSIONMOVED, ...);
   * it is asked where ZooKeeper's prep checks the session: first for delete, setData, setACL and
   * check, after the mode and TTL checks for a create (`ephemeral`: the create makes an ephemeral
   * node, which needs a global session), never for createSession, closeSession and
   * deleteContainer. Without it (the server's own writes) nothing is checked.
   */
  prepare(req: WriteRequest, sessionId: bigint, ids: readonly Id[], zxid: bigint, time = 0n, checkSession?: (ephemeral: boolean) => number): TxnBody {
    // With no record pending, every txn prepared before is in the tree (or changed nothing).
    const base = this.outstandingCount > 0 ? this.lastTreeDigest : this.options.digestEnabled ? this.tree.digest.value : 0n;
    const mark = this.outstanding.length;
    this.time = time;
    this.sessionCheck = checkSession;
    const body = this.prepareBody(req, sessionId, ids, zxid);
    if (this.options.digestEnabled) this.lastTreeDigest = BigInt.asIntN(64, base + BigInt(this.digestDelta(mark, zxid)));
    return body;
  }

  /** The txn time of the request being prepared (a node's ctime and mtime). */
  private time = 0n;

  private prepareBody(req: WriteRequest, sessionId: bigint, ids: readonly Id[], zxid: bigint): TxnBody {
    try {
      switch (req.type) {
        case OpCode.multi:
          return this.prepareMulti(req.record, sessionId, ids, zxid);
        case OpCode.createSession:
          return { type: OpCode.createSession, record: { timeOut: req.record.timeOut } };
        case OpCode.closeSession:
          return this.prepareCloseSession(sessionId, zxid);
        case OpCode.reconfig:
          return this.prepareReconfig(req.record, ids, zxid);
        case OpCode.check:
          // A check on its own changes nothing; ZooKeeper's log has no record for it outside a
          // multi, so it is logged as an error txn carrying OK.
          this.prepareOp(req, sessionId, ids, zxid);
          return { type: OpCode.error, record: { err: Err.OK } };
        default:
          return this.prepareOp(req, sessionId, ids, zxid);
      }
    } catch (e) {
      if (e instanceof KeeperError) return { type: OpCode.error, record: { err: e.code } };
      throw e;
    } finally {
      this.sessionCheck = undefined;
    }
  }

  /**
   * ZooKeeper's order (docs/RECONFIG.md §3.1): disabled, the session, not a quorum leader, the
   * leader's decision (reconfigrequest.ts), then WRITE on /zookeeper/config. The txn is a setData
   * of /zookeeper/config with version -1 under the reconfig header type; it changes no digest.
   */
  private prepareReconfig(req: ReconfigRequestIn, ids: readonly Id[], zxid: bigint): TxnBody {
    if (!this.options.reconfigEnabled) throw new KeeperError(Err.RECONFIGDISABLED);
    this.checkSession();
    const ctx = this.options.reconfigContext?.();
    if (ctx === undefined) throw new KeeperError(Err.UNIMPLEMENTED);
    // One outstanding reconfig: one prepared and not yet applied counts, before the leader saw it.
    if (this.reconfigPreparedZxid !== undefined) throw new KeeperError(Err.RECONFIGINPROGRESS);
    const orNull = (s: string): string | null => (s === '' ? null : s);
    const decision = decideReconfig(
      { joiningServers: orNull(req.joiningServers), leavingServers: orNull(req.leavingServers), newMembers: req.newMembers, curConfigId: req.curConfigId },
      { ...ctx, zxid },
    );
    if (!decision.ok) throw new KeeperError(decision.err);
    const node = this.tree.getNode(CONFIG_PATH);
    if (node === undefined) throw new KeeperError(Err.NONODE);
    this.auth.checkACL(node.acl, Perms.WRITE, ids);
    this.reconfigPreparedZxid = zxid;
    this.decidedReconfig = decision.next;
    return { type: OpCode.setData, record: { path: CONFIG_PATH, data: Buffer.from(decision.next.toString(), 'utf8'), version: -1 } };
  }

  /** A reconfig prepared and not yet applied. */
  private reconfigPreparedZxid: bigint | undefined;
  /** The configuration of the last reconfig prepared, as decided (see decidedConfiguration). */
  private decidedReconfig: QuorumVerifier | undefined;

  /**
   * The configuration the last prepared reconfig decided, when `text` (a reconfig txn's config
   * string) is its string. The leader keeps this one, not one parsed back from `text`: like
   * ZooKeeper's leader (request.qv), its member map keeps the order of the map it was copied and
   * edited from, which a parse (a fresh map) loses where sids share a hash bucket (sid 9 beside 1).
   */
  decidedConfiguration(text: string): QuorumVerifier | undefined {
    const d = this.decidedReconfig;
    return d !== undefined && d.toString() === text ? d : undefined;
  }

  /** The change in the tree digest txn `zxid` makes: its records from `mark` on (none for an error). */
  private digestDelta(mark: number, zxid: bigint): number {
    let delta = 0;
    for (let i = mark; i < this.outstanding.length; i++) {
      const c = this.outstanding[i];
      if (c.zxid !== zxid) continue;
      const d = c.exists ? digestFromParts(c.path, c.dataCrc, c) : 0;
      delta += d - c.prevDigest;
      c.digest = d;
    }
    return delta;
  }

  private checkSession(ephemeral = false): void {
    const err = this.sessionCheck?.(ephemeral) ?? Err.OK;
    if (err !== Err.OK) throw new KeeperError(err);
  }

  /** Drops change records that the tree now reflects. */
  applied(zxid: bigint): void {
    if (this.reconfigPreparedZxid !== undefined && this.reconfigPreparedZxid <= zxid) this.reconfigPreparedZxid = undefined;
    const list = this.outstanding;
    let k = this.head;
    while (k < list.length && list[k].zxid <= zxid) {
      const c = list[k];
      if (this.byPath.get(c.path) === c) this.byPath.delete(c.path);
      k++;
    }
    this.changesRemoved += k - this.head;
    // Applied records are dropped in bulk: removing them from the front one txn at a time moved
    // every pending record each time.
    if (k === list.length) {
      list.length = 0;
      k = 0;
    } else if (k > 1024 && k * 2 > list.length) {
      list.splice(0, k);
      k = 0;
    }
    this.head = k;
  }

  private record(path: string): ChangeRecord {
    const pending = this.byPath.get(path);
    if (pending) {
      if (!pending.exists) throw new KeeperError(Err.NONODE, path);
      return pending;
    }
    const n = this.tree.getNode(path);
    if (!n) throw new KeeperError(Err.NONODE, path);
    const digests = this.options.digestEnabled === true;
    // One pass over path and data serves both: the node's digest is that CRC carried over its stat.
    const dataCrc = digests ? pathDataCrcOfNode(path, n) : 0;
    return {
      zxid: -1n,
      path,
      exists: true,
      version: n.version,
      cversion: n.cversion,
      aversion: n.aversion,
      ephemeralOwner: n.ephemeralOwner,
      childCount: n.childCount,
      acl: n.acl,
      czxid: n.czxid,
      mzxid: n.mzxid,
      pzxid: n.pzxid,
      ctime: n.ctime,
      mtime: n.mtime,
      dataCrc,
      digest: digests ? nodeDigestFromCrc(path, dataCrc, n) : 0,
      prevDigest: 0,
    };
  }

  private exists(path: string): boolean {
    const pending = this.byPath.get(path);
    if (pending) return pending.exists;
    return this.tree.getNode(path) !== undefined;
  }

  /**
   * The change record of txn `zxid` for the node `r` stands for, to be updated by the caller:
   * `r` itself when it is this txn's already (an earlier op of the same multi) or a fresh view of
   * the tree, else a copy of it.
   */
  private derive(r: ChangeRecord, zxid: bigint): ChangeRecord {
    if (r.zxid === zxid) return r;
    const c = r.zxid === -1n ? r : { ...r };
    c.zxid = zxid;
    c.prevDigest = r.digest;
    this.add(c);
    return c;
  }

  private add(c: ChangeRecord): void {
    this.changesQueued++;
    this.outstanding.push(c);
    this.byPath.set(c.path, c);
  }

  private static validatePath(path: string): void {
    if (pathInvalidReason(path) !== undefined) throw new KeeperError(Err.BADARGUMENTS, path);
  }

  private static nextVersion(current: number, expected: number, path: string): number {
    if (expected !== -1 && expected !== current) throw new KeeperError(Err.BADVERSION, path);
    return (current + 1) | 0;
  }

  private prepareOp(op: WriteOp, sessionId: bigint, ids: readonly Id[], zxid: bigint): TxnBody {
    switch (op.type) {
      case OpCode.create:
      case OpCode.create2:
      case OpCode.createContainer:
      case OpCode.createTTL:
        return this.prepareCreate(op, sessionId, ids, zxid);
      case OpCode.delete:
      case OpCode.deleteContainer: {
        if (op.type === OpCode.delete) this.checkSession();
        const path = op.record.path;
        const slash = path.lastIndexOf('/');
        if (slash < 0 || path.includes('\0') || isSpecialPath(path)) throw new KeeperError(Err.BADARGUMENTS, path);
        const parentPath = parentOf(path);
        const parent = this.record(parentPath);
        this.auth.checkACL(parent.acl, Perms.DELETE, ids);
        const node = this.record(path);
        Prep.nextVersion(node.version, op.record.version, path);
        if (node.childCount > 0) throw new KeeperError(Err.NOTEMPTY, path);
        const parentChange = this.derive(parent, zxid);
        parentChange.childCount--;
        if (zxid > parentChange.pzxid) parentChange.pzxid = zxid;
        const gone = this.derive(node, zxid);
        gone.exists = false;
        gone.childCount = 0;
        return { type: op.type, record: { path } };
      }
      case OpCode.setData: {
        this.checkSession();
        const path = op.record.path;
        Prep.validatePath(path);
        const node = this.record(path);
        this.auth.checkACL(node.acl, Perms.WRITE, ids);
        if (this.options.enforceQuota) {
          const current = this.tree.getNode(path)?.dataLength ?? 0;
          this.checkQuota(path, (op.record.data?.length ?? 0) - current, 0);
        }
        const version = Prep.nextVersion(node.version, op.record.version, path);
        const changed = this.derive(node, zxid);
        changed.version = version;
        changed.mzxid = zxid;
        changed.mtime = this.time;
        if (this.options.digestEnabled) changed.dataCrc = pathDataCrc(path, op.record.data);
        return { type: OpCode.setData, record: { path, data: op.record.data, version } };
      }
      case OpCode.setACL: {
        this.checkSession();
        const path = op.record.path;
        Prep.validatePath(path);
        const acl = this.auth.fixupACL(path, ids, op.record.acl);
        const node = this.record(path);
        this.auth.checkACL(node.acl, Perms.ADMIN, ids);
        const version = Prep.nextVersion(node.aversion, op.record.version, path);
        const changed = this.derive(node, zxid);
        changed.aversion = version;
        changed.acl = acl;
        return { type: OpCode.setACL, record: { path, acl, version } };
      }
      case OpCode.check: {
        this.checkSession();
        const path = op.record.path;
        Prep.validatePath(path);
        const node = this.record(path);
        this.auth.checkACL(node.acl, Perms.READ, ids);
        return { type: OpCode.check, record: { path, version: Prep.nextVersion(node.version, op.record.version, path) } };
      }
      default:
        throw new KeeperError(Err.MARSHALLINGERROR);
    }
  }

  private checkQuota(path: string, bytesDiff: number, countDiff: number): void {
    if (!this.options.enforceQuota) return;
    const q = this.tree.quotaExceededBy(path, bytesDiff, countDiff);
    if (q !== undefined) throw new KeeperError(Err.QUOTAEXCEEDED, q);
  }

  private prepareCreate(
    op: Extract<WriteOp, { record: CreateRequest | CreateTTLRequest }>,
    sessionId: bigint,
    ids: readonly Id[],
    zxid: bigint,
  ): TxnBody {
    const { data, acl, flags } = op.record;
    let path = op.record.path;
    const ttl = op.type === OpCode.createTTL ? (op.record as CreateTTLRequest).ttl : -1n;
    const mode = createModeFromFlag(flags);
    if (!mode) throw new KeeperError(Err.BADARGUMENTS, path);
    if (mode.ttl && !this.options.extendedTypesEnabled) throw new KeeperError(Err.UNIMPLEMENTED, path);
    if (mode.ttl ? ttl <= 0n || ttl > TTL_MAX_MS : ttl >= 0n) throw new KeeperError(Err.BADARGUMENTS, path);
    this.checkSession(mode.ephemeral);
    const slash = path.lastIndexOf('/');
    if (slash < 0 || path.includes('\0')) throw new KeeperError(Err.BADARGUMENTS, path);
    const parentPath = slash === 0 ? '/' : path.slice(0, slash);
    const fixed = this.auth.fixupACL(path, ids, acl);
    const parent = this.record(parentPath);
    this.auth.checkACL(parent.acl, Perms.CREATE, ids);
    if (mode.sequential) path = path + String(parent.cversion).padStart(10, '0');
    Prep.validatePath(path);
    if (this.exists(path)) throw new KeeperError(Err.NODEEXISTS, path);
    if (ephemeralKind(parent.ephemeralOwner, this.options.extendedTypesEnabled) === 'normal')
      throw new KeeperError(Err.NOCHILDRENFOREPHEMERALS, path);
    this.checkQuota(path, data?.length ?? 0, 1);
    const parentCVersion = parent.cversion + 1;
    // The op code picks the txn, so it decides what the tree will hold: a plain create with the
    // container flag makes a persistent node, as in ZooKeeper.
    let owner = 0n;
    if (op.type === OpCode.createContainer) owner = CONTAINER_EPHEMERAL_OWNER;
    else if (op.type === OpCode.createTTL) owner = ttlEphemeralOwner(ttl);
    else if (mode.ephemeral) owner = sessionId;
    const parentChange = this.derive(parent, zxid);
    parentChange.childCount++;
    parentChange.cversion = parentCVersion;
    parentChange.pzxid = zxid;
    const t = this.time;
    const dataCrc = this.options.digestEnabled ? pathDataCrc(path, data) : 0;
    this.add({ zxid, path, exists: true, version: 0, cversion: 0, aversion: 0, ephemeralOwner: owner, childCount: 0, acl: fixed, czxid: zxid, mzxid: zxid, pzxid: zxid, ctime: t, mtime: t, dataCrc, digest: 0, prevDigest: 0 });
    if (op.type === OpCode.createContainer) return { type: op.type, record: { path, data, acl: fixed, parentCVersion } };
    if (op.type === OpCode.createTTL) return { type: op.type, record: { path, data, acl: fixed, parentCVersion, ttl } };
    return { type: op.type, record: { path, data, acl: fixed, ephemeral: mode.ephemeral, parentCVersion } };
  }

  private prepareMulti(ops: WriteOp[], sessionId: bigint, ids: readonly Id[], zxid: bigint): TxnBody {
    const mark = this.outstanding.length;
    const saved = new Map<string, ChangeRecord | undefined>();
    for (const op of ops) {
      const p = op.record.path;
      for (const q of [p, parentOf(p)]) if (!saved.has(q)) saved.set(q, this.byPath.get(q));
    }
    const txns: TxnBody[] = [];
    let failed = false;
    for (const op of ops) {
      if (failed) {
        txns.push({ type: OpCode.error, record: { err: Err.RUNTIMEINCONSISTENCY } });
        continue;
      }
      try {
        txns.push(this.prepareOp(op, sessionId, ids, zxid));
      } catch (e) {
        if (!(e instanceof KeeperError)) throw e;
        failed = true;
        txns.push({ type: OpCode.error, record: { err: e.code } });
        // Roll back this multi's change records: nothing of a failed multi is applied.
        for (const c of this.outstanding.splice(mark)) {
          this.changesRemoved++;
          if (this.byPath.get(c.path) === c) this.byPath.delete(c.path);
        }
        for (const [q, c] of saved) {
          if (c && this.outstanding.indexOf(c, this.head) >= 0) this.byPath.set(q, c);
          else if (c === undefined) this.byPath.delete(q);
        }
      }
    }
    return { type: OpCode.multi, record: { txns } };
  }

  private prepareCloseSession(sessionId: bigint, zxid: bigint): TxnBody {
    const paths = new Set(this.tree.ephemeralsListed(sessionId));
    for (let i = this.head; i < this.outstanding.length; i++) {
      const c = this.outstanding[i];
      if (!c.exists) paths.delete(c.path);
      else if (c.ephemeralOwner === sessionId) paths.add(c.path);
    }
    // A session's ephemerals mostly share a parent: its change record is looked up once per run.
    let lastParentPath: string | undefined;
    let parentChange: ChangeRecord | undefined;
    for (const p of paths) {
      const parentPath = parentOf(p);
      if (parentPath !== lastParentPath) {
        lastParentPath = parentPath;
        parentChange = this.exists(parentPath) ? this.derive(this.record(parentPath), zxid) : undefined;
      }
      if (parentChange !== undefined) {
        parentChange.childCount--;
        if (zxid > parentChange.pzxid) parentChange.pzxid = zxid;
      }
      const gone = this.derive(this.record(p), zxid);
      gone.exists = false;
      gone.childCount = 0;
    }
    return { type: OpCode.closeSession, record: { paths2Delete: [...paths] } };
  }
}
