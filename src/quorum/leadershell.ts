/**
 * The leader's I/O shell: it listens on this server's quorum port, gives each learner connection a
 * number and a framer, and drives the pure leader core (`leader.ts`), executing each Ready in the
 * order `ready.ts` states. While the epoch is established the server's commit stage is the quorum
 * (`QuorumCommitStage`): a prepared txn is proposed, logged here, and applied once a quorum has it
 * on disk, in zxid order.
 *
 * `run()` resolves when the epoch ends (no quorum, a timeout, counter exhaustion) with the reason;
 * the caller goes back to election. Everything this shell opened is closed by then.
 */
import * as net from 'node:net';
import type { Logger } from 'pino';
import type { CommitStage } from '../server/commit';
import type { ServerConfig } from '../server/config';
import type { QuorumStatus, ZooKeeperServer } from '../server/server';
import { writeAcceptedEpoch, writeCurrentEpoch } from '../storage/epochs';
import { logEntriesAfter } from '../storage/logdiff';
import { SnapStreamEncoder } from '../storage/snapstream';
import type { Txn } from '../storage/txn';
import { deserializeTxn, serializeTxn } from '../storage/txnserde';
import { OpCode } from '../protocol/constants';
import { ZabLeader } from './leader';
import type { LoggedTxn, Ready, SnapshotSend } from './ready';
import type { QuorumMember, QuorumVerifier } from './verifier';
import { QuorumPacketEncoder, QuorumPacketFramer } from './wire/framer';
import { appendDurably, ReadyLoop } from './readyloop';
import { PacketType, type QuorumPacket } from './wire/packets';

export interface LeaderShellDeps {
  config: ServerConfig;
  server: ZooKeeperServer;
  log: Logger;
  mySid: bigint;
  me: QuorumMember;
  verifier: QuorumVerifier;
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  listenOnAllIPs: boolean;
  /** The epoch is established and served (the election's settled vote takes it). */
  onServing(epoch: bigint): void;
  now?: () => number;
}

/** Txns of the in-memory committed window a leader starts with (zookeeper.commitLogCount). */
const COMMIT_LOG_COUNT = 500;
/** Unsent bytes to one learner past which it is dropped: it does not read. */
const OUTPUT_HARD_LIMIT_BYTES = 64 * 1024 * 1024;
/** Learner connections at once. */
const MAX_CONNECTIONS = 1024;

interface Conn {
  id: number;
  socket: net.Socket;
}

export class LeaderShell {
  private core!: ZabLeader;
  private readonly now: () => number;
  private readonly log: Logger;
  private listener: net.Server | undefined;
  private readonly conns = new Map<number, Conn>();
  /** From 1: connection numbers are session owners, and 0 is the leader's own clients (LOCAL_OWNER). */
  private nextConn = 1;
  private readonly encoder = new QuorumPacketEncoder();
  private ended: ((reason: string) => void) | undefined;
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

  constructor(private readonly deps: LeaderShellDeps) {
    this.now = deps.now ?? Date.now;
    this.log = deps.log.child({ module: 'leader' });
  }

