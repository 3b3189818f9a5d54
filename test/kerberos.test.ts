// The Kerberos building blocks against the published test vectors (RFC 3961 n-fold, RFC 3962
// AES-CTS, RFC 8009 key derivation) and their error handling on malformed input.
import t from 'tap';
import * as crypto from 'node:crypto';
import { SaslError } from '../src/server/sasl/mechanism';
import { ctsDecrypt, ctsEncrypt, enctype, kdfHmacSha2, nfold } from '../src/server/sasl/kerberos/crypto';
import { DerReader, encodeInteger, readInteger } from '../src/server/sasl/kerberos/der';
import { encodeKeytab, parseKeytab } from '../src/server/sasl/kerberos/keytab';
import { unwrapGssToken } from '../src/server/sasl/kerberos/messages';
import { ReplayCache } from '../src/server/sasl/kerberos/replay';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkGssapiServerOptions, gssapiServerOptionsFromJaas } from '../src/server/sasl/gssapi';
import { clockSkewMsFromKrb5Conf, defaultRealmFromKrb5Conf } from '../src/server/sasl/kerberos/krb5conf';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

t.test('n-fold (RFC 3961 appendix A.1)', async (t) => {
  t.equal(nfold(Buffer.from('012345'), 8).toString('hex'), 'be072631276b1955');
  t.equal(nfold(Buffer.from('password'), 7).toString('hex'), '78a07b6caf85fa');
  t.equal(nfold(Buffer.from('Rough Consensus, and Running Code'), 8).toString('hex'), 'bb6ed30870b7f0e0');
  t.equal(nfold(Buffer.from('kerberos'), 16).toString('hex'), '6b65726265726f737b9b5b2b93132b93');
  t.equal(
    nfold(Buffer.from('password'), 21).toString('hex'),
    '59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e',
  );
});

t.test('AES-CTS (RFC 3962 appendix B)', async (t) => {
  const key = hex('636869636b656e207465726979616b69');
  const cases: [string, string][] = [
    ["I would like the ", 'c6353568f2bf8cb4d8a580362da7ff7f97'],
    ["I would like the General Gau's ", 'fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5'],
    ["I would like the General Gau's C", '39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584'],
    [
      "I would like the General Gau's Chicken, please, and wonton soup.",
      '97687268d6ecccc0c07b25e25ecfe58439312523a78662d5be7fcbcc98ebf5a84807efe836ee89a526730dbc2f7bc8409dad8bbb96c4cdc03bc103e1a194bbd8',
    ],
  ];
  for (const [plain, cipher] of cases) {
    t.equal(ctsEncrypt(key, Buffer.from(plain)).toString('hex'), cipher, `encrypt ${plain.length} bytes`);
    t.equal(ctsDecrypt(key, hex(cipher)).toString(), plain, `decrypt ${plain.length} bytes`);
  }
});

t.test('KDF-HMAC-SHA2 (RFC 8009 appendix A, usage 2)', async (t) => {
  const usage = (kind: number) => Buffer.from([0, 0, 0, 2, kind]);
  const k19 = hex('3705D96080C17728A0E800EAB6E0D23C');
  t.equal(kdfHmacSha2('sha256', k19, usage(0x99), 128).toString('hex'), 'b31a018a48f54776f403e9a396325dc3');
  t.equal(kdfHmacSha2('sha256', k19, usage(0xaa), 128).toString('hex'), '9b197dd1e8c5609d6e67c3e37c62c72e');
  t.equal(kdfHmacSha2('sha256', k19, usage(0x55), 128).toString('hex'), '9fda0e56ab2d85e1569a688696c26a6c');
  const k20 = hex('6D404D37FAF79F9DF0D33568D320669800EB4836472EA8A026D16B7182460C52');
  t.equal(
    kdfHmacSha2('sha384', k20, usage(0xaa), 256).toString('hex'),
    '56ab22bee63d82d7bc5227f6773f8ea7a5eb1c825160c38312980c442e5c7e49',
  );
  t.equal(kdfHmacSha2('sha384', k20, usage(0x55), 192).toString('hex'), '69b16514e3cd8e56b82010d5c73012b622c4d00ffc23ed1f');
});

