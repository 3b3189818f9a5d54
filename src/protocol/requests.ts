/**
 * Request bodies by opcode, and the multi encodings: a multi is a run of MultiHeader + op record
 * pairs closed by a header with done = true.
 */
import { Err, KeeperState, OpCode, Xid } from './constants';
import { JuteError, JuteReader, JuteWriter } from './jute';
import * as R from './generated/records';

export type MultiOp =
  | {
      type: typeof OpCode.create | typeof OpCode.createContainer;
      record: R.CreateRequest;
      /**
       * Sent as create2: its result carries the node's Stat (ZooKeeper 3.9). The txn stays a
       * create, as 3.8 logs it, so that 3.8 members of a mixed ensemble can apply it.
       */
      withStat?: true;
    }
  | { type: typeof OpCode.createTTL; record: R.CreateTTLRequest }
  | { type: typeof OpCode.delete; record: R.DeleteRequest }
  | { type: typeof OpCode.setData; record: R.SetDataRequest }
  | { type: typeof OpCode.check; record: R.CheckVersionRequest }
  | { type: typeof OpCode.getData; record: R.GetDataRequest }
  | { type: typeof OpCode.getChildren; record: R.GetChildrenRequest };

/** Flags 4 (container) and 5/6 (TTL) pick the op code of a create inside a multi. */
function createOpType(flags: number): typeof OpCode.create | typeof OpCode.createContainer | typeof OpCode.createTTL {
  if (flags === 4) return OpCode.createContainer;
  if (flags === 5 || flags === 6) return OpCode.createTTL;
  return OpCode.create;
}

/**
 * A multi's ops. Their number is bounded only by the frame (jute.maxbuffer), as in ZooKeeper; each
 * op takes at least 13 bytes of it, so a multi's memory stays in proportion to the frame's.
 */
export function decodeMulti(r: JuteReader): MultiOp[] {
  const ops: MultiOp[] = [];
  let nullPathAt = -1;
  for (;;) {
    const h = R.decodeMultiHeader(r);
    if (h.done) {
      if (nullPathAt >= 0) throw new NullPathInMultiError(nullPathAt);
      return ops;
    }
    const opAt = r.pos;
    // Every op record starts with its path.
    const nulls = r.nullsRead;
    r.readString();
    if (r.nullsRead !== nulls && nullPathAt < 0) nullPathAt = opAt;
    r.pos = opAt;
    switch (h.type) {
      case OpCode.create:
      case OpCode.create2:
      case OpCode.createContainer: {
        const rec = R.decodeCreateRequest(r);
        const type = createOpType(rec.flags);
        if (type === OpCode.createTTL) ops.push({ type, record: { ...rec, ttl: -1n } });
        else if (type === OpCode.create && h.type === OpCode.create2) ops.push({ type, record: rec, withStat: true });
        else ops.push({ type, record: rec });
        break;
      }
      case OpCode.createTTL:
        ops.push({ type: OpCode.createTTL, record: R.decodeCreateTTLRequest(r) });
        break;
      case OpCode.delete:
        ops.push({ type: OpCode.delete, record: R.decodeDeleteRequest(r) });
        break;
      case OpCode.setData:
        ops.push({ type: OpCode.setData, record: R.decodeSetDataRequest(r) });
        break;
      case OpCode.check:
        ops.push({ type: OpCode.check, record: R.decodeCheckVersionRequest(r) });
        break;
      case OpCode.getData:
        ops.push({ type: OpCode.getData, record: R.decodeGetDataRequest(r) });
        break;
      case OpCode.getChildren:
        ops.push({ type: OpCode.getChildren, record: R.decodeGetChildrenRequest(r) });
        break;
      default:
        throw new JuteError(`invalid op type ${h.type} in multi`, r.pos);
    }
  }
}

/**
 * A multi or multiRead that decodes but has an op with a null path: ZooKeeper fails on it before
 * the multi becomes a txn and answers MARSHALLINGERROR with an empty result list, using no zxid.
 */
export class NullPathInMultiError extends JuteError {
  constructor(offset: number) {
    super('null path in a multi op', offset);
    this.name = 'NullPathInMultiError';
  }
}

