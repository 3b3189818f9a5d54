/**
 * A learner's side of Zab (follower or observer) after election named a leader (ZK-QUORUM-FACTS §2.3,
 * §2.7-2.10, §10):
 *
 *  register   FOLLOWERINFO/OBSERVERINFO(acceptedEpoch<<32, LearnerInfo) on connect.
 *  LEADERINFO a higher epoch is made durable as acceptedEpoch, then ACKEPOCH(lastLoggedZxid,
 *             currentEpoch); the same epoch gets ACKEPOCH(-1); a lower one ends the role.
 *  sync       DIFF, TRUNC or SNAP, then committed txns (PROPOSAL+COMMIT, INFORM) and outstanding
 *             proposals, gap-free. At NEWLEADER (3.8.5+ order): snapshot if SNAP/TRUNC, log and fsync
 *             the sync txns, then write currentEpoch, then ACK(epoch<<32).
 *  UPTODATE   apply the committed sync txns, ACK(epoch<<32), ACK the proposals logged meanwhile; serve.
 *  broadcast  follower: PROPOSAL logged+fsynced then ACK; COMMIT applies the oldest pending proposal.
 *             observer: INFORM logged and applied. PING answered (only once serving) with the touch
 *             table the session layer gives. SYNC completes the oldest forwarded sync.
 *
 * Reconfiguration (docs/RECONFIG.md §5): a reconfig txn proposed (or sent in the sync) makes its
 * configuration the last-seen one; COMMITANDACTIVATE (follower) or INFORMANDACTIVATE (observer)
 * activates it before its txn applies; NEWLEADER's configuration is activated at UPTODATE. When an
 * activation changes this member's role or its leader, the role ends (with the designated leader,
 * where the reconfig named one, to take the next role at once).
 *
 * A leader silent for initLimit ticks before UPTODATE, syncLimit ticks after, ends the role (LOOKING).
 * Pure: the shell feeds `step(packet)`, `tick(nowMs)`, `forward`, `revalidate`, `disconnected`, and
 * executes `ready()` in order (ready.ts), then `advance()`. Anything out of protocol ends the role
 * rather than risking a log that disagrees with the leader's.
 */

import { counterOf, epochOf, isNextZxid, makeZxid, zxidGapReason, zxidHex } from '../storage/zxid';
import { invariant } from './invariant';
import { activationEffect } from './activation';
import { emptyReady, readyIsEmpty, type LoggedTxn, type Ready, type SessionTouch } from './ready';
import { parseQuorumVerifier, type QuorumVerifier } from './verifier';
import { commitAndActivateLeader, informAndActivate, PacketType, ZAB_PROTOCOL_VERSION, type PacketId, type QuorumPacket } from './wire/packets';
import {
  reconfigTxnConfig,
  OP_SYNC,
  decodeInt,
  decodeRevalidateReply,
  encodeInt,
  encodeLearnerInfo,
  encodeRequest,
  encodeRevalidate,
  encodeTouchTable,
  type RequestHead,
} from './zabpayloads';

/** The session layer's touch table: sessions active since the last ping, taken and reset. */
export interface TouchSource {
  take(): SessionTouch[];
}

export interface LearnerOptions {
  sid: bigint;
  role: 'follower' | 'observer';
  tickTimeMs: number;
  initLimitTicks: number;
  syncLimitTicks: number;
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  /** The last zxid in this server's log (or its snapshot's, when the log is empty). */
  lastLoggedZxid: bigint;
  /** The committed configuration (its version goes in LearnerInfo). */
  verifier: QuorumVerifier;
  /** The last-seen configuration, when newer than `verifier`. */
  lastSeenVerifier?: QuorumVerifier;
  /** The leader this role follows. */
  leaderSid: bigint;
  /** Parses a configuration string (as the member's multiAddress setting allows). */
  parseConfig?: (text: string) => QuorumVerifier;
  touches: TouchSource;
  /** Txns held in memory during sync, before NEWLEADER makes them durable. */
  maxSyncTxns?: number;
  /** Logged proposals waiting for their COMMIT. */
  maxPendingProposals?: number;
  /** Forwarded syncs waiting for the leader's SYNC. */
  maxPendingSyncs?: number;
  nowMs: number;
}

