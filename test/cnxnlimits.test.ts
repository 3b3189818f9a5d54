// Connections that never start a session, against zkts and Apache ZooKeeper 3.8 in one run: idle
// sockets that take every file descriptor, a ConnectRequest trickled a byte a second, a log roll
// while clients hold the descriptors, and a four-letter word that comes in two TCP segments.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import t from 'tap';
import { OpCode } from '../src/protocol/constants';
import { connectFrame, decodeConnectResponse, OPEN_ACL, waitFor, ZkClient } from './util/client';
import { fourLetterWord, startReferenceZooKeeper, startZkts, type RunningServer } from './util/servers';
import * as R from '../src/protocol/generated/records';

type Kind = 'zkts' | 'zookeeper';
const KINDS: Kind[] = ['zkts', 'zookeeper'];

/** The descriptor limit both servers run under, and the idle sockets opened against it. */
const NOFILE_LIMIT = 400;
const IDLE_SOCKETS = 450;
/** ZooKeeper's zookeeper.nio.sessionlessCnxnTimeout default; its expiry queue rounds up to twice that. */
const SESSIONLESS_TIMEOUT_MS = 10_000;
/** A new session must be possible within this time of the attack's start on both servers. */
const RECOVERY_BOUND_MS = 25_000;
const ATTEMPT_TIMEOUT_MS = 2_000;

function start(kind: Kind, opts: { nofileLimit?: number; extraConfig?: Record<string, string> }): Promise<RunningServer> {
  return kind === 'zkts' ? startZkts(opts) : startReferenceZooKeeper(opts);
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

interface Attacker {
  socket: net.Socket;
  connected: boolean;
  closed: boolean;
}

/**
 * Opens sockets that send nothing (or what `onConnect` sends), in batches: each batch is connected
 * or refused before the next, so the kernel's accept queue (50 for ZooKeeper) does not overflow and
 * the server itself meets the sockets; it stops when a batch cannot get through.
 */
async function openSockets(server: RunningServer, n: number, onConnect?: (s: net.Socket) => void, batchSize = BATCH): Promise<Attacker[]> {
  const out: Attacker[] = [];
  for (let i = 0; i < n; i += batchSize) {
    const batch = openBatch(server, Math.min(batchSize, n - i), onConnect);
    out.push(...batch);
    // A batch that does not get through: the server accepts no more and its accept queue is full.
    const through = await waitFor(() => batch.every((a) => a.connected || a.closed), 'a batch of sockets connected', 2_000).then(
      () => true,
      () => false,
    );
    if (!through) break;
  }
  return out;
}

const BATCH = 25;

function openBatch(server: RunningServer, n: number, onConnect?: (s: net.Socket) => void): Attacker[] {
  const out: Attacker[] = [];
  for (let i = 0; i < n; i++) {
    const socket = net.createConnection({ host: server.host, port: server.port });
    const a: Attacker = { socket, connected: false, closed: false };
    socket.setNoDelay(true);
    socket.on('connect', () => {
      a.connected = true;
      onConnect?.(socket);
    });
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => (a.closed = true));
    out.push(a);
  }
  return out;
}

/** One handshake attempt, bounded: the ConnectResponse's session id, or undefined. */
function tryHandshake(server: RunningServer, timeoutMs: number): Promise<bigint | undefined> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const s = net.createConnection({ host: server.host, port: server.port });
    const done = (v: bigint | undefined) => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    s.on('connect', () => s.write(connectFrame({ timeoutMs: 30_000 })));
    s.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 4 && got.length >= 4 + got.readInt32BE(0)) {
        const rsp = decodeConnectResponse(got.subarray(4, 4 + got.readInt32BE(0)));
        done(rsp.sessionId !== 0n ? rsp.sessionId : undefined);
      }
    });
    s.on('error', () => done(undefined));
    s.on('close', () => done(undefined));
  });
}

/** Retries a handshake until one succeeds; the ms it took from `sinceMs`, or undefined past the bound. */
async function sessionWithin(server: RunningServer, sinceMs: number, boundMs: number): Promise<number | undefined> {
  while (Date.now() - sinceMs < boundMs) {
    if ((await tryHandshake(server, ATTEMPT_TIMEOUT_MS)) !== undefined) return Date.now() - sinceMs;
    await delay(100);
  }
  return undefined;
}

function mntr(text: string): Map<string, string> {
  return new Map(text.split('\n').filter((l) => l.includes('\t')).map((l) => l.split('\t') as [string, string]));
}

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
  return m ? Number(m[1]) * 1024 : NaN;
}

