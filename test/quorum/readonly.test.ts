// Read-only mode, differential: the same scenarios on 3-member Apache ZooKeeper 3.8.0 and 3.9.5
// ensembles and on a 3-member zkts ensemble (real `zkts server -Dreadonlymode.enabled=true`
// processes), each outcome checked against what ZooKeeper was seen to do. Member 1 loses both others: after the grace
// period it serves read-only clients (reads, NOTREADONLY for changes, Mode read-only, isro ro),
// refuses the rest, makes no txn of its own, and goes back to read-write, dropping its read-only
// clients, once the others are back. Then the Java client with canBeReadOnly=true
// (test/quorum/java/ReadOnlyClient.java) goes read-only on member 1 and finds its way back to a
// read-write session when the quorum returns (its `isro` probes and member 1 dropping it).
//
// ZooKeeper needs localSessionsEnabled=true for read-only mode (without it a new read-only session
// is answered with a bare NOTREADONLY header no client can parse), and upgrading to make the one
// global session here (an ephemeral); zkts serves read-only sessions locally whatever that says,
// and its sessions are global, so its members run without those two keys.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { Err, OpCode } from '../../src/protocol/constants';
import * as R from '../../src/protocol/generated/records';
import { connectFrame, OPEN_ACL, RawConnection, waitFor, ZkClient } from '../util/client';
import { startReferenceEnsemble, waitForLeaderAndFollowers } from '../util/ensemble';
import { fourLetterWord, javaClasspath, type ReferenceVersion, type RunningServer, startZkts } from '../util/servers';
import { HOST, memberConfig, memberPorts, mntrPairs } from './members';

const WAIT_MS = 60_000;
const POLL_MS = 100;
const TICK_MS = 500;
/** ZooKeeper's grace before a member without a quorum serves read-only: max(2 s, tickTime). */
const GRACE_MS = 2000;
const NOT_SERVING = 'This ZooKeeper instance is not currently serving requests\n';

/** An ensemble as the scenario drives it: members by sid, stopped and started by PID. */
interface Ensemble {
  /** Every member's client address. */
  connectString: string;
  clientPort(sid: number): number;
  stop(sid: number): Promise<void>;
  start(sids: number[]): Promise<void>;
  waitForQuorum(): Promise<void>;
}

async function isro(port: number): Promise<string> {
  return fourLetterWord(HOST, port, 'isro', 2000).catch((e: Error) => `error: ${e.message}`);
}
async function srvr(port: number): Promise<string> {
  return fourLetterWord(HOST, port, 'srvr', 2000).catch((e: Error) => `error: ${e.message}`);
}
function mode(srvrText: string): string | undefined {
  return /^Mode: (\S+)/m.exec(srvrText)?.[1];
}
function zxidOf(srvrText: string): bigint | undefined {
  const m = /^Zxid: (0x[0-9a-f]+)/m.exec(srvrText);
  return m ? BigInt(m[1]) : undefined;
}

/** Sends a ConnectRequest and reports whether the server closed without answering. */
async function closedWithoutAnswer(port: number, opts: Parameters<typeof connectFrame>[0]): Promise<boolean> {
  const raw = await RawConnection.open(HOST, port);
  raw.write(connectFrame(opts));
  const closed = await raw.waitClosed(10_000);
  raw.destroy();
  return closed && raw.frames.length === 0;
}

/** A change's reply on a read-only server: its error, whether its zxid is the last one, and whether it has a body. */
function refusal(r: { header: R.ReplyHeader; frame: Buffer }, lastZxid: bigint): string {
  return `err=${r.header.err} lastZxid=${r.header.zxid === lastZxid} body=${r.frame.length > R.ReplyHeader_SIZE}`;
}

/**
 * Member 1 loses both others. The one that is not leading goes first, so that 1 never joins a new
 * epoch on the way.
 */
async function isolateMember1(ens: Ensemble): Promise<void> {
  const modes = await Promise.all([2, 3].map(async (sid) => mode(await srvr(ens.clientPort(sid)))));
  const order = modes[0] === 'leader' ? [3, 2] : [2, 3];
  for (const sid of order) await ens.stop(sid);
}

