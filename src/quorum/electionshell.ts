/**
 * The election's I/O shell: it drives the pure FastLeaderElection core (`election.ts`) with the
 * election port's links (`peers.ts`) and a timer. Notifications from peers go into `step`, the
 * core's sends go out on the links (the ones to this server loop straight back into `step`), its
 * wake-up time becomes one timer, and its decision resolves `lookForLeader`.
 *
 * ```ts
 * const shell = new ElectionShell({ mySid, verifier, learnerType, tickTimeMs, syncLimitTicks, logger });
 * await shell.start();                                   // listens on this server's election port
 * const d = await shell.lookForLeader(lastLoggedZxid, currentEpoch);   // LEADING / FOLLOWING / OBSERVING
 * shell.settled(d.state, { ...d.vote, peerEpoch: newEpoch });          // after sync with the leader
 * shell.roleEnded();                                    // the role ends: LOOKING, peers' votes held
 * ...                                                    // then lookForLeader again
 * await shell.close();
 * ```
 *
 * Between searches the core keeps answering LOOKING servers with the settled vote, so servers that
 * start or restart later find the running ensemble.
 */
import { monotonicNowMs } from '../server/clock';
import type { Logger } from 'pino';
import { Election, type ElectionDecision, type ElectionOptions } from './election';
import { ElectionPeers, type ElectionPeersOptions } from './peers';
import { memberPortAddresses, type QuorumVerifier } from './verifier';
import type { Notification, PeerState, Vote } from './vote';
import { formatElectionAddress, PROTOCOL_VERSION_V1, PROTOCOL_VERSION_V2, type ElectionAddress } from './wire/election';

export interface ElectionShellOptions {
  mySid: bigint;
  verifier: QuorumVerifier;
  learnerType: ElectionOptions['learnerType'];
  tickTimeMs: number;
  syncLimitTicks: number;
  logger: Logger;
  /** quorumListenOnAllIPs. */
  listenOnAllIPs?: boolean;
  /**
   * multiAddress.enabled: the initial message is protocol version -65535 with every election
   * address of this server, as ZooKeeper sends it then; else -65536 with the first.
   */
  multiAddressEnabled?: boolean;
  /** zookeeper.cnxTimeout (5000 ms). */
  cnxTimeoutMs?: number;
  /** Quorum SASL on the election port (`peers.ts`). */
  auth?: ElectionPeersOptions['auth'];
  /** Plaintext or TLS between members (`quorumsockets.ts`). */
  sockets?: ElectionPeersOptions['sockets'];
  /** Connections accepted and still in their handshake, at most (quorum.cnxn.threads.size with SASL). */
  maxHandshakingConnections?: number;
  minNotificationIntervalMs?: number;
  maxNotificationIntervalMs?: number;
  finalizeWaitMs?: number;
  /** The clock the core reads through this shell; the monotonic one (server/clock.ts) by default. */
  now?: () => number;
  /**
   * A newer configuration heard in a notification while LOOKING, which the election took: the
   * member commits it (ZooKeeper's FastLeaderElection calls processReconfig, which writes the
   * dynamic config files).
   */
  onConfigHeard?: (qv: QuorumVerifier) => void;
}

/** Loopback notifications handled in one turn at most; more means the core talks to itself forever. */
const LOOPBACK_STEPS_MAX = 10_000;

export class ElectionShell {
  private election: Election;
  /** The member's own history the running search started from (a restarted search starts from it too). */
  private searchWith = { lastLoggedZxid: 0n, currentEpoch: 0n };
  /** Where the election port listens: this member's election addresses. */
  private listenAddresses: ElectionAddress[];
  private readonly peers: ElectionPeers;
  private readonly log: Logger;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private timerAtMs: number | undefined;
  private waiting: { resolve: (d: ElectionDecision) => void; reject: (e: Error) => void } | undefined;
  private closed = false;
  /** The search's start, for the election time (ZooKeeper's election_time). */
  private lookingSinceMs = 0;
  lastElectionMs = 0;

