// Quorum SASL on the election port over loopback sockets: two connection managers authenticating
// each other before the which-connection-survives rule, a wrong password that keeps a link from
// ever forming, and raw sockets playing peers that send hostile lengths, stay silent, or do not
// authenticate at all.
import t from 'tap';
import pino from 'pino';
import * as net from 'node:net';
import { quorumAuthFactories } from '../../src/quorum/authshell';
import { ElectionPeers, type ReceivedNotification } from '../../src/quorum/peers';
import { PeerState } from '../../src/quorum/vote';
import { AuthStatus, encodeAuthPacket } from '../../src/quorum/wire/authpacket';
import { encodeFrame, encodeInitialMessage, encodeNotification, type ElectionAddress } from '../../src/quorum/wire/election';
import type { QuorumSaslSettings } from '../../src/server/sasl/quorumlogin';
import { waitFor } from '../util/client';
import { freePort } from '../util/servers';

const HOST = '127.0.0.1';

interface LogLine {
  level: number;
  msg: string;
  reason?: string;
}

const started: ElectionPeers[] = [];
t.teardown(async () => {
  for (const p of started) await p.close();
});

function settings(password: string, required: boolean): QuorumSaslSettings {
  return {
    learnerRequireSasl: required,
    serverRequireSasl: required,
    learnerLoginContext: 'QuorumLearner',
    serverLoginContext: 'QuorumServer',
    servicePrincipal: 'zkquorum/localhost',
    learner: { username: 'test', password },
    users: new Map([['test', 'test']]),
    cnxnThreadsSize: 20,
  };
}

async function manager(sid: bigint, view: Map<bigint, ElectionAddress>, s: QuorumSaslSettings, handshakeTimeoutMs = 2000) {
  const received: ReceivedNotification[] = [];
  const logs: LogLine[] = [];
  const peers = new ElectionPeers({
    mySid: sid,
    listenAddress: view.get(sid) as ElectionAddress,
    peers: view,
    handshakeTimeoutMs,
    logger: pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) }),
    onNotification: (r) => received.push(r),
    auth: quorumAuthFactories(s, () => new Set([HOST])),
  });
  started.push(peers);
  await peers.start();
  return { peers, received, logs };
}

async function view(n: number): Promise<Map<bigint, ElectionAddress>> {
  const m = new Map<bigint, ElectionAddress>();
  for (let i = 1; i <= n; i++) m.set(BigInt(i), { host: HOST, port: await freePort() });
  return m;
}

const vote = (leader: bigint) => ({ state: PeerState.LOOKING, leader, zxid: 0n, electionEpoch: 1n, peerEpoch: 0n, config: 'version=0' });
const logged = (logs: LogLine[], text: string) => logs.some((l) => l.msg.includes(text) || (l.reason ?? '').includes(text));

/** A raw client: connects and resolves when the server closes, with what it received. */
function rawPeer(address: ElectionAddress, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(address.port, address.host, () => s.write(bytes));
    s.on('data', (c) => chunks.push(c));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

t.test('both sides required, same password: the smaller sid authenticates and closes, the larger connects back, authenticates, and the link carries votes', async (t) => {
  const v = await view(2);
  const a = await manager(1n, v, settings('test', true));
  const b = await manager(2n, v, settings('test', true));
  a.peers.send(2n, vote(1n));
  await waitFor(() => b.received.length > 0 && a.peers.isConnected(2n), 'the link and the vote', 10_000);
  t.equal(b.received[0].sid, 1n, 'sid 2 got sid 1\'s vote over the authenticated link');
  t.ok(logged(b.logs, 'quorum SASL: authenticated the connecting server'), 'sid 2 authenticated sid 1');
  t.ok(logged(a.logs, 'quorum SASL: authenticated the connecting server'), 'sid 1 authenticated sid 2 when it connected back');
  b.peers.send(1n, vote(2n));
  await waitFor(() => a.received.length > 0, 'the vote back', 10_000);
  t.equal(a.received[0].sid, 2n);
});

t.test('a wrong learner password: refused each time, no link in either direction', async (t) => {
  const v = await view(2);
  const a = await manager(1n, v, settings('test', true));
  const b = await manager(2n, v, settings('wrong', true));
  a.peers.send(2n, vote(1n));
  b.peers.send(1n, vote(2n));
  // Sid 2's connection is refused at sid 1; sid 1's own connection authenticates at sid 2 (whose
  // server side knows the password) and is closed as the smaller sid's, and sid 2's call back fails.
  await waitFor(
    () => logged(a.logs, 'failed to authenticate the connecting server') && logged(b.logs, 'quorum SASL: authenticated the connecting server') && logged(b.logs, 'quorum SASL authentication failed'),
    'both directions tried',
    10_000,
  );
  t.ok(logged(a.logs, 'Mismatched response'), 'sid 1 logs why');
  t.ok(logged(b.logs, 'quorum SASL authentication failed'), 'sid 2 logs its failure');
  t.notOk(a.peers.isConnected(2n), 'no link at sid 1');
  t.notOk(b.peers.isConnected(1n), 'no link at sid 2');
  t.same([a.received.length, b.received.length], [0, 0], 'no vote crossed');
});

t.test('raw peers: a hostile token length, silence, and no authentication, with SASL required and not', async (t) => {
  const v = await view(1);
  const required = await manager(1n, v, settings('test', true), 300);
  const initial = encodeInitialMessage(9n, [{ host: HOST, port: 1 }]);
  const huge = encodeAuthPacket(AuthStatus.IN_PROGRESS, null);
  huge.writeInt32BE(0x7fffffff, 12);
  t.equal((await rawPeer(v.get(1n)!, Buffer.concat([initial, huge]))).length, 0, 'a 2 GiB token length: closed without an answer');
  t.ok(logged(required.logs, 'out of bounds'), 'logged');
  const t0 = Date.now();
  await rawPeer(v.get(1n)!, initial);
  t.ok(Date.now() - t0 >= 250, 'silence: closed at the timeout');
  t.ok(logged(required.logs, 'Learner not trying to authenticate and authentication is required'), 'logged as ZooKeeper words it');
  const frame = encodeFrame(encodeNotification(vote(9n)));
  await rawPeer(v.get(1n)!, Buffer.concat([initial, frame]));
  t.equal(required.received.length, 0, 'required: a peer that sends a vote instead is refused');

  const v2 = await view(1);
  const open = await manager(1n, v2, settings('test', false));
  const s = net.connect(v2.get(1n)!.port, HOST, () => s.write(Buffer.concat([initial, frame])));
  s.on('error', () => undefined);
  t.teardown(() => s.destroy());
  await waitFor(() => open.received.length > 0, 'the vote', 10_000);
  t.equal(open.received[0].sid, 9n, 'not required: the unauthenticated peer\'s vote is delivered, its bytes intact');
  t.ok(open.peers.isConnected(9n));
});
