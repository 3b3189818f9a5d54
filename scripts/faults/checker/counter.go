package main

// The counter check: /faults/ctr/a and /faults/ctr/b, incremented together by a multi of two
// conditional setData. porcupine checks the increments as a compare-and-set register (from n to
// n+1 given the versions the increment read) with the reads as sequentially consistent reads (each
// may be linearized at any point before it completed); directly: a read-only multi never sees a != b,
// kazoo's read of a then b never sees a > b, no proc's read goes back, and every member ends with
// a == b at the same count, which porcupine must accept as the count after the linearization.

import (
	"fmt"
	"sort"

	"github.com/anishathalye/porcupine"
)

type ctrKind uint8

const (
	ctrIncr ctrKind = iota
	ctrRead
)

type ctrIn struct {
	kind   ctrKind
	from   int64 // incr
	va, vb int64 // incr: the versions of a and b it read
	info   bool  // incr: outcome unknown
	what   string
}

type ctrOut struct {
	ok    bool
	err   string
	value int64 // read: the count seen
}

// ctrState is the count with the versions of a and b.
type ctrState struct {
	n, va, vb int64
}

func ctrStep(state, input, output interface{}) (bool, interface{}) {
	s := state.(ctrState)
	in := input.(ctrIn)
	out := output.(ctrOut)
	if in.kind == ctrRead {
		return s.n == out.value, s
	}
	matches := s.n == in.from && s.va == in.va && s.vb == in.vb
	next := ctrState{s.n + 1, s.va + 1, s.vb + 1}
	switch {
	case in.info:
		if matches {
			return true, next
		}
		return true, s
	case out.ok:
		return matches, next
	case out.err == "BADVERSION":
		return s.va != in.va || s.vb != in.vb, s
	default:
		return true, s
	}
}

func ctrDescribeOp(input, output interface{}) string {
	in := input.(ctrIn)
	out := output.(ctrOut)
	if in.kind == ctrRead {
		return fmt.Sprintf("%s -> %d", in.what, out.value)
	}
	res := out.err
	switch {
	case in.info:
		res = "info"
	case out.ok:
		res = fmt.Sprintf("ok %d", in.from+1)
	}
	return fmt.Sprintf("incr(from %d, va %d, vb %d) -> %s", in.from, in.va, in.vb, res)
}

func ctrDescribeState(state interface{}) string {
	s := state.(ctrState)
	return fmt.Sprintf("%d (va %d, vb %d)", s.n, s.va, s.vb)
}

// mostCommon is the most frequent value of vs (0 when vs is empty).
func mostCommon(vs []int64) int64 {
	counts := map[int64]int{}
	best, bestCount := int64(0), 0
	for _, v := range vs {
		counts[v]++
		if counts[v] > bestCount || counts[v] == bestCount && v < best {
			best, bestCount = v, counts[v]
		}
	}
	return best
}

