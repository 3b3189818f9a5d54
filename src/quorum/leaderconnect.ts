/**
 * A learner's connection to the elected leader's quorum port.
 *
 * Both survivors of a leader decide at the end of their finalize waits, and the one that will
 * follow usually decides first (its own vote change completes its quorum, one message before the
 * leader's does), so its first connect often comes before the new leader has bound its port and is
 * refused. ZooKeeper's learner then waits a fixed 100 ms before each of its 5 tries; here a refused
 * attempt is retried after a few ms, for as long as ZooKeeper would keep trying (400 ms from the
 * first attempt, and never past tickTime x initLimit), so the learner is on the leader's port as soon
 * as it opens instead of up to 100 ms later. What goes over the connection is unchanged.
 *
 * A leader with several quorum addresses (multiAddress) is reached as ZooKeeper's learner reaches it
 * (Learner.connectToLeader, one LeaderConnector per address): every address at once, first
 * connected wins.
 */
import { PLAIN_QUORUM_SOCKETS, type QuorumSockets } from './quorumsockets';
import { monotonicNowMs } from '../server/clock';
import * as net from 'node:net';

/** ZooKeeper's learner: 5 tries, 100 ms apart (Learner.connectToLeader), so it gives up 400 ms in. */
export const ZK_CONNECT_ATTEMPTS = 5;
export const ZK_CONNECT_RETRY_MS = 100;
export const CONNECT_WINDOW_MS = (ZK_CONNECT_ATTEMPTS - 1) * ZK_CONNECT_RETRY_MS;
/** The pause after a failed attempt: a refused connect on a reachable host costs one round trip. */
export const CONNECT_RETRY_MS = 5;

/** One quorum address of the leader. */
export interface LeaderAddress {
  host: string;
  port: number;
}

export interface LeaderConnectOptions {
  /**
   * Every quorum address of the leader (several with multiAddress). As ZooKeeper's learner does, all
   * are tried at once, each with its own retries; the first to connect wins and the others stop.
   */
  addresses: readonly LeaderAddress[];
  /** tickTime x initLimit: no attempt, and no retrying, goes past it. */
  timeoutMs: number;
  /** One attempt; the default opens a TCP connection with Nagle off. */
  connectOnce?: (host: string, port: number, timeoutMs: number) => Promise<net.Socket>;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface LeaderConnection {
  socket: net.Socket;
  /** The address that connected. */
  address: LeaderAddress;
  /** Attempts made on that address, the successful one included. */
  attempts: number;
  /** The first failure on that address, when there was one (for the log). */
  firstError?: Error;
}

/**
 * Connects to one of the leader's addresses: each is tried in parallel, retrying failures every
 * CONNECT_RETRY_MS within CONNECT_WINDOW_MS. The first connection wins; a later one is closed and
 * the other addresses make no further attempt. Rejects when every address failed: with that
 * address's last error when there is one address, else with an error naming each address's.
 */
export function connectToLeader(opts: LeaderConnectOptions): Promise<LeaderConnection> {
  if (opts.addresses.length === 0) return Promise.reject(new Error('the leader has no quorum address'));
  return new Promise<LeaderConnection>((resolve, reject) => {
    let won = false;
    let pending = opts.addresses.length;
    const errors: Array<{ address: LeaderAddress; error: Error }> = [];
    for (const address of opts.addresses) {
      void connectToAddress(opts, address, () => won).then(
        (c) => {
          pending--;
          if (c === undefined) return;
          if (won) {
            // Another address connected first: this one is redundant.
            c.socket.destroy();
            return;
          }
          won = true;
          resolve(c);
        },
        (e: Error) => {
          pending--;
          errors.push({ address, error: e });
          if (pending > 0 || won) return;
          if (opts.addresses.length === 1) return reject(e);
          const each = errors.map(({ address: a, error }) => `${a.host}:${a.port}: ${error.message}`).join('; ');
          reject(new Error(`cannot connect to any address of the leader (${each})`));
        },
      );
    }
  });
}

/** One address's retry loop; resolves undefined when another address won first. */
async function connectToAddress(opts: LeaderConnectOptions, address: LeaderAddress, wonElsewhere: () => boolean): Promise<LeaderConnection | undefined> {
  const now = opts.now ?? monotonicNowMs;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const connectOnce = opts.connectOnce ?? tcpConnect;
  const startMs = now();
  let firstError: Error | undefined;
  for (let attempts = 1; ; attempts++) {
    if (wonElsewhere()) return undefined;
    const remainingMs = opts.timeoutMs - (now() - startMs);
    if (remainingMs <= 0) throw new Error(`connect to the leader timed out after ${opts.timeoutMs} ms`);
    try {
      const socket = await connectOnce(address.host, address.port, remainingMs);
      return { socket, address, attempts, firstError };
    } catch (e) {
      firstError ??= e as Error;
      const elapsedMs = now() - startMs;
      if (elapsedMs >= CONNECT_WINDOW_MS || elapsedMs + CONNECT_RETRY_MS >= opts.timeoutMs) throw e;
    }
    await sleep(CONNECT_RETRY_MS);
  }
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return openQuorumSocket(PLAIN_QUORUM_SOCKETS, host, port, timeoutMs);
}

/** Opens a socket to a member's quorum port; resolves once it may carry quorum bytes (after TLS's handshake). */
export function openQuorumSocket(sockets: QuorumSockets, host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const { socket: s, readyEvent } = sockets.open(host, port);
    s.setNoDelay(true);
    const timer = setTimeout(() => s.destroy(new Error(`connect timed out after ${timeoutMs} ms`)), timeoutMs);
    s.once(readyEvent, () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      s.destroy();
      reject(err);
    });
  });
}
