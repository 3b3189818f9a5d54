package main

// The seq check: unique ids from sequential znodes. No name is returned to two creates; creates
// that did not overlap get names in real-time order (the sequence number is the parent's cversion,
// which grows in zxid order); and since nothing under /faults/seq is deleted, every member's final
// children are exactly n-0000000000 … n-(k-1) with no gap, hold every acknowledged create, and
// hold at most as many others as there were creates of unknown outcome.

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

const (
	seqPrefix = "n-"
	// gapsListedMax bounds the missing numbers named in one anomaly.
	gapsListedMax = 20
)

// seqNumber is the sequence number of a child name ("n-0000000012" -> 12), -1 when malformed.
func seqNumber(name string) int64 {
	base := path.Base(name)
	if !strings.HasPrefix(base, seqPrefix) {
		return -1
	}
	digits := base[len(seqPrefix):]
	if len(digits) != 10 {
		return -1
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func checkSeq(in *input, r *report) {
	c := r.Checks["seq"]
	var acked []*Op
	infos := 0
	for _, o := range in.ops {
		if o.Wl != "seq" {
			continue
		}
		c.count(o)
		if o.F != "seq-create" {
			continue
		}
		switch {
		case o.ok():
			if seqNumber(o.Out.Name) < 0 {
				r.addf("seq", []*Op{o}, "create returned a malformed sequential name %q", o.Out.Name)
				continue
			}
			acked = append(acked, o)
		case o.info():
			infos++
		}
	}

	byName := map[string]*Op{}
	for _, o := range acked {
		name := path.Base(o.Out.Name)
		if prev, dup := byName[name]; dup {
			r.addf("seq", []*Op{prev, o}, "name %s returned to two creates", name)
			continue
		}
		byName[name] = o
	}

	// Real-time order: a create that completed before another was invoked has the lower number.
	byEnd := append([]*Op(nil), acked...)
	sort.SliceStable(byEnd, func(i, j int) bool { return byEnd[i].end() < byEnd[j].end() })
	byStart := append([]*Op(nil), acked...)
	sort.SliceStable(byStart, func(i, j int) bool { return byStart[i].start() < byStart[j].start() })
	var maxDone *Op
	next := 0
	for _, b := range byStart {
		for next < len(byEnd) && byEnd[next].end() < b.start() {
			if maxDone == nil || seqNumber(byEnd[next].Out.Name) > seqNumber(maxDone.Out.Name) {
				maxDone = byEnd[next]
			}
			next++
		}
		if maxDone != nil && seqNumber(maxDone.Out.Name) >= seqNumber(b.Out.Name) {
			r.addf("seq", []*Op{maxDone, b}, "sequential names contradict real time: %s completed before %s was invoked",
				path.Base(maxDone.Out.Name), path.Base(b.Out.Name))
		}
	}

	if in.final == nil {
		return
	}
	var firstSet map[string]bool
	var firstMember string
	for _, m := range in.final.Members {
		set := map[string]bool{}
		var nums []int64
		for _, child := range m.SeqChildren {
			n := seqNumber(child)
			if n < 0 {
				r.addRefs("seq", fmt.Sprintf("member %s has a malformed child %q under /faults/seq", m.name(), child), nil)
				continue
			}
			set[path.Base(child)] = true
			nums = append(nums, n)
		}
		sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
		var missing []string
		missingCount := 0
		want := int64(0)
		for _, n := range nums {
			for ; want < n; want++ {
				missingCount++
				if len(missing) < gapsListedMax {
					missing = append(missing, fmt.Sprintf("%s%010d", seqPrefix, want))
				}
			}
			want = n + 1
		}
		if missingCount > 0 {
			r.addRefs("seq", fmt.Sprintf("gap among the committed creates on member %s: %d missing (%s)",
				m.name(), missingCount, strings.Join(missing, ", ")), nil)
		}
		extra := 0
		for name := range set {
			if byName[name] == nil {
				extra++
			}
		}
		if extra > infos {
			r.addRefs("seq", fmt.Sprintf("member %s has %d children no acknowledged create returned, but only %d creates had an unknown outcome",
				m.name(), extra, infos), nil)
		}
		for _, o := range acked {
			if !set[path.Base(o.Out.Name)] {
				r.addf("seq", []*Op{o}, "acknowledged create %s is missing on member %s", path.Base(o.Out.Name), m.name())
			}
		}
		if firstSet == nil {
			firstSet, firstMember = set, m.name()
			continue
		}
		differ := len(set) != len(firstSet)
		for name := range set {
			if !firstSet[name] {
				differ = true
			}
		}
		if differ {
			r.addRefs("seq", fmt.Sprintf("members %s and %s hold different children under /faults/seq (%d and %d)",
				firstMember, m.name(), len(firstSet), len(set)), nil)
		}
	}
}
