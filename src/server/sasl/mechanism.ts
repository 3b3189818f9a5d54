/**
 * The server side of one SASL mechanism, one exchange per connection. ZooKeeper's server offers a
 * single mechanism, chosen by its JAAS `Server` section: GSSAPI when it logs in with Kerberos,
 * DIGEST-MD5 otherwise.
 */
export interface SaslServerExchange {
  readonly mechanism: 'DIGEST-MD5' | 'GSSAPI';
  /**
   * Takes the client's next token and returns the server's answer: possibly empty, or null for
   * no token at all (Java's GSSAPI server completes with null, which goes on the wire as such).
   * Throws `SaslError` when the client cannot be authenticated; the exchange is then over.
   */
  evaluate(response: Buffer): Buffer | null;
  /** True once the client is authenticated. */
  readonly complete: boolean;
  /** The authorization id once complete: the user (DIGEST-MD5) or the principal (GSSAPI). */
  readonly authorizationId: string;
}

/** A failed SASL exchange: the client gets AUTHFAILED and its connection is closed. */
export class SaslError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SaslError';
  }
}

/**
 * A token the server cannot even read (Java fails on it with a runtime error, not a
 * SaslException): ZooKeeper drops the connection without an answer. Any error other than
 * SaslError thrown by `evaluate` is taken the same way.
 */
export class SaslMalformedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SaslMalformedError';
  }
}
