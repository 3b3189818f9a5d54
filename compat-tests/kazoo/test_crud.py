"""Create / read / update / delete, with exact Stat fields and error classes."""

import time

import pytest
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, NotEmptyError
from kazoo.security import OPEN_ACL_UNSAFE

from conftest import HOSTS, RawCreate, call, error_name


def test_create_get_set_delete_stats(zk, root, rec):
    before_ms = int(time.time() * 1000)
    path = root + "/a"
    assert zk.create(path, b"hello") == path
    data, st = zk.get(path)
    after_ms = int(time.time() * 1000)
    assert data == b"hello"
    assert rec.z(st.czxid) == 1
    assert st.mzxid == st.czxid == st.pzxid
    assert (st.version, st.cversion, st.aversion) == (0, 0, 0)
    assert st.ephemeralOwner == 0
    assert (st.dataLength, st.numChildren) == (5, 0)
    assert st.ctime == st.mtime
    assert before_ms - 5000 <= st.ctime <= after_ms + 5000
    rec["created"] = rec.stat(st)

    st2 = zk.set(path, b"world!")
    assert rec.z(st2.mzxid) == 2
    assert st2.czxid == st.czxid and st2.pzxid == st.pzxid
    assert st2.version == 1 and st2.dataLength == 6
    assert st2.ctime == st.ctime and st2.mtime >= st.mtime
    rec["after_set"] = rec.stat(st2)
    data, st3 = zk.get(path)
    assert data == b"world!" and st3 == st2

    _, pst = zk.get(root)
    assert (pst.numChildren, pst.cversion, pst.version) == (1, 1, 0)
    assert rec.z(pst.pzxid) == 1
    assert rec.z(pst.mzxid) == 0
    rec["parent_after_create"] = rec.stat(pst)

    st4 = zk.set(path, b"", version=1)
    assert st4.version == 2 and st4.dataLength == 0 and rec.z(st4.mzxid) == 3
    assert zk.get(path)[0] == b""

    with pytest.raises(BadVersionError):
        zk.set(path, b"x", version=5)
    with pytest.raises(BadVersionError):
        zk.delete(path, version=1)
    assert zk.get(path)[1] == st4
    zk.delete(path, version=2)
    assert zk.exists(path) is None

    _, pst = zk.get(root)
    assert (pst.numChildren, pst.cversion) == (0, 2)
    # A failed write still consumes a zxid: create 1, set 2, set 3, two
    # failures 4 and 5, the delete is 6.
    assert rec.z(pst.pzxid) == 6
    rec["parent_after_delete"] = rec.stat(pst)

    # The next write shows how many zxids the failures used.
    st5 = zk.create(root + "/b", include_data=True)[1]
    assert rec.z(st5.czxid) == 7
    rec["next_create"] = rec.stat(st5)


def test_set_any_version_and_version_counter(zk, root, rec):
    path = root + "/v"
    zk.create(path, b"0")
    versions = []
    for i in range(1, 6):
        versions.append(zk.set(path, str(i).encode(), version=-1).version)
    assert versions == [1, 2, 3, 4, 5]
    st = zk.set(path, b"same", version=5)
    assert st.version == 6
    # Setting identical data still bumps the version.
    assert zk.set(path, b"same").version == 7
    rec["stat"] = rec.stat(zk.exists(path))
    zk.delete(path, version=-1)
    assert zk.exists(path) is None


def test_create_include_data_and_exists(zk, root, rec):
    path = root + "/c"
    created, st = zk.create(path, b"xyz", include_data=True)
    assert created == path
    assert st == zk.exists(path)
    assert st.dataLength == 3
    rec["create2"] = rec.stat(st)
    assert zk.exists(root + "/missing") is None


