/**
 * A learner's writes in flight: requests this server forwarded to the leader, waiting for the
 * leader's commit of their txn. Committed txns come back in zxid order; a session's own txns come
 * back in the order it sent them, so each session keeps a FIFO and a committed txn of a session
 * with local requests answers the oldest (ZooKeeper's CommitProcessor matches the same way, by
 * session and cxid). A `sync` carries no session on its way back (the leader's SYNC packet names
 * none), so syncs wait in one FIFO of their own and the oldest is answered first.
 */

export interface ForwardedWrite {
  sessionId: bigint;
  cxid: number;
}

/** What a committed txn means for the local requests of its session. */
export type CommitMatch<T> =
  | { kind: 'local'; write: T; skipped: T[] } // the txn answers this local request; `skipped` came before it and never will be
  | { kind: 'remote' }; // another server's (or the leader's own) txn: apply it, answer nobody

export class ForwardedWrites<T extends ForwardedWrite> {
  private readonly bySession = new Map<bigint, T[]>();
  private readonly syncs: T[] = [];
  private count = 0;

  /** `limit` bounds the writes in flight; the caller stops reading clients at it. */
  constructor(readonly limit: number) {
    if (!(limit > 0)) throw new Error(`ForwardedWrites: limit must be positive, got ${limit}`);
  }

  get size(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count >= this.limit;
  }

  add(write: T): void {
    if (this.count >= this.limit) throw new Error(`ForwardedWrites: more than ${this.limit} writes in flight`);
    let q = this.bySession.get(write.sessionId);
    if (!q) this.bySession.set(write.sessionId, (q = []));
    q.push(write);
    this.count++;
  }

  addSync(write: T): void {
    if (this.count >= this.limit) throw new Error(`ForwardedWrites: more than ${this.limit} writes in flight`);
    this.syncs.push(write);
    this.count++;
  }

  /**
   * The committed txn (clientId, cxid) against the session's forwarded writes. A txn of the session
   * with a cxid none of them has came through another server (the session moved there and its old
   * connection here still wrote, or the leader expired it): it is remote, and the local writes keep
   * waiting for their own txns, as in ZooKeeper's CommitProcessor. One that answers a later write
   * than the oldest means the leader dropped the ones before it: they are handed back as skipped.
   */
  committed(sessionId: bigint, cxid: number): CommitMatch<T> {
    const q = this.bySession.get(sessionId);
    const at = q ? q.findIndex((w) => w.cxid === cxid) : -1;
    if (!q || at < 0) return { kind: 'remote' };
    const taken = q.splice(0, at + 1);
    this.count -= taken.length;
    if (q.length === 0) this.bySession.delete(sessionId);
    const write = taken.pop()!;
    return { kind: 'local', write, skipped: taken };
  }

  /** The leader's SYNC: the oldest waiting sync, if any. */
  syncDone(): T | undefined {
    const w = this.syncs.shift();
    if (w) this.count--;
    return w;
  }

  /**
   * The writes of a session whose connection closed; they stay matched to their txns (a txn of
   * the session may still commit), so they are only marked by the caller, not removed here.
   */
  pendingOf(sessionId: bigint): readonly T[] {
    return this.bySession.get(sessionId) ?? [];
  }

  /** Everything in flight, taken out: the link to the leader is gone and none will be answered. */
  drain(): T[] {
    const out: T[] = [];
    for (const q of this.bySession.values()) out.push(...q);
    out.push(...this.syncs);
    this.bySession.clear();
    this.syncs.length = 0;
    this.count = 0;
    return out;
  }

  private take(sessionId: bigint, q: T[]): void {
    q.shift();
    this.count--;
    if (q.length === 0) this.bySession.delete(sessionId);
  }
}