export type LearnerPhase = 'leaderinfo' | 'sync' | 'syncing' | 'newleader' | 'serving' | 'over';

/** A reconfig txn an *ANDACTIVATE packet commits, checked: its configuration and designated leader. */
interface ReconfigActivation {
  txn: LoggedTxn;
  qv: QuorumVerifier;
  designated: bigint;
}

/** The one link of a learner: to its leader. */
export const LEADER_CONN = 0;

const DEFAULTS = { maxSyncTxns: 1_000_000, maxPendingProposals: 100_000, maxPendingSyncs: 10_000, parseConfig: (text: string) => parseQuorumVerifier(text) };

export class ZabLearner {
  private readonly opts: Required<Omit<LearnerOptions, 'lastSeenVerifier'>>;
  private committedQv: QuorumVerifier;
  private lastSeenQv: QuorumVerifier;
  /** The configuration NEWLEADER carried, activated at UPTODATE. */
  private newLeaderQv: QuorumVerifier | undefined;
  private phaseValue: LearnerPhase = 'leaderinfo';
  private nowMs: number;
  private lastHeardMs: number;
  private newEpoch = -1n;
  private syncMode: 'DIFF' | 'TRUNC' | 'SNAP' | undefined;
  /** The tree's zxid after TRUNC or SNAP, where NEWLEADER's snapshot is taken. */
  private syncBaseZxid = -1n;
  /** The last zxid queued to the log (or the sync's base): proposals must follow it gap-free. */
  private lastQueued: bigint;
  private lastLogged: bigint;
  /** Before NEWLEADER: the sync's txns, in memory, with whether the leader committed each. */
  private readonly syncTxns: { txn: LoggedTxn; committed: boolean }[] = [];
  /** Durable and committed, waiting for UPTODATE to be applied. */
  private readonly toApply: LoggedTxn[] = [];
  /** Durable proposals waiting for their COMMIT (follower), oldest first. */
  private readonly pendingProposals: LoggedTxn[] = [];
  /** Durable proposals whose ACK waits for UPTODATE. */
  private readonly deferredAcks: bigint[] = [];
  private pendingSyncs = 0;
  private pending: Ready = emptyReady();
  /** PING answers, REQUESTs and REVALIDATEs in `pending.send` (see takeUrgent). */
  private urgentQueued = 0;
  private inflight: Ready | undefined;

  constructor(options: LearnerOptions) {
    this.opts = { ...DEFAULTS, ...options };
    this.committedQv = options.verifier;
    this.lastSeenQv = options.lastSeenVerifier !== undefined && options.lastSeenVerifier.version > options.verifier.version ? options.lastSeenVerifier : options.verifier;
    // A reconfig's version is its zxid: one newer than the log is not in it (its append was lost).
    if (this.lastSeenQv.version > options.lastLoggedZxid && this.lastSeenQv !== options.verifier) this.forgetSeen();
    invariant(options.acceptedEpoch >= options.currentEpoch, 'acceptedEpoch below currentEpoch');
    this.nowMs = options.nowMs;
    this.lastHeardMs = options.nowMs;
    this.lastQueued = options.lastLoggedZxid;
    this.lastLogged = options.lastLoggedZxid;
    const type = options.role === 'observer' ? PacketType.OBSERVERINFO : PacketType.FOLLOWERINFO;
    const info = encodeLearnerInfo({ sid: options.sid, protocolVersion: ZAB_PROTOCOL_VERSION, configVersion: options.verifier.version });
    this.send(type, makeZxid(options.acceptedEpoch, 0n), info);
  }

  get phase(): LearnerPhase {
    return this.phaseValue;
  }
  get epoch(): bigint {
    return this.newEpoch;
  }
  get lastLoggedZxid(): bigint {
    return this.lastLogged;
  }
  get committedVerifier(): QuorumVerifier {
    return this.committedQv;
  }
  get lastSeenVerifier(): QuorumVerifier {
    return this.lastSeenQv;
  }

  hasReady(): boolean {
    return !readyIsEmpty(this.pending);
  }

