#!/usr/bin/python3
"""Scenarios driven against the ensemble capture-quorum.sh starts: every quorum packet kind.

Server N (1..4, 4 = observer) serves clients on 127.0.0.1:340N. BASE/start.sh N starts it.
"""
import os, signal, socket, subprocess, sys, time
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

BASE = sys.argv[1]
MODE = sys.argv[2] if len(sys.argv) > 2 else "all"  # all | trunc


def log(*a):
    print("%.3f" % time.time(), *a, flush=True)


def start(i):
    subprocess.run([BASE + "/start.sh", str(i)], check=True)


def pid(i):
    with open("%s/s%d/pid" % (BASE, i)) as f:
        return int(f.read())


def stop(i, sig=signal.SIGTERM):
    p = pid(i)
    os.kill(p, sig)
    for _ in range(200):
        try:
            os.kill(p, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise RuntimeError("server %d did not stop" % i)


def srvr(i):
    try:
        with socket.create_connection(("127.0.0.1", 3400 + i), timeout=2) as s:
            s.sendall(b"srvr")
            out = b""
            while True:
                b = s.recv(4096)
                if not b:
                    break
                out += b
        d = {}
        for line in out.decode().splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                d[k.strip()] = v.strip()
        return d
    except OSError:
        return {}


def wait_mode(i, modes, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        m = srvr(i).get("Mode")
        if m in modes:
            log("server", i, "is", m)
            return m
        time.sleep(0.1)
    raise RuntimeError("server %d not in %s" % (i, modes))


def leader_of(ids):
    for i in ids:
        if srvr(i).get("Mode") == "leader":
            return i
    return None


def client(i, **kw):
    c = KazooClient(hosts="127.0.0.1:%d" % (3400 + i), timeout=10, randomize_hosts=False, **kw)
    c.start(timeout=15)
    return c


def java_password(session_id):
    """java.util.Random(sessionId ^ 0xB3415C00).nextBytes(16): the password every server derives."""
    mask = (1 << 48) - 1
    seed = ((session_id ^ 0xB3415C00) ^ 0x5DEECE66D) & mask
    out = bytearray()
    while len(out) < 16:
        seed = (seed * 0x5DEECE66D + 0xB) & mask
        r = seed >> 16
        for _ in range(min(4, 16 - len(out))):
            out.append(r & 0xff)
            r >>= 8
    return bytes(out)


# cold start
for i in (1, 2, 3):
    start(i)
for i in (1, 2, 3):
    wait_mode(i, ("leader", "follower"))
start(4)
wait_mode(4, ("observer",))
L = leader_of((1, 2, 3))
F1, F2 = [i for i in (1, 2, 3) if i != L]
log("leader", L, "followers", F1, F2)
time.sleep(2.5)  # pings with empty touch tables

def writes_and_syncs():
    """Every write path, sync, session move, DIFF and SNAP; returns the client on the leader."""
    # writes through a follower
    a = client(F1)
    a.create("/f", b"via-follower")
    a.set("/f", b"v2")
    a.create("/f/eph", b"e", ephemeral=True)
    a.create("/f/seq-", b"", sequence=True)
    t = a.transaction()
    t.create("/f/m1", b"m")
    t.check("/f", 1)
    t.set_data("/f/m1", b"m2")
    t.delete("/f/m1")
    log("multi via follower", t.commit())
    a.sync("/f")
    a.delete("/f/seq-0000000001")
    try:
        a.create("/f", b"dup")
    except KazooException as e:
        log("expected error", repr(e))
    time.sleep(1.5)  # a ping carries this session in the touch table

    # writes through the leader
    b = client(L)
    b.create("/l", b"via-leader")
    b.set("/l", b"x" * 300)
    t = b.transaction()
    t.create("/l/m", b"")
    t.delete("/l/m")
    log("multi via leader", t.commit())
    b.sync("/l")

    # the observer: writes, sync
    o = client(4)
    o.create("/o", b"via-observer")
    o.set("/o", b"o2")
    o.sync("/o")
    time.sleep(1.5)

    # a session moved from F1 to F2 (REVALIDATE), then a write on the old connection (SESSIONMOVED)
    sid, pw = a.client_id
    log("session", hex(sid))
    m = client(F2, client_id=(sid, pw))
    log("moved session is", hex(m.client_id[0]))
    try:
        a.set("/f", b"from-old-connection", )
    except KazooException as e:
        log("old connection write", repr(e))
    time.sleep(0.5)
    # revalidating a session nobody created (right password): the leader answers invalid
    bogus = (F1 << 56) | 0x1234
    try:
        x = KazooClient(hosts="127.0.0.1:%d" % (3400 + F1), timeout=10, client_id=(bogus, java_password(bogus)))
        x.start(timeout=5)
        log("bogus session got", hex(x.client_id[0]))
        x.stop(); x.close()
    except Exception as e:
        log("bogus session", repr(e))
    m.stop(); m.close()
    try:
        a.stop(); a.close()
    except Exception as e:
        log("closing a", repr(e))

    # follower restart: DIFF
    stop(F1)
    b.create("/d1", b"while-down")
    b.set("/d1", b"while-down-2")
    start(F1)
    wait_mode(F1, ("follower",))
    time.sleep(1)

    # wiped follower: SNAP
    stop(F2)
    subprocess.run(["rm", "-rf", "%s/s%d/data/version-2" % (BASE, F2)], check=True)
    b.create("/s1", b"before-snap")
    start(F2)
    wait_mode(F2, ("follower",))
    time.sleep(1)
    o.stop(); o.close()
    return b


def truncate(b):
    """TRUNC: the leader logs a txn its frozen followers never process, then rejoins a newer epoch."""
    # Frozen (not killed) followers keep their connections, so the leader goes on proposing and
    # logs the txn itself; they die before reading the proposal.
    b.create("/t", b"committed")
    os.kill(pid(F1), signal.SIGSTOP)
    os.kill(pid(F2), signal.SIGSTOP)
    b.create_async("/uncommitted", b"lost")
    time.sleep(1.0)
    stop(F1, signal.SIGKILL)
    stop(F2, signal.SIGKILL)
    try:
        b.stop(); b.close()
    except Exception as e:
        log("closing b", repr(e))
    stop(L)
    start(F1); start(F2)
    wait_mode(F1, ("leader", "follower"))
    wait_mode(F2, ("leader", "follower"))
    start(L)
    wait_mode(L, ("follower",))
    wait_mode(4, ("observer",), 40)
    L2 = leader_of((1, 2, 3))
    log("new leader", L2)
    time.sleep(1)
    return L2


b = writes_and_syncs() if MODE == "all" else client(L)
L2 = truncate(b)

# reconfig: the observer gets a client address (COMMITANDACTIVATE, INFORMANDACTIVATE)
c = client(L2)
c.create("/r", b"before-reconfig")
data, stat = c.reconfig(joining="server.4=127.0.0.1:3414:3424:observer;127.0.0.1:3404", leaving=None, new_members=None)
log("reconfig ->", data, stat)
time.sleep(1)
c.create("/after", b"after-reconfig")
c.stop(); c.close()
time.sleep(2)
log("done")
