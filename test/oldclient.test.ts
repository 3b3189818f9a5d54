// Replies whose shape depends on what the client sent, over raw sockets, zkts against Apache
// ZooKeeper 3.8.0 (differential: the normalized transcripts must match).
//
// The ConnectResponse: ZooKeeper writes the trailing readOnly flag only when the ConnectRequest
// carried one; a client older than read-only mode (ClickHouse 18's own client among them) gets 36
// bytes and rejects a 37th. That holds for all three answers: a new session, a reconnect, and the
// zeroed answer to a wrong password or an expired session.
//
// The other replies checked here for their exact length and layout: create vs create2 /
// createContainer / createTTL bodies, getChildren vs getChildren2, exists/getData/getChildren on a
// missing node (header only), setWatches vs setWatches2 (header only, xid -8), sync, getACL, auth,
// ping, closeSession, and a body the server could not decode. One deliberate difference: a
// successful check outside a multi, which ZooKeeper 3.8.0 never answers.
import t from 'tap';
import { OpCode, Xid } from '../src/protocol/constants';
import type { JuteReader, JuteWriter } from '../src/protocol/jute';
import * as R from '../src/protocol/generated/records';
import { differential, OPEN_ACL, RawConnection, connectFrame, startInProcessZkts, waitFor, ZkClient, type Reply, type Scenario } from './util/client';
import { startReferenceZooKeeper } from './util/servers';

const TICK_MS = 200;
const MIN_TIMEOUT_MS = 600;
const CONFIG = { tickTime: String(TICK_MS), minSessionTimeout: String(MIN_TIMEOUT_MS), maxSessionTimeout: '3000' };
const PROPS = { 'zookeeper.extendedTypesEnabled': 'true' };
/** protocolVersion, timeOut, sessionId, passwd (length + 16 bytes). */
const OLD_CONNECT_RESPONSE_BYTES = 36;

/** The bytes of a ConnectResponse that do not vary between servers: all but session id and password. */
function connectShape(s: Scenario, f: Buffer): Record<string, unknown> {
  return {
    bytes: f.length,
    protocolVersion: f.readInt32BE(0),
    timeOut: f.readInt32BE(4),
    sessionId: s.session(f.readBigInt64BE(8)),
    passwdLength: f.readInt32BE(16),
    passwdZero: f.subarray(20, 36).equals(Buffer.alloc(16)),
    tail: f.subarray(OLD_CONNECT_RESPONSE_BYTES).toString('hex'),
  };
}

/** A reply's shape: error, body length, the body decoded, and whatever the decoder left over. */
function shape<T>(s: Scenario, label: string, r: Reply, decode?: (reader: JuteReader) => T): void {
  const entry: Record<string, unknown> = { xid: r.header.xid, err: r.header.err, bodyBytes: r.reader.remaining() };
  if (r.header.err === 0 && decode) entry.body = s.normalize(decode(r.reader));
  entry.leftOver = r.reader.remaining();
  s.transcript.push([label, entry]);
}

function createReq(path: string, flags = 0): (w: JuteWriter) => void {
  return (w) => R.encodeCreateRequest(w, { path, data: Buffer.from('d'), acl: OPEN_ACL, flags });
}

