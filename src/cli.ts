#!/usr/bin/env node
/**
 * The zkts command. `zkts server [-Dkey=value ...] [zoo.cfg]` is a drop-in for ZooKeeper's
 * QuorumPeerMain: same config file, same system properties.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import pino from 'pino';
import { ConfigError, loadConfig, parseSystemPropertyArgs } from './server/config';
import { ZooKeeperServer } from './server/server';
import { ZKTS_VERSION } from './admin/version';
import { fourLetterWordClient } from './admin/client';
import { AdminServer } from './admin/adminserver';
import { DEFAULT_METRICS_PROVIDER, PrometheusMetrics, PROMETHEUS_METRICS_PROVIDER } from './admin/metrics';
import { MetricsServer } from './admin/metricsserver';
import { statusMain } from './admin/status';
import { DiskDatabase, RecoveryError } from './storage/diskdb';
import type { ReceivedTree } from './storage/database';
import { IdleCompactor } from './storage/heap';
import { CorruptSnapshotError } from './storage/snapshot';
import { CorruptLogError, realFs } from './storage/txnlog';
import { armOnSignal, Failpoints, FailpointSpecError, withFailpoints } from './storage/failpoints';
import { monotonicNowMs, wallNowMs } from './server/clock';
import { purge } from './storage/purge';
import { logDumpMain } from './storage/logdump';
import { snapshotDumpMain } from './storage/snapdump';
import { QuorumPeer } from './quorum/quorumpeer';
import { runLocalEnsemble } from './quorum/localensemble';
import { parseQuorumVerifier, verifierFromConfig, type QuorumVerifier } from './quorum/verifier';
import { backupStaticConfig, NEXT_SUFFIX } from './storage/dynamicconfig';

async function runServer(cfgFile: string | undefined, props: Map<string, string>): Promise<number> {
  const log = pino({ level: props.get('zkts.logLevel') ?? process.env.ZKTS_LOG_LEVEL ?? 'info' });
  let config;
  let text: string | undefined;
  try {
    text = cfgFile === undefined ? undefined : fs.readFileSync(cfgFile, 'utf8');
    config = loadConfig(text, props, cfgFile === undefined ? process.cwd() : path.dirname(path.resolve(cfgFile)));
  } catch (e) {
    if (e instanceof ConfigError) {
      log.fatal({ key: e.key, reason: e.reason }, e.message);
      process.stderr.write(`zkts: ${e.message}\n`);
      return 2;
    }
    if (e instanceof Error && 'code' in e && (e as NodeJS.ErrnoException).code === 'ENOENT') {
      log.fatal(`config file ${cfgFile} does not exist`);
      process.stderr.write(`zkts: config file ${cfgFile} does not exist\n`);
      return 2;
    }
    throw e;
  }
  for (const key of config.unknownKeys) log.warn({ key }, 'unknown configuration key, ignored');
  for (const w of config.warnings) log.warn(w);
  // ZooKeeper boots its metrics provider first, and a provider that cannot start stops the start.
  let metrics: MetricsServer | undefined;
  const providerClass = config.metricsProviderClassName;
  if (providerClass === PROMETHEUS_METRICS_PROVIDER) {
    metrics = new MetricsServer(config.metricsProviderHttpHost, config.metricsProviderHttpPort, new PrometheusMetrics(config.metricsProviderExportJvmInfo), log);
    try {
      await metrics.start();
    } catch (e) {
      log.fatal({ err: (e as Error).message, port: config.metricsProviderHttpPort, address: config.metricsProviderHttpHost }, (e as Error).message);
      process.stderr.write(`zkts: ${(e as Error).message} (set metricsProvider.httpPort to a free port)\n`);
      return 1;
    }
  } else if (providerClass !== undefined && providerClass !== DEFAULT_METRICS_PROVIDER) {
    log.warn({ className: providerClass }, `metrics provider not available; the built-in one is used (for Prometheus: ${PROMETHEUS_METRICS_PROVIDER})`);
  }
  let server: ZooKeeperServer | undefined;
  let db: DiskDatabase;
  let openDatabase: (received?: ReceivedTree) => Promise<DiskDatabase>;
  let failpoints: Failpoints | undefined;
  try {
    // Faults for tests only (failpoints.ts): nothing is injected unless named, or a file to arm
    // them from (on SIGUSR2) is. Set up before the server is built: its clocks then follow a
    // clock:offset as they would a real jump.
    const spec = props.get('zkts.failpoints') ?? process.env.ZKTS_FAILPOINTS;
    const specFile = props.get('zkts.failpointsFile') ?? process.env.ZKTS_FAILPOINTS_FILE;
    if (spec || specFile) {
      try {
        failpoints = new Failpoints(spec ?? '');
      } catch (e) {
        if (!(e instanceof FailpointSpecError)) throw e;
        log.fatal({ failpoints: spec }, e.message);
        process.stderr.write(`zkts: ${e.message}\n`);
        return 2;
      }
      log.warn({ failpoints: failpoints.describe(), file: specFile ?? null }, 'failpoints armed (for tests only)');
      if (specFile) {
        armOnSignal(failpoints, specFile, (armed, err) => {
          if (err) log.error({ file: specFile, err: err.message }, 'failpoints file not armed');
          else log.warn({ failpoints: armed, file: specFile }, 'failpoints armed from the file (SIGUSR2)');
        });
      }
    }
    const fsShim = failpoints ? withFailpoints(realFs, failpoints) : undefined;
    const onFailure = (err: Error) => server?.storageFailed(err);
    openDatabase = async (received) => (received ? DiskDatabase.adopt(config, log, onFailure, received, fsShim) : DiskDatabase.open(config, log, onFailure, fsShim));
    db = await openDatabase();
  } catch (e) {
    await metrics?.stop();
    if (e instanceof RecoveryError || e instanceof CorruptSnapshotError || e instanceof CorruptLogError) {
      log.fatal({ reason: e.message }, 'cannot recover the database');
      process.stderr.write(`zkts: cannot recover the database: ${e.message}\n`);
      return 3;
    }
    throw e;
  }
  server = new ZooKeeperServer(config, log, monotonicNowMs, db, wallNowMs);
  server.reopenDatabase = openDatabase!;
  metrics?.metrics.attach(server);
  server.fourLetterWords.context.initialConfig = text ?? '';
  // ZooKeeper starts its AdminServer before the client port, and a failure there stops the start.
  let admin: AdminServer | undefined;
  if (config.adminEnableServer) {
    admin = new AdminServer(server, log);
    try {
      await admin.start();
    } catch (e) {
      const msg = `Unable to start AdminServer, exiting abnormally: ${(e as Error).message} (set admin.serverPort to a free port, or admin.enableServer=false)`;
      log.fatal({ err: (e as Error).message, port: config.adminServerPort, address: config.adminServerAddress }, msg);
      process.stderr.write(`zkts: ${msg}\n`);
      await db.close();
      await metrics?.stop();
      return 4;
    }
  }
  // A member of an ensemble serves only once its role is established.
  if (config.distributed) server.setRoleProblem('no leader yet (LOOKING)');
  try {
    await server!.start();
  } catch (e) {
    log.fatal({ err: (e as Error).message, port: config.clientPort, address: config.clientPortAddress }, 'cannot listen for clients');
    await admin?.stop();
    await metrics?.stop();
    return 1;
  }
  let peer: QuorumPeer | undefined;
  if (config.distributed) {
    try {
      const configFile = cfgFile === undefined ? undefined : path.resolve(cfgFile);
      let lastSeenVerifier: QuorumVerifier | undefined;
      if (config.reconfigEnabled && configFile !== undefined) {
        // As ZooKeeper: the original zoo.cfg is kept before it is first rewritten, and a proposed
        // configuration left in .dynamic.next is the last seen one.
        if (config.dynamicConfigFile === undefined) backupStaticConfig(configFile);
        const next = configFile + NEXT_SUFFIX;
        if (fs.existsSync(next)) lastSeenVerifier = parseQuorumVerifier(fs.readFileSync(next, 'utf8'), { multiAddressEnabled: config.multiAddressEnabled });
      }
      peer = new QuorumPeer({
        config,
        log,
        server,
        configFile,
        lastSeenVerifier,
        verifier: verifierFromConfig(config, { propertiesText: config.dynamicConfigFile === undefined ? text : fs.readFileSync(config.dynamicConfigFile, 'utf8') }),
        openDatabase: openDatabase!,
        failpoints,
        onFatal: (err) => {
          process.stderr.write(`zkts: the quorum peer cannot go on: ${err.message}\n`);
          process.exit(1);
        },
      });
      await peer.start();
    } catch (e) {
      const msg = `cannot start the quorum peer: ${(e as Error).message}`;
      log.fatal({ err: (e as Error).message }, msg);
      process.stderr.write(`zkts: ${msg}\n`);
      await Promise.all([admin?.stop(), metrics?.stop(), server.stop()]);
      return 1;
    }
  }
  const mb = (bytes: number) => Math.round(bytes / 1048576);
  const compactor = new IdleCompactor(
    (ms, before, after) => log.info({ ms: Math.round(ms), heapMb: mb(before), afterMb: mb(after) }, 'heap compacted while idle'),
    (ms, before, after) => {
      if (after < before) log.info({ ms: Math.round(ms), youngMb: mb(before), afterMb: mb(after) }, 'young generation shrunk while idle');
    },
  );
  compactor.start();
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      log.info({ signal }, 'shutting down');
      compactor.stop();
      (peer?.stop() ?? Promise.resolve())
        .then(() => Promise.all([admin?.stop(), metrics?.stop(), server!.stop()]))
        .then(() => resolve(), () => resolve());
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
  return 0;
}

function main(argv: string[]): void {
  const { props, rest } = parseSystemPropertyArgs(argv);
  const program = new Command();
  program.name('zkts').description('A ZooKeeper-compatible coordination server').version(ZKTS_VERSION);
  program
    .command('server')
    .description('run the server in the foreground (like ZooKeeper\'s QuorumPeerMain); -Dkey=value sets a system property')
    .argument('[config]', 'zoo.cfg; without it, an embedded default: port 2181, data in ./data')
    .action(async (cfg: string | undefined) => {
      process.exitCode = await runServer(cfg, props);
    });
  program
    .command('ensemble')
    .description('start a local ensemble for development: each member its own process and dataDir under one folder; prints the connect string; Ctrl-C stops all')
    .argument('[members]', 'how many members', '3')
    .option('--dir <dir>', 'the folder for the members', './ensemble')
    .option('--host <host>', 'the loopback address to bind', '127.0.0.1')
    .option('--client-port <port>', "member 1's client port (member i: + i - 1)", '2181')
    .option('--quorum-port <port>', "member 1's quorum port", '2888')
    .option('--election-port <port>', "member 1's election port", '3888')
    .action(async (members: string, opts: { dir: string; host: string; clientPort: string; quorumPort: string; electionPort: string }) => {
      process.exitCode = await runLocalEnsemble(
        {
          members: Number(members),
          dir: opts.dir,
          host: opts.host,
          clientPort: Number(opts.clientPort),
          quorumPort: Number(opts.quorumPort),
          electionPort: Number(opts.electionPort),
          readyTimeoutMs: 60_000,
          out: (s) => process.stdout.write(s),
        },
        __filename,
      );
    });
  program
    .command('4lw')
    .description('send a four-letter word to a server and print the answer')
    .argument('<cmd>', 'the word, e.g. srvr, stat, ruok')
    .argument('[hostport]', 'host:port', '127.0.0.1:2181')
    .action(async (cmd: string, hostport: string) => {
      process.stdout.write(await fourLetterWordClient(hostport, cmd));
    });
  program
    .command('status')
    .description('summarize a server: mode, version, zxid, znodes, connections, latency, sessions (from mntr, else srvr)')
    .argument('[hostport]', 'host:port', '127.0.0.1:2181')
    .action(async (hostport: string) => {
      process.exitCode = await statusMain(hostport, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
    });
  program
    .command('purge')
    .description('delete old snapshots and txn logs, keeping the newest <count> snapshots (like zkCleanup.sh)')
    .argument('<dataLogDir>', 'the txn log directory (dataLogDir)')
    .argument('[snapDir]', 'the snapshot directory (dataDir); defaults to dataLogDir')
    .option('-n, --count <count>', 'snapshots to keep (at least 3)', '3')
    .action((dataLogDir: string, snapDir: string | undefined, opts: { count: string }) => {
      const r = purge(dataLogDir, snapDir ?? dataLogDir, Number(opts.count));
      for (const f of r.removed) process.stdout.write(`removed ${f}\n`);
    });
  program
    .command('log-dump')
    .description('print the txns of a txn log file (like ZooKeeper\'s TxnLogToolkit)')
    .allowUnknownOption()
    .argument('<args...>', '<file> [--json]')
    .action(async (args: string[]) => {
      process.exitCode = await logDumpMain(args);
    });
  program
    .command('snapshot-dump')
    .description('print a snapshot (like ZooKeeper\'s SnapshotFormatter)')
    .allowUnknownOption()
    .argument('<args...>', '<file> [--json] [-d]')
    .action(async (args: string[]) => {
      process.exitCode = await snapshotDumpMain(args);
    });
  program.parseAsync(rest, { from: 'user' }).catch((e) => {
    process.stderr.write(`zkts: ${(e as Error).message}\n`);
    process.exitCode = 1;
  });
}

main(process.argv.slice(2));
