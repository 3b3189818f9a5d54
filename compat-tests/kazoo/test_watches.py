"""Watches: one-shot data/exists/child watches, event types, and the order of
notifications relative to replies on the wire; persistent watches (3.6+)."""

import pytest
from kazoo.exceptions import NoNodeError

from conftest import (
    AddWatch,
    CheckWatches,
    Collector,
    RemoveWatches,
    call,
    error_name,
    event_tuple,
)


def wire_since(zk, mark):
    """Trace entries after position mark, paths as given, replies reduced."""
    return [list(e) for e in zk.wire.items()[mark:]]


def rel(root, entries):
    out = []
    for e in entries:
        e = list(e)
        e = [x[len(root):] if isinstance(x, str) and x.startswith(root) else x for x in e]
        out.append(e)
    return out


def test_data_watch_event_precedes_reply_and_is_one_shot(zk, root, rec):
    path = root + "/d"
    zk.create(path, b"0")
    events = Collector()
    zk.get(path, watch=events)
    mark = len(zk.wire.items())
    zk.set(path, b"1")
    # The notification is written before the reply to the change it reports.
    assert rel(root, wire_since(zk, mark)) == [
        ["event", "CHANGED", "/d"],
        ["reply", "SetData", "/d", 0],
    ]
    events.wait_for(1)
    mark = len(zk.wire.items())
    zk.set(path, b"2")
    assert rel(root, wire_since(zk, mark)) == [["reply", "SetData", "/d", 0]]
    assert [event_tuple(e) for e in events.items] == [["CHANGED", path]]
    rec["events"] = [event_tuple(e)[0] for e in events.items]


def test_data_watch_delete_and_exists_watch_create(zk, root, rec):
    path = root + "/d"
    created = Collector()
    assert zk.exists(path, watch=created) is None
    mark = len(zk.wire.items())
    zk.create(path, b"x")
    assert rel(root, wire_since(zk, mark)) == [
        ["event", "CREATED", "/d"],
        ["reply", "Create", "/d", 0],
    ]
    deleted = Collector()
    zk.get(path, watch=deleted)
    mark = len(zk.wire.items())
    zk.delete(path)
    assert rel(root, wire_since(zk, mark)) == [
        ["event", "DELETED", "/d"],
        ["reply", "Delete", "/d", 0],
    ]
    created.wait_for(1)
    deleted.wait_for(1)
    assert [event_tuple(e) for e in created.items] == [["CREATED", path]]
    assert [event_tuple(e) for e in deleted.items] == [["DELETED", path]]
    rec["trace"] = rel(root, zk.wire.items()[-6:])


def test_get_on_missing_node_sets_no_watch(zk, root, rec):
    path = root + "/m"
    events = Collector()
    with pytest.raises(NoNodeError):
        zk.get(path, watch=events)
    with pytest.raises(NoNodeError):
        zk.get_children(path, watch=events)
    mark = len(zk.wire.items())
    zk.create(path)
    zk.create(path + "/c")
    zk.set(path, b"x")
    zk.delete(path + "/c")
    zk.delete(path)
    trace = rel(root, wire_since(zk, mark))
    assert [e[0] for e in trace] == ["reply"] * 5
    assert events.items == []
    rec["trace"] = trace


