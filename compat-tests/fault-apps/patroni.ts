// A Patroni 3.0 node (Debian's patroni, PostgreSQL 15) as a child process of the test: its own
// directory, a generated config (JSON, which is YAML) with the zookeeper DCS, loopback ports, run as
// the `postgres` user (PostgreSQL refuses root). Patroni starts the postmaster in a session of its
// own, so a crash of the node means SIGKILL to Patroni, to the postmaster (its PID from
// postmaster.pid) and to the postmaster's children, each by PID; a stop is SIGTERM to Patroni (which
// shuts PostgreSQL down) with a bound, then the same kills. The REST API answers on its own port.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, guardChild } from '../../test/util/servers';
import { delay, runProcess } from '../util/harness';

export const PATRONI = '/usr/bin/patroni';
export const PG_BIN_DIR = '/usr/lib/postgresql/15/bin';
const HOST = '127.0.0.1';
const RUN_AS_USER = 'postgres';
const API_TIMEOUT_MS = 2_000;
const STOP_GRACE_MS = 30_000;
const KILL_WAIT_MS = 5_000;
const PSQL_TIMEOUT_MS = 15_000;
const LOG_TAIL_CHARS = 6_000;

/** The DCS timing: ttl is the ZooKeeper session timeout; loop_wait + 2 * retry_timeout <= ttl. */
export interface PatroniTiming {
  ttlS: number;
  loopWaitS: number;
  retryTimeoutS: number;
}

export interface PatroniNodeOptions {
  name: string;
  scope: string;
  /** Parent directory (readable by the postgres user); the node's own directory goes under it. */
  clusterDir: string;
  zookeeperHosts: readonly string[];
  timing: PatroniTiming;
}

/** What GET /patroni answers (the fields the tests read). */
export interface PatroniStatus {
  state?: string;
  role?: string;
  timeline?: number;
  postmaster_start_time?: string;
  replication?: { application_name: string; state: string; sync_state: string }[];
}