/** One result of a multi or multiRead reply. */
export type MultiResult =
  | { type: typeof OpCode.error; err: number }
  | { type: typeof OpCode.create; path: string }
  | { type: typeof OpCode.create2 | typeof OpCode.createTTL | typeof OpCode.createContainer; path: string; stat: R.Stat }
  | { type: typeof OpCode.delete | typeof OpCode.deleteContainer | typeof OpCode.check }
  | { type: typeof OpCode.setData; stat: R.Stat }
  | { type: typeof OpCode.getData; data: Buffer | null; stat: R.Stat }
  | { type: typeof OpCode.getChildren; children: string[] };

export function encodeMultiResponse(w: JuteWriter, results: MultiResult[]): void {
  for (const res of results) {
    const err = res.type === OpCode.error ? res.err : Err.OK;
    R.encodeMultiHeader(w, { type: res.type, done: false, err });
    switch (res.type) {
      case OpCode.error:
        R.encodeErrorResponse(w, { err: res.err });
        break;
      case OpCode.create:
        R.encodeCreateResponse(w, { path: res.path });
        break;
      case OpCode.create2:
      case OpCode.createTTL:
      case OpCode.createContainer:
        R.encodeCreate2Response(w, { path: res.path, stat: res.stat });
        break;
      case OpCode.setData:
        R.encodeSetDataResponse(w, { stat: res.stat });
        break;
      case OpCode.getData:
        R.encodeGetDataResponse(w, { data: res.data, stat: res.stat });
        break;
      case OpCode.getChildren:
        R.encodeGetChildrenResponse(w, { children: res.children });
        break;
      default:
        break;
    }
  }
  R.encodeMultiHeader(w, { type: -1, done: true, err: -1 });
}

/** A ConnectRequest, and whether it came from a client older than read-only mode. */
export interface ConnectRequestIn extends R.ConnectRequest {
  /** No trailing readOnly flag was sent (ZooKeeper's isOldClient); the answer leaves it out too. */
  oldClient: boolean;
}

/** ConnectRequest; clients older than read-only mode leave out the trailing readOnly flag. */
export function decodeConnectRequest(r: JuteReader): ConnectRequestIn {
  const protocolVersion = r.readInt();
  const lastZxidSeen = r.readLong();
  const timeOut = r.readInt();
  const sessionId = r.readLong();
  const passwd = r.readBuffer();
  const oldClient = r.remaining() === 0;
  const readOnly = oldClient ? false : r.readBool();
  return { protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly, oldClient };
}

/**
 * ConnectResponse as ZooKeeper writes it: the readOnly flag only to a client that sent one. An
 * old client reads exactly 36 bytes and takes a 37th as a protocol error (ClickHouse 18 does).
 */
export function encodeConnectResponse(w: JuteWriter, rsp: R.ConnectResponse, oldClient: boolean): void {
  w.writeInt(rsp.protocolVersion);
  w.writeInt(rsp.timeOut);
  w.writeLong(rsp.sessionId);
  w.writeBuffer(rsp.passwd);
  if (!oldClient) w.writeBool(rsp.readOnly);
}

/** Request types that become transactions. */
export const WRITE_TYPES: ReadonlySet<number> = new Set([
  OpCode.create,
  OpCode.create2,
  OpCode.createContainer,
  OpCode.createTTL,
  OpCode.delete,
  OpCode.setData,
  OpCode.setACL,
  OpCode.check,
  OpCode.multi,
  OpCode.reconfig,
  OpCode.closeSession,
]);

/** Request types the server knows; others are answered UNIMPLEMENTED. */
export const KNOWN_TYPES: ReadonlySet<number> = new Set([
  ...WRITE_TYPES,
  OpCode.exists,
  OpCode.getData,
  OpCode.getACL,
  OpCode.getChildren,
  OpCode.getChildren2,
  OpCode.sync,
  OpCode.ping,
  OpCode.checkWatches,
  OpCode.removeWatches,
  OpCode.multiRead,
  OpCode.auth,
  OpCode.setWatches,
  OpCode.setWatches2,
  OpCode.sasl,
  OpCode.getEphemerals,
  OpCode.getAllChildrenNumber,
  OpCode.addWatch,
  OpCode.whoAmI,
]);

