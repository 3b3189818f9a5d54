#!/usr/bin/python3
"""Capture golden protocol bytes from a reference Apache ZooKeeper server.

Usage: /usr/bin/python3 scripts/capture-golden.py HOST:PORT [OUTPUT.json]

Talks to a freshly started, empty server over one raw TCP connection (no client library), runs a
fixed sequence of requests and writes every frame, length prefix included, in arrival order to
OUTPUT.json (default test/golden/exchange-3.8.json) as a list of
  {"name", "direction": "request"|"response", "xid", "opcode"?, "hex", "varies"}.
Watch notifications (xid -1) are server-to-client frames, so their direction is "response"; their
name starts with "notification".
"varies" lists byte ranges (offsets into the frame, prefix included) that differ between runs:
session ids, session passwords and the ctime/mtime of Stat records. Everything else, zxids
included, is reproducible against an empty data directory.
"""

import json
import os
import socket
import struct
import sys

# Opcodes
OP_CREATE = 1
OP_DELETE = 2
OP_EXISTS = 3
OP_GET_DATA = 4
OP_SET_DATA = 5
OP_GET_ACL = 6
OP_PING = 11
OP_GET_CHILDREN2 = 12
OP_CHECK = 13
OP_MULTI = 14
OP_CREATE2 = 15
OP_CLOSE_SESSION = -11
OP_ERROR = -1

XID_NOTIFICATION = -1
XID_PING = -2

PERM_ALL = 31
FLAG_PERSISTENT = 0
FLAG_EPHEMERAL_SEQUENTIAL = 3

FRAME_BYTES_MAX = 1 << 20
STAT_BYTES = 68


# ------------------------------------------------------------------------------------------------
# Encoding (jute: big-endian ints/longs, length-prefixed buffers and strings, -1 length for null)

def enc_int(v):
    return struct.pack('>i', v)


def enc_long(v):
    return struct.pack('>q', v)


def enc_bool(v):
    return b'\x01' if v else b'\x00'


def enc_buffer(b):
    if b is None:
        return enc_int(-1)
    return enc_int(len(b)) + b


def enc_string(s):
    return enc_buffer(None if s is None else s.encode('utf-8'))


def enc_acl_list(acls):
    out = enc_int(len(acls))
    for perms, scheme, ident in acls:
        out += enc_int(perms) + enc_string(scheme) + enc_string(ident)
    return out


OPEN_ACL_UNSAFE = [(PERM_ALL, 'world', 'anyone')]


def create_body(path, data, acls, flags):
    return enc_string(path) + enc_buffer(data) + enc_acl_list(acls) + enc_int(flags)


def path_watch_body(path, watch):
    return enc_string(path) + enc_bool(watch)


def set_data_body(path, data, version):
    return enc_string(path) + enc_buffer(data) + enc_int(version)


def path_version_body(path, version):
    return enc_string(path) + enc_int(version)


def multi_header(op_type, done, err):
    return enc_int(op_type) + enc_bool(done) + enc_int(err)


def multi_body(ops):
    out = b''
    for op_type, body in ops:
        out += multi_header(op_type, False, -1) + body
    return out + multi_header(-1, True, -1)


def frame(payload):
    return enc_int(len(payload)) + payload


# ------------------------------------------------------------------------------------------------
# Decoding, only as far as needed to find the ranges that vary between runs

class Reader:
    def __init__(self, buf, offset):
        self.buf = buf
        self.pos = offset

    def int(self):
        v = struct.unpack_from('>i', self.buf, self.pos)[0]
        self.pos += 4
        return v

    def long(self):
        v = struct.unpack_from('>q', self.buf, self.pos)[0]
        self.pos += 8
        return v

    def bool(self):
        v = self.buf[self.pos] != 0
        self.pos += 1
        return v

    def buffer(self):
        n = self.int()
        if n < 0:
            return None
        v = self.buf[self.pos:self.pos + n]
        self.pos += n
        return v

    def string(self):
        b = self.buffer()
        return None if b is None else b.decode('utf-8')

    def skip(self, n):
        self.pos += n


