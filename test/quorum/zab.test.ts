// Transcript tests of the Zab cores: each file in testdata/zab is a scenario of commands, each followed
// by what the cores did (every Ready, in execution order). ZKTS_REWRITE=1 rewrites the expectations.
import t from 'tap';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ZabLeader } from '../../src/quorum/leader';
import { LEADER_CONN, ZabLearner } from '../../src/quorum/learner';
import type { LoggedTxn, Ready, SessionTouch } from '../../src/quorum/ready';
import { PacketType, type QuorumPacket } from '../../src/quorum/wire/packets';
import { OP_SYNC } from '../../src/quorum/zabpayloads';
import { majorityVerifier } from './majority';
import { parseQuorumVerifier, type QuorumVerifier } from '../../src/quorum/verifier';
import { hex, packetText, readyLines, txnText, TYPE_BY_NAME } from './zabprint';

// Sources are TS in test/, run from dist/test: the scenarios stay in the source tree.
const DATA_DIR = join(__dirname, '..', '..', '..', 'test', 'quorum', 'testdata', 'zab');

interface Message {
  packet: QuorumPacket;
  /** A SNAP's snapshot stream: the sender's tree at the SNAP zxid. */
  snapshot?: LoggedTxn[];
}

interface Disk {
  acceptedEpoch: bigint;
  currentEpoch: bigint;
  snapshot: LoggedTxn[];
  snapshotZxid: bigint;
  log: LoggedTxn[];
}

interface Node {
  sid: bigint;
  disk: Disk;
  /** The configurations its Readys activated and saw (a shell keeps them in its config files). */
  committed?: QuorumVerifier;
  lastSeen?: QuorumVerifier;
  tree: LoggedTxn[];
  leader?: ZabLeader;
  learner?: ZabLearner;
  touches: SessionTouch[];
  lastSnapshot?: LoggedTxn[];
}

const txn = (zxid: bigint, text?: string): LoggedTxn => ({ zxid, data: Buffer.from(text ?? txnText(zxid), 'latin1') });

/** "0x100000001-0x100000005,0x200000001" -> the txns. */
function parseLog(spec: string | undefined): LoggedTxn[] {
  if (spec === undefined || spec === '') return [];
  const out: LoggedTxn[] = [];
  for (const part of spec.split(',')) {
    const [a, b] = part.split('-');
    const first = BigInt(a);
    const last = b === undefined ? first : BigInt(b);
    for (let z = first; z <= last; z++) out.push(txn(z));
  }
  return out;
}

/** The harness's member addresses (as majority.ts), as a real verifier that a config string round-trips. */
function configOf(voters: readonly bigint[], observers: readonly bigint[], version: bigint): QuorumVerifier {
  const line = (sid: bigint, role: string) => `server.${sid}=127.0.0.1:${3310 + Number(sid)}:${3320 + Number(sid)}:${role}\n`;
  const text = voters.map((s) => line(s, 'participant')).join('') + observers.map((s) => line(s, 'observer')).join('') + `version=${version.toString(16)}`;
  return parseQuorumVerifier(text);
}

const sids = (spec: string | undefined): bigint[] => (spec === undefined || spec === '' ? [] : spec.split(',').map(BigInt));

/**
 * A reconfig txn as ZooKeeper logs it: TxnHeader{clientId, cxid, zxid, time, type=16} then
 * SetDataTxn{path=/zookeeper/config, data=the configuration string, version=-1}.
 */
function reconfigTxn(zxid: bigint, config: string): Buffer {
  const path = Buffer.from('/zookeeper/config', 'utf8');
  const data = Buffer.from(config, 'utf8');
  const b = Buffer.alloc(32 + 4 + path.length + 4 + data.length + 4);
  let o = b.writeBigInt64BE(0x100n, 0);
  o = b.writeInt32BE(1, o);
  o = b.writeBigInt64BE(zxid, o);
  o = b.writeBigInt64BE(0n, o);
  o = b.writeInt32BE(16, o);
  o = b.writeInt32BE(path.length, o);
  o += path.copy(b, o);
  o = b.writeInt32BE(data.length, o);
  o += data.copy(b, o);
  b.writeInt32BE(-1, o);
  return b;
}

const lastZxid = (d: Disk): bigint => (d.log.length > 0 ? d.log[d.log.length - 1].zxid : d.snapshotZxid);

