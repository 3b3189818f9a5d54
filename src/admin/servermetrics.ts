/**
 * The counters and summaries behind mntr and /metrics that ZooKeeper keeps in ServerMetrics, for
 * the parts zkts has a counterpart of. One object per server; the hot path only bumps integers,
 * summaries are fed per fsync, snapshot, watch trigger or start.
 */
import { EventType } from '../protocol/constants';
import { LatencyRecorder } from './metricslatency';

/** What recovery measured, in ms (counts for txnsLoaded). */
export interface StartupTimes {
  dbInitMs: number;
  snapLoadMs: number;
  txnsLoaded: number;
  txnsLoadMs: number;
}

/** A WatcherEvent frame: length, ReplyHeader (xid, zxid, err), type, state, then the path string. */
const WATCH_FRAME_FIXED_BYTES = 4 + 16 + 4 + 4 + 4;
/** Learners with a summary of their own; ensembles are far smaller. */
const MAX_LEARNER_KEYS = 256;

export class ServerMetrics {
  /** Handshakes received (connection_request_count). */
  connectionRequests = 0;
  /** TLS handshakes in progress on the client port (outstanding_tls_handshake). */
  outstandingTlsHandshakes = 0;
  /** TLS handshakes that failed or timed out, a refused client certificate included (unsuccessful_handshake; auth_failed_count counts them too). */
  unsuccessfulHandshakes = 0;
  /** Sockets closed for zookeeper.netty.server.outstandingHandshake.limit (tls_handshake_exceeded). */
  tlsHandshakeExceeded = 0;
  /** Plaintext connections on the AdminServer's unified port (insecure_admin_count). */
  insecureAdminConnections = 0;
  /** Connections accepted without TLS from loopback / other addresses, as ZooKeeper's Netty factory counts them (non_mtls_*_conn_count). */
  nonMtlsLocalConns = 0;
  nonMtlsRemoteConns = 0;
  /** Connections refused at accept: maxClientCnxns, maxCnxns, the descriptor reserve, accept errors (connection_rejected). */
  connectionRejected = 0;
  /** Of those, refused to keep the descriptor reserve free (zkts). */
  descriptorReserveRefused = 0;
  /** Of those, accepts that failed in the kernel, EMFILE and the like (zkts). */
  acceptErrors = 0;
  /** Connections closed for not sending a ConnectRequest in time (sessionless_connections_expired). */
  sessionlessExpired = 0;
  /** Connections the client side ended (connection_drop_count). */
  connectionDrops = 0;
  /** Txns after which the tree's digest was not the one the txn carried (digest_mismatches_count). */
  digestMismatches = 0;
  /** Attempts to reopen an existing session (connection_revalidate_count). */
  connectionRevalidates = 0;
  /** Sessions that timed out (stale_sessions_expired). */
  staleSessionsExpired = 0;
  /** Queued requests of connections that closed before they ran (stale_requests, stale_requests_dropped). */
  staleRequests = 0;
  /** Requests entering the pipeline (prep_processor_request_queued, sync_processor_request_queued). */
  requestsQueued = 0;
  /** Prep's change records added and dropped (outstanding_changes_queued/_removed); Prep counts them. */
  changeCounts: () => { queued: number; removed: number } = () => ({ queued: 0, removed: 0 });
  /** Times a connection stopped being read because of the outstanding limits (request_throttle_wait_count). */
  throttleWaits = 0;
  /** The AdminServer's snapshot and restore commands refused by their rate limit, or failed (ZooKeeper 3.9). */
  snapshotRateLimited = 0;
  snapshotErrors = 0;
  restoreRateLimited = 0;
  restoreErrors = 0;
  /** Bytes of watch notifications sent (watch_bytes). */
  watchBytes = 0;
  /** Times a connection stopped being read because its client did not take its replies (zkts). */
  outputPauses = 0;
  /** Connections closed for passing the hard bound on pending output (zkts). */
  outputOverflowCloses = 0;
  /** The txn log failed; nothing more is made durable (unrecoverable_error_count). */
  unrecoverableErrors = 0;
  /** Writes never applied because the storage failed; each closed its connection (zkts). */
  writesAbandoned = 0;
  /** Ensemble members. Times this member entered an election (looking_count). */
  lookingCount = 0;
  /** Proposals this leader made, one per txn (proposal_count). */
  proposals = 0;
  /** Txns this leader committed, one per zxid (commit_count). */
  commits = 0;
  /** PROPOSALs a follower received while serving (learner_proposal_received_count). */
  learnerProposalsReceived = 0;
  /** COMMITs a follower, INFORMs an observer received while serving (learner_commit_received_count). */
  learnerCommitsReceived = 0;
  /** Learners this leader synced by DIFF or TRUNC (diff_count) and by SNAP (snap_count). */
  diffSyncs = 0;
  snapSyncs = 0;
  /** REVALIDATEs this leader received from its learners (revalidate_count). */
  revalidates = 0;

