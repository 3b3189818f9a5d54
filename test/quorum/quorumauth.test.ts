// Quorum SASL on its own: the QuorumAuthPacket codec, the DIGEST-MD5 client against bytes ZooKeeper
// 3.8.0 sent (test/fixtures/quorum/sasl-election-stream.json: a learner's election connection,
// user "test", password "test", captured on lo), the learner and server machines against each
// other (right and wrong passwords, required or not, peers that do not authenticate, hostile
// lengths, silence and EOF), and the quorum.auth.* config checks.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadConfig } from '../../src/server/config';
import { DigestMd5Exchange } from '../../src/server/sasl/digestmd5';
import { DigestMd5Client } from '../../src/server/sasl/digestmd5client';
import { SaslError } from '../../src/server/sasl/mechanism';
import { QUORUM_SASL_PROTOCOL, QUORUM_SASL_SERVER_NAME } from '../../src/server/sasl/quorumlogin';
import { quorumAuthFactories } from '../../src/quorum/authshell';
import { QuorumAuthLearner, QuorumAuthServer, type QuorumAuthMachine, type QuorumAuthStep } from '../../src/quorum/quorumauth';
import { AuthPacketReader, AuthStatus, AuthWireError, encodeAuthPacket, QUORUM_AUTH_MAGIC, startsWithAuthMagic } from '../../src/quorum/wire/authpacket';

interface Captured {
  from: 'learner' | 'server';
  hex: string;
}
const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'quorum', 'sasl-election-stream.json'), 'utf8')) as { packets: Captured[] };
const wire = fixture.packets.map((p) => ({ from: p.from, bytes: Buffer.from(p.hex, 'hex') }));
// [0] initial message, [1] learner's first auth packet, [2] challenge, [3] digest response, [4] SUCCESS + rspauth.
const tokenOf = (b: Buffer) => b.subarray(16);
const directive = (token: Buffer, name: string) => new RegExp(`${name}="([^"]*)"`).exec(token.toString('latin1'))?.[1] as string;
const JAVA_NONCE = directive(tokenOf(wire[2].bytes), 'nonce');
const JAVA_CNONCE = directive(tokenOf(wire[3].bytes), 'cnonce');

function quorumServerExchange(users: Record<string, string>, nonce?: string) {
  return new DigestMd5Exchange({
    protocol: QUORUM_SASL_PROTOCOL,
    serverName: QUORUM_SASL_SERVER_NAME,
    passwordOf: (u) => users[u],
    authorize: (authn, requested) => {
      if (authn !== requested) throw new SaslError('not authorized');
      return requested;
    },
    nonce: nonce === undefined ? undefined : () => nonce,
  });
}

function learnerClient(password: string, cnonce?: string) {
  return new DigestMd5Client({
    username: 'test',
    password,
    authzid: 'test',
    protocol: QUORUM_SASL_PROTOCOL,
    serverName: QUORUM_SASL_SERVER_NAME,
    cnonce: cnonce === undefined ? undefined : () => cnonce,
  });
}

t.test('QuorumAuthPacket: layout, magic, and the reader on any split', async (t) => {
  t.equal(encodeAuthPacket(AuthStatus.IN_PROGRESS, Buffer.alloc(0)).toString('hex'), wire[1].bytes.toString('hex'), 'IN_PROGRESS with an empty token is what ZooKeeper sends first');
  t.equal(wire[1].bytes.subarray(0, 8).toString('hex'), '5f2435013501edcc', 'the magic on the wire');
  t.equal(wire[1].bytes.readBigInt64BE(0), QUORUM_AUTH_MAGIC);
  t.equal(encodeAuthPacket(AuthStatus.ERROR, null).toString('hex'), '5f2435013501edccffffffffffffffff', 'a null token is length -1');
  t.ok(startsWithAuthMagic(wire[2].bytes));
  t.notOk(startsWithAuthMagic(wire[0].bytes), 'the initial message does not start with the magic');
  for (const w of wire.slice(1)) {
    const r = new AuthPacketReader();
    let got;
    for (let i = 0; i < w.bytes.length; i++) {
      got = r.push(w.bytes.subarray(i, i + 1));
      if (i < w.bytes.length - 1) t.equal(got, undefined);
    }
    t.ok(got, 'a whole packet after its last byte');
    t.same(encodeAuthPacket(got!.status, got!.token), w.bytes, 'decoded and encoded again: the same bytes');
  }
  const two = Buffer.concat([wire[2].bytes, wire[4].bytes, Buffer.from('rest')]);
  const r = new AuthPacketReader();
  t.equal(r.push(two)?.status, AuthStatus.IN_PROGRESS);
  t.equal(r.next()?.status, AuthStatus.SUCCESS);
  t.equal(r.next(), undefined);
  t.equal(r.buffered.toString(), 'rest', 'bytes after the packets stay buffered');
  const bad = (b: Buffer) => () => new AuthPacketReader().push(b);
  t.throws(bad(Buffer.from('0000000b00000000', 'hex')), AuthWireError, 'another magic');
  const header = (len: number) => {
    const b = encodeAuthPacket(AuthStatus.IN_PROGRESS, null);
    b.writeInt32BE(len, 12);
    return b;
  };
  t.throws(bad(header(8193)), AuthWireError, 'a token over the bound is refused before it is read');
  t.throws(bad(header(0x7fffffff)), AuthWireError, 'a huge token length');
  t.throws(bad(header(-2)), AuthWireError, 'a length below -1');
  t.equal(new AuthPacketReader().push(header(-1))?.token, null, 'length -1 is a null token');
});

