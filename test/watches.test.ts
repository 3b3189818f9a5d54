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
