// The ensemble of one fault run: N members (3 or 5) of zkts or of Apache ZooKeeper 3.8.0, each a
// real process started from an ordinary zoo.cfg in the run dir, each on its own loopback address
// (zkts member i: 127.0.0.(20+i), ZooKeeper member i: 127.0.1.(20+i)) with its client, quorum and
// election ports there, each under its own uid (net.ts memberUid: the network faults tell members
// apart by it). Operations: kill -9, restart on the same data dir, SIGSTOP/SIGCONT, the leader (by
// the four-letter word `srvr`), and a bounded wait until the ensemble serves. Every process is
// stopped by its PID at the end, on an exception or a signal (cleanup.ts), and a watchdog shell
// kills it if the runner itself is SIGKILLed.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { javaClasspath, LOG4J_PROPERTIES } from '../../test/util/servers';
import { onCleanup } from './cleanup';
import { assertLoopback, chownForMember, memberUid } from './net';

export type Target = 'zkts' | 'zookeeper';

export const TICK_TIME_MS = 1000;
const PORT_MIN = 20000;
const PORT_MAX = 32700;
const PORT_ATTEMPTS = 200;
const FOUR_LETTER_WORD_TIMEOUT_MS = 2000;
const FOUR_LETTER_WORD_REPLY_BYTES_MAX = 1024 * 1024;
const EXIT_WAIT_MS = 10_000;

/** The address of member `id` (1-based) of a target, as the fault suite's contract fixes it. */
export function memberAddress(target: Target, id: number): string {
  return assertLoopback(target === 'zkts' ? `127.0.0.${20 + id}` : `127.0.1.${20 + id}`);
}

function tryBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

const portsHandedOut = new Set<string>();

/** A port free on `host` now, below the ephemeral range, not handed out before by this process. */
export async function freePortOn(host: string): Promise<number> {
  assertLoopback(host);
  for (let i = 0; i < PORT_ATTEMPTS; i++) {
    // Ports are not part of a run's schedule: the seed does not cover them.
    const port = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN));
    const key = `${host}:${port}`;
    if (portsHandedOut.has(key)) continue;
    if (await tryBind(host, port)) {
      portsHandedOut.add(key);
      return port;
    }
  }
  throw new Error(`no free port on ${host}`);
}

