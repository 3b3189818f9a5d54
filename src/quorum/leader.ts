/**
 * The leader's side of Zab for one epoch, after election chose this server (ZK-QUORUM-FACTS §2.3-2.9):
 *
 *  discovery  FOLLOWERINFO/OBSERVERINFO from learners; once a quorum of voters (this server included)
 *             has connected, the new epoch is 1 + the highest acceptedEpoch seen; it is made durable as
 *             acceptedEpoch, then LEADERINFO goes out (D4, D5).
 *  epochack   ACKEPOCH from learners; once a quorum has acked with a real currentEpoch, the epoch is made
 *             durable as currentEpoch (D7) and each learner gets its sync (syncplan.ts) and NEWLEADER.
 *  newleader  ACK(epoch<<32) from learners; this server's own ack counts once currentEpoch is durable.
 *             A quorum makes the epoch established: UPTODATE to the acked learners (S4, S5).
 *  broadcast  propose -> PROPOSAL; a quorum of ACKs (the leader's own after its fsync) -> COMMIT to
 *             followers and INFORM to observers, strictly in zxid order. PING every tickTime/2; a tick
 *             without a synced quorum ends the epoch.
 *  reconfig   (docs/RECONFIG.md §5) a proposed reconfig txn makes its configuration the last-seen
 *             one; from then until it commits every proposal, the NEWLEADER acks and the ping check
 *             need a quorum of the committed configuration AND of the last-seen one. Its commit
 *             activates it and goes out as COMMITANDACTIVATE/INFORMANDACTIVATE naming the
 *             designated leader; a leader that is not the designated one commits nothing more and
 *             steps down once its quorum leaves. A last-seen configuration found at the start
 *             (a reconfig its predecessor did not commit) travels in NEWLEADER and is activated
 *             when the epoch is established. With reconfig enabled, the first leader of an
 *             ensemble gives the version-0 static configuration its epoch's zxid as version.
 *
 * Pure: no clocks, sockets or disks. The shell feeds `step(conn, packet)`, `tick(nowMs)`, `propose`,
 * `processSync`, `disconnected`, drains `ready()` and executes it (ready.ts for the order), then calls
 * `advance()`. Learner connections are shell-assigned numbers; a learner's sid comes from its INFO.
 * Time only moves through `tick(nowMs)`.
 */

import { counterOf, epochOf, makeZxid, zxidHex } from '../storage/zxid';
import { invariant } from './invariant';
import { emptyReady, readyIsEmpty, type LoggedTxn, type Ready } from './ready';
import { appendToRuns, planSync, type SyncPlan, type TxnLogSource, type ZxidRun } from './syncplan';
import { designatedLeader, type ProposalAcks } from './activation';
import { parseQuorumVerifier, verifierWithVersion, type LearnerType, type QuorumVerifier } from './verifier';
import { encodeCommitAndActivate, encodeInformAndActivate, PacketType, ZAB_PROTOCOL_VERSION, type QuorumPacket } from './wire/packets';
import {
  reconfigTxnConfig,
  decodeInt,
  decodeLearnerInfo,
  decodeRequest,
  decodeRevalidate,
  decodeTouchTable,
  encodeInt,
  encodeRevalidateReply,
} from './zabpayloads';

export interface LeaderOptions {
  sid: bigint;
  /** The committed configuration. */
  verifier: QuorumVerifier;
  /** The last-seen configuration, when newer than `verifier` (a reconfig proposed, not committed). */
  lastSeenVerifier?: QuorumVerifier;
  /** reconfigEnabled: the first leader versions the static configuration (see the top). */
  reconfigEnabled?: boolean;
  /** Parses a reconfig txn's configuration string (as the member's multiAddress setting allows). */
  parseConfig?: (text: string) => QuorumVerifier;
  tickTimeMs: number;
  initLimitTicks: number;
  syncLimitTicks: number;
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  /**
   * The last zxid in this server's log. As in ZooKeeper, a new leader counts every txn it logged as
   * committed: election picked it because no quorum-acked txn is missing from its log.
   */
  lastLoggedZxid: bigint;
  /** The tail of its log (at most commitLogCount txns), ascending, gap-free, up to lastLoggedZxid. */
  committedLog: readonly LoggedTxn[];
  /** In-memory committed log kept for DIFFs (zookeeper.commitLogCount). */
  commitLogCount?: number;
  /** The on-disk txn log older than the committed log, when txn-log sync is enabled. */
  txnLog?: () => TxnLogSource | undefined;
  forceSnapshotSync?: boolean;
  /** Proposals not yet committed; more are refused (the server must hold requests back). */
  maxOutstandingProposals?: number;
  /** Learner connections at once. */
  maxLearners?: number;
  /** Syncs waiting for a commit. */
  maxPendingSyncs?: number;
  /**
   * Testing only (ZooKeeper's zookeeper.testingonly.initialZxid): the counter the epoch starts from, to
   * reach counter exhaustion without 2^32 writes.
   */
  testingInitialCounter?: bigint;
  nowMs: number;
}

export type LeaderPhase = 'discovery' | 'epochack' | 'newleader' | 'broadcast' | 'over';

