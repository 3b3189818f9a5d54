import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ConfigError,
  FOUR_LETTER_WORDS,
  loadConfig,
  parseProperties,
  parseSystemPropertyArgs,
  ServerConfig,
} from '../src/server/config';

const DATA = '/nonexistent-zkts-test/data';
const BASE = '/nonexistent-zkts-test/base';

// A PEM key store (key and self-signed certificate) for the settings that open a TLS port.
const KEY_STORE = `ssl.keyStore.location=${path.resolve(__dirname, '..', '..', 'test', 'fixtures', 'tls', 'server.pem')}`;

function load(lines: string, sys: Record<string, string> = {}, dataDir: string = DATA): ServerConfig {
  return loadConfig(`dataDir=${dataDir}\n${lines}`, new Map(Object.entries(sys)), BASE);
}

function tmpDir(t: tap.Test, myid?: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-config-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  if (myid !== undefined) fs.writeFileSync(path.join(dir, 'myid'), myid);
  return dir;
}

function expectConfigError(t: tap.Test, fn: () => unknown, key: string, reason: RegExp, name?: string): void {
  try {
    fn();
    t.fail(`${name ?? key}: expected ConfigError`);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    t.equal(err.key, key, `${name ?? key}: key`);
    t.match(err.reason, reason, `${name ?? key}: reason`);
    t.equal(err.message, `invalid config: ${err.key}: ${err.reason}`, `${name ?? key}: message`);
  }
}

// ---------------------------------------------------------------------------------------------

t.test('parseProperties: Java .properties format', async (t) => {
  const cases: Array<[string, string, Array<[string, string]>]> = [
    ['equals', 'a=b', [['a', 'b']]],
    ['colon', 'a:b', [['a', 'b']]],
    ['whitespace separator', 'a b', [['a', 'b']]],
    ['tab separator', 'a\tb', [['a', 'b']]],
    ['spaces around equals', 'a   =   b', [['a', 'b']]],
    ['spaces around colon', 'a : b', [['a', 'b']]],
    ['only the first separator counts', 'a=b=c', [['a', 'b=c']]],
    ['second equals belongs to value', 'a==b', [['a', '=b']]],
    ['colon then equals', 'a:=b', [['a', '=b']]],
    ['whitespace then one separator', 'a = = b', [['a', '= b']]],
    ['key without value', 'a', [['a', '']]],
    ['key with empty value', 'a=', [['a', '']]],
    ['leading whitespace dropped', '   \t a=b', [['a', 'b']]],
    ['trailing value whitespace kept', 'a=b  ', [['a', 'b  ']]],
    ['hash comment', '# a=b\nc=d', [['c', 'd']]],
    ['bang comment', '! a=b\nc=d', [['c', 'd']]],
    ['indented comment', '   # a=b\nc=d', [['c', 'd']]],
    ['hash inside a value is not a comment', 'a=b # c', [['a', 'b # c']]],
    ['blank lines', '\n\n  \t \na=b\n\n', [['a', 'b']]],
    ['continuation', 'a=b\\\n   c', [['a', 'bc']]],
    ['continuation keeps inner spaces', 'a=b \\\n   c', [['a', 'b c']]],
    ['multi-line continuation', 'a=1,\\\n  2,\\\n  3', [['a', '1,2,3']]],
    ['even backslashes do not continue', 'a=b\\\\\nc=d', [['a', 'b\\'], ['c', 'd']]],
    ['odd backslashes continue', 'a=b\\\\\\\nc', [['a', 'b\\c']]],
    ['continuation at end of input', 'a=b\\', [['a', 'b']]],
    ['comment line does not continue', '# x \\\na=b', [['a', 'b']]],
    ['continued line starting with # is content', 'a=1\\\n#2', [['a', '1#2']]],
    ['continuation onto a blank line ends it', 'a=b\\\n\nc=d', [['a', 'b'], ['c', 'd']]],
    ['continuation in the key', 'ab\\\n  c=d', [['abc', 'd']]],
    ['CRLF line ends', 'a=b\r\nc=d\r\n', [['a', 'b'], ['c', 'd']]],
    ['CR line ends', 'a=b\rc=d', [['a', 'b'], ['c', 'd']]],
    ['CRLF continuation', 'a=b\\\r\n  c', [['a', 'bc']]],
    ['escapes', 'a=x\\ty\\nz\\rw\\fv', [['a', 'x\ty\nz\rw\fv']]],
    ['unicode escape', 'a=\\u0041\\u00e9\\u20AC', [['a', 'A\u00e9\u20ac']]],
    ['unknown escape drops the backslash', 'a=\\x\\=\\:\\#', [['a', 'x=:#']]],
    ['escaped equals in key', 'a\\=b=c', [['a=b', 'c']]],
    ['escaped colon in key', 'a\\:b:c', [['a:b', 'c']]],
    ['escaped space in key', 'a\\ b=c', [['a b', 'c']]],
    ['escaped leading space in value', 'a=\\  b', [['a', '  b']]],
    ['escaped backslash', 'a=c:\\\\dir', [['a', 'c:\\dir']]],
    ['duplicate key: last wins', 'a=1\nb=2\na=3', [['b', '2'], ['a', '3']]],
    ['form feed is whitespace', '\fa\fb', [['a', 'b']]],
    ['separator only', '=b', [['', 'b']]],
    ['non-ASCII text passes through', 'a=caf\u00e9', [['a', 'caf\u00e9']]],
  ];
  for (const [name, text, expected] of cases) {
    t.same([...parseProperties(text)], expected, name);
  }

  for (const [name, text, key] of [
    ['short unicode escape in value', 'a=\\u12', 'a'],
    ['bad hex in unicode escape', 'a=\\u12zz', 'a'],
    ['bad unicode escape in key', '\\uzzzz=1', 'line 1'],
    ['line number counts from 1', 'x=1\ny=2\n\\u=3', 'line 3'],
  ] as const) {
    expectConfigError(t, () => parseProperties(text), key, /malformed \\uxxxx encoding/, name);
  }
});

// ---------------------------------------------------------------------------------------------

