// The C client's shell (cli_mt) against the reference ZooKeeper and against zkts: the same command
// sequence, the same expectations, identical normalized transcripts. The shell has no ACL
// commands, so the ACL-protected node is prepared with node-zookeeper-client.

import t from 'tap';
import { createHash } from 'node:crypto';
import * as zookeeper from 'node-zookeeper-client';
import { compareWithReferences, dumpTranscript, startTarget, TARGETS, TargetName } from './util/harness';
import { compareEnsembleTranscripts, ENSEMBLE_TARGETS, standaloneZxidHex, startEnsembleTarget, type EnsembleTargetName } from './util/ensembles';
import { CliMt, cTranscript, CStep } from './util/cclient';
import { expectSteps, Expected } from './util/expect';
import { Ctx, Session } from './util/nzk';

const SERVER_OPTIONS = { systemProps: { 'zookeeper.extendedTypesEnabled': 'true' } };
const ALICE_DIGEST = `alice:${createHash('sha1').update('alice:secret').digest('base64')}`;

const SESSION_1: readonly string[] = [
  'create /c1',
  'create /c1',
  'create +e /c1/eph',
  'create +s /c1/seq-',
  'create +s /c1/seq-',
  'create +es /c1/eseq-',
  'create2 /c2',
  'create2 +e /c2/e',
  'create /nope/x',
  'create +e /c1/eph/child',
  'create +c /cont',
  'create2 +c /cont2',
  'create +t=600000 /ttl',
  'create2 +t=600000 /ttl2',
  'create +e /cont/e',
  'ls2 /cont',
  'get /ttl',
  'get /c1',
  'get /nope',
  'ls /',
  'ls /c1',
  'ls2 /c1',
  'ls /nope',
  'ls2 /nope',
  'exists /c1',
  'exists /nope',
  'wexists /later',
  'create /later',
  'set /c1 hello',
  'get /c1',
  'set /nope x',
  'create /c1/new',
  'delete /c1',
  'delete /c1/new',
  'delete /nope',
  'sync /c1',
  'get /secured',
  'ls /secured',
  'set /secured x',
  'addauth digest alice:secret',
  'get /secured',
  'set /secured changed',
  'create /secured/kid',
  'ls2 /secured',
  'delete /secured/kid',
  'ls2 /',
];

const SESSION_2: readonly string[] = [
  'ls /c1',
  'ls /c2',
  'get /secured',
  'addauth digest alice:wrong',
  'get /secured',
  'delete /later',
  'ls2 /',
];

const STAT_RE = (czxid: string, mzxid: string, version: number, owner = '0'): string[] => [
  '\tctime = <time>',
  `\tczxid=${czxid}`,
  '\tmtime=<time>',
  `\tmzxid=${mzxid}`,
  `\tversion=${version}\taversion=0`,
  `\tephemeralOwner = ${owner}`,
];

