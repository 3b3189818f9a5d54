// Read-only mode on one server, driven directly (the quorum peer turns it on and off in an
// ensemble; test/quorum/readonly.test.ts runs it against ZooKeeper): what the four-letter words and
// the AdminServer commands say in each state, local expiry of read-only sessions without a txn,
// and the read-only clients dropped when the mode ends. Then one member of an ensemble alone:
// read-only after the grace period, no txn from anyone (the admin console's writes refused too).
import t from 'tap';
import { findCommand } from '../src/admin/commands';
import { Err, OpCode } from '../src/protocol/constants';
import { HOST, memberPorts, newDataDir, startZktsMember } from './quorum/members';
import { OPEN_ACL, startInProcessZkts, waitFor, ZkClient } from './util/client';

t.test('read-only mode: isro, srvr, mntr and the AdminServer in each state', async (t) => {
  const zk = await startInProcessZkts({ '4lw.commands.whitelist': '*', tickTime: '100' });
  t.teardown(() => zk.stop());
  const { server } = zk;
  const words = server.fourLetterWords;
  const rw = await ZkClient.connect(zk.host, zk.port);
  t.equal((await rw.create('/a', Buffer.from('x'))).header.err, Err.OK);
  const zxid = server.lastProcessedZxid;

  t.equal(words.run('isro'), 'rw', 'serving with a role: rw');
  t.same(findCommand('isro')!.run(words.context, {}).data, { read_only: false });
  t.throws(() => server.startReadOnly(), /serving clients/, 'read-only mode only while the role keeps the server from serving');

  server.setRoleProblem('no leader yet (LOOKING)');
  await waitFor(() => rw.closed, 'the client dropped when the role is lost');
  t.equal(words.run('isro'), 'null', 'no server behind the port: null');
  t.equal(words.run('srvr'), 'This ZooKeeper instance is not currently serving requests\n');

  server.startReadOnly();
  t.equal(words.run('isro'), 'ro');
  t.same(findCommand('isro')!.run(words.context, {}).data, { read_only: true });
  t.equal(findCommand('stats')!.run(words.context, {}).data.read_only, true);
  const srvr = words.run('srvr');
  t.match(srvr, /^Zookeeper version: .*\nREAD-ONLY mode; serving only read-only clients\nLatency min/);
  t.match(srvr, /^Mode: read-only$/m);
  t.match(srvr, new RegExp(`^Zxid: 0x${zxid.toString(16)}$`, 'm'));
  t.match(words.run('stat'), /^Zookeeper version: .*\nREAD-ONLY mode; serving only read-only clients\nClients:\n/);
  const mntr = words.run('mntr');
  t.match(mntr, /^zk_server_state\tread-only$/m);

  // A read-only session that stops pinging expires here, without a txn.
  const idle = await ZkClient.connect(zk.host, zk.port, { readOnly: true, timeoutMs: 200, keepAlive: false });
  t.equal(idle.connectResponse.readOnly, true);
  t.equal(idle.connectResponse.timeOut, 200, 'twice the tick, the minimum');
  await waitFor(() => idle.closed, 'the idle read-only session to expire', 5000);
  t.equal(server.lastProcessedZxid, zxid, 'expiry of a read-only session is no txn');
  const back = await ZkClient.connect(zk.host, zk.port, { readOnly: true, sessionId: idle.sessionId, passwd: idle.passwd });
  t.equal(back.connectResponse.sessionId, 0n, 'an expired read-only session is gone');
  t.equal(await back.raw.waitClosed(), true);

  // The mode ends: read-only clients are dropped, and new ones refused until the role serves.
  const ro = await ZkClient.connect(zk.host, zk.port, { readOnly: true });
  t.equal((await ro.getData('/a')).header.err, Err.OK);
  server.stopReadOnly();
  t.equal(await ro.raw.waitClosed(), true, 'read-only client dropped when the mode ends');
  t.equal(words.run('isro'), 'null');
  await t.rejects(ZkClient.connect(zk.host, zk.port, { readOnly: true }), /closed/);
  server.setRoleProblem(undefined);
  t.equal(words.run('isro'), 'rw');
  const after = await ZkClient.connect(zk.host, zk.port, { readOnly: true });
  t.equal(after.connectResponse.readOnly, false, 'a read-only capable client of a read-write server');
  t.equal((await after.setData('/a', Buffer.from('y'))).header.err, Err.OK);
  after.destroy();
});

t.test('a lone ensemble member goes read-only after the grace period and writes nothing', async (t) => {
  const ports = await memberPorts(3);
  const dataDir = newDataDir(1, (f) => t.teardown(f));
  const startedAtMs = Date.now();
  const member = await startZktsMember(1, dataDir, ports, [], [], { systemProps: { 'readonlymode.enabled': 'true' } });
  t.teardown(() => member.stop());
  const { server } = member;
  const words = server.fourLetterWords;
  t.equal(words.run('isro'), 'null', 'looking, before the grace period: no server');
  await waitFor(() => server.readOnly, 'read-only mode', 10_000);
  t.ok(Date.now() - startedAtMs >= 2000, 'not before max(2 s, tickTime)');
  t.equal(member.peer.role, 'looking', 'still looking for a leader');
  t.equal(words.run('isro'), 'ro');
  const zxid = server.lastProcessedZxid;
  // The admin console's writes are refused too: a txn no leader proposed.
  await t.rejects(server.submitInternalWrite({ type: OpCode.create, record: { path: '/x', data: null, acl: OPEN_ACL, flags: 0 } }, []), /read-only/);
  const ro = await ZkClient.connect(HOST, ports[0].client, { readOnly: true });
  t.equal(ro.connectResponse.readOnly, true);
  t.equal(BigInt.asUintN(64, ro.sessionId) >> 56n, 1n, 'the member id in the top byte');
  t.equal((await ro.create('/y')).header.err, Err.NOTREADONLY);
  t.equal(server.lastProcessedZxid, zxid, 'nothing was written');
  // Stopping the member ends the mode and drops its clients.
  await member.stop();
  t.equal(await ro.raw.waitClosed(), true);
  t.equal(server.readOnly, false);
});