t.test('defaults with a zoo.cfg that sets only dataDir', async (t) => {
  const c = load('');
  const expected: Partial<ServerConfig> = {
    tickTimeMs: 3000,
    initLimitTicks: 0,
    syncLimitTicks: 0,
    connectToLearnerMasterLimitTicks: 0,
    dataDir: DATA,
    dataLogDir: DATA,
    clientPortListenBacklog: -1,
    maxClientCnxns: 60,
    maxCnxns: 0,
    sessionlessCnxnTimeoutMs: 10000,
    descriptorReserve: 64,
    minSessionTimeoutMs: 6000,
    maxSessionTimeoutMs: 60000,
    localSessionsEnabled: false,
    localSessionsUpgradingEnabled: false,
    globalOutstandingLimit: 1000,
    adminEnableServer: true,
    adminServerAddress: '0.0.0.0',
    adminServerPort: 8080,
    adminCommandURL: '/commands',
    adminIdleTimeoutMs: 30000,
    authProviders: [],
    digestAuthEnabled: true,
    superUsers: [],
    extendedTypesEnabled: false,
    emulate353TTLNodes: false,
    readOnlyModeEnabled: false,
    juteMaxBufferBytes: 0xfffff,
    juteMaxBufferExtraSizeBytes: 0xfffff,
    skipACL: false,
    snapCount: 100000,
    preAllocSizeKb: 65536,
    forceSync: true,
    autopurgeSnapRetainCount: 3,
    autopurgePurgeIntervalHours: 0,
    containerCheckIntervalMs: 60000,
    containerMaxPerMinute: 10000,
    containerMaxNeverUsedIntervalMs: 0,
    enforceQuota: false,
    digestEnabled: true,
    leaderServes: true,
    metricsProviderHttpHost: '0.0.0.0',
    metricsProviderHttpPort: 7000,
    metricsProviderExportJvmInfo: true,
    peerType: 'participant',
    distributed: false,
    standaloneEnabled: true,
    reconfigEnabled: false,
    quorumListenOnAllIPs: false,
    syncEnabled: true,
    multiAddressEnabled: false,
    sslQuorum: false,
    portUnification: false,
    unknownKeys: [],
  };
  for (const [k, v] of Object.entries(expected)) {
    t.same(c[k as keyof ServerConfig], v, k);
  }
  for (const k of [
    'clientPort',
    'clientPortAddress',
    'secureClientPort',
    'secureClientPortAddress',
    'observerMasterPort',
    'superDigest',
    'superUser',
    'metricsProviderClassName',
    'dynamicConfigFile',
    'dynamicConfigVersion',
    'serverId',
  ] as const) {
    t.equal(c[k], undefined, `${k} is unset`);
  }
  t.same([...(c.fourLetterWordWhitelist as Set<string>)], ['srvr'], '4lw whitelist defaults to srvr');
  t.equal(c.servers.size, 0);
  t.equal(c.groups.size, 0);
  t.equal(c.weights.size, 0);
  t.equal(c.metricsProviderConfig.size, 0);
  t.equal(c.systemProps.size, 0);
  t.match(c.warnings, [/neither clientPort nor secureClientPort/]);
});

t.test('embedded default when no zoo.cfg is given', async (t) => {
  const c = loadConfig(undefined, new Map(), BASE);
  t.equal(c.clientPort, 2181);
  t.equal(c.clientPortAddress, undefined);
  t.equal(c.dataDir, path.join(BASE, 'data'));
  t.equal(c.dataLogDir, path.join(BASE, 'data'));
  t.equal(c.tickTimeMs, 2000);
  t.equal(c.minSessionTimeoutMs, 4000);
  t.equal(c.maxSessionTimeoutMs, 40000);
  t.same([...(c.fourLetterWordWhitelist as Set<string>)], ['srvr']);
  t.same(c.unknownKeys, []);
  t.same(c.warnings, []);
  t.equal(c.distributed, false);

  const withProps = loadConfig(undefined, new Map([['zookeeper.4lw.commands.whitelist', 'ruok']]), BASE);
  t.same([...(withProps.fourLetterWordWhitelist as Set<string>)].sort(), ['ruok', 'srvr'], '-D applies too');
  t.equal(loadConfig(undefined, new Map()).dataDir, path.resolve('data'), 'baseDir defaults to cwd');
});

// ---------------------------------------------------------------------------------------------

t.test('every zoo.cfg key', async (t) => {
  const cases: Array<[string, keyof ServerConfig, unknown]> = [
    ['tickTime=2500', 'tickTimeMs', 2500],
    ['tickTime = +2500', 'tickTimeMs', 2500],
    ['initLimit=10', 'initLimitTicks', 10],
    ['syncLimit=5', 'syncLimitTicks', 5],
    ['connectToLearnerMasterLimit=7', 'connectToLearnerMasterLimitTicks', 7],
    ['dataLogDir=/logs', 'dataLogDir', '/logs'],
    ['dataLogDir=logs', 'dataLogDir', path.join(BASE, 'logs')],
    ['clientPort=2181', 'clientPort', 2181],
    ['clientPort=0', 'clientPort', 0],
    ['clientPort=2181\nclientPortAddress=127.0.0.1', 'clientPortAddress', '127.0.0.1'],
    ['clientPort=2181\nclientPortAddress= ::1 ', 'clientPortAddress', '::1'],
    [`secureClientPort=2281\n${KEY_STORE}`, 'secureClientPort', 2281],
    [`secureClientPort=2281\nsecureClientPortAddress=10.0.0.1\n${KEY_STORE}`, 'secureClientPortAddress', '10.0.0.1'],
    ['clientPortListenBacklog=128', 'clientPortListenBacklog', 128],
    ['observerMasterPort=2191', 'observerMasterPort', 2191],
    ['observerMasterPort=0', 'observerMasterPort', undefined],
    ['observerMasterPort=-1', 'observerMasterPort', undefined],
    ['maxClientCnxns=0', 'maxClientCnxns', 0],
    ['maxClientCnxns=500', 'maxClientCnxns', 500],
    ['minSessionTimeout=1000', 'minSessionTimeoutMs', 1000],
    ['maxSessionTimeout=90000', 'maxSessionTimeoutMs', 90000],
    ['minSessionTimeout=-1', 'minSessionTimeoutMs', 6000],
    ['maxSessionTimeout=-1', 'maxSessionTimeoutMs', 60000],
    ['tickTime=1000', 'minSessionTimeoutMs', 2000],
    ['tickTime=1000', 'maxSessionTimeoutMs', 20000],
    ['localSessionsEnabled=true', 'localSessionsEnabled', true],
    ['localSessionsUpgradingEnabled=TRUE', 'localSessionsUpgradingEnabled', true],
    ['autopurge.snapRetainCount=10', 'autopurgeSnapRetainCount', 10],
    ['autopurge.snapRetainCount=1', 'autopurgeSnapRetainCount', 3],
    ['autopurge.purgeInterval=24', 'autopurgePurgeIntervalHours', 24],
    ['autopurge.purgeInterval=-5', 'autopurgePurgeIntervalHours', 0],
    ['standaloneEnabled=true', 'standaloneEnabled', true],
    ['reconfigEnabled=true', 'reconfigEnabled', true],
    ['reconfigEnabled=False', 'reconfigEnabled', false],
    ['quorumListenOnAllIPs=true', 'quorumListenOnAllIPs', true],
    ['syncEnabled=false', 'syncEnabled', false],
    ['peerType=observer', 'peerType', 'observer'],
    ['peerType=PARTICIPANT', 'peerType', 'participant'],
    ['electionAlg=3', 'distributed', false],
    ['multiAddress.enabled=true', 'multiAddressEnabled', true],
    ['sslQuorum=true', 'sslQuorum', true],
    ['portUnification=true', 'portUnification', true],
    ['metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider', 'metricsProviderClassName', 'org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider'],
    ['metricsProvider.httpPort=7001', 'metricsProviderHttpPort', 7001],
    ['metricsProvider.httpHost=127.0.0.1', 'metricsProviderHttpHost', '127.0.0.1'],
    ['metricsProvider.exportJvmInfo=false', 'metricsProviderExportJvmInfo', false],
    ['metricsProvider.exportJvmInfo=nonsense', 'metricsProviderExportJvmInfo', false],
    // keys that reach the server through "zookeeper."-prefixed system properties
    ['globalOutstandingLimit=5000', 'globalOutstandingLimit', 5000],
    ['admin.enableServer=false', 'adminEnableServer', false],
    ['admin.enableServer=true', 'adminEnableServer', true],
    ['admin.serverAddress=127.0.0.1', 'adminServerAddress', '127.0.0.1'],
    ['admin.serverPort=9090', 'adminServerPort', 9090],
    ['admin.commandURL=/cmds', 'adminCommandURL', '/cmds'],
    ['admin.idleTimeout=1000', 'adminIdleTimeoutMs', 1000],
    ['authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider', 'authProviders', ['org.apache.zookeeper.server.auth.SASLAuthenticationProvider']],
    ['DigestAuthenticationProvider.superDigest=super:abc=', 'superDigest', 'super:abc='],
    ['DigestAuthenticationProvider.enabled=false', 'digestAuthEnabled', false],
    ['superUser=admin', 'superUser', 'admin'],
    ['superUser=admin\nsuperUser.2=ops\nsuperUser.1=root', 'superUsers', ['admin', 'root', 'ops']],
    ['extendedTypesEnabled=true', 'extendedTypesEnabled', true],
    ['emulate353TTLNodes=true', 'emulate353TTLNodes', true],
    ['skipACL=yes', 'skipACL', true],
    ['skipACL=no', 'skipACL', false],
    ['snapCount=50000', 'snapCount', 50000],
    ['snapCount=1', 'snapCount', 2],
    ['preAllocSize=1024', 'preAllocSizeKb', 1024],
    ['forceSync=no', 'forceSync', false],
    ['forceSync=yes', 'forceSync', true],
    ['enforceQuota=true', 'enforceQuota', true],
    ['digest.enabled=false', 'digestEnabled', false],
    ['maxCnxns=100', 'maxCnxns', 100],
    ['maxCnxns=-3', 'maxCnxns', 0],
    ['nio.sessionlessCnxnTimeout=3000', 'sessionlessCnxnTimeoutMs', 3000],
    ['nio.sessionlessCnxnTimeout=0', 'sessionlessCnxnTimeoutMs', 10000],
    ['zkts.cnxn.descriptorReserve=16', 'descriptorReserve', 16],
    ['zkts.cnxn.descriptorReserve=-1', 'descriptorReserve', 0],
    ['zkts.watch.parallelFanoutMinWatchers=1000', 'parallelFanoutMinWatchers', 1000],
    ['zkts.watch.parallelFanoutMinWatchers=0', 'parallelFanoutMinWatchers', 0],
    ['zkts.watch.parallelFanoutMinWatchers=-5', 'parallelFanoutMinWatchers', 0],
    ['leaderServes=no', 'leaderServes', false],
    ['jute.maxbuffer.extrasize=2048', 'juteMaxBufferExtraSizeBytes', 2048],
  ];
  for (const [lines, field, expected] of cases) {
    t.same(load(lines)[field], expected, `${lines.replace(/\n/g, '; ')} -> ${field}`);
  }
});

