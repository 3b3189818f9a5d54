#!/usr/bin/env python3
"""Holds packets the kernel hands to NFQUEUE queues and accepts each one after a delay.

The fault suite's network faults are nftables rules on `lo`; a kernel without sch_netem has no
qdisc that delays, so nftables sends the packets of a delayed link to a queue and this process gives
their verdicts late. Usage: nfq_delay.py QUEUE:DELAY_MS:JITTER_MS:REORDER_PCT [...]
A packet of a queue is accepted after DELAY_MS +- JITTER_MS (uniform), except that REORDER_PCT percent
of them go at once, overtaking the delayed ones (netem's reordering). Only packet ids are copied
(metadata mode), never payloads. It exits when its parent dies, and nftables' `bypass` lets packets
through whenever no process listens on a queue.
"""
import heapq
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQA_CFG_MASK = 4
NFQA_CFG_FLAGS = 5
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_CFG_F_FAIL_OPEN = 1
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
NF_ACCEPT = 1
QUEUE_MAXLEN = 4096
# Packets held at once across queues; beyond it a packet is accepted at once (bounded memory).
HELD_MAX = 20000


def attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack('=HH', length, kind) + payload + b'\0' * ((4 - length % 4) % 4)


def message(msg_type, queue, attrs, seq):
    body = struct.pack('=BBH', socket.AF_UNSPEC, 0, socket.htons(queue)) + b''.join(attrs)
    return struct.pack('=IHHII', 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, NLM_F_REQUEST, seq, 0) + body


def parse_attrs(buf):
    out = {}
    pos = 0
    while pos + 4 <= len(buf):
        length, kind = struct.unpack_from('=HH', buf, pos)
        if length < 4:
            break
        out[kind & 0x7fff] = buf[pos + 4:pos + length]
        pos += (length + 3) & ~3
    return out


def main():
    specs = {}
    for arg in sys.argv[1:]:
        q, delay, jitter, reorder = arg.split(':')
        specs[int(q)] = (float(delay), float(jitter), float(reorder))
    if not specs:
        print('usage: nfq_delay.py QUEUE:DELAY_MS:JITTER_MS:REORDER_PCT ...', file=sys.stderr)
        return 2
    parent = os.getppid()
    rng = random.Random(int(os.environ.get('NFQ_DELAY_SEED', '1')))
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.bind((0, 0))
    seq = 1
    for q in specs:
        sock.send(message(NFQNL_MSG_CONFIG, q, [attr(NFQA_CFG_CMD, struct.pack('=BBH', NFQNL_CFG_CMD_BIND, 0, 0))], seq))
        seq += 1
        sock.send(message(NFQNL_MSG_CONFIG, q, [
            attr(NFQA_CFG_PARAMS, struct.pack('>IB', 0, NFQNL_COPY_META)),
            attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack('>I', QUEUE_MAXLEN)),
            attr(NFQA_CFG_FLAGS, struct.pack('>I', NFQA_CFG_F_FAIL_OPEN)),
            attr(NFQA_CFG_MASK, struct.pack('>I', NFQA_CFG_F_FAIL_OPEN)),
        ], seq))
        seq += 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    held = []  # heap of (due monotonic s, order, queue, packet id)
    order = 0
    print('ready', flush=True)

    def verdict(q, packet_id):
        nonlocal seq
        sock.send(message(NFQNL_MSG_VERDICT, q, [attr(NFQA_VERDICT_HDR, struct.pack('>II', NF_ACCEPT, packet_id))], seq))
        seq += 1

    while True:
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, _, q, pid = heapq.heappop(held)
            verdict(q, pid)
        if os.getppid() != parent:
            return 0
        timeout = 0.5 if not held else max(0.0, min(0.5, held[0][0] - now))
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            continue
        data = sock.recv(1 << 20)
        pos = 0
        while pos + 16 <= len(data):
            length, msg_type, _flags, _seq, _pid = struct.unpack_from('=IHHII', data, pos)
            if length < 16:
                break
            if msg_type == NLMSG_ERROR:
                err = struct.unpack_from('=i', data, pos + 16)[0]
                if err != 0:
                    print('netlink error %d' % err, file=sys.stderr, flush=True)
            elif (msg_type >> 8) == NFNL_SUBSYS_QUEUE and (msg_type & 0xff) == NFQNL_MSG_PACKET:
                q = socket.ntohs(struct.unpack_from('=H', data, pos + 18)[0])
                attrs = parse_attrs(data[pos + 20:pos + length])
                hdr = attrs.get(NFQA_PACKET_HDR)
                if hdr is not None and q in specs:
                    packet_id = struct.unpack_from('>I', hdr, 0)[0]
                    delay, jitter, reorder = specs[q]
                    if len(held) >= HELD_MAX or rng.random() * 100 < reorder:
                        verdict(q, packet_id)
                    else:
                        wait = max(0.0, delay + (rng.random() * 2 - 1) * jitter) / 1000.0
                        order += 1
                        heapq.heappush(held, (time.monotonic() + wait, order, q, packet_id))
            pos += (length + 3) & ~3


if __name__ == '__main__':
    sys.exit(main())
