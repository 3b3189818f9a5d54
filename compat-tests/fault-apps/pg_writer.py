"""A write load on a Patroni cluster's primary: inserts ids 1, 2, 3, ... into table t, one per
transaction, through libpq's multi-host connection with target_session_attrs=read-write (so it
follows a failover), at most --rate per second, until SIGTERM. Each outcome is a JSON line, flushed
at once: {"id": n, "status": "ok", "port": p} when the commit returned, "info" when the outcome is
unknown (the connection broke during the statement), "fail" when it did not take effect (an error
from the server before the commit, or no connection at all). Exit 0 after SIGTERM."""

import argparse
import json
import signal
import sys
import time

import psycopg2

RECONNECT_PAUSE_S = 0.2
CONNECT_TIMEOUT_S = 2

stopping = False


def on_term(_signum, _frame):
    global stopping
    stopping = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--hosts', required=True, help='host:port,host:port,...')
    parser.add_argument('--out', required=True)
    parser.add_argument('--rate', type=float, default=50.0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_term)

    pairs = [h.rsplit(':', 1) for h in args.hosts.split(',')]
    dsn = 'host=%s port=%s user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=%d' % (
        ','.join(p[0] for p in pairs), ','.join(p[1] for p in pairs), CONNECT_TIMEOUT_S)
    interval = 1.0 / args.rate
    out = open(args.out, 'a', buffering=1)
    conn = None
    next_id = 1
    while not stopping:
        if conn is None:
            try:
                conn = psycopg2.connect(dsn)
                conn.autocommit = True
            except psycopg2.Error:
                conn = None
                time.sleep(RECONNECT_PAUSE_S)
                continue
        n = next_id
        next_id += 1
        started = time.monotonic()
        status = 'ok'
        try:
            with conn.cursor() as cur:
                cur.execute('INSERT INTO t (id) VALUES (%s)', (n,))
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            # The connection broke: the insert may or may not have committed.
            status = 'info'
        except psycopg2.Error:
            status = 'fail'
        port = conn.info.port if conn is not None and not conn.closed else None
        out.write(json.dumps({'id': n, 'status': status, 'port': port, 'ms': round((time.monotonic() - started) * 1000, 1)}) + '\n')
        if status != 'ok':
            try:
                conn.close()
            except psycopg2.Error:
                pass
            conn = None
        rest = interval - (time.monotonic() - started)
        if rest > 0:
            time.sleep(rest)
    out.close()
    if conn is not None:
        conn.close()


if __name__ == '__main__':
    try:
        main()
    except Exception as e:  # noqa: BLE001
        print('pg_writer: %r' % (e,), file=sys.stderr)
        sys.exit(1)
