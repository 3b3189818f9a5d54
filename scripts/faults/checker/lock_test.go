package main

import "testing"

const lockJava = "/faults/lock/java"

func (h *hist) lockOp(proc, f, status string, t0, t1 int64) {
	h.op(proc, "lock", f, lockJava, nil, status, obj{}, "", t0, t1)
}

// Holders one after another, a hold ended by a lost connection, a failed and an info acquire.
func TestLockValid(t *testing.T) {
	h := &hist{}
	h.lockOp("java-1", "acquire", "ok", 100, 200)
	h.lockOp("java-2", "acquire", "ok", 150, 400) // waited for java-1
	h.lockOp("java-1", "release", "ok", 300, 350)
	h.lockOp("java-2", "lost", "ok", 500, 500)
	h.lockOp("java-3", "acquire", "ok", 450, 600) // java-2's session ended before
	h.lockOp("java-3", "release", "ok", 700, 710)
	h.lockOp("java-4", "acquire", "fail", 650, 660)
	h.lockOp("java-4", "acquire", "info", 680, -1)
	h.lockOp("java-1", "acquire", "ok", 720, 800)
	o := runChecker(t, h, newFinal(3))
	expectValid(t, o)
	if l := o.rep.Checks["lock"]; l["ops"] != float64(9) || l["info"] != float64(1) || l["fail"] != float64(1) {
		t.Fatalf("counts %v", l)
	}
}

func TestLockOverlappingHolders(t *testing.T) {
	h := &hist{}
	h.lockOp("java-1", "acquire", "ok", 100, 200)
	h.lockOp("java-2", "acquire", "ok", 150, 250)
	h.lockOp("java-1", "release", "ok", 300, 350)
	h.lockOp("java-2", "release", "ok", 400, 450)
	expectAnomaly(t, runChecker(t, h, newFinal(3)), "lock", "two holders of /faults/lock/java at once")

	// A holder that never released (and never lost the lock) still holds it.
	h = &hist{}
	h.lockOp("java-1", "acquire", "ok", 100, 200)
	h.lockOp("java-2", "acquire", "ok", 150, 900)
	expectAnomaly(t, runChecker(t, h, newFinal(3)), "lock", "two holders")
}
