// The ssl.* settings as ZooKeeper reads them: protocols, cipher suites (Java names to OpenSSL's),
// clientAuth, the handshake detection timeout, store specs with passwords from files; what zkts
// refuses (CRL/OCSP, supplier classes, unknown values) names the setting. Also the x509 ACL id
// check (X500Principal's parse) and the outstanding handshake limit on a running server.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { isX500Name, x509Provider } from '../../src/server/auth';
import { openSslCipherName, readTlsSettings, serverTlsOf, DEFAULT_CIPHER_SUITES } from '../../src/tls/settings';
import { fourLetterWord, freePort, startZkts } from '../util/servers';

const FIXTURE = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'tls', 'server.pem');
const read = (props: Record<string, string>, prefix: 'zookeeper.ssl.' | 'zookeeper.ssl.quorum.' = 'zookeeper.ssl.') => readTlsSettings(new Map(Object.entries(props)), prefix);

t.test('cipher suite names', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256'],
    ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'ECDHE-RSA-AES256-GCM-SHA384'],
    ['TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA', 'ECDHE-RSA-AES128-SHA'],
    ['TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384', 'ECDHE-ECDSA-AES256-SHA384'],
    ['TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-RSA-CHACHA20-POLY1305'],
    ['TLS_RSA_WITH_AES_128_GCM_SHA256', 'AES128-GCM-SHA256'],
    ['TLS_DHE_RSA_WITH_AES_256_GCM_SHA384', 'DHE-RSA-AES256-GCM-SHA384'],
    ['TLS_AES_256_GCM_SHA384', 'TLS_AES_256_GCM_SHA384'],
    ['TLS_RSA_WITH_RC4_128_MD5', undefined],
    ['FOO', undefined],
  ];
  for (const [java, openssl] of cases) t.equal(openSslCipherName(java), openssl, java);
  for (const s of DEFAULT_CIPHER_SUITES) t.ok(openSslCipherName(s), `default ${s} maps`);
});

t.test('defaults and values', async (t) => {
  const d = read({}).settings;
  t.equal(d.clientAuth, 'need');
  t.equal(d.minVersion, 'TLSv1.2');
  t.equal(d.maxVersion, 'TLSv1.3');
  t.equal(d.handshakeDetectionTimeoutMs, 5000);
  t.equal(d.hostnameVerification, true);
  t.equal(d.clientHostnameVerification, false, 'the client port does not check client host names');
  t.equal(read({}, 'zookeeper.ssl.quorum.').settings.clientHostnameVerification, true, 'the quorum does');
  t.equal(read({ 'zookeeper.ssl.clientAuth': 'WANT' }).settings.clientAuth, 'want');
  t.equal(read({ 'zookeeper.ssl.clientAuth': '' }).settings.clientAuth, 'need', 'empty is need');
  const p12 = read({ 'zookeeper.ssl.protocol': 'TLSv1.2' }).settings;
  t.same([p12.minVersion, p12.maxVersion], ['TLSv1.2', 'TLSv1.2'], 'ssl.protocol alone enables that version');
  const e = read({ 'zookeeper.ssl.protocol': 'TLSv1.2', 'zookeeper.ssl.enabledProtocols': 'TLSv1.3' }).settings;
  t.same([e.minVersion, e.maxVersion], ['TLSv1.3', 'TLSv1.3'], 'enabledProtocols wins');
  t.equal(read({ 'zookeeper.ssl.ciphersuites': 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256' }).settings.ciphers, 'ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256');
  const w = read({ 'zookeeper.ssl.handshakeDetectionTimeoutMillis': '0' });
  t.equal(w.settings.handshakeDetectionTimeoutMs, 5000);
  t.match(w.warnings, [/handshakeDetectionTimeoutMillis: 0 is not positive, using the default 5000/]);
  t.equal(read({ 'zookeeper.ssl.hostnameVerification': 'yes' }).settings.hostnameVerification, false, 'Boolean.parseBoolean: "yes" is false');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-tls-settings-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'pw'), 'from-file\n');
  const s = read({ 'zookeeper.ssl.keyStore.location': '/x/ks.jks', 'zookeeper.ssl.keyStore.password': 'ignored', 'zookeeper.ssl.keyStore.passwordPath': path.join(dir, 'pw') }).settings;
  t.equal(s.keyStore?.password, 'from-file', 'passwordPath replaces the password');
  t.equal(read({ 'zookeeper.ssl.trustStore.location': '/x/ts.jks' }).settings.trustStore?.password, '', 'no password: the empty one');
});

t.test('refused settings name the key', async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ 'zookeeper.ssl.clientAuth': 'maybe' }, /^zookeeper\.ssl\.clientAuth: "maybe" is not none, want or need/],
    [{ 'zookeeper.ssl.protocol': 'TLSv9' }, /^zookeeper\.ssl\.protocol: unsupported protocol TLSv9/],
    [{ 'zookeeper.ssl.enabledProtocols': 'TLSv1.2, TLSv1.3' }, /^zookeeper\.ssl\.enabledProtocols: unsupported protocol  TLSv1\.3/],
    [{ 'zookeeper.ssl.enabledProtocols': 'TLSv1,TLSv1.3' }, /contiguous range/],
    [{ 'zookeeper.ssl.ciphersuites': 'TLS_FOO' }, /^zookeeper\.ssl\.ciphersuites: unsupported cipher suite TLS_FOO/],
    [{ 'zookeeper.ssl.crl': 'true' }, /^zookeeper\.ssl\.crl: certificate revocation checking/],
    [{ 'zookeeper.ssl.quorum.ocsp': 'TRUE' }, /^zookeeper\.ssl\.quorum\.ocsp: certificate revocation checking/],
    [{ 'zookeeper.ssl.context.supplier.class': 'com.example.S' }, /^zookeeper\.ssl\.context\.supplier\.class: a Java SSLContext supplier/],
    [{ 'zookeeper.ssl.sslProvider': 'jdk' }, /^zookeeper\.ssl\.sslProvider: "jdk" is not JDK, OPENSSL/],
    [{ 'zookeeper.ssl.handshakeDetectionTimeoutMillis': 'soon' }, /^zookeeper\.ssl\.handshakeDetectionTimeoutMillis: "soon" is not an integer/],
    [{ 'zookeeper.ssl.keyStore.location': '/x/ks.jks', 'zookeeper.ssl.keyStore.passwordPath': '/nonexistent/pw' }, /^zookeeper\.ssl\.keyStore\.passwordPath: cannot read the password file/],
  ];
  for (const [props, message] of cases) {
    const prefix = Object.keys(props)[0].startsWith('zookeeper.ssl.quorum.') ? 'zookeeper.ssl.quorum.' : 'zookeeper.ssl.';
    t.throws(() => read(props, prefix), message, JSON.stringify(props));
  }
  t.throws(() => serverTlsOf(read({}).settings), /keyStore\.location: a key store is required/);
  t.ok(serverTlsOf(read({ 'zookeeper.ssl.keyStore.location': FIXTURE }).settings).trustsDefaultRoots, 'no trust store: default roots');
});

