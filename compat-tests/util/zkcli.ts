// Drives Apache ZooKeeper's Java shell (org.apache.zookeeper.ZooKeeperMain, what zkCli.sh runs) with
// a script of commands on stdin: one JVM per session. Between commands the script runs `version`,
// a local command that prints one recognisable line, so the output can be cut into one chunk per
// command. Watch notifications are printed by the client's event thread at any moment; they are
// taken out of the text and returned as their own ordered list.

import { javaClasspath } from '../../test/util/servers';
import { log4jOffConfig, runMerged } from './harness';

const MARKER_COMMAND = 'version';
const MARKER_LINE = /^ZooKeeper CLI version: .*$/;
const CLI_TIMEOUT_MS = 60_000;

export interface CliStep {
  cmd: string;
  // Normalized output lines of this command (stdout and stderr, in order).
  out: string[];
}

export interface CliRun {
  exitCode: number | null;
  header: string[];
  steps: CliStep[];
  // Watch notifications, e.g. `state:SyncConnected type:NodeCreated path:/x`, in arrival order.
  events: string[];
  raw: string;
}

// Lines that must differ between two runs: times, session ids, ports.
export function normalizeCliLine(line: string): string {
  return line
    .replace(/^(c|m)time = .*$/, '$1time = <time>')
    .replace(/^ephemeralOwner = 0x(?!0$)[0-9a-f]+$/, 'ephemeralOwner = <session>')
    .replace(/^Connecting to 127\.0\.0\.1:\d+$/, 'Connecting to <server>');
}

export function parseCliOutput(raw: string, commands: readonly string[], exitCode: number | null): CliRun {
  const events: string[] = [];
  // The event thread prints "\nWATCHER::" and "\nWatchedEvent ..." with println: each string is
  // written whole, but lines of the main thread can land between them.
  let text = raw.replace(/\nWATCHER::/g, '');
  // Paths are matched narrowly (the scenarios use lower-case paths) so that a line of the main
  // thread written right after an event's path is not taken as part of it.
  text = text.replace(/\nWatchedEvent (state:[A-Za-z]+ type:[A-Za-z]+ path:(?:null|\/[a-z0-9/_.-]*))/g, (_m, ev: string) => {
    // `quit` exits the JVM right after closing the handle: whether the Closed event gets printed
    // first is a race inside the client.
    if (ev !== 'state:Closed type:None path:null') events.push(ev);
    return '';
  });
  const lines = text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .filter((l) => !/^log4j:WARN /.test(l) && !/^SLF4J: /.test(l));
  const chunks: string[][] = [[]];
  for (const line of lines) {
    if (MARKER_LINE.test(line)) chunks.push([]);
    else chunks[chunks.length - 1].push(normalizeCliLine(line));
  }
  const header = chunks[0];
  const steps: CliStep[] = commands.map((cmd, i) => ({ cmd, out: chunks[i + 1] ?? ['<no output chunk>'] }));
  // Whatever follows the last marker belongs to `quit`.
  const trailing = chunks.slice(commands.length + 1).flat();
  if (trailing.length > 0) steps.push({ cmd: 'quit', out: trailing });
  return { exitCode, header, steps, events, raw };
}

/** `jvmFlags` replace the default `-Dzookeeper.sasl.client=false` (e.g. a JAAS file for SASL). */
export async function runZkCli(connectString: string, commands: readonly string[], opts: { jvmFlags?: string[] } = {}): Promise<CliRun> {
  let input = `${MARKER_COMMAND}\n`;
  for (const cmd of commands) input += `${cmd}\n${MARKER_COMMAND}\n`;
  input += 'quit\n';
  const args = [
    '-Xmx256m',
    '-XX:TieredStopAtLevel=1',
    `-Dlog4j.configuration=file:${log4jOffConfig()}`,
    ...(opts.jvmFlags ?? ['-Dzookeeper.sasl.client=false']),
    '-cp',
    javaClasspath(),
    'org.apache.zookeeper.ZooKeeperMain',
    '-server',
    connectString,
  ];
  const result = await runMerged('java', args, input, CLI_TIMEOUT_MS);
  return parseCliOutput(result.output, commands, result.code);
}

// The transcript compared between servers: every command with its output, then the events.
export function cliTranscript(run: CliRun): string[] {
  const lines: string[] = [];
  for (const step of run.steps) {
    lines.push(`> ${step.cmd}`);
    for (const l of step.out) lines.push(l);
  }
  lines.push('# events');
  for (const e of run.events) lines.push(e);
  return lines;
}