async function scenario(ens: Ensemble, t: Test): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const port = ens.clientPort(1);
  const clients: ZkClient[] = [];
  t.teardown(() => clients.forEach((c) => c.destroy()));
  const connect = async (opts: Parameters<typeof ZkClient.connect>[2]) => {
    const c = await ZkClient.connect(HOST, port, opts);
    clients.push(c);
    return c;
  };

  await ens.waitForQuorum();
  out.isroWithQuorum = await isro(port);

  // A client that may be read-only, on a server with a quorum: an ordinary session that can write.
  const roFlagged = await connect({ readOnly: true });
  out.readOnlyFlagWithQuorum = roFlagged.connectResponse.readOnly;
  out.writeByReadOnlyFlaggedWithQuorum = (await roFlagged.create('/ro', Buffer.from('x'))).header.err;
  await roFlagged.close();

  // A global session (it owns an ephemeral) that stays connected until the quorum is lost.
  const global = await connect({ timeoutMs: 2 * TICK_MS });
  out.child = (await global.create('/ro/child')).header.err;
  const eph = await global.create('/ro/eph', null, 1);
  out.ephemeral = eph.header.err;
  const lastZxid = eph.header.zxid;
  out.srvrZxidIsLastWrite = zxidOf(await srvr(port)) === lastZxid;

  await isolateMember1(ens);
  await waitFor(() => global.closed, 'member 1 to drop its clients when it loses its quorum', WAIT_MS);
  const lostAtMs = Date.now();

  // No leader: not serving, then read-only after the grace period.
  let sawNotServing = false;
  let sawNullIsro = false;
  let roAtMs: number | undefined;
  let roSrvr = '';
  while (roAtMs === undefined) {
    if (Date.now() - lostAtMs > WAIT_MS) throw new Error('member 1 never served read-only');
    const [s, i] = [await srvr(port), await isro(port)];
    if (s === NOT_SERVING) sawNotServing = true;
    if (i === 'null') sawNullIsro = true;
    if (mode(s) === 'read-only') {
      roAtMs = Date.now();
      roSrvr = s;
      out.isroReadOnly = await isro(port);
    } else await new Promise((r) => setTimeout(r, POLL_MS));
  }
  out.notServingBeforeReadOnly = sawNotServing;
  out.isroNullBeforeReadOnly = sawNullIsro;
  out.graceHeld = roAtMs - lostAtMs >= GRACE_MS - 500;
  out.srvrReadOnlyLine = roSrvr.split('\n')[1];
  // The global session's timeout (1 s) has passed: a member without a leader expires nothing.
  out.srvrZxidUnchanged = zxidOf(roSrvr) === lastZxid;
  const stat = await fourLetterWord(HOST, port, 'stat', 2000);
  out.statReadOnlyLine = stat.split('\n')[1];
  out.statMode = mode(stat);
  const mntr = new Map(mntrPairs(await fourLetterWord(HOST, port, 'mntr', 2000)));
  out.mntrServerState = mntr.get('zk_server_state');
  out.mntrPeerState = mntr.get('zk_peer_state') ?? 'absent';
  out.mntrQuorumSize = mntr.get('zk_quorum_size') ?? 'absent';

  // Clients that did not ask for read-only, and clients too old to say, are dropped unanswered.
  out.plainClientDropped = await closedWithoutAnswer(port, {});
  out.oldClientDropped = await closedWithoutAnswer(port, { oldClient: true, readOnly: true });
  // So is a client that has seen more than this member has, and the global session coming back.
  out.aheadClientDropped = await closedWithoutAnswer(port, { readOnly: true, lastZxidSeen: lastZxid + 1n });
  out.globalSessionDropped = await closedWithoutAnswer(port, { readOnly: true, sessionId: global.sessionId, passwd: global.passwd });

  // A read-only client: a session of this member's own, reads of the tree as it was.
  const ro = await connect({ readOnly: true, timeoutMs: 30_000 });
  const rsp = ro.connectResponse;
  out.readOnlyConnect = `readOnly=${rsp.readOnly} timeout=${rsp.timeOut} serverId=${BigInt.asUintN(64, rsp.sessionId) >> 56n}`;
  const get = await ro.getData('/ro');
  out.getData = `err=${get.header.err} lastZxid=${get.header.zxid === lastZxid} data=${R.decodeGetDataResponse(get.reader).data?.toString()}`;
  const kids = await ro.getChildren('/ro');
  out.getChildren = `err=${kids.header.err} ${R.decodeGetChildrenResponse(kids.reader).children.sort().join(',')}`;
  out.exists = (await ro.exists('/ro/eph')).header.err;
  out.ping = (await ro.ping()).header.err;
  // Every change: NOTREADONLY, with the last zxid and no body.
  out.create = refusal(await ro.create('/ro/new'), lastZxid);
  out.create2 = refusal(await ro.create2('/ro/new'), lastZxid);
  out.setData = refusal(await ro.setData('/ro', Buffer.from('y')), lastZxid);
  out.delete = refusal(await ro.delete('/ro/child'), lastZxid);
  out.setACL = refusal(await ro.request(OpCode.setACL, (w) => R.encodeSetACLRequest(w, { path: '/ro', acl: OPEN_ACL, version: -1 })), lastZxid);
  out.sync = refusal(await ro.request(OpCode.sync, (w) => R.encodeSyncRequest(w, { path: '/ro' })), lastZxid);
  out.multi = refusal(
    await ro.request(OpCode.multi, (w) => {
      R.encodeMultiHeader(w, { type: OpCode.create, done: false, err: -1 });
      R.encodeCreateRequest(w, { path: '/ro/m', data: null, acl: OPEN_ACL, flags: 0 });
      R.encodeMultiHeader(w, { type: -1, done: true, err: -1 });
    }),
    lastZxid,
  );
  out.readAfterRefusals = (await ro.getData('/ro')).header.err;
  out.stillConnected = !ro.closed;
  // A lone check, on a connection of its own: 3.9 answers it UNIMPLEMENTED and closes (ZOOKEEPER-2623).
  const checker = await connect({ readOnly: true });
  const check = await checker.request(OpCode.check, (w) => R.encodeCheckVersionRequest(w, { path: '/ro', version: -1 }));
  out.check = `${refusal(check, lastZxid)} closed=${await checker.raw.waitClosed(1000)}`;

  // The read-only session again on a new connection: the old connection goes.
  const again = await connect({ readOnly: true, sessionId: ro.sessionId, passwd: ro.passwd, timeoutMs: 30_000 });
  out.reconnect = `readOnly=${again.connectResponse.readOnly} sameSession=${again.sessionId === ro.sessionId}`;
  out.oldConnectionClosed = await ro.raw.waitClosed(10_000);
  // An id this member does not know: the expired answer (still flagged read-only), then closed.
  const unknown = await connect({ readOnly: true, sessionId: again.sessionId + 1000n, passwd: Buffer.alloc(16) });
  out.unknownSession = `timeout=${unknown.connectResponse.timeOut} id=${unknown.connectResponse.sessionId} readOnly=${unknown.connectResponse.readOnly} closed=${await unknown.raw.waitClosed(10_000)}`;
  // closeSession ends a read-only session here: OK with the last zxid, and the connection closes.
  const closing = await again.close();
  out.closeSession = closing ? `err=${closing.header.err} lastZxid=${closing.header.zxid === lastZxid} closed=${again.closed}` : 'no reply';
  out.srvrZxidAfterReadOnlyUse = zxidOf(await srvr(port)) === lastZxid;

  // The quorum returns: the read-only clients are dropped, member 1 serves read-write again.
  const last = await connect({ readOnly: true, timeoutMs: 30_000 });
  out.lastReadOnlyConnect = last.connectResponse.readOnly;
  await ens.start([2, 3]);
  out.readOnlyClientDroppedOnQuorum = await last.raw.waitClosed(WAIT_MS);
  await ens.waitForQuorum();
  out.isroAfterQuorum = await isro(port);
  out.modeAfterQuorum = ['leader', 'follower'].includes(mode(await srvr(port)) ?? '') ? 'leader or follower' : mode(await srvr(port));
  const back = await connect({ readOnly: true });
  out.readOnlyFlagAfterQuorum = back.connectResponse.readOnly;
  out.writeAfterQuorum = (await back.create('/ro/after')).header.err;
  back.destroy();
  return out;
}

