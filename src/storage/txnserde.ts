/**
 * The bytes of one txn log entry, as ZooKeeper 3.8 writes them: TxnHeader, the txn record chosen by
 * the header's type, then (when digests are enabled, ZooKeeper's default) a TxnDigest. The same
 * bytes travel in quorum proposals, so this is the one place that knows the layout.
 */
import { JuteError, JuteReader, JuteWriter } from '../protocol/jute';
import { OpCode, OpName } from '../protocol/constants';
import {
  decodeCheckVersionTxn,
  decodeCloseSessionTxn,
  decodeCreateContainerTxn,
  decodeCreateSessionTxn,
  decodeCreateTTLTxn,
  decodeCreateTxn,
  decodeCreateTxnV0,
  decodeDeleteTxn,
  decodeErrorTxn,
  decodeMultiTxn,
  decodeSetACLTxn,
  decodeSetDataTxn,
  decodeTxnDigest,
  decodeTxnHeader,
  encodeCheckVersionTxn,
  encodeCloseSessionTxn,
  encodeCreateContainerTxn,
  encodeCreateSessionTxn,
  encodeCreateTTLTxn,
  encodeCreateTxn,
  encodeCreateTxnV0,
  encodeDeleteTxn,
  encodeErrorTxn,
  encodeMultiTxn,
  encodeSetACLTxn,
  encodeSetDataTxn,
  encodeTxnDigest,
  encodeTxnHeader,
  TxnDigest_SIZE,
  type TxnDigest,
  type Txn as SubTxn,
} from '../protocol/generated/records';
import type { Txn, TxnBody } from './txn';

export type { TxnDigest };

/**
 * Record layouts older servers wrote that 3.8 still reads. Kept so that such an entry re-serializes
 * to the bytes it was read from.
 */
export type LegacyFormat =
  /** create without parentCVersion (read as parentCVersion -1, which the tree fixes up). */
  | 'createV0'
  /** closeSession with no record at all (before paths2Delete was logged). */
  | 'closeSessionWithoutRecord';

export interface DecodedTxn {
  txn: Txn;
  digest?: TxnDigest;
  legacy?: LegacyFormat;
}

/** An entry whose checksum is fine but whose content this server cannot read. */
export class TxnFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TxnFormatError';
  }
}

/** ZooKeeper's names for txn types (Request.op2String), for messages and log dumps. */
export function txnTypeName(type: number): string {
  if (type === OpCode.createTTL) return 'createTtl';
  return OpName[type] ?? `unknown ${type}`;
}

let writer = new JuteWriter(4096);
const MAX_KEPT_WRITER_BYTES = 1024 * 1024;

/** The entry bytes of a txn (what the log checksums and frames). */
export function serializeTxn(txn: Txn, digest?: TxnDigest, legacy?: LegacyFormat): Buffer {
  return Buffer.from(serializeTxnView(txn, digest, legacy));
}

/** The entry bytes of a txn as a view of a shared buffer, valid until the next call. */
export function serializeTxnView(txn: Txn, digest?: TxnDigest, legacy?: LegacyFormat): Buffer {
  checkHeaderMatchesBody(txn);
  const w = writer;
  w.reset();
  encodeTxnHeader(w, txn.hdr);
  encodeBody(w, txn.body, legacy);
  if (digest !== undefined) encodeTxnDigest(w, digest);
  // A burst of big txns does not leave a big buffer behind for good.
  const view = w.buf.subarray(0, w.pos);
  if (w.buf.length > MAX_KEPT_WRITER_BYTES) writer = new JuteWriter(4096);
  return view;
}

function checkHeaderMatchesBody(txn: Txn): void {
  const h = txn.hdr.type;
  const b = txn.body.type;
  // A reconfig is logged as a setData of /zookeeper/config under its own header type.
  if (h === b || (h === OpCode.reconfig && b === OpCode.setData)) return;
  throw new TxnFormatError(`txn 0x${txn.hdr.zxid.toString(16)}: header type ${txnTypeName(h)} does not match body type ${txnTypeName(b)}`);
}

function encodeBody(w: JuteWriter, body: TxnBody, legacy: LegacyFormat | undefined): void {
  switch (body.type) {
    case OpCode.create:
    case OpCode.create2:
      if (legacy === 'createV0') encodeCreateTxnV0(w, body.record);
      else encodeCreateTxn(w, body.record);
      return;
    case OpCode.createTTL:
      return encodeCreateTTLTxn(w, body.record);
    case OpCode.createContainer:
      return encodeCreateContainerTxn(w, body.record);
    case OpCode.delete:
    case OpCode.deleteContainer:
      return encodeDeleteTxn(w, body.record);
    case OpCode.setData:
      return encodeSetDataTxn(w, body.record);
    case OpCode.setACL:
      return encodeSetACLTxn(w, body.record);
    case OpCode.check:
      return encodeCheckVersionTxn(w, body.record);
    case OpCode.createSession:
      return encodeCreateSessionTxn(w, body.record);
    case OpCode.closeSession:
      if (legacy !== 'closeSessionWithoutRecord') encodeCloseSessionTxn(w, body.record);
      return;
    case OpCode.error:
      return encodeErrorTxn(w, body.record);
    case OpCode.multi: {
      const txns: SubTxn[] = body.record.txns.map((sub) => ({ type: sub.type, data: encodeSubRecord(sub) }));
      return encodeMultiTxn(w, { txns });
    }
  }
}