def test_errors(zk, root, rec):
    errs = {}
    errs["create_existing"] = error_name(zk.create, root)
    errs["create_missing_parent"] = error_name(zk.create, root + "/x/y")
    errs["get_missing"] = error_name(zk.get, root + "/x")
    errs["set_missing"] = error_name(zk.set, root + "/x", b"")
    errs["delete_missing"] = error_name(zk.delete, root + "/x")
    errs["children_missing"] = error_name(zk.get_children, root + "/x")
    errs["acls_missing"] = error_name(zk.get_acls, root + "/x")
    errs["set_acls_missing"] = error_name(zk.set_acls, root + "/x", OPEN_ACL_UNSAFE)
    zk.create(root + "/p/q", makepath=True)
    errs["delete_not_empty"] = error_name(zk.delete, root + "/p")
    errs["delete_bad_version"] = error_name(zk.delete, root + "/p/q", version=3)
    errs["set_bad_version"] = error_name(zk.set, root + "/p/q", b"", version=3)
    assert errs == {
        "create_existing": "NodeExistsError",
        "create_missing_parent": "NoNodeError",
        "get_missing": "NoNodeError",
        "set_missing": "NoNodeError",
        "delete_missing": "NoNodeError",
        "children_missing": "NoNodeError",
        "acls_missing": "NoNodeError",
        "set_acls_missing": "NoNodeError",
        "delete_not_empty": "NotEmptyError",
        "delete_bad_version": "BadVersionError",
        "set_bad_version": "BadVersionError",
    }
    rec["errors"] = errs
    # Which failures consumed a zxid shows in the next write's czxid.
    st = zk.create(root + "/after", include_data=True)[1]
    rec["next_create"] = rec.stat(st)
    rec["root"] = rec.stat(zk.exists(root))
    with pytest.raises(NodeExistsError):
        zk.create(root + "/p")
    with pytest.raises(NotEmptyError):
        zk.delete(root + "/p")
    with pytest.raises(NoNodeError):
        zk.delete(root + "/p/nothing")


def test_ensure_path_and_makepath(zk, root, rec):
    assert zk.ensure_path(root + "/e1/e2/e3") in (True, root + "/e1/e2/e3")
    assert zk.exists(root + "/e1/e2/e3") is not None
    # ensure_path on an existing path is fine.
    assert zk.ensure_path(root + "/e1/e2") is True
    assert zk.create(root + "/m1/m2/m3", b"leaf", makepath=True) == root + "/m1/m2/m3"
    assert zk.get(root + "/m1/m2/m3")[0] == b"leaf"
    assert zk.get(root + "/m1")[0] == b""
    rec["stats"] = {
        p: rec.stat(zk.exists(root + p))
        for p in ["/e1", "/e1/e2", "/e1/e2/e3", "/m1", "/m1/m2", "/m1/m2/m3"]
    }
    rec["root"] = rec.stat(zk.exists(root))


def test_get_children_and_include_data(zk, root, rec):
    names = ["b", "a", "c", "a-1", "z_9", "0"]
    for n in names:
        zk.create(root + "/" + n, n.encode())
    zk.create(root + "/a/deep")
    assert sorted(zk.get_children(root)) == sorted(names)
    children, st = zk.get_children(root, include_data=True)
    assert sorted(children) == sorted(names)
    assert st.numChildren == len(names) and st.cversion == len(names)
    assert st == zk.exists(root)
    rec["children"] = sorted(children)
    rec["stat"] = rec.stat(st)
    assert zk.get_children(root + "/a") == ["deep"]
    assert zk.get_children(root + "/b") == []
    rec["a_stat"] = rec.stat(zk.exists(root + "/a"))


def test_binary_and_empty_data(zk, root, rec):
    blob = bytes(range(256)) * 4
    zk.create(root + "/bin", blob)
    data, st = zk.get(root + "/bin")
    assert data == blob and st.dataLength == 1024
    zk.create(root + "/empty")
    data, st = zk.get(root + "/empty")
    assert data == b"" and st.dataLength == 0
    # Data set to null reads back as null, not as an empty buffer.
    zk.set(root + "/bin", None)
    data, st = zk.get(root + "/bin")
    assert data is None and st.dataLength == 0
    rec["bin"] = rec.stat(st)
    zk.create(root + "/null", None)
    data, st = zk.get(root + "/null")
    assert data is None and st.dataLength == 0


