// A 3-member zkts ensemble of real processes for the fault tests: each member from its own zoo.cfg
// on a dataDir that outlives its process, started with or without failpoints, killed with SIGKILL;
// writers on every member that record what was acknowledged; and the end-of-test check that every
// acknowledged write is on every member and the trees are identical.
import type { Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Err, OpCode } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import { waitFor, ZkClient } from '../util/client';
import { fourLetterWord, type RunningServer, startZkts } from '../util/servers';
import { dumpTree, HOST, memberConfig, memberPorts, type MemberPorts, settledZxids } from '../quorum/members';

export const WAIT_MS = 60_000;

type Tap = Test;

export interface StartOptions {
  /** zkts.failpoints of this start. */
  failpoints?: string;
  /** A file the member arms failpoints from on SIGUSR2 (zkts.failpointsFile). */
  failpointsFile?: string;
  /** 'answering' when the member may die before it serves (a crash point in its sync). */
  readyWhen?: 'serving' | 'answering';
  systemProps?: Record<string, string>;
}

export class ProcEnsemble {
  readonly members: (RunningServer | undefined)[] = [undefined, undefined, undefined];
  /** The output of every process that ended, by sid, oldest first. */
  readonly pastLogs: string[][] = [[], [], []];
  private constructor(
    readonly ports: MemberPorts[],
    readonly dirs: string[],
    private readonly extra: Record<string, string>,
    private readonly props: Record<string, string>,
  ) {}

  /** Where member sid reads the spec it arms on SIGUSR2. */
  specFile(sid: number): string {
    return path.join(this.dirs[sid - 1], 'failpoints.spec');
  }

  /**
   * Arms `spec` in a running member now (its spec file, then SIGUSR2), and waits (bounded) for the
   * member to say it armed it.
   */
  async arm(sid: number, spec: string): Promise<void> {
    const m = this.members[sid - 1]!;
    const count = () => m.log().split('failpoints armed from the file').length;
    const before = count();
    fs.writeFileSync(this.specFile(sid), spec);
    process.kill(m.pid, 'SIGUSR2');
    await waitFor(() => count() > before, `member ${sid} to arm ${spec}`, 10_000);
  }

