// The fault suite's nemesis schedule (scripts/faults/nemesis.ts) is a function of its seed: the same
// seed gives the same faults at the same times on the same members, another seed another schedule,
// without Math.random; faults do not overlap and keep off the quiet start and end.
import t from 'tap';
import { NEMESES, schedule, SeededRandom, type NemesisKind } from '../../scripts/faults/nemesis';

const ALL: NemesisKind[] = [...NEMESES];

t.test('the same seed gives the same schedule, another seed another', async (t) => {
  const realRandom = Math.random;
  Math.random = () => {
    throw new Error('Math.random used in a schedule');
  };
  try {
    const a = schedule({ seed: 42, durationMs: 300_000, members: 5, nemeses: ALL });
    const b = schedule({ seed: 42, durationMs: 300_000, members: 5, nemeses: ALL });
    const c = schedule({ seed: 43, durationMs: 300_000, members: 5, nemeses: ALL });
    t.same(a, b, 'seed 42 twice: identical');
    t.not(JSON.stringify(a), JSON.stringify(c), 'seed 43 differs');
    t.ok(a.length > 10, `a 5-minute schedule has many faults (${a.length})`);
    t.same(new Set(a.map((f) => f.kind)), new Set(ALL), 'every nemesis kind appears in a long run');
    let end = 0;
    for (const f of a) {
      t.ok(f.startMs >= end, `${f.kind} at ${f.startMs} starts after the previous fault ended (${end})`);
      end = f.startMs + f.durationMs;
      t.same([...f.order].sort(), [1, 2, 3, 4, 5], 'order is a permutation of the members');
      if (f.target.role === 'member') t.ok(f.target.id >= 1 && f.target.id <= 5);
    }
    t.ok(a[0].startMs >= 3000, 'quiet start');
    t.ok(end <= 300_000 - 3000, 'quiet end');
    t.ok(a.filter((f) => f.target.role === 'leader').length > a.length / 3, 'the leader is the most frequent target');
    const pauses = a.filter((f) => f.kind === 'pause');
    t.ok(pauses.every((p) => p.durationMs > 5000), 'a pause outlasts syncLimit (5 s): a paused leader wakes after a new election');
  } finally {
    Math.random = realRandom;
  }
});

t.test('only the asked nemeses, and none at all when none is asked', async (t) => {
  const s = schedule({ seed: 7, durationMs: 60_000, members: 3, nemeses: ['kill', 'partition-majority'] });
  t.ok(s.length >= 2);
  t.same(new Set(s.map((f) => f.kind)), new Set(['kill', 'partition-majority']));
  t.same(schedule({ seed: 7, durationMs: 60_000, members: 3, nemeses: [] }), []);
  t.throws(() => schedule({ seed: 7, durationMs: 60_000, members: 3, nemeses: ['flood' as NemesisKind] }), /unknown nemesis/);
});

t.test('the generator is uniform enough and reproducible', async (t) => {
  const r1 = new SeededRandom(1);
  const r2 = new SeededRandom(1);
  const xs = Array.from({ length: 10_000 }, () => r1.next());
  t.same(xs.slice(0, 100), Array.from({ length: 100 }, () => r2.next()));
  t.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  t.ok(Math.abs(mean - 0.5) < 0.02, `mean ${mean}`);
  const buckets = new Array(10).fill(0);
  for (const x of xs) buckets[Math.floor(x * 10)]++;
  t.ok(buckets.every((n) => n > 850 && n < 1150), `deciles ${buckets.join(',')}`);
});
