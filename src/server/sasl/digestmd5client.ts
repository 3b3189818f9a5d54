/**
 * The client side of SASL DIGEST-MD5 (RFC 2831) as Java's SaslClient runs it for ZooKeeper's
 * quorum learners: no initial response; the server's challenge is answered with a digest response
 * laid out as Java lays it out (charset, username, realm, nonce, nc, cnonce, digest-uri, maxbuf,
 * response, qop, authzid), qop "auth" only; the server's `rspauth` is then checked, which completes
 * the exchange. Pure: bytes in, bytes out; the cnonce source is injectable for tests.
 */
import * as crypto from 'node:crypto';
import { SaslError } from './mechanism';
import { parseDirectivesOf, responseValue, type ResponseValueInput } from './digestmd5';

/** Java's client refuses longer challenges (MAX_CHALLENGE_LENGTH). */
export const MAX_DIGEST_CHALLENGE_BYTES = 2048;
/** The receive buffer size Java's client announces (its default maxbuf). */
const CLIENT_MAXBUF = 65536;
/** 30 random bytes, base64: 40 characters, as Java's cnonce. */
const CNONCE_RAW_BYTES = 30;

const CHALLENGE_DIRECTIVES = ['realm', 'qop', 'algorithm', 'nonce', 'maxbuf', 'charset', 'cipher', 'rspauth', 'stale'] as const;

export interface DigestMd5ClientOptions {
  username: string;
  password: string;
  /** Sent as the authzid directive; Java's quorum learner sends its username. */
  authzid?: string;
  protocol: string;
  serverName: string;
  /** Tests give a fixed cnonce. */
  cnonce?: () => string;
}

/** A quoted-string value with `"` and `\` escaped. */
function quoted(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export class DigestMd5Client {
  readonly mechanism = 'DIGEST-MD5' as const;
  private step: 'challenge' | 'rspauth' | 'done' = 'challenge';
  private expectedRspauth = '';

  constructor(private readonly opts: DigestMd5ClientOptions) {}

  /** DIGEST-MD5 has no initial response: the server speaks first. */
  readonly hasInitialResponse = false;

  get complete(): boolean {
    return this.step === 'done';
  }

  /**
   * The answer to the server's next token: the digest response to the challenge, then null once the
   * server's rspauth checks out. Throws SaslError when the server's token is not acceptable.
   */
  evaluate(token: Buffer): Buffer | null {
    switch (this.step) {
      case 'challenge':
        return this.respond(token);
      case 'rspauth':
        this.checkRspauth(token);
        this.step = 'done';
        return null;
      default:
        throw new SaslError('DIGEST-MD5: authentication already complete');
    }
  }

  private respond(challenge: Buffer): Buffer {
    if (challenge.length > MAX_DIGEST_CHALLENGE_BYTES)
      throw new SaslError(`DIGEST-MD5: Invalid digest-challenge length. Got:  ${challenge.length} Expected < ${MAX_DIGEST_CHALLENGE_BYTES}`);
    const d = parseDirectivesOf(challenge, CHALLENGE_DIRECTIVES);
    const text = (k: (typeof CHALLENGE_DIRECTIVES)[number]) => d.get(k)?.toString('utf8');
    const nonce = d.get('nonce');
    if (nonce === undefined) throw new SaslError('DIGEST-MD5: Digest-challenge format violation : missing nonce');
    const algorithm = text('algorithm');
    if (algorithm !== 'md5-sess') throw new SaslError(`DIGEST-MD5: Digest-challenge format violation : algorithm is ${algorithm ?? 'missing'}, not md5-sess`);
    const qops = (text('qop') ?? 'auth').split(',').map((q) => q.trim());
    if (!qops.includes('auth')) throw new SaslError(`DIGEST-MD5: No common protection layer between client and server (offered: ${qops.join(',')})`);
    const charset = text('charset');
    if (charset !== undefined && charset.toLowerCase() !== 'utf-8') throw new SaslError(`DIGEST-MD5: Digest-challenge format violation : charset ${charset}`);
    // The server's realm when it names one (ZooKeeper's names exactly one); else its name.
    const realm = text('realm') ?? this.opts.serverName;
    const cnonce = this.opts.cnonce ? this.opts.cnonce() : crypto.randomBytes(CNONCE_RAW_BYTES).toString('base64');
    const digestUri = `${this.opts.protocol}/${this.opts.serverName}`;
    const input: ResponseValueInput = {
      method: 'AUTHENTICATE',
      digestUri,
      qop: 'auth',
      username: this.opts.username,
      realm,
      password: this.opts.password,
      nonce,
      cnonce: Buffer.from(cnonce, 'latin1'),
      authzid: this.opts.authzid === undefined ? undefined : Buffer.from(this.opts.authzid, 'utf8'),
    };
    const response = responseValue(input);
    this.expectedRspauth = responseValue({ ...input, method: '' });
    this.step = 'rspauth';
    const parts = [
      ...(charset !== undefined ? ['charset=utf-8'] : []),
      `username=${quoted(this.opts.username)}`,
      `realm=${quoted(realm)}`,
      `nonce=${quoted(nonce.toString('latin1'))}`,
      'nc=00000001',
      `cnonce=${quoted(cnonce)}`,
      `digest-uri=${quoted(digestUri)}`,
      `maxbuf=${CLIENT_MAXBUF}`,
      `response=${response}`,
      'qop=auth',
      ...(this.opts.authzid !== undefined ? [`authzid=${quoted(this.opts.authzid)}`] : []),
    ];
    return Buffer.from(parts.join(','), 'utf8');
  }

  private checkRspauth(token: Buffer): void {
    if (token.length > MAX_DIGEST_CHALLENGE_BYTES) throw new SaslError(`DIGEST-MD5: Invalid rspauth length ${token.length}`);
    const d = parseDirectivesOf(token, CHALLENGE_DIRECTIVES);
    const got = d.get('rspauth');
    if (got === undefined) throw new SaslError('DIGEST-MD5: the server sent no rspauth');
    const want = Buffer.from(this.expectedRspauth, 'latin1');
    if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) throw new SaslError('DIGEST-MD5: the server\'s rspauth does not match: it does not know the password');
  }
}
