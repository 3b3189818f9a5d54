/**
 * ZooKeeper's TLS settings for one side (the client port, prefix `zookeeper.ssl.`, or the quorum
 * and the AdminServer, prefix `zookeeper.ssl.quorum.`), read from the effective system properties
 * (zoo.cfg's `ssl.*` keys arrive there as `zookeeper.ssl.*`, as in ZooKeeper), and the Node TLS
 * context they make.
 *
 * ZooKeeper builds its TLS context lazily, so a wrong password or a missing store only shows when
 * a client connects; zkts opens every store at start and refuses to start, naming the setting, so
 * that a server never runs unable to do what it was configured for.
 */
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { keyMaterial, loadStore, StoreError, trustMaterial, type StoreSpec } from './keystore';

/** A TLS setting that cannot be used; `key` is the zoo.cfg/system property name. */
export class TlsSettingError extends Error {
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(`${key}: ${reason}`);
  }
}

export type ClientAuth = 'none' | 'want' | 'need';

export interface TlsSettings {
  /** `zookeeper.ssl.` or `zookeeper.ssl.quorum.` */
  prefix: string;
  keyStore?: StoreSpec;
  trustStore?: StoreSpec;
  minVersion: tls.SecureVersion;
  maxVersion: tls.SecureVersion;
  /** OpenSSL cipher list (TLS 1.2 suites and TLS 1.3 ones). */
  ciphers: string;
  clientAuth: ClientAuth;
  hostnameVerification: boolean;
  /** Whether a server checks its client's certificate against the client's address. */
  clientHostnameVerification: boolean;
  handshakeDetectionTimeoutMs: number;
}

const PROTOCOLS: Record<string, tls.SecureVersion> = { TLSv1: 'TLSv1', 'TLSv1.1': 'TLSv1.1', 'TLSv1.2': 'TLSv1.2', 'TLSv1.3': 'TLSv1.3' };
const PROTOCOL_ORDER: tls.SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

/** ZooKeeper's default suites (X509Util, Java 9+ order), then the TLS 1.3 ones 3.9.2+ adds. */
export const DEFAULT_CIPHER_SUITES = [
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA',
  'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA',
  'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384',
  'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384',
  'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA',
  'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
  'TLS_AES_256_GCM_SHA384',
  'TLS_AES_128_GCM_SHA256',
  'TLS_CHACHA20_POLY1305_SHA256',
];

const TLS13_SUITES = new Set(['TLS_AES_256_GCM_SHA384', 'TLS_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_CCM_SHA256', 'TLS_AES_128_CCM_8_SHA256']);

/**
 * A Java (IANA) cipher suite name as OpenSSL names it, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
 * -> ECDHE-RSA-AES128-GCM-SHA256; undefined for a name that does not follow the pattern.
 */
export function openSslCipherName(java: string): string | undefined {
  if (TLS13_SUITES.has(java)) return java;
  const m = /^TLS_(ECDHE_ECDSA|ECDHE_RSA|DHE_RSA|RSA)_WITH_(AES_128|AES_256|CHACHA20_POLY1305)(?:_(GCM|CBC))?_(SHA|SHA256|SHA384)$/.exec(java);
  if (!m) return undefined;
  const [, kx, cipher, mode, mac] = m;
  const kxName = { ECDHE_ECDSA: 'ECDHE-ECDSA-', ECDHE_RSA: 'ECDHE-RSA-', DHE_RSA: 'DHE-RSA-', RSA: '' }[kx];
  if (cipher === 'CHACHA20_POLY1305') return mode || mac !== 'SHA256' ? undefined : `${kxName}CHACHA20-POLY1305`;
  const bits = cipher === 'AES_128' ? 'AES128' : 'AES256';
  if (mode === 'GCM') return mac === 'SHA' ? undefined : `${kxName}${bits}-GCM-${mac}`;
  if (mode === 'CBC') return `${kxName}${bits}-${mac}`;
  return undefined;
}

/** A Java password file's secret, as ZooKeeper's SecretUtils reads it (the file's text, one trailing newline dropped). */
function readSecret(key: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new TlsSettingError(key, `cannot read the password file ${file}: ${(err as Error).message}`);
  }
}

