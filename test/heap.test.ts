import t from 'tap';
import * as v8 from 'node:v8';
import { collectGarbage, compactHeap, shouldCompact, shouldShrinkYoung, youngGenerationBytes } from '../src/storage/heap';

const MB = 1024 * 1024;

t.test('an idle second compacts only after the heap grew by 32 MB and a quarter', async (t) => {
  t.equal(shouldCompact(0.01, 200 * MB, 100 * MB), true, 'idle, doubled');
  t.equal(shouldCompact(0.2, 200 * MB, 100 * MB), false, 'busy');
  t.equal(shouldCompact(0.01, 120 * MB, 100 * MB), false, 'grown 20 MB only');
  t.equal(shouldCompact(0.01, 540 * MB, 500 * MB), false, 'grown 40 MB of 500: under a quarter');
  t.equal(shouldCompact(0.01, 100 * MB, 100 * MB), false, 'not grown');
});

t.test('a compaction returns the pages a burst left half used', async (t) => {
  const oldSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!;
  // Objects that live long enough to reach the old generation, then three in four die.
  let keep: { i: number; s: string }[] = [];
  for (let i = 0; i < 1_500_000; i++) keep.push({ i, s: `value ${i}` });
  compactHeap();
  const full = oldSpace().physical_space_size;
  keep = keep.filter((_, i) => i % 4 === 0);
  compactHeap();
  const after = oldSpace();
  t.ok(keep.length === 375_000);
  t.ok(after.physical_space_size < full * 0.6, `old space ${Math.round(full / MB)} MB -> ${Math.round(after.physical_space_size / MB)} MB`);
  t.ok(after.physical_space_size < after.space_used_size * 1.5, 'pages are mostly full after it');
});

t.test('a grown young generation is scavenged from the first idle second, then every other one', async (t) => {
  t.equal(shouldShrinkYoung(1, undefined, 32 * MB), true, 'idle 1 s, grown');
  t.equal(shouldShrinkYoung(0, undefined, 32 * MB), false, 'busy');
  t.equal(shouldShrinkYoung(60, undefined, 1 * MB), false, 'at its first size');
  t.equal(shouldShrinkYoung(60, undefined, 8 * MB), false, '8 MB: not a burst');
  t.equal(shouldShrinkYoung(7, 6, 32 * MB), false, 'a second after a try');
  t.equal(shouldShrinkYoung(8, 6, 32 * MB), true, 'two seconds after a try');
  t.equal(shouldShrinkYoung(8, 6, 1 * MB), false, 'shrunk by the last try');
});

t.test('a scavenge after idle seconds gives back the semi-spaces a burst grew', async (t) => {
  // A burst that keeps some of what it allocates grows the young generation to its limit.
  const keep: { i: number; s: string }[] = [];
  for (let i = 0; i < 3_000_000; i++) {
    const o = { i, s: `value ${i}` };
    if (i % 50 === 0) keep.push(o);
  }
  const grown = youngGenerationBytes();
  t.ok(grown >= 8 * MB, `the burst grew the young generation to ${grown / MB} MB`);
  // V8 shrinks it only in a collection made while its allocation rate over the last 5 s is low:
  // scavenges as the IdleCompactor makes them, one every other idle second.
  let seconds = 0;
  while (seconds < 14 && youngGenerationBytes() > grown / 4) {
    await new Promise((r) => setTimeout(r, 2000));
    seconds += 2;
    collectGarbage('minor');
  }
  const after = youngGenerationBytes();
  t.ok(after <= grown / 4, `young generation ${grown / MB} MB -> ${after / MB} MB after ${seconds} idle seconds`);
  t.equal(keep.length, 60_000, 'what the burst kept is still there');
});
