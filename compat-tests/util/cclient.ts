// Drives the C client's shell (cli_mt, from zookeeper-bin) interactively: it reads commands from
// stdin and runs them asynchronously, printing everything to stderr. Each command is written only
// after the previous one's completion has been printed, so the transcript does not depend on
// timing. Commands that print nothing on success (exists, wexists, addauth) are followed by
// `sync /`, whose completion then marks their end (requests on one connection complete in order).

import { spawn, ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { withTimeout, waitFor } from './harness';
import { testCacheDir } from '../../test/util/servers';

export const CLI_MT = '/usr/lib/zookeeper/bin/cli_mt';

/** The same shell of 3.8.0 built with OpenSSL by scripts/cclient-ssl.sh (Debian's has no SSL). */
export function cClientSslPath(): string {
  return path.join(testCacheDir(), 'zookeeper-c-3.8.0-ssl', 'cli');
}
const STEP_TIMEOUT_MS = 15_000;
const EXIT_TIMEOUT_MS = 15_000;

export interface CStep {
  cmd: string;
  out: string[];
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// dumpStat prints a null Stat as `null`, a Stat as four lines ending with ephemeralOwner.
const STAT = '(?:null\\n|\\tctime = [^\\n]*\\n\\tczxid=[^\\n]*\\n\\tmtime=[^\\n]*\\n\\tmzxid=[^\\n]*\\n\\tversion=[^\\n]*\\n\\tephemeralOwner = [0-9a-f]+\\n)';

// The output that ends a command, or undefined for a command that prints nothing on success.
export function completionPattern(cmd: string): RegExp | undefined {
  const [verb, ...rest] = cmd.split(' ');
  const arg = rest.join(' ');
  switch (verb) {
    case 'create':
    case 'create2': {
      const path = escape(arg.startsWith('+') ? arg.replace(/^\+\S*\s*/, '') : arg);
      const name = `\\[${path}\\]: rc = (?:0\\n\\tname = [^\\n]*\\n|-\\d+\\n)`;
      return new RegExp(verb === 'create2' ? `${name}${STAT}` : name);
    }
    case 'get':
      return new RegExp(`${escape(arg)}: rc = -?\\d+\\n[\\s\\S]*?\\nStat:\\n${STAT}`);
    case 'ls':
      return new RegExp(`${escape(arg)}: rc = -?\\d+\\n(?:\\t[^\\n]*\\n)*time = \\d+ msec\\n`);
    case 'ls2':
      return new RegExp(`${escape(arg)}: rc = -?\\d+\\n(?:\\t[^\\n]*\\n)*time = \\d+ msec\\n${STAT}`);
    case 'set':
      return new RegExp(`${escape(rest[0])}: rc = -?\\d+ Stat:\\n${STAT}`);
    case 'delete':
      return new RegExp(`${escape(arg)}: rc = -?\\d+\\n`);
    case 'sync':
      return new RegExp(`\\[${escape(arg)}\\]: rc = (?:0\\n\\tname = [^\\n]*\\n|-\\d+\\n)`);
    default:
      return undefined;
  }
}

export function normalizeCLine(line: string): string {
  return line
    .replace(/^time = \d+ msec$/, 'time = <n> msec')
    .replace(/^Got a new session id: 0x[0-9a-f]+$/, 'Got a new session id: <session>')
    .replace(/^\tctime = .*$/, '\tctime = <time>')
    .replace(/^\tmtime=.*$/, '\tmtime=<time>')
    .replace(/^\tephemeralOwner = (?!0$)[0-9a-f]+$/, '\tephemeralOwner = <session>');
}

function lines(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map(normalizeCLine);
}

export class CliMt {
  private text = '';
  private exited = false;
  private exitCode: number | null = null;
  readonly steps: CStep[] = [];
  header: string[] = [];

  private constructor(private readonly child: ChildProcess) {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => (this.text += chunk));
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => (this.text += chunk));
    child.on('exit', (code) => {
      this.exited = true;
      this.exitCode = code;
    });
    child.stdin!.on('error', () => undefined);
  }

  /** `binary` and `args` run another build of the same shell, e.g. one with `--ssl` (scripts/cclient-ssl.sh). */
  static async start(connectString: string, opts: { binary?: string; args?: readonly string[] } = {}): Promise<CliMt> {
    const child = spawn(opts.binary ?? CLI_MT, [...(opts.args ?? []), connectString], { stdio: ['pipe', 'pipe', 'pipe'] });
    const cli = new CliMt(child);
    try {
      await waitFor(
        () => /Got a new session id: 0x[0-9a-f]+\n/.test(cli.text) || cli.exited,
        STEP_TIMEOUT_MS,
        'cli_mt to connect',
      );
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}; output:\n${cli.text}`);
    }
    if (cli.exited) throw new Error(`cli_mt exited while connecting; output:\n${cli.text}`);
    cli.header = lines(cli.text);
    cli.text = '';
    return cli;
  }

  private async send(cmd: string, done: RegExp): Promise<string> {
    const from = this.text.length;
    this.child.stdin!.write(`${cmd}\n`);
    try {
      await waitFor(() => done.test(this.text.slice(from)) || this.exited, STEP_TIMEOUT_MS, `cli_mt: ${cmd}`);
    } catch (err) {
      throw new Error(`${(err as Error).message}; output:\n${this.text.slice(from)}`);
    }
    return this.text.slice(from);
  }

  // Runs one command and returns its normalized output lines.
  async run(cmd: string): Promise<string[]> {
    const pattern = completionPattern(cmd);
    let output: string;
    if (pattern) {
      output = await this.send(cmd, pattern);
    } else {
      const from = this.text.length;
      this.child.stdin!.write(`${cmd}\n`);
      await this.send('sync /', completionPattern('sync /')!);
      output = this.text.slice(from).replace(/\[\/\]: rc = 0\n\tname = \/\n$/, '');
    }
    const out = lines(output);
    this.steps.push({ cmd, out });
    return out;
  }

  async quit(): Promise<void> {
    const from = this.text.length;
    this.child.stdin!.end('quit\n');
    try {
      await withTimeout(
        waitFor(() => this.exited, EXIT_TIMEOUT_MS, 'cli_mt to exit'),
        EXIT_TIMEOUT_MS + 1000,
        'cli_mt quit',
      );
    } finally {
      if (!this.exited) this.child.kill('SIGKILL');
    }
    this.steps.push({ cmd: 'quit', out: [...lines(this.text.slice(from)), `exit ${this.exitCode}`] });
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

export function cTranscript(header: readonly string[], steps: readonly CStep[]): string[] {
  const out = [...header];
  for (const s of steps) out.push(`> ${s.cmd}`, ...s.out);
  return out;
}
