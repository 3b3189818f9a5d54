// One session sends reads and writes back to back without waiting, against a disk-backed zkts
// (writes wait for their fsync) and ZooKeeper: every read must see exactly the session's writes
// sent before it, and replies and notifications must come in the same order on both.
import t from 'tap';
import { OpCode, Xid } from '../src/protocol/constants';
import type { JuteReader, JuteWriter } from '../src/protocol/jute';
import * as R from '../src/protocol/generated/records';
import { differential, OPEN_ACL, type Reply, type Scenario, type ZkClient } from './util/client';
import { startReferenceZooKeeper, startZkts } from './util/servers';

type Decoder = (r: JuteReader) => unknown;

/** Every frame the client received after `from`, in arrival order, decoded by its request. */
function arrivals(s: Scenario, c: ZkClient, from: number, decoders: Map<number, [string, Decoder | undefined]>): void {
  for (let seq = from; seq < c.raw.frames.length; seq++) {
    const reply = c.replies.find((r) => r.seq === seq);
    const note = c.notifications.find((n) => n.seq === seq);
    if (note) s.note('notification', note.event);
    else if (reply && reply.header.xid !== Xid.ping) {
      const [label, decode] = decoders.get(reply.header.xid) ?? ['unexpected xid', undefined];
      s.reply(`${label} (xid ${reply.header.xid})`, reply, decode);
    }
  }
}

t.test('pipelined reads and writes of one session', async (t) => {
  const [zk, ref] = await Promise.all([startZkts(), startReferenceZooKeeper()]);
  t.teardown(async () => {
    await zk.stop();
    await ref.stop();
  });
  const compare = differential(zk, ref);

  await compare(t, async (s) => {
    const c = await s.connect();
    const other = await s.connect();
    await c.create('/pipe', Buffer.from('0'));
    await other.exists('/pipe', true);
    const from = c.raw.frames.length;
    const decoders = new Map<number, [string, Decoder | undefined]>();
    const sent: Promise<Reply>[] = [];
    let xid = 1000;
    const send = (label: string, type: number, body: (w: JuteWriter) => void, decode?: Decoder) => {
      decoders.set(++xid, [label, decode]);
      sent.push(c.request(type, body, { xid }));
    };
    const data = (r: JuteReader) => R.decodeGetDataResponse(r);
    const stat = (r: JuteReader) => R.decodeSetDataResponse(r);
    const children = (r: JuteReader) => R.decodeGetChildrenResponse(r);
    const exists = (r: JuteReader) => R.decodeExistsResponse(r);
    const setData = (label: string, value: string, version = -1) =>
      send(label, OpCode.setData, (w) => R.encodeSetDataRequest(w, { path: '/pipe', data: Buffer.from(value), version }), stat);
    const getData = (label: string, watch = false) => send(label, OpCode.getData, (w) => R.encodeGetDataRequest(w, { path: '/pipe', watch }), data);
    const getChildren = (label: string, watch = false) =>
      send(label, OpCode.getChildren, (w) => R.encodeGetChildrenRequest(w, { path: '/pipe', watch }), children);
    setData('setData 1', '1');
    getData('getData with watch', true);
    setData('setData 2', '2');
    getData('getData');
    send('exists', OpCode.exists, (w) => R.encodeExistsRequest(w, { path: '/pipe', watch: false }), exists);
    setData('setData bad version', 'x', 99);
    getData('getData after failed write', true);
    send('create child', OpCode.create, (w) => R.encodeCreateRequest(w, { path: '/pipe/a', data: null, acl: OPEN_ACL, flags: 0 }), (r) => R.decodeCreateResponse(r));
    getChildren('getChildren with watch', true);
    getChildren('getChildren');
    send('delete child', OpCode.delete, (w) => R.encodeDeleteRequest(w, { path: '/pipe/a', version: -1 }));
    send('sync', OpCode.sync, (w) => R.encodeSyncRequest(w, { path: '/pipe' }), (r) => R.decodeSyncResponse(r));
    getChildren('getChildren after delete');
    send('multi', OpCode.multi, (w) => {
      R.encodeMultiHeader(w, { type: OpCode.setData, done: false, err: -1 });
      R.encodeSetDataRequest(w, { path: '/pipe', data: Buffer.from('3'), version: -1 });
      R.encodeMultiHeader(w, { type: OpCode.create, done: false, err: -1 });
      R.encodeCreateRequest(w, { path: '/pipe/b', data: null, acl: OPEN_ACL, flags: 0 });
      R.encodeMultiHeader(w, { type: -1, done: true, err: -1 });
    }, (r) => {
      const setResult = [R.decodeMultiHeader(r), R.decodeSetDataResponse(r)];
      const createResult = [R.decodeMultiHeader(r), R.decodeCreateResponse(r)];
      return { setResult, createResult, end: R.decodeMultiHeader(r) };
    });
    getData('getData after multi');
    send('delete', OpCode.delete, (w) => R.encodeDeleteRequest(w, { path: '/pipe/b', version: -1 }));
    send('exists after delete', OpCode.exists, (w) => R.encodeExistsRequest(w, { path: '/pipe/b', watch: false }), exists);
    await Promise.all(sent);
    await other.waitNotification((e) => e.path === '/pipe');
    arrivals(s, c, from, decoders);
    s.note('other session', other.notifications.map((n) => n.event));
  });
});
