// Key and trust stores as ZooKeeper users have them, made by keytool and openssl in this run: every
// format opens to the same key and chain that openssl reads out of it, trust stores list their
// certificates, a TLS handshake works with what they give, and a wrong password, a corrupt or
// truncated file, a missing one, an unknown or unsupported type each fail with the setting's name
// and the reason (the offset, for a corrupt file).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import t from 'tap';
import { keyMaterial, loadStore, storeTypeOf, trustMaterial } from '../../src/tls/keystore';
import { rc2CbcDecryptRaw } from '../../src/tls/rc2';
import { CertFactory } from '../util/certs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-stores-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const certs = new CertFactory(dir);

const load = (location: string, password: string | null, type?: string) =>
  loadStore({ locationKey: 'ssl.keyStore.location', location, password, type, typeKey: 'ssl.keyStore.type' });

const publicDer = (key: crypto.KeyObject): Buffer => crypto.createPublicKey(key).export({ format: 'der', type: 'spki' });

t.test('RC2 (RFC 2268 test vectors)', async (t) => {
  const vectors: Array<[string, number, string, string]> = [
    ['0000000000000000', 63, '0000000000000000', 'ebb773f993278eff'],
    ['ffffffffffffffff', 64, 'ffffffffffffffff', '278b27e42e2f0d49'],
    ['3000000000000000', 64, '1000000000000001', '30649edf9be7d2c2'],
  ];
  for (const [key, bits, plain, cipher] of vectors) {
    // One block in CBC with a zero IV is the block cipher itself.
    const got = rc2CbcDecryptRaw(Buffer.from(key, 'hex'), bits, Buffer.alloc(8), Buffer.from(cipher, 'hex'));
    t.equal(got.toString('hex'), plain, `key ${key}, ${bits} bits`);
  }
});

t.test('every key store format opens to the same key and chain', async (t) => {
  const ca = certs.ca('storeca');
  for (const keyType of ['rsa', 'ec'] as const) {
    const leaf = certs.leaf(ca, `server-${keyType}`, `/O=zkts tests/CN=server-${keyType}`, { keyType });
    const wantKey = publicDer(crypto.createPrivateKey(fs.readFileSync(leaf.key)));
    const wantChain = [new crypto.X509Certificate(fs.readFileSync(leaf.cert)), new crypto.X509Certificate(fs.readFileSync(ca.cert))].map((c) => c.fingerprint256);
    const stores = certs.keyStores(leaf, 'storepw');
    for (const [format, file] of Object.entries(stores)) {
      const c = load(file, 'storepw', format.startsWith('pem') ? 'PEM' : undefined);
      t.equal(c.keys.length, 1, `${keyType} ${format}: one key`);
      const k = c.keys[0];
      t.same(publicDer(crypto.createPrivateKey({ key: k.pkcs8, format: 'der', type: 'pkcs8' })), wantKey, `${keyType} ${format}: the private key matches`);
      t.same(k.chain.map((d) => new crypto.X509Certificate(d).fingerprint256), wantChain, `${keyType} ${format}: leaf then CA`);
      const m = keyMaterial(c);
      t.doesNotThrow(() => tls.createSecureContext({ key: m.key, cert: m.cert }), `${keyType} ${format}: Node takes it`);
      // A plain PEM file has no password to be wrong.
      if (format !== 'pem') t.throws(() => load(file, 'wrong-password', format.startsWith('pem') ? 'PEM' : undefined), /ssl\.keyStore\.location=.*(password was incorrect|wrong password)/, `${keyType} ${format}: a wrong password is refused`);
    }
  }
});

t.test('an encrypted PEM key never opens with a wrong password', async (t) => {
  // CBC padding looks right for about one wrong password in 256; the key itself must be checked.
  const ca = certs.ca('pwca');
  const stores = certs.keyStores(certs.leaf(ca, 'pw-leaf', '/CN=pw'), 'right-password');
  let refused = 0;
  for (let i = 0; i < 600; i++) {
    try {
      load(stores.pemEncrypted, `wrong-${i}`, 'PEM');
    } catch (err) {
      if (/wrong password|password was incorrect/.test((err as Error).message)) refused++;
    }
  }
  t.equal(refused, 600, 'every one of 600 wrong passwords is refused as such');
});

t.test('trust stores', async (t) => {
  const ca1 = certs.ca('trust-a');
  const ca2 = certs.ca('trust-b');
  const want = [ca1, ca2].map((c) => new crypto.X509Certificate(fs.readFileSync(c.cert)).fingerprint256).sort();
  const stores = certs.trustStores('both', [ca1, ca2], 'trustpw');
  for (const [format, file] of Object.entries(stores)) {
    const c = load(file, format === 'pem' ? null : 'trustpw');
    t.same(trustMaterial(c).map((p) => new crypto.X509Certificate(p).fingerprint256).sort(), want, `${format}: both CAs`);
  }
  // Java opens a JKS trust store without a password (no integrity check).
  t.same(trustMaterial(load(stores.jks, null)).length, 2, 'JKS with no password');
  t.throws(() => load(stores.p12, 'nope'), /ssl\.keyStore\.location=.*both\.ts\.p12: keystore password was incorrect/);
  t.throws(() => load(stores.jks, 'nope'), /ssl\.keyStore\.location=.*both\.ts\.jks: keystore password was incorrect/);
});

