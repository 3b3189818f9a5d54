// The load's table of child names: looked up by a name's bytes, it gives the string the bytes
// decode to (UTF-8), the same for every equal name, through its growth and for names it does not
// keep (non-ASCII, long, empty).
import t from 'tap';
import { NameTable } from '../src/storage/names';
import { prng } from './util/prng';

t.test('a name by its bytes is the string they decode to', async (t) => {
  const table = new NameTable();
  const rnd = prng(7);
  const names: string[] = [];
  // Enough short names to grow the table several times, some of equal length and near-equal bytes.
  for (let i = 0; i < 5000; i++) names.push(`n${i}`);
  for (let i = 0; i < 300; i++) names.push(Array.from({ length: 1 + Math.floor(rnd() * 16) }, () => String.fromCharCode(33 + Math.floor(rnd() * 90))).join(''));
  names.push('caf\u00e9', '\u4e2d\u6587', 'x'.repeat(16), 'y'.repeat(17), 'partitions'.repeat(3), '');
  let bad = 0;
  for (let round = 0; round < 2; round++) {
    for (const name of names) {
      // The name inside other bytes, as a record holds it.
      const b = Buffer.concat([Buffer.from('/parent/'), Buffer.from(name, 'utf8'), Buffer.from('/tail')]);
      const got = table.internBytes(b, 8, 8 + Buffer.byteLength(name, 'utf8'));
      if (got !== name) bad++;
    }
  }
  t.equal(bad, 0, 'every name, the first time and again');
  t.equal(table.intern('n42'), 'n42', 'and the table by string agrees');
  // Invalid UTF-8 decodes as Buffer#toString does.
  const raw = Buffer.from([0x6e, 0xff, 0x31]);
  t.equal(table.internBytes(raw, 0, 3), raw.toString('utf8'));
});
