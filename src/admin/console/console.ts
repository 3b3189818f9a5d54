/**
 * The web console the AdminServer serves at "/": one static page (page.ts, app.ts) and a small JSON
 * API under /console/api/. Reads go through the same ACL checks as a client's, with the console
 * user's identities (the caller's ip, plus a digest identity after login); writes, when
 * zkts.console.editable is on, go through the server's write pipeline.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import type { Logger } from 'pino';
import { Err, ErrName, OpCode, Perms, WatcherType } from '../../protocol/constants';
import type { ACL, Id, Stat } from '../../protocol/generated/records';
import type { ServerCnxn } from '../../server/cnxn';
import type { ZooKeeperServer } from '../../server/server';
import type { WriteOp } from '../../server/prep';
import { OPEN_ACL_UNSAFE } from '../../storage/datatree';
import { join, pathInvalidReason } from '../../storage/paths';
import { ephemeralsCount, hex, nodeCount, watchCount } from '../commands';
import { ensembleRows } from '../ensemble';
import { VERSION_LINE } from '../version';
import { CONSOLE_CSS, CONSOLE_HTML } from './page';

/** Node data sent to the browser at most; the rest is cut with a note. */
export const MAX_DATA_BYTES = 64 * 1024;
/** Children per page of the tree; a page may ask for fewer. */
export const MAX_CHILDREN_PAGE = 500;
const DEFAULT_CHILDREN_PAGE = 200;
/** Rows in the sessions and watches lists, and items per row. */
const MAX_ROWS = 500;
const MAX_ITEMS_PER_ROW = 100;
/** A POST body larger than this is refused; setData's own limit is jute.maxbuffer anyway. */
const MAX_BODY_BYTES = 1024 * 1024;
/** Logged-in console users held at once; the oldest goes first. */
const MAX_LOGINS = 1000;
const LOGIN_TTL_MS = 30 * 60 * 1000;
const COOKIE = 'zkts_console';
const MAX_PATH_CHARS = 4096;
/** The console creates persistent nodes only: it has no session to own an ephemeral. */
const FLAG_PERSISTENT = 0;
const FLAG_PERSISTENT_SEQUENTIAL = 2;

interface Login {
  user: string;
  ids: Id[];
  expiresAtMs: number;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function keeperError(err: number, p: string): ApiError {
  if (err === Err.NOAUTH) return new ApiError(403, 'NOAUTH', `no permission for ${p}`);
  if (err === Err.NONODE) return new ApiError(404, 'NONODE', `no node ${p}`);
  return new ApiError(409, ErrName[err] ?? String(err), `${ErrName[err] ?? err} for ${p}`);
}

function perms(p: number): string {
  return (p & Perms.CREATE ? 'c' : '') + (p & Perms.DELETE ? 'd' : '') + (p & Perms.READ ? 'r' : '') + (p & Perms.WRITE ? 'w' : '') + (p & Perms.ADMIN ? 'a' : '');
}

function statJson(s: Stat): Record<string, string | number> {
  return {
    czxid: hex(s.czxid),
    mzxid: hex(s.mzxid),
    ctime: Number(s.ctime),
    mtime: Number(s.mtime),
    version: s.version,
    cversion: s.cversion,
    aversion: s.aversion,
    ephemeralOwner: hex(s.ephemeralOwner),
    dataLength: s.dataLength,
    numChildren: s.numChildren,
    pzxid: hex(s.pzxid),
  };
}

function cap<T>(items: Iterable<T>, max: number): { items: T[]; total: number } {
  const out: T[] = [];
  let total = 0;
  for (const x of items) {
    if (out.length < max) out.push(x);
    total++;
  }
  return { items: out, total };
}

function loadAppScript(): string {
  // tsc compiles app.ts next to this file; the source map is not served.
  const text = fs.readFileSync(path.join(__dirname, 'app.js'), 'utf8');
  return text.replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');
}

export class WebConsole {
  private readonly logins = new Map<string, Login>();
  private appScript: string | undefined;

  constructor(
    private readonly server: ZooKeeperServer,
    private readonly log: Logger,
  ) {}

