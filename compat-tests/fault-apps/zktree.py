"""Prints one ensemble member's copy of a subtree as JSON, through Kazoo connected to that member
alone, after a sync: one entry per znode (path, data digest, version, czxid, mzxid, ephemeral
owner, children count), sorted by path. Exit 0 with the JSON on stdout, 1 on any error."""

import argparse
import hashlib
import json
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

MAX_NODES = 200000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--connect', required=True, help='one member, host:port')
    parser.add_argument('--root', required=True)
    parser.add_argument('--timeout-s', type=float, default=10.0)
    args = parser.parse_args()

    client = KazooClient(hosts=args.connect, timeout=args.timeout_s, connection_retry={'max_tries': 3})
    client.start(timeout=args.timeout_s)
    try:
        client.sync(args.root)
        entries = []
        pending = [args.root]
        while pending:
            path = pending.pop()
            try:
                data, stat = client.get(path)
                children = client.get_children(path)
            except NoNodeError:
                continue
            entries.append({
                'path': path,
                'sha1': hashlib.sha1(data or b'').hexdigest(),
                'version': stat.version,
                'czxid': hex(stat.czxid),
                'mzxid': hex(stat.mzxid),
                'ephemeralOwner': hex(stat.ephemeralOwner),
                'numChildren': stat.numChildren,
            })
            if len(entries) > MAX_NODES:
                raise RuntimeError('more than %d znodes under %s' % (MAX_NODES, args.root))
            base = path.rstrip('/')
            pending.extend(base + '/' + c for c in children)
        entries.sort(key=lambda e: e['path'])
        json.dump(entries, sys.stdout)
    finally:
        client.stop()
        client.close()


if __name__ == '__main__':
    try:
        main()
    except Exception as e:  # noqa: BLE001 - any failure is reported the same way
        print('zktree: %r' % (e,), file=sys.stderr)
        sys.exit(1)
