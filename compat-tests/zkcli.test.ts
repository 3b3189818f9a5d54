// zkCli (org.apache.zookeeper.ZooKeeperMain) against the reference ZooKeeper and against zkts: the
// same command scripts, the same expectations, and identical normalized transcripts.

import t from 'tap';
import { compareWithReferences, dumpTranscript, startTarget, TARGETS, TargetName } from './util/harness';
import { cliTranscript, CliRun, runZkCli } from './util/zkcli';
import { compareEnsembleTranscripts, ENSEMBLE_TARGETS, standaloneZxidHex, startEnsembleTarget, type EnsembleTargetName } from './util/ensembles';
import { expectSteps, Expected } from './util/expect';
import { ALICE, SESSION_1, SESSION_2 } from './zkcli/scenario';

const SERVER_OPTIONS = { systemProps: { 'zookeeper.extendedTypesEnabled': 'true' } };

const STAT_FIELDS = [
  'cZxid',
  'ctime',
  'mZxid',
  'mtime',
  'pZxid',
  'cversion',
  'dataVersion',
  'aclVersion',
  'ephemeralOwner',
  'dataLength',
  'numChildren',
];

function stat(s: Record<string, string>): string[] {
  return STAT_FIELDS.map((f) => `${f} = ${f.endsWith('time') ? '<time>' : s[f]}`);
}

function plainStat(
  czxid: string,
  mzxid: string,
  pzxid: string,
  cversion: number,
  dataVersion: number,
  aclVersion: number,
  dataLength: number,
  numChildren: number,
  ephemeralOwner = '0x0',
): string[] {
  return stat({
    cZxid: czxid,
    mZxid: mzxid,
    pZxid: pzxid,
    cversion: String(cversion),
    dataVersion: String(dataVersion),
    aclVersion: String(aclVersion),
    ephemeralOwner,
    dataLength: String(dataLength),
    numChildren: String(numChildren),
  });
}

