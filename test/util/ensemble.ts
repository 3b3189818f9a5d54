// A reference ZooKeeper ensemble on 127.0.0.1: three members by default, each one Apache ZooKeeper
// 3.8.0 or 3.9.5 (chosen per member, so mixed versions are possible), or a slot left to the caller
// (a zkts member, say) that gets its ports and zoo.cfg entries but is not started here. Members keep
// their dataDir across restarts; each is started, stopped (SIGTERM), killed (SIGKILL) and restarted
// by its PID. The ensemble is ready when one running member reports `Mode: leader` and every other
// running one `Mode: follower`.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fourLetterWord, freePort, RunningServer, startReferenceZooKeeper, startZkts, type ReferenceVersion } from './servers';

const HOST = '127.0.0.1';
const QUORUM_TIMEOUT_MS = 60_000;
const QUORUM_POLL_INTERVAL_MS = 100;
const SRVR_TIMEOUT_MS = 2_000;

/** What runs in a member slot: a reference release, or 'external' (the caller starts it). */
/** A reference release, a zkts process, or a slot the test starts itself. */
export type MemberKind = ReferenceVersion | 'zkts' | 'external';

export interface EnsembleOptions {
  /** One entry per member (sids 1..n, in order). Default: three 3.8.0 members. */
  members?: readonly MemberKind[];
  /** Added to every member's zoo.cfg (after the ensemble's own entries, so it can override them). */
  extraConfig?: Record<string, string>;
  /** JVM flags for every reference member. Default: -Xmx128m. */
  jvmFlags?: string[];
  /** JVM flags of one member by sid, instead of jvmFlags (a zkts member takes their -D entries too). */
  memberJvmFlags?: Record<number, string[]>;
  /** Sids that are observers (`:observer` in every server line, `peerType=observer` in their own). */
  observers?: readonly number[];
  /** Bound on the first wait for leader and followers. */
  quorumTimeoutMs?: number;
  /** Start the reference members and wait for a quorum (default true). */
  start?: boolean;
}

export interface SrvrStatus {
  /** 'leader', 'follower', 'standalone', ... ; undefined when not serving or not answering. */
  mode?: string;
  zxid?: bigint;
}

export interface EnsembleMember {
  readonly sid: number;
  readonly kind: MemberKind;
  readonly host: string;
  readonly clientPort: number;
  readonly quorumPort: number;
  readonly electionPort: number;
  readonly connectString: string;
  /** Kept across restarts; holds `myid`. */
  readonly dataDir: string;
  /** The zoo.cfg entries of this member (dataDir, client and server.N lines, limits, extraConfig). */
  readonly config: Record<string, string>;
  /** The running process, if any. */
  readonly server: RunningServer | undefined;
  readonly pid: number | undefined;
  isRunning(): boolean;
  /** Starts the member; resolves once `srvr` answers (it may not serve before a quorum forms). */
  start(): Promise<void>;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<void>;
  /** SIGKILL at once, as a crash. */
  kill(): Promise<void>;
  /** stop() then start(), on the same ports and dataDir. */
  restart(): Promise<void>;
  srvr(): Promise<SrvrStatus>;
  /** The log of the running process, or of the last one. */
  log(): string;
}

export interface ReferenceEnsemble {
  readonly members: readonly EnsembleMember[];
  /** Every member's client address, for a client that may fail over. */
  readonly connectString: string;
  /** The server.N entries every member's zoo.cfg carries. */
  readonly serverLines: Record<string, string>;
  member(sid: number): EnsembleMember;
  /**
   * Waits (bounded) until one of `members` (default: the running ones) reports leader and all the
   * others follower; returns the leader.
   */
  waitForQuorum(opts?: { members?: readonly EnsembleMember[]; timeoutMs?: number }): Promise<EnsembleMember>;
  /** Stops every running member and removes the ensemble's directory. */
  stop(): Promise<void>;
}

export async function srvrStatus(host: string, port: number): Promise<SrvrStatus> {
  try {
    const reply = await fourLetterWord(host, port, 'srvr', SRVR_TIMEOUT_MS);
    const mode = /^Mode: (\w+)/m.exec(reply)?.[1];
    const zxid = /^Zxid: (0x[0-9a-f]+)/m.exec(reply)?.[1];
    return { mode, zxid: zxid === undefined ? undefined : BigInt(zxid) };
  } catch {
    return {};
  }
}

/**
 * Waits (bounded) until exactly one of `endpoints` reports `Mode: leader` and every other one
 * `Mode: follower` (or `observer`); returns the leader's index. Works for any server that answers `srvr`.
 */
export async function waitForLeaderAndFollowers(
  endpoints: readonly { host: string; port: number }[],
  timeoutMs: number = QUORUM_TIMEOUT_MS,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const modes = (await Promise.all(endpoints.map((e) => srvrStatus(e.host, e.port)))).map((s) => s.mode);
    const leaders = modes.flatMap((m, i) => (m === 'leader' ? [i] : []));
    if (leaders.length === 1 && modes.every((m) => m === 'leader' || m === 'follower' || m === 'observer')) return leaders[0];
    if (Date.now() >= deadline) {
      const seen = endpoints.map((e, i) => `${e.host}:${e.port}=${modes[i] ?? 'no mode'}`).join(' ');
      throw new Error(`no leader with all others following after ${timeoutMs} ms: ${seen}`);
    }
    await new Promise((resolve) => setTimeout(resolve, QUORUM_POLL_INTERVAL_MS));
  }
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  return ports;
}

class Member implements EnsembleMember {
  readonly host = HOST;
  private running: RunningServer | undefined;
  private lastLog = '';
  private pending: Promise<void> = Promise.resolve();

