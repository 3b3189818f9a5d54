package main

import "testing"

func (h *hist) incr(proc string, from int64, t0, t1 int64) {
	h.op(proc, "counter", "incr", "", obj{"from": from, "va": from, "vb": from}, "ok", obj{"to": from + 1}, "", t0, t1)
}

func (h *hist) incrFail(proc string, from int64, t0, t1 int64) {
	h.op(proc, "counter", "incr", "", obj{"from": from, "va": from, "vb": from}, "fail", nil, "BADVERSION", t0, t1)
}

func (h *hist) readBoth(proc string, a, b int64, t0, t1 int64) {
	h.op(proc, "counter", "read-both", "", nil, "ok", obj{"a": a, "b": b}, "", t0, t1)
}

func (h *hist) readAThenB(proc string, a, b int64, t0, t1 int64) {
	h.op(proc, "counter", "read-a-then-b", "", nil, "ok", obj{"a": a, "b": b}, "", t0, t1)
}

// Increments, a failed one, a lagging read, kazoo's read of a then b across an increment, and an
// info increment that did or did not happen.
func TestCounterValid(t *testing.T) {
	for _, final := range []int64{3, 4} {
		h := &hist{}
		h.incr("java-1", 0, 100, 200)
		h.incrFail("java-2", 0, 150, 250)
		h.readBoth("java-3", 0, 0, 300, 400) // lags: allowed
		h.incr("java-2", 1, 300, 400)
		h.readAThenB("kazoo-1", 1, 2, 350, 450)
		h.readBoth("java-3", 2, 2, 500, 600)
		h.incr("java-1", 2, 500, 600)
		h.op("java-2", "counter", "incr", "", obj{"from": 3, "va": 3, "vb": 3}, "info", nil, "", 700, -1)
		o := runChecker(t, h, newFinal(3).counter(final, final))
		expectValid(t, o)
		if p := o.rep.Checks["counter"]["porcupine"].(map[string]any); p["result"] != "linearizable" {
			t.Fatalf("porcupine %v", p)
		}
	}
}

func TestCounterTornMultiRead(t *testing.T) {
	h := &hist{}
	h.incr("java-1", 0, 100, 200)
	h.readBoth("java-2", 1, 0, 300, 400)
	expectAnomaly(t, runChecker(t, h, newFinal(3).counter(1, 1)), "counter", "torn multi")
}

func TestCounterTornFinal(t *testing.T) {
	h := &hist{}
	h.incr("java-1", 0, 100, 200)
	f := newFinal(3).counter(1, 1)
	f.Members[0]["counter"] = obj{"a": 1, "b": 0}
	expectAnomaly(t, runChecker(t, h, f), "counter", "torn multi on member 1")
}

func TestCounterReadAAfterB(t *testing.T) {
	h := &hist{}
	h.incr("java-1", 0, 100, 200)
	h.readAThenB("kazoo-1", 1, 0, 300, 400)
	expectAnomaly(t, runChecker(t, h, newFinal(3).counter(1, 1)), "counter", "read a then b saw a = 1 > b = 0")
}

func TestCounterLostIncrement(t *testing.T) {
	h := &hist{}
	h.incr("java-1", 0, 100, 200)
	h.incr("java-1", 1, 300, 400)
	o := runChecker(t, h, newFinal(3).counter(1, 1))
	expectAnomaly(t, o, "counter", "lost increments")
	expectAnomaly(t, o, "counter", "not linearizable")
	if viz := o.rep.Checks["counter"]["porcupine"].(map[string]any)["visualization"]; viz == nil {
		t.Fatalf("no visualisation: %s", o)
	}
}

func TestCounterTwoIncrementsFromOneVersion(t *testing.T) {
	h := &hist{}
	h.incr("java-1", 0, 100, 200)
	h.incr("java-2", 0, 100, 200)
	o := runChecker(t, h, newFinal(3).counter(2, 2))
	expectAnomaly(t, o, "counter", "not linearizable")
}

func TestCounterReadGoesBack(t *testing.T) {
	h := &hist{}
	h.incr("java-1", 0, 100, 200)
	h.readBoth("java-2", 1, 1, 300, 400)
	h.readBoth("java-2", 0, 0, 500, 600)
	expectAnomaly(t, runChecker(t, h, newFinal(3).counter(1, 1)), "counter", "went back")
}

func TestCounterFinalMembersDiffer(t *testing.T) {
	h := &hist{}
	h.incr("java-1", 0, 100, 200)
	h.op("java-1", "counter", "incr", "", obj{"from": 1, "va": 1, "vb": 1}, "info", nil, "", 300, -1)
	f := newFinal(3).counter(2, 2)
	f.Members[2]["counter"] = obj{"a": 1, "b": 1}
	expectAnomaly(t, runChecker(t, h, f), "counter", "final counters differ")
}