t.test('DIGEST-MD5 client: with ZooKeeper\'s nonce and cnonce it answers byte for byte as ZooKeeper 3.8.0 did', async (t) => {
  const client = learnerClient('test', JAVA_CNONCE);
  t.notOk(client.hasInitialResponse);
  const response = client.evaluate(tokenOf(wire[2].bytes));
  t.equal(response?.toString('latin1'), tokenOf(wire[3].bytes).toString('latin1'));
  t.notOk(client.complete);
  t.equal(client.evaluate(tokenOf(wire[4].bytes)), null, "ZooKeeper's rspauth checks out: no further token");
  t.ok(client.complete);
  const wrong = learnerClient('wrong', JAVA_CNONCE);
  wrong.evaluate(tokenOf(wire[2].bytes));
  t.throws(() => wrong.evaluate(tokenOf(wire[4].bytes)), SaslError, 'an rspauth made with another password is refused');
});

t.test('DIGEST-MD5 server (quorum names): accepts ZooKeeper\'s response and answers its rspauth byte for byte', async (t) => {
  const server = quorumServerExchange({ test: 'test' }, JAVA_NONCE);
  t.equal(server.evaluate(Buffer.alloc(0))?.toString('latin1'), tokenOf(wire[2].bytes).toString('latin1'), "the challenge, as ZooKeeper's");
  t.equal(server.evaluate(tokenOf(wire[3].bytes))?.toString('latin1'), tokenOf(wire[4].bytes).toString('latin1'), 'the rspauth');
  t.equal(server.authorizationId, 'test');
  const other = quorumServerExchange({ test: 'other' }, JAVA_NONCE);
  other.evaluate(Buffer.alloc(0));
  t.throws(() => other.evaluate(tokenOf(wire[3].bytes)), SaslError, 'another password: Mismatched response');
});

t.test('DIGEST-MD5 client: challenges it refuses', async (t) => {
  const refuse = (challenge: string, why: string) => t.throws(() => learnerClient('test').evaluate(Buffer.from(challenge)), SaslError, why);
  refuse('realm="zk-quorum-sasl-md5",charset=utf-8,algorithm=md5-sess', 'no nonce');
  refuse('realm="x",nonce="abc",charset=utf-8,algorithm=md5', 'algorithm md5, not md5-sess');
  refuse('realm="x",nonce="abc",qop="auth-conf",charset=utf-8,algorithm=md5-sess', 'no common qop');
  refuse('realm="x",nonce="abc",charset=latin1,algorithm=md5-sess', 'another charset');
  refuse(`realm="x",nonce="${'a'.repeat(2100)}",algorithm=md5-sess`, 'over 2048 bytes');
  refuse('realm="x",nonce="a",nonce="b",algorithm=md5-sess', 'a directive twice');
  const c = learnerClient('test');
  c.evaluate(Buffer.from('realm="zk-quorum-sasl-md5",nonce="abc",charset=utf-8,algorithm=md5-sess'));
  t.throws(() => c.evaluate(Buffer.from('nothing=here')), SaslError, 'no rspauth');
});

