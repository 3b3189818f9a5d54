/**
 * Read requests, answered from the tree as it is (ZooKeeper's FinalRequestProcessor for reads):
 * ACL checks, watch registration, and the reply body.
 */
import {
  AddWatchMode,
  Err,
  EventType,
  KeeperError,
  OpCode,
  Perms,
  WatcherType,
} from '../protocol/constants';
import type { JuteWriter } from '../protocol/jute';
import * as R from '../protocol/generated/records';
import { encodeMultiResponse, type MultiOp, type MultiResult, type SetWatchesRequest } from '../protocol/requests';
import type { DataTree, ZNode } from '../storage/datatree';
import type { AuthRegistry } from './auth';
import type { ServerCnxn } from './cnxn';
import type { WatchManager } from './watches';

export interface ReadReply {
  err: number;
  body?: (w: JuteWriter) => void;
}

const OK_EMPTY: ReadReply = { err: Err.OK };

function isWatcherType(type: number): boolean {
  return type >= WatcherType.Children && type <= WatcherType.PersistentRecursive;
}

export class ReadProcessor {
  constructor(
    private readonly tree: DataTree,
    private readonly watches: WatchManager,
    private readonly auth: AuthRegistry,
  ) {}

  private nodeFor(path: string) {
    const n = this.tree.getNode(path);
    if (!n) throw new KeeperError(Err.NONODE, path);
    return n;
  }

  /** Runs a read; KeeperErrors become the reply's error code. */
  process(c: ServerCnxn, type: number, body: unknown): ReadReply {
    try {
      return this.run(c, type, body);
    } catch (e) {
      if (e instanceof KeeperError) return { err: e.code };
      throw e;
    }
  }

  /** The node a getData reads, after its checks, with its data watch set if asked. */
  private getDataNode(c: ServerCnxn, path: string, watch: boolean): ZNode {
    const n = this.nodeFor(path);
    this.auth.checkACL(n.acl, Perms.READ, c.ids);
    if (watch) this.watches.addDataWatch(path, c);
    return n;
  }

  private getChildren(c: ServerCnxn, path: string, watch: boolean): { children: string[]; stat: R.Stat } {
    const n = this.nodeFor(path);
    this.auth.checkACL(n.acl, Perms.READ, c.ids);
    if (watch) this.watches.addChildWatch(path, c);
    return { children: this.tree.childrenOf(n), stat: this.tree.statOf(n) };
  }

