package main

// The watch check: a persistent recursive watch on /faults/reg, per watcher session.
//   - Each event's zxid is the zxid of a write of the event's kind on the event's path that some op
//     performed: a write whose zxid is known (its reply, or a read of its value), or else one of the
//     writes whose zxid is unknown (an info write, a delete) and whose zxid can be that one (the
//     acknowledged writes around it bound it); each such write explains one zxid.
//   - While the session stays connected (between state lines) events arrive in zxid order (events
//     of one transaction share its zxid).
//   - No event is delivered twice to a session.
//   - Every write with a known zxid between the first and the last event zxid of a connected stretch
//     is notified in that stretch (a delete: when the bounds of its zxid lie inside the stretch).
//     Outside that window the server may not have had the watch yet, or the connection was lost.
//   - The read of the path the watcher does after an event returns mzxid >= the event's zxid.
// Events without a zxid (kazoo's) take part in none of the zxid checks.

import (
	"sort"
	"strings"
)

const watchedPrefix = "/faults/reg"

type writeKind uint8

const (
	writeData writeKind = iota
	writeCreate
	writeDelete
)

var eventWriteKind = map[string]writeKind{
	"NodeDataChanged": writeData, "NodeCreated": writeCreate, "NodeDeleted": writeDelete,
}

func registerWriteKind(o *Op) writeKind {
	switch o.F {
	case "create":
		return writeCreate
	case "delete":
		return writeDelete
	}
	return writeData
}

type knownWrite struct {
	op   *Op
	zxid int64
}

// watchSegment is a connected stretch of one watcher session.
type watchSegment struct {
	proc, session string
	events        []*Op
}

