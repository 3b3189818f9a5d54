/**
 * The server side of SASL DIGEST-MD5 (RFC 2831) as ZooKeeper runs it through Java's SaslServer:
 * protocol "zookeeper", server name and only realm "zk-sasl-md5", qop "auth" only (no security
 * layer), UTF-8, md5-sess. Two steps: any first token gets the challenge; the client's digest
 * response gets `rspauth=...`, after which the exchange is complete and takes no more tokens.
 */
import * as crypto from 'node:crypto';
import { SaslError, SaslMalformedError, type SaslServerExchange } from './mechanism';

export const DIGEST_PROTOCOL = 'zookeeper';
export const DIGEST_SERVER_NAME = 'zk-sasl-md5';
/** Java refuses longer digest responses (MAX_RESPONSE_LENGTH). */
export const MAX_DIGEST_RESPONSE_BYTES = 4096;
/** 30 random bytes, base64: 40 characters, as Java's nonce. */
const NONCE_RAW_BYTES = 30;

export interface DigestMd5Options {
  /** The password of a user who may authenticate, or undefined. */
  passwordOf(user: string): string | undefined;
  /** The authorization id of an authenticated user that asked for `requested` (its authzid, or its name). */
  authorize(authenticationId: string, requested: string): string;
  /** Tests give a fixed nonce. */
  nonce?: () => string;
  /** The SASL protocol and server name (the realm); ZooKeeper's client port values by default. */
  protocol?: string;
  serverName?: string;
}

/** The directives of a digest response the server reads; others are ignored. */
const RESPONSE_DIRECTIVES = [
  'username',
  'realm',
  'nonce',
  'cnonce',
  'nonce-count',
  'qop',
  'digest-uri',
  'response',
  'maxbuf',
  'charset',
  'cipher',
  'authzid',
  'auth-param',
] as const;
type Directive = (typeof RESPONSE_DIRECTIVES)[number];

function isLws(b: number): boolean {
  return b === 13 || b === 10 || b === 32 || b === 9;
}

/**
 * Splits `key=value, key="quoted \"value\""` into raw byte values, with the rules Java's parser
 * applies: keys case-insensitive, a directive at most once, unknown ones skipped.
 */
export function parseDirectives(buf: Buffer): Map<Directive, Buffer> {
  return parseDirectivesOf(buf, RESPONSE_DIRECTIVES);
}

/** parseDirectives with the caller's list of known directives (a challenge has others than a response). */
export function parseDirectivesOf<K extends string>(buf: Buffer, directives: readonly K[]): Map<K, Buffer> {
  const out = new Map<K, Buffer>();
  const put = (keyBytes: number[], value: number[]) => {
    const key = Buffer.from(keyBytes).toString('latin1').toLowerCase();
    const known = directives.find((d) => d === key);
    if (known === undefined) return;
    if (out.has(known)) throw new SaslError(`DIGEST-MD5: peer sent more than one ${key} directive: ${Buffer.from(value).toString('utf8')}`);
    out.set(known, Buffer.from(value));
  };
  const skipLws = (i: number) => {
    while (i < buf.length && isLws(buf[i])) i++;
    return i;
  };
  let key: number[] = [];
  let value: number[] = [];
  let gettingKey = true;
  let quoted = false;
  let expectSeparator = false;
  let i = skipLws(0);
  while (i < buf.length) {
    const b = buf[i];
    if (gettingKey) {
      if (b === 0x2c) {
        if (key.length !== 0) throw new SaslError('Directive key contains a \',\'');
        i = skipLws(i + 1);
      } else if (b === 0x3d) {
        if (key.length === 0) throw new SaslError('Empty directive key');
        gettingKey = false;
        i = skipLws(i + 1);
        if (i >= buf.length) throw new SaslError('Valueless directive found');
        if (buf[i] === 0x22) {
          quoted = true;
          i++;
        }
      } else if (isLws(b)) {
        i = skipLws(i + 1);
        if (i >= buf.length || buf[i] !== 0x3d) throw new SaslError('\'=\' expected after key');
      } else {
        key.push(b);
        i++;
      }
    } else if (quoted) {
      if (b === 0x5c) {
        i++;
        if (i >= buf.length) throw new SaslError('Unmatched quote found for directive');
        value.push(buf[i++]);
      } else if (b === 0x22) {
        i++;
        quoted = false;
        expectSeparator = true;
      } else {
        value.push(b);
        i++;
      }
    } else if (isLws(b) || b === 0x2c) {
      put(key, value);
      key = [];
      value = [];
      gettingKey = true;
      quoted = expectSeparator = false;
      i = skipLws(i + 1);
    } else if (expectSeparator) {
      throw new SaslError('Expecting comma or linear whitespace after quoted string');
    } else {
      value.push(b);
      i++;
    }
  }
  if (quoted) throw new SaslError('Unmatched quote found for directive');
  if (key.length > 0) put(key, value);
  return out;
}

