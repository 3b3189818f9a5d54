// Sessions over the wire: timeout negotiation, reconnects, passwords, expiry, closeSession, a
// session moving between connections, setWatches after a reconnect, and clients from the future.
// Each scenario runs against zkts and Apache ZooKeeper (same config, short ticks) and the
// normalized transcripts must match.
import t, { type Test } from 'tap';
import { EventType, OpCode, Xid } from '../src/protocol/constants';
import * as R from '../src/protocol/generated/records';
import { differential, startInProcessZkts, ZkClient, type Scenario } from './util/client';
import { startReferenceZooKeeper } from './util/servers';

const TICK_MS = 200;
const MIN_TIMEOUT_MS = 600;
const MAX_TIMEOUT_MS = 3000;
const CONFIG = { tickTime: String(TICK_MS), minSessionTimeout: String(MIN_TIMEOUT_MS), maxSessionTimeout: String(MAX_TIMEOUT_MS) };

function events(c: ZkClient, from = 0): string[] {
  return c.notifications.slice(from).map((n) => `${n.event.type}:${n.event.state}:${n.event.path}`);
}

t.test('sessions, zkts against ZooKeeper', async (t) => {
  const [zk, ref] = await Promise.all([startInProcessZkts(CONFIG), startReferenceZooKeeper({ extraConfig: CONFIG })]);
  t.teardown(async () => {
    await zk.stop();
    await ref.stop();
  });
  const compare = differential(zk, ref);

  await t.test('timeout negotiation is clamped to [min, max]', async (t) => {
    const out = await compare(t, async (s) => {
      for (const asked of [1, 0, -5, MIN_TIMEOUT_MS - 1, MIN_TIMEOUT_MS, 1000, MAX_TIMEOUT_MS, MAX_TIMEOUT_MS + 1, 100_000]) {
        const c = await s.connect({ timeoutMs: asked });
        s.note(`asked ${asked}`, { timeOut: c.connectResponse.timeOut, protocolVersion: c.connectResponse.protocolVersion, readOnly: c.connectResponse.readOnly, passwdBytes: c.passwd.length });
      }
    });
    t.same(out.zkts.slice(0, 2).map(([, v]) => (v as { timeOut: number }).timeOut), [MIN_TIMEOUT_MS, MIN_TIMEOUT_MS]);
  });

  await t.test('reconnect with id and password keeps the session and its ephemerals; the old connection is closed', async (t) => {
    await compare(t, async (s) => {
      const c1 = await s.connect({ timeoutMs: 2000 });
      s.reply('create parent', await c1.create('/s2'), R.decodeCreateResponse);
      s.reply('create ephemeral', await c1.create('/s2/e', Buffer.from('e'), 1), R.decodeCreateResponse);
      const c2 = await s.connect({ sessionId: c1.sessionId, passwd: c1.passwd, timeoutMs: 1000 });
      s.note('reconnect', { sessionId: c2.connectResponse.sessionId, timeOut: c2.connectResponse.timeOut, samePasswd: c2.passwd.equals(c1.passwd) });
      s.note('old connection closed', await c1.raw.waitClosed());
      s.reply('exists ephemeral', await c2.exists('/s2/e'), R.decodeExistsResponse);
      s.reply('getEphemerals', await c2.request(OpCode.getEphemerals, (w) => R.encodeGetEphemeralsRequest(w, { prefixPath: '/s2' })), R.decodeGetEphemeralsResponse);
      s.reply('write on the new connection', await c2.create('/s2/after'), R.decodeCreateResponse);
    });
  });

  await t.test('a wrong password or an unknown session gets timeOut 0 and sessionId 0, then a close', async (t) => {
    await compare(t, async (s) => {
      const c1 = await s.connect({ timeoutMs: 2000 });
      const bad = await s.connect({ sessionId: c1.sessionId, passwd: Buffer.alloc(16, 1) });
      s.note('wrong password', bad.connectResponse);
      s.note('wrong password: closed', await bad.raw.waitClosed());
      const unknown = await s.connect({ sessionId: c1.sessionId + 1000n, passwd: c1.passwd });
      s.note('unknown session', unknown.connectResponse);
      s.note('unknown session: closed', await unknown.raw.waitClosed());
      // ZooKeeper drops the session's current connection on any attempt to take it over, even
      // one with a wrong password; the session itself lives on.
      s.note('the real session\'s connection after the attempts', await c1.ping().then(() => 'open', (e: Error) => e.name));
      const back = await s.connect({ sessionId: c1.sessionId, passwd: c1.passwd, timeoutMs: 2000 });
      s.note('the session survives', { sessionId: back.connectResponse.sessionId, timeOut: back.connectResponse.timeOut });
      s.reply('and works', await back.exists('/'), R.decodeExistsResponse);
    });
  });

  await t.test('expiry deletes ephemerals and notifies watchers on other sessions', async (t) => {
    await compare(t, async (s) => {
      const watcher = await s.connect({ timeoutMs: 2000 });
      s.reply('create parent', await watcher.create('/s4'), R.decodeCreateResponse);
      const doomed = await s.connect({ timeoutMs: MIN_TIMEOUT_MS, keepAlive: false });
      s.reply('create ephemeral', await doomed.create('/s4/e', null, 1), R.decodeCreateResponse);
      // A second ephemeral elsewhere: ZooKeeper deletes a session's nodes in hash-set order, so
      // only one of them sits under the watched parent.
      s.reply('create other parent', await watcher.create('/s4b'), R.decodeCreateResponse);
      s.reply('create ephemeral 2', await doomed.create('/s4b/f', null, 1), R.decodeCreateResponse);
      s.reply('watch the node', await watcher.exists('/s4/e', true), R.decodeExistsResponse);
      s.reply('watch the parent', await watcher.getChildren('/s4', true), R.decodeGetChildrenResponse);
      await watcher.waitNotification((e) => e.type === EventType.NodeChildrenChanged, 10_000).catch(() => undefined);
      await watcher.waitNotification((e) => e.type === EventType.NodeDeleted, 10_000).catch(() => undefined);
      s.note('events', events(watcher));
      s.note('expired connection closed', await doomed.raw.waitClosed());
      s.reply('ephemerals gone', await watcher.getChildren('/s4'), R.decodeGetChildrenResponse);
      s.reply('parent stat', await watcher.exists('/s4'), R.decodeExistsResponse);
      s.reply('other ephemeral gone', await watcher.getChildren('/s4b'), R.decodeGetChildrenResponse);
      const again = await s.connect({ sessionId: doomed.sessionId, passwd: doomed.passwd });
      s.note('reconnect to the expired session', again.connectResponse);
    });
  });

  await t.test('closeSession: the reply comes before the close and the ephemerals are gone', async (t) => {
    await compare(t, async (s) => {
      const watcher = await s.connect({ timeoutMs: 2000 });
      s.reply('create parent', await watcher.create('/s5'), R.decodeCreateResponse);
      const c = await s.connect({ timeoutMs: 2000 });
      s.reply('create ephemeral', await c.create('/s5/e', null, 1), R.decodeCreateResponse);
      s.reply('watch it', await watcher.exists('/s5/e', true), R.decodeExistsResponse);
      const reply = await c.close();
      s.note('closeSession reply', reply ? { xid: reply.header.xid, err: reply.header.err, zxid: s.zxid(reply.header.zxid) } : 'none');
      s.note('closed', c.closed);
      await watcher.waitNotification((e) => e.path === '/s5/e').catch(() => undefined);
      s.note('events', events(watcher));
      s.reply('gone', await watcher.exists('/s5/e'), R.decodeExistsResponse);
      s.reply('parent', await watcher.exists('/s5'), R.decodeExistsResponse);
    });
  });

  await t.test('setWatches with relativeZxid fires the events missed since', async (t) => {
    await compare(t, async (s) => {
      const a = await s.connect({ timeoutMs: 2000 });
      for (const p of ['/s6', '/s6/data', '/s6/gone', '/s6/kids', '/s6/same']) s.reply(`create ${p}`, await a.create(p), R.decodeCreateResponse);
      const seen = (await a.ping()).header.zxid;
      const b = await s.connect({ timeoutMs: 2000 });
      s.reply('change data', await b.setData('/s6/data', Buffer.from('x')), R.decodeSetDataResponse);
      s.reply('delete', await b.delete('/s6/gone'), undefined);
      s.reply('create new', await b.create('/s6/new'), R.decodeCreateResponse);
      s.reply('add a child', await b.create('/s6/kids/k'), R.decodeCreateResponse);
      // As after a reconnect: a fresh connection re-registers what the client watched at `seen`.
      const c = await s.connect({ timeoutMs: 2000, lastZxidSeen: seen });
      const sw = await c.request(
        OpCode.setWatches,
        (w) =>
          R.encodeSetWatches(w, {
            relativeZxid: seen,
            dataWatches: ['/s6/data', '/s6/gone', '/s6/same'],
            existWatches: ['/s6/new', '/s6/absent'],
            childWatches: ['/s6/kids', '/s6/same'],
          }),
        { xid: Xid.setWatches },
      );
      s.reply('setWatches', sw);
      s.note('events at once', events(c));
      s.note('events before the reply', c.notifications.every((n) => n.seq < sw.seq));
      const n = c.notifications.length;
      s.reply('change a watched node', await b.setData('/s6/same', Buffer.from('y')), R.decodeSetDataResponse);
      s.reply('create a watched absent node', await b.create('/s6/absent'), R.decodeCreateResponse);
      s.reply('child of a watched node', await b.create('/s6/same/k'), R.decodeCreateResponse);
      await c.waitNotification((e) => e.path === '/s6/same' && e.type === EventType.NodeChildrenChanged).catch(() => undefined);
      s.note('events later', events(c, n));
    });
  });

  await t.test('setWatches2 re-registers persistent watches', async (t) => {
    await compare(t, async (s) => {
      const a = await s.connect({ timeoutMs: 2000 });
      s.reply('create', await a.create('/s7'), R.decodeCreateResponse);
      const seen = (await a.ping()).header.zxid;
      const sw = await a.request(
        OpCode.setWatches2,
        (w) =>
          R.encodeSetWatches2(w, {
            relativeZxid: seen,
            dataWatches: [],
            existWatches: [],
            childWatches: [],
            persistentWatches: ['/s7'],
            persistentRecursiveWatches: ['/s7/r'],
          }),
        { xid: Xid.setWatches },
      );
      s.reply('setWatches2', sw);
      const b = await s.connect({ timeoutMs: 2000 });
      s.reply('set', await b.setData('/s7', Buffer.from('1')), R.decodeSetDataResponse);
      s.reply('create r', await b.create('/s7/r'), R.decodeCreateResponse);
      s.reply('create r/x', await b.create('/s7/r/x'), R.decodeCreateResponse);
      s.reply('set again', await b.setData('/s7', Buffer.from('2')), R.decodeSetDataResponse);
      await a.waitNotification((e) => e.path === '/s7' && a.notifications.length >= 5).catch(() => undefined);
      s.note('events', events(a));
    });
  });

  await t.test('a client that has seen a newer zxid is refused without a response', async (t) => {
    await compare(t, async (s) => {
      const c = await s.connect({ timeoutMs: 2000 });
      const last = (await c.ping()).header.zxid;
      s.note('at the current zxid', (await s.connect({ lastZxidSeen: last })).connectResponse.timeOut);
      const outcome = await ZkClient.connect(s.endpoint.host, s.endpoint.port, { lastZxidSeen: last + 1000n }).then(
        (x) => {
          x.destroy();
          return `answered with timeOut ${x.connectResponse.timeOut}`;
        },
        (e: Error) => e.name,
      );
      s.note('from the future', outcome);
    });
  });
});

