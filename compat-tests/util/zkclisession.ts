// One live zkCli (org.apache.zookeeper.ZooKeeperMain) session driven command by command: the test
// writes a command and then `version` (a local command printing one recognisable line), and the
// command's output is what comes before that line. Unlike util/zkcli.ts (a whole script on stdin),
// the test can act between two commands (start a server, read files) on the same session.
// Watch and connection events printed by the client's event thread are taken out into `events`.

import { spawn, type ChildProcess } from 'node:child_process';
import { guardChild, javaClasspath } from '../../test/util/servers';
import { log4jOffConfig } from './harness';

const MARKER_COMMAND = 'version';
const MARKER_LINE = /^ZooKeeper CLI version: .*$/;
const COMMAND_TIMEOUT_MS = 45_000;
const QUIT_TIMEOUT_MS = 15_000;
const OUTPUT_CHARS_MAX = 4 * 1024 * 1024;

export class ZkCliSession {
  private output = '';
  /** How much of `output` earlier commands consumed. */
  private consumed = 0;
  private markersSeen = 0;
  private exitCode: number | null | undefined;
  private readonly exitPromise: Promise<number | null>;
  private readonly release: () => void;
  readonly events: string[] = [];

  private constructor(private readonly child: ChildProcess) {
    const onData = (chunk: Buffer): void => {
      if (this.output.length < OUTPUT_CHARS_MAX) this.output += chunk.toString('utf8');
    };
    child.stdout?.on('data', onData);
    child.stdin?.on('error', () => undefined);
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code) => {
        this.exitCode = code;
        resolve(code);
      });
      child.once('error', () => {
        this.exitCode = null;
        resolve(null);
      });
    });
    // Killed with the test process like the servers; the session has no directory of its own.
    this.release = guardChild(child, '/nonexistent-zkcli-session');
    void this.exitPromise.then(() => this.release());
  }

  /** Starts zkCli against `connectString`; resolves once the session is connected (its first marker). */
  static async open(connectString: string): Promise<ZkCliSession> {
    const args = [
      '-Xmx128m',
      '-XX:TieredStopAtLevel=1',
      `-Dlog4j.configuration=file:${log4jOffConfig()}`,
      '-Dzookeeper.sasl.client=false',
      '-cp',
      javaClasspath(),
      'org.apache.zookeeper.ZooKeeperMain',
      '-server',
      connectString,
    ];
    // One pipe for stdout and stderr, so that an error line (stderr) stays before the next marker.
    const child = spawn('/bin/sh', ['-c', 'exec "$@" 2>&1', 'sh', 'java', ...args], { stdio: ['pipe', 'pipe', 'ignore'] });
    const session = new ZkCliSession(child);
    // The header (Connecting to ..., the SyncConnected event) ends at the first marker.
    await session.run(MARKER_COMMAND, false);
    return session;
  }

  get raw(): string {
    return this.output;
  }

  /**
   * Runs one command; resolves with its output lines (events taken out, blank lines dropped).
   * Throws when the marker does not follow within the bound or zkCli exits.
   */
  async run(cmd: string, withMarker = true): Promise<string[]> {
    if (this.exitCode !== undefined) throw new Error(`zkCli has exited (code ${this.exitCode}); cannot run '${cmd}'`);
    this.child.stdin?.write(withMarker ? `${cmd}\n${MARKER_COMMAND}\n` : `${cmd}\n`);
    const want = this.markersSeen + 1;
    const deadline = Date.now() + COMMAND_TIMEOUT_MS;
    for (;;) {
      const chunk = this.output.slice(this.consumed);
      const m = /^ZooKeeper CLI version: .*$/m.exec(chunk);
      if (m) {
        const end = this.consumed + m.index + m[0].length;
        const text = this.output.slice(this.consumed, this.consumed + m.index);
        this.consumed = end;
        this.markersSeen = want;
        return this.lines(text);
      }
      if (this.exitCode !== undefined) throw new Error(`zkCli exited (code ${this.exitCode}) during '${cmd}'; output:\n${this.output.slice(-4000)}`);
      if (Date.now() >= deadline) throw new Error(`zkCli: no end of '${cmd}' after ${COMMAND_TIMEOUT_MS} ms; output:\n${this.output.slice(-4000)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private lines(text: string): string[] {
    let rest = text.replace(/\nWATCHER::/g, '\n').replace(/^WATCHER::/, '');
    rest = rest.replace(/WatchedEvent (state:[A-Za-z]+ type:[A-Za-z]+ path:(?:null|\/[a-z0-9/_.-]*))/g, (_m, ev: string) => {
      this.events.push(ev);
      return '';
    });
    return rest
      .split('\n')
      .map((l) => l.replace(/\r$/, ''))
      .filter((l) => l.trim() !== '')
      .filter((l) => !/^log4j:WARN /.test(l) && !/^SLF4J: /.test(l) && !MARKER_LINE.test(l));
  }

  /** `quit`, then waits (bounded) for the JVM to end; killed if it does not. */
  async close(): Promise<number | null> {
    if (this.exitCode === undefined) this.child.stdin?.end('quit\n');
    const code = await Promise.race([this.exitPromise, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), QUIT_TIMEOUT_MS))]);
    if (code === 'timeout') {
      this.child.kill('SIGKILL');
      return this.exitPromise;
    }
    return code;
  }
}
