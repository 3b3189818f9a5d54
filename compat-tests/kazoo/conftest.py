"""Shared fixtures for the Kazoo compatibility suite.

The suite talks to the server named by ZK_HOSTS (host:port). Each test works
under its own root znode, created at the start of the test and removed at the
end, so the tree is clean for every test. Values that must agree between two
servers (stats with zxids made relative to the test root's czxid, error class
names, event sequences) go into a per-test transcript; when ZK_TRANSCRIPT names
a file, all transcripts are written there as one JSON object keyed by test name.
"""

import json
import os
import re
import signal
import socket
import threading
import time
from collections import namedtuple

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import EXCEPTIONS, NoNodeError, NotEmptyError, ZookeeperError
from kazoo.protocol.serialization import (
    Watch,
    int_struct,
    long_struct,
    read_string,
    stat_struct,
    write_buffer,
    write_string,
)
from kazoo.protocol.states import ZnodeStat
from kazoo.security import make_digest_acl_credential

HOSTS = os.environ.get("ZK_HOSTS", "127.0.0.1:2181")
TRANSCRIPT_PATH = os.environ.get("ZK_TRANSCRIPT")

# Credentials every cleanup client authenticates with, so that digest-protected
# nodes made by a test can always be removed.
USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}

WAIT_TIMEOUT_S = 15.0
# Kazoo's blocking calls wait without a bound; a server that never answers
# must fail the test, not hang the suite.
TEST_TIMEOUT_S = 60
POLL_INTERVAL_S = 0.005

_transcripts = {}


# ---------------------------------------------------------------------------
# Error codes newer than Kazoo 2.8: registered so that a reply carrying one of
# them surfaces as an exception instead of breaking the connection thread.

def _register_error(code, name):
    if code in EXCEPTIONS:
        return
    klass = type(name, (ZookeeperError,), {"code": code})
    EXCEPTIONS[code] = klass


for _code, _name in [
    (-9, "UnimplementedError"),
    (-120, "EphemeralOnLocalSessionError"),
    (-121, "NoWatcherError"),
    (-122, "RequestTimeoutError"),
    (-123, "ReconfigDisabledError"),
    (-124, "SessionClosedRequireSaslAuthError"),
    (-125, "QuotaExceededError"),
    (-127, "ThrottledOpError"),
]:
    _register_error(_code, _name)


# ---------------------------------------------------------------------------
# Waiting for conditions (always with a bound).

def wait_until(predicate, timeout=WAIT_TIMEOUT_S, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(POLL_INTERVAL_S)


class Collector(object):
    """A thread-safe list that callbacks append to and tests wait on.

    It must stay truthy (no __len__): Kazoo registers a watcher only if it is.
    """

    def __init__(self):
        self._items = []
        self._cond = threading.Condition()

    def __call__(self, item):
        self.append(item)

    def append(self, item):
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    @property
    def items(self):
        with self._cond:
            return list(self._items)

    def count(self):
        with self._cond:
            return len(self._items)

    def wait_for(self, count, timeout=WAIT_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._items) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        "timed out waiting for %d items, have %r" % (count, self._items))
                self._cond.wait(remaining)
            return list(self._items)

    def wait_match(self, predicate, timeout=WAIT_TIMEOUT_S, what="item"):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item in self._items:
                    if predicate(item):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("timed out waiting for %s, have %r" % (what, self._items))
                self._cond.wait(remaining)


def event_tuple(event):
    return [event.type, event.path]


# ---------------------------------------------------------------------------
# Wire trace: the order in which replies and watch notifications arrive on a
# client's connection, recorded in the connection thread itself.

EVENT_NAMES = {
    -1: "NONE", 1: "CREATED", 2: "DELETED", 3: "CHANGED", 4: "CHILD",
    5: "DATA_WATCH_REMOVED", 6: "CHILD_WATCH_REMOVED", 7: "PERSISTENT_WATCH_REMOVED",
}