  readonly fsyncTime: LatencyRecorder;
  readonly batchSize: LatencyRecorder;
  readonly syncQueueSize: LatencyRecorder;
  readonly syncFlushTime: LatencyRecorder;
  readonly snapshotTime: LatencyRecorder;
  readonly dbInitTime: LatencyRecorder;
  readonly startupSnapLoadTime: LatencyRecorder;
  readonly startupTxnsLoaded: LatencyRecorder;
  readonly startupTxnsLoadTime: LatencyRecorder;
  readonly nodeCreatedWatch: LatencyRecorder;
  readonly nodeDeletedWatch: LatencyRecorder;
  readonly nodeChangedWatch: LatencyRecorder;
  readonly nodeChildrenWatch: LatencyRecorder;
  readonly electionTime: LatencyRecorder;
  readonly followerSyncTime: LatencyRecorder;
  readonly observerSyncTime: LatencyRecorder;
  readonly quorumAckLatency: LatencyRecorder;
  readonly proposalLatency: LatencyRecorder;
  readonly commitPropagationLatency: LatencyRecorder;
  /** Milliseconds a restore over the AdminServer took, from the received snapshot to serving it (restore_time). */
  readonly restoreTime: LatencyRecorder;
  /**
   * ZooKeeper's summary sets learner_handler_qp_size and learner_handler_qp_time_ms, keyed by the
   * learner's sid. Bounded by the members of the configuration (a sid outside it is not recorded).
   */
  readonly learnerQueueSize = new Map<string, LatencyRecorder>();
  readonly learnerQueueTime = new Map<string, LatencyRecorder>();
  private readonly summaries: ReadonlyMap<string, LatencyRecorder>;

  constructor(
    startedAtMs: number,
    private readonly now: () => number = Date.now,
  ) {
    const r = () => new LatencyRecorder(startedAtMs);
    this.summaries = new Map([
      ['fsynctime', (this.fsyncTime = r())],
      ['sync_processor_batch_size', (this.batchSize = r())],
      ['sync_processor_queue_size', (this.syncQueueSize = r())],
      ['sync_processor_queue_flush_time_ms', (this.syncFlushTime = r())],
      ['snapshottime', (this.snapshotTime = r())],
      ['dbinittime', (this.dbInitTime = r())],
      ['startup_snap_load_time', (this.startupSnapLoadTime = r())],
      ['startup_txns_loaded', (this.startupTxnsLoaded = r())],
      ['startup_txns_load_time', (this.startupTxnsLoadTime = r())],
      ['node_created_watch_count', (this.nodeCreatedWatch = r())],
      ['node_deleted_watch_count', (this.nodeDeletedWatch = r())],
      ['node_changed_watch_count', (this.nodeChangedWatch = r())],
      ['node_children_watch_count', (this.nodeChildrenWatch = r())],
      ['election_time', (this.electionTime = r())],
      ['follower_sync_time', (this.followerSyncTime = r())],
      ['observer_sync_time', (this.observerSyncTime = r())],
      ['quorum_ack_latency', (this.quorumAckLatency = r())],
      ['proposal_latency', (this.proposalLatency = r())],
      ['commit_propagation_latency', (this.commitPropagationLatency = r())],
      ['restore_time', (this.restoreTime = r())],
    ]);
  }

  /** The recorder behind a summary of this name, if zkts keeps one. */
  summary(name: string): LatencyRecorder | undefined {
    return this.summaries.get(name);
  }