function logFiles(server: RunningServer): string[] {
  const dir = path.join(server.dataDir, 'version-2');
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.startsWith('log.')) : [];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function destroyAll(sockets: Attacker[]): void {
  for (const a of sockets) a.socket.destroy();
}

t.test(`${IDLE_SOCKETS} idle sockets under a ${NOFILE_LIMIT}-descriptor limit: new sessions work again after the sessionless timeout`, async (t) => {
  const outcome: Record<Kind, { recoveredMs?: number; rejected: number; expired: number; acceptLogLines: number }> = {} as never;
  for (const kind of KINDS) {
    const server = await start(kind, { nofileLimit: NOFILE_LIMIT, extraConfig: { maxClientCnxns: '0' } });
    let attackers: Attacker[] = [];
    try {
      const startedMs = Date.now();
      attackers = await openSockets(server, IDLE_SOCKETS);
      // While they hold the descriptors, no new session (the attack works on both).
      const during = await tryHandshake(server, 1_000);
      t.equal(during, undefined, `${kind}: no new session while the idle sockets hold the descriptors`);
      const recoveredMs = await sessionWithin(server, startedMs, RECOVERY_BOUND_MS);
      t.ok(recoveredMs !== undefined, `${kind}: a new session within ${RECOVERY_BOUND_MS} ms of the attack (took ${recoveredMs} ms)`);
      const m = mntr(await fourLetterWord(server.host, server.port, 'mntr'));
      const log = server.log();
      const acceptLogLines = (kind === 'zkts' ? log.match(/too few file descriptors left|error accepting a new connection/g) : log.match(/Error accepting new connection/g))?.length ?? 0;
      outcome[kind] = {
        recoveredMs,
        rejected: Number(m.get('zk_connection_rejected')),
        expired: Number(m.get('zk_sessionless_connections_expired')),
        acceptLogLines,
      };
      if (kind === 'zkts') {
        t.ok(Number(m.get('zk_zkts_descriptor_reserve_refused_count')) > 0, 'zkts: refusals for the descriptor reserve counted');
        t.ok(Number(m.get('zk_zkts_client_sockets_allowed')) < NOFILE_LIMIT, 'zkts: fewer client sockets allowed than descriptors');
        // At most one line a second for the refusals (the counts of those not logged are in it).
        const elapsedS = Math.ceil((Date.now() - startedMs) / 1000);
        t.ok(acceptLogLines >= 1 && acceptLogLines <= elapsedS + 2, `zkts: refusals logged, rate limited (${acceptLogLines} lines in ${elapsedS} s)`);
        t.ok(recoveredMs! >= SESSIONLESS_TIMEOUT_MS - 1_000, 'zkts: the idle sockets were held until the sessionless timeout, not closed at once');
      }
    } finally {
      destroyAll(attackers);
      await server.stop();
    }
  }
  t.comment(JSON.stringify(outcome));
  for (const kind of KINDS) {
    t.ok(outcome[kind].rejected > 0, `${kind}: connections refused at accept are counted in connection_rejected`);
    t.ok(outcome[kind].expired > 0, `${kind}: connections without a session expired (sessionless_connections_expired)`);
    t.ok(outcome[kind].acceptLogLines > 0, `${kind}: refusals at accept are logged`);
  }
});