class Cluster {
  nowMs = 0;
  readonly nodes = new Map<bigint, Node>();
  leaderSid: bigint | undefined;
  verifier: QuorumVerifier | undefined;
  /** A last-seen configuration newer than `verifier` the leader (and learners given lastseen=1) start with. */
  lastSeen: QuorumVerifier | undefined;
  /** Links "from->to" with FIFO queues. */
  readonly links = new Map<string, Message[]>();
  readonly held = new Set<string>();
  readonly requests: { conn: number; op: number; body: Buffer }[] = [];
  private out: string[] = [];

  name = (conn: number): string => (conn === LEADER_CONN && this.leaderSid !== undefined ? `s${this.leaderSid}` : `s${conn}`);

  run(line: string): string {
    this.out = [];
    const [cmd, ...rest] = line.trim().split(/\s+/);
    const args = new Map<string, string>();
    const positional: string[] = [];
    for (const r of rest) {
      const i = r.indexOf('=');
      if (i > 0) args.set(r.slice(0, i), r.slice(i + 1));
      else positional.push(r);
    }
    const num = (k: string, d: number) => (args.has(k) ? Number(args.get(k)) : d);
    const big = (k: string, d: bigint) => (args.has(k) ? BigInt(args.get(k)!) : d);
    switch (cmd) {
      case 'leader': {
        const sid = big('sid', 1n);
        const voters = (args.get('voters') ?? '1,2,3').split(',').map(BigInt);
        const observers = args.has('observers') ? args.get('observers')!.split(',').map(BigInt) : [];
        const log = parseLog(args.get('log'));
        const disk: Disk = { acceptedEpoch: big('accepted', 0n), currentEpoch: big('current', 0n), snapshot: [], snapshotZxid: 0n, log };
        // reconfig=1 (reconfigEnabled) or a version: real verifiers, whose strings parse back.
        // lastseen=<voters>[/<observers>] lastseenversion=V: a reconfig proposed before, not committed.
        const real = args.get('reconfig') === '1' || args.has('version') || args.has('lastseen');
        this.verifier = real ? configOf(voters, observers, big('version', 0n)) : majorityVerifier(voters, observers);
        if (args.has('lastseen')) {
          const [v, o] = args.get('lastseen')!.split('/');
          this.lastSeen = configOf(sids(v), sids(o), big('lastseenversion', 1n));
        }
        const leader = new ZabLeader({
          sid,
          verifier: this.verifier,
          lastSeenVerifier: this.lastSeen,
          reconfigEnabled: args.get('reconfig') === '1',
          tickTimeMs: num('tick', 2000),
          initLimitTicks: num('init', 10),
          syncLimitTicks: num('sync', 5),
          acceptedEpoch: disk.acceptedEpoch,
          currentEpoch: disk.currentEpoch,
          lastLoggedZxid: lastZxid(disk),
          committedLog: log.slice(-num('commitlog', 500)),
          commitLogCount: num('commitlog', 500),
          testingInitialCounter: big('counter', 0n),
          nowMs: this.nowMs,
        });
        this.nodes.set(sid, { sid, disk, tree: [...log], leader, touches: [] });
        this.leaderSid = sid;
        this.drain(sid);
        break;
      }
      case 'learner': {
        const sid = big('sid', 2n);
        const log = parseLog(args.get('log'));
        const disk: Disk = { acceptedEpoch: big('accepted', 0n), currentEpoch: big('current', 0n), snapshot: [], snapshotZxid: 0n, log };
        const node: Node = { sid, disk, tree: [...log], touches: [] };
        if (args.get('lastseen') === '1') node.lastSeen = this.lastSeen;
        this.nodes.set(sid, node);
        this.startLearner(node, args.get('role') === 'observer' ? 'observer' : 'follower');
        break;
      }
      case 'restart': {
        // The learner process restarts from its disk: a new connection and a new core.
        const node = this.node(big('sid', 2n));
        this.dropLinks(node.sid);
        this.leader().disconnected(Number(node.sid));
        node.tree = [...node.disk.snapshot, ...node.disk.log.filter((x) => x.zxid > node.disk.snapshotZxid)];
        this.startLearner(node, args.get('role') === 'observer' ? 'observer' : 'follower');
        break;
      }
      case 'deliver':
        this.deliver(args.get('link'), num('count', Number.MAX_SAFE_INTEGER));
        break;
      case 'hold':
        this.held.add(positional[0]);
        break;
      case 'release':
        this.held.delete(positional[0]);
        break;
      case 'propose': {
        const leader = this.leader();
        for (let i = 0; i < num('count', 1); i++) {
          const zxid = leader.nextZxid();
          const res = leader.propose(zxid, Buffer.from(args.get('data') ?? txnText(zxid), 'latin1'));
          this.out.push(`propose ${hex(zxid)}: ${res.ok ? 'ok' : `refused (${res.reason})`}`);
        }
        this.drain(this.leaderSid!);
        break;
      }
      case 'reconfig': {
        // reconfig voters=1,2,4 [observers=5]: the leader proposes the reconfig txn of that membership,
        // versioned by its zxid (what prep makes of an accepted reconfig request).
        const leader = this.leader();
        const zxid = leader.nextZxid();
        const config = configOf(sids(args.get('voters')), sids(args.get('observers')), zxid).toString();
        const res = leader.propose(zxid, reconfigTxn(zxid, config));
        this.out.push(`reconfig ${hex(zxid)}: ${res.ok ? 'ok' : `refused (${res.reason})`}`);
        this.drain(this.leaderSid!);
        break;
      }
      case 'tick': {
        // tick ms=T [step=S] [nodes=..] [deliver=1]: time moves to T (in steps of S, delivering all
        // unheld messages after each step when deliver=1), and the nodes tick.
        const target = num('ms', this.nowMs);
        const stepMs = num('step', target - this.nowMs);
        const only = args.has('nodes') ? args.get('nodes')!.split(',').map(BigInt) : [...this.nodes.keys()];
        while (this.nowMs < target || stepMs === 0) {
          this.nowMs = Math.min(target, this.nowMs + Math.max(stepMs, 1));
          this.out.push(`t=${this.nowMs}`);
          for (const sid of only) {
            const n = this.node(sid);
            n.leader?.tick(this.nowMs);
            n.learner?.tick(this.nowMs);
            this.drain(sid);
          }
          if (args.get('deliver') === '1') this.deliver(undefined, Number.MAX_SAFE_INTEGER);
          if (stepMs === 0) break;
        }
        break;
      }
      case 'inject': {
        // inject from=2 ACK 0x100000001   (to the leader)   |   inject to=2 PING 0x...   (to a learner)
        // data=<hex> gives the packet a payload, txn=<text> a test txn, reconfig=<config> ('|' for
        // newlines) a reconfig txn at the packet's zxid; designated=<sid> puts the 8-byte designated
        // leader in front. An unknown type name is taken as a number.
        const type = TYPE_BY_NAME[positional[0]] ?? Number(positional[0]);
        const parts: Buffer[] = [];
        if (args.has('designated')) {
          const d = Buffer.alloc(8);
          d.writeBigInt64BE(BigInt(args.get('designated')!));
          parts.push(d);
        }
        if (args.has('data')) parts.push(Buffer.from(args.get('data')!, 'hex'));
        if (args.has('txn')) parts.push(Buffer.from(args.get('txn')!, 'latin1'));
        if (args.has('reconfig')) parts.push(reconfigTxn(BigInt(positional[1] ?? '0'), args.get('reconfig')!.replace(/\|/g, '\n')));
        const data = parts.length > 0 ? Buffer.concat(parts) : null;
        const packet: QuorumPacket = { type, zxid: BigInt(positional[1] ?? '0'), data, authinfo: null };
        if (args.has('from')) {
          this.out.push(`s${args.get('from')} => ${packetText(packet)}`);
          this.leader().step(Number(args.get('from')), packet);
          this.drain(this.leaderSid!);
        } else {
          const node = this.node(BigInt(args.get('to')!));
          this.out.push(`=> s${node.sid} ${packetText(packet)}`);
          node.learner!.step(packet);
          this.drain(node.sid);
        }
        break;
      }
      case 'forward': {
        const node = this.node(big('sid', 2n));
        const op = num('op', 1);
        const ok = node.learner!.forward({ sessionId: big('session', 0x100n), cxid: num('cxid', 1), op, body: Buffer.from(args.get('body') ?? '') }, null);
        this.out.push(`forward op=${op}: ${ok ? 'ok' : 'refused'}`);
        this.drain(node.sid);
        break;
      }
      case 'touch': {
        this.node(big('sid', 2n)).touches.push({ sessionId: big('session', 0x100n), timeoutMs: num('timeout', 10000) });
        break;
      }
      case 'serve': {
        // The leader's server: prepares each forwarded request in order (a write becomes a proposal,
        // a sync waits for the proposals before it).
        const leader = this.leader();
        for (const r of this.requests.splice(0)) {
          if (r.op === OP_SYNC) {
            this.out.push(`serve sync from ${this.name(r.conn)}`);
            leader.processSync(r.conn);
          } else {
            const zxid = leader.nextZxid();
            const res = leader.propose(zxid, r.body.length > 0 ? r.body : Buffer.from(txnText(zxid)));
            this.out.push(`serve op=${r.op} from ${this.name(r.conn)} as ${hex(zxid)}: ${res.ok ? 'ok' : res.reason}`);
          }
        }
        this.drain(this.leaderSid!);
        break;
      }
      case 'status': {
        for (const n of [...this.nodes.values()].sort((a, b) => Number(a.sid - b.sid))) {
          const role = n.leader ? `leader ${n.leader.phase}` : n.learner ? `learner ${n.learner.phase}` : 'down';
          this.out.push(
            `s${n.sid} ${role} accepted=${n.disk.acceptedEpoch} current=${n.disk.currentEpoch} snap=${hex(n.disk.snapshotZxid)} ` +
              `log=[${n.disk.log.map((x) => hex(x.zxid)).join(' ')}] tree=[${n.tree.map((x) => hex(x.zxid)).join(' ')}]`,
          );
        }
        break;
      }
      default:
        throw new Error(`unknown command ${cmd}`);
    }
    return this.out.join('\n');
  }