const SESSION_1_EXPECT: ReadonlyArray<readonly [string, Expected]> = [
  ['create /c1', ['Creating [/c1] node (mode: 0)', '[/c1]: rc = 0', '\tname = /c1']],
  ['create /c1', ['Creating [/c1] node (mode: 0)', '[/c1]: rc = -110']],
  ['create +e /c1/eph', ['Creating [/c1/eph] node (mode: 1)', '[/c1/eph]: rc = 0', '\tname = /c1/eph']],
  ['create +s /c1/seq-', ['Creating [/c1/seq-] node (mode: 2)', '[/c1/seq-]: rc = 0', '\tname = /c1/seq-0000000001']],
  ['create +s /c1/seq-', /\tname = \/c1\/seq-0000000002$/],
  ['create +es /c1/eseq-', /\(mode: 3\)[\s\S]*\tname = \/c1\/eseq-0000000003$/],
  ['create /nope/x', ['Creating [/nope/x] node (mode: 0)', '[/nope/x]: rc = -101']],
  ['create +e /c1/eph/child', /\[\/c1\/eph\/child\]: rc = -108$/],
  ['create +c /cont', ['Creating [/cont] node (mode: 4)', '[/cont]: rc = 0', '\tname = /cont']],
  ['create +t=600000 /ttl', ['Creating [/ttl] node (mode: 5)', '[/ttl]: rc = 0', '\tname = /ttl']],
  ['ls2 /cont', ['time = <n> msec', '/cont: rc = 0', '\te', 'time = <n> msec', ...STAT_RE('f', 'f', 0)]],
  ['get /ttl', ['time = <n> msec', '/ttl: rc = 0', ' value_len = 3', 'new', 'Stat:', ...STAT_RE('11', '11', 0)]],
  ['get /c1', ['time = <n> msec', '/c1: rc = 0', ' value_len = 3', 'new', 'Stat:', ...STAT_RE('5', '5', 0)]],
  ['get /nope', ['time = <n> msec', '/nope: rc = -101', 'Stat:', 'null']],
  // Children come in the server's order, not sorted.
  [
    'ls /',
    [
      'time = <n> msec',
      '/: rc = 0',
      ...['ttl2', 'zookeeper', 'cont2', 'cont', 'secured', 'ttl', 'c1', 'c2'].map((c) => `\t${c}`),
      'time = <n> msec',
    ],
  ],
  ['ls /nope', ['time = <n> msec', '/nope: rc = -101', 'time = <n> msec']],
  ['exists /c1', []],
  ['exists /nope', ['Error -101 for /nope']],
  ['wexists /later', ['Error -101 for /later']],
  ['create /later', /^Watcher CREATED_EVENT state = CONNECTED_STATE for path \/later$/m],
  ['set /c1 hello', /^Watcher CHANGED_EVENT state = CONNECTED_STATE for path \/c1\n\/c1: rc = 0 Stat:$/m],
  ['get /c1', /^ value_len = 5\nhello$/m],
  ['set /nope x', ['/nope: rc = -101 Stat:', 'null']],
  ['create /c1/new', /^Watcher CHILD_EVENT state = CONNECTED_STATE for path \/c1$/m],
  ['delete /c1', ['/c1: rc = -111']],
  ['delete /c1/new', ['/c1/new: rc = 0']],
  ['delete /nope', ['/nope: rc = -101']],
  ['sync /c1', ['[/c1]: rc = 0', '\tname = /c1']],
  ['get /secured', ['time = <n> msec', '/secured: rc = -102', 'Stat:', 'null']],
  ['set /secured x', ['/secured: rc = -102 Stat:', 'null']],
  ['addauth digest alice:secret', []],
  ['get /secured', /^\/secured: rc = 0\n value_len = 6\nsecret$/m],
  ['set /secured changed', /^\/secured: rc = 0 Stat:$/m],
  ['create /secured/kid', /\[\/secured\/kid\]: rc = 0/],
  ['delete /secured/kid', ['Watcher CHILD_EVENT state = CONNECTED_STATE for path /secured', '/secured/kid: rc = 0']],
];

const SESSION_2_EXPECT: ReadonlyArray<readonly [string, Expected]> = [
  ['ls /c1', ['time = <n> msec', '/c1: rc = 0', '\tseq-0000000002', '\tseq-0000000001', 'time = <n> msec']],
  ['ls /c2', ['time = <n> msec', '/c2: rc = 0', 'time = <n> msec']],
  ['get /secured', /\/secured: rc = -102/],
  ['get /secured', /\/secured: rc = -102/],
  ['delete /later', ['/later: rc = 0']],
];

async function prepare(connectString: string): Promise<void> {
  const ctx = new Ctx();
  const s = await Session.open('setup', ctx, connectString);
  try {
    const acl = [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('digest', ALICE_DIGEST))];
    const result = await s.create('/secured', Buffer.from('secret'), zookeeper.CreateMode.PERSISTENT, acl);
    if (result !== 'create /secured mode=0 -> /secured') throw new Error(`setup failed: ${result}`);
  } finally {
    s.close();
  }
}

async function runSession(connectString: string, commands: readonly string[]): Promise<{ header: string[]; steps: CStep[] }> {
  const cli = await CliMt.start(connectString);
  try {
    for (const cmd of commands) await cli.run(cmd);
    await cli.quit();
  } finally {
    cli.kill();
  }
  return { header: cli.header, steps: cli.steps };
}

const transcripts = new Map<TargetName, string[]>();

