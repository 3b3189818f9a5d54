// A client certificate's subject in the form ZooKeeper's x509 authentication gives it
// (X500Principal.getName(), RFC 2253): the same string as Java's, for subjects with every kind of
// special character, multi-valued RDNs, attributes without an RFC 2253 keyword, and Unicode.
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { subjectRfc2253 } from '../../src/tls/x509name';

const SUBJECTS = [
  '/C=US/ST=CA/L=San Jose/O=Example, Inc./OU=R&D/CN=client one',
  '/CN=a+OU=b/O=x',
  '/OU=z+CN=y+O=x',
  '/CN= lead space/O=#hash/OU=semi;colon/L=quote"q',
  '/CN=trailing space \\/O=x',
  '/emailAddress=a@b.c/CN=mail/serialNumber=1234/DC=example/DC=com/UID=u1',
  '/CN=Jürgen Ünïcödé/O=日本',
  '/CN=less<than>greater/O=plus\\+sign/OU=back\\\\slash/L=eq=ual/ST=a#b',
  '/street=1 Main St/title=boss/GN=Ann/SN=Lee/CN=x',
];

t.test('subjects as Java gives them', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-x509name-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = SUBJECTS.map((subj, i) => {
    const cert = path.join(dir, `c${i}.pem`);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, `k${i}.key`), '-out', cert, '-days', '2', '-utf8', '-subj', subj], { stdio: 'pipe' });
    return cert;
  });
  const java = execFileSync('java', [path.join(__dirname, '..', '..', '..', 'test', 'tls', 'fixtures', 'SubjectNames.java'), ...files], { encoding: 'utf8' }).split('\n');
  files.forEach((f, i) => {
    const mine = subjectRfc2253(new crypto.X509Certificate(fs.readFileSync(f)).raw);
    t.equal(mine, java[i], SUBJECTS[i]);
  });
});