class WireTrace(object):
    def __init__(self, client):
        self.entries = Collector()
        conn = client._connection
        original_event = conn._read_watch_event
        original_response = conn._read_response
        entries = self.entries

        def read_watch_event(buffer, offset):
            watch, _ = Watch.deserialize(buffer, offset)
            entries.append(("event", EVENT_NAMES.get(watch.type, watch.type), watch.path))
            return original_event(buffer, offset)

        def read_response(header, buffer, offset):
            try:
                request = client._pending[0][0]
                name = type(request).__name__
                path = getattr(request, "path", None)
            except IndexError:
                name, path = None, None
            entries.append(("reply", name, path, header.err))
            return original_response(header, buffer, offset)

        conn._read_watch_event = read_watch_event
        conn._read_response = read_response

    def items(self):
        return self.entries.items

    def events(self):
        return [list(e[1:]) for e in self.entries.items if e[0] == "event"]


# ---------------------------------------------------------------------------
# Requests that Kazoo 2.8 has no method for, sent through its connection.

def _write_acls(b, acls):
    b.extend(int_struct.pack(len(acls)))
    for acl in acls:
        b.extend(int_struct.pack(acl.perms) + write_string(acl.id.scheme) + write_string(acl.id.id))


def _read_create2_response(buffer, offset):
    path, offset = read_string(buffer, offset)
    stat = ZnodeStat._make(stat_struct.unpack_from(buffer, offset))
    return path, stat


class CreateContainer(namedtuple("CreateContainer", "path data acl flags")):
    type = 19

    def serialize(self):
        b = bytearray()
        b.extend(write_string(self.path))
        b.extend(write_buffer(self.data))
        _write_acls(b, self.acl)
        b.extend(int_struct.pack(self.flags))
        return b

    @classmethod
    def deserialize(cls, buffer, offset):
        return _read_create2_response(buffer, offset)


class CreateTTL(namedtuple("CreateTTL", "path data acl flags ttl")):
    type = 21

    def serialize(self):
        b = bytearray()
        b.extend(write_string(self.path))
        b.extend(write_buffer(self.data))
        _write_acls(b, self.acl)
        b.extend(int_struct.pack(self.flags))
        b.extend(long_struct.pack(self.ttl))
        return b

    @classmethod
    def deserialize(cls, buffer, offset):
        return _read_create2_response(buffer, offset)


class RawCreate(namedtuple("RawCreate", "path data acl flags")):
    """A plain create (opcode 1) with the path sent exactly as given."""
    type = 1

    def serialize(self):
        b = bytearray()
        b.extend(write_string(self.path))
        b.extend(write_buffer(self.data))
        _write_acls(b, self.acl)
        b.extend(int_struct.pack(self.flags))
        return b

    @classmethod
    def deserialize(cls, buffer, offset):
        return read_string(buffer, offset)[0]


class RawGetData(namedtuple("RawGetData", "path watch")):
    type = 4

    def serialize(self):
        b = bytearray()
        b.extend(write_string(self.path))
        b.extend([1 if self.watch else 0])
        return b

    @classmethod
    def deserialize(cls, buffer, offset):
        length = int_struct.unpack_from(buffer, offset)[0]
        offset += 4
        data = buffer[offset:offset + length] if length >= 0 else None
        offset += max(length, 0)
        return data, ZnodeStat._make(stat_struct.unpack_from(buffer, offset))


class AddWatch(namedtuple("AddWatch", "path mode")):
    """addWatch (3.6+): mode 0 = persistent, 1 = persistent recursive."""
    type = 106

    def serialize(self):
        b = bytearray()
        b.extend(write_string(self.path))
        b.extend(int_struct.pack(self.mode))
        return b

    @classmethod
    def deserialize(cls, buffer, offset):
        return True


