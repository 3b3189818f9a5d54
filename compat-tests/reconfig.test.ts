// Dynamic reconfiguration through real clients (zkCli, the Java client's ZooKeeperAdmin, Curator,
// Kazoo) against a 3-member Apache ZooKeeper 3.8.0 ensemble ('reference') and a 3-member zkts
// ensemble ('zkts'), in the same run: the scenarios of docs/RECONFIG.md §3.3 with their direct
// assertions on both targets (files, /zookeeper/config on every member, srvr modes, leader mntr),
// and zkts's normalized transcript equal to ZooKeeper's line for line.
//
// ZKTS_RECONFIG_TARGETS (comma-separated, default `reference,zkts`) picks the targets, so the
// reference side can run alone.

import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { javaClasspath } from '../test/util/servers';
import { runProcess } from './util/harness';
import { lineDiff, sameLines } from './util/javaprograms';
import { ReconfigEnsemble, type ReconfigTargetKind } from './util/reconfigensemble';
import { ReconfigRun, runReconfigScenarios, SUPER_PASSWORD } from './util/reconfigscenarios';

// Two ensembles in turn, each through every scenario, on two busy cores.
t.setTimeout(900_000);

const ALL_TARGETS: readonly ReconfigTargetKind[] = ['reference', 'zkts'];
const JAVA_SOURCES = path.resolve(__dirname, '..', '..', 'compat-tests', 'java', 'reconfig');
const LOG_TAIL_CHARS = 6000;

function targets(): ReconfigTargetKind[] {
  const env = process.env.ZKTS_RECONFIG_TARGETS;
  if (env === undefined || env.trim() === '') return [...ALL_TARGETS];
  const names = env.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const n of names) if (!ALL_TARGETS.includes(n as ReconfigTargetKind)) throw new Error(`ZKTS_RECONFIG_TARGETS: unknown target '${n}'`);
  return names as ReconfigTargetKind[];
}

const CLIENT_LOG4J = [
  'log4j.rootLogger=ERROR, ERR',
  'log4j.appender.ERR=org.apache.log4j.ConsoleAppender',
  'log4j.appender.ERR.Target=System.err',
  'log4j.appender.ERR.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.ERR.layout.ConversionPattern=%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n',
  '',
].join('\n');

t.test('dynamic reconfiguration: ZooKeeper 3.8.0 ensemble and zkts ensemble', async (t) => {
  const classesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zk-reconfig-java-'));
  t.teardown(() => fs.rmSync(classesDir, { recursive: true, force: true }));
  const log4jPath = path.join(classesDir, 'client-log4j.properties');
  fs.writeFileSync(log4jPath, CLIENT_LOG4J);
  const sources = fs.readdirSync(JAVA_SOURCES).filter((n) => n.endsWith('.java')).map((n) => path.join(JAVA_SOURCES, n));
  const javac = await runProcess('javac', ['-encoding', 'UTF-8', '-d', classesDir, '-cp', javaClasspath(), ...sources], { timeoutMs: 120_000 });
  if (javac.code !== 0) {
    t.fail('javac compiles compat-tests/java/reconfig', { stderr: javac.stderr.slice(-LOG_TAIL_CHARS) });
    return;
  }

  const transcripts = new Map<ReconfigTargetKind, string[]>();
  for (const kind of targets()) {
    await t.test(kind, async (t) => {
      const ensemble = ReconfigEnsemble.create(kind, SUPER_PASSWORD);
      t.teardown(() => ensemble.stop());
      const run = new ReconfigRun(ensemble, { classesDir, log4jPath });
      const started = Date.now();
      try {
        await runReconfigScenarios(run);
      } finally {
        await ensemble.stop();
      }
      for (const c of run.checks) t.ok(c.ok, c.name, c.ok ? {} : { details: c.details });
      const failed = run.checks.filter((c) => !c.ok).length;
      if (failed > 0) t.comment(`${kind} member logs (tails):\n${ensemble.logs(LOG_TAIL_CHARS)}`);
      t.comment(`${kind} transcript:\n${run.transcript.join('\n')}`);
      t.comment(`${kind} notes (not compared):\n${run.notes.join('\n')}\ntotal ${Date.now() - started} ms`);
      transcripts.set(kind, run.transcript);
      // No member process outlives the target.
      const alive = [...ensemble.members.values()].filter((m) => m.isRunning()).map((m) => `s${m.sid} pid ${m.pid}`);
      t.same(alive, [], `${kind}: every member process has ended`);
    });
  }

  const reference = transcripts.get('reference');
  const zkts = transcripts.get('zkts');
  if (reference && zkts) {
    if (!sameLines(reference, zkts)) t.comment(`transcript diff:\n${lineDiff(reference, zkts, ['ZooKeeper 3.8.0 ensemble', 'zkts ensemble'])}`);
    t.ok(sameLines(reference, zkts), `zkts's transcript is ZooKeeper 3.8.0's, line for line (${reference.length} lines)`);
  }
});
