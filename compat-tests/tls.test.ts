// TLS on the client port, against Apache ZooKeeper 3.8.0 (Netty connection factory) and zkts in
// one run, with certificates this run makes (test/util/certs.ts):
//  - the Java client over TLS (Netty socket) with three identities from three store formats:
//    x509 ACLs, `auth` ACLs, the superUser certificate, whoAmI; the transcripts must be equal;
//  - kazoo with use_ssl and a client certificate; the Go client (go-zookeeper/zk) through a TLS dialer;
//  - what is refused, on both: a plaintext client on the TLS port (closed, no answer), a client
//    certificate from another CA, an expired one, none at all (clientAuth=need), and a socket that
//    never starts its handshake (closed after about 10 s, while other clients are served);
//  - client.portUnification: TLS and plaintext clients on one port;
//  - zkts refuses to start with a store it cannot open, naming the setting (ZooKeeper starts and
//    fails each TLS connection instead).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { subjectRfc2253 } from '../src/tls/x509name';
import { CertFactory } from '../test/util/certs';
import { fourLetterWord, freePort, javaClasspath, javaClasspath39, startReferenceZooKeeper, startReferenceZooKeeper39, startZkts, type RunningServer } from '../test/util/servers';
import { compileJavaPrograms, lineDiff, PROGRAM_TIMEOUT_MS, tail, transcriptLines } from './util/javaprograms';
import { cliTranscript, runZkCli } from './util/zkcli';
import { runProcess } from './util/harness';
import { CliMt, cClientSslPath, cTranscript } from './util/cclient';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-tls-compat-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const certs = new CertFactory(dir);
const ca = certs.ca('tls-ca');
const rogueCa = certs.ca('rogue-ca');
const server = certs.leaf(ca, 'server', '/O=zkts tests/CN=server');
const alice = certs.leaf(ca, 'alice', '/O=zkts tests/OU=clients/CN=alice');
const bob = certs.leaf(ca, 'bob', '/O=zkts tests/OU=clients/CN=bob', { keyType: 'ec' });
const admin = certs.leaf(ca, 'admin', '/O=zkts tests/OU=ops/CN=admin');
// One RDN, so that zkCli can write an x509 ACL for it (it splits ACL lists on commas).
const carol = certs.leaf(ca, 'carol', '/CN=carol');
const mallory = certs.leaf(rogueCa, 'mallory', '/O=zkts tests/CN=mallory');
const expired = certs.expiredLeaf(ca, 'expired', 'CN=expired,O=zkts tests');
const dn = (pemFile: string): string => subjectRfc2253(new crypto.X509Certificate(fs.readFileSync(pemFile)).raw);

// The store files the Java program expects, in the formats users have.
const storeDir = path.join(dir, 'stores');
fs.mkdirSync(storeDir);
fs.copyFileSync(certs.keyStores(alice, 'secret1').p12, path.join(storeDir, 'alice.p12'));
fs.copyFileSync(certs.keyStores(bob, 'secret1').jks, path.join(storeDir, 'bob.jks'));
fs.copyFileSync(certs.keyStores(carol, 'secret1').p12, path.join(storeDir, 'carol.p12'));
fs.copyFileSync(certs.keyStores(admin, 'secret1').pem, path.join(storeDir, 'admin.pem'));
fs.copyFileSync(certs.trustStores('clients', [ca], 'trustpw').jks, path.join(storeDir, 'trust.jks'));
const serverStores = certs.keyStores(server, 'secret1');
// The 3.9.5 client logs through logback: to stderr, so that stdout is the transcript only.
const CLIENT_LOGBACK = path.join(dir, 'client-logback.xml');
fs.writeFileSync(
  CLIENT_LOGBACK,
  '<configuration><appender name="ERR" class="ch.qos.logback.core.ConsoleAppender"><target>System.err</target><encoder><pattern>%d %-5level [%thread] %logger - %msg%n</pattern></encoder></appender><root level="WARN"><appender-ref ref="ERR"/></root></configuration>\n',
);
const serverTrust = certs.trustStores('server', [ca], 'trustpw');

function tlsConfig(securePort: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    secureClientPort: String(securePort),
    secureClientPortAddress: '127.0.0.1',
    serverCnxnFactory: 'org.apache.zookeeper.server.NettyServerCnxnFactory',
    'ssl.keyStore.location': serverStores.jks,
    'ssl.keyStore.password': 'secret1',
    'ssl.trustStore.location': serverTrust.p12,
    'ssl.trustStore.password': 'trustpw',
    'X509AuthenticationProvider.superUser': dn(admin.cert),
    ...extra,
  };
}