  constructor(
    readonly sid: number,
    readonly kind: MemberKind,
    readonly clientPort: number,
    readonly quorumPort: number,
    readonly electionPort: number,
    readonly dataDir: string,
    readonly config: Record<string, string>,
    private readonly jvmFlags: string[],
  ) {}

  get connectString(): string {
    return `${HOST}:${this.clientPort}`;
  }
  /** The -Dk=v entries of the JVM flags, which a zkts member takes as its system properties. */
  private get systemProps(): Record<string, string> {
    const props: Record<string, string> = {};
    for (const f of this.jvmFlags) {
      const m = /^-D([^=]+)=(.*)$/.exec(f);
      if (m) props[m[1]] = m[2];
    }
    return props;
  }
  get server(): RunningServer | undefined {
    return this.running;
  }
  get pid(): number | undefined {
    return this.running?.pid;
  }
  isRunning(): boolean {
    return this.running !== undefined;
  }

  // One lifecycle step at a time per member.
  private serial(step: () => Promise<void>): Promise<void> {
    const next = this.pending.then(step, step);
    this.pending = next.catch(() => undefined);
    return next;
  }

  start(): Promise<void> {
    return this.serial(async () => {
      if (this.kind === 'external') throw new Error(`member ${this.sid} is external: its owner starts it`);
      if (this.running) throw new Error(`member ${this.sid} is already running (pid ${this.running.pid})`);
      if (this.kind === 'zkts') {
        this.running = await startZkts({ port: this.clientPort, extraConfig: this.config, systemProps: this.systemProps, readyWhen: 'answering' });
        return;
      }
      this.running = await startReferenceZooKeeper({
        version: this.kind,
        port: this.clientPort,
        extraConfig: this.config,
        jvmFlags: this.jvmFlags,
        readyWhen: 'answering',
      });
    });
  }

  private end(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    return this.serial(async () => {
      const server = this.running;
      if (!server) return;
      if (signal === 'SIGKILL') {
        try {
          process.kill(server.pid, 'SIGKILL');
        } catch {
          // Already gone; stop() still waits for the exit and cleans up.
        }
      }
      await server.stop();
      this.lastLog = server.log();
      this.running = undefined;
    });
  }

  stop(): Promise<void> {
    return this.end('SIGTERM');
  }
  kill(): Promise<void> {
    return this.end('SIGKILL');
  }
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
  srvr(): Promise<SrvrStatus> {
    return srvrStatus(HOST, this.clientPort);
  }
  log(): string {
    return this.running ? this.running.log() : this.lastLog;
  }
}

/** Plans an ensemble (ports, dataDirs, zoo.cfg entries) and, unless `start: false`, starts it. */
export async function startReferenceEnsemble(opts: EnsembleOptions = {}): Promise<ReferenceEnsemble> {
  const kinds = opts.members ?? ['3.8.0', '3.8.0', '3.8.0'];
  if (kinds.length === 0) throw new Error('startReferenceEnsemble: no members');
  const rootDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zk-ensemble-'));
  const ports = await distinctFreePorts(3 * kinds.length);
  const serverLines: Record<string, string> = {};
  kinds.forEach((_kind, i) => {
    const observer = opts.observers?.includes(i + 1) ? ':observer' : '';
    serverLines[`server.${i + 1}`] = `${HOST}:${ports[3 * i + 1]}:${ports[3 * i + 2]}${observer}`;
  });
  const members = kinds.map((kind, i) => {
    const sid = i + 1;
    const dataDir = path.join(rootDir, `member${sid}`);
    fs.mkdirSync(dataDir);
    fs.writeFileSync(path.join(dataDir, 'myid'), `${sid}\n`);
    const config: Record<string, string> = {
      dataDir,
      clientPort: String(ports[3 * i]),
      clientPortAddress: HOST,
      initLimit: '10',
      syncLimit: '5',
      ...serverLines,
      ...(opts.observers?.includes(sid) ? { peerType: 'observer' } : {}),
      ...(opts.extraConfig ?? {}),
    };
    return new Member(sid, kind, ports[3 * i], ports[3 * i + 1], ports[3 * i + 2], dataDir, config, opts.memberJvmFlags?.[sid] ?? opts.jvmFlags ?? ['-Xmx128m']);
  });

  let stopped: Promise<void> | undefined;
  const ensemble: ReferenceEnsemble = {
    members,
    connectString: members.map((m) => m.connectString).join(','),
    serverLines,
    member(sid: number): EnsembleMember {
      const m = members[sid - 1];
      if (!m) throw new Error(`no member ${sid}`);
      return m;
    },
    async waitForQuorum(waitOpts = {}): Promise<EnsembleMember> {
      const among = waitOpts.members ?? members.filter((m) => m.isRunning());
      const i = await waitForLeaderAndFollowers(
        among.map((m) => ({ host: m.host, port: m.clientPort })),
        waitOpts.timeoutMs ?? QUORUM_TIMEOUT_MS,
      );
      return among[i];
    },
    stop(): Promise<void> {
      stopped ??= (async () => {
        await Promise.all(members.map((m) => m.stop().catch(() => undefined)));
        fs.rmSync(rootDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };

  if (opts.start ?? true) {
    try {
      await Promise.all(members.filter((m) => m.kind !== 'external').map((m) => m.start()));
      if (!kinds.includes('external')) await ensemble.waitForQuorum({ timeoutMs: opts.quorumTimeoutMs });
    } catch (err) {
      await ensemble.stop();
      throw err;
    }
  }
  return ensemble;
}
