// The fault suite's network faults (scripts/faults/net.ts) proven with real sockets: a cut makes a
// TCP connect between two member addresses time out while other pairs still connect, a one-way cut
// stops datagrams in one direction only, loss and duplication change what arrives, a member process
// (under its own uid) that does not bind a source address is seen from its own address, heal
// restores every link, and afterwards no rule of the run is left (nft's ruleset, tc's qdiscs).
// Addresses 127.0.3.x: no fault run's members (127.0.0.2x, 127.0.1.2x) are touched.
import { spawn, spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import t from 'tap';
import { assertLoopback, ensureIptables, faultTables, healLeftovers, memberUid, NetFaults, netFaultsReady, nfqueueUsable, tableExists } from '../../scripts/faults/net';
import { freePortOn } from '../../scripts/faults/cluster';

const A = '127.0.3.11';
const B = '127.0.3.12';
const C = '127.0.3.13';
const CONNECT_TIMEOUT_MS = 1500;

const usable = netFaultsReady();

function listen(host: string): Promise<{ server: net.Server; port: number; peers: string[] }> {
  return new Promise((resolve, reject) => {
    const peers: string[] = [];
    const server = net.createServer((s) => {
      peers.push(s.remoteAddress ?? '');
      s.end();
    });
    server.once('error', reject);
    freePortOn(host).then((port) => server.listen({ host, port }, () => resolve({ server, port, peers })), reject);
  });
}

/** Whether a TCP connect from `from` (bound as the source) to host:port completes in time. */
function connects(from: string, host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ host, port, localAddress: from });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, CONNECT_TIMEOUT_MS);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/** Sends `n` datagrams from `from` to `to` and counts what arrives within a bound. */
async function datagrams(from: string, to: string, n: number): Promise<number> {
  // A receive buffer that holds every datagram (and copy) even before the loop reads them.
  const rx = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
  const tx = dgram.createSocket('udp4');
  let got = 0;
  rx.on('message', () => got++);
  const port = await freePortOn(to);
  await new Promise<void>((r) => rx.bind(port, to, () => r()));
  await new Promise<void>((r) => tx.bind(0, from, () => r()));
  for (let i = 0; i < n; i++) await new Promise<void>((r) => tx.send(Buffer.from(String(i)), port, to, () => r()));
  // Arrival on loopback is immediate; a short settle for the last ones (and a copy's second pass).
  const deadline = Date.now() + 500;
  let last = -1;
  while (Date.now() < deadline && got !== last) {
    last = got;
    await new Promise((r) => setTimeout(r, 100));
  }
  rx.close();
  tx.close();
  return got;
}

t.test('addresses outside 127.0.0.0/8 (and 127.0.0.1) are refused', async (t) => {
  for (const bad of ['10.0.0.1', '127.0.0.1', '127.0.0.256', '::1', 'localhost', '128.0.0.1']) t.throws(() => assertLoopback(bad), bad);
  t.equal(assertLoopback('127.0.1.23'), '127.0.1.23');
  t.not(memberUid('127.0.0.21'), memberUid('127.0.1.21'), 'one uid per address');
  t.throws(() => new NetFaults(['127.0.0.21', '192.168.1.1']));
});

