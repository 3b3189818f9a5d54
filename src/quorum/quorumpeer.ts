/**
 * One member of an ensemble: election, then the role it decided, then election again, for as long
 * as the server runs (ZooKeeper's QuorumPeer.run). While there is no role the server does not serve
 * (`setRoleProblem`); each role ends with the database reloaded from disk, so the next election
 * votes with what the log holds.
 *
 * Roles: leader (`leadershell.ts`), follower and observer (`learnershell.ts`). With
 * `-Dreadonlymode.enabled=true`, a member still looking for a leader after a grace period serves
 * read-only clients until the election ends (`ZooKeeperServer.startReadOnly`).
 *
 * Its configurations (`quorumconfigs.ts`) are shared with the roles, which propose and activate
 * reconfigs; an activation updates /zookeeper/config and the election's members. A role that ends
 * because a reconfig designated the next leader is followed by the role that leader implies, at
 * once, without an election round (ZooKeeper's updateServerState after processReconfig).
 */
import { monotonicNowMs } from '../server/clock';
import type { Logger } from 'pino';
import type { ServerConfig } from '../server/config';
import type { QuorumStatus, ZooKeeperServer } from '../server/server';
import type { Database, ReceivedTree } from '../storage/database';
import { loadEpochs, type EpochLoadNotes } from '../storage/epochs';
import type { Failpoints } from '../storage/failpoints';
import { readOnlyGraceMs } from '../server/readonly';
import { TlsQuorumSockets } from './quorumsockets';
import { StoreWatcher } from '../tls/storewatch';
import { quorumAuthFactories, type QuorumAuthFactories } from './authshell';
import { ElectionShell } from './electionshell';
import { LeaderShell } from './leadershell';
import { LearnerShell } from './learnershell';
import { learnerRoleIn } from './activation';
import { QuorumConfigs } from './quorumconfigs';
import type { QuorumMember, QuorumVerifier } from './verifier';
import { PeerState, type Vote } from './vote';

export interface QuorumPeerDeps {
  config: ServerConfig;
  log: Logger;
  server: ZooKeeperServer;
  /** The committed configuration at start. */
  verifier: QuorumVerifier;
  /** `<cfg>.dynamic.next` at start: a proposed configuration not known to be committed. */
  lastSeenVerifier?: QuorumVerifier;
  /** The zoo.cfg the member was started from, beside which the dynamic config files are kept. */
  configFile?: string;
  /** Opens the database from disk, or over a tree received whole (a SNAP) and already on disk. */
  openDatabase(received?: ReceivedTree): Promise<Database>;
  /** Faults armed for tests (crash points of the roles); none in production. */
  failpoints?: Failpoints;
  /**
   * The member cannot go on (its epoch files refuse to load, its database cannot be reopened):
   * the process should end so that its supervisor sees it, rather than stay up serving nobody.
   */
  onFatal?(err: Error): void;
}

export type QuorumRole = 'looking' | 'following' | 'observing' | 'leading';

export class QuorumPeer {
  readonly mySid: bigint;
  readonly configs: QuorumConfigs;
  private readonly election: ElectionShell;
  /** Quorum SASL of this member (undefined when quorum.auth.enableSasl is off). */
  private readonly auth: QuorumAuthFactories | undefined;
  /** TLS between members (sslQuorum, portUnification); undefined: plaintext. */
  private readonly sockets: TlsQuorumSockets | undefined;
  private readonly storeWatcher: StoreWatcher | undefined;
  private readonly log: Logger;
  private stopped = false;
  private running: Promise<void> | undefined;
  private learner: LearnerShell | undefined;
  private leader: LeaderShell | undefined;
  role: QuorumRole = 'looking';
  /** This member's entry in the last configuration that listed it (its addresses after a removal). */
  private selfMember: QuorumMember;
  /** The leader of the current role, while there is one. */
  leaderSid: bigint | undefined;