/** What ZooKeeper 3.8.0 was seen to do in this scenario (each line checked on a live ensemble). */
const EXPECTED: Record<string, unknown> = {
  isroWithQuorum: 'rw',
  readOnlyFlagWithQuorum: false,
  writeByReadOnlyFlaggedWithQuorum: Err.OK,
  child: Err.OK,
  ephemeral: Err.OK,
  srvrZxidIsLastWrite: true,
  notServingBeforeReadOnly: true,
  isroNullBeforeReadOnly: true,
  graceHeld: true,
  isroReadOnly: 'ro',
  srvrReadOnlyLine: 'READ-ONLY mode; serving only read-only clients',
  srvrZxidUnchanged: true,
  statReadOnlyLine: 'READ-ONLY mode; serving only read-only clients',
  statMode: 'read-only',
  mntrServerState: 'read-only',
  mntrPeerState: 'absent',
  mntrQuorumSize: 'absent',
  plainClientDropped: true,
  oldClientDropped: true,
  aheadClientDropped: true,
  globalSessionDropped: true,
  readOnlyConnect: 'readOnly=true timeout=10000 serverId=1',
  getData: 'err=0 lastZxid=true data=x',
  getChildren: 'err=0 child,eph',
  exists: Err.OK,
  ping: Err.OK,
  create: 'err=-119 lastZxid=true body=false',
  create2: 'err=-119 lastZxid=true body=false',
  setData: 'err=-119 lastZxid=true body=false',
  delete: 'err=-119 lastZxid=true body=false',
  setACL: 'err=-119 lastZxid=true body=false',
  sync: 'err=-119 lastZxid=true body=false',
  check: 'err=-119 lastZxid=true body=false closed=false',
  multi: 'err=-119 lastZxid=true body=false',
  readAfterRefusals: Err.OK,
  stillConnected: true,
  reconnect: 'readOnly=true sameSession=true',
  oldConnectionClosed: true,
  unknownSession: 'timeout=0 id=0 readOnly=true closed=true',
  closeSession: 'err=0 lastZxid=true closed=true',
  srvrZxidAfterReadOnlyUse: true,
  lastReadOnlyConnect: true,
  readOnlyClientDroppedOnQuorum: true,
  isroAfterQuorum: 'rw',
  modeAfterQuorum: 'leader or follower',
  readOnlyFlagAfterQuorum: false,
  writeAfterQuorum: Err.OK,
};