type HandlerPhase =
  | 'info' // waiting for FOLLOWERINFO/OBSERVERINFO
  | 'epoch' // waiting for the epoch quorum
  | 'ackepoch' // LEADERINFO sent, waiting for ACKEPOCH
  | 'epochacked' // waiting for the epoch-ack quorum
  | 'newleader' // sync and NEWLEADER sent, waiting for its ACK
  | 'uptodate' // NEWLEADER acked, waiting for the epoch to be established
  | 'broadcast'; // UPTODATE sent

interface Handler {
  conn: number;
  sid: bigint;
  type: LearnerType;
  phase: HandlerPhase;
  peerLastZxid: bigint;
  /** Gets broadcasts (PROPOSAL/COMMIT or INFORM): set when its sync was queued. */
  forwarding: boolean;
  lastHeardMs: number;
  tickOfNextAckDeadline: number;
  /** The oldest unacked PROPOSAL sent to it and the one after (ZooKeeper's two-slot SyncLimitCheck). */
  unacked: { zxid: bigint; sentMs: number } | undefined;
  unackedNext: { zxid: bigint; sentMs: number } | undefined;
}

interface Proposal {
  /** Its data makes a Buffer of `text` at each read (see heldTxn). */
  txn: LoggedTxn;
  text: string;
  acks: Set<bigint>;
  /** The configurations of which it needs an ack quorum: the committed one, and a newer last-seen one. */
  verifiers: readonly QuorumVerifier[];
  /** A reconfig's configuration. */
  reconfig?: QuorumVerifier;
}

export type ProposeResult = { ok: true } | { ok: false; reason: string };

/**
 * A txn whose bytes are kept as latin1 text (one char per byte, lossless) in the collected heap;
 * `data` makes a Buffer of them at each read (packets are encoded from the text, see txnPacket;
 * the shell reads `data` only for a txn it did not prepare). Held as Buffers, a proposal's bytes were slices of Node's shared 8 KB pool chunks that
 * outlived young collections while the quorum acked (and in the committed log after), so under load
 * chunks of long-committed txns piled up until a full collection (1,000-1,900 of them, 8-15 MB,
 * during a 200,000-create load) and grew malloc's heap, which keeps its size after.
 */
function heldTxn(zxid: bigint, text: string): LoggedTxn {
  return {
    zxid,
    get data(): Buffer {
      return Buffer.from(text, 'latin1');
    },
  };
}

/** A packet carrying txn bytes held as text: encoded straight from it (dataLatin1). */
function txnPacket(type: PacketType, zxid: bigint, text: string): QuorumPacket {
  return {
    type,
    zxid,
    get data(): Buffer {
      return Buffer.from(text, 'latin1');
    },
    authinfo: null,
    dataLatin1: text,
  };
}

const DEFAULTS = {
  commitLogCount: 500,
  maxOutstandingProposals: 10_000,
  maxLearners: 1024,
  maxPendingSyncs: 10_000,
  testingInitialCounter: 0n,
  reconfigEnabled: false,
  parseConfig: (text: string) => parseQuorumVerifier(text),
};

export class ZabLeader {
  private readonly opts: Required<Omit<LeaderOptions, 'txnLog' | 'lastSeenVerifier'>> & Pick<LeaderOptions, 'txnLog'>;
  /** The committed configuration. */
  private verifier: QuorumVerifier;
  /** The newest configuration seen: the committed one, or a reconfig's not yet committed. */
  private lastSeen: QuorumVerifier;
  /** The configurations NEWLEADER's acks must each reach a quorum of (fixed once the epoch is). */
  private newLeaderVerifiers: readonly QuorumVerifier[] = [];
  /** False once a committed reconfig designated another leader: nothing more is committed here. */
  private allowedToCommit = true;
  /** The leader a committed reconfig designated, when not this server. */
  private designated: bigint | undefined;
  private phaseValue: LeaderPhase = 'discovery';
  private phaseStartMs: number;
  private nowMs: number;
  /** The epoch being established; final once the epoch quorum formed. */
  private epochValue: bigint;
  private readonly connecting = new Set<bigint>();
  private readonly electing = new Set<bigint>();
  private readonly newLeaderAcks = new Set<bigint>();
  private readonly handlers = new Map<number, Handler>();
  private lastCommitted: bigint;
  private lastProposedValue: bigint;
  private readonly outstanding = new Map<bigint, Proposal>();
  /** The committed log: txns with their bytes (as text, see heldTxn) for DIFFs, and its zxids as runs for the sync plan. */
  private readonly window: { zxid: bigint; text: string }[] = [];
  private readonly windowRuns: ZxidRun[] = [];
  private readonly pendingSyncs = new Map<bigint, number[]>();
  private pendingSyncCount = 0;
  private tickValue = 0;
  private tickSkip = true;
  private nextHalfTickMs = 0;
  private pending: Ready = emptyReady();
  private inflight: Ready | undefined;
  private readonly summary: { currentEpoch: bigint; lastZxid: bigint };

