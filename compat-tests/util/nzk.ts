// Promise wrappers around node-zookeeper-client that turn every call into one transcript line,
// with Stat fields printed exactly, zxids relative to a base zxid, and session ids by name.

import * as zookeeper from 'node-zookeeper-client';
import { withTimeout } from './harness';

const CONNECT_TIMEOUT_MS = 15_000;
const OP_TIMEOUT_MS = 15_000;

export function longOf(buf: Buffer): bigint {
  return buf.readBigInt64BE(0);
}

export function hex(n: bigint): string {
  return `0x${n.toString(16)}`;
}

export class Ctx {
  // zxids are printed as offsets from this base.
  baseZxid = 0n;
  // Session id (hex) -> name, to print ephemeralOwner.
  sessions = new Map<string, string>();

  zxid(buf: Buffer): string {
    const z = longOf(buf);
    if (z === 0n) return '0';
    const d = z - this.baseZxid;
    return d >= 0n ? `b+${d}` : `b${d}`;
  }

  owner(buf: Buffer): string {
    const id = longOf(buf);
    if (id === 0n) return '0';
    return this.sessions.get(hex(id)) ?? '<unknown session>';
  }

  stat(s: zookeeper.Stat | null | undefined): string {
    if (!s) return 'null';
    const ctime = longOf(s.ctime);
    const mtime = longOf(s.mtime);
    const times = ctime === 0n && mtime === 0n ? 'times=0' : mtime >= ctime && ctime > 0n ? 'times=ok' : `times=bad(${ctime},${mtime})`;
    return (
      `{czxid=${this.zxid(s.czxid)} mzxid=${this.zxid(s.mzxid)} pzxid=${this.zxid(s.pzxid)} ` +
      `version=${s.version} cversion=${s.cversion} aversion=${s.aversion} ` +
      `ephemeralOwner=${this.owner(s.ephemeralOwner)} dataLength=${s.dataLength} numChildren=${s.numChildren} ${times}}`
    );
  }
}

export function errName(err: unknown): string {
  const e = err as { name?: string; code?: number; message?: string };
  if (typeof e.code === 'number') return `${e.name ?? 'ERROR'}(${e.code})`;
  return `ERROR(${e.message ?? String(err)})`;
}

export function aclText(acls: zookeeper.ACL[] | undefined): string {
  if (!acls) return 'null';
  return '[' + acls.map((a) => `${a.id.scheme}:${a.id.id}:${a.permission}`).join(', ') + ']';
}

export class Session {
  readonly client: zookeeper.Client;
  readonly events: string[] = [];
  readonly states: string[] = [];
  private constructor(
    readonly name: string,
    readonly ctx: Ctx,
    client: zookeeper.Client,
  ) {
    this.client = client;
    client.on('state', (s: zookeeper.State) => this.states.push(s.getName()));
  }

  get idHex(): string {
    return hex(longOf(this.client.getSessionId()));
  }

  static async open(
    name: string,
    ctx: Ctx,
    connectString: string,
    options: zookeeper.ClientOptions = {},
  ): Promise<Session> {
    const client = zookeeper.createClient(connectString, { sessionTimeout: 10_000, spinDelay: 100, retries: 0, ...options });
    const session = new Session(name, ctx, client);
    const connected = new Promise<void>((resolve, reject) => {
      client.once('connected', () => resolve());
      client.once('expired', () => reject(new Error(`${name}: session expired while connecting`)));
    });
    client.connect();
    try {
      await withTimeout(connected, CONNECT_TIMEOUT_MS, `${name} connecting to ${connectString}`);
    } catch (err) {
      client.close();
      throw err;
    }
    ctx.sessions.set(session.idHex, name);
    return session;
  }

  // A watcher that records its events as `name: TYPE path`.
  watcher(label: string): zookeeper.Watcher {
    return (event) => this.events.push(`${label}: ${event.getName()} ${event.getPath()}`);
  }

  private call<T>(what: string, start: (cb: (err: unknown, value?: T) => void) => void): Promise<{ err?: unknown; value?: T }> {
    return withTimeout(
      new Promise((resolve) => start((err, value) => resolve(err ? { err } : { value }))),
      OP_TIMEOUT_MS,
      `${this.name}: ${what}`,
    );
  }

  async create(path: string, data: Buffer | null, mode = 0, acls = zookeeper.ACL.OPEN_ACL_UNSAFE): Promise<string> {
    const r = await this.call<string>(`create ${path}`, (cb) =>
      this.client.create(path, data, acls, mode, (e, p) => cb(e, p)),
    );
    return `create ${path} mode=${mode} -> ${r.err ? errName(r.err) : r.value}`;
  }