/** Java's stringToByte_8859_1: Latin-1 unless a character does not fit, then UTF-8. */
function latin1OrUtf8(s: string): Buffer {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return Buffer.from(s, 'utf8');
  return Buffer.from(s, 'latin1');
}

function md5(...parts: (Buffer | string)[]): Buffer {
  const h = crypto.createHash('md5');
  for (const p of parts) h.update(typeof p === 'string' ? Buffer.from(p, 'utf8') : p);
  return h.digest();
}

export interface ResponseValueInput {
  /** "AUTHENTICATE" for the client's response, "" for the server's rspauth. */
  method: string;
  digestUri: string;
  qop: string;
  username: string;
  realm: string;
  password: string;
  nonce: Buffer;
  cnonce: Buffer;
  /** Bytes of the authzid directive, if the client sent one. */
  authzid: Buffer | undefined;
}

/** The 32 lower-case hex digits of RFC 2831's response-value with algorithm md5-sess, nonce count 1. */
export function responseValue(v: ResponseValueInput): string {
  const ha2 = md5(`${v.method}:${v.digestUri}`).toString('hex');
  const inner = md5(Buffer.concat([latin1OrUtf8(v.username), Buffer.from(':'), latin1OrUtf8(v.realm), Buffer.from(':'), latin1OrUtf8(v.password)]));
  const a1 = [inner, Buffer.from(':'), v.nonce, Buffer.from(':'), v.cnonce];
  if (v.authzid !== undefined) a1.push(Buffer.from(':'), v.authzid);
  const ha1 = md5(Buffer.concat(a1)).toString('hex');
  return md5(ha1, ':', v.nonce, ':', '00000001', ':', v.cnonce, ':', v.qop, ':', ha2).toString('hex');
}

/** Java's Integer.parseInt(s, radix): optional sign, digits only, 32-bit range; else undefined. */
function javaParseInt(s: string, radix: 10 | 16): number | undefined {
  const re = radix === 16 ? /^[+-]?[0-9a-fA-F]+$/ : /^[+-]?[0-9]+$/;
  if (!re.test(s)) return undefined;
  const n = parseInt(s, radix);
  return n >= -0x80000000 && n <= 0x7fffffff ? n : undefined;
}

export class DigestMd5Exchange implements SaslServerExchange {
  readonly mechanism = 'DIGEST-MD5' as const;
  private step: 'challenge' | 'response' | 'done' = 'challenge';
  private nonce = Buffer.alloc(0);
  private authzid: string | undefined;
  private readonly serverName: string;
  private readonly digestUri: string;

  constructor(private readonly opts: DigestMd5Options) {
    this.serverName = opts.serverName ?? DIGEST_SERVER_NAME;
    this.digestUri = `${opts.protocol ?? DIGEST_PROTOCOL}/${this.serverName}`;
  }

  get complete(): boolean {
    return this.authzid !== undefined;
  }

  get authorizationId(): string {
    if (this.authzid === undefined) throw new Error('DIGEST-MD5 server negotiation not complete');
    return this.authzid;
  }

  evaluate(response: Buffer): Buffer {
    if (response.length > MAX_DIGEST_RESPONSE_BYTES)
      throw new SaslError(`DIGEST-MD5: Invalid digest response length. Got:  ${response.length} Expected < ${MAX_DIGEST_RESPONSE_BYTES}`);
    switch (this.step) {
      case 'challenge':
        // A first token is ignored: the server speaks first in DIGEST-MD5.
        this.step = 'response';
        return this.challenge();
      case 'response':
        // One try: whatever the outcome, the exchange takes no further token.
        this.step = 'done';
        return this.verify(response);
      default:
        throw new SaslError('DIGEST-MD5: Server at illegal state');
    }
  }

