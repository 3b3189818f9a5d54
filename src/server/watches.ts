/**
 * The watch manager: one-shot data/exist and child watches, persistent and persistent-recursive
 * watches, with ZooKeeper's trigger table. A watcher is a connection.
 *
 * Watches are indexed twice: by path (four tables, for triggers) and by watcher (the paths a
 * watcher watches, with a bit per table, as ZooKeeper's watch-to-paths map), so that closing a
 * connection costs in proportion to its own watches and nothing when it has none.
 */
import { EventType, WatcherType } from '../protocol/constants';
import { encodeNotificationFrame } from '../protocol/requests';
import type { ACL } from '../protocol/generated/records';
import { parentOf } from '../storage/paths';
import type { WatchEvent } from '../storage/datatree';

export interface Watcher {
  /**
   * Sends a WatcherEvent to the client. `frame` is the event's notification frame when the
   * caller has it: one event fanned out to many watchers is encoded once.
   */
  notify(type: number, path: string, frame?: Buffer): void;
  /** Whether the watcher may read a node with this ACL: an event is delivered only then. */
  canRead(acl: ACL[]): boolean;
}

/**
 * Writes one event to many watchers at once (the server's two-thread writer, fanout.ts): used for
 * an event with at least `minWatchers` watchers.
 */
export interface BulkNotifier {
  readonly minWatchers: number;
  notifyAll(watchers: readonly Watcher[], type: number, path: string, frame: Buffer): void;
}

/** Told of each event delivered to at least one watcher (the server's metrics). */
export interface WatchMetrics {
  triggered(type: number, watchers: number, pathBytes: number): void;
}

type Table = Map<string, Set<Watcher>>;

/**
 * One watcher's entry in the by-watcher index: the path and its table bits inline while it
 * watches one path (most do: a map per connection would cost hundreds of bytes at 20,000
 * sessions), a map of path -> bits once it watches more.
 */
interface OnePath {
  path: string;
  bits: number;
}
type WatcherPaths = OnePath | Map<string, number>;

function bitsAt(e: WatcherPaths, path: string): number {
  return e instanceof Map ? (e.get(path) ?? 0) : e.path === path ? e.bits : 0;
}

function* entriesOf(e: WatcherPaths): IterableIterator<[string, number]> {
  if (e instanceof Map) yield* e;
  else yield [e.path, e.bits];
}

/** A table's bit in the by-watcher index. */
const DATA = 1;
const CHILD = 2;
const PERSISTENT = 4;
const RECURSIVE = 8;

export class WatchManager {
  private readonly data: Table = new Map();
  private readonly child: Table = new Map();
  private readonly persistent: Table = new Map();
  private readonly recursive: Table = new Map();
  /** Watcher -> path -> the bits of the tables that hold the watcher at that path. */
  private readonly byWatcher = new Map<Watcher, WatcherPaths>();
  metrics: WatchMetrics | undefined;
  bulk: BulkNotifier | undefined;

  addDataWatch(path: string, w: Watcher): void {
    this.addTo(this.data, DATA, path, w);
  }

  addChildWatch(path: string, w: Watcher): void {
    this.addTo(this.child, CHILD, path, w);
  }

  addPersistentWatch(path: string, w: Watcher, recursive: boolean): void {
    if (recursive) this.addTo(this.recursive, RECURSIVE, path, w);
    else this.addTo(this.persistent, PERSISTENT, path, w);
  }

  private addTo(t: Table, bit: number, path: string, w: Watcher): void {
    let s = t.get(path);
    if (!s) t.set(path, (s = new Set()));
    s.add(w);
    const paths = this.byWatcher.get(w);
    if (!paths) this.byWatcher.set(w, { path, bits: bit });
    else if (paths instanceof Map) paths.set(path, (paths.get(path) ?? 0) | bit);
    else if (paths.path === path) paths.bits |= bit;
    else
      this.byWatcher.set(
        w,
        new Map([
          [paths.path, paths.bits],
          [path, bit],
        ]),
      );
  }

