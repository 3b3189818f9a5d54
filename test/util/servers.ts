// Launchers for the servers that tests talk to: the reference Apache ZooKeeper 3.8.0 from Debian's
// packages, the second reference Apache ZooKeeper 3.9.5 (jars fetched from Maven Central by
// scripts/zookeeper39.sh), and zkts itself. Each gets a private temp dir, a generated zoo.cfg, a free
// port on 127.0.0.1 and a log file, and is ready only once the four-letter word `srvr` answers with
// a "Mode:" line. Every child started here is SIGKILLed when the test process exits.

import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface RunningServer {
  host: string;
  port: number;
  pid: number;
  connectString: string;
  dataDir: string;
  log(): string;
  /** Settles when the process ends, with its exit code (null when a signal ended it). */
  exited?: Promise<{ code: number | null; signal: string | null }>;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 30_000;
const READY_POLL_INTERVAL_MS = 20;
const READY_PROBE_TIMEOUT_MS = 1_000;
const STOP_GRACE_MS = 5_000;
const STOP_KILL_WAIT_MS = 5_000;
const PORT_ATTEMPTS_MAX = 3;
const FOUR_LETTER_WORD_TIMEOUT_MS = 5_000;
const FOUR_LETTER_WORD_REPLY_BYTES_MAX = 16 * 1024 * 1024;

const JAVA_DIR = '/usr/share/java';

// Jars in /usr/share/java, in classpath order. zookeeper.jar's manifest already names most of its
// runtime dependencies; they are listed explicitly so the classpath does not depend on the manifest.
// The slf4j->log4j 1.2 binding gives the server a logger; servlet-api is needed (besides jetty) for
// the AdminServer; the Curator jars and guava are here so Java clients can share the classpath.
const JAVA_JARS: readonly string[] = [
  'zookeeper.jar',
  'zookeeper-jute.jar',
  'slf4j-api.jar',
  'slf4j-log4j12.jar',
  'log4j-1.2.jar',
  'commons-cli.jar',
  'commons-io.jar',
  'metrics-core.jar',
  'snappy-java.jar',
  'netty-buffer.jar',
  'netty-codec.jar',
  'netty-common.jar',
  'netty-handler.jar',
  'netty-resolver.jar',
  'netty-transport.jar',
  'netty-transport-native-epoll.jar',
  'netty-transport-native-unix-common.jar',
  'jackson-annotations.jar',
  'jackson-core.jar',
  'jackson-databind.jar',
  'servlet-api.jar',
  'jetty9-client.jar',
  'jetty9-http.jar',
  'jetty9-io.jar',
  'jetty9-security.jar',
  'jetty9-server.jar',
  'jetty9-servlet.jar',
  'jetty9-util.jar',
  'jline.jar',
  'findbugs-annotations.jar',
  'guava.jar',
  'curator-client.jar',
  'curator-framework.jar',
  'curator-recipes.jar',
  'curator-x-discovery.jar',
];

/** The reference ZooKeeper releases the tests can run. */
export type ReferenceVersion = '3.8.0' | '3.9.5';
export const REFERENCE_VERSIONS: readonly ReferenceVersion[] = ['3.8.0', '3.9.5'];

/**
 * Where the install scripts put what they fetch or build (the same rule as the scripts:
 * $ZKTS_CACHE_DIR, else $XDG_CACHE_HOME/zkts, else ~/.cache/zkts).
 */
export function testCacheDir(): string {
  return process.env.ZKTS_CACHE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'zkts');
}

/** Where scripts/zookeeper39.sh put ZooKeeper 3.9.5 and its runtime jars. */
export function zookeeper39LibDir(): string {
  return path.join(testCacheDir(), 'zookeeper-3.9.5', 'lib');
}

/** Whether ZooKeeper 3.9.5 has been fetched (scripts/install-deps.sh does it). */
export function zookeeper39Available(): boolean {
  return fs.existsSync(path.join(zookeeper39LibDir(), '.complete'));
}

/**
 * The classpath of ZooKeeper 3.9.5: server, client (ZooKeeperMain, the Java client API), logback
 * as the slf4j backend, and what the AdminServer needs. Throws when the jars were not fetched.
 */
