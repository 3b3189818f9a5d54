"""Points Kazoo's own test harness at an ensemble started outside pytest.

Kazoo's tests (kazoo/tests/*.py) get their servers from
kazoo.testing.harness.get_global_cluster(), which normally launches a ZooKeeper
cluster of its own from a ZooKeeper install. Loaded with `pytest -p
zkts_external_cluster`, this module replaces that function with one returning
the members named by ZK_EXTERNAL_HOSTS (comma-separated host:port, one per
member). The ensemble belongs to whoever started it: starting, stopping and
resetting it from the harness do nothing, and the harness only reads the
members' addresses and, when a test fails, the member logs named by
ZK_EXTERNAL_LOGS (paths separated by os.pathsep). Nothing else of Kazoo's
harness or tests is changed.
"""

import logging
import os

import kazoo.testing.harness as harness

log = logging.getLogger(__name__)

LOG_LINES = 100


class ExternalMember(object):
    """One member as the harness sees a ManagedZooKeeper: an address, always running."""

    def __init__(self, address, log_path=None):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("ZK_EXTERNAL_HOSTS: bad member address %r" % address)
        self.host = host
        self.client_port = int(port)
        self.log_path = log_path

    @property
    def address(self):
        return "%s:%s" % (self.host, self.client_port)

    @property
    def secure_address(self):
        raise RuntimeError("the external ensemble has no TLS client port")

    @property
    def running(self):
        return True

    def run(self):
        pass

    def stop(self):
        pass

    def destroy(self):
        pass

    def reset(self):
        raise RuntimeError("the external ensemble cannot be reset from the harness")

    def get_logs(self, num_lines=LOG_LINES):
        if not self.log_path:
            return []
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.readlines()[-num_lines:]
        except OSError:
            return []


class ExternalCluster(object):
    """The ensemble as the harness sees a ZookeeperCluster."""

    def __init__(self, members):
        self._members = members

    def __getitem__(self, k):
        return self._members[k]

    def __iter__(self):
        return iter(self._members)

    def start(self):
        log.info("external ensemble: start() ignored (started by the runner)")

    def stop(self):
        log.info("external ensemble: stop() ignored (stopped by the runner)")

    def terminate(self):
        log.info("external ensemble: terminate() ignored (stopped by the runner)")

    def reset(self):
        raise RuntimeError("the external ensemble cannot be reset from the harness")

    def get_logs(self):
        lines = []
        for m in self._members:
            lines += m.get_logs()
        return lines


def _external_cluster_from_env():
    hosts = os.environ.get("ZK_EXTERNAL_HOSTS", "").strip()
    if not hosts:
        raise RuntimeError("ZK_EXTERNAL_HOSTS is not set")
    addresses = [h.strip() for h in hosts.split(",") if h.strip()]
    logs = [p for p in os.environ.get("ZK_EXTERNAL_LOGS", "").split(os.pathsep) if p]
    members = [
        ExternalMember(a, logs[i] if i < len(logs) else None)
        for i, a in enumerate(addresses)
    ]
    return ExternalCluster(members)


_CLUSTER = _external_cluster_from_env()


def get_external_cluster():
    return _CLUSTER


harness.get_global_cluster = get_external_cluster


def pytest_report_header(config):
    return "kazoo %s from %s; external ensemble %s" % (
        _kazoo_version(),
        os.path.dirname(harness.__file__),
        ",".join(m.address for m in _CLUSTER),
    )


def _kazoo_version():
    try:
        from kazoo.version import __version__
        return __version__
    except ImportError:
        return "?"
