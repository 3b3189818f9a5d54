// A reconfigurable ensemble on 127.0.0.1, of ZooKeeper 3.8.0 members ('reference', Debian's jars)
// or of zkts members ('zkts'). Each member has its own directory holding a real zoo.cfg (reconfig
// rewrites it and writes zoo.cfg.dynamic.<hex>, zoo.cfg.bak and zoo.cfg.dynamic.next beside it)
// and its dataDir with myid. Members are planned by sid (ports from freePort()), started from a
// zoo.cfg listing the server lines a scenario chooses, or again from the zoo.cfg as it is on disk,
// and stopped or killed by PID. Every wait has a bound. stop() ends every member and removes the
// directory; every child is also guarded (killed when the test process exits or is killed).

import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fourLetterWord, freePort, guardChild, javaClasspath, LOG4J_PROPERTIES } from '../../test/util/servers';

export type ReconfigTargetKind = 'reference' | 'zkts';
export type LearnerRole = 'participant' | 'observer';

const HOST = '127.0.0.1';
const FOUR_LETTER_WORD_TIMEOUT_MS = 3_000;
const ANSWER_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const STOP_KILL_WAIT_MS = 5_000;
const POLL_MS = 100;
// The same for both kinds: ZooKeeper's default tick; initLimit/syncLimit as docs/RECONFIG.md §1.1.
export const TICK_TIME_MS = 2000;


/** ZooKeeper's digest of `user:password`: base64(sha1("user:password")). */
export function digestOf(user: string, password: string): string {
  return crypto.createHash('sha1').update(`${user}:${password}`).digest('base64');
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `condition` gives a value other than undefined/false; throws after `timeoutMs`. */
export async function waitUntil<T>(condition: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() >= deadline) throw new WaitTimeout(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(POLL_MS);
  }
}

export class WaitTimeout extends Error {}

export interface MemberPorts {
  quorum: number;
  election: number;
  client: number;
}

/** `server.N=127.0.0.1:q:e[:role];127.0.0.1:c` as zoo.cfg, zkCli and the clients take it. */
export function serverSpec(sid: number, ports: MemberPorts, role?: LearnerRole): string {
  return `server.${sid}=${HOST}:${ports.quorum}:${ports.election}${role ? `:${role}` : ''};${HOST}:${ports.client}`;
}

/** The line as the config string (§2.1) spells it: role always given. */
export function configLine(sid: number, ports: MemberPorts, role: LearnerRole = 'participant'): string {
  return serverSpec(sid, ports, role);
}

/** 4lw `mntr` as key -> value. */
export function parseMntr(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0) out.set(line.slice(0, tab), line.slice(tab + 1));
  }
  return out;
}

export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

export class ReconfigMember {
  readonly dir: string;
  readonly cfgPath: string;
  readonly dataDir: string;
  readonly logPath: string;
  private child: ChildProcess | undefined;
  private release: (() => void) | undefined;
  private exitPromise: Promise<ExitStatus> | undefined;
  private exitStatus: ExitStatus | undefined;
  /** The zoo.cfg this member was first started with (what zoo.cfg.bak must hold). */
  originalCfg: string | undefined;

  constructor(
    readonly ensemble: ReconfigEnsemble,
    readonly sid: number,
    readonly ports: MemberPorts,
  ) {
    this.dir = path.join(ensemble.rootDir, `s${sid}`);
    this.cfgPath = path.join(this.dir, 'zoo.cfg');
    this.dataDir = path.join(this.dir, 'data');
    this.logPath = path.join(this.dir, 'server.log');
    fs.mkdirSync(this.dataDir, { recursive: true });
    fs.writeFileSync(path.join(this.dataDir, 'myid'), `${sid}\n`);
  }

