// The storage a replicated quorum needs, against a live ZooKeeper 3.8 ensemble on 127.0.0.1 (two
// real members of a three-member configuration; the third member's sid is ours):
// - SNAP: a fake learner (sid 3) registers with the leader by hand-encoded QuorumPackets
//   (FOLLOWERINFO, ACKEPOCH), receives SNAP and its snapshot stream, and decodes it with zkts's
//   decoder fed straight from the socket; the decoded tree equals what a client reads from the
//   leader, node for node, with the ephemeral's session among the sessions; the packet after the
//   stream (NEWLEADER) is found where the decoder said the stream ended. The spooled snapshot
//   file is then served by ZooKeeper standalone.
// - Epoch files: those the members wrote are read as they are; epoch files zkts writes into the
//   members' dataDirs are read by ZooKeeper (it proposes the epoch after them), and both refuse a
//   currentEpoch older than the log.
// - TRUNC: a member's log truncated by zkts to a zxid in the middle is read by ZooKeeper's
//   TxnLogToolkit up to exactly that zxid, and ZooKeeper standalone serves the tree zkts's
//   recovery rebuilds from it.

import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { CreateFlag } from '../src/protocol/constants';
import type { ACL } from '../src/protocol/generated/records';
import { JuteWriter } from '../src/protocol/jute';
import { loadConfig } from '../src/server/config';
import type { DataTree } from '../src/storage/datatree';
import { recover } from '../src/storage/diskdb';
import { ACCEPTED_EPOCH_FILE, CURRENT_EPOCH_FILE, EpochFileError, loadEpochs, readEpochFile, writeAcceptedEpoch, writeCurrentEpoch, type EpochLoadNotes } from '../src/storage/epochs';
import { logEntriesAfter } from '../src/storage/logdiff';
import { truncateLogTo } from '../src/storage/logtrunc';
import { SnapSpool, SnapStreamDecoder } from '../src/storage/snapstream';
import { lastLoggedZxid } from '../src/storage/txnlog';
import { epochOf } from '../src/storage/zxid';
import { fourLetterWord, freePort, javaClasspath, startReferenceZooKeeper, type RunningServer } from '../test/util/servers';
import { digestId, statText, Zk } from './datadir/zk';
import { delay } from './util/harness';

const REAL = [1, 2];
const FAKE_SID = 3;
const ELECTION_WAIT_MS = 45_000;
const PACKET_WAIT_MS = 20_000;
const SESSION_MS = 30_000;
const buf = (s: string): Buffer => Buffer.from(s, 'utf8');
const hex = (v: bigint): string => '0x' + v.toString(16);
const silent = pino({ level: 'silent' });

// Quorum packet types (ZK-QUORUM-FACTS §2.2), hand-encoded here on purpose.
const FOLLOWERINFO = 11;
const LEADERINFO = 17;
const ACKEPOCH = 18;
const SNAP = 15;
const NEWLEADER = 10;
const DIFF = 13;
const PROPOSAL = 2;

interface Packet {
  type: number;
  zxid: bigint;
  data: Buffer | null;
}

function encodePacket(type: number, zxid: bigint, data: Buffer | null): Buffer {
  const w = new JuteWriter(64 + (data?.length ?? 0));
  w.writeInt(type);
  w.writeLong(zxid);
  w.writeBuffer(data);
  w.writeInt(-1); // authinfo: null vector
  return w.toBuffer();
}

/** A QuorumPacket at the start of b, with its size, or undefined when b does not hold all of it. */
function decodePacket(b: Buffer): { packet: Packet; size: number } | undefined {
  if (b.length < 16) return undefined;
  let at = 12;
  const len = b.readInt32BE(at);
  at += 4;
  if (len > 16 * 1024 * 1024) throw new Error(`packet data length ${len}`);
  if (len > 0 && b.length < at + len) return undefined;
  const data = len < 0 ? null : Buffer.from(b.subarray(at, at + len));
  at += Math.max(0, len);
  if (b.length < at + 4) return undefined;
  const n = b.readInt32BE(at);
  at += 4;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 2; k++) {
      if (b.length < at + 4) return undefined;
      const l = b.readInt32BE(at);
      at += 4 + Math.max(0, l);
      if (b.length < at) return undefined;
    }
  }
  return { packet: { type: b.readInt32BE(0), zxid: b.readBigInt64BE(4), data }, size: at };
}