const SESSION_1_EXPECT: ReadonlyArray<readonly [string, Expected]> = [
  ['create /app hello', ['Created /app']],
  ['create -s /app/seq- s', ['Created /app/seq-0000000002']],
  ['create -s /app/seq- s2', ['Created /app/seq-0000000003']],
  ['create -e -s /app/eseq- es', ['Created /app/eseq-0000000004']],
  ['create -c /cont', ['Created /cont']],
  ['create -t 600000 /ttl t', ['Created /ttl']],
  ['create -e /app/eph again', ['Node already exists: /app/eph']],
  ['create /app already', ['Node already exists: /app']],
  ['create /missing/child x', ['Node does not exist: /missing/child']],
  ['get /app', ['hello']],
  ['get -s /app', ['hello', ...plainStat('0x2', '0x2', '0xe', 6, 0, 0, 5, 6)]],
  ['get /app/empty', ['null']],
  ['get /nonexist', ['Node does not exist: /nonexist']],
  ['set /app world', []],
  ['set -s /app world2', plainStat('0x2', '0x10', '0xe', 6, 2, 0, 6, 6)],
  ['set -v 7 /app bad', ['version No is not valid : /app']],
  // The failed set above consumed zxid 0x11.
  ['set -s -v 2 /app again', plainStat('0x2', '0x12', '0xe', 6, 3, 0, 5, 6)],
  ['stat /app/eph', plainStat('0x4', '0x4', '0x4', 0, 0, 0, 1, 0, '<session>')],
  ['stat /cont', plainStat('0x8', '0x8', '0x9', 1, 0, 0, 0, 1)],
  ['stat /ttl', plainStat('0xa', '0xa', '0xa', 0, 0, 0, 1, 0)],
  ['stat /nonexist', ['Node does not exist: /nonexist']],
  ['ls /', ['[app, cont, ttl, zookeeper]']],
  ['ls /app', ['[empty, eph, eseq-0000000004, p1, seq-0000000002, seq-0000000003]']],
  [
    'ls -R /app',
    [
      '/app',
      '/app/empty',
      '/app/eph',
      '/app/eseq-0000000004',
      '/app/p1',
      '/app/seq-0000000002',
      '/app/seq-0000000003',
    ],
  ],
  ['getEphemerals', ['[/app/eseq-0000000004, /app/eph]']],
  ['getEphemerals /cont', ['[]']],
  ['getAllChildrenNumber /', ['13']],
  ['getAllChildrenNumber /app', ['6']],
  ['getAllChildrenNumber /nonexist', ['Node does not exist: /nonexist']],
  ['sync /app', ['Sync is OK']],
  ['delete /app', ['Node not empty: /app']],
  ['delete -v 5 /app/p1', ['version No is not valid : /app/p1']],
  ['delete -v 0 /app/p1', []],
  ['delete /nonexist', ['Node does not exist: /nonexist']],
  ['whoami', ['Auth scheme: User', 'ip: 127.0.0.1']],
  ['getAcl /app', ["'world,'anyone", ': cdrwa']],
  ['setAcl /secure digest:' + ALICE + ':cdrwa', []],
  ['getAcl /secure', ['Insufficient permission : /secure']],
  ['get /secure', ['Insufficient permission : /secure']],
  ['create /secure/child x', ['Insufficient permission : /secure/child']],
  ['addauth digest alice:wrong', []],
  ['get /secure', ['Insufficient permission : /secure']],
  ['whoami', ['Auth scheme: User', 'digest: alice', 'ip: 127.0.0.1', 'digest: alice']],
  ['get /secure', ['s']],
  ['create /secure/child x', ['Created /secure/child']],
  [
    'getAcl /secure/child',
    ["'digest,'" + ALICE, ': cdrwa', "'digest,'alice:9ussi3jBkbd4no1raUvxHSkUEN8=", ': cdrwa'],
  ],
  ['setAcl -v 9 /secure world:anyone:r', ['version No is not valid : /secure']],
  ['setAcl /app ip:127.0.0.1:rwa', ['Insufficient permission : /app']],
  ['setAcl /nonexist world:anyone:r', ['Node does not exist: /nonexist']],
  ['getAcl /public', ["'world,'anyone", ': r']],
  ['set /public q', ['Insufficient permission : /public']],
  ['getAcl /cont/child', ["'world,'anyone", ': cdra']],
  [
    'listquota /app',
    [
      'absolute path is /zookeeper/quota/app/zookeeper_limits',
      'Output quota for /app count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1',
      'Output stat for /app count=6,bytes=11',
    ],
  ],
  ['setquota -n 2 /nonexist', ['/nonexist does not exist.']],
  ['get /zookeeper/quota/app/zookeeper_stats', ['count=6,bytes=11']],
  ['delquota -n /app', []],
  [
    'listquota /app',
    [
      'absolute path is /zookeeper/quota/app/zookeeper_limits',
      'Output quota for /app count=-1,bytes=100=;byteHardLimit=-1;countHardLimit=-1',
      'Output stat for /app count=6,bytes=11',
    ],
  ],
  ['delquota /app', []],
  [
    'listquota /app',
    ['absolute path is /zookeeper/quota/app/zookeeper_limits', 'quota for /app does not exist.'],
  ],
  ['delquota /app', ['Quota does not exist for /app']],
  ['addWatch /watched', []],
  ['removewatches /watched', []],
  ['removewatches /watched -a', []],
  ['removewatches /watched', ['KeeperErrorCode = No such watcher for /watched']],
  ['ls -w /app', ['[empty, eph, eseq-0000000004, seq-0000000002, seq-0000000003]']],
  ['ls /', ['[app, cont, public, secure, ttl, zookeeper]']],
  ['getAllChildrenNumber /', ['16']],
];

const SESSION_1_EVENTS = [
  'state:SyncConnected type:None path:null',
  'state:SyncConnected type:NodeCreated path:/watched/a',
  'state:SyncConnected type:NodeDataChanged path:/watched/a',
  'state:SyncConnected type:NodeCreated path:/watched/a/b',
  'state:SyncConnected type:NodeDeleted path:/watched/a/b',
  'state:SyncConnected type:NodeDeleted path:/watched/a',
  'state:SyncConnected type:PersistentWatchRemoved path:/watched',
  'state:SyncConnected type:NodeDataChanged path:/watched',
  'state:SyncConnected type:NodeChildrenChanged path:/watched',
  'state:SyncConnected type:PersistentWatchRemoved path:/watched',
  'state:SyncConnected type:NodeDataChanged path:/app',
  'state:SyncConnected type:NodeChildrenChanged path:/app',
  'state:SyncConnected type:NodeCreated path:/later',
  'state:SyncConnected type:DataWatchRemoved path:/later',
  'state:SyncConnected type:NodeDeleted path:/later',
];

const SESSION_2_EXPECT: ReadonlyArray<readonly [string, Expected]> = [
  ['ls /app', ['[empty, new, seq-0000000002, seq-0000000003]']],
  ['getEphemerals', ['[]']],
  ['whoami', ['Auth scheme: User', 'ip: 127.0.0.1']],
  ['get /secure/child', ['Insufficient permission : /secure/child']],
  ['getAllChildrenNumber /', ['14']],
  ['deleteall /app', []],
  ['ls /', ['[cont, public, secure, ttl, zookeeper]']],
  ['stat /', plainStat('0x0', '0x0', '0x42', 9, 0, 0, 0, 5)],
];

