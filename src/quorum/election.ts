/**
 * FastLeaderElection as a pure state machine: ZooKeeper 3.8's lookForLeader loop and its
 * WorkerReceiver reply rules, with no sockets, timers or clock inside. Time comes in as arguments.
 *
 * Driving it (the shell, or a test):
 *
 *   const e = new Election({ mySid, verifier, learnerType });
 *   e.startLooking(nowMs, lastLoggedZxid, currentEpoch); // a new search: round + 1, initial vote
 *   loop:
 *     e.step(nowMs, notification)   // every decoded notification, from peers and from self (loopback)
 *     e.tick(nowMs)                 // whenever nowMs >= e.nextWakeMs()
 *     if (e.hasReady()) {}          // whether ready() holds anything
 *     const rd = e.ready();         // then execute rd:
 *       rd.send        -> queue each notification to its sid; one addressed to mySid is the
 *                         loopback and goes straight back into step()
 *       rd.connectAll  -> a notification timeout fired: (re)connect to every voter; the sends of
 *                         that timeout are in rd.send as well (ZooKeeper sends them when a link has
 *                         delivered something, else connects: either way, send them)
 *       rd.decided     -> the search ended: become LEADING, FOLLOWING or OBSERVING for rd.decided.vote
 *                         (its round, and `via`: how it was reached, for logs)
 *       rd.configChange-> a LOOKING server heard a config of a higher version: adopt it; when
 *                         restartElection is set this core is finished (it ignores everything from
 *                         now on): build a new Election with the new verifier and startLooking it
 *     e.advance()                   // the Ready is consumed
 *   after sync with a leader:  e.setSettledState(state, { ...vote, peerEpoch: newEpoch })
 *   when the role ends:        e.endRole(nowMs) at once, then e.startLooking(...) again once the vote's
 *                              zxid is known (same object: the round keeps counting)
 *   a process restart is a new Election: its round starts at 0, so its first search is round 1.
 *
 * Once decided, the core keeps answering: LOOKING voters get the settled vote, non-voters get the
 * current vote with this core's round (ZooKeeper's WorkerReceiver).
 *
 * Between a role's end and the next search (`endRole` .. `startLooking`) the core is LOOKING, as
 * ZooKeeper's peer is from the moment its role ends (QuorumPeer.updateServerState): notifications
 * are held for the search, as WorkerReceiver queues them in recvqueue for the next lookForLeader,
 * instead of being answered with the vote of the role that ended. A peer that went LOOKING a little
 * earlier would otherwise have its vote answered and lost, and the search would wait a whole
 * notification timeout for it to be sent again.
 *
 * One step further than ZooKeeper, with the same traffic: a LOOKING notification of a newer round
 * that arrives while the core still holds its role (the peer saw the leader go a few ms earlier)
 * is answered with the role's vote exactly as ZooKeeper answers it, and also kept; if the role
 * ends within minNotificationIntervalMs of it, the next search takes it as if it had arrived then,
 * as a notification the network delayed. ZooKeeper drops it, and both members then wait for a
 * notification timeout (200-400 ms more) before the winner's vote is sent again.
 *
 * Rules (FastLeaderElection.java, 3.8.0): the initial vote is (my sid if I am a voter else MIN,
 * lastLoggedZxid if participant else MIN, currentEpoch if participant else MIN). A vote beats
 * another on higher peerEpoch, then zxid, then sid, and a vote for a weight-0 sid never wins. Only
 * notifications from voters about voters count. A quorum (in every config) agreeing with my proposal
 * starts the finalize wait: a better vote within finalizeWaitMs resumes the search, other
 * notifications are consumed and restart the wait, silence decides. FOLLOWING/LEADING notifications
 * decide at once when a quorum of them (in my round, or out of election) names a leader that says it
 * is LEADING.
 */

