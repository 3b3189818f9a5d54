// Purge keeps the newest N snapshots and every log needed to replay from the oldest kept one.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listDataFiles, purge } from '../src/storage/purge';

function layout(t: { teardown(fn: () => void): void }, names: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-purge-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'version-2'));
  for (const n of names) fs.writeFileSync(path.join(dir, 'version-2', n), 'x');
  return dir;
}

t.test('keeps the newest snapshots and the logs that reach back to the oldest kept', async (t) => {
  const dir = layout(t, ['snapshot.0', 'snapshot.10', 'snapshot.20', 'snapshot.30', 'log.1', 'log.5', 'log.12', 'log.21', 'log.31', 'other.txt']);
  const r = purge(dir, dir, 3);
  // Names are hex: the oldest kept snapshot is 0x10, and log.5 holds the txns after it.
  t.same(r.removed.map((f) => path.basename(f)).sort(), ['log.1', 'snapshot.0']);
  t.same(fs.readdirSync(path.join(dir, 'version-2')).sort(), ['log.12', 'log.21', 'log.31', 'log.5', 'other.txt', 'snapshot.10', 'snapshot.20', 'snapshot.30']);
});

t.test('a log starting exactly at the oldest kept snapshot is the one kept', async (t) => {
  const dir = layout(t, ['snapshot.a', 'snapshot.b', 'snapshot.c', 'snapshot.d', 'log.9', 'log.b', 'log.c']);
  purge(dir, dir, 3);
  t.same(fs.readdirSync(path.join(dir, 'version-2')).sort(), ['log.b', 'log.c', 'snapshot.b', 'snapshot.c', 'snapshot.d']);
});

t.test('nothing goes while there are no more than N snapshots; N below 3 is refused', async (t) => {
  const dir = layout(t, ['snapshot.1', 'snapshot.2', 'log.1']);
  t.same(purge(dir, dir, 3).removed, []);
  t.throws(() => purge(dir, dir, 2), /at least 3/);
});

t.test('listDataFiles orders by zxid, newest first, and reads suffixed snapshot names', async (t) => {
  const dir = layout(t, ['snapshot.2', 'snapshot.10.gz', 'snapshot.9', 'log.100000000']);
  t.same(listDataFiles(dir, 'snapshot').map((f) => f.zxid), [0x10n, 0x9n, 0x2n]);
  t.same(listDataFiles(dir, 'log').map((f) => f.zxid), [0x100000000n]);
});