for (const target of TARGETS) {
  t.test(`cli_mt scenario against ${target}`, async (t) => {
    const server = await startTarget(target, SERVER_OPTIONS);
    t.teardown(() => server.stop());
    await prepare(server.connectString);

    const s1 = await runSession(server.connectString, SESSION_1);
    const s2 = await runSession(server.connectString, SESSION_2);
    const lines = ['# session 1', ...cTranscript(s1.header, s1.steps), '# session 2', ...cTranscript(s2.header, s2.steps)];
    transcripts.set(target, lines);
    dumpTranscript('cclient', target, lines);

    t.strictSame(
      s1.header,
      ['Watcher SESSION_EVENT state = CONNECTED_STATE', 'Got a new session id: <session>'],
      `${target}: connect`,
    );
    expectSteps(t, `${target} session 1`, s1.steps, SESSION_1_EXPECT);
    t.strictSame(s1.steps[s1.steps.length - 1], { cmd: 'quit', out: ['Quitting...', 'exit 0'] }, `${target}: quit`);
    expectSteps(t, `${target} session 2`, s2.steps, SESSION_2_EXPECT);
  });
}

t.test('zkts transcript is identical to the reference transcripts (3.8.0 and 3.9.5)', async (t) => {
  compareWithReferences(t, transcripts);
});

/** cli_mt's zxid lines (`\tczxid=100000005`, hex) as a fresh standalone server would print them. */
function withStandaloneZxids(steps: readonly CStep[], zxidBase: bigint): CStep[] {
  const fix = (l: string): string => l.replace(/^\t([cm])zxid=([0-9a-f]+)$/, (_m, f: string, z: string) => `\t${f}zxid=${standaloneZxidHex(z, zxidBase, '')}`);
  return steps.map((st) => ({ cmd: st.cmd, out: st.out.map(fix) }));
}

/** Transcripts by ensemble size (3 and 5 members), then by target. */
const ensembleTranscripts = new Map<number, Map<EnsembleTargetName, string[]>>([
  [3, new Map()],
  [5, new Map()],
]);

// The same sessions against 3-member and 5-member ensembles, each given every member (the C client picks one
// at random). Each session starts with `sync /`, so that its member has applied what the setup
// client and session 1 wrote through other members. zxids are compared without the epoch.
for (const [size, target] of [3, 5].flatMap((n) => ENSEMBLE_TARGETS.map((x) => [n, x] as const))) {
  t.test(`cli_mt scenario against a ${size}-member ${target}`, async (t) => {
    const ensemble = await startEnsembleTarget(target, SERVER_OPTIONS, size);
    t.teardown(() => ensemble.stop());
    await prepare(ensemble.connectString);
    const raw1 = await runSession(ensemble.connectString, ['sync /', ...SESSION_1]);
    const raw2 = await runSession(ensemble.connectString, ['sync /', ...SESSION_2]);
    const synced = ['[/]: rc = 0', '\tname = /'];
    t.strictSame(raw1.steps[0], { cmd: 'sync /', out: synced }, `${target} session 1: sync / first`);
    t.strictSame(raw2.steps[0], { cmd: 'sync /', out: synced }, `${target} session 2: sync / first`);
    const s1 = { header: raw1.header, steps: withStandaloneZxids(raw1.steps.slice(1), ensemble.zxidBase) };
    const s2 = { header: raw2.header, steps: withStandaloneZxids(raw2.steps.slice(1), ensemble.zxidBase) };
    const lines = ['# session 1', ...cTranscript(s1.header, s1.steps), '# session 2', ...cTranscript(s2.header, s2.steps)];
    ensembleTranscripts.get(size)!.set(target, lines);
    dumpTranscript(`cclient${size === 3 ? '' : '-5'}`, target, lines);
    t.strictSame(s1.header, ['Watcher SESSION_EVENT state = CONNECTED_STATE', 'Got a new session id: <session>'], `${target}: connect`);
    expectSteps(t, `${target} session 1`, s1.steps, SESSION_1_EXPECT);
    t.strictSame(s1.steps[s1.steps.length - 1], { cmd: 'quit', out: ['Quitting...', 'exit 0'] }, `${target}: quit`);
    expectSteps(t, `${target} session 2`, s2.steps, SESSION_2_EXPECT);
  });
}

t.test('ensembles of 3 and 5: the ZooKeeper ensemble prints the standalone transcript, the zkts ensemble the same', async (t) => {
  for (const byTarget of ensembleTranscripts.values()) compareEnsembleTranscripts(t, transcripts.get('reference'), byTarget);
});
