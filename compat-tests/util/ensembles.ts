// Three-member (or five-member) ensembles as compat targets: Apache ZooKeeper 3.8.0 (test/util/ensemble.ts) and
// zkts (test/util/zktsensemble.ts), started from the same zoo.cfg entries and system properties.
// Clients get a connect string listing every member, or one member's address to be pinned to it.
// zxids of a fresh ensemble carry the leader's epoch in their high 32 bits; `zxidBase` is that
// prefix, so that a transcript can be compared with a standalone server's.

import { fourLetterWord } from '../../test/util/servers';
import { srvrStatus, startReferenceEnsemble, waitForLeaderAndFollowers } from '../../test/util/ensemble';
import { startZktsEnsemble } from '../../test/util/zktsensemble';
import type { Test } from 'tap';
import { firstDifference, type ServerOptions } from './harness';

export type EnsembleTargetName = 'reference-ensemble' | 'zkts-ensemble';

export const ENSEMBLE_TARGETS: readonly EnsembleTargetName[] = ['reference-ensemble', 'zkts-ensemble'];

const HOST = '127.0.0.1';
const QUORUM_TIMEOUT_MS = 60_000;
// The standalone targets run with ZooKeeper's generated tickTime=2000; the ensembles use the same,
// so negotiated session timeouts agree with the standalone transcripts.
const ENSEMBLE_CONFIG: Record<string, string> = { tickTime: '2000', initLimit: '10', syncLimit: '5' };

export interface RunningEnsemble {
  readonly name: EnsembleTargetName;
  /** Every member's address. */
  readonly connectString: string;
  /** One address per member, sid 1 first. */
  readonly memberConnectStrings: readonly string[];
  readonly memberPorts: readonly number[];
  /**
   * What ZooKeeper 3.8 puts in /zookeeper/config on an ensemble member: its `server.N=...` lines
   * with the role, then `version=0` (the members' zoo.cfg has no dynamic config file).
   */
  readonly dynamicConfig: string;
  /** epoch << 32 of the ensemble's first leader: a fresh ensemble's zxids are this plus a counter. */
  readonly zxidBase: bigint;
  /** Index (0-based) of the member that says leader, all others following (bounded wait). */
  leaderIndex(timeoutMs?: number): Promise<number>;
  /** Index of the member holding a connection of the session, from its `cons` (undefined: none). */
  memberOfSession(sessionIdHex: string): Promise<number | undefined>;
  isRunning(index: number): boolean;
  stopMember(index: number): Promise<void>;
  stop(): Promise<void>;
  /** Every member's log, for failure messages. */
  logs(): string;
}

/** ZooKeeper's `cons` line of a connection names its session as `sid=0x...`. */
export function consHasSession(cons: string, sessionIdHex: string): boolean {
  const want = BigInt(sessionIdHex);
  for (const m of cons.matchAll(/sid=(0x[0-9a-f]+)/g)) if (BigInt(m[1]) === want) return true;
  return false;
}