  /** Java's layout: realm, nonce, charset, algorithm; no qop (its default, "auth"), no maxbuf (the default). */
  private challenge(): Buffer {
    this.nonce = Buffer.from(this.opts.nonce ? this.opts.nonce() : crypto.randomBytes(NONCE_RAW_BYTES).toString('base64'), 'latin1');
    return Buffer.from(`realm="${this.serverName}",nonce="${this.nonce.toString('latin1')}",charset=utf-8,algorithm=md5-sess`, 'utf8');
  }

  private verify(response: Buffer): Buffer {
    const d = parseDirectives(response);
    const text = (k: Directive) => d.get(k)?.toString('utf8');
    const charset = text('charset');
    if (charset !== undefined && charset !== 'utf-8')
      throw new SaslError(`DIGEST-MD5: digest response format violation. Incompatible charset value: ${charset}`);
    const maxbuf = text('maxbuf');
    if (maxbuf !== undefined && javaParseInt(maxbuf, 10) === undefined) throw new SaslMalformedError(`DIGEST-MD5: maxbuf is not a number: ${maxbuf}`);
    const username = text('username');
    if (username === undefined) throw new SaslError('DIGEST-MD5: digest response format violation. Missing username.');
    const realm = text('realm') ?? '';
    if (realm !== this.serverName) throw new SaslError(`DIGEST-MD5: digest response format violation. Nonexistent realm: ${realm}`);
    const nonce = d.get('nonce');
    if (nonce === undefined) throw new SaslError('DIGEST-MD5: digest response format violation. Missing nonce.');
    if (!nonce.equals(this.nonce)) throw new SaslError('DIGEST-MD5: digest response format violation. Mismatched nonce.');
    const cnonce = d.get('cnonce');
    if (cnonce === undefined) throw new SaslError('DIGEST-MD5: digest response format violation. Missing cnonce.');
    const nc = text('nonce-count');
    if (nc !== undefined) {
      const n = javaParseInt(nc, 16);
      if (n === undefined) throw new SaslMalformedError(`DIGEST-MD5: nonce-count is not a hex number: ${nc}`);
      if (n !== 1) throw new SaslError(`DIGEST-MD5: digest response format violation. Nonce count does not match: ${nc}`);
    }
    const qop = text('qop') ?? 'auth';
    if (qop === 'auth-int' || qop === 'auth-conf') throw new SaslError(`DIGEST-MD5: server does not support  qop: ${qop}`);
    if (qop !== 'auth') throw new SaslError(`DIGEST-MD5: digest response format violation. Invalid QOP: ${qop}`);
    const uri = text('digest-uri');
    if (uri === undefined || uri.toLowerCase() !== this.digestUri.toLowerCase())
      throw new SaslError(`DIGEST-MD5: digest response format violation. Mismatched URI: ${uri ?? 'null'}; expecting: ${this.digestUri}`);
    const clientResponse = d.get('response');
    if (clientResponse === undefined) throw new SaslError('DIGEST-MD5: digest response format  violation. Missing response.');
    const authzidBytes = d.get('authzid');
    const requested = authzidBytes === undefined ? username : authzidBytes.toString('utf8');
    const password = this.opts.passwordOf(username);
    if (password === undefined) throw new SaslError(`DIGEST-MD5: cannot acquire password for ${username} in realm : ${realm}`);
    const input: ResponseValueInput = { method: 'AUTHENTICATE', digestUri: uri, qop, username, realm, password, nonce: this.nonce, cnonce, authzid: authzidBytes };
    const expected = Buffer.from(responseValue(input), 'latin1');
    if (clientResponse.length !== expected.length || !crypto.timingSafeEqual(clientResponse, expected))
      throw new SaslError('DIGEST-MD5: digest response format violation. Mismatched response.');
    this.authzid = this.opts.authorize(username, requested);
    return Buffer.from(`rspauth=${responseValue({ ...input, method: '' })}`, 'latin1');
  }
}
