/**
 * Quorum SASL as pure state machines: ZooKeeper 3.8's SaslQuorumAuthLearner (the connecting side,
 * on the election port and towards the leader) and SaslQuorumAuthServer (the accepting side).
 * Each takes the bytes the peer sent and returns the bytes to send and, once decided, the outcome;
 * the shell (`authshell.ts`) owns the socket and the timeout. docs/QUORUM-SASL.md has the wire.
 *
 * Learner: speaks first, only when quorum.auth.learnerRequireSasl is set (else the shell does not
 * run it): IN_PROGRESS with an empty token, then answers each IN_PROGRESS challenge; SUCCESS with the
 * server's last token completes it; ERROR (or any other status) fails it.
 * Server: looks at the first 8 bytes; without the magic the peer is not authenticating, which
 * passes unless quorum.auth.serverRequireSasl is set. With it, each token goes to the mechanism;
 * a failure answers ERROR with an empty token, and then closes the connection when SASL is
 * required, or lets the peer on (as ZooKeeper does) when it is not.
 */
import { SaslError, type SaslServerExchange } from '../server/sasl/mechanism';
import type { DigestMd5Client } from '../server/sasl/digestmd5client';
import { AuthPacketReader, AuthStatus, AuthWireError, encodeAuthPacket, startsWithAuthMagic } from './wire/authpacket';

/** ZooKeeper's SaslQuorumAuthServer.MAX_RETRIES: challenges past this many end the exchange. */
export const QUORUM_AUTH_MAX_ROUNDS = 5;

export type QuorumAuthOutcome =
  /** The peer proved who it is (server side: as `user`). `rest` is what followed the exchange. */
  | { kind: 'authenticated'; user?: string; rest: Buffer }
  /** Server side, SASL not required: the peer goes on unauthenticated (`reason` says why). */
  | { kind: 'unauthenticated'; reason: string; rest: Buffer }
  /** The connection must be closed. */
  | { kind: 'failed'; reason: string };

export interface QuorumAuthStep {
  /** Bytes to write, in order (before closing, when the outcome is a failure). */
  send: Buffer[];
  /** Set once the exchange is over; nothing more is taken after it. */
  outcome?: QuorumAuthOutcome;
}

export interface QuorumAuthMachine {
  /** What to send before anything is received. */
  start(): QuorumAuthStep;
  /** Bytes from the peer. */
  push(chunk: Buffer): QuorumAuthStep;
  /** The peer closed its side, or the connection failed. */
  closed(): QuorumAuthStep;
  /** The exchange took longer than the timeout. */
  timedOut(): QuorumAuthStep;
}

const NOTHING: QuorumAuthStep = { send: [] };

/** The learner side: a SASL client (DIGEST-MD5) talking QuorumAuthPackets. */
export class QuorumAuthLearner implements QuorumAuthMachine {
  private readonly reader = new AuthPacketReader();
  private rounds = 0;
  private done = false;

  constructor(private readonly client: Pick<DigestMd5Client, 'evaluate' | 'complete' | 'hasInitialResponse'>) {}

  start(): QuorumAuthStep {
    // DIGEST-MD5 has no initial response: the first packet carries an empty token.
    return { send: [encodeAuthPacket(AuthStatus.IN_PROGRESS, Buffer.alloc(0))] };
  }

  push(chunk: Buffer): QuorumAuthStep {
    if (this.done) return NOTHING;
    const send: Buffer[] = [];
    try {
      for (let p = this.reader.push(chunk); p !== undefined; p = this.reader.next()) {
        if (++this.rounds > QUORUM_AUTH_MAX_ROUNDS) return this.fail(send, `more than ${QUORUM_AUTH_MAX_ROUNDS} quorum auth packets from the server`);
        if (p.status === AuthStatus.IN_PROGRESS) {
          if (p.token === null) return this.fail(send, "the quorum member's saslToken is null");
          const response = this.client.evaluate(p.token);
          if (response === null) return this.fail(send, 'the SASL client completed before the server reported SUCCESS');
          send.push(encodeAuthPacket(AuthStatus.IN_PROGRESS, response));
        } else if (p.status === AuthStatus.SUCCESS) {
          if (p.token === null) return this.fail(send, "the quorum member's saslToken is null");
          const response = this.client.evaluate(p.token);
          if (response !== null) return this.fail(send, 'Protocol error: attempting to send response after completion');
          if (!this.client.complete) return this.fail(send, 'the server reported SUCCESS before the SASL exchange was complete');
          this.done = true;
          return { send, outcome: { kind: 'authenticated', rest: this.reader.buffered } };
        } else {
          return this.fail(send, `Authentication failed against the server (status ${p.status})`);
        }
      }
    } catch (e) {
      if (e instanceof SaslError || e instanceof AuthWireError) return this.fail(send, e.message);
      throw e;
    }
    return { send };
  }

  closed(): QuorumAuthStep {
    return this.done ? NOTHING : this.fail([], 'the server closed the connection during quorum authentication');
  }

  timedOut(): QuorumAuthStep {
    return this.done ? NOTHING : this.fail([], 'quorum authentication timed out');
  }