  /** mntr's counters fed here, by key. */
  counters(): Record<string, number> {
    const changes = this.changeCounts();
    return {
      connection_request_count: this.connectionRequests,
      connection_rejected: this.connectionRejected,
      unsuccessful_handshake: this.unsuccessfulHandshakes,
      tls_handshake_exceeded: this.tlsHandshakeExceeded,
      outstanding_tls_handshake: this.outstandingTlsHandshakes,
      non_mtls_local_conn_count: this.nonMtlsLocalConns,
      non_mtls_remote_conn_count: this.nonMtlsRemoteConns,
      insecure_admin_count: this.insecureAdminConnections,
      connection_drop_count: this.connectionDrops,
      sessionless_connections_expired: this.sessionlessExpired,
      connection_revalidate_count: this.connectionRevalidates,
      digest_mismatches_count: this.digestMismatches,
      stale_sessions_expired: this.staleSessionsExpired,
      stale_requests: this.staleRequests,
      stale_requests_dropped: this.staleRequests,
      prep_processor_request_queued: this.requestsQueued,
      sync_processor_request_queued: this.requestsQueued,
      outstanding_changes_queued: changes.queued,
      outstanding_changes_removed: changes.removed,
      request_throttle_wait_count: this.throttleWaits,
      watch_bytes: this.watchBytes,
      unrecoverable_error_count: this.unrecoverableErrors,
      looking_count: this.lookingCount,
      proposal_count: this.proposals,
      commit_count: this.commits,
      learner_proposal_received_count: this.learnerProposalsReceived,
      learner_commit_received_count: this.learnerCommitsReceived,
      diff_count: this.diffSyncs,
      snap_count: this.snapSyncs,
      revalidate_count: this.revalidates,
      snapshot_rate_limited_count: this.snapshotRateLimited,
      snapshot_error_count: this.snapshotErrors,
      restore_rate_limited_count: this.restoreRateLimited,
      restore_error_count: this.restoreErrors,
    };
  }

  /**
   * Leader to learner `sid`: a packet written with `queuedPackets` still queued behind it, or a
   * queue wait of `waitedMs` sampled (learner_handler_qp_size, learner_handler_qp_time_ms).
   */
  learnerPacketSent(sid: string, queuedPackets: number | undefined, waitedMs: number | undefined): void {
    const t = this.now();
    if (queuedPackets !== undefined) this.learnerSummary(this.learnerQueueSize, sid)?.observe(queuedPackets, t);
    if (waitedMs !== undefined) this.learnerSummary(this.learnerQueueTime, sid)?.observe(Math.max(0, Math.floor(waitedMs)), t);
  }

  private learnerSummary(set: Map<string, LatencyRecorder>, sid: string): LatencyRecorder | undefined {
    let r = set.get(sid);
    if (r === undefined) {
      if (set.size >= MAX_LEARNER_KEYS) return undefined;
      set.set(sid, (r = new LatencyRecorder(this.now())));
    }
    return r;
  }

  /** One fsync of the txn log (LogCommitStage): the txns it covered, what was queued, and times in ms. */
  flushed(txns: number, queued: number, fsyncMs: number, flushMs: number): void {
    const t = this.now();
    this.fsyncTime.observe(Math.floor(fsyncMs), t);
    this.batchSize.observe(txns, t);
    this.syncQueueSize.observe(queued, t);
    this.syncFlushTime.observe(Math.floor(flushMs), t);
  }

  /** A snapshot written to disk, in ms. */
  snapshotTaken(ms: number): void {
    this.snapshotTime.observe(Math.floor(ms), this.now());
  }

  started(s: StartupTimes): void {
    const t = this.now();
    this.dbInitTime.observe(Math.floor(s.dbInitMs), t);
    this.startupSnapLoadTime.observe(Math.floor(s.snapLoadMs), t);
    this.startupTxnsLoaded.observe(s.txnsLoaded, t);
    this.startupTxnsLoadTime.observe(Math.floor(s.txnsLoadMs), t);
  }

  /** An event delivered to `watchers` watchers (WatchManager), as ZooKeeper counts per trigger. */
  triggered(type: number, watchers: number, pathBytes: number): void {
    const t = this.now();
    if (type === EventType.NodeCreated) this.nodeCreatedWatch.observe(watchers, t);
    else if (type === EventType.NodeDeleted) this.nodeDeletedWatch.observe(watchers, t);
    else if (type === EventType.NodeDataChanged) this.nodeChangedWatch.observe(watchers, t);
    else if (type === EventType.NodeChildrenChanged) this.nodeChildrenWatch.observe(watchers, t);
    this.watchBytes += watchers * (WATCH_FRAME_FIXED_BYTES + pathBytes);
  }
}