import { LONG_MIN, Notification, PeerState, Vote } from './vote';
import { javaHashMapOrder, LearnerType, MajorityVerifier, parseQuorumVerifier, QuorumVerifier, verifiersEqual } from './verifier';

export interface ElectionOptions {
  mySid: bigint;
  verifier: QuorumVerifier;
  /**
   * The last-seen config when it is newer than `verifier` (a reconfig in flight): its voters are
   * talked to and listened to as well, and a decision needs a quorum in both.
   */
  nextVerifier?: QuorumVerifier;
  learnerType: LearnerType;
  /** zookeeper.fastleader.minNotificationInterval: the first poll timeout (default 200 ms). */
  minNotificationIntervalMs?: number;
  /** zookeeper.fastleader.maxNotificationInterval: the backoff ceiling (default 60 s). */
  maxNotificationIntervalMs?: number;
  /** FastLeaderElection.finalizeWait (200 ms). */
  finalizeWaitMs?: number;
}

export interface OutgoingNotification {
  to: bigint;
  n: Notification;
}

export interface ElectionDecision {
  state: PeerState;
  vote: Vote;
  /** The round the decision belongs to (my logicalclock, or the ensemble's when joining late). */
  electionEpoch: bigint;
  /**
   * How it was reached: `looking` = a quorum agreed with my proposal and the finalize wait passed;
   * `following` = a quorum of FOLLOWING/LEADING votes in my round; `outOfElection` = a quorum of
   * them from any round (joining an established ensemble).
   */
  via: 'looking' | 'following' | 'outOfElection';
}

export interface ElectionReady {
  send: OutgoingNotification[];
  connectAll: boolean;
  decided?: ElectionDecision;
  configChange?: { verifier: QuorumVerifier; restartElection: boolean };
}

const DEFAULT_MIN_NOTIFICATION_INTERVAL_MS = 200;
const DEFAULT_MAX_NOTIFICATION_INTERVAL_MS = 60_000;
const DEFAULT_FINALIZE_WAIT_MS = 200;
/**
 * Output a shell must drain (advance()) between steps. A step sends at most one notification per
 * voter plus one reply; far more than that means the shell is not calling advance().
 */
const PENDING_SENDS_MAX = 65_536;

/**
 * Notifications held between a role's end and the next search, at most (the oldest go first). A
 * peer sends one per change of its vote and per notification timeout; this is many times that.
 */
const HELD_NOTIFICATIONS_MAX = 1_024;

/** The notification format this core sends (the only one 3.8 sends). */
export const NOTIFICATION_VERSION = 2;

export class ElectionInvariantError extends Error {}

function invariant(cond: boolean, what: string): asserts cond {
  if (!cond) throw new ElectionInvariantError(`election invariant: ${what}`);
}

/** A vote as FastLeaderElection's Vote holds it, with the state and version its equals() looks at. */
interface HeldVote {
  leader: bigint;
  zxid: bigint;
  electionEpoch: bigint;
  peerEpoch: bigint;
  state: PeerState;
  version: number;
}

/** Vote.equals: full comparison when either is LOOKING, else leader (and peerEpoch unless the versions straddle 0). */
function votesEqual(a: HeldVote, b: HeldVote): boolean {
  if (a.state === PeerState.LOOKING || b.state === PeerState.LOOKING) {
    return a.leader === b.leader && a.zxid === b.zxid && a.electionEpoch === b.electionEpoch && a.peerEpoch === b.peerEpoch;
  }
  if (a.version > 0 !== b.version > 0) return a.leader === b.leader;
  return a.leader === b.leader && a.peerEpoch === b.peerEpoch;
}

function isKnownState(s: number): s is PeerState {
  return s === PeerState.LOOKING || s === PeerState.FOLLOWING || s === PeerState.LEADING || s === PeerState.OBSERVING;
}

