/**
 * The HTTP servers zkts runs beside the client port (AdminServer, /metrics): bounded connections,
 * header size and idle time, and a start that fails with the listen error.
 */
import * as http from 'node:http';

export interface HttpLimits {
  maxHeaderBytes: number;
  maxConnections: number;
  idleTimeoutMs: number;
}

/** Creates and starts a server; rejects with the listen error (port taken, bad address). */
export async function listenHttp(
  host: string,
  port: number,
  limits: HttpLimits,
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<http.Server> {
  const srv = http.createServer({ maxHeaderSize: limits.maxHeaderBytes }, handle);
  srv.maxConnections = limits.maxConnections;
  srv.keepAliveTimeout = limits.idleTimeoutMs;
  srv.setTimeout(limits.idleTimeoutMs);
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
export function closeHttp(srv: http.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    srv.close(() => resolve());
    srv.closeAllConnections();
  });
}
