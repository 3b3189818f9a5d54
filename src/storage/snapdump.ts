/**
 * `zkts snapshot-dump [-d | --json] <file>`: prints a snapshot as ZooKeeper's SnapshotFormatter
 * does (each node with its stored Stat, then the sessions and the last zxid), plus the stored
 * digest. Unlike SnapshotFormatter it checks the checksums and refuses a corrupt file.
 */
import * as path from 'node:path';
import type { DataTree } from './datatree';
import { join } from './paths';
import {
  CorruptSnapshotError,
  javaHashMapGrownBuckets,
  javaLongHashMapOrder,
  parseSnapshot,
  readSnapshotBytes,
  zxidFromSnapshotName,
  type LoadedSnapshot,
} from './snapshot';

const USAGE = [
  'USAGE: zkts snapshot-dump [-d|--json] snapshot_file',
  '       -d dump the data for each znode',
  '       --json dump znode info in json format',
].join('\n');

/** ZooKeeper's exit code for a bad invocation. */
const EXIT_USAGE = 2;
const EXIT_ERROR = 1;

/** Java's String.format("%#016x", long): 0x, then two's complement hex, zero-padded to 16 chars. */
function hex16(v: bigint): string {
  const digits = BigInt.asUintN(64, v).toString(16);
  return '0x' + digits.padStart(14, '0');
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** java.util.Date.toString(): "EEE MMM dd HH:mm:ss zzz yyyy" in the local time zone. */
function javaDate(ms: bigint): string {
  const d = new Date(Number(ms));
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const zone =
    new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((x) => x.type === 'timeZoneName')?.value ?? 'UTC';
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${zone} ${d.getFullYear()}`;
}

function formatDetails(s: LoadedSnapshot, withData: boolean, out: string[]): void {
  const tree = s.tree;
  // ZooKeeper's count includes the root twice (it is kept under "" and "/").
  out.push(`ZNode Details (count=${tree.nodeCount + 1}):`);
  let maxZxid = 0n;
  for (const [p, n] of tree.nodesPreOrder()) {
    out.push('----', p);
    out.push(`  cZxid = ${hex16(n.czxid)}`);
    out.push(`  ctime = ${javaDate(n.ctime)}`);
    out.push(`  mZxid = ${hex16(n.mzxid)}`);
    out.push(`  mtime = ${javaDate(n.mtime)}`);
    out.push(`  pZxid = ${hex16(n.pzxid)}`);
    out.push(`  cversion = ${n.cversion}`);
    out.push(`  dataVersion = ${n.version}`);
    out.push(`  aclVersion = ${n.aversion}`);
    out.push(`  ephemeralOwner = ${hex16(n.ephemeralOwner)}`);
    if (withData) out.push(`  data = ${n.hasNullData ? '' : n.data!.toString('base64')}`);
    else out.push(`  dataLength = ${n.dataLength}`);
    if (n.mzxid > maxZxid) maxZxid = n.mzxid;
    if (n.pzxid > maxZxid) maxZxid = n.pzxid;
  }
  out.push('----');
  out.push('Session Details (sid, timeout, ephemeralCount):');
  const sessions = javaLongHashMapOrder([...s.sessions], (e) => e[0], javaHashMapGrownBuckets(s.sessions.size));
  for (const [id, timeoutMs] of sessions) out.push(`${hex16(id)}, ${timeoutMs}, ${tree.ephemeralsOf(id).size}`);
  if (s.digest) {
    const d = s.digest;
    const verdict = s.digestMatches === undefined ? '' : s.digestMatches ? ', matches the tree' : ', DOES NOT match the tree';
    out.push(`Target zxid digest is: ${BigInt.asUintN(64, d.zxid).toString(16)}, ${d.digest} (version ${d.version}${verdict})`);
  }
  const last = s.zxid > maxZxid ? s.zxid : maxZxid;
  out.push('----', `Last zxid: 0x${BigInt.asUintN(64, last).toString(16)}`);
}

function formatJson(tree: DataTree): string {
  let ino = 1000;
  let text = `[1,0,{"progname":"SnapshotFormatter.java","progver":"0.01","timestamp":${Date.now()}}`;
  const visit = (p: string): void => {
    const n = tree.getNode(p)!;
    const name = p === '/' ? '/' : p.slice(p.lastIndexOf('/') + 1);
    const len = n.dataLength;
    const self = `{"name":${JSON.stringify(name)},"asize":${len},"dsize":${len},"dev":0,"ino":${++ino}}`;
    text += ',';
    const kids = tree.childrenOf(n);
    if (kids.length === 0) {
      text += self;
      return;
    }
    text += '[' + self;
    for (const k of kids) visit(join(p, k));
    text += ']';
  };
  visit('/');
  return text + ']';
}

export async function snapshotDumpMain(
  argv: string[],
  io: { out: (s: string) => void; err: (s: string) => void } = {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
  },
): Promise<number> {
  let withData = false;
  let json = false;
  const files: string[] = [];
  for (const a of argv) {
    if (a === '-d') withData = true;
    else if (a === '--json' || a === '-json') json = true;
    else if (a.startsWith('-') && a !== '-') {
      io.err(`unknown option ${a}\n${USAGE}\n`);
      return EXIT_USAGE;
    } else files.push(a);
  }
  if (files.length !== 1) {
    io.err(USAGE + '\n');
    return EXIT_USAGE;
  }
  if (withData && json) {
    io.err('Cannot specify both data dump (-d) and json mode (--json) in same call\n');
    return EXIT_USAGE;
  }
  const file = files[0];
  let loaded: LoadedSnapshot;
  try {
    loaded = parseSnapshot(readSnapshotBytes(file), file, zxidFromSnapshotName(path.basename(file)), true);
  } catch (err) {
    if (err instanceof CorruptSnapshotError) io.err(`${err.message}\n`);
    else io.err(`cannot read ${file}: ${(err as Error).message}\n`);
    return EXIT_ERROR;
  }
  if (json) {
    io.out(formatJson(loaded.tree));
    return 0;
  }
  const lines: string[] = [];
  formatDetails(loaded, withData, lines);
  io.out(lines.join('\n') + '\n');
  return 0;
}
