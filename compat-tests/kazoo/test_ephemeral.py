"""Ephemeral znodes: owned by a session, removed when it closes."""

import pytest
from kazoo.exceptions import NoChildrenForEphemeralsError

from conftest import Collector, GetEphemerals, call, error_name, event_tuple, sync_on_ensemble


def test_ephemeral_owner_and_removal_on_close(clients, zk, root, rec):
    other = clients()
    path = root + "/eph"
    assert other.create(path, b"mine", ephemeral=True) == path
    # Clients may be on different members of an ensemble: sync before reading another's writes.
    zk.sync(root)
    st = zk.exists(path)
    assert st.ephemeralOwner == other.client_id[0]
    assert st.ephemeralOwner != zk.client_id[0]
    assert other.exists(path).ephemeralOwner == other.client_id[0]
    rec["eph"] = rec.stat(st)

    deleted = Collector()
    children = Collector()
    assert zk.exists(path, watch=deleted) is not None
    assert zk.get_children(root, watch=children) == ["eph"]
    other.stop()
    # The closeSession reply comes after the session's ephemerals are gone (on an ensemble, on
    # the member that answered it: zk syncs first).
    sync_on_ensemble(zk, root)
    assert zk.exists(path) is None
    deleted.wait_for(1)
    children.wait_for(1)
    assert [event_tuple(e) for e in deleted.items] == [["DELETED", path]]
    assert [event_tuple(e) for e in children.items] == [["CHILD", root]]
    st = zk.exists(root)
    assert st.numChildren == 0 and st.cversion == 2
    rec["root_after_close"] = rec.stat(st)
    # Closing the session took one zxid; the next write shows it.
    rec["next"] = rec.stat(zk.create(root + "/n", include_data=True)[1])


def test_no_children_for_ephemerals(zk, root, rec):
    zk.create(root + "/e", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create(root + "/e/child")
    errs = {
        "plain": error_name(zk.create, root + "/e/c"),
        "ephemeral": error_name(zk.create, root + "/e/c", ephemeral=True),
        "sequential": error_name(zk.create, root + "/e/c", sequence=True),
    }
    tx = zk.transaction()
    tx.create(root + "/e/c")
    errs["multi"] = [type(r).__name__ for r in tx.commit()]
    assert errs == {
        "plain": "NoChildrenForEphemeralsError",
        "ephemeral": "NoChildrenForEphemeralsError",
        "sequential": "NoChildrenForEphemeralsError",
        "multi": ["NoChildrenForEphemeralsError"],
    }
    rec["errors"] = errs
    rec["e"] = rec.stat(zk.exists(root + "/e"))


def test_other_session_can_modify_and_delete_ephemeral(clients, zk, root, rec):
    owner = clients()
    path = root + "/e"
    owner.create(path, b"1", ephemeral=True)
    st = zk.set(path, b"22")
    assert st.version == 1 and st.ephemeralOwner == owner.client_id[0]
    zk.delete(path)
    # On an ensemble the two clients may be on different members: sync before reading the other's write.
    owner.sync(path)
    assert owner.exists(path) is None
    owner.create(path, b"again", ephemeral=True)
    zk.sync(path)
    assert zk.get(path)[0] == b"again"
    rec["eph"] = rec.stat(zk.exists(path))
    owner.stop()
    zk.sync(path)
    assert zk.exists(path) is None


def test_get_ephemerals(clients, zk, root, rec):
    zk.create(root + "/a/e1", ephemeral=True, makepath=True)
    zk.create(root + "/a/e2", ephemeral=True)
    zk.create(root + "/b-", ephemeral=True, sequence=True)
    other = clients()
    other.create(root + "/theirs", ephemeral=True)
    mine = sorted(call(zk, GetEphemerals(root)))
    assert mine == sorted([root + "/a/e1", root + "/a/e2", root + "/b-0000000001"])
    assert sorted(call(zk, GetEphemerals(root + "/a"))) == [root + "/a/e1", root + "/a/e2"]
    assert call(other, GetEphemerals(root)) == [root + "/theirs"]
    assert call(zk, GetEphemerals(root + "/nothing")) == []
    rec["mine"] = [p[len(root):] for p in mine]
