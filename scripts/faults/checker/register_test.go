package main

import (
	"os"
	"testing"
)

const (
	k0 = "/faults/reg/0"
	k1 = "/faults/reg/1"
)

// A history with lagging reads, a failed cas, a delete and a create, and two info writes, one that
// happened (a read saw it) and one that did not, is accepted.
func TestRegisterValid(t *testing.T) {
	h := &hist{}
	h.write("java-1", k0, 1000001, 1, 0x10, 100, 200)
	h.op("java-4", "register", "delete", k1, obj{"expectedVersion": 0}, "ok", obj{}, "", 110, 190)
	h.read("java-2", k0, 0, 0, 0x1, 150, 250)
	h.read("java-2", k0, 0, 0, 0x1, 300, 400) // lags behind a completed write: allowed
	h.syncRead("java-3", k0, 1000001, 1, 0x10, 300, 400)
	h.readNone("java-4", k1, 300, 400)
	h.read("java-2", k0, 1000001, 1, 0x10, 500, 600)
	h.op("java-4", "register", "create", k1, obj{"value": 4000001}, "ok", obj{"mzxid": z(0x20)}, "", 500, 600)
	h.cas("java-1", k0, 1000002, 1, 2, 0x30, 700, 800)
	h.casFail("java-2", k0, 2000001, 1, 750, 850)
	h.writeInfo("java-3", k0, 3000001, 900) // never happened
	h.writeInfo("java-1", k0, 1000003, 900) // happened: read below
	h.syncRead("java-2", k0, 1000003, 3, 0x40, 1000, 1100)
	h.read("java-4", k1, 4000001, 0, 0x20, 1000, 1100)
	f := newFinal(3).register(k0, 1000003, 3, 0x40).register(k1, 4000001, 0, 0x20)
	o := runChecker(t, h, f)
	expectValid(t, o)
	if res := o.keyResult(k0); res["result"] != "linearizable" {
		t.Fatalf("key result: %v", res)
	}
	reg := o.rep.Checks["register"]
	if reg["ops"] != float64(14) || reg["ok"] != float64(11) || reg["fail"] != float64(1) || reg["info"] != float64(2) {
		t.Fatalf("counts: %v", reg)
	}
}

// Info writes: one that never happened (nobody saw it, the final state is older) and one that did
// (the final state is its value) are both accepted.
func TestRegisterInfoWriteEitherWay(t *testing.T) {
	for _, happened := range []bool{false, true} {
		h := &hist{}
		h.write("java-1", k0, 1000001, 1, 0x10, 100, 200)
		h.writeInfo("java-2", k0, 2000001, 300)
		f := newFinal(3).register(k0, 1000001, 1, 0x10)
		if happened {
			f = newFinal(3).register(k0, 2000001, 2, 0x11)
		}
		expectValid(t, runChecker(t, h, f))
	}
	// An info cas that happened, and a failed cas after it that proves it.
	h := &hist{}
	h.op("java-1", "register", "cas", k0, obj{"value": 1000001, "expectedVersion": 0}, "info", nil, "", 100, -1)
	h.casFail("java-2", k0, 2000001, 0, 300, 400)
	h.syncRead("java-2", k0, 1000001, 1, 0x10, 500, 600)
	expectValid(t, runChecker(t, h, newFinal(3)))
}

// An acknowledged write missing from the members' final state.
func TestRegisterLostWrite(t *testing.T) {
	h := &hist{}
	h.read("java-2", k0, 0, 0, 0x1, 50, 60)
	h.write("java-1", k0, 1000001, 1, 0x10, 100, 200)
	f := newFinal(3).register(k0, 0, 0, 0x1)
	o := runChecker(t, h, f)
	expectAnomaly(t, o, "register", "not linearizable")
	res := o.keyResult(k0)
	if res["result"] != "illegal" {
		t.Fatalf("key result: %v", res)
	}
	viz, _ := res["visualization"].(string)
	if st, err := os.Stat(viz); err != nil || st.Size() < 1000 {
		t.Fatalf("no visualisation at %q: %v", viz, err)
	}
}

// A sync-read invoked after a write completed returns the state before it: not allowed; the same
// plain read is (it may lag).
func TestRegisterStaleReadAfterSync(t *testing.T) {
	for _, f := range []string{"sync-read", "read"} {
		h := &hist{}
		h.write("java-1", k0, 1000001, 1, 0x10, 100, 200)
		h.op("java-2", "register", f, k0, nil, "ok", obj{"exists": true, "value": 0, "version": 0, "mzxid": z(1)}, "", 300, 400)
		o := runChecker(t, h, newFinal(3).register(k0, 1000001, 1, 0x10))
		if f == "read" {
			expectValid(t, o)
		} else {
			expectAnomaly(t, o, "register", "not linearizable")
		}
	}
}

// A proc's read returns a state older than one it saw before on the same key.
func TestRegisterReadGoesBack(t *testing.T) {
	h := &hist{}
	h.write("java-1", k0, 1000001, 1, 0x10, 100, 200)
	h.read("java-2", k0, 1000001, 1, 0x10, 300, 400)
	h.read("java-2", k0, 0, 0, 0x1, 500, 600)
	o := runChecker(t, h, newFinal(3))
	expectAnomaly(t, o, "register", "went back")
	expectAnomaly(t, o, "register", "not linearizable")
}

