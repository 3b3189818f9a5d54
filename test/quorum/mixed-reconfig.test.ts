// Dynamic reconfiguration in ensembles mixing Apache ZooKeeper 3.8.0 and zkts processes
// (docs/RECONFIG.md), from both sides: a ZooKeeper leader with zkts followers, and a zkts leader
// with ZooKeeper followers. Every member starts from its own zoo.cfg (reconfigEnabled=true,
// standaloneEnabled=false, server lines with a client part, skipACL), which both servers rewrite.
// Steps: the first epoch's files; an empty newMembers refused; add a 4th voter (of the followers' kind) and start it; turn a
// follower into an observer; remove the leader (the designated leader takes over, the old leader
// stays as a non-voting follower). After each: srvr modes on every member, /zookeeper/config
// byte-identical on every member, and each zoo.cfg.dynamic.<version> byte-identical between the
// ZooKeeper and the zkts members.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { Err, OpCode } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import { writeReconfigRequest, ZkClient } from '../util/client';
import { fourLetterWord, freePort, guardChild, javaClasspath } from '../util/servers';

const HOST = '127.0.0.1';
const WAIT_MS = 90_000;
const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli.js');
const LOG4J = ['log4j.rootLogger=INFO, CONSOLE', 'log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender', 'log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout', 'log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n', ''].join('\n');

type Kind = 'zookeeper' | 'zkts';

interface Ports {
  quorum: number;
  election: number;
  client: number;
}

interface Member {
  sid: number;
  kind: Kind;
  ports: Ports;
  dir: string;
  cfg: string;
  log: string;
  proc?: ChildProcess;
  exited?: Promise<void>;
  release?: () => void;
}

const spec = (m: Member, role = 'participant') => `server.${m.sid}=${HOST}:${m.ports.quorum}:${m.ports.election}:${role};${HOST}:${m.ports.client}`;

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function writeCfg(m: Member, members: Member[]): void {
  const lines = [
    'tickTime=500',
    'initLimit=20',
    'syncLimit=10',
    `dataDir=${path.join(m.dir, 'data')}`,
    '4lw.commands.whitelist=*',
    'admin.enableServer=false',
    'reconfigEnabled=true',
    'standaloneEnabled=false',
    ...members.map((x) => spec(x)),
  ];
  fs.writeFileSync(m.cfg, lines.join('\n') + '\n');
}

function start(m: Member): void {
  const fd = fs.openSync(m.log, 'a');
  let proc: ChildProcess;
  try {
    if (m.kind === 'zookeeper') {
      const args = [
        '-Xmx256m',
        `-Dlog4j.configuration=file:${path.join(m.dir, 'log4j.properties')}`,
        `-Dzookeeper.log.dir=${m.dir}`,
        '-Dzookeeper.skipACL=yes',
        '-cp',
        javaClasspath(),
        'org.apache.zookeeper.server.quorum.QuorumPeerMain',
        m.cfg,
      ];
      proc = spawn('java', args, { cwd: m.dir, stdio: ['ignore', fd, fd] });
    } else {
      const env = { ...process.env };
      delete env.NODE_OPTIONS;
      proc = spawn(process.execPath, [CLI, 'server', '-Dzookeeper.skipACL=yes', m.cfg], { cwd: m.dir, env, stdio: ['ignore', fd, fd] });
    }
  } finally {
    fs.closeSync(fd);
  }
  m.proc = proc;
  m.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
  m.release = guardChild(proc, m.dir);
}

async function stop(m: Member): Promise<void> {
  const proc = m.proc;
  if (proc === undefined) return;
  m.proc = undefined;
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGKILL');
    await m.exited;
  }
  m.release?.();
}

const mode = async (m: Member) => /Mode: (\w+)/.exec(await fourLetterWord(HOST, m.ports.client, 'srvr', 3000))?.[1];
const name = (m: Member) => `${m.kind === 'zkts' ? 'zkts' : 'ZooKeeper'} s${m.sid}`;

async function session(m: Member): Promise<ZkClient> {
  return until(`a session on ${name(m)}`, async () => {
    const c = await ZkClient.connect(HOST, m.ports.client, {}, 3000);
    if (c.connectResponse.timeOut > 0) return c;
    c.destroy();
    return undefined;
  });
}

async function configOf(m: Member): Promise<string> {
  const c = await session(m);
  try {
    const r = await c.getData('/zookeeper/config');
    if (r.header.err !== Err.OK) throw new Error(`getData /zookeeper/config on ${name(m)}: ${r.header.err}`);
    return R.decodeGetDataResponse(r.reader).data!.toString('utf8');
  } finally {
    c.destroy();
  }
}