  private node(sid: bigint): Node {
    const n = this.nodes.get(sid);
    if (n === undefined) throw new Error(`no node s${sid}`);
    return n;
  }

  private leader(): ZabLeader {
    return this.node(this.leaderSid!).leader!;
  }

  private startLearner(node: Node, role: 'follower' | 'observer'): void {
    const committed = node.committed ?? this.verifier!;
    node.learner = new ZabLearner({
      sid: node.sid,
      role,
      tickTimeMs: 2000,
      initLimitTicks: 10,
      syncLimitTicks: 5,
      acceptedEpoch: node.disk.acceptedEpoch,
      currentEpoch: node.disk.currentEpoch,
      lastLoggedZxid: lastZxid(node.disk),
      verifier: committed,
      lastSeenVerifier: node.lastSeen,
      leaderSid: this.leaderSid!,
      touches: { take: () => node.touches.splice(0) },
      nowMs: this.nowMs,
    });
    this.leader().connected(Number(node.sid));
    this.drain(node.sid);
  }

  private dropLinks(sid: bigint): void {
    this.links.delete(`${this.leaderSid}->${sid}`);
    this.links.delete(`${sid}->${this.leaderSid}`);
  }

  private enqueue(from: bigint, to: bigint, m: Message): void {
    const key = `${from}->${to}`;
    const q = this.links.get(key) ?? [];
    q.push(m);
    this.links.set(key, q);
  }

