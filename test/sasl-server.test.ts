// SASL on the wire, differential: the same raw exchanges (opcode 102 with DIGEST-MD5 tokens)
// against zkts and Apache ZooKeeper 3.8.0 with the same JAAS file and properties. What each server
// answers (error codes, tokens with the nonce and rspauth checked and replaced by symbols, whether
// the connection was closed, ids from whoAmI, ACL outcomes) must be the same.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OpCode, Xid } from '../src/protocol/constants';
import * as R from '../src/protocol/generated/records';
import { ConnectionClosedError, requestFrame, startInProcessZkts, ZkClient, type Reply } from './util/client';
import { startReferenceZooKeeper } from './util/servers';
import { digestResponse, expectedRspauth, saslToken, sendSasl, type DigestClientOptions } from './util/saslclient';

const SASL_PROVIDER = 'org.apache.zookeeper.server.auth.SASLAuthenticationProvider';
const CLOSE_WAIT_MS = 3000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-sasl-'));
const jaasFile = path.join(dir, 'jaas.conf');
fs.writeFileSync(
  jaasFile,
  [
    '/* users of the DIGEST-MD5 server */',
    'Server {',
    '  org.apache.zookeeper.server.auth.DigestLoginModule required',
    '  user_bob="bobpw"',
    '  user_alice="alicepw" // a second user',
    '  user_super="superpw";',
    '};',
    'Client { org.apache.zookeeper.server.auth.DigestLoginModule required username="bob" password="bobpw"; };',
    '',
  ].join('\n'),
);
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Target {
  host: string;
  port: number;
  stop(): Promise<void>;
}

async function start(which: 'zkts' | 'zookeeper', props: Record<string, string>): Promise<Target> {
  if (which === 'zkts') return startInProcessZkts({}, props);
  const s = await startReferenceZooKeeper({ jvmFlags: Object.entries(props).map(([k, v]) => `-D${k}=${v}`) });
  return { host: s.host, port: s.port, stop: () => s.stop() };
}

type Transcript = Array<[string, unknown]>;

/** A reply (or the close that came instead) as the transcript records it. */
async function outcome(c: ZkClient, r: Reply | undefined, token: (b: Buffer | null) => unknown = (b) => (b === null ? null : b.toString('utf8'))) {
  if (r === undefined) return { reply: 'none', closed: await c.raw.waitClosed(CLOSE_WAIT_MS) };
  const body = r.frame.length > 16 ? token(saslToken(r)) : 'no body';
  // Closed right behind the reply, or still open.
  const closed = r.header.err === 0 ? c.closed : await c.raw.waitClosed(CLOSE_WAIT_MS);
  return { err: r.header.err, zxid: String(r.header.zxid), token: body, closed };
}

/** The challenge's layout with the nonce checked (40 base64 characters) and replaced. */
function challengeShape(b: Buffer | null): unknown {
  if (b === null) return null;
  return b.toString('utf8').replace(/nonce="([A-Za-z0-9+/]{40})"/, 'nonce="<nonce>"');
}

async function connect(tg: Target): Promise<ZkClient> {
  return ZkClient.connect(tg.host, tg.port, {}, 10_000);
}

/** Challenge, then the digest response made with `o`; both outcomes. */
async function exchange(tg: Target, o: DigestClientOptions, tr: Transcript, label: string): Promise<ZkClient> {
  const c = await connect(tg);
  const r1 = await sendSasl(c, Buffer.alloc(0));
  tr.push([`${label}: challenge`, await outcome(c, r1, challengeShape)]);
  if (!r1 || r1.header.err !== 0) return c;
  const challenge = saslToken(r1)!;
  const cnonce = o.cnonce ?? 'cnonce-of-the-test';
  const r2 = await sendSasl(c, digestResponse(challenge, { ...o, cnonce }));
  const rspauth = expectedRspauth(challenge, { ...o, cnonce });
  tr.push([`${label}: response`, await outcome(c, r2, (b) => (b === null ? null : b.toString('latin1') === rspauth ? 'rspauth as computed' : b.toString('latin1')))]);
  return c;
}

async function whoAmI(c: ZkClient): Promise<unknown> {
  const r = await c.request(OpCode.whoAmI);
  const out = R.decodeWhoAmIResponse(r.reader).clientInfo ?? [];
  return out.map((i) => `${i.authScheme}:${i.user}`);
}

/** Whether the server still answers on this connection: a probe gets its reply, or the close comes first. */
async function stillOpen(c: ZkClient): Promise<boolean> {
  if (c.closed) return false;
  try {
    await c.request(OpCode.exists, (w) => R.encodeExistsRequest(w, { path: '/', watch: false }), { timeoutMs: 5000 });
    return true;
  } catch (e) {
    if (e instanceof ConnectionClosedError) return false;
    throw e;
  }
}