async function reconfig(m: Member, req: Parameters<typeof writeReconfigRequest>[1]): Promise<{ err: number; config?: string; zxid?: bigint }> {
  const c = await session(m);
  try {
    const r = await c.request(OpCode.reconfig, (w) => writeReconfigRequest(w, req), { timeoutMs: 30_000 }).catch(() => undefined);
    if (r === undefined) return { err: Err.CONNECTIONLOSS };
    if (r.header.err !== Err.OK) return { err: r.header.err };
    return { err: Err.OK, config: R.decodeGetDataResponse(r.reader).data!.toString('utf8'), zxid: r.header.zxid };
  } finally {
    c.destroy();
  }
}

/** Every running member's srvr mode, once each answers with one of `expected`'s keys. */
async function modesSettle(t: Test, running: Member[], expected: Map<Member, string>, what: string): Promise<void> {
  const got = await until(`modes ${what}`, async () => {
    const modes = await Promise.all(running.map((m) => mode(m).catch(() => undefined)));
    return modes.every((x, i) => x === expected.get(running[i])) ? modes : undefined;
  }).catch(async () => Promise.all(running.map((m) => mode(m).catch((e) => `error ${(e as Error).message}`))));
  t.same(
    Object.fromEntries(running.map((m, i) => [name(m), got[i]])),
    Object.fromEntries(running.map((m) => [name(m), expected.get(m)])),
    `srvr modes ${what}`,
  );
}

/** /zookeeper/config on every member, once all agree (bounded), compared with `expected` when given. */
async function sameConfigEverywhere(t: Test, running: Member[], what: string, expected?: string): Promise<string> {
  const read = () => Promise.all(running.map((m) => configOf(m)));
  // With sids sharing a HashMap bucket ZooKeeper's own members list the same members in different
  // orders (docs/RECONFIG.md §2.1): then only members and version must agree everywhere, and each
  // member must show what the member of the other kind in its place showed.
  const strict = running.every((m) => m.sid < 8);
  const unordered = (c: string) => c.split('\n').sort().join('\n');
  const settled = await until(`the same /zookeeper/config everywhere ${what}`, async () => {
    const all = await read();
    const want = expected ?? all[0];
    return all.every((c) => (strict ? c === want : unordered(c) === unordered(want))) ? all : undefined;
  }).catch(() => read());
  for (let i = 0; i < running.length; i++) {
    if (strict) t.equal(settled[i], expected ?? settled[0], `${what}: /zookeeper/config on ${name(running[i])} is byte-identical`);
    else t.equal(unordered(settled[i]), unordered(expected ?? settled[0]), `${what}: /zookeeper/config on ${name(running[i])} has the same members and version`);
    sameAcrossDirections(t, `${what}: /zookeeper/config on s${running[i].sid}`, settled[i], running);
  }
  // conf ends with "membership: " and the committed config string (docs/RECONFIG.md §6).
  for (const m of running) {
    const conf = await fourLetterWord(HOST, m.ports.client, 'conf', 3000).catch((e) => `error ${(e as Error).message}`);
    const at = conf.indexOf('membership: \n');
    const membership = at < 0 ? conf : conf.slice(at + 'membership: \n'.length);
    if (strict) t.equal(membership, settled[0], `${what}: conf's membership on ${name(m)}`);
    else t.equal(unordered(membership), unordered(settled[0]), `${what}: conf's membership on ${name(m)} has the same members and version`);
    sameAcrossDirections(t, `${what}: conf's membership on s${m.sid}`, membership, running);
  }
  // mntr's zk_quorum_size: the committed config's voters, on every member (docs/RECONFIG.md §6).
  const voters = String(settled[0].split('\n').filter((l) => l.includes(':participant')).length);
  for (const m of running) {
    const size = await until(`zk_quorum_size ${voters} on ${name(m)}`, async () => {
      const v = /zk_quorum_size\t(\S+)/.exec(await fourLetterWord(HOST, m.ports.client, 'mntr', 3000))?.[1];
      return v === voters ? v : undefined;
    }, 10_000).catch(async () => /zk_quorum_size\t(\S+)/.exec(await fourLetterWord(HOST, m.ports.client, 'mntr', 3000).catch(() => ''))?.[1] ?? 'absent');
    t.equal(size, voters, `${what}: mntr's zk_quorum_size on ${name(m)}`);
  }
  return settled[0];
}

