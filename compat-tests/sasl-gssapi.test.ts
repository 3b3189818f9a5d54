// SASL GSSAPI (Kerberos) end to end: Apache ZooKeeper 3.8.0 and zkts started with the same JAAS
// `Server` section (Krb5LoginModule, keytab) and krb5.conf, against one throwaway MIT KDC. The
// same clients run against both and their transcripts must be identical: the raw exchange on the
// wire (which replies carry a token, an empty one or none), zkCli (Java client, JAAS `Client`
// section) and Kazoo (pure-sasl on pykerberos, a credential cache from kinit). Covered: a
// principal authenticates and whoAmI shows its `sasl` id, its `sasl:<id>:cdrwa` node is NOAUTH
// for another principal, a ticket for the wrong service and no ticket at all fail as ZooKeeper
// fails them, and sessionRequireClientSASLAuth=true admits a Kerberos client.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { JuteReader } from '../src/protocol/jute';
import * as R from '../src/protocol/generated/records';
import { OpCode } from '../src/protocol/constants';
import { ZkClient } from '../test/util/client';
import { sendSasl, saslToken } from '../test/util/saslclient';
import { TestKdc, jaasSection, kdcAvailable, startKdc } from '../test/util/kdc';
import { compareWithReferences, dumpTranscript, runProcess, startTarget, TARGETS, TargetName } from './util/harness';
import { cliTranscript, runZkCli } from './util/zkcli';

const SASL_PROVIDER = 'org.apache.zookeeper.server.auth.SASLAuthenticationProvider';
const SERVICE = 'zookeeper/localhost@EXAMPLE.COM';
// This file runs as dist/compat-tests/sasl-gssapi.test.js.
const ROOT = path.resolve(__dirname, '..', '..');
const KAZOO_SCRIPT = path.join(ROOT, 'compat-tests', 'kazoo-sasl', 'gssapi_check.py');
const PURESASL_CLIENT = path.join(ROOT, 'test', 'fixtures', 'gssapi', 'puresasl_client.py');
// Kazoo, pure-sasl and pykerberos are installed for Debian's interpreter.
const PYTHON = '/usr/bin/python3';
const PROCESS_TIMEOUT_MS = 120_000;
const WIRE_STEP_TIMEOUT_MS = 10_000;
const MAX_WIRE_ROUNDS = 10;

if (!kdcAvailable()) {
  t.fail('MIT KDC binaries missing: run scripts/install-deps.sh');
  process.exit(1);
}

let kdc: TestKdc;
let serverProps: Record<string, string> = {};
const jaas: Record<string, string> = {};
const ccache: Record<string, string> = {};

function writeFile(name: string, text: string): string {
  const p = path.join(kdc.dir, name);
  fs.writeFileSync(p, text);
  return p;
}

t.before(async () => {
  kdc = await startKdc();
  for (const p of ['zookeeper/localhost', 'other/localhost', 'alice', 'bob']) await kdc.addPrincipal(p);
  const zkKeytab = await kdc.keytab('zk.keytab', ['zookeeper/localhost']);
  serverProps = {
    'java.security.auth.login.config': writeFile('server-jaas.conf', jaasSection('Server', zkKeytab, SERVICE, true)),
    'java.security.krb5.conf': kdc.krb5ConfPath,
    'zookeeper.authProvider.1': SASL_PROVIDER,
  };
  for (const user of ['alice', 'bob']) {
    const keytab = await kdc.keytab(`${user}.keytab`, [user]);
    jaas[user] = writeFile(`${user}-jaas.conf`, jaasSection('Client', keytab, `${user}@EXAMPLE.COM`, false));
    ccache[user] = await kdc.kinit(user, keytab, `${user}.ccache`);
  }
  // A Client section that cannot log in: no keytab, no ticket cache, no prompt.
  jaas.none = writeFile(
    'none-jaas.conf',
    'Client {\n  com.sun.security.auth.module.Krb5LoginModule required\n  useKeyTab=false useTicketCache=true ' +
      `ticketCache="${path.join(kdc.dir, 'no-such.ccache')}" doNotPrompt=true principal="carol@EXAMPLE.COM";\n};\n`,
  );
});

t.teardown(async () => {
  await kdc?.stop();
});