  private removeFrom(t: Table, bit: number, path: string, w: Watcher): boolean {
    const s = t.get(path);
    if (!s || !s.delete(w)) return false;
    if (s.size === 0) t.delete(path);
    this.unindex(w, path, bit);
    return true;
  }

  private unindex(w: Watcher, path: string, bit: number): void {
    const paths = this.byWatcher.get(w);
    if (!paths) return;
    const bits = bitsAt(paths, path) & ~bit;
    if (!(paths instanceof Map)) {
      if (paths.path !== path) return;
      if (bits !== 0) paths.bits = bits;
      else this.byWatcher.delete(w);
      return;
    }
    if (bits !== 0) paths.set(path, bits);
    else if (paths.delete(path) && paths.size === 0) this.byWatcher.delete(w);
  }

  /** Delivers the events a txn caused, in order. */
  trigger(events: readonly WatchEvent[]): void {
    for (const e of events) this.triggerOne(e);
  }

  private triggerOne(e: WatchEvent): void {
    // Most changes have no watcher at all: nothing to make then.
    if (this.recursive.size === 0 && !this.data.has(e.path) && !this.child.has(e.path) && !this.persistent.has(e.path)) return;
    // The watcher sets the event fires, one-shot ones taken out of their tables.
    const sources: Array<Set<Watcher>> = [];
    const add = (set: Set<Watcher> | undefined) => {
      if (set !== undefined && set.size > 0) sources.push(set);
    };
    if (e.type === EventType.NodeChildrenChanged) {
      add(this.takeOneShot(this.child, CHILD, e.path));
      add(this.persistent.get(e.path));
    } else {
      add(this.takeOneShot(this.data, DATA, e.path));
      add(this.persistent.get(e.path));
      if (this.recursive.size > 0) {
        for (let p = e.path; ; p = parentOf(p)) {
          add(this.recursive.get(p));
          if (p === '/') break;
        }
      }
      if (e.type === EventType.NodeDeleted) add(this.takeOneShot(this.child, CHILD, e.path));
    }
    // Every watcher's event is checked against the node's ACL when it fires (the parent's for a
    // child-list change), as ZooKeeper 3.9.2+/3.8.4+ do since CVE-2024-23944: one that may not READ
    // the node loses its one-shot watch without an event. It still counts as triggered.
    const allowed: Watcher[] = [];
    let triggered = 0;
    if (sources.length === 1) {
      // The common case (one table, say 20,000 one-shot data watches): no watcher twice.
      for (const w of sources[0]) if (w.canRead(e.acl)) allowed.push(w);
      triggered = sources[0].size;
    } else if (sources.length > 1) {
      // A watcher in several of the sets gets one event.
      const delivered = new Set<Watcher>();
      for (const set of sources) {
        for (const w of set) {
          if (delivered.has(w)) continue;
          delivered.add(w);
          if (w.canRead(e.acl)) allowed.push(w);
        }
      }
      triggered = delivered.size;
    }
    if (allowed.length > 0) {
      const frame = encodeNotificationFrame(e.type, e.path);
      if (this.bulk && allowed.length >= this.bulk.minWatchers) this.bulk.notifyAll(allowed, e.type, e.path, frame);
      else for (const w of allowed) w.notify(e.type, e.path, frame);
    }
    if (triggered > 0 && this.metrics) this.metrics.triggered(e.type, triggered, Buffer.byteLength(e.path));
  }

  /** Takes a path's one-shot watchers out of a table (and out of the by-watcher index). */
  private takeOneShot(t: Table, bit: number, path: string): Set<Watcher> | undefined {
    const set = t.get(path);
    if (!set) return undefined;
    t.delete(path);
    for (const w of set) this.unindex(w, path, bit);
    return set;
  }

  /**
   * Whether ZooKeeper would hold the watcher's watch on the path in its data table (one-shot data
   * and exists watches, persistent and persistent-recursive ones), for the admin reports.
   */
  inDataTable(path: string, w: Watcher): boolean {
    return [this.data, this.persistent, this.recursive].some((t) => t.get(path)?.has(w) ?? false);
  }