t.test('x509 ACL ids: X500Principal parses them', async (t) => {
  for (const ok of ['CN=alice', 'CN=alice,OU=clients,O=zkts tests', 'CN=a+OU=b,O=x', 'cn=lower', 'EMAILADDRESS=a@b.c,CN=x', '2.5.4.3=x', 'OID.2.5.4.3=x', 'CN=a\\,b', 'CN="quoted, value"', 'CN=alice, OU=spaces']) {
    t.ok(isX500Name(ok), ok);
  }
  for (const bad of ['', 'alice', 'not a dn', 'XX=1', 'CN=a,', 'CN="open']) t.notOk(isX500Name(bad), JSON.stringify(bad));
  const p = x509Provider('CN=admin');
  t.ok(p.matches('CN=alice', 'CN=alice'));
  t.notOk(p.matches('CN=alice', 'CN=alice,O=x'));
  t.ok(p.matches('CN=admin', 'CN=anyone'), 'the super user matches every x509 ACL');
});

t.test('netty.server.outstandingHandshake.limit closes sockets beyond it', async (t) => {
  const securePort = await freePort();
  const s = await startZkts({
    extraConfig: {
      secureClientPort: String(securePort),
      secureClientPortAddress: '127.0.0.1',
      'ssl.keyStore.location': FIXTURE,
      'netty.server.outstandingHandshake.limit': '2',
    },
  });
  t.teardown(() => s.stop());
  // Two sockets that never send a ClientHello hold two handshakes open; the third is closed at once.
  const open = (): Promise<net.Socket> => new Promise((resolve) => {
    const c = net.connect({ host: '127.0.0.1', port: securePort }, () => resolve(c));
    c.on('error', () => undefined);
  });
  const held = [await open(), await open()];
  await new Promise((r) => setTimeout(r, 300));
  const third = await open();
  const closedAtOnce = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 3000);
    third.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  t.ok(closedAtOnce, 'the third socket is closed at once');
  const mntr = await fourLetterWord('127.0.0.1', s.port, 'mntr');
  t.match(mntr, /zk_tls_handshake_exceeded\t1\n/);
  t.match(mntr, /zk_outstanding_tls_handshake\t2\n/);
  for (const h of held) h.destroy();
});