/** The socket's bytes as they arrive, taken by whoever asks next (bounded waits). */
class Inbox {
  private chunks: Buffer[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.waiter?.();
    });
    const end = (): void => {
      this.ended = true;
      this.waiter?.();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }
  async take(): Promise<Buffer> {
    const deadline = Date.now() + PACKET_WAIT_MS;
    while (this.chunks.length === 0) {
      if (this.ended) throw new Error('the leader closed the connection');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`nothing from the leader for ${PACKET_WAIT_MS} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.chunks.shift()!;
  }
  unshift(b: Buffer): void {
    if (b.length > 0) this.chunks.unshift(b);
  }
  async packet(): Promise<Packet> {
    let pending = Buffer.alloc(0);
    for (;;) {
      const got = decodePacket(pending);
      if (got) {
        this.unshift(pending.subarray(got.size));
        return got.packet;
      }
      pending = Buffer.concat([pending, await this.take()]);
    }
  }
}

/** The lines Zk.listing gives, made from a tree. */
function treeListing(tree: DataTree): string[] {
  const lines: string[] = [];
  for (const p of tree.paths()) {
    const n = tree.getNode(p)!;
    const data = n.dataAsText === null ? 'null' : Buffer.from(n.dataAsText, 'latin1').toString('hex');
    // As getACL shows digest ids to a client without that auth: the hash masked.
    const acl = n.acl.map((x) => `${x.perms}:${x.id.scheme}:${x.id.scheme === 'digest' ? x.id.id.replace(/:.*$/, ':x') : x.id.id}`).join(',');
    const children = [...tree.childrenOf(n)].sort();
    lines.push(`${p} | ${statText(tree.statOf(n))} | data=${data} | acl=${acl} | children=${children.join(',')}`);
  }
  return lines.sort();
}

async function srvr(server: RunningServer): Promise<{ mode?: string; zxid?: bigint }> {
  try {
    const reply = await fourLetterWord(server.host, server.port, 'srvr', 2_000);
    const mode = /^Mode: (\w+)/m.exec(reply)?.[1];
    const zxid = /^Zxid: (0x[0-9a-f]+)/m.exec(reply)?.[1];
    return { mode, zxid: zxid === undefined ? undefined : BigInt(zxid) };
  } catch {
    return {};
  }
}

/** Runs ZooKeeper's TxnLogToolkit on a log file; the zxids it prints. */
async function toolkitZxids(file: string): Promise<{ zxids: bigint[]; output: string }> {
  const child = spawn('java', ['-Xmx128m', '-cp', javaClasspath(), 'org.apache.zookeeper.server.persistence.TxnLogToolkit', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const code = await Promise.race([
    new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c))),
    delay(60_000).then(() => 'timeout' as const),
  ]);
  if (code === 'timeout') {
    child.kill('SIGKILL');
    throw new Error(`TxnLogToolkit did not finish: ${output}`);
  }
  const zxids = [...output.matchAll(/zxid (0x[0-9a-f]+)/g)].map((m) => BigInt(m[1]));
  return { zxids, output: `exit ${code}\n${output}` };
}

t.test('quorum storage against a live ZooKeeper 3.8 ensemble', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-qstorage-'));
  const servers = new Set<RunningServer>();
  const sockets = new Set<net.Socket>();
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    for (const s of servers) await s.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });
  const track = async (p: Promise<RunningServer>): Promise<RunningServer> => {
    const s = await p;
    servers.add(s);
    return s;
  };
  const stop = async (s: RunningServer): Promise<void> => {
    await s.stop();
    servers.delete(s);
  };

  const ports: number[] = [];
  while (ports.length < 6) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const quorumPort = (sid: number): number => ports[2 * (sid - 1)];
  const memberConfig = (dataDir: string): Record<string, string> => {
    const cfg: Record<string, string> = { dataDir, initLimit: '10', syncLimit: '5', preAllocSize: '64', maxSessionTimeout: String(SESSION_MS * 2) };
    for (const i of [...REAL, FAKE_SID]) cfg[`server.${i}`] = `127.0.0.1:${quorumPort(i)}:${ports[2 * (i - 1) + 1]}`;
    return cfg;
  };
  const dataDirOf = (sid: number): string => path.join(root, `member${sid}`);
  for (const sid of REAL) {
    fs.mkdirSync(dataDirOf(sid));
    fs.writeFileSync(path.join(dataDirOf(sid), 'myid'), `${sid}\n`);
  }
  // Every learner gets SNAP, whatever its zxid: the fake learner is to see one.
  const snapFlags = ['-Xmx128m', '-Dzookeeper.forceSnapshotSync=true'];
  const members = new Map<number, RunningServer>();
  const startMembers = async (jvmFlags = snapFlags): Promise<void> => {
    await Promise.all(REAL.map(async (sid) => members.set(sid, await track(startReferenceZooKeeper({ extraConfig: memberConfig(dataDirOf(sid)), jvmFlags })))));
  };
  const waitForLeader = async (): Promise<number> => {
    const deadline = Date.now() + ELECTION_WAIT_MS;
    for (;;) {
      const modes = await Promise.all(REAL.map((sid) => srvr(members.get(sid)!)));
      const leaders = REAL.filter((_s, i) => modes[i].mode === 'leader');
      if (leaders.length === 1 && modes.every((m) => m.mode === 'leader' || m.mode === 'follower')) return leaders[0];
      if (Date.now() > deadline) throw new Error(`no leader after ${ELECTION_WAIT_MS} ms: ${JSON.stringify(modes)}`);
      await delay(100);
    }
  };
  const stopMembers = async (): Promise<void> => {
    for (const s of members.values()) await stop(s);
    members.clear();
  };

  /**
   * Registers as learner FAKE_SID with the leader by hand: FOLLOWERINFO (acceptedEpoch 0), then
   * LEADERINFO is read and ACKEPOCH(lastZxid, currentEpoch) sent.
   */
  const register = async (sid: number, lastZxid: bigint, currentEpoch: number): Promise<{ socket: net.Socket; inbox: Inbox; leaderInfo: Packet }> => {
    const socket = net.connect({ host: '127.0.0.1', port: quorumPort(sid) });
    sockets.add(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const inbox = new Inbox(socket);
    const info = new JuteWriter(20);
    info.writeLong(BigInt(FAKE_SID));
    info.writeInt(0x10000);
    info.writeLong(0n);
    socket.write(encodePacket(FOLLOWERINFO, 0n, info.toBuffer()));
    const leaderInfo = await inbox.packet();
    const ack = Buffer.alloc(4);
    ack.writeInt32BE(currentEpoch);
    socket.write(encodePacket(ACKEPOCH, lastZxid, ack));
    return { socket, inbox, leaderInfo };
  };

  await startMembers();
  const leaderSid = await waitForLeader();
  const leader = members.get(leaderSid)!;
  const follower = members.get(REAL.find((s) => s !== leaderSid)!)!;

  // Writes of every kind, through the follower; an ephemeral stays with its open session.
  const w = await Zk.connect(follower, { timeoutMs: SESSION_MS });
  const held = await Zk.connect(leader, { timeoutMs: SESSION_MS });
  const aliceAcl: ACL[] = [
    { perms: 31, id: { scheme: 'digest', id: digestId('alice:secret') } },
    { perms: 1, id: { scheme: 'world', id: 'anyone' } },
  ];
  await w.create('/app', buf('root of the app'));
  for (let i = 0; i < 12; i++) await w.create(`/app/n${i}`, i % 4 === 0 ? null : buf(`n${i}`), 0, i % 3 === 0 ? aliceAcl : undefined);
  await w.create('/app/n1/deep', buf('deep'));
  await w.setData('/app/n2', buf('changed'), 0);
  await w.delete('/app/n5', 0);
  await w.setACL('/app/n4', [{ perms: 3, id: { scheme: 'world', id: 'anyone' } }]);
  await w.create('/app/seq-', buf('s'), CreateFlag.PERSISTENT_SEQUENTIAL);
  await w.create('/large', Buffer.alloc(200_000, 0x5a));
  await w.multi([
    { op: 'create', path: '/app/m', data: buf('m') },
    { op: 'setData', path: '/app/n3', data: buf('multi'), version: 0 },
  ]);
  await held.create('/eph', buf('ephemeral'), CreateFlag.EPHEMERAL);
  const midZxid = await w.zxid();
  await w.create('/after-mid', buf('x'));
  await w.setData('/app', buf('after the middle'));
  await w.create('/after-mid/child', null);
  const lastZxid = await w.zxid();

  await t.test('SNAP from the live leader, decoded by a fake learner', async (t) => {
    const { socket, inbox, leaderInfo: li } = await register(leaderSid, 0n, 0);
    t.equal(li.type, LEADERINFO, 'LEADERINFO');
    t.equal(li.data?.readInt32BE(0), 0x10000, 'protocol version 0x10000');
    t.equal(li.zxid & 0xffffffffn, 0n, `new epoch zxid ${hex(li.zxid)}`);
    const snap = await inbox.packet();
    t.equal(snap.type, SNAP, 'SNAP');
    t.equal(hex(snap.zxid), hex(lastZxid), 'SNAP carries the leader\'s last zxid');

    const spoolDir = path.join(root, 'spool', 'version-2');
    const spool = await SnapSpool.create(spoolDir, snap.zxid);
    const dec = new SnapStreamDecoder({ zxid: snap.zxid });
    let pushes = 0;
    for (;;) {
      const chunk = await inbox.take();
      const r = dec.push(chunk);
      pushes++;
      await spool.write(chunk.subarray(0, r.consumed));
      if (r.done) {
        inbox.unshift(chunk.subarray(r.consumed));
        break;
      }
    }
    t.comment(`stream of ${dec.bytesConsumed} bytes in ${pushes} socket chunks`);
    const after = await inbox.packet();
    t.equal(after.type, NEWLEADER, 'the packet right after the stream is NEWLEADER');
    t.equal(after.zxid, li.zxid, 'for the new epoch');
    socket.destroy();
    sockets.delete(socket);

    const { tree, sessions } = dec.decoded();
    const served = await held.listing();
    t.same(treeListing(tree), served, 'the decoded tree is what a client reads from the leader, node for node');
    t.equal(sessions.get(held.sessionId), held.timeout, 'the ephemeral\'s session is among the sessions, with its timeout');
    t.equal(sessions.get(w.sessionId), w.timeout, 'and so is the writer\'s');
    t.equal(hex(tree.getNode('/eph')!.ephemeralOwner), hex(held.sessionId), 'the ephemeral has its owner');

    const file = await spool.finish(tree.digest.value);
    t.equal(path.basename(file), `snapshot.${snap.zxid.toString(16)}`);
    // ZooKeeper standalone on the spooled snapshot alone serves the same tree.
    const zk = await track(startReferenceZooKeeper({ extraConfig: { dataDir: path.dirname(spoolDir), maxSessionTimeout: String(SESSION_MS * 2) }, jvmFlags: ['-Xmx128m'] }));
    const c = await Zk.connect(zk, { timeoutMs: SESSION_MS });
    const zkLines = await c.listing();
    c.drop();
    await stop(zk);
    const without = (lines: string[]): string[] => lines.filter((l) => !l.startsWith('/eph ') && !l.startsWith('/zookeeper/config ') && !l.startsWith('/ |'));
    t.same(without(zkLines), without(served), 'ZooKeeper serves the spooled snapshot\'s tree (the ephemeral aside: its session expires there)');
    t.notMatch(zk.log(), /CRC|Digest mismatch|digest mismatch|Unable to load/i, 'and reports no checksum or digest problem');
  });

  held.drop();
  await w.close();
  w.drop();
  await stopMembers();

  await t.test('the epoch files the members wrote', async (t) => {
    for (const sid of REAL) {
      const dir = dataDirOf(sid);
      const v2 = path.join(dir, 'version-2');
      const raw = [ACCEPTED_EPOCH_FILE, CURRENT_EPOCH_FILE].map((f) => fs.readFileSync(path.join(v2, f), 'latin1'));
      t.match(raw[0], /^\d+$/, `member ${sid}: acceptedEpoch ${JSON.stringify(raw[0])}, decimal, no newline`);
      t.match(raw[1], /^\d+$/, `member ${sid}: currentEpoch ${JSON.stringify(raw[1])}`);
      t.equal(readEpochFile(path.join(v2, CURRENT_EPOCH_FILE)), BigInt(raw[1]));
      const last = lastLoggedZxid(dir) ?? 0n;
      const notes: EpochLoadNotes = { created: [] };
      t.same(loadEpochs(dir, last, notes), { acceptedEpoch: BigInt(raw[0]), currentEpoch: BigInt(raw[1]) }, `member ${sid}: loaded as they are`);
      t.same(notes.created, [], 'nothing created');
      t.equal(epochOf(last), BigInt(raw[1]), `member ${sid}: the log's last zxid ${hex(last)} is of the current epoch`);
    }
  });

  const epoch = BigInt(fs.readFileSync(path.join(dataDirOf(1), 'version-2', CURRENT_EPOCH_FILE), 'latin1'));

  await t.test('TRUNC by zkts, read by ZooKeeper', async (t) => {
    const copy = path.join(root, 'trunc');
    fs.cpSync(dataDirOf(leaderSid), copy, { recursive: true });
    fs.rmSync(path.join(copy, 'myid'));
    const r = truncateLogTo(copy, copy, midZxid);
    t.comment(`truncated ${path.basename(r.file)} to ${r.size} bytes; removed ${[...r.removedLogs, ...r.removedSnapshots].map((f) => path.basename(f)).join(' ') || 'nothing else'}`);
    const tk = await toolkitZxids(r.file);
    t.equal(hex(tk.zxids[tk.zxids.length - 1] ?? 0n), hex(midZxid), 'TxnLogToolkit reads the truncated file up to exactly the zxid');
    t.ok(tk.zxids.every((z) => z <= midZxid), 'and nothing after it');
    t.match(tk.output, /EOF reached after \d+ txns/, 'it ends cleanly');
    const rec = recover(loadConfig(`dataDir=${copy}\n`, new Map(), copy), silent);
    t.equal(hex(rec.tree.lastProcessedZxid), hex(midZxid), 'zkts recovers up to the zxid');
    const zk = await track(startReferenceZooKeeper({ extraConfig: { dataDir: copy, maxSessionTimeout: String(SESSION_MS * 2) }, jvmFlags: ['-Xmx128m'] }));
    const c = await Zk.connect(zk, { timeoutMs: SESSION_MS });
    const openZxid = await c.zxid();
    const zkLines = await c.listing();
    c.drop();
    await stop(zk);
    t.equal(hex(openZxid), hex(midZxid + 1n), 'ZooKeeper goes on right after the zxid');
    const ours = treeListing(rec.tree).filter((l) => !l.startsWith('/zookeeper/config ') && !l.startsWith('/eph '));
    t.same(
      zkLines.filter((l) => !l.startsWith('/zookeeper/config ') && !l.startsWith('/eph ')),
      ours,
      'ZooKeeper serves the tree zkts rebuilds from the truncated log',
    );
    t.notOk(zkLines.some((l) => l.startsWith('/after-mid')), 'the txns after the zxid are gone');
  });

  // A currentEpoch older than the log: ZooKeeper refuses to start. zkts starts when acceptedEpoch
  // vouches for the log's epoch (a crash between making NEWLEADER's history durable and writing
  // currentEpoch leaves exactly this), writing the log's epoch as currentEpoch; it refuses when
  // acceptedEpoch is older too. Each on its own copy: zkts's raise writes the file.
  await t.test('a currentEpoch older than the log: ZooKeeper refuses; zkts raises it when acceptedEpoch vouches, else refuses', async (t) => {
    const copyOf = (name: string): string => {
      const copy = path.join(root, name);
      fs.cpSync(dataDirOf(1), copy, { recursive: true });
      writeCurrentEpoch(copy, epoch - 1n);
      return copy;
    };
    const raised = copyOf('stale-raised');
    const notes: EpochLoadNotes = { created: [] };
    const accepted = readEpochFile(path.join(raised, 'version-2', ACCEPTED_EPOCH_FILE));
    t.same(loadEpochs(raised, lastLoggedZxid(raised) ?? 0n, notes), { acceptedEpoch: accepted, currentEpoch: epoch }, 'zkts takes the log\'s epoch, which acceptedEpoch vouches for');
    t.equal(notes.raisedToLog, epoch - 1n, 'and notes what it found');
    t.equal(readEpochFile(path.join(raised, 'version-2', CURRENT_EPOCH_FILE)), epoch, 'and writes it as currentEpoch');
    const unvouched = copyOf('stale-refused');
    writeAcceptedEpoch(unvouched, epoch - 1n);
    t.throws(() => loadEpochs(unvouched, lastLoggedZxid(unvouched) ?? 0n), EpochFileError, 'zkts refuses when acceptedEpoch is older than the log too');
    const copy = copyOf('stale');
    const err = await startReferenceZooKeeper({ extraConfig: memberConfig(copy), jvmFlags: ['-Xmx128m'] }).then(
      async (s) => {
        await s.stop();
        return undefined;
      },
      (e: Error) => e,
    );
    t.match(err?.message ?? 'it started', /The current epoch, .* is older than the last zxid/, 'ZooKeeper refuses too');
  });

  await t.test('epoch files written by zkts, read by ZooKeeper', async (t) => {
    const ahead = epoch + 3n;
    for (const sid of REAL) {
      writeAcceptedEpoch(dataDirOf(sid), ahead);
      writeCurrentEpoch(dataDirOf(sid), ahead);
    }
    // This time learners are synced as ZooKeeper decides (no forced SNAP): the fake learner gets a DIFF.
    await startMembers(['-Xmx128m']);
    const newLeader = await waitForLeader();
    const c = await Zk.connect(members.get(1)!, { timeoutMs: SESSION_MS });
    await c.create('/after-restart', buf('r'));
    await c.setData('/after-restart', Buffer.alloc(3000, 1));
    const z = await c.zxid();
    await c.close();
    c.drop();
    t.equal(epochOf(z), ahead + 1n, `ZooKeeper proposed the epoch after zkts's acceptedEpoch ${ahead} (${hex(z)})`);

    // DIFF: a learner at midZxid is sent PROPOSALs from the leader's committed log; zkts's reader
    // of the leader's on-disk log (live, with its preallocated tail) hands out the same bytes.
    const { socket, inbox } = await register(newLeader, midZxid, 1);
    const diff = await inbox.packet();
    t.equal(diff.type, DIFF, `DIFF for a learner at ${hex(midZxid)}`);
    const proposals: { zxid: bigint; body: Buffer }[] = [];
    for (;;) {
      const p = await inbox.packet();
      if (p.type === NEWLEADER) break;
      if (p.type === PROPOSAL) proposals.push({ zxid: p.zxid, body: p.data ?? Buffer.alloc(0) });
    }
    socket.destroy();
    sockets.delete(socket);
    const fromDisk: { zxid: bigint; body: Buffer }[] = [];
    for await (const e of logEntriesAfter(dataDirOf(newLeader), midZxid, { toZxid: diff.zxid, readBudgetBytes: 4096 })) fromDisk.push(e);
    t.ok(proposals.length >= 6, `${proposals.length} PROPOSALs up to ${hex(diff.zxid)}, across epochs 1 and ${ahead + 1n}`);
    t.same(fromDisk.map((e) => hex(e.zxid)), proposals.map((p) => hex(p.zxid)), 'the log reader yields the zxids the leader sent');
    t.same(
      fromDisk.map((e) => e.body.toString('hex')),
      proposals.map((p) => p.body.toString('hex')),
      'and each body is the bytes of its PROPOSAL',
    );
    await stopMembers();
    for (const sid of REAL) {
      const v2 = path.join(dataDirOf(sid), 'version-2');
      t.equal(fs.readFileSync(path.join(v2, CURRENT_EPOCH_FILE), 'latin1'), String(ahead + 1n), `member ${sid}: ZooKeeper moved currentEpoch on from ours`);
      t.same(loadEpochs(dataDirOf(sid), lastLoggedZxid(dataDirOf(sid)) ?? 0n), { acceptedEpoch: ahead + 1n, currentEpoch: ahead + 1n });
    }
  });
});