t.test('a log roll while idle sockets hold every descriptor the clients may have', async (t) => {
  const outcome: Record<string, Record<string, unknown>> = {};
  for (const kind of KINDS) {
    // snapCount=2: a new txn log (and a snapshot) every few txns.
    const server = await start(kind, { nofileLimit: NOFILE_LIMIT, extraConfig: { maxClientCnxns: '0', snapCount: '2' } });
    let attackers: Attacker[] = [];
    let client: ZkClient | undefined;
    try {
      client = await ZkClient.connect(server.host, server.port, { timeoutMs: 30_000 });
      const logsBefore = logFiles(server).length;
      attackers = await openSockets(server, IDLE_SOCKETS);
      const attackStillOn = () => attackers.filter((a) => a.connected && !a.closed).length;
      const held = attackStillOn();
      const errs: number[] = [];
      for (let i = 0; i < 12 && !client.closed; i++) {
        const r = await client
          .request(OpCode.create, (w) => R.encodeCreateRequest(w, { path: `/roll${i}`, data: Buffer.alloc(16), acl: OPEN_ACL, flags: 0 }), { timeoutMs: 3_000 })
          .catch(() => undefined);
        errs.push(r === undefined ? -999 : r.header.err);
      }
      const logsAfter = logFiles(server).length;
      outcome[kind] = { held, heldAtEnd: attackStillOn(), errs, logsBefore, logsAfter, clientClosed: client.closed, serverAlive: isAlive(server.pid) };
      // What the server said about its own files, if anything failed.
      const fatal = /^.*(?:unrecoverable|exiting|Too many open files).*$/m.exec(server.log().replace(/^.*Error accepting new connection.*$/gm, ''));
      if (fatal) outcome[kind].fatal = fatal[0].slice(0, 300);
      if (kind === 'zkts') {
        t.ok(attackStillOn() > 0, 'zkts: the idle sockets still hold their descriptors while the writes run');
        t.same(errs, errs.map(() => 0), 'zkts: every write succeeds');
        t.ok(logsAfter > logsBefore, `zkts: the txn log rolled (${logsBefore} -> ${logsAfter} files)`);
        t.ok(isAlive(server.pid), 'zkts: the server is still running');
      }
    } finally {
      client?.destroy();
      destroyAll(attackers);
      await server.stop();
    }
  }
  t.comment(JSON.stringify(outcome));
});

t.test('300 sockets trickle a ConnectRequest declared 1 MB long, a byte a second', async (t) => {
  const SOCKETS = 300;
  const DECLARED_BYTES = 1_000_000;
  const outcome: Record<string, { rssGrowthBytes: number; openAfterDeadline: number }> = {};
  for (const kind of KINDS) {
    const server = await start(kind, { extraConfig: { maxClientCnxns: '0' } });
    let sockets: Attacker[] = [];
    let trickle: NodeJS.Timeout | undefined;
    try {
      const rssBefore = rssBytes(server.pid);
      const length = Buffer.alloc(4);
      length.writeInt32BE(DECLARED_BYTES);
      const startedMs = Date.now();
      sockets = await openSockets(server, SOCKETS, (s) => s.write(Buffer.concat([length, Buffer.alloc(1)])));
      trickle = setInterval(() => {
        for (const a of sockets) if (a.connected && !a.closed) a.socket.write(Buffer.alloc(1));
      }, 1_000);
      // Before the deadline: what the server holds for them.
      await delay(Math.max(0, startedMs + SESSIONLESS_TIMEOUT_MS / 2 - Date.now()));
      t.ok(sockets.filter((a) => !a.closed).length > SOCKETS / 2, `${kind}: the sockets are open before the deadline`);
      const rssGrowthBytes = rssBytes(server.pid) - rssBefore;
      // Past the deadline (and ZooKeeper's rounding of it): who is still open.
      if (kind === 'zkts') {
        await waitFor(() => sockets.every((a) => a.closed), 'zkts: every trickling socket closed', SESSIONLESS_TIMEOUT_MS + 5_000).catch(() => undefined);
      } else {
        await delay(Math.max(0, startedMs + 2 * SESSIONLESS_TIMEOUT_MS + 2_000 - Date.now()));
      }
      outcome[kind] = { rssGrowthBytes, openAfterDeadline: sockets.filter((a) => !a.closed).length };
    } finally {
      if (trickle) clearInterval(trickle);
      destroyAll(sockets);
      await server.stop();
    }
  }
  t.comment(JSON.stringify(outcome));
  t.equal(outcome.zkts.openAfterDeadline, 0, 'zkts: the sessionless timeout closes trickling connections too');
  t.ok(outcome.zkts.rssGrowthBytes < 64 * 1024 * 1024, `zkts: no memory for the declared frames (+${outcome.zkts.rssGrowthBytes} bytes)`);
  t.ok(outcome.zkts.rssGrowthBytes < outcome.zookeeper.rssGrowthBytes, 'zkts grows less than ZooKeeper');
});

