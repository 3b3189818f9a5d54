#!/usr/bin/env python3
"""The fault suite's kazoo workload (FAULTS-SPEC "Workload process contract").

K worker sessions run seeded register, seq, counter and lock ops through kazoo (its Lock recipe for
the lock workload), plus one watcher session with a persistent recursive watch on /faults/reg; every
op is written as one JSON line and flushed at once.

Outcomes: `ok` took effect, `fail` definitely did not (a ZooKeeper error the server gives before it
applies anything), `info` unknown (connection loss, session expiry, no answer in 10 s). Exits 0
whatever the ensemble does; 2 on bad arguments, 3 when the history cannot be written.

No released kazoo has addWatch (ZooKeeper 3.6's persistent watches), so this program sends the
request itself (opcode 106) through the client's request queue, and reads the events of that watch,
with the zxid from the notification's reply header, where the client reads every watch event.
"""

import argparse
import collections
import json
import os
import queue
import random
import struct
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, LockTimeout, ZookeeperError
from kazoo.protocol import connection as kazoo_connection
from kazoo.protocol.serialization import Watch, int_struct, write_string
from kazoo.protocol.states import KazooState
from kazoo.recipe.lock import Lock

OP_TIMEOUT_S = 10.0
# kazoo's own wait for the lock; the op as a whole is still bounded by OP_TIMEOUT_S.
LOCK_WAIT_S = 8.0
CONNECT_WAIT_S = 0.5
WATCH_QUEUE_MAX = 100000
VALUE_BLOCK = 1000000

REG_PARENT = "/faults/reg"
REG_KEYS = 32
SEQ_PREFIX = "/faults/seq/n-"
CTR_A = "/faults/ctr/a"
CTR_B = "/faults/ctr/b"
LOCK_PATH = "/faults/lock/kazoo"

WORKLOADS = ("register", "seq", "counter", "lock", "watch")
# How often a worker picks each workload (the lock's weight is low: its holders serialise the
# workers that wait for it).
WEIGHTS = {"register": 40, "seq": 15, "counter": 25, "lock": 20}

# ZooKeeper's error codes. DEFINITE: the server answers them before it applies anything, so the
# op had no effect. The others leave the outcome unknown.
DEFINITE = {
    -101: "NONODE",
    -110: "NODEEXISTS",
    -103: "BADVERSION",
    -111: "NOTEMPTY",
    -102: "NOAUTH",
    -8: "BADARGUMENTS",
    -108: "NOCHILDRENFOREPHEMERALS",
    -114: "INVALIDACL",
    -115: "AUTHFAILED",
    -6: "UNIMPLEMENTED",
    -119: "NOTREADONLY",
    -120: "EPHEMERALONLOCALSESSION",
    -121: "NOWATCHER",
    -125: "QUOTAEXCEEDED",
}
UNKNOWN = {
    -1: "SYSTEMERROR",
    -2: "RUNTIMEINCONSISTENCY",
    -3: "DATAINCONSISTENCY",
    -4: "CONNECTIONLOSS",
    -5: "MARSHALLINGERROR",
    -7: "OPERATIONTIMEOUT",
    -13: "NEWCONFIGNOQUORUM",
    -14: "RECONFIGINPROGRESS",
    -100: "APIERROR",
    -112: "SESSIONEXPIRED",
    -113: "INVALIDCALLBACK",
    -118: "SESSIONMOVED",
}

