// Every opcode over a real socket, differential: each scenario runs against zkts and Apache
// ZooKeeper, and the normalized transcripts (error codes, zxids relative to the scenario's start,
// Stat fields, bodies, notifications) must match.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { EventType, OpCode, Xid } from '../src/protocol/constants';
import type { JuteWriter } from '../src/protocol/jute';
import { JuteReader } from '../src/protocol/jute';
import * as R from '../src/protocol/generated/records';
import { differential, OPEN_ACL, startInProcessZkts, ZkClient, type Reply, type Scenario } from './util/client';
import { startReferenceZooKeeper } from './util/servers';

const CONTAINER_CHECK_MS = '500';
const READ_ALL: R.ACL[] = [{ perms: 1, id: { scheme: 'world', id: 'anyone' } }];

function digest(userPass: string): string {
  const user = userPass.slice(0, userPass.indexOf(':'));
  return `${user}:${createHash('sha1').update(userPass).digest('base64')}`;
}

function createReq(path: string, flags = 0, acl: R.ACL[] = OPEN_ACL, data: Buffer | null = null): (w: JuteWriter) => void {
  return (w) => R.encodeCreateRequest(w, { path, data, acl, flags });
}

/** Multi results as a client reads them. */
function decodeMultiResponse(r: JuteReader): unknown[] {
  const out: unknown[] = [];
  for (;;) {
    const h = R.decodeMultiHeader(r);
    if (h.done) return out;
    switch (h.type) {
      case OpCode.error:
        out.push({ type: h.type, err: h.err, body: R.decodeErrorResponse(r).err });
        break;
      case OpCode.create:
        out.push({ type: h.type, err: h.err, ...R.decodeCreateResponse(r) });
        break;
      case OpCode.create2:
      case OpCode.createContainer:
      case OpCode.createTTL:
        out.push({ type: h.type, err: h.err, ...R.decodeCreate2Response(r) });
        break;
      case OpCode.setData:
        out.push({ type: h.type, err: h.err, ...R.decodeSetDataResponse(r) });
        break;
      case OpCode.getData:
        out.push({ type: h.type, err: h.err, ...R.decodeGetDataResponse(r) });
        break;
      case OpCode.getChildren:
        out.push({ type: h.type, err: h.err, ...R.decodeGetChildrenResponse(r) });
        break;
      default:
        out.push({ type: h.type, err: h.err });
    }
  }
}

type Op = { type: number; write: (w: JuteWriter) => void };
function multiBody(ops: Op[]): (w: JuteWriter) => void {
  return (w) => {
    for (const op of ops) {
      R.encodeMultiHeader(w, { type: op.type, done: false, err: -1 });
      op.write(w);
    }
    R.encodeMultiHeader(w, { type: -1, done: true, err: -1 });
  };
}

function events(c: ZkClient, from = 0): string[] {
  return c.notifications.slice(from).map((n) => `${n.event.type}:${n.event.path}`);
}

async function auth(c: ZkClient, scheme: string, credentials: string): Promise<Reply> {
  return c.request(OpCode.auth, (w) => R.encodeAuthPacket(w, { type: 0, scheme, auth: Buffer.from(credentials) }), { xid: Xid.auth });
}

