/**
 * The ZooKeeper server: accepts connections, runs the handshake, and moves each request through
 * the pipeline: per-session order -> prep -> commit stage -> tree.apply -> watches -> reply.
 * Standalone is this pipeline with a commit stage of one.
 */
import * as net from 'node:net';
import type { Logger } from 'pino';
import { createModeFromFlag, Err, EventType, OpCode, OpName } from '../protocol/constants';
import { JuteError, JuteReader } from '../protocol/jute';
import * as R from '../protocol/generated/records';
import { decodeConnectRequest, decodeRequestBody, encodeMultiResponse, KNOWN_TYPES, type MultiOp, NullPathInMultiError, WRITE_TYPES } from '../protocol/requests';
import type { DataTree, TxnResult } from '../storage/datatree';
import { CONFIG_PATH } from '../storage/paths';
import type { Txn, TxnBody } from '../storage/txn';
import { FourLetterWords } from '../admin/fourletter';
import { LatencyRecorder } from '../admin/metricslatency';
import { ServerMetrics } from '../admin/servermetrics';
import { AcceptLimits, RateLimitedLog } from './acceptlimits';
import { TlsAcceptor } from './tlsacceptor';
import { StoreWatcher } from '../tls/storewatch';
import { addIdentities, AuthRegistry } from './auth';
import { Hold, ServerCnxn, type CnxnHandler, type OutputLimits, type Request } from './cnxn';
import { LogCommitStage, type CommitStage } from './commit';
import { SaslError } from './sasl/mechanism';
import { MemoryDatabase, type Database, type ReceivedTree } from '../storage/database';
import { DiskDatabase } from '../storage/diskdb';
import type { ServerConfig } from './config';
import { containerCandidates } from './containers';
import { Prep, type ReconfigPrepContext, type WriteOp, type WriteRequest } from './prep';
import { ReadProcessor, type ReadReply } from './reads';
import { writeReply } from './replies';
import { LOCAL_OWNER, SessionTracker, type Session, type SessionCheckRules, type SessionOwner } from './sessions';
import { WatchManager } from './watches';
import { FanoutNotifier } from './fanout';
import { DIGEST_VERSION } from '../storage/digest';
import { zxidHex } from '../storage/zxid';
import { ForwardedWrites } from './forwarded';
import { sessionPassword } from './sessions';
import { NOT_READ_ONLY_OPS } from './readonly';
import type { QuorumVerifier } from '../quorum/verifier';

/** Per connection: queued plus in-flight requests before we stop reading from its socket. */
const MAX_OUTSTANDING_PER_CNXN = 1000;
/** SASL tokens one connection may send: real exchanges take 2 (DIGEST-MD5) or a few (GSSAPI). */
const MAX_SASL_STEPS = 32;
/** The body of a multi with a null path in an op (NullPathInMultiError). */
const NULL_PATH_MULTI = Symbol('null path in a multi op');
/** Standalone servers form session ids with server id 1, as ZooKeeper does. */
const STANDALONE_SERVER_ID = 1;
const SUPER_IDS: R.Id[] = [{ scheme: 'super', id: '' }];
/** DataTree.DIGEST_LOG_INTERVAL / DIGEST_LOG_LIMIT: a digest every 128 zxids, the last 1024 kept. */
const DIGEST_LOG_INTERVAL = 128n;
const DIGEST_LOG_LIMIT = 1024;
/** The exit code ZooKeeper ends with on an unrecoverable txn log error (10). */
export const STORAGE_FAILURE_EXIT_CODE = 10;

/** One entry of the digest history (the `hash` command). */
export interface ZxidDigest {
  zxid: bigint;
  digestVersion: number;
  digest: bigint;
}

/** The counters `srst` sets back to zero, at their starting values. */
export function resettableStats() {
  return {
    packetsReceived: 0,
    packetsSent: 0,
    minLatencyMs: Number.MAX_SAFE_INTEGER,
    maxLatencyMs: 0,
    totalLatencyMs: 0,
    latencyCount: 0,
    bytesReceived: 0,
    authFailed: 0,
  };
}

export interface ServerStats {
  packetsReceived: number;
  packetsSent: number;
  minLatencyMs: number;
  maxLatencyMs: number;
  totalLatencyMs: number;
  latencyCount: number;
  startedAtMs: number;
  /** Bytes read from client sockets (mntr's bytes_received_count). */
  bytesReceived: number;
  /** Auth packets refused (mntr's auth_failed_count). */
  authFailed: number;
  /** Top-level path segments read or written by clients: mntr's per-namespace keys. */
  readNamespaces: Set<string>;
  writeNamespaces: Set<string>;
}

interface WriteOrigin {
  cnxn?: ServerCnxn;
  xid: number;
  type: number;
  sessionId: bigint;
  ids: readonly R.Id[];
  receivedAtMs: number;
  /** Where the request came from, for the session owner check; the server's own writes have none. */
  owner?: SessionOwner;
}

/**
 * How a learner's server reaches its leader; the quorum's learner implements it. Writes go to the
 * leader as they came from the client and come back as committed txns (`learnerCommitted`).
 */
export interface LeaderLink {
  /** A client's write (ZooKeeper's REQUEST): op and body as the client sent them, and its ids. */
  forwardRequest(sessionId: bigint, cxid: number, type: number, body: Buffer, ids: readonly R.Id[] | null): void;
  /** Whether the leader knows a session reconnecting here as alive (REVALIDATE); it then owns it here. */
  revalidate(sessionId: bigint, timeoutMs: number): Promise<boolean>;
}

/** A write a learner forwarded, until the leader commits its txn (or the link is lost). */
interface PendingForward {
  sessionId: bigint;
  cxid: number;
  done: (result: TxnResult | undefined, zxid: bigint) => void;
  abandoned: () => void;
}

/** The last counter a leader gives in an epoch (ZooKeeper stops at 0xffffffff). */
const ZXID_COUNTER_LIMIT = 0xfffffffen;
/** A learner connection as the leader sees it (the observers command's fields). */
export interface LearnerHandlerStatus {
  sid: bigint;
  /** "participant" or "observer". */
  learnerType: string;
  /** The learner's address as Java prints an InetSocketAddress ("/127.0.0.1:40312"). */
  remoteAddress: string;
  establishedAtMs: number;
  /** Bytes written to the learner and not yet taken by the kernel. */
  queuedBytes: number;
  packetsReceived: number;
  packetsSent: number;
  /** REQUEST packets (forwarded writes and syncs) the learner sent. */
  requests: number;
  /** The newest zxid sent to the learner (-1 before any, and after orst). */
  lastZxid: bigint;
  /** The same, never reset: how far the learner was brought. */
  sentZxid: bigint;
  /** The newest zxid the learner acknowledged (-1 before any; observers acknowledge only NEWLEADER). */
  lastAckedZxid: bigint;
  /** Heard from within syncLimit and in broadcast (ZooKeeper's synced()). */
  synced: boolean;
}

/** What mntr and the admin commands show of an ensemble member, with ZooKeeper's meanings. */
export interface QuorumStatus {
  /** "leading - broadcast", "following - synchronization", "observing - discovery", or "looking - election". */
  peerState: string;
  /** Voting members of the configuration. */
  quorumSize: number;
  mySid: bigint;
  /** ZooKeeper's ZabState, lower case: election, discovery, synchronization, broadcast. */
  zabState: 'election' | 'discovery' | 'synchronization' | 'broadcast';
  /** The leader of the current role, while there is one. */
  leaderSid?: bigint;
  /** The configuration: every member, the version, ZooKeeper's string of it. */
  verifier: QuorumVerifier;
  /**
   * This member's own addresses and learner type (as its last configuration holding it gave
   * them): a member a reconfig removed still reports them, as ZooKeeper's peer does.
   */
  self?: { electionPort: number; quorumPort: number; type: 'participant' | 'observer' };
  leader?: {
    /** Learner connections past their LearnerInfo. */
    handlers: LearnerHandlerStatus[];
    learners: number;
    syncedFollowers: number;
    syncedNonVotingFollowers: number;
    syncedObservers: number;
    pendingSyncs: number;
    leaderUptimeMs: number;
    /** Bytes of the last, smallest and largest proposal (-1 before the first). */
    lastProposalSize: number;
    minProposalSize: number;
    maxProposalSize: number;
  };
}

const X509_AUTH_PROVIDER = 'org.apache.zookeeper.server.auth.X509AuthenticationProvider';

/** A loopback address, as Java's InetAddress.isLoopbackAddress() says (127.0.0.0/8, ::1). */
function isLoopback(ip: string): boolean {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  return v4.startsWith('127.') || ip === '::1';
}

/** Writes a learner may have at the leader at once; past it, clients are not read. */
const MAX_FORWARDED_WRITES = 10_000;

export class ZooKeeperServer implements CnxnHandler {
  tree: DataTree;
  readonly watches = new WatchManager();
  /** The watch manager's two-thread writer, closed with the server. */
  private fanout: FanoutNotifier | undefined;
  readonly auth: AuthRegistry;
  sessions: SessionTracker;
  reads: ReadProcessor;
  readonly fourLetterWords: FourLetterWords;
  private prep: Prep;
  private commit: CommitStage;
  readonly cnxns = new Set<ServerCnxn>();
  private readonly cnxnsPerIp = new Map<string, number>();
  private readonly cnxnBySession = new Map<bigint, ServerCnxn>();
  private readonly paused = new Set<ServerCnxn>();
  private listener: net.Server | undefined;
  private acceptLimits: AcceptLimits | undefined;
  /** secureClientPort's listener, and the TLS of it and of a unified clientPort. */
  private secureListener: net.Server | undefined;
  private secureAcceptLimits: AcceptLimits | undefined;
  private readonly tlsAcceptor: TlsAcceptor | undefined;
  private tlsStoreWatcher: StoreWatcher | undefined;
  /** Refusals for maxClientCnxns: one address can open connections faster than they can be logged. */
  private readonly perIpRefusalLog: RateLimitedLog;
  /** Expiries of connections without a session, logged at most once a second. */
  private readonly sessionlessLog: RateLimitedLog;
  readonly sessionlessCnxnTimeoutMs: number;
  private timers: NodeJS.Timeout[] = [];
  private expiryTimer: NodeJS.Timeout | undefined;
  /** The zxid handed to the newest prepared txn. */
  private lastProposedZxid = 0n;
  outstanding = 0;
  readonly stats: ServerStats;
  /** Request latencies split as ZooKeeper's readlatency/updatelatency: a write is a request with a txn. */
  readonly readLatency: LatencyRecorder;
  readonly updateLatency: LatencyRecorder;
  /** ZooKeeper's ServerMetrics counters and summaries that zkts has a counterpart of. */
  readonly metrics: ServerMetrics;
  /** The tree digest after every txn whose zxid is a multiple of 128, oldest first, bounded. */
  readonly digestLog: ZxidDigest[] = [];
  readonly maxFrameBytes: number;
  readonly outputLimits: OutputLimits;

