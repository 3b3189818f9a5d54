// The SASL pieces on their own: DIGEST-MD5 on RFC 2831's example and on malformed input, the
// JAAS file parser, principal names, the mechanism choice and the SASL-related config checks.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadConfig } from '../src/server/config';
import { saslProvider } from '../src/server/auth';
import { DigestMd5Exchange, parseDirectives, responseValue } from '../src/server/sasl/digestmd5';
import { parseJaas, JaasError } from '../src/server/sasl/jaas';
import { SaslError, SaslMalformedError } from '../src/server/sasl/mechanism';
import { authorizedId, parsePrincipal } from '../src/server/sasl/principal';
import { encodeKeytab } from '../src/server/sasl/kerberos/keytab';
import { loadSaslServer, SaslConfigError, type SaslServerFactory } from '../src/server/sasl/saslserver';
import { startInProcessZkts, ZkClient } from './util/client';
import { digestResponse, expectedRspauth, sendSasl } from './util/saslclient';

const DIGEST = 'org.apache.zookeeper.server.auth.DigestLoginModule';
const KRB5 = 'com.sun.security.auth.module.Krb5LoginModule';
const SASL_PROVIDER = 'org.apache.zookeeper.server.auth.SASLAuthenticationProvider';
const NONCE = 'QAZWSXEDCRFVTGBYHNUJMIKOLPqazwsxedcrfvtg';

t.test('response values of RFC 2831 section 4, example 1', async (t) => {
  const input = {
    digestUri: 'imap/elwood.innosoft.com',
    qop: 'auth',
    username: 'chris',
    realm: 'elwood.innosoft.com',
    password: 'secret',
    nonce: Buffer.from('OA6MG9tEQGm2hh'),
    cnonce: Buffer.from('OA6MHXh6VqTrRk'),
    authzid: undefined,
  };
  t.equal(responseValue({ ...input, method: 'AUTHENTICATE' }), 'd388dad90d4bbd760a152321f2143af7', 'response');
  t.equal(responseValue({ ...input, method: '' }), 'ea40f60335c427b5527b84dbabcdfffd', 'rspauth');
  t.not(responseValue({ ...input, method: 'AUTHENTICATE', authzid: Buffer.from('chris') }), 'd388dad90d4bbd760a152321f2143af7', 'an authzid enters A1');
});

function exchange(users: Record<string, string> = { bob: 'bobpw' }): DigestMd5Exchange {
  return new DigestMd5Exchange({
    passwordOf: (u) => users[u],
    authorize: (authn) => authn,
    nonce: () => NONCE,
  });
}

t.test('DIGEST-MD5 exchange: challenge, response, rspauth', async (t) => {
  const x = exchange();
  t.equal(x.complete, false);
  const challenge = x.evaluate(Buffer.from('ignored initial response'));
  t.equal(challenge.toString(), `realm="zk-sasl-md5",nonce="${NONCE}",charset=utf-8,algorithm=md5-sess`);
  const o = { user: 'bob', password: 'bobpw', cnonce: 'c1' };
  const answer = x.evaluate(digestResponse(challenge, o));
  t.equal(answer.toString(), expectedRspauth(challenge, o));
  t.equal(x.complete, true);
  t.equal(x.authorizationId, 'bob');
  t.throws(() => x.evaluate(Buffer.alloc(0)), SaslError, 'no third step');
});

t.test('DIGEST-MD5 with an authzid: verified in A1, authorized by the callback', async (t) => {
  const asked: string[] = [];
  const x = new DigestMd5Exchange({ passwordOf: () => 'pw', authorize: (authn, requested) => (asked.push(`${authn}->${requested}`), authn), nonce: () => NONCE });
  const challenge = x.evaluate(Buffer.alloc(0));
  x.evaluate(digestResponse(challenge, { user: 'u', password: 'pw', authzid: 'other', cnonce: 'c' }));
  t.same(asked, ['u->other']);
  t.equal(x.authorizationId, 'u');
});