  static async create(t: Tap, extra: Record<string, string> = {}, props: Record<string, string> = {}): Promise<ProcEnsemble> {
    const ports = await memberPorts(3);
    const dirs = [1, 2, 3].map((sid) => {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), `zkts-faults-${sid}-`));
      fs.writeFileSync(path.join(d, 'myid'), `${sid}\n`);
      t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
      return d;
    });
    const e = new ProcEnsemble(ports, dirs, extra, props);
    t.teardown(() => e.stopAll());
    return e;
  }

  async stopAll(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      const m = this.members[i];
      this.members[i] = undefined;
      await m?.stop();
    }
  }

  clientPort(sid: number): number {
    return this.ports[sid - 1].client;
  }

  async start(sid: number, o: StartOptions = {}): Promise<RunningServer> {
    if (this.members[sid - 1] !== undefined) throw new Error(`member ${sid} is running`);
    const systemProps: Record<string, string> = { ...this.props, ...o.systemProps };
    if (o.failpoints !== undefined) systemProps['zkts.failpoints'] = o.failpoints;
    // Every member can be armed at run time (ProcEnsemble.arm); the file is read only on SIGUSR2.
    systemProps['zkts.failpointsFile'] = o.failpointsFile ?? this.specFile(sid);
    const m = await startZkts({
      extraConfig: memberConfig(this.dirs[sid - 1], this.ports, { tickTime: '500', 'admin.enableServer': 'false', ...this.extra }),
      port: this.clientPort(sid),
      systemProps,
      readyWhen: o.readyWhen ?? 'answering',
    });
    this.members[sid - 1] = m;
    return m;
  }

  /**
   * Starts a member armed with `failpoints` that is to kill itself, and waits (bounded) for that:
   * its exit and output, whether it died before or after it first answered.
   */
  async startToCrash(sid: number, failpoints: string, o: StartOptions = {}): Promise<{ code: number | null; signal: string | null; log: string }> {
    try {
      await this.start(sid, { ...o, failpoints, readyWhen: 'answering' });
    } catch (e) {
      const m = /exited before it was ready \((?:signal (\w+)|code (\d+))\); output:\n([\s\S]*)$/.exec((e as Error).message);
      if (m === null) throw e;
      this.pastLogs[sid - 1].push(m[3]);
      return { signal: m[1] ?? null, code: m[2] === undefined ? null : Number(m[2]), log: m[3] };
    }
    return this.exitOf(sid);
  }

  /** SIGKILL, and the process's end awaited. */
  async kill(sid: number): Promise<void> {
    const m = this.members[sid - 1];
    if (m === undefined) return;
    process.kill(m.pid, 'SIGKILL');
    await m.exited;
    await this.forget(sid);
  }

  /** The member's process ended by itself: its output is kept, its slot freed. */
  async forget(sid: number): Promise<string> {
    const m = this.members[sid - 1]!;
    this.members[sid - 1] = undefined;
    await m.stop();
    const out = m.log();
    this.pastLogs[sid - 1].push(out);
    return out;
  }

  /**
   * Waits (bounded) for the member to exit on its own; the exit and its output. A member that
   * does not exit fails the wait: a failpoint that never fired cannot pass a test.
   */
  async exitOf(sid: number, timeoutMs = WAIT_MS): Promise<{ code: number | null; signal: string | null; log: string }> {
    const m = this.members[sid - 1]!;
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([m.exited!, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)))]);
    clearTimeout(timer);
    if (r === 'timeout') throw new Error(`member ${sid} did not exit within ${timeoutMs} ms; its output:\n${m.log().slice(-4000)}`);
    const log = await this.forget(sid);
    return { ...r, log };
  }

  async mode(sid: number): Promise<string | undefined> {
    if (this.members[sid - 1] === undefined) return undefined;
    return /Mode: (\w+)/.exec(await fourLetterWord(HOST, this.clientPort(sid), 'srvr').catch(() => ''))?.[1];
  }

  /** The leader's sid once a leader serves with at least `followers` followers. */
  async leader(followers = 1, timeoutMs = WAIT_MS): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const modes = await Promise.all([1, 2, 3].map((sid) => this.mode(sid)));
      const i = modes.indexOf('leader');
      if (i >= 0 && modes.filter((m) => m === 'follower').length >= followers) return i + 1;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no leader with ${followers} follower(s) within ${timeoutMs} ms`);
  }

  async waitMode(sid: number, mode: string, timeoutMs = WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await this.mode(sid)) === mode) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`member ${sid} not ${mode} within ${timeoutMs} ms (it is ${await this.mode(sid)})`);
  }

  /** The running members' sids. */
  running(): number[] {
    return [1, 2, 3].filter((sid) => this.members[sid - 1] !== undefined);
  }
}

/** Writers on every member: creates of unique paths, the acknowledged ones recorded. */
export class Writers {
  readonly acked: string[] = [];
  readonly errors: string[] = [];
  private stopped = false;
  private readonly loops: Promise<void>[];

  constructor(
    private readonly e: ProcEnsemble,
    prefix = '/w',
    /** A pause after each acknowledged write: a long test keeps its tree small. */
    private readonly pauseMs = 0,
  ) {
    this.loops = [0, 1, 2].map((w) => this.loop(w, prefix));
  }

  private async loop(w: number, prefix: string): Promise<void> {
    let i = 0;
    let target = w;
    while (!this.stopped) {
      let c: ZkClient;
      try {
        if (this.e.members[target] === undefined) throw new Error('down');
        c = await ZkClient.connect(HOST, this.e.ports[target].client, {}, 2000);
        if (c.connectResponse.timeOut <= 0) throw new Error('refused');
      } catch {
        target = (target + 1) % 3;
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      while (!this.stopped && !c.closed) {
        const p = `${prefix}${w}-${i}`;
        const r = await c.create(p, Buffer.from(p)).catch(() => undefined);
        i++;
        if (r?.header.err === Err.OK) {
          this.acked.push(p);
          if (this.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, this.pauseMs));
        }
        else if (r !== undefined) this.errors.push(`${p}: ${r.header.err}`);
        // No answer: the write may or may not have committed; the next one takes a new path.
        else break;
      }
      c.destroy();
      target = (target + 1) % 3;
    }
  }

  /** Waits until `n` more writes than now are acknowledged. */
  async more(n: number, timeoutMs = WAIT_MS): Promise<void> {
    const target = this.acked.length + n;
    await waitFor(() => this.acked.length >= target, `${n} more acknowledged writes`, timeoutMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

/**
 * Every member runs and serves; every acknowledged write is on every member; the trees (every
 * znode with every Stat field) are identical; the zxids agree and so do the digests of the newest
 * zxid every member logged one for; no member counted a digest mismatch.
 */
export async function checkConverged(t: Tap, e: ProcEnsemble, acked: readonly string[]): Promise<void> {
  t.same(e.running(), [1, 2, 3], 'every member runs');
  for (const sid of [1, 2, 3]) {
    const deadline = Date.now() + WAIT_MS;
    while (!['leader', 'follower'].includes((await e.mode(sid)) ?? '') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  }
  const dumps: string[] = [];
  for (const sid of [1, 2, 3]) {
    const c = await ZkClient.connect(HOST, e.clientPort(sid));
    t.equal((await c.request(OpCode.sync, (w) => w.writeString('/'))).header.err, Err.OK, `member ${sid} syncs`);
    const r = await c.getChildren('/');
    const children = new Set(R.decodeGetChildrenResponse(r.reader).children);
    const missing = acked.filter((p) => !children.has(p.slice(1)));
    t.same(missing, [], `member ${sid} has every one of the ${acked.length} acknowledged writes`);
    dumps.push((await dumpTree(c)).join('\n'));
    c.destroy();
  }
  t.ok(dumps[0].length > 0 && dumps.every((d) => d === dumps[0]), 'identical trees (every znode, data and Stat)');
  const zxids = await settledZxids([1, 2, 3].map((sid) => e.clientPort(sid)));
  t.equal(new Set(zxids).size, 1, `the same zxid everywhere (${zxids.join(', ')})`);
  const hashes = await Promise.all([1, 2, 3].map(async (sid) => parseHash(await fourLetterWord(HOST, e.clientPort(sid), 'hash'))));
  const common = [...hashes[0].keys()].filter((z) => hashes.every((h) => h.has(z))).sort((a, b) => (BigInt('0x' + a) < BigInt('0x' + b) ? -1 : 1));
  const newest = common[common.length - 1];
  if (newest !== undefined) t.ok(hashes.every((h) => h.get(newest) === hashes[0].get(newest)), `the same tree digest at 0x${newest} everywhere`);
  for (const sid of [1, 2, 3]) {
    const mntr = await fourLetterWord(HOST, e.clientPort(sid), 'mntr');
    t.equal(/zk_digest_mismatches_count\t(\d+)/.exec(mntr)?.[1], '0', `member ${sid} counted no digest mismatch`);
  }
}

function parseHash(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+): (-?\d+)$/.exec(line.trim());
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

/** The failpoint's line in a process's output: the proof that the moment happened. */
export function failpointLine(log: string, point: string): string | undefined {
  return log.split('\n').find((l) => l.startsWith(`zkts: failpoint ${point} hit`));
}
