// Differential test of the operations surface: four-letter words and the AdminServer's
// /commands/<name>, on the reference Apache ZooKeeper 3.8 and on zkts after the same small
// workload. Both must answer with the same labels and keys (and value types); counts that follow
// from the workload (znodes, watches, ephemerals, zxid, state) must be equal.

import t, { type Test } from 'tap';
import * as http from 'node:http';
import * as net from 'node:net';
import { fourLetterWord, freePort, RunningServer, startReferenceZooKeeper, startZkts } from '../test/util/servers';
import { ZkClient } from '../test/util/client';

interface Side {
  name: string;
  server: RunningServer;
  adminPort: number;
  clients: ZkClient[];
  words: Record<string, string>;
  http: Record<string, { status: number; body: string; json: unknown }>;
}

const READ_WORDS = ['conf', 'cons', 'dirs', 'dump', 'envi', 'gtmk', 'ruok', 'srvr', 'stat', 'wchc', 'wchp', 'wchs', 'mntr', 'isro', 'hash'];
const RESET_WORDS = ['crst', 'srst'];
// Every primary name and alias ZooKeeper 3.8 knows, read-only ones first, resets last.
const READ_COMMANDS = [
  'configuration', 'conf', 'config', 'connections', 'cons', 'hash', 'dirs', 'dump', 'environment', 'env', 'envi',
  'get_trace_mask', 'gtmk', 'initial_configuration', 'icfg', 'is_read_only', 'isro', 'last_snapshot', 'lsnp',
  'leader', 'lead', 'monitor', 'mntr', 'ruok', 'server_stats', 'srvr', 'stats', 'stat', 'observers', 'obsr',
  'system_properties', 'sysp', 'voting_view', 'watches', 'wchc', 'watches_by_path', 'wchp', 'watch_summary', 'wchs',
  'zabstate', 'set_trace_mask', 'no_such_command',
];
const RESET_COMMANDS = ['connection_stat_reset', 'crst', 'stat_reset', 'srst', 'observer_connection_stat_reset', 'orst', 'set_trace_mask?traceMask=5', 'stmk?traceMask=7'];