t.test('cuts, one-way cuts, loss and duplication on lo, healed and removed', { skip: usable.ok ? false : usable.reason }, async (t) => {
  const tcBefore = spawnSync('tc', ['qdisc', 'show', 'dev', 'lo'], { encoding: 'utf8' }).stdout;
  const nf = new NetFaults([A, B, C]);
  t.teardown(() => nf.remove());
  nf.install();
  t.ok(tableExists(nf.table), `table ${nf.table} installed`);
  const la = await listen(A);
  const lb = await listen(B);
  const lc = await listen(C);
  t.teardown(() => {
    la.server.close();
    lb.server.close();
    lc.server.close();
  });

  t.ok(await connects(A, B, lb.port), 'A -> B connects before any fault');
  t.ok(await connects(B, A, la.port), 'B -> A connects before any fault');

  nf.cut(A, B);
  const [ab, ba, ac, cb] = await Promise.all([connects(A, B, lb.port), connects(B, A, la.port), connects(A, C, lc.port), connects(C, B, lb.port)]);
  t.notOk(ab, 'A -> B times out while A and B are cut');
  t.notOk(ba, 'B -> A times out while A and B are cut');
  t.ok(ac, 'A -> C still connects');
  t.ok(cb, 'C -> B still connects');
  t.match(nf.listFaults(), /ip saddr 127\.0\.3\.11 ip daddr 127\.0\.3\.12 drop/);

  nf.healAll();
  t.ok(await connects(A, B, lb.port), 'A -> B connects again after heal');
  t.notMatch(nf.listFaults(), /drop/, 'no fault rule after heal');

  nf.partition([[A], [B, C]]);
  const [pab, pac, pbc] = await Promise.all([connects(A, B, lb.port), connects(A, C, lc.port), connects(B, C, lc.port)]);
  t.notOk(pab, 'isolated A cannot reach B');
  t.notOk(pac, 'isolated A cannot reach C');
  t.ok(pbc, 'B and C, the majority, still connect');
  nf.healAll();

  nf.dropOneWay(A, B);
  t.equal(await datagrams(A, B, 50), 0, 'one-way cut: nothing from A reaches B');
  t.equal(await datagrams(B, A, 50), 50, 'one-way cut: everything from B reaches A');
  t.equal(await datagrams(A, C, 50), 50, 'one-way cut: A still reaches C');
  nf.healAll();

  await nf.link(A, B, { lossPct: 50 });
  const kept = await datagrams(A, B, 400);
  t.ok(kept > 80 && kept < 320, `50% loss keeps about half (${kept} of 400)`);
  t.equal(await datagrams(B, A, 100), 100, 'loss on A -> B leaves B -> A whole');
  nf.healAll();

  await nf.link(A, B, { duplicatePct: 50 });
  const dup = await datagrams(A, B, 400);
  t.ok(dup > 440, `50% duplication delivers copies (${dup} for 400 sent)`);
  nf.healAll();
  t.equal(await datagrams(A, B, 100), 100, 'healed: every datagram once');

  t.throws(() => nf.cut(A, '127.0.3.99'), /not a member address/);

  nf.remove();
  t.notOk(tableExists(nf.table), 'the table is gone');
  const ruleset = spawnSync('nft', ['list', 'ruleset'], { encoding: 'utf8' }).stdout;
  t.notMatch(ruleset, new RegExp(nf.table), 'nft list ruleset shows nothing of the run');
  t.equal(spawnSync('tc', ['qdisc', 'show', 'dev', 'lo'], { encoding: 'utf8' }).stdout, tcBefore, 'tc qdiscs on lo unchanged');
  t.ok(await connects(A, B, lb.port), 'A -> B connects after the table is gone');
});

t.test('a member process that binds no source address is seen from its own address', { skip: usable.ok ? false : usable.reason }, async (t) => {
  const nf = new NetFaults([A, B]);
  t.teardown(() => nf.remove());
  nf.install();
  const lb = await listen(B);
  t.teardown(() => lb.server.close());
  // A child under A's uid connects to B without binding: the kernel would pick 127.0.0.1.
  const script = `const s=require('net').createConnection({host:'${B}',port:${lb.port}});s.on('connect',()=>{process.stdout.write(s.localAddress);s.destroy()});s.on('error',e=>{process.stdout.write('error '+e.message)})`;
  const runChild = (): Promise<string> =>
    new Promise((resolve) => {
      const uid = memberUid(A);
      // A bare environment: the test runner's hooks (NODE_OPTIONS and its own variables) are not for it.
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
      const child = spawn(process.execPath, ['-e', script], { uid, gid: uid, env, stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.on('exit', () => {
        clearTimeout(timer);
        resolve(out);
      });
    });
  await runChild();
  t.equal(lb.peers.at(-1), A, `B sees the member's connection coming from ${A}`);
  nf.cut(A, B);
  const before = lb.peers.length;
  await runChild().catch(() => undefined);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(lb.peers.length, before, 'cut: the member process cannot reach B');
});

t.test('tables of dead runs are removed at the next start; live ones stay', { skip: usable.ok ? false : usable.reason }, async (t) => {
  const dead = spawnSync('/bin/true');
  const deadPid = dead.pid;
  const stale = `zkts_faults_${deadPid}_1`;
  spawnSync('nft', ['add', 'table', 'ip', stale]);
  t.teardown(() => spawnSync('nft', ['delete', 'table', 'ip', stale]));
  const live = new NetFaults([A, B]);
  t.teardown(() => live.remove());
  live.install();
  t.ok(faultTables().includes(stale), 'a stale table is there');
  const removed = healLeftovers();
  t.ok(removed.includes(stale), 'healLeftovers removed the dead run\'s table');
  t.ok(tableExists(live.table), 'the live run\'s table stays');
});

/** Sends `n` datagrams from `from` to `to` at once; returns each one's arrival delay (ms) in arrival order. */
async function arrivals(from: string, to: string, n: number): Promise<Array<{ i: number; ms: number }>> {
  const rx = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 << 20 });
  const tx = dgram.createSocket('udp4');
  const sent: number[] = [];
  const got: Array<{ i: number; ms: number }> = [];
  rx.on('message', (m) => {
    const i = Number(m.toString());
    got.push({ i, ms: Number(process.hrtime.bigint() / 1000n) / 1000 - sent[i] });
  });
  const port = await freePortOn(to);
  await new Promise<void>((r) => rx.bind(port, to, () => r()));
  await new Promise<void>((r) => tx.bind(0, from, () => r()));
  for (let i = 0; i < n; i++) {
    sent[i] = Number(process.hrtime.bigint() / 1000n) / 1000;
    await new Promise<void>((r) => tx.send(Buffer.from(String(i)), port, to, () => r()));
  }
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && got.length < n) await new Promise((r) => setTimeout(r, 20));
  rx.close();
  tx.close();
  return got;
}