def test_unicode_paths_and_data(zk, root, rec):
    names = ["caf\u00e9", "\u65e5\u672c\u8a9e", "\u00fcber space", "a.b", "nbsp\u00a0",
             "bom\ufeff", "ls\u2028"]
    for n in names:
        zk.create(root + "/" + n, n.encode("utf-8"))
    assert sorted(zk.get_children(root)) == sorted(names)
    for n in names:
        data, st = zk.get(root + "/" + n)
        assert data.decode("utf-8") == n
        assert st.dataLength == len(n.encode("utf-8"))
    rec["children"] = sorted(zk.get_children(root))
    zk.delete(root + "/" + names[1])
    assert names[1] not in zk.get_children(root)
    # Characters ZooKeeper refuses in a path: control characters, the
    # surrogate and private-use ranges (so also anything outside the BMP),
    # and U+FFF0..U+FFFF.
    rejected = {
        "control_01": "ctl\u0001", "del_7f": "del\u007f", "c1_85": "c1\u0085",
        "private_e000": "priv\ue000", "fff0": "x\ufff0", "ffff": "x\uffff",
        "emoji": "emoji-\U0001F600",
    }
    errs = {k: error_name(zk.create, root + "/" + v) for k, v in rejected.items()}
    assert errs == {k: "BadArgumentsError" for k in rejected}
    rec["rejected"] = errs
    rec["root"] = rec.stat(zk.exists(root))


def test_sync(zk, root, rec):
    zk.create(root + "/s", b"1")
    result = zk.sync(root + "/s")
    assert result == root + "/s"
    assert zk.sync(root + "/does-not-exist") == root + "/does-not-exist"
    rec["root"] = rec.stat(zk.exists(root))


def test_server_side_path_validation(zk, root, rec):
    zk.create(root + "/x")
    cases = {
        "double_slash": root + "//x",
        "double_slash_existing_parent": root + "/x//y",
        "trailing_slash": root + "/y/",
        "trailing_slash_existing_parent": root + "/x/",
        "dot": root + "/.",
        "dotdot": root + "/..",
        "inner_dot": root + "/./x",
        "inner_dot_existing_parent": root + "/x/./y",
        "inner_dotdot_existing_parent": root + "/x/../y",
        "dotdot_under_existing": root + "/x/..",
        "relative": "x",
        "root": "/",
        "double_root": "//",
        "nul": root + "/a\u0000b",
        "dots_in_name": root + "/..x",
        "dot_suffix": root + "/x.",
        "space": root + "/ ",
    }
    results = {}
    for key, path in cases.items():
        results[key] = error_name(call, zk, RawCreate(path, b"", OPEN_ACL_UNSAFE, 0))
    assert results == {
        "double_slash": "NoNodeError",
        "double_slash_existing_parent": "NoNodeError",
        "trailing_slash": "NoNodeError",
        "trailing_slash_existing_parent": "BadArgumentsError",
        "dot": "BadArgumentsError",
        "dotdot": "BadArgumentsError",
        "inner_dot": "NoNodeError",
        "inner_dot_existing_parent": "NoNodeError",
        "inner_dotdot_existing_parent": "NoNodeError",
        "dotdot_under_existing": "BadArgumentsError",
        "relative": "BadArgumentsError",
        "root": "NodeExistsError",
        "double_root": "BadArgumentsError",
        "nul": "BadArgumentsError",
        "dots_in_name": "ok",
        "dot_suffix": "ok",
        "space": "ok",
    }
    rec["results"] = results
    assert sorted(zk.get_children(root)) == [" ", "..x", "x", "x."]
    # The connection is still usable after the rejected requests.
    rec["root"] = rec.stat(zk.exists(root))
    assert zk.connected


def test_chroot_client(clients, zk, root, rec):
    chrooted = clients(hosts=HOSTS + root)
    assert chrooted.create("/inside", b"1") == "/inside"
    # On an ensemble the two clients may be on different members: sync before reading.
    zk.sync(root)
    assert zk.get(root + "/inside")[0] == b"1"
    seq = chrooted.create("/s-", sequence=True)
    assert seq == "/s-0000000001"
    assert sorted(chrooted.get_children("/")) == ["inside", "s-0000000001"]
    tx = chrooted.transaction()
    tx.create("/t1")
    tx.create("/t2-", sequence=True)
    assert tx.commit() == ["/t1", "/t2-0000000003"]
    assert chrooted.exists("/t1") is not None
    zk.sync(root)
    assert sorted(zk.get_children(root)) == ["inside", "s-0000000001", "t1", "t2-0000000003"]
    rec["root"] = rec.stat(zk.exists(root))

