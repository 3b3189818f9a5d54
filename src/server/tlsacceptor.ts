/**
 * TLS on the client port, as ZooKeeper's Netty connection factory does it: the handshake of each
 * accepted socket (on `secureClientPort`, or on `clientPort` with `client.portUnification` when
 * the first byte a client sends is a TLS handshake record, 0x16), the client certificate's check
 * by `ssl.clientAuth`, and the x509 identity it gives (`x509:<subject in RFC 2253 form>`, plus
 * `super` when it equals `zookeeper.X509AuthenticationProvider.superUser`).
 *
 * Limits: a handshake has 10 s (Netty's default, which ZooKeeper keeps); a unified-port socket
 * that says nothing is closed after `detectTimeoutMs`; with
 * `zookeeper.netty.server.outstandingHandshake.limit` > 0 a socket beyond that many handshakes in
 * progress is closed at once (tls_handshake_exceeded).
 */
import type * as net from 'node:net';
import * as tls from 'node:tls';
import type { Logger } from 'pino';
import type { Id } from '../protocol/generated/records';
import { subjectRfc2253 } from '../tls/x509name';
import type { ServerTls } from '../tls/settings';

/** ZooKeeper's first-byte test for a TLS client on a unified port. */
export const TLS_HANDSHAKE_RECORD_TYPE = 0x16;
/** Netty's SslHandler handshake timeout, which ZooKeeper leaves as it is. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface TlsCounters {
  /** Handshakes in progress (outstanding_tls_handshake). */
  outstandingTlsHandshakes: number;
  /** Handshakes that failed or timed out (unsuccessful_handshake). */
  unsuccessfulHandshakes: number;
  /** Sockets closed for the outstanding handshake limit (tls_handshake_exceeded). */
  tlsHandshakeExceeded: number;
}

export interface TlsAcceptorOptions {
  tls: ServerTls;
  counters: TlsCounters;
  log: Logger;
  /** `zookeeper.netty.server.outstandingHandshake.limit`; <= 0: none. */
  outstandingHandshakeLimit: number;
  /** `zookeeper.X509AuthenticationProvider.superUser`. */
  superUser?: string;
  /** Closes a unified-port socket that sends nothing for this long. */
  detectTimeoutMs: number;
  handshakeTimeoutMs?: number;
}

export type SecureReady = (socket: tls.TLSSocket, ids: Id[]) => void;

interface Pending {
  ready: SecureReady;
  failed: () => void;
}

export class TlsAcceptor {
  /** Never listens: accepted sockets are handed to it, and it runs their handshakes. */
  private readonly server: tls.Server;
  /** Handshakes in progress, by the raw socket's remote address and port. */
  private readonly pending = new Map<string, Pending>();