// Below a delayed link's 400 ms even on a loaded machine, far above loopback's own latency.
const QUICK_MS = 150;

const queueUsable = ((): ReturnType<typeof nfqueueUsable> => {
  if (!usable.ok) return usable;
  try {
    ensureIptables();
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  return nfqueueUsable();
})();

t.test('delayed and reordered links (NFQUEUE), healed and removed', { skip: queueUsable.ok ? false : queueUsable.reason }, async (t) => {
  const nf = new NetFaults([A, B, C]);
  t.teardown(() => nf.remove());
  nf.install();
  const fast = await arrivals(A, B, 20);
  t.equal(fast.length, 20);
  t.ok(fast.every((g) => g.ms < QUICK_MS), 'no delay before the fault');

  await nf.link(A, B, { delayMs: 400, jitterMs: 0 });
  t.match(nf.listDelays(), /-s 127\.0\.3\.11\/32 -d 127\.0\.3\.12\/32 -j NFQUEUE/);
  const slow = await arrivals(A, B, 20);
  t.equal(slow.length, 20, 'every delayed datagram arrives');
  t.ok(slow.every((g) => g.ms >= 380), `each A -> B datagram held about 400 ms (min ${Math.min(...slow.map((g) => g.ms)).toFixed(0)} ms)`);
  const other = await arrivals(B, A, 20);
  t.ok(other.every((g) => g.ms < QUICK_MS), 'B -> A is not delayed');
  const third = await arrivals(A, C, 20);
  t.ok(third.every((g) => g.ms < QUICK_MS), 'A -> C is not delayed');

  nf.healAll();
  await nf.link(A, B, { delayMs: 400, jitterMs: 0, reorderPct: 50 });
  const mixed = await arrivals(A, B, 100);
  t.equal(mixed.length, 100, 'every datagram arrives');
  const order = mixed.map((g) => g.i);
  const inversions = order.filter((x, k) => k > 0 && x < order[k - 1]).length;
  t.ok(inversions > 0, `datagrams overtake one another (${inversions} inversions)`);
  const quick = mixed.filter((g) => g.ms < QUICK_MS).length;
  t.ok(quick > 20 && quick < 80, `about half go at once (${quick} of 100)`);

  nf.healAll();
  t.equal(nf.listDelays().includes('NFQUEUE'), false, 'no queue rule after heal');
  const healed = await arrivals(A, B, 20);
  t.ok(healed.length === 20 && healed.every((g) => g.ms < QUICK_MS), 'no delay after heal');
  await nf.link(A, B, { delayMs: 100 });
  nf.remove();
  t.notMatch(spawnSync('iptables', ['-t', 'raw', '-S'], { encoding: 'utf8' }).stdout, /zkts_q_/, 'the queue chain is gone');
  const ruleset = spawnSync('nft', ['list', 'ruleset'], { encoding: 'utf8' }).stdout;
  t.notOk(ruleset.includes('zkts_q_') || ruleset.includes(nf.table), 'nft list ruleset shows nothing of the run');
  const after = await arrivals(A, B, 20);
  t.ok(after.length === 20 && after.every((g) => g.ms < QUICK_MS), 'no delay after remove');
});

/** A runner stand-in: installs a cut and waits; prints its table's name. */
function startRunnerChild(): Promise<{ child: ReturnType<typeof spawn>; table: string }> {
  const netModule = require.resolve('../../scripts/faults/net');
  const script = `const { NetFaults } = require(${JSON.stringify(netModule)}); const nf = new NetFaults(['127.0.3.21', '127.0.3.22']); nf.install(); nf.cut('127.0.3.21', '127.0.3.22'); process.stdout.write(nf.table + '\\n'); setInterval(() => {}, 1000);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the runner stand-in did not start'));
    }, 10_000);
    child.stdout?.on('data', (d) => {
      out += String(d);
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve({ child, table: out.trim() });
      }
    });
  });
}

const exited = (child: ReturnType<typeof spawn>): Promise<void> => new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r())));

t.test('a runner ended by SIGTERM removes its rules; one SIGKILLed leaves them to the next start', { skip: usable.ok ? false : usable.reason }, async (t) => {
  const a = await startRunnerChild();
  t.teardown(() => a.child.kill('SIGKILL'));
  t.ok(tableExists(a.table), `the runner's table ${a.table} is installed`);
  a.child.kill('SIGTERM');
  await exited(a.child);
  t.notOk(tableExists(a.table), 'SIGTERM: the runner removed its table on the way out');

  const b = await startRunnerChild();
  t.teardown(() => b.child.kill('SIGKILL'));
  b.child.kill('SIGKILL');
  await exited(b.child);
  t.ok(tableExists(b.table), 'SIGKILL: the table is left behind');
  t.ok(healLeftovers().includes(b.table), 'the next start removes it');
  t.notOk(tableExists(b.table));
});