func checkCounter(in *input, r *report) {
	c := r.Checks["counter"]
	var ops []*Op
	for _, o := range in.ops {
		if o.Wl == "counter" {
			c.count(o)
			ops = append(ops, o)
		}
	}
	// The versions of a and b run at a fixed offset from the count; take it from the increments.
	var oas, obs []int64
	acked := 0
	infos := 0
	for _, o := range ops {
		if o.F != "incr" {
			continue
		}
		if o.ok() {
			acked++
			if o.In.Va.Set {
				oas = append(oas, o.In.Va.V-o.In.From.V)
			}
			if o.In.Vb.Set {
				obs = append(obs, o.In.Vb.V-o.In.From.V)
			}
			if o.Out.To.Set && o.Out.To.V != o.In.From.V+1 {
				r.addf("counter", []*Op{o}, "increment from %d returned %d", o.In.From.V, o.Out.To.V)
			}
		}
		if o.info() {
			infos++
		}
	}
	oa, ob := mostCommon(oas), mostCommon(obs)

	checkCounterReads(ops, r)

	tMin, tMax := historyTimes(in.ops)
	firstIncrFrom := map[int64]int64{} // count -> earliest invocation of an increment from it
	for _, o := range ops {
		if o.F == "incr" && !o.fail() {
			if t, ok := firstIncrFrom[o.In.From.V]; !ok || o.start() < t {
				firstIncrFrom[o.In.From.V] = o.start()
			}
		}
	}
	ids := clientIDs{}
	var hist, reduced []porcupine.Operation
	addRead := func(o *Op, what string, value int64, call, ret int64) {
		if call == timeMinInf {
			// A read may be served by a lagging member: linearize it anywhere before it completed at
			// which its count can exist.
			call = tMin - 1
			if value != 0 {
				if t, ok := firstIncrFrom[value-1]; ok {
					call = t
				}
			}
			call = min(call, ret)
		}
		op := porcupine.Operation{ClientId: ids.of(o.Proc), Metadata: o.Proc + " " + o.ref(),
			Input: ctrIn{kind: ctrRead, what: what}, Output: ctrOut{ok: true, value: value}, Call: call, Return: ret}
		hist = append(hist, op)
		reduced = append(reduced, op)
	}
	for _, o := range ops {
		switch o.F {
		case "incr":
			va, vb := o.In.From.V+oa, o.In.From.V+ob
			if o.In.Va.Set {
				va = o.In.Va.V
			}
			if o.In.Vb.Set {
				vb = o.In.Vb.V
			}
			op := porcupine.Operation{ClientId: ids.of(o.Proc), Metadata: o.Proc + " " + o.ref(),
				Input:  ctrIn{kind: ctrIncr, from: o.In.From.V, va: va, vb: vb, info: o.info()},
				Output: ctrOut{ok: o.ok(), err: o.errCode()}, Call: o.start(), Return: o.end()}
			hist = append(hist, op)
			if !o.info() {
				reduced = append(reduced, op)
			}
		case "read-both":
			if o.ok() && o.Out.A.V == o.Out.B.V {
				addRead(o, "read-both", o.Out.A.V, timeMinInf, o.end())
			}
		case "read-a-then-b":
			if o.ok() {
				addRead(o, "read a", o.Out.A.V, timeMinInf, o.end())
				addRead(o, "read b", o.Out.B.V, timeMinInf, o.end())
			}
		}
	}

	if in.final != nil {
		var first *finalMember
		for i := range in.final.Members {
			m := &in.final.Members[i]
			if m.Counter == nil {
				r.addRefs("counter", fmt.Sprintf("member %s reported no counter", m.name()), nil)
				continue
			}
			a, b := m.Counter.A.V, m.Counter.B.V
			if a != b {
				r.addRefs("counter", fmt.Sprintf("torn multi on member %s: final a = %d, b = %d", m.name(), a, b), nil)
			}
			if a < int64(acked) {
				r.addRefs("counter", fmt.Sprintf("lost increments on member %s: final count %d, %d increments acknowledged",
					m.name(), a, acked), nil)
			}
			if a > int64(acked+infos) {
				r.addRefs("counter", fmt.Sprintf("member %s counts %d, more than the %d acknowledged and %d unknown increments",
					m.name(), a, acked, infos), nil)
			}
			if first == nil {
				first = m
			} else if first.Counter.A.V != a || first.Counter.B.V != b {
				r.addRefs("counter", fmt.Sprintf("final counters differ: member %s has a=%d b=%d, member %s has a=%d b=%d",
					first.name(), first.Counter.A.V, first.Counter.B.V, m.name(), a, b), nil)
			}
			fo := &Op{Proc: "final-" + m.name(), Wl: "counter", F: "final", File: in.finalPath}
			t0, t1 := tMax+1+int64(2*i), tMax+2+int64(2*i)
			fo.T0, fo.T1 = &t0, &t1
			addRead(fo, "final a", a, t0, t1)
			if b != a {
				addRead(fo, "final b", b, t0, t1)
			}
		}
	}

	if len(hist) == 0 {
		return
	}
	model := porcupine.Model{
		Init:                      func() interface{} { return ctrState{n: 0, va: oa, vb: ob} },
		Step:                      ctrStep,
		DescribeOperation:         ctrDescribeOp,
		DescribeState:             ctrDescribeState,
		DescribeOperationMetadata: describeMetadata,
	}
	res := runPorcupine(model, hist, reduced, in.timeout, in.outDir, "counter.html")
	c.Porcupine = res
	if res.Visualization != "" {
		c.Visualization = append(c.Visualization, res.Visualization)
	}
	switch res.Result {
	case resultIllegal:
		what := "the counter's history is not linearizable (increments as compare-and-set, reads sequentially consistent)"
		if res.Visualization != "" {
			what += " (see " + res.Visualization + ")"
		}
		r.addRefs("counter", what, nil)
	case resultUnknown:
		r.unknown("counter")
	}
}

// checkCounterReads: atomic multi reads, and per proc the count never goes back.
func checkCounterReads(ops []*Op, r *report) {
	byProc := map[string][]*Op{}
	for _, o := range ops {
		byProc[o.Proc] = append(byProc[o.Proc], o)
	}
	for _, pops := range byProc {
		sort.SliceStable(pops, func(i, j int) bool { return pops[i].start() < pops[j].start() })
		var floor int64
		var floorOp *Op
		for _, o := range pops {
			if !o.ok() {
				continue
			}
			switch o.F {
			case "read-both":
				a, b := o.Out.A.V, o.Out.B.V
				if a != b {
					r.addf("counter", []*Op{o}, "torn multi: a read-only multi saw a = %d, b = %d", a, b)
				}
				if min(a, b) < floor {
					r.addf("counter", []*Op{floorOp, o}, "counter read went back: %d after its proc saw %d", min(a, b), floor)
				}
				if max(a, b) > floor {
					floor, floorOp = max(a, b), o
				}
			case "read-a-then-b":
				a, b := o.Out.A.V, o.Out.B.V
				if a > b {
					r.addf("counter", []*Op{o}, "read a then b saw a = %d > b = %d", a, b)
				}
				if a < floor {
					r.addf("counter", []*Op{floorOp, o}, "counter read went back: %d after its proc saw %d", a, floor)
				}
				if b > floor {
					floor, floorOp = b, o
				}
			case "incr":
				if to := o.In.From.V + 1; to > floor {
					floor, floorOp = to, o
				}
			}
		}
	}
}
