// The zkts command: bad configs stop the start with the key and the reason, a multi-server config
// is refused, and SIGTERM shuts a running server down cleanly.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fourLetterWord, freePort } from './util/servers';

const CLI = path.join(__dirname, '../src/cli.js');

function tempCfg(t: { teardown(fn: () => void): void }, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-cli-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'data'));
  const file = path.join(dir, 'zoo.cfg');
  fs.writeFileSync(file, text.replace(/DATADIR/g, path.join(dir, 'data')));
  return file;
}

function runCli(args: string[]) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 15_000, env });
}

t.test('an invalid value names the key and the reason and exits 2', async (t) => {
  const cfg = tempCfg(t, 'tickTime=abc\ndataDir=DATADIR\nclientPort=2199\n');
  const r = runCli(['server', cfg]);
  t.equal(r.status, 2);
  t.match(r.stderr, /zkts: invalid config: tickTime: "abc" is not an integer/);
});

t.test('min session timeout above max is refused', async (t) => {
  const cfg = tempCfg(t, 'tickTime=2000\ndataDir=DATADIR\nclientPort=2199\nminSessionTimeout=9000\nmaxSessionTimeout=5000\n');
  const r = runCli(['server', cfg]);
  t.equal(r.status, 2);
  t.match(r.stderr, /invalid config: minSessionTimeout/);
});

t.test('an ensemble member whose myid is not in the server list is refused, naming it', async (t) => {
  const cfg = tempCfg(t, 'tickTime=2000\ndataDir=DATADIR\nclientPort=0\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\ninitLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889\nserver.3=127.0.0.1:2890:3890\n');
  fs.writeFileSync(path.join(path.dirname(cfg), 'data', 'myid'), '4\n');
  const r = runCli(['server', cfg]);
  t.equal(r.status, 1);
  t.match(r.stderr, /cannot start the quorum peer: My id 4 not in the peer list/, "ZooKeeper's words");
});

t.test('an ensemble member whose epoch files refuse to load exits with the reason, rather than serving nobody', async (t) => {
  const p = [await freePort(), await freePort(), await freePort(), await freePort()];
  const cfg = tempCfg(t, `tickTime=2000\ndataDir=DATADIR\nclientPort=0\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\ninitLimit=5\nsyncLimit=2\nserver.1=127.0.0.1:${p[0]}:${p[1]}\nserver.2=127.0.0.1:${p[2]}:${p[3]}\n`);
  const data = path.join(path.dirname(cfg), 'data');
  fs.writeFileSync(path.join(data, 'myid'), '1\n');
  fs.mkdirSync(path.join(data, 'version-2'));
  // acceptedEpoch below currentEpoch: ZooKeeper refuses to start on it, and so does zkts.
  fs.writeFileSync(path.join(data, 'version-2', 'acceptedEpoch'), '1');
  fs.writeFileSync(path.join(data, 'version-2', 'currentEpoch'), '2');
  const r = runCli(['server', cfg]);
  t.equal(r.status, 1);
  t.match(r.stderr, /the quorum peer cannot go on: .*acceptedEpoch/);
});

t.test('a missing config file is named', async (t) => {
  const r = runCli(['server', '/nonexistent/zoo.cfg']);
  t.equal(r.status, 2);
  t.match(r.stderr, /\/nonexistent\/zoo\.cfg does not exist/);
});

t.test('unknown keys are logged and ignored; SIGTERM stops the server with exit 0', async (t) => {
  const port = await freePort();
  const cfg = tempCfg(t, `tickTime=2000\ndataDir=DATADIR\nclientPort=${port}\nclientPortAddress=127.0.0.1\nnoSuchKey=1\n`);
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, [CLI, 'server', cfg], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const deadline = Date.now() + 15_000;
  let answer = '';
  while (Date.now() < deadline) {
    answer = await fourLetterWord('127.0.0.1', port, 'srvr', 1000).catch(() => '');
    if (answer.includes('Mode: standalone')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.match(answer, /Mode: standalone/);
  t.match(out, /"key":"zookeeper\.noSuchKey"|"key":"noSuchKey"/, 'the unknown key is logged');
  child.kill('SIGTERM');
  t.equal(await exited, 0);
});

t.test('purge, log-dump and snapshot-dump on the files a server wrote', async (t) => {
  const { startZkts } = await import('./util/servers');
  const { ZkClient } = await import('./util/client');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-tools-'));
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const server = await startZkts({ extraConfig: { dataDir, snapCount: '10', preAllocSize: '64' } });
  const c = await ZkClient.connect(server.host, server.port);
  for (let i = 0; i < 60; i++) t.equal((await c.create(`/tool${i}`, Buffer.from('v'))).header.err, 0);
  await c.close();
  await server.stop();
  const vdir = path.join(dataDir, 'version-2');
  const logs = fs.readdirSync(vdir).filter((f) => f.startsWith('log.'));
  const snaps = fs.readdirSync(vdir).filter((f) => f.startsWith('snapshot.'));
  t.ok(logs.length >= 2 && snaps.length >= 4, `several logs (${logs.length}) and snapshots (${snaps.length})`);

  const newestLog = logs.map((f) => [BigInt('0x' + f.slice(4)), f] as const).sort((a, b) => (a[0] < b[0] ? 1 : -1))[0][1];
  const allText = logs.map((f) => runCli(['log-dump', path.join(vdir, f)]).stdout).join('');
  t.match(allText, /\/tool59/, 'log-dump prints the txns');
  const json = runCli(['log-dump', '--json', path.join(vdir, newestLog)]);
  t.equal(json.status, 0);
  for (const line of json.stdout.trim().split('\n').filter(Boolean)) t.doesNotThrow(() => JSON.parse(line));

  const newestSnap = snaps.map((f) => [BigInt('0x' + f.slice(9)), f] as const).sort((a, b) => (a[0] < b[0] ? 1 : -1))[0][1];
  const dump = runCli(['snapshot-dump', path.join(vdir, newestSnap)]);
  t.equal(dump.status, 0);
  t.match(dump.stdout, /\/tool1\b/);

  const purged = runCli(['purge', dataDir, dataDir, '-n', '3']);
  t.equal(purged.status, 0);
  t.equal(fs.readdirSync(vdir).filter((f) => f.startsWith('snapshot.')).length, 3, 'three snapshots kept');
  const restarted = await startZkts({ extraConfig: { dataDir } });
  const c2 = await ZkClient.connect(restarted.host, restarted.port);
  t.equal((await c2.exists('/tool59')).header.err, 0, 'the purged dataDir still recovers everything');
  await c2.close();
  await restarted.stop();
});