  private get editable(): boolean {
    return this.server.config.consoleEditable;
  }

  /** Whether a request path is the console's: "/" and everything under /console. */
  static owns(p: string): boolean {
    return p === '/' || p === '/console' || p.startsWith('/console/');
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    this.route(req, res, url).catch((e: Error) => {
      this.log.error({ err: e.message, url: req.url }, 'console request failed');
      if (!res.headersSent) this.sendJson(res, 500, { error: 'SERVER_ERROR', message: 'server error' });
      else res.destroy();
    });
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const p = url.pathname;
    const method = req.method ?? 'GET';
    if (p === '/' || p === '/console' || p === '/console/') return this.sendStatic(res, method, 'text/html; charset=utf-8', CONSOLE_HTML);
    if (p === '/console/style.css') return this.sendStatic(res, method, 'text/css; charset=utf-8', CONSOLE_CSS);
    if (p === '/console/app.js') return this.sendStatic(res, method, 'text/javascript; charset=utf-8', (this.appScript ??= loadAppScript()));
    if (!p.startsWith('/console/api/')) return this.sendJson(res, 404, { error: 'NOT_FOUND', message: `no such page ${p}` });
    const name = p.slice('/console/api/'.length);
    try {
      if (method === 'GET') return this.sendJson(res, 200, this.get(name, url.searchParams, req));
      if (method === 'POST') {
        this.checkPostOrigin(req);
        const body = await readJsonBody(req);
        return this.sendJson(res, 200, await this.post(name, body, req, res));
      }
      throw new ApiError(405, 'METHOD', `${method} is not supported here`);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      this.sendJson(res, e.status, { error: e.code, message: e.message });
    }
  }

  // --- identities ------------------------------------------------------------------------------

