// The AdminServer over HTTPS, against Apache ZooKeeper 3.8.0 and zkts in one run: with
// admin.portUnification one port answers HTTPS (with HSTS, as Jetty does) and plain HTTP (counted
// in insecure_admin_count); with admin.forceHttps plain HTTP gets nothing. The key store is
// ssl.quorum.*'s, as ZooKeeper's JettyAdminServer takes it.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { CertFactory } from '../test/util/certs';
import { fourLetterWord, freePort, startReferenceZooKeeper, startReferenceZooKeeper39, startZkts, type RunningServer } from '../test/util/servers';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-admin-https-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const certs = new CertFactory(dir);
const ca = certs.ca('admin-ca');
const serverStores = certs.keyStores(certs.leaf(ca, 'admin-server', '/O=zkts tests/CN=admin server'), 'secret1');
const trust = certs.trustStores('admin', [ca], 'trustpw');

interface Reply {
  status: number;
  body: string;
  hsts?: string;
  error?: string;
}

function get(mod: typeof http | typeof https, port: number, urlPath: string, extra: https.RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve) => {
    const req = mod.get({ host: '127.0.0.1', port, path: urlPath, ca: fs.readFileSync(ca.cert), servername: 'localhost', timeout: 10_000, agent: false, ...extra } as https.RequestOptions, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, hsts: res.headers['strict-transport-security'] as string | undefined }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, body: '', error: e.message }));
  });
}

async function start(kind: 'reference' | 'reference-3.9.5' | 'zkts', adminPort: number, mode: Record<string, string>): Promise<RunningServer> {
  const extraConfig = {
    'admin.enableServer': 'true',
    'admin.serverAddress': '127.0.0.1',
    'admin.serverPort': String(adminPort),
    'ssl.quorum.keyStore.location': serverStores.jks,
    'ssl.quorum.keyStore.password': 'secret1',
    'ssl.quorum.trustStore.location': trust.jks,
    'ssl.quorum.trustStore.password': 'trustpw',
    ...mode,
  };
  if (kind === 'reference') return startReferenceZooKeeper({ extraConfig });
  return kind === 'reference-3.9.5' ? startReferenceZooKeeper39({ extraConfig }) : startZkts({ extraConfig });
}

t.test('admin.portUnification: HTTPS and HTTP on one port', async (t) => {
  const bodies: Record<string, string> = {};
  for (const kind of ['reference', 'zkts'] as const) {
    const adminPort = await freePort();
    const s = await start(kind, adminPort, { 'admin.portUnification': 'true' });
    try {
      const secure = await get(https, adminPort, '/commands/ruok');
      t.equal(secure.status, 200, `${kind}: HTTPS answers`, { error: secure.error });
      t.equal(secure.hsts, 'max-age=86400; includeSubDomains', `${kind}: with HSTS`);
      bodies[kind] = secure.body;
      const plain = await get(http, adminPort, '/commands/ruok');
      t.equal(plain.status, 200, `${kind}: plain HTTP on the same port answers too`, { error: plain.error });
      t.equal(plain.hsts, undefined, `${kind}: without HSTS`);
      const mntr = await fourLetterWord('127.0.0.1', s.port, 'mntr');
      const insecure = Number(/zk_insecure_admin_count\t(\d+)/.exec(mntr)?.[1] ?? '-1');
      t.ok(insecure >= 1, `${kind}: insecure_admin_count counts the plain connection (${insecure})`);
    } finally {
      await s.stop();
    }
  }
  t.equal(bodies.zkts, bodies.reference, 'the same ruok answer');
  t.match(JSON.parse(bodies.zkts ?? '{}'), { command: 'ruok', error: null });
});

t.test('admin.forceHttps: HTTPS only', async (t) => {
  for (const kind of ['reference', 'zkts'] as const) {
    const adminPort = await freePort();
    const s = await start(kind, adminPort, { 'admin.forceHttps': 'true' });
    try {
      const secure = await get(https, adminPort, '/commands/ruok');
      t.equal(secure.status, 200, `${kind}: HTTPS answers`, { error: secure.error });
      const plain = await get(http, adminPort, '/commands/ruok');
      t.not(plain.status, 200, `${kind}: plain HTTP gets no answer`, { status: plain.status, error: plain.error });
    } finally {
      await s.stop();
    }
  }
});

