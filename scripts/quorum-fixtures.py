#!/usr/bin/env python3
"""Turns pcaps from capture-quorum.sh into the text fixtures of test/fixtures/quorum/.

Usage: quorum-fixtures.py MAIN.pcap TRUNC.pcap OUTDIR   (.pcap.gz works too; the captures used are in
  test/fixtures/quorum/pcap/)
Writes:
  packets.txt   one packet of every distinct kind: TYPE <tab> note <tab> hex
  proposals.txt every PROPOSAL of MAIN from the cold start on, by zxid (for the digest check)
  snap-stream.txt the leader->learner bytes of a SNAP sync from SNAP to UPTODATE: packet and raw
                  segments in stream order (kind <tab> note <tab> hex)
Packets are split here independently of the code under test (struct, not zkts).
"""
import collections, struct, subprocess, sys

QUORUM = {3411: 1, 3412: 2, 3413: 3, 3414: 4}
QP = {1: "REQUEST", 2: "PROPOSAL", 3: "ACK", 4: "COMMIT", 5: "PING", 6: "REVALIDATE", 7: "SYNC", 8: "INFORM",
      9: "COMMITANDACTIVATE", 10: "NEWLEADER", 11: "FOLLOWERINFO", 12: "UPTODATE", 13: "DIFF", 14: "TRUNC",
      15: "SNAP", 16: "OBSERVERINFO", 17: "LEADERINFO", 18: "ACKEPOCH", 19: "INFORMANDACTIVATE"}
OPS = {1: "create", 2: "delete", 5: "setData", 9: "sync", 13: "check", 14: "multi", 15: "create2", 16: "reconfig",
       -10: "createSession", -11: "closeSession", -1: "error"}


def streams_of(pcap):
    out = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-E", "separator=\t", "-e", "tcp.stream",
                          "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack",
                          "-e", "tcp.seq", "-e", "tcp.payload"], capture_output=True, text=True, check=True).stdout
    st = {}
    for line in out.splitlines():
        f = line.split("\t") + [""] * 7
        s = st.setdefault(int(f[0]), {"server": None, "client": None, "seg": collections.defaultdict(dict)})
        sp, dp = int(f[1]), int(f[2])
        if f[3] == "1" and f[4] == "0":
            s["server"], s["client"] = dp, sp
        if f[6]:
            s["seg"][(sp, dp)][int(f[5])] = bytes.fromhex(f[6].replace(":", ""))
    res = []
    for k in sorted(st):
        s = st[k]
        if s["server"] not in QUORUM:
            continue
        for d, label in (((s["client"], s["server"]), "learner->leader"), ((s["server"], s["client"]), "leader->learner")):
            segs = s["seg"].get(d, {})
            res.append((k, label, b"".join(segs[q] for q in sorted(segs))))
    return res


class R:
    def __init__(s, b, o=0): s.b, s.o = b, o
    def i32(s): v = struct.unpack_from(">i", s.b, s.o)[0]; s.o += 4; return v
    def i64(s): v = struct.unpack_from(">q", s.b, s.o)[0]; s.o += 8; return v
    def buf(s):
        n = s.i32()
        if n < 0: return None
        v = s.b[s.o:s.o + n]
        if len(v) != n: raise EOFError
        s.o += n; return v


def snapshot_length(b, o):
    """Bytes of the raw snapshot stream at b[o:] (ZK-QUORUM-FACTS 2.5)."""
    r = R(b, o)
    for _ in range(r.i32()): r.i64(); r.i32()
    for _ in range(r.i32()):
        r.i64()
        for _ in range(max(r.i32(), 0)): r.i32(); r.buf(); r.buf()
    while True:
        p = r.buf()
        if p == b"/": break
        r.buf(); r.i64(); r.o += 8 * 4 + 4 * 3 + 8 * 2
    assert r.buf() == b"BenWasHere"
    return r.o - o


def split(b):
    """[(offset, end, type, zxid, data, authinfo)] and raw snapshot segments, in order."""
    r = R(b); out = []
    while r.o < len(b):
        start = r.o
        try:
            t = r.i32(); z = r.i64(); d = r.buf(); n = r.i32()
            auth = None if n < 0 else [(r.buf(), r.buf()) for _ in range(n)]
        except (EOFError, struct.error):
            break  # cut by the end of the capture
        out.append(("packet", start, r.o, t, z, d, auth))
        if t == 15 and r.o < len(b):
            n = snapshot_length(b, r.o)
            out.append(("raw", r.o, r.o + n, None, None, None, None))
            r.o += n
    return out


