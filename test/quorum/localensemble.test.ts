// `zkts ensemble 3`: three member processes under one folder; the connect string is printed once
// all serve; a write through one member is read through another; Ctrl-C (SIGINT) stops every member.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { Err, OpCode } from '../../src/protocol/constants';
import { waitFor, ZkClient } from '../util/client';

const CLI = path.resolve(__dirname, '..', '..', 'src', 'cli.js');
const HOST = '127.0.0.1';

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, HOST, () => s.close(() => resolve(true)));
  });
}

/** A base port with `n` free ports from it, for each of three port ranges. */
async function consecutiveFree(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    let ok = true;
    for (const offset of [0, 100, 200]) for (let i = 0; i < n && ok; i++) ok = await portFree(base + offset + i);
    if (ok) return base;
  }
  throw new Error('no free port range');
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

t.test('zkts ensemble 3 starts, serves and stops on Ctrl-C', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-local-ensemble-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const base = await consecutiveFree(3);
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, [CLI, 'ensemble', '3', '--dir', dir, '--client-port', String(base), '--quorum-port', String(base + 100), '--election-port', String(base + 200)], { env });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(() => /connect string: /.test(out) || child.exitCode !== null, 'the connect string', 60_000);
  t.match(out, new RegExp(`connect string: ${HOST}:${base},${HOST}:${base + 1},${HOST}:${base + 2}`));
  t.match(out, /member 3 leader/, 'the largest sid leads a fresh ensemble');
  for (let i = 1; i <= 3; i++) t.ok(fs.existsSync(path.join(dir, `member${i}`, 'data', 'myid')), `member ${i} has its dataDir`);

  const a = await ZkClient.connect(HOST, base);
  t.equal((await a.create('/local', Buffer.from('x'))).header.err, Err.OK);
  const b = await ZkClient.connect(HOST, base + 2);
  t.equal((await b.request(OpCode.sync, (w) => w.writeString('/local'))).header.err, Err.OK);
  t.equal((await b.exists('/local')).header.err, Err.OK, 'a write through member 1 is read through member 3');
  a.destroy();
  b.destroy();

  child.kill('SIGINT');
  t.equal(await exited, 0, 'Ctrl-C ends the command cleanly');
  t.match(out, /stopping the ensemble \(SIGINT\)/);
  for (let i = 0; i < 3; i++) t.ok(await refused(base + i), `member ${i + 1} stopped`);
});