// 3.9's admin.needClientAuth: the handshake asks for a client certificate (trusted by the
// ssl.quorum.* trust store), and `Authorization: x509` lets snapshot run as that certificate's
// subject once the client port's trust store (ssl.trustStore.*) trusts it too.
t.test('admin.needClientAuth: client certificates, and x509 authorizing snapshot (ZooKeeper 3.9.5 and zkts)', async (t) => {
  const otherCa = certs.ca('admin-other-ca');
  const alice = certs.leaf(ca, 'admin-alice', '/O=zkts tests/CN=alice');
  // Trusted by the AdminServer's store only, not by the client port's.
  const dave = certs.leaf(otherCa, 'admin-dave', '/O=zkts tests/CN=dave');
  const rogue = certs.leaf(certs.ca('admin-rogue-ca'), 'admin-rogue', '/O=zkts tests/CN=rogue');
  const adminTrust = certs.trustStores('admin-both', [ca, otherCa], 'trustpw');
  const clientTrust = certs.trustStores('client-port', [ca], 'trustpw');
  const withCert = (leaf: { cert: string; key: string }) => ({ cert: fs.readFileSync(leaf.cert), key: fs.readFileSync(leaf.key) });
  const outcomes: Record<string, string[]> = {};
  for (const kind of ['reference-3.9.5', 'zkts'] as const) {
    const adminPort = await freePort();
    const s = await start(kind, adminPort, {
      'admin.forceHttps': 'true',
      'admin.needClientAuth': 'true',
      'ssl.quorum.trustStore.location': adminTrust.jks,
      'authProvider.x509': 'org.apache.zookeeper.server.auth.X509AuthenticationProvider',
      'ssl.trustStore.location': clientTrust.p12,
      'ssl.trustStore.password': 'trustpw',
    });
    const seen: string[] = [];
    try {
      const none = await get(https, adminPort, '/commands/ruok');
      t.equal(none.status, 0, `${kind}: no client certificate, no answer`, { error: none.error });
      seen.push(`no certificate: ${none.status}`);
      const foreign = await get(https, adminPort, '/commands/ruok', withCert(rogue));
      t.equal(foreign.status, 0, `${kind}: an untrusted certificate, no answer`, { error: foreign.error });
      seen.push(`untrusted: ${foreign.status}`);
      const ok = await get(https, adminPort, '/commands/ruok', withCert(alice));
      t.equal(ok.status, 200, `${kind}: a trusted certificate gets its answer`, { error: ok.error });
      seen.push(`ruok: ${ok.status}`);
      const noAuth = await get(https, adminPort, '/commands/snapshot', withCert(alice));
      seen.push(`snapshot without Authorization: ${noAuth.status} ${noAuth.body}`);
      t.equal(noAuth.status, 401, `${kind}: snapshot without Authorization is refused`);
      const daveSnap = await get(https, adminPort, '/commands/snapshot', { ...withCert(dave), headers: { Authorization: 'x509' } });
      seen.push(`dave snapshot: ${daveSnap.status} ${daveSnap.body}`);
      t.equal(daveSnap.status, 401, `${kind}: x509 with a certificate the client port does not trust is not authenticated`);
      const snap = await get(https, adminPort, '/commands/snapshot', { ...withCert(alice), headers: { Authorization: 'x509' } });
      t.equal(snap.status, 200, `${kind}: x509 authorizes alice's snapshot`, { body: snap.body.slice(0, 300) });
      t.ok(snap.body.length > 0, `${kind}: and the snapshot comes back`);
      seen.push(`alice snapshot: ${snap.status}`);
    } finally {
      await s.stop();
    }
    outcomes[kind] = seen;
  }
  t.same(outcomes.zkts, outcomes['reference-3.9.5'], 'the same outcomes and error bodies');
});
