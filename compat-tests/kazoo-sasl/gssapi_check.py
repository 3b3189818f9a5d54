"""Kazoo with SASL GSSAPI (pure-sasl on pykerberos) against the server named by ZK_HOSTS.

The Kerberos credentials come from the environment (KRB5_CONFIG, KRB5CCNAME), one principal per
process. Prints one JSON object: what each step saw (connection states, results, exception class
names). The same script runs against ZooKeeper and zkts; the two outputs are compared.

usage: gssapi_check.py owner|reader|fail <acl id> [service]
  owner   creates /kg readable only by sasl:<acl id>, reads it back with its ACL
  reader  tries to read /kg
  fail    expects the SASL exchange to fail: waits for the connection thread to give up
"""

import json
import os
import sys
import time

from kazoo.client import KazooClient
from kazoo.security import ACL, Id

HOSTS = os.environ["ZK_HOSTS"]
START_TIMEOUT_S = 15.0
STATE_WAIT_S = 15.0

mode = sys.argv[1]
acl_id = sys.argv[2]
service = sys.argv[3] if len(sys.argv) > 3 else "zookeeper"
out = {}


def call(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - the class name is the outcome
        return type(e).__name__


c = KazooClient(hosts=HOSTS, sasl_options={"mechanism": "GSSAPI", "service": service}, timeout=10.0,
                connection_retry={"max_tries": 1, "delay": 0.1, "max_delay": 0.2})
states = []
c.add_listener(lambda s: states.append(str(s)))

if mode == "fail":
    # start() checks `connected` once and would race the failure; the ZooKeeper-level states
    # (Kazoo folds AUTH_FAILED into LOST for listeners) end with CLOSED when Kazoo gives up.
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
    out["keeper states"] = list(keeper_states)
    out["get"] = call(lambda: c.get("/")[1].version)
else:
    out["start"] = call(lambda: c.start(timeout=START_TIMEOUT_S) or "connected")
    if mode == "owner":
        out["create"] = call(lambda: c.create("/kg", b"x", acl=[ACL(31, Id("sasl", acl_id))]))
        out["acl"] = call(lambda: [[a.perms, a.id.scheme, a.id.id] for a in c.get_acls("/kg")[0]])
    out["get"] = call(lambda: c.get("/kg")[0].decode())
out["states"] = states
try:
    c.stop()
    c.close()
except Exception:  # noqa: BLE001
    pass
json.dump(out, sys.stdout, sort_keys=True)
sys.stdout.write("\n")
