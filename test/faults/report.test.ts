// The fault suite's report (scripts/faults/report.ts) and lost count (scripts/faults/final.ts): a run
// renders to markdown with its figures and reproduction command, and to an HTML page whose inline
// SVG has the nemesis bands, the leader marks and the throughput and latency lines; a run without
// the checker is never a pass; an acknowledged write or seq-create missing on a member is lost.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { countLost, type FinalState, type HistoryOp } from '../../scripts/faults/final';
import { batchMarkdown, perSecond, runHtml, runMarkdown, verdict, writeBatchReport, writeRunReport, type EventLine, type RunResult } from '../../scripts/faults/report';

const S = 1e9;
const start = 5_000 * S;

function op(p: Partial<HistoryOp> & { t0: number; t1: number | null }): HistoryOp {
  return { proc: 'ts-0', wl: 'register', f: 'write', key: '/faults/reg/0', in: {}, status: 'ok', out: {}, err: null, session: '0x1', member: '127.0.0.21:1', ...p };
}

const member = (id: number, over: Partial<FinalState['members'][number]> = {}): FinalState['members'][number] => ({
  id,
  kind: 'zkts',
  address: `127.0.0.${20 + id}:2181`,
  registers: { '/faults/reg/0': { exists: true, value: 7, version: 3, mzxid: '0x100000010' } },
  seqChildren: ['n-0000000000', 'n-0000000001'],
  counter: { a: 4, b: 4 },
  lastZxid: '0x100000020',
  treeDigest: 'x',
  treeNodes: 10,
  ...over,
});

function result(over: Partial<RunResult> = {}): RunResult {
  return {
    target: 'zkts',
    members: 3,
    scenario: 'smoke',
    nemeses: ['kill', 'partition-majority'],
    seed: 11,
    durationS: 20,
    runDir: fs.mkdtempSync(path.join(os.tmpdir(), 'faults-report-')),
    startNs: start,
    endNs: start + 20 * S,
    ops: { total: 300, ok: 250, fail: 30, info: 20 },
    lost: { lost: 0, checked: 120, details: [] },
    historiesChecked: 2,
    checker: { available: true, valid: true, anomalies: 0, histories: 2 },
    treesIdentical: true,
    treeDiff: [],
    workloads: ['ts'],
    reproduce: 'npm run faults -- --target zkts --members 3 --scenario smoke --seed 11 --duration-s 20',
    errors: [],
    ...over,
  };
}

