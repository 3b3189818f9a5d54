// A thin layer over the raw test client for the dataDir round trips: writes that must succeed (or
// fail with a given code), multi with decoded results, and a full listing of the tree (every node's
// Stat, data, ACL and children) as comparable text lines.

import { createHash } from 'node:crypto';
import { Err, ErrName, OpCode, Xid } from '../../src/protocol/constants';
import type { JuteReader, JuteWriter } from '../../src/protocol/jute';
import * as R from '../../src/protocol/generated/records';
import { OPEN_ACL, ZkClient, type ConnectOptions, type Reply } from '../../test/util/client';
import type { RunningServer } from '../../test/util/servers';

export const SUPER_AUTH = 'super:datadir-compat';
export const ALICE_AUTH = 'alice:secret';

/** `user:base64(sha1(user:password))`, as ZooKeeper's digest provider stores an id. */
export function digestId(userColonPassword: string): string {
  const user = userColonPassword.slice(0, userColonPassword.indexOf(':'));
  return `${user}:${createHash('sha1').update(userColonPassword, 'utf8').digest('base64')}`;
}

export type MultiOp =
  | { op: 'create'; path: string; data: Buffer | null; flags?: number; acl?: R.ACL[] }
  | { op: 'create2'; path: string; data: Buffer | null; flags?: number; acl?: R.ACL[] }
  | { op: 'createContainer'; path: string; data: Buffer | null; acl?: R.ACL[] }
  | { op: 'createTTL'; path: string; data: Buffer | null; ttl: bigint; flags?: number; acl?: R.ACL[] }
  | { op: 'delete'; path: string; version?: number }
  | { op: 'setData'; path: string; data: Buffer | null; version?: number }
  | { op: 'check'; path: string; version: number };

export interface MultiResult {
  type: number;
  err: number;
  path?: string;
}

function errName(code: number): string {
  return `${ErrName[code] ?? 'error'} (${code})`;
}

function writeMultiOp(w: JuteWriter, o: MultiOp): void {
  const header = (type: number) => R.encodeMultiHeader(w, { type, done: false, err: -1 });
  switch (o.op) {
    case 'create':
    case 'create2':
      header(o.op === 'create' ? OpCode.create : OpCode.create2);
      R.encodeCreateRequest(w, { path: o.path, data: o.data, acl: o.acl ?? OPEN_ACL, flags: o.flags ?? 0 });
      break;
    case 'createContainer':
      header(OpCode.createContainer);
      R.encodeCreateRequest(w, { path: o.path, data: o.data, acl: o.acl ?? OPEN_ACL, flags: 4 });
      break;
    case 'createTTL':
      header(OpCode.createTTL);
      R.encodeCreateTTLRequest(w, { path: o.path, data: o.data, acl: o.acl ?? OPEN_ACL, flags: o.flags ?? 5, ttl: o.ttl });
      break;
    case 'delete':
      header(OpCode.delete);
      R.encodeDeleteRequest(w, { path: o.path, version: o.version ?? -1 });
      break;
    case 'setData':
      header(OpCode.setData);
      R.encodeSetDataRequest(w, { path: o.path, data: o.data, version: o.version ?? -1 });
      break;
    case 'check':
      header(OpCode.check);
      R.encodeCheckVersionRequest(w, { path: o.path, version: o.version });
      break;
  }
}

function readMultiResults(r: JuteReader): MultiResult[] {
  const out: MultiResult[] = [];
  for (;;) {
    const h = R.decodeMultiHeader(r);
    if (h.done) return out;
    switch (h.type) {
      case OpCode.error:
        out.push({ type: h.type, err: r.readInt() });
        break;
      case OpCode.create:
        out.push({ type: h.type, err: 0, path: r.readString() });
        break;
      case OpCode.create2:
      case OpCode.createContainer:
      case OpCode.createTTL: {
        const path = r.readString();
        R.decodeStat(r);
        out.push({ type: h.type, err: 0, path });
        break;
      }
      case OpCode.setData:
        R.decodeStat(r);
        out.push({ type: h.type, err: 0 });
        break;
      case OpCode.delete:
      case OpCode.check:
        out.push({ type: h.type, err: 0 });
        break;
      default:
        throw new Error(`multi result of unexpected type ${h.type}`);
    }
  }
}

