/**
 * The leader's I/O shell: it listens on this server's quorum port (each of them, with multiAddress), gives each learner connection a
 * number and a framer, and drives the pure leader core (`leader.ts`), executing each Ready in the
 * order `ready.ts` states. While the epoch is established the server's commit stage is the quorum
 * (`QuorumCommitStage`): a prepared txn is proposed, logged here, and applied once a quorum has it
 * on disk, in zxid order.
 *
 * `run()` resolves when the epoch ends (no quorum, a timeout, counter exhaustion) with the reason;
 * the caller goes back to election. Everything this shell opened is closed by then.
 */
import { PLAIN_QUORUM_SOCKETS, type QuorumSockets } from './quorumsockets';
import { monotonicNowMs } from '../server/clock';
import { zxidHex } from '../storage/zxid';
import * as net from 'node:net';
import type { Logger } from 'pino';
import type { CommitStage } from '../server/commit';
import type { ServerConfig } from '../server/config';
import type { LearnerHandlerStatus, QuorumStatus, ZooKeeperServer } from '../server/server';
import { writeAcceptedEpoch, writeCurrentEpoch } from '../storage/epochs';
import type { Failpoints } from '../storage/failpoints';
import { diffFromLogAllowed, LogGapError, logEntriesAfter, readLogTail } from '../storage/logdiff';
import { SnapStreamEncoder } from '../storage/snapstream';
import type { Txn } from '../storage/txn';
import { deserializeTxn, serializeTxnView } from '../storage/txnserde';
import { OpCode } from '../protocol/constants';
import { ZabLeader } from './leader';
import { appendToRuns, type TxnLogSource, type ZxidRun } from './syncplan';
import type { LoggedTxn, Ready, SnapshotSend } from './ready';
import { memberPortAddresses, parseQuorumVerifier, type QuorumMember } from './verifier';
import type { QuorumConfigs } from './quorumconfigs';
import { QuorumPacketEncoder, QuorumPacketFramer } from './wire/framer';
import { runQuorumAuth, type QuorumAuthFactories } from './authshell';
import { appendDurably, ReadyLoop } from './readyloop';
import { PacketType, type QuorumPacket } from './wire/packets';

export interface LeaderShellDeps {
  config: ServerConfig;
  server: ZooKeeperServer;
  log: Logger;
  mySid: bigint;
  me: QuorumMember;
  /** The member's configurations; the leader proposes, activates and keeps them on disk there. */
  configs: QuorumConfigs;
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  listenOnAllIPs: boolean;
  /** The epoch is established and served (the election's settled vote takes it). */
  onServing(epoch: bigint): void;
  now?: () => number;
  /** Quorum SASL: each learner connection runs `server` before it counts as connected. */
  auth?: QuorumAuthFactories;
  /** Plaintext or TLS (sslQuorum, portUnification); plaintext when absent. */
  sockets?: QuorumSockets;
  /** Faults armed for tests: the leader's crash points (storage/failpoints.ts). */
  failpoints?: Failpoints;
}

/** Unsent bytes to one learner past which it is dropped: it does not read. */
const OUTPUT_HARD_LIMIT_BYTES = 64 * 1024 * 1024;
/** Learner connections at once. */
const MAX_CONNECTIONS = 1024;

/**
 * A learner connection. A SNAP or a DIFF from disk is streamed without holding up the other
 * learners: while one is being written, later packets to the same learner wait in `queue`, in
 * order, bounded by OUTPUT_HARD_LIMIT_BYTES.
 */
interface Conn {
  id: number;
  socket: net.Socket;
  queue: Array<Buffer | Stream>;
  queuedBytes: number;
  pumping: boolean;
  /** The learner's address as Java prints it, kept after the socket closes. */
  remoteAddress: string;
  establishedAtMs: number;
  /** The observers/orst figures (ZooKeeper's LearnerHandler counts the same). */
  packetsReceived: number;
  packetsSent: number;
  requests: number;
  lastZxid: bigint;
  sentZxid: bigint;
  lastAckedZxid: bigint;
  /** Packets since the last learner_handler_qp_time_ms sample. */
  sinceQueueMark: number;
  /** This Ready's packets to the learner not yet encoded (see flush). */
  batch: QuorumPacket[];
}

/** Bytes made as they are written; `abandon` releases what they hold when they never are. */
interface Stream {
  chunks(): AsyncIterable<Buffer>;
  abandon(): void;
  /** Set for a SNAP's snapshot stream: its zxid. */
  snapshotZxid?: bigint;
}