  get connectString(): string {
    return `${HOST}:${this.ports.client}`;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  isRunning(): boolean {
    return this.child !== undefined && this.exitStatus === undefined;
  }
  /** Settles when the current process ends. */
  get exited(): Promise<ExitStatus> {
    return this.exitPromise ?? Promise.resolve({ code: null, signal: null });
  }

  /** Writes a fresh zoo.cfg with these server lines (docs/RECONFIG.md §1.1 layout). */
  writeConfig(serverLines: readonly string[]): void {
    const lines = [
      `tickTime=${TICK_TIME_MS}`,
      'initLimit=10',
      'syncLimit=5',
      `dataDir=${this.dataDir}`,
      'admin.enableServer=false',
      '4lw.commands.whitelist=*',
      'reconfigEnabled=true',
      'standaloneEnabled=false',
      ...serverLines,
    ];
    const text = lines.join('\n') + '\n';
    fs.writeFileSync(this.cfgPath, text);
    this.originalCfg = text;
  }

  /**
   * Starts the process on the zoo.cfg now on disk. Resolves once `srvr` answers (a member without
   * a quorum answers "not currently serving"), or once the process has exited (see `exited`).
   */
  async start(opts: { skipACL?: boolean } = {}): Promise<void> {
    if (this.isRunning()) throw new Error(`member ${this.sid} is already running (pid ${this.pid})`);
    const props: Record<string, string> = {
      'zookeeper.DigestAuthenticationProvider.superDigest': `super:${this.ensemble.superDigest}`,
      ...(opts.skipACL ? { 'zookeeper.skipACL': 'yes' } : {}),
    };
    const fd = fs.openSync(this.logPath, 'a');
    fs.writeSync(fd, `==== start at ${new Date().toISOString()}\n`);
    let child: ChildProcess;
    try {
      if (this.ensemble.kind === 'reference') {
        const log4j = path.join(this.dir, 'log4j.properties');
        fs.writeFileSync(log4j, LOG4J_PROPERTIES);
        const args = [
          '-Xmx128m',
          `-Dlog4j.configuration=file:${log4j}`,
          `-Dzookeeper.log.dir=${this.dir}`,
          ...Object.entries(props).map(([k, v]) => `-D${k}=${v}`),
          '-cp',
          javaClasspath(),
          'org.apache.zookeeper.server.quorum.QuorumPeerMain',
          this.cfgPath,
        ];
        child = spawn('java', args, { cwd: this.dir, stdio: ['ignore', fd, fd] });
      } else {
        const cli = path.resolve(__dirname, '..', '..', 'src', 'cli.js');
        const env: NodeJS.ProcessEnv = { ...process.env };
        // A test runner's NODE_OPTIONS (loaders, instrumentation) is not meant for the server.
        delete env.NODE_OPTIONS;
        const args = [cli, 'server', ...Object.entries(props).map(([k, v]) => `-D${k}=${v}`), this.cfgPath];
        child = spawn(process.execPath, args, { cwd: this.dir, stdio: ['ignore', fd, fd], env });
      }
    } finally {
      fs.closeSync(fd);
    }
    this.child = child;
    this.exitStatus = undefined;
    this.exitPromise = new Promise<ExitStatus>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitStatus = { code, signal };
        this.release?.();
        this.release = undefined;
        resolve(this.exitStatus);
      });
      child.once('error', (err) => {
        this.exitStatus = { code: null, signal: `spawn error: ${err.message}` };
        this.release?.();
        this.release = undefined;
        resolve(this.exitStatus);
      });
    });
    this.release = guardChild(child, this.ensemble.rootDir);
    await waitUntil(
      async () => (this.exitStatus !== undefined ? true : (await this.fourLetterWord('srvr')) !== undefined),
      ANSWER_TIMEOUT_MS,
      `member ${this.sid} (${this.ensemble.kind}) to answer srvr`,
    );
  }

  /** SIGTERM, SIGKILL after a grace period; waits for the exit. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<ExitStatus | undefined> {
    const child = this.child;
    if (!child || this.exitStatus !== undefined) return this.exitStatus;
    child.kill(signal);
    const ended = await Promise.race([this.exited, delay(STOP_GRACE_MS).then(() => undefined)]);
    if (ended) return ended;
    child.kill('SIGKILL');
    return Promise.race([this.exited, delay(STOP_KILL_WAIT_MS).then(() => undefined)]);
  }

  kill(): Promise<ExitStatus | undefined> {
    return this.stop('SIGKILL');
  }

  /** The 4lw reply, or undefined when the member does not answer. */
  async fourLetterWord(cmd: 'srvr' | 'conf' | 'mntr' | 'stat'): Promise<string | undefined> {
    try {
      const reply = await fourLetterWord(HOST, this.ports.client, cmd, FOUR_LETTER_WORD_TIMEOUT_MS);
      return reply.length > 0 ? reply : undefined;
    } catch {
      return undefined;
    }
  }

  /** `Mode:` of srvr (leader, follower, observer), undefined when not serving. */
  async mode(): Promise<string | undefined> {
    const reply = await this.fourLetterWord('srvr');
    return reply === undefined ? undefined : /^Mode: (\w+)/m.exec(reply)?.[1];
  }

  async mntr(): Promise<Map<string, string>> {
    return parseMntr((await this.fourLetterWord('mntr')) ?? '');
  }

  /** Names of the `zoo.cfg*` files in the member's directory, sorted. */
  configFiles(): string[] {
    return fs
      .readdirSync(this.dir)
      .filter((n) => n.startsWith('zoo.cfg'))
      .sort();
  }

  readFile(name: string): string | undefined {
    try {
      return fs.readFileSync(path.join(this.dir, name), 'utf8');
    } catch {
      return undefined;
    }
  }

  log(): string {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }
}

export class ReconfigEnsemble {
  readonly members = new Map<number, ReconfigMember>();
  readonly superDigest: string;
  private stopped: Promise<void> | undefined;

  private constructor(
    readonly kind: ReconfigTargetKind,
    readonly rootDir: string,
    readonly superPassword: string,
  ) {
    this.superDigest = digestOf('super', superPassword);
  }

