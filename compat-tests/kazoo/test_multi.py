"""Transactions (multi): all-or-nothing, with per-op results."""

from kazoo.protocol.states import ZnodeStat

from conftest import Collector


def names(results):
    out = []
    for r in results:
        if isinstance(r, BaseException):
            out.append(type(r).__name__)
        elif isinstance(r, ZnodeStat):
            out.append("stat")
        else:
            out.append(r)
    return out


def test_successful_transaction_results(zk, root, rec):
    zk.create(root + "/old", b"o")
    zk.create(root + "/gone")
    tx = zk.transaction()
    tx.create(root + "/new", b"n")
    tx.create(root + "/new/child", b"c")
    tx.create(root + "/seq-", sequence=True)
    tx.set_data(root + "/old", b"changed", version=0)
    tx.check(root + "/old", 1)
    tx.delete(root + "/gone", version=0)
    results = tx.commit()
    assert names(results) == [
        root + "/new", root + "/new/child", root + "/seq-0000000003", "stat", True, True]
    set_stat = results[3]
    assert set_stat.version == 1 and set_stat.dataLength == 7
    # Every op of one transaction carries the same zxid.
    st_new = zk.exists(root + "/new")
    st_child = zk.exists(root + "/new/child")
    st_root = zk.exists(root)
    assert st_new.czxid == st_child.czxid == set_stat.mzxid == st_root.pzxid
    assert st_new.numChildren == 1 and st_new.pzxid == st_new.czxid
    assert st_root.cversion == 5 and st_root.numChildren == 3
    assert zk.exists(root + "/gone") is None
    rec["results"] = [r if not isinstance(r, ZnodeStat) else rec.stat(r) for r in
                      [x[len(root):] if isinstance(x, str) else x for x in results]]
    rec["new"] = rec.stat(st_new)
    rec["child"] = rec.stat(st_child)
    rec["root"] = rec.stat(st_root)


def test_failed_transaction_rolls_back(zk, root, rec):
    zk.create(root + "/a", b"a")
    before_root = zk.exists(root)
    before_a = zk.get(root + "/a")
    tx = zk.transaction()
    tx.create(root + "/b")
    tx.set_data(root + "/a", b"changed")
    tx.delete(root + "/a", version=5)
    tx.create(root + "/c")
    tx.check(root + "/a", 0)
    results = tx.commit()
    assert names(results) == [
        "RolledBackError", "RolledBackError", "BadVersionError",
        "RuntimeInconsistency", "RuntimeInconsistency"]
    assert zk.exists(root + "/b") is None
    assert zk.exists(root + "/c") is None
    assert zk.get(root + "/a") == before_a
    assert zk.exists(root) == before_root
    rec["results"] = names(results)
    # The failed transaction consumed a zxid: visible in the next write.
    rec["next"] = rec.stat(zk.create(root + "/d", include_data=True)[1])


def test_transaction_error_kinds(zk, root, rec):
    zk.create(root + "/x", b"")
    zk.create(root + "/x/y", b"")
    cases = {}

    def run(name, build):
        tx = zk.transaction()
        build(tx)
        cases[name] = names(tx.commit())

    run("exists", lambda tx: tx.create(root + "/x"))
    run("no_parent", lambda tx: tx.create(root + "/nope/z"))
    run("not_empty", lambda tx: tx.delete(root + "/x"))
    run("delete_missing", lambda tx: tx.delete(root + "/missing"))
    run("check_missing", lambda tx: tx.check(root + "/missing", 0))
    run("check_bad_version", lambda tx: tx.check(root + "/x", 3))
    run("set_missing", lambda tx: (tx.check(root + "/x", 0), tx.set_data(root + "/m", b"")))

    def create_then_duplicate(tx):
        tx.create(root + "/dup")
        tx.create(root + "/dup")

    run("duplicate_within", create_then_duplicate)

    def delete_child_then_parent(tx):
        tx.delete(root + "/x/y")
        tx.delete(root + "/x")
        tx.create(root + "/x")
        tx.check(root + "/x", 0)

    run("delete_and_recreate", delete_child_then_parent)
    assert cases == {
        "exists": ["NodeExistsError"],
        "no_parent": ["NoNodeError"],
        "not_empty": ["NotEmptyError"],
        "delete_missing": ["NoNodeError"],
        "check_missing": ["NoNodeError"],
        "check_bad_version": ["BadVersionError"],
        "set_missing": ["RolledBackError", "NoNodeError"],
        "duplicate_within": ["RolledBackError", "NodeExistsError"],
        "delete_and_recreate": [True, True, root + "/x", True],
    }
    rec["cases"] = {k: [x[len(root):] if isinstance(x, str) and x.startswith("/") else x
                        for x in v] for k, v in cases.items()}
    rec["x"] = rec.stat(zk.exists(root + "/x"))
    rec["root"] = rec.stat(zk.exists(root))


def test_empty_transaction(zk, root, rec):
    assert zk.transaction().commit() == []
    # An empty multi is a write too; record what it did to the zxid.
    rec["next"] = rec.stat(zk.create(root + "/after", include_data=True)[1])


def test_transaction_with_ephemeral_and_watch(clients, zk, root, rec):
    owner = clients()
    events = Collector()
    zk.exists(root + "/e", watch=events)
    tx = owner.transaction()
    tx.create(root + "/e", b"x", ephemeral=True)
    tx.create(root + "/p")
    tx.create(root + "/p/q-", sequence=True)
    assert tx.commit() == [root + "/e", root + "/p", root + "/p/q-0000000000"]
    # zk may be on another member of an ensemble than owner: its watch event comes first.
    events.wait_for(1)
    st = zk.exists(root + "/e")
    assert st.ephemeralOwner == owner.client_id[0]
    owner.stop()
    zk.sync(root)
    assert zk.exists(root + "/e") is None
    rec["eph"] = rec.stat(st)
