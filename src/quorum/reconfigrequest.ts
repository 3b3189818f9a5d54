/**
 * What a leader decides for a `reconfig` request (opcode 16), before it becomes a txn: the next
 * configuration, or the error ZooKeeper answers (each one logged as an error txn, using a zxid).
 * Pure: the caller supplies the configurations, which learners are synced, and the zxid; the
 * checks that need the server (reconfigEnabled, standalone, the session, WRITE on
 * /zookeeper/config) are the caller's, in ZooKeeper's order around this one (docs/RECONFIG.md §3.1).
 *
 * Checks here, in ZooKeeper's order:
 *  1. a reconfig already pending (last seen version != committed version): RECONFIGINPROGRESS;
 *  2. curConfigId not -1 and not the last seen version: BADVERSION;
 *  3. the next configuration: non-incremental (`newMembers`, commas read as newlines, parsed as a
 *     dynamic config file) or incremental (the last seen members, minus `leavingServers`, plus or
 *     replaced by `joiningServers`, each `server.N=spec` with all three ports and a client part;
 *     only from a majority configuration). A bad spec or address clash: BADARGUMENTS; what makes
 *     Java throw an unchecked exception (a non-numeric id, observers without participants) is
 *     MARSHALLINGERROR, as ZooKeeper's request processor answers it;
 *  4. fewer than 2 voters (1 with standaloneEnabled=false): BADARGUMENTS;
 *  5. no quorum of the next configuration's voters among the leader and its synced followers:
 *     NEWCONFIGNOQUORUM.
 */
import { Err } from '../protocol/constants';
import { ConfigError, parseServerLine } from '../server/config';
import {
  javaHashMapCopyCapacity,
  javaHostString,
  MajorityVerifier,
  memberFromSpec,
  parseQuorumVerifier,
  type QuorumMember,
  type QuorumVerifier,
} from './verifier';

export interface ReconfigRequestFields {
  joiningServers: string | null;
  leavingServers: string | null;
  newMembers: string | null;
  curConfigId: bigint;
}

export interface ReconfigContext {
  /** The newest configuration this leader knows (a pending one if any). */
  lastSeen: QuorumVerifier;
  /** The committed configuration. */
  committed: QuorumVerifier;
  standaloneEnabled: boolean;
  multiAddressEnabled: boolean;
  /** The leader and the followers it counts as synced (ZooKeeper's isQuorumSynced). */
  synced: ReadonlySet<bigint>;
  /** The zxid the reconfig txn gets: the next configuration's version. */
  zxid: bigint;
}

export type ReconfigDecision = { ok: true; next: QuorumVerifier } | { ok: false; err: number; reason: string };

class Refusal extends Error {
  constructor(
    readonly err: number,
    reason: string,
  ) {
    super(reason);
  }
}

export function decideReconfig(req: ReconfigRequestFields, ctx: ReconfigContext): ReconfigDecision {
  try {
    if (ctx.lastSeen.version !== ctx.committed.version) throw new Refusal(Err.RECONFIGINPROGRESS, 'another reconfiguration is in progress');
    if (req.curConfigId !== -1n && req.curConfigId !== ctx.lastSeen.version) {
      throw new Refusal(Err.BADVERSION, `reconfiguration from version ${req.curConfigId.toString(16)} failed -- last seen version is ${ctx.lastSeen.version.toString(16)}`);
    }
    const next = req.newMembers !== null ? nonIncremental(req.newMembers, ctx) : incremental(req, ctx);
    const voters = next.votingMembers.size;
    if (ctx.standaloneEnabled && voters < 2) throw new Refusal(Err.BADARGUMENTS, 'Reconfig failed - new configuration must include at least 2 followers');
    if (voters < 1) throw new Refusal(Err.BADARGUMENTS, 'Reconfig failed - new configuration must include at least 1 follower');
    const synced = [...ctx.synced].filter((sid) => next.votingMembers.has(sid));
    if (!next.containsQuorum(synced)) throw new Refusal(Err.NEWCONFIGNOQUORUM, 'Reconfig failed - there must be a connected and synced quorum in new configuration');
    return { ok: true, next };
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, err: e.err, reason: e.message };
    throw e;
  }
}

/** Java's Long.parseLong, or undefined where it throws. */
function javaLong(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  return v >= -(1n << 63n) && v < 1n << 63n ? v : undefined;
}

