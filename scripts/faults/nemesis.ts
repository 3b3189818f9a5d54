// The nemesis of a fault run: a schedule of faults drawn from a seed (the same seed gives the same
// schedule, whatever the machine), and its execution against a Cluster and its NetFaults, every
// event logged with CLOCK_MONOTONIC nanoseconds (the clock the workloads' histories use), and the
// leader seen by polling every member's `srvr` about every 500 ms.
//
// A fault whose target is "the leader" is resolved when it starts (who leads then is the run's
// business, not the seed's); every other choice (which fault, when, how long, which member, which
// side of a partition) is the schedule's.

import type { Cluster, Member } from './cluster';
import type { NetCapabilities, NetFaults } from './net';

export const NEMESES = [
  'kill',
  'pause',
  'partition-majority',
  'partition-bridge',
  'partition-leader',
  'partition-oneway',
  'loss',
  'duplicate',
  'delay',
  'reorder',
  'failpoint',
  'clock',
] as const;
export type NemesisKind = (typeof NEMESES)[number];

/** A deterministic generator (splitmix32 over a 32-bit state): no Math.random in a schedule. */
export class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  }
  int(lo: number, hiInclusive: number): number {
    return lo + Math.floor(this.next() * (hiInclusive - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  shuffle<T>(xs: readonly T[]): T[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }
}

/** Who a fault hits: the leader when it starts, or a member by id. */
export type FaultTarget = { role: 'leader' } | { role: 'member'; id: number };

export interface PlannedFault {
  kind: NemesisKind;
  /** Offset from the nemesis's start. */
  startMs: number;
  durationMs: number;
  target: FaultTarget;
  /** Member ids in a fixed random order: the sides of partitions are cut from it. */
  order: number[];
  /** loss / duplicate percent, delay ms. */
  amount?: number;
  /** failpoint: the zkts failpoint spec the member restarts with. */
  failpoint?: string;
  /** clock: the jump in ms (negative goes back). */
  clockJumpMs?: number;
}

export interface ScheduleOptions {
  seed: number;
  durationMs: number;
  members: number;
  nemeses: readonly NemesisKind[];
  /** Failpoint specs a `failpoint` fault picks from (zkts.failpoints syntax). */
  failpoints?: readonly string[];
  /** Quiet time at the start and at the end, with no fault. */
  quietMs?: number;
}

export const DEFAULT_FAILPOINTS: readonly string[] = ['fsync:eio@20', 'write:enospc@30'];

/** The faults of a run, from its seed alone. */
export function schedule(opts: ScheduleOptions): PlannedFault[] {
  if (opts.nemeses.length === 0) return [];
  for (const n of opts.nemeses) if (!(NEMESES as readonly string[]).includes(n)) throw new Error(`unknown nemesis ${n} (known: ${NEMESES.join(', ')})`);
  const rnd = new SeededRandom(opts.seed ^ 0x5a17);
  const quiet = opts.quietMs ?? 3000;
  const ids = Array.from({ length: opts.members }, (_, i) => i + 1);
  const out: PlannedFault[] = [];
  let t = quiet;
  // Cycle through the kinds in a shuffled order so that a short run still gets each of them.
  let bag: NemesisKind[] = [];
  for (;;) {
    if (bag.length === 0) bag = rnd.shuffle(opts.nemeses);
    const kind = bag.shift()!;
    const durationMs = faultDurationMs(kind, rnd);
    if (t + durationMs > opts.durationMs - quiet) break;
    const target: FaultTarget = rnd.next() < 0.6 ? { role: 'leader' } : { role: 'member', id: rnd.pick(ids) };
    const f: PlannedFault = { kind, startMs: t, durationMs, target, order: rnd.shuffle(ids) };
    if (kind === 'loss' || kind === 'duplicate' || kind === 'reorder') f.amount = rnd.int(10, 40);
    if (kind === 'delay') f.amount = rnd.int(50, 400);
    if (kind === 'failpoint') f.failpoint = rnd.pick(opts.failpoints ?? DEFAULT_FAILPOINTS);
    if (kind === 'clock') f.clockJumpMs = rnd.pick([-1, 1]) * rnd.int(5_000, 120_000);
    out.push(f);
    t += durationMs + rnd.int(1000, 3000);
  }
  return out;
}

function faultDurationMs(kind: NemesisKind, rnd: SeededRandom): number {
  // A pause outlasts syncLimit (5 ticks of 1 s), so that a paused leader wakes up after the others
  // elected a new one; a kill is down for a few seconds.
  if (kind === 'pause') return rnd.int(7000, 11000);
  if (kind === 'kill' || kind === 'failpoint') return rnd.int(1500, 4000);
  return rnd.int(3000, 8000);
}

/** One line of the nemesis log. */
export interface NemesisEvent {
  /** CLOCK_MONOTONIC ns. */
  t: bigint;
  kind: NemesisKind | 'leader' | 'heal' | 'note';
  phase: 'start' | 'end' | 'observed' | 'skipped' | 'error';
  /** Members hit (ids). */
  members?: number[];
  detail?: string;
  /** For 'leader': the leading member's id, or null when none leads. */
  leader?: number | null;
}

export function eventToJson(e: NemesisEvent): string {
  return JSON.stringify({ ...e, t: Number(e.t) });
}

/**
 * Clock jumps are made inside zkts (its clock source, injected); the nemesis only asks for them.
 * Until such a hook is given, a `clock` fault is skipped and logged as such.
 */
export interface ClockHook {
  jump(member: Member, offsetMs: number): Promise<void>;
  restore(member: Member): Promise<void>;
}

export interface NemesisOptions {
  cluster: Cluster;
  net: NetFaults;
  capabilities: NetCapabilities;
  log: (e: NemesisEvent) => void;
  clockHook?: ClockHook;
  leaderPollMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const now = (): bigint => process.hrtime.bigint();

/** Runs a schedule; heal() undoes whatever is still in force. */
export class Nemesis {
  /** Members found dead without the nemesis killing them (restarted by heal). */
  readonly crashes: string[] = [];
  private stopped = false;
  private leaderId: number | null | undefined = undefined;
  private leaderLoop: Promise<void> | undefined;

  constructor(private readonly o: NemesisOptions) {}

  /** Starts polling members' srvr; each change of leader is logged. */
  startLeaderWatch(): void {
    const poll = this.o.leaderPollMs ?? 500;
    this.leaderLoop = (async () => {
      while (!this.stopped) {
        const all = await this.o.cluster.srvrAll();
        const leaders = [...all].filter(([, s]) => s?.mode === 'leader').map(([id]) => id);
        const id = leaders.length === 1 ? leaders[0] : null;
        if (id !== this.leaderId) {
          this.leaderId = id;
          this.o.log({ t: now(), kind: 'leader', phase: 'observed', leader: id, detail: leaders.length > 1 ? `several say they lead: ${leaders.join(',')}` : undefined });
        }
        await sleep(poll);
      }
    })();
  }

  async stopLeaderWatch(): Promise<void> {
    this.stopped = true;
    await this.leaderLoop;
  }

  private async resolve(target: FaultTarget): Promise<Member> {
    if (target.role === 'member') return this.o.cluster.member(target.id);
    const leader = await this.o.cluster.leader();
    // No leader right now: the fault goes to the first member of the planned order that runs.
    return leader ?? this.o.cluster.members.find((m) => m.state === 'running') ?? this.o.cluster.members[0];
  }

  /** Runs every fault of `plan` at its time; returns when the last one ended. */
  async run(plan: readonly PlannedFault[], shouldStop: () => boolean = () => false): Promise<void> {
    const t0 = Date.now();
    for (const f of plan) {
      const wait = t0 + f.startMs - Date.now();
      if (wait > 0) await sleep(wait);
      if (shouldStop()) break;
      try {
        await this.one(f);
      } catch (err) {
        this.o.log({ t: now(), kind: f.kind, phase: 'error', detail: (err as Error).message });
      }
    }
  }

  private async one(f: PlannedFault): Promise<void> {
    const { cluster, net, log } = this.o;
    const target = await this.resolve(f.target);
    const addr = (id: number): string => cluster.member(id).address;
    const order = f.order;
    const start = (members: number[], detail: string): void => log({ t: now(), kind: f.kind, phase: 'start', members, detail });
    const end = (members: number[], detail?: string): void => log({ t: now(), kind: f.kind, phase: 'end', members, detail });
    switch (f.kind) {
      case 'kill':
      case 'failpoint': {
        if (f.kind === 'failpoint' && cluster.target !== 'zkts') {
          log({ t: now(), kind: f.kind, phase: 'skipped', members: [target.id], detail: 'storage failpoints exist in zkts only' });
          return;
        }
        start([target.id], f.kind === 'kill' ? `kill -9 ${target.name} (pid ${target.pid})` : `kill -9 ${target.name}, restart with zkts.failpoints=${f.failpoint}`);
        await target.kill9();
        if (f.kind === 'failpoint') {
          target.setFailpoints(f.failpoint);
          target.start();
          await sleep(f.durationMs);
          const outcome = target.exitedByItself ? `it stopped by itself (${target.lastExit})` : 'it kept running';
          log({ t: now(), kind: f.kind, phase: 'observed', members: [target.id], detail: `under ${f.failpoint} ${outcome}` });
          await target.kill9();
          target.exitedByItself = false;
          target.setFailpoints(undefined);
        } else {
          await sleep(f.durationMs);
        }
        target.start();
        end([target.id], `restarted ${target.name} (pid ${target.pid})`);
        return;
      }
      case 'pause': {
        start([target.id], `SIGSTOP ${target.name} (pid ${target.pid})`);
        target.pause();
        await sleep(f.durationMs);
        target.resume();
        const all = await cluster.srvrAll();
        const leaders = [...all].filter(([, x]) => x?.mode === 'leader').map(([id]) => cluster.member(id).name);
        end([target.id], `SIGCONT ${target.name}; saying they lead now: ${leaders.join(', ') || 'none'}`);
        return;
      }
      case 'partition-majority': {
        // The target lands on the minority side.
        const rest = order.filter((id) => id !== target.id);
        const minority = [target.id, ...rest.slice(0, Math.floor(order.length / 2) - 1)];
        const majority = order.filter((id) => !minority.includes(id));
        net.partition([minority.map(addr), majority.map(addr)]);
        start([...minority], `minority {${minority.join(',')}} | majority {${majority.join(',')}}`);
        break;
      }
      case 'partition-bridge': {
        // The target is the bridge: it sees both halves, which do not see each other.
        const rest = order.filter((id) => id !== target.id);
        const half = Math.floor(rest.length / 2);
        const a = rest.slice(0, half);
        const b = rest.slice(half);
        net.partition([a.map(addr), b.map(addr)]);
        start([target.id], `{${a.join(',')}} | bridge ${target.id} | {${b.join(',')}}`);
        break;
      }
      case 'partition-leader': {
        const rest = order.filter((id) => id !== target.id);
        net.partition([[addr(target.id)], rest.map(addr)]);
        start([target.id], `${target.name} isolated from {${rest.join(',')}}`);
        break;
      }
      case 'partition-oneway': {
        const rest = order.filter((id) => id !== target.id);
        for (const id of rest) net.dropOneWay(addr(target.id), addr(id));
        start([target.id], `packets from ${target.name} to {${rest.join(',')}} dropped; the other way passes`);
        break;
      }
      case 'loss':
      case 'duplicate':
      case 'delay':
      case 'reorder': {
        const caps = this.o.capabilities;
        const able = f.kind === 'loss' ? caps.loss : f.kind === 'duplicate' ? caps.duplicate : f.kind === 'delay' ? caps.delay : caps.reorder;
        if (!able) {
          log({ t: now(), kind: f.kind, phase: 'skipped', members: [target.id], detail: caps.notes.join('; ') });
          return;
        }
        const amount = f.amount ?? 0;
        const effect =
          f.kind === 'loss'
            ? { lossPct: amount }
            : f.kind === 'duplicate'
              ? { duplicatePct: amount }
              : f.kind === 'delay'
                ? { delayMs: amount, jitterMs: Math.floor(amount / 4) }
                : { delayMs: 50, jitterMs: 10, reorderPct: amount };
        const rest = order.filter((id) => id !== target.id);
        for (const id of rest) {
          await net.link(addr(target.id), addr(id), effect);
          await net.link(addr(id), addr(target.id), effect);
        }
        const what = f.kind === 'delay' ? `${amount} ms delay (jitter ${Math.floor(amount / 4)} ms)` : f.kind === 'reorder' ? `${amount}% reordered (50 ms delay for the rest)` : `${amount}% ${f.kind}`;
        start([target.id], `${what} on every link of ${target.name}`);
        break;
      }
      case 'clock': {
        const hook = this.o.clockHook;
        if (!hook) {
          log({ t: now(), kind: 'clock', phase: 'skipped', members: [target.id], detail: 'no clock hook registered (clock jumps are made inside zkts)' });
          return;
        }
        start([target.id], `clock of ${target.name} jumps ${f.clockJumpMs} ms`);
        await hook.jump(target, f.clockJumpMs ?? 0);
        await sleep(f.durationMs);
        await hook.restore(target);
        end([target.id]);
        return;
      }
    }
    // Network faults: hold, then heal.
    await sleep(f.durationMs);
    net.healAll();
    end([target.id], 'healed');
  }

  /** Undoes everything: network healed, paused members resumed, killed members started. */
  async heal(): Promise<void> {
    this.o.net.healAll();
    for (const m of this.o.cluster.members) {
      if (m.exitedByItself) {
        this.crashes.push(`${m.name} exited by itself (${m.lastExit}); log ${m.logPath}`);
        this.o.log({ t: now(), kind: 'note', phase: 'observed', members: [m.id], detail: `${m.name} had exited by itself (${m.lastExit}); restarted` });
        await m.collectCrash();
      }
      if (m.state === 'paused') m.resume();
      if (m.state === 'killed') {
        m.setFailpoints(undefined);
        m.start();
      }
    }
    this.o.log({ t: now(), kind: 'heal', phase: 'end', detail: 'network healed, every member running' });
  }
}