  /** Likewise for its child table (one-shot child watches and both persistent modes). */
  inChildTable(path: string, w: Watcher): boolean {
    return [this.child, this.persistent, this.recursive].some((t) => t.get(path)?.has(w) ?? false);
  }

  /** For checkWatches: whether the watcher has a watch of this type on the path. */
  contains(path: string, type: number, w: Watcher): boolean {
    const has = (t: Table) => t.get(path)?.has(w) ?? false;
    switch (type) {
      // Children and Data ask for one-shot watches only, as in ZooKeeper 3.9 (3.8.0 counted
      // persistent watches here too); Any counts every mode.
      case WatcherType.Children:
        return has(this.child);
      case WatcherType.Data:
        return has(this.data);
      case WatcherType.Any:
        return has(this.child) || has(this.data) || has(this.persistent) || has(this.recursive);
      case WatcherType.Persistent:
        return has(this.persistent);
      case WatcherType.PersistentRecursive:
        return has(this.recursive);
      default:
        return false;
    }
  }

  /** For removeWatches: removes the watcher's watches of this type on the path; false if none. */
  remove(path: string, type: number, w: Watcher): boolean {
    switch (type) {
      case WatcherType.Children:
        return this.removeFrom(this.child, CHILD, path, w);
      case WatcherType.Data:
        return this.removeFrom(this.data, DATA, path, w);
      case WatcherType.Any: {
        const a = this.removeFrom(this.child, CHILD, path, w);
        const b = this.removeFrom(this.data, DATA, path, w);
        const c = this.removeFrom(this.persistent, PERSISTENT, path, w);
        const d = this.removeFrom(this.recursive, RECURSIVE, path, w);
        return a || b || c || d;
      }
      case WatcherType.Persistent:
        return this.removeFrom(this.persistent, PERSISTENT, path, w);
      case WatcherType.PersistentRecursive:
        return this.removeFrom(this.recursive, RECURSIVE, path, w);
      default:
        return false;
    }
  }

  /** Drops every watch of a closed connection: only the paths it watches are visited. */
  removeWatcher(w: Watcher): void {
    const paths = this.byWatcher.get(w);
    if (!paths) return;
    this.byWatcher.delete(w);
    const drop = (t: Table, path: string) => {
      const s = t.get(path);
      if (s && s.delete(w) && s.size === 0) t.delete(path);
    };
    for (const [path, bits] of entriesOf(paths)) {
      if (bits & DATA) drop(this.data, path);
      if (bits & CHILD) drop(this.child, path);
      if (bits & PERSISTENT) drop(this.persistent, path);
      if (bits & RECURSIVE) drop(this.recursive, path);
    }
  }

  /** The number of watches a watcher holds (each table counted), from the by-watcher index. */
  watchesOf(w: Watcher): number {
    let n = 0;
    const paths = this.byWatcher.get(w);
    if (paths) for (const [, bits] of entriesOf(paths)) n += popcount4(bits);
    return n;
  }

  /** Watchers holding at least one watch. */
  get watcherCount(): number {
    return this.byWatcher.size;
  }

  /** Counts for the admin surface. */
  stats(): { paths: number; watches: number } {
    let watches = 0;
    const paths = new Set<string>();
    for (const t of [this.data, this.child, this.persistent, this.recursive])
      for (const [p, s] of t) {
        paths.add(p);
        watches += s.size;
      }
    return { paths: paths.size, watches };
  }

  /** Per-path watchers for the admin surface (wchp). */
  byPath(): Map<string, Set<Watcher>> {
    const out = new Map<string, Set<Watcher>>();
    for (const t of [this.data, this.child, this.persistent, this.recursive])
      for (const [p, s] of t) {
        let o = out.get(p);
        if (!o) out.set(p, (o = new Set()));
        s.forEach((w) => o!.add(w));
      }
    return out;
  }
}

function popcount4(bits: number): number {
  return (bits & 1) + ((bits >> 1) & 1) + ((bits >> 2) & 1) + ((bits >> 3) & 1);
}
