package main

import "testing"

// An info write the versions leave no room for is left out; one they leave room for is kept, and
// the history is accepted either way.
func TestPruneInfoWrites(t *testing.T) {
	// write v1 (0x10), info write, write v2 (0x11): no gap, the info write did not happen.
	h := &hist{}
	h.write("java-1", k0, 1000001, 1, 0x10, 100, 200)
	h.writeInfo("java-2", k0, 2000001, 150)
	h.write("java-1", k0, 1000002, 2, 0x11, 300, 400)
	o := runChecker(t, h, newFinal(3).register(k0, 1000002, 2, 0x11))
	expectValid(t, o)
	if p := o.keyResult(k0)["infoPruned"]; p != float64(1) {
		t.Fatalf("infoPruned %v", p)
	}
	// write v1, info write, write v3: it happened, in the gap.
	h = &hist{}
	h.write("java-1", k0, 1000001, 1, 0x10, 100, 200)
	h.writeInfo("java-2", k0, 2000001, 150)
	h.write("java-1", k0, 1000002, 3, 0x12, 300, 400)
	o = runChecker(t, h, newFinal(3).register(k0, 1000002, 3, 0x12))
	expectValid(t, o)
	if p := o.keyResult(k0)["infoPruned"]; p != nil {
		t.Fatalf("infoPruned %v", p)
	}
	// The same gap with the info write invoked after the write closing it completed: nothing can
	// explain the jump.
	h = &hist{}
	h.write("java-1", k0, 1000001, 1, 0x10, 100, 200)
	h.write("java-1", k0, 1000002, 3, 0x12, 300, 400)
	h.writeInfo("java-2", k0, 2000001, 500)
	expectAnomaly(t, runChecker(t, h, newFinal(3)), "register", "not linearizable")
}
