// Reads the quorum-port fixtures captured from ZooKeeper 3.8.0 (test/fixtures/quorum/).
import * as fs from 'node:fs';
import * as path from 'node:path';

export const QUORUM_FIXTURES = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'quorum');

export interface FixtureLine {
  kind: string;
  note: string;
  bytes: Buffer;
}

/** The lines of a fixture file: kind, note, bytes (hex on disk); comments skipped. */
export function readFixture(name: string): FixtureLine[] {
  const text = fs.readFileSync(path.join(QUORUM_FIXTURES, name), 'utf8');
  const out: FixtureLine[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [kind, note, hex] = line.split('\t');
    if (hex === undefined || !/^([0-9a-f]{2})*$/.test(hex)) throw new Error(`${name}: bad line ${line.slice(0, 80)}`);
    out.push({ kind, note, bytes: Buffer.from(hex, 'hex') });
  }
  return out;
}