  private run(c: ServerCnxn, type: number, body: unknown): ReadReply {
    switch (type) {
      case OpCode.exists: {
        const req = body as R.ExistsRequest;
        if (req.path.includes('\0')) return { err: Err.BADARGUMENTS };
        const n = this.tree.getNode(req.path);
        // ZooKeeper 3.9 (ZOOKEEPER-2590) asks READ of a node that exists, before any watch is set;
        // a missing node has no ACL to ask, and its watch waits for the creation.
        if (n) this.auth.checkACL(n.acl, Perms.READ, c.ids);
        if (req.watch) this.watches.addDataWatch(req.path, c);
        if (!n) return { err: Err.NONODE };
        // The reply is encoded as soon as process returns (see sendReply), so the node's Stat
        // is written straight from the tree: it is still the Stat of this read.
        return { err: Err.OK, body: (w) => this.tree.writeStatOf(w, n) };
      }
      case OpCode.getData: {
        const req = body as R.GetDataRequest;
        const n = this.getDataNode(c, req.path, req.watch);
        // GetDataResponse straight from the tree, as for exists.
        return {
          err: Err.OK,
          body: (w) => {
            n.writeData(w);
            this.tree.writeStatOf(w, n);
          },
        };
      }
      case OpCode.getChildren: {
        const req = body as R.GetChildrenRequest;
        const { children } = this.getChildren(c, req.path, req.watch);
        return { err: Err.OK, body: (w) => R.encodeGetChildrenResponse(w, { children }) };
      }
      case OpCode.getChildren2: {
        const req = body as R.GetChildren2Request;
        const rsp = this.getChildren(c, req.path, req.watch);
        return { err: Err.OK, body: (w) => R.encodeGetChildren2Response(w, rsp) };
      }
      case OpCode.getACL: {
        const req = body as R.GetACLRequest;
        const n = this.nodeFor(req.path);
        this.auth.checkACL(n.acl, Perms.READ | Perms.ADMIN, c.ids);
        const stat = this.tree.statOf(n);
        // Without ADMIN, digest hashes are masked (CVE-2019-0201).
        const acl = this.auth.hasPermission(n.acl, Perms.ADMIN, c.ids)
          ? n.acl
          : n.acl.map((a) => (a.id.scheme === 'digest' ? { perms: a.perms, id: { scheme: 'digest', id: a.id.id.replace(/:.*/s, ':x') } } : a));
        return { err: Err.OK, body: (w) => R.encodeGetACLResponse(w, { acl, stat }) };
      }
      case OpCode.getAllChildrenNumber: {
        const req = body as R.GetAllChildrenNumberRequest;
        const n = this.nodeFor(req.path);
        this.auth.checkACL(n.acl, Perms.READ, c.ids);
        const totalNumber = this.tree.countDescendants(req.path);
        return { err: Err.OK, body: (w) => R.encodeGetAllChildrenNumberResponse(w, { totalNumber }) };
      }
      case OpCode.getEphemerals: {
        const req = body as R.GetEphemeralsRequest;
        const prefix = req.prefixPath.trim();
        const all = this.tree.ephemeralsListed(c.sessionId);
        const ephemerals = prefix === '' || prefix === '/' ? all : all.filter((p) => p.startsWith(req.prefixPath));
        return { err: Err.OK, body: (w) => R.encodeGetEphemeralsResponse(w, { ephemerals }) };
      }
      case OpCode.whoAmI: {
        const clientInfo = this.auth.clientInfo(c.ids);
        return { err: Err.OK, body: (w) => R.encodeWhoAmIResponse(w, { clientInfo }) };
      }
      case OpCode.addWatch: {
        const req = body as R.AddWatchRequest;
        if (req.mode !== AddWatchMode.PERSISTENT && req.mode !== AddWatchMode.PERSISTENT_RECURSIVE) return { err: Err.MARSHALLINGERROR };
        this.watches.addPersistentWatch(req.path, c, req.mode === AddWatchMode.PERSISTENT_RECURSIVE);
        return { err: Err.OK, body: (w) => R.encodeErrorResponse(w, { err: 0 }) };
      }
      case OpCode.checkWatches: {
        const req = body as R.CheckWatchesRequest;
        // ZooKeeper cannot map an unknown watcher type and answers MARSHALLINGERROR.
        if (!isWatcherType(req.type)) return { err: Err.MARSHALLINGERROR };
        return this.watches.contains(req.path, req.type, c) ? OK_EMPTY : { err: Err.NOWATCHER };
      }
      case OpCode.removeWatches: {
        const req = body as R.RemoveWatchesRequest;
        if (!isWatcherType(req.type)) return { err: Err.MARSHALLINGERROR };
        return this.watches.remove(req.path, req.type, c) ? OK_EMPTY : { err: Err.NOWATCHER };
      }
      case OpCode.sync: {
        const req = body as { path: string | null };
        return { err: Err.OK, body: (w) => (req.path === null ? w.writeInt(-1) : R.encodeSyncResponse(w, { path: req.path })) };
      }
      case OpCode.multiRead: {
        const results = (body as MultiOp[]).map((op) => this.multiReadOne(c, op));
        return { err: Err.OK, body: (w) => encodeMultiResponse(w, results) };
      }
      case OpCode.setWatches:
      case OpCode.setWatches2:
        this.setWatches(c, body as SetWatchesRequest);
        return (body as SetWatchesRequest).malformed ? { err: Err.MARSHALLINGERROR } : OK_EMPTY;
      case OpCode.ping:
        return OK_EMPTY;
      default:
        return { err: Err.UNIMPLEMENTED };
    }
  }

  private multiReadOne(c: ServerCnxn, op: MultiOp): MultiResult {
    try {
      if (op.type === OpCode.getData) {
        const n = this.getDataNode(c, op.record.path, op.record.watch);
        return { type: OpCode.getData, data: n.data, stat: this.tree.statOf(n) };
      }
      if (op.type === OpCode.getChildren) {
        const { children } = this.getChildren(c, op.record.path, op.record.watch);
        return { type: OpCode.getChildren, children };
      }
      return { type: OpCode.error, err: Err.BADARGUMENTS };
    } catch (e) {
      if (e instanceof KeeperError) return { type: OpCode.error, err: e.code };
      throw e;
    }
  }

  /**
   * Re-registers a reconnecting client's watches; a change it missed since relativeZxid fires at
   * once instead.
   */
  private setWatches(c: ServerCnxn, req: R.SetWatches2): void {
    const rel = req.relativeZxid;
    for (const path of req.dataWatches) {
      const n = this.tree.getNode(path);
      if (!n) c.notify(EventType.NodeDeleted, path);
      else if (n.mzxid > rel) c.notify(EventType.NodeDataChanged, path);
      else this.watches.addDataWatch(path, c);
    }
    for (const path of req.existWatches) {
      if (this.tree.getNode(path)) c.notify(EventType.NodeCreated, path);
      else this.watches.addDataWatch(path, c);
    }
    for (const path of req.childWatches) {
      const n = this.tree.getNode(path);
      if (!n) c.notify(EventType.NodeDeleted, path);
      else if (n.pzxid > rel) c.notify(EventType.NodeChildrenChanged, path);
      else this.watches.addChildWatch(path, c);
    }
    for (const path of req.persistentWatches ?? []) this.watches.addPersistentWatch(path, c, false);
    for (const path of req.persistentRecursiveWatches ?? []) this.watches.addPersistentWatch(path, c, true);
  }
}