  constructor(private readonly deps: QuorumPeerDeps) {
    const { config } = deps;
    if (config.serverId === undefined) throw new Error('a quorum member needs its myid');
    this.mySid = BigInt(config.serverId);
    // ZooKeeper refuses to start a server its own configuration leaves out (a removed member).
    const self = deps.verifier.members.get(this.mySid);
    if (self === undefined) throw new Error(`My id ${this.mySid} not in the peer list`);
    this.selfMember = self;
    this.log = deps.log.child({ module: 'quorum', myid: config.serverId });
    this.configs = new QuorumConfigs({
      mySid: this.mySid,
      verifier: deps.verifier,
      lastSeen: deps.lastSeenVerifier,
      configFile: deps.configFile,
      reconfigEnabled: config.reconfigEnabled,
      log: this.log,
    });
    deps.server.setQuorumConfig(deps.verifier.toString(), deps.verifier.version);
    // Member hosts are the ones a name/host@realm principal may come from (DIGEST-MD5 users have no host).
    this.auth = config.quorumSasl ? quorumAuthFactories(config.quorumSasl, () => new Set([...this.configs.committed.members.values()].map((m) => m.host))) : undefined;
    const quorumTls = config.quorumTls;
    if (quorumTls) {
      this.sockets = new TlsQuorumSockets({ tls: quorumTls, sslQuorum: config.sslQuorum, portUnification: config.portUnification, fipsMode: config.fipsMode, log: this.log });
      this.log.info({ sslQuorum: config.sslQuorum, portUnification: config.portUnification }, config.sslQuorum ? 'Using TLS encrypted quorum communication' : 'Using insecure (non-TLS) quorum communication; TLS accepted (port unification)');
      const sockets = this.sockets;
      if (config.sslQuorumReloadCertFiles) this.storeWatcher = new StoreWatcher(quorumTls.settings, (next) => sockets.reload(next), this.log);
    }
    this.election = new ElectionShell({
      auth: this.auth,
      sockets: this.sockets,
      maxHandshakingConnections: config.quorumSasl?.cnxnThreadsSize,
      mySid: this.mySid,
      verifier: deps.verifier,
      learnerType: config.peerType,
      tickTimeMs: config.tickTimeMs,
      syncLimitTicks: config.syncLimitTicks,
      listenOnAllIPs: config.quorumListenOnAllIPs,
      multiAddressEnabled: config.multiAddressEnabled,
      cnxTimeoutMs: config.cnxTimeoutMs,
      logger: deps.log,
      onConfigHeard: (qv) => this.configs.activate(qv),
    });
    if (this.configs.lastSeen !== this.configs.committed) this.election.configChanged(this.configs.committed, this.configs.lastSeen);
    this.configs.onSeen(() => this.election.configChanged(this.configs.committed, this.configs.lastSeen));
    this.configs.onActivate((prev, next) => {
      deps.server.setQuorumConfig(next.toString(), next.version, true);
      this.election.configChanged(this.configs.committed, this.configs.lastSeen);
      const before = prev.members.get(this.mySid)?.clientAddress;
      const after = next.members.get(this.mySid)?.clientAddress;
      if (after !== undefined && (before === undefined || before.host !== after.host || before.port !== after.port)) {
        const host = after.host === '0.0.0.0' ? undefined : after.host;
        void deps.server.reconfigureClientAddress(host, after.port);
      }
    });
  }

  /** mntr's and the admin commands' quorum figures of this member. */
  status(): QuorumStatus {
    const zabState = this.leader?.zabState() ?? this.learner?.zabState() ?? 'election';
    const verifier = this.configs.committed;
    const me = verifier.members.get(this.mySid);
    if (me !== undefined) this.selfMember = me;
    const status: QuorumStatus = {
      peerState: `${this.role} - ${zabState}`,
      quorumSize: verifier.votingMembers.size,
      mySid: this.mySid,
      zabState,
      leaderSid: this.leaderSid,
      verifier,
      self: {
        electionPort: this.selfMember.electionPort,
        quorumPort: this.selfMember.quorumPort,
        // A member no configuration lists as an observer is a participant, voting or not.
        type: verifier.observingMembers.has(this.mySid) ? 'observer' : 'participant',
      },
    };
    if (this.leader) status.leader = this.leader.status();
    return status;
  }

  /** orst: the leader's observer connections start their counts again. */
  resetObserverStats(): void {
    this.leader?.resetObserverStats();
  }

