/**
 * The sockets between ensemble members (election and quorum ports), plaintext or TLS as ZooKeeper
 * configures them:
 *  - `sslQuorum=true`: members connect with TLS (`ssl.quorum.*` stores) and accept only TLS;
 *  - `portUnification=true`: the listeners take TLS and plaintext, told apart by the first bytes a
 *    peer sends (a TLS record: 0x16 then version major 3; nothing within
 *    `ssl.quorum.handshakeDetectionTimeoutMillis` counts as plaintext), which is ZooKeeper's way to
 *    switch an ensemble to TLS member by member without downtime.
 * Peers' certificates are checked against the trust store; with `ssl.quorum.hostnameVerification`
 * (default true) also against the peer's address (its IP address as the configuration or the
 * connection gives it), as ZooKeeper 3.8's ZKTrustManager does unless `zookeeper.fips-mode=true`
 * (3.9's default) turns that check off.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Logger } from 'pino';
import type { ServerTls } from '../tls/settings';

/** A socket being opened to a peer, and the event that says it may carry quorum bytes. */
export interface OpeningSocket {
  socket: net.Socket;
  readyEvent: 'connect' | 'secureConnect';
}

export interface QuorumSockets {
  open(host: string, port: number): OpeningSocket;
  /** Hands an accepted socket on once it may carry quorum bytes; closes it when it may not. */
  accept(raw: net.Socket, ready: (socket: net.Socket) => void): void;
}

export const PLAIN_QUORUM_SOCKETS: QuorumSockets = {
  open: (host, port) => ({ socket: net.connect({ host, port }), readyEvent: 'connect' }),
  accept: (raw, ready) => ready(raw),
};

export interface QuorumTlsOptions {
  tls: ServerTls;
  sslQuorum: boolean;
  portUnification: boolean;
  /** `zookeeper.fips-mode`: no host name checks between members. */
  fipsMode: boolean;
  log: Logger;
}

/** The first bytes of a TLS record as ZooKeeper's detection (Netty's isEncrypted) reads them. */
function looksLikeTls(b: Buffer): boolean {
  return b[0] >= 20 && b[0] <= 23 && (b.length < 2 || b[1] === 3);
}

export class TlsQuorumSockets implements QuorumSockets {
  private readonly server: tls.Server;
  private current: ServerTls;
  private readonly pending = new Map<string, (socket: net.Socket) => void>();

  constructor(private readonly o: QuorumTlsOptions) {
    this.current = o.tls;
    const clientAuth = o.tls.settings.clientAuth;
    this.server = tls.createServer({
      ...o.tls.contextOptions,
      requestCert: clientAuth !== 'none',
      rejectUnauthorized: clientAuth === 'need',
      handshakeTimeout: o.tls.settings.handshakeDetectionTimeoutMs + 10_000,
    });
    this.server.on('secureConnection', (s: tls.TLSSocket) => this.secured(s));
    this.server.on('tlsClientError', (err: Error, s: tls.TLSSocket) => {
      this.o.log.warn({ remote: `${s.remoteAddress}:${s.remotePort}`, err: err.message }, 'quorum TLS handshake failed; closing');
      this.pending.delete(TlsQuorumSockets.key(s));
      s.destroy();
    });
  }

  private static key(s: net.Socket): string {
    return `${s.remoteAddress}|${s.remotePort}`;
  }

  private get verifyHosts(): boolean {
    return this.current.settings.hostnameVerification && !this.o.fipsMode;
  }

  /** New stores for connections from now on (sslQuorumReloadCertFiles). */
  reload(next: ServerTls): void {
    this.server.setSecureContext(next.contextOptions);
    this.current = next;
  }

  open(host: string, port: number): OpeningSocket {
    if (!this.o.sslQuorum) return PLAIN_QUORUM_SOCKETS.open(host, port);
    const ip = net.isIP(host) !== 0;
    const socket = tls.connect({
      host,
      port,
      ...this.current.contextOptions,
      ...(ip ? {} : { servername: host }),
      rejectUnauthorized: true,
      // The member's configured address is what its certificate must name (IP or host name).
      checkServerIdentity: (hostname, cert) => (this.verifyHosts ? tls.checkServerIdentity(ip ? host : hostname, cert) : undefined),
    });
    return { socket, readyEvent: 'secureConnect' };
  }

  accept(raw: net.Socket, ready: (socket: net.Socket) => void): void {
    if (!this.o.portUnification) {
      this.secure(raw, ready);
      return;
    }
    // One read of the first bytes, as ZooKeeper's UnifiedServerSocket; silence counts as plaintext.
    let decided = false;
    const decide = (first: Buffer | undefined): void => {
      if (decided) return;
      decided = true;
      clearTimeout(timer);
      raw.off('data', onData);
      raw.pause();
      if (first) raw.unshift(first);
      if (first && looksLikeTls(first)) this.secure(raw, ready);
      else {
        this.o.log.info({ remote: `${raw.remoteAddress}:${raw.remotePort}` }, 'Accepted plaintext quorum connection');
        ready(raw);
      }
    };
    const onData = (chunk: Buffer): void => decide(chunk);
    const timer = setTimeout(() => {
      this.o.log.warn({ timeoutMs: this.current.settings.handshakeDetectionTimeoutMs }, 'Socket mode detection timed out, assuming PLAINTEXT');
      decide(undefined);
    }, this.current.settings.handshakeDetectionTimeoutMs);
    timer.unref();
    raw.on('data', onData);
    raw.once('close', () => {
      clearTimeout(timer);
      decided = true;
    });
  }

  private secure(raw: net.Socket, ready: (socket: net.Socket) => void): void {
    raw.on('error', () => undefined);
    this.pending.set(TlsQuorumSockets.key(raw), ready);
    raw.once('close', () => this.pending.delete(TlsQuorumSockets.key(raw)));
    this.server.emit('connection', raw);
  }

  private secured(s: tls.TLSSocket): void {
    const key = TlsQuorumSockets.key(s);
    const ready = this.pending.get(key);
    this.pending.delete(key);
    if (!ready) return void s.destroy();
    // The accepting side checks the connecting member's certificate against its address too.
    if (this.verifyHosts && this.current.settings.clientHostnameVerification) {
      const cert = s.getPeerX509Certificate();
      const ip = (s.remoteAddress ?? '').replace(/^::ffff:/, '');
      if (cert && cert.checkIP(ip) === undefined) {
        this.o.log.warn({ remote: `${ip}:${s.remotePort}`, subject: cert.subject.replace(/\n/g, ',') }, "quorum peer's certificate does not name its address; closing");
        s.destroy();
        return;
      }
    }
    this.o.log.info({ remote: `${s.remoteAddress}:${s.remotePort}`, protocol: s.getProtocol(), cipher: s.getCipher()?.name }, 'Accepted TLS quorum connection');
    ready(s);
  }
}
