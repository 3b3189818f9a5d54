// The watch manager's trigger table, one event per watcher per change, and the read check of
// recursive watches (a watcher learns nothing of nodes it cannot read).
import t from 'tap';
import { WatchManager, type Watcher } from '../src/server/watches';
import { EventType, Perms, WatcherType } from '../src/protocol/constants';
import type { ACL } from '../src/protocol/generated/records';

const OPEN: ACL[] = [{ perms: Perms.ALL, id: { scheme: 'world', id: 'anyone' } }];
const SECRET: ACL[] = [{ perms: Perms.ALL, id: { scheme: 'digest', id: 'alice:hash' } }];

function watcher(name: string, seen: string[], canReadSecret = false): Watcher {
  return {
    notify: (type, path) => seen.push(`${name} ${type} ${path}`),
    canRead: (acl) => acl !== SECRET || canReadSecret,
  };
}

t.test('one-shot watches fire once, by ZooKeeper\'s table', async (t) => {
  const m = new WatchManager();
  const seen: string[] = [];
  const w = watcher('w', seen);
  m.addDataWatch('/a', w);
  m.addChildWatch('/', w);
  m.trigger([{ type: EventType.NodeCreated, path: '/a', acl: OPEN }, { type: EventType.NodeChildrenChanged, path: '/', acl: OPEN }]);
  m.trigger([{ type: EventType.NodeDataChanged, path: '/a', acl: OPEN }]);
  t.same(seen, [`w ${EventType.NodeCreated} /a`, `w ${EventType.NodeChildrenChanged} /`], 'each fired once');
  m.addDataWatch('/a', w);
  m.addChildWatch('/a', w);
  m.trigger([{ type: EventType.NodeDeleted, path: '/a', acl: OPEN }]);
  t.same(seen.slice(2), [`w ${EventType.NodeDeleted} /a`], 'a delete fires data and child watches as one event');
  t.same(m.stats(), { paths: 0, watches: 0 });
});

t.test('persistent watches stay; recursive ones see descendants but not their child lists', async (t) => {
  const m = new WatchManager();
  const seen: string[] = [];
  const p = watcher('p', seen);
  const r = watcher('r', seen);
  m.addPersistentWatch('/a', p, false);
  m.addPersistentWatch('/a', r, true);
  const change = [
    { type: EventType.NodeCreated, path: '/a/b', acl: OPEN },
    { type: EventType.NodeChildrenChanged, path: '/a', acl: OPEN },
  ];
  m.trigger(change);
  m.trigger(change.map((e) => ({ ...e, path: e.path + '/c', ...(e.type === EventType.NodeChildrenChanged ? { path: '/a/b' } : {}) })));
  m.trigger([{ type: EventType.NodeDataChanged, path: '/a', acl: OPEN }]);
  t.same(seen, [
    `r ${EventType.NodeCreated} /a/b`,
    `p ${EventType.NodeChildrenChanged} /a`,
    `r ${EventType.NodeCreated} /a/b/c`,
    `p ${EventType.NodeDataChanged} /a`,
    `r ${EventType.NodeDataChanged} /a`,
  ]);
  t.ok(m.contains('/a', WatcherType.Persistent, p));
  t.ok(m.contains('/a', WatcherType.PersistentRecursive, r));
  // checkWatches as ZooKeeper 3.9.5 answers it: Children and Data are one-shot watches only.
  for (const w of [p, r]) {
    t.notOk(m.contains('/a', WatcherType.Data, w), 'a persistent watch is no Data watch for checkWatches');
    t.notOk(m.contains('/a', WatcherType.Children, w), 'nor a Children watch');
    t.ok(m.contains('/a', WatcherType.Any, w), 'but an Any one');
    t.ok(m.inDataTable('/a', w) && m.inChildTable('/a', w), 'and counted in both of ZooKeeper\'s tables for the admin reports');
  }
  t.ok(m.remove('/a', WatcherType.Any, r));
  t.notOk(m.remove('/a', WatcherType.Any, r), 'nothing left to remove');
});

t.test('recursive watches skip nodes the watcher cannot read (CVE-2024-23944)', async (t) => {
  const m = new WatchManager();
  const seen: string[] = [];
  const outsider = watcher('outsider', seen, false);
  const owner = watcher('owner', seen, true);
  m.addPersistentWatch('/', outsider, true);
  m.addPersistentWatch('/', owner, true);
  m.trigger([{ type: EventType.NodeCreated, path: '/private/user-42', acl: SECRET }]);
  m.trigger([{ type: EventType.NodeCreated, path: '/public', acl: OPEN }]);
  t.same(seen, [`owner ${EventType.NodeCreated} /private/user-42`, `outsider ${EventType.NodeCreated} /public`, `owner ${EventType.NodeCreated} /public`]);
});