function userIds(user: string): { uid: number; gid: number } {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  if (!line) throw new Error(`no user ${user}`);
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

/** The node's Patroni configuration. */
// (Patroni's --validate-config refuses loopback connect addresses; Patroni itself runs with them.)
export function patroniConfig(o: PatroniNodeOptions & { dir: string; restPort: number; pgPort: number }): Record<string, unknown> {
  const pgHba = ['local all all trust', `host all all ${HOST}/32 trust`, `host replication all ${HOST}/32 trust`];
  return {
    scope: o.scope,
    namespace: '/service/',
    name: o.name,
    log: { level: 'INFO' },
    restapi: { listen: `${HOST}:${o.restPort}`, connect_address: `${HOST}:${o.restPort}` },
    zookeeper: { hosts: [...o.zookeeperHosts] },
    bootstrap: {
      dcs: {
        ttl: o.timing.ttlS,
        loop_wait: o.timing.loopWaitS,
        retry_timeout: o.timing.retryTimeoutS,
        maximum_lag_on_failover: 1048576,
        // A commit returns once the synchronous standby has it, and only that standby may take
        // over: a failover keeps every acknowledged row.
        synchronous_mode: true,
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          parameters: { wal_log_hints: 'on', max_wal_senders: 10, max_replication_slots: 10, wal_keep_size: '128MB', hot_standby: 'on' },
        },
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C' }],
      pg_hba: pgHba,
    },
    postgresql: {
      listen: `${HOST}:${o.pgPort}`,
      connect_address: `${HOST}:${o.pgPort}`,
      data_dir: path.join(o.dir, 'data'),
      bin_dir: PG_BIN_DIR,
      pgpass: path.join(o.dir, 'pgpass'),
      authentication: {
        superuser: { username: 'postgres', password: 'postgres' },
        replication: { username: 'replicator', password: 'replicator' },
        rewind: { username: 'postgres', password: 'postgres' },
      },
      parameters: { unix_socket_directories: o.dir, shared_buffers: '16MB', max_connections: 40 },
      pg_hba: pgHba,
      remove_data_directory_on_rewind_failure: true,
      remove_data_directory_on_diverged_timelines: true,
    },
    watchdog: { mode: 'off' },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
  };
}

export class PatroniNode {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private release: () => void = () => undefined;
  private running = false;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly restPort: number,
    readonly pgPort: number,
    private readonly ids: { uid: number; gid: number },
  ) {}

  /** Writes the node's directory and config, owned by the postgres user. */
  static async create(opts: PatroniNodeOptions): Promise<PatroniNode> {
    const ids = userIds(RUN_AS_USER);
    const dir = path.join(opts.clusterDir, opts.name);
    fs.mkdirSync(dir, { mode: 0o700 });
    const restPort = await freePort();
    let pgPort = await freePort();
    while (pgPort === restPort) pgPort = await freePort();
    const configPath = path.join(dir, 'patroni.yml');
    fs.writeFileSync(configPath, JSON.stringify(patroniConfig({ ...opts, dir, restPort, pgPort }), null, 1));
    fs.chownSync(dir, ids.uid, ids.gid);
    fs.chownSync(configPath, ids.uid, ids.gid);
    return new PatroniNode(opts.name, dir, restPort, pgPort, ids);
  }

  get configPath(): string {
    return path.join(this.dir, 'patroni.yml');
  }
  get dataDir(): string {
    return path.join(this.dir, 'data');
  }
  get pgAddress(): string {
    return `${HOST}:${this.pgPort}`;
  }
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }
  isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) throw new Error(`${this.name}: already running`);
    const logPath = path.join(this.dir, 'patroni.log');
    const out = fs.openSync(logPath, 'a');
    fs.fchownSync(out, this.ids.uid, this.ids.gid);
    let child: ChildProcess;
    try {
      child = spawn(PATRONI, [this.configPath], {
        cwd: this.dir,
        uid: this.ids.uid,
        gid: this.ids.gid,
        stdio: ['ignore', out, out],
        env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', HOME: this.dir, PGCONNECT_TIMEOUT: '3' },
      });
    } finally {
      fs.closeSync(out);
    }
    this.child = child;
    this.running = true;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        this.running = false;
        resolve();
      });
      child.once('error', () => {
        this.running = false;
        resolve();
      });
    });
    // Should the test process die, its watchdog SIGKILLs Patroni and removes the node's directory,
    // and this one SIGKILLs the postmaster (which Patroni started in a session of its own).
    const releasePatroni = guardChild(child, this.dir);
    const postmasterWatchdog = this.startPostmasterWatchdog();
    this.release = () => {
      releasePatroni();
      if (postmasterWatchdog) {
        // Killed before its stdin closes, so that it does not act.
        try {
          postmasterWatchdog.kill('SIGKILL');
        } catch {
          // Gone.
        }
        postmasterWatchdog.stdin?.destroy();
      }
    };
  }

  /** A shell blocked reading a pipe from the test; when the test dies it kills the postmaster. */
  private startPostmasterWatchdog(): ChildProcess | undefined {
    // The postmaster, if that PID is still a postgres (field 2 of /proc/<pid>/stat); its children
    // (each in a session of its own) exit when they see it gone.
    const script = [
      'read _ignored',
      'pid=$(head -n 1 "$1" 2>/dev/null)',
      'case "$pid" in ""|*[!0-9]*) exit 0 ;; esac',
      'case "$(cut -d" " -f2 "/proc/$pid/stat" 2>/dev/null)" in "(postgres)") kill -9 "$pid" 2>/dev/null ;; esac',
      'exit 0',
    ].join('\n');
    try {
      const w = spawn('/bin/sh', ['-c', script, 'postmaster-watchdog', path.join(this.dataDir, 'postmaster.pid')], { stdio: ['pipe', 'ignore', 'ignore'] });
      w.on('error', () => undefined);
      w.stdin?.on('error', () => undefined);
      w.unref();
      return w;
    } catch {
      return undefined;
    }
  }

  /** The postmaster's PID from postmaster.pid, if that process is alive. */
  postmasterPid(): number | undefined {
    try {
      const pid = Number(fs.readFileSync(path.join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (!Number.isInteger(pid) || pid <= 0) return undefined;
      process.kill(pid, 0);
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmd.includes('postgres') ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** /proc/<pid>/stat's fields after the command name: state, ppid, ... */
  private static statFields(pid: number): string[] | undefined {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    } catch {
      return undefined;
    }
  }

  /** The PIDs whose parent is `pid` (from /proc). */
  private static childrenOf(pid: number): number[] {
    const kids: number[] = [];
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
        // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === pid) kids.push(Number(entry));
      } catch {
        // Gone meanwhile.
      }
    }
    return kids;
  }

  private static killPids(pids: readonly number[]): void {
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }

  /** Whether `pid` is a live process (a zombie nobody reaped counts as gone). */
  private static alive(pid: number): boolean {
    const f = PatroniNode.statFields(pid);
    return f !== undefined && f[0] !== 'Z';
  }

  /** A crash of the whole node: Patroni, the postmaster and its children, SIGKILL by PID. */
  async kill(): Promise<void> {
    const postmaster = this.postmasterPid();
    const backends = postmaster === undefined ? [] : PatroniNode.childrenOf(postmaster);
    const patroni = this.pid;
    const pids = [...(patroni === undefined ? [] : [patroni]), ...(postmaster === undefined ? [] : [postmaster]), ...backends];
    PatroniNode.killPids(pids);
    await Promise.race([this.exited, delay(KILL_WAIT_MS)]);
    this.release();
    // The ports and the data directory are free only once every one of them is gone.
    const deadline = Date.now() + KILL_WAIT_MS;
    while (pids.some((p) => PatroniNode.alive(p)) && Date.now() < deadline) await delay(50);
  }

  /** SIGTERM to Patroni (it stops PostgreSQL), bounded; then kill() whatever is left. */
  async stop(): Promise<void> {
    const pid = this.pid;
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
      await Promise.race([this.exited, delay(STOP_GRACE_MS)]);
    }
    await this.kill();
  }

  /** GET on the REST API: the status code and the JSON body (undefined when it did not answer). */
  async api(pathname: string): Promise<{ status: number; body: unknown } | undefined> {
    try {
      const r = await fetch(`http://${HOST}:${this.restPort}${pathname}`, { signal: AbortSignal.timeout(API_TIMEOUT_MS) });
      const text = await r.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: keep the text.
      }
      return { status: r.status, body };
    } catch {
      return undefined;
    }
  }

  async status(): Promise<PatroniStatus | undefined> {
    const r = await this.api('/patroni');
    return r && typeof r.body === 'object' && r.body !== null ? (r.body as PatroniStatus) : undefined;
  }

  /** One SQL statement through psql over TCP; rows as tab-separated lines. */
  async sql(statement: string): Promise<string[]> {
    const r = await runProcess(
      path.join(PG_BIN_DIR, 'psql'),
      ['-h', HOST, '-p', String(this.pgPort), '-U', 'postgres', '-d', 'postgres', '-X', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', statement],
      { timeoutMs: PSQL_TIMEOUT_MS, env: { ...process.env, PGCONNECT_TIMEOUT: '3' } },
    );
    if (r.code !== 0) throw new Error(`${this.name}: psql: ${r.timedOut ? 'timed out' : `code ${r.code}`}: ${r.stderr.trim().slice(0, 500)}`);
    return r.stdout.split('\n').filter((l) => l !== '');
  }

  log(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'patroni.log'), 'utf8');
    } catch {
      return '';
    }
  }

  logTail(): string {
    const text = this.log();
    return `--- ${this.name} patroni.log\n${text.length <= LOG_TAIL_CHARS ? text : '...' + text.slice(-LOG_TAIL_CHARS)}`;
  }
}
