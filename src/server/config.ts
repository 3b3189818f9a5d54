// Reading ZooKeeper's zoo.cfg and Java-style system properties (-Dkey=value).
//
// The rules below follow ZooKeeper 3.8/3.9 so that an existing zoo.cfg and command line mean the
// same thing here:
//  - keys that ZooKeeper's config parser knows (clientPort, tickTime, server.N, ...) are parsed
//    strictly: a bad number or boolean stops the server with an error naming the key;
//  - every other key K is stored as the system property "zookeeper.K", replacing any -D value,
//    because ZooKeeper's parser calls System.setProperty while it reads the file;
//  - settings that ZooKeeper reads from system properties are parsed as the JVM does
//    (Integer.getInteger, Boolean.parseBoolean, equals("yes")): a malformed value silently falls
//    back to the default there, so here it falls back too and leaves a warning for the caller.

import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadSaslServer, readJaasFile, SaslConfigError, type SaslServerFactory } from './sasl/saslserver';
import { loadQuorumSasl, type QuorumSaslSettings } from './sasl/quorumlogin';
import { loadStore, trustMaterial } from '../tls/keystore';
import { readTlsSettings, serverTlsOf, TLS_SETTING_SUFFIXES, TlsSettingError, type ServerTls, type TlsSettings } from '../tls/settings';

export class ConfigError extends Error {
  constructor(
    public readonly key: string,
    public readonly reason: string,
  ) {
    super(`invalid config: ${key}: ${reason}`);
    this.name = 'ConfigError';
  }
}

export type LearnerRole = 'participant' | 'observer';

export interface QuorumAddress {
  host: string;
  quorumPort: number;
  electionPort: number;
}

export interface QuorumServerSpec {
  // The first (often only) address; `addresses` holds all of them when multiAddress is in use.
  host: string;
  quorumPort: number;
  electionPort: number;
  role: LearnerRole;
  clientPort?: number;
  clientPortAddress?: string;
  addresses: QuorumAddress[];
}

export interface ServerConfig {
  tickTimeMs: number;
  initLimitTicks: number;
  syncLimitTicks: number;
  connectToLearnerMasterLimitTicks: number; // 0 = use initLimit
  dataDir: string;
  dataLogDir: string;
  // undefined = no plaintext listener; 0 = an ephemeral port (ZooKeeper 3.9 semantics).
  clientPort?: number;
  // undefined = every interface (Node's listen() without a host, like Java's wildcard bind).
  clientPortAddress?: string;
  secureClientPort?: number;
  secureClientPortAddress?: string;
  clientPortListenBacklog: number; // -1 = platform default
  observerMasterPort?: number;
  maxClientCnxns: number; // per client IP, 0 = unlimited
  maxCnxns: number; // per listener, 0 = unlimited
  /** A connection that has not sent its ConnectRequest by then is closed (zookeeper.nio.sessionlessCnxnTimeout). */
  sessionlessCnxnTimeoutMs: number;
  /** An election-port connect's timeout (zookeeper.cnxTimeout, ZooKeeper's default 5000 ms). */
  cnxTimeoutMs: number;
  /** Quorum SASL (quorum.auth.enableSasl=true on an ensemble member); undefined when off. */
  quorumSasl?: QuorumSaslSettings;
  /** File descriptors kept free of client connections for the server's own files (zkts.cnxn.descriptorReserve). */
  descriptorReserve: number;
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
  localSessionsEnabled: boolean;
  localSessionsUpgradingEnabled: boolean;
  globalOutstandingLimit: number;
  fourLetterWordWhitelist: Set<string> | '*';
  adminEnableServer: boolean;
  adminServerAddress: string;
  adminServerPort: number;
  adminCommandURL: string;
  adminIdleTimeoutMs: number;
  /** TLS between ensemble members (sslQuorum or portUnification): the ssl.quorum.* stores, opened at start. */
  quorumTls?: ServerTls;
  sslQuorumReloadCertFiles: boolean;
  /** `zookeeper.fips-mode`: no host name checks between members (3.9's default is true, 3.8's false). */
  fipsMode: boolean;
  /** HTTPS on the AdminServer (admin.forceHttps, admin.portUnification), with the ssl.quorum.* stores. */
  adminTls?: {
    tls: ServerTls;
    mode: 'https' | 'unified';
    needClientAuth: boolean;
    /**
     * The client port's trust store (ssl.trustStore.*, PEM), against which ZooKeeper 3.9's x509
     * provider checks a certificate again before it authorizes snapshot/restore with it.
     */
    x509TrustCa?: X509Certificate[];
  };
  /** The web console at the AdminServer's "/" (zkts.console.enabled, default true). */
  consoleEnabled: boolean;
  /** Whether the console may create, set and delete nodes (zkts.console.editable, default false). */
  consoleEditable: boolean;
  /**
   * How long the txn log keeps retrying to open a file it cannot open yet (EMFILE, ENFILE, ENOSPC
   * at creation) before the server gives up and exits (zkts.storage.openRetryMs, default 30 s).
   */
  storageOpenRetryMs: number;
  /**
   * Watchers of one event from which its notifications are written by two threads
   * (zkts.watch.parallelFanoutMinWatchers, default 256; 0 turns the second thread off).
   */
  parallelFanoutMinWatchers: number;
  /** A connection's pending output past which it is not read (zkts.cnxn.outputSoftLimitBytes). */
  outputSoftLimitBytes: number;
  /** A connection's pending output past which it is closed (zkts.cnxn.outputHardLimitBytes). */
  outputHardLimitBytes: number;
  authProviders: string[];
  digestAuthEnabled: boolean;
  superDigest?: string;
  superUser?: string;
  superUsers: string[]; // zookeeper.superUser and every zookeeper.superUser.<suffix>
  /** The SASL server of each connection; undefined when no JAAS `Server` section is configured. */
  saslServer?: SaslServerFactory;
  /** authProvider.N names SASLAuthenticationProvider: the `sasl` ACL scheme exists. */
  saslAuthProvider: boolean;
  /** zookeeper.letAnySaslUserDoX: a `sasl` ACL id every SASL-authenticated client matches. */
  letAnySaslUserDoX?: string;
  /** zookeeper.allowSaslFailedClients: a failed SASL exchange leaves the connection open. */
  allowSaslFailedClients: boolean;
  /**
   * The schemes a connection must hold an id of before its requests are served
   * (enforce.auth.enabled + enforce.auth.schemes, or sessionRequireClientSASLAuth = sasl);
   * empty when not enforced.
   */
  enforceAuthSchemes: string[];
  extendedTypesEnabled: boolean;
  emulate353TTLNodes: boolean;
  readOnlyModeEnabled: boolean;
  juteMaxBufferBytes: number;
  juteMaxBufferExtraSizeBytes: number;
  skipACL: boolean;
  snapCount: number;
  preAllocSizeKb: number;
  forceSync: boolean;
  /**
   * A leader DIFFs a learner from its on-disk log when the log files to read weigh at most this
   * fraction of its newest snapshot (zookeeper.snapshotSizeFactor; below 0: never from disk).
   */
  snapshotSizeFactor: number;
  /** Committed txns a leader keeps in memory for DIFFs (zookeeper.commitLogCount, at least 500). */
  commitLogCount: number;
  /** A leader syncs every learner by SNAP (zookeeper.forceSnapshotSync, for tests). */
  forceSnapshotSync: boolean;
  autopurgeSnapRetainCount: number;
  autopurgePurgeIntervalHours: number; // 0 = auto purge off
  containerCheckIntervalMs: number;
  containerMaxPerMinute: number;
  containerMaxNeverUsedIntervalMs: number;
  enforceQuota: boolean;
  digestEnabled: boolean;
  leaderServes: boolean;
  metricsProviderClassName?: string; // undefined = the built-in provider
  metricsProviderHttpHost: string;
  metricsProviderHttpPort: number;
  metricsProviderExportJvmInfo: boolean;
  metricsProviderConfig: Map<string, string>; // every metricsProvider.<name> except className
  servers: Map<number, QuorumServerSpec>;
  groups: Map<number, number[]>; // hierarchical quorums: group id -> server ids
  weights: Map<number, number>; // hierarchical quorums: server id -> weight
  dynamicConfigFile?: string;
  dynamicConfigVersion?: string; // hex, as ZooKeeper writes it
  serverId?: number; // from dataDir/myid
  peerType: LearnerRole;
  distributed: boolean;
  standaloneEnabled: boolean;
  reconfigEnabled: boolean;
  quorumListenOnAllIPs: boolean;
  syncEnabled: boolean;
  multiAddressEnabled: boolean;
  sslQuorum: boolean;
  portUnification: boolean;
  /** The client port's TLS (secureClientPort, client.portUnification): its stores opened at start. */
  clientTls?: ServerTls;
  /** `zookeeper.client.portUnification`: TLS and plaintext clients on clientPort. */
  clientPortUnification: boolean;
  /** `zookeeper.netty.server.outstandingHandshake.limit` (<= 0: none). */
  outstandingHandshakeLimit: number;
  /** `zookeeper.X509AuthenticationProvider.superUser`. */
  x509SuperUser?: string;
  /** `zookeeper.serverCnxnFactory` names Netty's factory (whose connection counters zkts keeps as ZooKeeper's Netty does). */
  nettyCnxnFactory: boolean;
  // zoo.cfg keys that no field above covers (still present in systemProps as "zookeeper.<key>"
  // for modules that read them); the caller logs them, ZooKeeper ignores unused ones too.
  unknownKeys: string[];
  // Values ZooKeeper would accept but silently replace or ignore; the caller logs them.
  warnings: string[];
  // The effective system properties: the -D values overlaid with zoo.cfg's "zookeeper.*" ones.
  systemProps: Map<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Java .properties format

function isPropWhitespace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\f';
}