  /** Executes a node's Readys until it has none, printing each. */
  private drain(sid: bigint): void {
    const node = this.node(sid);
    for (;;) {
      const core = node.leader ?? node.learner;
      if (core === undefined || !core.hasReady()) return;
      const r = core.ready();
      for (const l of readyLines(r, this.name)) this.out.push(`  s${sid}: ${l}`);
      this.execute(node, r);
      core.advance();
    }
  }

  private execute(node: Node, r: Ready): void {
    const d = node.disk;
    if (r.truncateTo !== undefined) {
      const z = r.truncateTo;
      d.log = d.log.filter((x) => x.zxid <= z);
      node.tree = node.tree.filter((x) => x.zxid <= z);
    }
    if (r.installSnapshot !== undefined) node.tree = [...(node.lastSnapshot ?? [])];
    if (r.takeSnapshot !== undefined) {
      d.snapshot = [...node.tree];
      d.snapshotZxid = r.takeSnapshot;
      d.log = [];
    }
    d.log.push(...r.append);
    if (r.acceptedEpoch !== undefined) d.acceptedEpoch = r.acceptedEpoch;
    if (r.seenConfig !== undefined) node.lastSeen = r.seenConfig;
    for (const a of r.activations) node.committed = a.verifier;
    if (r.currentEpoch !== undefined) d.currentEpoch = r.currentEpoch;
    node.tree.push(...r.commit);
    for (const s of r.send) {
      const to = node.leader ? BigInt(s.to) : this.leaderSid!;
      if (s.kind === 'packet') this.enqueue(node.sid, to, { packet: s.packet });
      else if (s.kind === 'snapshot') {
        this.enqueue(node.sid, to, { packet: { type: PacketType.SNAP, zxid: s.zxid, data: null, authinfo: null }, snapshot: node.tree.filter((x) => x.zxid <= s.zxid) });
      } else {
        for (const x of d.log.filter((x) => x.zxid > s.afterZxid && x.zxid <= s.toZxid)) {
          this.enqueue(node.sid, to, { packet: { type: PacketType.PROPOSAL, zxid: x.zxid, data: x.data, authinfo: null } });
          this.enqueue(node.sid, to, { packet: { type: PacketType.COMMIT, zxid: x.zxid, data: null, authinfo: null } });
        }
      }
    }
    for (const c of r.close) {
      const peer = this.nodes.get(BigInt(c.conn));
      this.dropLinks(BigInt(c.conn));
      if (peer?.learner !== undefined) {
        peer.learner.disconnected();
        this.drain(peer.sid);
      }
    }
    for (const q of r.requests) this.requests.push({ conn: q.conn, op: q.op, body: q.body });
    if (r.state?.kind === 'looking') {
      if (node.learner) {
        node.learner = undefined;
        this.leader().disconnected(Number(node.sid));
        this.dropLinks(node.sid);
      } else node.leader = undefined;
    }
  }

