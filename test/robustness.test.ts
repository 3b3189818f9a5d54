// Hostile and odd input against one zkts server while a healthy "bystander" session keeps working.
// Where the answer is observable on the wire, the same bytes go to Apache ZooKeeper too and both
// must answer alike: the same reply frames (zxids relative to the connection's start), or both
// closing the connection.
import t from 'tap';
import fc from 'fast-check';
import { EventType, OpCode } from '../src/protocol/constants';
import { JuteWriter } from '../src/protocol/jute';
import * as R from '../src/protocol/generated/records';
import {
  connectFrame,
  frame,
  RawConnection,
  requestFrame,
  startInProcessZkts,
  waitFor,
  ZkClient,
  type Endpoint,
} from './util/client';
import { probe } from './util/probe';
import { fourLetterWord, startReferenceZooKeeper, startZkts, type RunningServer } from './util/servers';

function lengthPrefix(n: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return Buffer.concat([b, body]);
}

function createWithAclCount(path: string, count: number): Buffer {
  return requestFrame(1, OpCode.create, (w) => {
    w.writeString(path);
    w.writeBuffer(Buffer.from('x'));
    w.writeInt(count);
    w.writeInt(31);
    w.writeString('world');
    w.writeString('anyone');
    w.writeInt(0);
  });
}

function multiWithOpType(
  type: number,
  op: (w: JuteWriter) => void = (w) => R.encodeExistsRequest(w, { path: '/', watch: false }),
  opcode: number = OpCode.multi,
): Buffer {
  return requestFrame(1, opcode, (w) => {
    R.encodeMultiHeader(w, { type, done: false, err: -1 });
    op(w);
    R.encodeMultiHeader(w, { type: -1, done: true, err: -1 });
  });
}

/** A request whose body stops short: its first field claims more bytes than there are. */
function truncatedBody(type: number): Buffer {
  return requestFrame(1, type, (w) => {
    w.writeInt(100);
    w.writeRaw(Buffer.from('/tr'));
  });
}