  async getData(path: string, watch?: string): Promise<string> {
    const r = await this.call<[Buffer | undefined, zookeeper.Stat]>(`getData ${path}`, (cb) =>
      this.client.getData(path, watch ? this.watcher(watch) : undefined, (e, d, s) => cb(e, [d, s])),
    );
    if (r.err) return `getData ${path} -> ${errName(r.err)}`;
    const [data, stat] = r.value!;
    return `getData ${path} -> ${data === undefined || data === null ? 'null' : JSON.stringify(data.toString('utf8'))} ${this.ctx.stat(stat)}`;
  }

  async setData(path: string, data: Buffer | null, version = -1): Promise<string> {
    const r = await this.call<zookeeper.Stat>(`setData ${path}`, (cb) =>
      this.client.setData(path, data, version, (e, s) => cb(e, s)),
    );
    return `setData ${path} v=${version} -> ${r.err ? errName(r.err) : this.ctx.stat(r.value)}`;
  }

  async exists(path: string, watch?: string): Promise<string> {
    const r = await this.call<zookeeper.Stat | null>(`exists ${path}`, (cb) =>
      this.client.exists(path, watch ? this.watcher(watch) : undefined, (e, s) => cb(e, s)),
    );
    return `exists ${path} -> ${r.err ? errName(r.err) : this.ctx.stat(r.value)}`;
  }

  async remove(path: string, version = -1): Promise<string> {
    const r = await this.call<void>(`remove ${path}`, (cb) => this.client.remove(path, version, (e) => cb(e)));
    return `remove ${path} v=${version} -> ${r.err ? errName(r.err) : 'ok'}`;
  }

  async getChildren(path: string, watch?: string): Promise<string> {
    const r = await this.call<[string[], zookeeper.Stat]>(`getChildren ${path}`, (cb) =>
      this.client.getChildren(path, watch ? this.watcher(watch) : undefined, (e, c, s) => cb(e, [c, s])),
    );
    if (r.err) return `getChildren ${path} -> ${errName(r.err)}`;
    const [children, stat] = r.value!;
    return `getChildren ${path} -> [${[...children].sort().join(', ')}] ${this.ctx.stat(stat)}`;
  }

  async getACL(path: string): Promise<string> {
    const r = await this.call<[zookeeper.ACL[], zookeeper.Stat]>(`getACL ${path}`, (cb) =>
      this.client.getACL(path, (e, a, s) => cb(e, [a, s])),
    );
    if (r.err) return `getACL ${path} -> ${errName(r.err)}`;
    const [acls, stat] = r.value!;
    return `getACL ${path} -> ${aclText(acls)} ${this.ctx.stat(stat)}`;
  }

  async setACL(path: string, acls: zookeeper.ACL[], version = -1): Promise<string> {
    const r = await this.call<zookeeper.Stat>(`setACL ${path}`, (cb) =>
      this.client.setACL(path, acls, version, (e, s) => cb(e, s)),
    );
    return `setACL ${path} ${aclText(acls)} v=${version} -> ${r.err ? errName(r.err) : this.ctx.stat(r.value)}`;
  }

  async commit(label: string, build: (tx: zookeeper.Transaction) => void): Promise<string> {
    const tx = this.client.transaction();
    build(tx);
    const r = await withTimeout(
      new Promise<{ err: unknown; results: zookeeper.OpResult[] }>((resolve) =>
        tx.commit((err, results) => resolve({ err, results })),
      ),
      OP_TIMEOUT_MS,
      `${this.name}: multi ${label}`,
    );
    const results = (r.results ?? []).map((res) => {
      const parts = [`type=${res.type}`];
      if (res.err !== undefined) parts.push(`err=${res.err}`);
      if (res.path !== undefined) parts.push(`path=${res.path}`);
      if (res.stat !== undefined) parts.push(`stat=${this.ctx.stat(res.stat)}`);
      return `{${parts.join(' ')}}`;
    });
    return `multi ${label} -> ${r.err ? errName(r.err) : 'ok'} [${results.join(', ')}]`;
  }

  // A round trip on this session's connection: notifications caused by writes that completed
  // before it are delivered to this session before its reply.
  async barrier(): Promise<void> {
    await this.call<void>('barrier', (cb) => this.client.exists('/', undefined, (e) => cb(e)));
  }

  close(): void {
    this.client.close();
  }
}