  /**
   * Takes the packets queued for the leader that wait for nothing this learner has yet to make
   * durable (PING answers, forwarded requests, REVALIDATE questions), in their order, for the shell
   * to write at once, ahead of a Ready still waiting for its fsync. ZooKeeper's follower thread
   * answers pings and forwards requests while its sync thread sits in an fsync: a slow disk delays
   * the ACKs, not the signs of life the leader holds against syncLimit.
   */
  takeUrgent(): readonly QuorumPacket[] {
    // Counted as queued, so that a burst of proposals (each queuing its ACK) is not scanned per packet.
    if (this.urgentQueued === 0 || this.phaseValue !== 'serving') return NO_PACKETS;
    this.urgentQueued = 0;
    const send = this.pending.send;
    const urgent: QuorumPacket[] = [];
    this.pending.send = send.filter((s) => {
      if (!isUrgentSend(s)) return true;
      urgent.push(s.packet);
      return false;
    });
    return urgent;
  }

  ready(): Ready {
    invariant(this.inflight === undefined, 'ready() again before advance()');
    const r = this.pending;
    this.inflight = r;
    this.pending = emptyReady();
    this.urgentQueued = 0;
    return r;
  }

  advance(): void {
    invariant(this.inflight !== undefined, 'advance() without ready()');
    this.inflight = undefined;
  }

  /** The link to the leader closed. */
  disconnected(): void {
    this.end('connection to the leader closed');
  }

  tick(nowMs: number): void {
    if (this.phaseValue === 'over') return;
    invariant(nowMs >= this.nowMs, 'time went backwards');
    this.nowMs = nowMs;
    // Until UPTODATE the leader may be waiting for its epoch's quorum (as long as initLimit) and
    // sends nothing: ZooKeeper's learner reads with the initLimit timeout until then.
    const limitTicks = this.phaseValue === 'serving' ? this.opts.syncLimitTicks : this.opts.initLimitTicks;
    const silentMs = nowMs - this.lastHeardMs;
    if (silentMs >= limitTicks * this.opts.tickTimeMs) this.end(`leader silent for ${silentMs} ms`);
  }

  /** Forwards a client write (or sync) to the leader. False when not serving or too many syncs wait. */
  forward(request: RequestHead, authinfo: PacketId[] | null): boolean {
    if (this.phaseValue !== 'serving') return false;
    if (request.op === OP_SYNC) {
      if (this.pendingSyncs >= this.opts.maxPendingSyncs) return false;
      this.pendingSyncs++;
    }
    this.pending.send.push({ kind: 'packet', to: LEADER_CONN, packet: { type: PacketType.REQUEST, zxid: -1n, data: encodeRequest(request), authinfo } });
    this.urgentQueued++;
    return true;
  }

  /** Asks the leader whether a reconnecting client's session is still valid. */
  revalidate(sessionId: bigint, timeoutMs: number): boolean {
    if (this.phaseValue !== 'serving') return false;
    this.send(PacketType.REVALIDATE, -1n, encodeRevalidate(sessionId, timeoutMs));
    this.urgentQueued++;
    return true;
  }

  step(p: QuorumPacket): void {
    if (this.phaseValue === 'over') return;
    this.lastHeardMs = this.nowMs;
    switch (this.phaseValue) {
      case 'leaderinfo':
        return this.onLeaderInfo(p);
      case 'sync':
        return this.onSyncStart(p);
      case 'syncing':
        return this.onSyncing(p);
      case 'newleader':
        return this.onAfterNewLeader(p);
      case 'serving':
        return this.onServing(p);
    }
  }

  // --- discovery ---

  private onLeaderInfo(p: QuorumPacket): void {
    if (p.type !== PacketType.LEADERINFO) {
      return this.end(p.type === PacketType.NEWLEADER ? 'pre-Zab-1.0 leader not supported' : `first packet type ${p.type} is not LEADERINFO`);
    }
    if (decodeInt(p.data) === undefined) return this.end('LEADERINFO without its protocol version');
    const epoch = epochOf(p.zxid);
    let reply: number;
    if (epoch > this.opts.acceptedEpoch) {
      this.pending.acceptedEpoch = epoch;
      reply = Number(this.opts.currentEpoch);
    } else if (epoch === this.opts.acceptedEpoch) {
      // Already acked this epoch (to this or another leader): not an ack again, but the zxid still
      // tells the leader how to sync us.
      reply = -1;
    } else {
      return this.end(`leader epoch ${epoch} below accepted epoch ${this.opts.acceptedEpoch}`);
    }
    this.newEpoch = epoch;
    this.send(PacketType.ACKEPOCH, this.lastLogged, encodeInt(reply));
    this.phaseValue = 'sync';
  }

