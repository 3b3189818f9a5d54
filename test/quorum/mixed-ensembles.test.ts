// Mixed ensembles of Apache ZooKeeper 3.8.0 and zkts processes: 2 ZooKeeper + 1 zkts and
// 1 ZooKeeper + 2 zkts. The leader is killed (SIGKILL) twice and restarted; the lead goes to the
// largest running sid each time, which puts it on each side in turn while the other follows. Writes (persistent and ephemeral) go through every running member after each
// change; at the end every member has every acknowledged write and the identical tree, and a
// ZooKeeper member's dataDir and a zkts member's dataDir each load on the other server.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { Err, OpCode } from '../../src/protocol/constants';
import { ZkClient } from '../util/client';
import { type EnsembleMember, type MemberKind, startReferenceEnsemble } from '../util/ensemble';
import { type RunningServer, startReferenceZooKeeper, startZkts } from '../util/servers';
import { dumpTree, HOST, settledZxids } from './members';

const EPHEMERAL = 1;
const side = (m: EnsembleMember) => (m.kind === 'zkts' ? 'zkts' : 'ZooKeeper');

const SHAPES: Array<{ name: string; members: MemberKind[] }> = [
  { name: '2 ZooKeeper + 1 zkts', members: ['3.8.0', '3.8.0', 'zkts'] },
  { name: '1 ZooKeeper + 2 zkts', members: ['zkts', 'zkts', '3.8.0'] },
];

for (const shape of SHAPES) {
  t.test(`${shape.name}: the lead passes from side to side; identical trees; dataDirs exchanged`, async (t) => {
    const ens = await startReferenceEnsemble({ members: shape.members, extraConfig: { tickTime: '500', '4lw.commands.whitelist': '*' } });
    t.teardown(() => ens.stop());
    const acked: string[] = [];
    const round = async (tag: string) => {
      for (const m of ens.members.filter((x) => x.isRunning())) {
        const c = await ZkClient.connect(HOST, m.clientPort);
        const p = `/r-${tag}-${m.sid}`;
        const created = (await c.create(p, Buffer.from(tag))).header.err;
        t.equal(created, Err.OK, `create through ${side(m)} ${m.sid}`);
        if (created === Err.OK) acked.push(p);
        t.equal((await c.setData(p, Buffer.from(`${tag}!`))).header.err, Err.OK, `setData through ${side(m)} ${m.sid}`);
        t.equal((await c.create(`/e-${tag}-${m.sid}`, null, EPHEMERAL)).header.err, Err.OK, `an ephemeral through ${side(m)} ${m.sid}`);
        await c.close();
      }
    };

    // Which member leads first depends on who starts first (a zkts process starts before a JVM,
    // and two members elect without waiting for the third). From then on, with every member at
    // the same zxid, FastLeaderElection picks the largest running sid.
    const largestRunningSid = () => Math.max(...ens.members.filter((x) => x.isRunning()).map((x) => x.sid));
    const first = await ens.waitForQuorum();
    await round('a');
    await first.kill();
    const second = await ens.waitForQuorum();
    t.equal(second.sid, largestRunningSid(), `the leader killed, the largest running sid leads: ${side(first)} ${first.sid} -> ${side(second)} ${second.sid}`);
    await round('b');
    await first.start();
    await ens.waitForQuorum();
    t.equal((await first.srvr()).mode, 'follower', `the restarted ${side(first)} member follows the ${side(second)} leader`);
    await round('c');
    await second.kill();
    const third = await ens.waitForQuorum();
    t.equal(third.sid, largestRunningSid(), `again: ${side(second)} ${second.sid} -> ${side(third)} ${third.sid}`);
    t.same(new Set([first, second, third].map(side)).size, 2, 'each side led, the other following');
    await round('d');
    await second.start();
    await ens.waitForQuorum();
    await round('e');

    const dumps: string[][] = [];
    for (const m of ens.members) {
      const c = await ZkClient.connect(HOST, m.clientPort);
      t.equal((await c.request(OpCode.sync, (w) => w.writeString('/'))).header.err, Err.OK);
      const dump = await dumpTree(c);
      c.destroy();
      const paths = new Set(dump.map((l) => l.split(' ')[0]));
      t.same(acked.filter((p) => !paths.has(p)), [], `${side(m)} ${m.sid} has every acknowledged write`);
      t.same([...paths].filter((p) => p.startsWith('/e-')), [], `${side(m)} ${m.sid}: every closed session's ephemeral is gone`);
      dumps.push(dump);
    }
    t.same(dumps[1], dumps[0], 'members 1 and 2 have identical trees (data and every Stat field)');
    t.same(dumps[2], dumps[0], 'members 1 and 3 have identical trees');
    const zxids = await settledZxids(ens.members.map((m) => m.clientPort));
    t.equal(new Set(zxids).size, 1, `the same zxid everywhere (${zxids.join(', ')})`);

    // Each side's dataDir, copied after a clean stop, loads on the other server as a standalone.
    for (const m of ens.members) await m.stop();
    const zkMember = ens.members.find((m) => m.kind !== 'zkts')!;
    const zktsMember = ens.members.find((m) => m.kind === 'zkts')!;
    const copies: string[] = [];
    t.teardown(() => copies.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
    const copyOf = (dir: string) => {
      const to = fs.mkdtempSync(path.join(os.tmpdir(), 'mixed-copy-'));
      fs.cpSync(dir, to, { recursive: true });
      fs.rmSync(path.join(to, 'myid'), { force: true });
      copies.push(to);
      return to;
    };
    const servers: Array<[string, () => Promise<RunningServer>]> = [
      [`zkts on ZooKeeper ${zkMember.sid}'s dataDir`, () => startZkts({ extraConfig: { dataDir: copyOf(zkMember.dataDir) } })],
      [`ZooKeeper on zkts ${zktsMember.sid}'s dataDir`, () => startReferenceZooKeeper({ extraConfig: { dataDir: copyOf(zktsMember.dataDir) } })],
    ];
    for (const [what, start] of servers) {
      const s = await start();
      try {
        const c = await ZkClient.connect(HOST, s.port);
        t.same(await dumpTree(c), dumps[0], `${what}: the same tree`);
        c.destroy();
      } finally {
        await s.stop();
      }
    }
  });
}