  db: Database;
  /**
   * Opens the database again over a tree this process holds, already durable as a snapshot (see
   * DiskDatabase.adopt): what a restore needs. Undefined when the server keeps nothing on disk.
   */
  reopenDatabase: ((received: ReceivedTree) => Promise<Database>) | undefined;
  /** Set while a restore replaces the database: the server makes no txn of its own meanwhile. */
  private restoring = false;
  /** An ensemble member's figures for mntr (set by its quorum peer); undefined when standalone. */
  quorumStatus: (() => QuorumStatus) | undefined;
  /** Set by a serving quorum leader: what prep decides a reconfig with. */
  reconfigContext: (() => ReconfigPrepContext | undefined) | undefined;

  /** The configuration a reconfig prepared here decided, when `text` is its string (Prep.decidedConfiguration). */
  decidedConfiguration(text: string): QuorumVerifier | undefined {
    return this.prep.decidedConfiguration(text);
  }
  /** orst on an ensemble's leader: its observers' connection counts start again (set by the quorum peer). */
  resetObserverStats: (() => void) | undefined;
  /**
   * What srvr's Mode and mntr's server_state say: standalone, the quorum role being served, or
   * read-only (`startReadOnly`).
   */
  serverState: 'standalone' | 'leader' | 'follower' | 'observer' | 'looking' | 'read-only' = 'standalone';
  /**
   * The sessions of read-only clients, while this member serves them without a quorum
   * (`startReadOnly`); they are local to this server and never become txns.
   */
  private readOnlySessions: SessionTracker | undefined;
  /** Set while this server is a learner: its writes go to the leader. */
  private leaderLink: LeaderLink | undefined;
  private readonly forwarded = new ForwardedWrites<PendingForward>(MAX_FORWARDED_WRITES);
  /** A learner's sessions active since the last PING, with their timeouts (the leader touches them). */
  private touched = new Map<bigint, number>();
  /**
   * Ends the process after an unrecoverable storage error. Embedders and tests that must keep the
   * process replace it (the server then refuses every write).
   */
  onFatal: (exitCode: number) => void = (exitCode) => process.exit(exitCode);

  constructor(
    readonly config: ServerConfig,
    readonly log: Logger,
    /** Intervals: session expiry, latencies (a monotonic clock in the process: server/clock.ts). */
    private readonly now: () => number = Date.now,
    db?: Database,
    /** Wall time stamped into txns (mtime, ctime, TTL and container ages); `now` unless given. */
    private readonly wallNow: () => number = now,
  ) {
    this.maxFrameBytes = config.juteMaxBufferBytes;
    this.sessionlessCnxnTimeoutMs = config.sessionlessCnxnTimeoutMs;
    this.perIpRefusalLog = new RateLimitedLog(log);
    this.sessionlessLog = new RateLimitedLog(log);
    this.outputLimits = { softBytes: config.outputSoftLimitBytes, hardBytes: config.outputHardLimitBytes };
    this.db = db ?? new MemoryDatabase(config.extendedTypesEnabled);
    this.auth = new AuthRegistry(
      config.superDigest,
      config.skipACL,
      config.saslAuthProvider ? { letAnySaslUserDoX: config.letAnySaslUserDoX } : undefined,
      config.authProviders.includes(X509_AUTH_PROVIDER) ? { superUser: config.x509SuperUser } : undefined,
    );
    this.tree = this.db.tree;
    this.commit = this.db.commit;
    this.sessions = this.newSessionTracker();
    this.reads = new ReadProcessor(this.tree, this.watches, this.auth);
    this.prep = this.newPrep();
    this.useDatabase(this.db);
    this.fourLetterWords = new FourLetterWords(this);
    this.stats = { ...resettableStats(), startedAtMs: now(), readNamespaces: new Set(), writeNamespaces: new Set() };
    this.readLatency = new LatencyRecorder(this.stats.startedAtMs);
    this.updateLatency = new LatencyRecorder(this.stats.startedAtMs);
    this.metrics = new ServerMetrics(this.stats.startedAtMs, now);
    if (config.clientTls) {
      this.tlsAcceptor = new TlsAcceptor({
        tls: config.clientTls,
        counters: this.metrics,
        log: this.log,
        outstandingHandshakeLimit: config.outstandingHandshakeLimit,
        ...(config.x509SuperUser !== undefined ? { superUser: config.x509SuperUser } : {}),
        detectTimeoutMs: config.sessionlessCnxnTimeoutMs,
      });
    }
    this.watches.metrics = this.metrics;
    if (config.parallelFanoutMinWatchers > 0) {
      this.watches.bulk = this.fanout = new FanoutNotifier(config.parallelFanoutMinWatchers, (e) =>
        // Not fatal: every notification is then written by the main thread, as with one core.
        this.log.error({ err: e.message }, 'the fan-out writer thread failed; notifications are written by the main thread alone'),
      );
    }
    this.metrics.changeCounts = () => ({ queued: this.prep.changesQueued, removed: this.prep.changesRemoved });
    if (this.commit instanceof LogCommitStage) this.commit.metrics = this.metrics;
    if (this.db instanceof DiskDatabase) {
      const st = this.db.startup;
      this.metrics.started(st);
      // The start snapshot is usually still being written; it reports through onSnapshot.
      if (st.snapshotMs > 0) this.metrics.snapshotTaken(st.snapshotMs);
      this.db.onSnapshot = (ms) => this.metrics.snapshotTaken(ms);
    }
  }

  private newSessionTracker(): SessionTracker {
    const serverId = this.config.distributed ? (this.config.serverId ?? STANDALONE_SERVER_ID) : STANDALONE_SERVER_ID;
    return new SessionTracker(this.config.tickTimeMs, serverId, this.now());
  }

  private newPrep(): Prep {
    return new Prep(this.tree, this.auth, {
      extendedTypesEnabled: this.config.extendedTypesEnabled,
      reconfigEnabled: this.config.reconfigEnabled,
      enforceQuota: this.config.enforceQuota,
      digestEnabled: this.config.digestEnabled,
      reconfigContext: () => this.reconfigContext?.(),
    });
  }

  /** An ensemble member's quorum config, written into /zookeeper/config of every database it loads. */
  private quorumConfig: { text: string; version: bigint } | undefined;

  /**
   * Sets /zookeeper/config now and in every database loaded later (the quorum peer calls it).
   * `activated`: a configuration became committed while serving; the node's watchers hear a
   * NodeDataChanged, as ZooKeeper's initConfigInZKDatabase triggers them.
   */
  setQuorumConfig(text: string, version: bigint, activated = false): void {
    this.quorumConfig = { text, version };
    this.tree.setQuorumConfig(text, version, BigInt(this.wallNow()));
    if (activated) {
      const acl = this.tree.getNode(CONFIG_PATH)?.acl ?? [];
      this.watches.trigger([{ type: EventType.NodeDataChanged, path: CONFIG_PATH, acl }]);
    }
  }

  /** Takes the database's tree, commit stage and sessions as the ones this server serves from. */
  private useDatabase(db: Database): void {
    this.db = db;
    this.tree = db.tree;
    if (this.quorumConfig) this.tree.setQuorumConfig(this.quorumConfig.text, this.quorumConfig.version, BigInt(this.wallNow()));
    this.commit = db.commit;
    this.lastProposedZxid = this.tree.lastProcessedZxid;
    this.tree.onQuotaExceeded = (message) => this.log.warn(message);
    // Sessions open at the last stop live on; they expire unless their clients come back in time.
    for (const [id, timeoutMs] of db.sessions) this.sessions.add(id, timeoutMs, this.now());
  }

  /**
   * Serves from another database from now on: a learner's after its leader sent a whole snapshot
   * (SNAP) or truncated its log (TRUNC). Only while the role keeps the server from serving (no
   * client is connected then); the prep, the reads and the session table start afresh over it.
   * The old database is the caller's to close.
   */
  replaceDatabase(db: Database): void {
    if (this.roleProblem === undefined) throw new Error('replaceDatabase: the server is serving clients');
    for (const w of this.forwarded.drain()) w.abandoned();
    this.touched.clear();
    this.digestLog.length = 0;
    this.tree = db.tree;
    this.sessions = this.newSessionTracker();
    this.reads = new ReadProcessor(this.tree, this.watches, this.auth);
    this.prep = this.newPrep();
    this.metrics.changeCounts = () => ({ queued: this.prep.changesQueued, removed: this.prep.changesRemoved });
    this.useDatabase(db);
    if (this.commit instanceof LogCommitStage) this.commit.metrics = this.metrics;
  }

  /**
   * A standalone server stops serving for a restore (its clients are disconnected and it makes no
   * txn of its own), and resolves once every txn submitted before is committed.
   */
  beginRestore(): Promise<void> {
    if (this.restoring) return Promise.reject(new Error('a restore is already running'));
    this.restoring = true;
    this.setRoleProblem('restoring the database from a snapshot');
    return new Promise((resolve, reject) => this.commit.barrier(resolve, () => reject(this.commit.failure ?? new Error('the txns before the restore were not committed'))));
  }

  /** Serves again after a restore, from the database it installed with replaceDatabase, or the old one. */
  endRestore(): void {
    this.restoring = false;
    this.setRoleProblem(undefined);
  }

  /** Whether a restore is replacing the database now. */
  get restoreRunning(): boolean {
    return this.restoring;
  }

  /**
   * Why the server cannot take writes now, or undefined when it can: the storage failed (the
   * process is about to end) or is waiting for a file it cannot open yet. Health answers use it.
   */
  get storageProblem(): Error | undefined {
    return this.commit.failure ?? this.commit.stalled;
  }

