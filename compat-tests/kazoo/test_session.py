"""Sessions: negotiated timeouts, expiry, reconnecting to the same session."""

from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState

from conftest import (
    HOSTS,
    WAIT_TIMEOUT_S,
    Collector,
    SetWatches,
    call,
    error_name,
    event_tuple,
    wait_until,
)


def capture_connect_results(client):
    """Record every ConnectResponse the client receives (timeout, session id)."""
    results = Collector()
    conn = client._connection
    original = conn._invoke

    def invoke(timeout, request, xid=None):
        out = original(timeout, request, xid)
        if type(request).__name__ == "Connect":
            connect_result = out[0]
            results.append((connect_result.time_out, connect_result.session_id))
        return out

    conn._invoke = invoke
    return results


def test_negotiated_session_timeouts(clients, root, rec):
    negotiated = {}
    for requested in [1.0, 4.0, 10.0, 30.0, 100.0]:
        client = clients(start=False, timeout=requested)
        results = capture_connect_results(client)
        client.start(timeout=WAIT_TIMEOUT_S)
        negotiated[str(requested)] = results.wait_for(1)[0][0]
        client.stop()
    # tickTime is 2000: the bounds are 2 and 20 ticks.
    assert negotiated == {"1.0": 4000, "4.0": 4000, "10.0": 10000, "30.0": 30000,
                          "100.0": 40000}
    rec["negotiated"] = negotiated


def test_reconnect_keeps_session_ephemerals_and_watches(clients, zk, root, rec):
    proxy = clients.proxy()
    client = clients(hosts=proxy.address, start=False, timeout=10.0, trace=True)
    connects = capture_connect_results(client)
    states = Collector()
    client.add_listener(states)
    client.start(timeout=WAIT_TIMEOUT_S)
    session_id = client.client_id[0]
    client.create(root + "/eph", b"e", ephemeral=True)
    client.create(root + "/same", b"s")
    client.get(root + "/eph")
    last_zxid = client.last_zxid

    proxy.block()
    states.wait_match(lambda s: s == KazooState.SUSPENDED, what="SUSPENDED")
    # Changes made while the client is away.
    zk.set(root + "/eph", b"changed")
    zk.create(root + "/later")
    assert zk.exists(root + "/eph").ephemeralOwner == session_id
    proxy.unblock()
    wait_until(lambda: states.items[-1] == KazooState.CONNECTED, what="reconnect")
    assert client.client_id[0] == session_id
    assert [c[1] for c in connects.items] == [session_id, session_id]
    assert connects.items[0][0] == connects.items[1][0] == 10000
    st = client.exists(root + "/eph")
    assert st.ephemeralOwner == session_id and st.version == 1
    assert states.items == [KazooState.CONNECTED, KazooState.SUSPENDED, KazooState.CONNECTED]

    # Re-registering watches relative to the last zxid seen reports what
    # changed meanwhile, ahead of the reply, and arms the rest.
    mark = len(client.wire.items())
    call(client, SetWatches(last_zxid,
                            [root + "/eph", root + "/same", root + "/missing"],
                            [root + "/later", root + "/never"],
                            [root]))
    trace = [list(e) for e in client.wire.items()[mark:]]
    trace = [[x[len(root):] if isinstance(x, str) and x.startswith(root) else x for x in e]
             for e in trace]
    assert trace == [
        ["event", "CHANGED", "/eph"],
        ["event", "DELETED", "/missing"],
        ["event", "CREATED", "/later"],
        ["event", "CHILD", ""],
        ["reply", "SetWatches", None, 0],
    ]
    mark = len(client.wire.items())
    zk.set(root + "/same", b"now")
    zk.create(root + "/never")
    client.sync(root)
    trace2 = [list(e) for e in client.wire.items()[mark:]]
    trace2 = [[x[len(root):] if isinstance(x, str) and x.startswith(root) else x for x in e]
              for e in trace2]
    assert trace2 == [
        ["event", "CHANGED", "/same"],
        ["event", "CREATED", "/never"],
        ["reply", "Sync", "", 0],
    ]
    rec["eph"] = rec.stat(st)
    rec["trace"] = [trace, trace2]