  constructor(options: LeaderOptions) {
    this.opts = { ...DEFAULTS, forceSnapshotSync: false, ...options };
    this.verifier = options.verifier;
    this.lastSeen = options.lastSeenVerifier !== undefined && options.lastSeenVerifier.version > options.verifier.version ? options.lastSeenVerifier : options.verifier;
    if (this.lastSeen !== options.verifier && this.lastSeen.version > options.lastLoggedZxid) {
      // Its reconfig txn (the version is its zxid) is not in this log: a crash lost it after
      // `.dynamic.next` was written, so it was never acked here and is not in the history this
      // leader establishes. Activating it at establishment would commit a configuration no
      // reconfig committed.
      this.pending.notes.push(`configuration ${this.lastSeen.version.toString(16)} forgotten: its reconfig is not in the log`);
      this.lastSeen = options.verifier;
      this.pending.dropSeenConfig = true;
    }
    this.nowMs = options.nowMs;
    this.phaseStartMs = options.nowMs;
    invariant(options.acceptedEpoch >= options.currentEpoch, 'acceptedEpoch below currentEpoch');
    invariant(options.tickTimeMs >= 2 && options.initLimitTicks > 0 && options.syncLimitTicks > 0, 'bad time limits');
    this.summary = { currentEpoch: options.currentEpoch, lastZxid: options.lastLoggedZxid };
    this.lastCommitted = options.lastLoggedZxid;
    this.lastProposedValue = options.lastLoggedZxid;
    const tail = options.committedLog.slice(-this.opts.commitLogCount);
    for (const txn of tail) this.pushWindow(txn.zxid, txn.data.toString('latin1'));
    // The log may end before lastLoggedZxid when a snapshot taken at a new epoch's zxid is newer.
    invariant(tail.length === 0 || tail[tail.length - 1].zxid <= options.lastLoggedZxid, 'committed log goes past the last logged zxid');
    // getEpochToPropose with the leader's own acceptedEpoch.
    this.epochValue = options.acceptedEpoch + 1n;
    this.connecting.add(options.sid);
    this.checkEpochQuorum();
  }

  get phase(): LeaderPhase {
    return this.phaseValue;
  }
  get epoch(): bigint {
    return this.epochValue;
  }
  get lastProposed(): bigint {
    return this.lastProposedValue;
  }
  get lastCommittedZxid(): bigint {
    return this.lastCommitted;
  }
  /** The committed configuration. */
  get committedVerifier(): QuorumVerifier {
    return this.verifier;
  }
  /** The newest configuration seen (a pending reconfig's, or the committed one). */
  get lastSeenVerifier(): QuorumVerifier {
    return this.lastSeen;
  }
  /**
   * The sids ZooKeeper's isQuorumSynced counts for a reconfig's quorum check: this leader and the
   * synced followers it forwards to (observers never vote).
   */
  syncedFollowers(): Set<bigint> {
    const out = new Set<bigint>([this.opts.sid]);
    for (const h of this.handlers.values()) if (h.forwarding && h.type === 'participant' && this.synced(h)) out.add(h.sid);
    return out;
  }
  /** Learner syncs waiting for a commit (mntr's pending_syncs). */
  get pendingSyncCountNow(): number {
    return this.pendingSyncCount;
  }
  get currentTick(): number {
    return this.tickValue;
  }
  /** The zxid the next proposal must carry: the leader alone assigns zxids. */
  nextZxid(): bigint {
    return this.lastProposedValue + 1n;
  }
  /** Sids of connected learners that are past their INFO, for status output. */
  learners(): { conn: number; sid: bigint; type: LearnerType; phase: string; synced: boolean }[] {
    return [...this.handlers.values()]
      .filter((h) => h.phase !== 'info')
      .map((h) => ({ conn: h.conn, sid: h.sid, type: h.type, phase: h.phase, synced: this.synced(h) }));
  }

  hasReady(): boolean {
    return !readyIsEmpty(this.pending);
  }

  /** Takes what has accumulated; execute it in order, then call advance(). */
  ready(): Ready {
    invariant(this.inflight === undefined, 'ready() again before advance()');
    const r = this.pending;
    this.inflight = r;
    this.pending = emptyReady();
    return r;
  }

  /** The last Ready was executed: its appends and epoch files are durable, so they count as our acks. */
  advance(): void {
    const r = this.inflight;
    invariant(r !== undefined, 'advance() without ready()');
    this.inflight = undefined;
    if (this.phaseValue === 'over') return;
    if (r.currentEpoch !== undefined && r.currentEpoch === this.epochValue && this.phaseValue === 'newleader') {
      this.newLeaderAcks.add(this.opts.sid);
      this.checkNewLeaderQuorum();
    }
    for (const txn of r.append) this.processAck(this.opts.sid, txn.zxid);
  }

  /** A new learner connection: its first packet must be FOLLOWERINFO or OBSERVERINFO. */
  connected(conn: number): void {
    if (this.phaseValue === 'over') return;
    invariant(!this.handlers.has(conn), `connection ${conn} registered twice`);
    if (this.handlers.size >= this.opts.maxLearners) {
      this.closeConn(conn, 'too many learner connections');
      return;
    }
    this.handlers.set(conn, {
      conn,
      sid: -1n,
      type: 'participant',
      phase: 'info',
      peerLastZxid: -1n,
      forwarding: false,
      lastHeardMs: this.nowMs,
      tickOfNextAckDeadline: this.tickValue + this.opts.initLimitTicks + this.opts.syncLimitTicks,
      unacked: undefined,
      unackedNext: undefined,
    });
  }