  private fail(send: Buffer[], reason: string): QuorumAuthStep {
    this.done = true;
    return { send, outcome: { kind: 'failed', reason } };
  }
}

export interface QuorumAuthServerOptions {
  /** quorum.auth.serverRequireSasl. */
  requireSasl: boolean;
  /** A fresh SASL server (DIGEST-MD5, the quorum protocol and server name). */
  newExchange(): SaslServerExchange;
}

/** The server side: decides from the first 8 bytes whether the peer authenticates, then runs the mechanism. */
export class QuorumAuthServer implements QuorumAuthMachine {
  private readonly reader = new AuthPacketReader();
  private phase: 'peek' | 'exchange' | 'done' = 'peek';
  private exchange: SaslServerExchange | undefined;
  private rounds = 0;

  constructor(private readonly opts: QuorumAuthServerOptions) {}

  start(): QuorumAuthStep {
    return NOTHING;
  }

  push(chunk: Buffer): QuorumAuthStep {
    if (this.phase === 'done') return NOTHING;
    if (this.phase === 'peek') {
      // Only the first 8 bytes decide (ZooKeeper's nextPacketIsAuth); fewer are held until then.
      const head = this.peekBytes.length === 0 ? chunk : Buffer.concat([this.peekBytes, chunk]);
      if (head.length < 8) {
        this.peekBytes = head;
        return NOTHING;
      }
      this.peekBytes = Buffer.alloc(0);
      if (!startsWithAuthMagic(head)) return this.notAuthenticating(head);
      this.phase = 'exchange';
      this.exchange = this.opts.newExchange();
      return this.feed(head);
    }
    return this.feed(chunk);
  }

  closed(): QuorumAuthStep {
    if (this.phase === 'peek') return this.notAuthenticating(this.peekBytes);
    if (this.phase === 'exchange') {
      // Gone mid-exchange: nothing to let on, required or not.
      this.phase = 'done';
      return { send: [], outcome: { kind: 'failed', reason: 'the learner closed the connection during quorum authentication' } };
    }
    return NOTHING;
  }

  timedOut(): QuorumAuthStep {
    // ZooKeeper's read timeout ends the peek the same way as a peer that never authenticates.
    if (this.phase === 'peek') return this.notAuthenticating(this.peekBytes);
    if (this.phase === 'exchange') return this.failure('quorum authentication timed out');
    return NOTHING;
  }

  /** Fewer than 8 bytes so far: held until the decision. */
  private peekBytes: Buffer = Buffer.alloc(0);

  private notAuthenticating(rest: Buffer): QuorumAuthStep {
    this.phase = 'done';
    if (this.opts.requireSasl) return { send: [], outcome: { kind: 'failed', reason: 'Learner not trying to authenticate and authentication is required' } };
    return { send: [], outcome: { kind: 'unauthenticated', reason: 'the learner did not authenticate (not required)', rest } };
  }

  private feed(chunk: Buffer): QuorumAuthStep {
    const send: Buffer[] = [];
    const exchange = this.exchange as SaslServerExchange;
    try {
      for (let p = this.reader.push(chunk); p !== undefined; p = this.reader.next()) {
        if (p.token === null) throw new SaslError('the learner sent a null token');
        const challenge = exchange.evaluate(p.token);
        if (exchange.complete) {
          send.push(encodeAuthPacket(AuthStatus.SUCCESS, challenge));
          this.phase = 'done';
          return { send, outcome: { kind: 'authenticated', user: exchange.authorizationId, rest: this.reader.buffered } };
        }
        if (++this.rounds > QUORUM_AUTH_MAX_ROUNDS) return this.finish(send, `Failed to authenticate using SASL, retries=${this.rounds} exceeded`, true, challenge);
        send.push(encodeAuthPacket(AuthStatus.IN_PROGRESS, challenge));
      }
    } catch (e) {
      if (e instanceof AuthWireError) {
        // Not a packet at all: there is no exchange to answer, only a connection to drop.
        this.phase = 'done';
        return { send, outcome: { kind: 'failed', reason: e.message } };
      }
      const reason = e instanceof Error ? e.message : String(e);
      return this.failure(reason, send);
    }
    return { send };
  }

  /** A failed exchange: ERROR with an empty token, then closed when required, else let on. */
  private failure(reason: string, send: Buffer[] = []): QuorumAuthStep {
    return this.finish(send, reason, true);
  }

  private finish(send: Buffer[], reason: string, answer: boolean, token: Buffer | null = Buffer.alloc(0)): QuorumAuthStep {
    this.phase = 'done';
    if (answer) send.push(encodeAuthPacket(AuthStatus.ERROR, token ?? Buffer.alloc(0)));
    if (this.opts.requireSasl) return { send, outcome: { kind: 'failed', reason: `Failed to authenticate using SASL: ${reason}` } };
    return {
      send,
      outcome: { kind: 'unauthenticated', reason: `Maintaining learner connection despite SASL authentication failure: ${reason}`, rest: this.reader.buffered },
    };
  }
}