/** Runs two machines against each other until both have an outcome (or nothing moves). */
function converse(learner: QuorumAuthMachine, server: QuorumAuthMachine) {
  const toServer: Buffer[] = [];
  const toLearner: Buffer[] = [];
  const take = (s: QuorumAuthStep, out: Buffer[]) => {
    out.push(...s.send);
    return s.outcome;
  };
  let lo = take(learner.start(), toServer);
  let so = take(server.start(), toLearner);
  for (let i = 0; i < 20 && (toServer.length > 0 || toLearner.length > 0); i++) {
    const a = toServer.splice(0);
    for (const b of a) so = take(server.push(b), toLearner) ?? so;
    const c = toLearner.splice(0);
    for (const b of c) lo = take(learner.push(b), toServer) ?? lo;
  }
  return { learner: lo, server: so };
}

t.test('learner and server machines: the exchange, and the outcomes by password and requirement', async (t) => {
  const users = { test: 'test' };
  const ok = converse(new QuorumAuthLearner(learnerClient('test')), new QuorumAuthServer({ requireSasl: true, newExchange: () => quorumServerExchange(users) }));
  t.equal(ok.learner?.kind, 'authenticated');
  t.match(ok.server, { kind: 'authenticated', user: 'test' });
  for (const requireSasl of [true, false]) {
    const bad = converse(new QuorumAuthLearner(learnerClient('wrong')), new QuorumAuthServer({ requireSasl, newExchange: () => quorumServerExchange(users) }));
    t.match(bad.learner, { kind: 'failed', reason: /status -1/ }, `wrong password, serverRequireSasl=${requireSasl}: the learner gets ERROR and fails`);
    t.match(bad.server, { kind: requireSasl ? 'failed' : 'unauthenticated', reason: /Mismatched response/ }, `the server ${requireSasl ? 'closes' : 'keeps the connection, as ZooKeeper does'}`);
    const unknown = converse(new QuorumAuthLearner(learnerClient('test')), new QuorumAuthServer({ requireSasl, newExchange: () => quorumServerExchange({ someone: 'else' }) }));
    t.equal(unknown.learner?.kind, 'failed', 'an unknown user fails');
  }
  // The server's answer to a failure is ERROR with an empty token, as on ZooKeeper's wire.
  const s = new QuorumAuthServer({ requireSasl: true, newExchange: () => quorumServerExchange(users) });
  const l = new QuorumAuthLearner(learnerClient('wrong'));
  const first = s.push(l.start().send[0]);
  const second = s.push(l.push(first.send[0]).send[0]);
  t.equal(second.send[0].toString('hex'), '5f2435013501edccffffffff00000000', 'ERROR, empty token');
});

t.test('server machine: a peer that does not authenticate, silence, EOF and garbage', async (t) => {
  const newExchange = () => quorumServerExchange({ test: 'test' });
  const followerInfo = Buffer.from('0000000b00000000000000000000001400000000000000010001000000000000000000ffffffff', 'hex');
  for (const requireSasl of [false, true]) {
    const s = new QuorumAuthServer({ requireSasl, newExchange });
    t.same(s.push(followerInfo.subarray(0, 5)), { send: [] }, 'under 8 bytes: no decision yet');
    const step = s.push(followerInfo.subarray(5));
    if (requireSasl) t.match(step.outcome, { kind: 'failed', reason: 'Learner not trying to authenticate and authentication is required' });
    else t.same(step.outcome, { kind: 'unauthenticated', reason: 'the learner did not authenticate (not required)', rest: followerInfo }, 'not required: every byte goes on to the protocol');
    const quiet = new QuorumAuthServer({ requireSasl, newExchange });
    t.equal(quiet.timedOut().outcome?.kind, requireSasl ? 'failed' : 'unauthenticated', 'silence until the timeout');
    const gone = new QuorumAuthServer({ requireSasl, newExchange });
    t.equal(gone.closed().outcome?.kind, requireSasl ? 'failed' : 'unauthenticated', 'EOF before 8 bytes');
  }
  const s = new QuorumAuthServer({ requireSasl: false, newExchange });
  const huge = encodeAuthPacket(AuthStatus.IN_PROGRESS, null);
  huge.writeInt32BE(0x7fffffff, 12);
  t.match(s.push(huge).outcome, { kind: 'failed', reason: /out of bounds/ }, 'a hostile length closes even when SASL is not required');
  const mid = new QuorumAuthServer({ requireSasl: true, newExchange });
  mid.push(encodeAuthPacket(AuthStatus.IN_PROGRESS, Buffer.alloc(0)));
  const late = mid.timedOut();
  t.equal(late.send[0].readInt32BE(8), AuthStatus.ERROR, 'a timeout in the exchange answers ERROR');
  t.equal(late.outcome?.kind, 'failed');
});

