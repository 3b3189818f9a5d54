// The GSSAPI mechanism against a real MIT KDC and real clients: python-gssapi on MIT's GSS-API
// library (as Kazoo uses it through pure-sasl) and Java's javax.security.sasl GSSAPI client after a
// JAAS Krb5LoginModule login (as ZooKeeper's Java client does). Successful exchanges must yield
// ZooKeeper's authorization id; foreign tickets, tampering, wrong keys, skew, expiry, replay and
// malformed tokens must be refused with SaslError.
import t, { type Test } from 'tap';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { createGssapiServer, GssapiServerOptions } from '../src/server/sasl/gssapi';
import { SaslError } from '../src/server/sasl/mechanism';
import { KeytabEntry, encodeKeytab, readKeytab } from '../src/server/sasl/kerberos/keytab';
import { TOK_AP_REQ, decodeApReq, unwrapGssToken, wrapGssToken } from '../src/server/sasl/kerberos/messages';
import { ReplayCache } from '../src/server/sasl/kerberos/replay';
import { acceptSecContext } from '../src/server/sasl/kerberos/acceptor';
import { parsePrincipal } from '../src/server/sasl/kerberos/principal';
import { ClientCommand, ExchangeOutcome, runExchange } from './util/gssapiclient';
import { TestKdc, kdcAvailable, startKdc } from './util/kdc';

const FIXTURES = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'gssapi');
const PYTHON = '/usr/bin/python3';
const SERVICE = 'zookeeper/localhost@EXAMPLE.COM';
const JAVAC_TIMEOUT_MS = 120_000;

if (!kdcAvailable()) {
  t.fail('MIT KDC binaries missing: run scripts/install-deps.sh (krb5-kdc, krb5-admin-server, krb5-user)');
  process.exit(1);
}

let kdc: TestKdc;
const keytabs: Record<string, string> = {};
const caches: Record<string, string> = {};
let javaClasses = '';
let jaasConf = '';

t.before(async () => {
  kdc = await startKdc();
  for (const p of ['zookeeper/localhost', 'other/localhost', 'client', 'client/host1']) await kdc.addPrincipal(p);
  await kdc.addPrincipal('zk128/localhost', 'aes128-cts-hmac-sha1-96:normal');
  await kdc.addPrincipal('zksha256/localhost', 'aes128-cts-hmac-sha256-128:normal');
  await kdc.addPrincipal('zksha384/localhost', 'aes256-cts-hmac-sha384-192:normal');
  keytabs.zk = await kdc.keytab('zk.keytab', ['zookeeper/localhost']);
  keytabs.services = await kdc.keytab('services.keytab', ['zookeeper/localhost', 'other/localhost']);
  keytabs.client = await kdc.keytab('client.keytab', ['client']);
  keytabs.hostClient = await kdc.keytab('hostclient.keytab', ['client/host1']);
  keytabs.enctypes = await kdc.keytab('enctypes.keytab', ['zk128/localhost', 'zksha256/localhost', 'zksha384/localhost']);
  caches.client = await kdc.kinit('client', keytabs.client, 'client.ccache');
  caches.hostClient = await kdc.kinit('client/host1', keytabs.hostClient, 'hostclient.ccache');

  javaClasses = path.join(kdc.dir, 'classes');
  fs.mkdirSync(javaClasses);
  await new Promise<void>((resolve, reject) =>
    execFile('javac', ['-d', javaClasses, path.join(FIXTURES, 'SaslGssapiClient.java')], { timeout: JAVAC_TIMEOUT_MS }, (err, _o, stderr) =>
      err ? reject(new Error(`javac: ${stderr}`)) : resolve(),
    ),
  );
  jaasConf = path.join(kdc.dir, 'jaas.conf');
  fs.writeFileSync(
    jaasConf,
    [
      'Client {',
      '  com.sun.security.auth.module.Krb5LoginModule required',
      `  useKeyTab=true keyTab="${keytabs.client}" storeKey=false useTicketCache=false doNotPrompt=true`,
      '  principal="client@EXAMPLE.COM";',
      '};',
      '',
    ].join('\n'),
  );
});

