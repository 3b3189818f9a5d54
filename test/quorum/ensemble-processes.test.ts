// A 3-member zkts ensemble of real processes, started from ordinary zoo.cfg lines, under a client
// write load; the leader is killed with SIGKILL three times in a row (and restarted each time).
// Every acknowledged write is there afterwards on every member, and the trees are identical.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { Err, OpCode } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import { waitFor, ZkClient } from '../util/client';
import { fourLetterWord, type RunningServer, startZkts } from '../util/servers';
import { HOST, memberConfig, memberPorts, settledZxids } from './members';

const WAIT_MS = 60_000;

t.test('SIGKILL of the leader three times under load loses no acknowledged write', async (t) => {
  const ports = await memberPorts(3);
  const dirs = [1, 2, 3].map((sid) => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), `zkts-proc-${sid}-`));
    fs.writeFileSync(path.join(d, 'myid'), `${sid}\n`);
    t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
    return d;
  });
  const cfg = (sid: number): Record<string, string> => memberConfig(dirs[sid - 1], ports, { tickTime: '500', 'admin.enableServer': 'false' });
  const members: (RunningServer | undefined)[] = [undefined, undefined, undefined];
  t.teardown(async () => {
    for (const m of members) await m?.stop();
  });
  const start = async (sid: number) => (members[sid - 1] = await startZkts({ extraConfig: cfg(sid), port: ports[sid - 1].client }));
  await Promise.all([1, 2, 3].map(start));
  const mode = async (i: number) => /Mode: (\w+)/.exec(await fourLetterWord(HOST, ports[i].client, 'srvr').catch(() => ''))?.[1];
  const findLeader = async (): Promise<number> => {
    const deadline = Date.now() + WAIT_MS;
    while (Date.now() < deadline) {
      const modes = await Promise.all([0, 1, 2].map(mode));
      const i = modes.indexOf('leader');
      if (i >= 0 && modes.filter((m) => m === 'follower').length >= 1) return i;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('no leader');
  };

  const acked: string[] = [];
  let stop = false;
  const errors: string[] = [];
  // One writer per member, each reconnecting to the next member when its connection goes.
  const writer = async (w: number) => {
    let i = 0;
    let target = w;
    while (!stop) {
      let c: ZkClient;
      try {
        c = await ZkClient.connect(HOST, ports[target].client, {}, 2000);
        if (c.connectResponse.timeOut <= 0) throw new Error('refused');
      } catch {
        target = (target + 1) % 3;
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      while (!stop && !c.closed) {
        const p = `/w${w}-${i}`;
        const r = await c.create(p, Buffer.from(p)).catch(() => undefined);
        i++;
        if (r?.header.err === Err.OK) acked.push(p);
        else if (r !== undefined) errors.push(`${p}: ${r.header.err}`);
        // No answer: the write may or may not have committed; the next one takes a new path.
        else break;
      }
      c.destroy();
      target = (target + 1) % 3;
    }
  };
  const writers = [0, 1, 2].map(writer);
  for (let round = 0; round < 3; round++) {
    const l = await findLeader();
    const before = acked.length;
    await waitFor(() => acked.length >= before + 30, 'writes under this leader', WAIT_MS);
    const victim = members[l]!;
    process.kill(victim.pid, 'SIGKILL');
    await victim.exited;
    members[l] = undefined;
    await findLeader();
    await start(l + 1);
  }
  const total = acked.length;
  await waitFor(() => acked.length >= total + 30, 'writes after the last restart', WAIT_MS);
  stop = true;
  await Promise.all(writers);
  t.ok(acked.length > 100, `${acked.length} writes acknowledged`);
  t.same(errors, [], 'no write answered with an error');

  // Every member has every acknowledged write, and the same tree.
  const listings: string[] = [];
  for (let i = 0; i < 3; i++) {
    const c = await ZkClient.connect(HOST, ports[i].client);
    t.equal((await c.request(OpCode.sync, (w) => w.writeString('/'))).header.err, Err.OK);
    const r = await c.getChildren('/');
    const children = R.decodeGetChildrenResponse(r.reader).children.sort();
    const missing = acked.filter((p) => !children.includes(p.slice(1)));
    t.same(missing, [], `member ${i + 1} has every acknowledged write`);
    listings.push(children.join(','));
    c.destroy();
  }
  t.equal(new Set(listings).size, 1, 'identical trees');
  const zxids = await settledZxids([0, 1, 2].map((i) => ports[i].client));
  t.equal(new Set(zxids).size, 1, 'the same zxid everywhere');
});