const transcripts = new Map<TargetName, string[]>();

for (const target of TARGETS) {
  t.test(`zkCli scenario against ${target}`, async (t) => {
    const server = await startTarget(target, SERVER_OPTIONS);
    t.teardown(() => server.stop());

    const runs: CliRun[] = [];
    runs.push(await runZkCli(server.connectString, SESSION_1));
    runs.push(await runZkCli(server.connectString, SESSION_2));
    const [s1, s2] = runs;

    t.equal(s1.exitCode, 0, 'session 1 exits with 0');
    t.strictSame(s1.header, ['Connecting to <server>', 'Welcome to ZooKeeper!', 'JLine support is disabled']);
    expectSteps(t, `${target} session 1`, s1.steps, SESSION_1_EXPECT);
    t.strictSame(s1.events, SESSION_1_EVENTS, `${target} session 1 watch events`);
    t.equal(s2.exitCode, 0, 'session 2 exits with 0');
    expectSteps(t, `${target} session 2`, s2.steps, SESSION_2_EXPECT);
    t.strictSame(
      s2.events,
      ['state:SyncConnected type:None path:null'],
      `${target} session 2 watch events`,
    );

    transcripts.set(target, [
      '# session 1',
      ...cliTranscript(s1),
      '# session 2',
      ...cliTranscript(s2),
    ]);
    dumpTranscript('zkcli', target, transcripts.get(target) ?? []);
  });
}

t.test('zkts transcript is identical to the reference transcripts (3.8.0 and 3.9.5)', async (t) => {
  compareWithReferences(t, transcripts);
});

/** zkCli's zxid lines (`cZxid = 0x100000002`) as a fresh standalone server would print them. */
function withStandaloneZxids(run: CliRun, zxidBase: bigint): CliRun {
  const fix = (l: string): string => l.replace(/^([cmp]Zxid) = (0x[0-9a-f]+)$/, (_m, f: string, z: string) => `${f} = ${standaloneZxidHex(z, zxidBase)}`);
  return { ...run, header: run.header.map(fix), steps: run.steps.map((st) => ({ cmd: st.cmd, out: st.out.map(fix) })) };
}

/** Transcripts by ensemble size (3 and 5 members), then by target. */
const ensembleTranscripts = new Map<number, Map<EnsembleTargetName, string[]>>([
  [3, new Map()],
  [5, new Map()],
]);

// The same two sessions against 3-member and 5-member ensembles, each session given every member (zkCli picks
// one at random). Session 2 starts with `sync /`, so that whichever member it lands on has applied
// session 1's writes and close. zxids carry the leader's epoch; they are compared without it.
for (const [size, target] of [3, 5].flatMap((n) => ENSEMBLE_TARGETS.map((x) => [n, x] as const))) {
  t.test(`zkCli scenario against a ${size}-member ${target}`, async (t) => {
    const ensemble = await startEnsembleTarget(target, SERVER_OPTIONS, size);
    t.teardown(() => ensemble.stop());
    const s1 = withStandaloneZxids(await runZkCli(ensemble.connectString, SESSION_1), ensemble.zxidBase);
    const s2raw = withStandaloneZxids(await runZkCli(ensemble.connectString, ['sync /', ...SESSION_2]), ensemble.zxidBase);
    t.equal(s1.exitCode, 0, 'session 1 exits with 0');
    expectSteps(t, `${target} session 1`, s1.steps, SESSION_1_EXPECT);
    t.strictSame(s1.events, SESSION_1_EVENTS, `${target} session 1 watch events`);
    t.equal(s2raw.exitCode, 0, 'session 2 exits with 0');
    t.strictSame(s2raw.steps[0], { cmd: 'sync /', out: ['Sync is OK'] }, `${target} session 2: sync / first`);
    const s2: CliRun = { ...s2raw, steps: s2raw.steps.slice(1) };
    expectSteps(t, `${target} session 2`, s2.steps, SESSION_2_EXPECT);
    const lines = ['# session 1', ...cliTranscript(s1), '# session 2', ...cliTranscript(s2)];
    ensembleTranscripts.get(size)!.set(target, lines);
    dumpTranscript(`zkcli${size === 3 ? '' : '-5'}`, target, lines);
  });
}

t.test('ensembles of 3 and 5: the ZooKeeper ensemble prints the standalone transcript, the zkts ensemble the same', async (t) => {
  for (const byTarget of ensembleTranscripts.values()) compareEnsembleTranscripts(t, transcripts.get('reference'), byTarget);
});