interface Kind {
  name: 'reference' | 'zkts';
  start(extraConfig: Record<string, string>): Promise<RunningServer>;
}

// Each server gets its plaintext port here, apart from the TLS one the config names.
async function otherPort(extraConfig: Record<string, string>): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (String(p) !== extraConfig.secureClientPort) return p;
  }
}

const KINDS: Kind[] = [
  { name: 'reference', start: async (extraConfig) => startReferenceZooKeeper({ extraConfig, port: await otherPort(extraConfig) }) },
  { name: 'zkts', start: async (extraConfig) => startZkts({ extraConfig, port: await otherPort(extraConfig) }) },
];

/** Opens a TLS connection; resolves 'connected' or the error text. */
function tlsConnect(port: number, opts: tls.ConnectionOptions): Promise<{ ok: boolean; detail: string; socket?: tls.TLSSocket }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(ca.cert), servername: 'localhost', ...opts });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ ok: false, detail: 'timeout' });
    }, 15_000);
    // TLS 1.3 reports a refused client certificate after the handshake, on the first read.
    s.once('secureConnect', () => {
      setTimeout(() => {
        clearTimeout(timer);
        if (s.destroyed) resolve({ ok: false, detail: 'closed after the handshake' });
        else resolve({ ok: true, detail: 'connected', socket: s });
      }, 500);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, detail: e.message });
    });
    s.once('close', () => {
      clearTimeout(timer);
      resolve({ ok: false, detail: 'closed' });
    });
  });
}

/** Sends plaintext bytes to `port` and collects whatever comes back until the server closes. */
function plaintextExchange(port: number, bytes: Buffer): Promise<{ reply: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(bytes));
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ reply: Buffer.concat(chunks), closed: false });
    }, 15_000);
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ reply: Buffer.concat(chunks), closed: true });
    });
  });
}

/** A plain ConnectRequest frame (protocol 0, timeout 10 s, no session). */
const CONNECT_REQUEST = Buffer.from('0000002c' + '00000000' + '0000000000000000' + '00002710' + '0000000000000000' + '00000010' + '00'.repeat(16) + '00', 'hex');