export class Election {
  readonly mySid: bigint;
  learnerType: LearnerType;
  private verifier: QuorumVerifier;
  /** verifier.toString(), which every notification carries. */
  private configString: string;
  /** The last config text heard and what it parsed to (peers repeat theirs in every notification). */
  private heardConfig: { text: string; qv: QuorumVerifier | undefined } | undefined;
  private nextVerifier: QuorumVerifier | undefined;
  private readonly minNotificationIntervalMs: number;
  private readonly maxNotificationIntervalMs: number;
  private readonly finalizeWaitMs: number;

  private state: PeerState = PeerState.LOOKING;
  private started = false;
  /** A newer config ended this instance (ZooKeeper shuts the election down and builds a new one). */
  private finished = false;
  private logicalclock = 0n;
  /** My initial vote of the current search. */
  private init: Vote = { leader: LONG_MIN, zxid: LONG_MIN, peerEpoch: LONG_MIN };
  private proposal: Vote = { leader: LONG_MIN, zxid: LONG_MIN, peerEpoch: LONG_MIN };
  /** QuorumPeer.currentVote: the settled vote (or the startup one), sent to LOOKING voters and non-voters. */
  private currentVote: HeldVote | undefined;
  /** Votes of my round, by voter. */
  private readonly recvset = new Map<bigint, HeldVote>();
  /** FOLLOWING/LEADING votes of any round, by voter. */
  private readonly outofelection = new Map<bigint, HeldVote>();
  private notTimeoutMs: number;
  private pollDeadlineMs = 0;
  /** Set while a quorum agrees with my proposal and I wait for a better vote. */
  private finalizeDeadlineMs: number | undefined;

  /** Set from a role's end to the next search; notifications are held in `held` meanwhile. */
  private betweenSearches = false;
  private held: Notification[] = [];
  /**
   * The last LOOKING notification of a newer round from each voter, answered while this core held
   * a role (see the top of this file); at most one per voter.
   */
  private readonly answeredLooking = new Map<bigint, { n: Notification; atMs: number }>();

  private pendingSends: OutgoingNotification[] = [];
  private pendingConnectAll = false;
  private pendingDecision: ElectionDecision | undefined;
  private pendingConfigChange: ElectionReady['configChange'];

  constructor(opts: ElectionOptions) {
    this.mySid = opts.mySid;
    this.learnerType = opts.learnerType;
    this.verifier = opts.verifier;
    this.configString = opts.verifier.toString();
    this.nextVerifier =
      opts.nextVerifier !== undefined && opts.nextVerifier.version > opts.verifier.version ? opts.nextVerifier : undefined;
    this.minNotificationIntervalMs = opts.minNotificationIntervalMs ?? DEFAULT_MIN_NOTIFICATION_INTERVAL_MS;
    this.maxNotificationIntervalMs = opts.maxNotificationIntervalMs ?? DEFAULT_MAX_NOTIFICATION_INTERVAL_MS;
    this.finalizeWaitMs = opts.finalizeWaitMs ?? DEFAULT_FINALIZE_WAIT_MS;
    invariant(this.minNotificationIntervalMs > 0, 'minNotificationIntervalMs > 0');
    invariant(this.maxNotificationIntervalMs >= this.minNotificationIntervalMs, 'max >= min notification interval');
    invariant(this.finalizeWaitMs > 0, 'finalizeWaitMs > 0');
    this.notTimeoutMs = this.minNotificationIntervalMs;
  }

  // -------------------------------------------------------------------------------------------
  // Read-only views

  get peerState(): PeerState {
    return this.state;
  }
  get round(): bigint {
    return this.logicalclock;
  }
  /** The vote this search currently proposes. */
  get proposedVote(): Vote {
    return { ...this.proposal };
  }
  get quorumVerifier(): QuorumVerifier {
    return this.verifier;
  }
  get notificationTimeoutMs(): number {
    return this.notTimeoutMs;
  }
  get isFinished(): boolean {
    return this.finished;
  }

