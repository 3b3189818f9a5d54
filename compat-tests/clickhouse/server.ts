// A ClickHouse 18.16 server as a child process of the test: its own temp dir, generated configs,
// free loopback ports, queries over the HTTP interface, stopped and killed by PID. A restart keeps
// the directory and ports, as a crashed server coming back would.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, guardChild } from '../../test/util/servers';
import { configXml, usersXml, type ClickHousePorts, type ZooKeeperNode } from './config';

export const CLICKHOUSE_SERVER = '/usr/sbin/clickhouse-server';
const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 30_000;
const READY_POLL_MS = 50;
const PING_TIMEOUT_MS = 1_000;
const STOP_GRACE_MS = 10_000;
const KILL_WAIT_MS = 5_000;
const DEFAULT_QUERY_TIMEOUT_MS = 30_000;
const LOG_TAIL_CHARS = 6_000;
const PORT_ATTEMPTS_MAX = 3;

export interface ClickHouseOptions {
  name: string;
  zookeeper: ZooKeeperNode | readonly ZooKeeperNode[];
  zookeeperSessionTimeoutMs: number;
  shard: string;
  replica: string;
  mergeTree?: Record<string, string>;
}

export class QueryError extends Error {
  constructor(
    readonly server: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${server}: HTTP ${status}: ${body.trim().slice(0, 500)}`);
    this.name = 'QueryError';
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class ClickHouseServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private release: () => void = () => undefined;
  private running = false;

  private constructor(
    readonly name: string,
    readonly rootDir: string,
    readonly ports: ClickHousePorts,
  ) {}

  /** Writes the configs under a new temp dir; `start()` runs it. */
  static async create(opts: ClickHouseOptions): Promise<ClickHouseServer> {
    const rootDir = fs.mkdtempSync(path.join(os.tmpdir(), `clickhouse-${opts.replica}-`));
    // Each port is bound once picked, so the three are distinct.
    const ports: ClickHousePorts = { tcp: 0, http: 0, interserver: 0 };
    const taken = new Set<number>();
    for (const key of ['tcp', 'http', 'interserver'] as const) {
      let p = await freePort();
      while (taken.has(p)) p = await freePort();
      taken.add(p);
      ports[key] = p;
    }
    fs.writeFileSync(path.join(rootDir, 'config.xml'), configXml({ rootDir, ports, ...opts }));
    fs.writeFileSync(path.join(rootDir, 'users.xml'), usersXml());
    return new ClickHouseServer(opts.name, rootDir, ports);
  }

  /**
   * create() and start(); a port taken by someone else between picking and binding means new
   * ports in a new directory (up to PORT_ATTEMPTS_MAX times).
   */
  static async launch(opts: ClickHouseOptions): Promise<ClickHouseServer> {
    for (let attempt = 1; ; attempt++) {
      const server = await ClickHouseServer.create(opts);
      try {
        await server.start();
        return server;
      } catch (err) {
        const portTaken = /Address already in use/.test(server.logTail());
        await server.remove();
        if (!portTaken || attempt >= PORT_ATTEMPTS_MAX) throw err;
      }
    }
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** Starts the server and waits, with a bound, until its HTTP interface answers /ping. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.name}: already running`);
    const out = fs.openSync(path.join(this.rootDir, 'stdout.log'), 'a');
    let child: ChildProcess;
    try {
      child = spawn(CLICKHOUSE_SERVER, [`--config-file=${path.join(this.rootDir, 'config.xml')}`], {
        cwd: this.rootDir,
        stdio: ['ignore', out, out],
      });
    } finally {
      fs.closeSync(out);
    }
    this.child = child;
    this.running = true;
    let exitDescription = '';
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        exitDescription = signal ? `signal ${signal}` : `code ${code}`;
        this.running = false;
        resolve();
      });
      child.once('error', (err) => {
        exitDescription = `spawn error: ${err.message}`;
        this.running = false;
        resolve();
      });
    });
    this.release = guardChild(child, this.rootDir);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (!this.running) {
        await this.exited;
        throw new Error(`${this.name}: clickhouse-server exited before it was ready (${exitDescription})\n${this.logTail()}`);
      }
      const answer = await fetch(this.url('/ping'), { signal: AbortSignal.timeout(PING_TIMEOUT_MS) }).then(
        (r) => r.text(),
        () => '',
      );
      if (answer.trim() === 'Ok.') return;
      if (Date.now() >= deadline) {
        await this.kill();
        throw new Error(`${this.name}: not answering /ping after ${READY_TIMEOUT_MS} ms\n${this.logTail()}`);
      }
      await delay(READY_POLL_MS);
    }
  }

  url(pathAndQuery = '/'): string {
    return `http://${HOST}:${this.ports.http}${pathAndQuery}`;
  }

  /** Runs one statement; resolves with the response body (TabSeparated unless the SQL says otherwise). */
  async query(sql: string, timeoutMs = DEFAULT_QUERY_TIMEOUT_MS): Promise<string> {
    const r = await fetch(this.url('/'), { method: 'POST', body: sql, signal: AbortSignal.timeout(timeoutMs) });
    const body = await r.text();
    // An error after the headers went out comes in a 200 body.
    if (r.status !== 200 || /^Code: \d+, e\.displayText\(\)/m.test(body)) throw new QueryError(this.name, r.status, body);
    return body;
  }

  /** SIGKILL by PID, as a crash: the ZooKeeper session is left to expire. */
  async kill(): Promise<void> {
    const pid = this.pid;
    if (pid !== undefined) {
      process.kill(pid, 'SIGKILL');
      await Promise.race([this.exited, delay(KILL_WAIT_MS)]);
    }
    this.release();
  }

  /** SIGTERM by PID with a grace period, then SIGKILL. */
  async stop(): Promise<void> {
    const pid = this.pid;
    if (pid !== undefined) {
      process.kill(pid, 'SIGTERM');
      await Promise.race([this.exited, delay(STOP_GRACE_MS)]);
    }
    await this.kill();
  }

  /** Stops the server and removes its directory. */
  async remove(): Promise<void> {
    await this.stop();
    fs.rmSync(this.rootDir, { recursive: true, force: true });
  }

  /** Resident set size of the running server, from /proc (undefined when not running). */
  rssMb(): number | undefined {
    const pid = this.pid;
    if (pid === undefined) return undefined;
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Math.round(Number(m[1]) / 1024) : undefined;
    } catch {
      return undefined;
    }
  }

  /** The end of the server's error log (its normal log is at debug level and long). */
  logTail(): string {
    const read = (name: string): string => {
      try {
        const text = fs.readFileSync(path.join(this.rootDir, name), 'utf8');
        return text.length <= LOG_TAIL_CHARS ? text : '...' + text.slice(-LOG_TAIL_CHARS);
      } catch {
        return '';
      }
    };
    return `--- ${this.name} server.err.log\n${read('server.err.log')}--- stdout\n${read('stdout.log')}`;
  }

  /** Lines of the server's log matching `pattern` (for errors the test asserts are absent). */
  logLines(pattern: RegExp): string[] {
    let text = '';
    try {
      text = fs.readFileSync(path.join(this.rootDir, 'server.log'), 'utf8');
    } catch {
      return [];
    }
    return text.split('\n').filter((l) => pattern.test(l));
  }
}
