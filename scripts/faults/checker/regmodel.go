package main

// The ZooKeeper model of one register znode, as a porcupine model.
//
// ZooKeeper promises linearizable writes and sequentially consistent reads: every write (setData,
// conditional setData, create, delete, and a failed one alike, since the leader decides it) takes
// effect at one point between its invocation and its completion, in zxid order; a plain read is
// served by the member the session is connected to, which may lag, so it returns a state that was
// current at some earlier point, but never a state older than one its session already saw or
// wrote; a read after sync() sees every write that completed before the sync was invoked.
//
// The encoding (see README.md):
//   - Writes and sync-reads are ordinary linearizable operations over [t0, t1].
//   - A plain read may be linearized anywhere before its completion: its interval starts at the
//     earliest time the state it returned can have existed (the invocation of the write of that
//     value, or of the first delete for a "no node" answer).
//   - Every read carries a floor: the highest zxid its proc had observed (on any key) before it was
//     invoked. The state it returns must still have been current at that zxid: every write on the
//     key with a zxid at or below the floor must be linearized before the read. The model keeps the
//     highest zxid linearized so far (lastZxid) and the read requires lastZxid >= need, need being
//     the highest known write zxid of this key at or below the floor (computed from the history).
//     So a state overwritten at or before the floor is unreachable for the read: it never goes
//     back. The read does not change the state, so porcupine's search stays cheap.
//   - Every write with a known zxid must have a zxid above lastZxid, so the linearization order of
//     writes agrees with the zxids ZooKeeper returned.
//   - An info write (outcome unknown) completes at infinity. Where its precondition holds it
//     applies, otherwise it is a no-op (it failed); linearized after everything else it is a write
//     that never happened. So both outcomes are accepted and neither is forced.
//   - porcupine first checks the history without the info writes nobody saw take effect (all info
//     deletes among them): if that is linearizable, so is the whole history (they did not happen).
//     Only otherwise is the whole history searched, which is much slower with many of them. Info
//     setData the versions leave no room for are left out altogether (prune.go).
//   - A write's zxid is known from its reply, or, for an info write, from any read that returned its
//     value (values are unique per key). A delete's zxid is never known.

import (
	"fmt"
)

type regKind uint8

const (
	regRead regKind = iota
	regSyncRead
	regWrite  // setData(key, value, -1)
	regCas    // setData(key, value, expectedVersion)
	regCreate // create(key, value)
	regDelete // delete(key, expectedVersion)
)

var regKindNames = [...]string{"read", "sync-read", "write", "cas", "create", "delete"}

type regIn struct {
	kind       regKind
	value      int64
	expVersion int64 // cas and delete; -1 matches any version
	zxid       int64 // writes: the zxid it was given, 0 when unknown
	need       int64 // reads: the highest write zxid of this key that must precede it
	info       bool  // writes: outcome unknown
}

type regOut struct {
	ok  bool   // status ok (reads: an observation)
	err string // ZooKeeper's code name of a failed write
	// Reads: the state observed. Writes: version is the version a setData returned.
	exists  bool
	value   int64
	version int64
	mzxid   int64
}

// regState is one znode's state. mzxid 0 means unknown (a write whose zxid nobody saw);
// lastZxid is the highest zxid linearized so far, which every later write's zxid must exceed.
type regState struct {
	exists   bool
	value    int64
	version  int64
	mzxid    int64
	lastZxid int64
}

func regObservationMatches(s regState, o regOut) bool {
	if !o.exists {
		return !s.exists
	}
	return s.exists && s.value == o.value && s.version == o.version &&
		(s.mzxid == 0 || o.mzxid == 0 || s.mzxid == o.mzxid)
}

// regApplicable says whether a write's precondition holds in s.
func regApplicable(s regState, in regIn) bool {
	switch in.kind {
	case regWrite:
		return s.exists
	case regCas:
		return s.exists && s.version == in.expVersion
	case regCreate:
		return !s.exists
	case regDelete:
		return s.exists && (in.expVersion == -1 || s.version == in.expVersion)
	}
	return false
}

