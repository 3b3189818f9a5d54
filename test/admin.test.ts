// The admin command registry and its two renderings: ZooKeeper's 4lw text and its Jackson JSON.
import t from 'tap';
import * as http from 'node:http';
import * as net from 'node:net';
import pino from 'pino';
import { AdminServer, AdminServerError } from '../src/admin/adminserver';
import { COMMANDS, commandResponse, findCommand, monitorValues, parseJavaLong, primaryNames } from '../src/admin/commands';
import { javaDate } from '../src/admin/fourletter';
import { javaDouble, toJackson } from '../src/admin/json';
import { MNTR_LAYOUT } from '../src/admin/mntrkeys';
import { parseSnapshot } from '../src/storage/snapshot';
import { startInProcessZkts, ZkClient } from './util/client';

function get(port: number, path: string): Promise<{ status: number; body: string; type: string | undefined }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: res.headers['content-type'] }));
      })
      .on('error', reject);
  });
}

t.test('Jackson-style JSON', async (t) => {
  t.equal(toJackson({}), '{ }');
  t.equal(toJackson({ a: [] }), '{\n  "a" : [ ]\n}');
  t.equal(toJackson({ a: 1, b: 'x', c: null, d: true }), '{\n  "a" : 1,\n  "b" : "x",\n  "c" : null,\n  "d" : true\n}');
  t.equal(toJackson({ avg: javaDouble(0), x: javaDouble(1.5) }), '{\n  "avg" : 0.0,\n  "x" : 1.5\n}', 'doubles keep a fraction');
  t.equal(toJackson({ sid: 72057863445086209n }), '{\n  "sid" : 72057863445086209\n}', 'longs stay exact');
  t.equal(toJackson({ ids: [1n, 2n], m: { '5': ['/e'] } }), '{\n  "ids" : [ 1, 2 ],\n  "m" : {\n    "5" : [ "/e" ]\n  }\n}');
  t.equal(toJackson({ c: [{ a: 1 }, { a: 2 }] }), '{\n  "c" : [ {\n    "a" : 1\n  }, {\n    "a" : 2\n  } ]\n}', 'objects in arrays as Jackson nests them');
});

t.test('responses carry command and error, in ZooKeeper order', async (t) => {
  t.same(Object.keys(commandResponse('ruok', {})), ['command', 'error']);
  t.same(commandResponse('ruok', {}), { command: 'ruok', error: null });
  t.same(Object.keys(commandResponse('leader', { error: 'server is not initialized' })), ['error', 'command'], 'an error put by the command stays first');
  t.same(commandResponse('x', {}, 'Unknown command: x'), { command: 'x', error: 'Unknown command: x' });
});

t.test('registry: names and aliases', async (t) => {
  const seen = new Set<string>();
  for (const c of COMMANDS) for (const n of c.names) {
    t.notOk(seen.has(n), `${n} registered once`);
    seen.add(n);
  }
  t.equal(findCommand('mntr')?.names[0], 'monitor');
  t.equal(findCommand('srvr')?.names[0], 'server_stats');
  t.equal(findCommand('stat')?.names[0], 'stats');
  t.equal(findCommand('wchp')?.names[0], 'watches_by_path');
  t.equal(findCommand('nope'), undefined);
  t.same(primaryNames(), [...primaryNames()].sort(), 'listed sorted');
  t.ok(findCommand('snapshot')?.authRequired && findCommand('restore')?.post, '3.9 snapshot/restore are guarded');
  t.equal(parseJavaLong('42'), 42n);
  t.equal(parseJavaLong('9223372036854775808'), undefined, 'beyond a long');
  t.equal(parseJavaLong('0x10'), undefined);
  t.equal(javaDate(Date.UTC(2026, 10, 25, 7, 45, 49)), 'Wed Nov 25 07:45:49 UTC 2026');
});