t.test('keys that ZooKeeper reads only from system properties', async (t) => {
  const cases: Array<[Record<string, string>, keyof ServerConfig, unknown]> = [
    [{ 'zookeeper.DigestAuthenticationProvider.superDigest': 'super:xyz=' }, 'superDigest', 'super:xyz='],
    [{ 'zookeeper.extendedTypesEnabled': 'true' }, 'extendedTypesEnabled', true],
    [{ 'zookeeper.extendedTypesEnabled': 'TRUE' }, 'extendedTypesEnabled', true],
    [{ 'zookeeper.extendedTypesEnabled': 'yes' }, 'extendedTypesEnabled', false],
    [{ 'zookeeper.emulate353TTLNodes': 'true' }, 'emulate353TTLNodes', true],
    [{ 'readonlymode.enabled': 'true' }, 'readOnlyModeEnabled', true],
    [{ 'readonlymode.enabled': 'True' }, 'readOnlyModeEnabled', true],
    [{ 'jute.maxbuffer': '4194304' }, 'juteMaxBufferBytes', 4194304],
    [{ 'jute.maxbuffer': '0x400000' }, 'juteMaxBufferBytes', 0x400000],
    [{ 'jute.maxbuffer': '#400000' }, 'juteMaxBufferBytes', 0x400000],
    [{ 'jute.maxbuffer': '010' }, 'juteMaxBufferBytes', 8],
    [{ 'jute.maxbuffer': '2097152' }, 'juteMaxBufferExtraSizeBytes', 2097152],
    [{ 'zookeeper.skipACL': 'yes' }, 'skipACL', true],
    [{ 'zookeeper.skipACL': 'YES' }, 'skipACL', false],
    [{ 'zookeeper.skipACL': 'true' }, 'skipACL', false],
    [{ 'zookeeper.globalOutstandingLimit': '10' }, 'globalOutstandingLimit', 10],
    [{ 'zookeeper.maxCnxns': '7' }, 'maxCnxns', 7],
    [{ 'zookeeper.nio.sessionlessCnxnTimeout': '2500' }, 'sessionlessCnxnTimeoutMs', 2500],
    [{ 'zkts.cnxn.descriptorReserve': '100' }, 'descriptorReserve', 100],
    [{ 'zookeeper.admin.enableServer': 'false' }, 'adminEnableServer', false],
    [{ 'zookeeper.admin.enableServer': 'FALSE' }, 'adminEnableServer', true],
    [{ 'zookeeper.admin.enableServer': 'no' }, 'adminEnableServer', true],
    [{ 'zookeeper.admin.serverPort': '18080' }, 'adminServerPort', 18080],
    [{ 'zookeeper.admin.serverAddress': '::1' }, 'adminServerAddress', '::1'],
    [{ 'zookeeper.admin.commandURL': '/x' }, 'adminCommandURL', '/x'],
    [{ 'zookeeper.admin.idleTimeout': '5' }, 'adminIdleTimeoutMs', 5],
    [{ 'zookeeper.snapCount': '10' }, 'snapCount', 10],
    [{ 'zookeeper.preAllocSize': '16' }, 'preAllocSizeKb', 16],
    [{ 'zookeeper.forceSync': 'no' }, 'forceSync', false],
    [{ 'zookeeper.forceSync': 'false' }, 'forceSync', true],
    [{ 'zookeeper.enforceQuota': 'true' }, 'enforceQuota', true],
    [{ 'zookeeper.digest.enabled': 'false' }, 'digestEnabled', false],
    [{ 'zookeeper.superUser': 'root' }, 'superUser', 'root'],
    [{ 'znode.container.checkIntervalMs': '1000' }, 'containerCheckIntervalMs', 1000],
    [{ 'znode.container.maxPerMinute': '5' }, 'containerMaxPerMinute', 5],
    [{ 'znode.container.maxNeverUsedIntervalMs': '300000' }, 'containerMaxNeverUsedIntervalMs', 300000],
    [{ 'zookeeper.multiAddress.enabled': 'true' }, 'multiAddressEnabled', true],
    [{ 'zookeeper.leaderServes': 'no' }, 'leaderServes', false],
    [
      {
        'zookeeper.authProvider.10': 'p10',
        'zookeeper.authProvider.2': 'p2',
        'zookeeper.authProvider.sasl': 'psasl',
        'zookeeper.authProvider.1': 'p1',
      },
      'authProviders',
      ['p1', 'p2', 'p10', 'psasl'],
    ],
  ];
  for (const [sys, field, expected] of cases) {
    t.same(load('', sys)[field], expected, `${JSON.stringify(sys)} -> ${field}`);
  }
});