  constructor(private readonly options: ElectionShellOptions) {
    this.now = options.now ?? monotonicNowMs;
    this.log = options.logger.child({ module: 'election', myid: options.mySid.toString() });
    this.election = this.newElection(options.verifier);
    const me = options.verifier.members.get(options.mySid);
    if (me === undefined) throw new Error(`server ${options.mySid} is not in the configuration`);
    this.listenAddresses = memberPortAddresses(me, 'electionPort');
    const peerOptions: ElectionPeersOptions = {
      mySid: options.mySid,
      listenAddress: this.listenAddresses,
      listenOnAllIPs: options.listenOnAllIPs,
      protocolVersion: options.multiAddressEnabled ? PROTOCOL_VERSION_V2 : PROTOCOL_VERSION_V1,
      peers: electionAddresses(options.verifier),
      cnxTimeoutMs: options.cnxTimeoutMs,
      auth: options.auth,
      sockets: options.sockets,
      maxHandshakingConnections: options.maxHandshakingConnections,
      handshakeTimeoutMs: options.tickTimeMs * options.syncLimitTicks,
      logger: options.logger,
      onNotification: ({ notification }) => this.receive(notification),
    };
    this.peers = new ElectionPeers(peerOptions);
  }

  private newElection(verifier: QuorumVerifier): Election {
    const o = this.options;
    // The first election takes the configured type; one restarted by a newer configuration the
    // type that configuration gives (a member it leaves out is a non-voting participant).
    const learnerType = this.election === undefined ? o.learnerType : verifier.observingMembers.has(o.mySid) ? 'observer' : 'participant';
    return new Election({
      mySid: o.mySid,
      verifier,
      learnerType,
      minNotificationIntervalMs: o.minNotificationIntervalMs,
      maxNotificationIntervalMs: o.maxNotificationIntervalMs,
      finalizeWaitMs: o.finalizeWaitMs,
    });
  }

  /** Listens on the election port; resolves with the bound address. */
  start(): Promise<ElectionAddress> {
    return this.peers.start();
  }

  get verifier(): QuorumVerifier {
    return this.election.quorumVerifier;
  }

  /** The vote this server holds now (its proposal while LOOKING, the settled vote after). */
  get currentVote(): Vote {
    return this.election.proposedVote;
  }

  get state(): PeerState {
    return this.election.peerState;
  }

  /** Starts a search and resolves with its decision. One search at a time. */
  lookForLeader(lastLoggedZxid: bigint, currentEpoch: bigint): Promise<ElectionDecision> {
    if (this.closed) return Promise.reject(new Error('the election is closed'));
    if (this.waiting) return Promise.reject(new Error('a search is already running'));
    const p = new Promise<ElectionDecision>((resolve, reject) => (this.waiting = { resolve, reject }));
    this.lookingSinceMs = this.now();
    this.searchWith = { lastLoggedZxid, currentEpoch };
    this.log.info({ lastLoggedZxid: '0x' + lastLoggedZxid.toString(16), currentEpoch: currentEpoch.toString() }, 'LOOKING');
    this.election.startLooking(this.now(), lastLoggedZxid, currentEpoch);
    this.flush();
    return p;
  }

  /**
   * The role ended: LOOKING at once, and notifications are held for the next `lookForLeader`
   * instead of being answered with the ended role's vote (the core's `endRole`).
   */
  roleEnded(): void {
    if (this.closed) return;
    this.election.endRole(this.now());
    this.flush();
  }

  /** The role is established: answer LOOKING servers with this vote from now on. */
  settled(state: PeerState, vote: Vote): void {
    this.election.setSettledState(state, vote);
    this.flush();
  }

  /**
   * The roles activated `committed` and have seen `lastSeen` (equal, or a reconfig pending): the
   * election talks to the members of both, and answers with the committed one.
   */
  configChanged(committed: QuorumVerifier, lastSeen: QuorumVerifier): void {
    if (this.closed) return;
    this.election.activateConfig(committed);
    this.election.seeConfig(lastSeen);
    const peers = electionAddresses(committed);
    for (const [sid, a] of electionAddresses(lastSeen)) if (!peers.has(sid)) peers.set(sid, a);
    this.peers.setPeers(peers);
    const me = committed.members.get(this.options.mySid);
    const next = me === undefined ? undefined : memberPortAddresses(me, 'electionPort');
    if (next !== undefined && !sameAddresses(next, this.listenAddresses)) {
      // ZooKeeper restarts its election listener on the new addresses at once.
      this.listenAddresses = next;
      const text = next.map(formatElectionAddress).join('|');
      this.peers.relisten(next).then(
        () => this.log.info({ addresses: text }, 'the election port moved by a reconfig'),
        (e) => this.log.error({ err: (e as Error).message, addresses: text }, 'cannot listen on the election addresses of the new configuration'),
      );
    }
    this.flush();
  }