/** ZooKeeper's StringUtils.split: trimmed pieces, empty ones dropped. */
function splitTrimmed(s: string, sep: string): string[] {
  return s
    .split(sep)
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

function nonIncremental(newMembers: string, ctx: ReconfigContext): QuorumVerifier {
  const text = newMembers.replace(/,/g, '\n');
  // A server id Java cannot read as a long fails outside ZooKeeper's checked exceptions.
  for (const line of text.split('\n')) {
    const key = line.split(/[=:]/, 1)[0].trim();
    if (key.startsWith('server.') && javaLong(key.slice('server.'.length)) === undefined) {
      throw new Refusal(Err.MARSHALLINGERROR, `"${key}" is not a server id`);
    }
  }
  let parsed: QuorumVerifier;
  try {
    // The version line last: the txn's zxid is the new version whatever the text says.
    parsed = parseQuorumVerifier(`${text}\nversion=${ctx.zxid.toString(16)}`, { multiAddressEnabled: ctx.multiAddressEnabled });
  } catch (e) {
    if (e instanceof ConfigError) throw new Refusal(Err.BADARGUMENTS, e.message);
    throw e;
  }
  const participants = parsed.votingMembers.size;
  const observers = parsed.observingMembers.size;
  // parseDynamicConfig's IllegalArgumentExceptions.
  if (participants === 0 && !ctx.standaloneEnabled) throw new Refusal(Err.MARSHALLINGERROR, 'standaloneEnabled = false then number of participants should be >0');
  if (participants === 0 && observers > 0) throw new Refusal(Err.MARSHALLINGERROR, 'Observers w/o participants is an invalid configuration');
  if (participants === 1 && ctx.standaloneEnabled && observers > 0) throw new Refusal(Err.MARSHALLINGERROR, 'Observers w/o quorum is an invalid configuration');
  return parsed;
}

function incremental(req: ReconfigRequestFields, ctx: ReconfigContext): QuorumVerifier {
  const last = ctx.lastSeen;
  if (!(last instanceof MajorityVerifier)) {
    throw new Refusal(Err.BADARGUMENTS, 'Incremental reconfiguration requested but last configuration seen has a non-majority quorum system');
  }
  // ZooKeeper copies the last member map (new HashMap<>(map)) and edits the copy: its iteration
  // order, and so the config string's, follows that map's table.
  const next = new Map<bigint, QuorumMember>(last.memberOrder().map((sid) => [sid, last.members.get(sid)!]));
  let added = 0;
  for (const leaving of req.leavingServers === null ? [] : splitTrimmed(req.leavingServers, ',')) {
    const sid = javaLong(leaving);
    if (sid === undefined) throw new Refusal(Err.MARSHALLINGERROR, `"${leaving}" is not a server id`);
    if (next.delete(sid)) added--;
  }
  for (const joiner of req.joiningServers === null ? [] : splitTrimmed(req.joiningServers, ',')) {
    const parts = splitTrimmed(joiner, '=');
    if (parts.length !== 2) throw new Refusal(Err.BADARGUMENTS, 'Wrong format of server string');
    const idText = parts[0].slice(parts[0].lastIndexOf('.') + 1);
    const sid = javaLong(idText);
    if (sid === undefined) throw new Refusal(Err.MARSHALLINGERROR, `"${idText}" is not a server id`);
    let member: QuorumMember;
    try {
      member = memberFromSpec(Number(sid), parseServerLine(`server.${sid}`, Number(sid), parts[1], ctx.multiAddressEnabled));
    } catch (e) {
      if (e instanceof ConfigError) throw new Refusal(Err.BADARGUMENTS, 'Reconfiguration failed');
      throw e;
    }
    if (member.clientAddress === undefined) {
      throw new Refusal(Err.BADARGUMENTS, 'Wrong format of server string - each server should have 3 ports specified');
    }
    for (const other of next.values()) {
      if (other.sid === sid) continue;
      const clash = addressClash(member, other);
      if (clash !== undefined) throw new Refusal(Err.BADARGUMENTS, `${clash} of server.${sid} conflicts with server.${other.sid}`);
    }
    if (!next.delete(sid)) added++;
    next.set(sid, member);
  }
  return new MajorityVerifier(next.values(), ctx.zxid, javaHashMapCopyCapacity(last.members.size, Math.max(0, added)));
}

/**
 * QuorumServer.checkAddressDuplicate: any of one member's quorum, election and client addresses
 * equal to one of the other's. Java leaves out wildcard and loopback addresses (so members on
 * one machine never clash) and compares resolved addresses; host names are compared as text here.
 */
function addressClash(a: QuorumMember, b: QuorumMember): string | undefined {
  const theirs = new Set(addressesOf(b));
  for (const mine of addressesOf(a)) if (theirs.has(mine)) return mine;
  return undefined;
}

function addressesOf(m: QuorumMember): string[] {
  const out: string[] = [];
  const triples = m.addresses && m.addresses.length > 0 ? m.addresses : [m];
  const add = (host: string, port: number): void => {
    const h = javaHostString(host).toLowerCase();
    if (isWildcardOrLoopback(h)) return;
    out.push(`${h}:${port}`);
  };
  for (const t of triples) {
    add(t.host, t.quorumPort);
    add(t.host, t.electionPort);
  }
  if (m.clientAddress !== undefined) add(m.clientAddress.host, m.clientAddress.port);
  return out;
}

function isWildcardOrLoopback(host: string): boolean {
  return host === 'localhost' || host === '0.0.0.0' || host === '0:0:0:0:0:0:0:0' || host === '0:0:0:0:0:0:0:1' || /^127\./.test(host);
}
