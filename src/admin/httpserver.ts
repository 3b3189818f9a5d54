/**
 * The HTTP servers zkts runs beside the client port (AdminServer, /metrics): bounded connections,
 * header size and idle time, and a start that fails with the listen error. The AdminServer may
 * speak HTTPS only, or HTTPS and HTTP on one port told apart by the first byte (0x16, a TLS
 * handshake record), as ZooKeeper's JettyAdminServer does with admin.portUnification.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type * as tls from 'node:tls';

export interface HttpsOptions {
  mode: 'https' | 'unified';
  context: tls.SecureContextOptions;
  requestCert: boolean;
  /** Called for each plaintext connection on a unified port (insecure_admin_count). */
  onInsecure(): void;
}

/** A unified port closes a connection that sends nothing for this long before its first byte. */
const DETECT_TIMEOUT_MS = 30_000;

/** A unified port's HTTP and HTTPS servers, which hold its connections once told apart. */
const innerServers = new WeakMap<net.Server, http.Server[]>();

export interface HttpLimits {
  maxHeaderBytes: number;
  maxConnections: number;
  idleTimeoutMs: number;
}

/** Creates and starts a server; rejects with the listen error (port taken, bad address). */
export async function listenHttp(host: string, port: number, limits: HttpLimits, handle: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<http.Server>;
export async function listenHttp(
  host: string,
  port: number,
  limits: HttpLimits,
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  secure: HttpsOptions | undefined,
): Promise<http.Server | net.Server>;
export async function listenHttp(
  host: string,
  port: number,
  limits: HttpLimits,
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  secure?: HttpsOptions,
): Promise<http.Server | net.Server> {
  const bounded = <S extends http.Server>(s: S): S => {
    s.maxConnections = limits.maxConnections;
    s.keepAliveTimeout = limits.idleTimeoutMs;
    s.setTimeout(limits.idleTimeoutMs);
    return s;
  };
  const httpsServer = (): https.Server =>
    bounded(https.createServer({ ...secure!.context, requestCert: secure!.requestCert, rejectUnauthorized: secure!.requestCert, maxHeaderSize: limits.maxHeaderBytes }, handle));
  let srv: http.Server | net.Server;
  if (!secure) srv = bounded(http.createServer({ maxHeaderSize: limits.maxHeaderBytes }, handle));
  else if (secure.mode === 'https') {
    const only = httpsServer();
    innerServers.set(only, [only]);
    srv = only;
  }
  else {
    const plain = bounded(http.createServer({ maxHeaderSize: limits.maxHeaderBytes }, handle));
    const tlsSrv = httpsServer();
    const unified = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.setTimeout(DETECT_TIMEOUT_MS, () => socket.destroy());
      socket.once('data', (first: Buffer) => {
        socket.setTimeout(0);
        socket.pause();
        socket.unshift(first);
        // The TLS server takes over the socket (and the byte put back); only a plain one is resumed.
        if (first[0] === 0x16) tlsSrv.emit('connection', socket);
        else {
          secure.onInsecure();
          plain.emit('connection', socket);
          socket.resume();
        }
      });
    });
    unified.maxConnections = limits.maxConnections;
    innerServers.set(unified, [plain, tlsSrv]);
    srv = unified;
  }
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen({ host, port }, () => {
      srv.off('error', reject);
      resolve();
    });
  });
  return srv;
}

/** Stops accepting and closes every open connection. */
export function closeHttp(srv: http.Server | net.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    srv.close(() => resolve());
    for (const inner of innerServers.get(srv) ?? (srv instanceof http.Server ? [srv] : [])) inner.closeAllConnections();
  });
}
