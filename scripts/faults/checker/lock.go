package main

// The lock check: the holding intervals of one lock path never overlap. A proc holds from its
// acquire's completion to the first release invoked or loss noticed after it
// ([acquire.t1, min(release.t0, lost.t0)]); a hold that never ends lasts to the end of time. Each
// such interval lies inside the time the holder really held the lock, so an overlap is a real
// double grant.

import (
	"sort"
	"strings"
)

type holdInterval struct {
	start, end int64
	acquire    *Op
	release    *Op // nil while still held at the end of the history
}

// lockPath is the lock an op is about: its key, else the lock of its workload process
// ("java-3" -> /faults/lock/java).
func lockPath(o *Op) string {
	if o.Key != "" {
		return o.Key
	}
	prefix := o.Proc
	if i := strings.LastIndexByte(prefix, '-'); i > 0 {
		prefix = prefix[:i]
	}
	return "/faults/lock/" + prefix
}

func holdIntervals(ops []*Op) map[string][]holdInterval {
	type lane struct{ proc, path string }
	lanes := map[lane][]*Op{}
	for _, o := range ops {
		l := lane{o.Proc, lockPath(o)}
		lanes[l] = append(lanes[l], o)
	}
	out := map[string][]holdInterval{}
	for l, lops := range lanes {
		sort.SliceStable(lops, func(i, j int) bool { return lops[i].start() < lops[j].start() })
		var open *holdInterval
		for _, o := range lops {
			switch o.F {
			case "acquire":
				if o.ok() && open == nil {
					open = &holdInterval{start: o.end(), end: timeInf, acquire: o}
				}
			case "release", "lost":
				if open != nil && o.start() >= open.start {
					open.end = o.start()
					open.release = o
					out[l.path] = append(out[l.path], *open)
					open = nil
				}
			}
		}
		if open != nil {
			out[l.path] = append(out[l.path], *open)
		}
	}
	return out
}

func checkLock(in *input, r *report) {
	c := r.Checks["lock"]
	var ops []*Op
	for _, o := range in.ops {
		if o.Wl == "lock" {
			c.count(o)
			ops = append(ops, o)
		}
	}
	for path, hs := range holdIntervals(ops) {
		sort.SliceStable(hs, func(i, j int) bool { return hs[i].start < hs[j].start })
		var longest *holdInterval
		for i := range hs {
			h := &hs[i]
			if longest != nil && h.start < longest.end {
				r.addf("lock", []*Op{longest.acquire, longest.release, h.acquire},
					"two holders of %s at once: %s acquired it while %s still held it", path,
					h.acquire.Proc, longest.acquire.Proc)
			}
			if longest == nil || h.end > longest.end {
				longest = h
			}
		}
	}
}
