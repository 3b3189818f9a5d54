// Differential check of the Prometheus metrics against the reference Apache ZooKeeper 3.8.
//
// ZooKeeper's mntr is a dump of its metrics provider: every counter, gauge and summary of a
// standalone server, summaries spelled avg_/min_/max_/cnt_/sum_ (and p50_... for the detailed
// ones). After the same workload, every metric the reference's mntr names must be a family of the
// same kind on zkts's /metrics. Where the reference can run its own PrometheusMetricsProvider (its
// jars are not in Debian's zookeeper package), both /metrics are compared name by name and type by
// type as well.

import t from 'tap';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { fourLetterWord, freePort, javaClasspath, REFERENCE_VERSIONS, RunningServer, startReferenceZooKeeper, startZkts } from '../test/util/servers';
import { ZkClient } from '../test/util/client';

const PROVIDER = 'org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider';

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path}: no answer`)));
  });
}

/** Family name -> type, from a text format 0.0.4 exposition. */
function families(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1], m[2]);
  return out;
}

/** mntr key -> the Prometheus family it stands for, and whether it is a summary (with percentiles). */
function familyOfMntrKey(key: string): { family: string; summary: boolean; percentiles: boolean; label?: string } {
  const m = /^(avg|min|max|cnt|sum|p50|p95|p99|p999)_(.+)$/.exec(key);
  if (!m) return { family: key, summary: false, percentiles: false };
  const ns = /^(.+)_(read|write)_per_namespace$/.exec(m[2]);
  if (ns) return { family: `${ns[2]}_per_namespace`, summary: true, percentiles: false, label: ns[1] };
  return { family: m[2], summary: true, percentiles: m[1].startsWith('p') };
}

async function workload(s: RunningServer): Promise<void> {
  const c = await ZkClient.connect(s.host, s.port);
  await c.create('/a', Buffer.from('x'));
  await c.getData('/a');
  await c.close();
}

function referenceHasPrometheus(): boolean {
  return javaClasspath()
    .split(':')
    .concat(fs.existsSync('/usr/share/java') ? fs.readdirSync('/usr/share/java').map((f) => `/usr/share/java/${f}`) : [])
    .some((p) => /prometheus-metrics|simpleclient/.test(p));
}

/** mntr keys ZooKeeper 3.9.5 has and 3.8.0 has not: the snapshot and restore commands' metrics. */
const NEW_IN_3_9 = /^(snapshot_rate_limited_count|snapshot_error_count|restore_rate_limited_count|restore_error_count|(avg|min|max|cnt|sum)_restore_time)$/;

for (const version of REFERENCE_VERSIONS) {
  t.test(`every metric in ZooKeeper ${version}'s mntr is served by zkts's /metrics with the same kind`, async (t) => {
    const metricsPort = await freePort();
    const ref = await startReferenceZooKeeper({ version });
    t.teardown(() => ref.stop());
    const zk = await startZkts({
      extraConfig: { 'metricsProvider.className': PROVIDER, 'metricsProvider.httpPort': String(metricsPort), 'metricsProvider.httpHost': '127.0.0.1' },
    });
    t.teardown(() => zk.stop());
    await workload(ref);
    await workload(zk);
    const mntr = (await fourLetterWord(ref.host, ref.port, 'mntr'))
      .split('\n')
      .filter((l) => l.startsWith('zk_'))
      .map((l) => l.slice(3, l.indexOf('\t')));
    t.ok(mntr.length > 200, `the reference's mntr has ${mntr.length} keys`);
    if (version === '3.9.5') t.equal(mntr.filter((k) => NEW_IN_3_9.test(k)).length, 9, '3.9.5 has the 9 snapshot and restore keys');
    const text = await get(metricsPort, '/metrics');
    const fams = families(text);
    for (const key of mntr) {
      if (key === 'version' || key === 'server_state') continue;
      // Gauges such as min_client_response_size look like summary keys: a family of that very name wins.
      const f = fams.has(key) && fams.get(key) !== 'summary' ? { family: key, summary: false, percentiles: false, label: undefined } : familyOfMntrKey(key);
      const type = fams.get(f.family);
      if (f.summary) {
        t.equal(type, 'summary', `${key} -> summary ${f.family}`);
        if (f.percentiles) t.match(text, new RegExp(`^${f.family}\\{quantile="0.99",\\} `, 'm'), `${f.family} has the detailed quantiles`);
        if (f.label) t.match(text, new RegExp(`^${f.family}_count\\{key="${f.label}",\\} `, 'm'), `${f.family} has a child for ${f.label}`);
      } else {
        t.ok(type === 'gauge' || type === 'counter', `${key} -> ${type} ${f.family}`);
      }
    }
  });
}

t.test('reference /metrics and zkts /metrics: same ZooKeeper names and types', { skip: referenceHasPrometheus() ? false : 'Debian\'s zookeeper 3.8.0 ships no PrometheusMetricsProvider jars' }, async (t) => {
  const refPort = await freePort();
  const zkPort = await freePort();
  const cfg = (port: number) => ({ 'metricsProvider.className': PROVIDER, 'metricsProvider.httpPort': String(port), 'metricsProvider.httpHost': '127.0.0.1' });
  const ref = await startReferenceZooKeeper({ extraConfig: cfg(refPort) });
  t.teardown(() => ref.stop());
  const zk = await startZkts({ extraConfig: cfg(zkPort) });
  t.teardown(() => zk.stop());
  await workload(ref);
  await workload(zk);
  const refFams = families(await get(refPort, '/metrics'));
  const zkFams = families(await get(zkPort, '/metrics'));
  for (const [name, type] of refFams) {
    if (/^(jvm|process)_/.test(name)) continue;
    t.equal(zkFams.get(name), type, `${name} is a ${type} on both`);
  }
});