t.test('removeWatcher drops every watch of a closed connection', async (t) => {
  const m = new WatchManager();
  const w = watcher('w', []);
  m.addDataWatch('/x', w);
  m.addChildWatch('/y', w);
  m.addPersistentWatch('/z', w, true);
  m.removeWatcher(w);
  t.same(m.stats(), { paths: 0, watches: 0 });
});

t.test('the by-watcher index agrees with the path tables through any sequence of operations', async (t) => {
  const fc = await import('fast-check');
  const paths = ['/', '/a', '/a/b', '/c'];
  const kinds = ['data', 'child', 'persistent', 'recursive'] as const;
  const op = fc.oneof(
    fc.record({ op: fc.constant('add' as const), w: fc.nat(3), path: fc.constantFrom(...paths), kind: fc.constantFrom(...kinds) }),
    fc.record({ op: fc.constant('remove' as const), w: fc.nat(3), path: fc.constantFrom(...paths), type: fc.constantFrom(1, 2, 3, 4, 5) }),
    fc.record({ op: fc.constant('close' as const), w: fc.nat(3) }),
    fc.record({ op: fc.constant('event' as const), path: fc.constantFrom(...paths), type: fc.constantFrom(1, 2, 3, 4) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const m = new WatchManager();
      const ws = [0, 1, 2, 3].map((i) => watcher(`w${i}`, []));
      // The model: a set of "watcher kind path" strings, kept by the same rules.
      const model = new Set<string>();
      const kindsOf: Record<number, string[]> = { 1: ['child'], 2: ['data'], 3: ['child', 'data', 'persistent', 'recursive'], 4: ['persistent'], 5: ['recursive'] };
      for (const o of ops) {
        if (o.op === 'add') {
          if (o.kind === 'data') m.addDataWatch(o.path, ws[o.w]);
          else if (o.kind === 'child') m.addChildWatch(o.path, ws[o.w]);
          else m.addPersistentWatch(o.path, ws[o.w], o.kind === 'recursive');
          model.add(`${o.w} ${o.kind} ${o.path}`);
        } else if (o.op === 'remove') {
          m.remove(o.path, o.type, ws[o.w]);
          for (const k of kindsOf[o.type]) model.delete(`${o.w} ${k} ${o.path}`);
        } else if (o.op === 'close') {
          m.removeWatcher(ws[o.w]);
          for (const k of [...model]) if (k.startsWith(`${o.w} `)) model.delete(k);
        } else {
          m.trigger([{ type: o.type, path: o.path, acl: OPEN }]);
          // One-shot watches go: data watches on any event but a child change; child watches on a
          // child change or a delete.
          for (const k of [...model]) {
            const [, kind, p] = k.split(' ');
            if (p !== o.path) continue;
            if (kind === 'data' && o.type !== EventType.NodeChildrenChanged) model.delete(k);
            if (kind === 'child' && (o.type === EventType.NodeChildrenChanged || o.type === EventType.NodeDeleted)) model.delete(k);
          }
        }
        const total = ws.reduce((n, w) => n + m.watchesOf(w), 0);
        if (total !== model.size || m.stats().watches !== model.size) return false;
        const holders = new Set([...model].map((k) => k.split(' ')[0]));
        if (m.watcherCount !== holders.size) return false;
      }
      return true;
    }),
    { numRuns: 500 },
  );
  t.pass('index consistent over 500 random runs');
});

t.test('a watcher without watches holds no index entry; closing it touches nothing', async (t) => {
  const m = new WatchManager();
  const busy = watcher('busy', []);
  const idle = watcher('idle', []);
  for (let i = 0; i < 1000; i++) m.addDataWatch(`/n${i}`, busy);
  t.equal(m.watcherCount, 1);
  m.removeWatcher(idle);
  t.same(m.stats(), { paths: 1000, watches: 1000 }, 'another watcher\'s close leaves these watches');
  t.equal(m.watchesOf(busy), 1000);
  m.trigger([{ type: EventType.NodeDataChanged, path: '/n7', acl: OPEN }]);
  t.equal(m.watchesOf(busy), 999, 'a fired one-shot watch leaves the index too');
  m.removeWatcher(busy);
  t.equal(m.watcherCount, 0);
  t.same(m.stats(), { paths: 0, watches: 0 });
});