  // --- synchronization ---

  private onSyncStart(p: QuorumPacket): void {
    switch (p.type) {
      case PacketType.DIFF:
        this.syncMode = 'DIFF';
        break;
      case PacketType.TRUNC:
        if (p.zxid > this.lastLogged) return this.end(`TRUNC to ${zxidHex(p.zxid)} beyond the log end ${zxidHex(this.lastLogged)}`);
        this.syncMode = 'TRUNC';
        this.pending.truncateTo = p.zxid;
        // A pending reconfig of the log's cut tail never commits; one the leader's history holds
        // comes again (NEWLEADER's configuration, or its PROPOSAL while outstanding).
        this.forgetSeen();
        this.syncBaseZxid = p.zxid;
        this.lastQueued = p.zxid;
        this.lastLogged = p.zxid;
        break;
      case PacketType.SNAP:
        // The shell has read the snapshot stream that followed; it replaces the tree now.
        this.syncMode = 'SNAP';
        this.pending.installSnapshot = p.zxid;
        // The old log goes: a pending reconfig in it is in the leader's history only if NEWLEADER's
        // configuration or an outstanding PROPOSAL brings it again.
        this.forgetSeen();
        this.syncBaseZxid = p.zxid;
        this.lastQueued = p.zxid;
        this.lastLogged = p.zxid;
        break;
      default:
        return this.end(`packet type ${p.type} where DIFF, TRUNC or SNAP was due`);
    }
    this.phaseValue = 'syncing';
  }

  private onSyncing(p: QuorumPacket): void {
    switch (p.type) {
      case PacketType.PROPOSAL:
      case PacketType.INFORM: {
        if (!this.queueable(p)) return;
        if (this.syncTxns.length >= this.opts.maxSyncTxns) return this.end('sync longer than maxSyncTxns');
        if (p.type === PacketType.PROPOSAL && !this.seeReconfig(p.data)) return;
        this.syncTxns.push({ txn: { zxid: p.zxid, data: p.data ?? Buffer.alloc(0) }, committed: p.type === PacketType.INFORM });
        this.lastQueued = p.zxid;
        return;
      }
      case PacketType.COMMIT:
      case PacketType.COMMITANDACTIVATE: {
        const next = this.syncTxns.find((t) => !t.committed);
        if (next === undefined || next.txn.zxid !== p.zxid) return this.end(`COMMIT ${zxidHex(p.zxid)} is not for the oldest uncommitted sync txn`);
        const activation = p.type === PacketType.COMMITANDACTIVATE ? this.commitAndActivation(p, next.txn) : undefined;
        if (p.type === PacketType.COMMITANDACTIVATE && activation === undefined) return;
        next.committed = true;
        if (activation !== undefined) this.activateReconfig(activation);
        return;
      }
      case PacketType.INFORMANDACTIVATE: {
        const activation = this.informAndActivation(p);
        if (activation === undefined || !this.queueable(p)) return;
        if (this.syncTxns.length >= this.opts.maxSyncTxns) return this.end('sync longer than maxSyncTxns');
        this.syncTxns.push({ txn: activation.txn, committed: true });
        this.lastQueued = p.zxid;
        this.activateReconfig(activation);
        return;
      }
      case PacketType.NEWLEADER:
        return this.onNewLeader(p);
      case PacketType.PING:
        return; // not answered before UPTODATE
      default:
        this.pending.notes.push(`packet type ${p.type} during sync ignored`);
    }
  }

