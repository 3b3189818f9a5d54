// The faults checker binary builds (go build, modules from the Go module proxy) and keeps its
// contract: valid histories exit 0, each kind of broken one exits 1 with its anomaly named and, for
// a porcupine check, its HTML visualisation written; bad input exits 2.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildChecker, runChecker, CheckerRun } from '../../scripts/faults/checkerbin';

const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'faults-checker');
const fixture = (name: string): string => path.join(FIXTURES, name);

/** The anomalies of one check whose text matches what. */
const anomaliesOf = (r: CheckerRun, check: string, what: RegExp) =>
  r.result.anomalies.filter((a) => a.check === check && what.test(a.what));

t.test('faults-checker', async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'faults-checker-'));
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  // Fails the test (never skips it) when Go or the module proxy is missing.
  const bin = await buildChecker();
  t.ok(fs.statSync(bin).isFile(), `built ${bin}`);
  t.equal(await buildChecker(), bin, 'a second build of the same sources reuses the binary');

  await t.test('a valid history of every workload', async (t) => {
    const out = path.join(work, 'valid');
    const r = await runChecker({ histories: [fixture('valid.jsonl')], finalPath: fixture('FINAL.json'), outDir: out, timeoutS: 30 });
    t.equal(r.exitCode, 0, 'exit 0');
    t.equal(r.result.valid, true);
    t.same(r.result.anomalies, []);
    t.match(r.result.checks.register, { valid: true, ops: 7, ok: 5, fail: 1, info: 1, anomalies: 0 });
    t.equal(r.result.checks.register.keys?.['/faults/reg/0']?.result, 'linearizable');
    t.match(r.result.checks.seq, { valid: true, ops: 3, ok: 2, info: 1 });
    t.match(r.result.checks.counter, { valid: true, ops: 4, porcupine: { result: 'linearizable' } });
    t.match(r.result.checks.lock, { valid: true, ops: 7 });
    t.match(r.result.checks.watch, { valid: true, ops: 5 });
  });

  await t.test('an acknowledged write the members lost', async (t) => {
    const out = path.join(work, 'lost');
    const r = await runChecker({ histories: [fixture('valid.jsonl')], finalPath: fixture('FINAL-lost-write.json'), outDir: out, timeoutS: 30 });
    t.equal(r.exitCode, 1, 'exit 1');
    t.equal(r.result.valid, false);
    const key = r.result.checks.register.keys?.['/faults/reg/0'];
    t.equal(key?.result, 'illegal');
    t.equal(r.result.checks.register.keys?.['/faults/reg/1']?.result, 'linearizable');
    const viz = key?.visualization ?? '';
    t.equal(path.dirname(viz), out, 'the visualisation is under --out');
    t.match(fs.readFileSync(viz, 'utf8'), /<html/i, "porcupine's HTML visualisation was written");
    t.equal(anomaliesOf(r, 'register', /not linearizable/).length, 1);
    t.equal(r.result.anomalies.length, 1, 'nothing else is reported');
  });

  await t.test('a gap among the sequential creates', async (t) => {
    const r = await runChecker({ histories: [fixture('valid.jsonl')], finalPath: fixture('FINAL-seq-gap.json'), outDir: path.join(work, 'gap'), timeoutS: 30 });
    t.equal(r.exitCode, 1);
    t.equal(r.result.checks.seq.valid, false);
    t.equal(r.result.checks.register.valid, true);
    t.equal(anomaliesOf(r, 'seq', /^gap among the committed creates on member \d.* 1 missing \(n-0000000002\)/).length, 3, 'on each of the three members');
    t.equal(r.result.anomaliesTotal, 3);
  });

  await t.test('two holders of one lock', async (t) => {
    const r = await runChecker({ histories: [fixture('lock-overlap.jsonl')], finalPath: fixture('FINAL.json'), outDir: path.join(work, 'lock'), timeoutS: 30 });
    t.equal(r.exitCode, 1);
    t.equal(r.result.checks.lock.anomalies, 1);
    t.equal(anomaliesOf(r, 'lock', /two holders of \/faults\/lock\/java at once: java-1 acquired it while java-0 still held it/).length, 1);
    t.equal(r.result.anomaliesTotal, 1);
  });

  await t.test('histories split over files are checked together; a torn last line is dropped', async (t) => {
    const lines = fs.readFileSync(fixture('valid.jsonl'), 'utf8').trim().split('\n');
    const java = path.join(work, 'java.jsonl');
    const kazoo = path.join(work, 'kazoo.jsonl');
    fs.writeFileSync(java, lines.filter((l) => !l.includes('"kazoo-')).join('\n') + '\n{"proc": "java-0", "wl": "reg');
    fs.writeFileSync(kazoo, lines.filter((l) => l.includes('"kazoo-')).join('\n') + '\n');
    const r = await runChecker({ histories: [java, kazoo], finalPath: fixture('FINAL.json'), outDir: path.join(work, 'split'), timeoutS: 30 });
    t.equal(r.exitCode, 0, r.stderr);
    t.equal(r.result.checks.register.ops, 7);
    const alone = await runChecker({ histories: [java], finalPath: fixture('FINAL.json'), outDir: path.join(work, 'alone'), timeoutS: 30 });
    t.equal(alone.exitCode, 1, 'without the kazoo history /faults/reg/1 holds a value nobody wrote');
  });

  await t.test('a search porcupine cannot finish is unknown, never valid', async (t) => {
    // A value nobody wrote, read after 25 writes of unknown outcome nobody saw: illegal, but only
    // every subset and order of those writes proves it.
    const lines: string[] = [];
    for (let p = 0; p < 25; p++) {
      lines.push(JSON.stringify({ proc: `java-${p}`, wl: 'register', f: 'write', key: '/faults/reg/0', in: { value: p * 1_000_000 + 1 }, status: 'info', out: null, err: null, t0: 100 + p, t1: null }));
    }
    lines.push(JSON.stringify({ proc: 'java-99', wl: 'register', f: 'sync-read', key: '/faults/reg/0', in: null, status: 'ok', out: { exists: true, value: 777, version: 1, mzxid: '0x10' }, err: null, t0: 1000, t1: 1100 }));
    const hard = path.join(work, 'hard.jsonl');
    fs.writeFileSync(hard, lines.join('\n') + '\n');
    const final = path.join(work, 'FINAL-hard.json');
    fs.writeFileSync(final, JSON.stringify({ members: [{ id: 1, kind: 'zkts', address: '127.0.0.21:2181', registers: {}, seqChildren: [], counter: { a: 0, b: 0 } }] }));
    const timedOut = await runChecker({ histories: [hard], finalPath: final, outDir: path.join(work, 'hard'), timeoutS: 0.5 });
    t.equal(timedOut.exitCode, 2, 'porcupine timed out: exit 2');
    t.equal(timedOut.result.valid, 'unknown');
    t.equal(timedOut.result.checks.register.keys?.['/faults/reg/0']?.result, 'unknown');
    const outgrown = await runChecker({ histories: [hard], finalPath: final, outDir: path.join(work, 'hard-mem'), timeoutS: 60, memoryMb: 64 });
    t.equal(outgrown.exitCode, 2, 'the search outgrew --memory-mb: exit 2');
    t.equal(outgrown.result.valid, 'unknown');
    t.match(outgrown.result.error, /outgrew --memory-mb 64/);
  });

  await t.test('bad input exits 2', async (t) => {
    const bad = path.join(work, 'bad.jsonl');
    fs.writeFileSync(bad, '{"proc":"java-0"\n{}\n');
    const r = await runChecker({ histories: [bad], finalPath: fixture('FINAL.json'), outDir: path.join(work, 'bad'), timeoutS: 30 });
    t.equal(r.exitCode, 2);
    t.equal(r.result.valid, 'unknown');
    t.match(r.result.error, /bad\.jsonl:1/);
  });
});
