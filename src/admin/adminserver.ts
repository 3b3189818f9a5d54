/**
 * ZooKeeper's AdminServer over HTTP: `GET <commandURL>` lists the commands, `GET <commandURL>/<name>`
 * runs one (any alias) and answers JSON with "command" and "error" keys. Settings:
 * admin.enableServer, admin.serverAddress, admin.serverPort, admin.commandURL, admin.idleTimeout.
 * Outside the command URL, "/" and "/console/*" are the web console (zkts.console.enabled).
 */
import type * as http from 'node:http';
import type * as net from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import * as tls from 'node:tls';
import type { Logger } from 'pino';
import { Perms } from '../protocol/constants';
import type { Id } from '../protocol/generated/records';
import type { ZooKeeperServer } from '../server/server';
import { chainTrusted, peerChain } from '../tls/chaintrust';
import { subjectRfc2253 } from '../tls/x509name';
import { commandResponse, findCommand, primaryNames, type CommandResult } from './commands';
import { WebConsole } from './console/console';
import { toJackson, type Data } from './json';
import { closeHttp, listenHttp } from './httpserver';

/** Concurrent HTTP connections; an admin surface needs few, and a flood must not starve clients. */
const MAX_ADMIN_CONNECTIONS = 64;
/** Request headers larger than this are refused (Node answers 431). */
const MAX_HEADER_BYTES = 16 * 1024;

/**
 * The largest POST body taken (a restore's snapshot, held in memory to be decoded): a bigger one
 * fails the command without being read further.
 */
const MAX_POST_BYTES = 1024 * 1024 * 1024;

