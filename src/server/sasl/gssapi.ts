/**
 * The server side of the SASL GSSAPI mechanism (RFC 4752) over Kerberos V5 (RFC 4121), as
 * ZooKeeper's server runs it when its JAAS `Server` section logs in with Krb5LoginModule:
 *
 *   client AP-REQ        -> server AP-REP (when the client asks for mutual authentication)
 *   client empty token   -> server Wrap(security layers offered = none only, max size 65536)
 *   client Wrap(layer, max size, authzid) -> complete
 *
 * Without mutual authentication the offer answers the AP-REQ directly. Only "auth" (no security
 * layer) is offered, which is what ZooKeeper clients ask for.
 */
import * as fs from 'node:fs';
import { SaslError, SaslMalformedError, SaslServerExchange } from './mechanism';
import { authorizedId } from './principal';
import { AcceptedContext, acceptSecContext } from './kerberos/acceptor';
import { KeytabEntry, readKeytab } from './kerberos/keytab';
import { findEnctype } from './kerberos/crypto';
import { clockSkewMsFromKrb5Conf, jvmDefaultRealm, jvmKrb5Conf } from './kerberos/krb5conf';
import { PrincipalName, parsePrincipal, principalToString, samePrincipal } from './kerberos/principal';
import { ReplayCache, processReplayCache } from './kerberos/replay';
import { unwrapFromInitiator, wrapFromAcceptor } from './kerberos/wraptoken';

/** Kerberos' usual allowed clock skew (krb5.conf `clockskew`, Java's default too). */
export const DEFAULT_CLOCK_SKEW_MS = 300_000;
/** AP-REQs of MIT KDC tickets are about 1 KB; Active Directory tickets with a PAC reach ~12 KB. */
export const DEFAULT_MAX_TOKEN_BYTES = 64 * 1024;

const LAYER_NONE = 0x01;

export interface GssapiServerOptions {
  /** JAAS `keyTab`. */
  readonly keytabPath: string;
  /** JAAS `principal`, e.g. `zookeeper/localhost@EXAMPLE.COM`. */
  readonly principal: string;
  /** `-Dzookeeper.kerberos.removeHostFromPrincipal=true`. */
  readonly removeHostFromPrincipal?: boolean;
  /** `-Dzookeeper.kerberos.removeRealmFromPrincipal=true`. */
  readonly removeRealmFromPrincipal?: boolean;
  /**
   * The realm ZooKeeper's DEFAULT auth_to_local rule shortens names in: `default_realm` of the
   * krb5.conf the JVM reads. Defaults to the service principal's realm.
   */
  readonly defaultRealm?: string;
  readonly clockSkewMs?: number;
  readonly maxTokenBytes?: number;
  readonly now?: () => number;
  /** Defaults to one cache shared by the process. */
  readonly replayCache?: ReplayCache;
  /** Keys to use instead of reading `keytabPath` (tests). */
  readonly keytab?: readonly KeytabEntry[];
}

type State = 'accept' | 'awaitEmpty' | 'awaitReply' | 'complete' | 'failed';

const keytabCache = new Map<string, { mtimeMs: number; size: number; entries: KeytabEntry[] }>();
const MAX_CACHED_KEYTABS = 16;

/** The keytab, re-read when its file changes (keys are rotated by rewriting the file). */
function loadKeytab(path: string): KeytabEntry[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch (err) {
    throw new SaslError(`GSSAPI: cannot read keytab ${path}: ${(err as Error).message}`);
  }
  const cached = keytabCache.get(path);
  if (cached && cached.mtimeMs === st.mtimeMs && cached.size === st.size) return cached.entries;
  const entries = readKeytab(path);
  if (keytabCache.size >= MAX_CACHED_KEYTABS) keytabCache.clear();
  keytabCache.set(path, { mtimeMs: st.mtimeMs, size: st.size, entries });
  return entries;
}

class GssapiServerExchange implements SaslServerExchange {
  readonly mechanism = 'GSSAPI' as const;
  private state: State = 'accept';
  private context?: AcceptedContext;
  private authzid = '';
  private readonly service: PrincipalName;

  constructor(private readonly opts: GssapiServerOptions) {
    this.service = parsePrincipal(opts.principal);
    if (this.service.components.length !== 2) {
      throw new SaslError(`GSSAPI: service principal ${opts.principal} is not of the form service/host@REALM`);
    }
  }

  get complete(): boolean {
    return this.state === 'complete';
  }

  get authorizationId(): string {
    return this.authzid;
  }

  evaluate(response: Buffer): Buffer | null {
    const max = this.opts.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES;
    if (this.state === 'complete') throw new SaslError('GSSAPI: exchange already complete');
    if (this.state === 'failed') throw new SaslError('GSSAPI: exchange already failed');
    try {
      if (response.length > max) throw new SaslError(`GSSAPI: token of ${response.length} bytes exceeds ${max}`);
      return this.step(response);
    } catch (err) {
      this.state = 'failed';
      if (err instanceof SaslError || err instanceof SaslMalformedError) throw err;
      throw new SaslError(`GSSAPI: ${(err as Error).message}`);
    }
  }