t.test('system-property-only knobs have no effect from zoo.cfg', async (t) => {
  // zoo.cfg keys turn into "zookeeper.<key>", which is not the name these are read from.
  const cases: Array<[string, keyof ServerConfig, unknown]> = [
    ['readonlymode.enabled=true', 'readOnlyModeEnabled', false],
    ['jute.maxbuffer=4194304', 'juteMaxBufferBytes', 0xfffff],
    ['znode.container.checkIntervalMs=5', 'containerCheckIntervalMs', 60000],
  ];
  for (const [lines, field, expected] of cases) {
    const c = load(lines);
    t.same(c[field], expected, lines);
    t.same(c.unknownKeys, [lines.split('=')[0]], `${lines} is reported as unknown`);
  }
});

t.test('four-letter-word whitelist', async (t) => {
  const cases: Array<[string | undefined, Record<string, string>, string[] | '*']> = [
    [undefined, {}, ['srvr']],
    ['stat, ruok, conf, isro', {}, ['conf', 'isro', 'ruok', 'srvr', 'stat']],
    ['ruok,,  ,mntr', {}, ['mntr', 'ruok', 'srvr']],
    ['', {}, ['srvr']],
    ['*', {}, '*'],
    ['ruok, *', {}, '*'],
    [' * ', {}, '*'],
    ['RUOK', {}, ['RUOK', 'srvr']],
    ['ruok', { 'readonlymode.enabled': 'true' }, ['isro', 'ruok', 'srvr']],
    // read-only mode itself accepts any case, the isro whitelisting does not
    ['ruok', { 'readonlymode.enabled': 'TRUE' }, ['ruok', 'srvr']],
  ];
  for (const [list, sys, expected] of cases) {
    const lines = list === undefined ? '' : `4lw.commands.whitelist=${list}`;
    const got = load(lines, sys).fourLetterWordWhitelist;
    t.same(got === '*' ? '*' : [...got].sort(), expected, `${lines} ${JSON.stringify(sys)}`);
  }
  t.ok(FOUR_LETTER_WORDS.includes('ruok') && FOUR_LETTER_WORDS.includes('srvr'));
});

// ---------------------------------------------------------------------------------------------

t.test('precedence: zoo.cfg replaces the -D value, as in ZooKeeper', async (t) => {
  const cases: Array<[string, Record<string, string>, keyof ServerConfig, unknown]> = [
    ['skipACL=no', { 'zookeeper.skipACL': 'yes' }, 'skipACL', false],
    ['skipACL=yes', { 'zookeeper.skipACL': 'no' }, 'skipACL', true],
    ['globalOutstandingLimit=5', { 'zookeeper.globalOutstandingLimit': '9' }, 'globalOutstandingLimit', 5],
    ['admin.serverPort=9001', { 'zookeeper.admin.serverPort': '9002' }, 'adminServerPort', 9001],
    ['snapCount=300', { 'zookeeper.snapCount': '400' }, 'snapCount', 300],
    ['authProvider.1=fromcfg', { 'zookeeper.authProvider.1': 'fromcli', 'zookeeper.authProvider.2': 'other' }, 'authProviders', ['fromcfg', 'other']],
    ['', { 'zookeeper.skipACL': 'yes' }, 'skipACL', true],
    // keys the config parser owns are not system properties at all
    ['clientPort=2181', { 'zookeeper.clientPort': '3000' }, 'clientPort', 2181],
    ['tickTime=1000', { 'zookeeper.tickTime': '5000' }, 'tickTimeMs', 1000],
  ];
  for (const [lines, sys, field, expected] of cases) {
    t.same(load(lines, sys)[field], expected, `${lines || '(nothing)'} vs ${JSON.stringify(sys)}`);
  }

  const w = load('4lw.commands.whitelist=stat', { 'zookeeper.4lw.commands.whitelist': 'ruok' });
  t.same([...(w.fourLetterWordWhitelist as Set<string>)].sort(), ['srvr', 'stat']);
  t.equal(w.systemProps.get('zookeeper.4lw.commands.whitelist'), 'stat', 'systemProps shows the effective value');

  const input = new Map([['zookeeper.skipACL', 'yes']]);
  const c = loadConfig('dataDir=/d\nskipACL=no\nfoo.bar=1', input, BASE);
  t.same([...input], [['zookeeper.skipACL', 'yes']], 'the caller map is not modified');
  t.equal(c.systemProps.get('zookeeper.skipACL'), 'no');
  t.equal(c.systemProps.get('zookeeper.foo.bar'), '1', 'unknown keys become zookeeper.* properties');
});

t.test('unknown keys', async (t) => {
  const c = load('foo=1\nsnapshot.compression.method=gz\n4lw.commands.whitelist=*\nsuperUser.3=x\nserver.1=h:1:2\nversion=100');
  t.same(c.unknownKeys, ['foo', 'snapshot.compression.method']);
  t.equal(c.systemProps.get('zookeeper.snapshot.compression.method'), 'gz');
  t.equal(c.systemProps.has('zookeeper.server.1'), false);
});

// ---------------------------------------------------------------------------------------------

t.test('lenient system properties fall back to the default with a warning', async (t) => {
  const cases: Array<[Record<string, string>, keyof ServerConfig, unknown, RegExp]> = [
    [{ 'zookeeper.snapCount': 'lots' }, 'snapCount', 100000, /zookeeper\.snapCount: "lots" is not a valid integer/],
    [{ 'jute.maxbuffer': '1M' }, 'juteMaxBufferBytes', 0xfffff, /jute\.maxbuffer/],
    [{ 'jute.maxbuffer': '08' }, 'juteMaxBufferBytes', 0xfffff, /jute\.maxbuffer/],
    [{ 'jute.maxbuffer': '4294967296' }, 'juteMaxBufferBytes', 0xfffff, /jute\.maxbuffer/],
    [{ 'zookeeper.admin.serverPort': ' 8081' }, 'adminServerPort', 8080, /admin\.serverPort/],
    [{ 'zookeeper.preAllocSize': '64M' }, 'preAllocSizeKb', 65536, /preAllocSize/],
    [{ 'zookeeper.enforceQuota': 'yes' }, 'enforceQuota', false, /enforceQuota: "yes" is not 'true' or 'false'/],
    [{ 'zookeeper.skipACL': 'true' }, 'skipACL', false, /skipACL: "true" is neither "yes" nor "no"/],
    [{ 'zookeeper.admin.enableServer': 'off' }, 'adminEnableServer', true, /admin\.enableServer/],
    [{ 'zookeeper.snapCount': '1' }, 'snapCount', 2, /below 2/],
    [{ 'zookeeper.snapshotSizeFactor': 'third' }, 'snapshotSizeFactor', 0.33, /snapshotSizeFactor: "third" is not a number/],
    [{ 'zookeeper.snapshotSizeFactor': '1.5' }, 'snapshotSizeFactor', 0.33, /snapshotSizeFactor: 1.5 is above 1/],
    [{ 'zookeeper.commitLogCount': '100' }, 'commitLogCount', 500, /commitLogCount: 100 is less than 500/],
  ];
  const sync = load('clientPort=1\nsnapshotSizeFactor=-1\ncommitLogCount=2000\nforceSnapshotSync=true');
  t.same([sync.snapshotSizeFactor, sync.commitLogCount, sync.forceSnapshotSync, sync.warnings], [-1, 2000, true, []], 'learner sync knobs from zoo.cfg');
  t.match(load('clientPort=1\nsyncEnabled=false').warnings, [/syncEnabled: false is not implemented/], 'syncEnabled=false is warned about');
  for (const [sys, field, expected, warning] of cases) {
    const c = load('clientPort=1', sys);
    t.same(c[field], expected, `${JSON.stringify(sys)} -> ${field}`);
    t.match(c.warnings, [warning], `${JSON.stringify(sys)} warns`);
  }
  t.match(load('clientPort=1\nautopurge.snapRetainCount=2').warnings, [/autopurge\.snapRetainCount: 2 is below the minimum/]);
});