/** zoo.cfg.dynamic.<version> of every member that has it: byte-identical across kinds. */
function sameDynamicFiles(t: Test, members: Member[], version: string, what: string): void {
  const file = (m: Member) => path.join(m.dir, `zoo.cfg.dynamic.${version}`);
  const holders = members.filter((m) => fs.existsSync(file(m)));
  t.ok(holders.some((m) => m.kind === 'zookeeper') && holders.some((m) => m.kind === 'zkts'), `${what}: zoo.cfg.dynamic.${version} on both kinds (${holders.map(name).join(', ')})`);
  const first = fs.readFileSync(file(holders[0]));
  for (const m of holders.slice(1)) t.same(fs.readFileSync(file(m)).toString('utf8'), first.toString('utf8'), `${what}: ${name(m)}'s zoo.cfg.dynamic.${version} = ${name(holders[0])}'s`);
}

/** The dynamic file content expected for a config string: no version line, lines sorted, no final newline. */
const dynamicText = (config: string) =>
  config
    .split('\n')
    .filter((l) => !l.startsWith('version='))
    .sort()
    .join('\n');

const versionOf = (config: string) => /version=([0-9a-f]+)$/.exec(config)![1];

/** zoo.cfg after a rewrite: the same keys on both kinds, dynamicConfigFile last and pointing at `version`. */
function rewrittenCfg(t: Test, m: Member, version: string, what: string): void {
  const text = fs.readFileSync(m.cfg, 'utf8');
  const lines = text.split('\n').filter((l) => l !== '');
  const keys = lines.map((l) => l.slice(0, l.indexOf('='))).sort();
  t.same(keys, ['4lw.commands.whitelist', 'admin.enableServer', 'dataDir', 'dynamicConfigFile', 'initLimit', 'reconfigEnabled', 'standaloneEnabled', 'syncLimit', 'tickTime'], `${what}: ${name(m)}'s zoo.cfg keys`);
  t.equal(lines[lines.length - 1], `dynamicConfigFile=${path.join(fs.realpathSync(m.dir), `zoo.cfg.dynamic.${version}`)}`, `${what}: ${name(m)}'s zoo.cfg points at .dynamic.${version}, last`);
}

/**
 * The 4th member's sid: 4, then 9. Sid 9 shares java.util.HashMap bucket 1 with sid 1 in the
 * 8-bucket member maps of incremental reconfigs, where config strings stop being ascending and
 * ZooKeeper's own members stop agreeing on /zookeeper/config byte for byte (docs/RECONFIG.md §2.1):
 * there each member is compared with the member of the other kind in its place.
 */
const FOURTH_SIDS = [4, 9] as const;

/**
 * A config string with each member's ports and the version replaced by names: the same step gives
 * the same text (member order included) whichever kind leads.
 */
function portless(config: string, members: Member[]): string {
  return config
    .split('\n')
    .map((l) => {
      const m = /^server\.(\d+)=[^:]+:(\d+):(\d+):(\w+)(?:;[^:]+:(\d+))?$/.exec(l);
      if (m === null) return l.replace(/^version=.*$/, 'version=V');
      const p = members.find((x) => x.sid === Number(m[1]))?.ports;
      const sym = (port: string | undefined, want: number | undefined, tag: string) => (port === undefined ? '' : port === String(want) ? tag : `?${port}`);
      return `server.${m[1]}=${sym(m[2], p?.quorum, 'Q')}:${sym(m[3], p?.election, 'E')}:${m[4]}${m[5] === undefined ? '' : `;${sym(m[5], p?.client, 'C')}`}`;
    })
    .join('\n');
}

/** The config string of each step with the first kind leading, for the run with the other. */
const firstDirection = new Map<string, string>();

function sameAcrossDirections(t: Test, step: string, config: string, members: Member[]): void {
  const text = portless(config, members);
  const key = `${members.map((m) => m.sid).sort((a, b) => a - b).join(',')} ${step}`;
  const before = firstDirection.get(key);
  if (before === undefined) firstDirection.set(key, text);
  else t.equal(text, before, `${step}: the same config string (member order included) as with the other kind leading`);
}

