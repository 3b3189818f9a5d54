/** The reply body of an applied write, from the txn's result, as ZooKeeper shapes it. */
import { Err, OpCode } from '../protocol/constants';
import type { JuteWriter } from '../protocol/jute';
import * as R from '../protocol/generated/records';
import { encodeMultiResponse, type MultiOp, type MultiResult } from '../protocol/requests';
import type { TxnResult } from '../storage/datatree';

function multiResult(r: TxnResult, op: MultiOp | undefined): MultiResult {
  if (r.type === OpCode.error || r.err !== Err.OK) return { type: OpCode.error, err: r.err };
  switch (r.type) {
    case OpCode.create:
      if (op?.type === OpCode.create && op.withStat && r.stat) return { type: OpCode.create2, path: r.path!, stat: r.stat };
      return { type: OpCode.create, path: r.path! };
    case OpCode.create2:
    case OpCode.createTTL:
    case OpCode.createContainer:
      // A create result with a Stat is typed create2 whatever the op (ZooKeeper's CreateResult).
      return { type: OpCode.create2, path: r.path!, stat: r.stat! };
    case OpCode.setData:
      return { type: OpCode.setData, stat: r.stat! };
    case OpCode.delete:
    case OpCode.deleteContainer:
    case OpCode.check:
      return { type: r.type };
    default:
      return { type: OpCode.error, err: Err.SYSTEMERROR };
  }
}

/** The reply's error code and body for a write request of `requestType` (a multi's `ops` shape its results). */
export function writeReply(requestType: number, r: TxnResult, ops?: readonly MultiOp[]): { err: number; body?: (w: JuteWriter) => void } {
  if (requestType === OpCode.multi) {
    // A failed multi still answers OK in the header; the per-op results carry the errors.
    const results = (r.multi ?? []).map((m, i) => multiResult(m, ops?.[i]));
    if (r.type === OpCode.error) return { err: r.err };
    return { err: Err.OK, body: (w) => encodeMultiResponse(w, results) };
  }
  if (r.err !== Err.OK) return { err: r.err };
  switch (requestType) {
    case OpCode.create:
      return { err: Err.OK, body: (w) => R.encodeCreateResponse(w, { path: r.path! }) };
    case OpCode.create2:
    case OpCode.createTTL:
    case OpCode.createContainer:
      return { err: Err.OK, body: (w) => R.encodeCreate2Response(w, { path: r.path!, stat: r.stat! }) };
    case OpCode.setData:
      // SetDataResponse is a Stat alone.
      return { err: Err.OK, body: (w) => R.encodeStat(w, r.stat!) };
    case OpCode.setACL:
      return { err: Err.OK, body: (w) => R.encodeSetACLResponse(w, { stat: r.stat! }) };
    case OpCode.reconfig:
      // The new configuration and /zookeeper/config's stat, as a GetDataResponse.
      return { err: Err.OK, body: (w) => R.encodeGetDataResponse(w, { data: r.data ?? null, stat: r.stat! }) };
    default:
      return { err: Err.OK };
  }
}
