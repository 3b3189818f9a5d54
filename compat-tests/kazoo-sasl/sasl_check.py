"""Kazoo with SASL DIGEST-MD5 (pure-sasl) against the server named by ZK_HOSTS.

Prints one JSON object: what each step saw (connection states, results, exception class names).
The same script runs against ZooKeeper and zkts; the two outputs are compared.
"""

import json
import os
import sys
import time

from kazoo.client import KazooClient
from kazoo.security import ACL, Id

HOSTS = os.environ["ZK_HOSTS"]
START_TIMEOUT_S = 10.0
STATE_WAIT_S = 10.0

out = {}


def client(user, password):
    opts = None
    if user is not None:
        opts = {"mechanism": "DIGEST-MD5", "username": user, "password": password}
    c = KazooClient(hosts=HOSTS, sasl_options=opts, timeout=10.0,
                    connection_retry={"max_tries": 1, "delay": 0.1, "max_delay": 0.2})
    states = []

    def listener(state):
        states.append(str(state))

    c.add_listener(listener)
    return c, states


def start(c):
    try:
        c.start(timeout=START_TIMEOUT_S)
        return "connected"
    except Exception as e:  # noqa: BLE001 - the class name is the outcome
        return type(e).__name__


def call(fn):
    try:
        r = fn()
        return r
    except Exception as e:  # noqa: BLE001
        return type(e).__name__


def stop(c):
    try:
        c.stop()
        c.close()
    except Exception:  # noqa: BLE001
        pass


def good_users():
    bob, bob_states = client("bob", "bobpw")
    out["bob start"] = start(bob)
    out["bob create"] = call(lambda: bob.create("/k", b"x", acl=[ACL(31, Id("sasl", "bob"))]))
    out["bob get"] = call(lambda: bob.get("/k")[0].decode())
    out["bob acl"] = call(lambda: [[a.perms, a.id.scheme, a.id.id] for a in bob.get_acls("/k")[0]])
    stop(bob)
    out["bob states"] = bob_states

    alice, _ = client("alice", "alicepw")
    out["alice start"] = start(alice)
    out["alice get"] = call(lambda: alice.get("/k")[0].decode())
    stop(alice)

    anon, _ = client(None, None)
    out["no sasl start"] = start(anon)
    out["no sasl get"] = call(lambda: anon.get("/k")[0].decode())
    stop(anon)


def failed_session(label, user, password):
    """start() would race the failure (it checks `connected` once): wait for the connection thread
    to give up (Kazoo ends it with CLOSED) instead."""
    c, states = client(user, password)
    # The ZooKeeper-level states (Kazoo folds AUTH_FAILED into LOST for listeners).
    keeper_states = []
    session_callback = c._session_callback

    def spy(state):
        keeper_states.append(str(state))
        return session_callback(state)

    c._session_callback = spy
    c.start_async()
    deadline = time.monotonic() + STATE_WAIT_S
    while "CLOSED" not in keeper_states and time.monotonic() < deadline:
        time.sleep(0.01)
    out[label + " states"] = list(states)
    out[label + " keeper states"] = list(keeper_states)
    out[label + " get"] = call(lambda: c.get("/")[1].version)
    stop(c)


def failures():
    failed_session("bad password", "bob", "wrong")
    failed_session("unknown user", "eve", "evepw")


good_users()
failures()
json.dump(out, sys.stdout, sort_keys=True)
sys.stdout.write("\n")