  /**
   * Why the server does not serve clients now, or undefined when it does: its storage (above), or
   * its quorum role (no leader yet, syncing with one). Every health answer says it, and while it
   * is set new client connections are closed once they ask for a session, as ZooKeeper does when
   * no server is running behind its listener.
   */
  get notServing(): Error | undefined {
    return this.storageProblem ?? this.roleProblem;
  }

  private roleProblem: Error | undefined;

  /** Why the quorum role keeps this server from serving (set by `setRoleProblem`), or undefined. */
  get quorumRoleProblem(): Error | undefined {
    return this.roleProblem;
  }

  /**
   * Sets or clears why the quorum role keeps this server from serving (LOOKING, syncing). Setting
   * it closes the clients' connections: ZooKeeper drops them when a server leaves its role, and
   * they reconnect to a member that serves.
   */
  setRoleProblem(reason: string | undefined): void {
    this.roleProblem = reason === undefined ? undefined : new Error(reason);
    if (reason === undefined) return;
    for (const c of [...this.cnxns]) if (c.state !== 'handshake') c.close();
    // Local sessions end with the role they were made under, as ZooKeeper makes a new tracker.
    for (const s of [...this.sessions.all()]) if (s.local) this.sessions.remove(s.id);
  }

  get lastProcessedZxid(): bigint {
    return this.tree.lastProcessedZxid;
  }

  /** Whether this member serves read-only clients now (ZooKeeper's ReadOnlyZooKeeperServer is running). */
  get readOnly(): boolean {
    return this.readOnlySessions !== undefined;
  }

  /**
   * Read-only mode: while the quorum role keeps the server from serving (a member looking for a
   * leader), clients that ask for read-only get a session local to this server, reads from the
   * tree as it is, and NOTREADONLY for every change. Its Mode is read-only until `stopReadOnly`.
   */
  startReadOnly(): void {
    if (this.roleProblem === undefined) throw new Error('startReadOnly: the server is serving clients');
    if (this.readOnlySessions) return;
    const serverId = this.config.serverId ?? STANDALONE_SERVER_ID;
    this.readOnlySessions = new SessionTracker(this.config.tickTimeMs, serverId, this.now());
    this.serverState = 'read-only';
    this.log.info({ zxid: '0x' + this.lastProcessedZxid.toString(16) }, 'serving read-only clients');
  }

  /**
   * Ends read-only mode (the member found a leader, or stops): its sessions end with it and every
   * client connection is closed, so that read-only clients go and find a server with a quorum.
   */
  stopReadOnly(): void {
    if (!this.readOnlySessions) return;
    this.readOnlySessions = undefined;
    if (this.serverState === 'read-only') this.serverState = 'looking';
    for (const c of [...this.cnxns]) if (c.state !== 'handshake') c.close();
    this.log.info('read-only mode ended');
  }

  /**
   * Whether this server makes txns of its own (session expiry, container cleanup): standalone, or
   * the established leader of an ensemble. A learner's leader does it, and a member without a
   * leader must not write anything to its log.
   */
  private get makesOwnTxns(): boolean {
    if (this.leaderLink || this.restoring) return false;
    return !this.config.distributed || this.leaderEpoch !== undefined;
  }

  async start(): Promise<void> {
    // The TLS port first: a server whose plaintext port answers is taken as started, so every
    // port must be bound by then. With only secureClientPort set there is no plaintext port, as
    // in ZooKeeper.
    if (this.config.secureClientPort !== undefined) await this.listenForSecureClients(this.config.secureClientPortAddress, this.config.secureClientPort);
    const acceptor = this.tlsAcceptor;
    if (acceptor) this.tlsStoreWatcher = new StoreWatcher(acceptor.settings.settings, (next) => acceptor.reload(next), this.log);
    if (this.config.clientPort !== undefined || this.config.secureClientPort === undefined) {
      await this.listenForClients(this.config.clientPortAddress, this.config.clientPort ?? 2181);
    }
    this.scheduleExpiry();
    this.timers.push(setInterval(() => this.checkContainers(), this.config.containerCheckIntervalMs));
    for (const t of this.timers) t.unref();
    this.log.info({ address: this.listener!.address() }, 'serving clients');
  }