t.teardown(async () => {
  await kdc?.stop();
});

function python(target: string, extra: string[] = [], cache = caches.client): ClientCommand {
  return {
    file: PYTHON,
    args: [path.join(FIXTURES, 'sasl_client.py'), target, ...extra],
    env: kdc.env({ KRB5CCNAME: `FILE:${cache}` }),
  };
}

function java(extra: string[] = []): ClientCommand {
  return {
    file: 'java',
    args: [
      `-Djava.security.krb5.conf=${kdc.krb5ConfPath}`,
      `-Djava.security.auth.login.config=${jaasConf}`,
      '-cp',
      javaClasses,
      'SaslGssapiClient',
      'zookeeper',
      'localhost',
      ...extra,
    ],
    env: process.env,
  };
}

function server(opts: Partial<GssapiServerOptions> = {}) {
  return createGssapiServer({ keytabPath: keytabs.zk, principal: SERVICE, replayCache: new ReplayCache(), ...opts });
}

function ticketEtype(apReqToken: Buffer): number {
  return decodeApReq(unwrapGssToken(apReqToken).body).ticket.encPart.etype;
}

function succeeded(t: Test, out: ExchangeOutcome, authzid: string, rounds: number, what: string): void {
  t.ok(out.ok, `${what}: completes`, { serverError: out.serverError, clientError: out.clientError, stderr: out.stderr });
  t.equal(out.authorizationId, authzid, `${what}: authorization id`);
  t.equal(out.clientTokens.length, rounds, `${what}: ${rounds} client tokens`);
}

function refused(t: Test, out: ExchangeOutcome, reason: RegExp, what: string): void {
  t.notOk(out.ok, `${what}: refused`);
  t.match(out.serverError ?? '', reason, `${what}: reason`, { clientError: out.clientError, stderr: out.stderr });
  t.match(out.serverError ?? '', /\[SaslError\]$/, `${what}: a SaslError`);
}

t.test('MIT client (python-gssapi): mutual, without mutual, sealed final token', async (t) => {
  let out = await runExchange(python('zookeeper@localhost'), server());
  succeeded(t, out, 'client@EXAMPLE.COM', 3, 'mutual');
  t.equal(out.clientTokens[1].length, 0, 'empty token after the AP-REP');
  t.equal(ticketEtype(out.clientTokens[0]), 18, 'ticket is aes256-cts-hmac-sha1-96 (the KDC default)');

  out = await runExchange(python('zookeeper@localhost', ['--no-mutual']), server());
  succeeded(t, out, 'client@EXAMPLE.COM', 2, 'no mutual');

  out = await runExchange(python('zookeeper@localhost', ['--seal']), server());
  succeeded(t, out, 'client@EXAMPLE.COM', 3, 'sealed reply');
});

t.test('Kazoo\'s client stack (pure-sasl on pykerberos)', async (t) => {
  const out = await runExchange(
    {
      file: PYTHON,
      args: [path.join(FIXTURES, 'puresasl_client.py'), 'localhost'],
      env: kdc.env({ KRB5CCNAME: `FILE:${caches.client}` }),
    },
    server(),
  );
  succeeded(t, out, 'client@EXAMPLE.COM', 3, 'pure-sasl');
});

t.test("Java client (javax.security.sasl after a JAAS Krb5LoginModule login), as ZooKeeper's", async (t) => {
  let out = await runExchange(java(), server());
  // ZooKeeper's client passes no properties, so Java does not ask for mutual authentication.
  succeeded(t, out, 'client@EXAMPLE.COM', 2, 'ZooKeeper-style');
  out = await runExchange(java(['--mutual']), server());
  succeeded(t, out, 'client@EXAMPLE.COM', 3, 'Sasl.SERVER_AUTH=true');
});

