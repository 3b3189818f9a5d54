// A whole-stack simulation of one ensemble from a seed: every member runs the real election core
// (election.ts) and, for the role it decides, the real Zab core (leader.ts or learner.ts), going
// LOOKING -> LEADING/FOLLOWING/OBSERVING -> LOOKING as quorumpeer.ts does, on a simulated network
// (election notifications lost, duplicated and delayed; quorum connections FIFO, delayed, stalled
// or cut by partitions), with crashes that lose what was not fsynced, restarts from the disk, and
// clients that write, read and sync through any member. See stack-sim.test.ts for what is checked.
import { OpCode } from '../../../src/protocol/constants';
import { learnerRoleIn } from '../../../src/quorum/activation';
import { Election, type ElectionDecision } from '../../../src/quorum/election';
import { ZabLeader } from '../../../src/quorum/leader';
import { ZabLearner } from '../../../src/quorum/learner';
import type { Activation, LoggedTxn, Ready } from '../../../src/quorum/ready';
import { decideReconfig, type ReconfigRequestFields } from '../../../src/quorum/reconfigrequest';
import { appendToRuns, type ZxidRun } from '../../../src/quorum/syncplan';
import { parseQuorumVerifier, type QuorumVerifier } from '../../../src/quorum/verifier';
import { PeerState, type Notification } from '../../../src/quorum/vote';
import { PacketType, type QuorumPacket } from '../../../src/quorum/wire/packets';
import { OP_SYNC, reconfigTxnConfig } from '../../../src/quorum/zabpayloads';
import { serializeTxn } from '../../../src/storage/txnserde';
import { counterOf, epochOf } from '../../../src/storage/zxid';
import { prng } from '../../util/prng';
import { majorityVerifier } from '../majority';
import { hex, packetText, readyLines } from '../zabprint';
import { EventQueue } from './events';

export class SimFailure extends Error {}

const TICK_MS = 100;
const INIT_LIMIT = 10;
const SYNC_LIMIT = 5;
/** The learner shell's connect attempts to its leader, 100 ms apart (learnershell.ts). */
const CONNECT_ATTEMPTS = 5;
const CONNECT_RETRY_MS = 100;
/** After the faults end: the ensemble must have converged within this much simulated time. */
const HEAL_LIMIT_MS = 240_000;
const TRACE_KEEP = 300;
const CLIENT_OP_TIMEOUT_MS = 4_000;
/** What a leader may send before its append is durable (ready.ts, item 8). */
const EARLY_TYPES = new Set<number>([PacketType.PROPOSAL, PacketType.COMMIT, PacketType.INFORM, PacketType.PING, PacketType.SYNC]);
const STATE_NAMES = ['LOOKING', 'FOLLOWING', 'LEADING', 'OBSERVING'];

interface Disk {
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  /** The committed configuration (zoo.cfg's dynamic file): written at each activation. */
  config: QuorumVerifier;
  /** `.dynamic.next`: a configuration seen and not yet activated. */
  nextConfig: QuorumVerifier | undefined;
  /** A snapshot holds the whole tree; here, the txns that built it. */
  snapshot: LoggedTxn[];
  snapshotZxid: bigint;
  log: LoggedTxn[];
}

const history = (d: Disk): LoggedTxn[] => [...d.snapshot, ...d.log.filter((x) => x.zxid > d.snapshotZxid)];
const lastLogged = (d: Disk): bigint => {
  const last = d.log[d.log.length - 1];
  return last !== undefined && last.zxid > d.snapshotZxid ? last.zxid : d.snapshotZxid;
};
const same = (a: LoggedTxn, b: LoggedTxn): boolean => a.zxid === b.zxid && a.data.equals(b.data);
const lastApplied = (tree: readonly LoggedTxn[]): bigint => tree[tree.length - 1]?.zxid ?? 0n;
/** A txn's bytes as one string (lossless): client writes are plain text, reconfigs binary. */
const keyOf = (data: Buffer): string => data.toString('latin1');
const lastSeenOf = (d: Disk): QuorumVerifier => (d.nextConfig !== undefined && d.nextConfig.version > d.config.version ? d.nextConfig : d.config);
const CONFIG_PATH = '/zookeeper/config';
/** The member line of a sid in the simulated ensemble's configurations. */
const memberLine = (sid: bigint, type: 'participant' | 'observer'): string =>
  `server.${sid}=127.0.0.1:${2000 + Number(sid)}:${3000 + Number(sid)}:${type};127.0.0.1:${4000 + Number(sid)}`;
const sameMembers = (a: QuorumVerifier, b: QuorumVerifier): boolean =>
  a.members.size === b.members.size && [...a.members.keys()].every((s) => b.members.has(s) && a.votingMembers.has(s) === b.votingMembers.has(s));
const membersText = (qv: QuorumVerifier): string =>
  [...qv.members.keys()].sort((a, b) => (a < b ? -1 : 1)).map((s) => `${s}${qv.observingMembers.has(s) ? 'o' : ''}`).join(',');

type Role = 'down' | 'looking' | 'leading' | 'following' | 'observing';

interface Node {
  sid: bigint;
  up: boolean;
  /** Refused to start: its own committed configuration leaves it out (ZooKeeper exits). */
  refused: boolean;
  /** A reconfig this node proposed as leader, until it is in the committed order. */
  pendingReconfig: LoggedTxn | undefined;
  /** Bumped at every crash and at every role change: events of an older one are void. */
  gen: number;
  disk: Disk;
  /** The in-memory tree: the applied txns. */
  tree: LoggedTxn[];
  election: Election | undefined;
  electionWakeMs: number | undefined;
  role: Role;
  decision: ElectionDecision | undefined;
  leader: ZabLeader | undefined;
  learner: ZabLearner | undefined;
  /** A learner's connection to its leader. */
  conn: Conn | undefined;
  /** A leader's learner connections, by id. */
  conns: Map<number, Conn>;
  serving: boolean;
  /** The process is paused until then: nothing of it runs. */
  pausedUntilMs: number;
  /** A Ready of its role core is being executed (its fsync under way). */
  inflight: boolean;
  /** That Ready's append, when a crash meanwhile may leave any prefix of it on disk. */
  inflightAppend: LoggedTxn[] | undefined;
  lastSnapshot: LoggedTxn[] | undefined;
  /** Client writes submitted here, by data, waiting for their commit to be applied here. */
  writes: Map<string, Client>;
  /** Client syncs forwarded from here, oldest first (a learner's). */
  syncs: Client[];
  /** A leader's own clients' syncs: done once the leader applied everything proposed before. */
  localSyncs: { client: Client; zxid: bigint }[];
}

interface Msg {
  atMs: number;
  packet?: QuorumPacket;
  snapshot?: LoggedTxn[];
  /** The sender closed the connection after its earlier packets. */
  close?: true;
}

/** One direction of a TCP connection. */
interface Dir {
  from: bigint;
  to: bigint;
  q: Msg[];
  lastAtMs: number;
  /** The receiving end is gone: whatever is sent is lost. */
  dead: boolean;
}

interface Conn {
  id: number;
  learnerSid: bigint;
  leaderSid: bigint;
  learnerGen: number;
  leaderGen: number;
  toLeader: Dir;
  toLearner: Dir;
}

interface Client {
  id: number;
  member: bigint | undefined;
  /** The member's gen when attached: a new role or a crash drops the client. */
  memberGen: number;
  lastZxidSeen: bigint;
  op: { kind: 'write' | 'read' | 'sync'; startMs: number; data?: string; floor?: bigint } | undefined;
}

export interface SimStats {
  commits: number;
  established: number;
  decisions: number;
  crashes: number;
  partitions: number;
  cuts: number;
  snaps: number;
  truncs: number;
  diffs: number;
  acked: number;
  reads: number;
  syncReads: number;
  staleSyncs: number;
  refused: number;
  lostNotifications: number;
  /** Restarts that found currentEpoch older than the log (loadEpochs raised it). */
  epochRaises: number;
  pauses: number;
  /** Commits by a superseded leader of txns the newer epochs already hold. */
  lateCommits: number;
  /** Epochs established after a newer one was (their leader was paused). */
  lateEstablished: number;
  /** Reconfig requests the leader decided (ok or refused) and reconfig txns committed. */
  reconfigsAsked: number;
  reconfigsRefused: number;
  reconfigsCommitted: number;
  /** Configurations activated by members (each member, each version). */
  activations: number;
  /** Roles taken straight from a reconfig's designated leader, without an election. */
  designatedRoles: number;
  /** Starts refused because the member's committed configuration leaves it out. */
  refusedStarts: number;
  /** Elections restarted on a newer configuration heard from a peer. */
  configRestarts: number;
}

export interface SimOptions {
  /** Members 127.0.0.1 configurations, reconfig enabled, a pool of extra servers and reconfig requests. */
  reconfig?: boolean;
}

export interface SimResult {
  stats: SimStats;
  trace: string[];
  digest: string;
  /** Simulated time at the end. */
  endMs: number;
}

