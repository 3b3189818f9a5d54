/**
 * Sessions: ids and passwords formed as ZooKeeper forms them, timeouts, and expiry in tick-sized
 * buckets. Time is handed in (`nowMs`), so the tracker itself reads no clock.
 */

import { Err } from '../protocol/constants';

const MASK48 = (1n << 48n) - 1n;
const MULTIPLIER = 0x5deece66dn;
const SUPER_SECRET = 0xb3415c00n;

/** java.util.Random's nextBytes for a given seed: ZooKeeper derives session passwords with it. */
export function javaRandomBytes(seed: bigint, length: number): Buffer {
  let s = (BigInt.asUintN(64, seed) ^ MULTIPLIER) & MASK48;
  const out = Buffer.alloc(length);
  let i = 0;
  while (i < length) {
    s = (s * MULTIPLIER + 0xbn) & MASK48;
    let rnd = Number(BigInt.asIntN(32, s >> 16n));
    for (let n = Math.min(length - i, 4); n-- > 0; rnd >>= 8) out[i++] = rnd & 0xff;
  }
  return out;
}

/** A session's password; derived from its id whenever needed, so that no session holds one. */
export function sessionPassword(sessionId: bigint): Buffer {
  return javaRandomBytes(sessionId ^ SUPER_SECRET, 16);
}

/** The first session id of a server: its id in the top byte, the start time below. */
export function initialSessionId(serverId: number, nowMs: number): bigint {
  let sid = BigInt.asUintN(64, BigInt(nowMs) << 24n) >> 8n;
  sid |= BigInt(serverId) << 56n;
  sid = BigInt.asIntN(64, sid);
  if (sid === -0x8000000000000000n) sid++;
  return sid;
}

/**
 * Which server a session's client is attached to, as the leader (or a standalone server) sees it:
 * `LOCAL_OWNER` for its own client connections, else the number of the learner connection that
 * created or last revalidated it. A request through any other server fails with SESSIONMOVED.
 */
export type SessionOwner = number;
export const LOCAL_OWNER: SessionOwner = 0;

export interface Session {
  readonly id: bigint;
  timeoutMs: number;
  /** The bucket the session expires in; 0 while it is not tracked. */
  expiresAtMs: number;
  closing: boolean;
  /** Unset until the session is created, reopened or first used under this leader. */
  owner: SessionOwner | undefined;
  /**
   * A local session (localSessionsEnabled): known only to the server its client connected to,
   * created, closed and expired there without a txn, until an ephemeral create upgrades it.
   */
  local: boolean;
}

/** How `checkSession` treats sessions it does not know. */
export interface SessionCheckRules {
  /** An ensemble member: a session it does not know has expired (standalone: it is unknown). */
  unknownIsExpired: boolean;
  /** With local sessions: this server's sid; sessions of other sids it does not know are local there. */
  localSessionsOf?: number;
}

export class SessionTracker {
  private readonly sessions = new Map<bigint, Session>();
  private readonly buckets = new Map<number, Set<Session>>();
  private nextId: bigint;
  private nextBucketMs: number;

  constructor(
    private readonly tickMs: number,
    serverId: number,
    nowMs: number,
  ) {
    this.nextId = initialSessionId(serverId, nowMs);
    this.nextBucketMs = this.roundToInterval(nowMs);
  }

  private roundToInterval(t: number): number {
    return (Math.floor(t / this.tickMs) + 1) * this.tickMs;
  }

