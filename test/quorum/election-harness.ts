// A cluster of election cores on a scripted network, driven by one-line commands, for the
// transcript tests. Each link is FIFO; nothing moves unless a command says so, except loopback
// (a core's notification to itself), which is delivered at once, as QuorumCnxManager does.
import { Election, ElectionReady } from '../../src/quorum/election';
import { HierarchicalVerifier, MajorityVerifier, QuorumMember, QuorumVerifier } from '../../src/quorum/verifier';
import { LONG_MIN, Notification, PeerState } from '../../src/quorum/vote';

const STATE_NAMES = ['LOOKING', 'FOLLOWING', 'LEADING', 'OBSERVING'];
const LOOP_MAX = 10_000;

export function fmtLong(v: bigint): string {
  return v === LONG_MIN ? 'MIN' : v.toString();
}
export function fmtZxid(v: bigint): string {
  return v === LONG_MIN ? 'MIN' : v < 0n ? v.toString() : `0x${v.toString(16)}`;
}
export function fmtNotification(n: Notification): string {
  const version = n.version === 2 ? '' : ` version=${n.version}`;
  return `${STATE_NAMES[n.state] ?? n.state} leader=${fmtLong(n.leader)} zxid=${fmtZxid(n.zxid)} round=${n.electionEpoch} peerEpoch=${fmtLong(n.peerEpoch)}${version}`;
}

function parseLong(s: string): bigint {
  if (s === 'MIN') return LONG_MIN;
  return BigInt(s);
}

function parseState(s: string): PeerState {
  const i = STATE_NAMES.indexOf(s);
  if (i < 0) throw new Error(`unknown state ${s}`);
  return i as PeerState;
}

/** key=value arguments after the positional ones. */
function kv(args: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq > 0) m.set(a.slice(0, eq), a.slice(eq + 1));
  }
  return m;
}

function need(m: Map<string, string>, k: string): string {
  const v = m.get(k);
  if (v === undefined) throw new Error(`missing ${k}=`);
  return v;
}

function sidList(s: string | undefined): bigint[] {
  if (s === undefined || s === '') return [];
  return s.split(',').map((x) => BigInt(x));
}

function parseLink(s: string): [bigint, bigint] {
  const m = /^(\d+)->(\d+)$/.exec(s);
  if (!m) throw new Error(`bad link ${s}`);
  return [BigInt(m[1]), BigInt(m[2])];
}

interface CoreSpec {
  sid: bigint;
  learnerType: 'participant' | 'observer';
}

export class ScriptedCluster {
  nowMs = 0;
  private verifier: QuorumVerifier | undefined;
  private readonly specs = new Map<bigint, CoreSpec>();
  private readonly cores = new Map<bigint, Election>();
  /** In-flight notifications by link "from->to", oldest first. */
  private readonly links = new Map<string, Notification[]>();
  private opts: { min?: number; max?: number; finalize?: number } = {};
  private out: string[] = [];

  /** Runs one command and returns what it printed. */
  run(line: string): string {
    this.out = [];
    const [cmd, ...args] = line.trim().split(/\s+/);
    switch (cmd) {
      case 'cluster':
        this.cluster(args);
        break;
      case 'start':
      case 'restart':
        this.start(cmd === 'restart', args);
        break;
      case 'crash':
        this.crash(BigInt(args[0]));
        break;
      case 'deliver':
        this.deliver(args);
        break;
      case 'drop':
        this.drop(args);
        break;
      case 'dup':
        this.dup(args);
        break;
      case 'inject':
        this.inject(args);
        break;
      case 'tick':
        this.tick(args);
        break;
      case 'time':
        this.nowMs += parseDuration(args[0]);
        this.out.push(`t=${this.nowMs}ms`);
        break;
      case 'settle':
        this.settle(args);
        break;
      case 'endrole':
        this.cores.get(BigInt(args[0]))!.endRole(this.nowMs);
        break;
      case 'status':
        this.status();
        break;
      case 'net':
        this.net();
        break;
      default:
        throw new Error(`unknown command ${cmd}`);
    }
    this.flush();
    return this.out.length === 0 ? 'ok' : this.out.join('\n');
  }

  private cluster(args: string[]): void {
    const m = kv(args);
    const voters = sidList(m.get('voters'));
    const observers = sidList(m.get('observers'));
    const nonvoters = sidList(m.get('nonvoters')); // participants the config does not list
    const members: QuorumMember[] = [];
    for (const sid of voters) members.push(member(sid, 'participant'));
    for (const sid of observers) members.push(member(sid, 'observer'));
    // weights=3:0,2:2 makes a hierarchical verifier: one group of all voters, these weights.
    const weights = m.get('weights');
    this.verifier =
      weights === undefined
        ? new MajorityVerifier(members, 0n)
        : new HierarchicalVerifier(
            members,
            new Map([[1n, voters]]),
            new Map(weights.split(',').map((w) => w.split(':').map((x) => BigInt(x)) as [bigint, bigint])),
            0n,
          );
    for (const sid of voters) this.specs.set(sid, { sid, learnerType: 'participant' });
    for (const sid of observers) this.specs.set(sid, { sid, learnerType: 'observer' });
    for (const sid of nonvoters) this.specs.set(sid, { sid, learnerType: 'participant' });
    this.opts = {
      min: m.has('min') ? Number(m.get('min')) : undefined,
      max: m.has('max') ? Number(m.get('max')) : undefined,
      finalize: m.has('finalize') ? Number(m.get('finalize')) : undefined,
    };
  }