  // -------------------------------------------------------------------------------------------
  // Inputs

  /**
   * The role ended: LOOKING from now on, and what arrives is held for the next search (see the top
   * of this file). No effect while already LOOKING.
   */
  endRole(nowMs: number): void {
    invariant(this.started && !this.finished, 'endRole on an election that is not running');
    if (this.state === PeerState.LOOKING) return;
    this.state = PeerState.LOOKING;
    this.betweenSearches = true;
    this.finalizeDeadlineMs = undefined;
    // Votes of newer searches answered just before the role ended go to the next search as well.
    const recent = [...this.answeredLooking.values()].filter((a) => nowMs - a.atMs <= this.minNotificationIntervalMs);
    this.answeredLooking.clear();
    recent.sort((a, b) => a.atMs - b.atMs);
    for (const a of recent) this.held.push(a.n);
  }

  /** Notifications held for the next search (between a role's end and startLooking). */
  get heldCount(): number {
    return this.held.length;
  }

  /** Starts a search: round + 1, the initial vote proposed to every voter (self included). */
  startLooking(nowMs: number, lastLoggedZxid: bigint, currentEpoch: bigint): void {
    invariant(!this.finished, 'startLooking on an election a newer config has ended');
    if (this.currentVote === undefined) {
      // QuorumPeer.startLeaderElection: the vote a fresh process answers non-voters with.
      this.currentVote = {
        leader: this.mySid,
        zxid: lastLoggedZxid,
        electionEpoch: -1n,
        peerEpoch: currentEpoch,
        state: PeerState.LOOKING,
        version: 0,
      };
    }
    this.started = true;
    this.state = PeerState.LOOKING;
    this.answeredLooking.clear();
    this.recvset.clear();
    this.outofelection.clear();
    this.finalizeDeadlineMs = undefined;
    this.notTimeoutMs = this.minNotificationIntervalMs;
    this.logicalclock += 1n;
    const participant = this.learnerType === 'participant';
    this.init = {
      leader: this.verifier.votingMembers.has(this.mySid) ? this.mySid : LONG_MIN,
      zxid: participant ? lastLoggedZxid : LONG_MIN,
      peerEpoch: participant ? currentEpoch : LONG_MIN,
    };
    this.proposal = { ...this.init };
    this.sendNotifications();
    this.pollDeadlineMs = nowMs + this.notTimeoutMs;
    // What came while the role ended, in arrival order, as lookForLeader polls recvqueue.
    this.betweenSearches = false;
    const held = this.held;
    this.held = [];
    for (const n of held) {
      if (this.finished || this.state !== PeerState.LOOKING) break;
      this.consume(nowMs, n);
    }
  }

  /** A decoded notification, from the wire or from self. */
  step(nowMs: number, n: Notification): void {
    invariant(this.started, 'step before the first startLooking');
    if (this.finished) return;
    if (!isKnownState(n.state)) return; // WorkerReceiver drops unknown states

    if (this.betweenSearches) {
      // Config changes are taken when the search polls it (an ended election restarts there).
      if (!this.isVoter(n.sid)) {
        this.queueSend(n.sid, this.state, this.currentVote!, this.logicalclock);
        return;
      }
      if (n.state === PeerState.LOOKING && n.electionEpoch < this.logicalclock) {
        this.queueSend(n.sid, PeerState.LOOKING, this.proposal, this.logicalclock);
      }
      if (this.held.length >= HELD_NOTIFICATIONS_MAX) this.held.shift();
      this.held.push(n);
      return;
    }

    if (n.version > 1 && n.config !== undefined && this.takeConfig(n.config)) return;

    if (!this.isVoter(n.sid)) {
      // Non-voters (observers, non-voting participants, strangers) get an answer right away.
      const cv = this.currentVote!;
      this.queueSend(n.sid, this.state, cv, this.logicalclock);
      return;
    }

    if (this.state === PeerState.LOOKING) {
      if (n.state === PeerState.LOOKING && n.electionEpoch < this.logicalclock) {
        this.queueSend(n.sid, PeerState.LOOKING, this.proposal, this.logicalclock);
      }
      this.lookForLeaderStep(nowMs, n);
    } else if (n.state === PeerState.LOOKING) {
      const cv = this.currentVote!;
      this.queueSend(n.sid, this.state, cv, cv.electionEpoch);
      if (n.electionEpoch > this.logicalclock) this.answeredLooking.set(n.sid, { n, atMs: nowMs });
    }
  }

