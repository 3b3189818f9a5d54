// The acceptedEpoch and currentEpoch files: ZooKeeper's format (decimal, no newline, in
// version-2), an atomic write that leaves no temp file, and the start rules: missing files are
// created from the last zxid's epoch, a currentEpoch older than the log is replaced by
// currentEpoch.tmp, or raised to the log's epoch when acceptedEpoch vouches for it, or refused; an
// acceptedEpoch older than currentEpoch is refused.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ACCEPTED_EPOCH_FILE,
  CURRENT_EPOCH_FILE,
  EpochFileError,
  loadEpochs,
  readEpochFile,
  writeAcceptedEpoch,
  writeCurrentEpoch,
  type EpochLoadNotes,
} from '../src/storage/epochs';
import { makeZxid } from '../src/storage/zxid';

function tmpDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'epochs-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
const v2 = (dir: string, name = ''): string => path.join(dir, 'version-2', name);
const put = (dir: string, name: string, text: string): void => {
  fs.mkdirSync(v2(dir), { recursive: true });
  fs.writeFileSync(v2(dir, name), text);
};

t.test('written as decimal without a newline, atomically, in version-2', async (t) => {
  const dir = tmpDir(t);
  writeAcceptedEpoch(dir, 7n);
  writeCurrentEpoch(dir, 6n);
  t.equal(fs.readFileSync(v2(dir, ACCEPTED_EPOCH_FILE), 'latin1'), '7');
  t.equal(fs.readFileSync(v2(dir, CURRENT_EPOCH_FILE), 'latin1'), '6');
  writeAcceptedEpoch(dir, 12345678901n);
  t.equal(fs.readFileSync(v2(dir, ACCEPTED_EPOCH_FILE), 'latin1'), '12345678901', 'a rewrite replaces the whole file');
  t.same(fs.readdirSync(v2(dir)).sort(), [ACCEPTED_EPOCH_FILE, CURRENT_EPOCH_FILE], 'no .tmp file is left behind');
  t.throws(() => writeAcceptedEpoch(dir, 1n << 63n), RangeError);
});

t.test('read as ZooKeeper reads them', async (t) => {
  const dir = tmpDir(t);
  t.equal(readEpochFile(v2(dir, CURRENT_EPOCH_FILE)), undefined, 'a missing file is undefined');
  put(dir, 'a', '42\n');
  t.equal(readEpochFile(v2(dir, 'a')), 42n, 'the first line, so a newline written by hand is fine');
  put(dir, 'b', '-1');
  t.equal(readEpochFile(v2(dir, 'b')), -1n);
  for (const bad of ['', ' 3', '3x', '0x10', '99999999999999999999', 'x'.repeat(100)]) {
    put(dir, 'c', bad);
    t.throws(() => readEpochFile(v2(dir, 'c')), EpochFileError, `refused: ${JSON.stringify(bad.slice(0, 24))}`);
  }
});