  private start(restart: boolean, args: string[]): void {
    const sid = BigInt(args[0]);
    const spec = this.specs.get(sid);
    if (spec === undefined || this.verifier === undefined) throw new Error(`no server ${sid} in the cluster`);
    const m = kv(args.slice(1));
    let core = this.cores.get(sid);
    if (restart || core === undefined) {
      if (restart && core !== undefined) this.crash(sid);
      core = new Election({
        mySid: sid,
        verifier: this.verifier,
        learnerType: spec.learnerType,
        minNotificationIntervalMs: this.opts.min,
        maxNotificationIntervalMs: this.opts.max,
        finalizeWaitMs: this.opts.finalize,
      });
      this.cores.set(sid, core);
    }
    core.startLooking(this.nowMs, BigInt(need(m, 'zxid')), BigInt(need(m, 'epoch')));
  }

  private crash(sid: bigint): void {
    this.cores.delete(sid);
    for (const [key, q] of this.links) {
      const [from, to] = key.split('->').map((x) => BigInt(x));
      if (from === sid || to === sid) {
        if (q.length > 0) this.out.push(`${key}: ${q.length} in flight lost`);
        this.links.delete(key);
      }
    }
  }

  private queue(from: bigint, to: bigint): Notification[] {
    const key = `${from}->${to}`;
    let q = this.links.get(key);
    if (q === undefined) this.links.set(key, (q = []));
    return q;
  }

  private deliverOne(from: bigint, to: bigint): boolean {
    const q = this.queue(from, to);
    const n = q.shift();
    if (n === undefined) return false;
    const core = this.cores.get(to);
    if (core === undefined) {
      this.out.push(`${from}->${to}: ${to} is down, dropped`);
      return true;
    }
    core.step(this.nowMs, n);
    this.flush();
    return true;
  }

  private deliver(args: string[]): void {
    if (args[0] === 'all') {
      // Round-robin over the links in order, until nothing is in flight.
      for (let i = 0; i < LOOP_MAX; i++) {
        const keys = [...this.links.keys()].filter((k) => this.links.get(k)!.length > 0).sort(compareLinks);
        if (keys.length === 0) return;
        for (const key of keys) {
          const [from, to] = key.split('->').map((x) => BigInt(x));
          this.out.push(`deliver ${key}`);
          this.deliverOne(from, to);
        }
      }
      throw new Error('deliver all did not settle');
    }
    const [from, to] = parseLink(args[0]);
    const count = args[1] === 'all' ? Infinity : Number(args[1] ?? 1);
    let done = 0;
    while (done < count && this.deliverOne(from, to)) done++;
    if (done === 0) throw new Error(`nothing in flight on ${from}->${to}`);
  }

  private drop(args: string[]): void {
    const [from, to] = parseLink(args[0]);
    const q = this.queue(from, to);
    const count = args[1] === 'all' ? q.length : Number(args[1] ?? 1);
    if (q.length < count || count === 0) throw new Error(`fewer than ${count} in flight on ${from}->${to}`);
    q.splice(0, count);
    this.out.push(`${from}->${to}: dropped ${count}`);
  }

  private dup(args: string[]): void {
    const [from, to] = parseLink(args[0]);
    const q = this.queue(from, to);
    if (q.length === 0) throw new Error(`nothing in flight on ${from}->${to}`);
    q.unshift({ ...q[0] });
  }

  private inject(args: string[]): void {
    const [from, to] = parseLink(args[0]);
    const m = kv(args.slice(2));
    const n: Notification = {
      sid: from,
      state: parseState(args[1]),
      leader: parseLong(need(m, 'leader')),
      zxid: parseLong(need(m, 'zxid')),
      electionEpoch: BigInt(need(m, 'round')),
      peerEpoch: parseLong(need(m, 'peerEpoch')),
      version: Number(m.get('version') ?? 2),
      config: m.has('config') ? m.get('config')!.replace(/\\n/g, '\n') : this.verifier?.toString(),
    };
    this.queue(from, to).push(n);
  }

  private tick(args: string[]): void {
    if (args[1] !== undefined) this.nowMs += parseDuration(args[1]);
    const sids = args[0] === 'all' ? [...this.cores.keys()].sort(compareSids) : [BigInt(args[0])];
    this.out.push(`t=${this.nowMs}ms`);
    for (const sid of sids) {
      const core = this.cores.get(sid);
      if (core === undefined) throw new Error(`${sid} is not running`);
      core.tick(this.nowMs);
      this.flush();
    }
  }