t.test('DIGEST-MD5 failures', async (t) => {
  const fail = (token: (challenge: Buffer) => Buffer, kind: typeof SaslError | typeof SaslMalformedError, what: string, secondTry = false) => {
    const x = exchange();
    const challenge = x.evaluate(Buffer.alloc(0));
    t.throws(() => x.evaluate(token(challenge)), kind, what);
    t.equal(x.complete, false);
    const retry = () => x.evaluate(digestResponse(challenge, { user: 'bob', password: 'bobpw' }));
    // As in Java, only a response that was read ends the exchange; an oversized one is refused unread.
    if (secondTry) t.doesNotThrow(retry, `${what}: a second try is read`);
    else t.throws(retry, SaslError, `${what}: no second try`);
  };
  fail((c) => digestResponse(c, { user: 'bob', password: 'nope' }), SaslError, 'bad password');
  fail((c) => digestResponse(c, { user: 'eve', password: 'bobpw' }), SaslError, 'unknown user');
  fail((c) => digestResponse(c, { user: 'bob', password: 'bobpw', realm: 'other' }), SaslError, 'other realm');
  fail((c) => digestResponse(c, { user: 'bob', password: 'bobpw', digestUri: 'zookeeper/x' }), SaslError, 'other digest-uri');
  fail((c) => digestResponse(c, { user: 'bob', password: 'bobpw', extra: 'qop=auth-conf' }), SaslError, 'duplicate qop');
  fail((c) => Buffer.from(digestResponse(c, { user: 'bob', password: 'bobpw' }).toString().replace(/nonce="[^"]*"/, 'nonce="x"')), SaslError, 'other nonce');
  fail((c) => Buffer.from(digestResponse(c, { user: 'bob', password: 'bobpw' }).toString().replace(/,response=[0-9a-f]+/, '')), SaslError, 'no response');
  fail((c) => Buffer.from(digestResponse(c, { user: 'bob', password: 'bobpw' }).toString().replace(/username="bob",/, '')), SaslError, 'no username');
  fail((c) => digestResponse(c, { user: 'bob', password: 'bobpw', extra: 'nonce-count=q' }), SaslMalformedError, 'nonce-count not hex');
  fail((c) => Buffer.from(digestResponse(c, { user: 'bob', password: 'bobpw' }).toString().replace('maxbuf=65536', 'maxbuf=big')), SaslMalformedError, 'maxbuf not a number');
  fail((c) => digestResponse(c, { user: 'bob', password: 'bobpw', extra: 'maxbuf=1' }), SaslError, 'maxbuf twice');
  fail(() => Buffer.from('username="bob'), SaslError, 'unterminated quote');
  fail(() => Buffer.from('=x'), SaslError, 'empty key');
  fail(() => Buffer.alloc(4097, 0x61), SaslError, 'over 4096 bytes', true);
  const x = exchange();
  t.throws(() => x.evaluate(Buffer.alloc(4097)), SaslError, 'a first token over 4096 bytes');
  t.throws(() => x.authorizationId, Error, 'no id before completion');
});

t.test('directive parsing', async (t) => {
  const d = parseDirectives(Buffer.from(' Username = "a\\"b" ,, realm="r",qop=auth , unknown=1, cnonce="x,y"'));
  t.equal(d.get('username')?.toString(), 'a"b');
  t.equal(d.get('realm')?.toString(), 'r');
  t.equal(d.get('qop')?.toString(), 'auth');
  t.equal(d.get('cnonce')?.toString(), 'x,y');
  t.equal(d.size, 4, 'unknown directives are skipped');
  t.throws(() => parseDirectives(Buffer.from('realm="a",realm="b"')), SaslError, 'a directive twice');
  t.throws(() => parseDirectives(Buffer.from('realm="a"x')), SaslError, 'text after a quoted value');
  t.equal(parseDirectives(Buffer.from('realm')).get('realm')?.toString(), '', 'a key alone at the end has an empty value');
  t.throws(() => parseDirectives(Buffer.from('realm=')), SaslError, 'no value');
});

t.test('JAAS files', async (t) => {
  const text = [
    '// a comment',
    'Server {',
    '  org.apache.zookeeper.server.auth.DigestLoginModule Required',
    '    user_bob="bob\\"pw" /* inline */ user_x=bare',
    '    user_home="${user.home}/x";',
    '  other.Module optional;',
    '};',
    '"Quoted Name" { a.B sufficient k="v"; };',
  ].join('\n');
  const s = parseJaas(text, new Map([['user.home', '/home/z']]));
  t.same([...s.keys()], ['Server', 'Quoted Name']);
  const server = s.get('Server')!;
  t.equal(server.length, 2);
  t.equal(server[0].loginModule, DIGEST);
  t.equal(server[0].flag, 'required');
  t.same([...server[0].options], [
    ['user_bob', 'bob"pw'],
    ['user_x', 'bare'],
    ['user_home', '/home/z/x'],
  ]);
  t.same(server[1], { loginModule: 'other.Module', flag: 'optional', options: new Map() });
  t.same(parseJaas('').size, 0);
  t.throws(() => parseJaas('A { m required; };\nA { m required; };'), JaasError, 'a section twice');
  t.throws(() => parseJaas('A { m always; };'), /invalid control flag/);
  t.throws(() => parseJaas('A { m required k="v" };'), /Line 1: expected \[=\]|expected/);
  t.throws(() => parseJaas('A { m required; }'), /end of file/);
  t.throws(() => parseJaas('A { m required k="${nope}"; };'), /unable to expand property nope/);
  t.throws(() => parseJaas('A {\n m required k=1; };'), /Line 2/);
});

t.test('principal names and the authorization id', async (t) => {
  t.same(parsePrincipal('bob'), { serviceName: 'bob', hostName: undefined, realm: undefined });
  t.same(parsePrincipal('zk/host.example@EXAMPLE.COM'), { serviceName: 'zk', hostName: 'host.example', realm: 'EXAMPLE.COM' });
  t.same(parsePrincipal('a/b'), { serviceName: 'a/b', hostName: undefined, realm: undefined });
  t.equal(parsePrincipal('a@b@c'), undefined);
  const keep = { removeHostFromPrincipal: false, removeRealmFromPrincipal: false, defaultRealm: 'EXAMPLE.COM' };
  t.equal(authorizedId('bob', 'other', keep), 'bob');
  t.equal(authorizedId('zk/h@EXAMPLE.COM', 'x', keep), 'zk/h@EXAMPLE.COM');
  t.equal(authorizedId('zk/h@EXAMPLE.COM', 'x', { ...keep, removeHostFromPrincipal: true }), 'zk@EXAMPLE.COM');
  t.equal(authorizedId('zk/h@EXAMPLE.COM', 'x', { ...keep, removeHostFromPrincipal: true, removeRealmFromPrincipal: true }), 'zk');
  t.equal(authorizedId('zk/h@OTHER.ORG', 'asked', keep), 'asked', 'no rule applies: the requested id stays');
  t.throws(() => authorizedId('a@b@c', 'x', keep), SaslMalformedError);
  t.throws(() => authorizedId('a/b/c@EXAMPLE.COM', 'x', keep), SaslMalformedError, 'three components: not a KerberosName');
  t.equal(authorizedId('bob@OTHER.ORG', 'bob@OTHER.ORG', { ...keep, removeRealmFromPrincipal: true }), 'bob@OTHER.ORG', 'no rule applies: flags do not apply either');
});

t.test('the sasl ACL scheme', async (t) => {
  const p = saslProvider(undefined);
  t.ok(p.matches('bob', 'bob'));
  t.notOk(p.matches('bob', 'alice'));
  t.ok(p.matches('super', 'alice'), 'the id "super" matches every sasl ACL');
  t.ok(p.isValid('zk/h@R'));
  t.notOk(p.isValid('a@b@c'));
  const any = saslProvider('anyone-sasl');
  t.ok(any.matches('bob', 'anyone-sasl'), 'letAnySaslUserDoX');
  t.notOk(any.matches('bob', 'alice'));
});

t.test('mechanism choice from the JAAS Server section', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-jaas-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };
  const digest = file('digest.conf', `Server { ${DIGEST} required user_bob="pw" user_super="jaas"; };`);
  const props = (o: Record<string, string>) => new Map(Object.entries(o));
  t.equal(loadSaslServer(props({})), undefined, 'no JAAS file: SASL off');
  t.equal(loadSaslServer(props({ 'zookeeper.sasl.serverconfig': 'Server' })), undefined, 'a section name without a JAAS file: SASL off, as Java reads no file as an empty configuration');
  t.equal(loadSaslServer(props({ 'java.security.auth.login.config': file('client.conf', `Client { ${DIGEST} required username="a" password="b"; };`) })), undefined, 'no Server section: SASL off');
  const f = loadSaslServer(props({ 'java.security.auth.login.config': digest }))!;
  t.equal(f.mechanism, 'DIGEST-MD5');
  t.equal(loadSaslServer(props({ 'java.security.auth.login.config': digest, 'zookeeper.sasl.serverconfig': 'Other' })), undefined, 'another section name');
  const custom = loadSaslServer(props({ 'java.security.auth.login.config': file('custom.conf', `ZK { ${DIGEST} required user_a="b"; };`), 'zookeeper.sasl.serverconfig': 'ZK' }));
  t.equal(custom?.mechanism, 'DIGEST-MD5', 'zookeeper.sasl.serverconfig names the section');

  // super's password from zookeeper.SASLAuthenticationProvider.superPassword.
  const superFactory = loadSaslServer(props({ 'java.security.auth.login.config': digest, 'zookeeper.SASLAuthenticationProvider.superPassword': 'prop' }))!;
  const x = superFactory.newExchange();
  const ch = x.evaluate(Buffer.alloc(0));
  x.evaluate(digestResponse(ch as Buffer, { user: 'super', password: 'prop' }));
  t.equal(x.authorizationId, 'super');

  const refuse = (o: Record<string, string>, key: string, reason: RegExp, what: string) => {
    try {
      loadSaslServer(props(o));
      t.fail(`${what}: accepted`);
    } catch (e) {
      t.ok(e instanceof SaslConfigError, what);
      t.equal((e as SaslConfigError).key, key, `${what}: key`);
      t.match((e as SaslConfigError).reason, reason, `${what}: reason`);
    }
  };
  // Kerberos: the Krb5LoginModule options are checked at start, each error names its option.
  const krb = (opts: string) => ({ 'java.security.auth.login.config': file('krb.conf', `Server { ${KRB5} required ${opts}; };`) });
  const JAAS = 'java.security.auth.login.config';
  refuse(krb('useKeyTab=true principal="zookeeper/h@R"'), JAAS, /Krb5LoginModule.*keyTab="<path>" is missing/, 'Kerberos, no keyTab');
  refuse(krb('keyTab="/k" principal="zookeeper/h@R"'), JAAS, /useKeyTab must be true/, 'Kerberos, useKeyTab absent');
  refuse(krb('useKeyTab=false keyTab="/k" principal="zookeeper/h@R"'), JAAS, /useKeyTab must be true/, 'Kerberos, useKeyTab=false');
  refuse(krb('useKeyTab=true keyTab="/k" principal="*"'), JAAS, /principal="\*"/, 'Kerberos, principal *');
  refuse(krb('useKeyTab=true keyTab="/k"'), JAAS, /principal=.* is missing/, 'Kerberos, no principal');
  refuse(krb(`useKeyTab=true keyTab="${path.join(dir, 'none.keytab')}" principal="zookeeper/h@R"`), JAAS, /cannot read keytab .*none\.keytab/, 'Kerberos, unreadable keytab');
  refuse(krb(`useKeyTab=true keyTab="${file('junk.keytab', 'not a keytab')}" principal="zookeeper/h@R"`), JAAS, /keytab/, 'Kerberos, malformed keytab');
  const keytab = path.join(dir, 'other.keytab');
  fs.writeFileSync(keytab, encodeKeytab([{ principal: { components: ['other', 'h'], realm: 'R' }, nameType: 1, timestampSec: 0, kvno: 1, key: { enctype: 18, value: Buffer.alloc(32, 7) } }]));
  refuse(krb(`useKeyTab=true keyTab="${keytab}" principal="zookeeper/h@R"`), JAAS, /has no key for zookeeper\/h@R/, 'Kerberos, no key for the principal');
  const gss = loadSaslServer(props(krb(`useKeyTab=true keyTab="${keytab}" principal="other/h@R"`)));
  t.equal(gss?.mechanism, 'GSSAPI', 'a usable keytab: GSSAPI is offered');
  refuse({ 'java.security.auth.login.config': file('other.conf', 'Server { com.example.Module required; };') }, 'java.security.auth.login.config', /com\.example\.Module/, 'unknown module');
  refuse({ 'java.security.auth.login.config': file('bad.conf', 'Server { oops') }, 'java.security.auth.login.config', /No JAAS configuration section named 'Server' was found in/, 'malformed file');
  refuse({ 'java.security.auth.login.config': path.join(dir, 'missing.conf') }, 'java.security.auth.login.config', /missing\.conf/, 'missing file');
  refuse({ 'java.security.auth.login.config': path.join(dir, 'missing.conf'), 'zookeeper.sasl.serverconfig': 'ZK' }, 'java.security.auth.login.config', /named 'ZK' .* But zookeeper\.sasl\.serverconfig was set/, 'missing file, section named');
  refuse({ 'java.security.auth.login.config': file('empty.conf', 'Server { };') }, 'java.security.auth.login.config', /No LoginModules/, 'empty section');
  refuse({ 'java.security.auth.login.config': digest, 'zookeeper.security.auth_to_local': 'RULE:[1:$1]' }, 'zookeeper.security.auth_to_local', /DEFAULT/, 'auth_to_local rules');
});