const subWriter = new JuteWriter(1024);

function encodeSubRecord(sub: TxnBody): Buffer {
  const w = subWriter;
  w.reset();
  switch (sub.type) {
    case OpCode.multi:
    case OpCode.createSession:
    case OpCode.closeSession:
      throw new TxnFormatError(`a ${txnTypeName(sub.type)} txn cannot be part of a multi`);
    default:
      encodeBody(w, sub, undefined);
  }
  return w.toBuffer();
}

/** Parses entry bytes. Throws TxnFormatError when they are not a txn this server understands. */
export function deserializeTxn(buf: Buffer): DecodedTxn {
  try {
    return decodeEntry(buf);
  } catch (e) {
    if (e instanceof JuteError) throw new TxnFormatError(`malformed txn entry: ${e.message}`);
    throw e;
  }
}

function decodeEntry(buf: Buffer): DecodedTxn {
  const r = new JuteReader(buf);
  const hdr = decodeTxnHeader(r);
  const start = r.pos;
  const name = txnTypeName(hdr.type);
  let body: TxnBody;
  let legacy: LegacyFormat | undefined;
  switch (hdr.type) {
    case OpCode.create:
    case OpCode.create2: {
      const record = tryDecode(r, decodeCreateTxn);
      if (record !== undefined) {
        body = { type: hdr.type, record };
      } else {
        r.pos = start;
        const v0 = decodeCreateTxnV0(r);
        body = { type: hdr.type, record: { ...v0, parentCVersion: -1 } };
        legacy = 'createV0';
      }
      break;
    }
    case OpCode.closeSession: {
      const record = tryDecode(r, decodeCloseSessionTxn);
      if (record !== undefined) {
        body = { type: OpCode.closeSession, record };
      } else {
        r.pos = start;
        body = { type: OpCode.closeSession, record: { paths2Delete: [] } };
        legacy = 'closeSessionWithoutRecord';
      }
      break;
    }
    case OpCode.reconfig:
      body = { type: OpCode.setData, record: decodeSetDataTxn(r) };
      break;
    case OpCode.multi: {
      const multi = decodeMultiTxn(r);
      const txns = multi.txns.map((sub, i) => decodeSubTxn(sub, i));
      body = { type: OpCode.multi, record: { txns } };
      break;
    }
    default:
      body = decodeSimpleBody(hdr.type, r, `txn type ${name} (${hdr.type}) is not supported`);
  }
  const left = r.remaining();
  if (left === 0) return withLegacy({ txn: { hdr, body } }, legacy);
  if (left === TxnDigest_SIZE) return withLegacy({ txn: { hdr, body }, digest: decodeTxnDigest(r) }, legacy);
  throw new TxnFormatError(`${left} unexpected bytes after the ${name} record of txn 0x${hdr.zxid.toString(16)}`);
}

function withLegacy(d: DecodedTxn, legacy: LegacyFormat | undefined): DecodedTxn {
  if (legacy !== undefined) d.legacy = legacy;
  return d;
}

/**
 * Decodes a record that must end the entry or be followed by exactly a digest; undefined when
 * the bytes do not fit that shape (so an older layout can be tried).
 */
function tryDecode<T>(r: JuteReader, decode: (r: JuteReader) => T): T | undefined {
  const start = r.pos;
  try {
    const record = decode(r);
    const left = r.remaining();
    if (left === 0 || left === TxnDigest_SIZE) return record;
  } catch (e) {
    if (!(e instanceof JuteError)) throw e;
  }
  r.pos = start;
  return undefined;
}

function decodeSimpleBody(type: number, r: JuteReader, unsupported: string): TxnBody {
  switch (type) {
    case OpCode.create:
    case OpCode.create2:
      return { type, record: decodeCreateTxn(r) };
    case OpCode.createTTL:
      return { type, record: decodeCreateTTLTxn(r) };
    case OpCode.createContainer:
      return { type, record: decodeCreateContainerTxn(r) };
    case OpCode.delete:
    case OpCode.deleteContainer:
      return { type, record: decodeDeleteTxn(r) };
    case OpCode.setData:
      return { type, record: decodeSetDataTxn(r) };
    case OpCode.setACL:
      return { type, record: decodeSetACLTxn(r) };
    case OpCode.check:
      return { type, record: decodeCheckVersionTxn(r) };
    case OpCode.createSession:
      return { type, record: decodeCreateSessionTxn(r) };
    case OpCode.error:
      return { type, record: decodeErrorTxn(r) };
    default:
      throw new TxnFormatError(unsupported);
  }
}

function decodeSubTxn(sub: SubTxn, index: number): TxnBody {
  const where = `multi op ${index} (${txnTypeName(sub.type)})`;
  if (sub.type === OpCode.multi || sub.type === OpCode.createSession || sub.type === OpCode.closeSession)
    throw new TxnFormatError(`${where}: a ${txnTypeName(sub.type)} txn cannot be part of a multi`);
  const data = sub.data ?? Buffer.alloc(0);
  const r = new JuteReader(data);
  const body = decodeSimpleBody(sub.type, r, `${where}: txn type ${sub.type} is not supported inside a multi`);
  if (r.remaining() !== 0) throw new TxnFormatError(`${where}: ${r.remaining()} unexpected bytes after the record`);
  return body;
}
