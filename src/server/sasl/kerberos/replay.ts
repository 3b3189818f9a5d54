/**
 * The acceptor's replay cache (RFC 4120 section 3.2.3): an authenticator seen once within the
 * clock skew window is refused the second time. Entries expire after the window; the cache is
 * bounded and refuses new authenticators when full rather than forgetting live ones.
 */
import { SaslError } from '../mechanism';

export const DEFAULT_REPLAY_CACHE_ENTRIES = 50_000;

export class ReplayCache {
  /** key -> expiry (ms); Map order is insertion order, roughly expiry order. */
  private readonly entries = new Map<string, number>();

  constructor(private readonly maxEntries = DEFAULT_REPLAY_CACHE_ENTRIES) {}

  get size(): number {
    return this.entries.size;
  }

  /** Records `key` until `expiresAtMs`; throws `SaslError` if it is already recorded. */
  check(key: string, nowMs: number, expiresAtMs: number): void {
    this.expire(nowMs);
    const seen = this.entries.get(key);
    if (seen !== undefined && seen > nowMs) throw new SaslError('GSSAPI: replayed authenticator');
    if (this.entries.size >= this.maxEntries) {
      throw new SaslError(`GSSAPI: replay cache full (${this.maxEntries} authenticators within the clock skew)`);
    }
    this.entries.set(key, expiresAtMs);
  }

  private expire(nowMs: number): void {
    for (const [key, expiry] of this.entries) {
      if (expiry > nowMs) break;
      this.entries.delete(key);
    }
  }
}

/** Shared by every exchange that is not given its own cache. */
export const processReplayCache = new ReplayCache();