def test_child_watch_events(zk, root, rec):
    zk.create(root + "/p")
    child_events = Collector()
    assert zk.get_children(root + "/p", watch=child_events) == []
    mark = len(zk.wire.items())
    zk.create(root + "/p/c1")
    zk.create(root + "/p/c2")
    trace = rel(root, wire_since(zk, mark))
    assert trace == [
        ["event", "CHILD", "/p"],
        ["reply", "Create", "/p/c1", 0],
        ["reply", "Create", "/p/c2", 0],
    ]
    # Changing a child's data is not a child event.
    zk.get_children(root + "/p", watch=child_events)
    mark = len(zk.wire.items())
    zk.set(root + "/p/c1", b"data")
    zk.set(root + "/p", b"parent data")
    zk.delete(root + "/p/c2")
    trace2 = rel(root, wire_since(zk, mark))
    assert trace2 == [
        ["reply", "SetData", "/p/c1", 0],
        ["reply", "SetData", "/p", 0],
        ["event", "CHILD", "/p"],
        ["reply", "Delete", "/p/c2", 0],
    ]
    # Deleting the watched node itself fires the child watch as DELETED.
    zk.get_children(root + "/p", watch=child_events)
    zk.delete(root + "/p/c1")
    zk.get_children(root + "/p", watch=child_events)
    mark = len(zk.wire.items())
    zk.delete(root + "/p")
    trace3 = rel(root, wire_since(zk, mark))
    assert trace3 == [["event", "DELETED", "/p"], ["reply", "Delete", "/p", 0]]
    child_events.wait_for(4)
    assert [event_tuple(e) for e in child_events.items] == [
        ["CHILD", root + "/p"],
        ["CHILD", root + "/p"],
        ["CHILD", root + "/p"],
        ["DELETED", root + "/p"],
    ]
    rec["trace"] = [trace, trace2, trace3]


def test_one_event_per_path_for_data_and_exists_watches(zk, root, rec):
    path = root + "/n"
    zk.create(path)
    a, b, c = Collector(), Collector(), Collector()
    zk.get(path, watch=a)
    zk.exists(path, watch=b)
    zk.get_children(path, watch=c)
    mark = len(zk.wire.items())
    zk.set(path, b"v")
    trace = rel(root, wire_since(zk, mark))
    # The server sends one notification; the client fans it out.
    assert trace == [["event", "CHANGED", "/n"], ["reply", "SetData", "/n", 0]]
    a.wait_for(1)
    b.wait_for(1)
    assert c.items == []
    mark = len(zk.wire.items())
    zk.delete(path)
    trace2 = rel(root, wire_since(zk, mark))
    assert trace2 == [["event", "DELETED", "/n"], ["reply", "Delete", "/n", 0]]
    c.wait_for(1)
    assert [event_tuple(e) for e in c.items] == [["DELETED", path]]
    rec["trace"] = [trace, trace2]


def test_watch_fired_by_other_session(clients, zk, root, rec):
    writer = clients()
    path = root + "/w"
    zk.create(path, b"a")
    data_events, child_events, exists_events = Collector(), Collector(), Collector()
    zk.get(path, watch=data_events)
    zk.get_children(root, watch=child_events)
    zk.exists(root + "/later", watch=exists_events)
    writer.set(path, b"b")
    writer.create(root + "/later")
    # Every change above completed before this request was sent, so the
    # notifications are already on the connection ahead of its reply.
    zk.sync(root)
    events = [e for e in rel(root, zk.wire.items()) if e[0] == "event"]
    assert events == [
        ["event", "CHANGED", "/w"],
        ["event", "CREATED", "/later"],
        ["event", "CHILD", ""],
    ]
    data_events.wait_for(1)
    child_events.wait_for(1)
    exists_events.wait_for(1)
    rec["events"] = events


def test_multi_triggers_events_in_op_order(zk, root, rec):
    zk.create(root + "/a", b"")
    zk.create(root + "/b", b"")
    ca, cb, cc, croot = Collector(), Collector(), Collector(), Collector()
    zk.get(root + "/a", watch=ca)
    zk.exists(root + "/b", watch=cb)
    zk.exists(root + "/c", watch=cc)
    zk.get_children(root, watch=croot)
    mark = len(zk.wire.items())
    tx = zk.transaction()
    tx.set_data(root + "/a", b"1")
    tx.delete(root + "/b")
    tx.create(root + "/c")
    results = tx.commit()
    assert results[1:] == [True, root + "/c"]
    trace = rel(root, wire_since(zk, mark))
    assert trace == [
        ["event", "CHANGED", "/a"],
        ["event", "DELETED", "/b"],
        # The one-shot child watch on the root fires for the delete of /b,
        # not again for the create of /c.
        ["event", "CHILD", ""],
        ["event", "CREATED", "/c"],
        ["reply", "Transaction", None, 0],
    ]
    rec["trace"] = trace