t.test('opcodes, zkts against ZooKeeper', async (t) => {
  const props = { 'znode.container.checkIntervalMs': CONTAINER_CHECK_MS };
  const jvmFlags = [`-Dznode.container.checkIntervalMs=${CONTAINER_CHECK_MS}`];
  // Two pairs, each with its own zkts so that a scenario can run on both: zkts against 3.9.5 (the
  // release zkts follows) and zkts against 3.8.0.
  const [zk, ref, zk38, ref38] = await Promise.all([
    startInProcessZkts({}, props),
    startReferenceZooKeeper({ version: '3.9.5', jvmFlags }),
    startInProcessZkts({}, props),
    startReferenceZooKeeper({ jvmFlags }),
  ]);
  t.teardown(async () => {
    await zk.stop();
    await ref.stop();
    await zk38.stop();
    await ref38.stop();
  });
  const compare = differential(zk, ref);
  const compare38 = differential(zk38, ref38);
  /**
   * A scenario where 3.9.5 answers otherwise than 3.8.0 and zkts as 3.9.5: it runs as written
   * against 3.9.5, and against 3.8.0 without the ops the releases answer differently.
   */
  const compareBoth = async (t: Test, fn: (s: Scenario, as39: boolean) => Promise<void>): Promise<void> => {
    await t.test('as ZooKeeper 3.9.5', (t) => compare(t, (s) => fn(s, true)));
    await t.test('as ZooKeeper 3.8.0, but for the ops 3.9 changed', (t) => compare38(t, (s) => fn(s, false)));
  };

  await t.test('create: results, Stat fields and error codes', async (t) => {
    await compare(t, async (s) => {
      const c = await s.connect();
      const cr = (label: string, type: number, body: (w: JuteWriter) => void) =>
        c.request(type, body).then((r) => s.reply(label, r, type === OpCode.create ? R.decodeCreateResponse : R.decodeCreate2Response));
      await cr('create2 /a', OpCode.create2, createReq('/a', 0, OPEN_ACL, Buffer.from('hello')));
      await cr('create /a again', OpCode.create, createReq('/a'));
      await cr('create2 /a/b null data', OpCode.create2, createReq('/a/b'));
      s.reply('getData null data', await c.getData('/a/b'), R.decodeGetDataResponse);
      s.reply('getData /a', await c.getData('/a'), R.decodeGetDataResponse);
      await cr('missing parent', OpCode.create, createReq('/nope/x'));
      for (const bad of ['a', '', '/a/', '/a//b', '/a/.', '/a/..', '/a/b\u0000c', '/a/\u0001']) await cr(`bad path ${JSON.stringify(bad)}`, OpCode.create, createReq(bad));
      await cr('sequential with a trailing slash', OpCode.create, createReq('/a/', 2));
      await cr('sequential', OpCode.create2, createReq('/a/seq-', 2));
      await cr('ephemeral sequential', OpCode.create2, createReq('/a/eseq-', 3));
      await cr('sequential bad path', OpCode.create, createReq('/a//', 2));
      await cr('empty ACL', OpCode.create, createReq('/a/acl0', 0, []));
      await cr('digest ACL without a colon', OpCode.create, createReq('/a/acl1', 0, [{ perms: 31, id: { scheme: 'digest', id: 'nocolon' } }]));
      await cr('auth ACL without auth', OpCode.create, createReq('/a/acl2', 0, [{ perms: 31, id: { scheme: 'auth', id: '' } }]));
      await cr('unknown scheme', OpCode.create, createReq('/a/acl3', 0, [{ perms: 31, id: { scheme: 'nosuch', id: 'x' } }]));
      await cr('bad ip ACL', OpCode.create, createReq('/a/acl4', 0, [{ perms: 31, id: { scheme: 'ip', id: '300.1.2.3' } }]));
      await cr('ip ACL', OpCode.create2, createReq('/a/acl5', 0, [{ perms: 31, id: { scheme: 'ip', id: '10.0.0.0/8' } }]));
      await cr('world ACL with another id', OpCode.create, createReq('/a/acl6', 0, [{ perms: 31, id: { scheme: 'world', id: 'someone' } }]));
      await cr('ephemeral', OpCode.create2, createReq('/a/eph', 1));
      await cr('child of an ephemeral', OpCode.create, createReq('/a/eph/child'));
      await cr('TTL without extendedTypesEnabled', OpCode.createTTL, (w) => R.encodeCreateTTLRequest(w, { path: '/a/ttl', data: null, acl: OPEN_ACL, flags: 5, ttl: 1000n }));
      await cr('TTL flag on a plain create', OpCode.create, createReq('/a/ttl2', 5));
      await cr('flags 7', OpCode.create, createReq('/a/f7', 7));
      await cr('flags -1', OpCode.create, createReq('/a/fm1', -1));
      await cr('container flag on a plain create', OpCode.create, createReq('/a/cf', 4));
      await cr('createContainer with flag 0', OpCode.createContainer, createReq('/a/cf0', 0));
      await cr('createContainer', OpCode.createContainer, createReq('/a/cont', 4));
      await cr('under /zookeeper', OpCode.create, createReq('/zookeeper/mine'));
      s.reply('getChildren2 /a', await c.request(OpCode.getChildren2, (w) => R.encodeGetChildren2Request(w, { path: '/a', watch: false })), R.decodeGetChildren2Response);
    });
  });

  await t.test('delete, setData, check, reads: results and error codes', async (t) => {
    await compare(t, async (s) => {
      const c = await s.connect();
      s.reply('create /b', await c.create('/b', Buffer.from('1')), R.decodeCreateResponse);
      s.reply('create /b/k', await c.create('/b/k'), R.decodeCreateResponse);
      s.reply('setData bad version', await c.setData('/b', Buffer.from('x'), 5), R.decodeSetDataResponse);
      s.reply('setData', await c.setData('/b', Buffer.from('22'), 0), R.decodeSetDataResponse);
      s.reply('setData any version', await c.setData('/b', Buffer.from('333')), R.decodeSetDataResponse);
      s.reply('setData missing', await c.setData('/b/none', null), R.decodeSetDataResponse);
      s.reply('setData bad path', await c.setData('b', null), R.decodeSetDataResponse);
      s.reply('delete not empty', await c.delete('/b'), undefined);
      s.reply('delete bad version', await c.delete('/b/k', 3), undefined);
      s.reply('delete missing', await c.delete('/b/none'), undefined);
      s.reply('delete bad path', await c.delete('b'), undefined);
      s.reply('delete trailing slash', await c.delete('/b/'), undefined);
      s.reply('delete /', await c.delete('/'), undefined);
      s.reply('delete /zookeeper', await c.delete('/zookeeper'), undefined);
      s.reply('delete', await c.delete('/b/k', 0), undefined);
      s.reply('exists', await c.exists('/b'), R.decodeExistsResponse);
      s.reply('exists missing', await c.exists('/b/k'), R.decodeExistsResponse);
      s.reply('exists bad path', await c.exists('b'), R.decodeExistsResponse);
      s.reply('getData', await c.getData('/b'), R.decodeGetDataResponse);
      s.reply('getData missing', await c.getData('/b/k'), R.decodeGetDataResponse);
      s.reply('getData bad path', await c.getData('/b/'), R.decodeGetDataResponse);
      s.reply('getChildren', await c.getChildren('/b'), R.decodeGetChildrenResponse);
      s.reply('getChildren missing', await c.getChildren('/b/k'), R.decodeGetChildrenResponse);
      s.reply('getChildren2', await c.request(OpCode.getChildren2, (w) => R.encodeGetChildren2Request(w, { path: '/b', watch: false })), R.decodeGetChildren2Response);
      s.reply('setData /zookeeper', await c.setData('/zookeeper', Buffer.from('x')), R.decodeSetDataResponse);
      s.reply('getData /zookeeper/config', await c.getData('/zookeeper/config'), R.decodeGetDataResponse);
    });
  });

  await t.test('ACLs, auth, NOAUTH, getACL digest masking, whoAmI', async (t) => {
    await compare(t, async (s) => {
      const owner = await s.connect();
      const other = await s.connect();
      const userDigest = digest('user:secret');
      s.reply('addauth digest', await auth(owner, 'digest', 'user:secret'));
      s.reply('whoAmI with digest', await owner.request(OpCode.whoAmI), R.decodeWhoAmIResponse);
      s.reply('whoAmI anonymous', await other.request(OpCode.whoAmI), R.decodeWhoAmIResponse);
      const acl: R.ACL[] = [
        { perms: 31, id: { scheme: 'digest', id: userDigest } },
        { perms: 1, id: { scheme: 'world', id: 'anyone' } },
      ];
      s.reply('create with digest ACL', await owner.create2('/c', Buffer.from('x'), 0, acl), R.decodeCreate2Response);
      s.reply('getACL as owner', await owner.request(OpCode.getACL, (w) => R.encodeGetACLRequest(w, { path: '/c' })), R.decodeGetACLResponse);
      s.reply('getACL as other (masked)', await other.request(OpCode.getACL, (w) => R.encodeGetACLRequest(w, { path: '/c' })), R.decodeGetACLResponse);
      s.reply('getData as other', await other.getData('/c'), R.decodeGetDataResponse);
      s.reply('setData as other', await other.setData('/c', Buffer.from('y')), R.decodeSetDataResponse);
      s.reply('create child as other', await other.create('/c/k'), R.decodeCreateResponse);
      s.reply('setACL as other', await other.request(OpCode.setACL, (w) => R.encodeSetACLRequest(w, { path: '/c', acl: OPEN_ACL, version: -1 })), R.decodeSetACLResponse);
      s.reply('create child as owner', await owner.create('/c/k'), R.decodeCreateResponse);
      s.reply('delete child as other', await other.delete('/c/k'), undefined);
      s.reply('setACL bad version', await owner.request(OpCode.setACL, (w) => R.encodeSetACLRequest(w, { path: '/c', acl, version: 4 })), R.decodeSetACLResponse);
      s.reply('setACL auth scheme', await owner.request(OpCode.setACL, (w) => R.encodeSetACLRequest(w, { path: '/c/k', acl: [{ perms: 31, id: { scheme: 'auth', id: '' } }], version: 0 })), R.decodeSetACLResponse);
      s.reply('getACL after auth-scheme setACL', await owner.request(OpCode.getACL, (w) => R.encodeGetACLRequest(w, { path: '/c/k' })), R.decodeGetACLResponse);
      s.reply('setACL empty', await owner.request(OpCode.setACL, (w) => R.encodeSetACLRequest(w, { path: '/c', acl: [], version: -1 })), R.decodeSetACLResponse);
      s.reply('create without read', await owner.create2('/c2', null, 0, [{ perms: 2, id: { scheme: 'world', id: 'anyone' } }]), R.decodeCreate2Response);
      s.reply('getData without read', await other.getData('/c2'), R.decodeGetDataResponse);
      s.reply('getACL without read or admin', await other.request(OpCode.getACL, (w) => R.encodeGetACLRequest(w, { path: '/c2' })), R.decodeGetACLResponse);
      s.reply('exists without read', await other.exists('/c2'), R.decodeExistsResponse);
      // 3.9 asks READ before it sets the watch: a refused exists leaves none.
      s.reply('exists with a watch, without read', await other.exists('/c2', true), R.decodeExistsResponse);
      s.reply('setData by a writer', await owner.setData('/c2', Buffer.from('w')), R.decodeSetDataResponse);
      s.reply('ping after the write', await other.ping());
      s.note('events after the refused exists', events(other));
      s.reply('getChildren without read', await other.getChildren('/c2'), R.decodeGetChildrenResponse);
      s.reply('create read-only', await owner.create('/c3', null, 0, READ_ALL), R.decodeCreateResponse);
      s.reply('setData read-only', await owner.setData('/c3', Buffer.from('z')), R.decodeSetDataResponse);
      s.reply('getAllChildrenNumber without read', await other.request(OpCode.getAllChildrenNumber, (w) => R.encodeGetAllChildrenNumberRequest(w, { path: '/c2' })), R.decodeGetAllChildrenNumberResponse);
      const bad = await s.connect();
      const failed = await auth(bad, 'nosuch', 'x').catch((e: Error) => e);
      s.note('auth with an unknown scheme', failed instanceof Error ? failed.name : { err: failed.header.err, zxid: s.zxid(failed.header.zxid) });
      s.note('closed after the failed auth', await bad.raw.waitClosed());
    });
  });

  // ZooKeeper 3.9.5 (and Debian's patched 3.8.0) check READ on the node's ACL before delivering
  // any watch event, one-shot ones included; the watch is used up either way.
  await t.test('a watch notification for a node the watcher may not read', async (t) => {
    await compare(t, async (s) => {
      const owner = await s.connect();
      const other = await s.connect();
      s.reply('exists of a missing node, with a watch', await other.exists('/unreadable-later', true), R.decodeExistsResponse);
      s.reply('create it without READ for anyone', await owner.create('/unreadable-later', null, 0, [{ perms: 2, id: { scheme: 'world', id: 'anyone' } }]), R.decodeCreateResponse);
      s.reply('ping after the create', await other.ping());
      s.note('events', events(other));
      s.reply('exists on the unreadable node: NOAUTH, no watch set', await other.exists('/unreadable-later', true), R.decodeExistsResponse);
      s.reply('delete it', await owner.delete('/unreadable-later'));
      // A child watch set while the parent was readable, then the parent's READ taken away: the
      // child-list change is checked against the parent's ACL; a data watch on a readable child
      // still fires.
      s.reply('create /p readable', await owner.create('/p'), R.decodeCreateResponse);
      s.reply('create /p/k readable', await owner.create('/p/k'), R.decodeCreateResponse);
      s.reply('child watch /p', await other.getChildren('/p', true), R.decodeGetChildrenResponse);
      s.reply('data watch /p/k', await other.getData('/p/k', true), R.decodeGetDataResponse);
      const noRead: R.ACL[] = [{ perms: 0x1f & ~1, id: { scheme: 'world', id: 'anyone' } }];
      s.reply('take READ away from /p', await owner.request(OpCode.setACL, (w) => R.encodeSetACLRequest(w, { path: '/p', acl: noRead, version: -1 })), R.decodeSetACLResponse);
      s.reply('create /p/k2', await owner.create('/p/k2'), R.decodeCreateResponse);
      s.reply('setData /p/k', await owner.setData('/p/k', Buffer.from('x')), R.decodeSetDataResponse);
      s.reply('ping after the changes', await other.ping());
      s.note('events after the changes', events(other));
    });
  });

  await t.test('getEphemerals, getAllChildrenNumber', async (t) => {
    await compare(t, async (s) => {
      const c = await s.connect();
      const other = await s.connect();
      for (const p of ['/d', '/d/x', '/d/x/y', '/d/z', '/dd']) s.reply(`create ${p}`, await c.create(p), R.decodeCreateResponse);
      for (const p of ['/d/e1', '/d/x/e2', '/dd/e3', '/de4']) s.reply(`create ephemeral ${p}`, await c.create(p, null, 1), R.decodeCreateResponse);
      s.reply('other ephemeral', await other.create('/d/o1', null, 1), R.decodeCreateResponse);
      for (const prefix of ['/', '/d', '/d/', '/d/x', '/nope', '/de', '']) {
        const r = await c.request(OpCode.getEphemerals, (w) => R.encodeGetEphemeralsRequest(w, { prefixPath: prefix }));
        s.reply(`getEphemerals ${JSON.stringify(prefix)}`, r, (rd) => ({ ephemerals: R.decodeGetEphemeralsResponse(rd).ephemerals.sort() }));
      }
      for (const p of ['/d', '/d/x', '/d/x/y', '/nope']) {
        s.reply(`getAllChildrenNumber ${p}`, await c.request(OpCode.getAllChildrenNumber, (w) => R.encodeGetAllChildrenNumberRequest(w, { path: p })), R.decodeGetAllChildrenNumberResponse);
      }
    });
  });

  // checkWatches of type Children or Data on a path with only a persistent (recursive) watch:
  // 3.9.5 and zkts answer NOWATCHER, 3.8.0 answered OK.
  await t.test('watches: one-shot, persistent, recursive, checkWatches, removeWatches', async (t) => {
    await compare(t, async (s) => {
      const w = await s.connect();
      const c = await s.connect();
      const addWatch = (path: string, mode: number) => w.request(OpCode.addWatch, (x) => R.encodeAddWatchRequest(x, { path, mode }));
      const check = (path: string, type: number) => w.request(OpCode.checkWatches, (x) => R.encodeCheckWatchesRequest(x, { path, type }));
      const remove = (path: string, type: number) => w.request(OpCode.removeWatches, (x) => R.encodeRemoveWatchesRequest(x, { path, type }));
      s.reply('addWatch persistent /e', await addWatch('/e', 0));
      s.reply('addWatch recursive /e2', await addWatch('/e2', 1));
      s.reply('addWatch bad mode', await addWatch('/e3', 7));
      s.reply('exists watch /w', await w.exists('/w', true), R.decodeExistsResponse);
      s.reply('create /w', await c.create('/w'), R.decodeCreateResponse);
      s.reply('getData watch /w', await w.getData('/w', true), R.decodeGetDataResponse);
      s.reply('getChildren watch /w', await w.getChildren('/w', true), R.decodeGetChildrenResponse);
      // Types 4 and 5 (Persistent, PersistentRecursive) came with ZooKeeper 3.9; the 3.8 reference
      // refuses them, so they are checked against zkts alone below.
      for (const [type, name] of [[1, 'Children'], [2, 'Data'], [3, 'Any']] as const) {
        s.reply(`checkWatches /w ${name}`, await check('/w', type));
        s.reply(`checkWatches /e ${name}`, await check('/e', type));
        s.reply(`checkWatches /e2 ${name}`, await check('/e2', type));
      }
      s.reply('create /e', await c.create('/e'), R.decodeCreateResponse);
      s.reply('setData /e', await c.setData('/e', Buffer.from('1')), R.decodeSetDataResponse);
      s.reply('create /e/c', await c.create('/e/c'), R.decodeCreateResponse);
      s.reply('setData /e/c (not watched)', await c.setData('/e/c', Buffer.from('1')), R.decodeSetDataResponse);
      s.reply('create /e2', await c.create('/e2'), R.decodeCreateResponse);
      s.reply('create /e2/x', await c.create('/e2/x'), R.decodeCreateResponse);
      s.reply('create /e2/x/y', await c.create('/e2/x/y'), R.decodeCreateResponse);
      s.reply('setData /e2/x/y', await c.setData('/e2/x/y', Buffer.from('1')), R.decodeSetDataResponse);
      s.reply('delete /e2/x/y', await c.delete('/e2/x/y'), undefined);
      s.reply('setData /w', await c.setData('/w', Buffer.from('1')), R.decodeSetDataResponse);
      s.reply('create /w/k', await c.create('/w/k'), R.decodeCreateResponse);
      s.reply('setData /w again (watch used up)', await c.setData('/w', Buffer.from('2')), R.decodeSetDataResponse);
      // A marker write seen by the watcher's own watch shows every earlier event has arrived.
      s.reply('getData watch /w', await w.getData('/w', true), R.decodeGetDataResponse);
      s.reply('marker', await c.setData('/w', Buffer.from('3')), R.decodeSetDataResponse);
      await w.waitNotification((e) => e.path === '/w' && w.notifications.filter((n) => n.event.path === '/w' && n.event.type === EventType.NodeDataChanged).length >= 2).catch(() => undefined);
      s.note('events', events(w));
      const n = w.notifications.length;
      s.reply('removeWatches Any /e', await remove('/e', 3));
      s.reply('removeWatches Any /e again', await remove('/e', 3));
      s.reply('removeWatches Any /e2', await remove('/e2', 3));
      s.reply('removeWatches unwatched', await remove('/nowhere', 3));
      s.reply('getData watch /w', await w.getData('/w', true), R.decodeGetDataResponse);
      s.reply('removeWatches Data /w', await remove('/w', 2));
      s.reply('removeWatches Children /w', await remove('/w', 1));
      s.reply('checkWatches after removal', await check('/e', 3));
      s.reply('setData /e after removal', await c.setData('/e', Buffer.from('2')), R.decodeSetDataResponse);
      s.reply('ping', await w.ping());
      s.note('events after removal', events(w, n));
    });
  });

  await t.test('checkWatches and removeWatches of persistent watches by type (3.9)', async (t) => {
    const w = await ZkClient.connect(zk.host, zk.port);
    const err = async (type: number, body: (x: JuteWriter) => void) => (await w.request(type, body)).header.err;
    const check = (path: string, type: number) => err(OpCode.checkWatches, (x) => R.encodeCheckWatchesRequest(x, { path, type }));
    const remove = (path: string, type: number) => err(OpCode.removeWatches, (x) => R.encodeRemoveWatchesRequest(x, { path, type }));
    t.equal(await err(OpCode.addWatch, (x) => R.encodeAddWatchRequest(x, { path: '/pw', mode: 0 })), 0);
    t.equal(await err(OpCode.addWatch, (x) => R.encodeAddWatchRequest(x, { path: '/pr', mode: 1 })), 0);
    t.equal(await check('/pw', 4), 0, 'persistent watch found as Persistent');
    t.equal(await check('/pw', 5), -121, 'but not as PersistentRecursive');
    t.equal(await check('/pr', 5), 0, 'recursive watch found as PersistentRecursive');
    t.equal(await check('/pr', 4), -121, 'but not as Persistent');
    t.equal(await remove('/pw', 4), 0, 'removed');
    t.equal(await remove('/pw', 4), -121, 'gone');
    t.equal(await remove('/pr', 5), 0, 'removed');
    t.equal(await check('/pr', 5), -121, 'gone');
    await w.close();
  });

  await t.test('multi and multiRead', async (t) => {
    // A create2 op in a multi: 3.9.5 answers a create2 result (type 15, path and Stat as of that
    // op, here before the setData of /f/b later in the multi), 3.8.0 a create result (type 1,
    // path); zkts answers as 3.9.5 (the txn stays a create, which 3.8 members can apply).
    await compareBoth(t, async (s, as39) => {
      const c = await s.connect();
      const ok: Op[] = [
        { type: OpCode.create, write: createReq('/f', 0, OPEN_ACL, Buffer.from('a')) },
        { type: OpCode.create, write: createReq('/f/a') },
        { type: as39 ? OpCode.create2 : OpCode.create, write: createReq('/f/b') },
        { type: OpCode.setData, write: (w) => R.encodeSetDataRequest(w, { path: '/f/b', data: Buffer.from('later'), version: 0 }) },
        { type: as39 ? OpCode.create2 : OpCode.create, write: createReq('/f/c', 1) },
        { type: OpCode.create, write: createReq('/f/s-', 2) },
        { type: OpCode.setData, write: (w) => R.encodeSetDataRequest(w, { path: '/f', data: Buffer.from('b'), version: 0 }) },
        { type: OpCode.check, write: (w) => R.encodeCheckVersionRequest(w, { path: '/f', version: 1 }) },
        { type: OpCode.delete, write: (w) => R.encodeDeleteRequest(w, { path: '/f/a', version: 0 }) },
        { type: OpCode.createContainer, write: createReq('/f/cont', 4) },
      ];
      s.reply('multi ok', await c.request(OpCode.multi, multiBody(ok)), decodeMultiResponse);
      const failing: Op[] = [
        { type: OpCode.create, write: createReq('/f2') },
        { type: OpCode.check, write: (w) => R.encodeCheckVersionRequest(w, { path: '/f', version: 99 }) },
        { type: OpCode.create, write: createReq('/f3') },
      ];
      s.reply('multi failing', await c.request(OpCode.multi, multiBody(failing)), decodeMultiResponse);
      s.reply('nothing of the failed multi', await c.exists('/f2'), R.decodeExistsResponse);
      s.reply(
        'multi check on a missing node',
        await c.request(OpCode.multi, multiBody([{ type: OpCode.check, write: (w) => R.encodeCheckVersionRequest(w, { path: '/nope', version: 0 }) }, { type: OpCode.create, write: createReq('/f4') }])),
        decodeMultiResponse,
      );
      s.reply('multi empty', await c.request(OpCode.multi, multiBody([])), decodeMultiResponse);
      s.reply('multi with a bad path', await c.request(OpCode.multi, multiBody([{ type: OpCode.create, write: createReq('bad') }])), decodeMultiResponse);
      s.reply(
        'multi create then delete same node',
        await c.request(OpCode.multi, multiBody([{ type: OpCode.create, write: createReq('/f/t') }, { type: OpCode.delete, write: (w) => R.encodeDeleteRequest(w, { path: '/f/t', version: -1 }) }])),
        decodeMultiResponse,
      );
      const reads: Op[] = [
        { type: OpCode.getData, write: (w) => R.encodeGetDataRequest(w, { path: '/f', watch: false }) },
        { type: OpCode.getChildren, write: (w) => R.encodeGetChildrenRequest(w, { path: '/f', watch: false }) },
        { type: OpCode.getData, write: (w) => R.encodeGetDataRequest(w, { path: '/nope', watch: false }) },
        { type: OpCode.getChildren, write: (w) => R.encodeGetChildrenRequest(w, { path: '/nope', watch: false }) },
        { type: OpCode.getData, write: (w) => R.encodeGetDataRequest(w, { path: '/f/b', watch: false }) },
      ];
      s.reply('multiRead', await c.request(OpCode.multiRead, multiBody(reads)), (r) => decodeMultiResponse(r).map((x) => ({ ...(x as object), children: (x as { children?: string[] }).children?.sort() })));
      s.reply('multiRead with a write op', await c.request(OpCode.multiRead, multiBody([ok[1]])), decodeMultiResponse);
      s.reply('multiRead empty', await c.request(OpCode.multiRead, multiBody([])), decodeMultiResponse);
      // Last: zkts drops the connection here.
      s.reply('multi with a read op', await c.request(OpCode.multi, multiBody([{ type: OpCode.getData, write: (w) => R.encodeGetDataRequest(w, { path: '/f', watch: false }) }])), decodeMultiResponse);
      s.reply('after it', await c.exists('/f'), R.decodeExistsResponse);
    });
  });

  await t.test('sync, reconfig, ping, sasl', async (t) => {
    await compare(t, async (s) => {
      const c = await s.connect();
      s.reply('create', await c.create('/g'), R.decodeCreateResponse);
      s.reply('sync /g', await c.request(OpCode.sync, (w) => R.encodeSyncRequest(w, { path: '/g' })), R.decodeSyncResponse);
      s.reply('sync missing', await c.request(OpCode.sync, (w) => R.encodeSyncRequest(w, { path: '/nope' })), R.decodeSyncResponse);
      s.reply('reconfig', await c.request(OpCode.reconfig, (w) => R.encodeReconfigRequest(w, { joiningServers: '', leavingServers: '2', newMembers: '', curConfigId: -1n })));
      s.reply('ping', await c.ping());
      s.reply('write after reconfig', await c.create('/g/after'), R.decodeCreateResponse);
    });
  });

  await t.test('a container is removed once its last child is deleted', async (t) => {
    await compare(t, async (s) => {
      const c = await s.connect();
      s.reply('createContainer', await c.request(OpCode.createContainer, createReq('/cont', 4)), R.decodeCreate2Response);
      s.reply('create child', await c.create('/cont/k'), R.decodeCreateResponse);
      s.reply('delete child', await c.delete('/cont/k'), undefined);
      s.reply('watch it', await c.exists('/cont', true), R.decodeExistsResponse);
      const n = await c.waitNotification((e) => e.path === '/cont', 15_000).catch(() => undefined);
      s.note('event', n ? `${n.event.type}:${n.event.path}` : 'none');
      s.reply('gone', await c.exists('/cont'), R.decodeExistsResponse);
      s.reply('a never-used container stays', await c.request(OpCode.createContainer, createReq('/cont2', 4)), R.decodeCreate2Response);
    });
  });
});