def test_session_expires_when_client_goes_silent(clients, zk, root, rec):
    proxy = clients.proxy()
    client = clients(hosts=proxy.address, start=False, timeout=4.0)
    connects = capture_connect_results(client)
    states = Collector()
    client.add_listener(states)
    client.start(timeout=WAIT_TIMEOUT_S)
    old_session = client.client_id[0]
    client.create(root + "/eph", ephemeral=True)
    deleted = Collector()
    # zk may be on another member of an ensemble than client: sync before watching, or the watch
    # may be set before the create arrived there and fire for the create.
    zk.sync(root)
    zk.exists(root + "/eph", watch=deleted)
    proxy.block()
    # Negotiated 4 s with tickTime 2 s: the server expires the session within
    # a few ticks; the ephemeral node goes with it.
    deleted.wait_for(1, timeout=20.0)
    assert zk.exists(root + "/eph") is None
    proxy.unblock()
    states.wait_match(lambda s: s == KazooState.LOST, what="LOST")
    wait_until(lambda: states.items[-1] == KazooState.CONNECTED and client.client_id[0] != old_session,
               what="new session")
    # The first reconnect attempt was answered with timeout 0: expired.
    times = [c[0] for c in connects.items]
    assert times[0] == 4000 and 0 in times and times[-1] == 4000
    assert client.exists(root + "/eph") is None
    assert [event_tuple(e) for e in deleted.items] == [["DELETED", root + "/eph"]]
    rec["negotiated"] = times[0]


def test_expire_by_session_takeover(clients, zk, root, rec):
    """Connecting a second client with the same id and password and closing it
    ends the session: the way Kazoo's own test harness expires sessions."""
    client = clients()
    states = Collector()
    client.add_listener(states)
    old_id = client.client_id
    client.create(root + "/eph", ephemeral=True)
    watcher_events = Collector()
    # zk may be on another member of an ensemble than client: sync before reading.
    zk.sync(root)
    zk.exists(root + "/eph", watch=watcher_events)
    twin = KazooClient(hosts=HOSTS, client_id=old_id, timeout=10.0)
    twin.start(timeout=WAIT_TIMEOUT_S)
    try:
        assert twin.client_id[0] == old_id[0]
        assert zk.exists(root + "/eph").ephemeralOwner == old_id[0]
    finally:
        twin.stop()
        twin.close()
    # The close ends the session: zk's watch sees the ephemeral node go, then it is gone.
    watcher_events.wait_for(1)
    assert zk.exists(root + "/eph") is None
    states.wait_match(lambda s: s == KazooState.LOST, what="LOST")
    wait_until(lambda: client.connected and client.client_id[0] != old_id[0], what="new session")
    client.sync(root)
    assert client.exists(root + "/eph") is None
    rec["root"] = rec.stat(zk.exists(root))


def test_wrong_password_and_closed_session_are_expired(clients, root, rec):
    client = clients()
    session_id, passwd = client.client_id
    results = {}
    wrong = bytes(b ^ 0xFF for b in passwd)
    for name, cid in [("wrong_password", (session_id, wrong))]:
        c = clients(start=False, client_id=cid)
        connects = capture_connect_results(c)
        c.start(timeout=WAIT_TIMEOUT_S)
        times = [t for t, _ in connects.wait_for(2)]
        results[name] = times[0]
        assert c.client_id[0] != session_id
    client.stop()
    c = clients(start=False, client_id=(session_id, passwd))
    connects = capture_connect_results(c)
    c.start(timeout=WAIT_TIMEOUT_S)
    times = [t for t, _ in connects.wait_for(2)]
    results["closed_session"] = times[0]
    assert results == {"wrong_password": 0, "closed_session": 0}
    rec["results"] = results


def test_client_id_and_state(clients, root, rec):
    client = clients()
    sid, passwd = client.client_id
    assert sid != 0 and len(passwd) == 16
    assert client.state == KazooState.CONNECTED
    client.stop()
    assert error_name(client.exists, root) == "ConnectionClosedError"
    rec["passwd_len"] = len(passwd)


def test_reconnect_refused_when_client_saw_a_newer_zxid(clients, root, rec):
    proxy = clients.proxy()
    client = clients(hosts=proxy.address, start=False, timeout=10.0)
    states = Collector()
    client.add_listener(states)
    client.start(timeout=WAIT_TIMEOUT_S)
    session_id = client.client_id[0]
    client.create(root + "/eph", ephemeral=True)
    real_zxid = client.last_zxid
    # A client that has seen a zxid the server does not have (as after a
    # server lost data) is refused: the server closes the connection.
    client.last_zxid = real_zxid + 1000000
    proxy.drop()
    states.wait_match(lambda s: s == KazooState.SUSPENDED, what="SUSPENDED")
    wait_until(lambda: proxy.accepted >= 4, what="several refused reconnects")
    assert states.items[-1] == KazooState.SUSPENDED
    assert not client.connected
    client.last_zxid = real_zxid
    wait_until(lambda: client.connected, what="reconnect")
    assert client.client_id[0] == session_id
    assert client.exists(root + "/eph").ephemeralOwner == session_id
    rec["states"] = [str(s) for s in states.items]