// regApply performs a write whose precondition holds; false when its zxid would run against the
// zxid order.
func regApply(s regState, in regIn) (bool, regState) {
	n := s
	if in.zxid != 0 {
		if in.zxid <= s.lastZxid {
			return false, s
		}
		n.lastZxid = in.zxid
	}
	switch in.kind {
	case regWrite, regCas:
		n.value = in.value
		n.version = s.version + 1
		n.mzxid = in.zxid
	case regCreate:
		n.exists = true
		n.value = in.value
		n.version = 0
		n.mzxid = in.zxid
	case regDelete:
		n.exists = false
		n.value = 0
		n.version = 0
		n.mzxid = 0
	}
	return true, n
}

// regFailMatches says whether a write that failed with code err could have failed in s.
func regFailMatches(s regState, in regIn, err string) bool {
	switch err {
	case "NONODE":
		return !s.exists && in.kind != regCreate
	case "NODEEXISTS":
		return s.exists && in.kind == regCreate
	case "BADVERSION":
		return s.exists && (in.kind == regCas || in.kind == regDelete) && in.expVersion != -1 &&
			s.version != in.expVersion
	case "NOTEMPTY":
		return s.exists && in.kind == regDelete
	}
	// Any other code (session moved, no auth, ...) says nothing about the node's state.
	return true
}

func regStep(state, input, output interface{}) (bool, interface{}) {
	s := state.(regState)
	in := input.(regIn)
	out := output.(regOut)
	switch in.kind {
	case regRead, regSyncRead:
		if !regObservationMatches(s, out) || s.lastZxid < in.need {
			return false, s
		}
		if s.exists && s.mzxid == 0 && out.mzxid != 0 {
			// The zxid of a state nobody had reported (the initial one): learn it; later writes
			// come after it.
			n := s
			n.mzxid = out.mzxid
			n.lastZxid = max(n.lastZxid, out.mzxid)
			return true, n
		}
		return true, s
	default:
		if in.info {
			if regApplicable(s, in) {
				if ok, n := regApply(s, in); ok {
					return true, n
				}
			}
			// It failed, or it happens at another point (or never: after everything else).
			return true, s
		}
		if !out.ok {
			return regFailMatches(s, in, out.err), s
		}
		if !regApplicable(s, in) {
			return false, s
		}
		if (in.kind == regWrite || in.kind == regCas) && out.version != s.version+1 {
			return false, s
		}
		return regApply(s, in)
	}
}

func regHash(state interface{}) uint64 {
	s := state.(regState)
	h := uint64(14695981039346656037)
	mix := func(v uint64) {
		h ^= v
		h *= 1099511628211
	}
	if s.exists {
		mix(1)
	}
	mix(uint64(s.value))
	mix(uint64(s.version))
	mix(uint64(s.mzxid))
	mix(uint64(s.lastZxid))
	return h
}

func zx(v int64) string {
	if v == 0 {
		return "?"
	}
	return fmt.Sprintf("0x%x", v)
}

func regDescribeOp(input, output interface{}) string {
	in := input.(regIn)
	out := output.(regOut)
	name := regKindNames[in.kind]
	switch in.kind {
	case regRead, regSyncRead:
		res := "none"
		if out.exists {
			res = fmt.Sprintf("%d v%d m%s", out.value, out.version, zx(out.mzxid))
		}
		if in.need != 0 {
			return fmt.Sprintf("%s(after %s) -> %s", name, zx(in.need), res)
		}
		return fmt.Sprintf("%s -> %s", name, res)
	}
	var args string
	switch in.kind {
	case regWrite, regCreate:
		args = fmt.Sprintf("%d", in.value)
	case regCas:
		args = fmt.Sprintf("%d, v%d", in.value, in.expVersion)
	case regDelete:
		args = fmt.Sprintf("v%d", in.expVersion)
	}
	var res string
	switch {
	case in.info:
		res = "info"
	case out.ok && (in.kind == regWrite || in.kind == regCas):
		res = fmt.Sprintf("ok v%d", out.version)
	case out.ok:
		res = "ok"
	default:
		res = out.err
	}
	return fmt.Sprintf("%s(%s) z%s -> %s", name, args, zx(in.zxid), res)
}

func regDescribeState(state interface{}) string {
	s := state.(regState)
	if !s.exists {
		return fmt.Sprintf("none (last zxid %s)", zx(s.lastZxid))
	}
	return fmt.Sprintf("%d v%d m%s (last zxid %s)", s.value, s.version, zx(s.mzxid), zx(s.lastZxid))
}
