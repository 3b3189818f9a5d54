package main

import "testing"

const watcher = "java-w1"

func (h *hist) event(typ, path string, zx int, t int64) {
	zv := any(nil)
	if zx != 0 {
		zv = z(zx)
	}
	h.op(watcher, "watch", "event", "", nil, "ok", obj{"type": typ, "path": path, "zxid": zv}, "", t, t)
}

func (h *hist) state(s string, t int64) {
	h.op(watcher, "watch", "state", "", nil, "ok", obj{"state": s}, "", t, t)
}

// watchHistory: writes on /faults/reg/0 and /faults/reg/1 (a delete and a create among them, an
// info write a read saw and one only the watcher saw), and the watcher's events, each followed by
// a read of the path. edit changes the watcher's part.
type watchEdit struct {
	skip       map[int]bool // events to leave out, by zxid
	dup        int          // an event delivered twice, by zxid
	swap       bool         // the events at 0x11 and 0x13 arrive in the other order
	staleRead  bool         // the read after the event at 0x11 returns the state at 0x10
	phantom    bool         // an extra event at a zxid no write has
	disconnect bool         // the watcher is disconnected between 0x10 and 0x13
}

func watchHistory(e watchEdit) *hist {
	h := &hist{}
	h.write("java-1", k0, 1000001, 1, 0x10, 100, 200)
	h.write("java-1", k0, 1000002, 2, 0x11, 300, 400)
	h.op("java-2", "register", "delete", k1, obj{"expectedVersion": -1}, "ok", obj{}, "", 500, 600)
	h.op("java-2", "register", "create", k1, obj{"value": 2000001}, "ok", obj{"mzxid": z(0x13)}, "", 700, 800)
	h.writeInfo("java-1", k0, 1000003, 900)
	h.writeInfo("java-3", k0, 3000001, 900)
	h.syncRead("java-2", k0, 1000003, 3, 0x14, 1000, 1100)

	h.state("SyncConnected", 50)
	ev := func(typ, path string, zx int, t int64) {
		if e.skip[zx] {
			return
		}
		h.event(typ, path, zx, t)
		if e.dup == zx {
			h.event(typ, path, zx, t+1)
		}
	}
	ev("NodeDataChanged", k0, 0x10, 210)
	h.read(watcher, k0, 1000001, 1, 0x10, 220, 230)
	if e.disconnect {
		h.state("Disconnected", 240)
		h.state("SyncConnected", 700)
	}
	t11, t13 := int64(410), int64(810)
	if e.swap {
		t11, t13 = 810, 410
	}
	if !e.disconnect {
		ev("NodeDataChanged", k0, 0x11, t11)
		if e.staleRead {
			h.read(watcher, k0, 1000001, 1, 0x10, t11+10, t11+20)
		} else {
			h.read(watcher, k0, 1000002, 2, 0x11, t11+10, t11+20)
		}
		ev("NodeDeleted", k1, 0x12, 610)
	}
	ev("NodeCreated", k1, 0x13, t13)
	h.read(watcher, k1, 2000001, 0, 0x13, t13+10, t13+20)
	ev("NodeDataChanged", k0, 0x14, 1200)
	ev("NodeDataChanged", k0, 0x15, 1210) // the info write of 3000001, which no read saw
	if e.phantom {
		ev("NodeDataChanged", k0, 0x16, 1220)
	}
	return h
}

func TestWatchValid(t *testing.T) {
	o := runChecker(t, watchHistory(watchEdit{}), newFinal(3))
	expectValid(t, o)
	if w := o.rep.Checks["watch"]; w["ops"] != float64(7) || w["ok"] != float64(7) {
		t.Fatalf("counts %v", w)
	}
	// While disconnected the watcher may miss events.
	expectValid(t, runChecker(t, watchHistory(watchEdit{disconnect: true}), newFinal(3)))
	// Events without zxids (kazoo, or -1 from the Java client) are accepted and checked for nothing
	// zxid-based; so are event types that no register write makes.
	h := watchHistory(watchEdit{})
	h.event("NodeDataChanged", k0, 0, 1300)
	h.op(watcher, "watch", "event", "", nil, "ok", obj{"type": "NodeDataChanged", "path": k0, "zxid": "0xffffffffffffffff"}, "", 1310, 1310)
	h.op(watcher, "watch", "event", "", nil, "ok", obj{"type": "NodeChildrenChanged", "path": "/faults/reg", "zxid": z(0x15)}, "", 1320, 1320)
	expectValid(t, runChecker(t, h, newFinal(3)))
}

func TestWatchMissedEvent(t *testing.T) {
	o := runChecker(t, watchHistory(watchEdit{skip: map[int]bool{0x11: true}}), newFinal(3))
	expectAnomaly(t, o, "watch", "write of /faults/reg/0 at zxid 0x100000011 was not notified")
}

func TestWatchMissedDelete(t *testing.T) {
	o := runChecker(t, watchHistory(watchEdit{skip: map[int]bool{0x12: true}}), newFinal(3))
	expectAnomaly(t, o, "watch", "delete of /faults/reg/1")
}

func TestWatchDuplicatedEvent(t *testing.T) {
	o := runChecker(t, watchHistory(watchEdit{dup: 0x11}), newFinal(3))
	expectAnomaly(t, o, "watch", "delivered twice")
}

func TestWatchOutOfOrder(t *testing.T) {
	o := runChecker(t, watchHistory(watchEdit{swap: true}), newFinal(3))
	expectAnomaly(t, o, "watch", "out of zxid order")
}

func TestWatchStaleReadAfterEvent(t *testing.T) {
	o := runChecker(t, watchHistory(watchEdit{staleRead: true}), newFinal(3))
	expectAnomaly(t, o, "watch", "stale read after event")
	// The event raised the watcher's floor, so the register model rejects the read too.
	expectAnomaly(t, o, "register", "not linearizable")
}

func TestWatchEventOfNoWrite(t *testing.T) {
	o := runChecker(t, watchHistory(watchEdit{phantom: true}), newFinal(3))
	expectAnomaly(t, o, "watch", "matches no write")
}