class RemoveWatches(namedtuple("RemoveWatches", "path watcher_type")):
    """removeWatches: watcher_type 1 = children, 2 = data, 3 = any."""
    type = 18

    def serialize(self):
        b = bytearray()
        b.extend(write_string(self.path))
        b.extend(int_struct.pack(self.watcher_type))
        return b

    @classmethod
    def deserialize(cls, buffer, offset):
        return True


class CheckWatches(RemoveWatches):
    type = 17


class SetWatches(namedtuple("SetWatches", "relative_zxid data exist child")):
    """setWatches: re-register watches after a reconnect (Kazoo 2.8 never does)."""
    type = 101

    def serialize(self):
        b = bytearray()
        b.extend(long_struct.pack(self.relative_zxid))
        for paths in (self.data, self.exist, self.child):
            b.extend(int_struct.pack(len(paths)))
            for p in paths:
                b.extend(write_string(p))
        return b

    @classmethod
    def deserialize(cls, buffer, offset):
        return True


class GetEphemerals(namedtuple("GetEphemerals", "prefix")):
    type = 103

    def serialize(self):
        return bytearray(write_string(self.prefix))

    @classmethod
    def deserialize(cls, buffer, offset):
        count = int_struct.unpack_from(buffer, offset)[0]
        offset += 4
        paths = []
        for _ in range(max(count, 0)):
            path, offset = read_string(buffer, offset)
            paths.append(path)
        return paths


class GetAllChildrenNumber(namedtuple("GetAllChildrenNumber", "path")):
    type = 104

    def serialize(self):
        return bytearray(write_string(self.path))

    @classmethod
    def deserialize(cls, buffer, offset):
        return int_struct.unpack_from(buffer, offset)[0]


# Set when the suite runs against an ensemble (the expected /zookeeper/config text).
ON_ENSEMBLE = os.environ.get("ZK_ENSEMBLE_CONFIG") is not None


def sync_on_ensemble(client, path):
    """sync(path) on an ensemble only, where a standalone server needs no sync for the check."""
    if ON_ENSEMBLE:
        client.sync(path)


def call(client, request, timeout=WAIT_TIMEOUT_S):
    result = client.handler.async_result()
    client._call(request, result)
    return result.get(timeout=timeout)


def error_name(fn, *args, **kwargs):
    """Run fn and return the class name of the exception it raises (or 'ok')."""
    try:
        fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the class is what we compare
        return type(exc).__name__
    return "ok"


# ---------------------------------------------------------------------------
# A TCP proxy between a client and the server, to cut a client's connection
# (and keep it cut) without touching the server.

class Proxy(object):
    def __init__(self, upstream_host, upstream_port):
        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self._lock = threading.Lock()
        self._pairs = []
        self._blocked = False
        self._closed = False
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                if self._blocked:
                    conn.close()
                    continue
                try:
                    upstream = socket.create_connection(self.upstream, timeout=5)
                    upstream.settimeout(None)
                except OSError:
                    conn.close()
                    continue
                pair = (conn, upstream)
                self._pairs.append(pair)
                self.accepted += 1
            for src, dst in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop(self):
        """Cut every open connection."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def block(self):
        with self._lock:
            self._blocked = True
        self.drop()

    def unblock(self):
        with self._lock:
            self._blocked = False

    def close(self):
        with self._lock:
            self._closed = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.drop()


# ---------------------------------------------------------------------------
# Transcript recording.

class Recorder(object):
    def __init__(self, name):
        self.name = name
        self.data = {}
        self.base = None

    def __setitem__(self, key, value):
        assert key not in self.data, "transcript key %r recorded twice" % key
        self.data[key] = _jsonable(value)

    def __getitem__(self, key):
        return self.data[key]

    def z(self, zxid):
        """A zxid relative to the czxid of the test's root node."""
        assert self.base is not None
        return zxid - self.base

    def stat(self, stat):
        """Every stat field that must agree between servers."""
        return {
            "czxid": self.z(stat.czxid),
            "mzxid": self.z(stat.mzxid),
            "pzxid": self.z(stat.pzxid),
            "version": stat.version,
            "cversion": stat.cversion,
            "aversion": stat.aversion,
            "ephemeral": stat.ephemeralOwner != 0,
            "dataLength": stat.dataLength,
            "numChildren": stat.numChildren,
        }