  /** The shell saw the connection close. */
  disconnected(conn: number): void {
    this.handlers.delete(conn);
    for (const [zxid, conns] of this.pendingSyncs) {
      const kept = conns.filter((c) => c !== conn);
      this.pendingSyncCount -= conns.length - kept.length;
      if (kept.length === 0) this.pendingSyncs.delete(zxid);
      else this.pendingSyncs.set(zxid, kept);
    }
  }

  step(conn: number, packet: QuorumPacket): void {
    if (this.phaseValue === 'over') return;
    const h = this.handlers.get(conn);
    if (h === undefined) {
      this.pending.notes.push(`packet type ${packet.type} on unknown connection ${conn} ignored`);
      return;
    }
    h.lastHeardMs = this.nowMs;
    switch (h.phase) {
      case 'info':
        return this.onInfo(h, packet);
      case 'ackepoch':
        return this.onAckEpoch(h, packet);
      case 'newleader':
        return this.onNewLeaderAck(h, packet);
      case 'epoch':
      case 'epochacked':
        // ZooKeeper's handler thread is blocked in a quorum wait and reads nothing meanwhile.
        return this.closeHandler(h, `packet type ${packet.type} while waiting for a quorum`);
      case 'uptodate':
      case 'broadcast':
        return this.onBroadcastPacket(h, packet);
    }
  }

  tick(nowMs: number): void {
    if (this.phaseValue === 'over') return;
    invariant(nowMs >= this.nowMs, 'time went backwards');
    this.nowMs = nowMs;
    const initMs = this.opts.initLimitTicks * this.opts.tickTimeMs;
    const syncMs = this.opts.syncLimitTicks * this.opts.tickTimeMs;
    if (this.phaseValue !== 'broadcast') {
      if (nowMs - this.phaseStartMs >= initMs) {
        const what = { discovery: 'a quorum of learners', epochack: 'a quorum of epoch acks', newleader: 'a quorum of NEWLEADER acks' }[this.phaseValue];
        this.stepDown(`timed out waiting for ${what}`);
        return;
      }
    }
    for (const h of [...this.handlers.values()]) {
      const awaitingLearner = h.phase === 'info' || h.phase === 'ackepoch' || h.phase === 'newleader';
      // A learner that acked NEWLEADER waits, silent, for the epoch's quorum as long as this leader
      // does (initLimit; ZooKeeper's handler is blocked in waitForNewLeaderAck meanwhile): a quorum
      // of a pending configuration whose voters come later must still find it there.
      const readTimeoutMs = h.phase === 'broadcast' ? syncMs : initMs;
      if ((awaitingLearner || h.phase === 'broadcast' || h.phase === 'uptodate') && nowMs - h.lastHeardMs >= readTimeoutMs) {
        this.closeHandler(h, `learner silent for ${nowMs - h.lastHeardMs} ms`);
      }
    }
    if (this.phaseValue !== 'broadcast') return;
    const halfMs = Math.floor(this.opts.tickTimeMs / 2);
    let pingDue = false;
    while (nowMs >= this.nextHalfTickMs) {
      this.nextHalfTickMs += halfMs;
      pingDue = true;
      if (!this.tickSkip) {
        this.tickValue++;
        const synced = new Set<bigint>([this.opts.sid]);
        for (const h of this.handlers.values()) if (h.phase !== 'info' && this.synced(h)) synced.add(h.sid);
        if (!this.hasAllQuorums(this.quorumVerifiers(), synced)) {
          this.stepDown(`no synced quorum at tick ${this.tickValue}: synced sids [${[...synced].join(',')}]`);
          return;
        }
      }
      this.tickSkip = !this.tickSkip;
    }
    if (!pingDue) return;
    for (const h of [...this.handlers.values()]) {
      if (!h.forwarding) continue;
      if (h.unacked !== undefined && nowMs - h.unacked.sentMs >= syncMs) {
        this.closeHandler(h, `proposal ${zxidHex(h.unacked.zxid)} unacked for ${nowMs - h.unacked.sentMs} ms`);
        continue;
      }
      this.send(h.conn, PacketType.PING, this.lastProposedValue, null);
    }
  }

  /**
   * Proposes a txn whose bytes already carry `zxid` (from nextZxid()). Refused before the epoch is
   * established and when too many are outstanding; a full counter ends the epoch, which forces an
   * election and a new epoch.
   */
  /** `data` is read during the call only (it may be a view of a buffer the caller reuses). */
  propose(zxid: bigint, data: Buffer): ProposeResult {
    if (this.phaseValue !== 'broadcast') return { ok: false, reason: `not serving (${this.phaseValue})` };
    invariant(zxid === this.lastProposedValue + 1n, `proposal ${zxidHex(zxid)} does not follow ${zxidHex(this.lastProposedValue)}`);
    invariant(epochOf(zxid) === this.epochValue, `proposal ${zxidHex(zxid)} outside epoch ${this.epochValue}`);
    if (counterOf(zxid) === 0xffffffffn) {
      this.stepDown('zxid counter exhausted; a new epoch is needed');
      return { ok: false, reason: 'zxid counter exhausted' };
    }
    if (this.outstanding.size >= this.opts.maxOutstandingProposals) return { ok: false, reason: 'too many outstanding proposals' };
    if (!this.allowedToCommit) return { ok: false, reason: 'a reconfig designated another leader' };
    const configText = reconfigTxnConfig(data);
    let reconfig: QuorumVerifier | undefined;
    if (configText !== undefined) {
      invariant(this.lastSeen.version === this.verifier.version, 'a reconfig proposed while another is outstanding');
      reconfig = this.opts.parseConfig(configText);
      invariant(reconfig.version === zxid, `reconfig ${zxidHex(zxid)} carries version ${reconfig.version.toString(16)}`);
      this.lastSeen = reconfig;
      this.pending.seenConfig = reconfig;
    }
    const text = data.toString('latin1');
    const txn = heldTxn(zxid, text);
    this.outstanding.set(zxid, { txn, text, acks: new Set(), verifiers: this.quorumVerifiers(), reconfig });
    this.lastProposedValue = zxid;
    this.pending.append.push(txn);
    for (const h of this.handlers.values()) {
      if (!h.forwarding || h.type !== 'participant') continue;
      this.sendPacket(h.conn, txnPacket(PacketType.PROPOSAL, zxid, text));
      this.noteProposalSent(h, zxid);
    }
    return { ok: true };
  }