function httpGet(port: number, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; body: string; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body, json });
      });
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path}: no answer`)));
    req.end();
  });
}

async function workload(side: Side): Promise<void> {
  const c1 = await ZkClient.connect(side.server.host, side.server.port);
  const c2 = await ZkClient.connect(side.server.host, side.server.port);
  side.clients.push(c1, c2);
  await c1.create('/a', Buffer.from('hello'));
  await c1.create('/a/b', Buffer.from('x'));
  await c2.create('/e', Buffer.from('eph'), 1);
  await c1.getData('/a', true);
  await c2.getChildren('/a', true);
  await c2.exists('/a/b', true);
}

async function collect(side: Side): Promise<void> {
  for (const w of READ_WORDS) side.words[w] = await fourLetterWord(side.server.host, side.server.port, w);
  for (const c of READ_COMMANDS) side.http[c] = await httpGet(side.adminPort, `/commands/${c}`);
  side.http['/commands'] = await httpGet(side.adminPort, '/commands');
  for (const w of RESET_WORDS) side.words[w] = await fourLetterWord(side.server.host, side.server.port, w);
  for (const c of RESET_COMMANDS) side.http[c] = await httpGet(side.adminPort, `/commands/${c}`);
}

async function start(name: string): Promise<Side> {
  const adminPort = await freePort();
  const extraConfig = { 'admin.enableServer': 'true', 'admin.serverPort': String(adminPort), 'admin.serverAddress': '127.0.0.1' };
  const server =
    name === 'zookeeper'
      ? await startReferenceZooKeeper({ extraConfig })
      : name === 'zookeeper39'
        ? await startReferenceZooKeeper({ version: '3.9.5', extraConfig })
        : await startZkts({ extraConfig });
  return { name, server, adminPort, clients: [], words: {}, http: {} };
}

/** The shape of a JSON value: types, and keys of objects; maps keyed by ids or times become a count. */
function shape(v: unknown): unknown {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length === 0 ? '[]' : ['array', shape(v[0])];
  if (typeof v === 'object') {
    // zkts's own fields (zkts_*) have no counterpart in ZooKeeper's answers.
    const keys = Object.keys(v as object).filter((k) => !k.startsWith('zkts_'));
    if (keys.length > 0 && keys.every((k) => /^-?\d+$/.test(k))) return { '<ids>': keys.length, value: shape((v as Record<string, unknown>)[keys[0]]) };
    const out: Record<string, unknown> = {};
    for (const k of keys.sort()) out[k] = shape((v as Record<string, unknown>)[k]);
    return out;
  }
  // JSON.parse makes 0.0 an integer; literal types are compared on the raw text (rawTypes).
  return typeof v;
}

/**
 * dump's sessions by expiry time: how many buckets there are, and whether one is briefly empty
 * (ZooKeeper keeps a bucket until its expirer passes it), depends on when the sessions last
 * touched the server. Only the type of a non-empty bucket is compared.
 */
function withoutTimedBuckets(o: Record<string, unknown>): Record<string, unknown> {
  const buckets = o.expiry_time_to_session_ids;
  if (buckets === null || typeof buckets !== 'object') return o;
  const filled = Object.values(buckets as Record<string, unknown>).filter((v) => !(Array.isArray(v) && v.length === 0));
  return { ...o, expiry_time_to_session_ids: filled.length > 0 ? { '0': filled[0] } : {} };
}

/** "key=value" or "key: value" lines: the keys. */
function labels(text: string, sep: RegExp): string[] {
  return text
    .split('\n')
    .map((l) => sep.exec(l)?.[1])
    .filter((k): k is string => k !== undefined);
}

/** mntr's lines as key and value; zkts's own keys (zk_zkts_*) with `own`. */
function mntr(text: string, own = false): Array<[string, string]> {
  return text
    .trim()
    .split('\n')
    .map((l) => l.split('\t') as [string, string])
    .filter(([k]) => own || !k.startsWith('zk_zkts_'));
}

/** `"key" : literal` lines of a JSON body: the key and whether the literal is a long, a double or else. */
function rawTypes(body: string): Array<[string, string]> {
  return [...body.matchAll(/^\s*"([^"]+)" : (.*?),?$/gm)].map((m) => [m[1], valueType(m[2])]);
}

function valueType(v: string): string {
  return /^-?\d+$/.test(v) ? 'long' : /^-?\d+\.\d+(E-?\d+)?$/.test(v) ? 'double' : 'string';
}

/** Session ids in text replaced by S0, S1 (the workload's clients, in order). */
function normalizeSessions(text: string, clients: ZkClient[]): string {
  let out = text;
  clients.forEach((c, i) => {
    out = out.split('0x' + BigInt.asUintN(64, c.sessionId).toString(16)).join(`S${i}`);
  });
  return out;
}

function sortedBlocks(text: string): string[] {
  // wchc/wchp: "head\n\tentry\n..." blocks; their order follows Java hash maps.
  return text
    .trim()
    .split(/\n(?=\S)/)
    .map((b) => b.split('\n').sort().join('\n'))
    .sort();
}

/** The mntr keys ZooKeeper 3.9.5 has that 3.8.0 has not (standalone), in 3.9.5's order. */
const MNTR_KEYS_NEW_IN_3_9 = [
  'zk_restore_error_count',
  'zk_snapshot_rate_limited_count',
  'zk_snapshot_error_count',
  'zk_restore_rate_limited_count',
  'zk_avg_restore_time',
  'zk_min_restore_time',
  'zk_max_restore_time',
  'zk_cnt_restore_time',
  'zk_sum_restore_time',
];

function compareWith(t: Test, zk: Side, ts: Side): void {
  // zkts's mntr (and monitor) is 3.9.5's: its keys in its order. 3.8.0 has the same keys but for
  // 3.9's snapshot and restore ones, in another order (a Java hash map's): compared as sets there.
  const is38 = zk.name !== 'zookeeper39';
  const NEW_39 = new Set(MNTR_KEYS_NEW_IN_3_9.map((k) => k.replace(/^zk_/, '')));
  const as38 = (keys: string[]): string[] => (is38 ? keys.filter((k) => !NEW_39.has(k.replace(/^zk_/, ''))).sort() : keys);
  const orderNote = is38 ? 'the same keys but 3.9\'s, in any order' : 'same keys, same order';
  t.test(`four-letter words, zkts vs ${zk.name}`, async (t) => {
    for (const w of ['ruok', 'isro', 'hash', 'gtmk', 'crst', 'srst']) t.equal(ts.words[w], zk.words[w], `${w}: same answer`);
    t.same(labels(ts.words.conf, /^([^=]+)=/), labels(zk.words.conf, /^([^=]+)=/), 'conf: same keys, same order');
    t.same(labels(ts.words.envi, /^([^=]+)=/), labels(zk.words.envi, /^([^=]+)=/), 'envi: same keys, same order');
    t.same(labels(ts.words.dirs, /^([^:]+):/), labels(zk.words.dirs, /^([^:]+):/), 'dirs: same labels');
    for (const w of ['srvr', 'stat']) {
      const strip = (s: string) => labels(s, /^([A-Za-z][A-Za-z /]*):/);
      t.same(strip(ts.words[w]), strip(zk.words[w]), `${w}: same labels`);
      for (const label of ['Zxid', 'Mode', 'Node count', 'Outstanding']) {
        const value = (s: string) => new RegExp(`^${label}: (.*)$`, 'm').exec(s)?.[1];
        t.equal(value(ts.words[w]), value(zk.words[w]), `${w}: ${label} equal`);
      }
    }
    t.equal(ts.words.wchs, zk.words.wchs, 'wchs: same counts');
    t.same(sortedBlocks(normalizeSessions(ts.words.wchc, ts.clients)), sortedBlocks(normalizeSessions(zk.words.wchc, zk.clients)), 'wchc: same watches per session');
    t.same(sortedBlocks(normalizeSessions(ts.words.wchp, ts.clients)), sortedBlocks(normalizeSessions(zk.words.wchp, zk.clients)), 'wchp: same sessions per path');
    const consKeys = (s: string) =>
      s
        .split('\n')
        .filter((l) => l.includes('sid='))
        .map((l) => [...l.matchAll(/([a-z]+)=/g)].map((m) => m[1]).join(','));
    t.same(consKeys(ts.words.cons), consKeys(zk.words.cons), 'cons: same fields for each session');
    const dumpLabels = (s: string) => labels(s, /^([A-Za-z][A-Za-z ]*)[:(]/);
    t.same(dumpLabels(ts.words.dump), dumpLabels(zk.words.dump), 'dump: same sections');
    const ephemerals = (s: string, c: ZkClient[]) => normalizeSessions(s, c).split('ephemeral nodes dump:\n')[1]?.split('Connections dump:')[0];
    t.equal(ephemerals(ts.words.dump, ts.clients), ephemerals(zk.words.dump, zk.clients), 'dump: same ephemerals per session');
    t.match(ts.words.dump, /^Session Sets \(1\)\/\(2\):$/m, 'dump: two sessions in one bucket');

    const a = mntr(ts.words.mntr);
    const b = mntr(zk.words.mntr);
    const theirKeys = b.map(([k]) => k);
    t.same(as38(a.map(([k]) => k)), is38 ? [...theirKeys].sort() : theirKeys, `mntr: ${orderNote}`);
    const ma = new Map(a);
    const mb = new Map(b);
    t.same(b.map(([k]) => [k, ma.has(k) ? valueType(ma.get(k)!) : 'missing']), b.map(([k, v]) => [k, valueType(v)]), 'mntr: same value types');
    for (const k of ['zk_server_state', 'zk_znode_count', 'zk_watch_count', 'zk_ephemerals_count', 'zk_global_sessions', 'zk_local_sessions', 'zk_approximate_data_size', 'zk_outstanding_requests', 'zk_num_alive_connections'])
      t.equal(ma.get(k), mb.get(k), `mntr: ${k} equal`);
    t.ok(Number(ma.get('zk_open_file_descriptor_count')) > 0, 'mntr: open fds counted');
    const own = mntr(ts.words.mntr, true).filter(([k]) => k.startsWith('zk_zkts_'));
    t.same(
      own.map(([k]) => k),
      [
        'zk_zkts_storage_writable',
        'zk_zkts_writes_abandoned_count',
        'zk_zkts_output_paused_connections',
        'zk_zkts_output_pending_bytes',
        'zk_zkts_output_pause_count',
        'zk_zkts_output_overflow_closed_count',
        'zk_zkts_client_sockets_allowed',
        'zk_zkts_descriptor_reserve_refused_count',
        'zk_zkts_accept_error_count',
      ],
      'mntr: zkts\'s own keys come last',
    );
    t.ok(own.every(([, v]) => valueType(v) === 'long'), 'mntr: zkts\'s own keys are longs');
    t.ok(Number(ma.get('zk_max_file_descriptor_count')) > 0, 'mntr: max fds read');
  });

  t.test(`AdminServer commands, zkts vs ${zk.name}`, async (t) => {
    const zkLinks = zk.http['/commands'].body;
    const tsLinks = ts.http['/commands'].body;
    const names = (s: string) => [...s.matchAll(/<a href="\/commands\/([a-z_]+)">/g)].map((m) => m[1]);
    if (zk.name === 'zookeeper39') t.same(names(tsLinks), names(zkLinks), 'GET /commands lists the same commands (snapshot and restore included)');
    else t.same(names(tsLinks).filter((n) => n !== 'snapshot' && n !== 'restore'), names(zkLinks), 'GET /commands lists the same commands (plus 3.9 snapshot and restore)');
    t.match(tsLinks, /^<a href="\/commands\/configuration">configuration<\/a>\n<br\/>\n/, 'links as ZooKeeper prints them');

    for (const c of [...READ_COMMANDS, ...RESET_COMMANDS]) {
      const a = ts.http[c];
      const b = zk.http[c];
      t.equal(a.status, b.status, `${c}: same status`);
      t.ok(a.json && typeof a.json === 'object', `${c}: JSON`);
      const aj = a.json as Record<string, unknown>;
      const bj = b.json as Record<string, unknown>;
      t.ok('command' in aj && 'error' in aj, `${c}: command and error keys`);
      t.equal(aj.command, bj.command, `${c}: same command name`);
      t.equal(aj.error, bj.error, `${c}: same error`);
      if (['environment', 'env', 'envi'].includes(c)) t.same(Object.keys(aj), Object.keys(bj), `${c}: same keys, same order`);
      else if (['system_properties', 'sysp'].includes(c)) {
        const zkProps = (o: Record<string, unknown>) => Object.keys(o).filter((k) => k.startsWith('zookeeper.') && k !== 'zookeeper.log.dir');
        t.same(zkProps(aj), zkProps(bj), `${c}: same zookeeper.* properties`);
      } else if (['initial_configuration', 'icfg'].includes(c)) {
        const keys = (o: Record<string, unknown>) => labels(String(o.initial_configuration), /^([^=]+)=/);
        t.same(keys(aj), keys(bj), `${c}: the same zoo.cfg`);
      } else {
        const ours = is38 && ['monitor', 'mntr'].includes(c) ? Object.fromEntries(Object.entries(aj).filter(([k]) => !NEW_39.has(k))) : aj;
        t.same(shape(withoutTimedBuckets(ours)), shape(withoutTimedBuckets(bj)), `${c}: same keys and value types`);
      }
      t.same(Object.keys(aj).slice(-2).sort(), ['command', 'error'], `${c}: command and error come last`);
    }

    const mon = (s: Side) => s.http.monitor.json as Record<string, unknown>;
    const zkKeys = (o: Record<string, unknown>) => Object.keys(o).filter((k) => !k.startsWith('zkts_'));
    t.same(as38(zkKeys(mon(ts))), is38 ? zkKeys(mon(zk)).sort() : zkKeys(mon(zk)), `monitor: ${orderNote}`);
    t.ok(Object.keys(mon(ts)).includes('zkts_output_pending_bytes'), 'monitor: zkts\'s own keys too');
    const zkTypes = (body: string) => rawTypes(body).filter(([k]) => !k.startsWith('zkts_'));
    const typesByKey = (body: string) => new Map(zkTypes(body));
    const theirs = typesByKey(zk.http.monitor.body);
    const oursTypes = typesByKey(ts.http.monitor.body);
    t.same([...theirs.keys()].map((k) => [k, oursTypes.get(k)]), [...theirs], 'monitor: same literal types (long, double)');
    // ZooKeeper's `stats` answer does not keep one key order from run to run, so the types are
    // compared key by key, in sorted order.
    const statTypes = (body: string) => rawTypes(body).filter(([k]) => k !== 'remote_socket_address' && !k.startsWith('zkts_')).sort((a, b) => (a[0] + a[1] < b[0] + b[1] ? -1 : a[0] + a[1] > b[0] + b[1] ? 1 : 0));
    t.same(statTypes(ts.http.stats.body), statTypes(zk.http.stats.body), 'stats: same literal types');
    for (const k of ['server_state', 'znode_count', 'watch_count', 'ephemerals_count', 'global_sessions', 'approximate_data_size'])
      t.equal(mon(ts)[k], mon(zk)[k], `monitor: ${k} equal`);
    const stats = (s: Side) => s.http.server_stats.json as { server_stats: Record<string, unknown>; node_count: number };
    t.equal(stats(ts).server_stats.last_processed_zxid, stats(zk).server_stats.last_processed_zxid, 'server_stats: same zxid');
    t.equal(stats(ts).server_stats.server_state, 'standalone');
    t.equal(stats(ts).node_count, stats(zk).node_count, 'server_stats: same node count');
    for (const c of ['watch_summary', 'is_read_only', 'leader', 'observers', 'voting_view', 'zabstate', 'get_trace_mask', 'ruok', 'no_such_command', 'set_trace_mask', 'set_trace_mask?traceMask=5', 'stmk?traceMask=7'])
      t.same(ts.http[c].json, zk.http[c].json, `${c}: same answer`);
    const paths = (s: Side) => Object.keys((s.http.watches_by_path.json as { path_to_session_ids: object }).path_to_session_ids).sort();
    t.same(paths(ts), paths(zk), 'watches_by_path: same paths');
    t.match(ts.http.dump.body, /"session_id_to_ephemeral_paths" : \{\n {4}"\d+" : \[ "\/e" \]\n {2}\}/, 'dump: the ephemeral, Jackson-style');
  });
}

t.test('four-letter words and AdminServer commands: zkts answers like ZooKeeper', async (t) => {
  const sides: Side[] = [];
  t.teardown(async () => {
    for (const s of sides) {
      for (const c of s.clients) c.destroy();
      await s.server.stop();
    }
  });
  for (const name of ['zookeeper', 'zookeeper39', 'zkts']) {
    const side = await start(name);
    sides.push(side);
    await workload(side);
    await collect(side);
  }
  const [zk38, zk39, ts] = sides;
  for (const zk of [zk39, zk38]) compareWith(t, zk, ts);

  t.test('what ZooKeeper 3.9.5 answers otherwise than 3.8.0', async (t) => {
    const keys = (side: Side) => mntr(side.words.mntr).map(([k]) => k);
    const k38 = keys(zk38);
    const k39 = keys(zk39);
    t.same(k39.filter((k) => !k38.includes(k)), MNTR_KEYS_NEW_IN_3_9, 'mntr: 3.9.5 adds the snapshot and restore metrics');
    t.same(k38.filter((k) => !k39.includes(k)), [], 'mntr: 3.9.5 keeps every key of 3.8.0');
    t.notSame(k39.filter((k) => k38.includes(k)), k38, 'mntr: in another order');
    const names = (s: Side) => [...s.http['/commands'].body.matchAll(/<a href="\/commands\/([a-z_]+)">/g)].map((m) => m[1]);
    t.same(names(zk39).filter((n) => !names(zk38).includes(n)), ['restore', 'snapshot'], 'GET /commands: 3.9.5 adds restore and snapshot');
    for (const [c, method] of [['snapshot', 'GET'], ['restore', 'POST']]) {
      const [r39, rts] = await Promise.all([zk39, ts].map((side) => httpGet(side.adminPort, `/commands/${c}`, method)));
      // 3.8.0 has no such command (and takes no POST at all: 405).
      const r38 = await httpGet(zk38.adminPort, `/commands/${c}`);
      t.same([r38.status, r38.json], [200, { command: c, error: `Unknown command: ${c}` }], `${c}: unknown to 3.8.0`);
      t.same([rts.status, rts.json], [r39.status, r39.json], `${c} without credentials: zkts answers as 3.9.5 (${r39.status})`);
    }
  });

  t.test('snapshot and restore are guarded as in ZooKeeper 3.9', async (t) => {
    for (const [c, method] of [['snapshot', 'GET'], ['snap', 'GET'], ['restore', 'POST'], ['rest', 'POST']]) {
      const r = await httpGet(ts.adminPort, `/commands/${c}`, method);
      t.equal(r.status, 401, `${c}: 401 without credentials`);
      t.same(r.json, { command: c, error: 'Auth info is missing for the command' });
      const bad = await httpGet(ts.adminPort, `/commands/${c}`, method, { Authorization: 'nosuchscheme x' });
      t.equal(bad.status, 401, `${c}: 401 with an unknown scheme`);
      t.same(bad.json, { command: c, error: 'Not authenticated' });
    }
    // `/` is the web console on zkts; any other path outside the command URL is a 404 on both.
    t.equal((await httpGet(ts.adminPort, '/elsewhere')).status, 404, 'outside the command URL: 404');
    t.equal((await httpGet(ts.adminPort, '/commands/ruok', 'POST')).status, 405, 'POST to a GET command: 405, as in 3.8');
  });
});

t.test('an AdminServer port in use stops the start, naming admin.serverPort', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const port = (blocker.address() as net.AddressInfo).port;
  const extraConfig = { 'admin.enableServer': 'true', 'admin.serverPort': String(port), 'admin.serverAddress': '127.0.0.1' };
  const err = await startZkts({ extraConfig }).then(
    async (s) => {
      await s.stop();
      return undefined;
    },
    (e: Error) => e,
  );
  t.ok(err, 'zkts does not start');
  t.match(err?.message ?? '', /exited before it was ready \(code 4\)/, 'exit code 4, as ZooKeeper');
  t.match(err?.message ?? '', /Problem starting AdminServer on address 127\.0\.0\.1, port \d+ and command URL \/commands/);
  t.match(err?.message ?? '', /admin\.serverPort/);
});