function booleanOf(props: Map<string, string>, key: string, def: boolean): boolean {
  const v = props.get(key);
  // Boolean.parseBoolean, as ZooKeeper's ZKConfig.getBoolean: only "true" (any case) is true.
  return v === undefined ? def : v.trim().toLowerCase() === 'true';
}

function storeSpec(props: Map<string, string>, prefix: string, which: 'keyStore' | 'trustStore'): StoreSpec | undefined {
  const locationKey = `${prefix}${which}.location`;
  const location = props.get(locationKey)?.trim();
  if (!location) return undefined;
  const passwordPath = props.get(`${prefix}${which}.passwordPath`);
  // ZooKeeper hands Java an empty password when none is set, so a store written with a password needs it.
  const password = passwordPath ? readSecret(`${prefix}${which}.passwordPath`, passwordPath) : (props.get(`${prefix}${which}.password`) ?? '');
  const type = props.get(`${prefix}${which}.type`);
  return { locationKey, location, password, typeKey: `${prefix}${which}.type`, ...(type !== undefined ? { type } : {}) };
}

/**
 * Reads the settings under `prefix`. Throws TlsSettingError for a value zkts cannot honour;
 * returns warnings for values ZooKeeper would replace by a default.
 */
export function readTlsSettings(props: Map<string, string>, prefix: 'zookeeper.ssl.' | 'zookeeper.ssl.quorum.'): { settings: TlsSettings; warnings: string[] } {
  const warnings: string[] = [];
  const key = (suffix: string): string => `${prefix}${suffix}`;
  const isQuorum = prefix === 'zookeeper.ssl.quorum.';

  for (const refused of ['crl', 'ocsp']) {
    if (booleanOf(props, key(refused), false)) {
      throw new TlsSettingError(key(refused), 'certificate revocation checking (CRL distribution points, OCSP) is not implemented in zkts');
    }
  }
  if (props.get(key('context.supplier.class'))) {
    throw new TlsSettingError(key('context.supplier.class'), 'a Java SSLContext supplier class cannot run in zkts; configure the key and trust stores instead');
  }
  const provider = props.get(key('sslProvider'));
  if (provider !== undefined && provider !== 'JDK' && provider !== 'OPENSSL' && provider !== 'OPENSSL_REFCNT') {
    throw new TlsSettingError(key('sslProvider'), `"${provider}" is not JDK, OPENSSL or OPENSSL_REFCNT`);
  }

  let versions: tls.SecureVersion[];
  const enabled = props.get(key('enabledProtocols'));
  const protocol = props.get(key('protocol'));
  const versionOf = (k: string, name: string): tls.SecureVersion => {
    const v = PROTOCOLS[name];
    if (!v) throw new TlsSettingError(k, `unsupported protocol ${name} (TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3)`);
    return v;
  };
  if (enabled !== undefined && enabled !== '') {
    versions = enabled.split(',').map((p) => versionOf(key('enabledProtocols'), p));
  } else if (protocol !== undefined && protocol !== '') {
    versions = [versionOf(key('protocol'), protocol)];
  } else {
    // ZooKeeper 3.8 offers TLSv1.2 alone, 3.9.2+ TLSv1.3 alone on the client port (and both on
    // the quorum): zkts offers both, so that clients and members of either version connect.
    versions = ['TLSv1.2', 'TLSv1.3'];
  }
  const order = versions.map((v) => PROTOCOL_ORDER.indexOf(v)).sort((a, b) => a - b);
  for (let i = 1; i < order.length; i++) {
    if (order[i] - order[i - 1] > 1) throw new TlsSettingError(key('enabledProtocols'), `${enabled}: zkts enables a contiguous range of TLS versions only`);
  }

  const suites = props.get(key('ciphersuites'));
  const javaSuites = suites !== undefined && suites !== '' ? suites.split(',') : DEFAULT_CIPHER_SUITES;
  const ciphers = javaSuites.map((s) => {
    const name = openSslCipherName(s);
    if (!name) throw new TlsSettingError(key('ciphersuites'), `unsupported cipher suite ${s}`);
    return name;
  });

  const authRaw = (props.get(key('clientAuth')) ?? '').trim();
  let clientAuth: ClientAuth = 'need';
  if (authRaw !== '') {
    const lower = authRaw.toLowerCase();
    if (lower !== 'none' && lower !== 'want' && lower !== 'need') throw new TlsSettingError(key('clientAuth'), `"${authRaw}" is not none, want or need`);
    clientAuth = lower;
  }

  let handshakeDetectionTimeoutMs = 5000;
  const hd = props.get(key('handshakeDetectionTimeoutMillis'));
  if (hd !== undefined) {
    const n = Number(hd.trim());
    if (!Number.isInteger(n)) throw new TlsSettingError(key('handshakeDetectionTimeoutMillis'), `"${hd}" is not an integer`);
    if (n < 1) warnings.push(`${key('handshakeDetectionTimeoutMillis')}: ${n} is not positive, using the default 5000`);
    else handshakeDetectionTimeoutMs = n;
  }

  const hostnameVerification = booleanOf(props, key('hostnameVerification'), true);
  if (booleanOf(props, key('allowReverseDnsLookup'), false)) {
    warnings.push(`${key('allowReverseDnsLookup')}: reverse DNS lookups are not implemented in zkts; certificates are checked against IP addresses (and configured host names) only`);
  }
  const settings: TlsSettings = {
    prefix,
    minVersion: PROTOCOL_ORDER[order[0]],
    maxVersion: PROTOCOL_ORDER[order[order.length - 1]],
    ciphers: ciphers.join(':'),
    clientAuth,
    hostnameVerification,
    clientHostnameVerification: hostnameVerification && booleanOf(props, key('clientHostnameVerification'), isQuorum),
    handshakeDetectionTimeoutMs,
  };
  const keyStore = storeSpec(props, prefix, 'keyStore');
  const trustStore = storeSpec(props, prefix, 'trustStore');
  if (keyStore) settings.keyStore = keyStore;
  if (trustStore) settings.trustStore = trustStore;
  return { settings, warnings };
}

