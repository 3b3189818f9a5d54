/**
 * The election port's connection manager: one TCP connection per pair of servers, ZooKeeper 3.8's
 * QuorumCnxManager behaviour on Node sockets, and nothing of the election itself.
 *
 * API
 * ```ts
 * const peers = new ElectionPeers({
 *   mySid: 3n,
 *   listenAddress: { host: '127.0.0.1', port: 3523 },    // bound as given (listenOnAllIPs: the wildcard); or a list
 *   peers: new Map([[1n, { host: '127.0.0.1', port: 3521 }], ...]),  // sid -> election address, or all of them
 *   handshakeTimeoutMs: tickTimeMs * syncLimitTicks,
 *   logger,                                               // pino
 *   onNotification: ({ sid, notification }) => ...,     // in arrival order, asynchronously
 * });
 * const bound = await peers.start();                      // the listening address
 * peers.send(1n, { state, leader, zxid, electionEpoch, peerEpoch, config });  // to self: loopback
 * peers.connectAll();                                     // retry every sid that has a send queue
 * peers.haveDelivered();                                  // ZooKeeper's rule: some queue is empty
 * peers.poll();                                           // without onNotification: take the oldest
 * await peers.close();
 * ```
 * Options: `advertisedAddresses` (sent in the initial message; default the listen address),
 * `protocolVersion` (PROTOCOL_VERSION_V1, or _V2 for multi-address), `cnxTimeoutMs` (5000),
 * `sendStallTimeoutMs`, `reconnectBackoffMinMs`/`MaxMs`, `receiveQueueCapacity` (100),
 * `maxHandshakingConnections`, `maxLinks`, `timers` (an injected clock), and the callbacks
 * `onRejected(sid, error)` (a message that failed to decode; the link stays; for `unknown-state`
 * `error.partial` has the rest, since ZooKeeper still answers a non-voter in any state), `onLink(event)`
 * (a link up or down) and `onInitialMessage(message, remote)` (each handshake read).
 * `send` throws ElectionWireError when the config makes the frame exceed 524288 bytes.
 * `setPeers(map)` replaces the view; `disconnect(sid)` closes a link; `linkInfo(sid)` and
 * `connectedSids()` describe the links; `stats()` counts drops.
 *
 * Behaviour (ZooKeeper's, with the zkts bounds marked *):
 * - Several addresses (multiAddress): every listen address is bound (one that cannot be is logged
 *   and left out) and all are announced in a -65535 initial message. A connect to a sid with
 *   several addresses tries them in order, starting from the one that last gave a link, the next at
 *   once after a failed connect, and the one after an address that accepted but gave no link; when
 *   all fail the sid backs off. (ZooKeeper picks one address per attempt, a reachable one by an
 *   ICMP/echo check of the host; that checks the host, not the port, so zkts tries the port itself.)
 * - Connecting: `send(sid)` queues the message and connects if there is no link; `connectAll()`
 *   connects to every sid with a send queue. A connect that fails backs off (doubling from
 *   reconnectBackoffMinMs to reconnectBackoffMaxMs*); an ask during the backoff is kept for its end.
 *   An unknown sid is not connected to ("Invalid server id").
 * - Initial message: the initiator sends it first. Only the connection initiated by the larger sid
 *   survives: an initiator whose remote sid is larger closes after the initial message; an acceptor
 *   whose remote is smaller closes any link to it and connects back (to the address in the initial
 *   message if it had one, else to the view's); an acceptor whose remote is larger keeps the new
 *   connection, replacing an older link; a connection claiming my own sid is closed*.
 * - Sids not in the view are served as ZooKeeper serves them (the election answers non-voters):
 *   their connections are kept or connected back by the same rule. The sid Long.MAX_VALUE (an
 *   observer's OBSERVER_ID) gets a negative stand-in, -1, -2, ... A stranger's send queue and last
 *   message live only as long as its link*.
 * - Sending: a send queue of capacity 1 per sid; a newer message replaces an unsent one. One frame
 *   at a time is handed to the socket: the next waits until the socket took the previous, so a peer
 *   that stops reading holds at most one frame here; after sendStallTimeoutMs* without progress
 *   the link is closed. A new link first re-sends the last message sent to that sid when its
 *   queue is empty (duplicates are normal on this port).
 * - Receiving: frames of 1..524288 bytes (else the link closes); each payload is decoded as a
 *   notification; an undecodable one is dropped with a log line (the link stays). The receive
 *   queue holds 100; when full the oldest is dropped.
 * - Timeouts: connect cnxTimeoutMs; the initial message must arrive within handshakeTimeoutMs
 *   (tickTime x syncLimit); none once a link is up.
 * - Hostile input (garbage, bad lengths, silence) closes only that connection, with a log line.
 * - Quorum SASL (`auth`, docs/QUORUM-SASL.md): the initiator runs the learner side right after its
 *   initial message, the acceptor the server side right after reading it, both before the rule
 *   above (so a smaller sid authenticates, then closes); bounded by handshakeTimeoutMs. A failed
 *   exchange closes the connection with a log line; the initiator backs off.
 */