/** ZooKeeper 3.9.5 differs in one answer: a lone check is UNIMPLEMENTED, and the connection closes. */
const EXPECTED_39: Record<string, unknown> = { ...EXPECTED, check: 'err=-6 lastZxid=false body=false closed=true' };

async function referenceEnsemble(t: Test, version: ReferenceVersion = '3.8.0'): Promise<Ensemble> {
  const ens = await startReferenceEnsemble({
    members: [version, version, version],
    jvmFlags: ['-Xmx128m', '-Dreadonlymode.enabled=true'],
    extraConfig: { tickTime: String(TICK_MS), localSessionsEnabled: 'true', localSessionsUpgradingEnabled: 'true' },
  });
  t.teardown(() => ens.stop());
  return {
    connectString: ens.connectString,
    clientPort: (sid) => ens.member(sid).clientPort,
    stop: (sid) => ens.member(sid).stop(),
    start: async (sids) => {
      await Promise.all(sids.map((sid) => ens.member(sid).start()));
    },
    waitForQuorum: async () => {
      await ens.waitForQuorum();
    },
  };
}

async function zktsEnsemble(t: Test): Promise<Ensemble> {
  const ports = await memberPorts(3);
  const dirs = [1, 2, 3].map((sid) => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), `zkts-ro-${sid}-`));
    fs.writeFileSync(path.join(d, 'myid'), `${sid}\n`);
    t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
    return d;
  });
  const cfg = (sid: number): Record<string, string> => memberConfig(dirs[sid - 1], ports, { tickTime: String(TICK_MS), 'admin.enableServer': 'false' });
  const members: (RunningServer | undefined)[] = [undefined, undefined, undefined];
  t.teardown(async () => {
    for (const m of members) await m?.stop();
  });
  const start = async (sid: number) => {
    members[sid - 1] = await startZkts({ extraConfig: cfg(sid), systemProps: { 'readonlymode.enabled': 'true' }, port: ports[sid - 1].client });
  };
  await Promise.all([1, 2, 3].map(start));
  return {
    connectString: ports.map((p) => `${HOST}:${p.client}`).join(','),
    clientPort: (sid) => ports[sid - 1].client,
    stop: async (sid) => {
      await members[sid - 1]?.stop();
      members[sid - 1] = undefined;
    },
    start: async (sids) => {
      await Promise.all(sids.map(start));
    },
    waitForQuorum: async () => {
      await waitForLeaderAndFollowers(ports.map((p) => ({ host: HOST, port: p.client })), WAIT_MS);
    },
  };
}