t.test('replies shaped by the request, zkts against ZooKeeper', async (t) => {
  const [zk, ref] = await Promise.all([
    startInProcessZkts(CONFIG, PROPS),
    startReferenceZooKeeper({ extraConfig: CONFIG, jvmFlags: Object.entries(PROPS).map(([k, v]) => `-D${k}=${v}`) }),
  ]);
  t.teardown(async () => {
    await zk.stop();
    await ref.stop();
  });
  const compare = differential(zk, ref);

  await t.test('ConnectResponse: 36 bytes to a client that sent no readOnly flag, 37 to one that did', async (t) => {
    const out = await compare(t, async (s) => {
      const first = await s.connect({ oldClient: true, timeoutMs: 2000 });
      s.note('old client, new session', connectShape(s, first.raw.frames[0]));
      s.reply('old client session works', await first.create('/oc', Buffer.from('x')), R.decodeCreateResponse);

      const modern = await s.connect({ timeoutMs: 2000 });
      s.note('new client, new session', connectShape(s, modern.raw.frames[0]));
      const modernRo = await s.connect({ timeoutMs: 2000, readOnly: true });
      s.note('new client asking for read-only, new session', connectShape(s, modernRo.raw.frames[0]));

      // A reconnect takes the style of the new request, not of the session's first one.
      const again = await s.connect({ oldClient: true, sessionId: modern.sessionId, passwd: modern.passwd, timeoutMs: 1000 });
      s.note('old client reconnects a session opened by a new client', connectShape(s, again.raw.frames[0]));
      s.reply('and works', await again.exists('/oc'), R.decodeExistsResponse);
      const back = await s.connect({ sessionId: first.sessionId, passwd: first.passwd, timeoutMs: 1000 });
      s.note('new client reconnects a session opened by an old client', connectShape(s, back.raw.frames[0]));

      const wrong = await s.connect({ oldClient: true, sessionId: first.sessionId, passwd: Buffer.alloc(16, 7) });
      s.note('old client, wrong password', connectShape(s, wrong.raw.frames[0]));
      s.note('old client, wrong password: closed', await wrong.raw.waitClosed());
      const wrongNew = await s.connect({ sessionId: first.sessionId, passwd: Buffer.alloc(16, 7) });
      s.note('new client, wrong password', connectShape(s, wrongNew.raw.frames[0]));
      s.note('new client, wrong password: closed', await wrongNew.raw.waitClosed());
    });
    // Beyond sameness: the lengths ZooKeeper's own ClientCnxn and old clients expect.
    const lengths = out.zkts.filter(([k]) => k.includes('session') && !k.includes('works')).map(([k, v]) => [k, (v as { bytes: number }).bytes]);
    t.same(lengths, [
      ['old client, new session', 36],
      ['new client, new session', 37],
      ['new client asking for read-only, new session', 37],
      ['old client reconnects a session opened by a new client', 36],
      ['new client reconnects a session opened by an old client', 37],
    ]);
    const wrong = out.zkts.filter(([k]) => k.endsWith('wrong password')).map(([, v]) => v);
    t.same(wrong.map((v) => (v as { bytes: number }).bytes), [36, 37], 'the zeroed answer follows the request too');
  });

  await t.test('the length prefix on the wire says 36 (old) and 37 (new)', async (t) => {
    for (const ep of [{ ...zk, name: 'zkts' }, { ...ref, name: 'zookeeper' }]) {
      for (const [oldClient, want] of [[true, 36], [false, 37]] as const) {
        const raw = await RawConnection.open(ep.host, ep.port);
        const bytes: Buffer[] = [];
        raw.socket.on('data', (b: Buffer) => bytes.push(b));
        raw.write(connectFrame({ oldClient, timeoutMs: 2000 }));
        await raw.waitFrames(1);
        const wire = Buffer.concat(bytes);
        t.equal(wire.length, 4 + want, `${ep.name}: ${oldClient ? 'old' : 'new'} client gets ${4 + want} bytes`);
        t.equal(wire.readInt32BE(0), want, `${ep.name}: length prefix ${want}`);
        raw.destroy();
      }
    }
  });

  await t.test('an expired session answered to an old client: zeroed, 36 bytes, then closed', async (t) => {
    const out = await compare(t, async (s) => {
      const doomed = await s.connect({ oldClient: true, timeoutMs: MIN_TIMEOUT_MS, keepAlive: false });
      const id = doomed.sessionId;
      const passwd = doomed.passwd;
      // The server closes the connection of a session it expires.
      s.note('expired and closed', await doomed.raw.waitClosed(MIN_TIMEOUT_MS * 10));
      const late = await s.connect({ oldClient: true, sessionId: id, passwd });
      s.note('reconnect after expiry', connectShape(s, late.raw.frames[0]));
      s.note('then closed', await late.raw.waitClosed());
    });
    t.same((out.zkts[1][1] as { bytes: number; sessionId: string; timeOut: number }).bytes, 36);
    t.same((out.zkts[1][1] as { timeOut: number }).timeOut, 0);
  });

  await t.test('a client that has seen a newer zxid is refused without any answer, old or new', async (t) => {
    await compare(t, async (s) => {
      const c = await s.connect({ oldClient: true });
      const seen = (await c.ping()).header.zxid;
      for (const oldClient of [true, false]) {
        const raw = await RawConnection.open(s.endpoint.host, s.endpoint.port);
        raw.write(connectFrame({ oldClient, lastZxidSeen: seen + 1000n }));
        s.note(`${oldClient ? 'old' : 'new'}: closed`, await raw.waitClosed());
        s.note(`${oldClient ? 'old' : 'new'}: frames`, raw.frames.length);
      }
    });
  });

  await t.test('create, create2, createContainer, createTTL: bodies by opcode', async (t) => {
    await compare(t, async (s) => {
      const c = await s.connect({ oldClient: true });
      shape(s, 'create', await c.request(OpCode.create, createReq('/sh1')), R.decodeCreateResponse);
      shape(s, 'create2', await c.request(OpCode.create2, createReq('/sh1/a')), R.decodeCreate2Response);
      shape(s, 'createContainer', await c.request(OpCode.createContainer, createReq('/sh1/c', 4)), R.decodeCreate2Response);
      shape(
        s,
        'createTTL',
        await c.request(OpCode.createTTL, (w) => R.encodeCreateTTLRequest(w, { path: '/sh1/t', data: null, acl: OPEN_ACL, flags: 5, ttl: 60_000n })),
        R.decodeCreate2Response,
      );
      shape(s, 'create sequential', await c.request(OpCode.create, createReq('/sh1/s-', 2)), R.decodeCreateResponse);
      shape(s, 'create NODEEXISTS', await c.request(OpCode.create, createReq('/sh1')), R.decodeCreateResponse);
      shape(s, 'create2 NODEEXISTS', await c.request(OpCode.create2, createReq('/sh1')), R.decodeCreate2Response);
      shape(s, 'create2 NONODE', await c.request(OpCode.create2, createReq('/none/x')), R.decodeCreate2Response);
    });
  });

  await t.test('reads: getChildren vs getChildren2, and missing nodes get a header only', async (t) => {
    await compare(t, async (s) => {
      const c = await s.connect({ oldClient: true });
      shape(s, 'create', await c.create('/sh2'), R.decodeCreateResponse);
      shape(s, 'create kid', await c.create('/sh2/k'), R.decodeCreateResponse);
      const gc = (path: string) => (w: JuteWriter) => R.encodeGetChildrenRequest(w, { path, watch: false });
      shape(s, 'getChildren', await c.request(OpCode.getChildren, gc('/sh2')), R.decodeGetChildrenResponse);
      shape(s, 'getChildren2', await c.request(OpCode.getChildren2, gc('/sh2')), R.decodeGetChildren2Response);
      shape(s, 'getChildren NONODE', await c.request(OpCode.getChildren, gc('/sh2/none')), R.decodeGetChildrenResponse);
      shape(s, 'getChildren2 NONODE', await c.request(OpCode.getChildren2, gc('/sh2/none')), R.decodeGetChildren2Response);
      shape(s, 'exists', await c.exists('/sh2'), R.decodeExistsResponse);
      shape(s, 'exists NONODE', await c.exists('/sh2/none'), R.decodeExistsResponse);
      shape(s, 'exists NONODE with a watch', await c.exists('/sh2/none', true), R.decodeExistsResponse);
      shape(s, 'getData', await c.getData('/sh2'), R.decodeGetDataResponse);
      shape(s, 'getData NONODE', await c.getData('/sh2/none'), R.decodeGetDataResponse);
      shape(s, 'getACL', await c.request(OpCode.getACL, (w) => R.encodeGetACLRequest(w, { path: '/sh2' })), R.decodeGetACLResponse);
      shape(s, 'getACL NONODE', await c.request(OpCode.getACL, (w) => R.encodeGetACLRequest(w, { path: '/sh2/none' })), R.decodeGetACLResponse);
      shape(s, 'sync', await c.request(OpCode.sync, (w) => R.encodeSyncRequest(w, { path: '/sh2' })), R.decodeSyncResponse);
      shape(s, 'check outside a multi, BADVERSION', await c.request(OpCode.check, (w) => R.encodeCheckVersionRequest(w, { path: '/sh2', version: 5 })));
    });
  });

  await t.test('a successful check outside a multi: ZooKeeper 3.8.0 never answers it, zkts answers with a header', async (t) => {
    // ZooKeeper builds a SetDataResponse around a null Stat for it and fails to serialize that
    // ("Destruction averted" in its log): the txn is committed, the reply is lost. A client would
    // wait forever, so zkts answers with the reply header and no body.
    for (const ep of [{ ...zk, name: 'zkts' }, { ...ref, name: 'zookeeper' }]) {
      const c = await ZkClient.connect(ep.host, ep.port, { oldClient: true });
      const before = (await c.create(`/chk-${ep.name}`)).header.zxid;
      const xid = c.send(OpCode.check, (w) => R.encodeCheckVersionRequest(w, { path: `/chk-${ep.name}`, version: 0 }));
      // Replies come in request order: once the ping's is in, the check's would have come first.
      const sentinel = await c.ping();
      const answer = c.replies.find((r) => r.header.xid === xid);
      if (ep.name === 'zookeeper') t.equal(answer, undefined, 'zookeeper: no reply to the check');
      else t.same(answer && { err: answer.header.err, zxid: answer.header.zxid - before, bodyBytes: answer.reader.remaining() }, { err: 0, zxid: 1n, bodyBytes: 0 }, 'zkts: header only');
      t.equal(sentinel.header.zxid - before, 1n, `${ep.name}: the check took a zxid`);
      t.notOk(c.closed, `${ep.name}: the connection stays open`);
      await c.close();
    }
  });

  await t.test('setWatches and setWatches2, auth, ping, a body that fails to decode, closeSession', async (t) => {
    await compare(t, async (s) => {
      const c = await s.connect({ oldClient: true });
      const zxid = (await c.ping()).header.zxid;
      shape(s, 'ping', await c.ping());
      shape(
        s,
        'setWatches',
        await c.request(OpCode.setWatches, (w) => R.encodeSetWatches(w, { relativeZxid: zxid, dataWatches: ['/'], existWatches: [], childWatches: [] }), { xid: Xid.setWatches }),
      );
      shape(
        s,
        'setWatches2',
        await c.request(
          OpCode.setWatches2,
          (w) => R.encodeSetWatches2(w, { relativeZxid: zxid, dataWatches: [], existWatches: ['/x'], childWatches: [], persistentWatches: ['/'], persistentRecursiveWatches: [] }),
          { xid: Xid.setWatches },
        ),
      );
      shape(s, 'auth', await c.request(OpCode.auth, (w) => R.encodeAuthPacket(w, { type: 0, scheme: 'digest', auth: Buffer.from('u:p') }), { xid: Xid.auth }));
      shape(s, 'getData body cut short', await c.request(OpCode.getData, (w) => w.writeInt(50)));
      shape(s, 'create body cut short', await c.request(OpCode.create, (w) => w.writeInt(50)));
      shape(s, 'still open', await c.exists('/'), R.decodeExistsResponse);
      const closing = await c.request(OpCode.closeSession);
      shape(s, 'closeSession', closing);
      s.note('closed after closeSession', await c.raw.waitClosed());
    });
  });

  await t.test('an old client session receives its watch events like any other', async (t) => {
    await compare(t, async (s) => {
      const c = await s.connect({ oldClient: true });
      const other = await s.connect();
      shape(s, 'exists with a watch', await c.exists('/sh3', true), R.decodeExistsResponse);
      shape(s, 'create by another session', await other.create('/sh3'), R.decodeCreateResponse);
      await waitFor(() => c.notifications.length > 0, 'the NodeCreated event');
      s.note('event', c.notifications.map((n) => n.event));
    });
  });
});
