/**
 * A learner's I/O shell: it connects to the elected leader's quorum port and drives the pure
 * learner core (`learner.ts`) with the packets read there, executing each Ready in the order
 * `ready.ts` states (truncate, snapshot, log + fsync, epoch files, commits, then sends) before the
 * next. The server (`ZooKeeperServer`) sees only its learner seams: `replaceDatabase` after a SNAP
 * or TRUNC, `learnerCommitted` for each commit, `setLeaderLink` while serving, `setRoleProblem`
 * while not.
 *
 * `run()` resolves when the role ends (the leader went silent or away, or it sent something out of
 * protocol), with the reason; the caller goes back to election. Everything this shell opened is
 * closed by then.
 */
import { monotonicNowMs } from '../server/clock';
import { zxidHex } from '../storage/zxid';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Logger } from 'pino';
import type { ServerConfig } from '../server/config';
import type { LeaderLink, ZooKeeperServer } from '../server/server';
import type { Database, ReceivedTree } from '../storage/database';
import { writeAcceptedEpoch, writeCurrentEpoch } from '../storage/epochs';
import type { Failpoints } from '../storage/failpoints';
import { truncateLogTo } from '../storage/logtrunc';
import { VERSION_DIR } from '../storage/purge';
import { SnapSpool, SnapStreamDecoder } from '../storage/snapstream';
import { deserializeTxn } from '../storage/txnserde';
import { listLogFiles, syncDirSync } from '../storage/txnlog';
import type { Txn } from '../storage/txn';
import { isUrgentSend, LEADER_CONN, ZabLearner } from './learner';
import type { Ready } from './ready';
import { memberPortAddresses, parseQuorumVerifier, type QuorumMember } from './verifier';
import type { QuorumConfigs } from './quorumconfigs';
import { QuorumPacketEncoder, QuorumPacketFramer } from './wire/framer';
import { appendDurably, ReadyLoop } from './readyloop';
import { runQuorumAuth, type QuorumAuthFactories } from './authshell';
import { connectToLeader, openQuorumSocket } from './leaderconnect';
import type { QuorumSockets } from './quorumsockets';
import { PacketType, type PacketId, type QuorumPacket } from './wire/packets';

export interface LearnerShellDeps {
  config: ServerConfig;
  server: ZooKeeperServer;
  log: Logger;
  mySid: bigint;
  role: 'follower' | 'observer';
  leader: QuorumMember;
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  /** The member's configurations; the learner activates and keeps them on disk there. */
  configs: QuorumConfigs;
  /** Closes the server's database and opens it again from disk (after TRUNC or SNAP changed the files). */
  reopenDatabase(received?: ReceivedTree): Promise<Database>;
  /** The role is serving at `epoch` (the election's settled vote takes it). */
  onServing(epoch: bigint): void;
  /** Quorum SASL: with `learner` set, this member authenticates to the leader before FOLLOWERINFO. */
  auth?: QuorumAuthFactories;
  /** Plaintext or TLS (sslQuorum); plaintext when absent. */
  sockets?: QuorumSockets;
  /** Faults armed for tests: the learner's crash points (storage/failpoints.ts). */
  failpoints?: Failpoints;
  now?: () => number;
}

/** Unsent bytes to the leader past which the link is given up: the leader stopped reading. */
const OUTPUT_HARD_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * Spooled snapshot bytes waiting for the disk past which the leader's stream is not read; reading
 * resumes below the second. Without a bound a disk slower than the link held the whole stream in
 * memory, and the process kept the freed memory afterwards (20-40 MB at 200,000 znodes); a few
 * blocks in flight keep the disk busy.
 */
const SPOOL_BACKLOG_LIMIT_BYTES = 8 * 1024 * 1024;
const SPOOL_BACKLOG_RESUME_BYTES = 4 * 1024 * 1024;

/** Proposals awaiting their COMMIT whose times are kept for commit_propagation_latency. */
const MAX_PROPOSAL_TIMES = 10_000;
/** TxnHeader: clientId (8), cxid (4), zxid (8), then time (8). */
const TXN_TIME_OFFSET = 20;

