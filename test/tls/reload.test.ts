// Certificate reload on the client port: a key store replaced on disk (renamed into place) is used
// by the next handshake without a restart, connections already open stay, and a store that does
// not open leaves the previous one in use. Also ssl.clientHostnameVerification on the client port:
// a client certificate must name the client's address.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import t from 'tap';
import { CertFactory } from '../util/certs';
import { freePort, startZkts } from '../util/servers';

function handshake(port: number, caFile: string, client: { cert?: string; key?: string } = {}): Promise<{ ok: boolean; socket?: tls.TLSSocket; detail: string }> {
  return new Promise((resolve) => {
    const own = client.cert && client.key ? { cert: fs.readFileSync(client.cert), key: fs.readFileSync(client.key) } : {};
    const s = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(caFile), servername: 'localhost', ...own });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ ok: false, detail: 'timeout' });
    }, 10_000);
    // A client certificate refused after the handshake (TLS 1.3) closes the socket a moment later.
    s.once('secureConnect', () => {
      setTimeout(() => {
        clearTimeout(timer);
        resolve(s.destroyed ? { ok: false, detail: 'closed after the handshake' } : { ok: true, socket: s, detail: 'connected' });
      }, 300);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, detail: e.message });
    });
  });
}

async function until(what: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await what()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

t.test('a replaced key store is used by new handshakes', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-tls-reload-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const certs = new CertFactory(path.join(dir, 'made'));
  const ca1 = certs.ca('reload-ca1');
  const ca2 = certs.ca('reload-ca2');
  const first = certs.keyStores(certs.leaf(ca1, 'first', '/CN=first'), 'secret1').pem;
  const second = certs.keyStores(certs.leaf(ca2, 'second', '/CN=second'), 'secret1').pem;
  const live = path.join(dir, 'server.pem');
  fs.copyFileSync(first, live);
  const securePort = await freePort();
  const s = await startZkts({ extraConfig: { secureClientPort: String(securePort), secureClientPortAddress: '127.0.0.1', 'ssl.keyStore.location': live, 'ssl.clientAuth': 'none', 'client.certReload': 'true' } });
  t.teardown(() => s.stop());

  const before = await handshake(securePort, ca1.cert);
  t.ok(before.ok, 'the first certificate is served', { detail: before.detail });
  fs.copyFileSync(second, `${live}.tmp`);
  fs.renameSync(`${live}.tmp`, live);
  t.ok(await until(async () => {
    const r = await handshake(securePort, ca2.cert);
    r.socket?.destroy();
    return r.ok;
  }, 10_000), 'after the rename, the second certificate is served');
  const old = await handshake(securePort, ca1.cert);
  t.notOk(old.ok, 'and the first is not', { detail: old.detail });
  t.notOk(before.socket?.destroyed, 'the connection made before stays open');
  before.socket?.destroy();

  fs.writeFileSync(live, 'not a store');
  await new Promise((r) => setTimeout(r, 1500));
  const still = await handshake(securePort, ca2.cert);
  t.ok(still.ok, 'a store that does not open leaves the previous one in use', { detail: still.detail });
  still.socket?.destroy();
  t.match(s.log(), /TLS stores changed but do not open; the previous ones stay in use/);
});

t.test('ssl.clientHostnameVerification: the client certificate must name the client address', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-tls-clienthost-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const certs = new CertFactory(dir);
  const ca = certs.ca('clienthost-ca');
  const server = certs.keyStores(certs.leaf(ca, 'server', '/CN=server'), 'secret1').pem;
  const here = certs.leaf(ca, 'here', '/CN=here');
  const elsewhere = certs.leaf(ca, 'elsewhere', '/CN=elsewhere', { onlyIps: ['127.0.0.9'] });
  const securePort = await freePort();
  const s = await startZkts({
    extraConfig: { secureClientPort: String(securePort), secureClientPortAddress: '127.0.0.1', 'ssl.keyStore.location': server, 'ssl.trustStore.location': ca.cert, 'ssl.trustStore.type': 'PEM', 'ssl.clientHostnameVerification': 'true' },
  });
  t.teardown(() => s.stop());
  const ok = await handshake(securePort, ca.cert, here);
  t.ok(ok.ok, 'a certificate naming 127.0.0.1 is taken', { detail: ok.detail });
  ok.socket?.destroy();
  const refused = await handshake(securePort, ca.cert, elsewhere);
  t.notOk(refused.ok, 'one naming only 127.0.0.9 is refused', { detail: refused.detail });
});
