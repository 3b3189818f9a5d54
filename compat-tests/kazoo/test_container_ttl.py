"""Container and TTL znodes (3.5.3+/3.5.5+). Kazoo 2.8 has no API for them, so
the requests (createContainer, createTTL) are sent through its connection.

The server runs with znode.container.checkIntervalMs lowered and
zookeeper.extendedTypesEnabled=true. The container manager deletes nodes
asynchronously, so zxids are only recorded before it acts, and every test
waits until it is done so that nothing happens behind the next test's back.
"""

from kazoo.security import OPEN_ACL_UNSAFE

from conftest import Collector, CreateContainer, CreateTTL, call, error_name, event_tuple

CONTAINER = 4
PERSISTENT_WITH_TTL = 5
PERSISTENT_SEQUENTIAL_WITH_TTL = 6
MANAGER_WAIT_S = 30.0


def container(zk, path, data=b""):
    return call(zk, CreateContainer(path, data, OPEN_ACL_UNSAFE, CONTAINER))


def test_container_deleted_after_last_child_goes(zk, root, rec):
    path, st = container(zk, root + "/c", b"data")
    assert path == root + "/c"
    # Clients see ephemeralOwner 0 for containers.
    assert st.ephemeralOwner == 0 and st.dataLength == 4
    assert st == zk.exists(root + "/c")
    rec["created"] = rec.stat(st)
    empty_path, empty_st = container(zk, root + "/never-had-children")
    zk.create(root + "/c/child1")
    zk.create(root + "/c/child2", ephemeral=True)
    rec["with_children"] = rec.stat(zk.exists(root + "/c"))
    events = Collector()
    zk.exists(root + "/c", watch=events)
    zk.delete(root + "/c/child1")
    zk.delete(root + "/c/child2")
    events.wait_for(1, timeout=MANAGER_WAIT_S)
    assert [event_tuple(e) for e in events.items] == [["DELETED", root + "/c"]]
    assert zk.exists(root + "/c") is None
    # A container that never had a child is left alone.
    assert zk.exists(empty_path) == empty_st
    zk.delete(empty_path)


def test_container_errors_and_flags(zk, root, rec):
    results = {}
    container(zk, root + "/c")
    results["exists"] = error_name(container, zk, root + "/c")
    results["no_parent"] = error_name(container, zk, root + "/none/c")
    zk.create(root + "/eph", ephemeral=True)
    results["under_ephemeral"] = error_name(container, zk, root + "/eph/c")
    results["ttl_flag"] = error_name(
        call, zk, CreateContainer(root + "/t", b"", OPEN_ACL_UNSAFE, PERSISTENT_WITH_TTL))
    # A child of a container may itself be a container.
    results["nested"] = error_name(container, zk, root + "/c/inner")
    assert results == {
        "exists": "NodeExistsError",
        "no_parent": "NoNodeError",
        "under_ephemeral": "NoChildrenForEphemeralsError",
        "ttl_flag": "BadArgumentsError",
        "nested": "ok",
    }
    rec["results"] = results
    rec["root"] = rec.stat(zk.exists(root))
    # Never had children below /c/inner, so nothing is collected; clean up.
    zk.delete(root + "/c/inner")
    events = Collector()
    zk.exists(root + "/c", watch=events)
    events.wait_for(1, timeout=MANAGER_WAIT_S)
    assert zk.exists(root + "/c") is None


def test_ttl_nodes(zk, root, rec):
    path, st = call(zk, CreateTTL(root + "/t", b"ttl", OPEN_ACL_UNSAFE, PERSISTENT_WITH_TTL, 500))
    assert path == root + "/t"
    assert st.ephemeralOwner == 0 and st == zk.exists(path)
    seq_path, seq_st = call(zk, CreateTTL(root + "/s-", b"", OPEN_ACL_UNSAFE,
                                          PERSISTENT_SEQUENTIAL_WITH_TTL, 500))
    assert seq_path == root + "/s-0000000001"
    rec["ttl"] = rec.stat(st)
    rec["ttl_seq"] = rec.stat(seq_st)
    rec["names"] = [path[len(root):], seq_path[len(root):]]
    # A TTL node with a child is not removed, even when the TTL has passed.
    keep, _ = call(zk, CreateTTL(root + "/keep", b"", OPEN_ACL_UNSAFE, PERSISTENT_WITH_TTL, 500))
    zk.create(keep + "/child")
    gone = Collector()
    zk.exists(path, watch=gone)
    zk.exists(seq_path, watch=gone)
    gone.wait_for(2, timeout=MANAGER_WAIT_S)
    assert sorted(event_tuple(e)[0] for e in gone.items) == ["DELETED", "DELETED"]
    assert zk.exists(path) is None and zk.exists(seq_path) is None
    assert zk.exists(keep) is not None
    keep_gone = Collector()
    zk.exists(keep, watch=keep_gone)
    zk.delete(keep + "/child")
    keep_gone.wait_for(1, timeout=MANAGER_WAIT_S)
    assert zk.exists(keep) is None


def test_ttl_errors(zk, root, rec):
    cases = {
        "zero": (PERSISTENT_WITH_TTL, 0),
        "negative": (PERSISTENT_WITH_TTL, -1),
        "too_large": (PERSISTENT_WITH_TTL, 1 << 40),
        "persistent_flag": (0, 500),
        "ephemeral_flag": (1, 500),
        "sequential_flag": (2, 500),
        "container_flag": (CONTAINER, 500),
    }
    results = {}
    for name, (flags, ttl) in cases.items():
        results[name] = error_name(
            call, zk, CreateTTL(root + "/" + name, b"", OPEN_ACL_UNSAFE, flags, ttl))
    assert results == {k: "BadArgumentsError" for k in cases}
    # The largest TTL is accepted (and does not expire during the test).
    results["max"] = error_name(
        call, zk, CreateTTL(root + "/max", b"", OPEN_ACL_UNSAFE, PERSISTENT_WITH_TTL, (1 << 40) - 1))
    assert results["max"] == "ok"
    results["exists"] = error_name(
        call, zk, CreateTTL(root + "/max", b"", OPEN_ACL_UNSAFE, PERSISTENT_WITH_TTL, 500))
    assert results["exists"] == "NodeExistsError"
    rec["results"] = results
    rec["root"] = rec.stat(zk.exists(root))