t.test('TTL nodes, with extendedTypesEnabled', async (t) => {
  const props = { 'zookeeper.extendedTypesEnabled': 'true', 'znode.container.checkIntervalMs': CONTAINER_CHECK_MS };
  const [zk, ref] = await Promise.all([
    startInProcessZkts({}, props),
    startReferenceZooKeeper({ jvmFlags: Object.entries(props).map(([k, v]) => `-D${k}=${v}`) }),
  ]);
  t.teardown(async () => {
    await zk.stop();
    await ref.stop();
  });
  const ttl = (path: string, flags: number, ttlMs: bigint) => (w: JuteWriter) => R.encodeCreateTTLRequest(w, { path, data: null, acl: OPEN_ACL, flags, ttl: ttlMs });
  await differential(zk, ref)(t, async (s) => {
    const c = await s.connect();
    s.reply('createTTL', await c.request(OpCode.createTTL, ttl('/h', 5, 500n)), R.decodeCreate2Response);
    s.reply('createTTL sequential', await c.request(OpCode.createTTL, ttl('/hs-', 6, 600_000n)), R.decodeCreate2Response);
    s.reply('createTTL ttl 0', await c.request(OpCode.createTTL, ttl('/h0', 5, 0n)), R.decodeCreate2Response);
    s.reply('createTTL ttl too big', await c.request(OpCode.createTTL, ttl('/h1', 5, 1n << 41n)), R.decodeCreate2Response);
    s.reply('createTTL with flag 0', await c.request(OpCode.createTTL, ttl('/h2', 0, 1000n)), R.decodeCreate2Response);
    s.reply('createTTL ephemeral flag', await c.request(OpCode.createTTL, ttl('/h3', 1, 1000n)), R.decodeCreate2Response);
    s.reply('TTL flag on a plain create', await c.create2('/h4', null, 5), R.decodeCreate2Response);
    s.reply('ephemeral under TTL parent', await c.create('/hs-0000000001/e', null, 1), R.decodeCreateResponse);
    s.reply('watch /h', await c.exists('/h', true), R.decodeExistsResponse);
    const n = await c.waitNotification((e) => e.path === '/h', 15_000).catch(() => undefined);
    s.note('TTL expiry event', n ? `${n.event.type}:${n.event.path}` : 'none');
    s.reply('gone', await c.exists('/h'), R.decodeExistsResponse);
  });
});