t.test('a handshake with a JKS key store and a PKCS12 trust store, client certificate required', async (t) => {
  const ca = certs.ca('hs-ca');
  const server = certs.leaf(ca, 'hs-server', '/O=zkts tests/CN=hs-server');
  const client = certs.leaf(ca, 'hs-client', '/O=zkts tests/OU=clients/CN=hs-client', { keyType: 'ec' });
  const sks = keyMaterial(load(certs.keyStores(server, 'secret1').jks, 'secret1'));
  const cks = keyMaterial(load(certs.keyStores(client, 'secret1').p12Legacy, 'secret1'));
  const ca1 = trustMaterial(load(certs.trustStores('hs', [ca], 'secret1').p12, 'secret1'));
  const srv = tls.createServer({ key: sks.key, cert: sks.cert, ca: ca1, requestCert: true, rejectUnauthorized: true }, (s) => {
    s.end(`hello ${(s.getPeerCertificate() as tls.PeerCertificate).subject.CN}`);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => srv.close());
  const port = (srv.address() as { port: number }).port;
  const reply = await new Promise<string>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, key: cks.key, cert: cks.cert, ca: ca1 }, () => undefined);
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
  t.equal(reply, 'hello hs-client');
});

t.test('bad stores fail with the setting, the file and the reason', async (t) => {
  const ca = certs.ca('bad-ca');
  const leaf = certs.leaf(ca, 'bad', '/CN=bad');
  const stores = certs.keyStores(leaf, 'secret1');
  t.throws(() => load(path.join(dir, 'missing.jks'), 'secret1'), /ssl\.keyStore\.location=.*missing\.jks: cannot read the file/);
  // A flipped byte inside the JKS body: the integrity check catches it; with no password, parsing names the offset.
  const jks = fs.readFileSync(stores.jks);
  const flipped = Buffer.from(jks);
  flipped[30] ^= 0xff;
  fs.writeFileSync(path.join(dir, 'flipped.jks'), flipped);
  t.throws(() => load(path.join(dir, 'flipped.jks'), 'secret1'), /keystore password was incorrect/);
  fs.writeFileSync(path.join(dir, 'short.jks'), jks.subarray(0, 200));
  t.throws(() => load(path.join(dir, 'short.jks'), null), /short\.jks: corrupt JKS store: .* at offset \d+/);
  const p12 = fs.readFileSync(stores.p12);
  fs.writeFileSync(path.join(dir, 'short.p12'), p12.subarray(0, p12.length - 40));
  t.throws(() => load(path.join(dir, 'short.p12'), 'secret1'), /short\.p12: corrupt PKCS12 store: .*at offset \d+/);
  fs.writeFileSync(path.join(dir, 'text.p12'), 'not a store at all');
  t.throws(() => load(path.join(dir, 'text.p12'), 'secret1'), /text\.p12: corrupt PKCS12 store: neither a JKS nor a PKCS12 store/);
  // Types: from the setting (any case), else from the extension.
  t.equal(storeTypeOf({ location: '/x/ks.bin', type: 'pkcs12', typeKey: 'ssl.keyStore.type', locationKey: 'ssl.keyStore.location' }), 'PKCS12');
  for (const [file, type] of [['a.jks', 'JKS'], ['a.PEM', 'PEM'], ['a.p12', 'PKCS12'], ['a.pfx', 'PKCS12'], ['a.bcfks', 'BCFKS']]) {
    t.equal(storeTypeOf({ location: file, typeKey: 'ssl.keyStore.type', locationKey: 'ssl.keyStore.location' }), type, file);
  }
  t.throws(() => storeTypeOf({ location: 'a.keystore', typeKey: 'ssl.keyStore.type', locationKey: 'ssl.keyStore.location' }), /ssl\.keyStore\.location=a\.keystore: cannot tell the store type/);
  t.throws(() => load(stores.jks, 'secret1', 'JCEKS'), /ssl\.keyStore\.type=JCEKS: not a store type/);
  t.throws(() => load(stores.jks, 'secret1', 'BCFKS'), /BCFKS stores need the Bouncy Castle FIPS provider/);
  // Java's JKS and PKCS12 types each read the other format.
  t.equal(load(stores.p12, 'secret1', 'JKS').keys.length, 1, 'a PKCS12 file under type JKS');
  t.equal(load(stores.jks, 'secret1', 'PKCS12').keys.length, 1, 'a JKS file under type PKCS12');
  t.throws(() => load(stores.pemEncrypted, null, 'PEM'), /encrypted and no password is set/);
});