  private onNewLeader(p: QuorumPacket): void {
    if (epochOf(p.zxid) !== this.newEpoch || counterOf(p.zxid) !== 0n) {
      return this.end(`NEWLEADER ${zxidHex(p.zxid)} does not match LEADERINFO epoch ${this.newEpoch}`);
    }
    if (p.data !== null && p.data.length > 1) {
      // ZooKeeper's learner logs a configuration it cannot parse and syncs on without it.
      try {
        const qv = this.opts.parseConfig(p.data.toString('utf8'));
        this.see(qv);
        this.newLeaderQv = qv;
      } catch (e) {
        this.pending.notes.push(`NEWLEADER's configuration ignored: ${(e as Error).message}`);
      }
    }
    // Java learners snapshot after SNAP and TRUNC: the log alone no longer rebuilds the tree.
    if (this.syncMode !== 'DIFF') this.pending.takeSnapshot = this.syncBaseZxid;
    let committedPrefix = true;
    for (const { txn, committed } of this.syncTxns) {
      this.pending.append.push(txn);
      this.lastLogged = txn.zxid;
      invariant(committed ? committedPrefix : true, 'a committed sync txn follows an uncommitted one');
      if (committed) this.toApply.push(txn);
      else {
        committedPrefix = false;
        this.pendingProposals.push(txn);
        this.deferredAcks.push(txn.zxid);
      }
    }
    this.syncTxns.length = 0;
    this.pending.currentEpoch = this.newEpoch;
    this.send(PacketType.ACK, p.zxid, null);
    this.phaseValue = 'newleader';
  }

  private onAfterNewLeader(p: QuorumPacket): void {
    switch (p.type) {
      case PacketType.PROPOSAL:
      case PacketType.INFORM: {
        if (!this.queueable(p)) return;
        if (p.type === PacketType.PROPOSAL && !this.seeReconfig(p.data)) return;
        const txn = { zxid: p.zxid, data: p.data ?? Buffer.alloc(0) };
        this.logTxn(txn);
        if (p.type === PacketType.INFORM) this.toApply.push(txn);
        else {
          this.pendingProposals.push(txn);
          this.deferredAcks.push(txn.zxid);
        }
        return;
      }
      case PacketType.COMMIT:
      case PacketType.COMMITANDACTIVATE: {
        const next = this.pendingProposals[0];
        if (next === undefined || next.zxid !== p.zxid) return this.end(`COMMIT ${zxidHex(p.zxid)} is not for the oldest pending proposal`);
        const activation = p.type === PacketType.COMMITANDACTIVATE ? this.commitAndActivation(p, next) : undefined;
        if (p.type === PacketType.COMMITANDACTIVATE && activation === undefined) return;
        this.pendingProposals.shift();
        this.toApply.push(next);
        if (activation !== undefined) this.activateReconfig(activation);
        return;
      }
      case PacketType.INFORMANDACTIVATE: {
        const activation = this.informAndActivation(p);
        if (activation === undefined || !this.queueable(p)) return;
        this.logTxn(activation.txn);
        this.toApply.push(activation.txn);
        this.activateReconfig(activation);
        return;
      }
      case PacketType.UPTODATE: {
        if (this.newLeaderQv !== undefined) {
          const qv = this.newLeaderQv;
          this.newLeaderQv = undefined;
          // A change of role or leader here goes back to election, before serving (as ZooKeeper's
          // learner throws at UPTODATE); what was logged is on disk for the next role.
          if (this.activate(qv, undefined, 'the configuration activated at UPTODATE')) return;
        }
        this.pending.commit.push(...this.toApply);
        this.toApply.length = 0;
        this.send(PacketType.ACK, makeZxid(this.newEpoch, 0n), null);
        if (this.opts.role === 'follower') for (const zxid of this.deferredAcks) this.send(PacketType.ACK, zxid, null);
        this.deferredAcks.length = 0;
        this.phaseValue = 'serving';
        this.pending.state = { kind: 'serving', epoch: this.newEpoch };
        return;
      }
      case PacketType.PING:
        return; // not answered before UPTODATE
      default:
        this.pending.notes.push(`packet type ${p.type} before UPTODATE ignored`);
    }
  }

  // --- broadcast ---