t.test('4lw text and JSON from the same data', async (t) => {
  const zk = await startInProcessZkts({ '4lw.commands.whitelist': '*' });
  t.teardown(() => zk.stop());
  const c = await ZkClient.connect(zk.host, zk.port);
  t.teardown(() => c.destroy());
  await c.create('/app', Buffer.from('data'));
  await c.create('/app/eph', null, 1);
  await c.getData('/app', true);
  await c.getChildren('/app', true);
  const s = zk.server;
  const words = s.fourLetterWords;

  const values = monitorValues(s, Date.now());
  const fixed = MNTR_LAYOUT.reduce((n, e) => n + (e.startsWith('%P') ? 9 : e.startsWith('%S') ? 5 : 1), 0);
  t.equal(values.length, fixed + 10 + 9, 'the fixed keys, then app_read/app_write per-namespace summaries, then zkts\'s own');
  t.same(values.slice(-19, -9).map(([k]) => k).filter((k) => k.startsWith('avg_')), ['avg_app_read_per_namespace', 'avg_app_write_per_namespace']);
  t.same(values.slice(-9), [
    ['zkts_storage_writable', 1],
    ['zkts_writes_abandoned_count', 0],
    ['zkts_output_paused_connections', 0],
    ['zkts_output_pending_bytes', 0],
    ['zkts_output_pause_count', 0],
    ['zkts_output_overflow_closed_count', 0],
    ['zkts_client_sockets_allowed', s.clientSocketsAllowed],
    ['zkts_descriptor_reserve_refused_count', 0],
    ['zkts_accept_error_count', 0],
  ]);
  const mntr = words.run('mntr');
  t.match(mntr, /^zk_version\t.*\nzk_server_state\tstandalone\n/);
  t.match(mntr, /^zk_znode_count\t7$/m, 'root twice, /zookeeper, quota, config, /app, /app/eph');
  t.match(mntr, /^zk_watch_count\t2$/m, 'a data and a child watch');
  t.match(mntr, /^zk_ephemerals_count\t1$/m);
  t.match(mntr, /^zk_avg_latency\t\d+(\.\d+)?$/m);
  t.match(mntr, /^zk_avg_fsynctime\t0\.0$/m, 'an in-memory server never fsyncs: 0.0');
  t.match(mntr, /^zk_avg_proposal_latency\t0\.0$/m, 'quorum summaries: 0.0 in standalone');
  const json = findCommand('monitor')!.run(words.context, {});
  t.same(Object.keys(json.data), values.map(([k]) => k), 'JSON monitor: the same keys');
  t.equal(json.data.znode_count, 7);

  t.equal(words.run('wchs'), '1 connections watching 1 paths\nTotal watches:1\n', 'wchs counts data watches');
  const sid = '0x' + c.sessionId.toString(16);
  t.equal(words.run('wchc'), `${sid}\n\t/app\n\n`);
  t.equal(words.run('wchp'), `/app\n\t${sid}\n\n`);
  t.match(words.run('dump'), new RegExp(`Sessions with Ephemerals \\(1\\):\\n${sid}:\\n\\t/app/eph\\n`));
  t.match(words.run('conf'), /^clientPort=\d+\nsecureClientPort=-1\ndataDir=.*version-2\ndataDirSize=\d+\n/);
  t.match(words.run('envi'), /^Environment:\nzookeeper\.version=.*\nhost\.name=/);
  t.equal(words.run('gtmk'), '306');
  const mask = Buffer.alloc(8);
  mask.writeBigInt64BE(5n);
  t.equal(words.run('stmk', mask), '5', 'stmk takes the long after the word');
  t.equal(words.run('gtmk'), '5');
  t.equal(words.run('stmk'), '', 'stmk without a mask answers nothing');
  t.equal(words.run('isro'), 'rw');
  t.equal(words.run('hash'), '');
  t.match(words.run('dirs'), /^datadir_size: \d+\nlogdir_size: \d+\n$/);
  t.match(words.run('cons'), /sid=0x[0-9a-f]+,lop=GETC,est=\d+,to=\d+,lcxid=0x\d+,lzxid=0x[0-9a-f]+,lresp=0,llat=\d+,minlat=\d+,avglat=\d+,maxlat=\d+\)\n/);
  t.equal(words.run('crst'), 'Connection stats reset.\n');
  t.equal(words.run('srst'), 'Server stats reset.\n');
  t.match(words.run('srvr'), /^Received: 0$/m, 'srst cleared the packet counters');
});