func checkWatch(in *input, r *report, writes *writeIndex) {
	c := r.Checks["watch"]
	var lines []*Op
	for _, o := range in.ops {
		if o.Wl != "watch" {
			continue
		}
		c.count(o)
		if o.F == "event" || o.F == "state" {
			lines = append(lines, o)
		}
	}
	if len(lines) == 0 {
		return
	}

	// Writes on watched paths, with their zxid when it is known.
	byKey := map[string][]*Op{}
	for _, o := range in.ops {
		if isRegisterOp(o) {
			byKey[o.Key] = append(byKey[o.Key], o)
		}
	}
	known := map[int64]knownWrite{}
	var knownSorted []knownWrite
	var unknownZxid []*Op // writes that may have happened and whose zxid nobody reported
	for _, kops := range byKey {
		vz := keyValueZxids(kops)
		for _, o := range kops {
			if !isRegisterWrite(o) || o.fail() {
				continue
			}
			if z := writeZxid(o, vz); z != 0 {
				if _, dup := known[z]; !dup {
					known[z] = knownWrite{o, z}
					knownSorted = append(knownSorted, knownWrite{o, z})
				}
				continue
			}
			unknownZxid = append(unknownZxid, o)
		}
	}
	sort.Slice(knownSorted, func(i, j int) bool { return knownSorted[i].zxid < knownSorted[j].zxid })

	segments := watchSegments(lines)

	// Events that name a write.
	type eventKey struct {
		path string
		kind writeKind
		zxid int64
	}
	unexplained := map[eventKey][]*Op{}
	for _, seg := range segments {
		for _, e := range seg.events {
			z := int64(e.Out.Zxid)
			kind, known1 := eventWriteKind[e.Out.Type]
			if !known1 {
				continue // NodeChildrenChanged and the like: no write of a register to match
			}
			if z == 0 {
				continue
			}
			if !strings.HasPrefix(e.Out.Path, watchedPrefix+"/") {
				r.addf("watch", []*Op{e}, "event for %s, outside the watched %s", e.Out.Path, watchedPrefix)
				continue
			}
			if w, ok := known[z]; ok {
				if w.op.Key != e.Out.Path || registerWriteKind(w.op) != kind {
					r.addf("watch", []*Op{w.op, e}, "event %s on %s at zxid %s, but that zxid is a %s of %s",
						e.Out.Type, e.Out.Path, zxid(z), w.op.F, w.op.Key)
				}
				continue
			}
			k := eventKey{e.Out.Path, kind, z}
			unexplained[k] = append(unexplained[k], e)
		}
	}
	// Match each unexplained zxid to a distinct write of unknown zxid that can have it.
	keys := make([]eventKey, 0, len(unexplained))
	for k := range unexplained {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].zxid < keys[j].zxid })
	candidates := make([][]int, len(keys))
	for i, k := range keys {
		earliest := timeInf
		for _, e := range unexplained[k] {
			earliest = min(earliest, e.start())
		}
		for j, w := range unknownZxid {
			if w.Key != k.path || registerWriteKind(w) != k.kind || w.start() > earliest {
				continue
			}
			lo, hi := writes.zxidBounds(w)
			if lo < k.zxid && k.zxid < hi {
				candidates[i] = append(candidates[i], j)
			}
		}
	}
	matched := bipartiteMatch(candidates, len(unknownZxid))
	for i, k := range keys {
		if matched[i] < 0 {
			r.addf("watch", unexplained[k], "event %s on %s at zxid %s matches no write any op performed",
				eventTypeName(k.kind), k.path, zxid(k.zxid))
		}
	}

	// Order, duplicates and missed notifications.
	seenInSession := map[string]map[[2]string]*Op{}
	for _, seg := range segments {
		sk := seg.proc + "\x00" + seg.session
		if seenInSession[sk] == nil {
			seenInSession[sk] = map[[2]string]*Op{}
		}
		seen := seenInSession[sk]
		var last *Op
		lo, hi := int64(0), int64(0)
		inSegment := map[int64]*Op{}
		for _, e := range seg.events {
			z := int64(e.Out.Zxid)
			if z == 0 {
				continue
			}
			id := [2]string{e.Out.Path, zxid(z).String()}
			if prev, dup := seen[id]; dup {
				r.addf("watch", []*Op{prev, e}, "event at zxid %s on %s delivered twice to session %s of %s",
					zxid(z), e.Out.Path, seg.session, seg.proc)
				continue
			}
			seen[id] = e
			// One transaction can fire several events (a create: NodeCreated on the node,
			// NodeChildrenChanged on its parent), all with its zxid.
			if last != nil && int64(last.Out.Zxid) > z {
				r.addf("watch", []*Op{last, e}, "events out of zxid order: %s after %s", zxid(z), zxid(last.Out.Zxid))
			}
			last = e
			inSegment[z] = e
			if lo == 0 || z < lo {
				lo = z
			}
			if z > hi {
				hi = z
			}
		}
		if lo == 0 {
			continue
		}
		from := sort.Search(len(knownSorted), func(i int) bool { return knownSorted[i].zxid >= lo })
		for _, w := range knownSorted[from:] {
			if w.zxid > hi {
				break
			}
			if !strings.HasPrefix(w.op.Key, watchedPrefix+"/") {
				continue
			}
			if _, ok := inSegment[w.zxid]; !ok {
				r.addf("watch", []*Op{w.op}, "%s of %s at zxid %s was not notified to %s (session %s), connected from zxid %s to %s",
					w.op.F, w.op.Key, zxid(w.zxid), seg.proc, seg.session, zxid(lo), zxid(hi))
			}
		}
		for _, d := range unknownZxid {
			if d.F != "delete" || !d.ok() {
				continue
			}
			dlo, dhi := writes.zxidBounds(d)
			if dlo < lo || dhi > hi {
				continue
			}
			notified := false
			for z, e := range inSegment {
				if z > dlo && z < dhi && e.Out.Type == "NodeDeleted" && e.Out.Path == d.Key {
					notified = true
				}
			}
			if !notified {
				r.addf("watch", []*Op{d}, "delete of %s (zxid between %s and %s) was not notified to %s (session %s), connected from zxid %s to %s",
					d.Key, zxid(dlo), zxid(dhi), seg.proc, seg.session, zxid(lo), zxid(hi))
			}
		}
	}

	checkReadsAfterEvents(in.ops, segments, r)
}