  /**
   * A learner's forwarded sync reached this point of the request pipeline: answer once every proposal
   * made before it is committed.
   */
  processSync(conn: number): void {
    if (this.phaseValue !== 'broadcast' || !this.handlers.has(conn)) return;
    if (this.outstanding.size === 0) {
      this.send(conn, PacketType.SYNC, 0n, null);
      return;
    }
    if (this.pendingSyncCount >= this.opts.maxPendingSyncs) {
      this.closeConn(conn, 'too many pending syncs');
      return;
    }
    const list = this.pendingSyncs.get(this.lastProposedValue) ?? [];
    list.push(conn);
    this.pendingSyncs.set(this.lastProposedValue, list);
    this.pendingSyncCount++;
  }

  /** The server's answer to a learner's REVALIDATE. */
  revalidated(conn: number, sessionId: bigint, valid: boolean): void {
    if (this.phaseValue === 'over' || !this.handlers.has(conn)) return;
    this.send(conn, PacketType.REVALIDATE, -1n, encodeRevalidateReply(sessionId, valid));
  }

  // --- discovery ---

  private onInfo(h: Handler, p: QuorumPacket): void {
    if (p.type !== PacketType.FOLLOWERINFO && p.type !== PacketType.OBSERVERINFO) {
      return this.closeHandler(h, `first packet type ${p.type} is not FOLLOWERINFO or OBSERVERINFO`);
    }
    const info = decodeLearnerInfo(p.data);
    if (info === undefined) return this.closeHandler(h, 'LearnerInfo missing or short');
    if (info.protocolVersion < ZAB_PROTOCOL_VERSION) return this.closeHandler(h, `pre-Zab-1.0 learner (protocol ${info.protocolVersion})`);
    if (info.configVersion > this.verifier.version) return this.closeHandler(h, 'learner has a later activated configuration');
    for (const other of this.handlers.values()) {
      if (other !== h && other.phase !== 'info' && other.sid === info.sid) this.closeHandler(other, `sid ${info.sid} reconnected`);
    }
    h.sid = info.sid;
    h.type = p.type === PacketType.OBSERVERINFO ? 'observer' : 'participant';
    if (!this.verifier.members.has(info.sid)) this.pending.notes.push(`learner sid ${info.sid} is not in the current config`);
    const lastAcceptedEpoch = epochOf(p.zxid);
    if (this.phaseValue === 'discovery') {
      if (lastAcceptedEpoch >= this.epochValue) this.epochValue = lastAcceptedEpoch + 1n;
      if (this.isParticipant(h.sid)) this.connecting.add(h.sid);
      h.phase = 'epoch';
      this.checkEpochQuorum();
    } else {
      this.sendLeaderInfo(h);
    }
  }

  private checkEpochQuorum(): void {
    if (this.phaseValue !== 'discovery' || !this.verifier.containsQuorum(this.connecting)) return;
    invariant(this.epochValue > this.opts.acceptedEpoch, 'the new epoch must exceed every accepted epoch seen');
    this.pending.acceptedEpoch = this.epochValue;
    if (this.opts.reconfigEnabled && this.verifier.version === 0n && this.lastSeen.version === 0n) {
      // ZOOKEEPER-1783: the established configuration outranks unestablished static ones (a joiner's
      // partial view); agreed on through NEWLEADER, activated at UPTODATE.
      this.lastSeen = verifierWithVersion(this.verifier, makeZxid(this.epochValue, 0n));
      this.pending.seenConfig = this.lastSeen;
    }
    this.newLeaderVerifiers = this.quorumVerifiers();
    this.phaseValue = 'epochack';
    this.phaseStartMs = this.nowMs;
    // The leader's own state summary counts as its epoch ack.
    this.electing.add(this.opts.sid);
    for (const h of this.handlers.values()) if (h.phase === 'epoch') this.sendLeaderInfo(h);
    this.checkEpochAckQuorum();
  }

  private sendLeaderInfo(h: Handler): void {
    this.send(h.conn, PacketType.LEADERINFO, makeZxid(this.epochValue, 0n), encodeInt(ZAB_PROTOCOL_VERSION));
    h.phase = 'ackepoch';
  }