t.test('encryption types: aes128-sha1, aes128-sha256 and aes256-sha384 tickets', async (t) => {
  const cases: [string, number][] = [
    ['zk128', 17],
    ['zksha256', 19],
    ['zksha384', 20],
  ];
  for (const [service, etype] of cases) {
    const out = await runExchange(
      python(`${service}@localhost`),
      server({ keytabPath: keytabs.enctypes, principal: `${service}/localhost@EXAMPLE.COM` }),
    );
    succeeded(t, out, 'client@EXAMPLE.COM', 3, service);
    if (out.clientTokens.length > 0) t.equal(ticketEtype(out.clientTokens[0]), etype, `${service}: ticket etype ${etype}`);
  }
});

t.test('authorization id: host and realm removal, another default realm', async (t) => {
  const hostClient = (extra: string[] = []) => python('zookeeper@localhost', extra, caches.hostClient);
  let out = await runExchange(hostClient(), server());
  succeeded(t, out, 'client/host1@EXAMPLE.COM', 3, 'default');
  out = await runExchange(hostClient(), server({ removeHostFromPrincipal: true }));
  succeeded(t, out, 'client@EXAMPLE.COM', 3, 'removeHostFromPrincipal');
  out = await runExchange(hostClient(), server({ removeRealmFromPrincipal: true }));
  succeeded(t, out, 'client/host1', 3, 'removeRealmFromPrincipal');
  out = await runExchange(hostClient(), server({ removeHostFromPrincipal: true, removeRealmFromPrincipal: true }));
  succeeded(t, out, 'client', 3, 'both removed');
  // The principal's realm is not the default realm: no auth_to_local rule applies, ZooKeeper
  // keeps the authorization id the client asked for.
  out = await runExchange(hostClient(['--authzid', 'someone']), server({ defaultRealm: 'OTHER.ORG', removeRealmFromPrincipal: true }));
  succeeded(t, out, 'someone', 3, 'other default realm');
});

t.test('refused: ticket for another service, tampering, wrong keys', async (t) => {
  let out = await runExchange(python('other@localhost'), server({ keytabPath: keytabs.services }));
  refused(t, out, /ticket is for other\/localhost@EXAMPLE\.COM, not zookeeper\/localhost@EXAMPLE\.COM/, 'other service');

  out = await runExchange(python('zookeeper@localhost'), server({ principal: 'other/localhost@EXAMPLE.COM', keytabPath: keytabs.services }));
  refused(t, out, /ticket is for zookeeper\/localhost/, 'server configured for another principal');

  const flipAt = (offsetOf: (token: Buffer) => number) => (i: number, token: Buffer) => {
    if (i !== 0) return token;
    const copy = Buffer.from(token);
    copy[offsetOf(copy)] ^= 0x01;
    return copy;
  };
  const ticketCipherOffset = (token: Buffer) => {
    const cipher = decodeApReq(unwrapGssToken(token).body).ticket.encPart.cipher;
    return cipher.byteOffset - token.byteOffset + (cipher.length >> 1);
  };
  out = await runExchange(python('zookeeper@localhost'), server(), flipAt(ticketCipherOffset));
  refused(t, out, /ticket: decrypt integrity check failed/, 'tampered ticket');
  out = await runExchange(python('zookeeper@localhost'), server(), flipAt((token) => token.length - 1));
  refused(t, out, /authenticator: decrypt integrity check failed/, 'tampered authenticator');
  out = await runExchange(python('zookeeper@localhost', ['--no-mutual']), server(), (i, token) => {
    if (i !== 1) return token;
    const copy = Buffer.from(token);
    copy[20] ^= 0x01;
    return copy;
  });
  refused(t, out, /bad wrap token: checksum mismatch/, 'tampered security layer reply');

  const real = readKeytab(keytabs.zk);
  const randomKeys: KeytabEntry[] = real.map((e) => ({ ...e, key: { ...e.key, value: crypto.randomBytes(e.key.value.length) } }));
  out = await runExchange(python('zookeeper@localhost'), server({ keytab: randomKeys }));
  refused(t, out, /ticket: decrypt integrity check failed/, 'wrong key, same kvno');

  const wrongKeytab = path.join(kdc.dir, 'wrong.keytab');
  fs.writeFileSync(wrongKeytab, encodeKeytab(randomKeys));
  out = await runExchange(python('zookeeper@localhost'), server({ keytabPath: wrongKeytab }));
  refused(t, out, /ticket: decrypt integrity check failed/, 'wrong keytab file');

  out = await runExchange(python('zookeeper@localhost'), server({ keytab: real.map((e) => ({ ...e, kvno: e.kvno + 1 })) }));
  refused(t, out, /no key for zookeeper\/localhost@EXAMPLE\.COM with kvno \d+ in the keytab/, 'other kvno');

  out = await runExchange(python('zookeeper@localhost'), server({ keytab: real.filter((e) => e.key.enctype !== 18) }));
  refused(t, out, /no key for zookeeper\/localhost@EXAMPLE\.COM with encryption type aes256-cts-hmac-sha1-96/, 'no key of the enctype');

  out = await runExchange(python('zookeeper@localhost'), server({ keytabPath: path.join(kdc.dir, 'missing.keytab') }));
  refused(t, out, /cannot read keytab/, 'missing keytab');
});