export function javaClasspath39(): string {
  const dir = zookeeper39LibDir();
  if (!zookeeper39Available()) {
    throw new Error(`ZooKeeper 3.9.5 is not in ${dir}: run scripts/install-deps.sh (or scripts/zookeeper39.sh)`);
  }
  // zookeeper-3.9.5.jar first so that its classes win over anything else's copy.
  const jars = fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.jar'))
    .sort((a, b) => Number(b.startsWith('zookeeper-')) - Number(a.startsWith('zookeeper-')) || a.localeCompare(b));
  return jars.map((jar) => path.join(dir, jar)).join(path.delimiter);
}

/** The classpath of a reference release's server and Java client. */
export function referenceClasspath(version: ReferenceVersion = '3.8.0'): string {
  return version === '3.9.5' ? javaClasspath39() : javaClasspath();
}

// ZooKeeper 3.9 logs through slf4j 2 to logback; the same console format as the 3.8 log4j one.
const LOGBACK_XML = [
  '<configuration>',
  '  <appender name="CONSOLE" class="ch.qos.logback.core.ConsoleAppender">',
  '    <encoder><pattern>%d{ISO8601} %-5p [%t:%C{0}@%L] - %m%n</pattern></encoder>',
  '  </appender>',
  '  <root level="INFO"><appender-ref ref="CONSOLE"/></root>',
  '</configuration>',
  '',
].join('\n');

/** log4j 1 settings for a ZooKeeper 3.8.0 process: INFO and above to the console. */
export const LOG4J_PROPERTIES = [
  'log4j.rootLogger=INFO, CONSOLE',
  'log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender',
  'log4j.appender.CONSOLE.Threshold=INFO',
  'log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.CONSOLE.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n',
  '',
].join('\n');

// ---------------------------------------------------------------------------------------------
// Children alive right now; killed on exit so a crashed or timed-out test leaves nothing behind.

// Child -> its temp dir.
const liveChildren = new Map<ChildProcess, string>();
let exitHooksInstalled = false;

function killAllChildren(): void {
  for (const child of liveChildren.keys()) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
  for (const rootDir of liveChildren.values()) {
    try {
      fs.rmSync(rootDir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // Best effort: the process may still be dying.
    }
  }
  liveChildren.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', killAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllChildren();
      process.removeListener(signal, onSignal);
      // Keep the default behaviour (die by the signal) unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

// A SIGKILLed test process runs no handlers. A tiny watchdog shell blocks reading a pipe from us;
// when we die the pipe closes, the read returns, and the watchdog kills the server and removes its
// temp dir.
const WATCHDOG_SCRIPT = [
  'read _ignored',
  'kill -9 "$1" 2>/dev/null',
  'n=0',
  'while kill -0 "$1" 2>/dev/null && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n + 1)); done',
  'rm -rf "$2"',
].join('\n');

function startWatchdog(serverPid: number, rootDir: string): ChildProcess | undefined {
  try {
    const watchdog = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT, 'zk-watchdog', String(serverPid), rootDir], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    watchdog.on('error', () => undefined);
    watchdog.stdin?.on('error', () => undefined);
    watchdog.unref();
    return watchdog;
  } catch {
    return undefined;
  }
}

function stopWatchdog(watchdog: ChildProcess | undefined): void {
  if (!watchdog) return;
  try {
    watchdog.kill('SIGKILL');
  } catch {
    // Already gone.
  }
  watchdog.stdin?.destroy();
}

/**
 * Puts another test-owned child (a client's server, say) under the same guards as the servers:
 * SIGKILLed on exit or signal, and by a watchdog if the test process is SIGKILLed (which then
 * also removes `rootDir`). Returns the release, for when the test has stopped the child itself.
 */
export function guardChild(child: ChildProcess, rootDir: string): () => void {
  installExitHooks();
  liveChildren.set(child, rootDir);
  const watchdog = child.pid === undefined ? undefined : startWatchdog(child.pid, rootDir);
  return () => {
    liveChildren.delete(child);
    stopWatchdog(watchdog);
  };
}

// ---------------------------------------------------------------------------------------------

/**
 * Listening ports for tests come from below the kernel's ephemeral range (32768-60999 here), where
 * every outgoing connection takes its source port: a port picked there and free a moment ago can be
 * a client's or a quorum link's by the time a server binds it. Random within the range, checked by
 * binding it once.
 */
const TEST_PORT_MIN = 20000;
const TEST_PORT_MAX = 32700;
const FREE_PORT_ATTEMPTS = 50;

function tryBind(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host: HOST, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Ports this process handed out: a test that asks several times gets distinct ones. */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  if (handedOut.size > (TEST_PORT_MAX - TEST_PORT_MIN) / 2) handedOut.clear();
  for (let i = 0; i < FREE_PORT_ATTEMPTS; i++) {
    const port = TEST_PORT_MIN + Math.floor(Math.random() * (TEST_PORT_MAX - TEST_PORT_MIN));
    if (handedOut.has(port)) continue;
    if (await tryBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`freePort: no free port in ${TEST_PORT_MIN}-${TEST_PORT_MAX} after ${FREE_PORT_ATTEMPTS} tries`);
}

export async function fourLetterWord(
  host: string,
  port: number,
  cmd: string,
  timeoutMs: number = FOUR_LETTER_WORD_TIMEOUT_MS,
): Promise<string> {
  if (cmd.length !== 4) throw new Error(`fourLetterWord: '${cmd}' is not four letters`);
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const socket = net.createConnection({ host, port });
    const finish = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, received).toString('utf8'));
    };
    const timer = setTimeout(
      () => finish(new Error(`fourLetterWord ${cmd} ${host}:${port}: no complete reply in ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('connect', () => socket.write(cmd));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > FOUR_LETTER_WORD_REPLY_BYTES_MAX) {
        finish(new Error(`fourLetterWord ${cmd}: reply larger than ${FOUR_LETTER_WORD_REPLY_BYTES_MAX} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    // The server closes the connection after the reply; a reset after a complete reply is still a
    // reply, a reset before anything arrived is an error.
    socket.on('end', () => finish(null));
    socket.on('close', () => finish(null));
    socket.on('error', (err) => (received > 0 ? finish(null) : finish(err)));
  });
}

