// A Kafka broker in ZooKeeper mode (`kafka.Kafka server.properties`) as a child process of the
// test: its own temp dir with the properties, log4j config and log dir, a free loopback port, and
// stopped or killed by PID. A restart keeps the dir, the broker id and the port, as a crashed broker
// coming back would.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, guardChild } from '../../test/util/servers';
import { BROKER_JVM_FLAGS, BROKER_LOG4J, kafkaClasspath } from './jvm';

const HOST = '127.0.0.1';
const STOP_GRACE_MS = 20_000;
const KILL_WAIT_MS = 5_000;
const LOG_TAIL_CHARS = 8_000;

export interface BrokerOptions {
  brokerId: number;
  /** ZooKeeper connect string with its chroot, e.g. `127.0.0.1:2181/kafka` (several hosts for an ensemble). */
  zookeeperConnect: string;
  zookeeperSessionTimeoutMs: number;
  /** Added to (or overriding) the generated server.properties. */
  extraProperties?: Record<string, string>;
}

/** Waits for `promise` or `ms`, whichever is first, leaving no timer behind. */
async function waitAtMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function serverProperties(opts: BrokerOptions, port: number, logDir: string): string {
  const entries = new Map<string, string>([
    ['broker.id', String(opts.brokerId)],
    ['listeners', `PLAINTEXT://${HOST}:${port}`],
    ['advertised.listeners', `PLAINTEXT://${HOST}:${port}`],
    ['log.dirs', logDir],
    ['zookeeper.connect', opts.zookeeperConnect],
    ['zookeeper.session.timeout.ms', String(opts.zookeeperSessionTimeoutMs)],
    ['zookeeper.connection.timeout.ms', '30000'],
    ['auto.create.topics.enable', 'false'],
    // Two brokers: the internal topics fit on them.
    ['offsets.topic.replication.factor', '2'],
    ['offsets.topic.num.partitions', '2'],
    ['transaction.state.log.replication.factor', '2'],
    ['transaction.state.log.min.isr', '1'],
    ['group.initial.rebalance.delay.ms', '0'],
    // Few threads and a small cleaner buffer, to fit a 256 MB heap on a loaded machine.
    ['num.network.threads', '2'],
    ['num.io.threads', '2'],
    ['background.threads', '2'],
    ['num.recovery.threads.per.data.dir', '1'],
    ['log.cleaner.threads', '1'],
    ['log.cleaner.dedupe.buffer.size', String(4 * 1024 * 1024)],
    // A clean stop just closes the session; the test's controller failover is by SIGKILL.
    ['controlled.shutdown.enable', 'false'],
  ]);
  for (const [key, value] of Object.entries(opts.extraProperties ?? {})) entries.set(key, value);
  let text = '';
  for (const [key, value] of entries) text += `${key}=${value}\n`;
  return text;
}

export class KafkaBroker {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private release: () => void = () => undefined;
  private running = false;
  private exitDescription = '';

  private constructor(
    readonly brokerId: number,
    readonly rootDir: string,
    readonly port: number,
  ) {}

  /** Writes server.properties under a new temp dir; `start()` runs the broker. */
  static async create(opts: BrokerOptions): Promise<KafkaBroker> {
    const rootDir = fs.mkdtempSync(path.join(os.tmpdir(), `kafka-${opts.brokerId}-`));
    const port = await freePort();
    const logDir = path.join(rootDir, 'kafka-logs');
    fs.mkdirSync(logDir);
    fs.writeFileSync(path.join(rootDir, 'server.properties'), serverProperties(opts, port, logDir));
    fs.writeFileSync(path.join(rootDir, 'log4j.properties'), BROKER_LOG4J);
    return new KafkaBroker(opts.brokerId, rootDir, port);
  }

  get name(): string {
    return `broker ${this.brokerId}`;
  }

  get bootstrap(): string {
    return `${HOST}:${this.port}`;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Starts the JVM; whether the broker is up is for the caller to see (its znode, its log). */
  start(): void {
    if (this.running) throw new Error(`${this.name}: already running`);
    const logPath = path.join(this.rootDir, 'server.log');
    const out = fs.openSync(logPath, 'a');
    fs.writeSync(out, `==== start at ${new Date().toISOString()}\n`);
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_OPTIONS;
    delete env.KAFKA_OPTS;
    delete env.JAVA_TOOL_OPTIONS;
    let child: ChildProcess;
    try {
      child = spawn(
        'java',
        [
          ...BROKER_JVM_FLAGS,
          `-Dlog4j.configuration=file:${path.join(this.rootDir, 'log4j.properties')}`,
          `-Dkafka.logs.dir=${this.rootDir}`,
          '-cp',
          kafkaClasspath(),
          'kafka.Kafka',
          path.join(this.rootDir, 'server.properties'),
        ],
        { cwd: this.rootDir, stdio: ['ignore', out, out], env },
      );
    } finally {
      fs.closeSync(out);
    }
    this.child = child;
    this.running = true;
    this.exitDescription = '';
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitDescription = signal ? `signal ${signal}` : `code ${code}`;
        this.running = false;
        resolve();
      });
      child.once('error', (err) => {
        this.exitDescription = `spawn error: ${err.message}`;
        this.running = false;
        resolve();
      });
    });
    this.release = guardChild(child, this.rootDir);
  }

  /** How the last run ended ('' while running). */
  get exitStatus(): string {
    return this.exitDescription;
  }

  /** SIGKILL by PID, as a crash: its ZooKeeper session is left to expire. */
  async kill(): Promise<void> {
    const pid = this.pid;
    if (pid !== undefined) {
      process.kill(pid, 'SIGKILL');
      await waitAtMost(this.exited, KILL_WAIT_MS);
    }
    this.release();
  }

  /** SIGTERM by PID with a grace period, then SIGKILL. */
  async stop(): Promise<void> {
    const pid = this.pid;
    if (pid !== undefined) {
      process.kill(pid, 'SIGTERM');
      await waitAtMost(this.exited, STOP_GRACE_MS);
    }
    await this.kill();
  }

  /**
   * Stops the broker and removes its directory; with ZK_COMPAT_DUMP=<dir> its log is kept there
   * first, as `<dumpName>.log`.
   */
  async remove(dumpName?: string): Promise<void> {
    await this.stop();
    const dumpDir = process.env.ZK_COMPAT_DUMP;
    if (dumpDir && dumpName) {
      fs.mkdirSync(dumpDir, { recursive: true });
      fs.writeFileSync(path.join(dumpDir, `${dumpName}.log`), this.log());
    }
    fs.rmSync(this.rootDir, { recursive: true, force: true });
  }

  log(): string {
    try {
      return fs.readFileSync(path.join(this.rootDir, 'server.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Lines of the log of the current (or last) run, or of every run, that match `pattern`. */
  logLines(pattern: RegExp, opts: { allRuns?: boolean } = {}): string[] {
    const text = this.log();
    const runStart = opts.allRuns ? 0 : text.lastIndexOf('==== start at ');
    return text
      .slice(runStart < 0 ? 0 : runStart)
      .split('\n')
      .filter((l) => pattern.test(l));
  }

  logTail(): string {
    const text = this.log();
    return `--- ${this.name} (${this.running ? 'running' : `ended: ${this.exitDescription || 'not started'}`})\n` +
      (text.length <= LOG_TAIL_CHARS ? text : '...' + text.slice(-LOG_TAIL_CHARS));
  }
}
