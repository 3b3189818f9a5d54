"""Kazoo recipes, as applications use them."""

import threading

import pytest
from kazoo.exceptions import LockTimeout
from kazoo.recipe.cache import TreeCache, TreeEvent
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

from conftest import Collector, wait_until


def test_lock_mutual_exclusion_and_handover(clients, root, rec):
    a, b = clients(), clients()
    lock_a = a.Lock(root + "/lock", "a")
    lock_b = b.Lock(root + "/lock", "b")
    assert lock_a.acquire(timeout=10)
    assert lock_b.acquire(blocking=False) is False
    with pytest.raises(LockTimeout):
        lock_b.acquire(timeout=0.3)
    acquired = threading.Event()
    waiter = threading.Thread(target=lambda: lock_b.acquire(timeout=15) and acquired.set())
    waiter.start()
    wait_until(lambda: lock_a.contenders() == ["a", "b"], what="b queued behind a")
    assert not acquired.is_set()
    lock_a.release()
    assert acquired.wait(15)
    waiter.join(15)
    assert lock_b.contenders() == ["b"]
    lock_b.release()
    # a and b may be on different members of an ensemble: a syncs before reading b's release.
    a.sync(root + "/lock")
    assert lock_a.contenders() == []
    rec["contenders"] = ["a", "b"]


def test_lock_released_when_holder_session_closes(clients, root, rec):
    a, b = clients(), clients()
    lock_a = a.Lock(root + "/lock")
    assert lock_a.acquire(timeout=10)
    lock_b = b.Lock(root + "/lock")
    got = threading.Event()
    t = threading.Thread(target=lambda: lock_b.acquire(timeout=15) and got.set())
    t.start()
    wait_until(lambda: len(b.get_children(root + "/lock")) == 2, what="b waiting")
    a.stop()
    assert got.wait(15)
    t.join(15)
    lock_b.release()


def test_read_write_locks(clients, root, rec):
    a, b, c = clients(), clients(), clients()
    r1 = a.ReadLock(root + "/rw")
    r2 = b.ReadLock(root + "/rw")
    w = c.WriteLock(root + "/rw")
    assert r1.acquire(timeout=10)
    assert r2.acquire(timeout=10)
    # Clients may be on different members of an ensemble: sync before reading another's writes.
    c.sync(root + "/rw")
    assert w.acquire(blocking=False) is False
    r1.release()
    r2.release()
    assert w.acquire(timeout=10)
    a.sync(root + "/rw")
    assert r1.acquire(blocking=False) is False
    w.release()


def test_semaphore(clients, root, rec):
    a, b, c = clients(), clients(), clients()
    sa = a.Semaphore(root + "/sem", "a", max_leases=2)
    sb = b.Semaphore(root + "/sem", "b", max_leases=2)
    sc = c.Semaphore(root + "/sem", "c", max_leases=2)
    assert sa.acquire(timeout=10)
    assert sb.acquire(timeout=10)
    # Clients may be on different members of an ensemble: sync before reading another's writes.
    c.sync(root + "/sem")
    a.sync(root + "/sem")
    assert sc.acquire(blocking=False) is False
    assert sorted(sa.lease_holders()) == ["a", "b"]
    sa.release()
    assert sc.acquire(timeout=10)
    assert sorted(sc.lease_holders()) == ["b", "c"]
    sb.release()
    sc.release()
    a.sync(root + "/sem")
    assert sa.lease_holders() == []


def test_election(clients, root, rec):
    a, b = clients(), clients()
    ea = a.Election(root + "/election", "a")
    eb = b.Election(root + "/election", "b")
    leaders = Collector()
    release_a = threading.Event()

    def lead_a():
        leaders.append("a")
        release_a.wait(15)

    ta = threading.Thread(target=ea.run, args=(lead_a,))
    ta.start()
    leaders.wait_for(1)
    tb = threading.Thread(target=eb.run, args=(lambda: leaders.append("b"),))
    tb.start()
    wait_until(lambda: ea.contenders() == ["a", "b"], what="both contenders")
    release_a.set()
    leaders.wait_for(2)
    ta.join(15)
    tb.join(15)
    assert leaders.items == ["a", "b"]
    rec["leaders"] = leaders.items