  private onServing(p: QuorumPacket): void {
    const follower = this.opts.role === 'follower';
    switch (p.type) {
      case PacketType.PROPOSAL: {
        if (!follower) return void this.pending.notes.push(`observer ignores PROPOSAL ${zxidHex(p.zxid)}`);
        if (epochOf(p.zxid) !== this.newEpoch) return this.end(`PROPOSAL ${zxidHex(p.zxid)} outside epoch ${this.newEpoch}`);
        if (!this.queueable(p)) return;
        if (this.pendingProposals.length >= this.opts.maxPendingProposals) return this.end('too many uncommitted proposals');
        if (!this.seeReconfig(p.data)) return;
        const txn = { zxid: p.zxid, data: p.data ?? Buffer.alloc(0) };
        this.logTxn(txn);
        this.pendingProposals.push(txn);
        // Sent after the append is fsynced (ready.ts order).
        this.send(PacketType.ACK, p.zxid, null);
        return;
      }
      case PacketType.COMMIT:
      case PacketType.COMMITANDACTIVATE: {
        if (!follower) return void this.pending.notes.push(`observer ignores packet type ${p.type} for ${zxidHex(p.zxid)}`);
        const next = this.pendingProposals[0];
        if (next === undefined || next.zxid !== p.zxid) return this.end(`COMMIT ${zxidHex(p.zxid)} is not for the oldest pending proposal`);
        const activation = p.type === PacketType.COMMITANDACTIVATE ? this.commitAndActivation(p, next) : undefined;
        if (p.type === PacketType.COMMITANDACTIVATE && activation === undefined) return;
        this.pendingProposals.shift();
        this.pending.commit.push(next);
        if (activation !== undefined) this.activateReconfig(activation);
        return;
      }
      case PacketType.INFORMANDACTIVATE: {
        if (follower) return void this.pending.notes.push(`follower ignores INFORMANDACTIVATE ${zxidHex(p.zxid)}`);
        if (epochOf(p.zxid) !== this.newEpoch) return this.end(`INFORMANDACTIVATE ${zxidHex(p.zxid)} outside epoch ${this.newEpoch}`);
        const activation = this.informAndActivation(p);
        if (activation === undefined || !this.queueable(p)) return;
        this.logTxn(activation.txn);
        this.pending.commit.push(activation.txn);
        this.activateReconfig(activation);
        return;
      }
      case PacketType.INFORM: {
        if (follower) return void this.pending.notes.push(`follower ignores INFORM ${zxidHex(p.zxid)}`);
        if (epochOf(p.zxid) !== this.newEpoch) return this.end(`INFORM ${zxidHex(p.zxid)} outside epoch ${this.newEpoch}`);
        if (!this.queueable(p)) return;
        const txn = { zxid: p.zxid, data: p.data ?? Buffer.alloc(0) };
        this.logTxn(txn);
        this.pending.commit.push(txn);
        return;
      }
      case PacketType.PING:
        this.pending.send.push({
          kind: 'packet',
          to: LEADER_CONN,
          packet: { type: PacketType.PING, zxid: p.zxid, data: encodeTouchTable(this.opts.touches.take()), authinfo: p.authinfo },
        });
        this.urgentQueued++;
        return;
      case PacketType.SYNC:
        if (this.pendingSyncs === 0) return void this.pending.notes.push('SYNC with no sync pending ignored');
        this.pendingSyncs--;
        this.pending.syncsCompleted++;
        return;
      case PacketType.REVALIDATE: {
        const r = decodeRevalidateReply(p.data);
        if (r === undefined) return this.end('REVALIDATE reply too short');
        this.pending.revalidated.push(r);
        return;
      }
      default:
        this.pending.notes.push(`packet type ${p.type} while serving ignored`);
    }
  }

  // --- reconfiguration ---

  /** A proposed reconfig txn's configuration becomes the last-seen one. False: it ended the role. */
  private seeReconfig(data: Buffer | null): boolean {
    const text = reconfigTxnConfig(data);
    if (text === undefined) return true;
    const qv = this.parse(text);
    if (qv === undefined) return false;
    this.see(qv);
    return true;
  }

  /** The last-seen configuration's reconfig txn is gone from the log (cut, or never durable): it never commits. */
  private forgetSeen(): void {
    if (this.lastSeenQv === this.committedQv || this.lastSeenQv.version <= this.committedQv.version) return;
    this.pending.notes.push(`configuration ${this.lastSeenQv.version.toString(16)} forgotten: its reconfig is not in the log`);
    this.lastSeenQv = this.committedQv;
    this.pending.dropSeenConfig = true;
    this.pending.seenConfig = undefined;
  }

  private see(qv: QuorumVerifier): void {
    if (qv.version <= this.lastSeenQv.version) return;
    this.lastSeenQv = qv;
    this.pending.seenConfig = qv;
  }

  private parse(text: string): QuorumVerifier | undefined {
    try {
      return this.opts.parseConfig(text);
    } catch (e) {
      this.end(`a reconfig's configuration does not parse: ${(e as Error).message}`);
      return undefined;
    }
  }