export function javaClasspath(): string {
  return JAVA_JARS.map((jar) => path.join(JAVA_DIR, jar))
    .filter((jarPath) => fs.existsSync(jarPath))
    .join(path.delimiter);
}

// ---------------------------------------------------------------------------------------------

interface LaunchSpec {
  kind: string;
  command: string;
  // Arguments, given the temp dir and the path of zoo.cfg.
  args(rootDir: string, cfgPath: string): string[];
  // Extra files to write into the temp dir before starting.
  files?: Record<string, string>;
  env?: NodeJS.ProcessEnv;
  /** RLIMIT_NOFILE (soft and hard) for the server process, set by a shell that then execs it. */
  nofileLimit?: number;
  /** A command the server runs under, such as `prlimit --nofile=400:400 --` (it must exec the server). */
  wrapper?: string[];
  /**
   * 'serving' (the default): ready once `srvr` reports a Mode. 'answering': once `srvr` answers at
   * all; an ensemble member alone answers "not currently serving requests" until a quorum forms.
   */
  ready?: 'serving' | 'answering';
}

function zooCfg(dataDir: string, port: number, extraConfig: Record<string, string>): string {
  const entries = new Map<string, string>([
    ['tickTime', '2000'],
    ['dataDir', dataDir],
    ['clientPort', String(port)],
    ['clientPortAddress', HOST],
    ['admin.enableServer', 'false'],
    ['4lw.commands.whitelist', '*'],
  ]);
  for (const [key, value] of Object.entries(extraConfig)) entries.set(key, value);
  let text = '';
  for (const [key, value] of entries) text += `${key}=${value}\n`;
  return text;
}