/** Runs `scenario` against each server started with `props`; the transcripts must be equal. */
async function compare(
  t: Test,
  name: string,
  props: Record<string, string>,
  scenario: (server: { host: string; port: number; connectString: string }) => Promise<string[]>,
): Promise<Map<TargetName, string[]>> {
  const transcripts = new Map<TargetName, string[]>();
  for (const target of TARGETS) {
    const server = await startTarget(target, { systemProps: props });
    try {
      transcripts.set(target, await scenario(server));
    } finally {
      await server.stop();
    }
  }
  for (const target of TARGETS) dumpTranscript(name, target, transcripts.get(target) ?? []);
  compareWithReferences(t, transcripts);
  return transcripts;
}

/**
 * One GSSAPI exchange on the wire: pure-sasl (as Kazoo drives it) makes the tokens, each goes to
 * the server in a SASL packet, and the shape of each reply is recorded (error, and whether the
 * token is null, empty or present), then whoAmI.
 */
async function wireExchange(host: string, port: number, env: NodeJS.ProcessEnv): Promise<string[]> {
  const lines: string[] = [];
  const zk = await ZkClient.connect(host, port);
  const child = spawn(PYTHON, [PURESASL_CLIENT, 'localhost', 'zookeeper'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {}); // the client may be done before it reads the last answer
  const timer = setTimeout(() => child.kill('SIGKILL'), PROCESS_TIMEOUT_MS);
  try {
    let rounds = 0;
    for await (const line of readline.createInterface({ input: child.stdout })) {
      if (line === 'DONE' || line.startsWith('ERR ')) {
        lines.push(line === 'DONE' ? 'client: DONE' : 'client: ERR');
        break;
      }
      if (!line.startsWith('T ')) continue;
      if (++rounds > MAX_WIRE_ROUNDS) throw new Error('too many SASL rounds');
      const sent = Buffer.from(line.slice(2).trim(), 'hex');
      const reply = await sendSasl(zk, sent, WIRE_STEP_TIMEOUT_MS);
      if (reply === undefined) {
        lines.push(`sent ${sent.length === 0 ? 'empty' : 'token'} -> connection closed`);
        break;
      }
      const token = reply.header.err === 0 ? saslToken(reply) : null;
      const shape = token === null ? 'null' : token.length === 0 ? 'empty' : 'token';
      lines.push(`sent ${sent.length === 0 ? 'empty' : 'token'} -> err ${reply.header.err}, token ${shape}`);
      child.stdin.write(`S ${(token ?? Buffer.alloc(0)).toString('hex')}\n`);
    }
    if (!zk.closed) {
      const who = await zk.request(OpCode.whoAmI, undefined, { timeoutMs: WIRE_STEP_TIMEOUT_MS });
      const infos = R.decodeWhoAmIResponse(new JuteReader(who.frame.subarray(16))).clientInfo;
      lines.push(`whoAmI: ${infos.map((i) => `${i.authScheme}:${i.user}`).join(' ')}`);
    }
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null) child.kill('SIGKILL');
    await zk.close().catch(() => zk.destroy());
  }
  return lines;
}

t.test('the GSSAPI exchange on the wire, and the null token that completes it', async (t) => {
  const out = await compare(t, 'gssapi-wire', serverProps, async (s) => [
    '## alice',
    ...(await wireExchange(s.host, s.port, kdc.env({ KRB5CCNAME: `FILE:${ccache.alice}` }))),
  ]);
  const ref = out.get('reference') ?? [];
  // pure-sasl asks for mutual authentication: AP-REQ -> AP-REP, empty -> offer, reply -> done.
  t.equal(ref.filter((l) => l.startsWith('sent ')).length, 3, 'three tokens');
  t.equal(ref.filter((l) => l.startsWith('sent '))[2], 'sent token -> err 0, token null', 'ZooKeeper completes with a null token, not an empty one');
  t.ok(ref.some((l) => /^whoAmI: (.* )?sasl:alice@EXAMPLE\.COM( |$)/.test(l)), 'whoAmI shows the sasl id');
});

/** zkCli with a Kerberos JAAS Client section; `serverPrincipal` is the service it gets a ticket for. */
async function cli(connectString: string, who: string | undefined, commands: string[], serverPrincipal = SERVICE): Promise<string[]> {
  const flags = who
    ? [`-Djava.security.auth.login.config=${jaas[who]}`, `-Djava.security.krb5.conf=${kdc.krb5ConfPath}`, `-Dzookeeper.server.principal=${serverPrincipal}`]
    : ['-Dzookeeper.sasl.client=false'];
  const run = await runZkCli(connectString, commands, { jvmFlags: flags });
  // After the server closes the connection, whether the client prints Disconnected before `quit`
  // ends the JVM is a race inside the client.
  const lines = cliTranscript(run).filter((l) => l !== 'state:Disconnected type:None path:null');
  return [`# exit ${run.exitCode}`, ...lines];
}

