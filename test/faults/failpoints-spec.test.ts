// The failpoint spec and the disk shim, in process: which call a point hits, what a power cut
// leaves in the file (crash:before-log-fsync, write:torn), the slow fsync, the wall-clock offset,
// and arming from a file on SIGUSR2.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { armOnSignal, Failpoints, parseFailpoints, setWallClockOffset, withFailpoints } from '../../src/storage/failpoints';
import { realFs } from '../../src/storage/txnlog';
import { monotonicNowMs } from '../../src/server/clock';

class Killed extends Error {
  override name = 'Killed';
}
const KILLED = { name: 'Killed' };
const SPEC_ERROR = { name: 'FailpointSpecError' };

/** Failpoints whose kill throws (the test process survives) and whose reports are collected. */
function testFailpoints(spec: string): { fp: Failpoints; lines: string[] } {
  const lines: string[] = [];
  const fp = new Failpoints(
    spec,
    (l) => lines.push(l),
    () => {
      throw new Killed('killed');
    },
  );
  return { fp, lines };
}

t.test('spec syntax: points, values, first and count', async (t) => {
  t.same(parseFailpoints('fsync:slow=3000@5x1, crash:after-current-epoch'), [
    { point: 'fsync:slow', value: 3000, first: 5, count: 1 },
    { point: 'crash:after-current-epoch', value: undefined, first: 1, count: Infinity },
  ]);
  t.same(parseFailpoints('clock:offset=-60000'), [{ point: 'clock:offset', value: -60000, first: 1, count: Infinity }]);
  t.same(parseFailpoints(''), []);
  t.throws(() => parseFailpoints('crash:nowhere'), SPEC_ERROR);
  t.throws(() => parseFailpoints('fsync:slow'), SPEC_ERROR, 'a slow fsync needs its duration');
  t.throws(() => parseFailpoints('fsync:eio=3'), SPEC_ERROR, 'a point without a value refuses one');
  t.throws(() => parseFailpoints('write:torn@0'), SPEC_ERROR);
  t.throws(() => parseFailpoints('fsync:slow=99999999'), SPEC_ERROR, 'bounded');
});

t.test('a crash point fires at its first-th call, count times', async (t) => {
  const { fp, lines } = testFailpoints('crash:after-current-epoch@2x1');
  t.doesNotThrow(() => fp.crash('crash:after-current-epoch'));
  t.doesNotThrow(() => fp.crash('crash:after-accepted-epoch'), 'another point is not armed');
  t.throws(() => fp.crash('crash:after-current-epoch', { currentEpoch: '3' }), KILLED);
  t.doesNotThrow(() => fp.crash('crash:after-current-epoch'), 'count 1: the third call passes');
  t.equal(lines.length, 1);
  t.match(lines[0], /^zkts: failpoint crash:after-current-epoch hit: \{"currentEpoch":"3"\}/);
  fp.arm('');
  t.notOk(fp.active);
});