  private onAckEpoch(h: Handler, p: QuorumPacket): void {
    if (p.type !== PacketType.ACKEPOCH) return this.closeHandler(h, `packet type ${p.type} is not ACKEPOCH`);
    const learnerEpoch = decodeInt(p.data);
    if (learnerEpoch === undefined) return this.closeHandler(h, 'ACKEPOCH without its epoch');
    h.peerLastZxid = p.zxid;
    if (this.phaseValue === 'epochack') {
      if (learnerEpoch !== -1) {
        const epoch = BigInt(learnerEpoch);
        const ahead = epoch > this.summary.currentEpoch || (epoch === this.summary.currentEpoch && p.zxid > this.summary.lastZxid);
        if (ahead) return this.closeHandler(h, `learner ahead of the leader (epoch ${epoch}, zxid ${zxidHex(p.zxid)})`);
        if (p.zxid !== -1n && this.isParticipant(h.sid)) this.electing.add(h.sid);
      }
      h.phase = 'epochacked';
      this.checkEpochAckQuorum();
    } else {
      this.syncLearner(h);
    }
  }

  private checkEpochAckQuorum(): void {
    if (this.phaseValue !== 'epochack' || !this.verifier.containsQuorum(this.electing)) return;
    this.pending.currentEpoch = this.epochValue;
    this.phaseValue = 'newleader';
    this.phaseStartMs = this.nowMs;
    this.lastProposedValue = makeZxid(this.epochValue, 0n);
    for (const h of this.handlers.values()) if (h.phase === 'epochacked') this.syncLearner(h);
  }

  // --- synchronization ---

  private syncLearner(h: Handler): void {
    const plan = planSync({
      peerLastZxid: h.peerLastZxid,
      lastProcessedZxid: this.lastCommitted,
      committedLog: this.windowRuns,
      txnLog: this.opts.txnLog?.(),
      forceSnapshot: this.opts.forceSnapshotSync,
    });
    this.pending.notes.push(`sync sid ${h.sid}: ${plan.kind} ${zxidHex(plan.zxid)} (${plan.reason}; peer ${zxidHex(h.peerLastZxid)})`);
    this.queuePlan(h, plan);
    // startForwarding: the proposals not yet committed follow (not for observers, who get INFORM).
    // This learner may have acked some of them on an earlier connection and since truncated them
    // (TRUNC drops a tail the leader has not committed): those acks no longer stand for a copy on
    // its disk, so they are forgotten; it acks the re-sent proposals once they are durable again.
    for (const p of this.outstanding.values()) p.acks.delete(h.sid);
    if (h.type === 'participant') {
      for (const p of this.outstanding.values()) {
        if (p.txn.zxid <= plan.lastQueuedZxid) continue;
        this.sendPacket(h.conn, txnPacket(PacketType.PROPOSAL, p.txn.zxid, p.text));
        this.noteProposalSent(h, p.txn.zxid);
      }
    }
    h.forwarding = true;
    // Before the epoch is established NEWLEADER carries the last-seen configuration, which the
    // quorum acking it agrees on and which is activated with the epoch. A learner that joins
    // later gets the committed one: it activates NEWLEADER's at UPTODATE, and a reconfig still
    // outstanding must not be activated before it commits (it reaches a follower as a PROPOSAL,
    // and COMMITANDACTIVATE or INFORMANDACTIVATE activates it).
    const qv = this.phaseValue === 'broadcast' ? this.verifier : this.lastSeen;
    this.send(h.conn, PacketType.NEWLEADER, makeZxid(this.epochValue, 0n), Buffer.from(qv.toString(), 'utf8'));
    h.phase = 'newleader';
  }

  private queuePlan(h: Handler, plan: SyncPlan): void {
    if (plan.kind === 'SNAP') {
      this.pending.send.push({ kind: 'snapshot', to: h.conn, zxid: plan.zxid });
      return;
    }
    this.send(h.conn, plan.kind === 'DIFF' ? PacketType.DIFF : PacketType.TRUNC, plan.zxid, null);
    const replay = plan.replay;
    if (replay === undefined) return;
    let after = replay.afterZxid;
    if (replay.fromTxnLogUpTo !== undefined) {
      this.pending.send.push({ kind: 'logRange', to: h.conn, afterZxid: after, toZxid: replay.fromTxnLogUpTo });
      after = replay.fromTxnLogUpTo;
    }
    let expected: bigint | undefined;
    for (const txn of this.window) {
      if (txn.zxid <= after || txn.zxid > replay.toZxid) continue;
      invariant(expected === undefined || txn.zxid === expected || counterOf(txn.zxid) === 1n, 'committed log replay has a gap');
      this.sendPacket(h.conn, txnPacket(PacketType.PROPOSAL, txn.zxid, txn.text));
      this.send(h.conn, PacketType.COMMIT, txn.zxid, null);
      expected = txn.zxid + 1n;
    }
  }