def test_counter(clients, root, rec):
    a, b = clients(), clients()
    ca = a.Counter(root + "/counter")
    cb = b.Counter(root + "/counter")
    ca += 5
    cb += 3
    ca -= 2
    # Clients may be on different members of an ensemble: sync before reading another's writes.
    b.sync(root + "/counter")
    assert ca.value == 6 and cb.value == 6
    f = a.Counter(root + "/float", default=0.0)
    f += 1.5
    assert f.value == 1.5
    values = []
    threads = [threading.Thread(target=lambda c=c: [c.__add__(1) for _ in range(10)])
               for c in (ca, cb)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    a.sync(root + "/counter")
    values.append(ca.value)
    assert values == [26]
    rec["final"] = values[0]
    rec["counter_stat_version"] = a.exists(root + "/counter").version


def test_queue_fifo_and_priority(clients, root, rec):
    a, b = clients(), clients()
    qa = a.Queue(root + "/queue")
    qb = b.Queue(root + "/queue")
    for item in [b"one", b"two", b"three"]:
        qa.put(item)
    qa.put(b"urgent", priority=10)
    qa.put(b"later", priority=200)
    # a and b may be on different members of an ensemble: each syncs before reading the other's writes.
    b.sync(root + "/queue")
    assert len(qb) == 5
    got = [qb.get() for _ in range(5)]
    assert got == [b"urgent", b"one", b"two", b"three", b"later"]
    assert qb.get() is None
    rec["order"] = got
    a.sync(root + "/queue")
    rec["names"] = sorted(a.get_children(root + "/queue"))


def test_locking_queue(clients, root, rec):
    a, b = clients(), clients()
    qa = a.LockingQueue(root + "/lq")
    qb = b.LockingQueue(root + "/lq")
    qa.put(b"first")
    qa.put_all([b"second", b"third"], priority=150)
    # Clients may be on different members of an ensemble: sync before reading another's writes.
    b.sync(root + "/lq")
    assert len(qb) == 3
    assert qb.get(timeout=10) == b"first"
    # The item is held by b until consumed; a gets the next one.
    assert qa.get(timeout=10) == b"second"
    assert qb.consume() is True
    a.sync(root + "/lq")
    assert qa.release() is True
    assert qa.get(timeout=10) == b"second"
    assert qa.consume() is True
    b.sync(root + "/lq")
    assert qb.get(timeout=10) == b"third"
    assert qb.holds_lock()
    assert qb.consume() is True
    a.sync(root + "/lq")
    assert len(qa) == 0
    assert qa.get(timeout=0.2) is None


def test_barrier(clients, root, rec):
    a, b = clients(), clients()
    ba = a.Barrier(root + "/barrier")
    bb = b.Barrier(root + "/barrier")
    ba.create()
    # Clients may be on different members of an ensemble: sync before reading another's writes.
    b.sync(root + "/barrier")
    assert bb.wait(timeout=0.2) is False
    passed = threading.Event()
    t = threading.Thread(target=lambda: bb.wait(timeout=15) and passed.set())
    t.start()
    wait_until(lambda: a.exists(root + "/barrier") is not None, what="barrier")
    ba.remove()
    assert passed.wait(15)
    t.join(15)
    assert bb.wait(timeout=1) is True


def test_double_barrier(clients, root, rec):
    a, b = clients(), clients()
    da = a.DoubleBarrier(root + "/db", 2, identifier="a")
    db = b.DoubleBarrier(root + "/db", 2, identifier="b")
    entered = Collector()
    left = Collector()

    def participant(barrier, name):
        barrier.enter()
        entered.append(name)
        barrier.leave()
        left.append(name)

    ta = threading.Thread(target=participant, args=(da, "a"))
    ta.start()
    wait_until(lambda: a.exists(root + "/db") is not None and len(a.get_children(root + "/db")) >= 1,
               what="a entered")
    assert entered.items == []
    tb = threading.Thread(target=participant, args=(db, "b"))
    tb.start()
    left.wait_for(2, timeout=20)
    ta.join(15)
    tb.join(15)
    assert sorted(entered.items) == ["a", "b"]
    a.sync(root + "/db")
    assert a.get_children(root + "/db") == []


def test_party(clients, root, rec):
    a, b = clients(), clients()
    pa = a.Party(root + "/party", "a")
    pb = b.ShallowParty(root + "/shallow", "b")
    pa.join()
    pa2 = b.Party(root + "/party", "b")
    pa2.join()
    # Clients may be on different members of an ensemble: sync before reading another's writes.
    a.sync(root + "/party")
    assert sorted(pa) == ["a", "b"] and len(pa) == 2
    pb.join()
    assert list(pb) == ["b"]
    pa.leave()
    b.sync(root + "/party")
    assert list(pa2) == ["b"]
    b.stop()
    a.sync(root + "/party")
    assert list(a.Party(root + "/party")) == []
    assert list(a.ShallowParty(root + "/shallow")) == []
    rec["members"] = ["a", "b"]


def test_data_watch_and_children_watch(clients, zk, root, rec):
    writer = clients()
    path = root + "/dw"
    data_calls = Collector()

    @zk.DataWatch(path)
    def watch_data(data, stat, event):
        data_calls.append((data, stat.version if stat else None,
                           event.type if event else None))

    data_calls.wait_for(1)
    writer.create(path, b"v0")
    data_calls.wait_for(2)
    writer.set(path, b"v1")
    data_calls.wait_for(3)
    writer.delete(path)
    data_calls.wait_for(4)
    assert data_calls.items == [
        (None, None, None),
        (b"v0", 0, "CREATED"),
        (b"v1", 1, "CHANGED"),
        (None, None, "DELETED"),
    ]
    rec["data_calls"] = data_calls.items

    child_calls = Collector()
    zk.create(root + "/cw")

    @zk.ChildrenWatch(root + "/cw")
    def watch_children(children):
        child_calls.append(sorted(children))

    child_calls.wait_for(1)
    writer.create(root + "/cw/a")
    child_calls.wait_match(lambda c: c == ["a"], what="[a]")
    writer.create(root + "/cw/b")
    child_calls.wait_match(lambda c: c == ["a", "b"], what="[a, b]")
    writer.delete(root + "/cw/a")
    child_calls.wait_match(lambda c: c == ["b"], what="[b]")
    assert child_calls.items[0] == []
    assert child_calls.items[-1] == ["b"]
    assert isinstance(watch_data, DataWatch) or callable(watch_data)
    assert isinstance(watch_children, ChildrenWatch) or callable(watch_children)


def test_tree_cache(clients, zk, root, rec):
    writer = clients()
    writer.create(root + "/tc/a", b"1", makepath=True)
    # Clients may be on different members of an ensemble: sync before reading another's writes.
    zk.sync(root)
    cache = TreeCache(zk, root + "/tc")
    events = Collector()
    cache.listen(lambda e: events.append((e.event_type, e.event_data.path if e.event_data else None)))
    cache.start()
    events.wait_match(lambda e: e[0] == TreeEvent.INITIALIZED, what="INITIALIZED")
    assert cache.get_data(root + "/tc/a").data == b"1"
    writer.create(root + "/tc/b/c", b"2", makepath=True)
    wait_until(lambda: cache.get_data(root + "/tc/b/c") is not None, what="c cached")
    writer.set(root + "/tc/a", b"11")
    events.wait_match(lambda e: e == (TreeEvent.NODE_UPDATED, root + "/tc/a"), what="a updated")
    assert cache.get_data(root + "/tc/a").data == b"11"
    writer.delete(root + "/tc/b/c")
    events.wait_match(lambda e: e == (TreeEvent.NODE_REMOVED, root + "/tc/b/c"), what="c removed")
    assert cache.get_data(root + "/tc/b/c") is None
    assert sorted(cache.get_children(root + "/tc")) == ["a", "b"]
    assert cache.get_data(root + "/tc/a").stat.version == 1
    cache.close()
    kinds = [e[0] for e in events.items]
    assert kinds.count(TreeEvent.INITIALIZED) == 1
    assert (TreeEvent.NODE_UPDATED, root + "/tc/a") in events.items
    assert (TreeEvent.NODE_REMOVED, root + "/tc/b/c") in events.items