t.test('zkCli (Java client) with a Kerberos JAAS Client section', async (t) => {
  const out = await compare(t, 'gssapi-zkcli', serverProps, async (s) => [
    '## alice',
    ...(await cli(s.connectString, 'alice', ['create /g x sasl:alice@EXAMPLE.COM:cdrwa', 'get /g', 'getAcl /g', 'whoami'])),
    '## bob',
    ...(await cli(s.connectString, 'bob', ['get /g', 'whoami'])),
    '## alice, ticket for the wrong service',
    ...(await cli(s.connectString, 'alice', ['get /g'], 'other/localhost@EXAMPLE.COM')),
    '## no ticket',
    ...(await cli(s.connectString, 'none', ['get /g'])),
  ]);
  const ref = out.get('reference') ?? [];
  t.ok(ref.includes('state:SaslAuthenticated type:None path:null'), 'the reference authenticated alice');
  t.ok(ref.includes('sasl: alice@EXAMPLE.COM'), 'whoami shows the sasl id');
  t.ok(ref.includes('Insufficient permission : /g'), 'bob is refused');
  t.ok(ref.includes('state:AuthFailed type:None path:null'), 'a failed exchange ends in AuthFailed');
});

t.test('zkCli with GSSAPI and sessionRequireClientSASLAuth=true', async (t) => {
  const props = { ...serverProps, 'zookeeper.sessionRequireClientSASLAuth': 'true' };
  const out = await compare(t, 'gssapi-required-zkcli', props, async (s) => [
    '## alice',
    ...(await cli(s.connectString, 'alice', ['ls /', 'whoami'])),
    '## no SASL',
    ...(await cli(s.connectString, undefined, ['ls /'])),
    '## alice, ticket for the wrong service',
    ...(await cli(s.connectString, 'alice', ['ls /'], 'other/localhost@EXAMPLE.COM')),
  ]);
  const ref = out.get('reference') ?? [];
  t.ok(ref.includes('[zookeeper]'), 'the Kerberos client is served');
  t.ok(ref.includes('sasl: alice@EXAMPLE.COM'), 'with its sasl id');
});

async function kazoo(port: number, ccacheFile: string, args: string[]): Promise<string[]> {
  // Kazoo takes the GSSAPI service host from the connect string: "localhost", as the keytab's.
  const env = kdc.env({ ZK_HOSTS: `localhost:${port}`, PYTHONDONTWRITEBYTECODE: '1', KRB5CCNAME: `FILE:${ccacheFile}` });
  delete env.NODE_OPTIONS;
  const r = await runProcess(PYTHON, [KAZOO_SCRIPT, ...args], { timeoutMs: PROCESS_TIMEOUT_MS, env });
  if (r.code !== 0 || r.timedOut) return [`# failed: code ${r.code} timedOut ${r.timedOut}`, r.stderr.slice(-4000)];
  const result = JSON.parse(r.stdout) as Record<string, unknown>;
  return Object.entries(result).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
}

t.test('Kazoo with sasl_options GSSAPI', async (t) => {
  const out = await compare(t, 'gssapi-kazoo', serverProps, async (s) => [
    '## alice',
    ...(await kazoo(s.port, ccache.alice, ['owner', 'alice@EXAMPLE.COM'])),
    '## bob',
    ...(await kazoo(s.port, ccache.bob, ['reader', 'bob@EXAMPLE.COM'])),
    '## alice, ticket for the wrong service',
    ...(await kazoo(s.port, ccache.alice, ['fail', 'alice@EXAMPLE.COM', 'other'])),
    '## no ticket',
    ...(await kazoo(s.port, path.join(kdc.dir, 'no-such.ccache'), ['fail', 'nobody'])),
  ]);
  const ref = out.get('reference') ?? [];
  t.ok(ref.includes('get: "x"'), 'alice reads her node');
  t.ok(ref.includes('acl: [[31,"sasl","alice@EXAMPLE.COM"]]'), 'with her sasl ACL');
  t.ok(ref.includes('get: "NoAuthError"'), 'bob is refused');
});