  /** A held notification, as the search takes it from the queue (its replies were sent on arrival). */
  private consume(nowMs: number, n: Notification): void {
    if (n.version > 1 && n.config !== undefined && this.takeConfig(n.config)) return;
    if (!this.isVoter(n.sid)) return;
    this.lookForLeaderStep(nowMs, n);
  }

  /** Finalize-wait expiry and the notification timeout (re-send, then back off to the ceiling). */
  tick(nowMs: number): void {
    if (!this.started || this.finished || this.state !== PeerState.LOOKING || this.betweenSearches) return;
    if (this.finalizeDeadlineMs !== undefined) {
      if (nowMs >= this.finalizeDeadlineMs) this.decideFromProposal();
      return;
    }
    if (nowMs < this.pollDeadlineMs) return;
    this.sendNotifications();
    this.pendingConnectAll = true;
    this.notTimeoutMs = Math.min(this.notTimeoutMs * 2, this.maxNotificationIntervalMs);
    this.pollDeadlineMs = nowMs + this.notTimeoutMs;
  }

  /** When tick() must run next; undefined when nothing is timed (not LOOKING). */
  nextWakeMs(): number | undefined {
    if (!this.started || this.finished || this.state !== PeerState.LOOKING || this.betweenSearches) return undefined;
    return this.finalizeDeadlineMs ?? this.pollDeadlineMs;
  }

  ready(): ElectionReady {
    const rd: ElectionReady = { send: this.pendingSends, connectAll: this.pendingConnectAll };
    if (this.pendingDecision !== undefined) rd.decided = this.pendingDecision;
    if (this.pendingConfigChange !== undefined) rd.configChange = this.pendingConfigChange;
    return rd;
  }

  hasReady(): boolean {
    return (
      this.pendingSends.length > 0 ||
      this.pendingConnectAll ||
      this.pendingDecision !== undefined ||
      this.pendingConfigChange !== undefined
    );
  }

  advance(): void {
    this.pendingSends = [];
    this.pendingConnectAll = false;
    this.pendingDecision = undefined;
    this.pendingConfigChange = undefined;
  }

  /**
   * A configuration the roles activated (QuorumPeer.processReconfig): notifications carry it and
   * count its voters from now on, and this member's learner type follows it (observer if listed as
   * one, else participant, voting or not).
   */
  activateConfig(qv: QuorumVerifier): void {
    if (qv.version <= this.verifier.version) return;
    this.verifier = qv;
    this.configString = qv.toString();
    if (this.nextVerifier !== undefined && this.nextVerifier.version <= qv.version) this.nextVerifier = undefined;
    this.learnerType = qv.observingMembers.has(this.mySid) ? 'observer' : 'participant';
  }

  /** A proposed configuration (a reconfig not yet committed): its voters count too. */
  seeConfig(qv: QuorumVerifier): void {
    // No newer one than the committed: none is pending (the member forgot a reconfig that never commits).
    if (qv.version <= this.verifier.version) {
      this.nextVerifier = undefined;
      return;
    }
    if (qv.version <= (this.nextVerifier?.version ?? this.verifier.version)) return;
    this.nextVerifier = qv;
  }