def stat_varies(r, prefix, ephemeral_owner_varies):
    """Consume a Stat at r.pos and return the ranges that vary."""
    start = r.pos
    varies = [
        {'offset': start + 16, 'length': 8, 'field': prefix + 'ctime'},
        {'offset': start + 24, 'length': 8, 'field': prefix + 'mtime'},
    ]
    if ephemeral_owner_varies:
        varies.append({'offset': start + 44, 'length': 8, 'field': prefix + 'ephemeralOwner'})
    r.skip(STAT_BYTES)
    return varies


def acl_list_skip(r):
    for _ in range(r.int()):
        r.int()
        r.string()
        r.string()


def response_varies(opcode, buf):
    """Byte ranges of a reply frame (prefix included) that differ from run to run."""
    r = Reader(buf, 4)
    xid = r.int()
    r.long()  # zxid
    err = r.int()
    if err != 0 or xid == XID_NOTIFICATION:
        return []
    if opcode in (OP_EXISTS, OP_SET_DATA):
        return stat_varies(r, 'stat.', False)
    if opcode == OP_CREATE2:
        r.string()
        return stat_varies(r, 'stat.', True)
    if opcode == OP_GET_DATA:
        r.buffer()
        return stat_varies(r, 'stat.', False)
    if opcode == OP_GET_CHILDREN2:
        for _ in range(r.int()):
            r.string()
        return stat_varies(r, 'stat.', False)
    if opcode == OP_GET_ACL:
        acl_list_skip(r)
        return stat_varies(r, 'stat.', False)
    if opcode == OP_MULTI:
        varies = []
        index = 0
        while True:
            op_type = r.int()
            done = r.bool()
            r.int()  # err
            if done:
                break
            if op_type == OP_CREATE:
                r.string()
            elif op_type == OP_CREATE2:
                r.string()
                varies += stat_varies(r, 'results[%d].stat.' % index, False)
            elif op_type == OP_SET_DATA:
                varies += stat_varies(r, 'results[%d].stat.' % index, False)
            elif op_type == OP_ERROR:
                r.int()
            index += 1
        return varies
    return []


# ------------------------------------------------------------------------------------------------

class Capture:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.frames = []
        self.next_xid = 1

    def recv_exact(self, n):
        chunks = []
        while n > 0:
            chunk = self.sock.recv(n)
            if not chunk:
                raise EOFError('server closed the connection')
            chunks.append(chunk)
            n -= len(chunk)
        return b''.join(chunks)

    def recv_frame(self):
        prefix = self.recv_exact(4)
        length = struct.unpack('>i', prefix)[0]
        if length < 0 or length > FRAME_BYTES_MAX:
            raise ValueError('bad frame length %d' % length)
        return prefix + self.recv_exact(length)

    def record(self, name, direction, buf, xid, opcode=None, varies=None):
        entry = {'name': name, 'direction': direction, 'xid': xid}
        if opcode is not None:
            entry['opcode'] = opcode
        entry['hex'] = buf.hex()
        entry['varies'] = varies or []
        self.frames.append(entry)

    def connect(self):
        body = (enc_int(0) + enc_long(0) + enc_int(30000) + enc_long(0) + enc_buffer(bytes(16))
                + enc_bool(False))
        req = frame(body)
        self.record('connect', 'request', req, None)
        self.sock.sendall(req)
        rsp = self.recv_frame()
        # protocolVersion(4) timeOut(4) sessionId(8) passwd(4+16) readOnly(1)
        varies = [
            {'offset': 12, 'length': 8, 'field': 'sessionId'},
            {'offset': 24, 'length': 16, 'field': 'passwd'},
        ]
        self.record('connect', 'response', rsp, None, None, varies)

    def call(self, name, opcode, body=b'', xid=None):
        if xid is None:
            xid = self.next_xid
            self.next_xid += 1
        req = frame(enc_int(xid) + enc_int(opcode) + body)
        self.record(name, 'request', req, xid, opcode)
        self.sock.sendall(req)
        while True:
            rsp = self.recv_frame()
            rsp_xid = struct.unpack_from('>i', rsp, 4)[0]
            if rsp_xid == XID_NOTIFICATION:
                r = Reader(rsp, 20)
                event_type = r.int()
                state = r.int()
                path = r.string()
                self.record('notification type=%d state=%d %s' % (event_type, state, path),
                            'response', rsp, rsp_xid)
                continue
            if rsp_xid != xid:
                raise ValueError('%s: expected xid %d, got %d' % (name, xid, rsp_xid))
            err = struct.unpack_from('>i', rsp, 16)[0]
            self.record(name, 'response', rsp, rsp_xid, opcode, response_varies(opcode, rsp))
            return err

    def expect_closed(self):
        try:
            extra = self.sock.recv(1)
        except (ConnectionResetError, socket.timeout):
            extra = b''
        if extra:
            raise ValueError('unexpected bytes after closeSession')
        self.sock.close()