t.test('maxCnxns: connections past it are closed at accept, counted and logged', async (t) => {
  const MAX = 5;
  const outcome: Record<string, { open: number; closed: number; rejected: number; logged: boolean }> = {};
  for (const kind of KINDS) {
    const server = await start(kind, { extraConfig: { maxCnxns: String(MAX), maxClientCnxns: '0' } });
    let sockets: Attacker[] = [];
    try {
      // One at a time: ZooKeeper counts a connection only once its selector thread has taken it, so
      // a burst gets past its maxCnxns; zkts counts at accept. ZooKeeper's selector gets a second
      // per socket (on a loaded machine it lagged the accept of the next one by over 100 ms).
      for (let i = 0; i < MAX + 3; i++) {
        sockets.push(...(await openSockets(server, 1, undefined, 1)));
        if (kind === 'zookeeper') await delay(1_000);
      }
      await waitFor(() => sockets.filter((a) => a.closed).length >= 3, `${kind}: the sockets past maxCnxns closed`, 5_000).catch(() => undefined);
      const open = sockets.filter((a) => !a.closed).length;
      const closed = sockets.length - open;
      destroyAll(sockets);
      // mntr needs a connection of its own: once the server has seen the others go.
      let text = '';
      const deadline = Date.now() + 5_000;
      while (text === '' && Date.now() < deadline) text = await fourLetterWord(server.host, server.port, 'mntr', 1_000).catch(() => '');
      const logged = (kind === 'zkts' ? /too many connections \(maxCnxns\)/ : /Too many connections max allowed is 5/).test(server.log());
      outcome[kind] = { open, closed, rejected: Number(mntr(text).get('zk_connection_rejected')), logged };
    } finally {
      destroyAll(sockets);
      await server.stop();
    }
  }
  t.comment(JSON.stringify(outcome));
  for (const kind of KINDS) {
    t.same([outcome[kind].open, outcome[kind].closed], [MAX, 3], `${kind}: ${MAX} let in, 3 closed`);
    t.ok(outcome[kind].rejected >= 3, `${kind}: counted in connection_rejected`);
    t.ok(outcome[kind].logged, `${kind}: logged`);
  }
});

t.test('after the handshake, a request trickled a byte a second: the session timeout governs', async (t) => {
  const SESSION_TIMEOUT_MS = 4_000;
  const closedAfterMs: Record<string, number | undefined> = {};
  const expired: Record<string, number> = {};
  for (const kind of KINDS) {
    const server = await start(kind, {});
    let client: ZkClient | undefined;
    let trickle: NodeJS.Timeout | undefined;
    try {
      // From before the ConnectRequest: the session's clock starts when the server makes it, which
      // is after this (the connect can take half a second on a loaded machine).
      const startedMs = Date.now();
      client = await ZkClient.connect(server.host, server.port, { timeoutMs: SESSION_TIMEOUT_MS, keepAlive: false });
      t.equal(client.connectResponse.timeOut, SESSION_TIMEOUT_MS, `${kind}: the session timeout asked for`);
      const length = Buffer.alloc(4);
      length.writeInt32BE(1_000_000);
      client.raw.write(Buffer.concat([length, Buffer.alloc(1)]));
      trickle = setInterval(() => client!.raw.write(Buffer.alloc(1)), 1_000);
      const closed = await client.raw.waitClosed(SESSION_TIMEOUT_MS * 4);
      closedAfterMs[kind] = closed ? Date.now() - startedMs : undefined;
      expired[kind] = Number(mntr(await fourLetterWord(server.host, server.port, 'mntr')).get('zk_stale_sessions_expired'));
    } finally {
      if (trickle) clearInterval(trickle);
      client?.destroy();
      await server.stop();
    }
  }
  t.comment(JSON.stringify({ closedAfterMs, expired }));
  for (const kind of KINDS) {
    t.ok(closedAfterMs[kind] !== undefined && closedAfterMs[kind]! >= SESSION_TIMEOUT_MS - 50, `${kind}: closed once the session timed out, bytes or not`);
    t.equal(expired[kind], 1, `${kind}: the session expired`);
  }
});

t.test('a four-letter word in two TCP segments ("ru", then "ok")', async (t) => {
  const replies: Record<string, string> = {};
  for (const kind of KINDS) {
    const server = await start(kind, {});
    try {
      replies[kind] = await new Promise<string>((resolve) => {
        let got = '';
        const s = net.createConnection({ host: server.host, port: server.port });
        s.setNoDelay(true);
        const timer = setTimeout(() => s.destroy(), 5_000);
        s.on('connect', () =>
          // The second half only once the first has left, a little later: two segments.
          s.write('ru', () => setTimeout(() => s.write('ok'), 100)),
        );
        s.on('data', (c: Buffer) => (got += c.toString('latin1')));
        s.on('error', () => undefined);
        s.on('close', () => {
          clearTimeout(timer);
          resolve(got);
        });
      });
    } finally {
      await server.stop();
    }
  }
  t.equal(replies.zookeeper, 'imok', 'ZooKeeper assembles the word');
  t.equal(replies.zkts, replies.zookeeper, 'zkts answers as ZooKeeper does');
});
