// A zkts ensemble of real processes on loopback, each member with its own dataDir and myid,
// started from ordinary zoo.cfg lines; ready when every member serves (srvr says leader or
// follower). Members can be killed and started again on the same dataDir.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, type RunningServer, startZkts } from './servers';

const HOST = '127.0.0.1';

export interface ZktsEnsemble {
  members: (RunningServer | undefined)[];
  clientPorts: number[];
  connectString: string;
  /** The server.N entries every member's zoo.cfg carries. */
  serverLines: Record<string, string>;
  /** Starts member `sid` (1-based) again on its dataDir. */
  start(sid: number): Promise<RunningServer>;
  stop(): Promise<void>;
}

/** `systemProps` go to every member as -Dk=v (as a ZooKeeper member's JVM flags would). */
export async function startZktsEnsemble(n: number, extraConfig: Record<string, string> = {}, systemProps: Record<string, string> = {}): Promise<ZktsEnsemble> {
  const ports: { quorum: number; election: number; client: number }[] = [];
  for (let i = 0; i < n; i++) ports.push({ quorum: await freePort(), election: await freePort(), client: await freePort() });
  const dirs = ports.map((_p, i) => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), `zkts-ens-${i + 1}-`));
    fs.writeFileSync(path.join(d, 'myid'), `${i + 1}\n`);
    return d;
  });
  const cfg = (sid: number): Record<string, string> => {
    const c: Record<string, string> = { tickTime: '500', initLimit: '10', syncLimit: '5', '4lw.commands.whitelist': '*', 'admin.enableServer': 'false', ...extraConfig, dataDir: dirs[sid - 1] };
    Object.assign(c, serverLines);
    return c;
  };
  const serverLines: Record<string, string> = {};
  ports.forEach((p, i) => (serverLines[`server.${i + 1}`] = `${HOST}:${p.quorum}:${p.election}`));
  const members: (RunningServer | undefined)[] = ports.map(() => undefined);
  const start = async (sid: number) => (members[sid - 1] = await startZkts({ extraConfig: cfg(sid), systemProps, port: ports[sid - 1].client }));
  const stop = async () => {
    for (const m of members) await m?.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  };
  try {
    await Promise.all(ports.map((_p, i) => start(i + 1)));
  } catch (e) {
    await stop();
    throw e;
  }
  return { members, clientPorts: ports.map((p) => p.client), connectString: ports.map((p) => `${HOST}:${p.client}`).join(','), serverLines, start, stop };
}
