// Certificates and key stores for the TLS tests, made by the run itself with `openssl` and Java's
// `keytool` in a folder of the test's: certificate authorities, leaf certificates signed by them
// (with the subject alternative names a loopback server needs), an expired one, and the same key
// in every store format a ZooKeeper user has (JKS, PKCS12 as Java 17 and as older Java write it,
// PKCS12 from OpenSSL, PEM plain and encrypted), plus trust stores of each kind.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Ca {
  name: string;
  key: string;
  cert: string;
}

export interface Leaf {
  name: string;
  /** PEM files. */
  key: string;
  cert: string;
  /** The CA's certificate, for chains. */
  caCert: string;
}

function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 }).toString('utf8');
  } catch (err) {
    // keytool says what went wrong on stdout, openssl on stderr.
    const e = err as { stderr?: Buffer; stdout?: Buffer; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${`${e.stdout?.toString('utf8') ?? ''}${e.stderr?.toString('utf8') ?? ''}`.trim() || e.message}`);
  }
}

export class CertFactory {
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  ca(name: string): Ca {
    const key = this.file(`${name}.key`);
    const cert = this.file(`${name}.pem`);
    run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '30', '-subj', `/O=zkts tests/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], this.dir);
    return { name, key, cert };
  }

  /**
   * A certificate signed by `ca`, valid for loopback (IP 127.0.0.1 and the member addresses the
   * tests use, DNS localhost). `subject` is an openssl -subj string.
   */
  leaf(ca: Ca, name: string, subject: string, opts: { keyType?: 'rsa' | 'ec'; days?: number; ips?: string[]; onlyIps?: string[] } = {}): Leaf {
    const key = this.file(`${name}.key`);
    const csr = this.file(`${name}.csr`);
    const cert = this.file(`${name}.pem`);
    const ext = this.file(`${name}.ext`);
    const newkey = opts.keyType === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', 'rsa:2048'];
    run('openssl', ['req', ...newkey, '-nodes', '-keyout', key, '-out', csr, '-subj', subject], this.dir);
    // `onlyIps`: these addresses and no host name, for a certificate that must not name loopback.
    const ips = opts.onlyIps ?? ['127.0.0.1', ...(opts.ips ?? [])];
    const names = [...(opts.onlyIps ? [] : ['DNS:localhost']), ...ips.map((i) => `IP:${i}`)];
    fs.writeFileSync(ext, `subjectAltName=${names.join(',')}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', String(opts.days ?? 30), '-extfile', ext], this.dir);
    return { name, key, cert, caCert: ca.cert };
  }

  /** A certificate whose validity ended yesterday (keytool can set a start date in the past). */
  expiredLeaf(ca: Ca, name: string, dname: string): Leaf {
    const ks = this.file(`${name}.tmp.p12`);
    run('keytool', ['-genkeypair', '-alias', name, '-keyalg', 'RSA', '-keysize', '2048', '-dname', dname, '-startdate', '-3d', '-validity', '1', '-keystore', ks, '-storetype', 'PKCS12', '-storepass', 'changeit'], this.dir);
    const key = this.file(`${name}.key`);
    run('openssl', ['pkcs12', '-in', ks, '-nocerts', '-nodes', '-passin', 'pass:changeit', '-out', key], this.dir);
    // Re-signed by the CA with the same past dates: openssl x509 -x509toreq keeps the key and subject.
    const csr = this.file(`${name}.csr`);
    const self = this.file(`${name}.self.pem`);
    run('openssl', ['pkcs12', '-in', ks, '-nokeys', '-passin', 'pass:changeit', '-out', self], this.dir);
    run('openssl', ['x509', '-x509toreq', '-in', self, '-signkey', key, '-out', csr], this.dir);
    const cert = this.file(`${name}.pem`);
    run('keytool', ['-gencert', '-rfc', '-infile', csr, '-outfile', cert, '-startdate', '-3d', '-validity', '1', '-keystore', this.caStore(ca), '-storepass', 'changeit', '-alias', 'ca'], this.dir);
    return { name, key, cert, caCert: ca.cert };
  }

  /** The CA's key in a PKCS12 store, for keytool -gencert. */
  private caStore(ca: Ca): string {
    const p = this.file(`${ca.name}.castore.p12`);
    if (!fs.existsSync(p)) run('openssl', ['pkcs12', '-export', '-in', ca.cert, '-inkey', ca.key, '-name', 'ca', '-out', p, '-passout', 'pass:changeit'], this.dir);
    return p;
  }

  /** The leaf's key and chain in each key store format, all under `password` (keytool wants 6 characters or more). */
  keyStores(l: Leaf, password: string): { jks: string; p12: string; p12Legacy: string; p12OpenSsl: string; p12OpenSslLegacy: string; pem: string; pemEncrypted: string; pemEncryptedLegacy: string } {
    const base = (ext: string): string => this.file(`${l.name}.${ext}`);
    const chain = base('chain.pem');
    fs.writeFileSync(chain, fs.readFileSync(l.cert, 'utf8') + fs.readFileSync(l.caCert, 'utf8'));
    const out = {
      jks: base('ks.jks'),
      p12: base('ks.p12'),
      p12Legacy: base('ks.legacy.p12'),
      p12OpenSsl: base('ks.openssl.p12'),
      p12OpenSslLegacy: base('ks.openssl-legacy.p12'),
      pem: base('ks.pem'),
      pemEncrypted: base('ks.enc.pem'),
      pemEncryptedLegacy: base('ks.enc-legacy.pem'),
    };
    run('openssl', ['pkcs12', '-export', '-in', chain, '-inkey', l.key, '-name', l.name, '-out', out.p12OpenSsl, '-passout', `pass:${password}`], this.dir);
    run('openssl', ['pkcs12', '-export', '-legacy', '-in', chain, '-inkey', l.key, '-name', l.name, '-out', out.p12OpenSslLegacy, '-passout', `pass:${password}`], this.dir);
    // keytool imports the OpenSSL file into the Java formats, as a user migrating a store would.
    const importTo = (dest: string, type: string, extra: string[] = []): void => {
      run('keytool', ['-importkeystore', ...extra, '-srckeystore', out.p12OpenSsl, '-srcstoretype', 'PKCS12', '-srcstorepass', password, '-destkeystore', dest, '-deststoretype', type, '-deststorepass', password, '-destkeypass', password, '-noprompt'], this.dir);
    };
    importTo(out.jks, 'JKS');
    importTo(out.p12, 'PKCS12');
    importTo(out.p12Legacy, 'PKCS12', ['-J-Dkeystore.pkcs12.legacy']);
    fs.writeFileSync(out.pem, fs.readFileSync(l.key, 'utf8') + fs.readFileSync(chain, 'utf8'));
    const enc = base('key.enc');
    run('openssl', ['pkcs8', '-topk8', '-in', l.key, '-out', enc, '-v2', 'aes-256-cbc', '-passout', `pass:${password}`], this.dir);
    fs.writeFileSync(out.pemEncrypted, fs.readFileSync(enc, 'utf8') + fs.readFileSync(chain, 'utf8'));
    run('openssl', ['pkcs8', '-topk8', '-in', l.key, '-out', enc, '-v1', 'PBE-SHA1-3DES', '-passout', `pass:${password}`], this.dir);
    fs.writeFileSync(out.pemEncryptedLegacy, fs.readFileSync(enc, 'utf8') + fs.readFileSync(chain, 'utf8'));
    return out;
  }

  /** Trust stores holding `cas`' certificates, under `password` (PEM has none). */
  trustStores(name: string, cas: Ca[], password: string): { jks: string; p12: string; pem: string } {
    const out = { jks: this.file(`${name}.ts.jks`), p12: this.file(`${name}.ts.p12`), pem: this.file(`${name}.ts.pem`) };
    fs.writeFileSync(out.pem, cas.map((c) => fs.readFileSync(c.cert, 'utf8')).join(''));
    for (const [store, type] of [
      [out.jks, 'JKS'],
      [out.p12, 'PKCS12'],
    ] as const) {
      for (const ca of cas) run('keytool', ['-importcert', '-noprompt', '-alias', ca.name, '-file', ca.cert, '-keystore', store, '-storetype', type, '-storepass', password], this.dir);
    }
    return out;
  }
}