t.test('errors name the key and the reason', async (t) => {
  const cases: Array<[string, string, Record<string, string>, string, RegExp]> = [
    ['no dataDir', 'clientPort=2181', {}, 'dataDir', /dataDir is not set/],
    ['empty dataDir', 'dataDir=', {}, 'dataDir', /is empty/],
    ['empty dataLogDir', 'dataDir=/d\ndataLogDir=', {}, 'dataLogDir', /is empty/],
    ['non-numeric clientPort', 'dataDir=/d\nclientPort=abc', {}, 'clientPort', /"abc" is not an integer/],
    ['empty clientPort', 'dataDir=/d\nclientPort=', {}, 'clientPort', /"" is not an integer/],
    ['hex clientPort', 'dataDir=/d\nclientPort=0x10', {}, 'clientPort', /not an integer/],
    ['clientPort too large', 'dataDir=/d\nclientPort=65536', {}, 'clientPort', /port out of range: 65536/],
    ['negative clientPort', 'dataDir=/d\nclientPort=-1', {}, 'clientPort', /port out of range: -1/],
    ['secureClientPort too large', 'dataDir=/d\nsecureClientPort=70000', {}, 'secureClientPort', /port out of range/],
    ['observerMasterPort too large', 'dataDir=/d\nobserverMasterPort=70000', {}, 'observerMasterPort', /port out of range/],
    ['int overflow', 'dataDir=/d\nmaxClientCnxns=2147483648', {}, 'maxClientCnxns', /out of range for a 32-bit integer/],
    ['float', 'dataDir=/d\ntickTime=2.5', {}, 'tickTime', /"2.5" is not an integer/],
    ['tickTime zero', 'dataDir=/d\ntickTime=0', {}, 'tickTime', /tickTime is not set/],
    ['tickTime negative', 'dataDir=/d\ntickTime=-5', {}, 'tickTime', /must be positive/],
    ['min > max', 'dataDir=/d\nminSessionTimeout=10000\nmaxSessionTimeout=5000', {}, 'minSessionTimeout', /must not be larger than maxSessionTimeout/],
    ['min > default max', 'dataDir=/d\ntickTime=1000\nminSessionTimeout=30000', {}, 'minSessionTimeout', /\(30000\).*\(20000\)/],
    ['invalid boolean', 'dataDir=/d\nstandaloneEnabled=yes', {}, 'standaloneEnabled', /invalid option "yes", choose 'true' or 'false'/],
    ['invalid boolean 2', 'dataDir=/d\nlocalSessionsEnabled=1', {}, 'localSessionsEnabled', /invalid option/],
    ['invalid boolean 3', 'dataDir=/d\nsslQuorum=', {}, 'sslQuorum', /invalid option ""/],
    ['bad peerType', 'dataDir=/d\npeerType=leader', {}, 'peerType', /unrecognised peer type: leader/],
    ['electionAlg', 'dataDir=/d\nelectionAlg=1', {}, 'electionAlg', /only 3 is supported/],
    ['electionAlg not a number', 'dataDir=/d\nelectionAlg=fast', {}, 'electionAlg', /not an integer/],
    ['jvm pause threshold', 'dataDir=/d\njvm.pause.warn-threshold.ms=soon', {}, 'jvm.pause.warn-threshold.ms', /not an integer/],
    ['clientPortAddress without clientPort', 'dataDir=/d\nclientPortAddress=127.0.0.1', {}, 'clientPortAddress', /clientPortAddress is set but clientPort is not set/],
    ['secureClientPortAddress without port', 'dataDir=/d\nsecureClientPortAddress=127.0.0.1', {}, 'secureClientPortAddress', /secureClientPortAddress is set but secureClientPort is not set/],
    ['sasl server without enable', 'dataDir=/d\nquorum.auth.serverRequireSasl=true\nquorum.auth.learnerRequireSasl=true', {}, 'quorum.auth.serverRequireSasl', /quorum\.auth\.enableSasl is disabled/],
    ['sasl learner without enable', 'dataDir=/d\nquorum.auth.learnerRequireSasl=true', {}, 'quorum.auth.learnerRequireSasl', /quorum\.auth\.enableSasl is disabled/],
    ['sasl server without learner', 'dataDir=/d\nquorum.auth.enableSasl=true\nquorum.auth.serverRequireSasl=true', {}, 'quorum.auth.serverRequireSasl', /quorum\.auth\.learnerRequireSasl is disabled/],
    ['ssl scheme without provider', 'dataDir=/d\nsecureClientPort=2281\nssl.authProvider=mine', {}, 'ssl.authProvider', /no auth provider configured for the SSL authentication scheme 'mine'/],
    ['metrics http port', 'dataDir=/d\nmetricsProvider.httpPort=x', {}, 'metricsProvider.httpPort', /not an integer/],
    ['server line in static cfg with dynamic file', 'dataDir=/d\ndynamicConfigFile=/x\nserver.1=h:1:2', {}, 'server.1', /must be in a separate dynamic config file/],
    ['standalone disabled, no servers', 'dataDir=/d\nstandaloneEnabled=false', {}, 'standaloneEnabled', /number of participants must be > 0/],
    ['observers only', 'dataDir=/d\nserver.1=h:1:2:observer', {}, 'server', /observers without participants/],
    ['one participant plus observer', 'dataDir=/d\nserver.1=h:1:2\nserver.2=h:3:4:observer', {}, 'server', /observers without a quorum/],
    ['distributed without initLimit', 'dataDir=/d\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2', {}, 'initLimit', /initLimit is not set/],
    ['distributed without syncLimit', 'dataDir=/d\ninitLimit=2\nserver.1=a:1:2\nserver.2=b:1:2', {}, 'syncLimit', /syncLimit is not set/],
    ['distributed without myid', 'dataDir=/d\ninitLimit=2\nsyncLimit=2\nserver.1=a:1:2\nserver.2=b:1:2', {}, 'myid', /myid file is missing/],
    ['hierarchical: server not in a group', 'dataDir=/d\nserver.1=a:1:2\nserver.2=b:1:2\ngroup.1=1', {}, 'server.2', /server 2 is not in a group/],
    ['hierarchical: server in two groups', 'dataDir=/d\ngroup.1=1:2\ngroup.2=2:3', {}, 'group.2', /server 2 is in multiple groups/],
    ['hierarchical: bad weight', 'dataDir=/d\nweight.1=heavy', {}, 'weight.1', /not an integer/],
    ['bad version', 'dataDir=/d\nversion=xyz', {}, 'version', /not a hex number/],
    ['bad unicode escape', 'dataDir=/d\nclientPort=\\u21', {}, 'clientPort', /malformed/],
  ];
  for (const [name, cfg, sys, key, reason] of cases) {
    expectConfigError(t, () => loadConfig(cfg, new Map(Object.entries(sys)), BASE), key, reason, name);
  }
});

