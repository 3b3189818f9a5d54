package main

// Randomized histories of a simulated ZooKeeper: a leader that commits writes in zxid order and
// members that lag. Every history it produces keeps ZooKeeper's promises and must be accepted; the
// same history with one sync-read made stale must be rejected.

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

type simState struct {
	exists  bool
	value   int64
	version int64
	mzxid   int64
}

type simVersion struct {
	zxid  int64
	state simState
}

type simOp struct {
	proc, f, key string
	in, out      obj
	status, err  string
	t0, t1       int64
	effect       int64 // when the leader decides it
	reaches      bool  // info: whether it reaches the leader
	done         bool
}

type sim struct {
	rng      *rand.Rand
	now      int64
	zxid     int64
	keys     []string
	versions map[string][]simVersion // per key, by zxid
	seen     map[string]int64        // per proc: the prefix of the log it has seen
	counter  map[string]int64        // per proc: values written
	h        *hist
	syncs    []int // indexes of ok sync-read lines
	lineOps  []*simOp
}

func (s *sim) current(key string) simState {
	vs := s.versions[key]
	return vs[len(vs)-1].state
}

// stateAt is the key's state after the log prefix up to zxid.
func (s *sim) stateAt(key string, zxid int64) simState {
	vs := s.versions[key]
	st := vs[0].state
	for _, v := range vs {
		if v.zxid > zxid {
			break
		}
		st = v.state
	}
	return st
}

func (s *sim) decide(o *simOp) {
	cur := s.current(o.key)
	applicable := false
	switch o.f {
	case "write":
		applicable = cur.exists
	case "cas":
		applicable = cur.exists && cur.version == o.in["expectedVersion"].(int64)
	case "create":
		applicable = !cur.exists
	case "delete":
		applicable = cur.exists
	}
	if o.status == "info" && !o.reaches {
		return
	}
	if !applicable {
		if o.status == "ok" {
			o.status = "fail"
			switch {
			case o.f == "create":
				o.err = "NODEEXISTS"
			case !cur.exists:
				o.err = "NONODE"
			default:
				o.err = "BADVERSION"
			}
		}
		return
	}
	s.zxid++
	next := cur
	switch o.f {
	case "write", "cas":
		next = simState{true, o.in["value"].(int64), cur.version + 1, s.zxid}
	case "create":
		next = simState{true, o.in["value"].(int64), 0, s.zxid}
	case "delete":
		next = simState{}
	}
	s.versions[o.key] = append(s.versions[o.key], simVersion{s.zxid, next})
	if o.status == "ok" {
		switch o.f {
		case "write", "cas":
			o.out = obj{"version": next.version, "mzxid": z(int(s.zxid))}
		case "create":
			o.out = obj{"mzxid": z(int(s.zxid))}
		default:
			o.out = obj{}
		}
		if s.zxid > s.seen[o.proc] {
			s.seen[o.proc] = s.zxid
		}
	}
}

// read returns the key's state at a prefix between lo and the leader's, biased to lag.
func (s *sim) read(o *simOp, lo int64) {
	zx := lo
	if s.zxid > lo {
		zx = lo + s.rng.Int63n(s.zxid-lo+1)
		if s.rng.Intn(2) == 0 {
			zx = lo
		}
	}
	st := s.stateAt(o.key, zx)
	if st.exists {
		o.out = obj{"exists": true, "value": st.value, "version": st.version, "mzxid": z(int(st.mzxid))}
	} else {
		o.out = obj{"exists": false}
	}
	if zx > s.seen[o.proc] {
		s.seen[o.proc] = zx
	}
}

var (
	simInfo      = true
	simInfoOneIn = 10
)

