// The shells' Ready loop: kick() runs at once, kickSoon() once the code running now is done, so
// that what one socket read brought in goes out as one Ready.
import t from 'tap';
import type { Ready } from '../../src/quorum/ready';
import { ReadyLoop, type ReadyCore } from '../../src/quorum/readyloop';

/** A core whose Ready carries the items stepped in since the last one. */
function fakeCore(): ReadyCore & { step(item: number): void; readies: number[][] } {
  let pending: number[] = [];
  const readies: number[][] = [];
  return {
    readies,
    step(item: number) {
      pending.push(item);
    },
    hasReady: () => pending.length > 0,
    ready: () => {
      readies.push(pending);
      pending = [];
      return {} as Ready;
    },
    advance: () => undefined,
  };
}

function loopOver(core: ReadyCore, over: () => boolean = () => false): { loop: ReadyLoop; executed: () => number; failures: Error[] } {
  let executed = 0;
  const failures: Error[] = [];
  const loop = new ReadyLoop(
    () => core,
    async () => {
      executed++;
    },
    (e) => failures.push(e),
    over,
  );
  return { loop, executed: () => executed, failures };
}

t.test('kick runs a Ready per call when none is under way', async (t) => {
  const core = fakeCore();
  const { loop, failures } = loopOver(core);
  for (let i = 1; i <= 3; i++) {
    core.step(i);
    loop.kick();
    await new Promise((r) => setImmediate(r));
  }
  t.same(core.readies, [[1], [2], [3]]);
  t.same(failures, []);
});

t.test('kickSoon: the steps of one synchronous run go into one Ready, before any I/O callback', async (t) => {
  const core = fakeCore();
  const { loop, executed, failures } = loopOver(core);
  // Scheduled first, it still sees the Ready done: kickSoon runs in this run's microtasks.
  let seenByNextCallback = -1;
  setImmediate(() => (seenByNextCallback = executed()));
  for (let i = 1; i <= 5; i++) {
    core.step(i);
    loop.kickSoon();
  }
  t.equal(executed(), 0, 'nothing runs while the caller is still running');
  await new Promise((r) => setImmediate(r));
  t.same(core.readies, [[1, 2, 3, 4, 5]], 'one Ready with every step');
  t.equal(executed(), 1);
  t.equal(seenByNextCallback, 1, 'done before the next callback');
  core.step(6);
  loop.kickSoon();
  await new Promise((r) => setImmediate(r));
  t.same(core.readies, [[1, 2, 3, 4, 5], [6]], 'a later kickSoon schedules again');
  t.same(failures, []);
});

t.test('kickSoon does nothing once the role is over', async (t) => {
  const core = fakeCore();
  let over = false;
  const { loop, executed } = loopOver(core, () => over);
  core.step(1);
  loop.kickSoon();
  over = true;
  await new Promise((r) => setImmediate(r));
  t.equal(executed(), 0);
  t.same(core.readies, []);
});