t.test('AdminServer over HTTP', async (t) => {
  const zk = await startInProcessZkts({ 'admin.serverPort': '0', 'admin.serverAddress': '127.0.0.1' });
  t.teardown(() => zk.stop());
  const admin = new AdminServer(zk.server, pino({ level: 'silent' }));
  await admin.start();
  t.teardown(() => admin.stop());
  const port = admin.address().port;

  const list = await get(port, '/commands');
  t.equal(list.status, 200);
  t.equal(list.body, primaryNames().map((n) => `<a href="/commands/${n}">${n}</a>\n<br/>\n`).join(''));
  const ruok = await get(port, '/commands/ruok');
  t.equal(ruok.type, 'application/json');
  t.equal(ruok.body, '{\n  "command" : "ruok",\n  "error" : null\n}');
  const srvr = JSON.parse((await get(port, '/commands/srvr')).body);
  t.equal(srvr.command, 'server_stats', 'an alias answers with the primary name');
  t.equal(srvr.server_stats.server_state, 'standalone');
  t.same(JSON.parse((await get(port, '/commands/nope')).body), { command: 'nope', error: 'Unknown command: nope' });
  t.same(JSON.parse((await get(port, '/commands/stmk?traceMask=12')).body), { tracemask: 12, command: 'set_trace_mask', error: null });
  t.same(JSON.parse((await get(port, '/commands/set_trace_mask?traceMask=x')).body), {
    error: 'setTraceMask requires long traceMask argument, got x',
    command: 'set_trace_mask',
  });
  const snap = await get(port, '/commands/snapshot');
  t.equal(snap.status, 401);
  t.same(JSON.parse(snap.body), { command: 'snapshot', error: 'Auth info is missing for the command' });
  t.equal((await get(port, '/elsewhere')).status, 404);

  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const busyPort = (blocker.address() as net.AddressInfo).port;
  const busy = new AdminServer(Object.create(zk.server, { config: { value: { ...zk.server.config, adminServerPort: busyPort } } }), pino({ level: 'silent' }));
  await t.rejects(busy.start(), AdminServerError);
  await t.rejects(busy.start(), { message: new RegExp(`^Problem starting AdminServer on address 127\\.0\\.0\\.1, port ${busyPort} and command URL /commands`) });
});

function request(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Buffer; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts), headers: res.headers }));
      })
      .on('error', reject);
  });
}

function mntrOf(s: Parameters<typeof monitorValues>[0]): Map<string, unknown> {
  return new Map(monitorValues(s, Date.now()));
}