/** Packets to a learner between two samples of learner_handler_qp_time_ms (as ZooKeeper's markers). */
const QUEUE_TIME_MARK_PACKETS = 1000;

export class LeaderShell {
  /** Made once the log tail is read; the status getters answer before that too (`madeCore`). */
  private core!: ZabLeader;
  private readonly now: () => number;
  private readonly log: Logger;
  /** One per quorum address of this member. */
  private readonly listeners: net.Server[] = [];
  private readonly conns = new Map<number, Conn>();
  /** From 1: connection numbers are session owners, and 0 is the leader's own clients (LOCAL_OWNER). */
  private nextConn = 1;
  private readonly encoder = new QuorumPacketEncoder();
  private ended: ((reason: string) => void) | undefined;
  /** Set when the role ended because a reconfig designated the next leader (taken without election). */
  designatedLeader: bigint | undefined;
  private endReason: string | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private readonly stage = new QuorumCommitStage(this);
  private readonly loop = new ReadyLoop(
    () => this.core,
    (rd) => this.execute(rd),
    (e) => {
      this.log.error({ err: e.message }, 'leader failed to carry out the protocol; leaving the role');
      this.finish(`leader error: ${e.message}`);
    },
    () => this.endReason !== undefined,
  );
  private servingSinceMs: number | undefined;
  private readonly proposalSizes = { last: -1, min: -1, max: -1 };
  /** Txns proposed and not yet logged here, by zxid: logged as they are, not decoded again. */
  private readonly proposed = new Map<bigint, Txn>();
  /** Learner connections accepted before the core exists (while the log tail is read). */
  private early: net.Socket[] | undefined = [];
  /** Learner connections in quorum SASL, not yet handed to the core. */
  private readonly authenticating = new Set<net.Socket>();
  /** zxids this leader's log holds (durably), for DIFFs from disk; and the last one committed. */
  private loggedRuns: ZxidRun[] = [];
  private committedThrough = 0n;
  /** A DIFF from disk found the log not as expected (purged, damaged): SNAP from then on. */
  private diskDiffBroken = false;
  /** When each outstanding proposal was made, until it commits (quorum_ack_latency, learner_handler_qp_time_ms). */
  private readonly proposedAtMs = new Map<bigint, number>();

  constructor(private readonly deps: LeaderShellDeps) {
    this.now = deps.now ?? monotonicNowMs;
    this.log = deps.log.child({ module: 'leader' });
  }

  /** Leads until the epoch ends; resolves with why it ended. */
  async run(): Promise<string> {
    const { server, config } = this.deps;
    const done = new Promise<string>((resolve) => (this.ended = resolve));
    // The quorum port opens first, as ZooKeeper's leader binds it before it loads anything: a
    // learner that connects while the log tail is read waits in `early` instead of being refused
    // (refused five times, it would go back to election and leave this leader without a quorum
    // until initLimit ends the epoch).
    try {
      await this.listen();
    } catch (e) {
      return `cannot listen on the quorum port: ${(e as Error).message}`;
    }
    this.log.info({ addresses: this.listeners.map(listenAddressText) }, 'LEADING: the quorum port is open');
    const tail = await readLogTail(config.dataDir, config.dataLogDir, server.lastProcessedZxid, {
      windowCount: config.commitLogCount,
      snapshotSizeFactor: config.snapshotSizeFactor,
    });
    const committedLog: LoggedTxn[] = tail.window.map((e) => ({ zxid: e.zxid, data: e.body }));
    this.loggedRuns = tail.runs;
    this.committedThrough = server.lastProcessedZxid;
    this.core = new ZabLeader({
      sid: this.deps.mySid,
      verifier: this.deps.configs.committed,
      lastSeenVerifier: this.deps.configs.lastSeen,
      reconfigEnabled: config.reconfigEnabled,
      // A reconfig prepared here keeps the configuration prep decided (its member order).
      parseConfig: (text) => server.decidedConfiguration(text) ?? parseQuorumVerifier(text, { multiAddressEnabled: config.multiAddressEnabled }),
      tickTimeMs: config.tickTimeMs,
      initLimitTicks: config.initLimitTicks,
      syncLimitTicks: config.syncLimitTicks,
      acceptedEpoch: this.deps.acceptedEpoch,
      currentEpoch: this.deps.currentEpoch,
      lastLoggedZxid: server.lastProcessedZxid,
      committedLog,
      commitLogCount: config.commitLogCount,
      forceSnapshotSync: config.forceSnapshotSync,
      txnLog: () => this.txnLogSource(),
      nowMs: this.now(),
    });
    const early = this.early ?? [];
    this.early = undefined;
    for (const socket of early) {
      socket.removeAllListeners('error');
      if (socket.destroyed) continue;
      this.accept(socket);
    }
    if (this.endReason !== undefined) return done;
    this.tickTimer = setInterval(() => {
      this.core.tick(this.now());
      this.drive();
    }, Math.max(5, Math.floor(config.tickTimeMs / 4)));
    this.drive();
    return done;
  }

