// The 3-member ensembles the application fault tests run on: Apache ZooKeeper 3.8.0 members or zkts
// members, both from the same zoo.cfg entries (test/util/ensemble.ts), each member killed with
// SIGKILL by its PID and started again on its dataDir. Also: which member holds the most client
// sessions (from `cons`), and one member's copy of a subtree (compat-tests/fault-apps/zktree.py,
// Kazoo pinned to that member after a sync), to compare the members' trees.

import * as path from 'node:path';
import { startReferenceEnsemble, type EnsembleMember, type MemberKind, type ReferenceEnsemble } from '../../test/util/ensemble';
import { fourLetterWord } from '../../test/util/servers';
import { runProcess } from '../util/harness';

export type AppEnsembleName = 'reference-ensemble' | 'zkts-ensemble';
export const APP_ENSEMBLES: readonly AppEnsembleName[] = ['reference-ensemble', 'zkts-ensemble'];

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const ZKTREE = path.join(REPO_ROOT, 'compat-tests', 'fault-apps', 'zktree.py');
const ZKTREE_TIMEOUT_MS = 30_000;
/** Debian's Python, which has Debian's Kazoo (and psycopg2, for Patroni). */
export const PYTHON = '/usr/bin/python3';
export const QUORUM_TIMEOUT_MS = 60_000;

// tickTime 1000 as in the fault suite's runs; a session may ask for up to 60 s.
const ENSEMBLE_CONFIG: Record<string, string> = {
  tickTime: '1000',
  initLimit: '10',
  syncLimit: '5',
  maxSessionTimeout: '60000',
  '4lw.commands.whitelist': '*',
};

export async function startAppEnsemble(name: AppEnsembleName): Promise<ReferenceEnsemble> {
  const kind: MemberKind = name === 'zkts-ensemble' ? 'zkts' : '3.8.0';
  return startReferenceEnsemble({
    members: [kind, kind, kind],
    extraConfig: ENSEMBLE_CONFIG,
    jvmFlags: ['-Xmx128m'],
    quorumTimeoutMs: QUORUM_TIMEOUT_MS,
  });
}

export interface MemberOutage {
  sid: number;
  role: 'leader' | 'follower';
  /** From the SIGKILL until the two others serve as leader and follower. */
  quorumOfTwoMs: number;
  /** The leader among the two (the old one when a follower was killed). */
  leaderOfTwoSid: number;
}

/** SIGKILLs `member`, waits (bounded) until the other two form a quorum. */
export async function killMember(ensemble: ReferenceEnsemble, member: EnsembleMember, role: 'leader' | 'follower'): Promise<MemberOutage> {
  const killedAt = Date.now();
  await member.kill();
  const leader = await ensemble.waitForQuorum({ members: ensemble.members.filter((m) => m !== member), timeoutMs: QUORUM_TIMEOUT_MS });
  return { sid: member.sid, role, quorumOfTwoMs: Date.now() - killedAt, leaderOfTwoSid: leader.sid };
}

/** Starts `member` again on its dataDir; waits (bounded) until all three serve. Returns the leader. */
export async function restartMember(ensemble: ReferenceEnsemble, member: EnsembleMember): Promise<EnsembleMember> {
  await member.start();
  return ensemble.waitForQuorum({ members: ensemble.members, timeoutMs: QUORUM_TIMEOUT_MS });
}

/** Number of client sessions a member's `cons` lists (each connection line names `sid=0x...`). */
export async function sessionCount(member: EnsembleMember): Promise<number> {
  const cons = await fourLetterWord(member.host, member.clientPort, 'cons').catch(() => '');
  return [...cons.matchAll(/sid=0x[0-9a-f]+/g)].length;
}

/** The follower with the most client sessions (the lowest sid among equals). */
export async function busiestFollower(ensemble: ReferenceEnsemble, leader: EnsembleMember): Promise<EnsembleMember> {
  let best: { member: EnsembleMember; sessions: number } | undefined;
  for (const m of ensemble.members) {
    if (m === leader) continue;
    const sessions = await sessionCount(m);
    if (best === undefined || sessions > best.sessions) best = { member: m, sessions };
  }
  if (!best) throw new Error('no follower');
  return best.member;
}

export interface TreeEntry {
  path: string;
  sha1: string;
  version: number;
  czxid: string;
  mzxid: string;
  ephemeralOwner: string;
  numChildren: number;
}

/** One member's copy of the subtree at `root`, read through a session on that member alone. */
export async function memberTree(member: EnsembleMember, root: string): Promise<TreeEntry[]> {
  const r = await runProcess(PYTHON, [ZKTREE, '--connect', member.connectString, '--root', root], { timeoutMs: ZKTREE_TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`zktree on member ${member.sid}: code ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout) as TreeEntry[];
}

/** Every member's copy of `root`, sid 1 first. */
export async function memberTrees(ensemble: ReferenceEnsemble, root: string): Promise<TreeEntry[][]> {
  const trees: TreeEntry[][] = [];
  for (const m of ensemble.members) trees.push(await memberTree(m, root));
  return trees;
}

/** The paths of a tree relative to `root`, for comparing two ensembles whose zxids differ. */
export function relativePaths(tree: readonly TreeEntry[], root: string): string[] {
  return tree.map((e) => (e.path === root ? '.' : e.path.slice(root.length + 1)));
}

/** All members of every ensemble log, for a failure message (the end of each). */
export function ensembleLogs(ensemble: ReferenceEnsemble, chars = 3000): string {
  return ensemble.members.map((m) => `--- member ${m.sid}\n${m.log().slice(-chars)}`).join('\n');
}