  async start(): Promise<void> {
    this.deps.server.quorumStatus = () => this.status();
    this.deps.server.resetObserverStats = () => this.resetObserverStats();
    this.deps.server.setRoleProblem('no leader yet (LOOKING)');
    await this.election.start();
    this.running = this.loop();
    this.running.catch((e) => {
      this.log.fatal({ err: (e as Error).message }, 'the quorum peer cannot go on');
      this.deps.server.setRoleProblem(`the quorum peer stopped: ${(e as Error).message}`);
      this.deps.onFatal?.(e as Error);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.deps.server.stopReadOnly();
    this.learner?.stop();
    this.leader?.stop();
    await this.election.close();
    this.storeWatcher?.close();
    await this.running?.catch(() => undefined);
  }

  private async loop(): Promise<void> {
    const { server, config } = this.deps;
    let designated: bigint | undefined;
    while (!this.stopped) {
      server.metrics.lookingCount++;
      const electionStartMs = monotonicNowMs();
      this.role = 'looking';
      this.leaderSid = undefined;
      server.serverState = 'looking';
      const lastZxid = server.lastProcessedZxid;
      const epochNotes: EpochLoadNotes = { created: [] };
      const epochs = loadEpochs(config.dataDir, lastZxid, epochNotes);
      if (epochNotes.raisedToLog !== undefined) {
        this.log.warn(
          { was: epochNotes.raisedToLog.toString(), now: epochs.currentEpoch.toString() },
          "currentEpoch was older than the log (a crash at NEWLEADER before the epoch was written); raised to the log's epoch",
        );
      }
      let decision: { state: PeerState; vote: Vote };
      const direct = designated;
      designated = undefined;
      if (direct !== undefined) {
        const state = direct === this.mySid ? PeerState.LEADING : learnerRoleIn(this.configs.committed, this.mySid) === 'observer' ? PeerState.OBSERVING : PeerState.FOLLOWING;
        decision = { state, vote: { leader: direct, zxid: lastZxid, peerEpoch: epochs.currentEpoch } };
        this.log.info({ leader: direct.toString(), state }, 'taking the role the reconfig designated, without an election');
        this.election.takeRole(state, decision.vote);
      } else {
        const readOnlyTimer = this.readOnlyAfterGrace();
        try {
          decision = await this.election.lookForLeader(lastZxid, epochs.currentEpoch);
        } catch (e) {
          if (this.stopped) return;
          throw e;
        } finally {
          // The election is over: read-only clients go, before the role decides what the tree is.
          clearTimeout(readOnlyTimer);
          server.stopReadOnly();
        }
      }
      if (this.stopped) return;
      const leader = this.configs.committed.members.get(decision.vote.leader) ?? this.configs.lastSeen.members.get(decision.vote.leader);
      if (leader === undefined) {
        this.log.error({ leader: decision.vote.leader.toString() }, 'elected a leader that is not a member; electing again');
        continue;
      }
      // ZooKeeper records the election's duration when it leads or follows, not when it observes.
      if (decision.state !== PeerState.OBSERVING && direct === undefined) server.metrics.electionTime.observe(monotonicNowMs() - electionStartMs, Date.now());
      if (decision.state === PeerState.LEADING) {
        this.role = 'leading';
        this.leaderSid = this.mySid;
        server.serverState = 'leader';
        const shell = new LeaderShell({
          config,
          server,
          log: this.deps.log,
          mySid: this.mySid,
          me: leader,
          configs: this.configs,
          acceptedEpoch: epochs.acceptedEpoch,
          currentEpoch: epochs.currentEpoch,
          listenOnAllIPs: config.quorumListenOnAllIPs,
          auth: this.auth,
          sockets: this.sockets,
          failpoints: this.deps.failpoints,
          onServing: (epoch) => this.election.settled(PeerState.LEADING, { ...decision.vote, peerEpoch: epoch }),
        });
        this.leader = shell;
        const reason = await shell.run();
        this.leader = undefined;
        designated = shell.designatedLeader;
        await this.roleEnded(reason);
        continue;
      }
      this.role = decision.state === PeerState.OBSERVING ? 'observing' : 'following';
      this.leaderSid = leader.sid;
      server.serverState = this.role === 'observing' ? 'observer' : 'follower';
      const learner = new LearnerShell({
        config,
        server,
        log: this.deps.log,
        mySid: this.mySid,
        role: this.role === 'observing' ? 'observer' : 'follower',
        leader,
        acceptedEpoch: epochs.acceptedEpoch,
        currentEpoch: epochs.currentEpoch,
        configs: this.configs,
        reopenDatabase: (received) => this.deps.openDatabase(received),
        auth: this.auth,
        sockets: this.sockets,
        failpoints: this.deps.failpoints,
        onServing: (epoch) => this.election.settled(decision.state, { ...decision.vote, peerEpoch: epoch }),
      });
      this.learner = learner;
      const reason = await learner.run();
      this.learner = undefined;
      designated = learner.designatedLeader;
      await this.roleEnded(reason);
    }
  }

  /**
   * With read-only mode enabled, the server serves read-only clients once this election has gone
   * on for the grace period (ZooKeeper waits max(2 s, tickTime) before it decides it is
   * partitioned); the timer is cleared when the election ends.
   */
  private readOnlyAfterGrace(): NodeJS.Timeout | undefined {
    const { config, server } = this.deps;
    if (!config.readOnlyModeEnabled) return undefined;
    const timer = setTimeout(() => {
      if (!this.stopped && this.role === 'looking') server.startReadOnly();
    }, readOnlyGraceMs(config.tickTimeMs));
    timer.unref();
    return timer;
  }

  /**
   * What the role left in memory may be ahead of or behind the disk: the next election votes with
   * the log as it is.
   */
  private async roleEnded(reason: string): Promise<void> {
    this.log.info({ reason }, 'role ended');
    if (this.stopped) return;
    // LOOKING from here, as ZooKeeper's peer is once its role ends: a peer's vote that arrives
    // while the database is put back is kept for the search below rather than answered and lost.
    this.election.roleEnded();
    const server = this.deps.server;
    server.setRoleProblem(`no leader: ${reason}`);
    const db = server.db;
    await db.close();
    // Reading the disk again (a snapshot and every txn logged after it) is needed only when memory
    // and disk differ; otherwise the tree in memory is what it would rebuild, and the survivors of
    // a leader's loss elect without replaying their logs first.
    const same = db.sameAsDisk?.();
    server.replaceDatabase(await this.deps.openDatabase(same));
  }
}
