// In-process zkts quorum members for tests: each with its own dataDir, zoo.cfg text, server and
// quorum peer, on loopback ports the caller chose.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../src/server/config';
import { QuorumPeer } from '../../src/quorum/quorumpeer';
import { verifierFromConfig } from '../../src/quorum/verifier';
import { ZooKeeperServer } from '../../src/server/server';
import { DiskDatabase } from '../../src/storage/diskdb';
import { freePort } from '../util/servers';

export const HOST = '127.0.0.1';

export interface MemberPorts {
  quorum: number;
  election: number;
  client: number;
}

export async function memberPorts(n: number): Promise<MemberPorts[]> {
  const out: MemberPorts[] = [];
  for (let i = 0; i < n; i++) out.push({ quorum: await freePort(), election: await freePort(), client: await freePort() });
  return out;
}

export interface ZktsMember {
  sid: number;
  dataDir: string;
  server: ZooKeeperServer;
  peer: QuorumPeer;
  stop(): Promise<void>;
}

/** zoo.cfg lines every member of the ensemble shares. */
export function serverLines(ports: MemberPorts[], observers: readonly number[] = []): string[] {
  return ports.map((p, i) => `server.${i + 1}=${HOST}:${p.quorum}:${p.election}${observers.includes(i + 1) ? ':observer' : ''}`);
}

export function newDataDir(sid: number, teardown: (f: () => void) => void): string {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `zkts-member-${sid}-`));
  fs.writeFileSync(path.join(dataDir, 'myid'), `${sid}\n`);
  teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  return dataDir;
}

/** Starts member `sid` (1-based) of the ensemble `ports` on `dataDir`; tickTime 500 ms by default. */
export async function startZktsMember(sid: number, dataDir: string, ports: MemberPorts[], extra: string[] = [], observers: readonly number[] = []): Promise<ZktsMember> {
  const lines = ['tickTime=500', 'initLimit=10', 'syncLimit=5', `dataDir=${dataDir}`, `clientPort=${ports[sid - 1].client}`, `clientPortAddress=${HOST}`, '4lw.commands.whitelist=*', ...extra, ...serverLines(ports, observers)];
  if (observers.includes(sid)) lines.push('peerType=observer');
  const text = lines.join('\n');
  const config = loadConfig(text, new Map(), dataDir);
  const log = pino({ level: process.env.ZKTS_TEST_LOG ?? 'silent' }).child({ member: sid });
  let server: ZooKeeperServer | undefined;
  const open = () => DiskDatabase.open(config, log, (err) => server?.storageFailed(err));
  server = new ZooKeeperServer(config, log, Date.now, await open());
  server.onFatal = () => undefined;
  server.setRoleProblem('starting');
  await server.start();
  const peer = new QuorumPeer({ config, log, server, verifier: verifierFromConfig(config, { propertiesText: text }), openDatabase: open });
  try {
    await peer.start();
  } catch (e) {
    // A port taken meanwhile, say: what did start is stopped, so the caller has nothing to clean.
    await peer.stop().catch(() => undefined);
    await server.stop();
    throw e;
  }
  const s = server;
  let stopped = false;
  return {
    sid,
    dataDir,
    server: s,
    peer,
    async stop() {
      if (stopped) return;
      stopped = true;
      await peer.stop();
      await s.stop();
    },
  };
}

/** mntr's answer as ordered [key, value] pairs. */
export function mntrPairs(text: string): Array<[string, string]> {
  return text
    .split('\n')
    .filter((l) => l.startsWith('zk_'))
    .map((l) => {
      const tab = l.indexOf('\t');
      return [l.slice(0, tab), l.slice(tab + 1)] as [string, string];
    });
}
