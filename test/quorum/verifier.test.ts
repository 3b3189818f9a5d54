// The quorum verifiers: quorum tests of both kinds, ZooKeeper's toString() and equals(), and a
// differential check of the config string against a live ZooKeeper 3.8.0 (/zookeeper/config).
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../src/server/config';
import {
  HierarchicalVerifier,
  javaHashMapOrder,
  javaHostString,
  MajorityVerifier,
  parseQuorumVerifier,
  QuorumMember,
  verifierFromConfig,
  verifiersEqual,
} from '../../src/quorum/verifier';
import { freePort, startReferenceZooKeeper, RunningServer } from '../util/servers';
import { ZkClient } from '../util/client';
import { JuteReader } from '../../src/protocol/jute';
import * as R from '../../src/protocol/generated/records';

function member(sid: number, type: 'participant' | 'observer' = 'participant', client?: string): QuorumMember {
  const m: QuorumMember = { sid: BigInt(sid), host: '127.0.0.1', quorumPort: 2000 + sid, electionPort: 3000 + sid, type };
  if (client !== undefined) {
    const [host, port] = client.split(':');
    m.clientAddress = { host, port: Number(port) };
  }
  return m;
}

/** Loads zoo.cfg text the way the server does, with a dataDir holding myid. */
function configFrom(lines: string[], clientPort = 2181): ReturnType<typeof loadConfig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-verifier-'));
  try {
    fs.writeFileSync(path.join(dir, 'myid'), '1');
    const text = [`dataDir=${dir}`, `clientPort=${clientPort}`, 'clientPortAddress=127.0.0.1', 'initLimit=10', 'syncLimit=5', 'standaloneEnabled=false', ...lines].join('\n');
    return loadConfig(text, new Map(), dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

t.test('majority: more than half of the participants; observers and strangers count for nothing', async (t) => {
  const v = new MajorityVerifier([member(1), member(2), member(3), member(4, 'observer')], 0n);
  t.same([...v.votingMembers], [1n, 2n, 3n]);
  t.same([...v.observingMembers], [4n]);
  t.equal(v.containsQuorum([1n, 2n]), true);
  t.equal(v.containsQuorum([1n]), false);
  t.equal(v.containsQuorum([1n, 4n, 9n]), false, 'an observer and an unknown sid add nothing');
  t.equal(v.containsQuorum([1n, 1n]), false, 'a sid counts once');
  t.equal(v.weight(2n), 1);
  t.equal(v.weight(4n), 0);
  t.equal(v.weight(9n), 0);
  const four = new MajorityVerifier([member(1), member(2), member(3), member(4)], 0n);
  t.equal(four.containsQuorum([1n, 2n]), false, 'two of four is not a majority');
  t.equal(four.containsQuorum([1n, 2n, 3n]), true);
});

t.test('hierarchical: a majority of non-zero groups, each by more than half its weight', async (t) => {
  // group 1 = {1,2,3} weights 1,1,1; group 2 = {4,5} weights 3,1; group 3 = {6} weight 0.
  const groups = new Map([
    [1n, [1n, 2n, 3n]],
    [2n, [4n, 5n]],
    [3n, [6n]],
  ]);
  const weights = new Map([
    [4n, 3n],
    [6n, 0n],
  ]);
  const v = new HierarchicalVerifier([1, 2, 3, 4, 5, 6].map((s) => member(s)).concat(member(7, 'observer')), groups, weights, 0n);
  t.equal(v.weight(4n), 3);
  t.equal(v.weight(1n), 1, 'a participant without a weight line weighs 1');
  t.equal(v.weight(6n), 0);
  t.equal(v.weight(7n), 0, 'observer');
  t.ok(v.votingMembers.has(6n), 'a weight-0 participant is still a participant, as in ZooKeeper');
  // Two counted groups (group 3 weighs 0): a quorum needs both.
  t.equal(v.containsQuorum([1n, 2n]), false, 'group 1 alone is not a majority of 2 groups');
  t.equal(v.containsQuorum([1n, 2n, 4n]), true, '2 of 3 in group 1, weight 3 of 4 in group 2');
  t.equal(v.containsQuorum([1n, 2n, 5n]), false, 'weight 1 of 4 is not more than half');
  t.equal(v.containsQuorum([1n, 2n, 4n, 6n, 7n]), true);
  t.equal(v.containsQuorum([6n]), false, 'a weight-0 group never counts');
  t.equal(v.containsQuorum([]), false);
  // A group weighing 2 needs more than 1: both members of equal weight.
  const even = new HierarchicalVerifier([member(1), member(2)], new Map([[1n, [1n, 2n]]]), new Map(), 0n);
  t.equal(even.containsQuorum([1n]), false);
  t.equal(even.containsQuorum([1n, 2n]), true);
});

t.test('HashMap order: by bucket of Long.hashCode spread, table grown past 0.75 load', async (t) => {
  t.same(javaHashMapOrder([3n, 1n, 2n]), [1n, 2n, 3n]);
  t.same(javaHashMapOrder([1n, 17n, 2n, 16n]), [16n, 1n, 17n, 2n], '16 buckets: 16 is bucket 0, 17 shares bucket 1');
  const many = [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n, 11n, 12n, 13n, 17n];
  t.same(javaHashMapOrder(many), [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n, 11n, 12n, 13n, 17n], '14 keys: 32 buckets');
  t.same(javaHashMapOrder([65537n, 2n]), [65537n, 2n], 'the high half is folded in: 0x10001 lands in bucket 0');
  t.same(javaHashMapOrder([1n, (1n << 32n) + 1n]), [(1n << 32n) + 1n, 1n], 'the upper 32 bits are xored in: 2^32+1 lands in bucket 0');
});

t.test('toString: member lines, the client part only when given, version in hex, no trailing newline', async (t) => {
  const v = new MajorityVerifier(
    [member(3), member(1, 'participant', '127.0.0.1:2181'), member(2, 'observer', '0.0.0.0:2182')],
    0x500000002n,
  );
  t.equal(
    v.toString(),
    'server.1=127.0.0.1:2001:3001:participant;127.0.0.1:2181\n' +
      'server.2=127.0.0.1:2002:3002:observer;0.0.0.0:2182\n' +
      'server.3=127.0.0.1:2003:3003:participant\n' +
      'version=500000002',
  );
  t.equal(javaHostString('::1'), '0:0:0:0:0:0:0:1');
  t.equal(javaHostString('fe80::a:b'), 'fe80:0:0:0:0:0:a:b');
  t.equal(javaHostString('::ffff:10.1.2.3'), '10.1.2.3');
  t.equal(javaHostString('zk1.example'), 'zk1.example');
});

t.test('the parser is the inverse of toString, and equals follows ZooKeeper', async (t) => {
  const cfg = configFrom([
    'server.1=127.0.0.1:2888:3888;127.0.0.1:2181',
    'server.2=127.0.0.1:2889:3889',
    'server.3=127.0.0.1:2890:3890:observer;2183',
  ]);
  const v = verifierFromConfig(cfg);
  t.ok(v instanceof MajorityVerifier);
  const text = v.toString();
  const back = parseQuorumVerifier(text);
  t.equal(back.toString(), text);
  t.ok(verifiersEqual(v, back));
  // Same members, another version: still equal (members match, client addresses included).
  const bumped = parseQuorumVerifier(text.replace('version=0', 'version=100000000'));
  t.equal(bumped.version, 0x100000000n);
  t.ok(verifiersEqual(v, bumped));
  // Another version and a client address dropped: different.
  const changed = parseQuorumVerifier(text.replace(';127.0.0.1:2181', '').replace('version=0', 'version=100000000'));
  t.notOk(verifiersEqual(v, changed));
  // Another version and a member turned observer: different.
  t.notOk(verifiersEqual(v, parseQuorumVerifier(text.replace('2889:3889:participant', '2889:3889:observer').replace('version=0', 'version=1'))));
  // Same version, whatever the members: equal (ZooKeeper's shortcut).
  t.ok(verifiersEqual(v, parseQuorumVerifier('server.9=h:1:2:participant\nversion=0')));

  const hcfg = configFrom(['server.1=127.0.0.1:2888:3888', 'server.2=127.0.0.1:2889:3889', 'group.1=1:2', 'weight.2=3']);
  const h = verifierFromConfig(hcfg);
  t.ok(h instanceof HierarchicalVerifier);
  t.equal(h.toString(), 'server.1=127.0.0.1:2888:3888:participant\nserver.2=127.0.0.1:2889:3889:participant\ngroup.1=1:2\nweight.1=1\nweight.2=3\nversion=0');
  const hback = parseQuorumVerifier(h.toString());
  t.ok(hback instanceof HierarchicalVerifier);
  t.equal(hback.toString(), h.toString());
  t.notOk(verifiersEqual(h, v), 'different kinds');
  t.notOk(verifiersEqual(h, parseQuorumVerifier(h.toString().replace('weight.2=3', 'weight.2=2').replace('version=0', 'version=1'))));
  t.throws(() => parseQuorumVerifier('server.1=127.0.0.1:1:2\nfoo=bar\nversion=0'), /unrecognised/);
  t.throws(() => parseQuorumVerifier('server.1=127.0.0.1:x:2\nversion=0'));
});

// ---------------------------------------------------------------------------------------------
// Differential: /zookeeper/config of a live ZooKeeper 3.8.0 quorum peer.

async function readConfigNode(zk: RunningServer): Promise<string> {
  const c = await ZkClient.connect(zk.host, zk.port);
  try {
    const reply = await c.getData('/zookeeper/config');
    if (reply.header.err !== 0) throw new Error(`getData /zookeeper/config: err ${reply.header.err}`);
    const data = R.decodeGetDataResponse(reply.reader as JuteReader).data;
    return (data ?? Buffer.alloc(0)).toString('utf8');
  } finally {
    c.destroy();
  }
}

async function ports(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await freePort());
  return out;
}

/**
 * Runs ZooKeeper as a one-voter quorum peer (standaloneEnabled=false) whose config also lists
 * members that never start: the string it serves depends only on its config.
 */
async function liveConfigString(t: { teardown(fn: () => unknown): void }, clientPort: number, lines: string[], extra: Record<string, string>): Promise<string> {
  return (await liveConfig(t, clientPort, lines, extra)).live;
}

/** Also returns the zoo.cfg ZooKeeper read, and the server's data dir (which holds myid). */
async function liveConfig(
  t: { teardown(fn: () => unknown): void },
  clientPort: number,
  lines: string[],
  extra: Record<string, string>,
): Promise<{ live: string; cfgText: string; dataDir: string }> {
  const extraConfig: Record<string, string> = { standaloneEnabled: 'false', initLimit: '10', syncLimit: '5', ...extra };
  for (const l of lines) {
    const eq = l.indexOf('=');
    extraConfig[l.slice(0, eq)] = l.slice(eq + 1);
  }
  const zk = await startReferenceZooKeeper({ port: clientPort, extraConfig, files: { 'data/myid': '1' } });
  t.teardown(() => zk.stop());
  const cfgText = fs.readFileSync(path.join(path.dirname(zk.dataDir), 'zoo.cfg'), 'utf8');
  return { live: await readConfigNode(zk), cfgText, dataDir: zk.dataDir };
}

t.test('differential: a majority config with client parts, observers, IPv6 and a 32-bucket table', async (t) => {
  const p = await ports(30);
  const clientPort = p[0];
  let i = 1;
  const q = (): string => `${p[i++]}:${p[i++]}`;
  // Fourteen members (a 32-bucket HashMap), no two in one bucket.
  const lines = [
    `server.1=127.0.0.1:${q()};127.0.0.1:${clientPort}`,
    `server.2=127.0.0.1:${q()}:observer;4001`,
    `server.17=localhost:${q()}:observer`,
    `server.35=[::1]:${q()}:observer;[::1]:4002`,
    `server.20=127.0.0.1:${q()}:observer`,
    `server.5=127.0.0.1:${q()}:observer;127.0.0.5:4005`,
    `server.6=127.0.0.1:${q()}:observer`,
    `server.7=127.0.0.1:${q()}:observer`,
    `server.9=127.0.0.1:${q()}:observer`,
    `server.40=127.0.0.1:${q()}:observer`,
    `server.100=127.0.0.1:${q()}:observer`,
    `server.65537=127.0.0.1:${q()}:observer`,
    `server.12=127.0.0.1:${q()}:observer`,
    `server.13=127.0.0.1:${q()}:observer`,
  ];
  const live = await liveConfigString(t, clientPort, lines, {});
  const ours = verifierFromConfig(configFrom(lines, clientPort)).toString();
  t.equal(ours, live, 'verifierFromConfig(zoo.cfg).toString() = ZooKeeper\'s /zookeeper/config');
  t.equal(parseQuorumVerifier(live).toString(), live, 'parsing ZooKeeper\'s string gives it back');
});

t.test('differential: sids sharing a hash bucket keep ZooKeeper\'s order (its Properties iteration)', async (t) => {
  const p = await ports(40);
  const clientPort = p[0];
  let i = 1;
  const q = (): string => `${p[i++]}:${p[i++]}`;
  // 1, 33 and 65 share a bucket of 32; so do 8, 40 and 1000; 2 and 34; 3, 19 (of 16) and so on.
  const lines = [1, 33, 65, 2, 34, 8, 40, 1000, 3, 19, 35, 51, 4, 100, 132, 7].map((sid) =>
    sid === 1 ? `server.1=127.0.0.1:${q()}` : `server.${sid}=127.0.0.1:${q()}:observer`,
  );
  const { live, cfgText, dataDir } = await liveConfig(t, clientPort, lines, {});
  const config = loadConfig(cfgText, new Map(), dataDir);
  t.equal(verifierFromConfig(config, { propertiesText: cfgText }).toString(), live, 'with the zoo.cfg text: ZooKeeper\'s order');
  // A string parsed back is a Properties of other keys, so colliding sids may come out in another
  // order (in ZooKeeper too): the same lines, an equal verifier.
  const reparsed = parseQuorumVerifier(live);
  t.same(reparsed.toString().split('\n').sort(), live.split('\n').sort());
  t.ok(verifiersEqual(reparsed, verifierFromConfig(config)));
  // Lines listed in another order (a different Properties layout) still parse to an equal verifier.
  const shuffled = live.split('\n').reverse().join('\n');
  t.ok(verifiersEqual(parseQuorumVerifier(shuffled), parseQuorumVerifier(live)));
});

t.test('differential: the static client port is left out of the member line', async (t) => {
  const p = await ports(7);
  const clientPort = p[0];
  const lines = [
    `server.1=127.0.0.1:${p[1]}:${p[2]}`,
    `server.2=127.0.0.1:${p[3]}:${p[4]}:observer;127.0.0.1:${p[5]}`,
    `server.3=127.0.0.1:${p[6]}:${p[6] + 1}:observer`,
  ];
  const live = await liveConfigString(t, clientPort, lines, {});
  t.equal(verifierFromConfig(configFrom(lines, clientPort)).toString(), live);
  t.notMatch(live, new RegExp(`;.*:${clientPort}`), 'no client part for server 1');
});

t.test('differential: a hierarchical config with weight-0 participants, version set by the first leader', async (t) => {
  const p = await ports(9);
  const clientPort = p[0];
  const lines = [
    `server.1=127.0.0.1:${p[1]}:${p[2]}`,
    `server.2=127.0.0.1:${p[3]}:${p[4]};127.0.0.1:${p[5]}`,
    `server.3=127.0.0.1:${p[6]}:${p[7]}`,
    `server.4=127.0.0.1:${p[8]}:${p[8] + 1}:observer`,
    'group.1=1',
    'group.2=3:2',
    'weight.2=0',
    'weight.3=0',
  ];
  const live = await liveConfigString(t, clientPort, lines, { reconfigEnabled: 'true', 'zookeeper.skipACL': 'yes' });
  const cfg = configFrom(lines, clientPort);
  const fromCfg = verifierFromConfig(cfg) as HierarchicalVerifier;
  t.ok(fromCfg instanceof HierarchicalVerifier);
  // With reconfig on, the first leader stamps its epoch-1 zxid as the version.
  const stamped = new HierarchicalVerifier(fromCfg.members.values(), new Map([[1n, [1n]], [2n, [3n, 2n]]]), fromCfg.serverWeight, 1n << 32n);
  t.equal(stamped.toString(), live);
  const parsed = parseQuorumVerifier(live);
  t.ok(parsed instanceof HierarchicalVerifier);
  t.equal(parsed.toString(), live);
  t.ok(verifiersEqual(parsed, fromCfg), 'same members, weights and groups: equal despite the version');
});
