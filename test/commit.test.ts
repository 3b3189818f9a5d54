// The log commit stage: group commit, callbacks in order after their own fsync, the next batch
// sent to the log while the one before is applied, failures.
import t from 'tap';
import { LogCommitStage, type TxnLogSink } from '../src/server/commit';
import { OpCode } from '../src/protocol/constants';
import type { Txn } from '../src/storage/txn';

/** A log whose fsyncs finish when the test says. */
class ManualLog implements TxnLogSink {
  readonly events: string[] = [];
  private appended: bigint[] = [];
  private readonly commits: { resolve: () => void; reject: (e: Error) => void }[] = [];
  append(txn: Txn): void {
    this.appended.push(txn.hdr.zxid);
  }
  commit(): Promise<void> {
    this.events.push(`commit ${this.appended.join(',')}`);
    this.appended = [];
    return new Promise((resolve, reject) => this.commits.push({ resolve, reject }));
  }
  get inFlight(): number {
    return this.commits.length;
  }
  finish(): void {
    this.commits.shift()!.resolve();
  }
  fail(): void {
    this.commits.shift()!.reject(new Error('EIO'));
  }
}

const txn = (zxid: bigint): Txn => ({ hdr: { clientId: 1n, cxid: 1, zxid, time: 0n, type: OpCode.error }, body: { type: OpCode.error, record: { err: 0 } } });
const turn = () => new Promise((r) => setImmediate(r));

t.test('the next batch goes to the log before the batch before it is applied', async (t) => {
  const log = new ManualLog();
  const stage = new LogCommitStage(log, 100, () => t.fail('no failure expected'));
  const done = (zxid: bigint) => () => log.events.push(`done ${zxid}`);
  stage.submit(txn(1n), done(1n));
  stage.submit(txn(2n), done(2n));
  await turn();
  t.same(log.events, ['commit 1,2'], 'one fsync for what came in one turn');
  stage.submit(txn(3n), done(3n));
  stage.barrier(() => log.events.push('barrier'));
  stage.submit(txn(4n), done(4n));
  await turn();
  t.same(log.events, ['commit 1,2'], 'nothing is done before its fsync, and one fsync at a time');
  log.finish();
  await turn();
  t.same(log.events, ['commit 1,2', 'commit 3,4', 'done 1', 'done 2'], 'the next fsync starts before the callbacks of the one before');
  t.equal(stage.pending, 3, 'three waiting on the fsync in flight');
  log.finish();
  await turn();
  t.same(log.events.slice(4), ['done 3', 'barrier', 'done 4'], 'then its callbacks, in submission order');
  t.equal(stage.pending, 0);
  t.same(stage.stats, { batches: 2, txns: 4, maxBatch: 2 });
  stage.barrier(() => log.events.push('idle barrier'));
  t.equal(log.events[log.events.length - 1], 'idle barrier', 'a barrier with nothing pending is done at once');
});

t.test('a failed fsync ends the stage: nothing after it is done', async (t) => {
  const log = new ManualLog();
  const failures: Error[] = [];
  const stage = new LogCommitStage(log, 100, (e) => failures.push(e));
  const done = (zxid: bigint) => () => log.events.push(`done ${zxid}`);
  stage.submit(txn(1n), done(1n));
  await turn();
  stage.submit(txn(2n), done(2n));
  await turn();
  log.finish();
  await turn();
  t.same(log.events, ['commit 1', 'commit 2', 'done 1']);
  stage.submit(txn(3n), done(3n));
  log.fail();
  await turn();
  await turn();
  t.same(log.events, ['commit 1', 'commit 2', 'done 1'], 'the failed batch and those after it are never done');
  t.equal(failures.length, 1);
  t.match(stage.failure, { message: 'EIO' });
  stage.submit(txn(4n), done(4n));
  await turn();
  t.equal(log.inFlight, 0, 'nothing more goes to the log');
});