/** A txn's header time (ms), undefined when the data is too short to hold it. */
function txnTimeMs(data: Buffer | null): number | undefined {
  return data && data.length >= TXN_TIME_OFFSET + 8 ? Number(data.readBigInt64BE(TXN_TIME_OFFSET)) : undefined;
}

export class LearnerShell {
  private readonly core: ZabLearner;
  private readonly now: () => number;
  private readonly log: Logger;
  private socket: net.Socket | undefined;
  private readonly encoder = new QuorumPacketEncoder();
  private ended: ((reason: string) => void) | undefined;
  /** Set when the role ended because a reconfig designated the next leader (taken without election). */
  designatedLeader: bigint | undefined;
  private endReason: string | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private readonly loop = new ReadyLoop(
    () => this.core,
    (rd) => this.execute(rd),
    (e) => {
      this.log.error({ err: e.message }, 'learner failed to carry out the protocol; leaving the role');
      this.finish(`learner error: ${e.message}`);
    },
    () => this.endReason !== undefined,
  );
  /** The snapshot stream after SNAP: decoded into a tree and spooled to disk as it arrives. */
  private snap: { decoder: SnapStreamDecoder; spool: SnapSpool; done: Promise<string>; finish: () => void; fail: (e: Error) => void } | undefined;
  private readonly revalidations = new Map<bigint, Array<(valid: boolean) => void>>();
  /** The txn times of proposals received while serving, by zxid, until their COMMIT (bounded). */
  private readonly proposalTimes = new Map<bigint, number>();
  /** When the leader's DIFF, TRUNC or SNAP came: follower_sync_time/observer_sync_time run from there to serving. */
  private syncStartMs: number | undefined;
  /** The newest zxid this member has on disk (its tree's at the start of the role, at the least). */
  private durableThrough: bigint;
  /** The ACK of NEWLEADER went out (for the crash point that waits for the leader's answer to it). */
  private newLeaderAcked = false;
  /** How many txns NEWLEADER's Ready made durable (the sync's), for the crash points' lines. */
  private syncTxnsLogged = 0;

  constructor(private readonly deps: LearnerShellDeps) {
    this.now = deps.now ?? monotonicNowMs;
    this.log = deps.log.child({ module: 'learner', leader: deps.leader.sid.toString() });
    const server = deps.server;
    this.durableThrough = server.lastProcessedZxid;
    this.core = new ZabLearner({
      sid: deps.mySid,
      role: deps.role,
      tickTimeMs: deps.config.tickTimeMs,
      initLimitTicks: deps.config.initLimitTicks,
      syncLimitTicks: deps.config.syncLimitTicks,
      acceptedEpoch: deps.acceptedEpoch,
      currentEpoch: deps.currentEpoch,
      lastLoggedZxid: server.lastProcessedZxid,
      verifier: deps.configs.committed,
      lastSeenVerifier: deps.configs.lastSeen,
      leaderSid: deps.leader.sid,
      parseConfig: (text) => parseQuorumVerifier(text, { multiAddressEnabled: deps.config.multiAddressEnabled }),
      touches: { take: () => [...server.takeTouchedSessions()].map(([sessionId, timeoutMs]) => ({ sessionId, timeoutMs })) },
      nowMs: this.now(),
    });
  }

  /** ZooKeeper's ZabState of this learner: discovery until the leader syncs it, then sync, then broadcast. */
  zabState(): 'discovery' | 'synchronization' | 'broadcast' {
    const phase = this.core.phase;
    return phase === 'serving' ? 'broadcast' : phase === 'leaderinfo' ? 'discovery' : 'synchronization';
  }