export class StackSim {
  readonly r: () => number;
  private readonly q = new EventQueue();
  nowMs = 0;
  readonly nodes: Node[] = [];
  readonly verifier: QuorumVerifier;
  readonly voters: bigint[];
  private readonly clients: Client[] = [];
  private nextConnId = 1;
  /** Connections that may still carry something. */
  private readonly liveConns = new Set<Conn>();
  private clientSeq = 0;
  private readonly trace: string[] = [];
  private digest = 0;
  readonly stats: SimStats = {
    commits: 0, established: 0, decisions: 0, crashes: 0, partitions: 0, cuts: 0, snaps: 0, truncs: 0, diffs: 0,
    acked: 0, reads: 0, syncReads: 0, staleSyncs: 0, refused: 0, lostNotifications: 0, epochRaises: 0, pauses: 0, lateCommits: 0, lateEstablished: 0,
    reconfigsAsked: 0, reconfigsRefused: 0, reconfigsCommitted: 0, activations: 0, designatedRoles: 0, refusedStarts: 0, configRestarts: 0,
  };
  readonly reconfig: boolean;
  /** The configuration each version was activated with, by its first activator (one per version). */
  private readonly activatedConfigs = new Map<bigint, { text: string; by: bigint }>();
  /** The configuration in force after the committed order so far (its last reconfig's, or the initial one). */
  private configInForce: QuorumVerifier;
  /** Txns proposed while their leader had a reconfig outstanding: they need a quorum of the old configuration too. */
  private readonly proposedUnderPending = new Map<string, QuorumVerifier>();
  /** The client that sends reconfig requests to the leader (not one of the write/read clients). */
  private readonly admin: Client = { id: 0, member: undefined, memberGen: -1, lastZxidSeen: 0n, op: undefined };

  /** The committed order: each established leader's history, then its commits. */
  private readonly committed: LoggedTxn[] = [];
  private readonly committedData = new Set<string>();
  private readonly epochLeaders = new Map<bigint, bigint>();
  private maxEstablishedEpoch = -1n;
  /** Every write a client issued (integrity: nothing else may be committed). */
  private readonly issued = new Set<string>();
  /** Writes acknowledged to a client, with their zxid. */
  private readonly acknowledged = new Map<string, bigint>();
  private maxAckedZxid = 0n;

  /** With reconfig: the last election notification a partition kept from each pair, re-sent when it heals. */
  private readonly unsent = new Map<string, { from: Node; toSid: bigint; x: Notification }>();
  /** Directed pairs "a>b" whose traffic is blocked. */
  private blocked = new Set<string>();
  private chaos = true;
  private readonly chaosEndMs: number;
  private readonly lossP: number;
  private readonly dupP: number;
  private readonly maxDelayMs: number;
  private readonly maxNotificationIntervalMs: number;
  private readonly commitLogCount: number;
  private readonly crashPerReady: number;
  private readonly maxFsyncMs: number;
  private readonly clientThinkMs: number;

  constructor(
    readonly seed: number,
    private readonly fullTrace: boolean,
    options: SimOptions = {},
  ) {
    this.reconfig = options.reconfig ?? false;
    this.r = prng(seed * 2654435761);
    const n = this.r() < 0.5 ? 3 : 5;
    const withObserver = this.r() < 0.35;
    this.voters = [];
    for (let i = 1; i <= n; i++) this.voters.push(BigInt(i));
    const observers = withObserver ? [BigInt(n + 1)] : [];
    this.verifier = this.reconfig
      ? parseQuorumVerifier([...this.voters.map((s) => memberLine(s, 'participant')), ...observers.map((s) => memberLine(s, 'observer')), 'version=0'].join('\n'))
      : majorityVerifier(this.voters, observers);
    this.configInForce = this.verifier;
    this.chaosEndMs = 4_000 + Math.floor(this.r() * 12_000);
    this.lossP = this.r() < 0.3 ? 0 : this.r() * 0.3;
    this.dupP = this.r() * 0.05;
    this.maxDelayMs = 2 + Math.floor(this.r() * (this.r() < 0.5 ? 20 : 150));
    this.maxNotificationIntervalMs = this.r() < 0.5 ? 1_000 : 400 + Math.floor(this.r() * 4_000);
    this.commitLogCount = 2 + Math.floor(this.r() * 12);
    this.crashPerReady = this.r() < 0.3 ? 0 : this.r() * 0.01;
    this.maxFsyncMs = this.r() < 0.3 ? 0 : this.int(1, 30);
    for (const sid of [...this.voters, ...observers]) this.addNode(sid, this.verifier);
    const clientCount = 2 + Math.floor(this.r() * 5);
    this.clientThinkMs = this.r() < 0.5 ? 60 : 150;
    for (let i = 1; i <= clientCount; i++) this.clients.push({ id: i, member: undefined, memberGen: -1, lastZxidSeen: 0n, op: undefined });
    this.log(
      `seed=${seed} voters=${n} observer=${withObserver} clients=${clientCount} chaosEnd=${this.chaosEndMs}ms loss=${this.lossP.toFixed(3)} ` +
        `dup=${this.dupP.toFixed(3)} maxDelay=${this.maxDelayMs}ms maxNotification=${this.maxNotificationIntervalMs}ms commitLog=${this.commitLogCount} crashPerReady=${this.crashPerReady.toFixed(4)} maxFsync=${this.maxFsyncMs}ms`,
    );
    if (this.reconfig) {
      // The pool: 5 to 7 servers in all; the extra ones start outside the configuration, each
      // provisioned as ZooKeeper's docs add a server: the ensemble's configuration plus itself.
      const pool = Math.max(5, Math.min(7, n + observers.length + this.int(0, 3)));
      for (let sid = BigInt(n + observers.length + 1); sid <= BigInt(pool); sid++) this.addNode(sid, this.provisioned(this.verifier, sid, this.r() < 0.25 ? 'observer' : 'participant'));
      this.log(`reconfig: pool ${this.nodes.map((x) => `s${x.sid}`).join(',')}; configuration ${membersText(this.verifier)}`);
    }
  }

  /** A server's static configuration as an operator writes it to add it: `qv`'s members plus itself, version 0. */
  private provisioned(qv: QuorumVerifier, sid: bigint, type: 'participant' | 'observer'): QuorumVerifier {
    const lines: string[] = [];
    for (const s of qv.members.keys()) if (s !== sid) lines.push(memberLine(s, qv.observingMembers.has(s) ? 'observer' : 'participant'));
    lines.push(memberLine(sid, type), 'version=0');
    return parseQuorumVerifier(lines.join('\n'));
  }

