"""The nodes every server starts with, and the four-letter words Kazoo uses."""

import os

from kazoo.security import OPEN_ACL_UNSAFE

from conftest import error_name


def full_stat(st):
    return {
        "czxid": st.czxid, "mzxid": st.mzxid, "pzxid": st.pzxid, "ctime": st.ctime,
        "mtime": st.mtime, "version": st.version, "cversion": st.cversion,
        "aversion": st.aversion, "ephemeralOwner": st.ephemeralOwner,
        "dataLength": st.dataLength, "numChildren": st.numChildren,
    }


def acl_list(acls):
    return [[a.perms, a.id.scheme, a.id.id] for a in acls]


# On an ensemble (ZK_ENSEMBLE_CONFIG set), /zookeeper/config holds the members' dynamic
# configuration, as ZooKeeper 3.8 writes it when a member loads its database: `server.N=...`
# lines and `version=0`, data version -1, mtime the member's load time, mzxid 0.
ENSEMBLE_CONFIG = os.environ.get("ZK_ENSEMBLE_CONFIG")


def test_system_nodes(zk, root, rec):
    assert "zookeeper" in zk.get_children("/")
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]
    assert zk.get_children("/zookeeper/quota") == []
    seen = {}
    for path in ["/zookeeper", "/zookeeper/config", "/zookeeper/quota"]:
        data, st = zk.get(path)
        acls, acl_st = zk.get_acls(path)
        assert acl_st == st
        seen[path] = {"data": data, "stat": full_stat(st), "acl": acl_list(acls)}
    if ENSEMBLE_CONFIG is not None:
        config = seen["/zookeeper/config"]
        assert config["data"].decode() == ENSEMBLE_CONFIG
        assert config["stat"]["mtime"] > 0
        # What follows compares the rest with a standalone server's nodes.
        config["data"] = b""
        config["stat"]["mtime"] = 0
        assert config["stat"]["version"] == -1 and config["stat"]["dataLength"] == len(ENSEMBLE_CONFIG)
        config["stat"]["version"] = 0
        config["stat"]["dataLength"] = 0
    assert seen == {
        "/zookeeper": {"data": b"", "acl": [[31, "world", "anyone"]], "stat": {
            "czxid": 0, "mzxid": 0, "pzxid": 0, "ctime": 0, "mtime": 0, "version": 0,
            "cversion": -2, "aversion": 0, "ephemeralOwner": 0, "dataLength": 0,
            "numChildren": 2}},
        "/zookeeper/config": {"data": b"", "acl": [[1, "world", "anyone"]], "stat": {
            "czxid": 0, "mzxid": 0, "pzxid": 0, "ctime": 0, "mtime": 0, "version": 0,
            "cversion": 0, "aversion": -1, "ephemeralOwner": 0, "dataLength": 0,
            "numChildren": 0}},
        "/zookeeper/quota": {"data": b"", "acl": [[31, "world", "anyone"]], "stat": {
            "czxid": 0, "mzxid": 0, "pzxid": 0, "ctime": 0, "mtime": 0, "version": 0,
            "cversion": 0, "aversion": 0, "ephemeralOwner": 0, "dataLength": 0,
            "numChildren": 0}},
    }
    rec["system"] = seen
    _, st = zk.get("/")
    assert (st.czxid, st.ctime, st.version, st.aversion, st.ephemeralOwner) == (0, 0, 0, 0, 0)
    assert acl_list(zk.get_acls("/")[0]) == [[31, "world", "anyone"]]


def test_system_nodes_are_protected(zk, root, rec):
    results = {
        "delete_root": error_name(zk.delete, "/"),
        "delete_zookeeper": error_name(zk.delete, "/zookeeper"),
        "delete_quota": error_name(zk.delete, "/zookeeper/quota"),
        "delete_config": error_name(zk.delete, "/zookeeper/config"),
        "set_config": error_name(zk.set, "/zookeeper/config", b"x"),
        "set_acls_config_empty": error_name(zk.set_acls, "/zookeeper/config", []),
        "create_root": error_name(zk.create, "/"),
        "create_zookeeper": error_name(zk.create, "/zookeeper"),
    }
    assert results == {
        "delete_root": "BadArgumentsError",
        "delete_zookeeper": "BadArgumentsError",
        "delete_quota": "BadArgumentsError",
        "delete_config": "BadArgumentsError",
        "set_config": "NoAuthError",
        "set_acls_config_empty": "InvalidACLError",
        "create_root": "NodeExistsError",
        "create_zookeeper": "NodeExistsError",
    }
    rec["results"] = results
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]
    assert zk.get_acls("/zookeeper/config")[0][0].perms == 1
    # Which of the refused writes used a zxid shows in the next one.
    rec["next"] = rec.stat(zk.create(root + "/n", include_data=True)[1])
    assert OPEN_ACL_UNSAFE[0].perms == 31


def test_four_letter_words(zk, root, rec):
    assert zk.command(b"ruok") == "imok"
    version = zk.server_version()
    assert len(version) == 3 and version >= (3, 5, 0)
    rec["ruok"] = "imok"