t.test('mntr counters move with the workload', async (t) => {
  const zk = await startInProcessZkts({ '4lw.commands.whitelist': '*', maxClientCnxns: '3' });
  t.teardown(() => zk.stop());
  const s = zk.server;
  const before = mntrOf(s);
  t.equal(before.get('connection_request_count'), 0);
  const a = await ZkClient.connect(zk.host, zk.port);
  t.teardown(() => a.destroy());
  const b = await ZkClient.connect(zk.host, zk.port);
  t.teardown(() => b.destroy());
  await a.create('/w', null);
  await a.create('/w/x', null);
  await b.exists('/w/new', true);
  await b.getData('/w/x', true);
  await b.getChildren('/w', true);
  await a.create('/w/new', null);
  await a.setData('/w/x', Buffer.from('1'));
  await a.delete('/w/new');
  await b.waitNotification((e) => e.type === 2 && e.path === '/w/new').catch(() => undefined);
  const m = mntrOf(s);
  t.equal(m.get('connection_request_count'), 2, 'two handshakes');
  t.equal(m.get('cnt_node_created_watch_count'), 1, 'the exists watch fired on create');
  t.equal(m.get('cnt_node_changed_watch_count'), 1);
  t.ok((m.get('cnt_node_children_watch_count') as number) >= 1);
  t.ok((m.get('watch_bytes') as number) > 0, 'watch notifications counted in bytes');
  t.ok((m.get('prep_processor_request_queued') as number) >= 9, 'every request enters the pipeline');
  t.equal(m.get('outstanding_changes_queued'), m.get('outstanding_changes_removed'), 'every change record is dropped once applied');
  t.ok((m.get('outstanding_changes_queued') as number) >= 4);
  t.equal(m.get('commit_count'), 0, 'a leader-only counter');
  t.equal(m.get('snap_count'), 0, 'SNAP syncs to learners: none in standalone');
  t.equal(m.get('digest_mismatches_count'), 0);

  // A reconnect of a's session from a new connection: revalidated, and the old connection closed.
  const again = await ZkClient.connect(zk.host, zk.port, { sessionId: a.sessionId, passwd: a.passwd });
  t.teardown(() => again.destroy());
  t.equal(mntrOf(s).get('connection_revalidate_count'), 1);

  // maxClientCnxns=3: a fourth connection from the same address is refused at accept.
  const third = await ZkClient.connect(zk.host, zk.port);
  t.teardown(() => third.destroy());
  await new Promise<void>((resolve) => {
    const sock = net.connect({ host: zk.host, port: zk.port });
    sock.on('close', () => resolve());
    sock.on('error', () => resolve());
  });
  t.ok((mntrOf(s).get('connection_rejected') as number) >= 1, 'maxClientCnxns refusals counted');

  // A client that goes away: a connection drop.
  b.destroy();
  for (let i = 0; i < 50 && (mntrOf(s).get('connection_drop_count') as number) === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.ok((mntrOf(s).get('connection_drop_count') as number) >= 1, 'a client closing its socket is a drop');
});

t.test('hash keeps the digest every 128 zxids', async (t) => {
  const zk = await startInProcessZkts({ '4lw.commands.whitelist': '*' });
  t.teardown(() => zk.stop());
  const c = await ZkClient.connect(zk.host, zk.port);
  t.teardown(() => c.destroy());
  const s = zk.server;
  t.equal(s.fourLetterWords.run('hash'), '');
  while (s.lastProcessedZxid < 130n) await c.create(`/n${s.lastProcessedZxid}`, null);
  t.equal(s.digestLog.length, 1);
  const d = s.digestLog[0];
  t.equal(d.zxid, 128n);
  t.equal(s.fourLetterWords.run('hash'), `80: ${d.digest}\n`, "DigestCommand's text: hex zxid, signed digest");
  const json = findCommand('hash')!.run(s.fourLetterWords.context, {});
  t.equal(toJackson(json.data), `{\n  "digests" : [ {\n    "zxid" : 128,\n    "digest" : ${d.digest},\n    "digestVersion" : 2\n  } ]\n}`);
});

t.test('AdminServer snapshot streams the tree in ZooKeeper snapshot format', async (t) => {
  const zk = await startInProcessZkts({ 'admin.serverPort': '0', 'admin.serverAddress': '127.0.0.1' });
  t.teardown(() => zk.stop());
  const admin = new AdminServer(zk.server, pino({ level: 'silent' }));
  await admin.start();
  t.teardown(() => admin.stop());
  const port = admin.address().port;
  const c = await ZkClient.connect(zk.host, zk.port);
  t.teardown(() => c.destroy());
  await c.create('/snapped', Buffer.from('v'));
  const zxid = zk.server.lastProcessedZxid;

  const r = await request(port, '/commands/snapshot', { Authorization: 'digest admin:pw' });
  t.equal(r.status, 200);
  t.equal(r.headers['content-type'], 'application/octet-stream');
  t.equal(r.headers['last_zxid'], '0x' + zxid.toString(16));
  t.equal(r.headers['snapshot_size'], String(r.body.length));
  const snap = parseSnapshot(r.body, 'http', zxid);
  t.equal(snap.tree.getNode('/snapped')?.data?.toString(), 'v', 'the streamed bytes are a readable snapshot');
  t.equal(snap.digestMatches, true);

  const limited = await request(port, '/commands/snapshot', { Authorization: 'digest admin:pw' });
  t.equal(limited.status, 429, "ZooKeeper's rate limit: one per 300 ms");
  await new Promise((res) => setTimeout(res, 350));
  const noStream = await request(port, '/commands/snap?streaming=false', { Authorization: 'digest admin:pw' });
  t.equal(noStream.status, 200);
  t.equal(noStream.headers['content-type'], 'application/json');
  t.ok(Number(noStream.headers['snapshot_size']) > 0);
  t.same(JSON.parse(noStream.body.toString()), { command: 'snapshot', error: null });
});