function readFileOr(filePath: string, fallback: string): string {
  try {
    return fs.readFileSync(filePath, 'utf8');
  } catch {
    return fallback;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function looksLikePortInUse(log: string): boolean {
  return /Address already in use|EADDRINUSE/i.test(log);
}

class PortInUseError extends Error {}

// A server that fails to bind would otherwise look ready when another server already answers on
// that port.
async function portIsFree(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const probe = net.createServer();
    probe.unref();
    probe.once('error', () => resolve(false));
    probe.listen({ host: HOST, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

async function launchOnce(
  spec: LaunchSpec,
  port: number,
  extraConfig: Record<string, string>,
): Promise<RunningServer> {
  installExitHooks();
  if (!(await portIsFree(port))) throw new PortInUseError(`${spec.kind}: ${HOST}:${port} is already in use`);
  const rootDir = fs.mkdtempSync(path.join(os.tmpdir(), `${spec.kind}-`));
  const dataDir = path.join(rootDir, 'data');
  fs.mkdirSync(dataDir);
  const cfgPath = path.join(rootDir, 'zoo.cfg');
  fs.writeFileSync(cfgPath, zooCfg(dataDir, port, extraConfig));
  for (const [name, content] of Object.entries(spec.files ?? {})) {
    fs.writeFileSync(path.join(rootDir, name), content);
  }
  const logPath = path.join(rootDir, 'server.log');
  const logFd = fs.openSync(logPath, 'a');

  let child: ChildProcess;
  try {
    const args = spec.args(rootDir, cfgPath);
    const wrapped = [...(spec.wrapper ?? []), spec.command, ...args];
    const [command, ...argv] =
      spec.nofileLimit === undefined ? wrapped : ['/bin/sh', '-c', `ulimit -n ${spec.nofileLimit} && exec "$@"`, 'sh', ...wrapped];
    child = spawn(command, argv, {
      cwd: rootDir,
      stdio: ['ignore', logFd, logFd],
      env: spec.env ?? process.env,
    });
  } finally {
    fs.closeSync(logFd);
  }

  let exited = false;
  let exitDescription = '';
  let spawnError: Error | undefined;
  const exitStatus = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      exitDescription = signal ? `signal ${signal}` : `code ${code}`;
      liveChildren.delete(child);
      resolve();
    });
    child.once('error', (err) => {
      spawnError = err;
      exited = true;
      exitDescription = `spawn error: ${err.message}`;
      liveChildren.delete(child);
      resolve();
    });
  });
  if (child.pid === undefined) {
    await delay(0);
    fs.rmSync(rootDir, { recursive: true, force: true });
    throw new Error(`${spec.kind}: could not start ${spec.command}: ${spawnError?.message ?? 'no pid'}`);
  }
  const pid = child.pid;
  liveChildren.set(child, rootDir);
  child.unref();
  const watchdog = startWatchdog(pid, rootDir);

  let finalLog: string | undefined;
  const log = (): string => finalLog ?? readFileOr(logPath, '');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    if (stopping) return stopping;
    stopping = (async () => {
      if (!exited) {
        child.kill('SIGTERM');
        await Promise.race([exitedPromise, delay(STOP_GRACE_MS)]);
      }
      if (!exited) {
        child.kill('SIGKILL');
        await Promise.race([exitedPromise, delay(STOP_KILL_WAIT_MS)]);
      }
      liveChildren.delete(child);
      stopWatchdog(watchdog);
      finalLog = readFileOr(logPath, finalLog ?? '');
      fs.rmSync(rootDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const server: RunningServer = {
    host: HOST,
    port,
    pid,
    connectString: `${HOST}:${port}`,
    dataDir,
    log,
    exited: exitStatus,
    stop,
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastProbe = '';
  for (;;) {
    if (exited) {
      await exitedPromise;
      const output = log();
      await stop();
      const message = `${spec.kind} exited before it was ready (${exitDescription}); output:\n${output}`;
      if (looksLikePortInUse(output)) throw new PortInUseError(message);
      throw new Error(message);
    }
    try {
      const reply = await fourLetterWord(HOST, port, 'srvr', READY_PROBE_TIMEOUT_MS);
      if (/^Mode: /m.test(reply)) return server;
      if (spec.ready === 'answering' && reply.length > 0) return server;
      lastProbe = `srvr replied: ${JSON.stringify(reply)}`;
    } catch (err) {
      lastProbe = `srvr failed: ${(err as Error).message}`;
    }
    if (Date.now() >= deadline) {
      const output = log();
      await stop();
      throw new Error(
        `${spec.kind} on ${HOST}:${port} not ready after ${READY_TIMEOUT_MS} ms (${lastProbe}); output:\n${output}`,
      );
    }
    await delay(READY_POLL_INTERVAL_MS);
  }
}

async function launch(
  spec: LaunchSpec,
  requestedPort: number | undefined,
  extraConfig: Record<string, string>,
): Promise<RunningServer> {
  // A port picked by freePort() can be taken by someone else before the server binds it; pick again.
  const attempts = requestedPort === undefined ? PORT_ATTEMPTS_MAX : 1;
  for (let attempt = 1; ; attempt++) {
    const port = requestedPort ?? (await freePort());
    try {
      return await launchOnce(spec, port, extraConfig);
    } catch (err) {
      if (!(err instanceof PortInUseError) || attempt >= attempts) throw err;
    }
  }
}

export interface ReferenceServerOptions {
  /** Which release; 3.8.0 (Debian's) unless said. */
  version?: ReferenceVersion;
  extraConfig?: Record<string, string>;
  jvmFlags?: string[];
  port?: number;
  nofileLimit?: number;
  wrapper?: string[];
  /**
   * 'serving' (the default): ready once `srvr` reports a Mode. 'answering': once `srvr` answers at
   * all, for an ensemble member that cannot serve before a quorum forms.
   */
  readyWhen?: 'serving' | 'answering';
  /** Extra files, by path relative to the server's temp dir (e.g. `data/myid`). */
  files?: Record<string, string>;
}

function referenceSpec(opts: ReferenceServerOptions): LaunchSpec {
  const version = opts.version ?? '3.8.0';
  const jvmFlags = opts.jvmFlags ?? [];
  const classpath = referenceClasspath(version);
  const logging: { files: Record<string, string>; flag(rootDir: string): string } =
    version === '3.9.5'
      ? {
          files: { 'logback.xml': LOGBACK_XML },
          flag: (rootDir) => `-Dlogback.configurationFile=${path.join(rootDir, 'logback.xml')}`,
        }
      : {
          files: { 'log4j.properties': LOG4J_PROPERTIES },
          flag: (rootDir) => `-Dlog4j.configuration=file:${path.join(rootDir, 'log4j.properties')}`,
        };
  return {
    kind: version === '3.9.5' ? 'zookeeper39' : 'zookeeper',
    command: 'java',
    nofileLimit: opts.nofileLimit,
    wrapper: opts.wrapper,
    ready: opts.readyWhen,
    files: { ...(opts.files ?? {}), ...logging.files },
    args: (rootDir, cfgPath) => [
      '-Xmx512m',
      logging.flag(rootDir),
      `-Dzookeeper.log.dir=${rootDir}`,
      ...jvmFlags,
      '-cp',
      classpath,
      'org.apache.zookeeper.server.quorum.QuorumPeerMain',
      cfgPath,
    ],
  };
}

/** The reference Apache ZooKeeper, standalone: 3.8.0 unless `version` says otherwise. */
export async function startReferenceZooKeeper(opts: ReferenceServerOptions = {}): Promise<RunningServer> {
  return launch(referenceSpec(opts), opts.port, opts.extraConfig ?? {});
}

/** The second reference, Apache ZooKeeper 3.9.5, standalone. */
export async function startReferenceZooKeeper39(opts: Omit<ReferenceServerOptions, 'version'> = {}): Promise<RunningServer> {
  return startReferenceZooKeeper({ ...opts, version: '3.9.5' });
}

export async function startZkts(
  opts: {
    extraConfig?: Record<string, string>;
    systemProps?: Record<string, string>;
    port?: number;
    nofileLimit?: number;
    wrapper?: string[];
    /** As for the reference server: 'answering' for an ensemble member before its quorum forms. */
    readyWhen?: 'serving' | 'answering';
    /** The server's cli.js (default: this build's); a benchmark may compare another build. */
    cliPath?: string;
  } = {},
): Promise<RunningServer> {
  const cliPath = opts.cliPath ?? path.resolve(__dirname, '..', '..', 'src', 'cli.js');
  if (!fs.existsSync(cliPath)) throw new Error(`startZkts: ${cliPath} not found (run npm run build)`);
  const propArgs = Object.entries(opts.systemProps ?? {}).map(([key, value]) => `-D${key}=${value}`);
  // A test runner's NODE_OPTIONS (loaders, instrumentation) is not meant for the server under test.
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  const spec: LaunchSpec = {
    kind: 'zkts',
    command: process.execPath,
    ready: opts.readyWhen,
    nofileLimit: opts.nofileLimit,
    env,
    wrapper: opts.wrapper,
    args: (_rootDir, cfgPath) => [cliPath, 'server', ...propArgs, cfgPath],
  };
  return launch(spec, opts.port, opts.extraConfig ?? {});
}
