// FastLeaderElection transcripts: each file in test/quorum/testdata/election is a scenario, one
// command a line, each followed by the cores' Ready output it must produce. ZKTS_REWRITE=1 writes
// the actual outputs back into the files (then review the diff).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runTranscript } from './election-harness';

const DIR = path.join(__dirname, '../../../test/quorum/testdata/election');
const rewrite = process.env.ZKTS_REWRITE === '1';

const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.txt')).sort();

t.ok(files.length >= 10, 'the scenarios are there');

for (const file of files) {
  t.test(file, async (t) => {
    const full = path.join(DIR, file);
    const text = fs.readFileSync(full, 'utf8');
    const { rewritten, mismatches } = runTranscript(text);
    if (rewrite) {
      if (rewritten !== text) fs.writeFileSync(full, rewritten);
      t.pass('rewritten');
      return;
    }
    for (const m of mismatches) {
      t.equal(m.actual, m.expected, `${file}:${m.line}: ${m.command}`);
    }
    t.equal(mismatches.length, 0, 'every command printed what the file expects');
    t.notMatch(rewritten, /^error: /m, 'no command failed');
  });
}