function splitNaturalLines(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

function endsWithOddBackslashes(s: string): boolean {
  let n = 0;
  for (let i = s.length - 1; i >= 0 && s[i] === '\\'; i--) n++;
  return n % 2 === 1;
}

function unescapeProperty(raw: string, where: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    i++;
    if (i >= raw.length) break; // a lone trailing backslash means nothing
    const e = raw[i];
    if (e === 'u') {
      const hex = raw.slice(i + 1, i + 5);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new ConfigError(where, 'malformed \\uxxxx encoding');
      out += String.fromCharCode(parseInt(hex, 16));
      i += 4;
    } else if (e === 't') out += '\t';
    else if (e === 'n') out += '\n';
    else if (e === 'r') out += '\r';
    else if (e === 'f') out += '\f';
    else out += e;
  }
  return out;
}

/**
 * Parses text in java.util.Properties format: `key=value`, `key: value` or `key value`;
 * `#`/`!` comment lines; a line ending in an odd number of backslashes continues on the next
 * (whose leading whitespace is dropped); escapes \t \n \r \f \uXXXX and \c -> c. Leading
 * whitespace of keys and values is dropped, trailing whitespace of values is kept (as Java does).
 * A repeated key keeps its last value.
 */
export function parseProperties(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = splitNaturalLines(text);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    let line = stripLeadingPropWhitespace(lines[i]);
    if (line === '' || line[0] === '#' || line[0] === '!') continue;
    while (endsWithOddBackslashes(line)) {
      line = line.slice(0, -1);
      if (i + 1 >= lines.length) break; // a backslash at end of input just ends the line
      i++;
      line += stripLeadingPropWhitespace(lines[i]);
    }
    const [rawKey, rawValue] = splitKeyValue(line);
    const key = unescapeProperty(rawKey, `line ${lineNo}`);
    const value = unescapeProperty(rawValue, key === '' ? `line ${lineNo}` : key);
    out.delete(key); // so that iteration order follows the effective (last) definition
    out.set(key, value);
  }
  return out;
}

function stripLeadingPropWhitespace(s: string): string {
  let k = 0;
  while (k < s.length && isPropWhitespace(s[k])) k++;
  return s.slice(k);
}

function splitKeyValue(line: string): [string, string] {
  let keyLen = 0;
  let valueStart = line.length;
  let hasSep = false;
  let escaped = false;
  while (keyLen < line.length) {
    const c = line[keyLen];
    if (!escaped && (c === '=' || c === ':')) {
      hasSep = true;
      valueStart = keyLen + 1;
      break;
    }
    if (!escaped && isPropWhitespace(c)) {
      valueStart = keyLen + 1;
      break;
    }
    escaped = c === '\\' ? !escaped : false;
    keyLen++;
  }
  // After the key: whitespace, at most one '=' or ':' (unless one already ended the key), whitespace.
  while (valueStart < line.length) {
    const c = line[valueStart];
    if (!isPropWhitespace(c)) {
      if (!hasSep && (c === '=' || c === ':')) hasSep = true;
      else break;
    }
    valueStart++;
  }
  return [line.slice(0, keyLen), line.slice(valueStart)];
}

// ---------------------------------------------------------------------------------------------
// Java number/boolean/string semantics

const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

// String.trim(): every char <= U+0020 at either end.
function javaTrim(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && s.charCodeAt(a) <= 0x20) a++;
  while (b > a && s.charCodeAt(b - 1) <= 0x20) b--;
  return s.slice(a, b);
}

// String.split(regex) drops trailing empty strings.
function javaSplit(s: string, sep: string): string[] {
  const parts = s.split(sep);
  while (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 1 && parts[0] === '' && s !== '') return [];
  return parts;
}

// Integer.parseInt: decimal, optional sign, 32-bit.
function parseJavaInt(s: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n >= INT_MIN && n <= INT_MAX ? n : undefined;
}

