/**
 * Read-only mode (`-Dreadonlymode.enabled=true`, ZooKeeper's ReadOnlyZooKeeperServer): an ensemble
 * member that has been without a leader for a grace period serves the clients that asked for it
 * (the ConnectRequest's readOnly flag) from the tree it holds, refuses every change with
 * NOTREADONLY, and stops as soon as its election ends, closing those clients' connections so
 * that they look for a server with a quorum.
 *
 * Read-only sessions are local to this server: they never become txns (nothing may be written to
 * the log without a leader) and end with the mode. ZooKeeper 3.8 and 3.9 only give a read-only
 * client a usable session when localSessionsEnabled=true (otherwise its new session is answered
 * with a bare NOTREADONLY header that no client can parse); zkts does what that means whatever
 * localSessionsEnabled says.
 */
import { OpCode } from '../protocol/constants';

/**
 * The ops a read-only server refuses with NOTREADONLY (ZooKeeper's ReadOnlyRequestProcessor list,
 * as 3.8.0 has it: a lone `check` included).
 */
export const NOT_READ_ONLY_OPS: ReadonlySet<number> = new Set([
  OpCode.sync,
  OpCode.create,
  OpCode.create2,
  OpCode.createTTL,
  OpCode.createContainer,
  OpCode.delete,
  OpCode.deleteContainer,
  OpCode.setData,
  OpCode.reconfig,
  OpCode.setACL,
  OpCode.multi,
  OpCode.check,
]);

/** How long an ensemble member looks for a leader before it serves read-only: max(2 s, tickTime). */
export function readOnlyGraceMs(tickTimeMs: number): number {
  return Math.max(2000, tickTimeMs);
}