def _jsonable(value):
    if isinstance(value, ZnodeStat):
        raise TypeError("record stats through Recorder.stat()")
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, BaseException):
        return type(value).__name__
    return value


def pytest_sessionfinish(session, exitstatus):
    if TRANSCRIPT_PATH:
        with open(TRANSCRIPT_PATH, "w", encoding="utf-8") as f:
            json.dump(_transcripts, f, indent=1, sort_keys=True, ensure_ascii=False)


# ---------------------------------------------------------------------------
# Clients and the per-test root.

def host_port():
    host, port = HOSTS.split(",")[0].rsplit(":", 1)
    return host, int(port)


class Clients(object):
    def __init__(self):
        self._clients = []
        self._proxies = []

    def __call__(self, hosts=None, start=True, trace=False, **kwargs):
        kwargs.setdefault("timeout", 10.0)
        kwargs.setdefault("connection_retry", {"max_tries": -1, "delay": 0.05, "backoff": 1.5,
                                               "max_delay": 0.5, "max_jitter": 0.0})
        client = KazooClient(hosts=hosts or HOSTS, **kwargs)
        client.wire = WireTrace(client) if trace else None
        self._clients.append(client)
        if start:
            client.start(timeout=WAIT_TIMEOUT_S)
        return client

    def proxy(self):
        host, port = host_port()
        p = Proxy(host, port)
        self._proxies.append(p)
        return p

    def close_all(self):
        for client in reversed(self._clients):
            try:
                client.stop()
                client.close()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass
        for p in self._proxies:
            p.close()


class TestTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _bounded_test():
    def on_alarm(signum, frame):
        raise TestTimeout("test did not finish within %d s" % TEST_TIMEOUT_S)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIMEOUT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def clients():
    c = Clients()
    yield c
    c.close_all()


@pytest.fixture
def rec(request):
    r = Recorder(request.node.name)
    yield r
    _transcripts[request.node.name] = r.data


def _root_name(node_name):
    return "/kz_" + re.sub(r"[^A-Za-z0-9_-]", "_", node_name)


def delete_tree(client, path):
    try:
        client.delete(path)
        return
    except NoNodeError:
        return
    except NotEmptyError:
        pass
    children = client.get_children(path)
    batch_size = 500
    for start in range(0, len(children), batch_size):
        batch = children[start:start + batch_size]
        tx = client.transaction()
        for child in batch:
            tx.delete(path + "/" + child)
        results = tx.commit()
        if all(r is True for r in results):
            continue
        for child in batch:
            delete_tree(client, path + "/" + child)
    try:
        client.delete(path)
    except NoNodeError:
        pass


def _cleanup(path):
    client = KazooClient(hosts=HOSTS, timeout=10.0)
    client.start(timeout=WAIT_TIMEOUT_S)
    try:
        for user, password in USERS.items():
            client.add_auth("digest", "%s:%s" % (user, password))
        delete_tree(client, path)
        assert client.exists(path) is None, "could not remove %s" % path
    finally:
        client.stop()
        client.close()


@pytest.fixture
def zk(clients):
    """A connected client whose connection is traced."""
    return clients(trace=True)


@pytest.fixture
def root(request, zk, rec):
    """A fresh root znode for this test; rec.base is its czxid."""
    path = _root_name(request.node.name)
    if zk.exists(path) is not None:
        _cleanup(path)
    created, stat = zk.create(path, b"", include_data=True)
    assert created == path
    rec.base = stat.czxid
    yield path
    _cleanup(path)


def digest_auth(user):
    return "%s:%s" % (user, USERS[user])


def digest_id(user):
    return make_digest_acl_credential(user, USERS[user])