import * as net from 'node:net';
import type { Logger } from 'pino';
import { Notification } from './vote';
import { runQuorumAuth, type QuorumAuthFactories } from './authshell';
import { PLAIN_QUORUM_SOCKETS, type QuorumSockets } from './quorumsockets';
import {
  decodeNotification,
  ElectionAddress,
  ElectionFrameReader,
  ElectionWireError,
  encodeFrame,
  encodeInitialMessage,
  encodeNotification,
  formatElectionAddress,
  INITIAL_MESSAGE_ADDRESS_BYTES_MAX,
  INITIAL_MESSAGE_HEADER_BYTES,
  InitialMessage,
  OutgoingNotification,
  parseInitialMessage,
  PROTOCOL_VERSION_V1,
} from './wire/election';

/** QuorumCnxManager's default connect timeout (zookeeper.cnxTimeout). */
export const CNX_TIMEOUT_MS_DEFAULT = 5000;
/** QuorumCnxManager.RECV_CAPACITY. */
export const RECEIVE_QUEUE_CAPACITY_DEFAULT = 100;
export const RECONNECT_BACKOFF_MIN_MS_DEFAULT = 100;
export const MAX_HANDSHAKING_CONNECTIONS_DEFAULT = 64;
export const MAX_LINKS_DEFAULT = 1024;
/** QuorumPeer.OBSERVER_ID: the sid an old observer announces. */
const OBSERVER_ID = (1n << 63n) - 1n;
const HANDSHAKE_BYTES_MAX = INITIAL_MESSAGE_HEADER_BYTES + INITIAL_MESSAGE_ADDRESS_BYTES_MAX;

export interface Timers {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface ReceivedNotification {
  /** The sender: the sid its connection announced (or the stand-in for OBSERVER_ID). */
  sid: bigint;
  notification: Notification;
}

export interface LinkEvent {
  sid: bigint;
  up: boolean;
  /** Whether this side opened the TCP connection. */
  initiatedByMe: boolean;
  /** Why a link went down. */
  reason?: string;
}

export interface LinkInfo {
  initiatedByMe: boolean;
  localPort: number;
  remotePort: number;
  /** Bytes handed to the socket and not yet taken by the kernel. */
  writableLength: number;
}

/** One election address, or all of a server's (multiAddress), in the order of its server line. */
export type ElectionAddresses = ElectionAddress | readonly ElectionAddress[];

export interface ElectionPeersOptions {
  mySid: bigint;
  /**
   * The addresses to listen on: this server's election addresses. Each is bound (ZooKeeper's
   * Listener runs one ListenerHandler per address); one that cannot be is logged and left out.
   */
  listenAddress: ElectionAddresses;
  /** quorumListenOnAllIPs: bind the wildcard address with each distinct listen port. */
  listenOnAllIPs?: boolean;
  /** Sent in the initial message; the listen addresses (with the bound ports) by default. */
  advertisedAddresses?: readonly ElectionAddress[];
  protocolVersion?: bigint;
  /**
   * Every server this one may talk to (voters and observers of the current and next config), with
   * all of its election addresses: a connect tries them in order, starting with the one that last
   * connected, and moves to the next when one fails.
   */
  peers: ReadonlyMap<bigint, ElectionAddresses>;
  cnxTimeoutMs?: number;
  /** The time an accepted connection has to send its initial message: tickTime x syncLimit. */
  handshakeTimeoutMs: number;
  /** How long a frame may sit unsent in a socket before the link is closed; handshakeTimeoutMs by default. */
  sendStallTimeoutMs?: number;
  reconnectBackoffMinMs?: number;
  /** cnxTimeoutMs by default. */
  reconnectBackoffMaxMs?: number;
  receiveQueueCapacity?: number;
  maxHandshakingConnections?: number;
  maxLinks?: number;
  /**
   * Quorum SASL (quorum.auth.enableSasl): the connecting side runs `auth.learner` (when set) after
   * its initial message, the accepting side `auth.server` after reading it, both before the
   * which-connection-survives rule; the exchange is bounded by handshakeTimeoutMs.
   */
  auth?: QuorumAuthFactories;
  /** Plaintext or TLS (sslQuorum, portUnification); plaintext when absent. */
  sockets?: QuorumSockets;
  logger: Logger;
  timers?: Timers;
  onNotification?: (received: ReceivedNotification) => void;
  onRejected?: (sid: bigint, error: ElectionWireError) => void;
  onLink?: (event: LinkEvent) => void;
  onInitialMessage?: (message: InitialMessage, remote: ElectionAddress) => void;
}

export interface ElectionPeersStats {
  /** Notifications dropped because the receive queue was full. */
  receiveDropped: number;
  /** Queued messages replaced by a newer one before they were sent. */
  sendReplaced: number;
  /** Received messages that failed to decode. */
  rejected: number;
}

interface Backoff {
  delayMs: number;
  nextAttemptAt: number;
  timer: unknown;
}

class Link {
  readonly reader = new ElectionFrameReader();
  /** A frame handed to the socket whose write has not completed. */
  inFlight = false;
  stallTimer: unknown = undefined;
  closed = false;