/** A request's body, refused once it passes `maxBytes`. */
function readBody(req: http.IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        req.destroy();
        reject(new Error(`the request body passes ${maxBytes} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

export class AdminServerError extends Error {
  constructor(message: string, override readonly cause?: Error) {
    super(message);
    this.name = 'AdminServerError';
  }
}

export class AdminServer {
  private http: http.Server | Server | undefined;
  private readonly webConsole: WebConsole | undefined;

  constructor(
    private readonly server: ZooKeeperServer,
    private readonly log: Logger,
  ) {
    if (server.config.consoleEnabled) this.webConsole = new WebConsole(server, log);
  }

  private get config() {
    return this.server.config;
  }

  /** Fails as ZooKeeper does when the port is taken: an error naming address, port and URL. */
  async start(): Promise<void> {
    const { adminServerAddress: host, adminServerPort: port, adminCommandURL: url, adminIdleTimeoutMs } = this.config;
    let srv: http.Server | Server;
    try {
      const limits = { maxHeaderBytes: MAX_HEADER_BYTES, maxConnections: MAX_ADMIN_CONNECTIONS, idleTimeoutMs: adminIdleTimeoutMs };
      const t = this.config.adminTls;
      const secure = t && {
        mode: t.mode,
        context: t.tls.contextOptions,
        requestCert: t.needClientAuth,
        onInsecure: () => this.server.metrics.insecureAdminConnections++,
      };
      srv = await listenHttp(host, port, limits, (req, res) => this.handle(req, res), secure);
    } catch (e) {
      throw new AdminServerError(`Problem starting AdminServer on address ${host}, port ${port} and command URL ${url}: ${(e as Error).message}`, e as Error);
    }
    srv.on('error', (err) => this.log.error({ err: err.message }, 'AdminServer error'));
    this.http = srv;
    this.log.info({ address: host, port: this.address().port, url }, 'Started AdminServer');
  }

  address(): AddressInfo {
    return this.http!.address() as AddressInfo;
  }

  async stop(): Promise<void> {
    const srv = this.http;
    if (!srv) return;
    this.http = undefined;
    await closeHttp(srv);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    // ZooKeeper's Jetty answers every HTTPS request with HSTS.
    if ((req.socket as { encrypted?: boolean }).encrypted) res.setHeader('Strict-Transport-Security', 'max-age=86400; includeSubDomains');
    try {
      this.route(req, res);
    } catch (e) {
      this.log.error({ err: (e as Error).message, url: req.url }, 'admin command failed');
      if (!res.headersSent) this.sendError(res, 500, 'Server Error', req.url ?? '');
      else res.destroy();
    }
  }

  private route(req: http.IncomingMessage, res: http.ServerResponse): void {
    const base = this.config.adminCommandURL;
    const url = new URL(req.url ?? '/', 'http://admin');
    const p = url.pathname;
    const method = req.method ?? 'GET';
    if (p !== base && !p.startsWith(base + '/')) {
      if (this.webConsole && WebConsole.owns(p)) return this.webConsole.handle(req, res, url);
      return this.sendError(res, 404, 'Not Found', p);
    }
    if (method !== 'GET' && method !== 'POST') return this.sendError(res, 405, `HTTP method ${method} is not supported by this URL`, p);
    const rest = p.slice(base.length);
    if (rest === '' || rest === '/') return this.sendLinks(res);
    let name: string;
    try {
      name = decodeURIComponent(rest.slice(1));
    } catch {
      name = rest.slice(1);
    }
    const cmd = findCommand(name);
    if (!cmd) return this.sendJson(res, 200, commandResponse(name, {}, `Unknown command: ${name}`));
    if (cmd.authRequired) {
      const denied = this.authenticate(req);
      if (denied) return this.sendJson(res, denied.status, commandResponse(name, {}, denied.error));
    }
    if ((method === 'POST') !== (cmd.post === true)) return this.sendError(res, 405, `HTTP method ${method} is not supported by this URL`, p);
    const args: Record<string, string> = {};
    for (const [k, v] of url.searchParams) if (!(k in args)) args[k] = v;
    const result: CommandResult = cmd.run(this.server.fourLetterWords.context, args);
    if (cmd.runPost && result.status === 200) {
      const done = (r: CommandResult) => this.sendJson(res, r.status, commandResponse(cmd.names[0], r.data, r.error ?? null), r.headers);
      cmd
        .runPost(this.server.fourLetterWords.context, () => readBody(req, MAX_POST_BYTES))
        .then(done)
        .catch((e) => {
          this.log.error({ err: (e as Error).message }, 'admin command failed');
          if (!res.headersSent) this.sendError(res, 500, 'Server Error', p);
        });
      return;
    }
    if (result.stream) {
      this.sendStream(res, cmd.names[0], result, result.stream).catch((e) => {
        this.log.error({ err: (e as Error).message }, 'admin command failed');
        res.destroy();
      });
      return;
    }
    this.sendJson(res, result.status, commandResponse(cmd.names[0], result.data, result.error ?? null), result.headers);
  }

  /** ZooKeeper's StreamOutputter (or, without a body to send, the JSON with the same headers). */
  private async sendStream(res: http.ServerResponse, name: string, result: CommandResult, stream: NonNullable<CommandResult['stream']>): Promise<void> {
    let chunks: Buffer[];
    try {
      chunks = await stream.chunks;
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'snapshot over the AdminServer failed');
      return this.sendJson(res, 500, commandResponse(name, {}), result.headers);
    }
    let size = 0;
    for (const c of chunks) size += c.length;
    const headers = { ...result.headers, snapshot_size: String(size) };
    if (!stream.send) return this.sendJson(res, result.status, commandResponse(name, result.data), headers);
    res.writeHead(result.status, { ...headers, 'Content-Type': 'application/octet-stream', 'Content-Length': size });
    for (const c of chunks) res.write(c);
    res.end();
  }

  /**
   * ZooKeeper 3.9's check for snapshot and restore: an `Authorization: <scheme> <auth>` header whose
   * identities hold ALL on "/". Undefined when the request may go on.
   */
  private authenticate(req: http.IncomingMessage): { status: number; error: string } | undefined {
    const header = req.headers.authorization;
    if (header === undefined) return { status: 401, error: 'Auth info is missing for the command' };
    const parts = header.split(' ');
    if (parts.length !== 1 && parts.length !== 2) return { status: 401, error: 'Not authenticated' };
    const ip = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const ids =
      parts[0] === 'x509' && this.server.auth.provider('x509')
        ? this.x509Ids(req.socket)
        : this.server.auth.authenticate(parts[0], parts.length === 2 ? Buffer.from(parts[1], 'utf8') : null, ip);
    if (!ids || ids.length === 0) return { status: 401, error: 'Not authenticated' };
    const root = this.server.tree.getNode('/');
    if (!root || !this.server.auth.hasPermission(root.acl, Perms.ALL, ids)) return { status: 403, error: 'Not authorized' };
    return undefined;
  }

  /**
   * 3.9's x509 provider on an HTTPS request: the certificate the client showed in the handshake
   * (asked for only with admin.needClientAuth), trusted by the client port's trust store, as the
   * x509 id, and as super when it is X509AuthenticationProvider.superUser.
   */
  private x509Ids(socket: net.Socket): Id[] | undefined {
    const trustCa = this.config.adminTls?.x509TrustCa;
    if (!(socket instanceof tls.TLSSocket) || !trustCa) return undefined;
    const chain = peerChain(socket.getPeerCertificate(true));
    if (chain.length === 0 || !chainTrusted(chain, trustCa)) return undefined;
    let subject: string;
    try {
      subject = subjectRfc2253(chain[0].raw);
    } catch {
      return undefined;
    }
    const ids: Id[] = [{ scheme: 'x509', id: subject }];
    if (subject === this.config.x509SuperUser) ids.unshift({ scheme: 'super', id: subject });
    return ids;
  }

  private sendJson(res: http.ServerResponse, status: number, body: Data, headers: Record<string, string> = {}): void {
    const text = toJackson(body);
    res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private sendLinks(res: http.ServerResponse): void {
    const base = this.config.adminCommandURL;
    const text = primaryNames()
      .map((n) => `<a href="${base}/${n}">${n}</a>\n<br/>\n`)
      .join('');
    res.writeHead(200, { 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private sendError(res: http.ServerResponse, status: number, message: string, uri: string): void {
    const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    const text =
      `<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n<title>Error ${status} ${esc(message)}</title>\n</head>\n` +
      `<body><h2>HTTP ERROR ${status} ${esc(message)}</h2>\n<table>\n<tr><th>URI:</th><td>${esc(uri)}</td></tr>\n` +
      `<tr><th>STATUS:</th><td>${status}</td></tr>\n<tr><th>MESSAGE:</th><td>${esc(message)}</td></tr>\n</table>\n</body>\n</html>\n`;
    res.writeHead(status, { 'Content-Type': 'text/html;charset=utf-8', 'Cache-Control': 'must-revalidate,no-cache,no-store', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }
}

