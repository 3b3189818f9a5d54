/**
 * Runs one quorum SASL exchange (`quorumauth.ts`) on a socket: feeds it what arrives, writes what it
 * answers, and ends it at the timeout. ZooKeeper runs the exchange under the socket's read timeout
 * (tickTime x syncLimit on the election port, tickTime x initLimit on the quorum port); here the
 * same value bounds the whole exchange, which takes a few milliseconds between healthy members.
 *
 * On success the socket is left paused with no listener of this module, and the bytes that followed
 * the exchange are returned: its next owner attaches its listeners, handles those bytes, then
 * resumes it. On failure the socket is ended (what was answered is flushed) and destroyed soon after.
 */
import type * as net from 'node:net';
import { DigestMd5Client } from '../server/sasl/digestmd5client';
import { DigestMd5Exchange } from '../server/sasl/digestmd5';
import { SaslError, type SaslServerExchange } from '../server/sasl/mechanism';
import { QUORUM_SASL_PROTOCOL, QUORUM_SASL_SERVER_NAME, type QuorumSaslSettings } from '../server/sasl/quorumlogin';
import { QuorumAuthLearner, QuorumAuthServer, type QuorumAuthMachine, type QuorumAuthOutcome, type QuorumAuthStep } from './quorumauth';

/** How long a failed connection may take to flush its ERROR answer before it is destroyed. */
const FAILED_FLUSH_MS = 1000;

export interface QuorumAuthOptions {
  timeoutMs: number;
  /** Bytes already read from the socket that belong to the exchange. */
  initial?: Buffer;
}

export function runQuorumAuth(socket: net.Socket, machine: QuorumAuthMachine, opts: QuorumAuthOptions): Promise<QuorumAuthOutcome> {
  return new Promise<QuorumAuthOutcome>((resolve) => {
    let settled = false;
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onClosed);
      socket.off('close', onClosed);
      socket.off('error', onClosed);
    };
    const apply = (step: QuorumAuthStep): void => {
      if (settled) return;
      for (const b of step.send) if (!socket.destroyed) socket.write(b);
      const outcome = step.outcome;
      if (outcome === undefined) return;
      settled = true;
      cleanup();
      if (outcome.kind === 'failed') {
        // Swallow late errors of a socket nobody owns any more.
        socket.on('error', () => undefined);
        if (!socket.destroyed) {
          socket.end();
          setTimeout(() => socket.destroy(), FAILED_FLUSH_MS).unref();
        }
      } else {
        socket.pause();
      }
      resolve(outcome);
    };
    const onData = (chunk: Buffer): void => apply(machine.push(chunk));
    const onClosed = (): void => apply(machine.closed());
    const timer = setTimeout(() => apply(machine.timedOut()), opts.timeoutMs);
    socket.on('data', onData);
    socket.on('end', onClosed);
    socket.on('close', onClosed);
    socket.on('error', onClosed);
    apply(machine.start());
    if (!settled && opts.initial !== undefined && opts.initial.length > 0) apply(machine.push(opts.initial));
    if (!settled && socket.destroyed) apply(machine.closed());
    if (!settled) socket.resume();
  });
}

/** The two sides of quorum SASL as one member runs them, built from its settings. */
export interface QuorumAuthFactories {
  /** When this member connects (election port, to the leader); undefined when learnerRequireSasl is off. */
  learner?: () => QuorumAuthMachine;
  /** When a member connects to this one. */
  server: () => QuorumAuthMachine;
}

/**
 * DIGEST-MD5 with the quorum's protocol and server name. The learner presents its username as its
 * authzid too, as ZooKeeper's does; the server authorizes a user only as itself, and a principal
 * of the form name/host@realm only from a member host (SaslQuorumServerCallbackHandler).
 */
export function quorumAuthFactories(settings: QuorumSaslSettings, memberHosts: () => ReadonlySet<string>): QuorumAuthFactories {
  const learnerCredentials = settings.learner;
  const newExchange = (): SaslServerExchange =>
    new DigestMd5Exchange({
      protocol: QUORUM_SASL_PROTOCOL,
      serverName: QUORUM_SASL_SERVER_NAME,
      passwordOf: (user) => settings.users.get(user),
      authorize: (authenticationId, requested) => {
        if (authenticationId !== requested) throw new SaslError(`DIGEST-MD5: ${authenticationId} is not authorized to act as ${requested}`);
        const parts = requested.split(/[/@]/);
        if (parts.length === 3 && !memberHosts().has(parts[1])) throw new SaslError(`SASL authorization completed, ${parts[1]} is not authorized to connect`);
        return requested;
      },
    });
  return {
    learner:
      settings.learnerRequireSasl && learnerCredentials !== undefined
        ? () =>
            new QuorumAuthLearner(
              new DigestMd5Client({
                username: learnerCredentials.username,
                password: learnerCredentials.password,
                authzid: learnerCredentials.username,
                protocol: QUORUM_SASL_PROTOCOL,
                serverName: QUORUM_SASL_SERVER_NAME,
              }),
            )
        : undefined,
    server: () => new QuorumAuthServer({ requireSasl: settings.serverRequireSasl, newExchange }),
  };
}
