// Differential compat test through the real Java client and Curator: the Java programs in
// compat-tests/java run the same scenarios against the reference Apache ZooKeeper 3.8 and against
// zkts, each against a fresh server, and print one transcript line per observed fact. Both runs
// must exit 0 and print identical transcripts.

import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { javaClasspath, RunningServer, startReferenceZooKeeper, startZkts } from '../test/util/servers';
import { runProcess, type RunResult } from './util/harness';

// This file runs as dist/compat-tests/curator.test.js; the Java sources stay in the source tree.
const JAVA_SOURCE_DIR = path.resolve(__dirname, '..', '..', 'compat-tests', 'java');

const JAVAC_TIMEOUT_MS = 120_000;
const PROGRAM_TIMEOUT_MS = 90_000;
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

interface Program {
  mainClass: string;
  // System properties given to both servers (JVM flags for the reference, -D for zkts).
  serverProps: Record<string, string>;
}

const PROGRAMS: readonly Program[] = [
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

function transcriptLines(stdout: string): string[] {
  const lines = stdout.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function tail(text: string): string {
  return text.length <= TAIL_CHARS ? text : '...' + text.slice(text.length - TAIL_CHARS);
}

// Line diff (longest common subsequence), printed with two lines of context:
// "-" lines only the reference printed, "+" lines only zkts printed.
function lineDiff(expected: string[], actual: string[]): string {
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
  const out: string[] = ['--- reference', '+++ zkts'];
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

/**
 * Lines compared with the reference. One block is left out: one session watching one path in two
 * modes. ZooKeeper 3.8.0 keeps a single mode per session, path and kind, so the latest registration
 * wins; that was a bug (ZOOKEEPER-4466), fixed upstream for 3.9, and zkts keeps the modes apart as
 * 3.9 does. The block runs on both servers all the same, and what follows it must still match.
 */
function comparedLines(lines: string[]): string[] {
  const out: string[] = [];
  let skipping = false;
  for (const line of lines) {
    if (line.startsWith('# mixed watch modes')) skipping = true;
    else if (skipping && line.startsWith('#')) skipping = false;
    if (!skipping) out.push(line);
  }
  return out;
}

async function runProgram(
  classesDir: string,
  log4jPath: string,
  mainClass: string,
  server: RunningServer,
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
    ],
    PROGRAM_TIMEOUT_MS,
  );
}

function describeRun(label: string, r: RunResult, server: RunningServer | undefined): Record<string, unknown> {
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

t.test('Java client and Curator scenarios: reference ZooKeeper vs zkts', async (t) => {
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
    return;
  }
  t.pass(`javac compiled ${sources.length} files in ${javac.durationMs} ms`);

  for (const program of PROGRAMS) {
    await t.test(program.mainClass, async (t) => {
      const jvmFlags = Object.entries(program.serverProps).map(([k, v]) => `-D${k}=${v}`);

      const reference = await startReferenceZooKeeper({ jvmFlags });
      t.teardown(() => reference.stop());
      const expected = await runProgram(classesDir, log4jPath, program.mainClass, reference);
      await reference.stop();
      t.equal(expected.code, 0, `reference run exits 0 (${expected.durationMs} ms)`, describeRun('reference', expected, reference));

      let zkts: RunningServer | undefined;
      let actual: RunResult | undefined;
      try {
        zkts = await startZkts({ systemProps: program.serverProps });
      } catch (err) {
        t.fail(`zkts starts: ${(err as Error).message.slice(0, TAIL_CHARS)}`);
        return;
      }
      const server = zkts;
      t.teardown(() => server.stop());
      actual = await runProgram(classesDir, log4jPath, program.mainClass, server);
      await server.stop();
      t.equal(actual.code, 0, `zkts run exits 0 (${actual.durationMs} ms)`, describeRun('zkts', actual, server));

      const expectedLines = comparedLines(transcriptLines(expected.stdout));
      const actualLines = comparedLines(transcriptLines(actual.stdout));
      const same = expectedLines.length === actualLines.length && expectedLines.every((l, k) => l === actualLines[k]);
      if (!same) t.comment(`${program.mainClass} transcript diff:\n${lineDiff(expectedLines, actualLines)}`);
      t.same(actualLines, expectedLines, `${program.mainClass}: zkts transcript matches the reference (${expectedLines.length} lines)`);
    });
  }
});