t.test('batches are at most maxBatch txns', async (t) => {
  const log = new ManualLog();
  const stage = new LogCommitStage(log, 2, () => t.fail('no failure expected'));
  for (let z = 1n; z <= 5n; z++) stage.submit(txn(z), () => log.events.push(`done ${z}`));
  await turn();
  for (let i = 0; i < 3; i++) {
    log.finish();
    await turn();
  }
  t.same(log.events, ['commit 1,2', 'commit 3,4', 'done 1', 'done 2', 'commit 5', 'done 3', 'done 4', 'done 5']);
});

t.test('a batch slow to apply gives the event loop turns between its callbacks', async (t) => {
  const log = new ManualLog();
  const stage = new LogCommitStage(log, 100, () => t.fail('no failure expected'));
  const busy = (ms: number) => {
    const end = performance.now() + ms;
    while (performance.now() < end);
  };
  for (let z = 1n; z <= 4n; z++)
    stage.submit(txn(z), () => {
      log.events.push(`done ${z}`);
      busy(6);
    });
  await turn();
  log.finish();
  // Turns of the event loop while the callbacks run, each noted where it falls.
  let turns = 0;
  const tick = () => {
    log.events.push(`turn ${++turns}`);
    if (turns < 20 && stage.pending > 0) setImmediate(tick);
  };
  setImmediate(tick);
  while (stage.pending > 0) await turn();
  const order = log.events.filter((e) => e.startsWith('done') || e.startsWith('turn'));
  const dones = order.filter((e) => e.startsWith('done'));
  t.same(dones, ['done 1', 'done 2', 'done 3', 'done 4'], 'still in order');
  const between = order.slice(order.indexOf('done 1'), order.indexOf('done 4')).filter((e) => e.startsWith('turn'));
  t.ok(between.length >= 1, `the event loop ran between them (${order.join(', ')})`);
});

t.test('a txn submitted while the last batch is applied is committed too', async (t) => {
  const log = new ManualLog();
  const stage = new LogCommitStage(log, 100, () => t.fail('no failure expected'));
  const done: string[] = [];
  // The callback of the only batch submits another txn, as a request read meanwhile would.
  stage.submit(txn(1n), () => {
    done.push('1');
    stage.submit(txn(2n), () => done.push('2'));
  });
  await turn();
  log.finish();
  await turn();
  t.same(done, ['1'], 'the first is applied');
  t.same(log.events, ['commit 1', 'commit 2'], 'the one submitted meanwhile goes to the log without another submit');
  log.finish();
  await turn();
  t.same(done, ['1', '2'], 'and is applied');
  t.equal(stage.pending, 0);
});

t.test('a failed fsync abandons every txn and barrier not committed, each once; later ones at once', async (t) => {
  const log = new ManualLog();
  const failures: string[] = [];
  const stage = new LogCommitStage(log, 100, (e) => failures.push(e.message));
  const outcome = new Map<string, string[]>();
  const track = (name: string) => {
    outcome.set(name, []);
    return [() => outcome.get(name)!.push('done'), () => outcome.get(name)!.push('abandoned')] as const;
  };
  stage.submit(txn(1n), ...track('1'));
  await turn();
  // 1 is in the fsync in flight; 2, the barrier and 3 wait behind it.
  stage.submit(txn(2n), ...track('2'));
  stage.barrier(...track('barrier'));
  stage.submit(txn(3n), ...track('3'));
  log.fail();
  await turn();
  t.same(failures, ['EIO']);
  t.same(Object.fromEntries(outcome), { 1: ['abandoned'], 2: ['abandoned'], barrier: ['abandoned'], 3: ['abandoned'] });
  t.equal(stage.pending, 0);
  stage.submit(txn(4n), ...track('4'));
  stage.barrier(...track('late barrier'));
  t.same([outcome.get('4'), outcome.get('late barrier')], [['abandoned'], ['abandoned']], 'abandoned at once after the failure');
  t.equal(log.inFlight, 0, 'nothing more goes to the log');
});