  static create(kind: ReconfigTargetKind, superPassword: string): ReconfigEnsemble {
    // The canonical path: ZooKeeper writes the canonical path of the dynamic file into zoo.cfg.
    const rootDir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `zk-reconfig-${kind}-`)));
    return new ReconfigEnsemble(kind, rootDir, superPassword);
  }

  /** Plans member `sid`: its directory, myid and three free ports (not started). */
  async plan(sid: number): Promise<ReconfigMember> {
    const existing = this.members.get(sid);
    if (existing) return existing;
    const taken = new Set([...this.members.values()].flatMap((m) => [m.ports.quorum, m.ports.election, m.ports.client]));
    const ports: number[] = [];
    while (ports.length < 3) {
      const p = await freePort();
      if (!taken.has(p) && !ports.includes(p)) ports.push(p);
    }
    const member = new ReconfigMember(this, sid, { quorum: ports[0], election: ports[1], client: ports[2] });
    this.members.set(sid, member);
    return member;
  }

  member(sid: number): ReconfigMember {
    const m = this.members.get(sid);
    if (!m) throw new Error(`no member ${sid} planned`);
    return m;
  }

  /** The `server.N=...` zoo.cfg lines of these sids (participants unless listed in `observers`). */
  serverLines(sids: readonly number[], observers: readonly number[] = []): string[] {
    return sids.map((sid) => serverSpec(sid, this.member(sid).ports, observers.includes(sid) ? 'observer' : undefined));
  }

  running(): ReconfigMember[] {
    return [...this.members.values()].filter((m) => m.isRunning());
  }

  /** Modes by sid of the running members. */
  async modes(): Promise<Map<number, string | undefined>> {
    const running = this.running();
    const modes = await Promise.all(running.map((m) => m.mode()));
    return new Map(running.map((m, i) => [m.sid, modes[i]]));
  }

  /** Waits (bounded) until the members given have exactly these modes; returns the leader. */
  async waitForModes(expected: ReadonlyMap<number, string>, timeoutMs: number): Promise<void> {
    let last = '';
    try {
      await waitUntil(
        async () => {
          const got = await Promise.all([...expected.keys()].map(async (sid) => [sid, await this.member(sid).mode()] as const));
          last = got.map(([sid, mode]) => `s${sid}=${mode ?? 'none'}`).join(' ');
          return got.every(([sid, mode]) => mode === expected.get(sid));
        },
        timeoutMs,
        `modes ${[...expected].map(([s, m]) => `s${s}=${m}`).join(' ')}`,
      );
    } catch (err) {
      throw new WaitTimeout(`${(err as Error).message} (last seen: ${last})`);
    }
  }

  /** Waits (bounded) until exactly one running member leads and every other one serves; its sid. */
  async waitForLeader(timeoutMs: number): Promise<number> {
    let last = '';
    try {
      return await waitUntil(
        async () => {
          const modes = await this.modes();
          last = [...modes].map(([sid, mode]) => `s${sid}=${mode ?? 'none'}`).join(' ');
          const leaders = [...modes].filter(([, m]) => m === 'leader').map(([sid]) => sid);
          const allServing = [...modes.values()].every((m) => m === 'leader' || m === 'follower' || m === 'observer');
          return leaders.length === 1 && allServing ? leaders[0] : undefined;
        },
        timeoutMs,
        'one leader, every other running member serving',
      );
    } catch (err) {
      throw new WaitTimeout(`${(err as Error).message} (last seen: ${last})`);
    }
  }

  /**
   * Port numbers, member directories and the super digest by symbolic names (`<q1>`, `<e1>`,
   * `<c1>`, `<dir1>`, ...), so that two ensembles' transcripts can be compared.
   */
  normalize(text: string): string {
    const names = new Map<string, string>();
    for (const m of this.members.values()) {
      names.set(String(m.ports.quorum), `<q${m.sid}>`);
      names.set(String(m.ports.election), `<e${m.sid}>`);
      names.set(String(m.ports.client), `<c${m.sid}>`);
    }
    for (const [port, name] of this.extraPortNames) names.set(String(port), name);
    let out = text;
    for (const m of this.members.values()) out = out.split(m.dir).join(`<dir${m.sid}>`);
    out = out.split(this.superDigest).join('<superDigest>');
    return out.replace(/\b\d{4,5}\b/g, (n) => names.get(n) ?? n);
  }

  private readonly extraPortNames = new Map<number, string>();

  /** A free port for a scenario's own use (an invalid server line, say), normalized as `name`. */
  async extraPort(name: string): Promise<number> {
    const taken = new Set([...this.members.values()].flatMap((m) => [m.ports.quorum, m.ports.election, m.ports.client]));
    for (;;) {
      const p = await freePort();
      if (!taken.has(p) && !this.extraPortNames.has(p)) {
        this.extraPortNames.set(p, `<${name}>`);
        return p;
      }
    }
  }

  /** Every member's log, for failure messages (the last `chars` of each). */
  logs(chars = 4000): string {
    return [...this.members.values()]
      .map((m) => {
        const log = m.log();
        return `---- s${m.sid} (${this.kind}) ----\n${log.length > chars ? '...' + log.slice(-chars) : log}`;
      })
      .join('\n');
  }

  /** Stops every member (SIGTERM, then SIGKILL) and removes the directory. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await Promise.all([...this.members.values()].map((m) => m.stop().catch(() => undefined)));
      fs.rmSync(this.rootDir, { recursive: true, force: true });
    })();
    return this.stopped;
  }
}
