// In-process zkts quorum members for tests: each with its own dataDir, zoo.cfg text, server and
// quorum peer, on loopback ports the caller chose.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { Err } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import { loadConfig } from '../../src/server/config';
import { QuorumPeer } from '../../src/quorum/quorumpeer';
import { verifierFromConfig } from '../../src/quorum/verifier';
import { ZooKeeperServer } from '../../src/server/server';
import { DiskDatabase } from '../../src/storage/diskdb';
import type { ReceivedTree } from '../../src/storage/database';
import { ZkClient } from '../util/client';
import { fourLetterWord, freePort, type RunningServer, startReferenceZooKeeper } from '../util/servers';

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

/** Options of a member: its -D properties, and a list that collects its log lines (info and up, JSON text). */
export interface MemberOptions {
  systemProps?: Record<string, string>;
  logLines?: string[];
  /** The member's own `server.N=` lines, in place of the ones made from `ports`. */
  serverLines?: string[];
}

/** Starts member `sid` (1-based) of the ensemble `ports` on `dataDir`; tickTime 500 ms by default. */
export async function startZktsMember(
  sid: number,
  dataDir: string,
  ports: MemberPorts[],
  extra: string[] = [],
  observers: readonly number[] = [],
  opts: MemberOptions = {},
): Promise<ZktsMember> {
  const lines = ['tickTime=500', 'initLimit=10', 'syncLimit=5', `dataDir=${dataDir}`, `clientPort=${ports[sid - 1].client}`, `clientPortAddress=${HOST}`, '4lw.commands.whitelist=*', ...extra, ...(opts.serverLines ?? serverLines(ports, observers))];
  if (observers.includes(sid)) lines.push('peerType=observer');
  const text = lines.join('\n');
  const config = loadConfig(text, new Map(Object.entries(opts.systemProps ?? {})), dataDir);
  const logLines = opts.logLines;
  const log = (logLines !== undefined ? pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) }) : pino({ level: process.env.ZKTS_TEST_LOG ?? 'silent' })).child({ member: sid });
  let server: ZooKeeperServer | undefined;
  const onFailure = (err: Error) => server?.storageFailed(err);
  const open = async (received?: ReceivedTree) => (received ? DiskDatabase.adopt(config, log, onFailure, received) : DiskDatabase.open(config, log, onFailure));
  server = new ZooKeeperServer(config, log, Date.now, await open());
  server.onFatal = () => undefined;
  server.setRoleProblem('starting');
  const s = server;
  // A member that fails to start (a port taken meanwhile) leaves nothing running behind it.
  try {
    await s.start();
  } catch (e) {
    await s.stop().catch(() => undefined);
    throw e;
  }
  const peer = new QuorumPeer({ config, log, server, verifier: verifierFromConfig(config, { propertiesText: text }), openDatabase: open });
  try {
    await peer.start();
  } catch (e) {
    await peer.stop().catch(() => undefined);
    await s.stop().catch(() => undefined);
    throw e;
  }
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

/** A dataDir with `myid` for an Apache ZooKeeper member, removed at teardown. */
export function zkDataDir(sid: number, teardown: (f: () => void) => void): string {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `zk-mixed-${sid}-`));
  fs.writeFileSync(path.join(dataDir, 'myid'), `${sid}\n`);
  teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  return dataDir;
}

/** zoo.cfg entries of a member process on `dataDir` (tickTime 500 ms unless `extra` says otherwise), server lines included. */
export function memberConfig(dataDir: string, ports: MemberPorts[], extra: Record<string, string> = {}): Record<string, string> {
  const cfg: Record<string, string> = { dataDir, tickTime: '500', initLimit: '10', syncLimit: '5', '4lw.commands.whitelist': '*', ...extra };
  for (const line of serverLines(ports)) {
    const [k, v] = line.split('=');
    cfg[k] = v;
  }
  return cfg;
}

/** Apache ZooKeeper 3.8.0 as member `sid` of the ensemble `ports`, with the zkts members' timing. */
export function startZkMember(sid: number, dataDir: string, ports: MemberPorts[], extraConfig: Record<string, string> = {}): Promise<RunningServer> {
  return startReferenceZooKeeper({ extraConfig: memberConfig(dataDir, ports, extraConfig), port: ports[sid - 1].client });
}

/**
 * Every znode outside /zookeeper as one line (path, data, every Stat field), parents first and
 * children sorted: two members with the same tree give the same lines.
 */
export async function dumpTree(c: ZkClient): Promise<string[]> {
  const out: string[] = [];
  const visit = async (p: string): Promise<void> => {
    const got = await c.getData(p);
    if (got.header.err !== Err.OK) return void out.push(`${p} err ${got.header.err}`);
    const { data, stat } = R.decodeGetDataResponse(got.reader);
    const fields = Object.entries(stat).map(([k, v]) => `${k}=${String(v)}`);
    out.push(`${p} ${data === null ? 'null' : data.toString('hex')} ${fields.join(' ')}`);
    const kids = await c.getChildren(p);
    if (kids.header.err !== Err.OK) return void out.push(`${p} children err ${kids.header.err}`);
    for (const k of R.decodeGetChildrenResponse(kids.reader).children.sort()) {
      const child = p === '/' ? `/${k}` : `${p}/${k}`;
      if (child !== '/zookeeper') await visit(child);
    }
  };
  await visit('/');
  return out;
}

/**
 * The members' `srvr` zxids once they agree, or the last ones read after `timeoutMs`: a member
 * applies the last commit (a session's close, say) a moment after the client saw it answered.
 */
export async function settledZxids(clientPorts: readonly number[], timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const zxids = await Promise.all(clientPorts.map(async (p) => /Zxid: (0x[0-9a-f]+)/.exec(await fourLetterWord(HOST, p, 'srvr'))?.[1] ?? 'none'));
    if (new Set(zxids).size === 1 || Date.now() > deadline) return zxids;
    await new Promise((r) => setTimeout(r, 50));
  }
}