for (const fourthSid of FOURTH_SIDS) for (const leaderKind of ['zookeeper', 'zkts'] as const) {
  const otherKind: Kind = leaderKind === 'zkts' ? 'zookeeper' : 'zkts';
  const title = leaderKind === 'zookeeper' ? 'a ZooKeeper 3.8.0 leader with zkts followers' : 'a zkts leader with ZooKeeper 3.8.0 followers';
  t.test(`reconfig with ${title}, 4th member sid ${fourthSid}`, async (t) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mixed-reconfig-'));
    const members: Member[] = [];
    t.teardown(async () => {
      for (const m of members) await stop(m);
      if (!t.passing()) {
        for (const m of members) {
          const log = fs.existsSync(m.log) ? fs.readFileSync(m.log, 'utf8').split('\n').slice(-40).join('\n') : '(no log)';
          t.comment(`${name(m)}'s log, last lines:\n${log}`);
        }
      }
      fs.rmSync(root, { recursive: true, force: true });
    });
    // s3 is of the leader's kind; s1, s2 and the later 4th member of the other.
    for (const [sid, kind] of [[1, otherKind], [2, otherKind], [3, leaderKind], [fourthSid, otherKind]] as const) {
      const dir = path.join(root, `s${sid}`);
      fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'data', 'myid'), `${sid}\n`);
      fs.writeFileSync(path.join(dir, 'log4j.properties'), LOG4J);
      const ports = { quorum: await freePort(), election: await freePort(), client: await freePort() };
      members.push({ sid, kind, ports, dir, cfg: path.join(dir, 'zoo.cfg'), log: path.join(dir, 'server.log') });
    }
    const [s1, s2, s3, s4] = members;
    for (const m of [s1, s2, s3]) writeCfg(m, [s1, s2, s3]);

    // s1 and s3 elect s3 (the larger sid, all at zxid 0); s2 joins as a follower.
    start(s1);
    start(s3);
    await modesSettle(t, [s1, s3], new Map([[s1, 'follower'], [s3, 'leader']]), 'with s1 and s3 up');
    start(s2);
    const three = [s1, s2, s3];
    await modesSettle(t, three, new Map([[s1, 'follower'], [s2, 'follower'], [s3, 'leader']]), `first epoch: ${name(s3)} leads`);

    // The first established epoch versions the static configuration (docs/RECONFIG.md §1.1).
    const v0 = `${spec(s1)}\n${spec(s2)}\n${spec(s3)}\nversion=100000000`;
    await sameConfigEverywhere(t, three, 'first epoch', v0);
    await until('every zoo.cfg rewritten', async () => (three.every((m) => fs.readFileSync(m.cfg, 'utf8').includes('dynamicConfigFile=')) ? true : undefined)).catch(() => undefined);
    sameDynamicFiles(t, three, '100000000', 'first epoch');
    t.equal(fs.readFileSync(path.join(s1.dir, 'zoo.cfg.dynamic.100000000'), 'utf8'), dynamicText(v0), 'first epoch: the dynamic file is the sorted config without its version');
    for (const m of three) rewrittenCfg(t, m, '100000000', 'first epoch');

    // A non-null empty newMembers asks for a non-incremental reconfig to no members, whatever the
    // joiners say: refused by either leader (ZooKeeper: parseDynamicConfig's IllegalArgumentException).
    const empty = await reconfig(s2, { joiningServers: spec(s4), newMembers: '' });
    sameAcrossDirections(t, 'first', v0, members);
    t.equal(empty.err, Err.MARSHALLINGERROR, `an empty (not null) newMembers through ${name(s2)}: MARSHALLINGERROR from the ${name(s3)} leader`);
    await sameConfigEverywhere(t, three, 'after the refused reconfig', v0);

    // Add the 4th member (not running: 3 of 4 voters synced), through a follower; then start it.
    const add = await reconfig(s1, { joiningServers: spec(s4) });
    t.equal(add.err, Err.OK, `adding s4 through ${name(s1)} commits`);
    const vAdd = add.zxid!.toString(16);
    // The reply is the committed config string of the follower asked, parsed from the txn into a
    // fresh map: ascending here, also for sid 9 (the txn itself has 1, 9, 2, 3; docs/RECONFIG.md §2.1).
    t.equal(add.config, `${[s1, s2, s3, s4].map((m) => spec(m)).join('\n')}\nversion=${vAdd}`, "the reply holds the new config, in the follower's order");
    sameAcrossDirections(t, 'add', add.config!, members);
    writeCfg(s4, members);
    start(s4);
    const four = [s1, s2, s3, s4];
    await modesSettle(t, four, new Map([[s1, 'follower'], [s2, 'follower'], [s3, 'leader'], [s4, 'follower']]), 's4 added and started');
    await sameConfigEverywhere(t, four, 's4 added', add.config);
    await until(`s4's zoo.cfg rewritten`, async () => (fs.readFileSync(s4.cfg, 'utf8').includes('dynamicConfigFile=') ? true : undefined)).catch(() => undefined);
    sameDynamicFiles(t, four, vAdd, 's4 added');
    t.equal(fs.readFileSync(path.join(s3.dir, `zoo.cfg.dynamic.${vAdd}`), 'utf8'), dynamicText(add.config!), 's4 added: the leader\'s dynamic file is the sorted config');
    for (const m of four) rewrittenCfg(t, m, vAdd, 's4 added');

    // s1 (a follower) becomes an observer: it reconnects with OBSERVERINFO.
    const obs = await reconfig(s2, { joiningServers: spec(s1, 'observer') });
    t.equal(obs.err, Err.OK, `s1 made an observer through ${name(s2)}`);
    const vObs = obs.zxid!.toString(16);
    t.same(obs.config!.split('\n').sort(), [spec(s1, 'observer'), spec(s2), spec(s3), spec(s4), `version=${vObs}`].sort(), 'the reply holds the new config');
    sameAcrossDirections(t, 'observer', obs.config!, members);
    await modesSettle(t, four, new Map([[s1, 'observer'], [s2, 'follower'], [s3, 'leader'], [s4, 'follower']]), 's1 an observer');
    await sameConfigEverywhere(t, four, 's1 an observer', obs.config);
    sameDynamicFiles(t, four, vObs, 's1 an observer');
    for (const m of four) rewrittenCfg(t, m, vObs, 's1 an observer');

    // Remove the leader s3: a voter of {2,9} is designated and leads the next epoch; s3 stays as a
    // non-voting follower and s1 observes the new leader.
    const rm = await reconfig(s4, { leavingServers: '3' });
    t.ok(rm.err === Err.OK || rm.err === Err.CONNECTIONLOSS, `removing the leader s3 through ${name(s4)} commits (or the reply is lost to the role change): ${rm.err}`);
    const newLeader = await until('a leader among s2 and s4', async () => {
      for (const m of [s2, s4]) if ((await mode(m)) === 'leader') return m;
      return undefined;
    }).catch(() => undefined);
    t.ok(newLeader !== undefined, `the designated leader leads: ${newLeader === undefined ? 'none' : name(newLeader)}`);
    if (newLeader === undefined) return;
    const other = newLeader === s2 ? s4 : s2;
    await modesSettle(t, four, new Map([[s1, 'observer'], [other, 'follower'], [s3, 'follower'], [newLeader, 'leader']]), `s3 removed, ${name(newLeader)} leads`);
    const removed = await sameConfigEverywhere(t, four, 's3 removed');
    t.same(removed.split('\n').sort(), [spec(s1, 'observer'), spec(s2), spec(s4), `version=${versionOf(removed)}`].sort(), 's3 removed: the config lists s1 (observer), s2 and s4');
    sameAcrossDirections(t, 'removed', removed, members);
    if (rm.err === Err.OK) t.equal(versionOf(removed), rm.zxid!.toString(16), "its version is the reconfig's zxid");
    sameDynamicFiles(t, four, versionOf(removed), 's3 removed');
    for (const m of four) rewrittenCfg(t, m, versionOf(removed), 's3 removed');

    // The config files each member keeps (old versions are never deleted, no .next left once
    // committed): the same on both kinds; s4, which joined with server lines in its zoo.cfg, has a
    // .bak and the versions from the one it synced to on.
    const files = (m: Member) => fs.readdirSync(m.dir).filter((f) => f.startsWith('zoo.cfg')).sort();
    const versions = ['100000000', vAdd, vObs, versionOf(removed)];
    const all = ['zoo.cfg', 'zoo.cfg.bak', ...versions.map((v) => `zoo.cfg.dynamic.${v}`)].sort();
    for (const m of three) t.same(files(m), all, `${name(m)} keeps zoo.cfg, .bak and one dynamic file per version`);
    t.same(files(s4), all.filter((f) => f !== 'zoo.cfg.dynamic.100000000'), `${name(s4)} keeps zoo.cfg, .bak and the versions from its join on`);

    // The ensemble still takes writes through every member, the removed one included.
    for (const m of four) {
      const c = await session(m);
      t.equal((await c.create(`/after-${m.sid}`, null)).header.err, Err.OK, `a write through ${name(m)}`);
      c.destroy();
    }
  });
}