// Long.parseLong, limited to what a JS number holds exactly.
function parseJavaLong(s: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

// Integer.decode / Long.decode, which Integer.getInteger and Long.getLong use: also 0x, # and octal.
function decodeJava(s: string, bits: 32 | 64): number | undefined {
  const m = /^([+-]?)(?:0[xX]([0-9a-fA-F]+)|#([0-9a-fA-F]+)|0([0-7]+)|([0-9]+))$/.exec(s);
  if (!m) return undefined;
  const [, sign, hex1, hex2, oct, dec] = m;
  if (dec !== undefined && dec.length > 1 && dec[0] === '0') return undefined; // e.g. "08"
  const digits = hex1 ?? hex2 ?? oct ?? dec;
  const radix = hex1 !== undefined || hex2 !== undefined ? 16 : oct !== undefined ? 8 : 10;
  const magnitude = parseInt(digits, radix);
  const n = sign === '-' ? -magnitude : magnitude;
  if (bits === 32) return n >= INT_MIN && n <= INT_MAX ? n : undefined;
  return Number.isSafeInteger(n) ? n : undefined;
}

function strictInt(key: string, value: string): number {
  const n = parseJavaInt(value);
  if (n === undefined) {
    const reason = /^[+-]?[0-9]+$/.test(value) ? 'out of range for a 32-bit integer' : 'not an integer';
    throw new ConfigError(key, `"${value}" is ${reason}`);
  }
  return n;
}

function strictLong(key: string, value: string): number {
  const n = parseJavaLong(value);
  if (n === undefined) throw new ConfigError(key, `"${value}" is not an integer`);
  return n;
}

function strictBool(key: string, value: string): boolean {
  const v = value.toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new ConfigError(key, `invalid option "${value}", choose 'true' or 'false'`);
}

function portValue(key: string, value: string): number {
  const n = strictInt(key, value);
  if (n < 0 || n > 65535) throw new ConfigError(key, `port out of range: ${n}`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// System-property readers (with warnings where the JVM would silently use the default)

class SysView {
  readonly warnings: string[] = [];
  constructor(readonly props: Map<string, string>) {}

  get(name: string): string | undefined {
    return this.props.get(name);
  }

  // Integer.getInteger / Long.getLong
  int(name: string, def: number, bits: 32 | 64 = 32): number {
    const v = this.props.get(name);
    if (v === undefined) return def;
    const n = decodeJava(v, bits);
    if (n === undefined) {
      this.warnings.push(`${name}: "${v}" is not a valid integer, using the default ${def}`);
      return def;
    }
    return n;
  }

  // Boolean.parseBoolean / Boolean.getBoolean: "true" in any case, everything else false.
  bool(name: string, def: boolean): boolean {
    const v = this.props.get(name);
    if (v === undefined) return def;
    const lower = v.toLowerCase();
    if (lower !== 'true' && lower !== 'false') {
      this.warnings.push(`${name}: "${v}" is not 'true' or 'false', taken as false`);
    }
    return lower === 'true';
  }

  // Knobs that ZooKeeper compares with one literal, e.g. skipACL == "yes", forceSync != "no".
  // Returns whether the (possibly defaulted) value equals `literal`.
  literal(name: string, literal: string, whenAbsent: string, other: string): boolean {
    const v = this.props.get(name);
    if (v !== undefined && v !== literal && v !== other) {
      this.warnings.push(`${name}: "${v}" is neither "${literal}" nor "${other}", so it counts as not "${literal}"`);
    }
    return (v ?? whenAbsent) === literal;
  }
}

// ZooKeeper's ZKDatabase: an unparsable factor or one above 1 falls back to 0.33, a commit log
// shorter than 500 to 500, each with a warning.
const DEFAULT_SNAPSHOT_SIZE_FACTOR = 0.33;
const MIN_COMMIT_LOG_COUNT = 500;

function snapshotSizeFactorOf(sys: SysView): number {
  const v = sys.get('zookeeper.snapshotSizeFactor');
  if (v === undefined) return DEFAULT_SNAPSHOT_SIZE_FACTOR;
  const n = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/.test(v) ? Number(v) : NaN;
  if (Number.isNaN(n)) {
    sys.warnings.push(`zookeeper.snapshotSizeFactor: "${v}" is not a number, using the default ${DEFAULT_SNAPSHOT_SIZE_FACTOR}`);
    return DEFAULT_SNAPSHOT_SIZE_FACTOR;
  }
  if (n > 1) {
    sys.warnings.push(`zookeeper.snapshotSizeFactor: ${v} is above 1, using the default ${DEFAULT_SNAPSHOT_SIZE_FACTOR}`);
    return DEFAULT_SNAPSHOT_SIZE_FACTOR;
  }
  return n;
}

function commitLogCountOf(sys: SysView): number {
  const n = sys.int('zookeeper.commitLogCount', MIN_COMMIT_LOG_COUNT);
  if (n < MIN_COMMIT_LOG_COUNT) {
    sys.warnings.push(`zookeeper.commitLogCount: ${n} is less than ${MIN_COMMIT_LOG_COUNT}, using ${MIN_COMMIT_LOG_COUNT}`);
    return MIN_COMMIT_LOG_COUNT;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Keys

// Keys ZooKeeper's own config parser consumes; everything else becomes a "zookeeper." property.
const QUORUM_PEER_CONFIG_KEYS = new Set([
  'dataDir',
  'dataLogDir',
  'clientPort',
  'localSessionsEnabled',
  'localSessionsUpgradingEnabled',
  'clientPortAddress',
  'secureClientPort',
  'secureClientPortAddress',
  'observerMasterPort',
  'clientPortListenBacklog',
  'tickTime',
  'maxClientCnxns',
  'minSessionTimeout',
  'maxSessionTimeout',
  'initLimit',
  'syncLimit',
  'connectToLearnerMasterLimit',
  'electionAlg',
  'quorumListenOnAllIPs',
  'peerType',
  'syncEnabled',
  'dynamicConfigFile',
  'autopurge.snapRetainCount',
  'autopurge.purgeInterval',
  'standaloneEnabled',
  'reconfigEnabled',
  'sslQuorum',
  'portUnification',
  'sslQuorumReloadCertFiles',
  'quorum.auth.enableSasl',
  'quorum.auth.serverRequireSasl',
  'quorum.auth.learnerRequireSasl',
  'quorum.auth.learner.saslLoginContext',
  'quorum.auth.server.saslLoginContext',
  'quorum.auth.kerberos.servicePrincipal',
  'quorum.cnxn.threads.size',
  'jvm.pause.info-threshold.ms',
  'jvm.pause.warn-threshold.ms',
  'jvm.pause.sleep.time.ms',
  'jvm.pause.monitor',
  'metricsProvider.className',
  'multiAddress.enabled',
  'multiAddress.reachabilityCheckTimeoutMs',
  'multiAddress.reachabilityCheckEnabled',
  'oraclePath',
]);

const BOOLEAN_KEYS = new Set([
  'localSessionsEnabled',
  'localSessionsUpgradingEnabled',
  'quorumListenOnAllIPs',
  'syncEnabled',
  'standaloneEnabled',
  'reconfigEnabled',
  'sslQuorum',
  'portUnification',
  'sslQuorumReloadCertFiles',
  'quorum.auth.enableSasl',
  'quorum.auth.serverRequireSasl',
  'quorum.auth.learnerRequireSasl',
  'jvm.pause.monitor',
  'multiAddress.enabled',
  'multiAddress.reachabilityCheckEnabled',
]);

const INT_KEYS = new Set([
  'observerMasterPort',
  'clientPortListenBacklog',
  'tickTime',
  'maxClientCnxns',
  'minSessionTimeout',
  'maxSessionTimeout',
  'initLimit',
  'syncLimit',
  'connectToLearnerMasterLimit',
  'electionAlg',
  'autopurge.snapRetainCount',
  'autopurge.purgeInterval',
  'quorum.cnxn.threads.size',
  'multiAddress.reachabilityCheckTimeoutMs',
]);

const LONG_KEYS = new Set(['jvm.pause.info-threshold.ms', 'jvm.pause.warn-threshold.ms', 'jvm.pause.sleep.time.ms']);

// System properties this module turns into ServerConfig fields. A zoo.cfg key K counts as known
// when "zookeeper.K" is one of these.
const KNOWN_SYSTEM_PROPS = new Set([
  'zookeeper.globalOutstandingLimit',
  'zookeeper.4lw.commands.whitelist',
  'zookeeper.admin.enableServer',
  'zookeeper.admin.serverAddress',
  'zookeeper.admin.serverPort',
  'zookeeper.admin.commandURL',
  'zookeeper.admin.idleTimeout',
  'zookeeper.zkts.console.enabled',
  'zookeeper.zkts.console.editable',
  'zookeeper.zkts.cnxn.outputSoftLimitBytes',
  'zookeeper.zkts.cnxn.outputHardLimitBytes',
  'zookeeper.zkts.cnxn.descriptorReserve',
  'zookeeper.nio.sessionlessCnxnTimeout',
  'zookeeper.zkts.storage.openRetryMs',
  'zookeeper.zkts.watch.parallelFanoutMinWatchers',
  'zookeeper.DigestAuthenticationProvider.superDigest',
  'zookeeper.DigestAuthenticationProvider.enabled',
  'zookeeper.extendedTypesEnabled',
  'zookeeper.emulate353TTLNodes',
  'zookeeper.skipACL',
  'zookeeper.snapCount',
  'zookeeper.cnxTimeout',
  'zookeeper.preAllocSize',
  'zookeeper.forceSync',
  'zookeeper.snapshotSizeFactor',
  'zookeeper.commitLogCount',
  'zookeeper.forceSnapshotSync',
  'zookeeper.enforceQuota',
  'zookeeper.digest.enabled',
  'zookeeper.maxCnxns',
  'zookeeper.leaderServes',
  'zookeeper.jute.maxbuffer.extrasize',
  'zookeeper.multiAddress.enabled',
  'zookeeper.ssl.authProvider',
  ...TLS_SETTING_SUFFIXES.map((x) => `zookeeper.ssl.${x}`),
  'zookeeper.client.portUnification',
  'zookeeper.client.certReload',
  'zookeeper.admin.portUnification',
  'zookeeper.admin.forceHttps',
  'zookeeper.admin.needClientAuth',
  ...TLS_SETTING_SUFFIXES.map((x) => `zookeeper.ssl.quorum.${x}`),
  'zookeeper.netty.server.outstandingHandshake.limit',
  'zookeeper.X509AuthenticationProvider.superUser',
  'zookeeper.serverCnxnFactory',
  'zookeeper.fips-mode',
  'zookeeper.sasl.serverconfig',
  'zookeeper.SASLAuthenticationProvider.superPassword',
  'zookeeper.kerberos.removeHostFromPrincipal',
  'zookeeper.kerberos.removeRealmFromPrincipal',
  'zookeeper.security.auth_to_local',
  'zookeeper.letAnySaslUserDoX',
  'zookeeper.allowSaslFailedClients',
  'zookeeper.sessionRequireClientSASLAuth',
  'zookeeper.enforce.auth.enabled',
  'zookeeper.enforce.auth.schemes',
]);

const KNOWN_SYSTEM_PROP_PREFIXES = ['zookeeper.authProvider.', 'zookeeper.superUser.'];

function isKnownSystemProp(name: string): boolean {
  return (
    KNOWN_SYSTEM_PROPS.has(name) ||
    name === 'zookeeper.superUser' ||
    KNOWN_SYSTEM_PROP_PREFIXES.some((p) => name.startsWith(p) && name.length > p.length)
  );
}

function isQuorumMembershipKey(key: string): boolean {
  return key.startsWith('server.') || key.startsWith('group.') || key.startsWith('weight.');
}

// The 4lw names ZooKeeper 3.8/3.9 knows; "*" in the whitelist enables these.
export const FOUR_LETTER_WORDS: readonly string[] = [
  'conf', 'cons', 'crst', 'dirs', 'dump', 'envi', 'gtmk', 'ruok', 'stmk', 'srst', 'srvr', 'stat',
  'wchc', 'wchp', 'wchs', 'mntr', 'isro', 'hash',
];

const X509_PROVIDER_CLASS = 'org.apache.zookeeper.server.auth.X509AuthenticationProvider';

/** The CAs of ssl.trustStore.* when no client TLS port opened them already; undefined without one. */
function adminX509TrustCa(props: Map<string, string>): string[] | undefined {
  const store = (() => {
    try {
      return readTlsSettings(props, 'zookeeper.ssl.').settings.trustStore;
    } catch (e) {
      if (e instanceof TlsSettingError) throw new ConfigError(e.key, e.reason);
      throw e;
    }
  })();
  if (!store) return undefined;
  try {
    return trustMaterial(loadStore(store));
  } catch (e) {
    throw new ConfigError(store.locationKey, (e as Error).message);
  }
}

// What runs when no zoo.cfg is given.
const EMBEDDED_DEFAULT: ReadonlyArray<[string, string]> = [
  ['tickTime', '2000'],
  ['dataDir', './data'],
  ['clientPort', '2181'],
];

// ---------------------------------------------------------------------------------------------
// server.N lines

function hostAndPort(key: string, s: string): string[] {
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) throw new ConfigError(key, `${s} starts with '[' but has no matching ']:'`);
    if (close + 1 === s.length) return [s.slice(1, close)];
    if (s[close + 1] !== ':' || close + 2 === s.length) {
      throw new ConfigError(key, `${s} doesn't have a port after colon`);
    }
    return [s.slice(1, close), ...javaSplit(s.slice(close + 2), ':')];
  }
  return javaSplit(s, ':');
}

const SERVER_FORMAT =
  'does not have the form server_config or server_config;client_config where server_config is ' +
  'the pipe separated list of host:port:port or host:port:port:type and client_config is port or host:port';

function serverPort(key: string, host: string, raw: string): number {
  const n = parseJavaInt(javaTrim(raw));
  if (n === undefined) throw new ConfigError(key, `address unresolved: ${host}:${raw}`);
  if (n < 0 || n > 65535) throw new ConfigError(key, `port out of range: ${n}`);
  return n;
}

function parseRole(key: string, s: string): LearnerRole {
  const v = javaTrim(s).toLowerCase();
  if (v === 'observer' || v === 'participant') return v;
  throw new ConfigError(key, `unrecognised peer type: ${s}`);
}

export function parseServerLine(key: string, sid: number, value: string, multiAddressEnabled: boolean): QuorumServerSpec {
  const serverClient = javaSplit(value, ';');
  if (serverClient.length === 0 || serverClient.length > 2) throw new ConfigError(key, `${value} ${SERVER_FORMAT}`);
  let clientPort: number | undefined;
  let clientPortAddress: string | undefined;
  if (serverClient.length === 2) {
    const clientParts = hostAndPort(key, serverClient[1]);
    if (clientParts.length === 0 || clientParts.length > 2) throw new ConfigError(key, `${value} ${SERVER_FORMAT}`);
    // A bare port means every interface, as with clientPort alone.
    if (clientParts.length === 2) clientPortAddress = clientParts[0];
    clientPort = serverPort(key, clientPortAddress ?? '0.0.0.0', clientParts[clientParts.length - 1]);
  }
  const addressStrings = javaSplit(serverClient[0], '|');
  if (addressStrings.length > 1 && !multiAddressEnabled) {
    throw new ConfigError(key, `multiple address feature is disabled, but multiple addresses were specified for sid ${sid}`);
  }
  const addresses: QuorumAddress[] = [];
  let role: LearnerRole | undefined;
  for (const a of addressStrings) {
    const parts = hostAndPort(key, a);
    if (parts.length < 3 || parts.length > 4) throw new ConfigError(key, `${value} ${SERVER_FORMAT}`);
    const host = parts[0];
    const quorumPort = serverPort(key, host, parts[1]);
    const electionPort = serverPort(key, host, parts[2]);
    if (quorumPort === electionPort) {
      throw new ConfigError(key, `quorum and election port must be different (both ${quorumPort})`);
    }
    if (parts.length === 4) {
      const r = parseRole(key, parts[3]);
      if (role !== undefined && role !== r) {
        throw new ConfigError(key, `multiple addresses should have similar roles: ${role} vs ${r}`);
      }
      role = r;
    }
    addresses.push({ host, quorumPort, electionPort });
  }
  if (addresses.length === 0) throw new ConfigError(key, `${value} ${SERVER_FORMAT}`);
  const first = addresses[0];
  const spec: QuorumServerSpec = {
    host: first.host,
    quorumPort: first.quorumPort,
    electionPort: first.electionPort,
    role: role ?? 'participant',
    addresses,
  };
  if (clientPort !== undefined) {
    spec.clientPort = clientPort;
    if (clientPortAddress !== undefined) spec.clientPortAddress = clientPortAddress;
  }
  return spec;
}

function idSuffix(key: string, prefix: string): number {
  const n = parseJavaLong(key.slice(prefix.length));
  if (n === undefined) throw new ConfigError(key, `"${key.slice(prefix.length)}" is not a valid id`);
  return n;
}

export interface Membership {
  servers: Map<number, QuorumServerSpec>;
  groups: Map<number, number[]>;
  weights: Map<number, number>;
  version?: string;
}

/** Parses server./group./weight./version entries, as zoo.cfg, a dynamic file or a config string carries them. */
export function parseMembership(entries: Array<[string, string]>, multiAddressEnabled: boolean): Membership {
  const m: Membership = { servers: new Map(), groups: new Map(), weights: new Map() };
  const groupOf = new Map<number, number>();
  for (const [key, value] of entries) {
    if (key.startsWith('server.')) {
      const sid = idSuffix(key, 'server.');
      m.servers.set(sid, parseServerLine(key, sid, value, multiAddressEnabled));
    } else if (key.startsWith('group.')) {
      const gid = idSuffix(key, 'group.');
      const members: number[] = [];
      for (const s of javaSplit(value, ':')) {
        const sid = strictLong(key, s);
        const prior = groupOf.get(sid);
        if (prior !== undefined && prior !== gid) throw new ConfigError(key, `server ${sid} is in multiple groups`);
        groupOf.set(sid, gid);
        members.push(sid);
      }
      m.groups.set(gid, members);
    } else if (key.startsWith('weight.')) {
      m.weights.set(idSuffix(key, 'weight.'), strictLong(key, value));
    } else if (key === 'version') {
      if (!/^[0-9a-fA-F]+$/.test(value)) throw new ConfigError(key, `"${value}" is not a hex number`);
      m.version = BigInt('0x' + value).toString(16);
    }
  }
  if (m.groups.size > 0 || m.weights.size > 0) {
    for (const [sid, s] of m.servers) {
      if (s.role !== 'participant') continue;
      if (!groupOf.has(sid)) throw new ConfigError(`server.${sid}`, `server ${sid} is not in a group`);
      if (!m.weights.has(sid)) m.weights.set(sid, 1);
    }
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Files next to the config: myid and the dynamic config file

function readTextFile(file: string): string | undefined {
  try {
    if (!fs.statSync(file).isFile()) return undefined;
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function readMyId(dataDir: string): number | undefined {
  const text = readTextFile(path.join(dataDir, 'myid'));
  if (text === undefined) return undefined;
  const firstLine = javaTrim(splitNaturalLines(text)[0] ?? '');
  const id = parseJavaLong(firstLine);
  if (id === undefined) throw new ConfigError('myid', `serverid "${firstLine}" is not a number`);
  return id;
}

// zoo.cfg.dynamic.100000000 -> "100000000"; a name without a hex suffix has no version.
function versionFromFilename(file: string): string | undefined {
  const dot = file.lastIndexOf('.');
  if (dot < 0) return undefined;
  const suffix = file.slice(dot + 1);
  if (!/^[0-9a-fA-F]{1,16}$/.test(suffix)) return undefined;
  return BigInt('0x' + suffix).toString(16);
}

// ---------------------------------------------------------------------------------------------
// loadConfig

function isWildcard(host: string | undefined): boolean {
  return host === undefined || host === '0.0.0.0' || host === '::' || host === '[::]';
}

function compareSuffixes(prefix: string) {
  return (a: string, b: string): number => {
    const sa = a.slice(prefix.length);
    const sb = b.slice(prefix.length);
    const na = Number(sa);
    const nb = Number(sb);
    if (/^\d+$/.test(sa) && /^\d+$/.test(sb) && na !== nb) return na - nb;
    return sa < sb ? -1 : sa > sb ? 1 : 0;
  };
}

/**
 * Builds the server configuration from zoo.cfg text (undefined = the embedded default: tickTime
 * 2000, dataDir ./data, clientPort 2181) and the -D system properties. Relative paths resolve
 * against baseDir. Reads dataDir/myid and dynamicConfigFile when present, as ZooKeeper does.
 * Throws ConfigError naming the offending key.
 */
export function loadConfig(
  cfgText: string | undefined,
  systemProps: Map<string, string>,
  baseDir: string = process.cwd(),
): ServerConfig {
  const raw = cfgText === undefined ? new Map(EMBEDDED_DEFAULT) : parseProperties(cfgText);
  // ZooKeeper trims keys and values; two raw keys trimming to one name: the later wins.
  const entries = new Map<string, string>();
  for (const [k, v] of raw) {
    const key = javaTrim(k);
    if (key === '') continue;
    entries.delete(key);
    entries.set(key, javaTrim(v));
  }

  const sys = new SysView(new Map(systemProps));
  const warnings: string[] = [];
  const unknownKeys: string[] = [];
  const membership: Array<[string, string]> = [];
  const metricsProviderConfig = new Map<string, string>();
  const ints = new Map<string, number>();
  const bools = new Map<string, boolean>();
  const quorumStrings = new Map<string, string>();
  let dataDirRaw: string | undefined;
  let dataLogDirRaw: string | undefined;
  let clientPort: number | undefined;
  let clientPortAddress: string | undefined;
  let secureClientPort: number | undefined;
  let secureClientPortAddress: string | undefined;
  let peerType: LearnerRole = 'participant';
  let dynamicConfigFile: string | undefined;
  let metricsProviderClassName: string | undefined;

  const hasDynamicFile = entries.has('dynamicConfigFile');
  for (const [key, value] of entries) {
    if (INT_KEYS.has(key)) {
      ints.set(key, strictInt(key, value));
    } else if (LONG_KEYS.has(key)) {
      strictLong(key, value);
    } else if (BOOLEAN_KEYS.has(key)) {
      bools.set(key, strictBool(key, value));
    } else if (key === 'dataDir') {
      dataDirRaw = value;
    } else if (key === 'dataLogDir') {
      dataLogDirRaw = value;
    } else if (key === 'clientPort') {
      clientPort = portValue(key, value);
    } else if (key === 'clientPortAddress') {
      clientPortAddress = value;
    } else if (key === 'secureClientPort') {
      secureClientPort = portValue(key, value);
    } else if (key === 'secureClientPortAddress') {
      secureClientPortAddress = value;
    } else if (key === 'peerType') {
      peerType = parseRole(key, value);
    } else if (key === 'dynamicConfigFile') {
      dynamicConfigFile = path.resolve(baseDir, value);
    } else if (key === 'metricsProvider.className') {
      metricsProviderClassName = value;
    } else if (key.startsWith('metricsProvider.')) {
      metricsProviderConfig.set(key.slice('metricsProvider.'.length), value);
    } else if (QUORUM_PEER_CONFIG_KEYS.has(key)) {
      // string-valued keys (SASL login contexts, principal, oracle path): accepted as they are
      quorumStrings.set(key, value);
    } else if (isQuorumMembershipKey(key) || key === 'version') {
      if (hasDynamicFile && key !== 'version') {
        throw new ConfigError(key, 'must be in a separate dynamic config file');
      }
      membership.push([key, value]);
    } else {
      const propName = `zookeeper.${key}`;
      sys.props.set(propName, value);
      if (!isKnownSystemProp(propName)) unknownKeys.push(key);
    }
  }

  const electionAlg = ints.get('electionAlg');
  if (electionAlg !== undefined && electionAlg !== 3) {
    throw new ConfigError('electionAlg', `invalid value ${electionAlg}, only 3 is supported`);
  }

  const saslEnabled = bools.get('quorum.auth.enableSasl') ?? false;
  const serverRequireSasl = bools.get('quorum.auth.serverRequireSasl') ?? false;
  const learnerRequireSasl = bools.get('quorum.auth.learnerRequireSasl') ?? false;
  if (!saslEnabled && serverRequireSasl) {
    throw new ConfigError('quorum.auth.serverRequireSasl', 'quorum.auth.enableSasl is disabled, so it cannot be enabled');
  }
  if (!saslEnabled && learnerRequireSasl) {
    throw new ConfigError('quorum.auth.learnerRequireSasl', 'quorum.auth.enableSasl is disabled, so it cannot be enabled');
  }
  if (!learnerRequireSasl && serverRequireSasl) {
    throw new ConfigError('quorum.auth.serverRequireSasl', 'quorum.auth.learnerRequireSasl is disabled, so it cannot be enabled');
  }

  let autopurgeSnapRetainCount = ints.get('autopurge.snapRetainCount') ?? 3;
  if (autopurgeSnapRetainCount < 3) {
    warnings.push(`autopurge.snapRetainCount: ${autopurgeSnapRetainCount} is below the minimum, using 3`);
    autopurgeSnapRetainCount = 3;
  }

  if (dataDirRaw === undefined) throw new ConfigError('dataDir', 'dataDir is not set');
  if (dataDirRaw === '') throw new ConfigError('dataDir', 'is empty');
  if (dataLogDirRaw === '') throw new ConfigError('dataLogDir', 'is empty');
  const dataDir = path.resolve(baseDir, dataDirRaw);
  const dataLogDir = dataLogDirRaw === undefined ? dataDir : path.resolve(baseDir, dataLogDirRaw);

  if (clientPort === undefined && clientPortAddress !== undefined) {
    throw new ConfigError('clientPortAddress', 'clientPortAddress is set but clientPort is not set');
  }
  if (secureClientPort === undefined && secureClientPortAddress !== undefined) {
    throw new ConfigError('secureClientPortAddress', 'secureClientPortAddress is set but secureClientPort is not set');
  }
  const clientPortUnification = sys.bool('zookeeper.client.portUnification', false) && clientPort !== undefined;
  if (secureClientPort !== undefined || clientPortUnification) {
    // ZooKeeper registers the x509 provider for TLS clients unless another scheme is configured.
    const scheme = sys.get('zookeeper.ssl.authProvider') ?? 'x509';
    const providerProp = `zookeeper.authProvider.${scheme}`;
    if (sys.get(providerProp) === undefined) {
      if (scheme !== 'x509') {
        throw new ConfigError('ssl.authProvider', `no auth provider configured for the SSL authentication scheme '${scheme}'`);
      }
      sys.props.set(providerProp, X509_PROVIDER_CLASS);
    }
  }

  const observerMasterPortRaw = ints.get('observerMasterPort') ?? 0;
  if (observerMasterPortRaw > 65535) throw new ConfigError('observerMasterPort', `port out of range: ${observerMasterPortRaw}`);

  const tickTimeMs = ints.get('tickTime') ?? 3000;
  if (tickTimeMs === 0) throw new ConfigError('tickTime', 'tickTime is not set');
  if (tickTimeMs < 0) throw new ConfigError('tickTime', `must be positive, got ${tickTimeMs}`);
  const minRaw = ints.get('minSessionTimeout') ?? -1;
  const maxRaw = ints.get('maxSessionTimeout') ?? -1;
  const minSessionTimeoutMs = minRaw === -1 ? tickTimeMs * 2 : minRaw;
  const maxSessionTimeoutMs = maxRaw === -1 ? tickTimeMs * 20 : maxRaw;
  if (minSessionTimeoutMs > maxSessionTimeoutMs) {
    throw new ConfigError(
      'minSessionTimeout',
      `minSessionTimeout (${minSessionTimeoutMs}) must not be larger than maxSessionTimeout (${maxSessionTimeoutMs})`,
    );
  }

  // Quorum membership, from zoo.cfg or from the dynamic file.
  const standaloneEnabled = bools.get('standaloneEnabled') ?? true;
  const multiAddressEnabled =
    bools.get('multiAddress.enabled') ?? sys.bool('zookeeper.multiAddress.enabled', false);
  let dynamicConfigVersion: string | undefined;
  let members: Membership;
  if (dynamicConfigFile !== undefined) {
    const text = readTextFile(dynamicConfigFile);
    if (text === undefined) throw new ConfigError('dynamicConfigFile', `cannot read ${dynamicConfigFile}`);
    const dyn: Array<[string, string]> = [];
    for (const [k, v] of parseProperties(text)) {
      const key = javaTrim(k);
      if (key === 'version') throw new ConfigError('dynamicConfigFile', "the dynamic file must not contain 'version'");
      if (!isQuorumMembershipKey(key)) throw new ConfigError('dynamicConfigFile', `unrecognised parameter: ${key}`);
      dyn.push([key, javaTrim(v)]);
    }
    members = parseMembership(dyn, multiAddressEnabled);
    dynamicConfigVersion = versionFromFilename(dynamicConfigFile);
  } else {
    members = parseMembership(membership, multiAddressEnabled);
    dynamicConfigVersion = members.version;
  }
  const servers = members.servers;
  let participants = 0;
  let observers = 0;
  for (const s of servers.values()) {
    if (s.role === 'participant') participants++;
    else observers++;
  }
  if (participants === 0) {
    if (!standaloneEnabled) {
      throw new ConfigError('standaloneEnabled', 'standaloneEnabled is false, so the number of participants must be > 0');
    }
    if (observers > 0) throw new ConfigError('server', 'observers without participants is an invalid configuration');
  } else if (participants === 1 && standaloneEnabled) {
    warnings.push('only one server specified in the server list (ignored, running standalone)');
    if (observers > 0) throw new ConfigError('server', 'observers without a quorum is an invalid configuration');
  } else if (participants <= 2) {
    warnings.push('no server failure will be tolerated; you need at least 3 servers');
  } else if (participants % 2 === 0) {
    warnings.push('non-optimal configuration, consider an odd number of servers');
  }

  const serverId = readMyId(dataDir);
  if (serverId !== undefined) {
    const me = servers.get(serverId);
    if (me?.clientPort !== undefined) {
      if (clientPort !== undefined) {
        const staticHost = clientPortAddress;
        const conflict = isWildcard(staticHost)
          ? clientPort !== me.clientPort
          : staticHost !== me.clientPortAddress || clientPort !== me.clientPort;
        if (conflict) {
          throw new ConfigError(
            'clientPort',
            `client address for this server (id = ${serverId}) in the static config ` +
              `(${staticHost ?? '0.0.0.0'}:${clientPort}) differs from the one in server.${serverId} ` +
              `(${me.clientPortAddress ?? '0.0.0.0'}:${me.clientPort})`,
          );
        }
      }
      clientPort = me.clientPort;
      if (me.clientPortAddress !== undefined || !isWildcard(clientPortAddress)) clientPortAddress = me.clientPortAddress;
    }
    const listedRole: LearnerRole = me?.role === 'observer' ? 'observer' : 'participant';
    if (listedRole !== peerType) {
      warnings.push(`peerType ${peerType} does not match the server list (${listedRole}), using the server list`);
      peerType = listedRole;
    }
  }

  const distributed = !standaloneEnabled || participants > 1;
  let quorumSasl: QuorumSaslSettings | undefined;
  const initLimitTicks = ints.get('initLimit') ?? 0;
  const syncLimitTicks = ints.get('syncLimit') ?? 0;
  if (distributed) {
    if (initLimitTicks === 0) throw new ConfigError('initLimit', 'initLimit is not set');
    if (syncLimitTicks === 0) throw new ConfigError('syncLimit', 'syncLimit is not set');
    if (serverId === undefined) throw new ConfigError('myid', `myid file is missing in ${dataDir}`);
    // Security between members that is asked for and not there must not pass unnoticed.
    if (saslEnabled) {
      try {
        quorumSasl = loadQuorumSasl(
          {
            learnerRequireSasl,
            serverRequireSasl,
            learnerLoginContext: quorumStrings.get('quorum.auth.learner.saslLoginContext'),
            serverLoginContext: quorumStrings.get('quorum.auth.server.saslLoginContext'),
            servicePrincipal: quorumStrings.get('quorum.auth.kerberos.servicePrincipal'),
            cnxnThreadsSize: ints.get('quorum.cnxn.threads.size'),
          },
          sys.props,
          readJaasFile,
        );
      } catch (e) {
        if (e instanceof SaslConfigError) throw new ConfigError(e.key, e.reason);
        throw e;
      }
    }
  }
  if (clientPort === undefined && secureClientPort === undefined) {
    warnings.push('neither clientPort nor secureClientPort is set; no client can connect');
  }
  // A side's ssl.* settings and stores, opened now; a setting that cannot be used stops the start.
  const openTls = (prefix: 'zookeeper.ssl.' | 'zookeeper.ssl.quorum.', adjust: (t: TlsSettings) => TlsSettings = (t) => t): ServerTls => {
    try {
      const read = readTlsSettings(sys.props, prefix);
      for (const w of read.warnings) if (!warnings.includes(w)) warnings.push(w);
      return serverTlsOf(adjust(read.settings));
    } catch (e) {
      if (e instanceof TlsSettingError) throw new ConfigError(e.key, e.reason);
      throw e;
    }
  };
  const clientTls = secureClientPort !== undefined || clientPortUnification ? openTls('zookeeper.ssl.') : undefined;
  // The AdminServer's HTTPS takes only the ssl.quorum.* stores, with Jetty's default protocols and
  // suites (Node's here), as ZooKeeper's JettyAdminServer does.
  const adminForceHttps = sys.bool('zookeeper.admin.forceHttps', false);
  const adminPortUnification = sys.bool('zookeeper.admin.portUnification', false);
  const adminTls: ServerConfig['adminTls'] =
    adminForceHttps || adminPortUnification
      ? {
          tls: openTls('zookeeper.ssl.quorum.', (t) => ({ ...t, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', ciphers: '' })),
          mode: adminForceHttps ? 'https' : 'unified',
          needClientAuth: sys.bool('zookeeper.admin.needClientAuth', false),
        }
      : undefined;
  if (adminTls?.needClientAuth) {
    const ca = clientTls ? clientTls.contextOptions.ca : adminX509TrustCa(sys.props);
    if (ca !== undefined) adminTls.x509TrustCa = (Array.isArray(ca) ? ca : [ca]).map((pem) => new X509Certificate(String(pem)));
  }
  const quorumTls = distributed && (bools.get('sslQuorum') === true || bools.get('portUnification') === true) ? openTls('zookeeper.ssl.quorum.') : undefined;
  const serverCnxnFactory = sys.get('zookeeper.serverCnxnFactory');
  const NETTY_FACTORY = 'org.apache.zookeeper.server.NettyServerCnxnFactory';
  const NIO_FACTORY = 'org.apache.zookeeper.server.NIOServerCnxnFactory';
  if (serverCnxnFactory !== undefined && serverCnxnFactory !== NETTY_FACTORY && serverCnxnFactory !== NIO_FACTORY) {
    throw new ConfigError('serverCnxnFactory', `${serverCnxnFactory} is neither ${NETTY_FACTORY} nor ${NIO_FACTORY}`);
  }

  // Settings that live in system properties.
  const extendedTypesEnabled = sys.bool('zookeeper.extendedTypesEnabled', false);
  if (extendedTypesEnabled && distributed && serverId !== undefined && serverId > 254) {
    throw new ConfigError('zookeeper.extendedTypesEnabled', `extendedTypesEnabled is true but server id ${serverId} is larger than 254`);
  }

  const readOnlyModeEnabled = sys.bool('readonlymode.enabled', false);
  const fourLetterWordWhitelist = fourLetterWords(sys);

  let snapCount = sys.int('zookeeper.snapCount', 100000);
  if (snapCount < 2) {
    sys.warnings.push(`zookeeper.snapCount: ${snapCount} is below 2, using 2`);
    snapCount = 2;
  }
  let maxCnxns = sys.int('zookeeper.maxCnxns', 0);
  if (maxCnxns < 0) {
    sys.warnings.push(`zookeeper.maxCnxns: ${maxCnxns} is negative, using 0 (unlimited)`);
    maxCnxns = 0;
  }
  let preAllocSizeKb = 65536;
  const preAlloc = sys.get('zookeeper.preAllocSize');
  if (preAlloc !== undefined) {
    const n = parseJavaLong(preAlloc);
    if (n === undefined) sys.warnings.push(`zookeeper.preAllocSize: "${preAlloc}" is not a valid value, using ${preAllocSizeKb}`);
    else preAllocSizeKb = n;
  }
  const juteMaxBufferBytes = sys.int('jute.maxbuffer', 0xfffff);
  const outputLimits = outputLimitsOf(sys, juteMaxBufferBytes);

  const authPrefix = 'zookeeper.authProvider.';
  const authProviders = [...sys.props.keys()]
    .filter((k) => k.startsWith(authPrefix) && k.length > authPrefix.length)
    .sort(compareSuffixes(authPrefix))
    .map((k) => sys.props.get(k) as string);

  const superUserPrefix = 'zookeeper.superUser';
  const superUsers = [...sys.props.keys()]
    .filter((k) => k === superUserPrefix || (k.startsWith(superUserPrefix + '.') && k.length > superUserPrefix.length + 1))
    .sort(compareSuffixes(superUserPrefix + '.'))
    .map((k) => sys.props.get(k) as string);

  const saslAuthProvider = authProviders.includes(SASL_AUTH_PROVIDER);
  const digestAuthEnabled = sys.bool('zookeeper.DigestAuthenticationProvider.enabled', true);
  const enforceAuthSchemes = enforcedAuthSchemes(sys, (scheme) => scheme === 'ip' || (scheme === 'digest' && digestAuthEnabled) || (scheme === 'sasl' && saslAuthProvider));
  let saslServer: SaslServerFactory | undefined;
  try {
    saslServer = loadSaslServer(sys.props);
  } catch (e) {
    if (e instanceof SaslConfigError) throw new ConfigError(e.key, e.reason);
    throw e;
  }

  const metricsProviderHttpPort =
    metricsProviderConfig.has('httpPort')
      ? portValue('metricsProvider.httpPort', metricsProviderConfig.get('httpPort') as string)
      : 7000;
  const exportJvmInfo = metricsProviderConfig.get('exportJvmInfo');

  // An observer of zkts always logs what it is sent; ZooKeeper's observers skip their txn log with
  // syncEnabled=false (faster, and they SNAP on restart). Taking the durable way is safe, but said.
  if (bools.get('syncEnabled') === false) warnings.push('syncEnabled: false is not implemented; observers log their txns to disk as with true');
  const config: ServerConfig = {
    tickTimeMs,
    initLimitTicks,
    syncLimitTicks,
    connectToLearnerMasterLimitTicks: ints.get('connectToLearnerMasterLimit') ?? 0,
    dataDir,
    dataLogDir,
    clientPortListenBacklog: ints.get('clientPortListenBacklog') ?? -1,
    maxClientCnxns: ints.get('maxClientCnxns') ?? 60,
    maxCnxns,
    cnxTimeoutMs: positiveOr(sys, 'zookeeper.cnxTimeout', sys.int('zookeeper.cnxTimeout', 5000), 5000),
    quorumSasl,
    sessionlessCnxnTimeoutMs: positiveOr(sys, 'zookeeper.nio.sessionlessCnxnTimeout', sys.int('zookeeper.nio.sessionlessCnxnTimeout', 10000), 10000),
    // zoo.cfg's key arrives as "zookeeper.zkts.cnxn.*"; a -D property may name it either way.
    descriptorReserve: Math.max(0, sys.int('zookeeper.zkts.cnxn.descriptorReserve', sys.int('zkts.cnxn.descriptorReserve', 64))),
    minSessionTimeoutMs,
    maxSessionTimeoutMs,
    localSessionsEnabled: bools.get('localSessionsEnabled') ?? false,
    localSessionsUpgradingEnabled: bools.get('localSessionsUpgradingEnabled') ?? false,
    globalOutstandingLimit: sys.int('zookeeper.globalOutstandingLimit', 1000),
    fourLetterWordWhitelist,
    adminEnableServer: !sys.literal('zookeeper.admin.enableServer', 'false', 'true', 'true'),
    adminServerAddress: sys.get('zookeeper.admin.serverAddress') ?? '0.0.0.0',
    adminServerPort: sys.int('zookeeper.admin.serverPort', 8080),
    adminCommandURL: sys.get('zookeeper.admin.commandURL') ?? '/commands',
    adminIdleTimeoutMs: sys.int('zookeeper.admin.idleTimeout', 30000),
    // zoo.cfg's key arrives as "zookeeper.zkts.console.*"; a -D property may name it either way.
    consoleEnabled: sys.bool('zookeeper.zkts.console.enabled', sys.bool('zkts.console.enabled', true)),
    consoleEditable: sys.bool('zookeeper.zkts.console.editable', sys.bool('zkts.console.editable', false)),
    storageOpenRetryMs: Math.max(0, sys.int('zookeeper.zkts.storage.openRetryMs', sys.int('zkts.storage.openRetryMs', 30_000))),
    // Off where there is one core: the second thread would only take turns with the first.
    parallelFanoutMinWatchers: Math.max(
      0,
      sys.int('zookeeper.zkts.watch.parallelFanoutMinWatchers', sys.int('zkts.watch.parallelFanoutMinWatchers', os.availableParallelism() > 1 ? 256 : 0)),
    ),
    ...outputLimits,
    authProviders,
    digestAuthEnabled,
    superUsers,
    saslAuthProvider,
    allowSaslFailedClients: sys.bool('zookeeper.allowSaslFailedClients', false),
    enforceAuthSchemes,
    extendedTypesEnabled,
    emulate353TTLNodes: sys.bool('zookeeper.emulate353TTLNodes', false),
    readOnlyModeEnabled,
    juteMaxBufferBytes,
    juteMaxBufferExtraSizeBytes: sys.int('zookeeper.jute.maxbuffer.extrasize', juteMaxBufferBytes),
    skipACL: sys.literal('zookeeper.skipACL', 'yes', 'no', 'no'),
    snapCount,
    preAllocSizeKb,
    snapshotSizeFactor: snapshotSizeFactorOf(sys),
    commitLogCount: commitLogCountOf(sys),
    forceSnapshotSync: sys.bool('zookeeper.forceSnapshotSync', false),
    forceSync: !sys.literal('zookeeper.forceSync', 'no', 'yes', 'yes'),
    autopurgeSnapRetainCount,
    autopurgePurgeIntervalHours: Math.max(0, ints.get('autopurge.purgeInterval') ?? 0),
    containerCheckIntervalMs: sys.int('znode.container.checkIntervalMs', 60000),
    containerMaxPerMinute: sys.int('znode.container.maxPerMinute', 10000),
    containerMaxNeverUsedIntervalMs: sys.int('znode.container.maxNeverUsedIntervalMs', 0, 64),
    enforceQuota: sys.bool('zookeeper.enforceQuota', false),
    digestEnabled: sys.bool('zookeeper.digest.enabled', true),
    leaderServes: !sys.literal('zookeeper.leaderServes', 'no', 'yes', 'yes'),
    metricsProviderHttpHost: metricsProviderConfig.get('httpHost') ?? '0.0.0.0',
    metricsProviderHttpPort,
    metricsProviderExportJvmInfo: exportJvmInfo === undefined ? true : exportJvmInfo.toLowerCase() === 'true',
    metricsProviderConfig,
    servers,
    groups: members.groups,
    weights: members.weights,
    peerType,
    distributed,
    standaloneEnabled,
    reconfigEnabled: bools.get('reconfigEnabled') ?? false,
    quorumListenOnAllIPs: bools.get('quorumListenOnAllIPs') ?? false,
    syncEnabled: bools.get('syncEnabled') ?? true,
    multiAddressEnabled,
    sslQuorum: bools.get('sslQuorum') ?? false,
    portUnification: bools.get('portUnification') ?? false,
    clientPortUnification,
    sslQuorumReloadCertFiles: bools.get('sslQuorumReloadCertFiles') ?? false,
    fipsMode: sys.bool('zookeeper.fips-mode', false),
    outstandingHandshakeLimit: sys.int('zookeeper.netty.server.outstandingHandshake.limit', -1),
    nettyCnxnFactory: serverCnxnFactory === NETTY_FACTORY,
    unknownKeys,
    warnings: [...warnings, ...sys.warnings],
    systemProps: sys.props,
  };
  if (clientPort !== undefined) config.clientPort = clientPort;
  if (clientPortAddress !== undefined) config.clientPortAddress = clientPortAddress;
  if (secureClientPort !== undefined) config.secureClientPort = secureClientPort;
  if (secureClientPortAddress !== undefined) config.secureClientPortAddress = secureClientPortAddress;
  if (clientTls !== undefined) config.clientTls = clientTls;
  if (adminTls !== undefined) config.adminTls = adminTls;
  if (quorumTls !== undefined) config.quorumTls = quorumTls;
  const x509SuperUser = sys.get('zookeeper.X509AuthenticationProvider.superUser');
  if (x509SuperUser !== undefined) config.x509SuperUser = x509SuperUser;
  if (observerMasterPortRaw > 0) config.observerMasterPort = observerMasterPortRaw;
  const superDigest = sys.get('zookeeper.DigestAuthenticationProvider.superDigest');
  if (superDigest !== undefined) config.superDigest = superDigest;
  const superUser = sys.get('zookeeper.superUser');
  if (superUser !== undefined) config.superUser = superUser;
  if (saslServer !== undefined) config.saslServer = saslServer;
  const letAny = sys.get('zookeeper.letAnySaslUserDoX');
  if (letAny !== undefined) config.letAnySaslUserDoX = letAny;
  if (metricsProviderClassName !== undefined) config.metricsProviderClassName = metricsProviderClassName;
  if (dynamicConfigFile !== undefined) config.dynamicConfigFile = dynamicConfigFile;
  if (dynamicConfigVersion !== undefined) config.dynamicConfigVersion = dynamicConfigVersion;
  if (serverId !== undefined) config.serverId = serverId;
  return config;
}

export const SASL_AUTH_PROVIDER = 'org.apache.zookeeper.server.auth.SASLAuthenticationProvider';

/**
 * ZooKeeper's AuthenticationHelper: sessionRequireClientSASLAuth=true means sasl alone; otherwise
 * enforce.auth.enabled with the comma-separated enforce.auth.schemes, each a registered scheme.
 */
function enforcedAuthSchemes(sys: SysView, available: (scheme: string) => boolean): string[] {
  if (sys.bool('zookeeper.sessionRequireClientSASLAuth', false)) {
    if (!available('sasl')) throw new ConfigError('sessionRequireClientSASLAuth', `Authentication scheme sasl is not available (set authProvider.1=${SASL_AUTH_PROVIDER})`);
    return ['sasl'];
  }
  if (!sys.bool('zookeeper.enforce.auth.enabled', false)) return [];
  const schemes = (sys.get('zookeeper.enforce.auth.schemes') ?? '').split(',').map((s) => javaTrim(s));
  if (sys.get('zookeeper.enforce.auth.schemes') === undefined)
    throw new ConfigError('enforce.auth.schemes', 'zookeeper.enforce.auth.enabled is true zookeeper.enforce.auth.schemes must be  configured.');
  for (const scheme of schemes) if (!available(scheme)) throw new ConfigError('enforce.auth.schemes', `Authentication scheme ${scheme} is not available.`);
  return schemes;
}

/** The default soft bound: about one reply of the default jute.maxbuffer waiting for its client. */
export const DEFAULT_OUTPUT_SOFT_LIMIT_BYTES = 1024 * 1024;
/** The least default hard bound; it grows with jute.maxbuffer so that a few maximal replies fit past the soft bound. */
export const MIN_DEFAULT_OUTPUT_HARD_LIMIT_BYTES = 8 * 1024 * 1024;

/**
 * zkts's bounds on a connection's unsent replies. zoo.cfg's key arrives as "zookeeper.zkts.cnxn.*",
 * a -D property may name it either way. Unlike ZooKeeper's own properties, a bad value stops the
 * start: these keys are zkts's, with no Java parsing to mimic.
 */
/** A timeout that must be positive: anything else falls back to the default, with a warning. */
function positiveOr(sys: SysView, key: string, value: number, fallback: number): number {
  if (value > 0) return value;
  sys.warnings.push(`${key}: ${value} is not positive, using ${fallback}`);
  return fallback;
}

function outputLimitsOf(sys: SysView, juteMaxBufferBytes: number): { outputSoftLimitBytes: number; outputHardLimitBytes: number } {
  const read = (key: string): { key: string; value: number } | undefined => {
    for (const name of [`zookeeper.${key}`, key]) {
      const v = sys.get(name);
      if (v === undefined) continue;
      // Long.decode's forms, as ZooKeeper's numeric properties take them (0x.. too).
      const n = decodeJava(v.trim(), 64);
      if (n === undefined) throw new ConfigError(key, `"${v}" is not an integer`);
      if (n <= 0) throw new ConfigError(key, `${n} must be positive`);
      return { key, value: n };
    }
    return undefined;
  };
  const soft = read('zkts.cnxn.outputSoftLimitBytes');
  const hard = read('zkts.cnxn.outputHardLimitBytes');
  const softBytes = soft?.value ?? DEFAULT_OUTPUT_SOFT_LIMIT_BYTES;
  const hardBytes = hard?.value ?? Math.max(MIN_DEFAULT_OUTPUT_HARD_LIMIT_BYTES, softBytes + 4 * Math.max(0, juteMaxBufferBytes));
  if (hardBytes <= softBytes) {
    const key = hard ? hard.key : 'zkts.cnxn.outputSoftLimitBytes';
    throw new ConfigError(key, `the hard bound (${hardBytes}) must exceed the soft bound (${softBytes})`);
  }
  return { outputSoftLimitBytes: softBytes, outputHardLimitBytes: hardBytes };
}

function fourLetterWords(sys: SysView): Set<string> | '*' {
  const listed = sys.get('zookeeper.4lw.commands.whitelist');
  const words = new Set<string>();
  if (listed !== undefined) {
    for (const part of listed.split(',')) {
      const w = javaTrim(part);
      if (w === '*') return '*';
      if (w !== '') words.add(w);
    }
  }
  // ZooKeeper matches "true" exactly here (unlike read-only mode itself), and always allows
  // srvr because zkServer.sh status depends on it.
  if (sys.get('readonlymode.enabled') === 'true') words.add('isro');
  words.add('srvr');
  return words;
}

// ---------------------------------------------------------------------------------------------
// Command line

/**
 * Takes `-Dkey=value` (and `-Dkey`, meaning an empty value) out of argv, as the JVM does for
 * system properties; a later definition of a key wins. Everything from a `--` on is left alone.
 */
export function parseSystemPropertyArgs(argv: string[]): { props: Map<string, string>; rest: string[] } {
  const props = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (!arg.startsWith('-D')) {
      rest.push(arg);
      continue;
    }
    const body = arg.slice(2);
    const eq = body.indexOf('=');
    const key = eq < 0 ? body : body.slice(0, eq);
    if (key === '') throw new ConfigError(arg, 'missing property name after -D');
    props.set(key, eq < 0 ? '' : body.slice(eq + 1));
  }
  return { props, rest };
}