const TARGETS: ReadonlyArray<[string, (t: Test) => Promise<Ensemble>, Record<string, unknown>]> = [
  ['ZooKeeper 3.8.0', (t) => referenceEnsemble(t, '3.8.0'), EXPECTED],
  ['ZooKeeper 3.9.5', (t) => referenceEnsemble(t, '3.9.5'), EXPECTED_39],
  ['zkts', zktsEnsemble, EXPECTED],
];

for (const [name, make, expected] of TARGETS) {
  t.test(`${name}: a member without a quorum serves read-only clients`, async (t) => {
    const ens = await make(t);
    t.same(await scenario(ens, t), expected);
  });
}

// This file runs as dist/test/quorum/readonly.test.js; the Java source stays in the source tree.
const JAVA_SOURCE = path.resolve(__dirname, '..', '..', '..', 'test', 'quorum', 'java', 'ReadOnlyClient.java');
const JAVA_EXPECTED = [
  'state ConnectedReadOnly',
  'read-only session of member 1',
  'getData /ro -> x',
  'create /ro/java -> NOTREADONLY',
  'READY',
  'state SyncConnected',
  'new session after read-only -> true',
  'create /ro/java -> ok',
  'getData /ro -> x',
];

t.test('the Java client with canBeReadOnly goes read-only and back to read-write', async (t) => {
  const classesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-ro-java-'));
  t.teardown(() => fs.rmSync(classesDir, { recursive: true, force: true }));
  const javac = await runJava('javac', ['-encoding', 'UTF-8', '-d', classesDir, '-cp', javaClasspath(), JAVA_SOURCE], 120_000);
  t.equal(javac.code, 0, 'javac compiles ReadOnlyClient.java', { stderr: javac.stdout });
  if (javac.code !== 0) return;
  for (const [name, make] of TARGETS) {
    await t.test(name, async (t) => {
      const ens = await make(t);
      await ens.waitForQuorum();
      const c = await ZkClient.connect(HOST, ens.clientPort(1));
      t.equal((await c.create('/ro', Buffer.from('x'))).header.err, Err.OK);
      await c.close();
      await isolateMember1(ens);
      const deadline = Date.now() + WAIT_MS;
      while (mode(await srvr(ens.clientPort(1))) !== 'read-only') {
        if (Date.now() > deadline) throw new Error('member 1 never served read-only');
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      const run = runJava('java', ['-Xmx128m', '-cp', [classesDir, javaClasspath()].join(path.delimiter), 'ReadOnlyClient', ens.connectString], 240_000);
      t.teardown(() => run.kill());
      await waitFor(() => run.stdout().includes('READY\n') || run.exited(), 'the client to be read-only', WAIT_MS);
      await ens.start([2, 3]);
      const result = await run;
      t.same(result.stdout.split('\n').filter((l) => l !== ''), JAVA_EXPECTED, 'the client transcript', { stderr: result.stderr.slice(-4000) });
      t.equal(result.code, 0, 'the client exits 0');
    });
  }
});

interface JavaRun extends Promise<{ code: number | null; stdout: string; stderr: string }> {
  stdout(): string;
  exited(): boolean;
  kill(): void;
}

/** Runs a JDK tool; killed (by its PID) after `timeoutMs` or when the test process ends first. */
function runJava(command: string, args: string[], timeoutMs: number): JavaRun {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let done = false;
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-20_000)));
  const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), timeoutMs);
  const kill = () => {
    if (!done && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  };
  process.once('exit', kill);
  const p = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code) => {
      done = true;
      clearTimeout(timer);
      process.off('exit', kill);
      resolve({ code, stdout: out, stderr: err });
    });
  }) as JavaRun;
  p.stdout = () => out;
  p.exited = () => done;
  p.kill = kill;
  return p;
}