t.test('every enctype: encrypt/decrypt round trip, tampering and wrong usage refused', async (t) => {
  for (const id of [17, 18, 19, 20]) {
    const e = enctype(id);
    const key = crypto.randomBytes(e.keyBytes);
    for (const len of [0, 1, 15, 16, 17, 100]) {
      const plain = crypto.randomBytes(len);
      const c = e.encrypt(key, 11, plain);
      t.same(e.decrypt(key, 11, c), plain, `${e.name}: ${len} bytes`);
      const tampered = Buffer.from(c);
      tampered[len % tampered.length] ^= 1;
      t.throws(() => e.decrypt(key, 11, tampered), SaslError, `${e.name}: tampered ${len} bytes`);
      t.throws(() => e.decrypt(key, 12, c), SaslError, `${e.name}: other usage`);
    }
    t.throws(() => e.decrypt(key, 11, Buffer.alloc(5)), /too short/);
  }
  t.throws(() => enctype(23), /unsupported encryption type 23/);
});

t.test('DER: integers, bounds, malformed input', async (t) => {
  for (const v of [0, 1, 127, 128, 255, 256, -1, -128, -129, 0x7fffffff, 0xffffffff, -0x80000000]) {
    const r = new DerReader(encodeInteger(v), 'int');
    t.equal(readInteger(r.read(), 'int'), v, `integer ${v}`);
  }
  t.throws(() => new DerReader(Buffer.from([0x30, 0x05, 0x01]), 'x').read(), /malformed DER: x: element of 5 bytes overruns/);
  t.throws(() => new DerReader(Buffer.from([0x30, 0x80, 0, 0]), 'x').read(), /indefinite length/);
  t.throws(() => new DerReader(Buffer.from([0x30, 0x85, 1, 1, 1, 1, 1]), 'x').read(), /length of 5 octets/);
  t.throws(() => unwrapGssToken(Buffer.from('not a token')), /malformed DER/);
  t.throws(() => unwrapGssToken(hex('600a06062b0601050502a000')), /SPNEGO/);
});

t.test('keytab: encode/parse round trip, holes, versions, truncation', async (t) => {
  const entries = [
    { principal: { components: ['zookeeper', 'localhost'], realm: 'EXAMPLE.COM' }, nameType: 1, timestampSec: 1700000000, kvno: 300, key: { enctype: 18, value: crypto.randomBytes(32) } },
    { principal: { components: ['client'], realm: 'EXAMPLE.COM' }, nameType: 1, timestampSec: 1700000001, kvno: 2, key: { enctype: 17, value: crypto.randomBytes(16) } },
  ];
  const buf = encodeKeytab(entries);
  t.same(parseKeytab(buf), entries);
  // A hole (negative size) between entries is skipped.
  const first = encodeKeytab([entries[0]]);
  const second = encodeKeytab([entries[1]]).subarray(2);
  const hole = Buffer.alloc(4 + 10);
  hole.writeInt32BE(-10, 0);
  t.same(parseKeytab(Buffer.concat([first, hole, second])), entries);
  t.throws(() => parseKeytab(Buffer.from([0x05, 0x03])), /malformed keytab: not a keytab/);
  t.throws(() => parseKeytab(buf.subarray(0, buf.length - 20)), /malformed keytab/);
});

t.test('replay cache: refuses a repeat within the window, forgets after it, bounded', async (t) => {
  const cache = new ReplayCache(2);
  cache.check('a', 1000, 2000);
  t.throws(() => cache.check('a', 1500, 2500), /replayed authenticator/);
  cache.check('a', 2000, 3000); // expired entry forgotten
  cache.check('b', 2000, 3000);
  t.throws(() => cache.check('c', 2000, 3000), /replay cache full/);
  cache.check('c', 3000, 4000);
  t.equal(cache.size, 1);
});

