// Hostile and broken input on a zkts leader's quorum port: garbage, a huge length, a first packet
// of the wrong type, a learner that says FOLLOWERINFO and then nothing, and one that never says a
// word. Each connection is closed by the leader within its bound, and the ensemble keeps committing
// writes with its two real followers throughout.
import * as net from 'node:net';
import t from 'tap';
import { Err } from '../../src/protocol/constants';
import { ZkClient } from '../util/client';
import { encodeLearnerInfo, PacketType, quorumPacketBytes, ZAB_PROTOCOL_VERSION } from '../../src/quorum/wire/packets';
import { HOST, memberPorts, newDataDir, startZktsMember, type ZktsMember } from './members';
import { waitFor } from '../util/client';

const WAIT_MS = 30_000;
// tickTime 500 ms, initLimit 10 ticks: a learner has 5 s to get through its sync.
const INIT_LIMIT_MS = 5_000;

/** Connects, writes `bytes`, and resolves with how long the leader took to close the connection. */
function closedAfter(port: number, bytes: Buffer, boundMs: number): Promise<number | 'still open'> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = net.connect({ host: HOST, port }, () => {
      if (bytes.length > 0) s.write(bytes);
    });
    const timer = setTimeout(() => {
      s.destroy();
      resolve('still open');
    }, boundMs);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

t.test("a zkts leader closes hostile quorum-port connections and goes on serving", async (t) => {
  const ports = await memberPorts(3);
  const members: ZktsMember[] = [];
  t.teardown(async () => {
    for (const m of members) await m.stop();
  });
  for (const sid of [3, 2, 1]) members.push(await startZktsMember(sid, newDataDir(sid, (f) => t.teardown(f)), ports));
  await waitFor(() => members.every((m) => m.server.notServing === undefined), 'all serving', WAIT_MS);
  const leader = members.find((m) => m.peer.role === 'leading')!;
  t.ok(leader, 'a leader');
  const quorumPort = ports[leader.sid - 1].quorum;
  const c = await ZkClient.connect(HOST, ports[leader.sid - 1].client);
  let n = 0;
  const writes = async (what: string) => t.equal((await c.create(`/w${n++}`, Buffer.from(what))).header.err, Err.OK, `a write commits ${what}`);

  const garbage = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  t.type(await closedAfter(quorumPort, garbage, 3000), 'number', 'garbage: closed');
  await writes('after garbage');

  const huge = Buffer.alloc(20);
  huge.writeInt32BE(PacketType.FOLLOWERINFO, 0);
  huge.writeBigInt64BE(0n, 4);
  huge.writeInt32BE(0x7fffffff, 12);
  t.type(await closedAfter(quorumPort, huge, 3000), 'number', 'a 2 GiB data length: closed before any of it is read');
  await writes('after a huge length');

  const wrongFirst = quorumPacketBytes({ type: PacketType.ACK, zxid: 1n, data: null, authinfo: null });
  t.type(await closedAfter(quorumPort, wrongFirst, 3000), 'number', 'an ACK as the first packet: closed');
  const unknown = quorumPacketBytes({ type: 77, zxid: 0n, data: null, authinfo: null });
  t.type(await closedAfter(quorumPort, unknown, 3000), 'number', 'a packet of an unknown type: closed');
  await writes('after wrong packets');

  // A learner that sends FOLLOWERINFO, gets LEADERINFO, and then says nothing more: closed once
  // initLimit has passed; so is one that never says a word.
  const info = quorumPacketBytes({
    type: PacketType.FOLLOWERINFO,
    zxid: 0n,
    data: encodeLearnerInfo({ sid: 9n, protocolVersion: ZAB_PROTOCOL_VERSION, configVersion: 0n }),
    authinfo: null,
  });
  const [afterInfo, silent] = await Promise.all([closedAfter(quorumPort, info, INIT_LIMIT_MS * 3), closedAfter(quorumPort, Buffer.alloc(0), INIT_LIMIT_MS * 3)]);
  t.type(afterInfo, 'number', `FOLLOWERINFO then silence: closed (after ${afterInfo} ms)`);
  t.type(silent, 'number', `a connection that never says a word: closed (after ${silent} ms)`);
  await writes('after silent learners');
  t.equal(leader.peer.role, 'leading', 'the leader kept its role throughout');
  c.destroy();
});