  /**
   * COMMITANDACTIVATE of `txn` (the pending proposal it commits): its designated leader and the
   * reconfig's configuration, checked before anything commits (as ZooKeeper's follower reads both
   * before its commit). Undefined: the packet ended the role.
   */
  private commitAndActivation(p: QuorumPacket, txn: LoggedTxn): ReconfigActivation | undefined {
    let designated: bigint;
    try {
      designated = commitAndActivateLeader(p.data);
    } catch (e) {
      this.end((e as Error).message);
      return undefined;
    }
    return this.reconfigActivation(txn, designated);
  }

  /** INFORMANDACTIVATE: its txn, designated leader and configuration, checked before the txn is logged. */
  private informAndActivation(p: QuorumPacket): ReconfigActivation | undefined {
    let decoded: { designatedLeader: bigint; txn: Buffer };
    try {
      decoded = informAndActivate(p.data);
    } catch (e) {
      this.end((e as Error).message);
      return undefined;
    }
    return this.reconfigActivation({ zxid: p.zxid, data: decoded.txn }, decoded.designatedLeader);
  }

  private reconfigActivation(txn: LoggedTxn, designated: bigint): ReconfigActivation | undefined {
    const text = reconfigTxnConfig(txn.data);
    if (text === undefined) {
      this.end(`activation of ${zxidHex(txn.zxid)}, which is not a reconfig`);
      return undefined;
    }
    const qv = this.parse(text);
    return qv === undefined ? undefined : { txn, qv, designated };
  }

  private activateReconfig(a: ReconfigActivation): void {
    this.activate(a.qv, a.designated, `reconfig ${zxidHex(a.txn.zxid)}`);
  }

  /** `qv` becomes the committed configuration. True when that ends the role (it already ended it). */
  private activate(qv: QuorumVerifier, designated: bigint | undefined, what: string): boolean {
    const effect = activationEffect(this.committedQv, qv, { sid: this.opts.sid, currentRole: this.opts.role, currentLeader: this.opts.leaderSid }, designated);
    if (!effect.newer) return false;
    this.committedQv = qv;
    if (this.lastSeenQv.version < qv.version) this.lastSeenQv = qv;
    this.pending.activations.push({ verifier: qv, designatedLeader: designated });
    if (!effect.restartRole) return false;
    const reason = `${what} changes this member's ${effect.role !== this.opts.role ? `role to ${effect.role}` : 'leader'}`;
    this.end(reason, effect.designatedLeader);
    return true;
  }

  // --- helpers ---

  /** Whether a txn may be queued after the last one: gap-free, strictly increasing. Else ends the role. */
  private queueable(p: QuorumPacket): boolean {
    if (isNextZxid(this.lastQueued, p.zxid)) return true;
    this.end(`txn out of order: ${zxidGapReason(this.lastQueued, p.zxid)}`);
    return false;
  }

  private logTxn(txn: LoggedTxn): void {
    invariant(txn.zxid > this.lastLogged, `log append ${zxidHex(txn.zxid)} not after ${zxidHex(this.lastLogged)}`);
    this.pending.append.push(txn);
    this.lastQueued = txn.zxid;
    this.lastLogged = txn.zxid;
  }

  private send(type: PacketType, zxid: bigint, data: Buffer | null): void {
    this.pending.send.push({ kind: 'packet', to: LEADER_CONN, packet: { type, zxid, data, authinfo: null } });
  }

  private end(reason: string, designatedLeader?: bigint): void {
    if (this.phaseValue === 'over') return;
    this.phaseValue = 'over';
    this.pending.state = designatedLeader === undefined ? { kind: 'looking', reason } : { kind: 'looking', reason, designatedLeader };
  }
}

/** takeUrgent's answer for nearly every packet: nothing (not a new array each time). */
const NO_PACKETS: readonly QuorumPacket[] = Object.freeze([]);

/** A packet for the leader that depends on nothing this learner has still to log (see takeUrgent). */
export function isUrgentSend(s: Ready['send'][number]): s is Extract<Ready['send'][number], { kind: 'packet' }> {
  return s.kind === 'packet' && (s.packet.type === PacketType.PING || s.packet.type === PacketType.REQUEST || s.packet.type === PacketType.REVALIDATE);
}