/** The names under a prefix that readTlsSettings reads (so that zoo.cfg keys for them are known). */
export const TLS_SETTING_SUFFIXES = [
  'keyStore.location', 'keyStore.password', 'keyStore.passwordPath', 'keyStore.type',
  'trustStore.location', 'trustStore.password', 'trustStore.passwordPath', 'trustStore.type',
  'protocol', 'enabledProtocols', 'ciphersuites', 'clientAuth', 'hostnameVerification',
  'clientHostnameVerification', 'allowReverseDnsLookup', 'crl', 'ocsp', 'handshakeDetectionTimeoutMillis',
  'context.supplier.class', 'sslProvider',
];

/** A server's TLS context: the stores opened now (a failure names the setting), the settings applied. */
export interface ServerTls {
  settings: TlsSettings;
  /** What Node's TLS server takes (key, cert, ca, versions, ciphers); known to make a context. */
  contextOptions: tls.SecureContextOptions;
  /** Whether the trust store is empty or absent (Node then trusts its built-in roots, as Java its default). */
  trustsDefaultRoots: boolean;
}

export function serverTlsOf(settings: TlsSettings): ServerTls {
  if (!settings.keyStore) {
    throw new TlsSettingError(`${settings.prefix}keyStore.location`, 'a key store is required for a TLS server');
  }
  try {
    const key = keyMaterial(loadStore(settings.keyStore));
    if (key.key.length === 0) throw new TlsSettingError(settings.keyStore.locationKey, `${settings.keyStore.location} holds no private key`);
    const ca = settings.trustStore ? trustMaterial(loadStore(settings.trustStore)) : undefined;
    const contextOptions: tls.SecureContextOptions = {
      key: key.key,
      cert: key.cert,
      ...(ca && ca.length > 0 ? { ca } : {}),
      minVersion: settings.minVersion,
      maxVersion: settings.maxVersion,
      // An empty list: Node's defaults.
      ...(settings.ciphers !== '' ? { ciphers: settings.ciphers } : {}),
    };
    // Made once here so that a key that does not fit its certificate, or a cipher list OpenSSL
    // refuses, stops the start.
    tls.createSecureContext(contextOptions);
    return { settings, contextOptions, trustsDefaultRoots: !ca || ca.length === 0 };
  } catch (err) {
    if (err instanceof TlsSettingError) throw err;
    if (err instanceof StoreError) {
      const k = /^(\S+)=/.exec(err.message)?.[1] ?? `${settings.prefix}keyStore.location`;
      throw new TlsSettingError(k, err.message.slice(err.message.indexOf(': ') + 2));
    }
    throw new TlsSettingError(`${settings.prefix}keyStore.location`, (err as Error).message);
  }
}