t.test('refused: clock skew, expired ticket, replay', async (t) => {
  const skewMs = 300_000;
  let out = await runExchange(python('zookeeper@localhost'), server({ now: () => Date.now() + skewMs + 60_000 }));
  refused(t, out, /clock skew too great/, 'server clock ahead');
  out = await runExchange(python('zookeeper@localhost'), server({ now: () => Date.now() - skewMs - 60_000 }));
  // The ticket was issued moments ago: to a server this far behind it is not valid yet.
  refused(t, out, /ticket not yet valid/, 'server clock behind');
  out = await runExchange(python('zookeeper@localhost'), server({ now: () => Date.now() + 30_000, clockSkewMs: 10_000 }));
  refused(t, out, /clock skew too great/, 'smaller configured skew');
  out = await runExchange(python('zookeeper@localhost'), server({ now: () => Date.now() + 2 * 86_400_000 }));
  refused(t, out, /ticket expired/, 'ticket lifetime over');

  const cache = new ReplayCache();
  out = await runExchange(python('zookeeper@localhost'), server({ replayCache: cache }));
  succeeded(t, out, 'client@EXAMPLE.COM', 3, 'first use');
  const replayed = server({ replayCache: cache });
  t.throws(() => replayed.evaluate(out.clientTokens[0]), /replayed authenticator/, 'same AP-REQ again');
  t.throws(() => replayed.evaluate(out.clientTokens[0]), /exchange already failed/, 'exchange over after a failure');
  // Another server process (its own cache) would take it: the cache is what refuses.
  t.doesNotThrow(() => server({ replayCache: new ReplayCache() }).evaluate(out.clientTokens[0]), 'a fresh cache accepts it');
});

