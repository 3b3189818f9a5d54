package main

import (
	"fmt"
	"testing"
)

func seqName(n int) string { return fmt.Sprintf("n-%010d", n) }

func (h *hist) seqCreate(proc string, n int, t0, t1 int64) {
	h.op(proc, "seq", "seq-create", "", nil, "ok", obj{"name": seqName(n)}, "", t0, t1)
}

func (h *hist) seqInfo(proc string, t0 int64) {
	h.op(proc, "seq", "seq-create", "", nil, "info", nil, "", t0, -1)
}

// Concurrent creates in either order, a failed one, and an info create that did or did not happen.
func TestSeqValid(t *testing.T) {
	for _, infoHappened := range []bool{false, true} {
		h := &hist{}
		h.seqCreate("java-1", 1, 100, 200)
		h.seqCreate("java-2", 0, 100, 200)
		h.op("java-3", "seq", "seq-create", "", nil, "fail", nil, "CONNECTIONLOSS", 100, 150)
		h.seqInfo("java-3", 300)
		h.seqCreate("java-1", 2, 300, 400)
		f := newFinal(3).seq(seqName(0), seqName(1), seqName(2))
		if infoHappened {
			f = newFinal(3).seq(seqName(0), seqName(1), seqName(2), seqName(3))
		}
		o := runChecker(t, h, f)
		expectValid(t, o)
		if s := o.rep.Checks["seq"]; s["ops"] != float64(5) || s["ok"] != float64(3) || s["info"] != float64(1) || s["fail"] != float64(1) {
			t.Fatalf("counts %v", s)
		}
	}
}

func TestSeqDuplicateName(t *testing.T) {
	h := &hist{}
	h.seqCreate("java-1", 0, 100, 200)
	h.seqCreate("java-2", 0, 100, 200)
	expectAnomaly(t, runChecker(t, h, newFinal(3).seq(seqName(0))), "seq", "returned to two creates")
}

func TestSeqGap(t *testing.T) {
	h := &hist{}
	h.seqCreate("java-1", 0, 100, 200)
	h.seqCreate("java-1", 2, 300, 400)
	expectAnomaly(t, runChecker(t, h, newFinal(3).seq(seqName(0), seqName(2))), "seq", "gap among the committed creates")
}

func TestSeqAckedCreateMissing(t *testing.T) {
	h := &hist{}
	h.seqCreate("java-1", 0, 100, 200)
	h.seqCreate("java-1", 1, 300, 400)
	f := newFinal(3).seq(seqName(0), seqName(1))
	f.Members[1]["seqChildren"] = []string{seqName(0)}
	o := runChecker(t, h, f)
	expectAnomaly(t, o, "seq", "missing on member 2")
	expectAnomaly(t, o, "seq", "hold different children")
}

func TestSeqMoreChildrenThanInfoCreates(t *testing.T) {
	h := &hist{}
	h.seqCreate("java-1", 0, 100, 200)
	h.seqInfo("java-1", 300)
	o := runChecker(t, h, newFinal(3).seq(seqName(0), seqName(1), seqName(2)))
	expectAnomaly(t, o, "seq", "only 1 creates had an unknown outcome")
}

func TestSeqOrderContradictsRealTime(t *testing.T) {
	h := &hist{}
	h.seqCreate("java-1", 1, 100, 200)
	h.seqCreate("java-2", 0, 300, 400)
	expectAnomaly(t, runChecker(t, h, newFinal(3).seq(seqName(0), seqName(1))), "seq", "contradict real time")
}
