/**
 * Quotas as ZooKeeper keeps them: `/zookeeper/quota/<path>/zookeeper_limits` holds the limits and
 * `.../zookeeper_stats` the current count and bytes of the subtree at <path>, which the tree
 * updates on every create, delete and setData inside it.
 */
import { QUOTA_PATH } from './paths';

export const LIMIT_NODE = 'zookeeper_limits';
export const STAT_NODE = 'zookeeper_stats';

/** The `count=..,bytes=..` text of limit and stat nodes; a missing value reads as -1. */
export class StatsTrack {
  readonly values = new Map<string, bigint>();

  constructor(text = '') {
    if (text.length === 0) return;
    for (const pair of text.split(/[,;]+/)) {
      if (pair.length === 0) continue;
      const [k, v] = pair.split('=');
      this.values.set(k, v === undefined || v === '' ? -1n : BigInt(v));
    }
  }

  static parse(data: Buffer | null): StatsTrack {
    try {
      return new StatsTrack(data === null ? '' : data.toString('utf8'));
    } catch {
      return new StatsTrack('');
    }
  }

  get(key: string): bigint {
    return this.values.get(key) ?? -1n;
  }

  set(key: string, v: bigint): void {
    this.values.set(key, v);
  }

  get count(): bigint {
    return this.get('count');
  }
  get bytes(): bigint {
    return this.get('bytes');
  }
  get countHardLimit(): bigint {
    return this.get('countHardLimit');
  }
  get byteHardLimit(): bigint {
    return this.get('byteHardLimit');
  }

  /** count and bytes first, then the other keys sorted after a `=;` that old parsers skip. */
  toString(): string {
    let s = `count=${this.count},bytes=${this.bytes}`;
    const rest = [...this.values.keys()].filter((k) => k !== 'count' && k !== 'bytes').sort();
    if (rest.length > 0) {
      s += '=';
      for (const k of rest) s += `;${k}=${this.values.get(k)}`;
    }
    return s;
  }
}

export function limitPath(quotaPath: string): string {
  return `${QUOTA_PATH}${quotaPath}/${LIMIT_NODE}`;
}

export function statPath(quotaPath: string): string {
  return `${QUOTA_PATH}${quotaPath}/${STAT_NODE}`;
}

/** The set of paths that carry a quota, and the longest one covering a path. */
export class QuotaPaths {
  private readonly paths = new Set<string>();

  add(path: string): void {
    this.paths.add(path);
  }

  delete(path: string): void {
    this.paths.delete(path);
  }

  get size(): number {
    return this.paths.size;
  }

  all(): IterableIterator<string> {
    return this.paths.values();
  }

  /** The deepest quota path that is `path` or an ancestor of it; never the root. */
  covering(path: string): string | undefined {
    if (this.paths.size === 0) return undefined;
    let p = path;
    while (p.length > 1) {
      if (this.paths.has(p)) return p;
      p = p.slice(0, p.lastIndexOf('/'));
    }
    return undefined;
  }
}

const QUOTA_PREFIX = QUOTA_PATH + '/';

/** For a node under /zookeeper/quota: the quota path it describes, if it is a limit or stat node. */
export function quotaNodeOf(path: string): { quotaPath: string; kind: 'limit' | 'stat' } | undefined {
  if (!path.startsWith(QUOTA_PREFIX)) return undefined;
  const slash = path.lastIndexOf('/');
  const name = path.slice(slash + 1);
  if (name !== LIMIT_NODE && name !== STAT_NODE) return undefined;
  const quotaPath = path.slice(QUOTA_PATH.length, slash);
  if (quotaPath.length === 0) return undefined;
  return { quotaPath, kind: name === LIMIT_NODE ? 'limit' : 'stat' };
}