t.test('default realm from krb5.conf [libdefaults]', async (t) => {
  const conf = ['[realms]', ' default_realm = NOT.THIS', '[libdefaults]', '  # default_realm = COMMENTED', '  default_realm = EXAMPLE.COM', ''].join('\n');
  t.equal(defaultRealmFromKrb5Conf(conf), 'EXAMPLE.COM');
  t.equal(defaultRealmFromKrb5Conf('[libdefaults]\n rdns = false\n'), undefined);
  t.equal(clockSkewMsFromKrb5Conf('[libdefaults]\n clockskew = 120\n'), 120_000);
  t.equal(clockSkewMsFromKrb5Conf(conf), undefined);
});

t.test('factory options from the JAAS Server section and system properties', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-krb5conf-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const conf = path.join(dir, 'krb5.conf');
  fs.writeFileSync(conf, '[libdefaults]\n  default_realm = CORP.EXAMPLE\n  clockskew = 60\n');
  const jaas = new Map([
    ['useKeyTab', 'true'],
    ['keyTab', '/etc/zk.keytab'],
    ['storeKey', 'true'],
    ['useTicketCache', 'false'],
    ['principal', 'zookeeper/zk1.example@EXAMPLE.COM'],
  ]);
  t.same(
    gssapiServerOptionsFromJaas(
      jaas,
      new Map([
        ['java.security.krb5.conf', conf],
        ['zookeeper.kerberos.removeHostFromPrincipal', 'true'],
      ]),
    ),
    {
      keytabPath: '/etc/zk.keytab',
      principal: 'zookeeper/zk1.example@EXAMPLE.COM',
      removeHostFromPrincipal: true,
      removeRealmFromPrincipal: false,
      defaultRealm: 'CORP.EXAMPLE',
      clockSkewMs: 60_000,
    },
  );
  const realmProp = new Map([['java.security.krb5.conf', conf], ['java.security.krb5.realm', 'OVERRIDE.ORG']]);
  t.equal(gssapiServerOptionsFromJaas(jaas, realmProp).defaultRealm, 'OVERRIDE.ORG');
  t.throws(() => gssapiServerOptionsFromJaas(new Map([...jaas, ['useKeyTab', 'false']]), new Map()), /useKeyTab must be true/);
  t.throws(() => gssapiServerOptionsFromJaas(new Map([...jaas, ['principal', '*']]), new Map()), /principal="\*"/);
});

t.test('start-time check of the principal and keytab', async (t) => {
  const entry = (enctype: number, name = ['zookeeper', 'localhost']) => ({
    principal: { components: name, realm: 'EXAMPLE.COM' }, nameType: 1, timestampSec: 0, kvno: 2,
    key: { enctype, value: crypto.randomBytes(enctype === 17 || enctype === 19 ? 16 : 32) },
  });
  const opts = { keytabPath: '/nonexistent/zk.keytab', principal: 'zookeeper/localhost@EXAMPLE.COM' };
  t.doesNotThrow(() => checkGssapiServerOptions({ ...opts, keytab: [entry(18)] }));
  t.throws(() => checkGssapiServerOptions({ ...opts, keytab: [entry(18, ['other', 'localhost'])] }), /has no key for zookeeper\/localhost@EXAMPLE.COM/);
  t.throws(() => checkGssapiServerOptions({ ...opts, keytab: [entry(23)] }), /no key of a supported encryption type .* \(has 23\)/);
  t.throws(() => checkGssapiServerOptions(opts), /cannot read keytab \/nonexistent\/zk.keytab/);
  t.throws(() => checkGssapiServerOptions({ ...opts, principal: 'zookeeper@EXAMPLE.COM', keytab: [] }), /not of the form/);
});