  /**
   * A reconfig designated the leader: the member takes its role without a search (ZooKeeper's
   * updateServerState once processReconfig changed its vote) and answers with that vote. Votes
   * held since the last role are dropped: their senders notify again on their own timeouts.
   */
  takeRole(state: PeerState, vote: Vote): void {
    invariant(this.started && !this.finished, 'takeRole on an election that is not running');
    invariant(state !== PeerState.LOOKING, 'takeRole(LOOKING)');
    invariant(state !== PeerState.LEADING || vote.leader === this.mySid, 'LEADING a vote for another sid');
    this.betweenSearches = false;
    this.held = [];
    this.finalizeDeadlineMs = undefined;
    this.state = state;
    const cv = this.currentVote!;
    this.currentVote = { ...cv, leader: vote.leader, zxid: vote.zxid, peerEpoch: vote.peerEpoch, state };
  }

  /**
   * The settled state and vote after the search, e.g. the peerEpoch raised to the new epoch once
   * synced with the leader (QuorumPeer.updateElectionVote). The round of the vote is kept.
   */
  setSettledState(state: PeerState, vote: Vote): void {
    invariant(this.started && !this.finished, 'setSettledState on an election that is not running');
    invariant(state !== PeerState.LOOKING, 'a new search is startLooking(), not setSettledState(LOOKING)');
    invariant(this.state !== PeerState.LOOKING, 'setSettledState while still LOOKING');
    invariant(state !== PeerState.LEADING || vote.leader === this.mySid, 'LEADING a vote for another sid');
    const cv = this.currentVote!;
    this.state = state;
    this.currentVote = { ...cv, leader: vote.leader, zxid: vote.zxid, peerEpoch: vote.peerEpoch, state };
  }

  // -------------------------------------------------------------------------------------------
  // lookForLeader

  private lookForLeaderStep(nowMs: number, n: Notification): void {
    if (this.finalizeDeadlineMs !== undefined) {
      // The finalize wait consumes every notification; a better vote goes back to the loop.
      if (!this.totalOrderPredicate(n.leader, n.zxid, n.peerEpoch, this.proposal)) {
        this.finalizeDeadlineMs = nowMs + this.finalizeWaitMs;
        return;
      }
      this.finalizeDeadlineMs = undefined;
    }
    this.pollDeadlineMs = nowMs + this.notTimeoutMs;
    if (!this.isVoter(n.sid) || !this.isVoter(n.leader)) return;

    switch (n.state) {
      case PeerState.LOOKING:
        this.lookingNotification(nowMs, n);
        break;
      case PeerState.FOLLOWING:
      case PeerState.LEADING:
        this.followingNotification(n);
        break;
      case PeerState.OBSERVING:
        break;
    }
  }

  private lookingNotification(nowMs: number, n: Notification): void {
    if (this.init.zxid === -1n || n.zxid === -1n) return;
    if (n.electionEpoch > this.logicalclock) {
      this.logicalclock = n.electionEpoch;
      this.recvset.clear();
      this.proposal = this.totalOrderPredicate(n.leader, n.zxid, n.peerEpoch, this.init)
        ? { leader: n.leader, zxid: n.zxid, peerEpoch: n.peerEpoch }
        : { ...this.init };
      this.sendNotifications();
    } else if (n.electionEpoch < this.logicalclock) {
      return;
    } else if (this.totalOrderPredicate(n.leader, n.zxid, n.peerEpoch, this.proposal)) {
      this.proposal = { leader: n.leader, zxid: n.zxid, peerEpoch: n.peerEpoch };
      this.sendNotifications();
    }
    this.record(this.recvset, n.sid, {
      leader: n.leader,
      zxid: n.zxid,
      electionEpoch: n.electionEpoch,
      peerEpoch: n.peerEpoch,
      state: PeerState.LOOKING,
      version: 0,
    });
    const mine: HeldVote = { ...this.proposal, electionEpoch: this.logicalclock, state: PeerState.LOOKING, version: 0 };
    if (this.hasAllQuorums(this.recvset, mine)) this.finalizeDeadlineMs = nowMs + this.finalizeWaitMs;
  }

