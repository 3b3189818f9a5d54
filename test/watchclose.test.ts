// Closing connections drops exactly the closed connection's watches: sessions with data, child,
// persistent and recursive watches, four-letter-word connections and sockets that never send a
// byte open and close, and wchs and mntr's watch count are compared with Apache ZooKeeper's after
// each step. zkts's by-watcher index is checked against its path tables as well.
import t, { type Test } from 'tap';
import * as net from 'node:net';
import { AddWatchMode, OpCode } from '../src/protocol/constants';
import * as R from '../src/protocol/generated/records';
import { startInProcessZkts, ZkClient, type Endpoint, type InProcessServer } from './util/client';
import { fourLetterWord, startReferenceZooKeeper } from './util/servers';

const SETTLE_MS = 5_000;

async function watchState(ep: Endpoint): Promise<string> {
  const wchs = (await fourLetterWord(ep.host, ep.port, 'wchs')).trim();
  const mntr = await fourLetterWord(ep.host, ep.port, 'mntr');
  const count = /zk_watch_count\s+(\d+)/.exec(mntr)?.[1] ?? '?';
  return `${wchs.replace(/\n/g, ' | ')} | watch_count ${count}`;
}

/** A socket that connects and goes away without a byte. */
async function silentSocket(ep: Endpoint): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const s = net.createConnection({ host: ep.host, port: ep.port });
    s.once('error', reject);
    s.once('connect', () => {
      s.destroy();
      resolve();
    });
  });
}

async function watchAll(c: ZkClient, prefix: string, n: number): Promise<void> {
  const replies: Array<Promise<unknown>> = [];
  for (let i = 0; i < n; i++) replies.push(c.exists(`${prefix}${i}`, true));
  replies.push(c.getChildren('/', true));
  replies.push(c.request(OpCode.addWatch, (w) => R.encodeAddWatchRequest(w, { path: '/p', mode: AddWatchMode.PERSISTENT })));
  replies.push(c.request(OpCode.addWatch, (w) => R.encodeAddWatchRequest(w, { path: '/r', mode: AddWatchMode.PERSISTENT_RECURSIVE })));
  await Promise.all(replies);
}

t.test('watch counts after closes, zkts against ZooKeeper', async (t) => {
  const [ours, ref] = await Promise.all([startInProcessZkts({ '4lw.commands.whitelist': '*' }), startReferenceZooKeeper()]);
  t.teardown(() => Promise.all([ours.stop(), ref.stop()]).then(() => undefined));
  const endpoints: Endpoint[] = [ours, { name: 'zookeeper', host: ref.host, port: ref.port }];
  const transcripts: Record<string, string[]> = {};

  for (const ep of endpoints) {
    const log: string[] = (transcripts[ep.name] = []);
    // Each step ends when the server's counts have reached the state the other server shows for
    // it (or, on the first server, once they stop changing); the bound keeps a miss from hanging.
    let step = 0;
    const record = async (label: string): Promise<void> => {
      const other = ep.name === 'zkts' ? undefined : transcripts.zkts[step];
      let state = '';
      let last = '';
      let stable = 0;
      const deadline = Date.now() + SETTLE_MS;
      for (;;) {
        state = await watchState(ep);
        if (other !== undefined ? `${label}: ${state}` === other : state === last && ++stable >= 2) break;
        if (state !== last) stable = 0;
        last = state;
        if (Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      log.push(`${label}: ${state}`);
      step++;
      if (ep.name === 'zkts') checkIndex(t, ours, label);
    };

    const a = await ZkClient.connect(ep.host, ep.port);
    const b = await ZkClient.connect(ep.host, ep.port);
    const c = await ZkClient.connect(ep.host, ep.port);
    await watchAll(a, '/w', 40);
    await watchAll(b, '/w', 25);
    await watchAll(c, '/x', 10);
    await record('three sessions watching');
    for (let i = 0; i < 5; i++) await fourLetterWord(ep.host, ep.port, 'ruok');
    for (let i = 0; i < 5; i++) await silentSocket(ep);
    await record('after four-letter words and silent sockets');
    await b.close();
    await record('after b closed its session');
    c.destroy();
    await record('after c\'s connection dropped');
    await a.create('/w3');
    await a.create('/p');
    await record('after a create fired one-shot watches');
    const d = await ZkClient.connect(ep.host, ep.port);
    await d.exists('/w3', true);
    await a.close();
    await record('after a closed, d watching one path');
    await d.close();
    await record('after every session closed');
  }
  t.same(transcripts.zkts, transcripts.zookeeper, 'zkts counts as ZooKeeper after each close');
  t.comment(transcripts.zookeeper.join('\n'));
});

function checkIndex(t: Test, s: InProcessServer, label: string): void {
  const m = s.server.watches;
  let indexed = 0;
  for (const c of s.server.cnxns) indexed += m.watchesOf(c);
  t.equal(indexed, m.stats().watches, `${label}: the by-watcher index holds every watch of the live connections`);
  t.ok(m.watcherCount <= s.server.cnxns.size, `${label}: no index entry of a closed connection`);
}
