// The reference ensemble launcher (test/util/ensemble.ts) on live ZooKeeper: a mixed 3.8.0/3.9.5
// ensemble forms a quorum, replicates a write, elects a new leader when its leader is SIGKILLed,
// takes the killed member back as a follower on the same ports and dataDir, and leaves no process
// or directory behind. A member slot left 'external' is planned (ports, zoo.cfg entries) but not
// started, and the two reference members form a quorum without it.

import t from 'tap';
import * as fs from 'node:fs';
import { Err } from '../src/protocol/constants';
import * as R from '../src/protocol/generated/records';
import { ZkClient } from './util/client';
import { startReferenceEnsemble, type EnsembleMember } from './util/ensemble';
import { fourLetterWord } from './util/servers';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function versionOf(m: EnsembleMember): Promise<string | undefined> {
  return /^Zookeeper version: (\d+\.\d+\.\d+)-/m.exec(await fourLetterWord(m.host, m.clientPort, 'srvr'))?.[1];
}

const READ_WAIT_MS = 10_000;

/** The node's data as `m` serves it, polled (bounded): a follower applies a commit a little later. */
async function readData(m: EnsembleMember, path: string, expected: string): Promise<string | undefined> {
  const deadline = Date.now() + READ_WAIT_MS;
  for (;;) {
    const c = await ZkClient.connect(m.host, m.clientPort);
    let data: string | undefined;
    try {
      const reply = await c.getData(path);
      if (reply.header.err === Err.OK) data = R.decodeGetDataResponse(reply.reader).data?.toString('utf8');
    } finally {
      await c.close().catch(() => c.destroy());
    }
    if (data === expected || Date.now() >= deadline) return data;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

t.test('a mixed 3.8.0/3.9.5 reference ensemble: quorum, replication, leader crash, restart', async (t) => {
  const ensemble = await startReferenceEnsemble({ members: ['3.9.5', '3.8.0', '3.9.5'] });
  t.teardown(() => ensemble.stop());
  const pids = ensemble.members.map((m) => m.pid!);
  t.same(await Promise.all(ensemble.members.map(versionOf)), ['3.9.5', '3.8.0', '3.9.5'], 'each member runs its release');
  t.equal(new Set(ensemble.members.flatMap((m) => [m.clientPort, m.quorumPort, m.electionPort])).size, 9, 'nine distinct ports');

  const leader = await ensemble.waitForQuorum();
  const followers = ensemble.members.filter((m) => m !== leader);
  t.equal((await leader.srvr()).mode, 'leader');
  t.same((await Promise.all(followers.map((m) => m.srvr()))).map((s) => s.mode), ['follower', 'follower']);

  const writer = await ZkClient.connect(followers[0].host, followers[0].clientPort);
  t.equal((await writer.create('/through-a-follower', Buffer.from('v1'))).header.err, Err.OK, 'a write through a follower');
  const zxid = (await writer.close())?.header.zxid;
  t.ok(zxid !== undefined && zxid > 0n, 'the close has a zxid');
  t.equal(await readData(followers[1], '/through-a-follower', 'v1'), 'v1', 'the other follower serves it');

  const leaderPid = leader.pid!;
  await leader.kill();
  t.notOk(alive(leaderPid), 'the killed leader process is gone');
  t.notOk(leader.isRunning(), 'and the member says so');
  const second = await ensemble.waitForQuorum();
  t.not(second, leader, 'the two others elect a new leader');

  await leader.restart();
  t.ok(leader.pid !== undefined && leader.pid !== leaderPid, 'restarted as a new process');
  const third = await ensemble.waitForQuorum();
  t.equal(third, second, 'the leader stays; the restarted member follows');
  t.equal((await leader.srvr()).mode, 'follower');
  t.equal(await readData(leader, '/through-a-follower', 'v1'), 'v1', 'the restarted member serves the write from its dataDir and the sync');
  t.ok(fs.existsSync(leader.dataDir), 'its dataDir is kept');

  const dataDir = leader.dataDir;
  await ensemble.stop();
  t.same(pids.concat(leader.pid ?? []).filter(alive), [], 'no member process left');
  t.notOk(fs.existsSync(dataDir), 'the ensemble directory is removed');
});

t.test('an external slot: planned, not started, and two reference members form a quorum', async (t) => {
  const ensemble = await startReferenceEnsemble({ members: ['3.8.0', '3.9.5', 'external'] });
  t.teardown(() => ensemble.stop());
  const external = ensemble.member(3);
  t.notOk(external.isRunning(), 'the external member is not started');
  await t.rejects(external.start(), /external/, 'and cannot be started here');
  t.equal(external.config['server.3'], `127.0.0.1:${external.quorumPort}:${external.electionPort}`, 'its server.3 line');
  t.equal(external.config.clientPort, String(external.clientPort));
  t.same(
    Object.keys(ensemble.member(1).config).filter((k) => k.startsWith('server.')),
    ['server.1', 'server.2', 'server.3'],
    'every member knows all three',
  );
  const leader = await ensemble.waitForQuorum();
  t.ok(leader.sid === 1 || leader.sid === 2, `sid ${leader.sid} leads the two reference members`);
});