t.test('robustness', async (t) => {
  const [zk, ref] = await Promise.all([startZkts(), startReferenceZooKeeper()]);
  t.teardown(() => Promise.all([zk.stop(), ref.stop()]).then(() => undefined));
  const ours: Endpoint = { name: 'zkts', host: zk.host, port: zk.port };
  const theirs: Endpoint = { name: 'zookeeper', host: ref.host, port: ref.port };

  const bystander = await ZkClient.connect(zk.host, zk.port, { timeoutMs: 30_000 });
  t.teardown(() => bystander.destroy());
  t.equal((await bystander.create('/by')).header.err, 0);
  t.equal((await bystander.create('/by-eph', Buffer.from('e'), 1)).header.err, 0);
  let checks = 0;

  /** The bystander still reads, writes, owns its ephemeral, and gets its watch events. */
  async function checkBystander(label: string, server: RunningServer = zk): Promise<void> {
    const p = `/by/c${checks++}`;
    const created = await bystander.create(p, Buffer.from(label));
    t.equal(created.header.err, 0, `${label}: bystander create`);
    const got = await bystander.getData(p, true);
    t.equal(got.header.err, 0, `${label}: bystander getData`);
    const eph = await bystander.exists('/by-eph');
    t.equal(eph.header.err, 0, `${label}: bystander ephemeral still there`);
    if (eph.header.err === 0) t.equal(R.decodeStat(eph.reader).ephemeralOwner, bystander.sessionId);
    const other = await ZkClient.connect(server.host, server.port);
    t.equal((await other.setData(p, Buffer.from('changed'))).header.err, 0);
    await other.close();
    const n = await bystander.waitNotification((e) => e.path === p && e.type === EventType.NodeDataChanged).catch(() => undefined);
    t.ok(n, `${label}: bystander's watch fired`);
  }

  await checkBystander('before any attack');

  const differential: Array<[string, boolean, () => Buffer[], { endAfter?: boolean; noSentinel?: boolean }?]> = [
    ['frame longer than jute.maxbuffer, after the handshake', true, () => [lengthPrefix(0xfffff + 1, Buffer.alloc(64))]],
    ['frame longer than jute.maxbuffer, before the handshake', false, () => [lengthPrefix(0xfffff + 1, Buffer.alloc(64))]],
    ['huge frame length', true, () => [lengthPrefix(0x7fffffff)]],
    ['negative length, after the handshake', true, () => [lengthPrefix(-1, Buffer.alloc(8))]],
    ['negative length, before the handshake', false, () => [lengthPrefix(-100)]],
    ['truncated frame then close', true, () => [lengthPrefix(100, Buffer.alloc(10))], { endAfter: true }],
    ['garbage bytes (HTTP) before the handshake', false, () => [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]],
    ['request frame before the handshake', false, () => [requestFrame(1, OpCode.getData, (w) => R.encodeGetDataRequest(w, { path: '/', watch: false }))]],
    ['all-0xff ConnectRequest', false, () => [lengthPrefix(45, Buffer.alloc(45, 0xff))]],
    ['ConnectRequest of 8 bytes', false, () => [lengthPrefix(8, Buffer.alloc(8, 1))]],
    ['empty frame before the handshake', false, () => [lengthPrefix(0)]],
    ['empty frame after the handshake', true, () => [lengthPrefix(0)]],
    ['request header cut short', true, () => [lengthPrefix(6, Buffer.from([0, 0, 0, 1, 0, 0]))]],
    ['huge vector count in a create ACL list', true, () => [createWithAclCount('/acl-bomb', 0x7fffffff)]],
    ['multi with an invalid op type', true, () => [multiWithOpType(OpCode.exists)]],
    ['multi with op type 999', true, () => [multiWithOpType(999)]],
    ['multi holding a read op', true, () => [multiWithOpType(OpCode.getData, (w) => R.encodeGetDataRequest(w, { path: '/', watch: false }))]],
    ['multiRead holding a write op', true, () => [multiWithOpType(OpCode.create, (w) => R.encodeCreateRequest(w, { path: '/mr', data: null, acl: [], flags: 0 }), OpCode.multiRead)]],
    // ZooKeeper answers an unknown op and then closes; a sentinel ping would race with the close.
    ['unknown opcode 999', true, () => [requestFrame(7, 999, (w) => w.writeString('/'))], { noSentinel: true }],
    ['unknown opcode 50 without a body', true, () => [requestFrame(7, 50)], { noSentinel: true }],
    ['getData body that fails to decode', true, () => [truncatedBody(OpCode.getData)]],
    ['exists body that fails to decode', true, () => [truncatedBody(OpCode.exists)]],
    ['create body that fails to decode', true, () => [truncatedBody(OpCode.create)]],
    ['setData body that fails to decode', true, () => [truncatedBody(OpCode.setData)]],
    ['delete body that fails to decode', true, () => [truncatedBody(OpCode.delete)]],
    ['multi body that fails to decode', true, () => [truncatedBody(OpCode.multi)]],
    ['setWatches body that fails to decode', true, () => [truncatedBody(OpCode.setWatches)]],
    ['auth body that fails to decode', true, () => [truncatedBody(OpCode.auth)]],
  ];

  for (const [name, handshake, attack, opts] of differential) {
    await t.test(name, async (t) => {
      const got = await probe(ours, handshake, attack(), opts);
      const want = await probe(theirs, handshake, attack(), opts);
      t.same(got, want, 'zkts answers like ZooKeeper');
      await checkBystander(name);
    });
  }

  await t.test('a failed decode of a write: later writes get the next zxids', async (t) => {
    for (const ep of [ours, theirs]) {
      const c = await ZkClient.connect(ep.host, ep.port);
      const a = await c.create(`/zx-${ep.name}-a`);
      const badXid = 999;
      const bad = c.expectReply(badXid).catch((e: Error) => e);
      c.raw.write(
        requestFrame(badXid, OpCode.create, (w) => {
          w.writeInt(100);
          w.writeRaw(Buffer.from('/tr'));
        }),
      );
      const badReply = await bad;
      const b = await c.create(`/zx-${ep.name}-b`);
      t.equal(a.header.err, 0);
      t.equal(b.header.err, 0);
      t.notOk(badReply instanceof Error, `${ep.name}: the bad create was answered`);
      if (!(badReply instanceof Error)) {
        t.equal(badReply.header.err, -5, `${ep.name}: MARSHALLINGERROR`);
        t.equal(badReply.header.zxid - a.header.zxid, 1n, `${ep.name}: the bad write's reply carries the next zxid`);
      }
      t.equal(b.header.zxid - a.header.zxid, 2n, `${ep.name}: the bad write consumed one zxid`);
      await c.close();
    }
  });

  await t.test('many pipelined requests on one connection are answered in order', async (t) => {
    const c = await ZkClient.connect(zk.host, zk.port);
    t.equal((await c.create('/pipe', Buffer.from('p'))).header.err, 0);
    const n = 5000;
    const frames: Buffer[] = [];
    const firstXid = 10_000;
    for (let i = 0; i < n; i++) frames.push(requestFrame(firstXid + i, OpCode.getData, (w) => R.encodeGetDataRequest(w, { path: '/pipe', watch: false })));
    const before = c.replies.length;
    c.raw.write(Buffer.concat(frames));
    await waitFor(() => c.replies.length - before >= n || c.closed, `${n} replies`, 30_000);
    const got = c.replies.slice(before);
    t.equal(got.length, n, 'every request answered');
    let inOrder = true;
    let ok = true;
    for (let i = 0; i < got.length; i++) {
      if (got[i].header.xid !== firstXid + i) inOrder = false;
      if (got[i].header.err !== 0) ok = false;
    }
    t.ok(inOrder, 'replies in request order');
    t.ok(ok, 'every reply OK');
    await c.close();
    await checkBystander('after pipelining');
  });

  await t.test('fuzz: random frames after a valid handshake never take the server down', async (t) => {
    const known = [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 100, 101, 102, 103, 104, 105, 106, 107];
    const path = fc.constantFrom('/fuzz', '/fuzz/a', '/', '', 'fuzz', '/fuzz/', '/zookeeper', '/fuzz\u0000x');
    const structured = fc.tuple(path, fc.uint8Array({ maxLength: 40 })).map(([p, rest]) => {
      const w = new JuteWriter(32);
      w.writeString(p);
      w.writeRaw(Buffer.from(rest));
      return w.toBuffer();
    });
    const body = fc.oneof(fc.uint8Array({ maxLength: 120 }).map((a) => Buffer.from(a)), structured);
    const type = fc.oneof(fc.constantFrom(...known), fc.integer({ min: -12, max: 120 }), fc.integer());
    const req = fc.record({ xid: fc.integer({ min: 1, max: 1 << 30 }), type, body });
    const rawFrame = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((a) => Buffer.from(a));
    const item = fc.oneof(
      { weight: 6, arbitrary: req.map((r) => frame((w) => { R.encodeRequestHeader(w, { xid: r.xid, type: r.type }); w.writeRaw(r.body); })) },
      { weight: 1, arbitrary: rawFrame },
    );
    let runs = 0;
    let hung = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(item, { minLength: 1, maxLength: 5 }), async (frames) => {
        runs++;
        const r = await probe(ours, true, frames);
        // Either the connection survives and answers the sentinel ping, or it is closed.
        if (!r.closed && r.zxidsConsumed === undefined) hung++;
        return true;
      }),
      { numRuns: 150, seed: 4242 },
    );
    t.equal(hung, 0, `no connection left hanging (of ${runs})`);
    t.doesNotThrow(() => process.kill(zk.pid, 0), 'the zkts process is alive');
    const srvr = await fourLetterWord(zk.host, zk.port, 'srvr');
    t.match(srvr, /Mode: standalone/, 'srvr answers');
    await checkBystander('after fuzzing');
  });

  await t.test('the server logged no errors', async (t) => {
    t.notMatch(zk.log(), /"level":(50|60)/, 'no error or fatal log lines');
  });
});

t.test('maxClientCnxns per IP: the connection over the limit is closed', async (t) => {
  const srv = await startInProcessZkts({ maxClientCnxns: '5' });
  t.teardown(() => srv.stop());
  const clients: ZkClient[] = [];
  for (let i = 0; i < 5; i++) clients.push(await ZkClient.connect(srv.host, srv.port));
  t.ok(clients.every((c) => c.connectResponse.timeOut > 0), 'five sessions');
  const sixth = await RawConnection.open(srv.host, srv.port);
  sixth.write(connectFrame());
  t.ok(await sixth.waitClosed(), 'the sixth connection is closed');
  t.equal(sixth.frames.length, 0, 'without a ConnectResponse');
  for (const c of clients) t.equal((await c.exists('/')).header.err, 0, 'the five still work');
  await clients[0].close();
  const again = await ZkClient.connect(srv.host, srv.port);
  t.ok(again.connectResponse.timeOut > 0, 'a slot freed by a close is usable');
  await again.close();
  for (const c of clients.slice(1)) await c.close();
});