t.test('config: SASL provider, enforced schemes, start errors', async (t) => {
  const load = (lines: string, sys: Record<string, string> = {}) => loadConfig(`dataDir=/nonexistent-zkts-test\n${lines}`, new Map(Object.entries(sys)), '/');
  const c = load(`authProvider.1=${SASL_PROVIDER}\nsessionRequireClientSASLAuth=true`);
  t.equal(c.saslAuthProvider, true);
  t.same(c.enforceAuthSchemes, ['sasl']);
  t.same(load('', { 'zookeeper.enforce.auth.enabled': 'true', 'zookeeper.enforce.auth.schemes': 'digest, ip' }).enforceAuthSchemes, ['digest', 'ip']);
  t.same(load('').enforceAuthSchemes, []);
  t.equal(load(`authProvider.1=${SASL_PROVIDER}`, { 'zookeeper.authProvider.1': 'x' }).saslAuthProvider, true, 'zoo.cfg wins over -D');
  const expectError = (fn: () => unknown, key: string, reason: RegExp) => {
    try {
      fn();
      t.fail('accepted');
    } catch (e) {
      t.ok(e instanceof ConfigError);
      t.equal((e as ConfigError).key, key);
      t.match((e as ConfigError).reason, reason);
    }
  };
  expectError(() => load('sessionRequireClientSASLAuth=true'), 'sessionRequireClientSASLAuth', /sasl is not available/);
  expectError(() => load('enforce.auth.enabled=true'), 'enforce.auth.schemes', /must be/);
  expectError(() => load('enforce.auth.enabled=true\nenforce.auth.schemes=sasl'), 'enforce.auth.schemes', /Authentication scheme sasl is not available/);
  expectError(() => load('', { 'java.security.auth.login.config': '/nonexistent-zkts-test/jaas.conf' }), 'java.security.auth.login.config', /jaas\.conf/);
});

t.test('the server bounds the steps of an exchange that never completes', async (t) => {
  // A mechanism that always asks for more: the connection must end, not loop.
  const srv = await startInProcessZkts();
  t.teardown(() => srv.stop());
  let evaluated = 0;
  const endless: SaslServerFactory = {
    mechanism: 'GSSAPI',
    newExchange: () => ({
      mechanism: 'GSSAPI',
      complete: false,
      authorizationId: '',
      evaluate: () => (evaluated++, Buffer.from('more')),
    }),
  };
  (srv.server.config as { saslServer?: SaslServerFactory }).saslServer = endless;
  const c = await ZkClient.connect(srv.host, srv.port);
  const errs: number[] = [];
  for (let i = 0; i < 100; i++) {
    const r = await sendSasl(c, Buffer.from('token'));
    if (!r) break;
    errs.push(r.header.err);
    if (r.header.err !== 0) break;
  }
  t.equal(evaluated, 32, 'the mechanism saw 32 tokens');
  t.same(errs, [...Array(32).fill(0), -115], '32 answers, then AUTHFAILED');
  t.equal(await c.raw.waitClosed(3000), true, 'and the connection is closed');
});
