// The final state of a fault run (FAULTS-SPEC.md "Final state"): once every fault is healed and
// every member serves, each member is read alone (a session to it only, after sync): the registers,
// the seq children, the counter, its last zxid, and its whole tree (every znode outside /zookeeper
// with its data and stat), whose dumps must be identical across members. Then the acknowledged
// operations of the histories are checked against every member: the `lost` count.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { Err, OpCode } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import { ZkClient } from '../../test/util/client';
import type { Cluster, Member } from './cluster';

export const REGISTER_KEYS = Array.from({ length: 32 }, (_, i) => `/faults/reg/${i}`);
const SESSION_TIMEOUT_MS = 6000;

export interface RegisterState {
  exists: boolean;
  value?: number;
  version?: number;
  mzxid?: string;
}

export interface MemberFinal {
  id: number;
  kind: string;
  address: string;
  registers: Record<string, RegisterState>;
  seqChildren: string[];
  counter: { a: number; b: number } | null;
  lastZxid: string;
  treeDigest: string;
  treeNodes: number;
}

export interface FinalState {
  members: MemberFinal[];
}

const hex = (z: bigint): string => `0x${z.toString(16)}`;

async function ok<T>(what: string, p: Promise<{ header: R.ReplyHeader; reader: import('../../src/protocol/jute').JuteReader }>, decode: (r: import('../../src/protocol/jute').JuteReader) => T): Promise<T | null> {
  const r = await p;
  if (r.header.err === Err.NONODE) return null;
  if (r.header.err !== Err.OK) throw new Error(`${what}: error ${r.header.err}`);
  return decode(r.reader);
}

/** Every znode outside /zookeeper as a line (path, data hex, stat), parents first, children sorted. */
export async function dumpTree(c: ZkClient): Promise<string[]> {
  const out: string[] = [];
  const visit = async (p: string): Promise<void> => {
    const got = await ok(`getData ${p}`, c.getData(p), R.decodeGetDataResponse);
    if (got === null) return; // Deleted while we walked: the caller compares dumps again.
    const stat = Object.entries(got.stat)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ');
    out.push(`${p} ${got.data === null ? 'null' : got.data.toString('hex')} ${stat}`);
    const kids = await ok(`getChildren ${p}`, c.getChildren(p), R.decodeGetChildrenResponse);
    for (const k of (kids?.children ?? []).sort()) {
      const child = p === '/' ? `/${k}` : `${p}/${k}`;
      if (child !== '/zookeeper') await visit(child);
    }
  };
  await visit('/');
  return out;
}

async function readMember(m: Member, finalHistory: (line: object) => void): Promise<{ final: MemberFinal; tree: string[] }> {
  const c = await ZkClient.connect(m.address, m.clientPort, { timeoutMs: SESSION_TIMEOUT_MS });
  try {
    if (c.sessionId === 0n) throw new Error(`${m.name} refused a session`);
    const registers: Record<string, RegisterState> = {};
    for (const key of REGISTER_KEYS) {
      const t0 = process.hrtime.bigint();
      const s = await c.request(OpCode.sync, (w) => R.encodeSyncRequest(w, { path: key }));
      if (s.header.err !== Err.OK) throw new Error(`sync ${key} on ${m.name}: error ${s.header.err}`);
      const got = await ok(`getData ${key}`, c.getData(key), R.decodeGetDataResponse);
      const t1 = process.hrtime.bigint();
      const state: RegisterState =
        got === null ? { exists: false } : { exists: true, value: Number((got.data ?? Buffer.alloc(0)).toString('utf8')), version: got.stat.version, mzxid: hex(got.stat.mzxid) };
      registers[key] = state;
      finalHistory({ proc: `final-${m.id}`, wl: 'register', f: 'sync-read', key, in: {}, status: 'ok', out: state, err: null, t0: Number(t0), t1: Number(t1), session: hex(c.sessionId), member: m.connectString });
    }
    const seq = await ok('getChildren /faults/seq', c.getChildren('/faults/seq'), R.decodeGetChildrenResponse);
    const a = await ok('getData /faults/ctr/a', c.getData('/faults/ctr/a'), R.decodeGetDataResponse);
    const b = await ok('getData /faults/ctr/b', c.getData('/faults/ctr/b'), R.decodeGetDataResponse);
    const tree = await dumpTree(c);
    // Replaced by the settled value once every reading session is closed (collectFinal).
    const lastZxid = 'unknown';
    return {
      final: {
        id: m.id,
        kind: m.target,
        address: m.connectString,
        registers,
        seqChildren: (seq?.children ?? []).sort(),
        counter: a && b ? { a: Number(a.data?.toString('utf8')), b: Number(b.data?.toString('utf8')) } : null,
        lastZxid,
        treeDigest: crypto.createHash('sha256').update(tree.join('\n')).digest('hex'),
        treeNodes: tree.length,
      },
      tree,
    };
  } finally {
    await c.close(3000).catch(() => undefined);
    c.destroy();
  }
}

export interface FinalResult {
  final: FinalState;
  treesIdentical: boolean;
  /** The first differing lines, when the trees differ. */
  treeDiff: string[];
}