/** One session on one server; every call checks the error code it gets. */
export class Zk {
  private constructor(
    readonly client: ZkClient,
    readonly where: string,
  ) {}

  static async connect(server: RunningServer, opts: ConnectOptions = {}): Promise<Zk> {
    const c = await ZkClient.connect(server.host, server.port, { timeoutMs: 30_000, ...opts });
    return new Zk(c, server.connectString);
  }

  get sessionId(): bigint {
    return this.client.sessionId;
  }
  get passwd(): Buffer {
    return this.client.passwd;
  }
  /** The negotiated timeout; 0 when the server refused the session. */
  get timeout(): number {
    return this.client.connectResponse.timeOut;
  }

  private check(r: Reply, what: string, expected: number = Err.OK): Reply {
    if (r.header.err !== expected) throw new Error(`${this.where} ${what}: ${errName(r.header.err)}, expected ${errName(expected)}`);
    return r;
  }

  async auth(userColonPassword: string): Promise<void> {
    const r = await this.client.request(
      OpCode.auth,
      (w) => R.encodeAuthPacket(w, { type: 0, scheme: 'digest', auth: Buffer.from(userColonPassword, 'utf8') }),
      { xid: Xid.auth },
    );
    this.check(r, `addauth digest ${userColonPassword.split(':')[0]}`);
  }

  /** create (or create2 with `two`); returns the created path. */
  async create(path: string, data: Buffer | null, flags = 0, acl: R.ACL[] = OPEN_ACL, two = false): Promise<string> {
    const r = this.check(await (two ? this.client.create2(path, data, flags, acl) : this.client.create(path, data, flags, acl)), `create ${path}`);
    return two ? R.decodeCreate2Response(r.reader).path : R.decodeCreateResponse(r.reader).path;
  }

  async createContainer(path: string, data: Buffer | null, acl: R.ACL[] = OPEN_ACL): Promise<void> {
    const r = await this.client.request(OpCode.createContainer, (w) => R.encodeCreateRequest(w, { path, data, acl, flags: 4 }));
    this.check(r, `createContainer ${path}`);
  }

  async createTTL(path: string, data: Buffer | null, ttl: bigint, flags = 5, acl: R.ACL[] = OPEN_ACL): Promise<string> {
    const r = await this.client.request(OpCode.createTTL, (w) => R.encodeCreateTTLRequest(w, { path, data, acl, flags, ttl }));
    return R.decodeCreate2Response(this.check(r, `createTTL ${path}`).reader).path;
  }

  /** A create that must fail with `code` (an error txn that still takes a zxid). */
  async createFails(path: string, code: number): Promise<void> {
    this.check(await this.client.create(path, null), `create ${path}`, code);
  }

  async setData(path: string, data: Buffer | null, version = -1): Promise<R.Stat> {
    const r = this.check(await this.client.setData(path, data, version), `setData ${path}`);
    return R.decodeSetDataResponse(r.reader).stat;
  }

  async setDataFails(path: string, data: Buffer | null, version: number, code: number): Promise<void> {
    this.check(await this.client.setData(path, data, version), `setData ${path}`, code);
  }

  async delete(path: string, version = -1): Promise<void> {
    this.check(await this.client.delete(path, version), `delete ${path}`);
  }

  async setACL(path: string, acl: R.ACL[], version = -1): Promise<void> {
    const r = await this.client.request(OpCode.setACL, (w) => R.encodeSetACLRequest(w, { path, acl, version }));
    this.check(r, `setACL ${path}`);
  }