def run(host, port):
    c = Capture(host, port)
    c.connect()

    def ok(err, what):
        if err != 0:
            raise ValueError('%s failed with %d' % (what, err))

    ok(c.call('create /golden', OP_CREATE,
              create_body('/golden', b'hello', OPEN_ACL_UNSAFE, FLAG_PERSISTENT)), 'create')
    ok(c.call('create2 /golden/seq- ephemeral sequential', OP_CREATE2,
              create_body('/golden/seq-', b'', OPEN_ACL_UNSAFE, FLAG_EPHEMERAL_SEQUENTIAL)), 'create2')
    ok(c.call('exists /golden watch', OP_EXISTS, path_watch_body('/golden', True)), 'exists')
    ok(c.call('getData /golden', OP_GET_DATA, path_watch_body('/golden', False)), 'getData')
    ok(c.call('setData /golden version 0', OP_SET_DATA, set_data_body('/golden', b'world', 0)),
       'setData')
    ok(c.call('getChildren2 /golden', OP_GET_CHILDREN2, path_watch_body('/golden', False)),
       'getChildren2')
    ok(c.call('getACL /golden', OP_GET_ACL, enc_string('/golden')), 'getACL')
    ok(c.call('multi check+setData+create+delete', OP_MULTI, multi_body([
        (OP_CHECK, path_version_body('/golden', 1)),
        (OP_SET_DATA, set_data_body('/golden', b'multi', 1)),
        (OP_CREATE, create_body('/golden/m', b'x', OPEN_ACL_UNSAFE, FLAG_PERSISTENT)),
        (OP_DELETE, path_version_body('/golden/m', 0)),
    ])), 'multi')
    # A failed multi still replies with err 0 in the ReplyHeader (3.8); the per-op results carry
    # the errors: 0 for ops before the failing one, its error, then -2 (runtimeInconsistency).
    c.call('multi failing on bad version', OP_MULTI, multi_body([
        (OP_CHECK, path_version_body('/golden', 2)),
        (OP_SET_DATA, set_data_body('/golden', b'nope', 99)),
        (OP_CREATE, create_body('/golden/n', b'y', OPEN_ACL_UNSAFE, FLAG_PERSISTENT)),
    ]))
    err = c.call('getData /missing', OP_GET_DATA, path_watch_body('/missing', False))
    if err != -101:
        raise ValueError('getData /missing: expected -101, got %d' % err)
    ok(c.call('ping', OP_PING, b'', xid=XID_PING), 'ping')
    ok(c.call('closeSession', OP_CLOSE_SESSION), 'closeSession')
    c.expect_closed()
    return c.frames


def main(argv):
    if len(argv) < 2 or ':' not in argv[1]:
        print('usage: capture-golden.py HOST:PORT [OUTPUT.json]', file=sys.stderr)
        return 2
    host, port = argv[1].rsplit(':', 1)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = argv[2] if len(argv) > 2 else os.path.join(root, 'test', 'golden', 'exchange-3.8.json')
    frames = run(host, int(port))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out + '.tmp', 'w') as f:
        json.dump(frames, f, indent=2)
        f.write('\n')
    os.replace(out + '.tmp', out)
    print('wrote %d frames to %s' % (len(frames), out))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
