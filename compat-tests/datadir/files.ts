// The files of a data dir in ZooKeeper's layout, and ZooKeeper's own tools reading them:
// TxnLogToolkit for log.<zxid>, SnapshotFormatter for snapshot.<zxid>.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { javaClasspath } from '../../test/util/servers';
import { log4jOffConfig, runMerged } from '../util/harness';

const JAVA_TIMEOUT_MS = 60_000;

export interface Dirs {
  dataDir: string;
  dataLogDir: string;
}

export interface DataFile {
  kind: 'log' | 'snapshot';
  file: string;
  /** The zxid in the file's name. */
  zxid: bigint;
  /** Size and modification time, to tell a rewritten file from the one seen before. */
  version: string;
}

/** Every snapshot.<hex> in dataDir/version-2 and log.<hex> in dataLogDir/version-2. */
export function dataFiles(dirs: Dirs): DataFile[] {
  const out: DataFile[] = [];
  const scan = (dir: string, kind: 'log' | 'snapshot') => {
    const v2 = path.join(dir, 'version-2');
    if (!fs.existsSync(v2)) return;
    for (const name of fs.readdirSync(v2)) {
      const m = new RegExp(`^${kind}\\.([0-9a-f]+)$`).exec(name);
      if (!m) continue;
      const file = path.join(v2, name);
      const st = fs.statSync(file, { bigint: true });
      out.push({ kind, file, zxid: BigInt('0x' + m[1]), version: `${st.size}:${st.mtimeNs}:${st.ino}` });
    }
  };
  scan(dirs.dataDir, 'snapshot');
  scan(dirs.dataLogDir, 'log');
  return out.sort((a, b) => (a.kind === b.kind ? (a.zxid < b.zxid ? -1 : a.zxid > b.zxid ? 1 : 0) : a.kind < b.kind ? -1 : 1));
}

/** The files in `after` that are new or were rewritten since `before`. */
export function newFiles(before: DataFile[], after: DataFile[]): DataFile[] {
  const seen = new Set(before.map((f) => `${f.file} ${f.version}`));
  return after.filter((f) => !seen.has(`${f.file} ${f.version}`));
}

async function runJavaTool(mainClass: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const r = await runMerged(
    'java',
    [
      '-Xmx128m',
      '-XX:TieredStopAtLevel=1',
      `-Dlog4j.configuration=file:${log4jOffConfig()}`,
      '-Dzookeeper.extendedTypesEnabled=true',
      '-cp',
      javaClasspath(),
      mainClass,
      ...args,
    ],
    '',
    JAVA_TIMEOUT_MS,
    { ...process.env, TZ: 'UTC' },
  );
  return { code: r.code, output: r.output };
}

export interface LogDump {
  code: number | null;
  output: string;
  /** zxids of the txns listed, in file order. */
  zxids: bigint[];
  /** N of "EOF reached after N txns.", or undefined. */
  eofAfter?: number;
  problems: string[];
}

/** `TxnLogToolkit -d <file>`: dumps every txn of a log file, checking each record's CRC. */
export async function txnLogToolkit(file: string): Promise<LogDump> {
  const r = await runJavaTool('org.apache.zookeeper.server.persistence.TxnLogToolkit', ['-d', file]);
  const zxids: bigint[] = [];
  for (const m of r.output.matchAll(/ session 0x[0-9a-f]+ cxid 0x[0-9a-f]+ zxid 0x([0-9a-f]+) /g)) zxids.push(BigInt('0x' + m[1]));
  const eof = /EOF reached after (\d+) txns\./.exec(r.output);
  // Txn lines name error txns ("error -110"); anything else that complains is a problem.
  const txnLine = / session 0x[0-9a-f]+ cxid 0x[0-9a-f]+ zxid 0x[0-9a-f]+ /;
  const problems = r.output
    .split('\n')
    .filter((l) => /CRC ERROR/.test(l) || (!txnLine.test(l) && /Exception|partial|corrupt|error/i.test(l)));
  return { code: r.code, output: r.output, zxids, eofAfter: eof ? Number(eof[1]) : undefined, problems };
}

export interface SnapDump {
  code: number | null;
  output: string;
  /** Paths listed under "ZNode Details". */
  paths: string[];
  problems: string[];
}

/** `SnapshotFormatter <file>`: reads a whole snapshot (checksum included) and prints it. */
export async function snapshotFormatter(file: string): Promise<SnapDump> {
  const r = await runJavaTool('org.apache.zookeeper.server.SnapshotFormatter', [file]);
  const paths: string[] = [];
  const lines = r.output.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) if (lines[i] === '----' && lines[i + 1].startsWith('/')) paths.push(lines[i + 1]);
  const problems = lines.filter((l) => /Exception|CRC|checksum|corrupt|error/i.test(l));
  return { code: r.code, output: r.output, paths, problems };
}

export interface SnapLoad {
  file: string;
  ok: boolean;
  line: string;
  /** 'none', 'matches' or 'MISMATCH ...'. */
  digest: string;
}

/** SnapCheck.java: loads each snapshot as the server does (checksums, digest section) and compares
 * the stored digest with ZooKeeper's digest of the tree it read. */
export async function loadSnapshots(files: string[]): Promise<{ code: number | null; output: string; loads: SnapLoad[] }> {
  if (files.length === 0) return { code: 0, output: '', loads: [] };
  const source = path.join(__dirname, '..', '..', '..', 'compat-tests', 'datadir', 'SnapCheck.java');
  const r = await runJavaTool(source, files);
  const lines = r.output.split('\n');
  const loads = files.map((file) => {
    const line = lines.find((l) => l.startsWith(`${path.basename(file)} `)) ?? '<no line>';
    const digest = /digest (?:zxid=0x[0-9a-f]+ )?(.*)$/.exec(line);
    return { file, ok: / ok nodes=/.test(line), line, digest: digest ? digest[1] : '' };
  });
  return { code: r.code, output: r.output, loads };
}
