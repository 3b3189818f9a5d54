/**
 * Request bodies by opcode, and the multi encodings: a multi is a run of MultiHeader + op record
 * pairs closed by a header with done = true.
 */
import { Err, OpCode } from './constants';
import { JuteError, JuteReader, JuteWriter } from './jute';
import * as R from './generated/records';

export type MultiOp =
  | { type: typeof OpCode.create | typeof OpCode.createContainer; record: R.CreateRequest }
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

export function decodeMulti(r: JuteReader, maxOps: number): MultiOp[] {
  const ops: MultiOp[] = [];
  for (;;) {
    const h = R.decodeMultiHeader(r);
    if (h.done) return ops;
    if (ops.length >= maxOps) throw new JuteError(`multi has more than ${maxOps} ops`, r.pos);
    switch (h.type) {
      case OpCode.create:
      case OpCode.create2:
      case OpCode.createContainer: {
        const rec = R.decodeCreateRequest(r);
        const type = createOpType(rec.flags);
        if (type === OpCode.createTTL) ops.push({ type, record: { ...rec, ttl: -1n } });
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

/** Decodes a request body; throws JuteError when the bytes do not hold the record. */
export function decodeRequestBody(type: number, r: JuteReader, maxMultiOps: number): unknown {
  switch (type) {
    case OpCode.create:
    case OpCode.create2:
    case OpCode.createContainer:
      return R.decodeCreateRequest(r);
    case OpCode.createTTL:
      return R.decodeCreateTTLRequest(r);
    case OpCode.delete:
      return R.decodeDeleteRequest(r);
    case OpCode.exists:
      return R.decodeExistsRequest(r);
    case OpCode.getData:
      return R.decodeGetDataRequest(r);
    case OpCode.setData:
      return R.decodeSetDataRequest(r);
    case OpCode.getACL:
      return R.decodeGetACLRequest(r);
    case OpCode.setACL:
      return R.decodeSetACLRequest(r);
    case OpCode.getChildren:
      return R.decodeGetChildrenRequest(r);
    case OpCode.getChildren2:
      return R.decodeGetChildren2Request(r);
    case OpCode.sync:
      return R.decodeSyncRequest(r);
    case OpCode.check:
      return R.decodeCheckVersionRequest(r);
    case OpCode.multi:
    case OpCode.multiRead:
      return decodeMulti(r, maxMultiOps);
    case OpCode.reconfig:
      return R.decodeReconfigRequest(r);
    case OpCode.checkWatches:
      return R.decodeCheckWatchesRequest(r);
    case OpCode.removeWatches:
      return R.decodeRemoveWatchesRequest(r);
    case OpCode.auth:
      return R.decodeAuthPacket(r);
    case OpCode.setWatches: {
      const s = R.decodeSetWatches(r);
      return { ...s, persistentWatches: [], persistentRecursiveWatches: [] };
    }
    case OpCode.setWatches2:
      return R.decodeSetWatches2(r);
    case OpCode.sasl:
      return R.decodeGetSASLRequest(r);
    case OpCode.getEphemerals:
      return R.decodeGetEphemeralsRequest(r);
    case OpCode.getAllChildrenNumber:
      return R.decodeGetAllChildrenNumberRequest(r);
    case OpCode.addWatch:
      return R.decodeAddWatchRequest(r);
    default:
      return null;
  }
}