// ---------------------------------------------------------------------------------------------

t.test('server.N lines', async (t) => {
  // Two more participants keep every tested line valid as an ensemble member.
  const dir = tmpDir(t, '8');
  const others = 'initLimit=1\nsyncLimit=1\nserver.8=x:1:2\nserver.9=y:1:2\n';
  const withLine = (value: string, extra = '') => load(`${others}${extra}server.1=${value}`, {}, dir);
  const ok: Array<[string, string, object]> = [
    ['host:port:port', 'zk1:2888:3888', { host: 'zk1', quorumPort: 2888, electionPort: 3888, role: 'participant' }],
    ['observer', 'zk1:2888:3888:observer', { role: 'observer' }],
    ['explicit participant', 'zk1:2888:3888:participant', { role: 'participant' }],
    ['role case-insensitive', 'zk1:2888:3888:OBSERVER', { role: 'observer' }],
    ['client port', 'zk1:2888:3888;2181', { clientPort: 2181, clientPortAddress: undefined }],
    ['client host:port', 'zk1:2888:3888;10.0.0.1:2181', { clientPort: 2181, clientPortAddress: '10.0.0.1' }],
    ['role and client', 'zk1:2888:3888:observer;0.0.0.0:2181', { role: 'observer', clientPort: 2181, clientPortAddress: '0.0.0.0' }],
    ['ipv6', '[2001:db8::1]:2888:3888', { host: '2001:db8::1', quorumPort: 2888, electionPort: 3888 }],
    ['ipv6 client', '[::1]:2888:3888;[::1]:2181', { host: '::1', clientPort: 2181, clientPortAddress: '::1' }],
    ['trailing colon ignored', 'zk1:2888:3888:', { host: 'zk1', role: 'participant' }],
    ['trailing whitespace', 'zk1:2888:3888   ', { electionPort: 3888 }],
  ];
  for (const [name, value, expected] of ok) {
    const s = withLine(value).servers.get(1);
    t.ok(s, name);
    t.match(s, expected, name);
    for (const [k, v] of Object.entries(expected)) if (v === undefined) t.notOk(k in (s as object), `${name}: ${k} absent`);
  }

  const multi = withLine('a1:2888:3888|a2:2889:3889', 'multiAddress.enabled=true\n').servers.get(1);
  t.same(multi?.addresses, [
    { host: 'a1', quorumPort: 2888, electionPort: 3888 },
    { host: 'a2', quorumPort: 2889, electionPort: 3889 },
  ]);
  t.equal(multi?.host, 'a1');
  t.ok(load('server.1=a1:2888:3888|a2:2889:3889', { 'zookeeper.multiAddress.enabled': 'true' }).servers.get(1));

  const bad: Array<[string, string, RegExp]> = [
    ['missing election port', 'zk1:2888', /does not have the form/],
    ['too many parts', 'zk1:1:2:observer:x', /does not have the form/],
    ['two semicolons', 'zk1:1:2;3;4', /does not have the form/],
    ['client with too many parts', 'zk1:1:2;a:b:3', /does not have the form/],
    ['non-numeric quorum port', 'zk1:abc:3888', /address unresolved: zk1:abc/],
    ['non-numeric election port', 'zk1:2888:x', /address unresolved: zk1:x/],
    ['non-numeric client port', 'zk1:2888:3888;x', /address unresolved: 0\.0\.0\.0:x/],
    ['port out of range', 'zk1:70000:3888', /port out of range: 70000/],
    ['same ports', 'zk1:2888:2888', /quorum and election port must be different/],
    ['bad role', 'zk1:2888:3888:voter', /unrecognised peer type: voter/],
    ['unterminated ipv6', '[::1:2888:3888', /has no matching/],
    ['ipv6 without port', '[::1]', /does not have the form/],
    ['ipv6 with trailing colon only', '[::1]:', /doesn't have a port after colon/],
    ['multi address disabled', 'a:1:2|b:3:4', /multiple address feature is disabled/],
    ['empty', '', /does not have the form/],
  ];
  for (const [name, value, reason] of bad) {
    expectConfigError(t, () => withLine(value), 'server.1', reason, name);
  }
  expectConfigError(t, () => load('server.x=a:1:2'), 'server.x', /"x" is not a valid id/);
  expectConfigError(
    t,
    () => withLine('a:1:2:observer|b:3:4:participant', 'multiAddress.enabled=true\n'),
    'server.1',
    /similar roles/,
  );
});

t.test('quorum: myid, distributed mode, client port from the server list', async (t) => {
  const dir = tmpDir(t, '2\n');
  const ensemble = 'initLimit=10\nsyncLimit=5\nserver.1=a:2888:3888;2181\nserver.2=b:2888:3888;127.0.0.1:2182\nserver.3=c:2888:3888:observer';
  const c = load(ensemble, {}, dir);
  t.equal(c.serverId, 2);
  t.equal(c.distributed, true);
  t.equal(c.clientPort, 2182, 'clientPort comes from server.2');
  t.equal(c.clientPortAddress, '127.0.0.1');
  t.equal(c.servers.size, 3);
  t.equal(c.servers.get(3)?.role, 'observer');
  t.match(c.warnings, [/no server failure will be tolerated/]);

  t.equal(load(`${ensemble}\nclientPort=2182`, {}, dir).clientPort, 2182, 'matching static port is fine');
  expectConfigError(t, () => load(`${ensemble}\nclientPort=2999`, {}, dir), 'clientPort', /differs from the one in server\.2/);
  expectConfigError(
    t,
    () => load(`${ensemble}\nclientPort=2182\nclientPortAddress=10.1.1.1`, {}, dir),
    'clientPort',
    /differs/,
  );

  const me1 = tmpDir(t, '1');
  const c1 = load(`${ensemble}\nclientPort=2181\nclientPortAddress=0.0.0.0`, {}, me1);
  t.equal(c1.clientPort, 2181, 'wildcard static address only has to match the port');

  const observer = tmpDir(t, '3');
  const co = load(ensemble + '\nclientPort=2183', {}, observer);
  t.equal(co.peerType, 'observer', 'peerType follows the server list');
  t.equal(co.clientPort, 2183, 'static clientPort when the server line has none');
  const mismatch = load(`${ensemble}\npeerType=observer`, {}, dir);
  t.equal(mismatch.peerType, 'participant');
  t.ok(mismatch.warnings.some((w) => /peerType observer does not match the server list/.test(w)));

  t.equal(load('initLimit=1\nsyncLimit=1\nserver.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\nserver.4=d:1:2', {}, dir).warnings.some((w) => /odd number/.test(w)), true);

  // one participant with standaloneEnabled (the default) runs standalone
  const single = load('server.1=a:2888:3888;2181', {}, tmpDir(t, '1'));
  t.equal(single.distributed, false);
  t.equal(single.clientPort, 2181);
  t.match(single.warnings, [/only one server specified/]);

  const lone = load('standaloneEnabled=false\ninitLimit=5\nsyncLimit=2\nserver.1=a:2888:3888;2181', {}, tmpDir(t, '1'));
  t.equal(lone.distributed, true, 'standaloneEnabled=false makes a single server replicated');

  // TLS between members needs the ssl.quorum.* key store (ignored standalone, as ZooKeeper does);
  // quorum SASL needs its JAAS sections (test/quorum/quorumauth.test.ts has the rest).
  const pair = 'initLimit=5\nsyncLimit=2\nserver.1=a:2888:3888\nserver.2=b:2888:3888';
  expectConfigError(t, () => load(`${pair}\nquorum.auth.enableSasl=true`, {}, tmpDir(t, '1')), 'java.security.auth.login.config', /needs a JAAS file/);
  expectConfigError(t, () => load(`${pair}\nsslQuorum=true`, {}, tmpDir(t, '1')), 'zookeeper.ssl.quorum.keyStore.location', /a key store is required/);
  const tlsPair = load(`${pair}\nsslQuorum=true\n${KEY_STORE.replace('ssl.', 'ssl.quorum.')}\nsslQuorumReloadCertFiles=true`, {}, tmpDir(t, '1'));
  t.ok(tlsPair.quorumTls, 'sslQuorum with its key store: the stores are opened');
  t.equal(tlsPair.sslQuorumReloadCertFiles, true);
  t.ok(load(`${pair}\nportUnification=true\n${KEY_STORE.replace('ssl.', 'ssl.quorum.')}`, {}, tmpDir(t, '1')).quorumTls, 'portUnification alone opens them too');
  t.equal(load('clientPort=1\nsslQuorum=true\nquorum.auth.enableSasl=true').distributed, false, 'standalone takes them');

  expectConfigError(t, () => load('', {}, tmpDir(t, 'one')), 'myid', /serverid "one" is not a number/);
  expectConfigError(t, () => load('', {}, tmpDir(t, '')), 'myid', /serverid "" is not a number/);

  const big = tmpDir(t, '300');
  const bigEnsemble = 'initLimit=1\nsyncLimit=1\nserver.300=a:1:2\nserver.2=b:1:2';
  t.equal(load(bigEnsemble, {}, big).serverId, 300);
  expectConfigError(
    t,
    () => load(bigEnsemble, { 'zookeeper.extendedTypesEnabled': 'true' }, big),
    'zookeeper.extendedTypesEnabled',
    /larger than 254/,
  );
});

t.test('hierarchical quorums', async (t) => {
  const c = load('initLimit=1\nsyncLimit=1\nserver.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\ngroup.1=1:2\ngroup.2=3\nweight.1=2', {}, tmpDir(t, '1'));
  t.same([...c.groups], [[1, [1, 2]], [2, [3]]]);
  t.same([...c.weights].sort(), [[1, 2], [2, 1], [3, 1]]);
});

t.test('dynamic config file', async (t) => {
  const dir = tmpDir(t, '1');
  const dyn = path.join(dir, 'zoo.cfg.dynamic.100000000');
  fs.writeFileSync(dyn, 'server.1=a:2888:3888:participant;0.0.0.0:2181\nserver.2=b:2888:3888;2182\nserver.3=c:2888:3888;2183\n');
  const c = load(`initLimit=5\nsyncLimit=2\ndynamicConfigFile=${dyn}`, {}, dir);
  t.equal(c.dynamicConfigFile, dyn);
  t.equal(c.dynamicConfigVersion, '100000000');
  t.equal(c.servers.size, 3);
  t.equal(c.clientPort, 2181);
  t.equal(c.distributed, true);

  const rel = loadConfig(`dataDir=${dir}\ninitLimit=5\nsyncLimit=2\ndynamicConfigFile=zoo.cfg.dynamic.100000000`, new Map(), dir);
  t.equal(rel.dynamicConfigFile, dyn, 'relative to baseDir');

  const noVersion = path.join(dir, 'dyn');
  fs.writeFileSync(noVersion, 'server.1=a:1:2\n');
  t.equal(load(`dynamicConfigFile=${noVersion}`, {}, dir).dynamicConfigVersion, undefined);

  const withVersion = path.join(dir, 'zoo.cfg.dynamic.5');
  fs.writeFileSync(withVersion, 'server.1=a:1:2\nversion=5\n');
  expectConfigError(t, () => load(`dynamicConfigFile=${withVersion}`, {}, dir), 'dynamicConfigFile', /must not contain 'version'/);

  const stray = path.join(dir, 'zoo.cfg.dynamic.6');
  fs.writeFileSync(stray, 'server.1=a:1:2\ntickTime=5\n');
  expectConfigError(t, () => load(`dynamicConfigFile=${stray}`, {}, dir), 'dynamicConfigFile', /unrecognised parameter: tickTime/);

  expectConfigError(t, () => load(`dynamicConfigFile=${path.join(dir, 'missing')}`, {}, dir), 'dynamicConfigFile', /cannot read/);

  const inline = load('server.1=a:1:2\nversion=1F');
  t.equal(inline.dynamicConfigVersion, '1f', 'version in the static file (backward-compatible layout)');
});

t.test('TLS client port registers the x509 auth provider', async (t) => {
  const c = load(`secureClientPort=2281\n${KEY_STORE}`);
  t.equal(c.secureClientPort, 2281);
  t.equal(c.clientPort, undefined);
  t.same(c.authProviders, ['org.apache.zookeeper.server.auth.X509AuthenticationProvider']);
  t.equal(c.systemProps.get('zookeeper.authProvider.x509'), 'org.apache.zookeeper.server.auth.X509AuthenticationProvider');
  t.same(c.warnings, []);

  const custom = load(`secureClientPort=2281\nssl.authProvider=mine\nauthProvider.mine=com.example.Mine\n${KEY_STORE}`);
  t.same(custom.authProviders, ['com.example.Mine']);
  t.same(load(`secureClientPort=2281\n${KEY_STORE}`, { 'zookeeper.authProvider.x509': 'com.example.X' }).authProviders, ['com.example.X']);
  t.ok(c.clientTls, 'the key store is opened at start');
  t.throws(() => load('secureClientPort=2281'), /zookeeper\.ssl\.keyStore\.location: a key store is required for a TLS server/, 'no key store: refused');
});

t.test('paths resolve against baseDir', async (t) => {
  const c = loadConfig('dataDir=data\ndataLogDir=../logs', new Map(), '/srv/zk/conf');
  t.equal(c.dataDir, '/srv/zk/conf/data');
  t.equal(c.dataLogDir, '/srv/zk/logs');
  t.equal(loadConfig('dataDir=/abs', new Map(), '/srv').dataDir, '/abs');
});

t.test('a realistic zoo.cfg', async (t) => {
  const cfg = [
    '# The number of milliseconds of each tick',
    'tickTime = 2000',
    'initLimit=10',
    'syncLimit: 5',
    `dataDir  ${DATA}   `,
    'clientPort=2181',
    '#maxClientCnxns=60',
    'autopurge.snapRetainCount=3',
    'autopurge.purgeInterval=1',
    '4lw.commands.whitelist=mntr,\\',
    '    conf, ruok',
    'admin.enableServer=false',
    'metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider',
    'metricsProvider.httpPort=7000',
    'metricsProvider.exportJvmInfo=true',
    '',
  ].join('\n');
  const c = loadConfig(cfg, new Map([['zookeeper.DigestAuthenticationProvider.superDigest', 'super:D/InIHSb7yEEbrWz8b9l71RjZJU=']]), BASE);
  t.equal(c.tickTimeMs, 2000);
  t.equal(c.initLimitTicks, 10);
  t.equal(c.syncLimitTicks, 5);
  t.equal(c.dataDir, DATA, 'trailing whitespace trimmed');
  t.equal(c.clientPort, 2181);
  t.equal(c.maxClientCnxns, 60);
  t.equal(c.autopurgePurgeIntervalHours, 1);
  t.same([...(c.fourLetterWordWhitelist as Set<string>)].sort(), ['conf', 'mntr', 'ruok', 'srvr']);
  t.equal(c.adminEnableServer, false);
  t.equal(c.metricsProviderClassName, 'org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider');
  t.same([...c.metricsProviderConfig], [['httpPort', '7000'], ['exportJvmInfo', 'true']]);
  t.equal(c.superDigest, 'super:D/InIHSb7yEEbrWz8b9l71RjZJU=');
  t.same(c.unknownKeys, []);
  t.same(c.warnings, []);
});

// ---------------------------------------------------------------------------------------------

t.test('parseSystemPropertyArgs', async (t) => {
  const cases: Array<[string, string[], Array<[string, string]>, string[]]> = [
    ['none', ['server', 'zoo.cfg'], [], ['server', 'zoo.cfg']],
    ['mixed', ['-Da=1', 'server', '-Db.c=x=y', 'zoo.cfg'], [['a', '1'], ['b.c', 'x=y']], ['server', 'zoo.cfg']],
    ['no value', ['-Dflag'], [['flag', '']], []],
    ['empty value', ['-Dflag='], [['flag', '']], []],
    ['last wins', ['-Da=1', '-Da=2'], [['a', '2']], []],
    ['value keeps spaces', ['-Da= x '], [['a', ' x ']], []],
    ['other dash options untouched', ['-v', '--port', '1', '-d'], [], ['-v', '--port', '1', '-d']],
    ['stops at --', ['-Da=1', '--', '-Db=2', 'x'], [['a', '1']], ['--', '-Db=2', 'x']],
    ['empty argv', [], [], []],
  ];
  for (const [name, argv, props, rest] of cases) {
    const got = parseSystemPropertyArgs(argv);
    t.same([...got.props], props, `${name}: props`);
    t.same(got.rest, rest, `${name}: rest`);
  }
  expectConfigError(t, () => parseSystemPropertyArgs(['-D']), '-D', /missing property name/);
  expectConfigError(t, () => parseSystemPropertyArgs(['-D=1']), '-D=1', /missing property name/);

  const { props } = parseSystemPropertyArgs(['-Dzookeeper.4lw.commands.whitelist=*', '-Djute.maxbuffer=0x200000']);
  const c = loadConfig(undefined, props, BASE);
  t.equal(c.fourLetterWordWhitelist, '*');
  t.equal(c.juteMaxBufferBytes, 0x200000);
});

t.test('ConfigError', async (t) => {
  const e = new ConfigError('clientPort', 'port out of range: 70000');
  t.ok(e instanceof Error);
  t.equal(e.name, 'ConfigError');
  t.equal(e.key, 'clientPort');
  t.equal(e.reason, 'port out of range: 70000');
  t.equal(e.message, 'invalid config: clientPort: port out of range: 70000');
});

t.test('zkts.cnxn.outputSoftLimitBytes and outputHardLimitBytes', async (t) => {
  let c = load('');
  t.equal(c.outputSoftLimitBytes, 1024 * 1024, 'soft: one default jute.maxbuffer');
  t.equal(c.outputHardLimitBytes, 8 * 1024 * 1024, 'hard: 8 MiB');
  c = load('', { 'jute.maxbuffer': String(4 * 1024 * 1024) });
  t.equal(c.outputHardLimitBytes, 1024 * 1024 + 16 * 1024 * 1024, 'hard grows with jute.maxbuffer: soft + 4 maximal replies');
  c = load('zkts.cnxn.outputSoftLimitBytes=65536\nzkts.cnxn.outputHardLimitBytes=0x100000\n');
  t.same([c.outputSoftLimitBytes, c.outputHardLimitBytes], [65536, 1048576], 'from zoo.cfg');
  t.notOk(c.unknownKeys.some((k) => k.startsWith('zkts.')), 'known keys');
  c = load('', { 'zkts.cnxn.outputSoftLimitBytes': '100000', 'zkts.cnxn.outputHardLimitBytes': '200000' });
  t.same([c.outputSoftLimitBytes, c.outputHardLimitBytes], [100000, 200000], 'from -D');
  c = load('zkts.cnxn.outputSoftLimitBytes=300000\n', { 'zkts.cnxn.outputSoftLimitBytes': '100000' });
  t.equal(c.outputSoftLimitBytes, 300000, 'zoo.cfg wins over -D, as for every zookeeper.* property');
  c = load('', { 'zkts.cnxn.outputSoftLimitBytes': String(20 * 1024 * 1024) });
  t.ok(c.outputHardLimitBytes > c.outputSoftLimitBytes, 'the default hard bound stays above a large soft bound');

  const soft = 'zkts.cnxn.outputSoftLimitBytes';
  const hard = 'zkts.cnxn.outputHardLimitBytes';
  expectConfigError(t, () => load('', { [soft]: 'lots' }), soft, /"lots" is not an integer/);
  expectConfigError(t, () => load(`${hard}=1.5\n`), hard, /"1.5" is not an integer/);
  expectConfigError(t, () => load('', { [soft]: '0' }), soft, /0 must be positive/);
  expectConfigError(t, () => load('', { [hard]: '-5' }), hard, /-5 must be positive/);
  expectConfigError(t, () => load('', { [soft]: '2000', [hard]: '2000' }), hard, /hard bound \(2000\) must exceed the soft bound \(2000\)/);
  expectConfigError(t, () => load('', { [hard]: '65536' }), hard, /must exceed the soft bound \(1048576\)/, 'hard below the default soft');
});

t.test('zkts.storage.openRetryMs: default 30 s, from zoo.cfg or -D', async (t) => {
  t.equal(loadConfig(`dataDir=${DATA}\n`, new Map(), BASE).storageOpenRetryMs, 30000);
  const fromCfg = loadConfig(`dataDir=${DATA}\nzkts.storage.openRetryMs=5000\n`, new Map(), BASE);
  t.equal(fromCfg.storageOpenRetryMs, 5000);
  t.same(fromCfg.unknownKeys, [], 'a known key');
  t.equal(loadConfig(`dataDir=${DATA}\n`, new Map([['zkts.storage.openRetryMs', '700']]), BASE).storageOpenRetryMs, 700);
});