t.test('Java client over TLS: x509 ACLs, super user, whoAmI (ZooKeeper 3.8.0 and zkts)', async (t) => {
  const programs = await compileJavaPrograms(t);
  if (!programs) return;
  const transcripts: Record<string, string[]> = {};
  for (const kind of KINDS) {
    const securePort = await freePort();
    const s = await kind.start(tlsConfig(securePort));
    try {
      const r = await runProcess(
        'java',
        ['-Xmx256m', `-Dlog4j.configuration=file:${programs.log4jPath}`, '-cp', [programs.classesDir, javaClasspath()].join(path.delimiter), 'TlsScenarios', `127.0.0.1:${securePort}`, storeDir, dn(alice.cert), dn(bob.cert)],
        { timeoutMs: 120_000 },
      );
      transcripts[kind.name] = transcriptLines(r.stdout);
      t.equal(r.code, 0, `${kind.name}: the program ran`, { stderr: r.stderr.slice(-3000) });
      const mntr = await fourLetterWord('127.0.0.1', s.port, 'mntr');
      t.match(mntr, /zk_unsuccessful_handshake\t0\n/, `${kind.name}: no failed handshake`);
    } finally {
      await s.stop();
    }
  }
  const [ref, mine] = [transcripts.reference ?? [], transcripts.zkts ?? []];
  t.same(mine, ref, 'zkts prints what ZooKeeper 3.8.0 prints', { diff: lineDiff(ref, mine) });
  // The facts themselves, so that two servers agreeing on a wrong answer do not pass.
  const text = mine.join('\n');
  t.match(text, /connect alice\.p12 -> connected/);
  t.match(text, new RegExp(`alice whoAmI -> \\(ip,<ip>\\) \\(x509,${dn(alice.cert).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
  t.match(text, /alice getData \/tls -> secret/);
  t.match(text, /bob getData \/tls -> ERR NOAUTH/);
  t.match(text, /bob create \/tls\/child -> ERR NOAUTH/);
  t.match(text, /alice create \/tls-bad x509:not-a-dn -> ERR INVALIDACL/);
  t.match(text, /admin whoAmI -> \(ip,<ip>\) \(super,\) \(x509,/);
  t.match(text, /admin getData \/tls -> secret/);
  t.match(text, /alice getData \/tls again -> changed/);
  t.match(text, /## done/);
});

t.test('the ZooKeeper 3.9.5 Java client over TLS (TLSv1.3), against ZooKeeper 3.9.5 and zkts', async (t) => {
  const programs = await compileJavaPrograms(t);
  if (!programs) return;
  const transcripts: Record<string, string[]> = {};
  const kinds: Kind[] = [
    { name: 'reference', start: async (extraConfig) => startReferenceZooKeeper39({ extraConfig, port: await otherPort(extraConfig) }) },
    { name: 'zkts', start: async (extraConfig) => startZkts({ extraConfig, port: await otherPort(extraConfig) }) },
  ];
  for (const kind of kinds) {
    const securePort = await freePort();
    const s = await kind.start(tlsConfig(securePort));
    try {
      const r = await runProcess(
        'java',
        ['-Xmx256m', `-Dlogback.configurationFile=${CLIENT_LOGBACK}`, '-cp', [programs.classesDir, javaClasspath39()].join(path.delimiter), 'TlsScenarios', `127.0.0.1:${securePort}`, storeDir, dn(alice.cert), dn(bob.cert)],
        { timeoutMs: 120_000 },
      );
      transcripts[kind.name] = transcriptLines(r.stdout);
      t.equal(r.code, 0, `${kind.name}: the program ran on the 3.9.5 client`, { stderr: r.stderr.slice(-3000) });
    } finally {
      await s.stop();
    }
  }
  t.same(transcripts.zkts, transcripts.reference, 'zkts prints what ZooKeeper 3.9.5 prints', { diff: lineDiff(transcripts.reference ?? [], transcripts.zkts ?? []) });
  t.match((transcripts.zkts ?? []).join('\n'), /alice getData \/tls -> secret[\s\S]*admin getData \/tls -> secret[\s\S]*## done/);
});

// The Java client's TLS settings as system properties, which zkCli.sh and Curator pass through to it.
function javaClientTlsFlags(keyStore: string): string[] {
  return [
    '-Dzookeeper.client.secure=true',
    '-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty',
    `-Dzookeeper.ssl.keyStore.location=${path.join(storeDir, keyStore)}`,
    '-Dzookeeper.ssl.keyStore.password=secret1',
    `-Dzookeeper.ssl.trustStore.location=${path.join(storeDir, 'trust.jks')}`,
    '-Dzookeeper.ssl.trustStore.password=trustpw',
  ];
}

t.test('zkCli.sh and Curator over TLS with the Netty client socket', async (t) => {
  const programs = await compileJavaPrograms(t);
  if (!programs) return;
  const commands = ['whoami', 'create /cli-tls over-tls', 'get /cli-tls', `create /cli-x509 mine x509:${dn(carol.cert)}:cdrwa`, 'getAcl /cli-x509', 'get /cli-x509'];
  const transcripts: Record<string, { cli: string[]; bobCli: string[]; curator: string[] }> = {};
  for (const kind of KINDS) {
    const securePort = await freePort();
    const s = await kind.start(tlsConfig(securePort));
    try {
      const connect = `127.0.0.1:${securePort}`;
      const run = await runZkCli(connect, commands, { jvmFlags: ['-Dzookeeper.sasl.client=false', ...javaClientTlsFlags('carol.p12')] });
      const bobRun = await runZkCli(connect, ['get /cli-x509', 'get /cli-tls'], { jvmFlags: ['-Dzookeeper.sasl.client=false', ...javaClientTlsFlags('bob.jks')] });
      t.equal(run.exitCode, 0, `${kind.name}: zkCli (carol) exited cleanly`, { raw: run.raw.slice(-2000) });
      const curator = await runProcess(
        'java',
        ['-Xmx256m', `-Dlog4j.configuration=file:${programs.log4jPath}`, ...javaClientTlsFlags('alice.p12'), '-cp', [programs.classesDir, javaClasspath()].join(path.delimiter), 'CuratorScenarios', connect],
        { timeoutMs: PROGRAM_TIMEOUT_MS },
      );
      t.equal(curator.code, 0, `${kind.name}: Curator's scenarios ran over TLS`, { stderr: tail(curator.stderr) });
      transcripts[kind.name] = { cli: cliTranscript(run), bobCli: cliTranscript(bobRun), curator: transcriptLines(curator.stdout) };
      const mntr = await fourLetterWord('127.0.0.1', s.port, 'mntr');
      t.match(mntr, /zk_unsuccessful_handshake\t0\n/, `${kind.name}: no failed handshake`);
    } finally {
      await s.stop();
    }
  }
  const [ref, mine] = [transcripts.reference, transcripts.zkts];
  if (!ref || !mine) return;
  t.same(mine.cli, ref.cli, 'zkCli (carol): zkts prints what ZooKeeper prints', { diff: lineDiff(ref.cli, mine.cli) });
  t.same(mine.bobCli, ref.bobCli, 'zkCli (bob): zkts prints what ZooKeeper prints', { diff: lineDiff(ref.bobCli, mine.bobCli) });
  t.same(mine.curator, ref.curator, 'Curator: zkts prints what ZooKeeper prints', { diff: lineDiff(ref.curator, mine.curator) });
  const cli = mine.cli.join('\n');
  t.match(cli, /> whoami\n(?:.*\n)*?x509: CN=carol\n/, 'whoami shows the certificate subject');
  t.match(cli, /> getAcl \/cli-x509\n'x509,'CN=carol\n: cdrwa\n/, 'the node has the x509 ACL');
  t.match(cli, /> get \/cli-x509\nmine/, 'carol reads her x509 node');
  t.match(mine.bobCli.join('\n'), /> get \/cli-x509\nInsufficient permission : \/cli-x509/, 'bob is refused it');
  t.match(mine.curator.join('\n'), /## done/, 'Curator ran to the end');
});

t.test('kazoo over TLS with a client certificate', async (t) => {
  const script = `
import sys
from kazoo.client import KazooClient
port, ca, cert, key = sys.argv[1:5]
zk = KazooClient(hosts='127.0.0.1:' + port, use_ssl=True, ca=ca, certfile=cert, keyfile=key, verify_certs=True, timeout=10)
zk.start(timeout=15)
zk.create('/kazoo-tls', b'over tls')
print('get', zk.get('/kazoo-tls')[0].decode())
zk.set('/kazoo-tls', b'v2')
print('get', zk.get('/kazoo-tls')[0].decode(), zk.get('/kazoo-tls')[1].version)
zk.stop()
`;
  const file = path.join(dir, 'kazoo_tls.py');
  fs.writeFileSync(file, script);
  const out: Record<string, string> = {};
  for (const kind of KINDS) {
    const securePort = await freePort();
    const s = await kind.start(tlsConfig(securePort));
    try {
      const r = spawnSync('/usr/bin/python3', [file, String(securePort), ca.cert, alice.cert, alice.key], { encoding: 'utf8', timeout: 60_000 });
      out[kind.name] = r.stdout;
      t.equal(r.status, 0, `${kind.name}: kazoo ran`, { stderr: (r.stderr ?? '').slice(-2000) });
    } finally {
      await s.stop();
    }
  }
  t.equal(out.zkts, out.reference);
  t.equal(out.zkts, 'get over tls\nget v2 1\n');
});

t.test('the Go client (go-zookeeper/zk) over TLS with a client certificate', async (t) => {
  const bin = path.join(dir, 'gotls');
  const build = spawnSync('go', ['build', '-o', bin, '.'], { cwd: path.resolve(__dirname, '..', '..', 'compat-tests', 'gotls'), encoding: 'utf8', timeout: 300_000 });
  if (build.status !== 0) {
    t.fail('go build compat-tests/gotls', { stderr: (build.stderr ?? '').slice(-3000) });
    return;
  }
  const out: Record<string, string> = {};
  for (const kind of KINDS) {
    const securePort = await freePort();
    const s = await kind.start(tlsConfig(securePort));
    try {
      const r = spawnSync(bin, [`127.0.0.1:${securePort}`, ca.cert, bob.cert, bob.key], { encoding: 'utf8', timeout: 60_000 });
      out[kind.name] = r.stdout;
      t.equal(r.status, 0, `${kind.name}: the Go client ran`, { stdout: r.stdout, stderr: (r.stderr ?? '').slice(-2000) });
    } finally {
      await s.stop();
    }
  }
  t.equal(out.zkts, out.reference, 'the same lines on both');
  t.match(out.zkts ?? '', /session established\ncreate \/go-tls ok\nget over tls 0 ok\nset version 1 ok\n/);
});

t.test('the C client (cli, built with OpenSSL) over TLS, with x509 ACLs', async (t) => {
  const cli = cClientSslPath();
  if (!fs.existsSync(cli)) {
    t.fail(`${cli} is missing: scripts/install-deps.sh builds it (scripts/cclient-ssl.sh)`);
    return;
  }
  // kazoo, as alice, makes a node only alice's certificate may read.
  const setup = path.join(dir, 'c_tls_setup.py');
  fs.writeFileSync(
    setup,
    `
import sys
from kazoo.client import KazooClient
from kazoo.security import ACL, Id, Permissions
port, ca, cert, key, subject = sys.argv[1:6]
zk = KazooClient(hosts='127.0.0.1:' + port, use_ssl=True, ca=ca, certfile=cert, keyfile=key, verify_certs=True, timeout=10)
zk.start(timeout=15)
zk.create('/c-tls-alice', b'for alice', acl=[ACL(Permissions.ALL, Id('x509', subject))])
zk.stop()
`,
  );
  // No command changes a node this shell watches (`get` and `ls` set watches): the 3.8.0 C client never asks
  // OpenSSL for bytes it has already decrypted (no SSL_pending), so when an event and a reply come
  // in one TLS record, the reply waits for the socket's next bytes, with ZooKeeper as with zkts.
  const transcripts: Record<string, string[]> = {};
  for (const kind of KINDS) {
    const securePort = await freePort();
    const s = await kind.start(tlsConfig(securePort));
    const shells: CliMt[] = [];
    try {
      const r = spawnSync('/usr/bin/python3', [setup, String(securePort), ca.cert, alice.cert, alice.key, dn(alice.cert)], { encoding: 'utf8', timeout: 60_000 });
      t.equal(r.status, 0, `${kind.name}: kazoo made the x509-only node`, { stderr: (r.stderr ?? '').slice(-2000) });
      const steps: string[] = [];
      for (const [who, leaf, cmds] of [
        ['alice', alice, ['create /c-tls', 'create /c-tls-tmp', 'delete /c-tls-tmp', 'set /c-tls over-tls', 'get /c-tls', 'get /c-tls-alice', 'ls /']],
        ['bob', bob, ['get /c-tls-alice', 'set /c-tls-alice taken', 'create /c-tls-bob', 'ls /']],
      ] as const) {
        const shell = await CliMt.start(`127.0.0.1:${securePort}`, { binary: cli, args: ['-s', [ca.cert, leaf.cert, leaf.key].join(',')] });
        shells.push(shell);
        for (const cmd of cmds) await shell.run(cmd);
        await shell.quit();
        steps.push(`## ${who}`, ...cTranscript([], shell.steps));
      }
      transcripts[kind.name] = steps;
    } finally {
      for (const shell of shells) shell.kill();
      await s.stop();
    }
  }
  const zk = transcripts.zkts ?? [];
  t.same(zk, transcripts.reference, 'zkts answers the C client as ZooKeeper does', { diff: lineDiff(transcripts.reference ?? [], zk) });
  const text = zk.join('\n');
  t.match(text, /> get \/c-tls\n(?:time = .*\n)?\/c-tls: rc = 0\n\s*value_len = 8\nover-tls/, 'alice reads what she wrote');
  t.match(text, /## alice[\s\S]*> get \/c-tls-alice\n(?:time = .*\n)?\/c-tls-alice: rc = 0\n\s*value_len = 9\nfor alice/, "alice's certificate reads the x509 node");
  t.match(text, /## bob\n> get \/c-tls-alice\n(?:time = .*\n)?\/c-tls-alice: rc = -102/, "bob's certificate is refused it (NOAUTH)");
});

t.test('refused: plaintext on the TLS port, foreign and expired certificates, no certificate, a silent socket', async (t) => {
  for (const kind of KINDS) {
    const securePort = await freePort();
    const s = await kind.start(tlsConfig(securePort));
    try {
      const plain = await plaintextExchange(securePort, CONNECT_REQUEST);
      t.ok(plain.closed, `${kind.name}: a plaintext ConnectRequest on the TLS port is closed`);
      t.notOk(plain.reply.length > 0 && plain.reply.subarray(0, 4).readUInt32BE(0) === 36, `${kind.name}: and gets no ConnectResponse`);
      const good = await tlsConnect(securePort, { cert: fs.readFileSync(alice.cert), key: fs.readFileSync(alice.key) });
      t.ok(good.ok, `${kind.name}: a trusted certificate connects`, { detail: good.detail });
      good.socket?.destroy();
      for (const [what, leaf] of [
        ['a certificate from another CA', mallory],
        ['an expired certificate', expired],
      ] as const) {
        const r = await tlsConnect(securePort, { cert: fs.readFileSync(leaf.cert), key: fs.readFileSync(leaf.key) });
        t.notOk(r.ok, `${kind.name}: ${what} is refused`, { detail: r.detail });
      }
      const none = await tlsConnect(securePort, {});
      t.notOk(none.ok, `${kind.name}: no certificate is refused (clientAuth=need)`, { detail: none.detail });
      // A socket that never says a word is closed by the handshake timeout; others go on meanwhile.
      const silentAt = Date.now();
      const silent = plaintextExchange(securePort, Buffer.alloc(0));
      const during = await tlsConnect(securePort, { cert: fs.readFileSync(bob.cert), key: fs.readFileSync(bob.key) });
      t.ok(during.ok, `${kind.name}: a client connects while a silent socket waits`);
      during.socket?.destroy();
      const closed = await silent;
      const waitedMs = Date.now() - silentAt;
      t.ok(closed.closed, `${kind.name}: the silent socket is closed`);
      t.ok(waitedMs >= 8_000 && waitedMs < 14_000, `${kind.name}: after about 10 s (${waitedMs} ms)`);
      const mntr = await fourLetterWord('127.0.0.1', s.port, 'mntr');
      const failed = Number(/zk_unsuccessful_handshake\t(\d+)/.exec(mntr)?.[1] ?? '-1');
      t.ok(failed >= 4, `${kind.name}: unsuccessful_handshake counts them (${failed})`);
    } finally {
      await s.stop();
    }
  }
});

t.test('client.portUnification: TLS and plaintext on one port', async (t) => {
  for (const kind of KINDS) {
    const securePort = await freePort();
    const s = await kind.start(tlsConfig(securePort, { 'client.portUnification': 'true' }));
    try {
      const viaTls = await tlsConnect(s.port, { cert: fs.readFileSync(alice.cert), key: fs.readFileSync(alice.key) });
      t.ok(viaTls.ok, `${kind.name}: TLS on the plaintext port`, { detail: viaTls.detail });
      viaTls.socket?.destroy();
      const plain = await plaintextExchange(s.port, CONNECT_REQUEST);
      t.equal(plain.reply.length >= 4 ? plain.reply.readUInt32BE(0) : -1, 36, `${kind.name}: and a plaintext ConnectRequest still gets its ConnectResponse`);
      const mntr = await fourLetterWord('127.0.0.1', s.port, 'mntr');
      t.match(mntr, /zk_non_mtls_local_conn_count\t[1-9]/, `${kind.name}: unified connections count as non-mTLS`);
    } finally {
      await s.stop();
    }
  }
});

t.test('zkts refuses to start with a store it cannot open, naming the setting', async (t) => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['a wrong key store password', { 'ssl.keyStore.password': 'wrong' }, /ssl\.keyStore\.location.*password was incorrect/],
    ['a missing trust store', { 'ssl.trustStore.location': path.join(dir, 'nope.jks') }, /ssl\.trustStore\.location.*cannot read the file/],
    ['a BCFKS key store', { 'ssl.keyStore.type': 'BCFKS' }, /BCFKS/],
    ['clientAuth=sometimes', { 'ssl.clientAuth': 'sometimes' }, /ssl\.clientAuth.*not none, want or need/],
    ['ssl.crl=true', { 'ssl.crl': 'true' }, /ssl\.crl.*not implemented/],
  ];
  for (const [what, extra, message] of cases) {
    const securePort = await freePort();
    let started: RunningServer | undefined;
    try {
      started = await startZkts({ extraConfig: tlsConfig(securePort, extra) });
      t.fail(`${what}: zkts started`);
    } catch (err) {
      t.match(String((err as Error).message), message, `${what}: refused with the reason`);
    } finally {
      await started?.stop();
    }
  }
});