  private addNode(sid: bigint, config: QuorumVerifier): void {
    {
      this.nodes.push({
        sid,
        up: false,
        refused: false,
        pendingReconfig: undefined,
        gen: 0,
        disk: { acceptedEpoch: 0n, currentEpoch: 0n, config, nextConfig: undefined, snapshot: [], snapshotZxid: 0n, log: [] },
        tree: [],
        election: undefined,
        electionWakeMs: undefined,
        role: 'down',
        decision: undefined,
        leader: undefined,
        learner: undefined,
        conn: undefined,
        conns: new Map(),
        serving: false,
        pausedUntilMs: 0,
        inflight: false,
        inflightAppend: undefined,
        lastSnapshot: undefined,
        writes: new Map(),
        syncs: [],
        localSyncs: [],
      });
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Plumbing

  log(line: string): void {
    const text = `${this.nowMs}ms ${line}`;
    for (let i = 0; i < text.length; i++) this.digest = (Math.imul(this.digest, 31) + text.charCodeAt(i)) | 0;
    this.trace.push(text);
    if (!this.fullTrace && this.trace.length > TRACE_KEEP) this.trace.splice(0, this.trace.length - TRACE_KEEP);
  }

  fail(msg: string): never {
    this.log(`FAILED: ${msg}`);
    throw new SimFailure(msg);
  }

  traceLines(): string[] {
    return this.trace;
  }

  node(sid: bigint): Node {
    return this.nodes.find((n) => n.sid === sid)!;
  }

  private at(delayMs: number, run: () => void): void {
    this.q.push(this.nowMs + delayMs, run);
  }

  /** Runs `run` later unless the node crashed or changed role meanwhile; a paused node runs it when it resumes. */
  private atFor(n: Node, delayMs: number, run: () => void): void {
    const gen = n.gen;
    const go = (): void => {
      if (!n.up || n.gen !== gen) return;
      if (this.deferred(n, go)) return;
      run();
    };
    this.at(delayMs, go);
  }

  /** A paused process does nothing until it resumes: `run` is put off until then. */
  private deferred(n: Node, run: () => void): boolean {
    if (n.pausedUntilMs <= this.nowMs) return false;
    this.q.push(n.pausedUntilMs, run);
    return true;
  }

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }

  private pick<T>(xs: readonly T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[Math.floor(this.r() * xs.length)];
  }

  private isBlocked(from: bigint, to: bigint): boolean {
    return this.blocked.has(`${from}>${to}`);
  }

  // ---------------------------------------------------------------------------------------------
  // Running

  run(): SimResult {
    for (const n of this.nodes) this.at(this.int(0, 500), () => this.boot(n));
    for (const c of this.clients) this.at(this.int(200, 1_500), () => this.clientAct(c));
    this.scheduleFault();
    if (this.reconfig) this.scheduleReconfig();
    if (this.reconfig) this.scheduleOperator();
    this.at(this.chaosEndMs, () => this.endChaos());
    let events = 0;
    for (;;) {
      const e = this.q.pop();
      if (e === undefined) this.fail('nothing left to happen');
      if (e.atMs < this.nowMs) this.fail('an event in the past');
      this.nowMs = e.atMs;
      e.run();
      this.drainAll();
      if (++events > 3_000_000) this.fail('too many events');
      if (!this.chaos && this.converged()) break;
      if (!this.chaos && this.nowMs > this.chaosEndMs + HEAL_LIMIT_MS) this.fail(`no convergence ${HEAL_LIMIT_MS} ms after the faults ended: ${this.status()}`);
    }
    this.finalChecks();
    return { stats: this.stats, trace: this.trace, digest: (this.digest >>> 0).toString(16), endMs: this.nowMs };
  }

  private status(): string {
    return this.nodes
      .map((n) => {
        const phase = n.leader?.phase ?? n.learner?.phase ?? '-';
        return `s${n.sid}:${n.up ? n.role : 'down'}/${phase}${n.decision ? `->s${n.decision.vote.leader}` : ''} acc=${n.disk.acceptedEpoch} cur=${n.disk.currentEpoch} last=${hex(lastLogged(n.disk))} applied=${hex(lastApplied(n.tree))}`;
      })
      .join(' ');
  }

  private endChaos(): void {
    this.chaos = false;
    this.log('faults end: partitions healed, everyone restarts, the network is reliable');
    this.heal();
    for (const n of this.nodes) if (!n.up) this.boot(n);
  }

  /** After the faults: the operator provisions again every member of the configuration in force that refused to start. */
  private reprovisionMembers(): void {
    // Members of the configuration in force, and of one pending on a running server (its quorum is
    // needed to commit it, and a new leader needs one of it before it serves).
    const newest = this.newestConfig();
    const wanted = [newest, ...this.nodes.filter((n) => n.up).map((n) => lastSeenOf(n.disk)).filter((qv) => qv.version > newest.version)];
    for (const n of this.nodes) {
      const qv = wanted.find((x) => x.members.has(n.sid));
      if (!n.up && n.refused && qv !== undefined) this.reprovision(n, qv.observingMembers.has(n.sid) ? 'observer' : 'participant');
    }
  }

  /** The operator: now and then starts again a server that refused to start once a reconfig (committed or pending) lists it. */
  private scheduleOperator(): void {
    this.at(this.chaos ? this.int(500, 3_000) : 1_000, () => {
      this.reprovisionMembers();
      this.scheduleOperator();
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Faults

  private scheduleFault(): void {
    this.at(this.int(200, 2_500), () => {
      if (!this.chaos) return;
      const x = this.r();
      if (x < 0.3) this.crashRandom();
      else if (x < 0.65) this.partition();
      else if (x < 0.85) this.heal();
      else if (x < 0.95) this.pause();
      else this.moveRandomClient();
      this.scheduleFault();
    });
  }

  private crashRandom(): void {
    const up = this.nodes.filter((n) => n.up);
    const leaders = up.filter((n) => n.role === 'leading');
    const victim = leaders.length > 0 && this.r() < 0.4 ? this.pick(leaders) : this.pick(up);
    if (victim !== undefined) this.crash(victim, this.r() < 0.5);
  }

  private partition(): void {
    this.stats.partitions++;
    const sids = this.nodes.map((n) => n.sid);
    const leader = this.nodes.find((n) => n.up && n.role === 'leading');
    const kind = this.pick(['split', 'isolateLeader', 'bridge', 'oneWay', 'oneWayLeader'] as const)!;
    const cutBoth = (a: readonly bigint[], b: readonly bigint[]) => {
      for (const x of a) for (const y of b) this.block(x, y), this.block(y, x);
    };
    switch (kind) {
      case 'split': {
        const shuffled = [...sids].sort(() => this.r() - 0.5);
        const k = this.int(1, sids.length - 1);
        cutBoth(shuffled.slice(0, k), shuffled.slice(k));
        this.log(`partition: [${shuffled.slice(0, k).join(',')}] | [${shuffled.slice(k).join(',')}]`);
        break;
      }
      case 'isolateLeader': {
        const l = leader?.sid ?? this.pick(sids)!;
        cutBoth([l], sids.filter((s) => s !== l));
        this.log(`partition: s${l} isolated`);
        break;
      }
      case 'bridge': {
        const rest = [...sids].sort(() => this.r() - 0.5);
        const bridge = rest.shift()!;
        const k = this.int(1, Math.max(1, rest.length - 1));
        cutBoth(rest.slice(0, k), rest.slice(k));
        this.log(`partition: [${rest.slice(0, k).join(',')}] | [${rest.slice(k).join(',')}], bridged by s${bridge}`);
        break;
      }
      case 'oneWay': {
        const a = this.pick(sids)!;
        const b = this.pick(sids.filter((s) => s !== a))!;
        this.block(a, b);
        this.log(`partition: s${a} -> s${b} one way`);
        break;
      }
      case 'oneWayLeader': {
        const l = leader?.sid ?? this.pick(sids)!;
        const inbound = this.r() < 0.5;
        for (const s of sids) if (s !== l) (inbound ? this.block(s, l) : this.block(l, s));
        this.log(`partition: everything ${inbound ? 'to' : 'from'} s${l} blocked`);
        break;
      }
    }
    // A connection across the cut is reset (both ends see it close, the unsent tail is lost) or
    // just stalls, as TCP does, until it heals or an end gives up on it.
    for (const c of this.openConns()) {
      if ((this.isBlocked(c.learnerSid, c.leaderSid) || this.isBlocked(c.leaderSid, c.learnerSid)) && this.r() < 0.5) this.cut(c);
    }
  }

  private block(a: bigint, b: bigint): void {
    this.blocked.add(`${a}>${b}`);
  }

  private heal(): void {
    if (this.blocked.size === 0) return;
    this.blocked = new Set();
    this.log('partitions healed');
    const unsent = [...this.unsent.values()];
    this.unsent.clear();
    for (const u of unsent) this.at(this.int(1, 50), () => this.sendNotification(u.from, u.toSid, u.x, true));
    // Stalled connections flow again, in order.
    for (const c of this.openConns()) {
      for (const d of [c.toLeader, c.toLearner]) for (let i = 0; i < d.q.length; i++) this.at(this.int(1, 5), () => this.pump(c, d));
    }
  }

  /** The connections not yet dead both ways (the others are forgotten). */
  private openConns(): Conn[] {
    for (const c of [...this.liveConns]) if (c.toLeader.dead && c.toLearner.dead && c.toLeader.q.length === 0 && c.toLearner.q.length === 0) this.liveConns.delete(c);
    return [...this.liveConns];
  }

  /** A process stops for a while (a long GC pause, a stopped VM): it then goes on where it was, late. */
  private pause(): void {
    const up = this.nodes.filter((n) => n.up && n.pausedUntilMs <= this.nowMs);
    const leaders = up.filter((n) => n.role === 'leading');
    const n = leaders.length > 0 && this.r() < 0.5 ? this.pick(leaders) : this.pick(up);
    if (n === undefined) return;
    this.stats.pauses++;
    n.pausedUntilMs = this.nowMs + this.int(300, 3_000);
    this.log(`s${n.sid} (${n.role}) paused until ${n.pausedUntilMs}ms`);
  }

  private moveRandomClient(): void {
    const c = this.pick(this.clients.filter((x) => x.member !== undefined));
    if (c === undefined) return;
    this.log(`client ${c.id} leaves s${c.member}`);
    this.dropClient(c, 'moved');
  }

  // ---------------------------------------------------------------------------------------------
  // Process life: boot, crash, roles

  private boot(n: Node): void {
    if (n.up) return;
    if (!n.disk.config.members.has(n.sid)) {
      // ZooKeeper refuses to start a server its own configuration leaves out ("My id N not in the
      // peer list"): it stays down until an operator provisions it again.
      this.stats.refusedStarts++;
      n.refused = true;
      this.log(`s${n.sid} refuses to start: not in its configuration ${membersText(n.disk.config)} (version ${hex(n.disk.config.version)})`);
      return;
    }
    n.refused = false;
    n.up = true;
    n.pausedUntilMs = 0;
    n.gen++;
    // Recovery: the snapshot and the log after it; the epoch files as written.
    n.tree = history(n.disk);
    const zxid = lastLogged(n.disk);
    if (epochOf(zxid) > n.disk.currentEpoch) {
      // loadEpochs: a crash at NEWLEADER between the history's fsync and the currentEpoch write;
      // acceptedEpoch must vouch for the log's epoch, or the server refuses to start.
      if (n.disk.acceptedEpoch < epochOf(zxid)) this.fail(`s${n.sid} restarts with last zxid ${hex(zxid)} beyond currentEpoch ${n.disk.currentEpoch} and acceptedEpoch ${n.disk.acceptedEpoch}: it refuses to start`);
      this.log(`s${n.sid}: currentEpoch ${n.disk.currentEpoch} raised to the log's epoch ${epochOf(zxid)}`);
      this.stats.epochRaises++;
      n.disk.currentEpoch = epochOf(zxid);
    }
    if (n.disk.acceptedEpoch < n.disk.currentEpoch) this.fail(`s${n.sid}: acceptedEpoch ${n.disk.acceptedEpoch} < currentEpoch ${n.disk.currentEpoch} on disk`);
    this.log(`boot s${n.sid} (last ${hex(zxid)}, accepted ${n.disk.acceptedEpoch}, current ${n.disk.currentEpoch})`);
    n.election = this.newElection(n, n.disk.config, lastSeenOf(n.disk));
    n.electionWakeMs = undefined;
    this.startLooking(n);
  }

  private newElection(n: Node, verifier: QuorumVerifier, next: QuorumVerifier | undefined): Election {
    return new Election({
      mySid: n.sid,
      verifier,
      nextVerifier: next !== undefined && next.version > verifier.version ? next : undefined,
      learnerType: verifier.observingMembers.has(n.sid) ? 'observer' : 'participant',
      maxNotificationIntervalMs: this.maxNotificationIntervalMs,
    });
  }

  /**
   * The newest configuration the ensemble runs: the newest any member activated (a reconfig the
   * leader committed may not be in the executed order yet), else the order's.
   */
  private newestConfig(): QuorumVerifier {
    let newest = this.configInForce;
    for (const n of this.nodes) if (n.disk.config.version > newest.version && this.activatedConfigs.get(n.disk.config.version)?.text === n.disk.config.toString()) newest = n.disk.config;
    return newest;
  }

  /**
   * An operator provisions a server that refused to start: the ensemble's configuration plus
   * itself, in its zoo.cfg; its data and its `.dynamic.next` are left as they are.
   */
  private reprovision(n: Node, as?: 'participant' | 'observer'): void {
    if (n.up) return;
    const type = as ?? (this.r() < 0.25 ? 'observer' : 'participant');
    n.disk.config = this.provisioned(this.newestConfig(), n.sid, type);
    this.log(`s${n.sid} provisioned again as ${type}: ${membersText(n.disk.config)} version 0`);
    this.boot(n);
  }

  /** quorumpeer's loop head: LOOKING with the last logged zxid and currentEpoch from disk. */
  private startLooking(n: Node): void {
    n.role = 'looking';
    n.decision = undefined;
    n.serving = false;
    n.election!.startLooking(this.nowMs, lastLogged(n.disk), n.disk.currentEpoch);
    this.log(`s${n.sid} LOOKING round ${n.election!.round} (vote zxid ${hex(lastLogged(n.disk))}, epoch ${n.disk.currentEpoch})`);
  }

  crash(n: Node, processOnly: boolean): void {
    if (!n.up) return;
    this.stats.crashes++;
    this.log(`crash s${n.sid} (${processOnly ? 'process: its connections close' : 'machine: its connections go silent'})`);
    const writing = n.inflightAppend;
    if (writing !== undefined && writing.length > 0) {
      // Caught in an fsync: any prefix of the append may have reached the disk.
      const k = this.int(0, writing.length);
      n.disk.log.push(...writing.slice(0, k));
      this.log(`s${n.sid}: ${k} of ${writing.length} txns being written reached the disk`);
    }
    this.leaveRole(n, processOnly ? 'close' : 'silent');
    n.up = false;
    n.role = 'down';
    n.election = undefined;
    n.gen++;
    if (this.chaos) this.at(this.int(100, 3_000), () => this.chaos && this.boot(n));
  }

  /** The role (or the process) ends: links go, clients go, the tree is rebuilt from disk. */
  private leaveRole(n: Node, how: 'close' | 'silent'): void {
    const conns = n.conn !== undefined ? [n.conn] : [...n.conns.values()];
    for (const c of conns) {
      if (how === 'close') this.closeFrom(c, n.sid);
      else this.silence(c, n.sid);
    }
    n.conn = undefined;
    n.conns.clear();
    n.leader = undefined;
    n.learner = undefined;
    n.pendingReconfig = undefined;
    n.serving = false;
    n.inflight = false;
    n.inflightAppend = undefined;
    n.lastSnapshot = undefined;
    n.writes.clear();
    n.syncs = [];
    n.localSyncs = [];
    for (const c of this.clients) if (c.member === n.sid) this.dropClient(c, 'its member left its role');
    n.tree = history(n.disk);
    n.gen++;
  }

  private roleEnded(n: Node, reason: string, designated?: bigint): void {
    this.log(`s${n.sid} role ended: ${reason}${designated !== undefined ? ` (designated leader s${designated})` : ''}`);
    this.leaveRole(n, 'close');
    if (designated === undefined) return this.startLooking(n);
    // quorumpeer.ts: the role the reconfig implies, at once, without an election round.
    const d = n.disk;
    const state = designated === n.sid ? PeerState.LEADING : learnerRoleIn(d.config, n.sid) === 'observer' ? PeerState.OBSERVING : PeerState.FOLLOWING;
    const vote = { leader: designated, zxid: lastLogged(d), peerEpoch: d.currentEpoch };
    this.stats.designatedRoles++;
    n.election!.takeRole(state, vote);
    this.decided(n, { state, vote, electionEpoch: n.election!.round, via: 'looking' }, 'designated');
  }

  private decided(n: Node, d: ElectionDecision, how?: 'designated'): void {
    this.stats.decisions++;
    n.decision = d;
    this.log(`s${n.sid} ${how === 'designated' ? 'takes the designated role' : 'decided'} ${STATE_NAMES[d.state]} leader=s${d.vote.leader} round=${d.electionEpoch} via=${how ?? d.via}`);
    n.gen++;
    const committed = n.disk.config;
    const lastSeen = lastSeenOf(n.disk);
    if (this.reconfig && !committed.members.has(d.vote.leader) && !lastSeen.members.has(d.vote.leader)) {
      // quorumpeer.ts: a leader that is not a member is not followed; elect again.
      this.log(`s${n.sid}: elected s${d.vote.leader}, not a member of its configurations; electing again`);
      return this.startLooking(n);
    }
    if (d.state === PeerState.LEADING) {
      n.role = 'leading';
      const h = history(n.disk);
      n.tree = h;
      n.leader = new ZabLeader({
        sid: n.sid,
        verifier: committed,
        lastSeenVerifier: lastSeen,
        reconfigEnabled: this.reconfig,
        tickTimeMs: TICK_MS,
        initLimitTicks: INIT_LIMIT,
        syncLimitTicks: SYNC_LIMIT,
        acceptedEpoch: n.disk.acceptedEpoch,
        currentEpoch: n.disk.currentEpoch,
        lastLoggedZxid: lastLogged(n.disk),
        committedLog: h.slice(-this.commitLogCount),
        commitLogCount: this.commitLogCount,
        txnLog: () => this.txnLogOf(n),
        nowMs: this.nowMs,
      });
      this.scheduleTick(n);
      return;
    }
    n.role = d.state === PeerState.OBSERVING ? 'observing' : 'following';
    this.tryConnect(n, d.vote.leader, 0);
  }

  private txnLogOf(n: Node) {
    const runs: ZxidRun[] = [];
    for (const x of n.disk.log) if (x.zxid > n.disk.snapshotZxid) appendToRuns(runs, x.zxid);
    return { runs, withinSizeLimit: () => this.r() < 0.8 };
  }

  /** The learner shell's connect: a few attempts; the leader must be leading (listening) and reachable. */
  private tryConnect(n: Node, leaderSid: bigint, attempt: number): void {
    this.atFor(n, attempt === 0 ? this.int(0, 20) : CONNECT_RETRY_MS, () => {
      const l = this.node(leaderSid);
      const reachable = !this.isBlocked(n.sid, leaderSid) && !this.isBlocked(leaderSid, n.sid);
      if (l.up && l.pausedUntilMs <= this.nowMs && l.role === 'leading' && l.leader !== undefined && l.leader.phase !== 'over' && reachable) {
        this.connect(n, l);
        return;
      }
      if (attempt + 1 >= CONNECT_ATTEMPTS) {
        this.roleEnded(n, `cannot connect to the leader s${leaderSid}`);
        return;
      }
      this.tryConnect(n, leaderSid, attempt + 1);
    });
  }

  private connect(n: Node, l: Node): void {
    const id = this.nextConnId++;
    const dir = (from: bigint, to: bigint): Dir => ({ from, to, q: [], lastAtMs: 0, dead: false });
    const c: Conn = { id, learnerSid: n.sid, leaderSid: l.sid, learnerGen: n.gen, leaderGen: l.gen, toLeader: dir(n.sid, l.sid), toLearner: dir(l.sid, n.sid) };
    n.conn = c;
    l.conns.set(id, c);
    this.liveConns.add(c);
    this.log(`s${n.sid} connects to leader s${l.sid} as c${id}`);
    n.learner = new ZabLearner({
      sid: n.sid,
      role: n.role === 'observing' ? 'observer' : 'follower',
      tickTimeMs: TICK_MS,
      initLimitTicks: INIT_LIMIT,
      syncLimitTicks: SYNC_LIMIT,
      acceptedEpoch: n.disk.acceptedEpoch,
      currentEpoch: n.disk.currentEpoch,
      lastLoggedZxid: lastLogged(n.disk),
      verifier: n.disk.config,
      lastSeenVerifier: lastSeenOf(n.disk),
      leaderSid: l.sid,
      touches: { take: () => [] },
      nowMs: this.nowMs,
    });
    l.leader!.connected(id);
    this.scheduleTick(n);
  }

  /** The role cores' timers: every half tick, as the shells' intervals. */
  private scheduleTick(n: Node): void {
    this.atFor(n, TICK_MS / 2, () => {
      n.leader?.tick(this.nowMs);
      n.learner?.tick(this.nowMs);
      this.scheduleTick(n);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Election transport

  private drainElection(n: Node): boolean {
    const e = n.election;
    if (e === undefined || !e.hasReady()) return false;
    for (let guard = 0; e.hasReady(); guard++) {
      if (guard > 10_000) this.fail(`s${n.sid}: the election core keeps talking to itself`);
      const rd = e.ready();
      e.advance();
      const loopback: Notification[] = [];
      for (const out of rd.send) {
        if (out.to === n.sid) loopback.push(out.n);
        else this.sendNotification(n, out.to, out.n);
      }
      if (rd.configChange !== undefined) this.configHeard(n, rd.configChange.verifier);
      if (rd.configChange?.restartElection) {
        // electionshell.ts: the core that heard a newer configuration with other members is
        // finished; the search goes on in a new one with those members.
        this.stats.configRestarts++;
        const v = e.proposedVote;
        this.log(`s${n.sid} heard configuration ${membersText(rd.configChange.verifier)} version ${hex(rd.configChange.verifier.version)}: election restarts`);
        n.election = this.newElection(n, rd.configChange.verifier, undefined);
        n.electionWakeMs = undefined;
        if (n.role === 'looking') n.election.startLooking(this.nowMs, v.zxid, v.peerEpoch);
        // quorumpeer.ts: the member's configurations, told of the one heard, tell the election theirs.
        n.election.activateConfig(n.disk.config);
        n.election.seeConfig(lastSeenOf(n.disk));
        return true;
      }
      if (rd.decided !== undefined && n.role === 'looking') this.decided(n, rd.decided);
      for (const x of loopback) e.step(this.nowMs, x);
    }
    return true;
  }

  private sendNotification(from: Node, toSid: bigint, x: Notification, relink = false): void {
    const to = this.node(toSid);
    if (this.isBlocked(from.sid, toSid)) {
      // With reconfig: peers.ts re-sends the last message to a sid on the link that replaces a broken one.
      if (this.reconfig) this.unsent.set(`${from.sid}>${toSid}`, { from, toSid, x });
      return;
    }
    if (this.chaos && !relink && this.r() < this.lossP) {
      this.stats.lostNotifications++;
      // With reconfig the loss is a link that broke: the next one re-sends the last message.
      if (this.reconfig) this.at(this.int(50, 1_000), () => this.sendNotification(from, toSid, x, true));
      return;
    }
    // No duplicates between a voter and a non-voter: a LOOKING observer in a later round and a
    // LOOKING voter answer each other's every notification (as ZooKeeper's WorkerReceiver does),
    // so each duplicate would start one more exchange that lasts until the voter's round catches up.
    const bothVoters = from.disk.config.votingMembers.has(from.sid) && to.disk.config.votingMembers.has(toSid);
    const copies = this.chaos && bothVoters && this.r() < this.dupP ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const target = to.election;
      if (target === undefined) return;
      const deliver = (): void => {
        if (to.election !== target || this.isBlocked(from.sid, toSid)) return;
        if (this.deferred(to, deliver)) return;
        if (this.fullTrace) this.log(`s${from.sid} -> s${toSid} ${STATE_NAMES[x.state]} leader=s${x.leader} zxid=${hex(x.zxid)} round=${x.electionEpoch} peerEpoch=${x.peerEpoch}`);
        target.step(this.nowMs, x);
      };
      this.at(this.chaos ? this.int(1, this.maxDelayMs) : this.int(1, 5), deliver);
    }
  }

  private scheduleElectionWake(n: Node): void {
    const e = n.election;
    const w = e?.nextWakeMs();
    if (e === undefined || w === undefined) return;
    if (n.electionWakeMs !== undefined && n.electionWakeMs <= w && n.electionWakeMs >= this.nowMs) return;
    n.electionWakeMs = w;
    const wake = (): void => {
      if (n.election !== e) return;
      if (this.deferred(n, wake)) return;
      n.electionWakeMs = undefined;
      const due = e.nextWakeMs();
      if (due !== undefined && due <= this.nowMs) e.tick(this.nowMs);
    };
    this.q.push(Math.max(w, this.nowMs), wake);
  }

  // ---------------------------------------------------------------------------------------------
  // Quorum connections

  private push(c: Conn, d: Dir, m: Omit<Msg, 'atMs'>): void {
    if (d.dead) return;
    const atMs = Math.max(d.lastAtMs, this.nowMs + this.int(1, this.chaos ? this.maxDelayMs : 5));
    d.lastAtMs = atMs;
    d.q.push({ ...m, atMs });
    this.q.push(atMs, () => this.pump(c, d));
  }

  /** Delivers the oldest message of a direction if it is due and the path is open. */
  private pump(c: Conn, d: Dir): void {
    const m = d.q[0];
    if (m === undefined || m.atMs > this.nowMs || d.dead || this.isBlocked(d.from, d.to)) return;
    const to = this.node(d.to);
    if (this.deferred(to, () => this.pump(c, d))) return;
    d.q.shift();
    const toLeader = d === c.toLeader;
    if (!to.up || to.gen !== (toLeader ? c.leaderGen : c.learnerGen)) return;
    if (m.close) {
      this.log(`c${c.id} closed by s${d.from}`);
      d.dead = true;
      this.endpointClosed(c, to);
      return;
    }
    if (this.fullTrace) this.log(`c${c.id} s${d.from} -> s${d.to} ${packetText(m.packet!)}`);
    if (toLeader) to.leader?.step(c.id, m.packet!);
    else {
      if (m.snapshot !== undefined) to.lastSnapshot = m.snapshot;
      to.learner?.step(m.packet!);
    }
  }

  /** An end saw the connection close. */
  private endpointClosed(c: Conn, n: Node): void {
    if (n.sid === c.leaderSid) {
      if (n.conns.delete(c.id)) n.leader?.disconnected(c.id);
    } else if (n.conn === c) {
      n.learner?.disconnected();
    }
  }

  /** `sid` closes: what it sent still arrives, then the close; what was on its way to it is lost. */
  private closeFrom(c: Conn, sid: bigint): void {
    const out = sid === c.leaderSid ? c.toLearner : c.toLeader;
    const inbound = sid === c.leaderSid ? c.toLeader : c.toLearner;
    inbound.q = [];
    inbound.dead = true;
    this.push(c, out, { close: true });
  }

  /** `sid` vanished (a machine crash): nothing more comes from it and nothing reaches it. */
  private silence(c: Conn, sid: bigint): void {
    const inbound = sid === c.leaderSid ? c.toLeader : c.toLearner;
    inbound.q = [];
    inbound.dead = true;
  }

  /** A reset: both ends see the close, the undelivered tail is lost both ways. */
  private cut(c: Conn): void {
    this.stats.cuts++;
    this.log(`c${c.id} (s${c.learnerSid} - s${c.leaderSid}) reset`);
    for (const d of [c.toLeader, c.toLearner]) {
      d.q = [];
      d.dead = true;
    }
    const learner = this.node(c.learnerSid);
    const leader = this.node(c.leaderSid);
    const lg = c.learnerGen;
    const ld = c.leaderGen;
    const seeClose = (n: Node, gen: number): void => {
      if (!n.up || n.gen !== gen || this.deferred(n, () => seeClose(n, gen))) return;
      this.endpointClosed(c, n);
    };
    this.at(this.int(1, 20), () => seeClose(learner, lg));
    this.at(this.int(1, 20), () => seeClose(leader, ld));
  }

  // ---------------------------------------------------------------------------------------------
  // Ready execution, with crashes that lose what was not fsynced

  private drainAll(): void {
    for (let guard = 0; ; guard++) {
      if (guard > 100_000) this.fail('Readys never drained');
      let any = false;
      for (const n of this.nodes) {
        if (!n.up || n.pausedUntilMs > this.nowMs) continue;
        if (this.drainElection(n)) any = true;
        const core = n.leader ?? n.learner;
        if (core === undefined || n.inflight || !core.hasReady()) continue;
        any = true;
        this.take(n, core);
      }
      if (!any) break;
    }
    for (const n of this.nodes) if (n.up && n.pausedUntilMs <= this.nowMs) this.scheduleElectionWake(n);
  }

  /**
   * Takes a Ready and executes it as the shells do: one at a time, its fsyncs taking a while, the
   * core stepping new packets meanwhile. What ready.ts lets a shell do before the append is durable
   * happens at once: a leader's broadcast sends and commits, a learner's commits of txns already on
   * disk. The rest follows when the fsync returns; then advance().
   */
  private take(n: Node, core: ZabLeader | ZabLearner): void {
    const r = core.ready();
    n.inflight = true;
    n.inflightAppend = r.truncateTo === undefined && r.installSnapshot === undefined && r.takeSnapshot === undefined ? r.append : undefined;
    this.log(`s${n.sid} ready: ${readyLines(r, (c) => `c${c}`).join(' | ')}`);
    const early = { sent: false, applied: 0 };
    // leadershell.ts writes the configuration files first: a proposed one, then each committed one.
    if (n.leader !== undefined) this.executeConfigs(n, r);
    const plain = r.truncateTo === undefined && r.installSnapshot === undefined && r.acceptedEpoch === undefined && r.currentEpoch === undefined;
    if (n.leader !== undefined && plain && r.send.every((x) => x.kind === 'packet' && EARLY_TYPES.has(x.packet.type))) {
      for (const txn of r.commit) {
        this.leaderCommits(n, txn, 'commit');
        n.tree.push(txn);
        this.applied(n, txn);
      }
      early.applied = r.commit.length;
      this.sends(n, r, new Map());
      early.sent = true;
    } else if (n.learner !== undefined && plain && r.append.length > 0 && r.seenConfig === undefined && r.activations.length === 0) {
      const durable = lastLogged(n.disk);
      while (early.applied < r.commit.length && r.commit[early.applied].zxid <= durable) {
        const txn = r.commit[early.applied++];
        n.tree.push(txn);
        this.applied(n, txn);
      }
    }
    if (!n.up || (n.leader ?? n.learner) !== core) return;
    const gen = n.gen;
    const finish = (): void => {
      if (!n.up || n.gen !== gen || (n.leader ?? n.learner) !== core) return;
      if (this.deferred(n, finish)) return;
      n.inflight = false;
      n.inflightAppend = undefined;
      if (this.execute(n, r, early) && n.up && n.gen === gen) core.advance();
    };
    const fsyncMs = r.append.length > 0 || r.acceptedEpoch !== undefined || r.currentEpoch !== undefined || r.takeSnapshot !== undefined ? this.int(0, this.maxFsyncMs) : 0;
    if (fsyncMs === 0) finish();
    else this.at(fsyncMs, finish);
  }

  /** Executes a Ready in its order; false when the node crashed or left its role part way. */
  private execute(n: Node, r: Ready, early: { sent: boolean; applied: number }): boolean {
    const crashAt = this.chaos && this.r() < this.crashPerReady ? this.int(0, 7) : -1;
    const d = n.disk;
    const crashNow = (): false => {
      this.crash(n, this.r() < 0.5);
      return false;
    };
    if (crashAt === 0) return crashNow();
    if (r.truncateTo !== undefined) {
      this.stats.truncs++;
      const z = r.truncateTo;
      d.log = d.log.filter((x) => x.zxid <= z);
      n.tree = history(d).filter((x) => x.zxid <= z);
    }
    if (r.installSnapshot !== undefined) {
      this.stats.snaps++;
      if (n.lastSnapshot === undefined) this.fail(`s${n.sid}: installSnapshot without a SNAP`);
      n.tree = [...n.lastSnapshot];
    }
    if (crashAt === 1) return crashNow();
    // learnershell.ts: a configuration forgotten or seen before the append (ready.ts 3b).
    if (n.learner !== undefined) this.executeSeen(n, r);
    if (r.takeSnapshot !== undefined) {
      d.snapshot = [...n.tree];
      d.snapshotZxid = r.takeSnapshot;
      d.log = [];
    }
    const crashLate = early.sent && crashAt === 7;
    if (!crashLate && r.append.length > 0) {
      if (crashAt === 2) {
        // Not fsynced: any prefix of the writes may have reached the disk.
        d.log.push(...r.append.slice(0, this.int(0, r.append.length)));
        return crashNow();
      }
      d.log.push(...r.append);
    }
    if (crashAt === 3) return crashNow();
    if (r.acceptedEpoch !== undefined) d.acceptedEpoch = r.acceptedEpoch;
    if (crashAt === 4) return crashNow();
    if (r.currentEpoch !== undefined) d.currentEpoch = r.currentEpoch;
    if (d.acceptedEpoch < d.currentEpoch) this.fail(`s${n.sid}: acceptedEpoch ${d.acceptedEpoch} < currentEpoch ${d.currentEpoch} on disk`);
    if (crashAt === 5) return crashNow();
    // learnershell.ts: the committed configurations after the epoch files, before the commits (ready.ts 5b).
    if (n.learner !== undefined) for (const a of r.activations) this.activated(n, a, r);
    // Commits; a SNAP send streams the tree exactly as of its zxid.
    const snapshotsAt = new Map<bigint, LoggedTxn[] | undefined>();
    for (const s of r.send) if (s.kind === 'snapshot') snapshotsAt.set(s.zxid, undefined);
    const takeSnapshotsBefore = (zxid: bigint) => {
      for (const [s, taken] of snapshotsAt) if (taken === undefined && zxid > s) snapshotsAt.set(s, n.tree.filter((x) => x.zxid <= s));
    };
    for (const txn of r.commit.slice(early.applied)) {
      takeSnapshotsBefore(txn.zxid);
      if (n.leader !== undefined) this.leaderCommits(n, txn, 'commit');
      n.tree.push(txn);
      this.applied(n, txn);
    }
    takeSnapshotsBefore(1n << 62n);
    if (crashAt === 6) return crashNow();
    if (!early.sent) this.sends(n, r, snapshotsAt);
    if (crashLate) {
      d.log.push(...r.append.slice(0, this.int(0, r.append.length)));
      return crashNow();
    }
    if (r.syncsCompleted > 0) {
      for (let i = 0; i < r.syncsCompleted; i++) {
        const c = n.syncs.shift();
        if (c !== undefined) this.syncDone(n, c);
      }
    }
    for (const c of r.close) {
      const conn = n.conns.get(c.conn);
      if (conn === undefined) continue;
      n.conns.delete(c.conn);
      this.closeFrom(conn, n.sid);
    }
    for (const q of r.requests) {
      if (q.op === OP_SYNC) n.leader?.processSync(q.conn);
      else this.proposeAt(n, q.body);
    }
    if (r.state?.kind === 'serving') this.nowServing(n, r.state.epoch);
    if (r.state?.kind === 'looking') {
      this.roleEnded(n, r.state.reason, r.state.designatedLeader);
      return false;
    }
    if (n.serving) this.checkTreePrefix(n, 'after a Ready');
    return true;
  }

  private sends(n: Node, r: Ready, snapshotsAt: Map<bigint, LoggedTxn[] | undefined>): void {
    for (const s of r.send) {
      if (n.leader !== undefined) {
        const c = n.conns.get(s.to);
        if (c === undefined) continue;
        if (s.kind === 'packet') {
          if (s.packet.type === PacketType.DIFF) this.stats.diffs++;
          this.push(c, c.toLearner, { packet: s.packet });
        } else if (s.kind === 'snapshot') {
          this.push(c, c.toLearner, { packet: { type: PacketType.SNAP, zxid: s.zxid, data: null, authinfo: null }, snapshot: snapshotsAt.get(s.zxid) });
        } else {
          const txns = history(n.disk).filter((x) => x.zxid > s.afterZxid && x.zxid <= s.toZxid);
          for (const x of txns) {
            this.push(c, c.toLearner, { packet: { type: PacketType.PROPOSAL, zxid: x.zxid, data: x.data, authinfo: null } });
            this.push(c, c.toLearner, { packet: { type: PacketType.COMMIT, zxid: x.zxid, data: null, authinfo: null } });
          }
        }
      } else if (s.kind === 'packet' && n.conn !== undefined) {
        this.push(n.conn, n.conn.toLeader, { packet: s.packet });
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The checks

  private nowServing(n: Node, epoch: bigint): void {
    n.serving = true;
    const d = n.decision!;
    n.election!.setSettledState(d.state, { ...d.vote, peerEpoch: epoch });
    if (n.leader !== undefined) this.established(n, epoch);
    else this.log(`s${n.sid} serving epoch ${epoch} under s${d.vote.leader}`);
    this.checkTreePrefix(n, 'at serving');
  }

  private established(n: Node, epoch: bigint): void {
    this.stats.established++;
    const prev = this.epochLeaders.get(epoch);
    if (prev !== undefined) this.fail(`epoch ${epoch} established by s${prev} and by s${n.sid}`);
    this.epochLeaders.set(epoch, n.sid);
    if (epoch < this.maxEstablishedEpoch) {
      // A leader paused with its NEWLEADER quorum's acks on the way establishes after a newer
      // epoch did: the newer history must already hold all of its history, in place.
      this.stats.lateEstablished++;
      this.log(`s${n.sid} established epoch ${epoch} late, after epoch ${this.maxEstablishedEpoch}`);
      const h = history(n.disk);
      for (let i = 0; i < h.length; i++) {
        if (this.committed[i] === undefined || !same(h[i], this.committed[i])) {
          this.fail(`s${n.sid} established epoch ${epoch} after epoch ${this.maxEstablishedEpoch} with ${hex(h[i].zxid)} at [${i}], which the committed order does not hold there`);
        }
      }
      return;
    }
    this.maxEstablishedEpoch = epoch;
    this.log(`s${n.sid} established epoch ${epoch}`);
    const h = history(n.disk);
    // No committed txn lost: the new leader's history holds the whole committed order as a prefix.
    for (let i = 0; i < this.committed.length; i++) {
      if (h[i] === undefined || !same(h[i], this.committed[i])) {
        this.fail(`new leader s${n.sid} of epoch ${epoch} lacks committed ${hex(this.committed[i].zxid)} (has ${h[i] ? hex(h[i].zxid) : 'nothing'} there)`);
      }
    }
    // The rest of its history is committed now: a quorum acked NEWLEADER, so it must be on a quorum's disk.
    for (const txn of h.slice(this.committed.length)) this.leaderCommits(n, txn, 'establishment');
  }

  private leaderCommits(n: Node, txn: LoggedTxn, how: 'commit' | 'establishment'): void {
    if (how === 'commit' && epochOf(txn.zxid) !== n.leader!.epoch) this.fail(`leader s${n.sid} of epoch ${n.leader!.epoch} commits ${hex(txn.zxid)} of another epoch`);
    // Durable where, when committed: a quorum of every configuration it spans.
    const holders = this.nodes.filter((x) => history(x.disk).some((y) => same(y, txn))).map((x) => x.sid);
    const need: QuorumVerifier[] = [this.configInForce];
    const under = this.proposedUnderPending.get(`${txn.zxid}:${keyOf(txn.data)}`);
    if (how === 'commit' && under !== undefined) need.push(under);
    const cfgText = reconfigTxnConfig(txn.data);
    const txnConfig = cfgText === undefined ? undefined : parseQuorumVerifier(cfgText);
    if (txnConfig !== undefined) need.push(txnConfig);
    for (const qv of need) {
      if (!qv.containsQuorum(holders)) this.fail(`leader s${n.sid} commits ${hex(txn.zxid)} (${how}) held on disk only by [${holders.join(',')}], no quorum of configuration ${membersText(qv)} (${hex(qv.version)})`);
    }
    const last = this.committed[this.committed.length - 1];
    if (last !== undefined && txn.zxid <= last.zxid) {
      // A superseded leader that was paused may commit late, on acks sent before its followers
      // left: the txn was on a quorum's disks, so the newer epoch's history must hold it, in place.
      const at = this.committed.findIndex((x) => x.zxid === txn.zxid);
      if (how === 'commit' && n.leader!.epoch < this.maxEstablishedEpoch && at >= 0 && same(this.committed[at], txn)) {
        this.stats.lateCommits++;
        this.log(`s${n.sid}, leader of superseded epoch ${n.leader!.epoch}, commits ${hex(txn.zxid)} late (already in the order)`);
        return;
      }
      this.fail(`committed order not increasing: ${hex(txn.zxid)} after ${hex(last.zxid)} (leader s${n.sid}, epoch ${n.leader?.epoch}; ${at >= 0 ? 'a different txn at that zxid is committed' : 'not in the committed order'})`);
    }
    const data = keyOf(txn.data);
    const name = txnConfig === undefined ? data : `reconfig ${membersText(txnConfig)}`;
    if (!this.issued.has(data)) this.fail(`integrity: ${hex(txn.zxid)} "${name}" committed but no client wrote it`);
    if (this.committedData.has(data)) this.fail(`integrity: "${name}" committed twice (again at ${hex(txn.zxid)})`);
    this.committedData.add(data);
    this.committed.push(txn);
    this.stats.commits++;
    if (txnConfig !== undefined) {
      if (txnConfig.version !== txn.zxid) this.fail(`reconfig ${hex(txn.zxid)} carries version ${hex(txnConfig.version)}`);
      this.configInForce = txnConfig;
      this.stats.reconfigsCommitted++;
      this.log(`configuration ${membersText(txnConfig)} committed at ${hex(txn.zxid)}`);
      for (const x of this.nodes) if (x.pendingReconfig !== undefined && same(x.pendingReconfig, txn)) x.pendingReconfig = undefined;
    }
  }

  /** quorumpeer.ts: a newer configuration heard in the election becomes the member's committed one (ZooKeeper's processReconfig). */
  private configHeard(n: Node, qv: QuorumVerifier): void {
    const d = n.disk;
    if (qv.version <= d.config.version) return;
    this.checkOnePerVersion(n, qv);
    d.config = qv;
    if (d.nextConfig !== undefined && d.nextConfig.version <= qv.version) d.nextConfig = undefined;
    this.log(`s${n.sid} takes configuration ${membersText(qv)} version ${hex(qv.version)} heard in the election`);
  }

  private checkOnePerVersion(n: Node, qv: QuorumVerifier): void {
    const text = qv.toString();
    const first = this.activatedConfigs.get(qv.version);
    if (first === undefined) this.activatedConfigs.set(qv.version, { text, by: n.sid });
    else if (first.text !== text) this.fail(`version ${hex(qv.version)} activated as ${JSON.stringify(text)} by s${n.sid} but as ${JSON.stringify(first.text)} by s${first.by}`);
  }

  /** The configuration files of a Ready: `.dynamic.next` for a proposed one, then each activation. */
  private executeConfigs(n: Node, r: Ready): void {
    this.executeSeen(n, r);
    for (const a of r.activations) this.activated(n, a, r);
  }

  private executeSeen(n: Node, r: Ready): void {
    const d = n.disk;
    if (r.dropSeenConfig && d.nextConfig !== undefined) {
      this.log(`s${n.sid} forgets configuration ${membersText(d.nextConfig)} version ${hex(d.nextConfig.version)}`);
      d.nextConfig = undefined;
      n.election?.seeConfig(d.config);
    }
    if (r.seenConfig !== undefined && r.seenConfig.version > lastSeenOf(d).version) {
      d.nextConfig = r.seenConfig;
      n.election?.seeConfig(r.seenConfig);
      this.log(`s${n.sid} sees configuration ${membersText(r.seenConfig)} version ${hex(r.seenConfig.version)}`);
    }
  }

  private activated(n: Node, a: Activation, r: Ready): void {
    const qv = a.verifier;
    const d = n.disk;
    // One configuration per version, whoever activates it.
    this.checkOnePerVersion(n, qv);
    // Its version is the zxid of its reconfig txn, which this member holds; or the first epoch's versioning of the static one.
    if (counterOf(qv.version) === 0n) {
      if (!sameMembers(qv, this.verifier)) this.fail(`s${n.sid} activates ${membersText(qv)} at version ${hex(qv.version)}, an epoch's versioning of a configuration that is not the initial one`);
    } else if (n.learner === undefined || a.designatedLeader !== undefined) {
      // (A learner activates NEWLEADER's configuration at UPTODATE, as ZooKeeper's does: the
      // leader's last-seen one, which may still be pending and whose txn an observer never gets;
      // finalConfigChecks requires its version to be a committed reconfig.)
      const own = [...history(d), ...r.append, ...n.tree].find((x) => x.zxid === qv.version);
      const cfg = own === undefined ? undefined : reconfigTxnConfig(own.data);
      if (cfg === undefined || !sameMembers(parseQuorumVerifier(cfg), qv)) this.fail(`s${n.sid} activates ${membersText(qv)} at version ${hex(qv.version)} without that reconfig txn`);
    }
    if (qv.version <= d.config.version) return;
    d.config = qv;
    if (d.nextConfig !== undefined && d.nextConfig.version <= qv.version) d.nextConfig = undefined;
    n.election?.activateConfig(qv);
    this.stats.activations++;
    this.log(`s${n.sid} activates configuration ${membersText(qv)} version ${hex(qv.version)}${a.designatedLeader !== undefined ? ` (leader s${a.designatedLeader})` : ''}`);
  }

  private checkTreePrefix(n: Node, when: string): void {
    const t = n.tree;
    if (t.length > this.committed.length) this.fail(`s${n.sid} ${when}: applied ${t.length} txns, the committed order has ${this.committed.length}`);
    for (let i = t.length - 1; i >= 0; i--) {
      if (!same(t[i], this.committed[i])) this.fail(`s${n.sid} ${when}: applied[${i}] = ${hex(t[i].zxid)} but the committed order has ${hex(this.committed[i].zxid)}`);
    }
  }

  /** A txn applied at a node: a client waiting here for it gets its answer. */
  private applied(n: Node, txn: LoggedTxn): void {
    const data = keyOf(txn.data);
    const c = n.writes.get(data);
    if (c !== undefined) {
      n.writes.delete(data);
      if (c.member === n.sid && c.op?.data === data) {
        this.seen(c, txn.zxid, `write ${data}`, true);
        this.acknowledged.set(data, txn.zxid);
        if (txn.zxid > this.maxAckedZxid) this.maxAckedZxid = txn.zxid;
        this.stats.acked++;
        this.log(`client ${c.id}: ${c.id === 0 ? 'reconfig' : `write ${data}`} acknowledged at ${hex(txn.zxid)} by s${n.sid}`);
        c.op = undefined;
      }
    }
    if (n.localSyncs.length > 0) {
      const done = n.localSyncs.filter((s) => s.zxid <= txn.zxid);
      n.localSyncs = n.localSyncs.filter((s) => s.zxid > txn.zxid);
      for (const s of done) this.syncDone(n, s.client);
    }
  }

  /** A client learns a zxid: its view must never go back. */
  private seen(c: Client, zxid: bigint, what: string, strictly: boolean): void {
    if (zxid < c.lastZxidSeen || (strictly && zxid === c.lastZxidSeen && zxid !== 0n)) {
      this.fail(`client ${c.id}: ${what} at s${c.member} returned ${hex(zxid)}, below its lastZxidSeen ${hex(c.lastZxidSeen)}`);
    }
    c.lastZxidSeen = zxid;
  }

  private syncDone(n: Node, c: Client): void {
    if (c.member !== n.sid || c.op?.kind !== 'sync') return;
    const zxid = lastApplied(n.tree);
    this.seen(c, zxid, 'sync+read', false);
    const epoch = n.leader?.epoch ?? n.learner?.epoch ?? -1n;
    if (epoch < this.maxEstablishedEpoch) {
      // A leader that a newer epoch replaced and that has not noticed yet still answers syncs (as
      // ZooKeeper's does, until syncLimit passes without a quorum): not linearizable, by design.
      this.stats.staleSyncs++;
      this.log(`client ${c.id}: sync answered at s${n.sid} under superseded epoch ${epoch}`);
    } else if (zxid < c.op.floor!) {
      this.fail(`client ${c.id}: read after sync at s${n.sid} returned ${hex(zxid)}, but ${hex(c.op.floor!)} was acknowledged before the sync`);
    }
    this.stats.syncReads++;
    this.log(`client ${c.id}: sync+read at s${n.sid} -> ${hex(zxid)}`);
    c.op = undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Clients

  private clientAct(c: Client): void {
    const next = () => this.at(this.int(1, this.clientThinkMs), () => this.clientAct(c));
    if (!this.chaos && this.nowMs > this.chaosEndMs + 3_000) return; // the quiet period
    if (c.member !== undefined) {
      const m = this.node(c.member);
      if (!m.up || m.gen !== c.memberGen) this.dropClient(c, 'its member is gone');
    }
    if (c.member === undefined) {
      const candidates = this.nodes.filter((n) => n.up && n.serving && n.pausedUntilMs <= this.nowMs);
      const m = this.pick(candidates);
      if (m !== undefined) {
        const applied = lastApplied(m.tree);
        if (applied < c.lastZxidSeen) {
          // ZooKeeper's connect: a server behind the client's view refuses the session.
          this.stats.refused++;
          this.log(`client ${c.id} refused by s${m.sid} (applied ${hex(applied)} < lastZxidSeen ${hex(c.lastZxidSeen)})`);
        } else {
          c.member = m.sid;
          c.memberGen = m.gen;
          this.log(`client ${c.id} attaches to s${m.sid}`);
        }
      }
      return next();
    }
    if (c.op !== undefined) {
      // No answer for long: the client gives up on this member (a connection loss to it).
      if (this.nowMs - c.op.startMs > CLIENT_OP_TIMEOUT_MS) this.dropClient(c, 'no answer');
      return next();
    }
    const m = this.node(c.member);
    if (m.pausedUntilMs > this.nowMs) return next(); // its requests wait with the member
    const x = this.r();
    if (x < 0.5) {
      const data = `w${++this.clientSeq}`;
      this.issued.add(data);
      c.op = { kind: 'write', data, startMs: this.nowMs };
      m.writes.set(data, c);
      this.log(`client ${c.id}: write ${data} at s${m.sid}`);
      if (m.leader !== undefined) {
        if (!this.proposeAt(m, Buffer.from(data))) c.op = undefined;
      } else if (!m.learner!.forward({ sessionId: BigInt(c.id), cxid: this.clientSeq, op: 1, body: Buffer.from(data) }, null)) {
        c.op = undefined;
      }
    } else if (x < 0.8) {
      const zxid = lastApplied(m.tree);
      this.seen(c, zxid, 'read', false);
      this.stats.reads++;
    } else {
      c.op = { kind: 'sync', floor: this.maxAckedZxid, startMs: this.nowMs };
      this.log(`client ${c.id}: sync at s${m.sid} (acknowledged so far: ${hex(this.maxAckedZxid)})`);
      if (m.leader !== undefined) {
        // The leader's own sync: done once everything proposed before it is applied here.
        if (m.leader.lastCommittedZxid >= m.leader.lastProposed) this.syncDone(m, c);
        else m.localSyncs.push({ client: c, zxid: m.leader.lastProposed });
      } else if (m.learner!.forward({ sessionId: BigInt(c.id), cxid: this.clientSeq, op: OP_SYNC, body: Buffer.alloc(0) }, null)) {
        m.syncs.push(c);
      } else {
        c.op = undefined;
      }
    }
    next();
  }

  private proposeAt(n: Node, body: Buffer): boolean {
    const l = n.leader;
    if (l === undefined || l.phase !== 'broadcast') return false;
    const zxid = l.nextZxid();
    // Proposed while this leader's reconfig is outstanding: a quorum of the old configuration too.
    // (Outstanding until the leader commits it, which may be before that commit is executed here.)
    const pendingBefore = n.pendingReconfig !== undefined && l.lastCommittedZxid < n.pendingReconfig.zxid ? this.configInForce : undefined;
    if (!l.propose(zxid, body).ok) return false;
    if (pendingBefore !== undefined) this.proposedUnderPending.set(`${zxid}:${keyOf(body)}`, pendingBefore);
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Reconfig requests: the admin client asks the leader, which decides (reconfigrequest.ts) and
  // proposes the txn as prep does: a setData of /zookeeper/config under the reconfig header type.

  private scheduleReconfig(): void {
    this.at(this.int(300, 3_000), () => {
      if (!this.chaos) return;
      this.askReconfig();
      this.scheduleReconfig();
    });
  }

  private askReconfig(): void {
    const c = this.admin;
    if (c.member !== undefined) {
      const m = this.node(c.member);
      if (!m.up || m.gen !== c.memberGen) this.dropClient(c, 'its member is gone');
      else if (c.op !== undefined && this.nowMs - c.op.startMs > CLIENT_OP_TIMEOUT_MS) this.dropClient(c, 'no answer');
    }
    if (c.op !== undefined) return;
    const l = this.pick(this.nodes.filter((x) => x.up && x.pausedUntilMs <= this.nowMs && x.leader?.phase === 'broadcast'));
    if (l === undefined) return;
    if (lastApplied(l.tree) < c.lastZxidSeen) return;
    c.member = l.sid;
    c.memberGen = l.gen;
    const core = l.leader!;
    const lastSeen = core.lastSeenVerifier;
    const req = this.reconfigRequest(l, lastSeen);
    const zxid = core.nextZxid();
    const decision = decideReconfig(req.fields, {
      lastSeen,
      committed: core.committedVerifier,
      standaloneEnabled: true,
      multiAddressEnabled: false,
      synced: core.syncedFollowers(),
      zxid,
    });
    this.stats.reconfigsAsked++;
    if (!decision.ok) {
      this.stats.reconfigsRefused++;
      this.log(`admin: reconfig ${req.what} at s${l.sid} refused (${decision.err}: ${decision.reason})`);
      return;
    }
    const data = serializeTxn({
      hdr: { clientId: 0n, cxid: this.stats.reconfigsAsked, zxid, time: BigInt(this.nowMs), type: OpCode.reconfig },
      body: { type: OpCode.setData, record: { path: CONFIG_PATH, data: Buffer.from(decision.next.toString(), 'utf8'), version: -1 } },
    });
    const key = keyOf(data);
    this.issued.add(key);
    c.op = { kind: 'write', data: key, startMs: this.nowMs };
    l.writes.set(key, c);
    this.log(`admin: reconfig ${req.what} at s${l.sid} -> ${membersText(decision.next)} as ${hex(zxid)}`);
    if (!this.proposeAt(l, data)) {
      c.op = undefined;
      return;
    }
    l.pendingReconfig = { zxid, data };
  }

  /** One of the kinds of request an operator sends: add, remove (the leader too), observer and back, a new member set. */
  private reconfigRequest(l: Node, lastSeen: QuorumVerifier): { fields: ReconfigRequestFields; what: string } {
    const none: ReconfigRequestFields = { joiningServers: null, leavingServers: null, newMembers: null, curConfigId: -1n };
    const x = this.r();
    // Now and then an explicit version, right or stale.
    const y = this.r();
    if (y < 0.15) none.curConfigId = lastSeen.version;
    else if (y < 0.2) none.curConfigId = lastSeen.version - 1n;
    const pool = this.nodes.map((n) => n.sid);
    const members = [...lastSeen.members.keys()];
    const outside = pool.filter((s) => !lastSeen.members.has(s));
    const voters = [...lastSeen.votingMembers];
    const observers = [...lastSeen.observingMembers];
    if (x < 0.3 && outside.length > 0) {
      const sid = this.pick(outside)!;
      const type = this.r() < 0.25 ? 'observer' : 'participant';
      return { fields: { ...none, joiningServers: memberLine(sid, type) }, what: `add s${sid} as ${type}` };
    }
    if (x < 0.55) {
      const sid = this.r() < 0.3 ? l.sid : this.pick(members)!;
      return { fields: { ...none, leavingServers: `${sid}` }, what: `remove s${sid}` };
    }
    if (x < 0.7 && voters.length > 0) {
      const sid = this.pick(voters)!;
      return { fields: { ...none, joiningServers: memberLine(sid, 'observer') }, what: `s${sid} to observer` };
    }
    if (x < 0.8 && observers.length > 0) {
      const sid = this.pick(observers)!;
      return { fields: { ...none, joiningServers: memberLine(sid, 'participant') }, what: `s${sid} to participant` };
    }
    const chosen = pool.filter(() => this.r() < 0.6);
    const lines = chosen.map((s) => memberLine(s, this.r() < 0.2 ? 'observer' : 'participant'));
    return { fields: { ...none, newMembers: lines.join(',') }, what: `new members ${chosen.join(',') || '(none)'}` };
  }

  private dropClient(c: Client, why: string): void {
    if (c.member === undefined) return;
    this.log(`client ${c.id} disconnected from s${c.member}: ${why}${c.op ? ` (${c.op.kind} ${c.op.data ?? ''} unanswered)` : ''}`);
    c.member = undefined;
    c.op = undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // The end

  private converged(): boolean {
    const leaders = this.nodes.filter((n) => n.up && n.role === 'leading');
    if (leaders.length !== 1) return false;
    const l = leaders[0];
    if (l.leader?.phase !== 'broadcast' || l.leader.lastCommittedZxid !== l.leader.lastProposed) return false;
    if (!l.disk.config.votingMembers.has(l.sid)) return false;
    for (const n of this.nodes) {
      // A server the configuration left out and that refused to start stays down.
      if (!n.up && n.refused && !l.disk.config.members.has(n.sid)) continue;
      if (!n.up) return false;
      if (n === l) continue;
      if (!n.serving || n.decision?.vote.leader !== l.sid || n.conn === undefined || !l.conns.has(n.conn.id)) return false;
      if (n.conn.toLeader.q.length > 0 || n.conn.toLearner.q.length > 0) return false;
      if (lastApplied(n.tree) !== lastApplied(l.tree)) return false;
    }
    return this.clients.every((c) => c.op === undefined || c.member === undefined);
  }

  private finalChecks(): void {
    this.log(`converged: ${this.status()}`);
    for (const n of this.nodes) {
      if (!n.up) continue; // left out of the configuration, refused to start
      this.checkTreePrefix(n, 'at the end');
      if (n.tree.length !== this.committed.length) this.fail(`s${n.sid} holds ${n.tree.length} txns at the end, the committed order has ${this.committed.length}`);
    }
    if (this.reconfig) this.finalConfigChecks();
    for (const [data, zxid] of this.acknowledged) {
      const i = this.committed.findIndex((x) => x.zxid === zxid);
      if (i < 0 || keyOf(this.committed[i].data) !== data) this.fail(`acknowledged write at ${hex(zxid)} missing from the committed order`);
    }
  }

  private finalConfigChecks(): void {
    const l = this.nodes.find((n) => n.up && n.role === 'leading')!;
    const qv = l.disk.config;
    // The leader runs the configuration the committed order ends with (or its epoch's versioning of the initial one).
    if (!sameMembers(qv, this.configInForce) || (counterOf(this.configInForce.version) !== 0n && qv.version !== this.configInForce.version)) {
      this.fail(`leader s${l.sid} runs ${membersText(qv)} (${hex(qv.version)}) but the committed order ends with ${membersText(this.configInForce)} (${hex(this.configInForce.version)})`);
    }
    for (const n of this.nodes) {
      if (!n.up) {
        if (qv.members.has(n.sid)) this.fail(`s${n.sid}, a member of the last configuration, is down at the end`);
        continue;
      }
      if (n.disk.config.toString() !== qv.toString()) this.fail(`s${n.sid} ends with configuration ${JSON.stringify(n.disk.config.toString())}, the leader with ${JSON.stringify(qv.toString())}`);
      if (qv.members.has(n.sid) && (n.role === 'observing') !== qv.observingMembers.has(n.sid)) this.fail(`s${n.sid} ends ${n.role}, the configuration lists it as ${qv.observingMembers.has(n.sid) ? 'observer' : 'participant'}`);
    }
    // Every configuration activated anywhere: its version is a committed reconfig's zxid, or an epoch's versioning of the initial one.
    for (const [version, { text, by }] of this.activatedConfigs) {
      if (counterOf(version) === 0n) continue;
      const txn = this.committed.find((x) => x.zxid === version);
      const cfg = txn === undefined ? undefined : reconfigTxnConfig(txn.data);
      if (cfg === undefined || !sameMembers(parseQuorumVerifier(cfg), parseQuorumVerifier(text))) this.fail(`s${by} activated version ${hex(version)}, which is no committed reconfig`);
    }
  }
}