  stop(): void {
    this.finish('the server is stopping');
  }

  /**
   * Listens on every quorum address of this member (several with multiAddress), as ZooKeeper's
   * leader opens one acceptor per address: an address that cannot be bound is logged and left out,
   * and only when none can be is leading given up. quorumListenOnAllIPs binds the wildcard address
   * once per distinct port.
   */
  private async listen(): Promise<void> {
    const { me } = this.deps;
    const addresses = memberPortAddresses(me, 'quorumPort');
    const targets = this.deps.listenOnAllIPs
      ? [...new Set(addresses.map((a) => a.port))].map((port) => ({ host: undefined as string | undefined, port }))
      : addresses.map((a) => ({ host: a.host as string | undefined, port: a.port }));
    const errors: string[] = [];
    for (const target of targets) {
      const sockets = this.deps.sockets ?? PLAIN_QUORUM_SOCKETS;
      const listener = net.createServer((raw) => sockets.accept(raw, (socket) => this.accept(socket)));
      listener.maxConnections = MAX_CONNECTIONS;
      try {
        await new Promise<void>((resolve, reject) => {
          listener.once('error', reject);
          listener.listen(target, () => {
            listener.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        const where = `${target.host ?? '*'}:${target.port}`;
        errors.push(`${where}: ${(e as Error).message}`);
        this.log.error({ address: where, err: (e as Error).message }, 'cannot bind a quorum address');
        continue;
      }
      listener.on('error', (err) => this.log.warn({ err: err.message }, 'quorum listener error'));
      if (this.endReason !== undefined) {
        listener.close();
        continue;
      }
      this.listeners.push(listener);
    }
    if (this.listeners.length === 0) throw new Error(errors.join('; ') || 'no quorum address');
  }

  private accept(socket: net.Socket): void {
    if (this.endReason !== undefined) return void socket.destroy();
    // Every listener is limited, and so are all of them together.
    if (this.conns.size + (this.early?.length ?? 0) + this.authenticating.size >= MAX_CONNECTIONS) return void socket.destroy();
    if (this.early !== undefined) {
      // Its bytes stay in the socket until the core exists; an error meanwhile only closes it.
      socket.on('error', () => socket.destroy());
      this.early.push(socket);
      return;
    }
    const serverAuth = this.deps.auth?.server;
    if (serverAuth === undefined) return this.connected(socket, undefined);
    // LearnerHandler's constructor: the exchange runs under the socket timeout tickTime x initLimit,
    // before the learner is handed to the leader.
    if (this.authenticating.size >= MAX_CONNECTIONS) return void socket.destroy();
    this.authenticating.add(socket);
    socket.setNoDelay(true);
    const remote = `/${(socket.remoteAddress ?? '').replace(/^::ffff:/, '')}:${socket.remotePort ?? 0}`;
    void runQuorumAuth(socket, serverAuth(), { timeoutMs: this.deps.config.tickTimeMs * this.deps.config.initLimitTicks }).then((outcome) => {
      const live = this.authenticating.delete(socket);
      // A learner that closed while the server looked for the magic (SASL not required) is gone too.
      if (!live || this.endReason !== undefined || socket.destroyed || socket.readableEnded) return void socket.destroy();
      if (outcome.kind === 'failed') {
        this.log.error({ remote, reason: outcome.reason }, 'Server failed to authenticate quorum learner, closing connection');
        return;
      }
      if (outcome.kind === 'authenticated') this.log.info({ remote, user: outcome.user }, 'quorum SASL: authenticated the learner');
      else this.log.warn({ remote, reason: outcome.reason }, 'quorum SASL: an unauthenticated learner (quorum.auth.serverRequireSasl is false)');
      this.connected(socket, outcome.rest);
    });
  }

  /** A learner connection handed to the leader core; `afterAuth` is what followed quorum SASL (the socket is then paused). */
  private connected(socket: net.Socket, afterAuth: Buffer | undefined): void {
    socket.setNoDelay(true);
    const conn: Conn = {
      id: this.nextConn++,
      socket,
      queue: [],
      queuedBytes: 0,
      pumping: false,
      remoteAddress: `/${(socket.remoteAddress ?? '').replace(/^::ffff:/, '')}:${socket.remotePort ?? 0}`,
      establishedAtMs: this.now(),
      packetsReceived: 0,
      packetsSent: 0,
      requests: 0,
      lastZxid: -1n,
      sentZxid: -1n,
      lastAckedZxid: -1n,
      sinceQueueMark: 0,
      batch: [],
    };
    this.conns.set(conn.id, conn);
    const framer = new QuorumPacketFramer((p) => this.onPacket(conn, p), {
      maxBufferBytes: this.deps.config.juteMaxBufferBytes,
      extraBufferBytes: this.deps.config.juteMaxBufferExtraSizeBytes,
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        framer.push(chunk);
      } catch (e) {
        this.log.warn({ conn: conn.id, remote: socket.remoteAddress, err: (e as Error).message }, 'malformed data from a learner; closing its connection');
        socket.destroy();
      }
    });
    socket.on('close', () => {
      this.conns.delete(conn.id);
      if (this.endReason !== undefined) return;
      this.core.disconnected(conn.id);
      this.drive();
    });
    socket.on('error', (err) => this.log.info({ conn: conn.id, err: err.message }, 'learner connection failed'));
    this.core.connected(conn.id);
    if (afterAuth !== undefined && afterAuth.length > 0) socket.emit('data', afterAuth);
    // After SASL, or port unification, the socket was left paused.
    socket.resume();
    this.drive();
  }

  private onPacket(conn: Conn, p: QuorumPacket): void {
    if (this.endReason !== undefined) return;
    conn.packetsReceived++;
    if (p.type === PacketType.REQUEST) conn.requests++;
    else if (p.type === PacketType.ACK && p.zxid > conn.lastAckedZxid) conn.lastAckedZxid = p.zxid;
    else if (p.type === PacketType.REVALIDATE) this.deps.server.metrics.revalidates++;
    this.core.step(conn.id, p);
    this.loop.kickSoon();
  }

  private get madeCore(): ZabLeader | undefined {
    return this.core as ZabLeader | undefined;
  }

  /** mntr's leader figures, as ZooKeeper's leader counts them. */
  status(): NonNullable<QuorumStatus['leader']> {
    const learners = this.madeCore?.learners() ?? [];
    const voters = this.deps.configs.committed.votingMembers;
    const synced = learners.filter((l) => l.synced && l.phase === 'broadcast');
    const handlers: LearnerHandlerStatus[] = [];
    for (const l of learners) {
      const c = this.conns.get(l.conn);
      if (c === undefined) continue;
      handlers.push({
        sid: l.sid,
        learnerType: l.type,
        remoteAddress: c.remoteAddress,
        establishedAtMs: c.establishedAtMs,
        queuedBytes: c.socket.writableLength + c.queuedBytes,
        packetsReceived: c.packetsReceived,
        packetsSent: c.packetsSent,
        requests: c.requests,
        lastZxid: c.lastZxid,
        sentZxid: c.sentZxid,
        lastAckedZxid: c.lastAckedZxid,
        synced: l.synced && l.phase === 'broadcast',
      });
    }
    return {
      handlers,
      learners: learners.length,
      // ZooKeeper's forwarding followers: non-voting ones (removed by a reconfig) included.
      syncedFollowers: synced.filter((l) => l.type === 'participant').length,
      syncedNonVotingFollowers: synced.filter((l) => l.type === 'participant' && !voters.has(l.sid)).length,
      syncedObservers: synced.filter((l) => l.type === 'observer').length,
      pendingSyncs: this.madeCore?.pendingSyncCountNow ?? 0,
      leaderUptimeMs: this.servingSinceMs === undefined ? 0 : this.now() - this.servingSinceMs,
      lastProposalSize: this.proposalSizes.last,
      minProposalSize: this.proposalSizes.min,
      maxProposalSize: this.proposalSizes.max,
    };
  }

  /** ZooKeeper's ZabState of this leader: discovery until the epoch is acked, then sync, then broadcast. */
  zabState(): 'discovery' | 'synchronization' | 'broadcast' {
    const phase = this.madeCore?.phase;
    return phase === 'broadcast' ? 'broadcast' : phase === 'newleader' ? 'synchronization' : 'discovery';
  }

  /** orst: the observers' packet counts start again (ZooKeeper's resetObserverConnectionStats). */
  resetObserverStats(): void {
    const observers = new Set((this.madeCore?.learners() ?? []).filter((l) => l.type === 'observer').map((l) => l.conn));
    for (const c of this.conns.values())
      if (observers.has(c.id)) {
        c.packetsReceived = c.packetsSent = c.requests = 0;
        c.lastZxid = -1n;
      }
  }

  /** A txn the server prepared: proposed to the quorum. False when the epoch cannot take it. */
  propose(txn: Txn): boolean {
    if (this.endReason !== undefined) return false;
    if (txn.hdr.zxid !== this.core.nextZxid()) {
      this.log.error({ zxid: zxidHex(txn.hdr.zxid), expected: zxidHex(this.core.nextZxid()) }, 'prepared txn does not carry the next zxid');
      return false;
    }
    // A view of a reused buffer: the core keeps the bytes as text (see leader.ts heldTxn).
    const data = serializeTxnView(txn, txn.digest);
    const r = this.core.propose(txn.hdr.zxid, data);
    if (r.ok) {
      this.proposed.set(txn.hdr.zxid, txn);
      this.proposedAtMs.set(txn.hdr.zxid, this.now());
      this.deps.server.metrics.proposals++;
      const sizes = this.proposalSizes;
      sizes.last = data.length;
      sizes.min = sizes.min < 0 ? data.length : Math.min(sizes.min, data.length);
      sizes.max = Math.max(sizes.max, data.length);
    }
    else {
      this.log.warn({ zxid: zxidHex(txn.hdr.zxid), reason: r.reason }, 'proposal refused');
      this.drive();
      return false;
    }
    this.loop.kickSoon();
    return true;
  }

  private drive(): void {
    this.loop.kick();
  }

  private async execute(rd: Ready): Promise<void> {
    const { server, config } = this.deps;
    for (const note of rd.notes) this.log.info(note);
    // Broadcast traffic goes out, and commits are applied, while this leader's own log write is in
    // flight, as ZooKeeper's leader sends a proposal before its SyncRequestProcessor logs it and
    // commits beside it: the followers' fsyncs and ours overlap, and a committed write is answered
    // without waiting for the next batch's fsync. Nothing of this Ready's append is committed: the
    // core counts our own ack only at advance(), once this Ready is durable, so every txn
    // committed (and every COMMIT sent) here was durable here already.
    // A configuration proposed, then each one committed (their txns are durable here already).
    if (rd.dropSeenConfig) this.deps.configs.forgetSeen();
    if (rd.seenConfig !== undefined) this.deps.configs.see(rd.seenConfig);
    for (const a of rd.activations) this.deps.configs.activate(a.verifier);
    const early = rd.append.length > 0 && rd.acceptedEpoch === undefined && rd.currentEpoch === undefined && rd.send.every(isBroadcastPacket);
    if (early) {
      this.sendAll(rd, new Map());
      this.applyCommits(rd, () => undefined);
    }
    if (rd.append.length > 0) {
      const txns = rd.append.map((t) => {
        const txn = this.proposed.get(t.zxid) ?? deserializeTxn(t.data).txn;
        this.proposed.delete(t.zxid);
        return txn;
      });
      await appendDurably(this.deps.server.db.commit, txns);
      for (const t of rd.append) appendToRuns(this.loggedRuns, t.zxid);
    }
    if (rd.acceptedEpoch !== undefined) writeAcceptedEpoch(config.dataDir, rd.acceptedEpoch);
    if (rd.currentEpoch !== undefined) writeCurrentEpoch(config.dataDir, rd.currentEpoch);
    // Snapshots to send are taken exactly at their zxid: before the commits when the tree is there
    // already, else right after the commit that brings it there.
    const snapshots = new Map<SnapshotSend, SnapStreamEncoder>();
    const takeSnapshotsAt = (zxid: bigint) => {
      for (const s of rd.send) if (s.kind === 'snapshot' && s.zxid === zxid && !snapshots.has(s)) snapshots.set(s, new SnapStreamEncoder(server.tree, server.sessionTimeouts()));
    };
    takeSnapshotsAt(server.lastProcessedZxid);
    if (!early) {
      this.applyCommits(rd, takeSnapshotsAt);
      this.sendAll(rd, snapshots);
    }
    for (const c of rd.close) {
      this.log.info({ conn: c.conn, reason: c.reason }, 'closing a learner connection');
      const conn = this.conns.get(c.conn);
      // A learner with a stream still going has nothing more worth writing: it is dropped at once.
      if (conn?.pumping) conn.socket.destroy();
      else conn?.socket.end();
    }
    for (const r of rd.requests) {
      if (r.op === OpCode.sync) this.core.processSync(r.conn);
      else server.submitForwarded(r.sessionId, r.cxid, r.op, r.body, r.authinfo ?? [], r.conn);
    }
    for (const touch of rd.touches) server.touchSession(touch.sessionId, touch.timeoutMs);
    for (const v of rd.revalidations) this.core.revalidated(v.conn, v.sessionId, server.revalidateForLearner(v.sessionId, v.timeoutMs, v.conn));
    if (rd.state?.kind === 'serving') {
      this.log.info({ epoch: rd.state.epoch.toString(), learners: this.core.learners().length }, 'LEADING: the epoch is established; serving');
      this.servingSinceMs = this.now();
      server.beginEpoch(rd.state.epoch);
      server.setCommitStage(this.stage);
      server.reconfigContext = () => {
        const core = this.madeCore;
        if (core === undefined || core.phase !== 'broadcast') return undefined;
        return {
          lastSeen: core.lastSeenVerifier,
          committed: core.committedVerifier,
          standaloneEnabled: config.standaloneEnabled,
          multiAddressEnabled: config.multiAddressEnabled,
          synced: core.syncedFollowers(),
        };
      };
      server.setRoleProblem(undefined);
      this.deps.onServing(rd.state.epoch);
    } else if (rd.state?.kind === 'looking') {
      this.designatedLeader = rd.state.designatedLeader;
      this.finish(rd.state.reason);
    }
  }

  /** The Ready's commits, in zxid order: the server applies them and answers their requests. */
  private applyCommits(rd: Ready, afterEach: (zxid: bigint) => void): void {
    const { server } = this.deps;
    for (const t of rd.commit) {
      const madeAtMs = this.proposedAtMs.get(t.zxid);
      if (madeAtMs !== undefined) server.metrics.quorumAckLatency.observe(Math.max(0, this.now() - madeAtMs), this.now());
      this.proposedAtMs.delete(t.zxid);
      server.metrics.commits++;
      this.stage.committed(t.zxid);
      this.committedThrough = t.zxid;
      afterEach(t.zxid);
    }
  }

  /** Writes a Ready's sends, in order, each learner's after its earlier ones. */
  private sendAll(rd: Ready, snapshots: Map<SnapshotSend, SnapStreamEncoder>): void {
    const { server } = this.deps;
    // learner_handler_qp_size: how many of this Ready's packets each learner still has queued as
    // each is written; learner_handler_qp_time_ms: how long they waited, sampled after a sync and
    // every QUEUE_TIME_MARK_PACKETS packets (where ZooKeeper queues its marker packets).
    const readyAtMs = this.now();
    const queued = new Map<number, number>();
    for (const s of rd.send) if (s.kind === 'packet') queued.set(s.to, (queued.get(s.to) ?? 0) + 1);
    const sidOf = new Map(this.core.learners().map((l) => [l.conn, l.sid.toString()]));
    const marked = new Set<Conn>();
    // Each learner's packets of this Ready leave in one write (writev) rather than one each.
    const corked = new Set<Conn>();
    try {
      this.sendEach(rd, snapshots, queued, sidOf, marked, corked);
    } finally {
      for (const conn of corked) {
        this.flush(conn);
        if (!conn.socket.destroyed) conn.socket.uncork();
      }
    }
    // A snapshot taken for a learner already gone holds copies of changed nodes until closed.
    for (const enc of snapshots.values()) enc.close();
    for (const conn of marked) {
      const sid = sidOf.get(conn.id);
      conn.sinceQueueMark = 0;
      if (sid !== undefined) server.metrics.learnerPacketSent(sid, undefined, this.now() - readyAtMs);
    }
  }

  private sendEach(
    rd: Ready,
    snapshots: Map<SnapshotSend, SnapStreamEncoder>,
    queued: Map<number, number>,
    sidOf: Map<number, string>,
    marked: Set<Conn>,
    corked: Set<Conn>,
  ): void {
    const { server } = this.deps;
    for (const s of rd.send) {
      const conn = this.conns.get(s.to);
      if (conn === undefined) continue;
      if (!corked.has(conn)) {
        corked.add(conn);
        conn.socket.cork();
      }
      if (s.kind === 'packet') {
        const left = (queued.get(s.to) ?? 1) - 1;
        queued.set(s.to, left);
        const sid = sidOf.get(s.to);
        if (sid !== undefined) server.metrics.learnerPacketSent(sid, left, undefined);
        if (s.packet.type === PacketType.DIFF || s.packet.type === PacketType.TRUNC) {
          server.metrics.diffSyncs++;
          marked.add(conn);
        }
        if (++conn.sinceQueueMark >= QUEUE_TIME_MARK_PACKETS) marked.add(conn);
        this.write(conn, s.packet);
      } else if (s.kind === 'logRange') {
        this.flush(conn);
        this.stream(conn, { chunks: () => this.replayFromLog(s.afterZxid, s.toZxid), abandon: () => undefined });
      } else {
        const enc = snapshots.get(s);
        if (enc === undefined) throw new Error(`no snapshot at 0x${s.zxid.toString(16)} to send (tree at 0x${server.lastProcessedZxid.toString(16)})`);
        snapshots.delete(s);
        server.metrics.snapSyncs++;
        marked.add(conn);
        this.write(conn, { type: PacketType.SNAP, zxid: s.zxid, data: null, authinfo: null });
        this.flush(conn);
        this.stream(conn, { chunks: () => enc.chunks(), abandon: () => enc.close(), snapshotZxid: s.zxid });
      }
    }
  }

  /** Queues a packet to a learner; flush() writes it, with the Ready's other packets to that learner. */
  private write(conn: Conn, p: QuorumPacket): void {
    if (conn.socket.destroyed) return;
    conn.packetsSent++;
    if (p.zxid > 0n) conn.lastZxid = conn.sentZxid = p.zxid;
    conn.batch.push(p);
  }

  /**
   * Writes the packets queued to a learner as one buffer. Encoded one by one they took two copies
   * each from Node's shared 8 KB pool chunks; under load many of those chunks outlived a young
   * collection, waited for a full one, and grew malloc's heap, which keeps its size after (the
   * leader's heap ended a load 15-20 MB larger than a follower's).
   */
  private flush(conn: Conn): void {
    if (conn.batch.length === 0) return;
    const packets = conn.batch;
    conn.batch = [];
    const s = conn.socket;
    if (s.destroyed) return;
    const bytes = this.encoder.encodeAll(packets);
    if (conn.pumping) {
      conn.queue.push(bytes);
      conn.queuedBytes += bytes.length;
    } else {
      s.write(bytes);
    }
    if (s.writableLength + conn.queuedBytes > OUTPUT_HARD_LIMIT_BYTES) {
      this.log.warn({ conn: conn.id, bytes: s.writableLength + conn.queuedBytes }, 'a learner does not read; closing its connection');
      s.destroy();
    }
  }

  /** Writes a stream to one learner in the background; what is written to it meanwhile follows it. */
  private stream(conn: Conn, stream: Stream): void {
    conn.queue.push(stream);
    if (!conn.pumping) void this.pump(conn);
  }

  private async pump(conn: Conn): Promise<void> {
    const s = conn.socket;
    conn.pumping = true;
    try {
      while (conn.queue.length > 0 && !s.destroyed) {
        const item = conn.queue.shift()!;
        if (Buffer.isBuffer(item)) {
          conn.queuedBytes -= item.length;
          s.write(item);
        } else {
          for await (const chunk of item.chunks()) {
            if (s.destroyed) break;
            s.write(chunk);
            await drained(s);
          }
          if (item.snapshotZxid !== undefined && !s.destroyed) {
            // The learner has the whole snapshot, not what follows it (NEWLEADER): the leader
            // dying here left ZooKeeper's learner with a tree only in memory (ZOOKEEPER-3642).
            await drained(s);
            this.deps.failpoints?.crash('crash:after-snap-sent', { conn: conn.id, zxid: zxidHex(item.snapshotZxid) });
          }
        }
        await drained(s);
      }
    } catch (e) {
      if (e instanceof LogGapError || (e as Error).name === 'CorruptLogError' || (e as NodeJS.ErrnoException).code === 'ENOENT') this.diskDiffBroken = true;
      this.log.warn({ conn: conn.id, err: (e as Error).message }, 'cannot stream the sync to a learner; closing its connection');
      s.destroy();
    } finally {
      conn.pumping = false;
      if (s.destroyed) {
        for (const item of conn.queue.splice(0)) if (!Buffer.isBuffer(item)) item.abandon();
        conn.queuedBytes = 0;
      }
    }
  }

  /** The committed txns after `afterZxid` up to `toZxid`, read from the log, as PROPOSAL and COMMIT. */
  private async *replayFromLog(afterZxid: bigint, toZxid: bigint): AsyncIterable<Buffer> {
    for await (const e of logEntriesAfter(this.deps.config.dataLogDir, afterZxid, { toZxid })) {
      yield Buffer.from(this.encoder.encode({ type: PacketType.PROPOSAL, zxid: e.zxid, data: e.body, authinfo: null }));
      yield Buffer.from(this.encoder.encode({ type: PacketType.COMMIT, zxid: e.zxid, data: null, authinfo: null }));
    }
  }

  /**
   * What the planner may DIFF from disk: the committed zxids the log holds, and ZooKeeper's size
   * rule (the files to read weigh at most snapshotSizeFactor times the newest snapshot).
   */
  private txnLogSource(): TxnLogSource | undefined {
    const { config } = this.deps;
    if (this.diskDiffBroken || config.snapshotSizeFactor < 0) return undefined;
    const limit = this.committedThrough;
    const runs: ZxidRun[] = [];
    for (const r of this.loggedRuns) {
      if (r.first > limit) break;
      runs.push({ first: r.first, last: r.last > limit ? limit : r.last });
    }
    return { runs, withinSizeLimit: (zxid) => diffFromLogAllowed(config.dataDir, config.dataLogDir, zxid, config.snapshotSizeFactor) };
  }

  private finish(reason: string): void {
    if (this.endReason !== undefined) return;
    this.endReason = reason;
    this.log.info({ reason }, 'leaving the leader role');
    clearInterval(this.tickTimer);
    const { server } = this.deps;
    server.setRoleProblem(`no leader: ${reason}`);
    this.stage.abandonAll();
    server.reconfigContext = undefined;
    server.setCommitStage(undefined);
    server.beginEpoch(undefined);
    for (const c of this.conns.values()) c.socket.destroy();
    this.conns.clear();
    for (const socket of this.early ?? []) socket.destroy();
    for (const socket of this.authenticating) socket.destroy();
    this.authenticating.clear();
    for (const listener of this.listeners) listener.close();
    this.ended?.(reason);
  }
}

function listenAddressText(listener: net.Server): string {
  const a = listener.address();
  return a !== null && typeof a === 'object' ? `${a.address}:${a.port}` : String(a);
}

/**
 * The server's commit stage while this server leads: a txn is proposed and becomes committed when
 * the core commits it (a quorum has it on disk, every earlier one committed); its callbacks run in
 * zxid order. A barrier (sync) completes once every txn submitted before it is committed.
 */
class QuorumCommitStage implements CommitStage {
  private readonly waiting: Array<{ zxid?: bigint; done: () => void; abandoned: () => void }> = [];
  readonly stalled = undefined;
  failure: Error | undefined;

  constructor(private readonly shell: LeaderShell) {}

  get pending(): number {
    return this.waiting.length;
  }

  submit(txn: Txn, done: () => void, abandoned: () => void = () => undefined): void {
    if (!this.shell.propose(txn)) return abandoned();
    this.waiting.push({ zxid: txn.hdr.zxid, done, abandoned });
  }

  barrier(done: () => void, abandoned: () => void = () => undefined): void {
    if (this.waiting.length === 0) return done();
    this.waiting.push({ done, abandoned });
  }

  /** The core committed `zxid`: its txn (and the barriers right behind it) complete. */
  committed(zxid: bigint): void {
    const head = this.waiting[0];
    if (head === undefined || head.zxid !== zxid) throw new Error(`commit of 0x${zxid.toString(16)} is not the oldest proposal here`);
    this.waiting.shift();
    head.done();
    while (this.waiting.length > 0 && this.waiting[0].zxid === undefined) this.waiting.shift()!.done();
  }

  abandonAll(): void {
    const all = this.waiting.splice(0);
    for (const w of all) w.abandoned();
  }
}

/** Packets of the broadcast phase, which need nothing of this Ready to be durable first. */
const BROADCAST_TYPES: ReadonlySet<number> = new Set([PacketType.PROPOSAL, PacketType.COMMIT, PacketType.INFORM, PacketType.PING, PacketType.SYNC]);

function isBroadcastPacket(s: Ready['send'][number]): boolean {
  return s.kind === 'packet' && BROADCAST_TYPES.has(s.packet.type);
}

function drained(socket: net.Socket): Promise<void> {
  if (socket.destroyed || socket.writableLength < 1024 * 1024) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

