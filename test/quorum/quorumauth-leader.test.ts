// Quorum SASL on a zkts-only ensemble (in-process members, SASL required everywhere): it forms and
// commits, and the leader's quorum port closes connections that do not authenticate, that send a
// hostile token length, that give a wrong password, or that stay silent past tickTime x initLimit,
// each with a log line, while its followers stay and writes go on committing.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { Err } from '../../src/protocol/constants';
import { QuorumAuthLearner } from '../../src/quorum/quorumauth';
import { AuthStatus, encodeAuthPacket } from '../../src/quorum/wire/authpacket';
import { DigestMd5Client } from '../../src/server/sasl/digestmd5client';
import { QUORUM_SASL_PROTOCOL, QUORUM_SASL_SERVER_NAME } from '../../src/server/sasl/quorumlogin';
import { ZkClient, waitFor } from '../util/client';
import { HOST, memberPorts, newDataDir, startZktsMember, type ZktsMember } from './members';

const WAIT_MS = 30_000;
// tickTime 500 ms x initLimit 10.
const INIT_LIMIT_MS = 5_000;

interface Closed {
  afterMs: number | 'still open';
  received: Buffer;
}

/** Connects, writes `bytes` (and the answers `reply` gives), resolves when the leader closes. */
function exchange(port: number, bytes: Buffer, boundMs: number, reply?: (got: Buffer) => Buffer | undefined): Promise<Closed> {
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const s = net.connect({ host: HOST, port }, () => {
      if (bytes.length > 0) s.write(bytes);
    });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ afterMs: 'still open', received: Buffer.concat(chunks) });
    }, boundMs);
    s.on('data', (c) => {
      chunks.push(c);
      const answer = reply?.(c);
      if (answer) s.write(answer);
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ afterMs: Date.now() - started, received: Buffer.concat(chunks) });
    });
  });
}

t.test('a zkts-only ensemble with quorum SASL required: forms, commits, and its leader refuses bad learners', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zkts-qsasl-leader-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const jaas = path.join(dir, 'jaas.conf');
  fs.writeFileSync(
    jaas,
    'QuorumServer { org.apache.zookeeper.server.auth.DigestLoginModule required user_test="test"; };\nQuorumLearner { org.apache.zookeeper.server.auth.DigestLoginModule required username="test" password="test"; };\n',
  );
  const ports = await memberPorts(3);
  const members: ZktsMember[] = [];
  const logs: string[][] = [[], [], []];
  t.teardown(async () => {
    for (const m of members) await m.stop();
  });
  const extra = ['quorum.auth.enableSasl=true', 'quorum.auth.learnerRequireSasl=true', 'quorum.auth.serverRequireSasl=true'];
  for (const sid of [1, 2, 3]) {
    members.push(await startZktsMember(sid, newDataDir(sid, (f) => t.teardown(f)), ports, extra, [], { systemProps: { 'java.security.auth.login.config': jaas }, logLines: logs[sid - 1] }));
  }
  await waitFor(() => members.every((m) => m.server.notServing === undefined), 'all serving', WAIT_MS);
  const leader = members.find((m) => m.peer.role === 'leading')!;
  t.ok(leader, 'a leader');
  const leaderLog = logs[leader.sid - 1];
  const quorumPort = ports[leader.sid - 1].quorum;
  const c = await ZkClient.connect(HOST, ports[leader.sid - 1].client);
  t.teardown(() => c.destroy());
  let n = 0;
  const writes = async (what: string) => t.equal((await c.create(`/w${n++}`, Buffer.from(what))).header.err, Err.OK, `a write commits ${what}`);
  await writes('at the start');
  t.equal(leaderLog.filter((l) => l.includes('quorum SASL: authenticated the learner')).length >= 2, true, 'the leader authenticated both followers');
  const failures = () => leaderLog.filter((l) => l.includes('Server failed to authenticate quorum learner')).length;

  // FOLLOWERINFO without authenticating.
  const followerInfo = Buffer.from('0000000b000000000000000000000014000000000000000900010000000000000000ffffffff', 'hex');
  const before = failures();
  const plain = await exchange(quorumPort, followerInfo, 3000);
  t.type(plain.afterMs, 'number', 'a learner that does not authenticate: closed');
  t.equal(plain.received.length, 0, 'with nothing said');
  t.ok(leaderLog.some((l) => l.includes('Learner not trying to authenticate and authentication is required')), 'logged');
  await writes('after an unauthenticated learner');

  const huge = encodeAuthPacket(AuthStatus.IN_PROGRESS, null);
  huge.writeInt32BE(0x7fffffff, 12);
  t.type((await exchange(quorumPort, huge, 3000)).afterMs, 'number', 'a 2 GiB token length: closed');
  t.ok(leaderLog.some((l) => l.includes('out of bounds')), 'logged');

  // A wrong password through the real learner machine: the leader answers ERROR and closes.
  const learner = new QuorumAuthLearner(new DigestMd5Client({ username: 'test', password: 'nope', authzid: 'test', protocol: QUORUM_SASL_PROTOCOL, serverName: QUORUM_SASL_SERVER_NAME }));
  const wrong = await exchange(quorumPort, learner.start().send[0], 3000, (got) => learner.push(got).send[0]);
  t.type(wrong.afterMs, 'number', 'a wrong password: closed');
  t.equal(wrong.received.subarray(wrong.received.length - 16).toString('hex'), '5f2435013501edccffffffff00000000', 'the last answer is ERROR with an empty token');
  t.ok(leaderLog.some((l) => l.includes('Mismatched response')), 'logged: Mismatched response');

  const silent = await exchange(quorumPort, encodeAuthPacket(AuthStatus.IN_PROGRESS, Buffer.alloc(0)), INIT_LIMIT_MS + 3000);
  t.type(silent.afterMs, 'number', 'a learner silent after its first packet: closed');
  t.ok((silent.afterMs as number) >= INIT_LIMIT_MS - 200, `at tickTime x initLimit (${String(silent.afterMs)} ms)`);
  t.ok(failures() - before >= 4, 'each refusal logged');
  await writes('after all of them');
  t.equal(members.filter((m) => m.peer.role === 'following').length, 2, 'both followers stayed');
});