  async exists(path: string): Promise<boolean> {
    const r = await this.client.exists(path);
    if (r.header.err === Err.NONODE) return false;
    this.check(r, `exists ${path}`);
    return true;
  }

  /** Sends a multi; the ReplyHeader error is 0 even when an op failed, so the results are returned. */
  async multi(ops: MultiOp[]): Promise<MultiResult[]> {
    const r = await this.client.request(OpCode.multi, (w) => {
      for (const o of ops) writeMultiOp(w, o);
      R.encodeMultiHeader(w, { type: -1, done: true, err: -1 });
    });
    this.check(r, 'multi');
    return readMultiResults(r.reader);
  }

  /** The zxid the server is at (a ping's reply header). */
  async zxid(): Promise<bigint> {
    return (await this.client.ping()).header.zxid;
  }

  /** closeSession; returns the zxid of the closeSession txn. */
  async close(): Promise<bigint> {
    const r = await this.client.close();
    if (!r) throw new Error(`${this.where}: no reply to closeSession`);
    this.check(r, 'closeSession');
    return r.header.zxid;
  }

  /** Drops the connection without closing the session. */
  drop(): void {
    this.client.destroy();
  }

  private async read<T>(type: number, path: string, body: (w: JuteWriter) => void, decode: (r: JuteReader) => T): Promise<T> {
    const r = this.check(await this.client.request(type, body), `${type} ${path}`);
    return decode(r.reader);
  }

  /** Every node reachable from / (ZooKeeper's own nodes included), one line per node, by path. */
  async listing(): Promise<string[]> {
    const lines = new Map<string, string>();
    const stack = ['/'];
    while (stack.length > 0) {
      const p = stack.pop()!;
      const d = await this.read(OpCode.getData, p, (w) => R.encodeGetDataRequest(w, { path: p, watch: false }), R.decodeGetDataResponse);
      const a = await this.read(OpCode.getACL, p, (w) => R.encodeGetACLRequest(w, { path: p }), R.decodeGetACLResponse);
      const ch = await this.read(OpCode.getChildren, p, (w) => R.encodeGetChildrenRequest(w, { path: p, watch: false }), R.decodeGetChildrenResponse);
      const children = [...ch.children].sort();
      for (const k of children) stack.push(p === '/' ? `/${k}` : `${p}/${k}`);
      lines.set(p, nodeLine(p, d.stat, d.data, a.acl, a.stat, children));
    }
    return [...lines.keys()].sort().map((p) => lines.get(p)!);
  }
}

const hex = (v: bigint): string => (v < 0n ? '-0x' + (-v).toString(16) : '0x' + v.toString(16));

export function statText(s: R.Stat): string {
  return (
    `czxid=${hex(s.czxid)} mzxid=${hex(s.mzxid)} ctime=${s.ctime} mtime=${s.mtime} version=${s.version} ` +
    `cversion=${s.cversion} aversion=${s.aversion} ephemeralOwner=${hex(BigInt.asUintN(64, s.ephemeralOwner))} ` +
    `dataLength=${s.dataLength} numChildren=${s.numChildren} pzxid=${hex(s.pzxid)}`
  );
}

function nodeLine(p: string, stat: R.Stat, data: Buffer | null, acl: R.ACL[], aclStat: R.Stat, children: string[]): string {
  const aclText = acl.map((x) => `${x.perms}:${x.id.scheme}:${x.id.id}`).join(',');
  // getACL answers with the Stat too; it must be the one getData gave.
  const statMismatch = statText(aclStat) === statText(stat) ? '' : ` | getACL stat differs: ${statText(aclStat)}`;
  return `${p} | ${statText(stat)} | data=${data === null ? 'null' : data.toString('hex')} | acl=${aclText} | children=${children.join(',')}${statMismatch}`;
}

/** The lines of `listing` for one path. */
export function lineOf(listing: string[], p: string): string | undefined {
  return listing.find((l) => l.startsWith(`${p} | `));
}