t.test('learner machine: what the server may send', async (t) => {
  const l = () => {
    const m = new QuorumAuthLearner(learnerClient('test'));
    m.start();
    return m;
  };
  t.match(l().push(encodeAuthPacket(AuthStatus.ERROR, Buffer.alloc(0))).outcome, { kind: 'failed' });
  const unknownStatus = encodeAuthPacket(AuthStatus.IN_PROGRESS, Buffer.alloc(0));
  unknownStatus.writeInt32BE(7, 8);
  t.match(l().push(unknownStatus).outcome, { kind: 'failed' }, 'an unknown status is an error, as ZooKeeper takes it');
  t.match(l().push(encodeAuthPacket(AuthStatus.IN_PROGRESS, null)).outcome, { kind: 'failed', reason: /null/ });
  t.match(l().push(encodeAuthPacket(AuthStatus.SUCCESS, Buffer.from('rspauth=00'))).outcome, { kind: 'failed' }, 'SUCCESS before any challenge');
  t.match(l().push(Buffer.from('garbage!garbage!')).outcome, { kind: 'failed' }, 'not a quorum auth packet');
  t.match(l().closed().outcome, { kind: 'failed' });
  t.match(l().timedOut().outcome, { kind: 'failed' });
});

t.test('factories: the learner side exists only with learnerRequireSasl; principals need a member host', async (t) => {
  const base = { serverRequireSasl: false, learnerLoginContext: 'QuorumLearner', serverLoginContext: 'QuorumServer', servicePrincipal: 'zkquorum/localhost', cnxnThreadsSize: 20 };
  const users = new Map([['test', 'test'], ['zk/127.0.0.1@R', 'p'], ['zk/evil@R', 'p']]);
  const off = quorumAuthFactories({ ...base, learnerRequireSasl: false, learner: { username: 'test', password: 'test' }, users }, () => new Set(['127.0.0.1']));
  t.equal(off.learner, undefined);
  const on = quorumAuthFactories({ ...base, learnerRequireSasl: true, learner: { username: 'test', password: 'test' }, users }, () => new Set(['127.0.0.1']));
  t.match(converse(on.learner!(), on.server()).server, { kind: 'authenticated', user: 'test' });
  const as = (username: string) => quorumAuthFactories({ ...base, learnerRequireSasl: true, learner: { username, password: 'p' }, users }, () => new Set(['127.0.0.1']));
  t.match(converse(as('zk/127.0.0.1@R').learner!(), on.server()).server, { kind: 'authenticated' }, 'a principal from a member host');
  t.match(converse(as('zk/evil@R').learner!(), on.server()).server, { kind: 'unauthenticated', reason: /evil is not authorized/ }, 'from another host: not authorized');
});