t.test('default timeout bounds are 2 and 20 ticks', async (t) => {
  for (const tick of [200, 2000]) {
    const srv = await startInProcessZkts({ tickTime: String(tick) });
    const got: number[] = [];
    for (const asked of [1, 2 * tick, 5 * tick, 20 * tick, 1_000_000]) {
      const c = await ZkClient.connect(srv.host, srv.port, { timeoutMs: asked });
      got.push(c.connectResponse.timeOut);
      await c.close();
    }
    t.same(got, [2 * tick, 2 * tick, 5 * tick, 20 * tick, 20 * tick], `tickTime ${tick}`);
    await srv.stop();
  }
});

t.test('expiry runs on the injected clock', async (t) => {
  let nowMs = 1_000_000;
  // The expiry timer runs every real tick; which sessions are due is decided by the fake clock.
  const srv = await startInProcessZkts({ tickTime: '100', maxSessionTimeout: '100000000' }, {}, () => nowMs);
  t.teardown(() => srv.stop());
  const watcher = await ZkClient.connect(srv.host, srv.port, { timeoutMs: 100_000_000, keepAlive: false });
  const doomed = await ZkClient.connect(srv.host, srv.port, { timeoutMs: 2_000, keepAlive: false });
  t.equal(doomed.connectResponse.timeOut, 2_000);
  t.equal((await doomed.create('/e', null, 1)).header.err, 0);
  t.equal((await watcher.exists('/e', true)).header.err, 0);
  nowMs += 1_000;
  t.equal((await watcher.exists('/e')).header.err, 0, 'not expired within its timeout');
  nowMs += 5_000;
  const n = await watcher.waitNotification((e) => e.path === '/e').catch(() => undefined);
  t.equal(n?.event.type, EventType.NodeDeleted, 'expired once the clock passed its timeout');
  t.ok(await doomed.raw.waitClosed(), 'the connection of the expired session is closed');
  t.equal((await watcher.exists('/e')).header.err, -101);
  watcher.destroy();
});
