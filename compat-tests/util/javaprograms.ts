// Shared by the compat tests that run the Java programs of compat-tests/java (the Java client's
// RawClientScenarios, Curator's CuratorScenarios) against standalone servers and ensembles:
// compiling them, running one against a connect string, and reading and comparing transcripts.

import type { Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { javaClasspath, RunningServer, startReferenceZooKeeper, type ReferenceVersion } from '../../test/util/servers';
import { runProcess, type RunResult } from './harness';
import { startEnsembleTarget, type EnsembleTargetName, type RunningEnsemble } from './ensembles';

// This module runs as dist/compat-tests/util/javaprograms.js; the Java sources stay in the source tree.
const JAVA_SOURCE_DIR = path.resolve(__dirname, '..', '..', '..', 'compat-tests', 'java');

const JAVAC_TIMEOUT_MS = 120_000;
export const PROGRAM_TIMEOUT_MS = 90_000;
const DIFF_LINES_MAX = 400;
const TAIL_CHARS = 6_000;

const CLIENT_LOG4J = [
  'log4j.rootLogger=WARN, ERR',
  'log4j.appender.ERR=org.apache.log4j.ConsoleAppender',
  'log4j.appender.ERR.Target=System.err',
  'log4j.appender.ERR.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.ERR.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n',
  '',
].join('\n');

export interface Program {
  mainClass: string;
  // System properties given to both servers (JVM flags for the reference, -D for zkts).
  serverProps: Record<string, string>;
}

export const PROGRAMS: readonly Program[] = [
  {
    mainClass: 'RawClientScenarios',
    serverProps: {
      'zookeeper.extendedTypesEnabled': 'true',
      'znode.container.checkIntervalMs': '1000',
    },
  },
  { mainClass: 'CuratorScenarios', serverProps: {} },
];

function run(command: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return runProcess(command, args, { timeoutMs });
}

export function transcriptLines(stdout: string): string[] {
  const lines = stdout.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export function tail(text: string): string {
  return text.length <= TAIL_CHARS ? text : '...' + text.slice(text.length - TAIL_CHARS);
}

// Line diff (longest common subsequence), printed with two lines of context:
// "-" lines only the first printed, "+" lines only the second.
export function lineDiff(expected: string[], actual: string[], labels: readonly [string, string] = ['reference', 'zkts']): string {
  const n = expected.length;
  const m = actual.length;
  const lcs: Uint32Array[] = [];
  for (let i = 0; i <= n; i++) lcs.push(new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = expected[i] === actual[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const ops: { kind: ' ' | '-' | '+'; text: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && expected[i] === actual[j]) {
      ops.push({ kind: ' ', text: expected[i] });
      i++;
      j++;
    } else if (j < m && (i >= n || lcs[i][j + 1] >= lcs[i + 1][j])) {
      ops.push({ kind: '+', text: actual[j] });
      j++;
    } else {
      ops.push({ kind: '-', text: expected[i] });
      i++;
    }
  }
  const context = 2;
  const keep = new Array<boolean>(ops.length).fill(false);
  ops.forEach((op, k) => {
    if (op.kind === ' ') return;
    for (let c = Math.max(0, k - context); c <= Math.min(ops.length - 1, k + context); c++) keep[c] = true;
  });
  const out: string[] = [`--- ${labels[0]}`, `+++ ${labels[1]}`];
  let skipped = false;
  for (let k = 0; k < ops.length; k++) {
    if (!keep[k]) {
      skipped = true;
      continue;
    }
    if (skipped) out.push('@@');
    skipped = false;
    out.push(`${ops[k].kind} ${ops[k].text}`);
    if (out.length >= DIFF_LINES_MAX) {
      out.push(`... (diff truncated at ${DIFF_LINES_MAX} lines)`);
      break;
    }
  }
  return out.join('\n');
}

const MIXED_WATCH_MODES = '# mixed watch modes';

/**
 * Lines compared between 3.8.0 and 3.9.5. One block is left out: one session watching one path in
 * two modes. ZooKeeper 3.8.0 keeps a single mode per session, path and kind, so the latest
 * registration wins; that was a bug (ZOOKEEPER-4466), fixed for 3.9, and zkts keeps the modes apart
 * as 3.9 does. The block runs on every server all the same, and what follows it must still match.
 * zkts is compared with 3.9.5 on every line, that block included.
 */
export function comparedLines(lines: string[]): string[] {
  return splitMixedWatchModes(lines).rest;
}

export function splitMixedWatchModes(lines: string[]): { block: string[]; rest: string[] } {
  const block: string[] = [];
  const rest: string[] = [];
  let inBlock = false;
  for (const line of lines) {
    if (line.startsWith(MIXED_WATCH_MODES)) inBlock = true;
    else if (inBlock && line.startsWith('#')) inBlock = false;
    (inBlock ? block : rest).push(line);
  }
  return { block, rest };
}

/**
 * 3.8.0's lines with the answers 3.9 gives by design put in: exists asks READ of a node that
 * exists in 3.9 (ZOOKEEPER-2590), so where 3.8.0 printed a Stat, 3.9.5 prints NOAUTH. Returns the
 * lines and how many were put in.
 */
export function as39(lines38: string[], lines39: string[]): { lines: string[]; replaced: number } {
  let replaced = 0;
  const lines = lines38.map((l38, i) => {
    const l39 = lines39[i];
    if (l39 === undefined || l38 === l39) return l38;
    const [op38, answer38] = [l38.slice(0, l38.indexOf(' -> ')), l38.slice(l38.indexOf(' -> ') + 4)];
    const [op39, answer39] = [l39.slice(0, l39.indexOf(' -> ')), l39.slice(l39.indexOf(' -> ') + 4)];
    if (op38 === op39 && /(^|\s)exists\s/.test(op38) && answer38.startsWith('czxid=') && answer39.startsWith('ERR NOAUTH(-102)')) {
      replaced++;
      return l39;
    }
    return l38;
  });
  return { lines, replaced };
}

/**
 * A transcript from an ensemble as a fresh standalone server would print it: Tx prints zxids
 * relative to a base read at the start, so zxid 0 (the root and the system nodes) shows as
 * z-<base>, and an ensemble's base carries the epoch in its high 32 bits.
 */
export function ensembleLines(lines: string[], zxidBase: bigint): string[] {
  return lines.map((l) => l.replace(/z-(\d+)/g, (m, n: string) => (BigInt(n) >= zxidBase ? `z-${BigInt(n) - zxidBase}` : m)));
}

const CONFIG_LINE = /(?:getConfig|\/zookeeper\/config) ->/;

export function configLines(lines: string[]): string[] {
  return lines.filter((l) => CONFIG_LINE.test(l));
}

export function withoutConfigLines(lines: string[]): string[] {
  return lines.filter((l) => !CONFIG_LINE.test(l));
}

/**
 * A standalone server's line about /zookeeper/config as a ZooKeeper 3.8.0 ensemble member prints
 * it: the dynamic config as data, data version -1, its length, an mtime (the member's load time).
 */
export function asEnsembleConfigLine(line: string, dynamicConfig: string): string {
  return line
    .replace(/-> '' /, `-> '${dynamicConfig.replace(/\n/g, '\\u000a')}' `)
    .replace(/ version=0 /, ' version=-1 ')
    .replace(/ dataLength=0 /, ` dataLength=${Buffer.byteLength(dynamicConfig)} `)
    .replace(/ mtime=0\b/, ' mtime>0');
}

export function sameLines(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((l, k) => l === b[k]);
}

export async function runProgram(
  classesDir: string,
  log4jPath: string,
  mainClass: string,
  server: { connectString: string },
  oneServer?: string,
): Promise<RunResult> {
  return run(
    'java',
    [
      '-Xmx256m',
      `-Dlog4j.configuration=file:${log4jPath}`,
      '-cp',
      [classesDir, javaClasspath()].join(path.delimiter),
      mainClass,
      server.connectString,
      ...(oneServer ? [oneServer] : []),
    ],
    PROGRAM_TIMEOUT_MS,
  );
}

export function describeRun(label: string, r: RunResult, server: RunningServer | undefined): Record<string, unknown> {
  return {
    run: label,
    exitCode: r.code,
    signal: r.signal,
    timedOut: r.timedOut,
    durationMs: r.durationMs,
    lastLines: transcriptLines(r.stdout).slice(-15),
    stderr: tail(r.stderr),
    serverLog: server ? tail(server.log()) : undefined,
  };
}


/** The compiled programs: a classes directory (removed at the test's end) and the clients' log4j file. */
export interface JavaPrograms {
  classesDir: string;
  log4jPath: string;
}

/** Compiles compat-tests/java (one assertion); undefined when javac fails. */
export async function compileJavaPrograms(t: Test): Promise<JavaPrograms | undefined> {
  const classesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-java-compat-'));
  t.teardown(() => fs.rmSync(classesDir, { recursive: true, force: true }));
  const log4jPath = path.join(classesDir, 'client-log4j.properties');
  fs.writeFileSync(log4jPath, CLIENT_LOG4J);

  const sources = fs
    .readdirSync(JAVA_SOURCE_DIR)
    .filter((name) => name.endsWith('.java'))
    .map((name) => path.join(JAVA_SOURCE_DIR, name));
  const javac = await run(
    'javac',
    ['-encoding', 'UTF-8', '-d', classesDir, '-cp', javaClasspath(), ...sources],
    JAVAC_TIMEOUT_MS,
  );
  if (javac.code !== 0) {
    t.fail('javac compiles compat-tests/java', { stdout: javac.stdout, stderr: tail(javac.stderr) });
    return undefined;
  }
  t.pass(`javac compiled ${sources.length} files in ${javac.durationMs} ms`);
  return { classesDir, log4jPath };
}

/** The JVM flags that give a program's server properties to a reference server. */
export function jvmFlagsOf(program: Program): string[] {
  return Object.entries(program.serverProps).map(([k, v]) => `-D${k}=${v}`);
}

/**
 * The program against a fresh standalone ZooKeeper of each release, each run asserted to exit 0:
 * the transcripts by release.
 */
export async function referenceTranscripts(t: Test, programs: JavaPrograms, program: Program): Promise<Map<ReferenceVersion, string[]>> {
  const references = new Map<ReferenceVersion, string[]>();
  for (const version of ['3.8.0', '3.9.5'] as const) {
    const reference = await startReferenceZooKeeper({ version, jvmFlags: jvmFlagsOf(program) });
    t.teardown(() => reference.stop());
    const r = await runProgram(programs.classesDir, programs.log4jPath, program.mainClass, reference);
    await reference.stop();
    t.equal(r.code, 0, `ZooKeeper ${version} run exits 0 (${r.durationMs} ms)`, describeRun(version, r, reference));
    references.set(version, transcriptLines(r.stdout));
  }
  return references;
}

/**
 * The program against a `size`-member ensemble, given every member (and one follower's address
 * for the connection-level session cases): ZooKeeper's ensemble must print standalone 3.8.0's
 * transcript, zkts's ensemble standalone 3.9.5's (zkts's release), zxids without the epoch and
 * /zookeeper/config holding the ensemble's dynamic config.
 */
export async function checkOnEnsemble(
  t: Test,
  programs: JavaPrograms,
  program: Program,
  target: EnsembleTargetName,
  size: number,
  references: ReadonlyMap<ReferenceVersion, string[]>,
): Promise<void> {
  let ensemble: RunningEnsemble;
  try {
    ensemble = await startEnsembleTarget(target, { systemProps: program.serverProps }, size);
  } catch (err) {
    t.fail(`${size}-member ${target} starts: ${(err as Error).message.slice(0, TAIL_CHARS)}`);
    return;
  }
  t.teardown(() => ensemble.stop());
  const follower = ((await ensemble.leaderIndex()) + 1) % size;
  const r = await runProgram(programs.classesDir, programs.log4jPath, program.mainClass, ensemble, ensemble.memberConnectStrings[follower]);
  await ensemble.stop();
  const where = `the ${size}-member ${target}`;
  t.equal(r.code, 0, `${where}: run exits 0 (${r.durationMs} ms)`, { ...describeRun(target, r, undefined), serverLogs: r.code === 0 ? undefined : tail(ensemble.logs()) });
  const lines = ensembleLines(transcriptLines(r.stdout), ensemble.zxidBase);
  const version: ReferenceVersion = target === 'reference-ensemble' ? '3.8.0' : '3.9.5';
  const want = references.get(version);
  if (want === undefined) {
    t.fail(`no standalone ZooKeeper ${version} transcript to compare ${where} with`);
    return;
  }
  const rest = withoutConfigLines(lines);
  const wantRest = withoutConfigLines(want);
  if (!sameLines(wantRest, rest)) t.comment(`${program.mainClass} ${size}-member ${target} diff:\n${lineDiff(wantRest, rest, [version, `${target}/${size}`])}`);
  t.same(rest, wantRest, `${program.mainClass}: the transcript of ${where} is standalone ZooKeeper ${version}'s, every line but /zookeeper/config's`);
  // /zookeeper/config holds the ensemble's dynamic config on a ZooKeeper 3.8.0 member.
  const config = configLines(lines);
  const wantConfig = configLines(want).map((l) => asEnsembleConfigLine(l, ensemble.dynamicConfig));
  if (wantConfig.length > 0) t.same(
    config,
    wantConfig,
    `${program.mainClass}: on ${where}, /zookeeper/config holds the dynamic config (${wantConfig.length} lines)`,
  );
}