async function tryRequest(c: ZkClient, type: number, body?: Parameters<ZkClient['request']>[1]): Promise<unknown> {
  try {
    const r = await c.request(type, body, { timeoutMs: 5000 });
    return { err: r.header.err, closed: r.header.err === 0 ? c.closed : !(await stillOpen(c)) };
  } catch (e) {
    if (e instanceof ConnectionClosedError) return 'closed without a reply';
    throw e;
  }
}

const create = (p: string, acl: R.ACL[]) => (w: Parameters<typeof R.encodeCreateRequest>[0]) => R.encodeCreateRequest(w, { path: p, data: Buffer.from('x'), acl, flags: 0 });
const getData = (p: string) => (w: Parameters<typeof R.encodeGetDataRequest>[0]) => R.encodeGetDataRequest(w, { path: p, watch: false });

async function both(t: Test, props: Record<string, string>, scenario: (tg: Target, tr: Transcript) => Promise<void>): Promise<Record<string, Transcript>> {
  const out: Record<string, Transcript> = {};
  for (const which of ['zookeeper', 'zkts'] as const) {
    const tg = await start(which, props);
    const tr: Transcript = [];
    try {
      await scenario(tg, tr);
    } finally {
      await tg.stop();
    }
    out[which] = tr;
  }
  t.same(out.zkts, out.zookeeper, 'zkts answers as ZooKeeper 3.8.0');
  return out;
}

const SASL_PROPS = {
  'java.security.auth.login.config': jaasFile,
  'zookeeper.authProvider.1': SASL_PROVIDER,
  'zookeeper.superUser': 'super',
};

t.test('without a JAAS Server section a SASL packet gets OK and no token', async (t) => {
  const out = await both(t, { 'zookeeper.authProvider.1': SASL_PROVIDER }, async (tg, tr) => {
    const c = await connect(tg);
    const r = await sendSasl(c, Buffer.alloc(0));
    tr.push(['frame', r ? r.frame.toString('hex') : 'none']);
    tr.push(['again', await outcome(c, await sendSasl(c, Buffer.from('username="bob"')))]);
    tr.push(['still serves', await tryRequest(c, OpCode.exists, (w) => R.encodeExistsRequest(w, { path: '/', watch: false }))]);
    await c.close();
    const n = await connect(tg);
    tr.push(['null token', await outcome(n, await sendSasl(n, null))]);
    n.destroy();
  });
  // xid 1, zxid 0, err 0, token of length -1.
  t.same(out.zookeeper[0], ['frame', '00000001' + '0000000000000000' + '00000000' + 'ffffffff']);
});

// A SASL client of a server without SASL gets no token, again and again: ZooKeeper answers
// forever (Kazoo's SASL loop then never ends), zkts ends the connection after 32 tokens.
t.test('a SASL client of a server without SASL: ZooKeeper answers every token, zkts stops after 32', async (t) => {
  const answers: Record<string, unknown> = {};
  for (const which of ['zookeeper', 'zkts'] as const) {
    const tg = await start(which, {});
    try {
      const c = await connect(tg);
      const errs: number[] = [];
      for (let i = 0; i < 40; i++) {
        const r = await sendSasl(c, Buffer.alloc(0));
        if (!r) break;
        errs.push(r.header.err);
        if (r.header.err !== 0) break;
      }
      answers[which] = { errs, closed: await c.raw.waitClosed(errs.length === 40 ? 0 : CLOSE_WAIT_MS) };
      c.destroy();
    } finally {
      await tg.stop();
    }
  }
  t.same(answers.zookeeper, { errs: Array(40).fill(0), closed: false });
  t.same(answers.zkts, { errs: [...Array(32).fill(0), -115], closed: true });
});