  private settle(args: string[]): void {
    const sid = BigInt(args[0]);
    const m = kv(args.slice(2));
    this.cores.get(sid)!.setSettledState(parseState(args[1]), {
      leader: parseLong(need(m, 'leader')),
      zxid: parseLong(need(m, 'zxid')),
      peerEpoch: parseLong(need(m, 'peerEpoch')),
    });
  }

  private status(): void {
    for (const sid of [...this.specs.keys()].sort(compareSids)) {
      const core = this.cores.get(sid);
      if (core === undefined) {
        this.out.push(`${sid}: down`);
        continue;
      }
      const p = core.proposedVote;
      const wake = core.nextWakeMs();
      const held = core.heldCount > 0 ? ` held=${core.heldCount}` : '';
      this.out.push(
        `${sid}: ${STATE_NAMES[core.peerState]} round=${core.round} proposal=(leader=${fmtLong(p.leader)} zxid=${fmtZxid(p.zxid)} peerEpoch=${fmtLong(p.peerEpoch)}) timeout=${core.notificationTimeoutMs}ms wake=${wake === undefined ? '-' : `${wake}ms`}${held}`,
      );
    }
  }

  private net(): void {
    for (const key of [...this.links.keys()].sort(compareLinks)) {
      for (const n of this.links.get(key)!) this.out.push(`${key}: ${fmtNotification(n)}`);
    }
    if (this.out.length === 0) this.out.push('nothing in flight');
  }

  /** Prints and consumes every core's Ready; loopback notifications go straight back in. */
  private flush(): void {
    for (let i = 0; i < LOOP_MAX; i++) {
      const loopback: Array<[Election, Notification]> = [];
      for (const sid of [...this.cores.keys()].sort(compareSids)) {
        const core = this.cores.get(sid)!;
        if (!core.hasReady()) continue;
        const rd = core.ready();
        this.printReady(sid, rd);
        core.advance();
        for (const s of rd.send) {
          if (s.to === sid) loopback.push([core, s.n]);
          else this.queue(sid, s.to).push(s.n);
        }
      }
      if (loopback.length === 0) return;
      for (const [core, n] of loopback) if (this.cores.get(core.mySid) === core) core.step(this.nowMs, n);
    }
    throw new Error('flush did not settle');
  }

  private printReady(sid: bigint, rd: ElectionReady): void {
    // Sends of one notification to several peers share a line.
    const groups = new Map<string, bigint[]>();
    for (const s of rd.send) {
      const text = fmtNotification(s.n);
      const list = groups.get(text);
      if (list === undefined) groups.set(text, [s.to]);
      else list.push(s.to);
    }
    for (const [text, to] of groups) this.out.push(`${sid}->${to.join(',')}: ${text}`);
    if (rd.connectAll) this.out.push(`${sid}: connectAll`);
    if (rd.decided !== undefined) {
      const d = rd.decided;
      this.out.push(
        `${sid}: decided ${STATE_NAMES[d.state]} leader=${fmtLong(d.vote.leader)} zxid=${fmtZxid(d.vote.zxid)} peerEpoch=${fmtLong(d.vote.peerEpoch)} round=${d.electionEpoch} via=${d.via}`,
      );
    }
    if (rd.configChange !== undefined) {
      this.out.push(`${sid}: config version=${rd.configChange.verifier.version.toString(16)} restartElection=${rd.configChange.restartElection}`);
    }
  }
}

function member(sid: bigint, type: 'participant' | 'observer'): QuorumMember {
  return { sid, host: '127.0.0.1', quorumPort: 2000 + Number(sid), electionPort: 3000 + Number(sid), type };
}

function parseDuration(s: string): number {
  const m = /^\+?(\d+)(ms|s)$/.exec(s);
  if (!m) throw new Error(`bad duration ${s}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

function compareSids(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareLinks(a: string, b: string): number {
  const [a1, a2] = a.split('->').map(Number);
  const [b1, b2] = b.split('->').map(Number);
  return a1 - b1 || a2 - b2;
}

/**
 * A transcript file: commands, each followed by `----` and its expected output up to a blank line.
 * Lines starting with # (outside an output block) are comments. Returns the file rewritten with the
 * actual outputs, and the mismatches.
 */
export function runTranscript(text: string): { rewritten: string; mismatches: Array<{ line: number; command: string; expected: string; actual: string }> } {
  const lines = text.split('\n');
  const cluster = new ScriptedCluster();
  const out: string[] = [];
  const mismatches: Array<{ line: number; command: string; expected: string; actual: string }> = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '' || line.startsWith('#')) {
      out.push(line);
      i++;
      continue;
    }
    const command = line;
    const commandLine = i + 1;
    i++;
    if (lines[i] !== '----') throw new Error(`line ${i + 1}: expected ---- after the command "${command}"`);
    i++;
    const expected: string[] = [];
    while (i < lines.length && lines[i] !== '') expected.push(lines[i++]);
    let actual: string;
    try {
      actual = cluster.run(command);
    } catch (e) {
      actual = `error: ${(e as Error).message}`;
    }
    if (actual !== expected.join('\n')) mismatches.push({ line: commandLine, command, expected: expected.join('\n'), actual });
    out.push(command, '----', actual);
  }
  return { rewritten: out.join('\n'), mismatches };
}