function tempFile(t: { teardown(f: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-failpoints-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, 'log.1');
}

t.test('crash:before-log-fsync: the writes since the last fsync never reach the file', async (t) => {
  const file = tempFile(t);
  const { fp, lines } = testFailpoints('crash:before-log-fsync@2');
  const shim = withFailpoints(realFs, fp);
  const fd = await shim.open(file, 'w+');
  t.teardown(() => fs.closeSync(fd));
  await shim.ftruncate(fd, 64);
  shim.write(fd, Buffer.alloc(10, 0xaa), 0, 10, 0);
  await shim.fdatasync(fd);
  shim.write(fd, Buffer.alloc(10, 0xbb), 0, 10, 10);
  shim.write(fd, Buffer.alloc(5, 0xcc), 0, 5, 20);
  await t.rejects(shim.fdatasync(fd), KILLED);
  const bytes = fs.readFileSync(file);
  t.same([...bytes.subarray(0, 10)], Array(10).fill(0xaa), 'what was fsynced stays');
  t.same([...bytes.subarray(10, 25)], Array(15).fill(0), 'what was not is gone (the preallocated zeros)');
  t.match(lines[0], /crash:before-log-fsync hit: \{"fd":\d+,"unsyncedBytes":15\}/);
});

t.test('write:torn: half of the write reaches the file, then the process is killed', async (t) => {
  const file = tempFile(t);
  const { fp, lines } = testFailpoints('write:torn@2x1');
  const shim = withFailpoints(realFs, fp);
  const fd = await shim.open(file, 'w+');
  t.teardown(() => fs.closeSync(fd));
  shim.write(fd, Buffer.alloc(8, 1), 0, 8, 0);
  t.throws(() => shim.write(fd, Buffer.alloc(20, 2), 0, 20, 8), KILLED);
  const bytes = fs.readFileSync(file);
  t.equal(bytes.length, 18, 'the first write and 10 bytes of the second');
  t.same([...bytes.subarray(8)], Array(10).fill(2));
  t.match(lines[0], /write:torn hit: \{"fd":\d+,"position":8,"length":20,"kept":10\}/);
});

t.test('fsync:slow=MS: that fsync takes MS ms more, the others do not', async (t) => {
  const file = tempFile(t);
  const { fp } = testFailpoints('fsync:slow=400@2x1');
  const shim = withFailpoints(realFs, fp);
  const fd = await shim.open(file, 'w+');
  t.teardown(() => fs.closeSync(fd));
  const timed = async () => {
    const start = monotonicNowMs();
    await shim.fdatasync(fd);
    return monotonicNowMs() - start;
  };
  t.ok((await timed()) < 300, 'the first is not slowed');
  t.ok((await timed()) >= 390, 'the second is');
  t.ok((await timed()) < 300, 'count 1');
});

t.test('clock:offset moves Date.now, not the monotonic clock; 0 puts it back', async (t) => {
  t.teardown(() => setWallClockOffset(0));
  const { fp, lines } = testFailpoints('');
  const wall0 = Date.now();
  const mono0 = monotonicNowMs();
  fp.arm('clock:offset=+60000');
  t.ok(Date.now() - wall0 >= 60_000 && Date.now() - wall0 < 61_000, 'the wall clock jumped a minute forward');
  t.ok(monotonicNowMs() - mono0 < 1000, 'the monotonic clock did not');
  t.match(lines[0], /clock:offset hit: the wall clock runs 60000 ms off/);
  fp.arm('clock:offset=-60000');
  t.ok(wall0 - Date.now() > 59_000, 'and a minute back');
  fp.arm('clock:offset=0');
  t.ok(Math.abs(Date.now() - wall0) < 1000, 'back to the system time');
});

t.test('SIGUSR2 arms the spec in the file', async (t) => {
  const file = tempFile(t);
  const { fp } = testFailpoints('fsync:eio');
  const armed: Array<[string, string | undefined]> = [];
  const remove = armOnSignal(fp, file, (spec, err) => armed.push([spec, err?.message]));
  t.teardown(remove);
  const signalled = () =>
    new Promise<void>((resolve) => {
      const n = armed.length;
      const poll = setInterval(() => {
        if (armed.length > n) {
          clearInterval(poll);
          resolve();
        }
      }, 5);
      process.kill(process.pid, 'SIGUSR2');
    });
  fs.writeFileSync(file, 'crash:after-snap-sent@3x1\n');
  await signalled();
  t.same(armed[0], ['crash:after-snap-sent@3x1', undefined]);
  t.equal(fp.describe(), 'crash:after-snap-sent@3x1', 'in place of what was armed');
  fs.writeFileSync(file, 'no:such');
  await signalled();
  t.match(armed[1][1], /unknown failpoint/);
  t.equal(fp.describe(), 'crash:after-snap-sent@3x1', 'a bad spec changes nothing');
  fs.writeFileSync(file, '');
  await signalled();
  t.equal(fp.describe(), '', 'an empty file disarms');
});
