/**
 * Transactions: what a write request becomes after validation. A txn carries everything its
 * application needs (zxid, time, session), so applying it is deterministic.
 */
import { OpCode } from '../protocol/constants';
import type {
  CheckVersionTxn,
  CloseSessionTxn,
  CreateContainerTxn,
  CreateSessionTxn,
  CreateTTLTxn,
  CreateTxn,
  DeleteTxn,
  ErrorTxn,
  SetACLTxn,
  SetDataTxn,
  TxnDigest,
  TxnHeader,
} from '../protocol/generated/records';

export type TxnBody =
  | { type: typeof OpCode.create | typeof OpCode.create2; record: CreateTxn }
  | { type: typeof OpCode.createTTL; record: CreateTTLTxn }
  | { type: typeof OpCode.createContainer; record: CreateContainerTxn }
  | { type: typeof OpCode.delete | typeof OpCode.deleteContainer; record: DeleteTxn }
  | { type: typeof OpCode.setData; record: SetDataTxn }
  | { type: typeof OpCode.setACL; record: SetACLTxn }
  | { type: typeof OpCode.check; record: CheckVersionTxn }
  | { type: typeof OpCode.createSession; record: CreateSessionTxn }
  | { type: typeof OpCode.closeSession; record: CloseSessionTxn }
  | { type: typeof OpCode.error; record: ErrorTxn }
  | { type: typeof OpCode.multi; record: { txns: TxnBody[] } };

export interface Txn {
  hdr: TxnHeader;
  body: TxnBody;
  /** The tree digest after this txn (ZooKeeper's TxnDigest), when digests are enabled. */
  digest?: TxnDigest;
}