t.test('config: quorum.auth.* and the JAAS sections', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-qsasl-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'myid'), '1\n');
  const jaas = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };
  const good = jaas(
    'good.conf',
    'QuorumServer { org.apache.zookeeper.server.auth.DigestLoginModule required user_test="test" user_two="2"; };\nQuorumLearner { org.apache.zookeeper.server.auth.DigestLoginModule required username="test" password="test"; };\n',
  );
  const krb = jaas('krb.conf', 'QuorumServer { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab="/k" principal="zkquorum/localhost@R"; };\nQuorumLearner { org.apache.zookeeper.server.auth.DigestLoginModule required username="test" password="test"; };\n');
  const krbLearner = jaas('krbl.conf', 'QuorumServer { org.apache.zookeeper.server.auth.DigestLoginModule required user_test="test"; };\nQuorumLearner { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab="/k" principal="zkquorum/localhost@R"; };\n');
  const noCreds = jaas('nocreds.conf', 'QuorumServer { org.apache.zookeeper.server.auth.DigestLoginModule required user_test="test"; };\nQuorumLearner { org.apache.zookeeper.server.auth.DigestLoginModule required; };\n');
  const renamed = jaas('renamed.conf', 'S { org.apache.zookeeper.server.auth.DigestLoginModule required user_a="b"; };\nL { org.apache.zookeeper.server.auth.DigestLoginModule required username="a" password="b"; };\n');
  const cfg = (extra: string[]) =>
    ['tickTime=500', 'initLimit=10', 'syncLimit=5', `dataDir=${dir}`, 'clientPort=2181', 'server.1=127.0.0.1:2888:3888', 'server.2=127.0.0.1:2889:3889', 'server.3=127.0.0.1:2890:3890', ...extra].join('\n');
  const load = (extra: string[], jaasFile?: string) => loadConfig(cfg(extra), new Map(jaasFile ? [['java.security.auth.login.config', jaasFile]] : []), dir);
  const refused = (extra: string[], jaasFile: string | undefined, key: string, reason: RegExp, what: string) => {
    try {
      load(extra, jaasFile);
      t.fail(`${what}: accepted`);
    } catch (e) {
      t.ok(e instanceof ConfigError, what);
      t.equal((e as ConfigError).key, key, `${what}: the key`);
      t.match((e as Error).message, reason, `${what}: the reason`);
    }
  };
  const on = ['quorum.auth.enableSasl=true'];
  const all = [...on, 'quorum.auth.learnerRequireSasl=true', 'quorum.auth.serverRequireSasl=true'];
  t.equal(load([]).quorumSasl, undefined, 'off by default');
  const c = load(all, good).quorumSasl!;
  t.same([c.learnerRequireSasl, c.serverRequireSasl, c.learnerLoginContext, c.serverLoginContext, c.servicePrincipal, c.cnxnThreadsSize], [true, true, 'QuorumLearner', 'QuorumServer', 'zkquorum/localhost', 20]);
  t.same(c.learner, { username: 'test', password: 'test' });
  t.same([...c.users], [['test', 'test'], ['two', '2']]);
  t.equal(load([...on, 'quorum.cnxn.threads.size=50'], good).quorumSasl?.cnxnThreadsSize, 50, 'quorum.cnxn.threads.size above 20 is taken');
  t.equal(load([...on, 'quorum.cnxn.threads.size=5'], good).quorumSasl?.cnxnThreadsSize, 20, 'below the default it is ignored, as in ZooKeeper');
  const r = load([...on, 'quorum.auth.learner.saslLoginContext=L', 'quorum.auth.server.saslLoginContext=S', 'quorum.auth.kerberos.servicePrincipal=zkquorum/_HOST'], renamed).quorumSasl!;
  t.same([r.learnerLoginContext, r.serverLoginContext, r.servicePrincipal, r.learner?.username], ['L', 'S', 'zkquorum/_HOST', 'a'], 'renamed sections');
  t.equal(load([...on], noCreds).quorumSasl?.learner, undefined, 'a learner section without credentials is fine while the learner need not authenticate');
  refused([...on, 'quorum.auth.learnerRequireSasl=true'], noCreds, 'quorum.auth.learner.saslLoginContext', /no username and password/, 'learnerRequireSasl without credentials');
  refused(on, krb, 'quorum.auth.server.saslLoginContext', /Kerberos.*not supported/, 'Kerberos in QuorumServer');
  refused(on, krbLearner, 'quorum.auth.learner.saslLoginContext', /Kerberos.*not supported/, 'Kerberos in QuorumLearner');
  refused(on, undefined, 'java.security.auth.login.config', /needs a JAAS file/, 'no JAAS file');
  refused(on, path.join(dir, 'absent.conf'), 'java.security.auth.login.config', /cannot read/, 'an unreadable JAAS file');
  refused([...on, 'quorum.auth.server.saslLoginContext=Nope'], good, 'quorum.auth.server.saslLoginContext', /'Nope' could not be found/, 'a missing server section');
  refused([...on, 'quorum.auth.learner.saslLoginContext=Nope'], good, 'quorum.auth.learner.saslLoginContext', /'Nope' could not be found/, 'a missing learner section');
  refused(['quorum.auth.serverRequireSasl=true', 'quorum.auth.learnerRequireSasl=true'], good, 'quorum.auth.serverRequireSasl', /enableSasl is disabled/, 'require without enable');
  refused([...on, 'quorum.auth.serverRequireSasl=true'], good, 'quorum.auth.serverRequireSasl', /learnerRequireSasl is disabled/, 'serverRequire without learnerRequire');
  refused(['quorum.auth.enableSasl=yes'], good, 'quorum.auth.enableSasl', /./, 'not a boolean');
  refused([...on, 'quorum.cnxn.threads.size=many'], good, 'quorum.cnxn.threads.size', /./, 'not a number');
});