def test_failed_multi_triggers_nothing(zk, root, rec):
    zk.create(root + "/a")
    ca = Collector()
    zk.get(root + "/a", watch=ca)
    zk.get_children(root, watch=ca)
    mark = len(zk.wire.items())
    tx = zk.transaction()
    tx.set_data(root + "/a", b"1")
    tx.create(root + "/b")
    tx.check(root + "/a", 7)
    results = tx.commit()
    assert [type(r).__name__ for r in results] == [
        "RolledBackError", "RolledBackError", "BadVersionError"]
    trace = rel(root, wire_since(zk, mark))
    assert trace == [["reply", "Transaction", None, 0]]
    assert ca.items == []
    rec["trace"] = trace


def test_persistent_watch(zk, root, rec):
    path = root + "/p"
    zk.create(path)
    assert call(zk, AddWatch(path, 0)) is True
    mark = len(zk.wire.items())
    zk.set(path, b"1")
    zk.set(path, b"2")
    zk.create(path + "/c")
    zk.create(path + "/c/gc")
    zk.set(path + "/c", b"x")
    zk.delete(path + "/c/gc")
    zk.delete(path + "/c")
    zk.delete(path)
    zk.create(path)
    trace = rel(root, wire_since(zk, mark))
    assert trace == [
        ["event", "CHANGED", "/p"],
        ["reply", "SetData", "/p", 0],
        ["event", "CHANGED", "/p"],
        ["reply", "SetData", "/p", 0],
        ["event", "CHILD", "/p"],
        ["reply", "Create", "/p/c", 0],
        ["reply", "Create", "/p/c/gc", 0],
        ["reply", "SetData", "/p/c", 0],
        ["reply", "Delete", "/p/c/gc", 0],
        ["event", "CHILD", "/p"],
        ["reply", "Delete", "/p/c", 0],
        ["event", "DELETED", "/p"],
        ["reply", "Delete", "/p", 0],
        ["event", "CREATED", "/p"],
        ["reply", "Create", "/p", 0],
    ]
    rec["trace"] = trace


def test_persistent_recursive_watch(zk, root, rec):
    path = root + "/r"
    zk.create(path)
    assert call(zk, AddWatch(path, 1)) is True
    mark = len(zk.wire.items())
    zk.create(path + "/c")
    zk.create(path + "/c/gc", b"")
    zk.set(path + "/c/gc", b"x")
    zk.set(path, b"y")
    zk.delete(path + "/c/gc")
    zk.create(root + "/outside")
    trace = rel(root, wire_since(zk, mark))
    assert trace == [
        ["event", "CREATED", "/r/c"],
        ["reply", "Create", "/r/c", 0],
        ["event", "CREATED", "/r/c/gc"],
        ["reply", "Create", "/r/c/gc", 0],
        ["event", "CHANGED", "/r/c/gc"],
        ["reply", "SetData", "/r/c/gc", 0],
        ["event", "CHANGED", "/r"],
        ["reply", "SetData", "/r", 0],
        ["event", "DELETED", "/r/c/gc"],
        ["reply", "Delete", "/r/c/gc", 0],
        ["reply", "Create", "/outside", 0],
    ]
    # Removing the persistent watch stops the notifications.
    assert call(zk, RemoveWatches(path, 3)) is True
    mark = len(zk.wire.items())
    zk.create(path + "/after")
    assert rel(root, wire_since(zk, mark)) == [["reply", "Create", "/r/after", 0]]
    rec["trace"] = trace