  /** receivedFollowingNotification (LEADING ones too: without an oracle they are handled alike). */
  private followingNotification(n: Notification): void {
    const theirs: HeldVote = {
      leader: n.leader,
      zxid: n.zxid,
      electionEpoch: n.electionEpoch,
      peerEpoch: n.peerEpoch,
      state: n.state,
      version: n.version,
    };
    if (n.electionEpoch === this.logicalclock) {
      this.record(this.recvset, n.sid, { ...theirs, version: 0 });
      if (this.hasAllQuorums(this.recvset, theirs) && this.checkLeader(this.recvset, n.leader, n.electionEpoch)) {
        this.decide(n.leader, { leader: n.leader, zxid: n.zxid, peerEpoch: n.peerEpoch }, n.electionEpoch, 'following');
        return;
      }
    }
    // Joining an established ensemble: a quorum must follow the same leader, which says it leads.
    this.record(this.outofelection, n.sid, theirs);
    this.dropDeadNextConfig(theirs);
    if (this.hasAllQuorums(this.outofelection, theirs) && this.checkLeader(this.outofelection, n.leader, n.electionEpoch)) {
      this.logicalclock = n.electionEpoch;
      this.decide(n.leader, { leader: n.leader, zxid: n.zxid, peerEpoch: n.peerEpoch }, n.electionEpoch, 'outOfElection');
    }
  }

  /**
   * A pending configuration (a reconfig proposed and not known committed) that a later epoch's
   * ensemble does not run never commits: an epoch established after that reconfig either holds it
   * in its history and activated it (its members' notifications then carry a configuration at
   * least that new, which takeConfig adopts) or truncated it. Its voters, needed for a quorum of
   * both configurations, may never answer; so when a quorum of the committed configuration
   * follows a leader of an epoch newer than the reconfig's, with older configurations, it is
   * dropped and that quorum decides (ZooKeeper keeps waiting for it).
   */
  private dropDeadNextConfig(theirs: HeldVote): void {
    const next = this.nextVerifier;
    if (next === undefined || theirs.peerEpoch <= next.version >> 32n) return;
    const agreeing: bigint[] = [];
    for (const [sid, v] of this.outofelection) if (votesEqual(theirs, v)) agreeing.push(sid);
    if (!this.verifier.containsQuorum(agreeing) || !this.checkLeader(this.outofelection, theirs.leader, theirs.electionEpoch)) return;
    this.nextVerifier = undefined;
  }

  private decideFromProposal(): void {
    this.decide(this.proposal.leader, { ...this.proposal }, this.logicalclock, 'looking');
  }

  private decide(leader: bigint, vote: Vote, electionEpoch: bigint, via: ElectionDecision['via']): void {
    invariant(this.isVoter(leader), `the decided leader ${leader} is a voter`);
    invariant(vote.leader === leader, 'the decided vote names the leader');
    const state =
      leader === this.mySid ? PeerState.LEADING : this.learnerType === 'participant' ? PeerState.FOLLOWING : PeerState.OBSERVING;
    invariant(state !== PeerState.LEADING || this.learnerType === 'participant', 'an observer never leads');
    this.state = state;
    this.finalizeDeadlineMs = undefined;
    this.currentVote = { ...vote, electionEpoch, state, version: 0 };
    this.pendingDecision = { state, vote: { ...vote }, electionEpoch, via };
  }

  /** A vote beats the current one on peerEpoch, then zxid, then sid; a weight-0 sid never wins. */
  private totalOrderPredicate(newId: bigint, newZxid: bigint, newEpoch: bigint, cur: Vote): boolean {
    // QuorumMaj.getWeight is 1 for any sid; only a hierarchical verifier has weight-0 ids.
    const weight = this.verifier instanceof MajorityVerifier ? 1 : this.verifier.weight(newId);
    if (weight === 0) return false;
    if (newEpoch !== cur.peerEpoch) return newEpoch > cur.peerEpoch;
    if (newZxid !== cur.zxid) return newZxid > cur.zxid;
    return newId > cur.leader;
  }

