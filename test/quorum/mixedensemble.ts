// Mixed ensembles of three: zkts members (in process) and Apache ZooKeeper 3.8.0 members (their
// own processes) on loopback, with one leader of the chosen kind.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Test } from 'tap';
import { waitForLeaderAndFollowers } from '../util/ensemble';
import { startReferenceZooKeeper } from '../util/servers';
import { HOST, memberPorts, newDataDir, serverLines, startZktsMember, type MemberPorts } from './members';

/** Members by index (sid - 1): the leader, the two followers, and every client port. */
export interface Roles {
  leader: number;
  followers: [number, number];
  client: number[];
}

/** zoo.cfg entries of a reference member of the ensemble `ports`. */
function zkConfig(sid: number, ports: MemberPorts[], teardown: (f: () => void) => void): Record<string, string> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `zk-moved-${sid}-`));
  fs.writeFileSync(path.join(dataDir, 'myid'), `${sid}\n`);
  teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const cfg: Record<string, string> = { dataDir, tickTime: '500', initLimit: '10', syncLimit: '5', '4lw.commands.whitelist': '*' };
  for (const line of serverLines(ports)) {
    const [k, v] = line.split('=');
    cfg[k] = v;
  }
  return cfg;
}

/**
 * A 3-member ensemble with zkts (in process) at `zktsSids` and ZooKeeper 3.8.0 at the others. The
 * two members of one kind start first and elect the larger sid; the third joins as a follower. Everything started
 * is stopped by the test's teardown.
 */
export async function mixedEnsemble(t: Test, zktsSids: number[], extraConfig: Record<string, string> = {}): Promise<Roles> {
  // Free ports are picked before the members bind them, and a member's own outgoing connections
  // can take one meanwhile: an attempt that hits a taken port is stopped and made again.
  for (let attempt = 1; ; attempt++) {
    const stops: Array<() => Promise<void> | void> = [];
    try {
      const roles = await mixedEnsembleOnce(t, zktsSids, extraConfig, stops);
      t.teardown(async () => {
        for (const stop of stops.reverse()) await stop();
      });
      return roles;
    } catch (e) {
      for (const stop of stops.reverse()) await stop();
      if (attempt >= 3 || !/EADDRINUSE/.test(String((e as Error).message))) throw e;
      t.comment(`attempt ${attempt}: ${(e as Error).message}; again on other ports`);
    }
  }
}

async function mixedEnsembleOnce(t: Test, zktsSids: number[], extraConfig: Record<string, string>, stops: Array<() => Promise<void> | void>): Promise<Roles> {
  const ports = await memberPorts(3);
  const client = ports.map((p) => p.client);
  const zkSids = [1, 2, 3].filter((sid) => !zktsSids.includes(sid));
  const startAll = async (starts: Promise<unknown>[]) => {
    const settled = await Promise.allSettled(starts);
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
  };
  const startZk = () =>
    zkSids.map((sid) =>
      startReferenceZooKeeper({ extraConfig: { ...zkConfig(sid, ports, (f) => t.teardown(f)), ...extraConfig }, port: ports[sid - 1].client }).then((s) => stops.push(() => s.stop())),
    );
  const startZkts = () =>
    zktsSids.map((sid) => startZktsMember(sid, newDataDir(sid, (f) => t.teardown(f)), ports, Object.entries(extraConfig).map(([k, v]) => `${k}=${v}`)).then((m) => stops.push(() => m.stop())));
  // The pair starts first and elects its leader (the larger sid); the third member joins it.
  const [pair, third] = zkSids.length >= 2 ? [startZk, startZkts] : [startZkts, startZk];
  await startAll(pair());
  const pairSids = zkSids.length >= 2 ? zkSids : zktsSids;
  await waitForLeaderAndFollowers(pairSids.map((sid) => ({ host: HOST, port: ports[sid - 1].client })));
  await startAll(third());
  const leader = await waitForLeaderAndFollowers(client.map((port) => ({ host: HOST, port })));
  return { leader, followers: [0, 1, 2].filter((i) => i !== leader) as [number, number], client };
}