t.test('DIGEST-MD5: a good password, the sasl identity, sasl ACLs and super', async (t) => {
  const out = await both(t, SASL_PROPS, async (tg, tr) => {
    const bob = await exchange(tg, { user: 'bob', password: 'bobpw' }, tr, 'bob');
    tr.push(['bob whoAmI', await whoAmI(bob)]);
    const acl = [{ perms: 31, id: { scheme: 'sasl', id: 'bob' } }];
    tr.push(['bob creates /b with sasl:bob', await tryRequest(bob, OpCode.create, create('/b', acl))]);
    tr.push(['bob reads /b', await tryRequest(bob, OpCode.getData, getData('/b'))]);
    const getAcl = await bob.request(OpCode.getACL, (w) => R.encodeGetACLRequest(w, { path: '/b' }));
    tr.push(['getACL /b', R.decodeGetACLResponse(getAcl.reader).acl]);
    tr.push(['create with an auth ACL', await tryRequest(bob, OpCode.create, create('/auth', [{ perms: 31, id: { scheme: 'auth', id: '' } }]))]);
    const authAcl = await bob.request(OpCode.getACL, (w) => R.encodeGetACLRequest(w, { path: '/auth' }));
    tr.push(['getACL /auth', R.decodeGetACLResponse(authAcl.reader).acl]);
    tr.push(['invalid sasl ACL id', await tryRequest(bob, OpCode.create, create('/bad', [{ perms: 31, id: { scheme: 'sasl', id: 'a@b@c' } }]))]);
    tr.push(['principal-like sasl ACL id', await tryRequest(bob, OpCode.create, create('/svc', [{ perms: 31, id: { scheme: 'sasl', id: 'zk/host@EXAMPLE.COM' } }]))]);
    tr.push(['second exchange after success', await outcome(bob, await sendSasl(bob, Buffer.alloc(0)))]);

    const alice = await exchange(tg, { user: 'alice', password: 'alicepw', authzid: 'bob' }, tr, 'alice as authzid bob');
    tr.push(['alice whoAmI', await whoAmI(alice)]);
    tr.push(['alice reads /b', await tryRequest(alice, OpCode.getData, getData('/b'))]);
    alice.destroy();

    const anon = await connect(tg);
    tr.push(['no SASL reads /b', await tryRequest(anon, OpCode.getData, getData('/b'))]);
    tr.push(['addauth sasl', await tryRequest(anon, OpCode.auth, (w) => R.encodeAuthPacket(w, { type: 0, scheme: 'sasl', auth: Buffer.from('bob') }))]);
    anon.destroy();

    const sup = await exchange(tg, { user: 'super', password: 'superpw' }, tr, 'super');
    tr.push(['super whoAmI', await whoAmI(sup)]);
    tr.push(['super reads /b', await tryRequest(sup, OpCode.getData, getData('/b'))]);
    sup.destroy();
  });
  const z = Object.fromEntries(out.zookeeper);
  t.match(z['bob: challenge'], { err: 0, token: 'realm="zk-sasl-md5",nonce="<nonce>",charset=utf-8,algorithm=md5-sess', closed: false });
  t.match(z['bob: response'], { err: 0, token: 'rspauth as computed', closed: false });
  t.same(z['bob whoAmI'], ['sasl:bob', 'ip:127.0.0.1']);
  t.same(z['alice reads /b'], { err: -102, closed: false }, 'another user gets NOAUTH');
});

t.test('DIGEST-MD5 failures: AUTHFAILED with a null token, then the connection is closed', async (t) => {
  const out = await both(t, SASL_PROPS, async (tg, tr) => {
    const cases: Array<[string, DigestClientOptions]> = [
      ['bad password', { user: 'bob', password: 'wrong' }],
      ['unknown user', { user: 'eve', password: 'evepw' }],
      ['wrong realm', { user: 'bob', password: 'bobpw', realm: 'elsewhere' }],
      ['wrong digest-uri', { user: 'bob', password: 'bobpw', digestUri: 'zookeeper/other' }],
      ['upper-case digest-uri', { user: 'bob', password: 'bobpw', digestUri: 'ZooKeeper/ZK-SASL-MD5' }],
      ['qop auth-int', { user: 'bob', password: 'bobpw', extra: 'qop=auth-int' }],
      ['charset latin1', { user: 'bob', password: 'bobpw', extra: 'charset=iso-8859-1' }],
      ['nonce-count 2', { user: 'bob', password: 'bobpw', extra: 'nonce-count=00000002' }],
      ['nonce-count not hex', { user: 'bob', password: 'bobpw', extra: 'nonce-count=zz' }],
      ['response upper case', { user: 'bob', password: 'bobpw', response: 'ABCDEF0123456789ABCDEF0123456789' }],
    ];
    for (const [label, o] of cases) (await exchange(tg, o, tr, label)).destroy();
    for (const [label, token] of [
      ['unterminated quote', Buffer.from('username="bob')],
      ['no directives', Buffer.from('hello')],
      ['token over 4096 bytes', Buffer.alloc(5000, 0x61)],
    ] as const) {
      const c = await connect(tg);
      await sendSasl(c, Buffer.alloc(0));
      tr.push([label, await outcome(c, await sendSasl(c, token))]);
      c.destroy();
    }
    const c = await connect(tg);
    tr.push(['null token', await outcome(c, await sendSasl(c, null))]);
    c.destroy();
    const big = await connect(tg);
    tr.push(['first token over 4096 bytes', await outcome(big, await sendSasl(big, Buffer.alloc(4097)))]);
    big.destroy();
  });
  const z = Object.fromEntries(out.zookeeper);
  t.same(z['bad password: response'], { err: -115, zxid: '0', token: null, closed: true });
  t.same(z['unknown user: response'], { err: -115, zxid: '0', token: null, closed: true });
});

