import t from 'tap';
import { ForwardedWrites } from '../../src/server/forwarded';

interface W {
  sessionId: bigint;
  cxid: number;
  tag: string;
}

t.test('a committed txn answers its session oldest write; other sessions and remote txns stay apart', async (t) => {
  const f = new ForwardedWrites<W>(10);
  f.add({ sessionId: 1n, cxid: 1, tag: 'a1' });
  f.add({ sessionId: 2n, cxid: 7, tag: 'b7' });
  f.add({ sessionId: 1n, cxid: 2, tag: 'a2' });
  t.equal(f.size, 3);
  t.same(f.committed(3n, 1), { kind: 'remote' }, 'a session without local writes is remote');
  const m1 = f.committed(1n, 1);
  t.equal(m1.kind, 'local');
  t.equal(m1.kind === 'local' && m1.write.tag, 'a1');
  const m2 = f.committed(2n, 7);
  t.equal(m2.kind === 'local' && m2.write.tag, 'b7');
  const m3 = f.committed(1n, 2);
  t.equal(m3.kind === 'local' && m3.write.tag, 'a2');
  t.equal(f.size, 0);
  t.same(f.committed(1n, 3), { kind: 'remote' }, 'once answered, the session has nothing waiting');
});

t.test('a txn of the session that is not its oldest write here is remote and leaves the writes waiting', async (t) => {
  const f = new ForwardedWrites<W>(10);
  f.add({ sessionId: 1n, cxid: 5, tag: 'a5' });
  f.add({ sessionId: 1n, cxid: 6, tag: 'a6' });
  // Another server's write of the session (it moved), or the leader's closeSession (cxid 0).
  t.same(f.committed(1n, 1005), { kind: 'remote' });
  t.same(f.committed(1n, 0), { kind: 'remote' });
  t.equal(f.size, 2);
  t.same(f.pendingOf(1n).map((w) => w.tag), ['a5', 'a6']);
  const m = f.committed(1n, 5);
  t.equal(m.kind === 'local' && m.write.tag, 'a5', 'its own txn still answers it');
  t.same(f.pendingOf(1n).map((w) => w.tag), ['a6']);
});

t.test('a txn of a later write than the session oldest hands back the writes before it as skipped', async (t) => {
  const f = new ForwardedWrites<W>(10);
  f.add({ sessionId: 1n, cxid: 5, tag: 'a5' });
  f.add({ sessionId: 1n, cxid: 6, tag: 'a6' });
  f.add({ sessionId: 1n, cxid: 7, tag: 'a7' });
  const m = f.committed(1n, 7);
  t.equal(m.kind, 'local');
  if (m.kind === 'local') {
    t.equal(m.write.tag, 'a7');
    t.same(m.skipped.map((w) => w.tag), ['a5', 'a6']);
  }
  t.equal(f.size, 0);
  t.same(f.committed(1n, 5), { kind: 'remote' });
});

t.test('syncs are answered oldest first, apart from the writes', async (t) => {
  const f = new ForwardedWrites<W>(10);
  f.add({ sessionId: 1n, cxid: 1, tag: 'w' });
  f.addSync({ sessionId: 2n, cxid: 3, tag: 's1' });
  f.addSync({ sessionId: 1n, cxid: 2, tag: 's2' });
  t.equal(f.syncDone()?.tag, 's1');
  t.equal(f.syncDone()?.tag, 's2');
  t.equal(f.syncDone(), undefined);
  t.equal(f.size, 1);
});

t.test('the limit is enforced and drain gives back everything', async (t) => {
  const f = new ForwardedWrites<W>(2);
  f.add({ sessionId: 1n, cxid: 1, tag: 'a' });
  t.equal(f.full, false);
  f.addSync({ sessionId: 1n, cxid: 2, tag: 's' });
  t.equal(f.full, true);
  t.throws(() => f.add({ sessionId: 2n, cxid: 1, tag: 'x' }), /more than 2/);
  t.throws(() => f.addSync({ sessionId: 2n, cxid: 1, tag: 'x' }), /more than 2/);
  t.same(f.drain().map((w) => w.tag).sort(), ['a', 's']);
  t.equal(f.size, 0);
  t.throws(() => new ForwardedWrites<W>(0), /positive/);
});