/** `size`: 3 members (the default) or 5, each started from the same kind of zoo.cfg lines. */
export async function startEnsembleTarget(name: EnsembleTargetName, opts: ServerOptions = {}, size = 3): Promise<RunningEnsemble> {
  const extraConfig = { ...ENSEMBLE_CONFIG, ...(opts.extraConfig ?? {}) };
  const props = opts.systemProps ?? {};
  let ports: number[];
  let stopMember: (i: number) => Promise<void>;
  let isRunning: (i: number) => boolean;
  let stopAll: () => Promise<void>;
  let logs: () => string;
  let serverLines: Record<string, string>;
  if (name === 'reference-ensemble') {
    const e = await startReferenceEnsemble({
      members: Array.from({ length: size }, () => '3.8.0' as const),
      extraConfig,
      jvmFlags: ['-Xmx128m', ...Object.entries(props).map(([k, v]) => `-D${k}=${v}`)],
      quorumTimeoutMs: QUORUM_TIMEOUT_MS,
    });
    ports = e.members.map((m) => m.clientPort);
    serverLines = e.serverLines;
    stopMember = (i) => e.members[i].stop();
    isRunning = (i) => e.members[i].isRunning();
    stopAll = () => e.stop();
    logs = () => e.members.map((m) => `--- member ${m.sid}\n${m.log()}`).join('\n');
  } else {
    const e = await startZktsEnsemble(size, extraConfig, props);
    const stopped = new Set<number>();
    ports = e.clientPorts;
    serverLines = e.serverLines;
    stopMember = async (i) => {
      stopped.add(i);
      await e.members[i]?.stop();
    };
    isRunning = (i) => !stopped.has(i);
    stopAll = () => e.stop();
    logs = () => e.members.map((m, i) => `--- member ${i + 1}\n${m?.log() ?? ''}`).join('\n');
  }
  const endpoints = ports.map((port) => ({ host: HOST, port }));
  const running = (): number[] => ports.flatMap((_p, i) => (isRunning(i) ? [i] : []));
  let zxidBase: bigint;
  try {
    const leader = await waitForLeaderAndFollowers(endpoints, QUORUM_TIMEOUT_MS);
    const zxid = (await srvrStatus(HOST, ports[leader])).zxid;
    if (zxid === undefined) throw new Error(`${name}: the leader's srvr shows no Zxid`);
    zxidBase = (zxid >> 32n) << 32n;
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    name,
    connectString: ports.map((p) => `${HOST}:${p}`).join(','),
    memberConnectStrings: ports.map((p) => `${HOST}:${p}`),
    memberPorts: ports,
    zxidBase,
    dynamicConfig: [...Object.entries(serverLines).map(([k, v]) => `${k}=${v}:participant`), 'version=0'].join('\n'),
    async leaderIndex(timeoutMs = QUORUM_TIMEOUT_MS) {
      const among = running();
      return among[await waitForLeaderAndFollowers(among.map((i) => endpoints[i]), timeoutMs)];
    },
    async memberOfSession(sessionIdHex) {
      for (const i of running()) {
        const cons = await fourLetterWord(HOST, ports[i], 'cons').catch(() => '');
        if (consHasSession(cons, sessionIdHex)) return i;
      }
      return undefined;
    },
    isRunning,
    stopMember,
    stop: stopAll,
    logs,
  };
}

/**
 * A zxid written in hex (with or without 0x) on an ensemble, as it would read on a fresh standalone
 * server: the epoch prefix taken off. Zero stays zero.
 */
export function standaloneZxidHex(hexText: string, zxidBase: bigint, prefix: '0x' | '' = '0x'): string {
  const z = BigInt(`0x${hexText.replace(/^0x/, '')}`);
  if (z === 0n) return `${prefix}0`;
  return `${prefix}${(z - zxidBase).toString(16)}`;
}

/**
 * The ZooKeeper ensemble's transcript must be standalone ZooKeeper 3.8.0's, and the zkts
 * ensemble's the ZooKeeper ensemble's.
 */
export function compareEnsembleTranscripts(t: Test, standalone: readonly string[] | undefined, ensembles: ReadonlyMap<EnsembleTargetName, string[]>): void {
  const ref = ensembles.get('reference-ensemble');
  const zk = ensembles.get('zkts-ensemble');
  if (!standalone || !ref || !zk) {
    t.fail('a transcript is missing');
    return;
  }
  t.strictSame(ref, standalone, `ZooKeeper ensemble as standalone 3.8.0: ${firstDifference(standalone, ref, ['3.8.0', '3.8.0 ensemble'])}`);
  t.strictSame(zk, ref, `zkts ensemble as ZooKeeper ensemble: ${firstDifference(ref, zk, ['3.8.0 ensemble', 'zkts ensemble'])}`);
}