// ZooKeeper reads a string of length -1 as null and fails on it where it uses the value: those
// fields are refused here as undecodable (MARSHALLINGERROR), the others read as "". Which fields
// fail in ZooKeeper 3.8.0 was found by sending such requests to it (test/decoding.test.ts).

/** Reads a string; a null one is refused. */
function readPresentString(r: JuteReader, what: string): string {
  const at = r.pos;
  const nulls = r.nullsRead;
  const s = r.readString();
  if (r.nullsRead !== nulls) throw new JuteError(`null ${what}`, at);
  return s;
}

/** Schemes whose ids ZooKeeper reads when it checks an ACL: a null id fails there. */
const SCHEMES_READING_ID = new Set(['world', 'digest', 'ip']);

/**
 * An ACL list. A null id is refused under a scheme that reads it; elsewhere (auth, an unknown
 * scheme) it reads as "" and the ACL check answers as ZooKeeper does. A null scheme reads as ""
 * and is refused as an invalid ACL.
 */
function readAclList(r: JuteReader): R.ACL[] {
  const n = r.readVectorLength(12);
  const acl: R.ACL[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const perms = r.readInt();
    const scheme = r.readString();
    const id = SCHEMES_READING_ID.has(scheme) ? readPresentString(r, 'ACL id') : r.readString();
    acl[i] = { perms, id: { scheme, id } };
  }
  return acl;
}

/**
 * A list of paths; `nullAt` is set to the index of its first null element (when those are
 * refused), or to -1 when the list itself is null.
 */
function readStringList(r: JuteReader, refuseNullElements: boolean): { list: string[]; nullAt?: number } {
  const nulls = r.nullsRead;
  const n = r.readVectorLength(4);
  if (r.nullsRead !== nulls) return { list: [], nullAt: -1 };
  const list: string[] = new Array(n);
  let nullAt: number | undefined;
  for (let i = 0; i < n; i++) {
    const before = r.nullsRead;
    list[i] = r.readString();
    if (refuseNullElements && nullAt === undefined && r.nullsRead !== before) nullAt = i;
  }
  return { list, nullAt };
}

function decodeCreate(r: JuteReader): R.CreateRequest {
  const path = readPresentString(r, 'path');
  const data = r.readBuffer();
  const acl = readAclList(r);
  return { path, data, acl, flags: r.readInt() };
}

/** setWatches and setWatches2, with `malformed` set when a list holds a null (see below). */
export type SetWatchesRequest = R.SetWatches2 & { malformed?: boolean };

/**
 * ZooKeeper decodes the whole record, then goes through the lists in order and fails at the first
 * null list or null path of the one-shot lists: the watches before it are set, the rest are not,
 * and the answer is MARSHALLINGERROR. The lists are cut there, and `malformed` set.
 */
function decodeSetWatches(r: JuteReader, v2: boolean): SetWatchesRequest {
  const relativeZxid = r.readLong();
  const lists = [readStringList(r, true), readStringList(r, true), readStringList(r, true)];
  if (v2) lists.push(readStringList(r, false), readStringList(r, false));
  else lists.push({ list: [] }, { list: [] });
  let malformed = false;
  for (const l of lists) {
    if (malformed) l.list = [];
    else if (l.nullAt !== undefined) {
      l.list = l.list.slice(0, Math.max(0, l.nullAt));
      malformed = true;
    }
  }
  const [data, exist, child, persistent, recursive] = lists.map((l) => l.list);
  const req: SetWatchesRequest = {
    relativeZxid,
    dataWatches: data,
    existWatches: exist,
    childWatches: child,
    persistentWatches: persistent,
    persistentRecursiveWatches: recursive,
  };
  if (malformed) req.malformed = true;
  return req;
}

