/**
 * zxids as a log holds them: epoch << 32 | counter. Within an epoch the counter goes up by one per
 * txn; a new leader starts its epoch at counter 1 (counter 0 marks the epoch itself and is never a
 * txn). So the logs of an ensemble member step from (e, c) to (e', 1) with e' > e whenever the
 * leadership changed, and an ensemble's first txn is 0x100000001.
 */

const COUNTER_BITS = 32n;
const COUNTER_MASK = (1n << COUNTER_BITS) - 1n;

export function epochOf(zxid: bigint): bigint {
  return zxid >> COUNTER_BITS;
}

export function counterOf(zxid: bigint): bigint {
  return zxid & COUNTER_MASK;
}

export function makeZxid(epoch: bigint, counter: bigint): bigint {
  return (epoch << COUNTER_BITS) | (counter & COUNTER_MASK);
}

/**
 * Whether `next` may follow `prev` with no txn missing between them: the next counter, or the
 * first txn of a higher epoch. `prev` may be a snapshot's zxid (0 for an empty one).
 */
export function isNextZxid(prev: bigint, next: bigint): boolean {
  if (next === prev + 1n) return true;
  return epochOf(next) > epochOf(prev) && counterOf(next) === 1n;
}

export function zxidHex(zxid: bigint): string {
  return '0x' + BigInt.asUintN(64, zxid).toString(16);
}

/** Why `next` cannot follow `prev` (isNextZxid is false), for an error message. */
export function zxidGapReason(prev: bigint, next: bigint): string {
  const at = `zxid ${zxidHex(next)} follows ${zxidHex(prev)}`;
  if (next <= prev) return `${at}: zxids go backwards`;
  if (epochOf(next) === epochOf(prev)) {
    const last = next - 1n;
    const missing = last === prev + 1n ? zxidHex(last) : `${zxidHex(prev + 1n)} to ${zxidHex(last)}`;
    return `${at}: txns ${missing} are missing`;
  }
  if (counterOf(next) === 0n) return `${at}: counter 0 of epoch ${epochOf(next)} is never a txn`;
  // A higher epoch that does not start at counter 1: its first txns are missing.
  const first = makeZxid(epochOf(next), 1n);
  const last = next - 1n;
  const missing = first === last ? zxidHex(first) : `${zxidHex(first)} to ${zxidHex(last)}`;
  return `${at}: txns ${missing} of epoch ${epochOf(next)} are missing`;
}

/**
 * The zxids a reader of a log has already taken in: everything up to a base (a snapshot's zxid,
 * or where a read starts), then runs of consecutive txns. A ZooKeeper 3.8.0 follower's log was
 * seen holding a stretch of txns twice (0x300000001-0xa, then 0x300000001 again, after it had
 * rejoined a busy ensemble), and ZooKeeper's own recovery logs an error there and reads on; a txn
 * this history holds is such a repeat and is skipped, while a lower zxid never seen is still a
 * broken log.
 */
export class ZxidHistory {
  /** Runs [first, last] of consecutive txns, in the order taken in. */
  private readonly runs: Array<[bigint, bigint]> = [];

  constructor(private readonly base: bigint) {}

  has(zxid: bigint): boolean {
    if (zxid <= this.base) return true;
    for (const [first, last] of this.runs) if (zxid >= first && zxid <= last) return true;
    return false;
  }

  add(zxid: bigint): void {
    const run = this.runs[this.runs.length - 1];
    if (run !== undefined && zxid === run[1] + 1n) run[1] = zxid;
    else this.runs.push([zxid, zxid]);
  }
}
