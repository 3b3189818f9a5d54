"""Sequential znodes: 10-digit suffix taken from the parent's cversion."""

import re

import pytest
from kazoo.exceptions import NodeExistsError

from conftest import error_name


def test_sequential_names_follow_parent_cversion(zk, root, rec):
    names = []
    names.append(zk.create(root + "/s-", sequence=True))
    names.append(zk.create(root + "/s-", sequence=True))
    assert names == [root + "/s-0000000000", root + "/s-0000000001"]
    # A plain child also bumps the parent's cversion, hence the counter.
    zk.create(root + "/plain")
    names.append(zk.create(root + "/s-", sequence=True))
    assert names[-1] == root + "/s-0000000003"
    # The counter counts creates only. The cversion a client sees counts
    # deletes too (2 * creates - children), so after deletes the two differ.
    zk.delete(names[0])
    zk.delete(names[1])
    _, st = zk.get(root)
    assert st.cversion == 6 and st.numChildren == 2
    names.append(zk.create(root + "/s-", sequence=True))
    assert names[-1] == root + "/s-0000000004"
    _, st = zk.get(root)
    assert st.cversion == 7 and st.numChildren == 3
    # Different prefixes share the one counter of the parent.
    names.append(zk.create(root + "/other", b"d", sequence=True))
    assert names[-1] == root + "/other0000000005"
    for n in names[2:]:
        assert re.fullmatch(r".*\d{10}", n)
    rec["names"] = [n[len(root):] for n in names]
    rec["root"] = rec.stat(zk.exists(root))
    assert zk.get(root + "/other0000000005")[0] == b"d"


def test_sequential_with_empty_prefix_and_ephemeral(zk, root, rec):
    zk.create(root + "/q")
    first = zk.create(root + "/q/", sequence=True)
    assert first == root + "/q/0000000000"
    eph = zk.create(root + "/q/e-", ephemeral=True, sequence=True)
    assert eph == root + "/q/e-0000000001"
    st = zk.exists(eph)
    assert st.ephemeralOwner == zk.client_id[0]
    rec["names"] = sorted(zk.get_children(root + "/q"))
    rec["eph"] = rec.stat(st)


def test_sequential_counters_are_per_parent(zk, root, rec):
    zk.create(root + "/a")
    zk.create(root + "/b")
    for _ in range(3):
        zk.create(root + "/a/n", sequence=True)
    assert zk.create(root + "/b/n", sequence=True) == root + "/b/n0000000000"
    assert zk.create(root + "/a/n", sequence=True) == root + "/a/n0000000003"
    rec["a"] = sorted(zk.get_children(root + "/a"))
    rec["b"] = sorted(zk.get_children(root + "/b"))


def test_sequential_collides_with_existing_name(zk, root, rec):
    # cversion is 1 after this create, so the next sequential name is x0000000001.
    zk.create(root + "/x0000000001")
    with pytest.raises(NodeExistsError):
        zk.create(root + "/x", sequence=True)
    # The failed create does not bump cversion: the next one collides again.
    assert error_name(zk.create, root + "/x", sequence=True) == "NodeExistsError"
    # Deleting does not advance the counter, so the same name is handed out again.
    zk.delete(root + "/x0000000001")
    assert zk.create(root + "/x", sequence=True) == root + "/x0000000001"
    assert zk.create(root + "/x", sequence=True) == root + "/x0000000002"
    rec["children"] = sorted(zk.get_children(root))
    rec["root"] = rec.stat(zk.exists(root))


def test_sequential_many(zk, root, rec):
    created = [zk.create(root + "/n-", sequence=True) for _ in range(120)]
    assert created == [root + "/n-%010d" % i for i in range(120)]
    assert sorted(zk.get_children(root)) == sorted(c[len(root) + 1:] for c in created)
    # Other sessions' txns (an earlier test's clients closing) may land between the 120 creates:
    # the root's pzxid is checked against its last child's czxid rather than counted from the root.
    root_stat = zk.exists(root)
    assert root_stat.pzxid == zk.exists(created[-1]).czxid
    rec["root"] = {k: v for k, v in rec.stat(root_stat).items() if k != "pzxid"}