// ZooKeeper 3.8.0's SaslServerCallbackHandler is one object for all connections and keeps the
// last user it found; an unknown user's password lookup gets that user's password. zkts looks up
// each user on its own and refuses.
t.test('an unknown user with the password of the user looked up before: ZooKeeper accepts, zkts refuses', async (t) => {
  const answers: Record<string, unknown> = {};
  for (const which of ['zookeeper', 'zkts'] as const) {
    const tg = await start(which, SASL_PROPS);
    try {
      const tr: Transcript = [];
      (await exchange(tg, { user: 'bob', password: 'bobpw' }, tr, 'bob')).destroy();
      const eve = await exchange(tg, { user: 'eve', password: 'bobpw' }, tr, 'eve');
      answers[which] = { response: Object.fromEntries(tr)['eve: response'], whoAmI: eve.closed ? 'closed' : await whoAmI(eve) };
      eve.destroy();
    } finally {
      await tg.stop();
    }
  }
  t.same(answers.zookeeper, { response: { err: 0, zxid: '0', token: 'rspauth as computed', closed: false }, whoAmI: ['sasl:eve', 'ip:127.0.0.1'] });
  t.same(answers.zkts, { response: { err: -115, zxid: '0', token: null, closed: true }, whoAmI: 'closed' });
});

t.test('sessionRequireClientSASLAuth: requests without SASL get SESSIONCLOSEDREQUIRESASLAUTH', async (t) => {
  const out = await both(t, { ...SASL_PROPS, 'zookeeper.sessionRequireClientSASLAuth': 'true' }, async (tg, tr) => {
    const anon = await connect(tg);
    tr.push(['getData without SASL', await tryRequest(anon, OpCode.getData, getData('/'))]);
    const pinger = await ZkClient.connect(tg.host, tg.port, { keepAlive: false }, 10_000);
    const ping = pinger.expectReply(Xid.ping, 5000).catch(() => undefined);
    pinger.raw.write(requestFrame(Xid.ping, OpCode.ping));
    const pr = await ping;
    tr.push(['ping without SASL', pr ? { err: pr.header.err, closed: await pinger.raw.waitClosed(CLOSE_WAIT_MS) } : 'none']);
    const bad = await exchange(tg, { user: 'bob', password: 'wrong' }, tr, 'bad password');
    bad.destroy();
    const good = await exchange(tg, { user: 'bob', password: 'bobpw' }, tr, 'good password');
    tr.push(['getData after SASL', await tryRequest(good, OpCode.getData, getData('/'))]);
    good.destroy();
  });
  t.same(Object.fromEntries(out.zookeeper)['getData without SASL'], { err: -124, closed: true });
});

t.test('enforce.auth.schemes=digest: addauth digest opens the door', async (t) => {
  const props = { ...SASL_PROPS, 'zookeeper.enforce.auth.enabled': 'true', 'zookeeper.enforce.auth.schemes': 'digest,sasl' };
  await both(t, props, async (tg, tr) => {
    const anon = await connect(tg);
    tr.push(['exists without auth', await tryRequest(anon, OpCode.exists, (w) => R.encodeExistsRequest(w, { path: '/', watch: false }))]);
    const d = await connect(tg);
    tr.push(['addauth digest', await tryRequest(d, OpCode.auth, (w) => R.encodeAuthPacket(w, { type: 0, scheme: 'digest', auth: Buffer.from('u:p') }))]);
    tr.push(['exists after addauth', await tryRequest(d, OpCode.exists, (w) => R.encodeExistsRequest(w, { path: '/', watch: false }))]);
    d.destroy();
    const s = await exchange(tg, { user: 'alice', password: 'alicepw' }, tr, 'alice');
    tr.push(['exists after SASL', await tryRequest(s, OpCode.exists, (w) => R.encodeExistsRequest(w, { path: '/', watch: false }))]);
    s.destroy();
  });
});

t.test('allowSaslFailedClients keeps a failed client connected', async (t) => {
  await both(t, { ...SASL_PROPS, 'zookeeper.allowSaslFailedClients': 'true' }, async (tg, tr) => {
    const c = await exchange(tg, { user: 'bob', password: 'wrong' }, tr, 'bad password');
    tr.push(['whoAmI', await whoAmI(c)]);
    tr.push(['another token', await outcome(c, await sendSasl(c, Buffer.alloc(0)))]);
    c.destroy();
  });
});

