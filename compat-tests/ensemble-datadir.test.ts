// The dataDir of a ZooKeeper 3.8 ensemble member, served by zkts standalone. A real three-node
// ensemble on 127.0.0.1 takes writes in three leader epochs (the leader of epoch 1 and then the
// leader of epoch 2 are SIGKILLed; the first comes back and syncs), all members are brought up to
// date and stopped. Each member's dataDir then has its own layout: logs that cross epochs, a
// leader's snapshot at the end of an epoch, a log file a restarted follower got by DIFF. For every
// member, on copies of its dataDir: ZooKeeper 3.8 standalone and zkts serve the same tree (every
// Stat field, data, ACL, children) as the ensemble served, both go on in the last epoch with the
// same zxids for the same writes, and ZooKeeper started on zkts's copy serves what zkts wrote and
// goes on after it. `zkts log-dump` reads every log file of the members. The epoch files stay as
// the ensemble left them.

import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CreateFlag, Err } from '../src/protocol/constants';
import { logDumpMain } from '../src/storage/logdump';
import { epochOf, isNextZxid, makeZxid } from '../src/storage/zxid';
import { startReferenceEnsemble, type EnsembleMember } from '../test/util/ensemble';
import { startReferenceZooKeeper, startZkts, type RunningServer } from '../test/util/servers';
import { lineOf, Zk } from './datadir/zk';
import { delay } from './util/harness';

const ELECTION_WAIT_MS = 45_000;
const SYNC_WAIT_MS = 30_000;
const SESSION_MS = 30_000;
const buf = (s: string): Buffer => Buffer.from(s, 'utf8');
const hex = (v: bigint): string => '0x' + v.toString(16);

/** Until every live member has applied `zxid` (bounded). */
async function waitForZxid(live: EnsembleMember[], zxid: bigint): Promise<void> {
  const deadline = Date.now() + SYNC_WAIT_MS;
  for (;;) {
    const got = await Promise.all(live.map((m) => m.srvr()));
    if (got.every((s) => s.zxid === zxid)) return;
    if (Date.now() > deadline) throw new Error(`members not at ${hex(zxid)} after ${SYNC_WAIT_MS} ms: ${got.map((s) => (s.zxid === undefined ? '?' : hex(s.zxid))).join(' ')}`);
    await delay(50);
  }
}

/**
 * Writes of one leadership, through a member that may be a follower (forwarded to the leader).
 * Returns the epoch they were written in: phase N is normally epoch N, but an election round that
 * times out under load makes ZooKeeper take one more epoch, so the caller checks it only grows.
 */
async function epochWrites(t: Test, server: RunningServer, epoch: number): Promise<bigint> {
  const w = await Zk.connect(server, { timeoutMs: SESSION_MS });
  const e = await Zk.connect(server, { timeoutMs: SESSION_MS });
  const base = `/e${epoch}`;
  await w.create(base, buf(`epoch ${epoch}`));
  for (let i = 0; i < 3; i++) await w.create(`${base}/c${i}`, buf(`c${i}`));
  t.equal((await w.setData(base, buf('changed'), 0)).version, 1, `epoch ${epoch}: setData`);
  await w.delete(`${base}/c1`, 0);
  t.match(await w.create('/seq-', buf(`s${epoch}`), CreateFlag.PERSISTENT_SEQUENTIAL), /^\/seq-\d{10}$/);
  if (epoch > 1) await w.setData('/e1', buf(`touched in epoch ${epoch}`));
  await w.createFails(base, Err.NODEEXISTS);
  const ok = await w.multi([
    { op: 'create', path: `${base}/m`, data: buf('m') },
    { op: 'setData', path: `${base}/c0`, data: buf('c0 again'), version: 0 },
    { op: 'delete', path: `${base}/c2` },
  ]);
  t.same(ok.map((r) => r.err), [0, 0, 0], `epoch ${epoch}: multi`);
  await w.setACL(`${base}/m`, [{ perms: 1, id: { scheme: 'world', id: 'anyone' } }]);
  await e.create(`${base}/eph`, buf('gone with its session'), CreateFlag.EPHEMERAL);
  await e.close();
  const zxid = await w.close();
  w.drop();
  e.drop();
  return epochOf(zxid);
}