def test_check_and_remove_watches(zk, root, rec):
    path = root + "/w"
    zk.create(path)
    results = {}
    results["check_none"] = error_name(call, zk, CheckWatches(path, 2))
    results["remove_none"] = error_name(call, zk, RemoveWatches(path, 3))
    zk.get(path, watch=Collector())
    results["check_data"] = error_name(call, zk, CheckWatches(path, 2))
    results["check_children_when_data"] = error_name(call, zk, CheckWatches(path, 1))
    results["remove_data"] = error_name(call, zk, RemoveWatches(path, 2))
    results["check_after_remove"] = error_name(call, zk, CheckWatches(path, 2))
    results["check_missing_node"] = error_name(call, zk, CheckWatches(root + "/nothing", 3))
    assert results == {
        "check_none": "NoWatcherError",
        "remove_none": "NoWatcherError",
        "check_data": "ok",
        "check_children_when_data": "NoWatcherError",
        "remove_data": "ok",
        "check_after_remove": "NoWatcherError",
        "check_missing_node": "NoWatcherError",
    }
    # The removed watch does not fire.
    mark = len(zk.wire.items())
    zk.set(path, b"x")
    assert rel(root, wire_since(zk, mark)) == [["reply", "SetData", "/w", 0]]
    rec["results"] = results


def test_watch_on_root_and_sync_ordering(zk, root, rec):
    events = Collector()
    zk.exists(root + "/x", watch=events)
    mark = len(zk.wire.items())
    zk.create(root + "/x")
    zk.sync(root + "/x")
    trace = rel(root, wire_since(zk, mark))
    assert trace == [
        ["event", "CREATED", "/x"],
        ["reply", "Create", "/x", 0],
        ["reply", "Sync", "/x", 0],
    ]
    rec["trace"] = trace


def test_create_and_delete_fire_node_then_parent_events(zk, root, rec):
    node, parent = Collector(), Collector()
    zk.exists(root + "/x", watch=node)
    zk.get_children(root, watch=parent)
    mark = len(zk.wire.items())
    zk.create(root + "/x")
    zk.exists(root + "/x", watch=node)
    zk.get_children(root, watch=parent)
    zk.delete(root + "/x")
    trace = rel(root, wire_since(zk, mark))
    assert trace == [
        ["event", "CREATED", "/x"],
        ["event", "CHILD", ""],
        ["reply", "Create", "/x", 0],
        ["reply", "Exists", "/x", 0],
        ["reply", "GetChildren", "", 0],
        ["event", "DELETED", "/x"],
        ["event", "CHILD", ""],
        ["reply", "Delete", "/x", 0],
    ]
    rec["trace"] = trace


def test_ephemeral_lifecycle_seen_by_watcher(clients, zk, root, rec):
    owner = clients()
    seen = Collector()
    zk.exists(root + "/e", watch=seen)
    owner.create(root + "/e", ephemeral=True)
    seen.wait_for(1)
    zk.exists(root + "/e", watch=seen)
    owner.stop()
    seen.wait_for(2)
    assert [event_tuple(e) for e in seen.items] == [["CREATED", root + "/e"],
                                                     ["DELETED", root + "/e"]]
    rec["events"] = [event_tuple(e)[0] for e in seen.items]


def test_acl_change_fires_no_data_watch(zk, root, rec):
    from kazoo.security import READ_ACL_UNSAFE
    zk.create(root + "/a", b"v")
    events = Collector()
    zk.get(root + "/a", watch=events)
    mark = len(zk.wire.items())
    st = zk.set_acls(root + "/a", READ_ACL_UNSAFE)
    assert rel(root, wire_since(zk, mark)) == [["reply", "SetACL", "/a", 0]]
    assert events.items == []
    # An ACL change touches neither mzxid nor mtime nor version.
    _, before = zk.get(root + "/a")
    assert st.mzxid == st.czxid and st.mtime == st.ctime and st.version == 0
    assert st.aversion == 1 and before == st
    rec["stat"] = rec.stat(st)