/** A path-only or path-and-flag read: a null path is refused. */
function refuseNulls<T>(r: JuteReader, decode: (r: JuteReader) => T): T {
  const at = r.pos;
  const nulls = r.nullsRead;
  const v = decode(r);
  if (r.nullsRead !== nulls) throw new JuteError('null path', at);
  return v;
}

/** Decodes a request body; throws JuteError when the bytes do not hold the record. */
/**
 * A reconfig request as prep reads it. A null newMembers asks for an incremental reconfig; a
 * non-null one, even empty, for a non-incremental one (ZooKeeper tests `newMembers != null`), so
 * null is kept apart from ''. Null and empty joining/leaving lists mean the same (no servers).
 */
export interface ReconfigRequestIn {
  joiningServers: string;
  leavingServers: string;
  newMembers: string | null;
  curConfigId: bigint;
}

function decodeReconfig(r: JuteReader): ReconfigRequestIn {
  const joiningServers = r.readString();
  const leavingServers = r.readString();
  const nulls = r.nullsRead;
  const newMembers = r.readString();
  const newMembersNull = r.nullsRead !== nulls;
  return { joiningServers, leavingServers, newMembers: newMembersNull ? null : newMembers, curConfigId: r.readLong() };
}

export function decodeRequestBody(type: number, r: JuteReader): unknown {
  switch (type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
      return decodeCreate(r);
    case OpCode.createTTL:
      return R.decodeCreateTTLRequest(r);
    case OpCode.delete:
      return refuseNulls(r, R.decodeDeleteRequest);
    case OpCode.exists:
      return refuseNulls(r, R.decodeExistsRequest);
    case OpCode.getData:
      return refuseNulls(r, R.decodeGetDataRequest);
    case OpCode.setData:
      return R.decodeSetDataRequest(r);
    case OpCode.getACL:
      return refuseNulls(r, R.decodeGetACLRequest);
    case OpCode.setACL: {
      const path = r.readString();
      const acl = readAclList(r);
      return { path, acl, version: r.readInt() };
    }
    case OpCode.getChildren:
      return refuseNulls(r, R.decodeGetChildrenRequest);
    case OpCode.getChildren2:
      return refuseNulls(r, R.decodeGetChildren2Request);
    case OpCode.sync: {
      // ZooKeeper answers a sync of a null path with a null path.
      const nulls = r.nullsRead;
      const req = R.decodeSyncRequest(r);
      return r.nullsRead !== nulls ? { path: null } : req;
    }
    case OpCode.check:
      return R.decodeCheckVersionRequest(r);
    case OpCode.multi:
    case OpCode.multiRead:
      return decodeMulti(r);
    case OpCode.reconfig:
      return decodeReconfig(r);
    case OpCode.checkWatches:
      return refuseNulls(r, R.decodeCheckWatchesRequest);
    case OpCode.removeWatches:
      return R.decodeRemoveWatchesRequest(r);
    case OpCode.auth:
      return R.decodeAuthPacket(r);
    case OpCode.setWatches:
      return decodeSetWatches(r, false);
    case OpCode.setWatches2:
      return decodeSetWatches(r, true);
    case OpCode.sasl:
      return R.decodeGetSASLRequest(r);
    case OpCode.getEphemerals:
      return R.decodeGetEphemeralsRequest(r);
    case OpCode.getAllChildrenNumber:
      return refuseNulls(r, R.decodeGetAllChildrenNumberRequest);
    case OpCode.addWatch:
      return R.decodeAddWatchRequest(r);
    default:
      return null;
  }
}

/**
 * A whole notification frame (length, ReplyHeader with xid -1, WatcherEvent in SyncConnected):
 * made once per event and written as it is to every connection that watches it.
 */
export function encodeNotificationFrame(type: number, path: string): Buffer {
  const w = new JuteWriter(32 + Buffer.byteLength(path));
  w.writeInt(0);
  R.encodeReplyHeader(w, { xid: Xid.notification, zxid: -1n, err: 0 });
  R.encodeWatcherEvent(w, { type, state: KeeperState.SyncConnected, path });
  w.buf.writeInt32BE(w.pos - 4, 0);
  return w.toBuffer();
}