# Watch event types on the wire.
EVENT_TYPES = {1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged"}


def now_ns():
    return time.monotonic_ns()


def hexz(zxid):
    return "0x%x" % zxid


class HarnessError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Persistent recursive watches for kazoo


class AddWatch(collections.namedtuple("AddWatch", "path mode")):
    """ZooKeeper's addWatch request (opcode 106): path, mode (0 persistent, 1 persistent recursive)."""

    type = 106
    PERSISTENT_RECURSIVE = 1

    def serialize(self):
        b = bytearray(write_string(self.path))
        b.extend(int_struct.pack(self.mode))
        return b

    @classmethod
    def deserialize(cls, buffer, offset):
        # The reply has no body.
        return True


_REPLY_ZXID = struct.Struct("!q")
_original_read_watch_event = kazoo_connection.ConnectionHandler._read_watch_event


def _read_watch_event(self, buffer, offset):
    # A client with a persistent-watch hook sees every event first, with the zxid of the reply
    # header (xid int, zxid long, err int) the notification came in; kazoo's own one-shot watchers
    # are served as before.
    hook = getattr(self.client, "_faults_watch_hook", None)
    if hook is not None:
        try:
            watch, _ = Watch.deserialize(buffer, offset)
            zxid = _REPLY_ZXID.unpack_from(buffer, 4)[0]
            hook(watch.type, watch.path, zxid)
        except Exception as exc:  # a hook must never take the connection down
            sys.stderr.write("kazoo-workload: watch hook: %r\n" % (exc,))
    return _original_read_watch_event(self, buffer, offset)


kazoo_connection.ConnectionHandler._read_watch_event = _read_watch_event


def add_watch_async(client, path, mode):
    async_object = client.handler.async_result()
    client._call(AddWatch(path, mode), async_object)
    return async_object


# ---------------------------------------------------------------------------------------------
# History


class History(object):
    def __init__(self, path):
        try:
            self._file = open(path, "w", encoding="utf-8")
        except OSError as exc:
            raise HarnessError("cannot open %s: %s" % (path, exc))
        self._lock = threading.Lock()
        self.failed = False
        self.closed = False

    def write(self, line):
        text = json.dumps(line, separators=(",", ":")) + "\n"
        with self._lock:
            # A line of a session still closing after the end is not part of the run.
            if self.failed or self.closed:
                return
            try:
                self._file.write(text)
                self._file.flush()
            except (OSError, ValueError) as exc:
                self.failed = True
                sys.stderr.write("kazoo-workload: cannot write the history: %s\n" % exc)

    def close(self):
        with self._lock:
            self.closed = True
            try:
                self._file.close()
            except OSError:
                self.failed = True


def session_hex(client):
    try:
        cid = client.client_id if client is not None else None
    except Exception:
        cid = None
    if not cid or not cid[0]:
        return None
    return hexz(cid[0])


def member_of(client):
    try:
        host, port = client._connection._socket.getpeername()[:2]
        return "%s:%d" % (host, port)
    except Exception:
        return None


class OpLine(object):
    """One op; its line is written once, when it completes (or as info when the program ends)."""

    def __init__(self, history, proc, wl, f, key, inp, client):
        self.history = history
        self._written = threading.Lock()
        self._done = False
        self.line = collections.OrderedDict(
            [
                ("proc", proc),
                ("wl", wl),
                ("f", f),
                ("key", key),
                ("in", inp),
                ("status", None),
                ("out", None),
                ("err", None),
                ("t0", now_ns()),
                ("t1", None),
                ("session", session_hex(client)),
                ("member", member_of(client)),
            ]
        )

    def _finish(self, status, out, err, t1):
        with self._written:
            if self._done:
                return
            self._done = True
        self.line["status"] = status
        self.line["out"] = out
        self.line["err"] = err
        self.line["t1"] = t1
        self.history.write(self.line)

    def ok(self, out):
        self._finish("ok", out, None, now_ns())

    def fail(self, err):
        self._finish("fail", None, err, now_ns())

    def info(self, err):
        self._finish("info", None, err, None)

    def by_exception(self, exc):
        """fail or info by what the client raised."""
        code = getattr(exc, "code", None) if isinstance(exc, ZookeeperError) else None
        if code in DEFINITE:
            self.fail(DEFINITE[code])
        elif code in UNKNOWN:
            self.info(UNKNOWN[code])
        else:
            self.info("CLIENT: %s" % type(exc).__name__)


class Timeout(Exception):
    """No answer within the op's bound."""


def wait(async_result, timeout=OP_TIMEOUT_S):
    """The result, or raises what the client raised, or Timeout after the bound."""
    try:
        return async_result.get(timeout=max(0.0, timeout))
    except KazooException:
        raise
    except Exception as exc:
        # The handler's timeout exception (its type differs between handlers).
        if "timeout" in type(exc).__name__.lower():
            raise Timeout()
        raise


def decimal(data):
    try:
        return int(data.decode("ascii").strip())
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None


def read_out(data, stat):
    return collections.OrderedDict(
        [("exists", True), ("value", decimal(data)), ("version", stat.version), ("mzxid", hexz(stat.mzxid))]
    )


def rotated(members, first):
    return [members[(first + i) % len(members)] for i in range(len(members))]


def new_client(hosts, session_timeout_ms):
    return KazooClient(
        hosts=",".join(hosts),
        timeout=session_timeout_ms / 1000.0,
        randomize_hosts=False,
        # Keep reconnecting for as long as the program runs.
        connection_retry={"max_tries": -1, "delay": 0.1, "backoff": 2, "max_delay": 1.0},
    )


def given_up(holder, session_timeout_ms):
    """Whether a session has been disconnected for longer than its timeout. By then the ensemble
    has expired it, or cannot take it back (a member behind the zxid the client has seen refuses
    it): kazoo would retry it for ever, so the worker starts a new one, as Curator does."""
    t = now_ns()
    if holder.disconnected_since is None:
        holder.disconnected_since = t
        return False
    if t - holder.disconnected_since > session_timeout_ms * 1000000:
        holder.disconnected_since = None
        return True
    return False


def stop_in_background(client):
    def run():
        try:
            client.stop()
            client.close()
        except Exception:
            pass

    t = threading.Thread(target=run, name="kazoo-close")
    t.daemon = True
    t.start()
    return t


# ---------------------------------------------------------------------------------------------
# Worker


class Worker(object):
    def __init__(self, args, history, index, deadline_ns):
        self.args = args
        self.history = history
        self.index = index
        self.proc = "%s-%d" % (args.prefix, index)
        self.deadline_ns = deadline_ns
        self.random = random.Random(args.seed * 1000003 + index)
        self.workloads = [w for w in args.workloads if w != "watch"]
        self.hosts = rotated(args.members, index % len(args.members))
        self.known_version = {}
        self.value_counter = 0
        self.client = None
        self.lock = None
        self.lock_state = threading.Lock()
        self.holding = False  # guarded by lock_state
        self.open = None
        self.lock_runner = None
        self.disconnected_since = None

    # --- session -------------------------------------------------------------------------------

    def open_session(self):
        client = new_client(self.hosts, self.args.session_timeout_ms)
        client.add_listener(lambda state, c=client: self.on_state(c, state))
        self.client = client
        self.lock = Lock(client, LOCK_PATH, identifier=self.proc)
        client.start_async()

    def replace_session(self):
        """The session did not answer within the bound: give it up and start a new one."""
        old = self.client
        with self.lock_state:
            self.holding = False
        self.client = None
        if old is not None:
            stop_in_background(old)
        self.open_session()

    def on_state(self, client, state):
        # Called on kazoo's connection thread: no blocking here.
        if state not in (KazooState.SUSPENDED, KazooState.LOST):
            return
        with self.lock_state:
            if client is not self.client or not self.holding:
                return
            self.holding = False
            t = now_ns()
            # t0 = t1: the moment the holder learned it may have lost the lock.
            self.history.write(
                collections.OrderedDict(
                    [
                        ("proc", self.proc),
                        ("wl", "lock"),
                        ("f", "lost"),
                        ("key", LOCK_PATH),
                        ("in", {}),
                        ("status", "ok"),
                        ("out", {"state": str(state)}),
                        ("err", None),
                        ("t0", t),
                        ("t1", t),
                        ("session", session_hex(client)),
                        ("member", member_of(client)),
                    ]
                )
            )

    def begin(self, wl, f, key, inp):
        op = OpLine(self.history, self.proc, wl, f, key, inp, self.client)
        self.open = op
        return op

    def call(self, op, async_result):
        """(True, result) or (False, None) after the op was recorded as failed or unknown."""
        # The bound is the op's, over all the calls it makes (sync-read makes two).
        left = OP_TIMEOUT_S - (now_ns() - op.line["t0"]) / 1e9
        try:
            return True, wait(async_result, left)
        except Timeout:
            op.info("TIMEOUT")
            self.replace_session()
        except KazooException as exc:
            return False, exc
        return False, None

    def next_value(self):
        self.value_counter += 1
        return (self.args.value_base + self.index) * VALUE_BLOCK + self.value_counter

    def run(self):
        self.open_session()
        try:
            while now_ns() < self.deadline_ns and self.workloads:
                if not self.client.connected:
                    if given_up(self, self.args.session_timeout_ms):
                        self.replace_session()
                        continue
                    # Nothing is sent on a session that is not connected; wait a little for it.
                    time.sleep(min(CONNECT_WAIT_S, max(0, (self.deadline_ns - now_ns()) / 1e9)))
                    continue
                self.disconnected_since = None
                wl = self.pick_workload()
                try:
                    getattr(self, "op_" + wl)()
                except Exception as exc:
                    # A call that raised before it was sent: the op, if one was begun, has an
                    # unknown outcome; a fresh session follows.
                    if self.open is not None:
                        self.open.info("CLIENT: %s" % type(exc).__name__)
                    self.replace_session()
                self.open = None
                self.think()
        finally:
            if self.client is not None:
                stop_in_background(self.client)

    def pick_workload(self):
        r = self.random.randrange(sum(WEIGHTS[w] for w in self.workloads))
        for w in self.workloads:
            r -= WEIGHTS[w]
            if r < 0:
                return w
        return self.workloads[-1]

    def think(self):
        if self.args.think_ms > 0:
            time.sleep(self.random.randint(0, self.args.think_ms) / 1000.0)

    # --- register ------------------------------------------------------------------------------

    def op_register(self):
        key = "%s/%d" % (REG_PARENT, self.random.randrange(REG_KEYS))
        pick = self.random.randrange(100)
        c = self.client
        if pick < 20:
            op = self.begin("register", "read", key, {})
            self.read(op, key, c.get_async(key))
        elif pick < 30:
            op = self.begin("register", "sync-read", key, {})
            ok, res = self.call(op, c.sync_async(key))
            if not ok:
                if res is not None:
                    op.by_exception(res)
                return
            self.read(op, key, c.get_async(key))
        elif pick < 50:
            value = self.next_value()
            op = self.begin("register", "write", key, {"value": value})
            self.set_done(op, key, c.set_async(key, str(value).encode("ascii"), -1))
        elif pick < 80:
            value = self.next_value()
            expected = self.known_version.get(key, 0)
            op = self.begin("register", "cas", key, collections.OrderedDict([("value", value), ("expectedVersion", expected)]))
            self.set_done(op, key, c.set_async(key, str(value).encode("ascii"), expected))
        elif pick < 90:
            value = self.next_value()
            op = self.begin("register", "create", key, {"value": value})
            ok, res = self.call(op, c.create_async(key, str(value).encode("ascii"), include_data=True))
            if ok:
                self.known_version[key] = 0
                op.ok({"mzxid": hexz(res[1].mzxid)})
            elif res is not None:
                op.by_exception(res)
        else:
            expected = -1 if self.random.random() < 0.5 else self.known_version.get(key, 0)
            op = self.begin("register", "delete", key, {"expectedVersion": expected})
            ok, res = self.call(op, c.delete_async(key, expected))
            if ok:
                self.known_version.pop(key, None)
                op.ok({})
            elif res is not None:
                op.by_exception(res)

    def read(self, op, key, async_result):
        ok, res = self.call(op, async_result)
        if ok:
            data, stat = res
            self.known_version[key] = stat.version
            op.ok(read_out(data, stat))
        elif res is not None:
            if getattr(res, "code", None) == -101:
                op.ok({"exists": False})
            else:
                op.by_exception(res)

    def set_done(self, op, key, async_result):
        ok, res = self.call(op, async_result)
        if ok:
            self.known_version[key] = res.version
            op.ok(collections.OrderedDict([("version", res.version), ("mzxid", hexz(res.mzxid))]))
        elif res is not None:
            op.by_exception(res)

    # --- seq -----------------------------------------------------------------------------------

    def op_seq(self):
        op = self.begin("seq", "seq-create", SEQ_PREFIX, {})
        ok, res = self.call(op, self.client.create_async(SEQ_PREFIX, b"", sequence=True, include_data=True))
        if ok:
            path, stat = res
            op.ok(collections.OrderedDict([("name", path.rsplit("/", 1)[1]), ("mzxid", hexz(stat.mzxid))]))
        elif res is not None:
            op.by_exception(res)

    # --- counter -------------------------------------------------------------------------------

    def op_counter(self):
        c = self.client
        if self.random.randrange(100) < 60:
            # The reads that pick the versions are not ops of their own; when one of them fails no
            # transaction is sent and nothing is recorded.
            try:
                data_a, stat_a = wait(c.get_async(CTR_A))
                _, stat_b = wait(c.get_async(CTR_B))
            except Timeout:
                self.replace_session()
                return
            except KazooException:
                return
            n = decimal(data_a)
            if n is None:
                return
            op = self.begin(
                "counter", "incr", CTR_A, collections.OrderedDict([("from", n), ("va", stat_a.version), ("vb", stat_b.version)])
            )
            tx = c.transaction()
            tx.set_data(CTR_A, str(n + 1).encode("ascii"), stat_a.version)
            tx.set_data(CTR_B, str(n + 1).encode("ascii"), stat_b.version)
            ok, res = self.call(op, tx.commit_async())
            if not ok:
                if res is not None:
                    op.by_exception(res)
                return
            # A failed transaction answers with an error per op: the one that failed, and
            # RolledBackError (code 0) for the others.
            errors = [r for r in res if isinstance(r, Exception) and getattr(r, "code", 0) != 0]
            if errors:
                op.by_exception(errors[0])
            elif any(isinstance(r, Exception) for r in res):
                op.info("CLIENT: rolled back without a cause")
            else:
                op.ok({"to": n + 1})
        else:
            # kazoo's transactions are write-only: a then b on the same session.
            op = self.begin("counter", "read-a-then-b", CTR_A, {})
            ok, res = self.call(op, c.get_async(CTR_A))
            if not ok:
                if res is not None:
                    op.by_exception(res)
                return
            x = decimal(res[0])
            ok, res = self.call(op, c.get_async(CTR_B))
            if not ok:
                if res is not None:
                    op.by_exception(res)
                return
            op.ok(collections.OrderedDict([("a", x), ("b", decimal(res[0]))]))

    # --- lock ----------------------------------------------------------------------------------

    def lock_call(self, op, fn):
        """Runs a lock call on its own thread with the op's bound: (True, result) or (False, None)
        after the op was recorded."""
        box = {}

        def run():
            try:
                box["result"] = fn()
            except BaseException as exc:
                box["error"] = exc

        t = threading.Thread(target=run, name=self.proc + "-lock")
        t.daemon = True
        t.start()
        t.join(OP_TIMEOUT_S)
        if t.is_alive():
            op.info("TIMEOUT")
            self.replace_session()
            return False, None
        if "error" in box:
            exc = box["error"]
            if isinstance(exc, LockTimeout):
                op.fail("TIMEOUT")
            elif isinstance(exc, KazooException):
                op.by_exception(exc)
            else:
                op.info("CLIENT: %s" % type(exc).__name__)
            return False, None
        return True, box.get("result")

    def op_lock(self):
        lock = self.lock
        client = self.client
        op = self.begin("lock", "acquire", LOCK_PATH, {})
        ok, got = self.lock_call(op, lambda: lock.acquire(timeout=LOCK_WAIT_S))
        if not ok:
            return
        if not got:
            # kazoo gave up within its wait and removed its contender node.
            op.fail("TIMEOUT")
            return
        with self.lock_state:
            op.ok({})
            self.holding = True
        self.open = None
        # A suspension that came while acquire was returning: the lock is not to be trusted.
        if not client.connected:
            self.on_state(client, KazooState.SUSPENDED)
        time.sleep(self.random.uniform(0, self.args.lock_hold_max_ms / 1000.0))
        with self.lock_state:
            # Begun under the lock state so that a `lost` line is never inside the release.
            release = self.begin("lock", "release", LOCK_PATH, {})
            self.holding = False
        ok, _ = self.lock_call(release, lock.release)
        if ok:
            release.ok({})
        elif self.client is client:
            # The recipe may still count the lock as its own: the session ends, and its lock node
            # with it.
            self.replace_session()


# ---------------------------------------------------------------------------------------------
# Watcher: events and state changes go through one queue to the watcher's thread, which writes
# them in order, each event followed by a read of its path, so the watcher's lines never overlap.


class WatcherSession(object):
    def __init__(self, args, history, index):
        self.args = args
        self.history = history
        self.proc = "%s-watch-%d" % (args.prefix, index)
        self.hosts = rotated(args.members, (args.processes + index) % len(args.members))
        self.queue = queue.Queue(WATCH_QUEUE_MAX)
        self.stop = threading.Event()
        self.client = None
        self.last_state = None
        self.watch_added = False
        # Set when the watch is first in place: the workers start after it.
        self.ready = threading.Event()
        self.disconnected_since = None

    def open_session(self):
        client = new_client(self.hosts, self.args.session_timeout_ms)
        client._faults_watch_hook = lambda event_type, path, zxid, c=client: self.on_event(c, event_type, path, zxid)
        client.add_listener(lambda state, c=client: self.queue.put(("state", c, state)))
        self.client = client
        self.watch_added = False
        client.start_async()

    def on_event(self, client, event_type, path, zxid):
        # On kazoo's connection thread.
        if path != REG_PARENT and not path.startswith(REG_PARENT + "/"):
            return
        self.queue.put(("event", client, event_type, path, zxid))

    def write_line(self, wl, f, key, out):
        t = now_ns()
        self.history.write(
            collections.OrderedDict(
                [
                    ("proc", self.proc),
                    ("wl", wl),
                    ("f", f),
                    ("key", key),
                    ("in", {}),
                    ("status", "ok"),
                    ("out", out),
                    ("err", None),
                    ("t0", t),
                    ("t1", t),
                    ("session", session_hex(self.client)),
                    ("member", member_of(self.client)),
                ]
            )
        )

    def state(self, name):
        if name == self.last_state:
            return
        self.last_state = name
        self.write_line("watch", "state", REG_PARENT, {"state": name})

    def add_watch(self):
        # Not kept across a reconnection by kazoo (its SetWatches knows only one-shot watches):
        # added again after every connection.
        if self.watch_added or not self.client.connected:
            return
        try:
            wait(add_watch_async(self.client, REG_PARENT, AddWatch.PERSISTENT_RECURSIVE))
            self.watch_added = True
            self.ready.set()
        except (Timeout, KazooException):
            pass

    def run(self):
        self.open_session()
        try:
            while True:
                if self.stop.is_set() and self.queue.empty():
                    break
                if self.client.connected:
                    self.disconnected_since = None
                elif given_up(self, self.args.session_timeout_ms):
                    stop_in_background(self.client)
                    self.open_session()
                self.add_watch()
                try:
                    item = self.queue.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item[0] == "state":
                    _, client, st = item
                    if client is not self.client:
                        continue
                    if st == KazooState.CONNECTED:
                        self.state("SyncConnected")
                        self.watch_added = False
                    elif st == KazooState.SUSPENDED:
                        self.state("Disconnected")
                    elif st == KazooState.LOST and not self.stop.is_set():
                        # kazoo goes on with a new session; the watch is added again on it.
                        self.state("Expired")
                        self.watch_added = False
                    continue
                _, client, event_type, path, zxid = item
                if client is not self.client:
                    # Of a session given up.
                    continue
                name = EVENT_TYPES.get(event_type)
                if name is None:
                    continue
                self.write_line(
                    "watch",
                    "event",
                    path,
                    collections.OrderedDict([("type", name), ("path", path), ("zxid", hexz(zxid) if zxid > 0 else None)]),
                )
                self.read_after(path)
        finally:
            stop_in_background(self.client)

    def read_after(self, path):
        op = OpLine(self.history, self.proc, "register", "read", path, {}, self.client)
        try:
            data, stat = wait(self.client.get_async(path))
            op.ok(read_out(data, stat))
        except Timeout:
            op.info("TIMEOUT")
        except KazooException as exc:
            if getattr(exc, "code", None) == -101:
                op.ok({"exists": False})
            else:
                op.by_exception(exc)


# ---------------------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(prog="kazoo_workload.py", description="The fault suite's kazoo workload")
    p.add_argument("--connect", required=True)
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--duration-ms", required=True, type=int)
    p.add_argument("--out", required=True)
    p.add_argument("--workloads", required=True)
    p.add_argument("--processes", required=True, type=int)
    p.add_argument("--session-timeout-ms", type=int, default=6000)
    p.add_argument("--prefix", required=True)
    p.add_argument("--think-ms", type=int, default=5)
    # Register values are (value_base + w) * 1e6 + counter; the Java program's base is 0, so values
    # stay unique per key when both programs write the same registers.
    p.add_argument("--value-base", type=int, default=1000)
    # A holder keeps the lock a random 0..lock_hold_max_ms.
    p.add_argument("--lock-hold-max-ms", type=int, default=20)
    args = p.parse_args(argv)
    args.members = [m for m in args.connect.split(",")]
    for m in args.members:
        if not m or m.rfind(":") <= 0:
            p.error("bad member %r" % m)
    workloads = []
    for w in args.workloads.split(","):
        if w not in WORKLOADS:
            p.error("unknown workload %r" % w)
        if w not in workloads:
            workloads.append(w)
    args.workloads = workloads
    if args.duration_ms < 0 or args.processes < 0 or args.session_timeout_ms <= 0 or args.think_ms < 0 or args.value_base < 0 or args.lock_hold_max_ms < 0:
        p.error("negative number")
    if not args.prefix:
        p.error("empty --prefix")
    return args


def main(argv):
    args = parse_args(argv)  # exits 2 on bad arguments
    try:
        history = History(args.out)
    except HarnessError as exc:
        sys.stderr.write("kazoo-workload: %s\n" % exc)
        return 3
    # The watcher first, so that it sees every change the workers make (bounded wait: an ensemble
    # that is down does not hold the workers back for long).
    watchers = [WatcherSession(args, history, 0)] if "watch" in args.workloads else []
    watcher_threads = []
    for ws in watchers:
        t = threading.Thread(target=ws.run, name=ws.proc)
        t.daemon = True
        t.start()
        watcher_threads.append(t)
    for ws in watchers:
        ws.ready.wait(OP_TIMEOUT_S)

    deadline_ns = now_ns() + args.duration_ms * 1000000
    workers = [Worker(args, history, w, deadline_ns) for w in range(args.processes)]
    threads = []
    for w in workers:
        t = threading.Thread(target=w.run, name=w.proc)
        t.daemon = True
        t.start()
        threads.append(t)

    # Workers stop issuing at the deadline; an op then outstanding has its own 10 s bound, and a
    # held lock one release more.
    join_until = deadline_ns + int((2 * OP_TIMEOUT_S + 1) * 1e9)
    for t in threads:
        t.join(max(0, (join_until - now_ns()) / 1e9))
    for w in workers:
        if w.open is not None:
            w.open.info("OUTSTANDING")
    # Events of the last writes are still on their way to the watcher.
    time.sleep(0.5)
    for ws in watchers:
        ws.stop.set()
    watcher_until = now_ns() + int(OP_TIMEOUT_S * 1e9)
    for t in watcher_threads:
        t.join(max(0, (watcher_until - now_ns()) / 1e9))
    # Sessions close in the background; a moment for the servers to see closeSession.
    time.sleep(1.0)
    history.close()
    return 3 if history.failed else 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # Daemon threads of clients still closing must not hold the exit.
    os._exit(code)
