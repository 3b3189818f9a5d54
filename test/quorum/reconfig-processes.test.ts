// Dynamic reconfiguration of a zkts ensemble of real processes (docs/RECONFIG.md), each member
// started from its own zoo.cfg file with reconfigEnabled=true, under a client write load to every
// member: the files ZooKeeper keeps, grow 3 -> 5, remove the leader (the designated leader takes
// over without an election), shrink to 3, follower -> observer and back, ZooKeeper's error answers,
// a restart in the new configuration, a removed member refused at restart. No acknowledged write
// is lost and every member ends with the same tree and the same configuration.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { Err, EventType, OpCode } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import { writeReconfigRequest, ZkClient } from '../util/client';
import { fourLetterWord, freePort } from '../util/servers';

const HOST = '127.0.0.1';
const WAIT_MS = 60_000;
const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli.js');

interface Ports {
  quorum: number;
  election: number;
  client: number;
}

interface Member {
  sid: number;
  dir: string;
  cfg: string;
  proc?: ChildProcess;
  exit?: Promise<number | null>;
  output: string;
}

const spec = (sid: number, p: Ports, role = 'participant') => `server.${sid}=${HOST}:${p.quorum}:${p.election}:${role};${HOST}:${p.client}`;

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Five members' ports, folders and processes (started on demand), stopped by the test's teardown. */
async function processEnsemble(t: Test) {
  const ports: Ports[] = [];
  for (let i = 0; i < 5; i++) ports.push({ quorum: await freePort(), election: await freePort(), client: await freePort() });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-reconfig-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const members: Member[] = [1, 2, 3, 4, 5].map((sid) => {
    const dir = path.join(root, `s${sid}`);
    fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'data', 'myid'), `${sid}\n`);
    return { sid, dir, cfg: path.join(dir, 'zoo.cfg'), output: '' };
  });
  const writeCfg = (m: Member, sids: number[]) => {
    const lines = [
      'tickTime=500',
      'initLimit=10',
      'syncLimit=5',
      `dataDir=${path.join(m.dir, 'data')}`,
      '4lw.commands.whitelist=*',
      'admin.enableServer=false',
      'reconfigEnabled=true',
      'standaloneEnabled=false',
      ...sids.map((sid) => spec(sid, ports[sid - 1])),
    ];
    fs.writeFileSync(m.cfg, lines.join('\n') + '\n');
  };
  const start = (m: Member) => {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const proc = spawn(process.execPath, [CLI, 'server', '-Dzookeeper.skipACL=yes', m.cfg], { cwd: m.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    m.proc = proc;
    m.output = '';
    const keep = (b: Buffer) => (m.output = (m.output + b.toString()).slice(-20_000));
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    m.exit = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  };
  const stop = async (m: Member) => {
    if (m.proc === undefined || m.proc.exitCode !== null) return;
    m.proc.kill('SIGKILL');
    await m.exit;
    m.proc = undefined;
  };
  t.teardown(async () => {
    for (const m of members) await stop(m);
  });
  const mode = async (sid: number) => /Mode: (\w+)/.exec(await fourLetterWord(HOST, ports[sid - 1].client, 'srvr'))?.[1];
  const mntr = async (sid: number, key: string) => new RegExp(`${key}\\t(\\S+)`).exec(await fourLetterWord(HOST, ports[sid - 1].client, 'mntr'))?.[1];
  const leaderOf = (sids: number[]) =>
    until(`a leader among ${sids}`, async () => {
      const modes = await Promise.all(sids.map((s) => mode(s).catch(() => undefined)));
      const i = modes.indexOf('leader');
      return i >= 0 && modes.every((m) => m === 'leader' || m === 'follower' || m === 'observer') ? sids[i] : undefined;
    });

  const client = async (sid: number) =>
    until(`a session on s${sid}`, async () => {
      const c = await ZkClient.connect(HOST, ports[sid - 1].client, {}, 2000);
      return c.connectResponse.timeOut > 0 ? c : (c.destroy(), undefined);
    });
  // Fields not given are null, as ZooKeeper's Java client sends them (an empty newMembers would ask
  // for a non-incremental reconfig to no members).
  const reconfig = async (c: ZkClient, req: Parameters<typeof writeReconfigRequest>[1]) => {
    const r = await c.request(OpCode.reconfig, (w) => writeReconfigRequest(w, req), { timeoutMs: 20_000 });
    if (r.header.err !== Err.OK) return { err: r.header.err };
    const body = R.decodeGetDataResponse(r.reader);
    return { err: Err.OK, config: body.data!.toString(), stat: body.stat, zxid: r.header.zxid };
  };
  const configOf = async (sid: number) => {
    const c = await client(sid);
    try {
      const r = await c.getData('/zookeeper/config');
      return R.decodeGetDataResponse(r.reader).data!.toString();
    } finally {
      c.destroy();
    }
  };
  return { ports, members, writeCfg, start, stop, mode, mntr, leaderOf, client, reconfig, configOf };
}

t.test('reconfig of a zkts ensemble of processes under a write load', async (t) => {
  const { ports, members, writeCfg, start, stop, mode, mntr, leaderOf, client, reconfig, configOf } = await processEnsemble(t);
  const originalText = (sids: number[]) => sids.map((sid) => spec(sid, ports[sid - 1]));
  for (const sid of [1, 2, 3]) writeCfg(members[sid - 1], [1, 2, 3]);
  const original = fs.readFileSync(members[0].cfg);
  for (const sid of [1, 2, 3]) start(members[sid - 1]);
  let leader = await leaderOf([1, 2, 3]);

  // The files of the first established epoch (docs/RECONFIG.md §1.1).
  for (const sid of [1, 2, 3]) {
    const m = members[sid - 1];
    await until(`s${sid}'s zoo.cfg rewritten`, async () => (fs.readFileSync(m.cfg, 'utf8').includes('dynamicConfigFile=') ? true : undefined));
    const dyn = path.join(fs.realpathSync(m.dir), 'zoo.cfg.dynamic.100000000');
    t.equal(fs.readFileSync(dyn, 'utf8'), originalText([1, 2, 3]).sort().join('\n'), `s${sid}: .dynamic.100000000 is the sorted config, no version, no final newline`);
    const cfg = fs.readFileSync(m.cfg, 'utf8');
    t.ok(cfg.endsWith(`dynamicConfigFile=${dyn}\n`), `s${sid}: zoo.cfg points at it, last`);
    t.notMatch(cfg, /server\.\d=/, `s${sid}: no server lines left in zoo.cfg`);
    t.match(cfg, /reconfigEnabled=true\n/, `s${sid}: the other keys stay`);
    if (sid === 1) t.same(fs.readFileSync(m.cfg + '.bak'), original, 'zoo.cfg.bak is the original file');
  }

  // A write load on every running member, each acknowledged create remembered.
  const acked = new Set<string>();
  let loadOn = true;
  const loadErrors: string[] = [];
  const writer = async (w: number) => {
    let n = 0;
    let target = w;
    while (loadOn) {
      let c: ZkClient;
      try {
        c = await ZkClient.connect(HOST, ports[target].client, {}, 2000);
        if (c.connectResponse.timeOut <= 0) throw new Error('refused');
      } catch {
        target = (target + 1) % 5;
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      while (loadOn && !c.closed) {
        const p = `/load-${w}-${n}`;
        const r = await c.create(p, Buffer.from(p)).catch(() => undefined);
        if (r === undefined) break;
        if (r.header.err === Err.OK) {
          acked.add(p);
          n++;
        } else if (r.header.err !== Err.CONNECTIONLOSS && r.header.err !== Err.NODEEXISTS) loadErrors.push(`${p}: ${r.header.err}`);
        else if (r.header.err === Err.NODEEXISTS) n++;
      }
      c.destroy();
      target = (target + 1) % 5;
    }
  };
  const writers = [0, 1, 2].map(writer);

  // Grow 3 -> 5 through a follower, with a getConfig watch on another follower.
  const followers = [1, 2, 3].filter((s) => s !== leader);
  const admin = await client(followers[0]);
  const watcher = await client(followers[1]);
  const w0 = await watcher.getData('/zookeeper/config', true);
  t.equal(R.decodeGetDataResponse(w0.reader).stat.version, -1, "/zookeeper/config's version is -1");
  const watched = watcher.waitNotification((e) => e.type === EventType.NodeDataChanged && e.path === '/zookeeper/config', WAIT_MS);
  const add4 = await reconfig(admin, { joiningServers: spec(4, ports[3]) });
  t.equal(add4.err, Err.OK, 'adding server 4 (not running; 3 of 4 voters synced) commits');
  t.equal(add4.stat!.mzxid, add4.zxid, "the reply's stat: mzxid is the reconfig's zxid");
  t.equal(add4.stat!.version, -1, "the reply's stat: version -1");
  t.match(add4.config!, new RegExp(`^${originalText([1, 2, 3, 4]).join('\n')}\nversion=${add4.zxid!.toString(16)}$`), 'the reply holds the new config string');
  await watched;
  t.pass('the getConfig watch fired on the committed reconfig');
  watcher.destroy();
  writeCfg(members[3], [1, 2, 3, 4]);
  start(members[3]);
  await until('s4 follows', async () => ((await mode(4)) === 'follower' ? true : undefined));
  t.equal(await mntr(leader, 'zk_quorum_size'), '4', 'the leader counts 4 voters');

  const bad = await reconfig(admin, { joiningServers: spec(5, ports[4]), curConfigId: 0x1234n });
  t.equal(bad.err, Err.BADVERSION, 'a stale curConfigId: BADVERSION');
  const noQuorum = await reconfig(admin, {
    joiningServers: [6, 7, 8, 9, 10].map((sid) => `server.${sid}=${HOST}:${40000 + sid}:${41000 + sid};${HOST}:${42000 + sid}`).join(','),
  });
  t.equal(noQuorum.err, Err.NEWCONFIGNOQUORUM, 'five unstarted voters more: NEWCONFIGNOQUORUM');
  const sameport = await reconfig(admin, { joiningServers: `server.6=${HOST}:43006:43006;${HOST}:43106` });
  t.equal(sameport.err, Err.BADARGUMENTS, 'quorum port = election port: BADARGUMENTS');
  const removeAll = await reconfig(admin, { leavingServers: '1,2,3,4' });
  t.equal(removeAll.err, Err.BADARGUMENTS, 'no voter left: BADARGUMENTS');
  // Two at once on one session: the second finds the first pending.
  const xa = admin.send(OpCode.reconfig, (w) => writeReconfigRequest(w, { joiningServers: spec(5, ports[4]) }));
  const xb = admin.send(OpCode.reconfig, (w) => writeReconfigRequest(w, { joiningServers: spec(5, ports[4]) }));
  const [ra, rb] = await Promise.all([admin.expectReply(xa, 20_000), admin.expectReply(xb, 20_000)]);
  t.equal(ra.header.err, Err.OK, 'the first of two back-to-back reconfigs commits');
  t.equal(rb.header.err, Err.RECONFIGINPROGRESS, 'the second: RECONFIGINPROGRESS');
  writeCfg(members[4], [1, 2, 3, 4, 5]);
  start(members[4]);
  await until('s5 follows', async () => ((await mode(5)) === 'follower' ? true : undefined));
  t.equal(await mntr(leader, 'zk_quorum_size'), '5', 'grown to 5 voters');
  admin.destroy();

  // Remove the leader: a designated voter leads the next epoch; the old leader stays as a non-voting follower.
  const oldLeader = leader;
  const via = [1, 2, 3, 4, 5].find((s) => s !== leader)!;
  const c1 = await client(via);
  const rm = await reconfig(c1, { leavingServers: String(oldLeader) });
  t.ok(rm.err === Err.OK || rm.err === Err.CONNECTIONLOSS, `removing the leader s${oldLeader} commits (or the reply is lost to the role change)`);
  c1.destroy();
  const voters = [1, 2, 3, 4, 5].filter((s) => s !== oldLeader);
  leader = await leaderOf(voters);
  t.not(leader, oldLeader, `s${leader} leads in place of s${oldLeader}`);
  await until(`s${oldLeader} follows as a non-voter`, async () => ((await mode(oldLeader)) === 'follower' ? true : undefined));
  t.equal(await mntr(leader, 'zk_synced_non_voting_followers'), '1', 'the leader counts one non-voting follower');
  const viaOld = await client(oldLeader);
  t.equal((await viaOld.create('/through-removed', null)).header.err, Err.OK, 'a write through the removed server commits');
  viaOld.destroy();

  // Shrink to 3 voters, then turn a follower into an observer and back.
  const c2 = await client(leader);
  const drop = voters.filter((s) => s !== leader)[0];
  t.equal((await reconfig(c2, { leavingServers: String(drop) })).err, Err.OK, `removing s${drop} commits`);
  const three = voters.filter((s) => s !== drop);
  t.equal(await mntr(leader, 'zk_quorum_size'), '3', 'shrunk to 3 voters');
  const flip = three.find((s) => s !== leader)!;
  t.equal((await reconfig(c2, { joiningServers: spec(flip, ports[flip - 1], 'observer') })).err, Err.OK, `s${flip} made an observer`);
  await until(`s${flip} observes`, async () => ((await mode(flip)) === 'observer' ? true : undefined));
  t.equal(await mntr(leader, 'zk_synced_observers'), '1', 'the leader counts the observer');
  t.equal((await reconfig(c2, { joiningServers: spec(flip, ports[flip - 1], 'participant') })).err, Err.OK, `s${flip} made a participant again`);
  await until(`s${flip} follows again`, async () => ((await mode(flip)) === 'follower' ? true : undefined));
  // A new client port: the member listens there at once, with no role restart; the old port closes.
  const oldPort = ports[flip - 1].client;
  const moved = { ...ports[flip - 1], client: await freePort() };
  t.equal((await reconfig(c2, { joiningServers: spec(flip, moved) })).err, Err.OK, `s${flip} given client port ${moved.client}`);
  ports[flip - 1] = moved;
  await until(`s${flip} answers on its new client port`, async () => ((await mode(flip)) === 'follower' ? true : undefined));
  const oldAnswer = await fourLetterWord(HOST, oldPort, 'srvr').then(
    () => 'answered',
    () => 'refused',
  );
  t.equal(oldAnswer, 'refused', 'the old client port no longer answers');
  c2.destroy();

  // New quorum and election addresses for the same member, with no role restart; then the leader
  // is killed and the election that follows has to reach that member at its new addresses.
  const c3 = await client(leader);
  const readdressed = { ...ports[flip - 1], quorum: await freePort(), election: await freePort() };
  t.equal((await reconfig(c3, { joiningServers: spec(flip, readdressed) })).err, Err.OK, `s${flip} given new quorum and election ports`);
  c3.destroy();
  ports[flip - 1] = readdressed;
  t.equal(await mode(flip), 'follower', `s${flip} still follows`);
  const killed = leader;
  await stop(members[killed - 1]);
  leader = await leaderOf(three.filter((s) => s !== killed));
  t.not(leader, killed, `s${leader} leads after s${killed} was killed, elected with s${flip} at its new addresses`);
  start(members[killed - 1]);
  await until(`s${killed} follows after its restart`, async () => ((await mode(killed)) === 'follower' ? true : undefined));

  // A member restarted after the reconfigs comes back in the latest configuration; a removed one is refused.
  const latest = await configOf(leader);
  const restartSid = three.find((s) => s !== leader)!;
  await stop(members[restartSid - 1]);
  start(members[restartSid - 1]);
  await until(`s${restartSid} follows after its restart`, async () => ((await mode(restartSid)) === 'follower' ? true : undefined));
  t.equal(await configOf(restartSid), latest, 'the restarted member serves the latest configuration');
  await stop(members[drop - 1]);
  start(members[drop - 1]);
  const code = await Promise.race([members[drop - 1].exit!, new Promise<string>((r) => setTimeout(() => r('still running'), 30_000))]);
  t.not(code, 'still running', `removed s${drop} does not start again`);
  t.not(code, 0, 'it exits with an error');
  t.match(members[drop - 1].output, `My id ${drop} not in the peer list`, "with ZooKeeper's reason");

  loadOn = false;
  await Promise.all(writers);
  t.same(loadErrors, [], 'no write failed other than by a lost connection');
  t.ok(acked.size > 0, `${acked.size} writes acknowledged during the reconfigs`);
  const trees = new Map<number, string>();
  const running = [1, 2, 3, 4, 5].filter((s) => members[s - 1].proc !== undefined && members[s - 1].proc!.exitCode === null);
  for (const sid of running) {
    const c = await client(sid);
    await c.request(OpCode.sync, (w) => R.encodeSyncRequest(w, { path: '/' }));
    const r = await c.getChildren('/');
    const children = new Set(R.decodeGetChildrenResponse(r.reader).children);
    const missing = [...acked].filter((p) => !children.has(p.slice(1)));
    t.same(missing, [], `s${sid} holds every acknowledged write`);
    t.equal(await configOf(sid), latest, `s${sid} is in the latest configuration`);
    trees.set(sid, [...children].sort().join(','));
    c.destroy();
  }
  t.equal(new Set(trees.values()).size, 1, 'every running member holds the same nodes');
  const zxids = await until('the members settle', async () => {
    const z = await Promise.all(running.map(async (s) => /Zxid: (0x[0-9a-f]+)/.exec(await fourLetterWord(HOST, ports[s - 1].client, 'srvr'))?.[1]));
    return new Set(z).size === 1 ? z : undefined;
  }).catch(() => undefined);
  t.ok(zxids !== undefined, 'every running member reaches the same zxid');
});

t.test('a hierarchical configuration set by a non-incremental reconfig is the one quorums are counted by', async (t) => {
  const { ports, members, writeCfg, start, stop, mode, leaderOf, client, reconfig, configOf } = await processEnsemble(t);
  for (const sid of [1, 2, 3]) writeCfg(members[sid - 1], [1, 2, 3]);
  for (const sid of [1, 2, 3]) start(members[sid - 1]);
  const leader = await leaderOf([1, 2, 3]);
  // Two groups: s3 alone is one of them, so no quorum forms without it.
  const lone = leader === 3 ? 1 : 3;
  const pair = [1, 2, 3].filter((s) => s !== lone);
  const newMembers = [
    ...[1, 2, 3].map((sid) => `server.${sid}=${HOST}:${ports[sid - 1].quorum}:${ports[sid - 1].election};${HOST}:${ports[sid - 1].client}`),
    `group.1=${pair.join(':')}`,
    `group.2=${lone}`,
    'weight.1=1',
    'weight.2=1',
    'weight.3=1',
  ].join(',');
  const c = await client(leader);
  const r = await reconfig(c, { newMembers });
  t.equal(r.err, Err.OK, 'the non-incremental reconfig to two groups commits');
  t.match(r.config!, new RegExp(`\ngroup\.1=${pair.join(':')}\ngroup\.2=${lone}\nweight\.1=1\nweight\.2=1\nweight\.3=1\nversion=`), 'the config string lists the groups and weights');
  const incremental = await reconfig(c, { leavingServers: String(lone) });
  t.equal(incremental.err, Err.BADARGUMENTS, 'an incremental reconfig of a hierarchical configuration: BADARGUMENTS');
  c.destroy();
  const latest = await configOf(leader);
  await stop(members[lone - 1]);
  // A majority of members is left, but not a majority of groups: the others stop serving.
  await until('the group without its member loses the quorum', async () => {
    const modes = await Promise.all(pair.map((s) => mode(s).catch(() => undefined)));
    return modes.every((m) => m === undefined) ? true : undefined;
  });
  t.pass(`without s${lone} (group 2) s${pair.join(' and s')} serve no one`);
  start(members[lone - 1]);
  await leaderOf([1, 2, 3]);
  for (const sid of [1, 2, 3]) t.equal(await configOf(sid), latest, `s${sid} serves the hierarchical configuration after the restart`);
});