  /** Opens a client listener on host:port; `secure`: every connection is TLS (secureClientPort). */
  private async openListener(host: string | undefined, port: number, secure: boolean): Promise<{ listener: net.Server; limits: AcceptLimits }> {
    const mode = secure ? 'secure' : this.config.clientPortUnification && this.tlsAcceptor ? 'unified' : 'plain';
    // Set once the listener listens (see setListenerNoDelay): its accepted sockets come with TCP_NODELAY.
    let noDelayInherited = false;
    const listener = net.createServer((socket) => this.accept(socket, mode, noDelayInherited));
    const limits = new AcceptLimits(listener, this.config.maxCnxns, this.config.descriptorReserve, this.metrics, this.log);
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen({ port, host, backlog: this.config.clientPortListenBacklog > 0 ? this.config.clientPortListenBacklog : undefined }, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    // Linux gives every accepted socket the listener's TCP_NODELAY: set once here, it saves a
    // setsockopt per connection (about 4 us of the main thread's time per connect).
    noDelayInherited = setListenerNoDelay(listener);
    listener.on('error', (err: NodeJS.ErrnoException) => {
      // A failed accept (EMFILE, ...) leaves the listener listening.
      if (err.syscall === 'accept') limits.acceptFailed(err);
      else this.log.error({ err: err.message }, 'client listener error');
    });
    await limits.start();
    return { listener, limits };
  }

  /** Opens the client listener on host:port and makes it the one clients connect to. */
  private async listenForClients(host: string | undefined, port: number): Promise<void> {
    const { listener, limits } = await this.openListener(host, port, false);
    this.listener = listener;
    this.acceptLimits = limits;
  }

  private async listenForSecureClients(host: string | undefined, port: number): Promise<void> {
    const { listener, limits } = await this.openListener(host, port, true);
    this.secureListener = listener;
    this.secureAcceptLimits = limits;
    this.log.info({ address: listener.address() }, 'serving TLS clients');
  }

  /** secureClientPort's bound address, when it is open. */
  secureAddress(): net.AddressInfo | undefined {
    return (this.secureListener?.address() as net.AddressInfo | null) ?? undefined;
  }

  /**
   * A reconfig gave this member another client address: clients connect there from now on, the
   * old listener closes, connected clients stay (ZooKeeper's ServerCnxnFactory.reconfigure). When
   * the new address cannot be bound the old listener stays, and the failure is logged.
   */
  async reconfigureClientAddress(host: string | undefined, port: number): Promise<void> {
    const old = this.listener;
    const oldLimits = this.acceptLimits;
    if (old === undefined) return;
    try {
      await this.listenForClients(host, port);
    } catch (e) {
      this.log.error({ host, port, err: (e as Error).message }, 'cannot bind the client address of the new configuration; the old one stays');
      return;
    }
    oldLimits?.stop();
    old.close();
    this.log.info({ address: this.listener!.address() }, 'client address changed by a reconfig; serving clients there');
  }

  /** The plaintext client port's bound address (secureClientPort's when there is no plaintext port). */
  address(): net.AddressInfo {
    return (this.listener ?? this.secureListener)!.address() as net.AddressInfo;
  }

  /** Client connections the listener lets in now (-1: no limit). */
  get clientSocketsAllowed(): number {
    const n = this.acceptLimits?.allowed ?? Infinity;
    return Number.isFinite(n) ? n : -1;
  }

  async stop(): Promise<void> {
    this.acceptLimits?.stop();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    for (const c of [...this.cnxns]) c.close();
    this.secureAcceptLimits?.stop();
    this.tlsStoreWatcher?.close();
    for (const l of [this.listener, this.secureListener]) if (l) await new Promise<void>((resolve) => l.close(() => resolve()));
    this.listener = undefined;
    this.secureListener = undefined;
    this.fanout?.close();
    await this.db.close();
  }

  /**
   * A new socket: refused before anything is made for it when a limit says so; on a secure or
   * unified port it becomes a connection once its TLS handshake passed.
   */
  private accept(socket: net.Socket, mode: 'plain' | 'secure' | 'unified', noDelayInherited: boolean): void {
    const limits = mode === 'secure' ? this.secureAcceptLimits : this.acceptLimits;
    if (limits && !limits.admit(socket)) return;
    const ip = socket.remoteAddress ?? '';
    const count = this.cnxnsPerIp.get(ip) ?? 0;
    if (this.config.maxClientCnxns > 0 && count >= this.config.maxClientCnxns) {
      this.perIpRefusalLog.note({ ip, max: this.config.maxClientCnxns }, 'too many connections from this address; closing');
      this.metrics.connectionRejected++;
      socket.destroy();
      return;
    }
    this.cnxnsPerIp.set(ip, count + 1);
    // ZooKeeper's Netty factory counts every connection without an SslHandler (a unified port's too).
    if (this.config.nettyCnxnFactory && mode !== 'secure') {
      if (isLoopback(ip)) this.metrics.nonMtlsLocalConns++;
      else this.metrics.nonMtlsRemoteConns++;
    }
    const open = (s: net.Socket, ids: R.Id[]): void => {
      const c = new ServerCnxn(s, this, this.log, { noDelayInherited });
      if (ids.length > 0) addIdentities(c.ids, ids);
      this.cnxns.add(c);
    };
    const failed = (): void => this.releaseIp(ip);
    if (mode === 'secure') this.tlsAcceptor!.secure(socket, open, failed);
    else if (mode === 'unified') this.tlsAcceptor!.sniff(socket, (s) => open(s, []), open, failed);
    else open(socket, []);
  }

  private releaseIp(ip: string): void {
    const n = (this.cnxnsPerIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.cnxnsPerIp.delete(ip);
    else this.cnxnsPerIp.set(ip, n);
  }

  // --- CnxnHandler -----------------------------------------------------------------------------

  isFourLetterWord(word: string): boolean {
    return this.fourLetterWords.isCommand(word);
  }

  onFourLetterWord(c: ServerCnxn, word: string, rest?: Buffer): void {
    c.sendRaw(this.fourLetterWords.run(word, rest));
    c.close();
  }

  canRead(c: ServerCnxn, acl: R.ACL[]): boolean {
    return this.auth.hasPermission(acl, 1, c.ids);
  }

  onClose(c: ServerCnxn): void {
    if (!this.cnxns.delete(c)) return;
    // Closed from the client's side (the socket is gone before we closed it): ZooKeeper's failed read.
    if (c.socket.destroyed) this.metrics.connectionDrops++;
    this.metrics.staleRequests += c.queue.length;
    this.releaseIp(c.socket.remoteAddress ?? '');
    this.watches.removeWatcher(c);
    if (c.session && this.cnxnBySession.get(c.session.id) === c) this.cnxnBySession.delete(c.session.id);
    this.outstanding -= c.queue.length;
    c.queue.length = 0;
    this.paused.delete(c);
    this.resumePaused();
  }

  onSessionlessExpired(c: ServerCnxn): void {
    this.metrics.sessionlessExpired++;
    this.sessionlessLog.note(
      { remote: `${c.remoteAddress}:${c.remotePort}`, timeoutMs: this.sessionlessCnxnTimeoutMs },
      'closing a connection that sent no ConnectRequest in time',
    );
  }

  onOutputPaused(): void {
    this.metrics.outputPauses++;
  }

  onOutputOverflow(): void {
    this.metrics.outputOverflowCloses++;
  }

  onConnect(c: ServerCnxn, frame: Buffer): void {
    const req = decodeConnectRequest(new JuteReader(frame));
    c.oldClient = req.oldClient;
    this.metrics.connectionRequests++;
    if (this.roleProblem && !this.readOnlySessions) {
      this.log.info({ reason: this.roleProblem.message }, 'closing a new connection: the server is not serving');
      c.close();
      return;
    }
    if (this.readOnlySessions && !req.readOnly) {
      // A client that did not ask for read-only (or is too old to say) looks for another server.
      this.log.info({ remote: `${c.remoteAddress}:${c.remotePort}` }, 'refusing session request for a client that is not read-only: serving read-only');
      c.close();
      return;
    }
    if (req.lastZxidSeen > this.lastProcessedZxid) {
      this.log.info(
        { sessionId: req.sessionId.toString(16), clientZxid: req.lastZxidSeen.toString(16), serverZxid: this.lastProcessedZxid.toString(16) },
        'refusing session request: the client has seen a newer zxid than this server',
      );
      c.close();
      return;
    }
    const timeoutMs = Math.min(Math.max(req.timeOut, this.config.minSessionTimeoutMs), this.config.maxSessionTimeoutMs);
    c.state = 'open';
    if (this.readOnlySessions) return this.connectReadOnly(c, this.readOnlySessions, req.sessionId, req.passwd, timeoutMs);
    if (req.sessionId === 0n && this.localSessionsEnabled) return this.createLocalSession(c, timeoutMs);
    if (req.sessionId === 0n && this.commit.failure) {
      // A new session is a txn, and nothing can be made durable any more.
      this.log.warn({ reason: this.commit.failure.message }, 'new session refused: storage has failed');
      c.close();
      return;
    }
    if (req.sessionId === 0n) {
      const id = this.sessions.newSessionId();
      const session = this.sessions.add(id, timeoutMs, this.now());
      this.attach(c, session);
      this.beginWrite(c);
      if (this.leaderLink) {
        // A learner makes the id (its sid in the top byte) and the leader commits the session.
        const body = Buffer.alloc(4);
        body.writeInt32BE(timeoutMs);
        this.forward(id, 0, OpCode.createSession, body, null, (result) => {
          if (result === undefined || result.err !== Err.OK) return this.abandonWrite(c, false);
          c.sendConnectResponse({ protocolVersion: 0, timeOut: timeoutMs, sessionId: id, passwd: sessionPassword(session.id), readOnly: false });
          this.writeDone(c);
        }, () => this.abandonWrite(c, false));
        return;
      }
      this.sessions.setOwner(id, LOCAL_OWNER);
      this.submitWrite(
        { cnxn: c, xid: 0, type: OpCode.createSession, sessionId: id, ids: c.ids, receivedAtMs: this.now() },
        { type: OpCode.createSession, record: { timeOut: timeoutMs } },
        () => {
          c.sendConnectResponse({ protocolVersion: 0, timeOut: timeoutMs, sessionId: id, passwd: sessionPassword(session.id), readOnly: false });
          this.writeDone(c);
        },
        () => this.abandonWrite(c, false),
      );
      return;
    }
    this.metrics.connectionRevalidates++;
    // Any attempt to reopen a session drops the connection that holds it, before the password
    // is checked, as ZooKeeper does; its owner reconnects.
    const holder = this.cnxnBySession.get(req.sessionId);
    if (holder && holder !== c) {
      this.log.info({ sessionId: holder.hexSessionId() }, 'closing the connection of a session being reopened');
      this.cnxnBySession.delete(req.sessionId);
      holder.close();
    }
    if (this.leaderLink) return this.revalidateAtLeader(c, req.sessionId, req.passwd, timeoutMs);
    const session = this.sessions.get(req.sessionId);
    const valid = session !== undefined && !session.closing && req.passwd !== null && sessionPassword(session.id).equals(req.passwd);
    if (!valid) {
      c.sendConnectResponse({ protocolVersion: 0, timeOut: 0, sessionId: 0n, passwd: Buffer.alloc(16), readOnly: false });
      c.close();
      return;
    }
    session.timeoutMs = timeoutMs;
    this.sessions.touch(session, this.now());
    // Reopened here: a leader's own connections own it now, until a learner revalidates it.
    this.sessions.setOwner(session.id, LOCAL_OWNER);
    this.attach(c, session);
    c.sendConnectResponse({ protocolVersion: 0, timeOut: timeoutMs, sessionId: session.id, passwd: sessionPassword(session.id), readOnly: false });
  }

  /**
   * A learner checks the password itself (the same on every server), then asks the leader, which
   * owns the session table; an invalid session gets ZooKeeper's answer for an expired one.
   */
  private revalidateAtLeader(c: ServerCnxn, sessionId: bigint, passwd: Buffer | null, timeoutMs: number): void {
    const expired = () => {
      c.sendConnectResponse({ protocolVersion: 0, timeOut: 0, sessionId: 0n, passwd: Buffer.alloc(16), readOnly: false });
      c.close();
    };
    if (passwd === null || !sessionPassword(sessionId).equals(passwd)) return expired();
    const here = this.sessions.get(sessionId);
    if (here?.local) {
      // A local session is this server's alone: valid here while it lives, unknown to the leader.
      if (here.closing) return expired();
      here.timeoutMs = timeoutMs;
      this.sessions.touch(here, this.now());
      this.attach(c, here);
      c.sendConnectResponse({ protocolVersion: 0, timeOut: timeoutMs, sessionId, passwd: sessionPassword(here.id), readOnly: false });
      return;
    }
    this.leaderLink!.revalidate(sessionId, timeoutMs).then(
      (valid) => {
        if (c.state !== 'open') return;
        if (!valid) return expired();
        const session = this.sessions.add(sessionId, timeoutMs, this.now());
        this.attach(c, session);
        this.touched.set(sessionId, timeoutMs);
        c.sendConnectResponse({ protocolVersion: 0, timeOut: timeoutMs, sessionId, passwd: sessionPassword(session.id), readOnly: false });
      },
      () => c.close(),
    );
  }

  /**
   * A read-only client's session: a new one local to this server, or one of this read-only
   * period again. A global session is refused (its owner is the quorum, which this server cannot
   * reach) by closing the connection, as ZooKeeper does; any other id gets the expired answer.
   */
  private connectReadOnly(c: ServerCnxn, tracker: SessionTracker, sessionId: bigint, passwd: Buffer | null, timeoutMs: number): void {
    if (sessionId === 0n) {
      let id = tracker.newSessionId();
      while (this.sessions.get(id) !== undefined) id = tracker.newSessionId();
      const session = tracker.add(id, timeoutMs, this.now());
      this.attach(c, session);
      c.sendConnectResponse({ protocolVersion: 0, timeOut: timeoutMs, sessionId: id, passwd: sessionPassword(session.id), readOnly: true });
      return;
    }
    this.metrics.connectionRevalidates++;
    if (this.sessions.get(sessionId) !== undefined) {
      this.log.info({ sessionId: '0x' + BigInt.asUintN(64, sessionId).toString(16) }, 'refusing global session reconnection in read-only mode');
      c.close();
      return;
    }
    const holder = this.cnxnBySession.get(sessionId);
    if (holder && holder !== c) {
      this.cnxnBySession.delete(sessionId);
      holder.close();
    }
    const session = tracker.get(sessionId);
    if (session === undefined || session.closing || passwd === null || !sessionPassword(session.id).equals(passwd)) {
      c.sendConnectResponse({ protocolVersion: 0, timeOut: 0, sessionId: 0n, passwd: Buffer.alloc(16), readOnly: true });
      c.close();
      return;
    }
    session.timeoutMs = timeoutMs;
    tracker.touch(session, this.now());
    this.attach(c, session);
    c.sendConnectResponse({ protocolVersion: 0, timeOut: timeoutMs, sessionId, passwd: sessionPassword(session.id), readOnly: true });
  }

  /**
   * Local sessions are on: localSessionsEnabled in an ensemble (a standalone ZooKeeper server does
   * not read the key, and its sessions stay global).
   */
  private get localSessionsEnabled(): boolean {
    return this.config.distributed && this.config.localSessionsEnabled;
  }

  private get sessionCheckRules(): SessionCheckRules {
    return { unknownIsExpired: this.config.distributed, localSessionsOf: this.localSessionsEnabled ? this.config.serverId : undefined };
  }

  /** A new local session: made and answered here, with no txn and nothing sent to the leader. */
  private createLocalSession(c: ServerCnxn, timeoutMs: number): void {
    const id = this.sessions.newSessionId();
    const session = this.sessions.add(id, timeoutMs, this.now(), true);
    if (!this.leaderLink) this.sessions.setOwner(id, LOCAL_OWNER);
    this.attach(c, session);
    c.sendConnectResponse({ protocolVersion: 0, timeOut: timeoutMs, sessionId: id, passwd: sessionPassword(session.id), readOnly: false });
  }

  /**
   * closeSession of a local session: no txn; it is answered with the last applied zxid, dropped
   * here, and its connection closed.
   */
  private closeLocalSession(c: ServerCnxn, req: Request): void {
    const zxid = this.lastProcessedZxid;
    this.sessions.remove(c.session!.id);
    c.sendReply(req.xid, zxid, Err.OK);
    this.finishRequest(c, req, zxid);
    this.writeDone(c);
    c.close();
  }

  /**
   * A local session about to create an ephemeral node, with localSessionsUpgradingEnabled: it
   * becomes global through a createSession txn with its own id (cxid 0), proposed before the
   * create, as ZooKeeper's learners and leader do.
   */
  private upgradeSession(c: ServerCnxn): void {
    const s = c.session!;
    this.log.info({ sessionId: c.hexSessionId() }, 'upgrading a local session to a global one');
    this.sessions.add(s.id, s.timeoutMs, this.now(), false);
    if (this.leaderLink) {
      const body = Buffer.alloc(4);
      body.writeInt32BE(s.timeoutMs);
      // Nobody waits for its commit: that of the create behind it answers the client.
      this.leaderLink.forwardRequest(s.id, 0, OpCode.createSession, body, null);
      return;
    }
    this.sessions.setOwner(s.id, LOCAL_OWNER);
    this.submitWrite(
      { xid: 0, type: OpCode.createSession, sessionId: s.id, ids: c.ids, receivedAtMs: this.now(), owner: LOCAL_OWNER },
      { type: OpCode.createSession, record: { timeOut: s.timeoutMs } },
      () => undefined,
    );
  }

  /** A session lives on one connection: a reconnect takes it over from the old one. */
  private attach(c: ServerCnxn, session: Session): void {
    const old = this.cnxnBySession.get(session.id);
    if (old && old !== c) {
      this.log.info({ sessionId: c.hexSessionId() }, 'session moved to a new connection; closing the old one');
      old.session = undefined;
      old.close();
    }
    c.session = session;
    this.cnxnBySession.set(session.id, c);
  }

  onRequest(c: ServerCnxn, frame: Buffer): void {
    const r = new JuteReader(frame);
    const hdr = R.decodeRequestHeader(r);
    const nowMs = this.now();
    if (c.session) {
      (this.readOnlySessions ?? this.sessions).touch(c.session, nowMs);
      // The leader hears of global sessions only; a local one lives and expires here.
      if (this.leaderLink && !c.session.local) this.touched.set(c.session.id, c.session.timeoutMs);
    }
    if (hdr.type === OpCode.auth) return this.handleAuth(c, hdr.xid, r);
    if (hdr.type === OpCode.sasl) return this.handleSasl(c, hdr.xid, r);
    if (this.config.enforceAuthSchemes.length > 0 && !c.ids.some((id) => this.config.enforceAuthSchemes.includes(id.scheme))) {
      // ZooKeeper's AuthenticationHelper: any other request of a connection without an id of a
      // required scheme is answered with this error, and the connection is closed.
      this.log.warn(
        { sessionId: c.hexSessionId(), schemes: c.ids.map((id) => id.scheme), required: this.config.enforceAuthSchemes },
        'client has not authenticated with a required scheme; closing',
      );
      c.sendReply(hdr.xid, 0n, Err.SESSIONCLOSEDREQUIRESASLAUTH);
      c.close();
      return;
    }
    let body: unknown;
    if (KNOWN_TYPES.has(hdr.type)) {
      try {
        body = decodeRequestBody(hdr.type, r);
      } catch (e) {
        if (!(e instanceof JuteError)) throw e;
        this.log.warn({ sessionId: c.hexSessionId(), type: OpName[hdr.type], reason: e.message }, 'cannot decode request');
        body = e instanceof NullPathInMultiError ? NULL_PATH_MULTI : undefined;
      }
    } else body = null;
    if (multiWithReads(hdr.type, body)) body = undefined;
    c.lastCxid = hdr.xid;
    // A multi with a null path never reaches a txn; a learner answers it after the session's writes, as a read.
    const isWrite =
      ((WRITE_TYPES.has(hdr.type) || hdr.type === OpCode.sync) && !(this.leaderLink && body === NULL_PATH_MULTI)) ||
      (this.readOnlySessions !== undefined && NOT_READ_ONLY_OPS.has(hdr.type));
    const req: Request = { xid: hdr.xid, type: hdr.type, body, isWrite, receivedAtMs: nowMs, writesBefore: c.writesSubmitted };
    if (isWrite && this.leaderLink) req.raw = frame.subarray(8);
    this.outstanding++;
    if (c.queue.length + c.inflightWrites + 1 > MAX_OUTSTANDING_PER_CNXN || this.outstanding > this.config.globalOutstandingLimit) {
      if (!this.paused.has(c)) this.metrics.throttleWaits++;
      c.hold(Hold.Outstanding);
      this.paused.add(c);
    }
    if (isWrite) {
      // A write never waits for a read before it: that read is answered when the writes before it
      // are applied, which the commit stage does in order, before this write is applied.
      this.beginWrite(c);
      this.processWrite(c, req);
    } else {
      c.queue.push(req);
      this.dispatch(c);
    }
  }

  private beginWrite(c: ServerCnxn): void {
    c.inflightWrites++;
    c.writesSubmitted++;
  }

  private handleAuth(c: ServerCnxn, xid: number, r: JuteReader): void {
    let pkt: R.AuthPacket;
    try {
      pkt = R.decodeAuthPacket(r);
    } catch {
      // An auth packet that does not decode closes the connection without an answer.
      this.log.warn({ sessionId: c.hexSessionId() }, 'cannot decode auth packet; closing');
      c.close();
      return;
    }
    const ids = this.auth.authenticate(pkt.scheme, pkt.auth, c.remoteIp);
    if (!ids) {
      this.log.warn({ sessionId: c.hexSessionId(), scheme: pkt.scheme }, 'authentication failed');
      this.stats.authFailed++;
      c.sendReply(xid, 0n, Err.AUTHFAILED);
      c.close();
      return;
    }
    addIdentities(c.ids, ids);
    c.sendReply(xid, 0n, Err.OK);
  }

  /**
   * One SASL token, answered at once as ZooKeeper's processSasl does (not queued behind the
   * session's writes). Without a SASL server the answer is OK with no token. A failed exchange
   * gets AUTHFAILED (SESSIONCLOSEDREQUIRESASLAUTH when SASL is required) and the connection is
   * closed, unless allowSaslFailedClients keeps it open with an OK, empty answer.
   */
  private handleSasl(c: ServerCnxn, xid: number, r: JuteReader): void {
    let token: Buffer | null;
    try {
      token = R.decodeGetSASLRequest(r).token;
    } catch {
      this.log.warn({ sessionId: c.hexSessionId() }, 'cannot decode SASL packet; closing');
      c.close();
      return;
    }
    if (token === null) {
      // ZooKeeper fails on a null token before it looks for a SASL server, and drops the connection.
      this.log.warn({ sessionId: c.hexSessionId() }, 'SASL packet without a token; closing');
      c.close();
      return;
    }
    // A client that goes round forever (a mechanism that never completes, or a SASL client of a
    // server without SASL, which ZooKeeper answers with no token every time) is stopped.
    if (++c.saslSteps > MAX_SASL_STEPS) {
      this.saslFailed(c, xid, `more than ${MAX_SASL_STEPS} SASL tokens on one connection`, true);
      return;
    }
    const factory = this.config.saslServer;
    if (factory === undefined) {
      c.sendReply(xid, 0n, Err.OK, (w) => R.encodeSetSASLResponse(w, { token: null }));
      return;
    }
    c.saslExchange ??= factory.newExchange();
    const exchange = c.saslExchange;
    let answer: Buffer | null = null;
    try {
      answer = exchange.evaluate(token);
      if (exchange.complete && !c.ids.some((id) => id.scheme === 'sasl')) {
        const authorizationId = exchange.authorizationId;
        const ids: R.Id[] = [{ scheme: 'sasl', id: authorizationId }];
        if (authorizationId !== '' && this.config.superUsers.includes(authorizationId)) ids.push({ scheme: 'super', id: '' });
        addIdentities(c.ids, ids);
        this.log.info({ sessionId: c.hexSessionId(), mechanism: exchange.mechanism, authorizationId }, 'SASL authentication succeeded');
      }
    } catch (e) {
      if (!(e instanceof SaslError)) {
        // Input the mechanism cannot even read: ZooKeeper drops the connection without an answer.
        this.log.warn({ sessionId: c.hexSessionId(), reason: (e as Error).message }, 'malformed SASL token; closing');
        c.close();
        return;
      }
      if (this.saslFailed(c, xid, e.message, false)) return;
      answer = null;
    }
    c.sendReply(xid, 0n, Err.OK, (w) => R.encodeSetSASLResponse(w, { token: answer }));
  }

  /**
   * A failed SASL exchange: AUTHFAILED (SESSIONCLOSEDREQUIRESASLAUTH when SASL is required) with no
   * token, and the connection closed; true when so. With allowSaslFailedClients (and SASL not
   * required) the connection stays, unless `always`.
   */
  private saslFailed(c: ServerCnxn, xid: number, reason: string, always: boolean): boolean {
    const required = this.config.enforceAuthSchemes.includes('sasl');
    this.log.warn({ sessionId: c.hexSessionId(), remote: c.remoteIp, reason }, 'client failed to SASL authenticate');
    if (this.config.allowSaslFailedClients && !required && !always) return false;
    c.sendReply(xid, 0n, required ? Err.SESSIONCLOSEDREQUIRESASLAUTH : Err.AUTHFAILED, (w) => R.encodeSetSASLResponse(w, { token: null }), true);
    c.close();
    return true;
  }

  /**
   * Answers a connection's waiting reads, in order, once the writes of its session that came
   * before each are applied. Called when a read arrives and when a write of the session completes,
   * so a read is answered before any later write of its session is applied.
   */
  private dispatch(c: ServerCnxn): void {
    const q = c.queue;
    while (q.length > 0 && c.state === 'open' && q[0].writesBefore <= c.writesCompleted) this.processRead(c, q.shift()!);
  }

  private finishRequest(c: ServerCnxn, req: Request, zxid: bigint): void {
    this.outstanding--;
    const nowMs = this.now();
    const latency = nowMs - req.receivedAtMs;
    (req.isWrite && req.type !== OpCode.sync ? this.updateLatency : this.readLatency).observe(latency, nowMs);
    c.lastOp = opShortName(req.type);
    c.lastZxid = zxid;
    c.lastLatencyMs = latency;
    c.minLatencyMs = Math.min(c.minLatencyMs, latency);
    c.maxLatencyMs = Math.max(c.maxLatencyMs, latency);
    c.totalLatencyMs += latency;
    c.latencyCount++;
    const s = this.stats;
    s.minLatencyMs = Math.min(s.minLatencyMs, latency);
    s.maxLatencyMs = Math.max(s.maxLatencyMs, latency);
    s.totalLatencyMs += latency;
    s.latencyCount++;
    if (this.paused.size > 0) this.resumePaused();
  }

  private resumePaused(): void {
    if (this.outstanding > this.config.globalOutstandingLimit) return;
    for (const c of [...this.paused]) {
      if (c.queue.length + c.inflightWrites <= MAX_OUTSTANDING_PER_CNXN) {
        this.paused.delete(c);
        // Reading goes on only if the connection's output does not hold it too.
        c.release(Hold.Outstanding);
      }
    }
  }

  private processRead(c: ServerCnxn, req: Request): void {
    if (this.movedAway(c)) return this.dropMoved(c, false);
    const zxid = this.lastProcessedZxid;
    this.metrics.requestsQueued++;
    if (!KNOWN_TYPES.has(req.type)) {
      // ZooKeeper answers an unknown op once and drops the connection.
      c.sendReply(req.xid, -1n, Err.UNIMPLEMENTED);
      c.close();
    } else if (req.body === undefined) {
      c.sendReply(req.xid, zxid, Err.MARSHALLINGERROR);
    } else if (req.body === NULL_PATH_MULTI || (req.type === OpCode.multiRead && (req.body as { type: number }[]).some((op) => op.type !== OpCode.getData && op.type !== OpCode.getChildren))) {
      // ZooKeeper answers this with an empty result list after the error header.
      c.sendReply(req.xid, zxid, Err.MARSHALLINGERROR, (w) => encodeMultiResponse(w, []), true);
    } else {
      const rsp = this.reads.process(c, req.type, req.body);
      c.sendReply(req.type === OpCode.ping ? -2 : req.xid, zxid, rsp.err, rsp.body);
      if (rsp.err === Err.OK && (req.type === OpCode.getData || req.type === OpCode.getChildren || req.type === OpCode.getChildren2))
        noteNamespace(this.stats.readNamespaces, (req.body as { path: string }).path);
    }
    this.finishRequest(c, req, zxid);
  }

  private writeDone(c: ServerCnxn): void {
    c.inflightWrites--;
    c.writesCompleted++;
    if (c.queue.length > 0) this.dispatch(c);
  }

  /**
   * A client's write (or sync) that will never be applied: it gives back what it holds (its
   * outstanding slot, its in-flight count, paused connections waiting on the slot), and its
   * connection is closed, as the client cannot know the outcome; its session lives on.
   * `counted`: the request took an outstanding slot (a createSession does not).
   */
  private abandonWrite(c: ServerCnxn, counted: boolean): void {
    if (counted) this.outstanding--;
    c.inflightWrites--;
    this.metrics.writesAbandoned++;
    c.close();
    if (this.paused.size > 0) this.resumePaused();
  }

  /**
   * Whether the session of this connection (of a leader or a standalone server) has moved to
   * another server: ZooKeeper's leader checks the owner of every request of its own clients, reads
   * and pings too; a session without an owner yet becomes this server's.
   */
  private movedAway(c: ServerCnxn): boolean {
    if (this.leaderLink || !c.session) return false;
    return this.sessions.checkSession(c.session.id, LOCAL_OWNER, this.sessionCheckRules) === Err.SESSIONMOVED;
  }

  /**
   * A committed reconfig's reply carries this server's committed configuration string, as
   * ZooKeeper's FinalRequestProcessor answers it (self.getQuorumVerifier()), not the txn's data:
   * a learner's configuration, parsed from the txn, may list the members in another order.
   */
  private reconfigReplyResult(type: number, result: TxnResult): TxnResult {
    if (type !== OpCode.reconfig || result.err !== Err.OK) return result;
    const verifier = this.quorumStatus?.().verifier;
    return verifier === undefined ? result : { ...result, data: Buffer.from(verifier.toString(), 'utf8') };
  }

  /**
   * A request of a session that moved to another server (SESSIONMOVED): not answered, and the
   * connection is closed, as ZooKeeper does so that the client goes to its session's new server.
   * `write`: the request holds a write slot (a write or sync) besides its outstanding one.
   */
  private dropMoved(c: ServerCnxn, write: boolean): void {
    this.log.info({ sessionId: c.hexSessionId() }, 'session moved to another server; closing its old connection');
    this.outstanding--;
    if (write) c.inflightWrites--;
    c.close();
    if (this.paused.size > 0) this.resumePaused();
  }

  private processWrite(c: ServerCnxn, req: Request): void {
    if (this.readOnlySessions) return this.refuseWriteReadOnly(c, req, this.readOnlySessions);
    if (this.leaderLink) return this.forwardWrite(c, req);
    if (this.commit.failure) {
      this.log.warn({ sessionId: c.hexSessionId(), reason: this.commit.failure.message }, 'write refused: storage has failed; closing');
      this.abandonWrite(c, true);
      return;
    }
    if (req.type === OpCode.sync && this.movedAway(c)) return this.dropMoved(c, true);
    if (c.session?.local) {
      if (req.type === OpCode.closeSession) return this.closeLocalSession(c, req);
      // Without upgrading, prep refuses the ephemeral create (EPHEMERALONLOCALSESSION).
      if (this.config.localSessionsUpgradingEnabled && createsEphemeral(req)) this.upgradeSession(c);
    }
    if (req.type === OpCode.sync || req.body === NULL_PATH_MULTI) {
      // Answered in order after the writes before it, without a txn of its own.
      this.metrics.requestsQueued++;
      this.commit.barrier(() => {
        const rsp: ReadReply =
          req.body === NULL_PATH_MULTI
            ? { err: Err.MARSHALLINGERROR, body: (w) => encodeMultiResponse(w, []) }
            : req.body === undefined
              ? { err: Err.MARSHALLINGERROR }
              : this.reads.process(c, req.type, req.body);
        c.sendReply(req.xid, this.lastProcessedZxid, rsp.err, rsp.body, req.body === NULL_PATH_MULTI);
        this.finishRequest(c, req, this.lastProcessedZxid);
        this.writeDone(c);
      }, () => this.abandonWrite(c, true));
      return;
    }
    const origin: WriteOrigin = { cnxn: c, xid: req.xid, type: req.type, sessionId: c.sessionId, ids: c.ids, receivedAtMs: req.receivedAtMs, owner: LOCAL_OWNER };
    const write = req.body === undefined ? undefined : ({ type: req.type, record: req.body } as WriteRequest);
    this.submitWrite(origin, write, (result, zxid) => {
      if (sessionMoved(result)) return this.dropMoved(c, true);
      const rsp = writeReply(req.type, this.reconfigReplyResult(req.type, result), multiOps(req));
      c.sendReply(req.xid, zxid, rsp.err, rsp.body);
      this.finishRequest(c, req, zxid);
      if (req.type === OpCode.closeSession) c.close();
      this.writeDone(c);
    }, () => this.abandonWrite(c, true));
  }

  /**
   * A change asked of a read-only server: NOTREADONLY with the last zxid and no body, answered in
   * the session's order. closeSession ends the local session without a txn and closes the connection.
   */
  private refuseWriteReadOnly(c: ServerCnxn, req: Request, tracker: SessionTracker): void {
    this.metrics.requestsQueued++;
    const zxid = this.lastProcessedZxid;
    if (req.type === OpCode.closeSession) {
      tracker.remove(c.sessionId);
      c.sendReply(req.xid, zxid, Err.OK);
      this.finishRequest(c, req, zxid);
      c.close();
    } else {
      c.sendReply(req.xid, zxid, Err.NOTREADONLY);
      this.finishRequest(c, req, zxid);
    }
    this.writeDone(c);
  }

  /** A learner's client write: to the leader as it came; answered when its txn commits here. */
  private forwardWrite(c: ServerCnxn, req: Request): void {
    // Without upgrading, an ephemeral create of a local session still goes to the leader, which
    // refuses it for a session it does not know (an error txn), and the client is told
    // EPHEMERALONLOCALSESSION; a multi answers with the leader's results.
    let refusal: number | undefined;
    if (c.session?.local) {
      if (req.type === OpCode.closeSession) return this.closeLocalSession(c, req);
      if (createsEphemeral(req)) {
        if (this.config.localSessionsUpgradingEnabled) this.upgradeSession(c);
        else if (req.type !== OpCode.multi) refusal = Err.EPHEMERALONLOCALSESSION;
      }
    }
    this.metrics.requestsQueued++;
    const done = (result: TxnResult | undefined, zxid: bigint) => {
      if (refusal !== undefined) {
        c.sendReply(req.xid, zxid, refusal);
        this.finishRequest(c, req, zxid);
      } else if (req.type === OpCode.sync) {
        const rsp = req.body === undefined ? { err: Err.MARSHALLINGERROR } : this.reads.process(c, req.type, req.body);
        c.sendReply(req.xid, this.lastProcessedZxid, rsp.err, rsp.body);
        this.finishRequest(c, req, this.lastProcessedZxid);
      } else {
        if (sessionMoved(result!)) return this.dropMoved(c, true);
        const rsp = writeReply(req.type, this.reconfigReplyResult(req.type, result!), multiOps(req));
        c.sendReply(req.xid, zxid, rsp.err, rsp.body);
        this.finishRequest(c, req, zxid);
        if (req.type === OpCode.closeSession) c.close();
      }
      this.writeDone(c);
    };
    this.forward(c.sessionId, req.xid, req.type, req.raw ?? Buffer.alloc(0), c.ids, done, () => this.abandonWrite(c, true));
  }

  private forward(
    sessionId: bigint,
    cxid: number,
    type: number,
    body: Buffer,
    ids: readonly R.Id[] | null,
    done: (result: TxnResult | undefined, zxid: bigint) => void,
    abandoned: () => void,
  ): void {
    const pending: PendingForward = { sessionId, cxid, done, abandoned };
    if (this.forwarded.full) {
      this.log.warn({ sessionId: '0x' + BigInt.asUintN(64, sessionId).toString(16), limit: this.forwarded.limit }, 'too many writes at the leader; refusing');
      return abandoned();
    }
    if (type === OpCode.sync) this.forwarded.addSync(pending);
    else this.forwarded.add(pending);
    this.leaderLink!.forwardRequest(sessionId, cxid, type, body, ids);
  }

  /**
   * Makes this server a learner of a leader (writes are forwarded through `link`), or, with
   * undefined, ends that: the writes still at the leader will never be answered here, so their
   * requests give back what they hold and their connections close (the clients reconnect).
   */
  setLeaderLink(link: LeaderLink | undefined): void {
    this.leaderLink = link;
    if (link === undefined) {
      for (const w of this.forwarded.drain()) w.abandoned();
      this.touched.clear();
    }
  }

  /** A txn the leader committed, in zxid order: applied, and the local request it answers answered. */
  learnerCommitted(txn: Txn): void {
    const match = this.forwarded.committed(txn.hdr.clientId, txn.hdr.cxid);
    if (match.kind === 'local') {
      if (match.skipped.length > 0) {
        // The leader committed a later write of this session than the oldest sent: the client
        // cannot be told what became of the earlier ones, so its connection goes.
        this.log.warn(
          { sessionId: '0x' + BigInt.asUintN(64, txn.hdr.clientId).toString(16), cxid: txn.hdr.cxid, skippedCxids: match.skipped.map((w) => w.cxid) },
          'the leader committed a later write of this session than its oldest forwarded one; closing its connection',
        );
        for (const w of match.skipped) w.abandoned();
      }
      const cnxn = this.cnxnBySession.get(txn.hdr.clientId);
      this.applyCommitted(txn, cnxn, (result) => match.write.done(result, txn.hdr.zxid));
      return;
    }
    this.applyCommitted(txn);
  }

  /** The leader's SYNC: every txn committed before it is applied here; the oldest sync is answered. */
  learnerSynced(): void {
    this.forwarded.syncDone()?.done(undefined, this.lastProcessedZxid);
  }

  /** A learner's sessions active since the last call, with their timeouts (PING's touch table). */
  takeTouchedSessions(): Map<bigint, number> {
    const t = this.touched;
    this.touched = new Map();
    return t;
  }

  /**
   * A write a learner forwarded (the leader's side of REQUEST): prepared, committed and applied
   * here like a local client's, under the session and identities the learner sent.
   */
  submitForwarded(sessionId: bigint, cxid: number, type: number, body: Buffer, ids: readonly R.Id[], owner?: SessionOwner): void {
    let write: WriteRequest | undefined;
    if (type === OpCode.createSession) {
      if (body.length < 4) write = undefined;
      else {
        const timeOut = body.readInt32BE(0);
        // The leader owns global sessions: tracked from now, as ZooKeeper's prep does.
        this.sessions.add(sessionId, timeOut, this.now());
        if (owner !== undefined) this.sessions.setOwner(sessionId, owner);
        write = { type: OpCode.createSession, record: { timeOut } } as WriteRequest;
      }
    } else if (type === OpCode.closeSession) {
      write = { type: OpCode.closeSession, record: null } as WriteRequest;
    } else if (type === OpCode.sync) {
      this.commit.barrier(() => this.onForwardedSync?.(sessionId, cxid), () => undefined);
      return;
    } else {
      try {
        const decoded = WRITE_TYPES.has(type) ? decodeRequestBody(type, new JuteReader(body)) : undefined;
        write = decoded === undefined || decoded === null || multiWithReads(type, decoded) ? undefined : ({ type, record: decoded } as WriteRequest);
      } catch (e) {
        if (!(e instanceof JuteError)) throw e;
        write = undefined;
      }
    }
    this.submitWrite({ xid: cxid, type, sessionId, ids, receivedAtMs: this.now(), owner }, write, () => undefined);
  }

  /**
   * As a leader, txns become durable through the quorum (`stage`); undefined goes back to the
   * database's own stage (the txn log). Only between txns: nothing may be pending in either.
   */
  setCommitStage(stage: CommitStage | undefined): void {
    if (this.commit.pending > 0) throw new Error('setCommitStage: txns are still pending');
    this.commit = stage ?? this.db.commit;
  }

  /** Set while this server leads: the epoch of the zxids it gives. */
  private leaderEpoch: bigint | undefined;
  /** Called when a leader's zxid counter is exhausted (the quorum then starts a new epoch). */
  onZxidExhausted: (() => void) | undefined;

  /**
   * As the leader of `epoch`, the txns this server prepares get zxids epoch << 32 | 1, 2, ...;
   * only a leader gives zxids in an ensemble. Undefined: no longer leading.
   */
  beginEpoch(epoch: bigint | undefined): void {
    this.leaderEpoch = epoch;
    // Owners name this leader's learner connections, which end with its role.
    if (epoch === undefined) return this.sessions.clearOwners();
    const first = epoch << 32n;
    if (first <= this.lastProposedZxid) throw new Error(`beginEpoch: epoch ${epoch} does not follow zxid 0x${this.lastProposedZxid.toString(16)}`);
    this.lastProposedZxid = first;
    // The established epoch is the leader's last processed zxid, as in ZooKeeper: a learner that
    // joins now gets a SNAP at epoch << 32 when it is behind the window.
    this.tree.lastProcessedZxid = first;
  }

  /** Where a leader answers a learner's sync, once every txn before it is committed (the quorum's SYNC). */
  onForwardedSync: ((sessionId: bigint, cxid: number) => void) | undefined;

  /**
   * A learner's REVALIDATE, at the leader: whether the session is alive (it is touched), and if so
   * its client is attached through that learner (`owner`) from now on.
   */
  revalidateForLearner(sessionId: bigint, timeoutMs: number, owner: SessionOwner): boolean {
    // The leader's own local sessions cannot move (a learner's are unknown here).
    if (this.sessions.get(sessionId)?.local) return false;
    return this.touchSession(sessionId, timeoutMs) && this.sessions.setOwner(sessionId, owner);
  }

  /** Touches a session a learner reports active (PING) ; false when it is not alive here. */
  touchSession(sessionId: bigint, timeoutMs: number): boolean {
    const s = this.sessions.get(sessionId);
    if (!s || s.closing) return false;
    s.timeoutMs = timeoutMs;
    return this.sessions.touch(s, this.now());
  }

  /**
   * A write that no client connection carries (the admin console's): the same way as a client's
   * write (prep with these identities, commit, apply, watches), under session 0, so that zxids,
   * ACL checks and watch events are exactly those of a client's write. Resolves once applied.
   */
  submitInternalWrite(write: WriteOp, ids: readonly R.Id[]): Promise<TxnResult> {
    if (this.commit.failure) return Promise.reject(this.commit.failure);
    // Only a server that makes its own txns may: a learner's or a read-only member's would be a
    // txn no leader proposed.
    if (!this.makesOwnTxns) return Promise.reject(new Error(this.readOnly ? 'the server is read-only (no quorum)' : 'this ensemble member is not the leader'));
    return new Promise((resolve, reject) => {
      this.submitWrite({ xid: 0, type: write.type, sessionId: 0n, ids, receivedAtMs: this.now() }, write, (result) => resolve(result), () =>
        reject(this.commit.failure ?? new Error('the write was not committed')),
      );
    });
  }

  /** Prepares, commits and applies one write; `undefined` stands for an undecodable body. */
  private submitWrite(
    origin: WriteOrigin,
    write: WriteRequest | undefined,
    onApplied: (r: TxnResult, zxid: bigint) => void,
    onAbandoned: () => void = () => undefined,
  ): void {
    if (this.leaderEpoch !== undefined && (this.lastProposedZxid & 0xffffffffn) >= ZXID_COUNTER_LIMIT) {
      // The counter would run into the epoch bits: ZooKeeper's leader gives up its role, and the
      // next election starts a new epoch. The write is refused like one the storage cannot take.
      this.log.warn({ zxid: '0x' + this.lastProposedZxid.toString(16) }, 'zxid counter exhausted; a new epoch is needed');
      this.onZxidExhausted?.();
      return onAbandoned();
    }
    const zxid = ++this.lastProposedZxid;
    const time = BigInt(this.wallNow());
    const m = this.metrics;
    m.requestsQueued++;
    let body: TxnBody;
    if (write === undefined) body = { type: OpCode.error, record: { err: Err.MARSHALLINGERROR } };
    else {
      const owner = origin.owner;
      // A leader does not know a session that has expired; standalone ZooKeeper calls it unknown.
      const rules = this.sessionCheckRules;
      const check = owner === undefined ? undefined : (ephemeral: boolean) => this.sessions.checkSession(origin.sessionId, owner, rules, ephemeral);
      body = this.prep.prepare(write, origin.sessionId, origin.ids, zxid, time, check);
    }
    if (body.type === OpCode.closeSession) this.sessions.setClosing(origin.sessionId);
    const txn: Txn = {
      hdr: { clientId: origin.sessionId, cxid: origin.xid, zxid, time, type: body.type === OpCode.error ? OpCode.error : origin.type },
      body,
    };
    if (this.config.digestEnabled) txn.digest = { version: DIGEST_VERSION, treeDigest: this.prep.lastTreeDigest };
    this.commit.submit(txn, () => {
      this.prep.applied(zxid);
      this.applyCommitted(txn, origin.cnxn, (result) => onApplied(result, zxid));
    }, onAbandoned);
  }

  /**
   * Applies one committed txn, whoever made it (this server's prep, or a leader's proposal on a
   * learner): the tree, the digest history, watches, the session table, then `reply` (the
   * requester's answer, before the database's bookkeeping), then the database's snapshot upkeep.
   * Every role applies txns here and nowhere else, in zxid order.
   */
  applyCommitted(txn: Txn, requester?: ServerCnxn, reply?: (result: TxnResult) => void): TxnResult {
    const zxid = txn.hdr.zxid;
    const { result, events } = this.tree.apply(txn);
    if (txn.digest !== undefined && this.config.digestEnabled) this.checkDigest(txn);
    if (zxid % DIGEST_LOG_INTERVAL === 0n) this.logDigest(zxid);
    this.watches.trigger(events);
    for (const e of events) if (e.type !== EventType.NodeChildrenChanged) noteNamespace(this.stats.writeNamespaces, e.path);
    const body = txn.body;
    // The session table follows the committed txns: a session another server created becomes known
    // here when its createSession commits (this server's own were added when the client asked).
    if (body.type === OpCode.createSession && this.sessions.get(txn.hdr.clientId) === undefined)
      this.sessions.add(txn.hdr.clientId, body.record.timeOut, this.now());
    else if (body.type === OpCode.closeSession) this.sessionClosed(txn.hdr.clientId, requester);
    reply?.(result);
    this.db.afterApply(txn, () => this.sessionTimeouts());
    return result;
  }

  /**
   * The tree after a txn against the digest its preparer worked out, as ZooKeeper compares them on
   * every server: a mismatch means this tree has diverged; it is counted (digest_mismatches_count)
   * and logged, and the server goes on, as ZooKeeper's does.
   */
  private checkDigest(txn: Txn): void {
    const d = txn.digest!;
    if (d.version !== DIGEST_VERSION) return;
    const ours = BigInt.asIntN(64, this.tree.digest.value);
    if (ours === d.treeDigest) return;
    this.metrics.digestMismatches++;
    this.log.error({ zxid: zxidHex(txn.hdr.zxid), type: txn.hdr.type, expected: d.treeDigest.toString(), actual: ours.toString() }, 'digest mismatch: the tree after this txn differs from the one it was prepared against');
  }

  private logDigest(zxid: bigint): void {
    this.digestLog.push({ zxid, digestVersion: DIGEST_VERSION, digest: BigInt.asIntN(64, this.tree.digest.value) });
    if (this.digestLog.length > DIGEST_LOG_LIMIT) this.digestLog.shift();
  }

  /** Live sessions and their timeouts, for snapshots. */
  sessionTimeouts(): Map<bigint, number> {
    const out = new Map<bigint, number>();
    for (const s of this.sessions.all()) if (!s.local) out.set(s.id, s.timeoutMs);
    return out;
  }

  /**
   * The commit stage cannot make txns durable any more (failed fsync, short write, full disk, a
   * file that stayed unopenable): what reached the disk is unknown, so the process ends (onFatal)
   * and its supervisor restarts it, which recovers what the disk really holds, as ZooKeeper exits
   * with code 10. Until onFatal ends it (in tests it does not), nothing more is acknowledged: the
   * commit stage abandons the waiting writes, which close their connections and give back their
   * counts, and later writes are refused the same way; reads go on.
   */
  storageFailed(err: Error): void {
    this.metrics.unrecoverableErrors++;
    const code = (err as NodeJS.ErrnoException).code;
    this.log.fatal({ err: err.message, code, exitCode: STORAGE_FAILURE_EXIT_CODE }, 'Severe unrecoverable error: cannot make txns durable; exiting');
    this.onFatal(STORAGE_FAILURE_EXIT_CODE);
  }

  private sessionClosed(sessionId: bigint, requester: ServerCnxn | undefined): void {
    this.sessions.remove(sessionId);
    const c = this.cnxnBySession.get(sessionId);
    if (c && c !== requester) c.close();
  }

  /**
   * Wakes when the next expiry bucket is due, as ZooKeeper's session tracker sleeps until its next
   * expiration time; a timer phased from the server's start would leave a bucket up to a tick late.
   * At most a tick ahead, so a clock that jumps is caught up with.
   */
  private scheduleExpiry(): void {
    const nextMs = (this.readOnlySessions ?? this.sessions).nextExpirationMs;
    const delayMs = Math.min(this.config.tickTimeMs, Math.max(1, nextMs - this.now()));
    this.expiryTimer = setTimeout(() => {
      if (!this.listener) return;
      this.expireSessions();
      this.scheduleExpiry();
    }, delayMs);
    this.expiryTimer.unref();
  }

  private expireSessions(): void {
    if (this.readOnlySessions) return this.expireReadOnlySessions(this.readOnlySessions);
    // The leader (or a standalone server) expires global sessions; a learner's local ones expire
    // where they live; without a leader nobody makes the txn a global session's expiry needs.
    const own = this.makesOwnTxns;
    if (!own && !(this.leaderLink !== undefined && this.localSessionsEnabled)) return;
    for (const s of this.sessions.expired(this.now(), (s) => own || s.local)) {
      this.log.info({ sessionId: '0x' + BigInt.asUintN(64, s.id).toString(16), timeoutMs: s.timeoutMs, local: s.local }, 'session expired');
      this.metrics.staleSessionsExpired++;
      if (s.local) {
        // No txn: the session is dropped and its connection closed.
        this.sessions.remove(s.id);
        this.cnxnBySession.get(s.id)?.close();
        continue;
      }
      this.submitWrite(
        { xid: 0, type: OpCode.closeSession, sessionId: s.id, ids: SUPER_IDS, receivedAtMs: this.now() },
        { type: OpCode.closeSession, record: null },
        () => undefined,
      );
    }
  }

  /** Read-only sessions expire here, without a txn: they were never anywhere else. */
  private expireReadOnlySessions(tracker: SessionTracker): void {
    for (const s of tracker.expired(this.now())) {
      this.log.info({ sessionId: '0x' + BigInt.asUintN(64, s.id).toString(16), timeoutMs: s.timeoutMs }, 'read-only session expired');
      this.metrics.staleSessionsExpired++;
      tracker.remove(s.id);
      this.cnxnBySession.get(s.id)?.close();
    }
  }

  private checkContainers(): void {
    if (!this.makesOwnTxns) return;
    const candidates = containerCandidates(this.tree, this.wallNow(), this.config.containerMaxNeverUsedIntervalMs);
    const budget = Math.max(1, Math.floor((this.config.containerMaxPerMinute * this.config.containerCheckIntervalMs) / 60000));
    for (const path of candidates.slice(0, budget)) {
      this.submitWrite(
        { xid: 0, type: OpCode.deleteContainer, sessionId: 0n, ids: SUPER_IDS, receivedAtMs: this.now() },
        { type: OpCode.deleteContainer, record: { path, version: -1 } },
        (r) => {
          if (r.err === Err.OK) this.log.debug({ path }, 'removed empty container or expired TTL node');
        },
      );
    }
  }
}

/** A create (or a multi holding one) that makes an ephemeral node: it needs a global session. */
function createsEphemeral(req: Request): boolean {
  const ephemeral = (op: { type: number; record?: unknown }) =>
    (op.type === OpCode.create || op.type === OpCode.create2) && createModeFromFlag((op.record as R.CreateRequest | undefined)?.flags ?? 0)?.ephemeral === true;
  if (req.type === OpCode.multi) return Array.isArray(req.body) && (req.body as Array<{ type: number; record?: unknown }>).some(ephemeral);
  return (req.type === OpCode.create || req.type === OpCode.create2) && req.body != null && ephemeral({ type: req.type, record: req.body });
}

/** A multi's decoded ops, which shape its results; undefined for any other request. */
function multiOps(req: Request): readonly MultiOp[] | undefined {
  return req.type === OpCode.multi && Array.isArray(req.body) ? (req.body as MultiOp[]) : undefined;
}

/** A write refused with SESSIONMOVED, alone or in a multi: the client is told by a closed connection. */
function sessionMoved(r: TxnResult): boolean {
  return r.err === Err.SESSIONMOVED || (r.multi?.some((m) => m.err === Err.SESSIONMOVED) ?? false);
}

/** A multi may name only write ops; read ops make it undecodable, as in ZooKeeper. */
function multiWithReads(type: number, body: unknown): boolean {
  return type === OpCode.multi && Array.isArray(body) && body.some((op: { type: number }) => op.type === OpCode.getData || op.type === OpCode.getChildren);
}

/** Bounded: a client touching many top-level paths must not grow the set without limit. */
const MAX_NAMESPACES = 1000;

function noteNamespace(set: Set<string>, path: string): void {
  const end = path.indexOf('/', 1);
  const ns = end < 0 ? path.slice(1) : path.slice(1, end);
  if (ns !== '' && set.size < MAX_NAMESPACES) set.add(ns);
}

function opShortName(type: number): string {
  return SHORT_NAMES[type] ?? 'NA';
}

/** The op abbreviations `cons` and `stat` print. */
const SHORT_NAMES: Record<number, string> = {
  [OpCode.create]: 'CREA',
  [OpCode.create2]: 'CREA',
  [OpCode.createContainer]: 'CREA',
  [OpCode.createTTL]: 'CREA',
  [OpCode.delete]: 'DELE',
  [OpCode.exists]: 'EXIS',
  [OpCode.getData]: 'GETD',
  [OpCode.setData]: 'SETD',
  [OpCode.getACL]: 'GACL',
  [OpCode.setACL]: 'SACL',
  [OpCode.getChildren]: 'GETC',
  [OpCode.getChildren2]: 'GETC',
  [OpCode.sync]: 'SYNC',
  [OpCode.ping]: 'PING',
  [OpCode.check]: 'CHEC',
  [OpCode.multi]: 'MULT',
  [OpCode.multiRead]: 'MLTR',
  [OpCode.reconfig]: 'RECO',
  [OpCode.checkWatches]: 'CHKW',
  [OpCode.removeWatches]: 'REMW',
  [OpCode.setWatches]: 'SETW',
  [OpCode.setWatches2]: 'STW2',
  [OpCode.getEphemerals]: 'GETE',
  [OpCode.getAllChildrenNumber]: 'GETACN',
  [OpCode.addWatch]: 'ADDW',
  [OpCode.whoAmI]: 'HOMI',
  [OpCode.closeSession]: 'CLOS',
};

/**
 * Sets TCP_NODELAY on a listening socket, where accepted sockets inherit it (Linux copies the
 * listener's option into each connection it accepts). False where it was not set or is not
 * inherited: each connection then sets it itself.
 */
function setListenerNoDelay(listener: net.Server): boolean {
  if (process.platform !== 'linux') return false;
  const handle = (listener as unknown as { _handle?: { setNoDelay?: (on: boolean) => number } })._handle;
  if (typeof handle?.setNoDelay !== 'function') return false;
  return handle.setNoDelay(true) === 0;
}