t.test('start rules', async (t) => {
  t.test('missing files are created from the last zxid\'s epoch', async (t) => {
    const dir = tmpDir(t);
    const notes: EpochLoadNotes = { created: [] };
    t.same(loadEpochs(dir, makeZxid(4n, 17n), notes), { acceptedEpoch: 4n, currentEpoch: 4n });
    t.same(notes.created.map((f) => path.basename(f)), [CURRENT_EPOCH_FILE, ACCEPTED_EPOCH_FILE]);
    t.equal(fs.readFileSync(v2(dir, CURRENT_EPOCH_FILE), 'latin1'), '4');
    t.equal(fs.readFileSync(v2(dir, ACCEPTED_EPOCH_FILE), 'latin1'), '4');
    const empty = tmpDir(t);
    t.same(loadEpochs(empty, 0n), { acceptedEpoch: 0n, currentEpoch: 0n }, 'an empty database is at epoch 0');
  });

  t.test('files as they are, when they agree with the log', async (t) => {
    const dir = tmpDir(t);
    put(dir, ACCEPTED_EPOCH_FILE, '9');
    put(dir, CURRENT_EPOCH_FILE, '8');
    const notes: EpochLoadNotes = { created: [] };
    t.same(loadEpochs(dir, makeZxid(7n, 3n), notes), { acceptedEpoch: 9n, currentEpoch: 8n });
    t.same(notes, { created: [] });
  });

  t.test('currentEpoch older than the log: currentEpoch.tmp is taken', async (t) => {
    const dir = tmpDir(t);
    put(dir, ACCEPTED_EPOCH_FILE, '5');
    put(dir, CURRENT_EPOCH_FILE, '4');
    put(dir, CURRENT_EPOCH_FILE + '.tmp', '5');
    const notes: EpochLoadNotes = { created: [] };
    t.same(loadEpochs(dir, makeZxid(5n, 2n), notes), { acceptedEpoch: 5n, currentEpoch: 5n });
    t.equal(path.basename(notes.tookTmp ?? ''), 'currentEpoch.tmp');
    t.equal(fs.readFileSync(v2(dir, CURRENT_EPOCH_FILE), 'latin1'), '5', 'and written as currentEpoch');
    t.notOk(fs.existsSync(v2(dir, CURRENT_EPOCH_FILE + '.tmp')), 'the tmp file went into the rename');
  });

  t.test('currentEpoch older than the log without a tmp file: refused, naming the file', async (t) => {
    const dir = tmpDir(t);
    put(dir, ACCEPTED_EPOCH_FILE, '4');
    put(dir, CURRENT_EPOCH_FILE, '4');
    const err = (() => {
      try {
        loadEpochs(dir, makeZxid(5n, 2n));
      } catch (e) {
        return e as EpochFileError;
      }
      return undefined;
    })();
    t.type(err, EpochFileError);
    t.equal(err?.file, v2(dir, CURRENT_EPOCH_FILE));
    t.match(err?.message ?? '', /currentEpoch: the current epoch 4 is older than the epoch 5 of the last zxid 0x500000002.*accepted epoch 4 is older too; refusing to start/);
    t.equal(fs.readFileSync(v2(dir, CURRENT_EPOCH_FILE), 'latin1'), '4', 'nothing was changed');
    const noAccepted = tmpDir(t);
    put(noAccepted, CURRENT_EPOCH_FILE, '4');
    t.throws(() => loadEpochs(noAccepted, makeZxid(5n, 2n)), { name: 'EpochFileError', message: /accepted epoch is missing; refusing to start/ });
  });

  t.test('currentEpoch older than the log, no tmp file, acceptedEpoch at least the log\'s: a crash at NEWLEADER, raised to the log', async (t) => {
    // A learner behind by more than an epoch (currentEpoch 0) took LEADERINFO 2 (acceptedEpoch 2),
    // got a SNAP of the leader's history up to 0x100000010, wrote it as a snapshot, and crashed
    // before writing currentEpoch 2 (the 3.8.5+ NEWLEADER order: history first, then the epoch).
    // Its data holds the leader's whole history to its last zxid: it starts at currentEpoch 1.
    const dir = tmpDir(t);
    put(dir, ACCEPTED_EPOCH_FILE, '2');
    put(dir, CURRENT_EPOCH_FILE, '0');
    const notes: EpochLoadNotes = { created: [] };
    t.same(loadEpochs(dir, makeZxid(1n, 0x10n), notes), { acceptedEpoch: 2n, currentEpoch: 1n });
    t.equal(notes.raisedToLog, 0n, 'the old value is noted');
    t.equal(fs.readFileSync(v2(dir, CURRENT_EPOCH_FILE), 'latin1'), '1', 'and written as currentEpoch');
    // The same crash after txns of the new epoch itself were logged (the leader was serving).
    const later = tmpDir(t);
    put(later, ACCEPTED_EPOCH_FILE, '5');
    put(later, CURRENT_EPOCH_FILE, '4');
    t.same(loadEpochs(later, makeZxid(5n, 2n)), { acceptedEpoch: 5n, currentEpoch: 5n });
  });

  t.test('acceptedEpoch older than currentEpoch: refused', async (t) => {
    const dir = tmpDir(t);
    put(dir, ACCEPTED_EPOCH_FILE, '3');
    put(dir, CURRENT_EPOCH_FILE, '4');
    t.throws(() => loadEpochs(dir, makeZxid(4n, 1n)), { name: 'EpochFileError', message: /acceptedEpoch: the accepted epoch 3 is older than the current epoch 4/ });
  });

  t.test('a garbled file is refused, not taken for a missing one', async (t) => {
    const dir = tmpDir(t);
    put(dir, CURRENT_EPOCH_FILE, 'four');
    t.throws(() => loadEpochs(dir, makeZxid(4n, 1n)), EpochFileError);
    t.equal(fs.readFileSync(v2(dir, CURRENT_EPOCH_FILE), 'latin1'), 'four');
  });
});