t.test('refused: bounds and malformed tokens', async (t) => {
  const out = await runExchange(python('zookeeper@localhost'), server({ replayCache: new ReplayCache() }));
  succeeded(t, out, 'client@EXAMPLE.COM', 3, 'reference exchange');
  const apReq = out.clientTokens[0];
  const attempt = (token: Buffer, opts: Partial<GssapiServerOptions> = {}) => () => server(opts).evaluate(token);
  t.throws(attempt(apReq, { maxTokenBytes: 512 }), new SaslError(`GSSAPI: token of ${apReq.length} bytes exceeds 512`));
  t.throws(attempt(Buffer.alloc(0)), /empty initial token/);
  t.throws(attempt(Buffer.from('definitely not DER')), /malformed DER/);
  t.throws(attempt(apReq.subarray(0, apReq.length >> 1)), /malformed DER: GSS-API token: element of \d+ bytes overruns/);
  // The outer framing intact, the AP-REQ inside cut short.
  const body = unwrapGssToken(apReq).body;
  const shortened = Buffer.concat([apReq.subarray(0, apReq.length - body.length), body.subarray(0, 40)]);
  shortened.writeUInt16BE(shortened.length - 4, 2);
  t.throws(attempt(shortened), /malformed DER: AP-REQ/);
  t.throws(attempt(Buffer.concat([apReq, Buffer.from([0])])), /malformed DER: GSS-API token: 1 trailing bytes/);
  for (const ex of [() => server().evaluate(Buffer.from('x'))]) {
    try {
      ex();
      t.fail('accepted garbage');
    } catch (err) {
      t.type(err, SaslError, 'errors are SaslError');
    }
  }
  const outLayer = await runExchange(python('zookeeper@localhost', ['--layer', '2']), server());
  refused(t, outLayer, /client chose security layer 0x2; only none \(auth\) is offered/, 'integrity layer requested');
  t.throws(() => createGssapiServer({ keytabPath: keytabs.zk, principal: 'zookeeper@EXAMPLE.COM' }), /not of the form service\/host@REALM/);
});

t.test('fuzz: mutated and truncated AP-REQs fail only with SaslError', async (t) => {
  const out = await runExchange(python('zookeeper@localhost'), server());
  succeeded(t, out, 'client@EXAMPLE.COM', 3, 'token source');
  const apReq = out.clientTokens[0];
  const keytab = readKeytab(keytabs.zk);
  // xorshift32: deterministic, so a failure names a reproducible mutation.
  let state = 0x9e3779b9;
  const random = (n: number) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
  const body = unwrapGssToken(apReq).body;
  const reasons = new Map<string, number>();
  let accepted = 0;
  const ROUNDS = 3000;
  for (let i = 0; i < ROUNDS; i++) {
    // Mostly the AP-REQ inside a well-formed GSS-API framing, so the inner parsing is exercised.
    const kind = random(5);
    let inner = Buffer.from(body);
    if (kind === 0) inner = inner.subarray(0, random(inner.length));
    else if (kind === 1 || kind === 2) {
      const flips = 1 + random(3);
      for (let f = 0; f < flips; f++) {
        // The DER structure sits before the ciphertexts and around them.
        const at = kind === 1 ? random(Math.min(inner.length, 200)) : random(inner.length);
        inner[at] ^= 1 << random(8);
      }
    } else if (kind === 3) {
      const at = random(inner.length);
      inner = Buffer.concat([inner.subarray(0, at), Buffer.from([random(256)]), inner.subarray(at)]);
    }
    let token = wrapGssToken(TOK_AP_REQ, inner);
    if (kind === 4) {
      token = Buffer.from(apReq);
      token[random(token.length)] = random(256);
    }
    try {
      acceptSecContext(token, {
        service: parsePrincipal(SERVICE),
        keytab,
        clockSkewMs: 300_000,
        nowMs: Date.now(),
        replayCache: new ReplayCache(),
      });
      accepted++;
    } catch (err) {
      if (!(err instanceof SaslError)) {
        t.fail(`mutation ${i} threw ${(err as Error).name}: ${(err as Error).message}`, { token: token.toString('hex') });
        return;
      }
      // Only printable ASCII: a mutated name in a message could otherwise break the TAP stream.
      const reason = (err as Error).message
        .replace(/\d+/g, 'N')
        .replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
        .slice(0, 60);
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
  }
  // Kerberos does not protect ap-options or the sname's name-type, so flips there are accepted
  // (as by MIT and Java); anything touching a ciphertext or the structure is refused.
  t.ok(accepted < ROUNDS / 20, `${accepted} of ${ROUNDS} mutations accepted`);
  t.ok(reasons.size > 5, `${reasons.size} distinct refusal reasons`, { reasons: [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 12) });
});