/** Sends a four-letter word and returns the whole reply. */
export function fourLetterWord(host: string, port: number, cmd: string, timeoutMs = FOUR_LETTER_WORD_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const socket = net.createConnection({ host, port });
    const finish = (err: Error | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(() => finish(new Error(`${cmd} to ${host}:${port}: no reply in ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => socket.write(cmd));
    socket.on('data', (c: Buffer) => {
      size += c.length;
      if (size > FOUR_LETTER_WORD_REPLY_BYTES_MAX) return finish(new Error(`${cmd}: reply too large`));
      chunks.push(c);
    });
    socket.on('close', () => finish(null));
    socket.on('error', (e) => (size > 0 ? finish(null) : finish(e)));
  });
}

export interface SrvrInfo {
  mode: 'leader' | 'follower' | 'observer' | 'standalone' | 'not serving';
  zxid?: string;
}

export function parseSrvr(reply: string): SrvrInfo {
  const mode = /^Mode: (\S+)/m.exec(reply)?.[1];
  const zxid = /^Zxid: (0x[0-9a-fA-F]+)/m.exec(reply)?.[1];
  if (mode === 'leader' || mode === 'follower' || mode === 'observer' || mode === 'standalone') return { mode, zxid };
  return { mode: 'not serving', zxid };
}

// A watchdog shell per member: it blocks reading a pipe from the runner; when the runner dies the
// pipe closes and the shell kills the member. SIGCONT first: a stopped process dies of SIGKILL too,
// but its parent's wait would otherwise see it stopped.
const WATCHDOG = 'read _x; kill -CONT "$1" 2>/dev/null; kill -9 "$1" 2>/dev/null';

/**
 * Starts a watchdog for a child of the runner: it kills the child when the runner dies, even by
 * SIGKILL. Returns its stop.
 */
export function startWatchdog(pid: number): () => void {
  const w = spawn('/bin/sh', ['-c', WATCHDOG, 'faults-watchdog', String(pid)], { stdio: ['pipe', 'ignore', 'ignore'] });
  w.on('error', () => undefined);
  w.stdin?.on('error', () => undefined);
  w.unref();
  return () => {
    w.kill('SIGKILL');
    w.stdin?.destroy();
  };
}

export type MemberState = 'new' | 'running' | 'paused' | 'killed' | 'stopped';

export interface MemberOptions {
  /** zkts's storage failpoints for this member (zkts.failpoints), off unless given. */
  failpoints?: string;
  /** Extra -D properties (zkts) or JVM flags' -D (ZooKeeper), e.g. a clock hook's. */
  systemProps?: Record<string, string>;
}

export class Member {
  state: MemberState = 'new';
  pid: number | undefined;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stopWatchdog: (() => void) | undefined;
  private releaseCleanup: (() => void) | undefined;
  /** The process ended without being told to (a crash, a failpoint's fatal error). */
  exitedByItself = false;
  lastExit = '';
  /** Every start of this member, with its pid. */
  readonly starts: Array<{ pid: number }> = [];

  constructor(
    readonly target: Target,
    readonly id: number,
    readonly address: string,
    readonly clientPort: number,
    readonly quorumPort: number,
    readonly electionPort: number,
    readonly dir: string,
    private readonly cfgPath: string,
    private readonly opts: MemberOptions,
  ) {}

  /** The failpoints this member starts with (undefined: none). */
  get failpointSpec(): string | undefined {
    return this.opts.failpoints;
  }

  /** The failpoints of this member's next start (undefined: none). */
  setFailpoints(spec: string | undefined): void {
    this.opts.failpoints = spec;
  }

  get dataDir(): string {
    return path.join(this.dir, 'data');
  }
  get logPath(): string {
    return path.join(this.dir, 'member.log');
  }
  get connectString(): string {
    return `${this.address}:${this.clientPort}`;
  }
  get name(): string {
    return `${this.target}-${this.id}`;
  }

  private command(): { cmd: string; args: string[]; env: NodeJS.ProcessEnv } {
    const props = { ...(this.opts.systemProps ?? {}) };
    if (this.opts.failpoints) props['zkts.failpoints'] = this.opts.failpoints;
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_OPTIONS;
    delete env.ZKTS_FAILPOINTS;
    if (this.target === 'zkts') {
      const cli = path.resolve(__dirname, '..', '..', 'src', 'cli.js');
      const propArgs = Object.entries(props).map(([k, v]) => `-D${k}=${v}`);
      return { cmd: process.execPath, args: [cli, 'server', ...propArgs, this.cfgPath], env };
    }
    if (this.opts.failpoints) throw new Error('storage failpoints exist in zkts only');
    return {
      cmd: 'java',
      args: [
        '-Xmx256m',
        '-XX:-UsePerfData',
        `-Dlog4j.configuration=file:${path.join(this.dir, 'log4j.properties')}`,
        `-Dzookeeper.log.dir=${this.dir}`,
        ...Object.entries(props).map(([k, v]) => `-D${k}=${v}`),
        '-cp',
        zookeeperClasspath(),
        'org.apache.zookeeper.server.quorum.QuorumPeerMain',
        this.cfgPath,
      ],
      env,
    };
  }

  /** Starts (or restarts, on the same data dir) the member's process. */
  start(): void {
    if (this.state === 'running' || this.state === 'paused') throw new Error(`${this.name} is already running`);
    const { cmd, args, env } = this.command();
    const logFd = fs.openSync(this.logPath, 'a');
    fs.chownSync(this.logPath, memberUid(this.address), memberUid(this.address));
    let child: ChildProcess;
    try {
      fs.writeSync(logFd, `\n===== start ${new Date().toISOString()} =====\n`);
      const uid = memberUid(this.address);
      child = spawn(cmd, args, { cwd: this.dir, uid, gid: uid, env, stdio: ['ignore', logFd, logFd] });
    } finally {
      fs.closeSync(logFd);
    }
    if (child.pid === undefined) throw new Error(`${this.name}: could not start ${cmd}`);
    this.child = child;
    this.pid = child.pid;
    this.starts.push({ pid: child.pid });
    this.state = 'running';
    this.exitedByItself = false;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        // Only a process the nemesis or the end of the run did not stop "exits by itself".
        if (this.child === child && this.state === 'running') this.exitedByItself = true;
        this.lastExit = signal ? `signal ${signal}` : `code ${code}`;
        resolve();
      });
      child.once('error', (err) => {
        this.lastExit = `spawn error: ${err.message}`;
        if (this.child === child) this.exitedByItself = true;
        resolve();
      });
    });
    const pid = child.pid;
    this.stopWatchdog = startWatchdog(pid);
    this.releaseCleanup = onCleanup(`kill -9 ${this.name} (pid ${pid})`, () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    });
  }

  private signal(sig: NodeJS.Signals): void {
    // Never a pid whose process is already gone (the number may belong to someone else by now).
    if (this.pid === undefined || !this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      // Already gone.
    }
  }

  private async reap(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), EXIT_WAIT_MS)))]);
    clearTimeout(timer);
    if (!done) throw new Error(`${this.name} (pid ${this.pid}) did not exit in ${EXIT_WAIT_MS} ms`);
    this.stopWatchdog?.();
    this.stopWatchdog = undefined;
    this.releaseCleanup?.();
    this.releaseCleanup = undefined;
    this.child = undefined;
  }

  /** kill -9, waiting until the process is gone. */
  async kill9(): Promise<void> {
    if (this.state !== 'running' && this.state !== 'paused') return;
    this.signal('SIGKILL');
    if (this.state === 'paused') this.signal('SIGCONT');
    this.state = 'killed';
    await this.reap();
  }

  /** After the process ended by itself: collects it so that start() can run it again. */
  async collectCrash(): Promise<void> {
    if (!this.exitedByItself) return;
    this.state = 'killed';
    await this.reap();
    this.exitedByItself = false;
  }

  pause(): void {
    if (this.state !== 'running') return;
    this.signal('SIGSTOP');
    this.state = 'paused';
  }

  resume(): void {
    if (this.state !== 'paused') return;
    this.signal('SIGCONT');
    this.state = 'running';
  }

  /** The end of a run: SIGTERM, then SIGKILL if it lingers. */
  async stop(): Promise<void> {
    if (this.state === 'paused') this.resume();
    if (this.state !== 'running') return;
    this.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5000)))]);
    clearTimeout(timer);
    if (!done) this.signal('SIGKILL');
    this.state = 'stopped';
    await this.reap();
  }

  /** The raw `srvr` reply, or undefined when the member does not answer. */
  async srvrText(timeoutMs = FOUR_LETTER_WORD_TIMEOUT_MS): Promise<string | undefined> {
    if (this.state !== 'running') return undefined;
    return fourLetterWord(this.address, this.clientPort, 'srvr', timeoutMs).catch(() => undefined);
  }

  /** `srvr` of this member, or undefined when it does not answer. */
  async srvr(timeoutMs = FOUR_LETTER_WORD_TIMEOUT_MS): Promise<SrvrInfo | undefined> {
    if (this.state !== 'running') return undefined;
    try {
      return parseSrvr(await fourLetterWord(this.address, this.clientPort, 'srvr', timeoutMs));
    } catch {
      return undefined;
    }
  }
}


/** Debian's ZooKeeper 3.8.0 and its runtime jars (the tests' own launcher's classpath). */
export function zookeeperClasspath(): string {
  if (!fs.existsSync('/usr/share/java/zookeeper.jar')) throw new Error('Apache ZooKeeper is not installed (/usr/share/java/zookeeper.jar): run scripts/install-deps.sh');
  return javaClasspath();
}

/** In a zkts member's dir: the failpoints it arms on SIGUSR2 (src/storage/failpoints.ts). */
export const FAILPOINTS_FILE = 'failpoints';

/**
 * Clock jumps of zkts members: `clock:offset` written to the member's failpoints file, armed by
 * SIGUSR2. The spec replaces the armed one, so the member's own storage failpoints are kept in it.
 * ZooKeeper has no such hook; its runs get none and log clock faults as skipped.
 */
export function zktsClockHook(): { jump(m: Member, offsetMs: number): Promise<void>; restore(m: Member): Promise<void> } {
  const arm = async (m: Member, offsetMs: number): Promise<void> => {
    if (m.target !== 'zkts' || m.pid === undefined || m.state !== 'running') return;
    const spec = [m.failpointSpec, `clock:offset=${offsetMs >= 0 ? '+' : ''}${Math.round(offsetMs)}`].filter((x) => x).join(',');
    fs.writeFileSync(path.join(m.dir, FAILPOINTS_FILE), spec + '\n');
    process.kill(m.pid, 'SIGUSR2');
  };
  return { jump: arm, restore: (m) => arm(m, 0) };
}

export interface ClusterOptions {
  target: Target;
  members: number;
  /** Where the members' dirs go (created). */
  dir: string;
  /** Per member id: zkts storage failpoints. */
  failpoints?: Record<number, string>;
  systemProps?: Record<number, Record<string, string>>;
}

export class Cluster {
  private constructor(
    readonly target: Target,
    readonly members: Member[],
  ) {}

  /** Writes every member's zoo.cfg, data dir and myid; starts nothing. */
  static async create(opts: ClusterOptions): Promise<Cluster> {
    if (opts.members !== 3 && opts.members !== 5) throw new Error(`members must be 3 or 5, not ${opts.members}`);
    fs.mkdirSync(opts.dir, { recursive: true, mode: 0o755 });
    // Members run under their own uids: every directory above theirs must let others pass.
    for (let d = path.resolve(opts.dir); ; d = path.dirname(d)) {
      if ((fs.statSync(d).mode & 0o001) === 0) throw new Error(`${d} is not searchable by other users (chmod o+x): the members run under their own uids`);
      if (d === path.dirname(d)) break;
    }
    const specs: Array<{ id: number; address: string; client: number; quorum: number; election: number }> = [];
    for (let id = 1; id <= opts.members; id++) {
      const address = memberAddress(opts.target, id);
      specs.push({ id, address, client: await freePortOn(address), quorum: await freePortOn(address), election: await freePortOn(address) });
    }
    const serverLines = specs.map((s) => `server.${s.id}=${s.address}:${s.quorum}:${s.election}`);
    const members = specs.map((s) => {
      const dir = path.join(opts.dir, `${opts.target}-${s.id}`);
      fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'data', 'myid'), `${s.id}\n`);
      const cfgPath = path.join(dir, 'zoo.cfg');
      const cfg = [
        `tickTime=${TICK_TIME_MS}`,
        'initLimit=10',
        'syncLimit=5',
        `dataDir=${path.join(dir, 'data')}`,
        `clientPort=${s.client}`,
        `clientPortAddress=${s.address}`,
        '4lw.commands.whitelist=*',
        'admin.enableServer=false',
        ...serverLines,
        '',
      ];
      fs.writeFileSync(cfgPath, cfg.join('\n'));
      if (opts.target === 'zookeeper') fs.writeFileSync(path.join(dir, 'log4j.properties'), LOG4J_PROPERTIES);
      // zkts re-arms its failpoints from this file on SIGUSR2 (a clock jump is one of them).
      const props = { ...(opts.systemProps?.[s.id] ?? {}) };
      if (opts.target === 'zkts') {
        fs.writeFileSync(path.join(dir, FAILPOINTS_FILE), '');
        props['zkts.failpointsFile'] = path.join(dir, FAILPOINTS_FILE);
      }
      chownForMember(dir, s.address);
      return new Member(opts.target, s.id, s.address, s.client, s.quorum, s.election, dir, cfgPath, {
        failpoints: opts.failpoints?.[s.id],
        systemProps: props,
      });
    });
    return new Cluster(opts.target, members);
  }

  addresses(): string[] {
    return this.members.map((m) => m.address);
  }

  connectString(): string {
    return this.members.map((m) => m.connectString).join(',');
  }

  member(id: number): Member {
    const m = this.members.find((x) => x.id === id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  startAll(): void {
    for (const m of this.members) if (m.state !== 'running' && m.state !== 'paused') m.start();
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop().catch(() => m.kill9())));
  }

  /** Every running member's srvr (undefined for one that does not answer). */
  async srvrAll(): Promise<Map<number, SrvrInfo | undefined>> {
    const out = new Map<number, SrvrInfo | undefined>();
    await Promise.all(this.members.map(async (m) => out.set(m.id, await m.srvr())));
    return out;
  }

  /** The member that says it leads, if exactly one does. */
  async leader(): Promise<Member | undefined> {
    const all = await this.srvrAll();
    const leaders = [...all].filter(([, s]) => s?.mode === 'leader').map(([id]) => this.member(id));
    return leaders.length === 1 ? leaders[0] : undefined;
  }

  /**
   * Waits until every member that should run serves (leader or follower) under one leader, within
   * `timeoutMs`; throws with each member's state otherwise.
   */
  async waitServing(timeoutMs: number): Promise<Member> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      for (const m of this.members) {
        if (m.state === 'running' && m.exitedByItself) throw new Error(`${m.name} exited by itself (${m.lastExit}); its log: ${m.logPath}`);
      }
      const all = await this.srvrAll();
      const running = this.members.filter((m) => m.state === 'running');
      const modes = running.map((m) => all.get(m.id)?.mode);
      const leaders = running.filter((m) => all.get(m.id)?.mode === 'leader');
      if (leaders.length === 1 && modes.every((x) => x === 'leader' || x === 'follower')) return leaders[0];
      last = running.map((m) => `${m.name}: ${all.get(m.id)?.mode ?? 'no answer'}`).join(', ');
      if (Date.now() > deadline) throw new Error(`ensemble not serving after ${timeoutMs} ms (${last})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
