"""Size limits: jute.maxbuffer is 0xfffff (1 MiB - 1), the largest request
frame the server reads; a bigger one makes it drop the connection."""

import pytest
from kazoo.exceptions import ConnectionLoss
from kazoo.protocol.states import KazooState

from conftest import Collector, GetAllChildrenNumber, call, wait_until

MAX_FRAME = 0xFFFFF
# Request header (xid, type) and the world:anyone ACL as Kazoo encodes them.
HEADER = 8
OPEN_ACL_BYTES = 4 + 4 + (4 + 5) + (4 + 6)


def create_frame(path, n):
    return HEADER + 4 + len(path.encode()) + 4 + n + OPEN_ACL_BYTES + 4


def set_frame(path, n):
    return HEADER + 4 + len(path.encode()) + 4 + n + 4


def test_largest_values(zk, root, rec):
    path = root + "/big"
    n = MAX_FRAME - create_frame(path, 0)
    assert create_frame(path, n) == MAX_FRAME
    value = bytes(i % 251 for i in range(n))
    zk.create(path, value)
    data, st = zk.get(path)
    assert data == value and st.dataLength == n
    n_set = MAX_FRAME - set_frame(path, 0)
    value2 = bytes((i * 7) % 253 for i in range(n_set))
    st2 = zk.set(path, value2)
    assert st2.dataLength == n_set and st2.version == 1
    assert zk.get(path)[0] == value2
    rec["sizes"] = [n, n_set]
    rec["stat"] = rec.stat(st2)


def test_frame_over_limit_drops_connection(clients, root, rec):
    client = clients()
    # On an ensemble client's member may not have applied the creation of root yet.
    client.sync(root)
    states = Collector()
    client.add_listener(states)
    session_id = client.client_id[0]
    path = root + "/toobig"
    n = MAX_FRAME - create_frame(path, 0) + 1
    with pytest.raises(ConnectionLoss):
        client.create(path, b"x" * n)
    states.wait_match(lambda s: s == KazooState.SUSPENDED, what="SUSPENDED")
    wait_until(lambda: client.connected, what="reconnect")
    # Same session; nothing was created.
    assert client.client_id[0] == session_id
    assert client.exists(path) is None
    n_set = MAX_FRAME - set_frame(root, 0) + 1
    with pytest.raises(ConnectionLoss):
        client.set(root, b"y" * n_set)
    wait_until(lambda: client.connected, what="reconnect")
    assert client.get(root)[0] == b""
    rec["result"] = "ConnectionLoss"
    rec["root"] = rec.stat(client.exists(root))


def test_many_children(zk, root, rec):
    count = 2000
    tx_size = 200
    for start in range(0, count, tx_size):
        tx = zk.transaction()
        for i in range(start, start + tx_size):
            tx.create("%s/child-with-a-longish-name-%05d" % (root, i))
        tx.commit()
    children = zk.get_children(root)
    assert len(children) == count
    assert sorted(children) == ["child-with-a-longish-name-%05d" % i for i in range(count)]
    _, st = zk.get_children(root, include_data=True)
    assert st.numChildren == count and st.cversion == count
    assert call(zk, GetAllChildrenNumber(root)) == count
    zk.create(root + "/child-with-a-longish-name-00000/g1")
    zk.create(root + "/child-with-a-longish-name-00000/g1/g2")
    assert call(zk, GetAllChildrenNumber(root)) == count + 2
    assert call(zk, GetAllChildrenNumber(root + "/child-with-a-longish-name-00000")) == 2
    rec["root"] = rec.stat(st)
    zk.delete(root + "/child-with-a-longish-name-00000/g1/g2")
    zk.delete(root + "/child-with-a-longish-name-00000/g1")