  /** Leads until the epoch ends; resolves with why it ended. */
  async run(): Promise<string> {
    const { server, config } = this.deps;
    const done = new Promise<string>((resolve) => (this.ended = resolve));
    const committedLog = await lastLogged(config.dataLogDir, server.lastProcessedZxid);
    this.core = new ZabLeader({
      sid: this.deps.mySid,
      verifier: this.deps.verifier,
      tickTimeMs: config.tickTimeMs,
      initLimitTicks: config.initLimitTicks,
      syncLimitTicks: config.syncLimitTicks,
      acceptedEpoch: this.deps.acceptedEpoch,
      currentEpoch: this.deps.currentEpoch,
      lastLoggedZxid: server.lastProcessedZxid,
      committedLog,
      config: Buffer.from(this.deps.verifier.toString()),
      nowMs: this.now(),
    });
    try {
      await this.listen();
    } catch (e) {
      return `cannot listen on the quorum port: ${(e as Error).message}`;
    }
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

  private listen(): Promise<void> {
    const { me } = this.deps;
    this.listener = net.createServer((socket) => this.accept(socket));
    this.listener.maxConnections = MAX_CONNECTIONS;
    return new Promise<void>((resolve, reject) => {
      this.listener!.once('error', reject);
      this.listener!.listen({ host: this.deps.listenOnAllIPs ? undefined : me.host, port: me.quorumPort }, () => {
        this.listener!.off('error', reject);
        this.listener!.on('error', (err) => this.log.warn({ err: err.message }, 'quorum listener error'));
        resolve();
      });
    });
  }

  private accept(socket: net.Socket): void {
    if (this.endReason !== undefined) return void socket.destroy();
    socket.setNoDelay(true);
    const conn: Conn = { id: this.nextConn++, socket };
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
    this.drive();
  }

  private onPacket(conn: Conn, p: QuorumPacket): void {
    if (this.endReason !== undefined) return;
    this.core.step(conn.id, p);
    this.drive();
  }

  /** mntr's leader figures, as ZooKeeper's leader counts them. */
  status(): NonNullable<QuorumStatus['leader']> {
    const learners = this.core.learners();
    const voters = this.deps.verifier.votingMembers;
    const synced = learners.filter((l) => l.synced && l.phase === 'broadcast');
    return {
      learners: learners.length,
      syncedFollowers: synced.filter((l) => l.type === 'participant' && voters.has(l.sid)).length,
      syncedNonVotingFollowers: synced.filter((l) => l.type === 'participant' && !voters.has(l.sid)).length,
      syncedObservers: synced.filter((l) => l.type === 'observer').length,
      pendingSyncs: this.core.pendingSyncCountNow,
      leaderUptimeMs: this.servingSinceMs === undefined ? 0 : this.now() - this.servingSinceMs,
      lastProposalSize: this.proposalSizes.last,
      minProposalSize: this.proposalSizes.min,
      maxProposalSize: this.proposalSizes.max,
    };
  }

  /** A txn the server prepared: proposed to the quorum. False when the epoch cannot take it. */
  propose(txn: Txn): boolean {
    if (this.endReason !== undefined) return false;
    if (txn.hdr.zxid !== this.core.nextZxid()) {
      this.log.error({ zxid: hex(txn.hdr.zxid), expected: hex(this.core.nextZxid()) }, 'prepared txn does not carry the next zxid');
      return false;
    }
    const data = serializeTxn(txn);
    const r = this.core.propose(txn.hdr.zxid, data);
    if (r.ok) {
      this.proposed.set(txn.hdr.zxid, txn);
      const sizes = this.proposalSizes;
      sizes.last = data.length;
      sizes.min = sizes.min < 0 ? data.length : Math.min(sizes.min, data.length);
      sizes.max = Math.max(sizes.max, data.length);
    }
    else {
      this.log.warn({ zxid: hex(txn.hdr.zxid), reason: r.reason }, 'proposal refused');
      this.drive();
      return false;
    }
    this.drive();
    return true;
  }

  private drive(): void {
    this.loop.kick();
  }

  private async execute(rd: Ready): Promise<void> {
    const { server, config } = this.deps;
    for (const note of rd.notes) this.log.info(note);
    if (rd.append.length > 0) {
      const txns = rd.append.map((t) => {
        const txn = this.proposed.get(t.zxid) ?? deserializeTxn(t.data).txn;
        this.proposed.delete(t.zxid);
        return txn;
      });
      await appendDurably(this.deps.server.db.commit, txns);
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
    for (const t of rd.commit) {
      this.stage.committed(t.zxid);
      takeSnapshotsAt(t.zxid);
    }
    for (const s of rd.send) {
      const conn = this.conns.get(s.to);
      if (conn === undefined) continue;
      if (s.kind === 'packet') this.write(conn, s.packet);
      else if (s.kind === 'logRange') {
        for await (const e of logEntriesAfter(config.dataLogDir, s.afterZxid, { toZxid: s.toZxid })) {
          this.write(conn, { type: PacketType.PROPOSAL, zxid: e.zxid, data: e.body, authinfo: null });
          this.write(conn, { type: PacketType.COMMIT, zxid: e.zxid, data: null, authinfo: null });
          await drained(conn.socket);
        }
      } else {
        const enc = snapshots.get(s);
        if (enc === undefined) throw new Error(`no snapshot at 0x${s.zxid.toString(16)} to send (tree at 0x${server.lastProcessedZxid.toString(16)})`);
        this.write(conn, { type: PacketType.SNAP, zxid: s.zxid, data: null, authinfo: null });
        for await (const chunk of enc.chunks()) {
          if (conn.socket.destroyed) break;
          conn.socket.write(chunk);
          await drained(conn.socket);
        }
      }
    }
    for (const c of rd.close) {
      this.log.info({ conn: c.conn, reason: c.reason }, 'closing a learner connection');
      this.conns.get(c.conn)?.socket.end();
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
      server.setRoleProblem(undefined);
      this.deps.onServing(rd.state.epoch);
    } else if (rd.state?.kind === 'looking') {
      this.finish(rd.state.reason);
    }
  }

  private write(conn: Conn, p: QuorumPacket): void {
    const s = conn.socket;
    if (s.destroyed) return;
    s.write(Buffer.from(this.encoder.encode(p)));
    if (s.writableLength > OUTPUT_HARD_LIMIT_BYTES) {
      this.log.warn({ conn: conn.id, bytes: s.writableLength }, 'a learner does not read; closing its connection');
      s.destroy();
    }
  }

  private finish(reason: string): void {
    if (this.endReason !== undefined) return;
    this.endReason = reason;
    this.log.info({ reason }, 'leaving the leader role');
    clearInterval(this.tickTimer);
    const { server } = this.deps;
    server.setRoleProblem(`no leader: ${reason}`);
    this.stage.abandonAll();
    server.setCommitStage(undefined);
    server.beginEpoch(undefined);
    for (const c of this.conns.values()) c.socket.destroy();
    this.conns.clear();
    this.listener?.close();
    this.ended?.(reason);
  }
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

/** The last COMMIT_LOG_COUNT txns of the log, up to `lastZxid`: the window a new leader DIFFs from. */
async function lastLogged(dataLogDir: string, lastZxid: bigint): Promise<LoggedTxn[]> {
  const window: LoggedTxn[] = [];
  try {
    for await (const e of logEntriesAfter(dataLogDir, 0n, { toZxid: lastZxid })) {
      window.push({ zxid: e.zxid, data: e.body });
      if (window.length > COMMIT_LOG_COUNT) window.shift();
    }
  } catch {
    // A log that does not reach back (purged, or starting after a snapshot) or has a hole: no window,
    // so a learner that is behind gets a SNAP rather than a DIFF that could miss txns.
    return [];
  }
  return window;
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

function hex(z: bigint): string {
  return '0x' + z.toString(16);
}
