"""Kazoo's reconfig against a live ensemble: an add/remove pair, a wrong from_config
(BadVersionError) and joiners without a quorum (NewConfigNoQuorumError). One line per
observed fact on stdout; config strings with their newlines shown as " | ".

Usage: reconfig_kazoo.py HOST:PORT SUPER_PASSWORD JOINER LEAVING_SID WRONG_VERSION_HEX NO_QUORUM_JOINERS
"""

import sys

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

TIMEOUT_S = 20.0


def cfg(data):
    return data.decode("utf-8").replace("\n", " | ")


def stat(st):
    return "mzxid=0x%x version=%d" % (st.mzxid, st.version)


def line(text):
    print(text, flush=True)


def main():
    hosts, password, joiner, leaving, wrong_hex, no_quorum = sys.argv[1:7]
    wrong = int(wrong_hex, 16)
    zk = KazooClient(hosts=hosts, timeout=TIMEOUT_S)
    zk.start(timeout=TIMEOUT_S)
    code = 0
    try:
        zk.add_auth("digest", "super:" + password)
        data, st = zk.get("/zookeeper/config")
        line("get /zookeeper/config -> %s %s" % (cfg(data), stat(st)))

        data, st = zk.reconfig(joining=joiner, leaving=None, new_members=None)
        line("reconfig joining %s -> %s %s" % (joiner, cfg(data), stat(st)))
        zk.sync("/")
        data, st = zk.get("/zookeeper/config")
        line("get /zookeeper/config -> %s %s" % (cfg(data), stat(st)))

        data, st = zk.reconfig(joining=None, leaving=leaving, new_members=None)
        line("reconfig leaving %s -> %s %s" % (leaving, cfg(data), stat(st)))
        zk.sync("/")
        data, st = zk.get("/zookeeper/config")
        line("get /zookeeper/config -> %s %s" % (cfg(data), stat(st)))

        for label, kwargs in (
            ("from_config=%x" % wrong, dict(joining=None, leaving=leaving, new_members=None, from_config=wrong)),
            ("joining %s" % no_quorum, dict(joining=no_quorum, leaving=None, new_members=None)),
        ):
            try:
                zk.reconfig(**kwargs)
                line("reconfig %s -> committed (unexpected)" % label)
            except KazooException as e:
                line("reconfig %s -> %s" % (label, type(e).__name__))
    except Exception as e:  # noqa: BLE001 - the transcript records any failure
        line("FAILED: %s %s" % (type(e).__name__, e))
        code = 1
    finally:
        zk.stop()
        zk.close()
    line("## done")
    sys.exit(code)


if __name__ == "__main__":
    main()
