/**
 * The TLS part of `npm run bench -- --tls`: certificates made for the run (test/util/certs.ts), the
 * zoo.cfg keys that give a server a TLS-only secureClientPort (the same keys for ZooKeeper and
 * zkts, with TLS 1.2 and 1.3 both enabled and ZooKeeper's default suites plus the TLS 1.3 ones, as
 * ZooKeeper 3.8 needs them for 1.3), and the Java client's properties for one protocol version
 * (the Netty socket, zookeeper.client.secure, a client certificate).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CertFactory } from '../../test/util/certs';
import { DEFAULT_CIPHER_SUITES } from '../../src/tls/settings';

export type TlsProtocol = 'TLSv1.2' | 'TLSv1.3';
export const TLS_PROTOCOLS: readonly TlsProtocol[] = ['TLSv1.2', 'TLSv1.3'];

/** ZooKeeper 3.8's default suites (no TLS 1.3 ones) and the two TLS 1.3 suites both sides have. */
const SUITES = [...DEFAULT_CIPHER_SUITES.filter((s) => !s.startsWith('TLS_AES') && !s.startsWith('TLS_CHACHA')), 'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384'].join(',');

export interface TlsBenchSetup {
  serverConfig(securePort: number): Record<string, string>;
  clientProps(protocol: TlsProtocol): Record<string, string>;
  cleanup(): void;
}

export function tlsBenchSetup(): TlsBenchSetup {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-bench-tls-'));
  const certs = new CertFactory(dir);
  const ca = certs.ca('bench-ca');
  const server = certs.keyStores(certs.leaf(ca, 'bench-server', '/O=zkts bench/CN=server'), 'secret1');
  const client = certs.keyStores(certs.leaf(ca, 'bench-client', '/O=zkts bench/CN=client'), 'secret1');
  const trust = certs.trustStores('bench', [ca], 'trustpw');
  return {
    serverConfig: (securePort) => ({
      secureClientPort: String(securePort),
      secureClientPortAddress: '127.0.0.1',
      serverCnxnFactory: 'org.apache.zookeeper.server.NettyServerCnxnFactory',
      'ssl.keyStore.location': server.jks,
      'ssl.keyStore.password': 'secret1',
      'ssl.trustStore.location': trust.jks,
      'ssl.trustStore.password': 'trustpw',
      'ssl.enabledProtocols': 'TLSv1.2,TLSv1.3',
      'ssl.ciphersuites': SUITES,
    }),
    clientProps: (protocol) => ({
      'zookeeper.client.secure': 'true',
      'zookeeper.ssl.keyStore.location': client.jks,
      'zookeeper.ssl.keyStore.password': 'secret1',
      'zookeeper.ssl.trustStore.location': trust.jks,
      'zookeeper.ssl.trustStore.password': 'trustpw',
      'zookeeper.ssl.protocol': protocol,
      'zookeeper.ssl.enabledProtocols': protocol,
      'zookeeper.ssl.ciphersuites': SUITES,
      // The connect storm's raw sockets (LoadDriver -Dbench.tls): the JVM's default SSL context.
      'bench.tls': 'true',
      'javax.net.ssl.keyStore': client.jks,
      'javax.net.ssl.keyStorePassword': 'secret1',
      'javax.net.ssl.trustStore': trust.jks,
      'javax.net.ssl.trustStorePassword': 'trustpw',
      'jdk.tls.client.protocols': protocol,
    }),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
