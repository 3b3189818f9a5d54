package main

// Info writes that cannot have happened. An info setData whose value nobody saw changes nothing a
// read can see except the version: if it took effect, the versions of the key's writes of known
// zxid, taken in zxid order, jump by more than one around it. So where the versions leave no room
// for it (no gap between two consecutive known writes it could sit between, given its invocation),
// it did not happen in any linearization, and dropping it from the history changes no verdict
// while sparing porcupine a candidate it would otherwise try at every step of its search. Info
// deletes are kept only where the node may have been removed between known writes. Everything
// uncertain (a version unknown, a new incarnation of the node, any create nobody saw) is kept.

import "sort"

// knownPoint is a state of the key in zxid order: a write whose zxid is known.
type knownPoint struct {
	zxid     int64
	version  int64 // -1: unknown
	create   bool
	end      int64 // completion of the write
	value    int64
	hasValue bool
}

func prunableInfoWrites(ops []*Op, valueZxid map[int64]int64, finalState *regOut) map[*Op]bool {
	// A create nobody saw may have started a new incarnation anywhere, restarting the versions:
	// then the versions prove nothing.
	for _, o := range ops {
		if o.info() && o.F == "create" && writeZxid(o, valueZxid) == 0 {
			return nil
		}
	}
	// The version each value was seen with.
	valueVersion := map[int64]int64{}
	for _, o := range ops {
		if obs, ok := observation(o); ok && isRegisterRead(o) && obs.exists {
			valueVersion[obs.value] = obs.version
		}
	}
	points := []knownPoint{{zxid: 0, version: 0, end: timeMinInf, value: 0, hasValue: true}} // the initial state
	for _, o := range ops {
		if !isRegisterWrite(o) || o.F == "delete" {
			continue
		}
		z := writeZxid(o, valueZxid)
		if z == 0 {
			continue
		}
		p := knownPoint{zxid: z, version: -1, create: o.F == "create", end: o.end(), value: o.In.Value.V, hasValue: true}
		switch {
		case p.create:
			p.version = 0
		case o.ok():
			p.version = o.Out.Version.V
		default:
			if v, ok := valueVersion[o.In.Value.V]; ok {
				p.version = v
			}
		}
		points = append(points, p)
	}
	sort.Slice(points, func(i, j int) bool { return points[i].zxid < points[j].zxid })

	// Each interval between consecutive points: what may have happened in it.
	type interval struct {
		end         int64 // completion of the write closing it (timeInf for the last)
		lo, hi      int64 // versions an unseen setData may have found there: [lo, hi]
		anySet      bool  // unknown versions: any setData may fit
		mayDelete   bool
		noSetDataAt bool
	}
	var intervals []interval
	for i := 0; i+1 < len(points); i++ {
		a, b := points[i], points[i+1]
		iv := interval{end: b.end}
		switch {
		case a.version < 0 || b.version < 0:
			iv.anySet, iv.mayDelete = true, true
		case b.create:
			// A new incarnation: deleted in between, with any number of setData before.
			iv.anySet, iv.mayDelete = true, true
		case b.version <= a.version:
			iv.anySet, iv.mayDelete = true, true
		case b.version >= a.version+2:
			iv.lo, iv.hi = a.version, b.version-2
		default:
			iv.noSetDataAt = true
		}
		intervals = append(intervals, iv)
	}
	// After the last known write: nothing happened if the final state is exactly its state.
	last := points[len(points)-1]
	tail := interval{end: timeInf, anySet: true, mayDelete: true}
	if finalState != nil && last.version >= 0 && finalState.exists && last.hasValue &&
		finalState.value == last.value && finalState.version == last.version {
		tail = interval{end: timeInf, noSetDataAt: true}
	}
	intervals = append(intervals, tail)

	drop := map[*Op]bool{}
	for _, o := range ops {
		if !o.info() || !isRegisterWrite(o) || o.F == "create" {
			continue
		}
		if o.F != "delete" && writeZxid(o, valueZxid) != 0 {
			continue // seen: it happened
		}
		if o.F != "delete" {
			if _, seen := valueVersion[o.In.Value.V]; seen {
				continue
			}
		}
		fits := false
		for _, iv := range intervals {
			if o.start() > iv.end {
				continue // it was invoked after the write closing the interval completed
			}
			switch {
			case o.F == "delete":
				fits = iv.mayDelete
			case iv.anySet:
				fits = true
			case iv.noSetDataAt:
			case o.F == "cas":
				e := o.In.ExpectedVersion.V
				fits = e >= iv.lo && e <= iv.hi
			default:
				fits = true
			}
			if fits {
				break
			}
		}
		if !fits {
			drop[o] = true
		}
	}
	return drop
}