  private onNewLeaderAck(h: Handler, p: QuorumPacket): void {
    if (p.type !== PacketType.ACK) return this.closeHandler(h, `packet type ${p.type} is not the NEWLEADER ACK`);
    if (p.zxid !== makeZxid(this.epochValue, 0n)) return this.closeHandler(h, `NEWLEADER ACK for ${zxidHex(p.zxid)}, not epoch ${this.epochValue}`);
    h.phase = 'uptodate';
    h.tickOfNextAckDeadline = this.tickValue + this.opts.syncLimitTicks;
    if (this.phaseValue === 'newleader') {
      // Each configuration counts its own voters among these, whatever the learner's type: a
      // server that is an observer by the committed configuration and a voter by a pending one
      // (a reconfig that turns it into a participant) acks NEWLEADER for the latter, as
      // ZooKeeper's Proposal.addAck counts it; without it that quorum may never form.
      this.newLeaderAcks.add(h.sid);
      this.checkNewLeaderQuorum();
    } else if (this.phaseValue === 'broadcast') {
      this.sendUpToDate(h);
    }
  }

  private checkNewLeaderQuorum(): void {
    if (this.phaseValue !== 'newleader' || !this.newLeaderAcks.has(this.opts.sid)) return;
    if (!this.hasAllQuorums(this.newLeaderVerifiers, this.newLeaderAcks)) return;
    this.phaseValue = 'broadcast';
    if (this.lastSeen.version > this.verifier.version) {
      // A configuration newer than the committed one (the versioned static one, or a reconfig the
      // last leader left uncommitted) is agreed on by this quorum: it is activated now.
      const next = this.lastSeen;
      const acks = new Set([...this.newLeaderAcks].filter((sid) => next.votingMembers.has(sid)));
      this.activate(next, this.designate(next, acks, []));
    }
    this.lastCommitted = makeZxid(this.epochValue, this.opts.testingInitialCounter);
    this.lastProposedValue = this.lastCommitted;
    this.tickValue = 0;
    this.tickSkip = true;
    this.nextHalfTickMs = this.nowMs + Math.floor(this.opts.tickTimeMs / 2);
    this.pending.state = { kind: 'serving', epoch: this.epochValue };
    for (const h of this.handlers.values()) if (h.phase === 'uptodate') this.sendUpToDate(h);
  }

  private sendUpToDate(h: Handler): void {
    this.send(h.conn, PacketType.UPTODATE, -1n, null);
    h.phase = 'broadcast';
  }

  // --- broadcast ---

  private onBroadcastPacket(h: Handler, p: QuorumPacket): void {
    h.tickOfNextAckDeadline = this.tickValue + this.opts.syncLimitTicks;
    switch (p.type) {
      case PacketType.ACK:
        this.noteAckReceived(h, p.zxid);
        this.processAck(h.sid, p.zxid);
        return;
      case PacketType.PING: {
        const touches = decodeTouchTable(p.data);
        if (touches === undefined) return this.closeHandler(h, 'PING touch table of a bad length');
        this.pending.touches.push(...touches);
        return;
      }
      case PacketType.REVALIDATE: {
        const r = decodeRevalidate(p.data);
        if (r === undefined) return this.closeHandler(h, 'REVALIDATE too short');
        this.pending.revalidations.push({ conn: h.conn, ...r });
        return;
      }
      case PacketType.REQUEST: {
        const r = decodeRequest(p.data);
        if (r === undefined) return this.closeHandler(h, 'REQUEST too short');
        this.pending.requests.push({ conn: h.conn, sid: h.sid, ...r, authinfo: p.authinfo });
        return;
      }
      default:
        this.pending.notes.push(`unexpected packet type ${p.type} from sid ${h.sid} ignored`);
    }
  }

  private processAck(sid: bigint, zxid: bigint): void {
    if (this.phaseValue !== 'broadcast') return;
    // Counter 0 acks NEWLEADER/UPTODATE; committed and unknown zxids are late or bogus: all ignored.
    if (counterOf(zxid) === 0n || zxid <= this.lastCommitted) return;
    const p = this.outstanding.get(zxid);
    if (p === undefined) {
      this.pending.notes.push(`ACK for unknown proposal ${zxidHex(zxid)} from sid ${sid} ignored`);
      return;
    }
    invariant(sid === this.opts.sid || [...this.handlers.values()].some((h) => h.sid === sid), `ACK from unknown sid ${sid}`);
    p.acks.add(sid);
    this.tryToCommit();
  }

  /** Commits outstanding proposals from the oldest while each has a quorum: strictly in zxid order. */
  private tryToCommit(): void {
    for (;;) {
      const first = this.outstanding.values().next();
      if (first.done) return;
      const p = first.value;
      if (!this.allowedToCommit || !this.hasAllQuorums(p.verifiers, p.acks)) return;
      invariant(p.txn.zxid === this.lastCommitted + 1n, `commit of ${zxidHex(p.txn.zxid)} after ${zxidHex(this.lastCommitted)}`);
      this.outstanding.delete(p.txn.zxid);
      this.lastCommitted = p.txn.zxid;
      this.pushWindow(p.txn.zxid, p.text);
      let designated: bigint | undefined;
      if (p.reconfig !== undefined) {
        const next = p.reconfig;
        const later: ProposalAcks[] = [...this.outstanding.values()].map((o) => o.verifiers.map((v) => votersOf(v, o.acks)));
        designated = this.designate(next, votersOf(next, p.acks), later);
        this.activate(next, designated);
      }
      this.pending.commit.push(p.txn);
      for (const h of this.handlers.values()) {
        if (!h.forwarding) continue;
        if (designated === undefined) {
          if (h.type === 'participant') this.send(h.conn, PacketType.COMMIT, p.txn.zxid, null);
          else this.sendPacket(h.conn, txnPacket(PacketType.INFORM, p.txn.zxid, p.text));
        } else if (h.type === 'participant') {
          this.send(h.conn, PacketType.COMMITANDACTIVATE, p.txn.zxid, encodeCommitAndActivate(designated));
        } else {
          this.send(h.conn, PacketType.INFORMANDACTIVATE, p.txn.zxid, encodeInformAndActivate(designated, p.txn.data));
        }
      }
      const syncs = this.pendingSyncs.get(p.txn.zxid);
      if (syncs !== undefined) {
        this.pendingSyncs.delete(p.txn.zxid);
        this.pendingSyncCount -= syncs.length;
        for (const conn of syncs) if (this.handlers.has(conn)) this.send(conn, PacketType.SYNC, 0n, null);
      }
    }
  }