async function listing(server: RunningServer): Promise<{ lines: string[]; openZxid: bigint; closeZxid: bigint }> {
  const c = await Zk.connect(server, { timeoutMs: SESSION_MS });
  const openZxid = await c.zxid();
  const lines = await c.listing();
  const closeZxid = await c.close();
  c.drop();
  return { lines, openZxid, closeZxid };
}

/** The same writes on either standalone server; returns each write's zxid. */
async function standaloneWrites(server: RunningServer, who: string): Promise<bigint[]> {
  const w = await Zk.connect(server, { timeoutMs: SESSION_MS });
  const zxids = [await w.zxid()];
  await w.create('/standalone', buf(who));
  zxids.push(await w.zxid());
  await w.setData('/e1', buf(`after the ensemble, on ${who}`));
  zxids.push(await w.zxid());
  await w.multi([
    { op: 'create', path: '/standalone/a', data: null },
    { op: 'delete', path: '/e3/m' },
  ]);
  zxids.push(await w.zxid());
  zxids.push(await w.close());
  w.drop();
  return zxids;
}

/** A listing with creation and modification times left out (they differ between two servers). */
const timeless = (lines: string[]): string[] => lines.map((l) => l.replace(/ ctime=\d+ mtime=\d+/, ''));

/**
 * A member sets /zookeeper/config in memory each time it starts (not a txn), with that time as its
 * mtime; the dataDir holds the one its last snapshot caught. Its data is the same either way.
 */
const configTimeless = (lines: string[]): string[] => lines.map((l) => (l.startsWith('/zookeeper/config | ') ? l.replace(/ mtime=\d+/, '') : l));

function copyDir(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true });
}

/** ZooKeeper 3.8.0 logs this at ERROR when a four-letter-word client closes first: not about the data. */
const BENIGN_ZOOKEEPER_ERROR = /Error closing a command socket/;

function serverLogProblems(log: string): string[] {
  return log
    .split('\n')
    .filter((l) => /\b(ERROR|FATAL)\b/.test(l) || /"level":(5|6)\d/.test(l) || /digest|crc|corrupt/i.test(l) && /\bWARN\b/.test(l))
    .filter((l) => !BENIGN_ZOOKEEPER_ERROR.test(l));
}

async function logDumpZxids(t: Test, file: string): Promise<bigint[]> {
  let out = '';
  let err = '';
  const code = await logDumpMain(['--json', file], { out: (s) => (out += s), err: (s) => (err += s) });
  t.equal(code, 0, `zkts log-dump reads ${path.basename(path.dirname(path.dirname(file)))}/${path.basename(file)}${err ? ': ' + err : ''}`);
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { zxid?: string })
    .filter((o) => o.zxid !== undefined)
    .map((o) => BigInt(o.zxid!));
}