  /** Delivers queued messages round-robin over the links (sorted), skipping held links unless named. */
  private deliver(only: string | undefined, count: number): void {
    let delivered = 0;
    for (;;) {
      let progress = false;
      const keys = [...this.links.keys()].filter((k) => (only === undefined ? !this.held.has(k) : k === only)).sort();
      for (const key of keys) {
        if (delivered >= count) return;
        const q = this.links.get(key);
        if (q === undefined || q.length === 0) continue;
        const m = q.shift()!;
        const [from, to] = key.split('->').map(BigInt);
        const node = this.nodes.get(to);
        this.out.push(`s${from} -> s${to} ${packetText(m.packet)}${m.snapshot ? ' + snapshot' : ''}`);
        delivered++;
        progress = true;
        if (node?.leader) node.leader.step(Number(from), m.packet);
        else if (node?.learner) {
          if (m.snapshot) node.lastSnapshot = m.snapshot;
          node.learner.step(m.packet);
        } else continue;
        this.drain(to);
      }
      if (!progress) return;
    }
  }
}

interface Block {
  comments: string[];
  command: string;
  expected: string;
}

function parseScenario(text: string): Block[] {
  const blocks: Block[] = [];
  let comments: string[] = [];
  let current: Block | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('> ')) {
      current = { comments, command: line.slice(2), expected: '' };
      blocks.push(current);
      comments = [];
    } else if (isCommentLine(line)) {
      comments.push(line);
    } else if (current !== undefined) {
      current.expected += (current.expected === '' ? '' : '\n') + line;
    }
  }
  for (const b of blocks) b.expected = b.expected.replace(/\s+$/, '');
  return blocks;
}

/** Output lines never start with '#', so a '#' line is a comment for the next command. */
const isCommentLine = (line: string): boolean => line.startsWith('#');

function render(blocks: Block[], outputs: string[]): string {
  return blocks
    .map((b, i) => [...b.comments, `> ${b.command}`, ...(outputs[i] === '' ? [] : [outputs[i]]), ''].join('\n'))
    .join('\n');
}

const rewrite = process.env.ZKTS_REWRITE === '1';
const files = readdirSync(DATA_DIR).filter((f) => f.endsWith('.txt')).sort();

t.ok(files.length >= 10, 'the transcript scenarios are there');

for (const file of files) {
  t.test(file, async (t) => {
    const path = join(DATA_DIR, file);
    const blocks = parseScenario(readFileSync(path, 'utf8'));
    const cluster = new Cluster();
    const outputs: string[] = [];
    for (const b of blocks) {
      let got: string;
      try {
        got = cluster.run(b.command);
      } catch (e) {
        got = `error: ${(e as Error).message}`;
      }
      outputs.push(got);
      if (!rewrite) t.equal(got, b.expected, `> ${b.command}`);
    }
    if (rewrite) {
      writeFileSync(path, render(blocks, outputs));
      t.pass('rewritten');
    }
  });
}
