/**
 * The quorum SASL settings of an ensemble member, read at start as ZooKeeper 3.8's QuorumPeer sets
 * up SaslQuorumAuthServer and SaslQuorumAuthLearner when quorum.auth.enableSasl=true: the JAAS file
 * (`-Djava.security.auth.login.config`) must have both login sections, QuorumServer (the users
 * this member accepts, `user_<name>="<password>"`) and QuorumLearner (`username`, `password`: what
 * it presents), under the names quorum.auth.server/learner.saslLoginContext give. DIGEST-MD5 only:
 * a Kerberos login (Krb5LoginModule, GSSAPI) stops the start with the key and the reason.
 */
import { JaasError, parseJaas, type JaasEntry } from './jaas';
import { DIGEST_LOGIN_MODULE, JAAS_CONF_KEY, KRB5_LOGIN_MODULE, SaslConfigError } from './saslserver';

export const QUORUM_SERVER_LOGIN_CONTEXT_KEY = 'quorum.auth.server.saslLoginContext';
export const QUORUM_LEARNER_LOGIN_CONTEXT_KEY = 'quorum.auth.learner.saslLoginContext';
export const QUORUM_SERVER_LOGIN_CONTEXT_DEFAULT = 'QuorumServer';
export const QUORUM_LEARNER_LOGIN_CONTEXT_DEFAULT = 'QuorumLearner';
/** QuorumAuth.QUORUM_KERBEROS_SERVICE_PRINCIPAL_DEFAULT_VALUE (used by Kerberos only). */
export const QUORUM_SERVICE_PRINCIPAL_DEFAULT = 'zkquorum/localhost';
/** QuorumPeer's QUORUM_CNXN_THREADS_SIZE_DEFAULT_VALUE; smaller values are ignored, as there. */
export const QUORUM_CNXN_THREADS_SIZE_DEFAULT = 20;
/** The quorum's SASL protocol and server name (QuorumAuth.QUORUM_SERVER_PROTOCOL_NAME, QUORUM_SERVER_SASL_DIGEST). */
export const QUORUM_SASL_PROTOCOL = 'zookeeper-quorum';
export const QUORUM_SASL_SERVER_NAME = 'zk-quorum-sasl-md5';

export interface QuorumSaslKeys {
  learnerRequireSasl: boolean;
  serverRequireSasl: boolean;
  learnerLoginContext?: string;
  serverLoginContext?: string;
  servicePrincipal?: string;
  cnxnThreadsSize?: number;
}

export interface QuorumSaslSettings {
  /** quorum.auth.learnerRequireSasl: this member authenticates itself when it connects. */
  learnerRequireSasl: boolean;
  /** quorum.auth.serverRequireSasl: connections that do not authenticate are closed. */
  serverRequireSasl: boolean;
  learnerLoginContext: string;
  serverLoginContext: string;
  /** Kept for the admin surface; DIGEST-MD5 does not use it. */
  servicePrincipal: string;
  /** What this member presents (QuorumLearner's username and password). */
  learner: { username: string; password: string } | undefined;
  /** The users this member accepts (QuorumServer's user_<name> options). */
  users: ReadonlyMap<string, string>;
  /**
   * quorum.cnxn.threads.size: in ZooKeeper the most connection threads, which with SASL on bounds
   * the election connections being accepted at once; here it bounds those still in their
   * handshake (initial message and authentication).
   */
  cnxnThreadsSize: number;
}

function section(sections: Map<string, JaasEntry[]>, name: string, key: string): JaasEntry[] {
  const entries = sections.get(name);
  if (entries === undefined || entries.length === 0)
    throw new SaslConfigError(key, `SASL-authentication failed because the specified JAAS configuration section '${name}' could not be found.`);
  for (const e of entries) {
    if (e.loginModule === KRB5_LOGIN_MODULE)
      throw new SaslConfigError(key, `JAAS section '${name}' logs in with Kerberos (${KRB5_LOGIN_MODULE}): quorum SASL with GSSAPI is not supported by zkts; use ${DIGEST_LOGIN_MODULE}`);
    if (e.loginModule !== DIGEST_LOGIN_MODULE)
      throw new SaslConfigError(key, `JAAS section '${name}' names login module ${e.loginModule}; quorum SASL in zkts takes ${DIGEST_LOGIN_MODULE} only`);
  }
  return entries;
}

/** Reads the JAAS sections quorum SASL needs; throws SaslConfigError (key and reason) for what cannot run. */
export function loadQuorumSasl(keys: QuorumSaslKeys, props: ReadonlyMap<string, string>, readFile: (path: string) => string): QuorumSaslSettings {
  const learnerLoginContext = keys.learnerLoginContext ?? QUORUM_LEARNER_LOGIN_CONTEXT_DEFAULT;
  const serverLoginContext = keys.serverLoginContext ?? QUORUM_SERVER_LOGIN_CONTEXT_DEFAULT;
  const jaasFile = props.get(JAAS_CONF_KEY);
  if (jaasFile === undefined)
    throw new SaslConfigError(JAAS_CONF_KEY, `quorum.auth.enableSasl=true needs a JAAS file with the sections '${serverLoginContext}' and '${learnerLoginContext}'`);
  let sections: Map<string, JaasEntry[]>;
  try {
    sections = parseJaas(readFile(jaasFile), props);
  } catch (e) {
    const why = e instanceof JaasError || e instanceof Error ? e.message : String(e);
    throw new SaslConfigError(JAAS_CONF_KEY, `cannot read the JAAS file '${jaasFile}' for quorum SASL: ${why}`);
  }
  const serverEntries = section(sections, serverLoginContext, QUORUM_SERVER_LOGIN_CONTEXT_KEY);
  const learnerEntries = section(sections, learnerLoginContext, QUORUM_LEARNER_LOGIN_CONTEXT_KEY);
  const users = new Map<string, string>();
  for (const e of serverEntries) for (const [k, v] of e.options) if (k.startsWith('user_')) users.set(k.slice('user_'.length), v);
  let learner: QuorumSaslSettings['learner'];
  for (const e of learnerEntries) {
    const username = e.options.get('username');
    const password = e.options.get('password');
    if (username !== undefined && password !== undefined) {
      learner = { username, password };
      break;
    }
  }
  // A learner that must authenticate and has nothing to present would fail every connection.
  if (learner === undefined && keys.learnerRequireSasl)
    throw new SaslConfigError(QUORUM_LEARNER_LOGIN_CONTEXT_KEY, `JAAS section '${learnerLoginContext}' has no username and password, and quorum.auth.learnerRequireSasl is true`);
  const threads = keys.cnxnThreadsSize;
  return {
    learnerRequireSasl: keys.learnerRequireSasl,
    serverRequireSasl: keys.serverRequireSasl,
    learnerLoginContext,
    serverLoginContext,
    servicePrincipal: keys.servicePrincipal ?? QUORUM_SERVICE_PRINCIPAL_DEFAULT,
    learner,
    users,
    cnxnThreadsSize: threads !== undefined && threads > QUORUM_CNXN_THREADS_SIZE_DEFAULT ? threads : QUORUM_CNXN_THREADS_SIZE_DEFAULT,
  };
}