func eventTypeName(k writeKind) string {
	for name, kind := range eventWriteKind {
		if kind == k {
			return name
		}
	}
	return "?"
}

// watchSegments splits each watcher session's events at its state lines.
func watchSegments(lines []*Op) []*watchSegment {
	type lane struct{ proc, session string }
	lanes := map[lane][]*Op{}
	var order []lane
	for _, o := range lines {
		l := lane{o.Proc, o.session()}
		if _, ok := lanes[l]; !ok {
			order = append(order, l)
		}
		lanes[l] = append(lanes[l], o)
	}
	var out []*watchSegment
	for _, l := range order {
		ls := lanes[l]
		sort.SliceStable(ls, func(i, j int) bool { return ls[i].start() < ls[j].start() })
		seg := &watchSegment{proc: l.proc, session: l.session}
		for _, o := range ls {
			if o.F == "state" {
				if len(seg.events) > 0 {
					out = append(out, seg)
				}
				seg = &watchSegment{proc: l.proc, session: l.session}
				continue
			}
			if o.ok() {
				seg.events = append(seg.events, o)
			}
		}
		if len(seg.events) > 0 {
			out = append(out, seg)
		}
	}
	return out
}

// checkReadsAfterEvents: the watcher's first read of the path after an event is not older than the
// event.
func checkReadsAfterEvents(ops []*Op, segments []*watchSegment, r *report) {
	type lane struct{ proc, key string }
	reads := map[lane][]*Op{}
	for _, o := range ops {
		if isRegisterRead(o) {
			l := lane{o.Proc, o.Key}
			reads[l] = append(reads[l], o)
		}
	}
	for _, rs := range reads {
		sort.SliceStable(rs, func(i, j int) bool { return rs[i].start() < rs[j].start() })
	}
	for _, seg := range segments {
		for _, e := range seg.events {
			z := int64(e.Out.Zxid)
			if z == 0 {
				continue
			}
			rs := reads[lane{seg.proc, e.Out.Path}]
			i := sort.Search(len(rs), func(i int) bool { return rs[i].start() >= e.end() })
			for ; i < len(rs); i++ {
				rd := rs[i]
				if seg.session != "" && rd.session() != "" && rd.session() != seg.session {
					break
				}
				obs, ok := observation(rd)
				if !ok {
					continue
				}
				if obs.exists && obs.mzxid != 0 && obs.mzxid < z {
					r.addf("watch", []*Op{e, rd}, "stale read after event: %s returned mzxid %s after an event at zxid %s",
						rd.Key, zxid(obs.mzxid), zxid(z))
				}
				break
			}
		}
	}
}

// bipartiteMatch matches each left vertex to a distinct right vertex among its candidates, as many
// as possible (augmenting paths); -1 for a left vertex left unmatched.
func bipartiteMatch(candidates [][]int, rightCount int) []int {
	matchLeft := make([]int, len(candidates))
	matchRight := make([]int, rightCount)
	for i := range matchLeft {
		matchLeft[i] = -1
	}
	for j := range matchRight {
		matchRight[j] = -1
	}
	var try func(i int, visited []bool) bool
	try = func(i int, visited []bool) bool {
		for _, j := range candidates[i] {
			if visited[j] {
				continue
			}
			visited[j] = true
			if matchRight[j] < 0 || try(matchRight[j], visited) {
				matchLeft[i], matchRight[j] = j, i
				return true
			}
		}
		return false
	}
	for i := range candidates {
		try(i, make([]bool, rightCount))
	}
	return matchLeft
}
