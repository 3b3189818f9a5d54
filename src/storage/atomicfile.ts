import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Replaces `file` whole: the bytes go to `<file><tmpSuffix>`, which is fsynced and renamed over
 * the file, then the directory is fsynced (a rename is durable only once its directory is), so a
 * crash leaves the old file or the new one, never a part.
 */
export function writeFileAtomically(file: string, content: string | Buffer, tmpSuffix = '.tmp'): void {
  const tmp = file + tmpSuffix;
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  const fd = fs.openSync(tmp, 'w', 0o644);
  try {
    let done = 0;
    while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, done);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  const dir = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}