  constructor(private o: TlsAcceptorOptions) {
    const clientAuth = o.tls.settings.clientAuth;
    this.server = tls.createServer({
      ...o.tls.contextOptions,
      requestCert: clientAuth !== 'none',
      rejectUnauthorized: clientAuth === 'need',
      handshakeTimeout: o.handshakeTimeoutMs ?? TLS_HANDSHAKE_TIMEOUT_MS,
    });
    this.server.on('secureConnection', (socket: tls.TLSSocket) => this.handshakeDone(socket));
    this.server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => this.handshakeFailed(socket, err.message));
  }

  get settings(): ServerTls {
    return this.o.tls;
  }

  /** New key and trust material for handshakes from now on (certificate reload). */
  reload(next: ServerTls): void {
    this.server.setSecureContext(next.contextOptions);
    this.o.tls = next;
  }

  private static keyOf(s: net.Socket): string {
    return `${s.remoteAddress}|${s.remotePort}`;
  }

  /**
   * Runs the TLS handshake on an accepted socket; `ready` gets the secure socket and the client's
   * x509 ids once it passed. On any failure the socket is destroyed and `failed` is called, so
   * that the caller releases what it counted for the socket.
   */
  secure(raw: net.Socket, ready: SecureReady, failed: () => void): void {
    const c = this.o.counters;
    if (this.o.outstandingHandshakeLimit > 0 && c.outstandingTlsHandshakes >= this.o.outstandingHandshakeLimit) {
      c.tlsHandshakeExceeded++;
      raw.destroy();
      failed();
      return;
    }
    const key = TlsAcceptor.keyOf(raw);
    c.outstandingTlsHandshakes++;
    this.pending.set(key, { ready, failed });
    // A socket closed before the server saw its handshake fail or pass (a client that leaves).
    raw.once('close', () => {
      if (this.pending.get(key)) this.settle(key, undefined, 'closed during the handshake');
    });
    this.server.emit('connection', raw);
  }

  private handshakeDone(socket: tls.TLSSocket): void {
    const ids = this.identify(socket);
    if (ids === undefined) {
      this.settle(TlsAcceptor.keyOf(socket), undefined, `client certificate not trusted: ${String(socket.authorizationError ?? 'none given')}`);
      socket.destroy();
      return;
    }
    this.settle(TlsAcceptor.keyOf(socket), { socket, ids });
  }

  private handshakeFailed(socket: tls.TLSSocket, reason: string): void {
    this.settle(TlsAcceptor.keyOf(socket), undefined, reason);
    socket.destroy();
  }

  private settle(key: string, ok: { socket: tls.TLSSocket; ids: Id[] } | undefined, reason?: string): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.pending.delete(key);
    this.o.counters.outstandingTlsHandshakes--;
    if (ok) {
      p.ready(ok.socket, ok.ids);
      return;
    }
    this.o.counters.unsuccessfulHandshakes++;
    this.o.log.warn({ remote: key.replace('|', ':'), reason }, 'Unsuccessful TLS handshake; closing');
    p.failed();
  }

  /**
   * The x509 ids of a client whose handshake passed: none without a certificate (or with
   * clientAuth=none), undefined when the certificate it showed is not trusted.
   */
  private identify(socket: tls.TLSSocket): Id[] | undefined {
    if (this.o.tls.settings.clientAuth === 'none') return [];
    const cert = socket.getPeerX509Certificate();
    if (!cert) return this.o.tls.settings.clientAuth === 'need' ? undefined : [];
    // With clientAuth=want, Node finishes the handshake whatever the certificate; Java's trust
    // manager would have refused an untrusted one, so it is refused here.
    if (!socket.authorized) return undefined;
    // ssl.clientHostnameVerification (off by default on the client port): the certificate must
    // name the client's address, as ZooKeeper checks it (no reverse lookup).
    if (this.o.tls.settings.clientHostnameVerification) {
      const ip = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      if (cert.checkIP(ip) === undefined) return undefined;
    }
    let subject: string;
    try {
      subject = subjectRfc2253(cert.raw);
    } catch {
      return undefined;
    }
    const ids: Id[] = [{ scheme: 'x509', id: subject }];
    if (this.o.superUser !== undefined && subject === this.o.superUser) ids.unshift({ scheme: 'super', id: subject });
    return ids;
  }

  /**
   * Port unification: the first bytes tell TLS (0x16) from plaintext. A plaintext socket goes to
   * `plain` with its bytes put back; a TLS one to secure(). A socket that sends nothing within
   * the detection time is closed.
   */
  sniff(raw: net.Socket, plain: (socket: net.Socket) => void, ready: SecureReady, failed: () => void): void {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      raw.destroy();
      failed();
    }, this.o.detectTimeoutMs);
    timer.unref();
    const onClose = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      failed();
    };
    raw.once('close', onClose);
    raw.once('error', () => undefined);
    raw.once('data', (chunk: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      raw.off('close', onClose);
      raw.pause();
      raw.unshift(chunk);
      if (chunk[0] === TLS_HANDSHAKE_RECORD_TYPE) this.secure(raw, ready, failed);
      else {
        plain(raw);
        raw.resume();
      }
    });
  }
}