  private cookieToken(req: http.IncomingMessage): string | undefined {
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === COOKIE) return part.slice(eq + 1).trim();
    }
    return undefined;
  }

  private login(req: http.IncomingMessage): Login | undefined {
    const token = this.cookieToken(req);
    if (token === undefined) return undefined;
    const l = this.logins.get(token);
    if (!l) return undefined;
    const now = Date.now();
    if (l.expiresAtMs <= now) {
      this.logins.delete(token);
      return undefined;
    }
    l.expiresAtMs = now + LOGIN_TTL_MS;
    return l;
  }

  /** What a client connection from the same address would hold, plus the console login's ids. */
  private identities(req: http.IncomingMessage): Id[] {
    const ip = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const ids: Id[] = [{ scheme: 'ip', id: ip }];
    const l = this.login(req);
    if (l) for (const id of l.ids) if (!ids.some((x) => x.scheme === id.scheme && x.id === id.id)) ids.push(id);
    return ids;
  }

  /**
   * A POST must come from the console's own page: a custom header cannot be sent cross-origin
   * without a preflight this server never grants, and an Origin, when sent, must be this host.
   */
  private checkPostOrigin(req: http.IncomingMessage): void {
    if (req.headers['x-zkts-console'] !== '1') throw new ApiError(403, 'FORBIDDEN', 'missing X-Zkts-Console header');
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== 'null') {
      let host: string;
      try {
        host = new URL(origin).host;
      } catch {
        host = '';
      }
      if (host !== req.headers.host) throw new ApiError(403, 'FORBIDDEN', 'cross-origin request refused');
    }
  }

  // --- GET -------------------------------------------------------------------------------------

  private get(name: string, q: URLSearchParams, req: http.IncomingMessage): unknown {
    switch (name) {
      case 'stats':
        return this.stats(req);
      case 'sessions':
        return this.sessionsList();
      case 'watches':
        return this.watchesList();
      case 'children':
        return this.children(req, nodePath(q.get('path')), intParam(q.get('offset'), 0), Math.min(intParam(q.get('limit'), DEFAULT_CHILDREN_PAGE), MAX_CHILDREN_PAGE));
      case 'node':
        return this.node(req, nodePath(q.get('path')));
      default:
        throw new ApiError(404, 'NOT_FOUND', `no such call ${name}`);
    }
  }

  private stats(req: http.IncomingMessage): unknown {
    const s = this.server;
    const st = s.stats;
    const l = this.login(req);
    const q = s.quorumStatus?.();
    return {
      mode: s.serverState,
      // An ensemble member: every member with its role, zxid and lag as this member knows them.
      ensemble: q
        ? { mySid: q.mySid.toString(), leaderSid: q.leaderSid?.toString() ?? null, zabState: q.zabState, members: ensembleRows(q, s.serverState, s.lastProcessedZxid) }
        : null,
      version: VERSION_LINE,
      zxid: hex(s.lastProcessedZxid),
      znodeCount: nodeCount(s),
      connections: s.cnxns.size,
      outstanding: s.outstanding,
      sessions: s.sessions.size,
      watches: watchCount(s),
      ephemerals: ephemeralsCount(s),
      packetsReceived: st.packetsReceived,
      packetsSent: st.packetsSent,
      requests: st.latencyCount,
      totalLatencyMs: st.totalLatencyMs,
      minLatencyMs: st.latencyCount ? st.minLatencyMs : 0,
      maxLatencyMs: st.maxLatencyMs,
      uptimeMs: Date.now() - st.startedAtMs,
      nowMs: Date.now(),
      editable: this.editable,
      user: l ? l.user : null,
      // Why the server cannot take writes now (a failed or stalled disk), or null.
      storageError: s.storageProblem?.message ?? null,
    };
  }

  private cnxnsBySession(): Map<bigint, ServerCnxn> {
    const out = new Map<bigint, ServerCnxn>();
    for (const c of this.server.cnxns) if (c.session) out.set(c.session.id, c);
    return out;
  }

  private sessionsList(): unknown {
    const s = this.server;
    const now = Date.now();
    const cnxns = this.cnxnsBySession();
    const watched = this.watchesBySession();
    const rows = cap(s.sessions.all(), MAX_ROWS);
    return {
      total: rows.total,
      sessions: rows.items.map((sess) => {
        const c = cnxns.get(sess.id);
        const eph = cap(s.tree.ephemeralsListed(sess.id).sort(), MAX_ITEMS_PER_ROW);
        const w = watched.get(sess.id) ?? [];
        return {
          id: hex(sess.id),
          timeoutMs: sess.timeoutMs,
          expiresInMs: sess.expiresAtMs > 0 ? Math.max(0, sess.expiresAtMs - now) : null,
          closing: sess.closing,
          remote: c ? `${c.remoteIp}:${c.remotePort}` : null,
          lastOp: c ? c.lastOp : null,
          ephemerals: eph.items,
          ephemeralsTotal: eph.total,
          watches: w.length,
        };
      }),
    };
  }

  /** How a watcher watches a path, in ZooKeeper's terms. */
  private watchKinds(p: string, c: ServerCnxn): string[] {
    const w = this.server.watches;
    const kinds: string[] = [];
    const persistent = w.contains(p, WatcherType.Persistent, c);
    const recursive = w.contains(p, WatcherType.PersistentRecursive, c);
    if (persistent) kinds.push('persistent');
    if (recursive) kinds.push('persistent-recursive');
    // Persistent watches also answer for data and child watches; a one-shot one beside them is not told apart.
    if (!persistent && !recursive) {
      if (w.contains(p, WatcherType.Data, c)) kinds.push('data');
      if (w.contains(p, WatcherType.Children, c)) kinds.push('child');
    }
    return kinds;
  }

  private watchesBySession(): Map<bigint, { path: string; kinds: string[] }[]> {
    const out = new Map<bigint, { path: string; kinds: string[] }[]>();
    for (const [p, set] of this.server.watches.byPath())
      for (const w of set) {
        const c = w as ServerCnxn;
        const sid = c.sessionId ?? 0n;
        let list = out.get(sid);
        if (!list) out.set(sid, (list = []));
        list.push({ path: p, kinds: this.watchKinds(p, c) });
      }
    return out;
  }

  private watchesList(): unknown {
    const byPath = [...this.server.watches.byPath()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const paths = cap(byPath, MAX_ROWS);
    const sessions = cap(this.watchesBySession(), MAX_ROWS);
    return {
      totalPaths: paths.total,
      totalSessions: sessions.total,
      byPath: paths.items.map(([p, set]) => {
        const ws = cap(set, MAX_ITEMS_PER_ROW);
        return {
          path: p,
          total: ws.total,
          watchers: ws.items.map((w) => ({ session: hex((w as ServerCnxn).sessionId ?? 0n), kinds: this.watchKinds(p, w as ServerCnxn) })),
        };
      }),
      bySession: sessions.items.map(([sid, list]) => {
        const ps = cap(list.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)), MAX_ITEMS_PER_ROW);
        return { session: hex(sid), total: ps.total, paths: ps.items };
      }),
    };
  }

  private children(req: http.IncomingMessage, p: string, offset: number, limit: number): unknown {
    const tree = this.server.tree;
    const n = tree.getNode(p);
    if (!n) throw keeperError(Err.NONODE, p);
    if (!this.server.auth.hasPermission(n.acl, Perms.READ, this.identities(req))) throw keeperError(Err.NOAUTH, p);
    const names = [...n.children].sort();
    const page = names.slice(offset, offset + Math.max(1, limit));
    return {
      path: p,
      total: names.length,
      offset,
      children: page.map((name) => {
        const child = tree.getNode(join(p, name));
        return { name, numChildren: child ? child.children.size : 0, ephemeral: child ? child.ephemeralOwner !== 0n : false };
      }),
    };
  }

  private node(req: http.IncomingMessage, p: string): unknown {
    const s = this.server;
    const n = s.tree.getNode(p);
    // Like exists: the Stat of a node needs no permission.
    if (!n) throw keeperError(Err.NONODE, p);
    const ids = this.identities(req);
    const stat = s.tree.statOf(n);
    let data: unknown;
    if (s.auth.hasPermission(n.acl, Perms.READ, ids)) {
      const bytes = n.data ?? Buffer.alloc(0);
      const shown = bytes.subarray(0, MAX_DATA_BYTES);
      data = { allowed: true, isNull: n.data === null, base64: shown.toString('base64'), length: bytes.length, truncated: shown.length < bytes.length, limit: MAX_DATA_BYTES };
    } else data = { allowed: false };
    let acl: unknown;
    if (s.auth.hasPermission(n.acl, Perms.READ | Perms.ADMIN, ids)) {
      // Without ADMIN, digest hashes are masked, as getACL does (CVE-2019-0201).
      const admin = s.auth.hasPermission(n.acl, Perms.ADMIN, ids);
      acl = {
        allowed: true,
        masked: !admin && n.acl.some((a) => a.id.scheme === 'digest'),
        entries: n.acl.map((a: ACL) => ({
          perms: perms(a.perms),
          scheme: a.id.scheme,
          id: !admin && a.id.scheme === 'digest' ? a.id.id.replace(/:.*/s, ':x') : a.id.id,
        })),
      };
    } else acl = { allowed: false };
    return { path: p, stat: statJson(stat), data, acl, editable: this.editable };
  }

  // --- POST ------------------------------------------------------------------------------------

  private async post(name: string, body: Record<string, unknown>, req: http.IncomingMessage, res: http.ServerResponse): Promise<unknown> {
    switch (name) {
      case 'login':
        return this.doLogin(body, res);
      case 'logout': {
        const token = this.cookieToken(req);
        if (token !== undefined) this.logins.delete(token);
        res.setHeader('Set-Cookie', `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
        return { user: null };
      }
      case 'create':
      case 'set':
      case 'delete':
        return this.write(name, body, req);
      default:
        throw new ApiError(404, 'NOT_FOUND', `no such call ${name}`);
    }
  }

  /** The digest identity `addauth digest user:password` gives, held server-side behind a random token. */
  private doLogin(body: Record<string, unknown>, res: http.ServerResponse): unknown {
    const user = typeof body.user === 'string' ? body.user : '';
    const password = typeof body.password === 'string' ? body.password : '';
    if (user === '' || user.includes(':')) throw new ApiError(400, 'BAD_REQUEST', 'a user name without ":" is needed');
    const ids = this.server.auth.authenticate('digest', Buffer.from(`${user}:${password}`, 'utf8'), '');
    if (!ids) throw new ApiError(401, 'AUTHFAILED', 'authentication failed');
    const now = Date.now();
    for (const [t, l] of this.logins) if (l.expiresAtMs <= now) this.logins.delete(t);
    while (this.logins.size >= MAX_LOGINS) this.logins.delete(this.logins.keys().next().value!);
    const token = crypto.randomBytes(32).toString('base64url');
    this.logins.set(token, { user, ids, expiresAtMs: now + LOGIN_TTL_MS });
    res.setHeader('Set-Cookie', `${COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${LOGIN_TTL_MS / 1000}`);
    return { user };
  }

  private async write(name: 'create' | 'set' | 'delete', body: Record<string, unknown>, req: http.IncomingMessage): Promise<unknown> {
    if (!this.editable) throw new ApiError(403, 'READ_ONLY', 'editing is disabled (zkts.console.editable=false)');
    const p = nodePath(typeof body.path === 'string' ? body.path : null);
    const version = body.version === undefined ? -1 : Number(body.version);
    if (!Number.isInteger(version) || version < -1 || version > 0x7fffffff) throw new ApiError(400, 'BAD_REQUEST', 'bad version');
    let op: WriteOp;
    if (name === 'delete') op = { type: OpCode.delete, record: { path: p, version } };
    else {
      const data = decodeData(body.data, body.encoding);
      // A create goes as create2: its result carries the new node's Stat.
      if (name === 'set') op = { type: OpCode.setData, record: { path: p, data, version } };
      else op = { type: OpCode.create2, record: { path: p, data, acl: OPEN_ACL_UNSAFE, flags: body.sequential === true ? FLAG_PERSISTENT_SEQUENTIAL : FLAG_PERSISTENT } };
    }
    let r;
    try {
      r = await this.server.submitInternalWrite(op, this.identities(req));
    } catch (e) {
      throw new ApiError(503, 'STORAGE', `write refused: ${(e as Error).message}`);
    }
    if (r.err !== Err.OK) throw keeperError(r.err, p);
    return { ok: true, zxid: hex(r.zxid), path: r.path ?? p, stat: r.stat ? statJson(r.stat) : null };
  }

  // --- replies ---------------------------------------------------------------------------------

  private sendStatic(res: http.ServerResponse, method: string, type: string, text: string): void {
    if (method !== 'GET' && method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Length': 0 });
      res.end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': type,
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      'Referrer-Policy': 'no-referrer',
    });
    res.end(method === 'HEAD' ? undefined : text);
  }

  private sendJson(res: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(text);
  }
}

function intParam(v: string | null, def: number): number {
  if (v === null || !/^\d{1,9}$/.test(v)) return def;
  return Number(v);
}

function nodePath(v: string | null): string {
  if (v === null || v === '') return '/';
  if (v.length > MAX_PATH_CHARS) throw new ApiError(400, 'BAD_REQUEST', 'path too long');
  const why = pathInvalidReason(v);
  if (why !== undefined) throw new ApiError(400, 'BAD_REQUEST', `invalid path ${JSON.stringify(v)}: ${why}`);
  return v;
}

function decodeData(data: unknown, encoding: unknown): Buffer | null {
  if (data === null || data === undefined) return null;
  if (typeof data !== 'string') throw new ApiError(400, 'BAD_REQUEST', 'data must be a string');
  if (encoding === 'hex') {
    const clean = data.replace(/\s+/g, '');
    if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new ApiError(400, 'BAD_REQUEST', 'data is not hex');
    return Buffer.from(clean, 'hex');
  }
  if (encoding === 'base64') return Buffer.from(data, 'base64');
  return Buffer.from(data, 'utf8');
}

function readJsonBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('application/json')) {
      req.resume();
      reject(new ApiError(415, 'BAD_REQUEST', 'application/json expected'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ApiError(413, 'TOO_LARGE', `request body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(d);
    });
    req.on('error', reject);
    req.on('end', () => {
      try {
        const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
        resolve(v as Record<string, unknown>);
      } catch {
        reject(new ApiError(400, 'BAD_REQUEST', 'the body is not a JSON object'));
      }
    });
  });
}