t.test('a ZooKeeper ensemble member\'s dataDir, across leader epochs, on zkts standalone', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-ensemble-'));
  const servers = new Set<RunningServer>();
  t.teardown(async () => {
    for (const s of servers) await s.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });
  const track = async (p: Promise<RunningServer>): Promise<RunningServer> => {
    const s = await p;
    servers.add(s);
    return s;
  };
  const stop = async (s: RunningServer, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
    if (signal === 'SIGKILL') {
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        // Already gone; stop() still waits for the exit and cleans up.
      }
    }
    await s.stop();
    servers.delete(s);
  };

  const started = Date.now();
  const ensemble = await startReferenceEnsemble({
    extraConfig: { preAllocSize: '64', maxSessionTimeout: String(SESSION_MS * 2) },
    quorumTimeoutMs: ELECTION_WAIT_MS,
  });
  // After the members are stopped their dataDirs are read; the ensemble's directory goes last.
  t.teardown(() => ensemble.stop());
  const members = [...ensemble.members];
  let live = [...members];
  const waitForLeader = (among: EnsembleMember[]): Promise<EnsembleMember> => ensemble.waitForQuorum({ members: among, timeoutMs: ELECTION_WAIT_MS });

  // Epoch 1, then the leader is killed; epoch 2 among the other two, and its leader is killed too.
  const killed: EnsembleMember[] = [];
  const epochs: bigint[] = [];
  for (const epoch of [1, 2]) {
    const leader = await waitForLeader(live);
    const follower = live.find((m) => m !== leader)!;
    epochs.push(await epochWrites(t, follower.server!, epoch));
    await leader.kill();
    live = live.filter((m) => m !== leader);
    killed.push(leader);
  }
  // The first leader comes back: with the survivor it forms epoch 3 (or later, see epochWrites).
  await killed[0].start();
  live.push(killed[0]);
  const leader3 = await waitForLeader(live);
  epochs.push(await epochWrites(t, live.find((m) => m !== leader3)!.server!, 3));
  t.equal(epochs[0], 1n, 'the first leadership writes in epoch 1');
  t.ok(epochs[1] > epochs[0] && epochs[2] > epochs[1], `each new leadership writes in a higher epoch (${epochs.join(', ')})`);
  const lastEpoch = epochs[2];
  // The second comes back too and catches up, so that every member holds every txn.
  await killed[1].start();
  live.push(killed[1]);
  await waitForLeader(live);
  const held = await Zk.connect(live[0].server!, { timeoutMs: SESSION_MS });
  await held.create('/held', buf('ephemeral of a session open at the stop'), CreateFlag.EPHEMERAL);
  const served = await listing(live[1].server!);
  await waitForZxid(live, served.closeZxid);
  t.equal(epochOf(served.closeZxid), lastEpoch, `the ensemble ended in the third leadership's epoch (${hex(served.closeZxid)})`);
  t.ok(lineOf(served.lines, '/held'), 'the ensemble serves the ephemeral of the open session');
  held.drop();
  for (const m of live) await m.stop();
  t.comment(`ensemble phase: ${Date.now() - started} ms`);

  const layouts: string[][] = [];
  for (const m of members) {
    const v2 = path.join(m.dataDir, 'version-2');
    const files = fs.readdirSync(v2).sort();
    layouts.push(files);
    t.comment(`member ${m.sid}: ${files.join(' ')}`);
    // The logs: readable by log-dump, and every txn follows the one before by the epoch rule
    // (ZooKeeper writes none at counter 0); they step into a higher epoch at counter 1.
    const logs = files.filter((f) => f.startsWith('log.')).sort((a, b) => (BigInt('0x' + a.slice(4)) < BigInt('0x' + b.slice(4)) ? -1 : 1));
    const zxids: bigint[] = [];
    for (const f of logs) zxids.push(...(await logDumpZxids(t, path.join(v2, f))));
    t.equal(zxids[0], makeZxid(1n, 1n), `member ${m.sid}: the log starts at the ensemble's first txn`);
    const breaks = zxids.filter((z, i) => i > 0 && !isNextZxid(zxids[i - 1], z)).map(hex);
    t.same(breaks, [], `member ${m.sid}: no gap in its logs`);
    const steps = zxids.filter((z, i) => i > 0 && epochOf(z) !== epochOf(zxids[i - 1])).map(hex);
    t.same(steps, [makeZxid(epochs[1], 1n), makeZxid(epochs[2], 1n)].map(hex), `member ${m.sid}: its logs step into epochs ${epochs[1]} and ${epochs[2]} at counter 1`);
    const epochFiles = ['acceptedEpoch', 'currentEpoch'].map((f) => fs.readFileSync(path.join(v2, f), 'utf8'));
    t.same(epochFiles, [String(lastEpoch), String(lastEpoch)], `member ${m.sid}: acceptedEpoch and currentEpoch are ${lastEpoch}`);

    const zkDir = path.join(root, `zk${m.sid}`);
    const oursDir = path.join(root, `zkts${m.sid}`);
    copyDir(m.dataDir, zkDir);
    copyDir(m.dataDir, oursDir);

    const zk = await track(startReferenceZooKeeper({ extraConfig: { dataDir: zkDir, maxSessionTimeout: String(SESSION_MS * 2) }, jvmFlags: ['-Xmx128m'] }));
    const zkSeen = await listing(zk);
    const zkWrites = await standaloneWrites(zk, 'standalone');
    const zkAfter = await listing(zk);
    await stop(zk, 'SIGTERM');

    const ours = await track(startZkts({ extraConfig: { dataDir: oursDir, maxSessionTimeout: String(SESSION_MS * 2) } }));
    const oursSeen = await listing(ours);
    t.same(oursSeen.lines, zkSeen.lines, `member ${m.sid}: zkts serves the tree ZooKeeper standalone serves from the same dataDir`);
    t.same(configTimeless(oursSeen.lines), configTimeless(served.lines), `member ${m.sid}: zkts serves the tree the ensemble served`);
    t.equal(hex(oursSeen.openZxid), hex(zkSeen.openZxid), `member ${m.sid}: both go on in the last epoch from the ensemble's last zxid`);
    t.equal(hex(oursSeen.openZxid), hex(served.closeZxid + 1n), `member ${m.sid}: the next zxid follows the ensemble's last`);
    const ourWrites = await standaloneWrites(ours, 'standalone');
    const oursAfter = await listing(ours);
    t.same(ourWrites.map(hex), zkWrites.map(hex), `member ${m.sid}: the same writes get the same zxids`);
    t.same(timeless(oursAfter.lines), timeless(zkAfter.lines), `member ${m.sid}: and leave the same tree (times aside)`);
    t.same(serverLogProblems(ours.log()), [], `member ${m.sid}: zkts logs no error`);
    await stop(ours, 'SIGTERM');
    const oursV2 = path.join(oursDir, 'version-2');
    t.same(['acceptedEpoch', 'currentEpoch'].map((f) => fs.readFileSync(path.join(oursV2, f), 'utf8')), epochFiles, `member ${m.sid}: zkts leaves the epoch files as they were`);

    const back = await track(startReferenceZooKeeper({ extraConfig: { dataDir: oursDir, maxSessionTimeout: String(SESSION_MS * 2) }, jvmFlags: ['-Xmx128m'] }));
    const backSeen = await listing(back);
    t.same(backSeen.lines, oursAfter.lines, `member ${m.sid}: ZooKeeper serves what zkts wrote`);
    t.equal(hex(backSeen.openZxid), hex(oursAfter.closeZxid + 1n), `member ${m.sid}: ZooKeeper goes on after zkts's last zxid`);
    const w = await Zk.connect(back, { timeoutMs: SESSION_MS });
    await w.create('/standalone/after-zkts', buf('z'));
    t.equal(epochOf(await w.zxid()), lastEpoch, `member ${m.sid}: still in epoch ${lastEpoch}`);
    await w.close();
    w.drop();
    t.same(serverLogProblems(back.log()), [], `member ${m.sid}: ZooKeeper logs no error on zkts's files`);
    await stop(back, 'SIGTERM');
  }
  // What the run is meant to cover: a new leader's snapshot at the end of the epoch before its own
  // (the log going on in a higher epoch after it), and a log file a member got by DIFF.
  const snapshotsInEpochs = layouts.flat().filter((f) => /^snapshot\.[0-9a-f]+$/.test(f) && f !== 'snapshot.0');
  t.ok(snapshotsInEpochs.length > 0, `a leader's snapshot at the end of an epoch: ${snapshotsInEpochs.join(' ')}`);
  t.ok(layouts.some((files) => files.filter((f) => f.startsWith('log.')).length > 1), 'a member with more than one log file');
  t.comment(`total: ${Date.now() - started} ms`);
});
