// Session expiry on ZooKeeper's boundaries. Sessions with a 4 s timeout, each owning an ephemeral,
// are killed (socket destroyed right after a ping's reply, their last touch) at random phases of
// the tick; another session watches each ephemeral and the time from the kill to its NodeDeleted
// event is measured on zkts and on Apache ZooKeeper in the same run. A session is due in the
// bucket roundToNextInterval(lastTouch + timeout), and both servers must delete its ephemeral
// within [timeout, timeout + tickTime] (plus a slack for scheduling), not a tick later.
import t from 'tap';
import { EventType, OpCode, Xid } from '../src/protocol/constants';
import { JuteReader } from '../src/protocol/jute';
import * as R from '../src/protocol/generated/records';
import { waitFor, ZkClient } from './util/client';
import { startReferenceZooKeeper, startZkts, type RunningServer } from './util/servers';

const TICK_MS = 2000;
const TIMEOUT_MS = 4000;
const SESSIONS = 8;
/** Scheduling on a loaded machine: a server's timer, the closeSession txn, the event's trip. */
const SLACK_MS = 400;

async function expiryTimes(server: RunningServer): Promise<number[]> {
  const watcher = await ZkClient.connect(server.host, server.port, { timeoutMs: 30_000 });
  const deletedAtMs = new Map<string, number>();
  watcher.raw.onFrame((f) => {
    const r = new JuteReader(f);
    if (R.decodeReplyHeader(r).xid !== Xid.notification) return;
    const e = R.decodeWatcherEvent(r);
    if (e.type === EventType.NodeDeleted) deletedAtMs.set(e.path, Date.now());
  });
  if ((await watcher.create('/exp')).header.err !== 0) throw new Error('create /exp');
  const killedAtMs = new Map<string, number>();
  await Promise.all(
    Array.from({ length: SESSIONS }, async (_, i) => {
      const path = `/exp/e${i}`;
      const c = await ZkClient.connect(server.host, server.port, { timeoutMs: TIMEOUT_MS, keepAlive: false });
      if (c.connectResponse.timeOut !== TIMEOUT_MS) throw new Error(`negotiated ${c.connectResponse.timeOut}`);
      if ((await c.create(path, null, 1)).header.err !== 0) throw new Error(`create ${path}`);
      if ((await watcher.exists(path, true)).header.err !== 0) throw new Error(`watch ${path}`);
      // A random phase within two ticks, then a last touch and the kill.
      await new Promise((r) => setTimeout(r, Math.random() * 2 * TICK_MS));
      await c.request(OpCode.ping, undefined, { xid: Xid.ping });
      killedAtMs.set(path, Date.now());
      c.destroy();
    }),
  );
  await waitFor(() => deletedAtMs.size === SESSIONS, `${SESSIONS} ephemerals deleted`, TIMEOUT_MS + 3 * TICK_MS + 5_000).catch(() => undefined);
  await watcher.close();
  return [...killedAtMs].map(([path, at]) => (deletedAtMs.has(path) ? deletedAtMs.get(path)! - at : Infinity)).sort((a, b) => a - b);
}

t.test('expiry of a dead session: kill to ephemeral deletion, zkts against ZooKeeper', async (t) => {
  const config = { extraConfig: { tickTime: String(TICK_MS) } };
  const [ours, ref] = await Promise.all([startZkts(config), startReferenceZooKeeper(config)]);
  t.teardown(() => Promise.all([ours.stop(), ref.stop()]).then(() => undefined));
  const [zkts, zookeeper] = await Promise.all([expiryTimes(ours), expiryTimes(ref)]);
  t.comment(`zookeeper ms: ${zookeeper.join(' ')}`);
  t.comment(`zkts ms:      ${zkts.join(' ')}`);
  const lo = TIMEOUT_MS - SLACK_MS / 4;
  const hi = TIMEOUT_MS + TICK_MS + SLACK_MS;
  for (const [name, times] of [['zookeeper', zookeeper], ['zkts', zkts]] as const) {
    t.equal(times.length, SESSIONS, `${name}: every session measured`);
    t.ok(times.every((ms) => ms >= lo && ms <= hi), `${name}: every expiry within [${lo}, ${hi}] ms: ${times.join(' ')}`);
  }
});