/**
 * Reads every member until their trees agree or `timeoutMs` passes (a session a workload left
 * behind may still expire and remove its ephemeral nodes meanwhile); the last reading is kept.
 */
export async function collectFinal(cluster: Cluster, finalHistoryPath: string, timeoutMs = 30_000): Promise<FinalResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines: object[] = [];
    const read = await Promise.all(cluster.members.map((m) => readMember(m, (l) => lines.push(l))));
    const trees = read.map((r) => r.tree);
    const identical = trees.every((t) => t.join('\n') === trees[0].join('\n'));
    if (identical || Date.now() > deadline) {
      const zxids = await settledZxids(cluster, 10_000);
      for (const r of read) r.final.lastZxid = zxids.get(r.final.id) ?? 'unknown';
      fs.writeFileSync(finalHistoryPath, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
      return { final: { members: read.map((r) => r.final) }, treesIdentical: identical, treeDiff: identical ? [] : treeDiff(read.map((r) => r.final.id), trees) };
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * Every member's `srvr` zxid once they agree (or the last reading after `timeoutMs`): the reading
 * sessions' own close is a txn that reaches each member a moment apart.
 */
async function settledZxids(cluster: Cluster, timeoutMs: number): Promise<Map<number, string>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = new Map<number, string>();
    for (const m of cluster.members) out.set(m.id, /^Zxid: (0x[0-9a-f]+)/im.exec((await m.srvrText()) ?? '')?.[1] ?? 'unknown');
    if (new Set(out.values()).size === 1 || Date.now() > deadline) return out;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function treeDiff(ids: number[], trees: string[][]): string[] {
  const out: string[] = [];
  for (let i = 1; i < trees.length; i++) {
    const a = new Set(trees[0]);
    const b = new Set(trees[i]);
    for (const l of trees[0]) if (!b.has(l) && out.length < 20) out.push(`only on member ${ids[0]} (not ${ids[i]}): ${l}`);
    for (const l of trees[i]) if (!a.has(l) && out.length < 20) out.push(`only on member ${ids[i]} (not ${ids[0]}): ${l}`);
  }
  return out;
}

/** One line of a history file (FAULTS-SPEC.md). */
export interface HistoryOp {
  proc: string;
  wl: string;
  f: string;
  key?: string;
  in?: Record<string, unknown>;
  status: 'ok' | 'fail' | 'info';
  out?: Record<string, unknown> | null;
  err?: string | null;
  t0: number;
  t1: number | null;
  session?: string | null;
  member?: string | null;
}

/** Reads a JSONL history; a torn last line (a workload killed mid-write) is skipped. */
export function readHistory(file: string): HistoryOp[] {
  if (!fs.existsSync(file)) return [];
  const out: HistoryOp[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as HistoryOp);
    } catch {
      // A partial line.
    }
  }
  return out;
}

export interface LostReport {
  /** Acknowledged operations missing from at least one member. */
  lost: number;
  /** Acknowledged operations checked. */
  checked: number;
  details: string[];
}

/**
 * Every acknowledged seq-create must be among every member's seq children; every acknowledged write
 * (write, cas, create) must be visible on every member: the key's mzxid there at least the write's,
 * or the key absent only when some delete of it may have taken effect; every acknowledged counter
 * increment to n must have left both counters at n or more.
 */
export function countLost(ops: readonly HistoryOp[], final: FinalState): LostReport {
  const details: string[] = [];
  let lost = 0;
  let checked = 0;
  const deletedKeys = new Set(ops.filter((o) => o.f === 'delete' && o.status !== 'fail' && o.key).map((o) => o.key as string));
  for (const o of ops) {
    if (o.status !== 'ok' || o.proc.startsWith('final-')) continue;
    const missing: number[] = [];
    if (o.f === 'seq-create') {
      const name = String(o.out?.name ?? '');
      checked++;
      for (const m of final.members) if (!m.seqChildren.includes(name)) missing.push(m.id);
    } else if (o.wl === 'register' && (o.f === 'write' || o.f === 'cas' || o.f === 'create') && o.key) {
      const mzxid = o.out?.mzxid;
      if (typeof mzxid !== 'string') continue;
      checked++;
      const z = BigInt(mzxid);
      for (const m of final.members) {
        const reg = m.registers[o.key];
        const memberZxid = m.lastZxid.startsWith('0x') ? BigInt(m.lastZxid) : -1n;
        if (memberZxid >= 0n && memberZxid < z) missing.push(m.id);
        else if (reg?.exists) {
          if (BigInt(reg.mzxid ?? '0x0') < z) missing.push(m.id);
        } else if (!deletedKeys.has(o.key)) missing.push(m.id);
      }
    } else if (o.wl === 'counter' && o.f === 'incr') {
      const to = Number(o.out?.to);
      if (!Number.isFinite(to)) continue;
      checked++;
      for (const m of final.members) if (!m.counter || m.counter.a < to || m.counter.b < to) missing.push(m.id);
    } else continue;
    if (missing.length > 0) {
      lost++;
      if (details.length < 50) details.push(`${o.proc} ${o.f} ${o.key ?? ''} ${JSON.stringify(o.in ?? {})} -> ${JSON.stringify(o.out)} missing on member(s) ${missing.join(',')}`);
    }
  }
  return { lost, checked, details };
}
