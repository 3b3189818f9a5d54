// Differential compat test through the real Java client and Curator: the Java programs in
// compat-tests/java run the same scenarios against the reference Apache ZooKeeper 3.8.0, against
// ZooKeeper 3.9.5 and against zkts, each against a fresh server, and print one transcript line per
// observed fact. Every run must exit 0; zkts must print 3.9.5's transcript, and 3.9.5 3.8.0's but
// for the one block where the two releases differ (comparedLines). Then the same programs against
// 3-member ensembles (curator-ensemble5.test.ts: 5-member ones).

import t from 'tap';
import { RunningServer, startZkts } from '../test/util/servers';
import type { RunResult } from './util/harness';
import { ENSEMBLE_TARGETS } from './util/ensembles';
import {
  as39,
  checkOnEnsemble,
  compileJavaPrograms,
  comparedLines,
  describeRun,
  lineDiff,
  PROGRAMS,
  referenceTranscripts,
  runProgram,
  sameLines,
  splitMixedWatchModes,
  tail,
  transcriptLines,
} from './util/javaprograms';

// Five servers or ensembles in turn (three standalone, two 3-member ensembles): past tap's
// default 300 s per file on two busy cores.
t.setTimeout(600_000);

t.test('Java client and Curator scenarios: ZooKeeper 3.8.0, ZooKeeper 3.9.5 and zkts', async (t) => {
  const programs = await compileJavaPrograms(t);
  if (!programs) return;

  for (const program of PROGRAMS) {
    await t.test(program.mainClass, async (t) => {
      const references = await referenceTranscripts(t, programs, program);
      const ref38 = references.get('3.8.0')!;
      const ref39 = references.get('3.9.5')!;
      const rest39 = comparedLines(ref39);
      const exists39 = as39(comparedLines(ref38), rest39);
      const rest38 = exists39.lines;
      if (program.mainClass === 'RawClientScenarios') {
        t.ok(exists39.replaced > 0, `${program.mainClass}: exists on a node without READ: a Stat on 3.8.0, NOAUTH on 3.9.5 (${exists39.replaced} lines)`);
      }
      if (!sameLines(rest38, rest39)) t.comment(`${program.mainClass} 3.8.0 vs 3.9.5 diff:\n${lineDiff(rest38, rest39, ['3.8.0', '3.9.5'])}`);
      t.same(rest39, rest38, `${program.mainClass}: ZooKeeper 3.9.5's transcript is 3.8.0's outside the mixed-watch-modes block and exists without READ`);
      const block38 = splitMixedWatchModes(ref38).block;
      const block39 = splitMixedWatchModes(ref39).block;
      if (block39.length > 0) {
        // The one known difference (ZOOKEEPER-4466): the block must show it, or the exception is stale.
        t.notSame(block39, block38, `${program.mainClass}: 3.8.0 and 3.9.5 differ in the mixed-watch-modes block`);
      }

      let zkts: RunningServer | undefined;
      let actual: RunResult | undefined;
      try {
        zkts = await startZkts({ systemProps: program.serverProps });
      } catch (err) {
        t.fail(`zkts starts: ${tail((err as Error).message)}`);
        return;
      }
      const server = zkts;
      t.teardown(() => server.stop());
      actual = await runProgram(programs.classesDir, programs.log4jPath, program.mainClass, server);
      await server.stop();
      t.equal(actual.code, 0, `zkts run exits 0 (${actual.durationMs} ms)`, describeRun('zkts', actual, server));

      const expectedLines = ref39;
      const actualLines = transcriptLines(actual.stdout);
      if (!sameLines(expectedLines, actualLines)) t.comment(`${program.mainClass} transcript diff:\n${lineDiff(expectedLines, actualLines, ['3.9.5', 'zkts'])}`);
      t.same(actualLines, expectedLines, `${program.mainClass}: zkts's transcript is ZooKeeper 3.9.5's, every line (${expectedLines.length} lines)`);

      // The same program against 3-member ensembles, given every member: ZooKeeper's ensemble
      // prints standalone 3.8.0's transcript, zkts's ensemble standalone 3.9.5's (zkts's release).
      for (const target of ENSEMBLE_TARGETS) await checkOnEnsemble(t, programs, program, target, 3, references);
    });
  }
});