def kind(direction, t, z, d, auth):
    """What makes a packet a distinct kind for the fixtures."""
    k = [direction, t]
    if t in (2, 8) or t == 19:
        txn = d[8:] if t == 19 else d
        tt = struct.unpack_from(">i", txn, 28)[0]
        k.append(tt)
        if tt == -1: k.append(struct.unpack_from(">i", txn, 32)[0])
    elif t == 1:
        k += [struct.unpack_from(">i", d, 12)[0], auth is None]
        if struct.unpack_from(">i", d, 12)[0] == 1: k.append(d[16:].find(b"eph") >= 0 or d[16:].find(b"seq") >= 0 and "seq")
    elif t == 5:
        k.append("null" if d is None else ("empty" if len(d) == 0 else "touches"))
    elif t == 6:
        k.append(len(d) if d is not None else None)
        if d is not None and len(d) == 9: k.append(d[8])
    elif t == 18:
        k.append(struct.unpack_from(">i", d, 0)[0] == -1)
    elif t in (13, 3, 15):
        k.append(z & 0xffffffff == 0)
    return tuple(k)


def note(direction, t, z, d, auth):
    n = "%s zxid=0x%x" % (direction, z & 0xffffffffffffffff) if z >= 0 else "%s zxid=%d" % (direction, z)
    n += " data=%s" % ("null" if d is None else "%dB" % len(d))
    n += " authinfo=%s" % ("null" if auth is None else ",".join("%s:%s" % (a.decode(), b.decode()) for a, b in auth))
    if t in (2, 8, 19):
        txn = d[8:] if t == 19 else d
        tt = struct.unpack_from(">i", txn, 28)[0]
        n += " txn=%s" % OPS.get(tt, tt)
        if tt == -1: n += "(%d)" % struct.unpack_from(">i", txn, 32)[0]
    if t == 1:
        n += " op=%s cxid=%d" % (OPS.get(struct.unpack_from(">i", d, 12)[0]), struct.unpack_from(">i", d, 8)[0])
    return n


def main():
    main_pcap, trunc_pcap, outdir = sys.argv[1:4]
    seen = {}; proposals = {}; snap = None
    for src, pcap in (("main", main_pcap), ("trunc", trunc_pcap)):
        for stream, direction, b in streams_of(pcap):
            parts = split(b)
            for i, (what, s, e, t, z, d, auth) in enumerate(parts):
                if what != "packet": continue
                raw = b[s:e]
                k = kind(direction, t, z, d, auth)
                if k not in seen:
                    seen[k] = (QP.get(t, "type%d" % t), "%s: %s" % (src, note(direction, t, z, d, auth)), raw.hex())
                if src == "main" and t == 2:
                    if z in proposals and proposals[z] != raw:
                        sys.exit("two different proposals for zxid 0x%x" % z)
                    proposals[z] = raw
                if src == "main" and t == 15:
                    seg = []
                    for what2, s2, e2, t2, z2, d2, a2 in parts[i:]:
                        label = "raw snapshot stream" if what2 == "raw" else QP.get(t2, str(t2))
                        seg.append((what2, label, b[s2:e2].hex()))
                        if what2 == "packet" and t2 == 12: break
                    # the richest one: a wiped follower's, with sessions and nodes
                    if snap is None or len(seg[1][2]) > len(snap[1][2]): snap = seg
    order = sorted(seen.items(), key=lambda kv: (QP_ORDER(kv[1][0]), kv[1][1]))
    with open(outdir + "/packets.txt", "w") as f:
        f.write("# One quorum packet of every distinct kind, captured from ZooKeeper 3.8.0 (scripts/capture-quorum.sh,\n"
                "# scripts/quorum-fixtures.py). Fields: type name, note (capture, direction, fields), packet hex.\n")
        for _, (name, n, h) in order:
            f.write("%s\t%s\t%s\n" % (name, n, h))
    with open(outdir + "/proposals.txt", "w") as f:
        f.write("# Every PROPOSAL the leaders of the main capture sent, from a cold start (empty data dirs), by zxid.\n")
        for z in sorted(proposals):
            f.write("PROPOSAL\tzxid=0x%x\t%s\n" % (z, proposals[z].hex()))
    with open(outdir + "/snap-stream.txt", "w") as f:
        f.write("# Leader->follower bytes of a SNAP sync to a wiped follower, from SNAP to UPTODATE, in stream order.\n"
                "# Kind (packet|raw), note, hex; concatenated they are the exact bytes on the wire.\n")
        for what, label, h in snap:
            f.write("%s\t%s\t%s\n" % (what, label, h))


def QP_ORDER(name):
    for k, v in QP.items():
        if v == name: return k
    return 99


main()
