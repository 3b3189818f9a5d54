/**
 * Whether and how the server authenticates clients with SASL, decided at start as ZooKeeper's
 * ServerCnxnFactory.configureSaslLogin does: with a JAAS file whose `Server` section
 * (`zookeeper.sasl.serverconfig`) exists, every connection gets a SASL server of the mechanism
 * the section's login module implies: Krb5LoginModule means GSSAPI, DigestLoginModule DIGEST-MD5
 * with its `user_<name>="<password>"` options as the user list.
 */
import * as fs from 'node:fs';
import { DigestMd5Exchange } from './digestmd5';
import { JaasError, MAX_JAAS_FILE_BYTES, parseJaas, type JaasEntry } from './jaas';
import type { SaslServerExchange } from './mechanism';
import { authorizedId, type PrincipalRules } from './principal';
import { checkGssapiServerOptions, createGssapiServer, gssapiServerOptionsFromJaas, type GssapiServerOptions } from './gssapi';
import { jvmDefaultRealm } from './kerberos/krb5conf';

export const JAAS_CONF_KEY = 'java.security.auth.login.config';
export const LOGIN_CONTEXT_NAME_KEY = 'zookeeper.sasl.serverconfig';
export const DEFAULT_LOGIN_CONTEXT_NAME = 'Server';
export const DIGEST_LOGIN_MODULE = 'org.apache.zookeeper.server.auth.DigestLoginModule';
export const KRB5_LOGIN_MODULE = 'com.sun.security.auth.module.Krb5LoginModule';
const SUPER_PASSWORD_KEY = 'zookeeper.SASLAuthenticationProvider.superPassword';
const USER_PREFIX = 'user_';

/** Makes the SASL server of one connection. */
export interface SaslServerFactory {
  readonly mechanism: SaslServerExchange['mechanism'];
  newExchange(): SaslServerExchange;
}

/** A SASL setting that stops the start: the key to fix, and why. */
export class SaslConfigError extends Error {
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'SaslConfigError';
  }
}

/** What a mechanism is built from: the login section and the system properties. */
export interface SaslContext {
  section: string;
  entries: JaasEntry[];
  props: ReadonlyMap<string, string>;
  rules: PrincipalRules;
}

/**
 * GSSAPI (Kerberos) for a `Server` section that logs in with Krb5LoginModule: the options of that
 * entry give the keytab and service principal, checked once here as Krb5LoginModule checks them at
 * ZooKeeper's start; each connection then gets its own exchange.
 */
function gssapiServerFactory(ctx: SaslContext): SaslServerFactory {
  const entry = ctx.entries.find((e) => e.loginModule === KRB5_LOGIN_MODULE) as JaasEntry;
  let opts: GssapiServerOptions;
  try {
    opts = { ...gssapiServerOptionsFromJaas(entry.options, ctx.props), ...ctx.rules };
    checkGssapiServerOptions(opts);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new SaslConfigError(JAAS_CONF_KEY, `JAAS section '${ctx.section}' (${KRB5_LOGIN_MODULE}): ${why}`);
  }
  return { mechanism: 'GSSAPI', newExchange: () => createGssapiServer(opts) };
}

function digestServerFactory(ctx: SaslContext): SaslServerFactory {
  const users = new Map<string, string>();
  for (const e of ctx.entries) for (const [k, v] of e.options) if (k.startsWith(USER_PREFIX)) users.set(k.slice(USER_PREFIX.length), v);
  const superPassword = ctx.props.get(SUPER_PASSWORD_KEY);
  const passwordOf = (user: string): string | undefined => {
    if (!users.has(user)) return undefined;
    // "super" may take its password from a system property instead of the JAAS file.
    if (user === 'super' && superPassword !== undefined) return superPassword;
    return users.get(user);
  };
  return {
    mechanism: 'DIGEST-MD5',
    newExchange: () => new DigestMd5Exchange({ passwordOf, authorize: (authn, requested) => authorizedId(authn, requested, ctx.rules) }),
  };
}

/**
 * The SASL server factory the system properties ask for, undefined when SASL is off (no JAAS
 * file, or one without the server section). Throws SaslConfigError for what ZooKeeper refuses to
 * start with (an unreadable or malformed JAAS file, a login module it cannot use, a Kerberos
 * login without a usable keytab key).
 */
export function loadSaslServer(props: ReadonlyMap<string, string>, readFile: (path: string) => string = readJaasFile): SaslServerFactory | undefined {
  const section = props.get(LOGIN_CONTEXT_NAME_KEY) ?? DEFAULT_LOGIN_CONTEXT_NAME;
  const jaasFile = props.get(JAAS_CONF_KEY);
  // Without a JAAS file Java sees an empty configuration, not an error: SASL is off even when a
  // section name is set.
  if (jaasFile === undefined) return undefined;
  let sections: Map<string, JaasEntry[]>;
  try {
    sections = parseJaas(readFile(jaasFile), props);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    const named = props.has(LOGIN_CONTEXT_NAME_KEY) ? ` But ${LOGIN_CONTEXT_NAME_KEY} was set.` : '';
    throw new SaslConfigError(JAAS_CONF_KEY, `No JAAS configuration section named '${section}' was found in '${jaasFile}'.${named} (${why})`);
  }
  const entries = sections.get(section);
  // A JAAS file for other purposes (a client section only): SASL stays off, as in ZooKeeper.
  if (entries === undefined) return undefined;
  const ctx: SaslContext = {
    section,
    entries,
    props,
    rules: {
      removeHostFromPrincipal: props.get('zookeeper.kerberos.removeHostFromPrincipal') === 'true',
      removeRealmFromPrincipal: props.get('zookeeper.kerberos.removeRealmFromPrincipal') === 'true',
      // As Java's KerberosName: java.security.krb5.realm, else default_realm of the krb5.conf.
      defaultRealm: jvmDefaultRealm(props) ?? '',
    },
  };
  if (entries.length === 0) throw new SaslConfigError(JAAS_CONF_KEY, `No LoginModules configured for ${section}`);
  const rules = props.get('zookeeper.security.auth_to_local');
  if (rules !== undefined && rules.trim() !== 'DEFAULT')
    throw new SaslConfigError('zookeeper.security.auth_to_local', `only the DEFAULT rule is supported, not "${rules}"`);
  for (const e of entries) {
    if (e.loginModule !== DIGEST_LOGIN_MODULE && e.loginModule !== KRB5_LOGIN_MODULE)
      throw new SaslConfigError(JAAS_CONF_KEY, `JAAS section '${section}' names login module ${e.loginModule}; zkts knows ${DIGEST_LOGIN_MODULE} and ${KRB5_LOGIN_MODULE}`);
  }
  if (entries.some((e) => e.loginModule === KRB5_LOGIN_MODULE)) return gssapiServerFactory(ctx);
  return digestServerFactory(ctx);
}

export function readJaasFile(path: string): string {
  const size = fs.statSync(path).size;
  if (size > MAX_JAAS_FILE_BYTES) throw new JaasError(`larger than ${MAX_JAAS_FILE_BYTES} bytes`);
  return fs.readFileSync(path, 'utf8');
}