// A proc saw zxid 0x12 on one key, then read another key's state that had been overwritten at zxid
// 0x10: its view went back. Reading in the other order, or reading the state current at 0x12, is
// fine.
func TestRegisterReadGoesBackAcrossKeys(t *testing.T) {
	build := func(firstK1 bool, k0Value int64, k0Version int64, k0Zxid int) *hist {
		h := &hist{}
		h.write("java-1", k0, 1000001, 1, 0x10, 100, 200)
		h.write("java-1", k1, 1000002, 1, 0x12, 300, 400)
		if firstK1 {
			h.read("java-2", k1, 1000002, 1, 0x12, 500, 600)
			h.read("java-2", k0, k0Value, k0Version, k0Zxid, 700, 800)
		} else {
			h.read("java-2", k0, k0Value, k0Version, k0Zxid, 500, 600)
			h.read("java-2", k1, 1000002, 1, 0x12, 700, 800)
		}
		return h
	}
	o := runChecker(t, build(true, 0, 0, 0x1), newFinal(3))
	expectAnomaly(t, o, "register", "not linearizable")
	if res := o.keyResult(k0); res["result"] != "illegal" {
		t.Fatalf("key result: %v", res)
	}
	expectValid(t, runChecker(t, build(false, 0, 0, 0x1), newFinal(3)))
	expectValid(t, runChecker(t, build(true, 1000001, 1, 0x10), newFinal(3)))
}

// Two conditional writes from the same version both succeed.
func TestRegisterTwoCasFromOneVersion(t *testing.T) {
	h := &hist{}
	h.cas("java-1", k0, 1000001, 0, 1, 0x10, 100, 200)
	h.cas("java-2", k0, 2000001, 0, 1, 0x11, 100, 200)
	expectAnomaly(t, runChecker(t, h, newFinal(3)), "register", "not linearizable")
	// One of them failing is fine.
	h = &hist{}
	h.cas("java-1", k0, 1000001, 0, 1, 0x10, 100, 200)
	h.casFail("java-2", k0, 2000001, 0, 100, 200)
	expectValid(t, runChecker(t, h, newFinal(3)))
}

// Writes whose linearization (here forced by real time) contradicts the zxids ZooKeeper returned.
func TestRegisterWriteOrderContradictsZxids(t *testing.T) {
	h := &hist{}
	h.write("java-1", k0, 1000001, 1, 0x20, 100, 200)
	h.write("java-2", k0, 2000001, 2, 0x10, 300, 400)
	o := runChecker(t, h, newFinal(3))
	expectAnomaly(t, o, "register", "write order contradicts zxids")
	expectAnomaly(t, o, "register", "not linearizable")

	// Concurrent writes: porcupine orders them by zxid, and the versions say the opposite order.
	h = &hist{}
	h.write("java-1", k0, 1000001, 2, 0x10, 100, 200)
	h.write("java-2", k0, 2000001, 1, 0x11, 100, 200)
	o = runChecker(t, h, newFinal(3))
	expectAnomaly(t, o, "register", "not linearizable")

	// Across keys only the direct check can see it.
	h = &hist{}
	h.write("java-1", k0, 1000001, 1, 0x20, 100, 200)
	h.write("java-2", k1, 2000001, 1, 0x10, 300, 400)
	expectAnomaly(t, runChecker(t, h, newFinal(3)), "register", "write order contradicts zxids")
}

// A read returns a value no op ever wrote.
func TestRegisterPhantomValue(t *testing.T) {
	h := &hist{}
	h.read("java-2", k0, 777, 1, 0x10, 100, 200)
	expectAnomaly(t, runChecker(t, h, newFinal(3)), "register", "not linearizable")
}

// Members that disagree on a register after the faults healed.
func TestRegisterFinalMembersDiffer(t *testing.T) {
	h := &hist{}
	h.write("java-1", k0, 1000001, 1, 0x10, 100, 200)
	f := newFinal(3).register(k0, 1000001, 1, 0x10)
	f.Members[2]["registers"].(obj)[k0] = obj{"exists": true, "value": 0, "version": 0, "mzxid": z(1)}
	o := runChecker(t, h, f)
	expectAnomaly(t, o, "register", "differs between member")
	expectAnomaly(t, o, "register", "not linearizable")
}

// A history porcupine cannot finish within the timeout is unknown (exit 2), never valid: a read of
// a value nobody wrote after many info writes nobody saw, each of which may or may not have
// happened, is illegal, but porcupine must try every subset and order of them to know.
func TestRegisterTimeoutIsUnknown(t *testing.T) {
	h := &hist{}
	for p := 0; p < 25; p++ {
		h.writeInfo("java-"+string(rune('a'+p)), k0, int64(p*1000000+1), int64(100+p))
	}
	h.syncRead("java-z", k0, 777, 1, 0x10, 1000, 1100)
	o := runChecker(t, h, newFinal(3), "--timeout-s", "0.3")
	if o.code != 2 || o.rep.Valid != "unknown" {
		t.Fatalf("expected unknown, got exit %d:\n%s", o.code, o)
	}
	if res := o.keyResult(k0); res["result"] != "unknown" {
		t.Fatalf("key result: %v", res)
	}
}
