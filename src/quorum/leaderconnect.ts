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
 */
import * as net from 'node:net';

/** ZooKeeper's learner: 5 tries, 100 ms apart (Learner.connectToLeader), so it gives up 400 ms in. */
export const ZK_CONNECT_ATTEMPTS = 5;
export const ZK_CONNECT_RETRY_MS = 100;
export const CONNECT_WINDOW_MS = (ZK_CONNECT_ATTEMPTS - 1) * ZK_CONNECT_RETRY_MS;
/** The pause after a failed attempt: a refused connect on a reachable host costs one round trip. */
export const CONNECT_RETRY_MS = 5;

export interface LeaderConnectOptions {
  host: string;
  port: number;
  /** tickTime x initLimit: no attempt, and no retrying, goes past it. */
  timeoutMs: number;
  /** One attempt; the default opens a TCP connection with Nagle off. */
  connectOnce?: (host: string, port: number, timeoutMs: number) => Promise<net.Socket>;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface LeaderConnection {
  socket: net.Socket;
  /** Attempts made, the successful one included. */
  attempts: number;
  /** The first failure, when there was one (for the log). */
  firstError?: Error;
}

/** Connects, retrying failures every CONNECT_RETRY_MS within CONNECT_WINDOW_MS; rejects with the last error. */
export async function connectToLeader(opts: LeaderConnectOptions): Promise<LeaderConnection> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const connectOnce = opts.connectOnce ?? tcpConnect;
  const startMs = now();
  let firstError: Error | undefined;
  for (let attempts = 1; ; attempts++) {
    const remainingMs = opts.timeoutMs - (now() - startMs);
    if (remainingMs <= 0) throw new Error(`connect to the leader timed out after ${opts.timeoutMs} ms`);
    try {
      const socket = await connectOnce(opts.host, opts.port, remainingMs);
      return { socket, attempts, firstError };
    } catch (e) {
      firstError ??= e as Error;
      const elapsedMs = now() - startMs;
      if (elapsedMs >= CONNECT_WINDOW_MS || elapsedMs + CONNECT_RETRY_MS >= opts.timeoutMs) throw e;
    }
    await sleep(CONNECT_RETRY_MS);
  }
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host, port });
    s.setNoDelay(true);
    const timer = setTimeout(() => s.destroy(new Error(`connect timed out after ${timeoutMs} ms`)), timeoutMs);
    s.once('connect', () => {
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