  /** Another leader must have told me it is LEADING; I, as leader, must be in that round. */
  private checkLeader(votes: ReadonlyMap<bigint, HeldVote>, leader: bigint, electionEpoch: bigint): boolean {
    if (leader !== this.mySid) return votes.get(leader)?.state === PeerState.LEADING;
    return this.logicalclock === electionEpoch;
  }

  private hasAllQuorums(votes: ReadonlyMap<bigint, HeldVote>, vote: HeldVote): boolean {
    const agreeing: bigint[] = [];
    for (const [sid, v] of votes) if (votesEqual(vote, v)) agreeing.push(sid);
    for (const qv of this.verifiers()) {
      if (!qv.containsQuorum(agreeing.filter((sid) => qv.votingMembers.has(sid)))) return false;
    }
    return true;
  }

  private record(votes: Map<bigint, HeldVote>, sid: bigint, v: HeldVote): void {
    invariant(this.isVoter(sid), `a vote is recorded only from a voter (sid ${sid})`);
    votes.set(sid, v);
  }

  // -------------------------------------------------------------------------------------------
  // Output

  private sendNotifications(): void {
    for (const sid of javaHashMapOrder(this.voters())) this.queueSend(sid, PeerState.LOOKING, this.proposal, this.logicalclock);
  }

  private queueSend(to: bigint, state: PeerState, v: Vote, electionEpoch: bigint): void {
    invariant(this.pendingSends.length < PENDING_SENDS_MAX, 'pending sends drained by advance()');
    this.pendingSends.push({
      to,
      n: {
        sid: this.mySid,
        state,
        leader: v.leader,
        zxid: v.zxid,
        electionEpoch,
        peerEpoch: v.peerEpoch,
        version: NOTIFICATION_VERSION,
        config: this.configString,
      },
    });
  }

  // -------------------------------------------------------------------------------------------
  // Configs

  private verifiers(): QuorumVerifier[] {
    return this.nextVerifier === undefined ? [this.verifier] : [this.verifier, this.nextVerifier];
  }

  private voters(): Set<bigint> {
    const out = new Set(this.verifier.votingMembers);
    if (this.nextVerifier !== undefined) for (const sid of this.nextVerifier.votingMembers) out.add(sid);
    return out;
  }

  private isVoter(sid: bigint): boolean {
    return this.verifier.votingMembers.has(sid) || (this.nextVerifier?.votingMembers.has(sid) ?? false);
  }

  /**
   * A config of a higher version, heard while LOOKING, is taken (processReconfig). Returns true when
   * it ends this election (different members): the notification is dropped with it.
   */
  private takeConfig(text: string): boolean {
    if (text === this.configString) return false;
    if (this.heardConfig?.text !== text) {
      let qv: QuorumVerifier | undefined;
      try {
        qv = parseQuorumVerifier(text);
      } catch {
        qv = undefined; // ZooKeeper logs a bad config and still handles the vote
      }
      this.heardConfig = { text, qv };
    }
    const rqv = this.heardConfig.qv;
    if (rqv === undefined || rqv.version <= this.verifier.version || this.state !== PeerState.LOOKING) return false;
    const cur = this.verifier;
    this.verifier = rqv;
    this.configString = rqv.toString();
    if (this.nextVerifier !== undefined && this.nextVerifier.version <= rqv.version) this.nextVerifier = undefined;
    if (verifiersEqual(rqv, cur)) {
      this.pendingConfigChange = { verifier: rqv, restartElection: false };
      return false;
    }
    this.pendingConfigChange = { verifier: rqv, restartElection: true };
    this.finished = true;
    return true;
  }
}