  // --- reconfiguration ---

  /** The committed configuration, and the last-seen one while it is newer: a quorum of each is needed. */
  private quorumVerifiers(): readonly QuorumVerifier[] {
    return this.lastSeen.version > this.verifier.version ? [this.verifier, this.lastSeen] : [this.verifier];
  }

  private hasAllQuorums(verifiers: readonly QuorumVerifier[], sids: ReadonlySet<bigint>): boolean {
    return verifiers.every((v) => v.containsQuorum(sids));
  }

  /** Who leads under `next` (activation.ts); this leader if no other voter of it acked. */
  private designate(next: QuorumVerifier, acks: ReadonlySet<bigint>, later: readonly ProposalAcks[]): bigint {
    const self = { sid: this.opts.sid, member: this.verifier.members.get(this.opts.sid) ?? this.lastSeen.members.get(this.opts.sid) };
    try {
      return designatedLeader(self, next, acks, later);
    } catch (e) {
      this.pending.notes.push(`no designated leader for version ${next.version.toString(16)} (${(e as Error).message}); this leader stays`);
      return this.opts.sid;
    }
  }

  /** `next` becomes the committed configuration; with another designated leader nothing more commits here. */
  private activate(next: QuorumVerifier, designated: bigint): void {
    this.verifier = next;
    if (this.lastSeen.version < next.version) this.lastSeen = next;
    this.pending.activations.push({ verifier: next, designatedLeader: designated });
    if (designated !== this.opts.sid) {
      this.pending.notes.push(`configuration ${next.version.toString(16)} designates leader ${designated}: this leader commits nothing more`);
      this.allowedToCommit = false;
      this.designated = designated;
    }
  }

  // --- helpers ---

  private synced(h: Handler): boolean {
    return this.tickValue <= h.tickOfNextAckDeadline;
  }

  private isParticipant(sid: bigint): boolean {
    return this.verifier.votingMembers.has(sid);
  }

  private pushWindow(zxid: bigint, text: string): void {
    this.window.push({ zxid, text });
    appendToRuns(this.windowRuns, zxid);
    if (this.window.length > this.opts.commitLogCount) {
      this.window.shift();
      const r = this.windowRuns[0];
      if (r.first === r.last) this.windowRuns.shift();
      else r.first = this.window[0].zxid;
    }
  }

  private noteProposalSent(h: Handler, zxid: bigint): void {
    // Timed only once the learner acked NEWLEADER: before that it logs nothing it could ack.
    if (h.phase !== 'uptodate' && h.phase !== 'broadcast') return;
    if (h.unacked === undefined) h.unacked = { zxid, sentMs: this.nowMs };
    else h.unackedNext = { zxid, sentMs: this.nowMs };
  }

  private noteAckReceived(h: Handler, zxid: bigint): void {
    if (h.unacked?.zxid === zxid) {
      h.unacked = h.unackedNext;
      h.unackedNext = undefined;
    } else if (h.unackedNext?.zxid === zxid) {
      h.unackedNext = undefined;
    }
  }

  private send(conn: number, type: PacketType, zxid: bigint, data: Buffer | null): void {
    this.sendPacket(conn, { type, zxid, data, authinfo: null });
  }

  private sendPacket(conn: number, packet: QuorumPacket): void {
    this.pending.send.push({ kind: 'packet', to: conn, packet });
  }

  private closeHandler(h: Handler, reason: string): void {
    this.handlers.delete(h.conn);
    this.closeConn(h.conn, h.sid >= 0n ? `sid ${h.sid}: ${reason}` : reason);
  }

  private closeConn(conn: number, reason: string): void {
    this.pending.close.push({ conn, reason });
  }

  private stepDown(reason: string): void {
    for (const h of [...this.handlers.values()]) this.closeHandler(h, 'leader stepping down');
    this.phaseValue = 'over';
    this.pending.state = this.designated === undefined ? { kind: 'looking', reason } : { kind: 'looking', reason, designatedLeader: this.designated };
  }
}

/** The sids of `acks` that are voters of `qv` (a Proposal's ack set for one configuration). */
function votersOf(qv: QuorumVerifier, acks: ReadonlySet<bigint>): Set<bigint> {
  return new Set([...acks].filter((sid) => qv.votingMembers.has(sid)));
}