  constructor(
    readonly sid: bigint,
    readonly socket: net.Socket,
    readonly initiatedByMe: boolean,
  ) {}
}

interface Handshake {
  socket: net.Socket;
  chunks: Buffer[];
  bytes: number;
  timer: unknown;
}

function addressList(a: ElectionAddresses): readonly ElectionAddress[] {
  return Array.isArray(a) ? (a as readonly ElectionAddress[]) : [a as ElectionAddress];
}

function sidText(sid: bigint): string {
  return sid.toString();
}

export class ElectionPeers {
  private readonly mySid: bigint;
  private readonly log: Logger;
  private readonly timers: Timers;
  private readonly cnxTimeoutMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly sendStallTimeoutMs: number;
  private readonly backoffMinMs: number;
  private readonly backoffMaxMs: number;
  private readonly receiveCapacity: number;
  private readonly maxHandshaking: number;
  private readonly maxLinks: number;
  private readonly protocolVersion: bigint;
  private view: ReadonlyMap<bigint, ElectionAddresses>;
  private advertised: readonly ElectionAddress[] | undefined;

  /** One per bound election address; undefined before start. */
  private servers: net.Server[] | undefined;
  /** Per sid of the view, the address through which a link last came up: the next connect starts there. */
  private readonly lastConnected = new Map<bigint, string>();
  /**
   * Per sid of the view, an address that accepted my last connect while no link has come up since:
   * something else may hold that port, so the next connect starts at the address after it.
   */
  private readonly connectedNoLink = new Map<bigint, string>();
  private closed = false;
  /** The surviving connection per sid (senderWorkerMap). */
  private readonly links = new Map<bigint, Link>();
  /** Send queues of capacity 1 (queueSendMap): a key per sid sent to, the unsent frame or undefined. */
  private readonly sendQueues = new Map<bigint, Buffer | undefined>();
  private readonly lastMessageSent = new Map<bigint, Buffer>();
  /** Outbound connects in progress. */
  private readonly connecting = new Map<bigint, net.Socket>();
  private readonly backoffs = new Map<bigint, Backoff>();
  private readonly handshakes = new Set<Handshake>();
  /** Sockets closing after an initial message (the initiator with the smaller sid). */
  private readonly closing = new Set<net.Socket>();
  private readonly receiveQueue: ReceivedNotification[] = [];
  private drainScheduled = false;
  private observerCounter = -1n;
  private readonly counters: ElectionPeersStats = { receiveDropped: 0, sendReplaced: 0, rejected: 0 };

