// The authorization id of a Kerberos (SASL GSSAPI) client: zkts' GSSAPI mechanism against Apache
// ZooKeeper 3.8.0 logged in with Krb5LoginModule, both using the same throwaway MIT KDC. The
// reference server is asked through whoAmI which "sasl" identity it gave a Java ZooKeeper client;
// the mechanism is driven by Java's SASL GSSAPI client with the same principal and must give the
// same id, under each of zookeeper.kerberos.removeHostFromPrincipal / removeRealmFromPrincipal.
import t from 'tap';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createGssapiServer, gssapiServerOptionsFromJaas } from '../src/server/sasl/gssapi';
import { ReplayCache } from '../src/server/sasl/kerberos/replay';
import { runExchange } from '../test/util/gssapiclient';
import { TestKdc, jaasSection, kdcAvailable, startKdc } from '../test/util/kdc';
import { javaClasspath, startReferenceZooKeeper } from '../test/util/servers';

const FIXTURES = path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'gssapi');
const SERVICE = 'zookeeper/localhost@EXAMPLE.COM';
const JAVA_TIMEOUT_MS = 90_000;
const OUTPUT_MAX = 1024 * 1024;

if (!kdcAvailable()) {
  t.fail('MIT KDC binaries missing: run scripts/install-deps.sh');
  process.exit(1);
}

let kdc: TestKdc;
let classes = '';
let serviceKeytab = '';
const clientJaas = new Map<string, string>();
const CLIENTS = ['client@EXAMPLE.COM', 'client/host1@EXAMPLE.COM'];

function run(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: JAVA_TIMEOUT_MS, maxBuffer: OUTPUT_MAX }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

t.before(async () => {
  kdc = await startKdc();
  await kdc.addPrincipal('zookeeper/localhost');
  await kdc.addPrincipal('client');
  await kdc.addPrincipal('client/host1');
  serviceKeytab = await kdc.keytab('zk.keytab', ['zookeeper/localhost']);
  for (const [i, principal] of CLIENTS.entries()) {
    const keytab = await kdc.keytab(`client${i}.keytab`, [principal.replace(/@.*/, '')]);
    const jaas = path.join(kdc.dir, `client${i}-jaas.conf`);
    fs.writeFileSync(jaas, jaasSection('Client', keytab, principal, false));
    clientJaas.set(principal, jaas);
  }
  classes = path.join(kdc.dir, 'classes');
  fs.mkdirSync(classes);
  const javac = await run('javac', [
    '-d',
    classes,
    '-cp',
    javaClasspath(),
    path.join(FIXTURES, 'ZkWhoAmI.java'),
    path.join(FIXTURES, 'SaslGssapiClient.java'),
  ]);
  if (javac.code !== 0) throw new Error(`javac: ${javac.stderr}`);
});

t.teardown(async () => {
  await kdc?.stop();
});

/** The "sasl" id Apache ZooKeeper gives each client principal, with the given server flags. */
async function referenceIds(flags: Record<string, string>): Promise<Map<string, string>> {
  const serverJaas = path.join(kdc.dir, 'server-jaas.conf');
  fs.writeFileSync(serverJaas, jaasSection('Server', serviceKeytab, SERVICE, true));
  const server = await startReferenceZooKeeper({
    jvmFlags: [
      `-Djava.security.krb5.conf=${kdc.krb5ConfPath}`,
      `-Djava.security.auth.login.config=${serverJaas}`,
      ...Object.entries(flags).map(([k, v]) => `-D${k}=${v}`),
    ],
    extraConfig: { 'authProvider.1': 'org.apache.zookeeper.server.auth.SASLAuthenticationProvider' },
  });
  const ids = new Map<string, string>();
  try {
    for (const principal of CLIENTS) {
      const out = await run('java', [
        `-Djava.security.krb5.conf=${kdc.krb5ConfPath}`,
        `-Djava.security.auth.login.config=${clientJaas.get(principal)}`,
        `-Dzookeeper.server.principal=${SERVICE}`,
        '-cp',
        `${classes}${path.delimiter}${javaClasspath()}`,
        'ZkWhoAmI',
        `${server.host}:${server.port}`,
      ]);
      const lines = out.stdout.split('\n');
      const state = lines.find((l) => l.startsWith('STATE '));
      const sasl = lines.find((l) => l.startsWith('ID sasl:'));
      if (state !== 'STATE SaslAuthenticated' || !sasl) {
        throw new Error(`reference ZooKeeper, ${principal}: ${out.stdout}\n${out.stderr.slice(-4000)}\n${server.log().slice(-4000)}`);
      }
      ids.set(principal, sasl.slice('ID sasl:'.length));
    }
  } finally {
    await server.stop();
  }
  return ids;
}

async function zktsId(principal: string, flags: Record<string, string>): Promise<string | undefined> {
  // The same JAAS Server options and system properties the reference server gets.
  const jaas = new Map([
    ['useKeyTab', 'true'],
    ['keyTab', serviceKeytab],
    ['storeKey', 'true'],
    ['useTicketCache', 'false'],
    ['principal', SERVICE],
  ]);
  const systemProps = new Map([['java.security.krb5.conf', kdc.krb5ConfPath], ...Object.entries(flags)]);
  const exchange = createGssapiServer({ ...gssapiServerOptionsFromJaas(jaas, systemProps), replayCache: new ReplayCache() });
  const out = await runExchange(
    {
      file: 'java',
      args: [
        `-Djava.security.krb5.conf=${kdc.krb5ConfPath}`,
        `-Djava.security.auth.login.config=${clientJaas.get(principal)}`,
        '-cp',
        classes,
        'SaslGssapiClient',
        'zookeeper',
        'localhost',
      ],
      env: process.env,
    },
    exchange,
  );
  if (!out.ok) throw new Error(`zkts mechanism, ${principal}: ${out.serverError ?? out.clientError}\n${out.stderr}`);
  return out.authorizationId;
}

const FLAG_SETS: Record<string, string>[] = [
  {},
  { 'zookeeper.kerberos.removeHostFromPrincipal': 'true' },
  { 'zookeeper.kerberos.removeRealmFromPrincipal': 'true' },
];

for (const flags of FLAG_SETS) {
  const name = Object.keys(flags).join(', ') || 'default flags';
  t.test(`authorization id, ${name}: reference ZooKeeper 3.8.0 vs zkts`, async (t) => {
    const expected = await referenceIds(flags);
    for (const principal of CLIENTS) {
      const actual = await zktsId(principal, flags);
      t.equal(actual, expected.get(principal), `${principal} -> ${expected.get(principal)}`);
    }
  });
}