  /** The time of the next bucket to process, a multiple of the tick: when the server wakes next. */
  get nextExpirationMs(): number {
    return this.nextBucketMs;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Local sessions tracked here (mntr's local_sessions; the others are its global_sessions). */
  countLocal(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.local) n++;
    return n;
  }

  all(): IterableIterator<Session> {
    return this.sessions.values();
  }

  get(id: bigint): Session | undefined {
    return this.sessions.get(id);
  }

  newSessionId(): bigint {
    const id = this.nextId;
    this.nextId = BigInt.asIntN(64, this.nextId + 1n);
    return id;
  }

  /**
   * Tracks a session (new, or restored); it expires unless touched within its timeout. A session
   * added as global that was local here is global from now on (upgraded).
   */
  add(id: bigint, timeoutMs: number, nowMs: number, local = false): Session {
    let s = this.sessions.get(id);
    if (!s) {
      s = { id, timeoutMs, expiresAtMs: 0, closing: false, owner: undefined, local };
      this.sessions.set(id, s);
    }
    s.local = local;
    s.timeoutMs = timeoutMs;
    this.touch(s, nowMs);
    return s;
  }

  /** Moves the session's deadline out; false if it is closing. */
  touch(s: Session, nowMs: number): boolean {
    if (s.closing) return false;
    const at = this.roundToInterval(nowMs + s.timeoutMs);
    if (at === s.expiresAtMs) return true;
    if (s.expiresAtMs !== 0) this.buckets.get(s.expiresAtMs)?.delete(s);
    let bucket = this.buckets.get(at);
    if (!bucket) this.buckets.set(at, (bucket = new Set()));
    bucket.add(s);
    s.expiresAtMs = at;
    return true;
  }

  /**
   * Whether a request of session `id` may go on when it came through `owner`: OK, or the error it
   * fails with. A session this tracker does not know is UNKNOWNSESSION, or SESSIONEXPIRED in an
   * ensemble (the leader knows every global session); but with local sessions, one that another
   * server created (its sid in the top byte) is that server's local session and may write. A
   * closing session is SESSIONEXPIRED. An ephemeral create needs a global session: an unknown one
   * has expired, a local one here is EPHEMERALONLOCALSESSION. A session without an owner yet
   * (restored, or from before this leader) takes this one.
   */
  checkSession(id: bigint, owner: SessionOwner, rules: SessionCheckRules, ephemeral = false): number {
    const s = this.sessions.get(id);
    if (s === undefined) {
      if (ephemeral) return Err.SESSIONEXPIRED;
      if (rules.localSessionsOf !== undefined && id >> 56n !== BigInt(rules.localSessionsOf)) return Err.OK;
      return rules.unknownIsExpired ? Err.SESSIONEXPIRED : Err.UNKNOWNSESSION;
    }
    if (s.closing) return Err.SESSIONEXPIRED;
    if (ephemeral && s.local) return Err.EPHEMERALONLOCALSESSION;
    if (s.owner === undefined) s.owner = owner;
    else if (s.owner !== owner) return Err.SESSIONMOVED;
    return Err.OK;
  }

  /** The session is attached through `owner` from now on; false when it is unknown or closing. */
  setOwner(id: bigint, owner: SessionOwner): boolean {
    const s = this.sessions.get(id);
    if (s === undefined || s.closing) return false;
    s.owner = owner;
    return true;
  }

  /** Forgets every owner: a new leader learns them again (its learner connections are new). */
  clearOwners(): void {
    for (const s of this.sessions.values()) s.owner = undefined;
  }

  setClosing(id: bigint): void {
    const s = this.sessions.get(id);
    if (s) s.closing = true;
  }

  remove(id: bigint): void {
    const s = this.sessions.get(id);
    if (!s) return;
    this.sessions.delete(id);
    if (s.expiresAtMs !== 0) this.buckets.get(s.expiresAtMs)?.delete(s);
  }

  /**
   * Sessions whose deadline has passed, marked closing; called once per tick. Only those `expires`
   * accepts (all by default): a learner expires its local sessions and leaves the global ones to
   * the leader (they are back in a bucket at their next touch).
   */
  expired(nowMs: number, expires: (s: Session) => boolean = () => true): Session[] {
    const out: Session[] = [];
    while (this.nextBucketMs <= nowMs) {
      const bucket = this.buckets.get(this.nextBucketMs);
      this.buckets.delete(this.nextBucketMs);
      if (bucket)
        for (const s of bucket) {
          s.expiresAtMs = 0;
          if (!s.closing && !expires(s)) this.touch(s, nowMs);
          else if (!s.closing) {
            s.closing = true;
            out.push(s);
          }
        }
      this.nextBucketMs += this.tickMs;
    }
    return out;
  }
}