  /** A reconfig designated the leader: the role is taken without a search (the core's takeRole). */
  takeRole(state: PeerState, vote: Vote): void {
    if (this.closed) return;
    this.election.takeRole(state, vote);
    this.flush();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.waiting?.reject(new Error('the election is closed'));
    this.waiting = undefined;
    await this.peers.close();
  }

  private receive(n: Notification): void {
    if (this.closed) return;
    this.election.step(this.now(), n);
    this.flush();
  }

  /** Executes the core's Ready until it has none: sends, loopback, decisions, then the next wake-up. */
  private flushing = false;

  private flush(): void {
    // A callback of this loop (onConfigHeard) may come back here: the running loop picks up its work.
    if (this.flushing) return;
    this.flushing = true;
    try {
      this.flushLoop();
    } finally {
      this.flushing = false;
    }
  }

  private flushLoop(): void {
    let loopbackSteps = 0;
    let heard: QuorumVerifier | undefined;
    while (!this.closed && this.election.hasReady()) {
      const rd = this.election.ready();
      const loopback: Notification[] = [];
      for (const { to, n } of rd.send) {
        if (to === this.options.mySid) loopback.push(n);
        else
          this.peers.send(to, {
            state: n.state,
            leader: n.leader,
            zxid: n.zxid,
            electionEpoch: n.electionEpoch,
            peerEpoch: n.peerEpoch,
            config: n.config ?? this.election.quorumVerifier.toString(),
          });
      }
      if (rd.connectAll) this.peers.connectAll();
      const decided = rd.decided;
      const configChange = rd.configChange;
      this.election.advance();
      if (configChange) {
        this.log.info({ version: configChange.verifier.version.toString(16), restart: configChange.restartElection }, 'a newer configuration was heard');
        this.peers.setPeers(electionAddresses(configChange.verifier));
        heard = configChange.verifier;
        if (configChange.restartElection) {
          // The core that heard it is finished; the search goes on with the new members.
          // It votes for itself again with its own history, not the best vote the old core held.
          this.election = this.newElection(configChange.verifier);
          if (this.waiting) this.election.startLooking(this.now(), this.searchWith.lastLoggedZxid, this.searchWith.currentEpoch);
          continue;
        }
      }
      if (decided && this.waiting) {
        this.lastElectionMs = this.now() - this.lookingSinceMs;
        this.log.info(
          { state: decided.state, leader: decided.vote.leader.toString(), round: decided.electionEpoch.toString(), via: decided.via, ms: this.lastElectionMs },
          'election decided',
        );
        const w = this.waiting;
        this.waiting = undefined;
        w.resolve(decided);
      }
      for (const n of loopback) {
        if (++loopbackSteps > LOOPBACK_STEPS_MAX) throw new Error('election: the core keeps sending to itself');
        this.election.step(this.now(), n);
      }
    }
    // After the loop: the member's configurations call back into configChanged.
    if (heard !== undefined && !this.closed) this.options.onConfigHeard?.(heard);
    this.scheduleWake();
  }

  private scheduleWake(): void {
    if (this.closed) return;
    const at = this.election.nextWakeMs();
    if (at === this.timerAtMs && this.timer !== undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAtMs = at;
    if (at === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAtMs = undefined;
      if (this.closed) return;
      this.election.tick(this.now());
      this.flush();
    }, Math.max(0, at - this.now()));
  }
}

/** Every member's election addresses (all of them), voters and observers: election answers observers too. */
function electionAddresses(v: QuorumVerifier): Map<bigint, ElectionAddress[]> {
  const out = new Map<bigint, ElectionAddress[]>();
  for (const [sid, m] of v.members) out.set(sid, memberPortAddresses(m, 'electionPort'));
  return out;
}

/** The same addresses, in any order (ZooKeeper compares them as sets). */
function sameAddresses(a: readonly ElectionAddress[], b: readonly ElectionAddress[]): boolean {
  const key = (x: ElectionAddress): string => formatElectionAddress(x);
  const bs = new Set(b.map(key));
  return a.length === b.length && a.every((x) => bs.has(key(x)));
}