  private step(response: Buffer): Buffer | null {
    switch (this.state) {
      case 'accept': {
        if (response.length === 0) throw new SaslError('GSSAPI: empty initial token');
        const now = (this.opts.now ?? Date.now)();
        const keytab = this.opts.keytab ?? loadKeytab(this.opts.keytabPath);
        this.context = acceptSecContext(response, {
          service: this.service,
          keytab,
          clockSkewMs: this.opts.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS,
          nowMs: now,
          replayCache: this.opts.replayCache ?? processReplayCache,
        });
        if (this.context.apRep) {
          this.state = 'awaitEmpty';
          return this.context.apRep;
        }
        this.state = 'awaitReply';
        return this.offer();
      }
      case 'awaitEmpty':
        if (response.length !== 0) throw new SaslError('GSSAPI: expected an empty token after the AP-REP');
        this.state = 'awaitReply';
        return this.offer();
      case 'awaitReply':
        this.readReply(response);
        this.state = 'complete';
        // Java's GSSAPI server answers the last token with null, and ZooKeeper 3.8.0 puts that
        // on the wire as a null token (length -1), not an empty one.
        return null;
      default:
        throw new SaslError(`GSSAPI: unexpected state ${this.state}`);
    }
  }

  /** Security layers offered: none only; the maximum message size is Java's default, 65536. */
  private offer(): Buffer {
    const ctx = this.context!;
    return wrapFromAcceptor(ctx.key, ctx.acceptorSeq, Buffer.from([LAYER_NONE, 0x01, 0x00, 0x00]));
  }

  private readReply(token: Buffer): void {
    const ctx = this.context!;
    const { plaintext, seq } = unwrapFromInitiator(ctx.key, token);
    if (seq !== BigInt(ctx.initiatorSeq)) {
      throw new SaslError(`GSSAPI: wrap token sequence number ${seq}, expected ${ctx.initiatorSeq}`);
    }
    if (plaintext.length < 4) throw new SaslError(`GSSAPI: security layer reply of ${plaintext.length} bytes`);
    if (plaintext[0] !== LAYER_NONE) {
      throw new SaslError(`GSSAPI: client chose security layer 0x${plaintext[0].toString(16)}; only none (auth) is offered`);
    }
    let requested: string;
    try {
      requested = new TextDecoder('utf-8', { fatal: true }).decode(plaintext.subarray(4));
    } catch {
      throw new SaslError('GSSAPI: authorization id is not UTF-8');
    }
    // Java's GSSAPI server takes the client principal when no authorization id is asked for;
    // ZooKeeper's callback handler then maps it (src/server/sasl/principal.ts).
    const principal = principalToString(ctx.client);
    this.authzid = authorizedId(principal, requested.length > 0 ? requested : principal, {
      removeHostFromPrincipal: this.opts.removeHostFromPrincipal ?? false,
      removeRealmFromPrincipal: this.opts.removeRealmFromPrincipal ?? false,
      defaultRealm: this.opts.defaultRealm ?? this.service.realm,
    });
  }
}

/**
 * Checks at start what Krb5LoginModule checks at login: the principal is service/host@REALM and
 * the keytab holds a key of a supported encryption type for it. Throws `SaslError`.
 */
export function checkGssapiServerOptions(opts: GssapiServerOptions): void {
  const service = parsePrincipal(opts.principal);
  if (service.components.length !== 2) {
    throw new SaslError(`GSSAPI: service principal ${opts.principal} is not of the form service/host@REALM`);
  }
  const keys = (opts.keytab ?? loadKeytab(opts.keytabPath)).filter((e) => samePrincipal(e.principal, service));
  if (keys.length === 0) throw new SaslError(`GSSAPI: keytab ${opts.keytabPath} has no key for ${opts.principal}`);
  if (!keys.some((e) => findEnctype(e.key.enctype))) {
    throw new SaslError(
      `GSSAPI: keytab ${opts.keytabPath} has no key of a supported encryption type for ${opts.principal} (has ${keys.map((e) => e.key.enctype).join(', ')})`,
    );
  }
}

/**
 * The factory's options from ZooKeeper's configuration: the options of the JAAS `Server` section's
 * Krb5LoginModule (`keyTab`, `principal`, `useKeyTab`) and the system properties
 * (`zookeeper.kerberos.removeHostFromPrincipal`/`removeRealmFromPrincipal`, and the krb5.conf
 * named by `java.security.krb5.conf` for the default realm and `clockskew`).
 */
export function gssapiServerOptionsFromJaas(
  loginModuleOptions: ReadonlyMap<string, string>,
  systemProps: ReadonlyMap<string, string>,
): GssapiServerOptions {
  const keytabPath = loginModuleOptions.get('keyTab');
  const principal = loginModuleOptions.get('principal');
  // Krb5LoginModule would prompt or read a ticket cache; a server needs its key from a keytab.
  if (loginModuleOptions.get('useKeyTab') !== 'true') throw new SaslError('GSSAPI: useKeyTab must be true (the service key comes from keyTab)');
  if (!keytabPath) throw new SaslError('GSSAPI: keyTab="<path>" is missing');
  if (!principal) throw new SaslError('GSSAPI: principal="service/host@REALM" is missing');
  if (principal === '*') throw new SaslError('GSSAPI: principal="*" (accept as any principal of the keytab) is not supported; name the service principal');
  const krb5Conf = jvmKrb5Conf(systemProps);
  return {
    keytabPath,
    principal,
    removeHostFromPrincipal: systemProps.get('zookeeper.kerberos.removeHostFromPrincipal') === 'true',
    removeRealmFromPrincipal: systemProps.get('zookeeper.kerberos.removeRealmFromPrincipal') === 'true',
    // No default realm (Java's KerberosName then uses ""): the DEFAULT rule shortens no name.
    defaultRealm: jvmDefaultRealm(systemProps) ?? '',
    clockSkewMs: clockSkewMsFromKrb5Conf(krb5Conf),
  };
}

/** One exchange per connection; construction fails with `SaslError` on a bad principal. */
export function createGssapiServer(opts: GssapiServerOptions): SaslServerExchange {
  return new GssapiServerExchange(opts);
}
