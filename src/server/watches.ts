/**
 * The watch manager: one-shot data/exist and child watches, persistent and persistent-recursive
 * watches, with ZooKeeper's trigger table. A watcher is a connection.
 */
import { EventType, WatcherType } from '../protocol/constants';
import type { ACL } from '../protocol/generated/records';
import { parentOf } from '../storage/paths';
import type { WatchEvent } from '../storage/datatree';

export interface Watcher {
  /** Sends a WatcherEvent to the client. */
  notify(type: number, path: string): void;
  /** Whether the watcher may read a node with this ACL (recursive watches only see what they can read). */
  canRead(acl: ACL[]): boolean;
}

/** Told of each event delivered to at least one watcher (the server's metrics). */
export interface WatchMetrics {
  triggered(type: number, watchers: number, pathBytes: number): void;
}

type Table = Map<string, Set<Watcher>>;

function addTo(t: Table, path: string, w: Watcher): void {
  let s = t.get(path);
  if (!s) t.set(path, (s = new Set()));
  s.add(w);
}

function removeFrom(t: Table, path: string, w: Watcher): boolean {
  const s = t.get(path);
  if (!s || !s.delete(w)) return false;
  if (s.size === 0) t.delete(path);
  return true;
}

export class WatchManager {
  private readonly data: Table = new Map();
  private readonly child: Table = new Map();
  private readonly persistent: Table = new Map();
  private readonly recursive: Table = new Map();
  metrics: WatchMetrics | undefined;

  addDataWatch(path: string, w: Watcher): void {
    addTo(this.data, path, w);
  }

  addChildWatch(path: string, w: Watcher): void {
    addTo(this.child, path, w);
  }

  addPersistentWatch(path: string, w: Watcher, recursive: boolean): void {
    addTo(recursive ? this.recursive : this.persistent, path, w);
  }

  /** Delivers the events a txn caused, in order. */
  trigger(events: readonly WatchEvent[]): void {
    for (const e of events) this.triggerOne(e);
  }

  private triggerOne(e: WatchEvent): void {
    // Most changes have no watcher at all: nothing to make then.
    if (this.recursive.size === 0 && !this.data.has(e.path) && !this.child.has(e.path) && !this.persistent.has(e.path)) return;
    const delivered = new Set<Watcher>();
    const deliver = (w: Watcher) => {
      if (delivered.has(w)) return;
      delivered.add(w);
      w.notify(e.type, e.path);
    };
    if (e.type === EventType.NodeChildrenChanged) {
      this.fireOneShot(this.child, e.path, deliver);
      this.persistent.get(e.path)?.forEach(deliver);
      this.counted(e, delivered.size);
      return;
    }
    this.fireOneShot(this.data, e.path, deliver);
    this.persistent.get(e.path)?.forEach(deliver);
    if (this.recursive.size > 0) {
      let p = e.path;
      for (;;) {
        const set = this.recursive.get(p);
        if (set) for (const w of set) if (p === e.path || w.canRead(e.acl)) deliver(w);
        if (p === '/') break;
        p = parentOf(p);
      }
    }
    if (e.type === EventType.NodeDeleted) this.fireOneShot(this.child, e.path, deliver);
    this.counted(e, delivered.size);
  }

  private counted(e: WatchEvent, watchers: number): void {
    if (watchers > 0 && this.metrics) this.metrics.triggered(e.type, watchers, Buffer.byteLength(e.path));
  }

  private fireOneShot(t: Table, path: string, deliver: (w: Watcher) => void): void {
    const set = t.get(path);
    if (!set) return;
    t.delete(path);
    set.forEach(deliver);
  }

  /** For checkWatches: whether the watcher has a watch of this type on the path. */
  contains(path: string, type: number, w: Watcher): boolean {
    const has = (t: Table) => t.get(path)?.has(w) ?? false;
    switch (type) {
      // Persistent watches sit in ZooKeeper's data and child tables too, so they count here.
      case WatcherType.Children:
        return has(this.child) || has(this.persistent) || has(this.recursive);
      case WatcherType.Data:
        return has(this.data) || has(this.persistent) || has(this.recursive);
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
        return removeFrom(this.child, path, w);
      case WatcherType.Data:
        return removeFrom(this.data, path, w);
      case WatcherType.Any: {
        const a = removeFrom(this.child, path, w);
        const b = removeFrom(this.data, path, w);
        const c = removeFrom(this.persistent, path, w);
        const d = removeFrom(this.recursive, path, w);
        return a || b || c || d;
      }
      case WatcherType.Persistent:
        return removeFrom(this.persistent, path, w);
      case WatcherType.PersistentRecursive:
        return removeFrom(this.recursive, path, w);
      default:
        return false;
    }
  }

  /** Drops every watch of a closed connection. */
  removeWatcher(w: Watcher): void {
    for (const t of [this.data, this.child, this.persistent, this.recursive])
      for (const [path, set] of t) if (set.delete(w) && set.size === 0) t.delete(path);
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