t.test('markdown and HTML with the timeline', async (t) => {
  const r = result();
  t.teardown(() => fs.rmSync(r.runDir, { recursive: true, force: true }));
  const events: EventLine[] = [
    { t: start + 1 * S, kind: 'leader', phase: 'observed', leader: 1 },
    { t: start + 4 * S, kind: 'kill', phase: 'start', members: [1], detail: 'kill -9 zkts-1' },
    { t: start + 6 * S, kind: 'leader', phase: 'observed', leader: null },
    { t: start + 7 * S, kind: 'leader', phase: 'observed', leader: 3 },
    { t: start + 7.5 * S, kind: 'kill', phase: 'end', members: [1] },
    { t: start + 10 * S, kind: 'partition-majority', phase: 'start', members: [3] },
    { t: start + 15 * S, kind: 'partition-majority', phase: 'end', members: [3] },
    { t: start + 16 * S, kind: 'delay', phase: 'skipped', detail: 'no sch_netem' },
  ];
  const ops: HistoryOp[] = [];
  for (let i = 0; i < 200; i++) ops.push(op({ t0: start + i * 0.1 * S, t1: start + i * 0.1 * S + (i % 10 === 0 ? 800e6 : 2e6) }));
  ops.push(op({ t0: start + 5 * S, t1: null, status: 'info' }));
  const md = runMarkdown(r);
  t.match(md, /zkts · smoke · seed 11: pass/);
  t.match(md, /\| zkts \| 3 \| kill, partition-majority \| 300 \| 250 \| 30 \| 20 \| 0 \(of 120 checked\) \| 2 \| valid \| yes \|/);
  t.match(md, /--seed 11/);
  const html = runHtml(r, events, ops);
  t.match(html, /<svg[^>]*viewBox/);
  t.notMatch(html, /<(script|link|img)\b|src=|href="http/, 'no external assets');
  t.equal((html.match(/<rect [^>]*fill="#e4572e"/g) ?? []).length, 1, 'one kill band');
  t.equal((html.match(/<rect [^>]*fill="#29335c"/g) ?? []).length, 1, 'one partition band');
  t.match(html, />L1</);
  t.match(html, />L3</);
  t.match(html, />∅</, 'a mark for the time without a leader');
  t.match(html, /skipped/);
  t.equal((html.match(/<polyline/g) ?? []).length, 3, 'throughput, p50 and p99 lines');
  const secs = perSecond(ops, start, start + 20 * S);
  t.equal(secs.length, 20);
  t.equal(secs[0].ok, 10, '10 acknowledged ops in the first second');
  t.equal(secs[0].p99, 800, 'p99 of the first second');
  t.equal(secs[0].p50, 2, 'p50 of the first second');
  writeRunReport(r, events, ops);
  for (const f of ['run.md', 'run.html', 'run.json']) t.ok(fs.existsSync(path.join(r.runDir, f)), f);
  writeBatchReport(r.runDir, [r, result({ target: 'zookeeper', runDir: r.runDir })]);
  t.match(fs.readFileSync(path.join(r.runDir, 'report.md'), 'utf8'), /\| zookeeper \| smoke \| 1 \| 1 \| 0 \| 0 \|/);
});

t.test('verdicts: lost, differing trees, a missing or failing checker', async (t) => {
  t.equal(verdict(result()), 'pass');
  t.equal(verdict(result({ lost: { lost: 1, checked: 5, details: ['x'] } })), 'FAIL');
  t.equal(verdict(result({ treesIdentical: false })), 'FAIL');
  t.equal(verdict(result({ checker: { available: true, valid: false, anomalies: 2 } })), 'FAIL');
  const missing = result({ checker: { available: false, reason: 'scripts/faults/checker/go.mod does not exist' } });
  t.equal(verdict(missing), 'INCOMPLETE', 'no checker is never a pass');
  t.match(runMarkdown(missing), /\*\*checker not available\*\*/);
  t.match(batchMarkdown([missing]), /INCOMPLETE/);
  t.equal(verdict(result({ checker: { available: true, valid: 'unknown' } })), 'INCOMPLETE');
});

t.test('lost: acknowledged seq-creates, writes and increments checked on every member', async (t) => {
  const final: FinalState = { members: [member(1), member(2), member(3)] };
  const ok: HistoryOp[] = [
    op({ f: 'seq-create', wl: 'seq', key: '/faults/seq', out: { name: 'n-0000000001' }, t0: 1, t1: 2 }),
    op({ f: 'write', out: { version: 3, mzxid: '0x100000010' }, t0: 1, t1: 2 }),
    op({ f: 'cas', out: { version: 2, mzxid: '0x10000000a' }, t0: 1, t1: 2 }),
    op({ wl: 'counter', f: 'incr', key: undefined, out: { to: 4 }, t0: 1, t1: 2 }),
    // Not acknowledged: never counted.
    op({ f: 'seq-create', wl: 'seq', status: 'info', out: null, t0: 1, t1: null }),
    op({ f: 'write', status: 'fail', out: null, t0: 1, t1: 2 }),
  ];
  t.same(countLost(ok, final), { lost: 0, checked: 4, details: [] });

  const m2 = member(2, { seqChildren: ['n-0000000000'], registers: { '/faults/reg/0': { exists: true, value: 5, version: 2, mzxid: '0x10000000a' } }, counter: { a: 3, b: 3 } });
  const bad = countLost(ok, { members: [member(1), m2, member(3)] });
  t.equal(bad.lost, 3, 'the seq-create, the later write and the increment are lost on member 2');
  t.match(bad.details.join('\n'), /missing on member\(s\) 2/);

  const gone = member(3, { registers: { '/faults/reg/0': { exists: false } } });
  t.equal(countLost(ok.slice(1, 2), { members: [member(1), member(2), gone] }).lost, 1, 'a key absent with no delete anywhere: lost');
  const withDelete = [...ok.slice(1, 2), op({ f: 'delete', status: 'info', out: null, t0: 3, t1: null })];
  t.equal(countLost(withDelete, { members: [member(1), member(2), gone] }).lost, 0, 'absent after a delete that may have happened: not lost');
});

t.test('merging batches: every run.json of several batch dirs, by target then seed', async (t) => {
  const { readRuns } = await import('../../scripts/faults/run');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'faults-merge-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const put = (batch: string, r: RunResult): void => {
    const d = path.join(root, batch, `${r.target}-${r.seed}`);
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'run.json'), JSON.stringify({ ...r, runDir: d }));
  };
  put('a', result({ target: 'zookeeper', seed: 2 }));
  put('a', result({ target: 'zkts', seed: 10 }));
  put('b', result({ target: 'zkts', seed: 3 }));
  fs.mkdirSync(path.join(root, 'b', 'not-a-run'));
  const runs = readRuns([path.join(root, 'a'), path.join(root, 'b')]);
  t.same(runs.map((r) => `${r.target}:${r.seed}`), ['zkts:3', 'zkts:10', 'zookeeper:2']);
  for (const r of runs) fs.rmSync(r.runDir, { recursive: true, force: true });
});
