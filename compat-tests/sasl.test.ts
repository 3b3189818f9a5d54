// SASL DIGEST-MD5 through real clients, against the reference ZooKeeper 3.8.0 and against zkts
// with the same JAAS file: the Java client (zkCli, with a JAAS `Client` section) and Kazoo
// (pure-sasl). Good passwords authenticate and hold `sasl:<user>` ACLs; other users get NOAUTH;
// a bad password ends the session as ZooKeeper ends it; with sessionRequireClientSASLAuth a
// client without SASL is refused. Transcripts must be identical. (Debian's C client, cli_mt, is
// built without SASL support, so it has no part here.)

import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compareWithReferences, dumpTranscript, runProcess, startTarget, TARGETS, TargetName } from './util/harness';
import { cliTranscript, runZkCli } from './util/zkcli';

const SASL_PROVIDER = 'org.apache.zookeeper.server.auth.SASLAuthenticationProvider';
// This file runs as dist/compat-tests/sasl.test.js.
const KAZOO_SCRIPT = path.resolve(__dirname, '..', '..', 'compat-tests', 'kazoo-sasl', 'sasl_check.py');
// Kazoo and pure-sasl are installed for Debian's interpreter.
const PYTHON = '/usr/bin/python3';
const KAZOO_TIMEOUT_MS = 120_000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-sasl-compat-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeFile(name: string, text: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

const SERVER_JAAS = writeFile(
  'server.conf',
  'Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  user_bob="bobpw"\n  user_alice="alicepw";\n};\n',
);

function clientJaas(user: string, password: string): string {
  return writeFile(`client-${user}-${password}.conf`, `Client {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  username="${user}"\n  password="${password}";\n};\n`);
}

const SASL_PROPS: Record<string, string> = {
  'java.security.auth.login.config': SERVER_JAAS,
  'zookeeper.authProvider.1': SASL_PROVIDER,
};

/** zkCli as `user` (a JAAS Client section), or without SASL when user is undefined. */
async function cli(connectString: string, who: [string, string] | undefined, commands: string[]): Promise<string[]> {
  const flags = who ? [`-Djava.security.auth.login.config=${clientJaas(who[0], who[1])}`] : ['-Dzookeeper.sasl.client=false'];
  const run = await runZkCli(connectString, commands, { jvmFlags: flags });
  // After the server closes the connection, whether the client prints Disconnected before `quit`
  // ends the JVM is a race inside the client.
  const lines = cliTranscript(run).filter((l) => l !== 'state:Disconnected type:None path:null');
  return [`# exit ${run.exitCode}`, ...lines];
}

async function compare(
  t: Test,
  name: string,
  props: Record<string, string>,
  scenario: (connectString: string) => Promise<string[]>,
): Promise<Map<TargetName, string[]>> {
  const transcripts = new Map<TargetName, string[]>();
  for (const target of TARGETS) {
    const server = await startTarget(target, { systemProps: props });
    try {
      transcripts.set(target, await scenario(server.connectString));
    } finally {
      await server.stop();
    }
  }
  // Written only when ZK_COMPAT_DUMP names a directory.
  for (const target of TARGETS) dumpTranscript(name, target, transcripts.get(target) ?? []);
  compareWithReferences(t, transcripts);
  return transcripts;
}

t.test('zkCli (Java client) with a JAAS Client section', async (t) => {
  const out = await compare(t, 'sasl-zkcli', SASL_PROPS, async (cs) => [
    '## bob',
    ...(await cli(cs, ['bob', 'bobpw'], ['create /s x sasl:bob:cdrwa', 'get /s', 'getAcl /s', 'whoami'])),
    '## alice',
    ...(await cli(cs, ['alice', 'alicepw'], ['get /s', 'whoami'])),
    '## no SASL',
    ...(await cli(cs, undefined, ['get /s'])),
    '## bob, bad password',
    ...(await cli(cs, ['bob', 'wrong'], ['get /s'])),
  ]);
  const ref = out.get('reference') ?? [];
  t.ok(ref.includes('state:SaslAuthenticated type:None path:null'), 'the reference authenticated bob');
  t.ok(ref.includes('sasl: bob'), 'whoami shows the sasl id');
  t.ok(ref.includes('Insufficient permission : /s'), 'alice is refused');
  t.ok(ref.includes('state:AuthFailed type:None path:null'), 'a bad password ends in AuthFailed');
});

t.test('zkCli with a JAAS Client section against a server without SASL', async (t) => {
  const out = await compare(t, 'sasl-off-zkcli', { 'zookeeper.authProvider.1': SASL_PROVIDER }, async (cs) => [
    ...(await cli(cs, ['bob', 'bobpw'], ['create /s x', 'get /s', 'whoami'])),
  ]);
  // The server answers the first token with OK and no token; the Java client takes that as a
  // failed authentication.
  t.ok((out.get('reference') ?? []).includes('state:AuthFailed type:None path:null'), 'the Java client reports AuthFailed');
});

t.test('zkCli with sessionRequireClientSASLAuth=true', async (t) => {
  const props = { ...SASL_PROPS, 'zookeeper.sessionRequireClientSASLAuth': 'true' };
  const out = await compare(t, 'sasl-required-zkcli', props, async (cs) => [
    '## no SASL',
    ...(await cli(cs, undefined, ['ls /'])),
    '## bob',
    ...(await cli(cs, ['bob', 'bobpw'], ['ls /'])),
    '## bob, bad password',
    ...(await cli(cs, ['bob', 'wrong'], ['ls /'])),
  ]);
  const ref = out.get('reference') ?? [];
  t.ok(ref.includes('[zookeeper]'), 'an authenticated client is served');
});

t.test('Kazoo with sasl_options DIGEST-MD5', async (t) => {
  const out = await compare(t, 'sasl-kazoo', SASL_PROPS, async (cs) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ZK_HOSTS: cs, PYTHONDONTWRITEBYTECODE: '1' };
    delete env.NODE_OPTIONS;
    const r = await runProcess(PYTHON, [KAZOO_SCRIPT], { timeoutMs: KAZOO_TIMEOUT_MS, env });
    if (r.code !== 0 || r.timedOut) return [`# failed: code ${r.code} timedOut ${r.timedOut}`, r.stderr.slice(-4000)];
    const result = JSON.parse(r.stdout) as Record<string, unknown>;
    return Object.entries(result).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  });
  const ref = out.get('reference') ?? [];
  t.ok(ref.includes('bob get: "x"'), 'bob reads his node');
  t.ok(ref.includes('alice get: "NoAuthError"'), 'alice is refused');
  t.ok(ref.includes('bad password keeper states: ["CONNECTING","CONNECTED","AUTH_FAILED","CLOSED"]'), 'a bad password fails the session');
});