  constructor(private readonly options: ElectionPeersOptions) {
    this.mySid = options.mySid;
    this.log = options.logger.child({ module: 'election-peers', myid: sidText(options.mySid) });
    this.timers = options.timers ?? realTimers;
    this.cnxTimeoutMs = options.cnxTimeoutMs ?? CNX_TIMEOUT_MS_DEFAULT;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs;
    this.sendStallTimeoutMs = options.sendStallTimeoutMs ?? options.handshakeTimeoutMs;
    this.backoffMinMs = options.reconnectBackoffMinMs ?? RECONNECT_BACKOFF_MIN_MS_DEFAULT;
    this.backoffMaxMs = options.reconnectBackoffMaxMs ?? this.cnxTimeoutMs;
    this.receiveCapacity = options.receiveQueueCapacity ?? RECEIVE_QUEUE_CAPACITY_DEFAULT;
    this.maxHandshaking = options.maxHandshakingConnections ?? MAX_HANDSHAKING_CONNECTIONS_DEFAULT;
    this.maxLinks = options.maxLinks ?? MAX_LINKS_DEFAULT;
    this.protocolVersion = options.protocolVersion ?? PROTOCOL_VERSION_V1;
    this.view = options.peers;
    this.advertised = options.advertisedAddresses;
    if (this.handshakeTimeoutMs <= 0 || this.cnxTimeoutMs <= 0 || this.sendStallTimeoutMs <= 0) {
      throw new RangeError('election peers: timeouts must be positive');
    }
    if (this.receiveCapacity < 1) throw new RangeError('election peers: the receive queue needs room for one message');
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Listens on every election address; resolves with the first bound one (`listeningAddresses()`
   * has them all). Rejects only when none could be bound.
   */
  async start(): Promise<ElectionAddress> {
    if (this.servers) throw new Error('election peers: already started');
    const { servers, advertised, first } = await this.listen(addressList(this.options.listenAddress));
    this.servers = servers;
    if (this.advertised === undefined) this.advertised = advertised;
    return first;
  }

  /** The addresses the listeners are bound to (the wildcard host with listenOnAllIPs). */
  listeningAddresses(): ElectionAddress[] {
    return (this.servers ?? []).map((server) => {
      const a = server.address() as net.AddressInfo;
      return { host: a.address, port: a.port };
    });
  }

  /**
   * A reconfig moved this server's election addresses: connections are accepted there from now on
   * and the initial message announces them; links already up stay. When none of the new addresses
   * can be bound the old listeners stay and the error is thrown.
   */
  async relisten(listenAddress: ElectionAddresses): Promise<ElectionAddress> {
    const old = this.servers;
    if (old === undefined || this.closed) throw new Error('election peers: not listening');
    const { servers, advertised, first } = await this.listen(addressList(listenAddress));
    if (this.closed) {
      for (const server of servers) server.close();
      return first;
    }
    this.servers = servers;
    this.advertised = advertised;
    for (const server of old) server.close();
    return first;
  }

  /**
   * Binds each address (with listenOnAllIPs: the wildcard, once per distinct port). Returns the
   * listeners and the addresses to announce: each configured one, with the port its listener got.
   */
  private async listen(addresses: readonly ElectionAddress[]): Promise<{ servers: net.Server[]; advertised: ElectionAddress[]; first: ElectionAddress }> {
    if (addresses.length === 0) throw new Error('election peers: no address to listen on');
    const servers: net.Server[] = [];
    const advertised: ElectionAddress[] = [];
    const byWildcardPort = new Map<number, net.Server>();
    let first: ElectionAddress | undefined;
    let firstError: Error | undefined;
    for (const address of addresses) {
      const wildcard = this.options.listenOnAllIPs ? (address.host.includes(':') ? '::' : '0.0.0.0') : undefined;
      const shared = wildcard !== undefined && address.port !== 0 ? byWildcardPort.get(address.port) : undefined;
      if (shared !== undefined) {
        advertised.push({ host: address.host, port: address.port });
        continue;
      }
      const host = wildcard ?? address.host;
      try {
        const server = await this.listenOne(host, address.port);
        servers.push(server);
        if (wildcard !== undefined && address.port !== 0) byWildcardPort.set(address.port, server);
        const bound = { host: address.host, port: (server.address() as net.AddressInfo).port };
        first ??= bound;
        advertised.push(bound);
      } catch (err) {
        firstError ??= err as Error;
        this.log.error({ address: formatElectionAddress({ host, port: address.port }), err: (err as Error).message }, 'cannot listen on an election address');
        advertised.push({ host: address.host, port: address.port });
      }
    }
    if (first === undefined) throw firstError ?? new Error('election peers: no address bound');
    return { servers, advertised, first };
  }

  private async listenOne(host: string, port: number): Promise<net.Server> {
    const sockets = this.options.sockets ?? PLAIN_QUORUM_SOCKETS;
    const server = net.createServer((raw) => sockets.accept(raw, (socket) => this.accept(socket)));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen({ host, port }, () => {
        server.removeListener('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err }, 'election listener error'));
    const bound = server.address() as net.AddressInfo;
    this.log.info({ address: formatElectionAddress({ host, port: bound.port }) }, 'accepting election connections');
    return server;
  }

  /** Closes the listener and every connection; queued messages are discarded. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const link of [...this.links.values()]) this.closeLink(link, 'shutting down');
    for (const handshake of [...this.handshakes]) this.endHandshake(handshake);
    for (const socket of this.connecting.values()) socket.destroy();
    this.connecting.clear();
    for (const socket of this.closing) socket.destroy();
    this.closing.clear();
    for (const backoff of this.backoffs.values()) {
      if (backoff.timer !== undefined) this.timers.clearTimeout(backoff.timer);
    }
    this.backoffs.clear();
    this.receiveQueue.length = 0;
    await Promise.all((this.servers ?? []).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }

  /** Replaces the view (sid -> election addresses), as a reconfig does. */
  setPeers(peers: ReadonlyMap<bigint, ElectionAddresses>): void {
    this.view = peers;
    for (const sid of [...this.lastConnected.keys()]) if (!peers.has(sid)) this.lastConnected.delete(sid);
    for (const sid of [...this.connectedNoLink.keys()]) if (!peers.has(sid)) this.connectedNoLink.delete(sid);
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /**
   * Queues a notification for `sid` (replacing one not yet sent) and connects if there is no link.
   * To my own sid it is delivered back through the receive queue.
   */
  send(sid: bigint, notification: OutgoingNotification): void {
    if (this.closed) return;
    const payload = encodeNotification(notification);
    if (sid === this.mySid) {
      this.deliver(sid, payload);
      return;
    }
    if (!this.view.has(sid) && !this.links.has(sid)) {
      // A stranger's queue lives only with its link, so unknown sids cannot grow the maps.
      this.log.warn({ sid: sidText(sid) }, 'not sending to an unknown server id with no connection');
      return;
    }
    if (this.sendQueues.get(sid) !== undefined) this.counters.sendReplaced++;
    this.sendQueues.set(sid, encodeFrame(payload));
    const link = this.links.get(sid);
    if (link) this.pump(link);
    else this.connectOne(sid);
  }

  /** Connects to every sid that has a send queue and no link (FastLeaderElection's retry). */
  connectAll(): void {
    for (const sid of this.sendQueues.keys()) this.connectOne(sid);
  }

  /** ZooKeeper's haveDelivered: true when some send queue is empty. */
  haveDelivered(): boolean {
    for (const frame of this.sendQueues.values()) if (frame === undefined) return true;
    return false;
  }

  /** Closes the link to `sid`, if any (queued messages stay for the next one). */
  disconnect(sid: bigint): void {
    const link = this.links.get(sid);
    if (link) this.closeLink(link, 'disconnected by the owner');
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  /** Takes the oldest received notification (for owners without onNotification). */
  poll(): ReceivedNotification | undefined {
    return this.receiveQueue.shift();
  }

  get receiveQueueLength(): number {
    return this.receiveQueue.length;
  }

  // -------------------------------------------------------------------------------------------
  // Introspection

  isConnected(sid: bigint): boolean {
    return this.links.has(sid);
  }

  connectedSids(): bigint[] {
    return [...this.links.keys()];
  }

  linkInfo(sid: bigint): LinkInfo | undefined {
    const link = this.links.get(sid);
    if (!link) return undefined;
    return {
      initiatedByMe: link.initiatedByMe,
      localPort: link.socket.localPort ?? -1,
      remotePort: link.socket.remotePort ?? -1,
      writableLength: link.socket.writableLength,
    };
  }

  stats(): ElectionPeersStats {
    return { ...this.counters };
  }

  // -------------------------------------------------------------------------------------------
  // Connecting out

  /**
   * Opens a connection to `sid` unless one exists or is being made; `address` overrides the view's.
   * With several addresses they are tried one after another, from the one that last connected, until
   * one connects; when all fail the sid backs off.
   */
  connectOne(sid: bigint, address?: ElectionAddresses): void {
    if (this.closed || this.links.has(sid) || this.connecting.has(sid)) return;
    const given = address ?? this.view.get(sid);
    const targets = given === undefined ? [] : addressList(given);
    if (targets.length === 0) {
      this.log.warn({ sid: sidText(sid) }, 'invalid server id: no election address to connect to');
      return;
    }
    if (!this.view.has(sid) && this.links.size + this.connecting.size >= this.maxLinks) {
      this.log.warn({ sid: sidText(sid), limit: this.maxLinks }, 'too many election links: not calling back an unknown server id');
      return;
    }
    const backoff = this.backoffs.get(sid);
    if (backoff && this.timers.now() < backoff.nextAttemptAt) {
      if (backoff.timer === undefined) {
        backoff.timer = this.timers.setTimeout(() => {
          backoff.timer = undefined;
          this.connectOne(sid, address);
        }, backoff.nextAttemptAt - this.timers.now());
      }
      return;
    }
    let start = Math.max(0, targets.findIndex((t) => formatElectionAddress(t) === this.lastConnected.get(sid)));
    const noLink = this.connectedNoLink.get(sid);
    if (noLink !== undefined) {
      this.connectedNoLink.delete(sid);
      const i = targets.findIndex((t) => formatElectionAddress(t) === noLink);
      if (i >= 0) start = (i + 1) % targets.length;
    }
    this.connectTo(sid, targets, start, 1);
  }

  /** One connect attempt to targets[index]; `tried` counts the addresses of this round so far. */
  private connectTo(sid: bigint, targets: readonly ElectionAddress[], index: number, tried: number): void {
    const target = targets[index];
    const { socket, readyEvent } = (this.options.sockets ?? PLAIN_QUORUM_SOCKETS).open(target.host, target.port);
    this.connecting.set(sid, socket);
    socket.setNoDelay(true);
    const where = formatElectionAddress(target);
    const timer = this.timers.setTimeout(() => {
      socket.destroy(new Error(`connect timed out after ${this.cnxTimeoutMs} ms`));
    }, this.cnxTimeoutMs);
    const onFailure = (err: Error): void => {
      this.timers.clearTimeout(timer);
      if (this.connecting.get(sid) === socket) this.connecting.delete(sid);
      if (this.closed) return;
      this.log.warn({ sid: sidText(sid), address: where, err: err.message }, 'cannot open election channel');
      if (tried < targets.length && !this.links.has(sid) && !this.connecting.has(sid)) {
        this.connectTo(sid, targets, (index + 1) % targets.length, tried + 1);
        return;
      }
      this.bumpBackoff(sid);
    };
    socket.once('error', onFailure);
    socket.once(readyEvent, () => {
      this.timers.clearTimeout(timer);
      socket.removeListener('error', onFailure);
      // Known good once a link comes up (`establish`); a port that accepts but never gives a link
      // (another process on it) is not tried first next time.
      if (targets.length > 1 && this.view.has(sid)) this.connectedNoLink.set(sid, where);
      const learnerAuth = this.options.auth?.learner;
      // While it authenticates the socket stays in `connecting`: no second connection to that sid.
      if (learnerAuth === undefined && this.connecting.get(sid) === socket) this.connecting.delete(sid);
      if (this.closed) {
        socket.destroy();
        return;
      }
      let initial: Buffer;
      try {
        initial = encodeInitialMessage(this.mySid, this.advertised ?? addressList(this.options.listenAddress), this.protocolVersion);
      } catch (err) {
        this.log.error({ err }, 'cannot encode the initial message');
        if (this.connecting.get(sid) === socket) this.connecting.delete(sid);
        socket.destroy();
        return;
      }
      if (learnerAuth !== undefined) {
        socket.write(initial);
        void runQuorumAuth(socket, learnerAuth(), { timeoutMs: this.handshakeTimeoutMs }).then((outcome) => {
          if (this.connecting.get(sid) === socket) this.connecting.delete(sid);
          if (this.closed) return void socket.destroy();
          if (outcome.kind === 'failed') {
            this.log.error({ sid: sidText(sid), address: where, reason: outcome.reason }, 'quorum SASL authentication failed: closing the election connection');
            this.bumpBackoff(sid);
            return;
          }
          this.log.info({ sid: sidText(sid), address: where }, 'quorum SASL: authenticated to the server');
          if (sid > this.mySid) {
            this.log.info({ sid: sidText(sid) }, 'have the smaller server id: sent the initial message, closing');
            this.bumpBackoff(sid);
            this.closeAfterWrite(socket, Buffer.alloc(0));
            return;
          }
          this.establish(sid, socket, true, outcome.kind === 'authenticated' ? outcome.rest : undefined);
        });
        return;
      }
      if (sid > this.mySid) {
        // The larger sid's connection is the one that survives: announce myself and let it call back.
        this.log.info({ sid: sidText(sid) }, 'have the smaller server id: sent the initial message, closing');
        this.bumpBackoff(sid);
        this.closeAfterWrite(socket, initial);
        return;
      }
      socket.write(initial);
      this.establish(sid, socket, true, undefined);
    });
  }

  private bumpBackoff(sid: bigint): void {
    const previous = this.backoffs.get(sid);
    const delayMs = previous ? Math.min(previous.delayMs * 2, this.backoffMaxMs) : this.backoffMinMs;
    if (previous?.timer !== undefined) {
      // An ask waiting on the old backoff still gets its attempt, at the new time.
      previous.nextAttemptAt = this.timers.now() + delayMs;
      previous.delayMs = delayMs;
      return;
    }
    this.backoffs.set(sid, { delayMs, nextAttemptAt: this.timers.now() + delayMs, timer: undefined });
  }

  private clearBackoff(sid: bigint): void {
    const backoff = this.backoffs.get(sid);
    if (!backoff) return;
    if (backoff.timer !== undefined) this.timers.clearTimeout(backoff.timer);
    this.backoffs.delete(sid);
  }

  private closeAfterWrite(socket: net.Socket, bytes: Buffer): void {
    this.closing.add(socket);
    // The peer closes its side in turn; one that does not is cut off after the handshake timeout.
    const timer = this.timers.setTimeout(() => socket.destroy(), this.handshakeTimeoutMs);
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.resume();
    socket.once('close', () => {
      this.timers.clearTimeout(timer);
      this.closing.delete(socket);
    });
    socket.end(bytes);
  }

  // -------------------------------------------------------------------------------------------
  // Accepting

  private accept(socket: net.Socket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    if (this.closed) {
      socket.destroy();
      return;
    }
    if (this.handshakes.size >= this.maxHandshaking) {
      this.log.warn({ remote, limit: this.maxHandshaking }, 'too many connections awaiting an initial message: closing');
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const handshake: Handshake = { socket, chunks: [], bytes: 0, timer: undefined };
    this.handshakes.add(handshake);
    handshake.timer = this.timers.setTimeout(() => {
      this.log.warn({ remote, timeoutMs: this.handshakeTimeoutMs }, 'no initial message in time: closing');
      this.endHandshake(handshake);
    }, this.handshakeTimeoutMs);
    const onData = (chunk: Buffer): void => {
      handshake.chunks.push(chunk);
      handshake.bytes += chunk.length;
      const buf = handshake.chunks.length === 1 ? handshake.chunks[0] : Buffer.concat(handshake.chunks, handshake.bytes);
      handshake.chunks = [buf];
      let parsed: ReturnType<typeof parseInitialMessage>;
      try {
        parsed = parseInitialMessage(buf);
      } catch (err) {
        const reason = err instanceof ElectionWireError ? err.message : String(err);
        this.log.warn({ remote, reason }, 'bad initial message: closing');
        this.endHandshake(handshake);
        return;
      }
      if (parsed === undefined) {
        // parseInitialMessage asks for more only below HANDSHAKE_BYTES_MAX; this guards that bound.
        if (handshake.bytes > HANDSHAKE_BYTES_MAX) {
          this.log.warn({ remote }, 'initial message too long: closing');
          this.endHandshake(handshake);
        }
        return;
      }
      socket.removeListener('data', onData);
      this.timers.clearTimeout(handshake.timer);
      const rest = buf.subarray(parsed.bytes);
      const serverAuth = this.options.auth?.server;
      if (serverAuth === undefined) {
        this.handshakes.delete(handshake);
        this.handleConnection(socket, remote, parsed.message, rest);
        return;
      }
      // It stays a handshake (counted, closed on shutdown) until the exchange is decided.
      handshake.timer = undefined;
      const message = parsed.message;
      void runQuorumAuth(socket, serverAuth(), { timeoutMs: this.handshakeTimeoutMs, initial: rest }).then((outcome) => {
        const live = this.handshakes.delete(handshake);
        if (!live || this.closed) return void socket.destroy();
        const sid = sidText(message.sid);
        if (outcome.kind === 'failed') {
          this.log.error({ remote, sid, reason: outcome.reason }, 'quorum SASL: failed to authenticate the connecting server: closing the connection');
          return;
        }
        if (outcome.kind === 'authenticated') this.log.info({ remote, sid, user: outcome.user }, 'quorum SASL: authenticated the connecting server');
        else this.log.warn({ remote, sid, reason: outcome.reason }, 'quorum SASL: keeping an unauthenticated election connection (quorum.auth.serverRequireSasl is false)');
        this.handleConnection(socket, remote, message, outcome.rest);
      });
    };
    socket.on('data', onData);
    // A socket that came through port unification was paused after its first bytes were read.
    socket.resume();
    socket.on('error', (err) => {
      if (this.handshakes.has(handshake)) {
        this.log.warn({ remote, err: err.message }, 'election connection error before the initial message');
        this.endHandshake(handshake);
      }
    });
    socket.once('close', () => {
      if (this.handshakes.has(handshake)) this.endHandshake(handshake);
    });
  }

  private endHandshake(handshake: Handshake): void {
    this.timers.clearTimeout(handshake.timer);
    this.handshakes.delete(handshake);
    handshake.socket.destroy();
  }

  private handleConnection(socket: net.Socket, remote: string, message: InitialMessage, rest: Buffer): void {
    let sid = message.sid;
    if (sid === OBSERVER_ID) {
      sid = this.observerCounter--;
      this.log.info({ remote, sid: sidText(sid) }, 'observer id announced: using a stand-in sid');
    }
    const logFields = {
      remote,
      sid: sidText(sid),
      protocolVersion: message.protocolVersion === undefined ? 'pre-3.5' : message.protocolVersion.toString(),
      addresses: message.addresses.map(formatElectionAddress),
    };
    try {
      this.options.onInitialMessage?.(message, { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 });
    } catch (err) {
      this.log.error({ err }, 'onInitialMessage threw');
    }
    if (!this.view.has(sid)) this.log.info(logFields, 'election connection from a server id not in the configuration');
    // A valid initial message shows the peer is up: a connect-back must not wait out an old backoff.
    this.clearBackoff(sid);
    if (sid < this.mySid) {
      this.log.info(logFields, 'connection from a smaller server id: closing it and connecting back');
      const old = this.links.get(sid);
      if (old) this.closeLink(old, 'the peer connected again; connecting back');
      socket.destroy();
      this.connectOne(sid, message.addresses.length > 0 ? message.addresses : undefined);
      return;
    }
    if (sid === this.mySid) {
      this.log.warn(logFields, 'connection request with my own server id: closing (a configuration error?)');
      socket.destroy();
      return;
    }
    if (!this.links.has(sid) && this.links.size >= this.maxLinks) {
      this.log.warn({ ...logFields, limit: this.maxLinks }, 'too many election links: closing');
      socket.destroy();
      return;
    }
    this.log.debug(logFields, 'accepted an election connection');
    this.establish(sid, socket, false, rest);
  }

  // -------------------------------------------------------------------------------------------
  // Links

  private establish(sid: bigint, socket: net.Socket, initiatedByMe: boolean, rest: Buffer | undefined): void {
    const old = this.links.get(sid);
    if (old) this.closeLink(old, 'replaced by a newer connection');
    const link = new Link(sid, socket, initiatedByMe);
    this.links.set(sid, link);
    const via = this.connectedNoLink.get(sid);
    if (via !== undefined) {
      this.connectedNoLink.delete(sid);
      this.lastConnected.set(sid, via);
    }
    this.clearBackoff(sid);
    socket.setTimeout(0);
    socket.on('data', (chunk: Buffer) => this.onLinkData(link, chunk));
    socket.on('error', (err) => this.closeLink(link, `connection error: ${err.message}`));
    socket.once('close', () => this.closeLink(link, 'connection closed by the peer'));
    // After quorum SASL the socket waits paused, and may already have been closed by the peer.
    socket.resume();
    if (socket.destroyed || socket.readableEnded) setImmediate(() => this.closeLink(link, 'connection closed by the peer'));
    if (!this.sendQueues.has(sid)) this.sendQueues.set(sid, undefined);
    this.log.info({ sid: sidText(sid), initiatedByMe }, 'election link up');
    this.emitLink({ sid, up: true, initiatedByMe });
    // A new connection repeats the last message when nothing newer waits: the old one may have
    // died with it unread.
    const last = this.lastMessageSent.get(sid);
    if (this.sendQueues.get(sid) === undefined && last !== undefined) this.write(link, last);
    else this.pump(link);
    if (rest !== undefined && rest.length > 0 && !link.closed) this.onLinkData(link, rest);
  }

  private onLinkData(link: Link, chunk: Buffer): void {
    if (link.closed) return;
    let frames: Buffer[];
    try {
      frames = link.reader.push(chunk);
    } catch (err) {
      const reason = err instanceof ElectionWireError ? err.message : String(err);
      this.log.warn({ sid: sidText(link.sid), reason }, 'bad frame on an election link: closing it');
      this.closeLink(link, reason);
      return;
    }
    for (const frame of frames) this.deliver(link.sid, frame);
  }

  private closeLink(link: Link, reason: string): void {
    if (link.closed) return;
    link.closed = true;
    if (link.stallTimer !== undefined) this.timers.clearTimeout(link.stallTimer);
    link.socket.destroy();
    if (this.links.get(link.sid) !== link) return;
    this.links.delete(link.sid);
    if (!this.view.has(link.sid)) {
      this.sendQueues.delete(link.sid);
      this.lastMessageSent.delete(link.sid);
    }
    this.log.info({ sid: sidText(link.sid), reason }, 'election link down');
    this.emitLink({ sid: link.sid, up: false, initiatedByMe: link.initiatedByMe, reason });
  }

  /** Hands the queued frame to the socket when the previous one has been taken. */
  private pump(link: Link): void {
    if (link.closed || link.inFlight) return;
    const frame = this.sendQueues.get(link.sid);
    if (frame === undefined) return;
    this.sendQueues.set(link.sid, undefined);
    this.lastMessageSent.set(link.sid, frame);
    this.write(link, frame);
  }

  private write(link: Link, frame: Buffer): void {
    link.inFlight = true;
    link.stallTimer = this.timers.setTimeout(() => {
      link.stallTimer = undefined;
      this.log.warn(
        { sid: sidText(link.sid), timeoutMs: this.sendStallTimeoutMs, unsentBytes: link.socket.writableLength },
        'peer is not reading: closing the election link',
      );
      this.closeLink(link, `no write progress in ${this.sendStallTimeoutMs} ms`);
    }, this.sendStallTimeoutMs);
    link.socket.write(frame, (err) => {
      if (link.stallTimer !== undefined) this.timers.clearTimeout(link.stallTimer);
      link.stallTimer = undefined;
      link.inFlight = false;
      if (err) return; // the 'error' event closes the link
      this.pump(link);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Delivery

  private deliver(sid: bigint, payload: Buffer): void {
    let notification: Notification;
    try {
      notification = decodeNotification(sid, payload);
    } catch (err) {
      if (!(err instanceof ElectionWireError)) throw err;
      this.counters.rejected++;
      this.log.warn({ sid: sidText(sid), code: err.code, reason: err.message }, 'dropping an undecodable notification');
      try {
        this.options.onRejected?.(sid, err);
      } catch (callbackErr) {
        this.log.error({ err: callbackErr }, 'onRejected threw');
      }
      return;
    }
    if (this.receiveQueue.length >= this.receiveCapacity) {
      this.receiveQueue.shift();
      this.counters.receiveDropped++;
      this.log.debug({ capacity: this.receiveCapacity }, 'receive queue full: dropped the oldest notification');
    }
    this.receiveQueue.push({ sid, notification });
    this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (this.drainScheduled || !this.options.onNotification) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      const listener = this.options.onNotification;
      if (!listener) return;
      for (let received = this.receiveQueue.shift(); received; received = this.receiveQueue.shift()) {
        try {
          listener(received);
        } catch (err) {
          this.log.error({ err }, 'onNotification threw');
        }
      }
    });
  }

  private emitLink(event: LinkEvent): void {
    try {
      this.options.onLink?.(event);
    } catch (err) {
      this.log.error({ err }, 'onLink threw');
    }
  }
}