func runSim(seed int64, procs, opsPerProc int, keys int) *sim {
	s := &sim{rng: rand.New(rand.NewSource(seed)), versions: map[string][]simVersion{}, seen: map[string]int64{},
		counter: map[string]int64{}, h: &hist{}}
	for k := 0; k < keys; k++ {
		key := fmt.Sprintf("/faults/reg/%d", k)
		s.keys = append(s.keys, key)
		s.versions[key] = []simVersion{{0, simState{true, 0, 0, 1}}}
	}
	s.zxid = 1 // the runner's creates
	type procState struct {
		name   string
		op     *simOp
		issued int
		syncAt int64 // sync-read: the prefix the sync guaranteed
	}
	ps := make([]*procState, procs)
	for i := range ps {
		ps[i] = &procState{name: fmt.Sprintf("java-%d", i+1)}
	}
	active := procs
	for s.now = 100; active > 0; s.now++ {
		for _, p := range ps {
			o := p.op
			if o == nil {
				if p.issued >= opsPerProc || s.rng.Intn(3) != 0 {
					continue
				}
				p.issued++
				o = &simOp{proc: p.name, key: s.keys[s.rng.Intn(len(s.keys))], t0: s.now, status: "ok"}
				o.effect = s.now + int64(s.rng.Intn(4))
				o.t1 = o.effect + int64(s.rng.Intn(4))
				s.counter[p.name]++
				value := int64(procIndex(p.name))*1000000 + s.counter[p.name]
				switch r := s.rng.Intn(20); {
				case r < 6:
					o.f = "read"
				case r < 10:
					o.f = "sync-read"
				case r < 14:
					o.f = "write"
					o.in = obj{"value": value}
				case r < 18:
					o.f = "cas"
					cur := s.stateAt(o.key, s.seen[p.name])
					o.in = obj{"value": value, "expectedVersion": cur.version}
				case r < 19:
					o.f = "create"
					o.in = obj{"value": value}
				default:
					o.f = "delete"
					o.in = obj{"expectedVersion": int64(-1)}
				}
				if o.f != "read" && o.f != "sync-read" && simInfo && s.rng.Intn(simInfoOneIn) == 0 {
					o.status = "info"
					o.reaches = s.rng.Intn(2) == 0
				}
				p.op = o
			}
			if s.now == o.effect && !o.done {
				o.done = true
				switch o.f {
				case "read":
				case "sync-read":
					p.syncAt = s.zxid
				default:
					s.decide(o)
				}
			}
			if s.now == o.t1 {
				switch o.f {
				case "read":
					s.read(o, s.seen[p.name])
				case "sync-read":
					s.read(o, max(p.syncAt, s.seen[p.name]))
				}
				t1 := o.t1
				if o.status == "info" {
					t1 = -1
				}
				s.h.op(o.proc, "register", o.f, o.key, o.in, o.status, o.out, o.err, o.t0, t1)
				if o.f == "sync-read" {
					s.syncs = append(s.syncs, len(s.h.lines)-1)
				}
				s.lineOps = append(s.lineOps, o)
				p.op = nil
				if p.issued >= opsPerProc {
					active--
				}
			}
		}
	}
	return s
}

func TestSimulatedHistoriesAreAccepted(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		s := runSim(seed, 5, 60, 2)
		o := runChecker(t, s.h, newFinal(3))
		if o.code != 0 {
			t.Fatalf("seed %d: a valid history was rejected:\n%s\n%v", seed, o, s.h.lines)
		}
	}
}

// The same histories with one sync-read made to return the state before a write that completed
// before the sync was invoked.
func TestSimulatedStaleSyncReadIsRejected(t *testing.T) {
	mutated := 0
	for seed := int64(1); seed <= 20; seed++ {
		s := runSim(seed, 5, 60, 2)
		for _, i := range s.syncs {
			rd := s.lineOps[i]
			if rd.out["exists"] != true {
				continue
			}
			// The last acknowledged write on the key that completed before the sync: return the
			// state just before it.
			var w *simOp
			for _, o := range s.lineOps {
				if o.key == rd.key && o.status == "ok" && (o.f == "write" || o.f == "cas" || o.f == "create") && o.t1 < rd.t0 {
					if w == nil || o.t1 > w.t1 {
						w = o
					}
				}
			}
			if w == nil {
				continue
			}
			var wz int64
			fmt.Sscanf(w.out["mzxid"].(string), "0x%x", &wz)
			wz -= 0x100000000
			before := s.stateAt(rd.key, wz-1)
			if !before.exists {
				continue
			}
			h := &hist{lines: append([]string(nil), s.h.lines...)}
			h.lines = h.lines[:i]
			h.syncRead(rd.proc, rd.key, before.value, before.version, int(before.mzxid), rd.t0, rd.t1)
			h.lines = append(h.lines, s.h.lines[i+1:]...)
			o := runChecker(t, h, newFinal(3))
			if o.code != 1 {
				t.Fatalf("seed %d: a stale sync-read (line %d) was accepted:\n%s", seed, i+1, o)
			}
			mutated++
			break
		}
	}
	if mutated < 10 {
		t.Fatalf("only %d histories could be mutated", mutated)
	}
}

// A larger history (8 keys, 500 ops each, one write in ten of unknown outcome): no key may be
// found illegal, and porcupine decides most keys within the timeout. Some info-heavy keys of this
// length take porcupine longer (README.md, Limits): those are unknown, never valid.
func TestSimulatedLargeHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("large history")
	}
	s := runSim(99, 10, 400, 8)
	start := time.Now()
	o := runChecker(t, s.h, newFinal(3), "--timeout-s", "20")
	decided := 0
	for k := 0; k < 8; k++ {
		res := o.keyResult(fmt.Sprintf("/faults/reg/%d", k))
		switch res["result"] {
		case "illegal":
			t.Fatalf("a valid history was rejected:\n%s", o)
		case "linearizable":
			decided++
		}
	}
	t.Logf("%d ops, %d of 8 keys decided in %v", len(s.h.lines), decided, time.Since(start))
	if decided < 6 {
		t.Fatalf("only %d of 8 keys decided:\n%s", decided, o)
	}
	if decided < 8 && (o.code != 2 || o.rep.Valid != "unknown") {
		t.Fatalf("undecided keys must make the run unknown:\n%s", o)
	}
}
