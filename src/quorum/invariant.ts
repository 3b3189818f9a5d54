/**
 * A stated invariant of the Zab cores, checked where it is stated. A failure is a bug in the core or
 * in the shell that drives it (never bad input from a peer: that closes the link instead), so it
 * throws rather than limping on with a history that may already disagree with the quorum's.
 */
export class ZabInvariantError extends Error {
  override readonly name = 'ZabInvariantError';
}

export function invariant(condition: boolean, message: string): asserts condition {
  if (!condition) throw new ZabInvariantError(message);
}
