/**
 * The HTTP endpoint of the Prometheus metrics provider: `GET /metrics` on metricsProvider.httpHost
 * and metricsProvider.httpPort (0.0.0.0:7000 by default), as ZooKeeper's PrometheusMetricsProvider
 * serves it.
 */
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { METRICS_CONTENT_TYPE, PROMETHEUS_METRICS_PROVIDER, type PrometheusMetrics } from './metrics';
import { closeHttp, listenHttp } from './httpserver';

/** Scrapers are few; a flood of connections must not take memory from the client port. */
const MAX_METRICS_CONNECTIONS = 32;
const MAX_HEADER_BYTES = 16 * 1024;
const IDLE_TIMEOUT_MS = 30_000;

export class MetricsServerError extends Error {
  constructor(message: string, override readonly cause?: Error) {
    super(message);
    this.name = 'MetricsServerError';
  }
}

export class MetricsServer {
  private http: http.Server | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
    readonly metrics: PrometheusMetrics,
    private readonly log: Logger,
  ) {}

  /** Fails as ZooKeeper fails to boot its metrics provider when the port is taken. */
  async start(): Promise<void> {
    let srv: http.Server;
    try {
      const limits = { maxHeaderBytes: MAX_HEADER_BYTES, maxConnections: MAX_METRICS_CONNECTIONS, idleTimeoutMs: IDLE_TIMEOUT_MS };
      srv = await listenHttp(this.host, this.port, limits, (req, res) => this.handle(req, res));
    } catch (e) {
      throw new MetricsServerError(`Cannot boot MetricsProvider ${PROMETHEUS_METRICS_PROVIDER}: cannot start /metrics server on ${this.host}:${this.port}: ${(e as Error).message}`, e as Error);
    }
    srv.on('error', (err) => this.log.error({ err: err.message }, 'metrics endpoint error'));
    this.http = srv;
    this.log.info({ host: this.host, port: this.address().port }, 'Started /metrics HTTP endpoint');
  }

  address(): AddressInfo {
    return this.http!.address() as AddressInfo;
  }

  async stop(): Promise<void> {
    this.metrics.close();
    const srv = this.http;
    if (!srv) return;
    this.http = undefined;
    await closeHttp(srv);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://metrics');
    const method = req.method ?? 'GET';
    if (url.pathname !== '/metrics') return this.send(res, 404, 'text/plain;charset=utf-8', 'Not Found\n');
    if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') return this.send(res, 405, 'text/plain;charset=utf-8', 'Method Not Allowed\n');
    let body: string;
    try {
      body = this.metrics.render(new Set(url.searchParams.getAll('name[]')));
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'cannot render metrics');
      return this.send(res, 500, 'text/plain;charset=utf-8', 'Server Error\n');
    }
    this.send(res, 200, METRICS_CONTENT_TYPE, method === 'HEAD' ? '' : body, Buffer.byteLength(body));
  }

  private send(res: http.ServerResponse, status: number, type: string, body: string, length = Buffer.byteLength(body)): void {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': length });
    res.end(body);
  }
}