  /** Follows the leader until the role ends; resolves with why it ended. */
  async run(): Promise<string> {
    const done = new Promise<string>((resolve) => (this.ended = resolve));
    try {
      this.socket = await this.connect();
    } catch (e) {
      return `cannot connect to the leader: ${(e as Error).message}`;
    }
    let afterAuth: Buffer | undefined;
    const learnerAuth = this.deps.auth?.learner;
    if (learnerAuth !== undefined) {
      // Learner.connectToLeader: authenticate under the socket timeout tickTime x initLimit.
      const outcome = await runQuorumAuth(this.socket, learnerAuth(), { timeoutMs: this.deps.config.tickTimeMs * this.deps.config.initLimitTicks });
      if (outcome.kind === 'failed') {
        this.log.error({ reason: outcome.reason }, 'quorum SASL authentication to the leader failed');
        this.socket.destroy();
        return `quorum SASL authentication to the leader failed: ${outcome.reason}`;
      }
      this.log.info('quorum SASL: authenticated to the leader');
      afterAuth = outcome.rest;
    }
    const framer = new QuorumPacketFramer((p) => this.onPacket(p, framer), {
      maxBufferBytes: this.deps.config.juteMaxBufferBytes,
      extraBufferBytes: this.deps.config.juteMaxBufferExtraSizeBytes,
    });
    const socket = this.socket;
    socket.on('data', (chunk: Buffer) => {
      try {
        framer.push(chunk);
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, 'malformed data from the leader; dropping the link');
        socket.destroy();
      }
    });
    socket.on('close', () => {
      this.core.disconnected();
      this.drive();
    });
    socket.on('error', (err) => this.log.info({ err: err.message }, 'link to the leader failed'));
    if (afterAuth !== undefined) {
      // The leader says nothing before FOLLOWERINFO, so this is empty unless it is out of protocol.
      if (afterAuth.length > 0) socket.emit('data', afterAuth);
      socket.resume();
    }
    this.tickTimer = setInterval(() => {
      this.core.tick(this.now());
      this.drive();
    }, Math.max(10, Math.floor(this.deps.config.tickTimeMs / 2)));
    this.drive();
    return done;
  }

  private async connect(): Promise<net.Socket> {
    // Every quorum address of the leader at once (multiAddress); the first connected is used.
    const addresses = memberPortAddresses(this.deps.leader, 'quorumPort');
    const startMs = this.now();
    const sockets = this.deps.sockets;
    const c = await connectToLeader({
      addresses,
      timeoutMs: this.deps.config.tickTimeMs * this.deps.config.initLimitTicks,
      ...(sockets ? { connectOnce: (host: string, port: number, ms: number) => openQuorumSocket(sockets, host, port, ms) } : {}),
    });
    if (c.attempts > 1) {
      this.log.info({ attempts: c.attempts, ms: this.now() - startMs, firstErr: c.firstError?.message }, 'connected to the leader after retries');
    }
    if (addresses.length > 1) this.log.info({ address: `${c.address.host}:${c.address.port}` }, 'connected to the leader, using this address');
    return c.socket;
  }

  private onPacket(p: QuorumPacket, framer: QuorumPacketFramer): void {
    const metrics = this.deps.server.metrics;
    if (this.core.phase === 'serving') {
      // As ZooKeeper counts them: only what arrives once serving, not the txns of the sync. The
      // latencies run from the txn header's time, the leader's wall clock when it made the txn.
      const nowMs = Date.now();
      if (p.type === PacketType.PROPOSAL) {
        metrics.learnerProposalsReceived++;
        const madeAtMs = txnTimeMs(p.data);
        if (madeAtMs !== undefined) {
          if (nowMs - madeAtMs > 0) metrics.proposalLatency.observe(nowMs - madeAtMs, nowMs);
          if (this.proposalTimes.size >= MAX_PROPOSAL_TIMES) this.proposalTimes.delete(this.proposalTimes.keys().next().value as bigint);
          this.proposalTimes.set(p.zxid, madeAtMs);
        }
      } else if (p.type === PacketType.COMMIT || p.type === PacketType.INFORM) {
        metrics.learnerCommitsReceived++;
        const madeAtMs = p.type === PacketType.INFORM ? txnTimeMs(p.data) : this.proposalTimes.get(p.zxid);
        this.proposalTimes.delete(p.zxid);
        if (madeAtMs !== undefined && nowMs - madeAtMs >= 0) metrics.commitPropagationLatency.observe(nowMs - madeAtMs, nowMs);
      }
    } else if (this.syncStartMs === undefined && (p.type === PacketType.DIFF || p.type === PacketType.TRUNC || p.type === PacketType.SNAP)) {
      this.syncStartMs = this.now();
      this.log.info({ syncMode: p.type === PacketType.DIFF ? 'DIFF' : p.type === PacketType.TRUNC ? 'TRUNC' : 'SNAP', zxid: zxidHex(p.zxid) }, 'synchronizing with the leader');
    }
    if (this.newLeaderAcked && p.type === PacketType.UPTODATE) {
      // The leader has our ACK of NEWLEADER (it answers a quorum of them with UPTODATE): ZooKeeper
      // 3.8.0's follower could still be logging the sync's txns here (ZOOKEEPER-4646).
      this.deps.failpoints?.crash('crash:after-newleader-ack', { zxid: zxidHex(p.zxid), syncTxnsLogged: this.syncTxnsLogged, durableThrough: zxidHex(this.durableThrough) });
    }
    if (p.type === PacketType.SNAP && this.socket) this.startSnapStream(p.zxid, framer, this.socket);
    this.core.step(p);
    this.writeUrgent();
    this.loop.kickSoon();
  }

  /** The raw snapshot stream follows SNAP inline: decoded and spooled as it arrives, until its trailer. */
  private startSnapStream(zxid: bigint, framer: QuorumPacketFramer, socket: net.Socket): void {
    const decoder = new SnapStreamDecoder({ zxid, extendedTypesEnabled: this.deps.config.extendedTypesEnabled, maxFieldBytes: this.deps.config.juteMaxBufferBytes + this.deps.config.juteMaxBufferExtraSizeBytes });
    const spool = SnapSpool.start(path.join(this.deps.config.dataDir, VERSION_DIR), zxid);
    let finish!: () => void;
    let fail!: (e: Error) => void;
    const ended = new Promise<void>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    const done = ended.then(() => spool.finish(decoder.decoded().tree.digest.value));
    done.catch(() => undefined);
    this.snap = { decoder, spool, done, finish, fail };
    // The disk sets the pace when it is slower than the link: reading stops while too much waits for it.
    spool.onWritten = () => {
      if (socket.isPaused() && spool.backlogBytes <= SPOOL_BACKLOG_RESUME_BYTES && !socket.destroyed) socket.resume();
    };
    framer.rawMode((chunk) => {
      let result;
      try {
        result = decoder.push(chunk);
      } catch (e) {
        fail(e as Error);
        throw e;
      }
      spool.append(result.consumed === chunk.length ? chunk : chunk.subarray(0, result.consumed));
      if (spool.backlogBytes > SPOOL_BACKLOG_LIMIT_BYTES) socket.pause();
      if (result.done) finish();
      return { used: result.consumed, done: result.done };
    });
  }

  /** Executes the core's Readies one after another, each completely (with its fsyncs) before the next. */
  private drive(): void {
    this.loop.kick();
  }

  private async execute(rd: Ready): Promise<void> {
    const { server, config } = this.deps;
    for (const note of rd.notes) this.log.info(note);
    // What waits for no disk write goes first, in its order (see writeUrgent): none of it may be
    // overtaken by a packet of its kind taken from the core while this Ready waits for its fsync.
    if (rd.send.some(isUrgentSend)) {
      for (const s of rd.send) if (isUrgentSend(s)) this.write(s.packet);
      rd = { ...rd, send: rd.send.filter((s) => !isUrgentSend(s)) };
    }
    // Commits of txns already durable here are applied while this Ready's own log write is in
    // flight: a committed write is answered without waiting behind the next batch's fsync, and
    // every txn applied is still on this disk first. The others wait for the append below.
    let appliedEarly = 0;
    // Not with an activation: a reconfig applies after its configuration is activated (its reply
    // carries the configuration this server runs).
    const plain = rd.truncateTo === undefined && rd.installSnapshot === undefined && rd.acceptedEpoch === undefined && rd.currentEpoch === undefined && rd.activations.length === 0;
    if (plain && rd.append.length > 0) {
      while (appliedEarly < rd.commit.length && rd.commit[appliedEarly].zxid <= this.durableThrough) {
        server.learnerCommitted(decodeTxn(rd.commit[appliedEarly].data));
        appliedEarly++;
      }
    }
    if (rd.truncateTo !== undefined) {
      this.log.info({ zxid: zxidHex(rd.truncateTo) }, 'TRUNC: truncating the txn log');
      await server.db.close();
      truncateLogTo(config.dataDir, config.dataLogDir, rd.truncateTo);
      server.replaceDatabase(await this.deps.reopenDatabase());
      this.durableThrough = rd.truncateTo;
    }
    if (rd.installSnapshot !== undefined) {
      const snap = this.snap;
      if (snap === undefined) throw new Error('SNAP without its snapshot stream');
      const file = await snap.done;
      this.snap = undefined;
      // The spooled snapshot holds every committed txn up to its zxid and is durable; the old log
      // holds nothing the leader committed after it, so it goes, and recovery starts from the snapshot.
      await server.db.close();
      removeTxnLogs(config.dataLogDir);
      this.log.info({ file, zxid: zxidHex(rd.installSnapshot) }, 'SNAP: installed the leader snapshot');
      // The decoded tree is the spooled file's: taken as it is, not read back from disk.
      const { tree, sessions } = snap.decoder.decoded();
      server.replaceDatabase(await this.deps.reopenDatabase({ tree, sessions }));
      this.durableThrough = rd.installSnapshot;
    }
    // takeSnapshot: after SNAP the spooled file is durable already; after TRUNC the truncated log
    // and the snapshots before it rebuild the tree at that zxid. Nothing else to write.
    // A configuration seen is written before its reconfig txn is logged (as ZooKeeper's follower
    // does): a log holding a reconfig always has its `.dynamic.next` (or a newer configuration),
    // and a `.dynamic.next` whose txn a crash kept out of the log is forgotten at the next start.
    if (rd.dropSeenConfig) this.deps.configs.forgetSeen();
    if (rd.seenConfig !== undefined) this.deps.configs.see(rd.seenConfig);
    if (rd.append.length > 0) {
      await appendDurably(server.db.commit, rd.append.map((t) => decodeTxn(t.data)));
      this.durableThrough = rd.append[rd.append.length - 1].zxid;
    }
    const failpoints = this.deps.failpoints;
    if (rd.acceptedEpoch !== undefined) {
      writeAcceptedEpoch(config.dataDir, rd.acceptedEpoch);
      // Before the ACKEPOCH this Ready sends: the promise is on disk, the leader has not heard it.
      failpoints?.crash('crash:after-accepted-epoch', { acceptedEpoch: rd.acceptedEpoch.toString() });
    }
    if (rd.currentEpoch !== undefined) {
      writeCurrentEpoch(config.dataDir, rd.currentEpoch);
      this.log.info({ currentEpoch: rd.currentEpoch.toString(), logged: rd.append.length, durableThrough: zxidHex(this.durableThrough) }, 'NEWLEADER: the sync is durable and currentEpoch written; acknowledging');
      // NEWLEADER: the sync's txns are durable (above) and currentEpoch written; the ACK is not sent.
      this.syncTxnsLogged = rd.append.length;
      failpoints?.crash('crash:after-current-epoch', { currentEpoch: rd.currentEpoch.toString(), syncTxnsLogged: this.syncTxnsLogged, durableThrough: zxidHex(this.durableThrough) });
    }
    for (const a of rd.activations) this.deps.configs.activate(a.verifier);
    for (let i = appliedEarly; i < rd.commit.length; i++) server.learnerCommitted(decodeTxn(rd.commit[i].data));
    for (let i = 0; i < rd.syncsCompleted; i++) server.learnerSynced();
    for (const r of rd.revalidated) {
      const waiters = this.revalidations.get(r.sessionId);
      const w = waiters?.shift();
      if (waiters && waiters.length === 0) this.revalidations.delete(r.sessionId);
      w?.(r.valid);
    }
    // This Ready's packets leave in one write (writev) rather than one each.
    const socket = rd.send.length > 1 ? this.socket : undefined;
    socket?.cork();
    try {
      for (const s of rd.send) {
        if (s.kind !== 'packet' || s.to !== LEADER_CONN) throw new Error(`a learner cannot send ${s.kind} to ${s.to}`);
        this.write(s.packet);
      }
    } finally {
      if (socket !== undefined && !socket.destroyed) socket.uncork();
    }
    // The Ready that writes currentEpoch is NEWLEADER's; its sends hold the ACK.
    if (rd.currentEpoch !== undefined && rd.send.length > 0) this.newLeaderAcked = true;
    if (rd.state?.kind === 'serving') {
      this.log.info({ epoch: rd.state.epoch.toString() }, 'synced with the leader; serving');
      const syncTime = this.deps.role === 'observer' ? server.metrics.observerSyncTime : server.metrics.followerSyncTime;
      syncTime.observe(Math.max(0, this.now() - (this.syncStartMs ?? this.now())), this.now());
      server.setLeaderLink(this.leaderLink());
      server.setRoleProblem(undefined);
      this.deps.onServing(rd.state.epoch);
    } else if (rd.state?.kind === 'looking') {
      this.designatedLeader = rd.state.designatedLeader;
      this.finish(rd.state.reason);
    }
  }

  /**
   * Writes at once what the core queued that waits for no disk write of ours (learner.ts
   * takeUrgent), even while a Ready is waiting for its fsync.
   */
  private writeUrgent(): void {
    for (const p of this.core.takeUrgent()) this.write(p);
  }

  private write(p: QuorumPacket): void {
    const s = this.socket;
    if (!s || s.destroyed) return;
    s.write(Buffer.from(this.encoder.encode(p)));
    if (s.writableLength > OUTPUT_HARD_LIMIT_BYTES) {
      this.log.warn({ bytes: s.writableLength }, 'the leader does not read; dropping the link');
      s.destroy();
    }
  }

  private leaderLink(): LeaderLink {
    return {
      forwardRequest: (sessionId, cxid, type, body, ids) => {
        const authinfo: PacketId[] | null = ids === null ? null : ids.map((id) => ({ scheme: id.scheme, id: id.id }));
        if (!this.core.forward({ sessionId, cxid, op: type, body }, authinfo)) this.log.warn({ type }, 'request not forwarded: not serving');
        this.writeUrgent();
        this.loop.kickSoon();
      },
      revalidate: (sessionId, timeoutMs) =>
        new Promise<boolean>((resolve) => {
          if (!this.core.revalidate(sessionId, timeoutMs)) return resolve(false);
          const list = this.revalidations.get(sessionId) ?? [];
          list.push(resolve);
          this.revalidations.set(sessionId, list);
          this.writeUrgent();
          this.drive();
        }),
    };
  }

  /** Ends the role now (the server is stopping). */
  stop(): void {
    this.finish('the server is stopping');
  }

  private finish(reason: string): void {
    if (this.endReason !== undefined) return;
    this.endReason = reason;
    this.log.info({ reason }, 'leaving the learner role');
    clearInterval(this.tickTimer);
    this.socket?.destroy();
    this.deps.server.setRoleProblem(`no leader: ${reason}`);
    this.deps.server.setLeaderLink(undefined);
    for (const list of this.revalidations.values()) for (const w of list) w(false);
    this.revalidations.clear();
    void this.snap?.spool.abort().catch(() => undefined);
    this.ended?.(reason);
  }
}

/** A proposal's txn, with the leader's TxnDigest when it carried one (logged and checked on apply). */
function decodeTxn(data: Buffer): Txn {
  const d = deserializeTxn(data);
  if (d.digest !== undefined) d.txn.digest = d.digest;
  return d.txn;
}


/** Removes every txn log file of the log directory, durably. */
function removeTxnLogs(dataLogDir: string): void {
  const files = listLogFiles(dataLogDir);
  for (const f of files) fs.rmSync(f.file, { force: true });
  if (files.length > 0) syncDirSync(path.dirname(files[0].file));
}
