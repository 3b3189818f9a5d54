package main

// Acknowledged writes that carry the zxid ZooKeeper gave them, across all keys: their zxids must
// follow real time (a write that completed before another was invoked was committed before that
// one was proposed), and they bound the zxid of writes whose zxid is unknown.

import (
	"sort"
)

type zxidWrite struct {
	op   *Op
	zxid int64
}

type writeIndex struct {
	byEnd   []zxidWrite // sorted by t1
	byStart []zxidWrite // sorted by t0
	// prefixMax[i]: the write of highest zxid among byEnd[0..i]; suffixMin[i]: the lowest among
	// byStart[i..].
	prefixMax []zxidWrite
	suffixMin []zxidWrite
}

func newWriteIndex(ws []zxidWrite) *writeIndex {
	ix := &writeIndex{
		byEnd:   append([]zxidWrite(nil), ws...),
		byStart: append([]zxidWrite(nil), ws...),
	}
	sort.SliceStable(ix.byEnd, func(i, j int) bool { return ix.byEnd[i].op.end() < ix.byEnd[j].op.end() })
	sort.SliceStable(ix.byStart, func(i, j int) bool { return ix.byStart[i].op.start() < ix.byStart[j].op.start() })
	ix.prefixMax = make([]zxidWrite, len(ws))
	for i, w := range ix.byEnd {
		if i == 0 || w.zxid > ix.prefixMax[i-1].zxid {
			ix.prefixMax[i] = w
		} else {
			ix.prefixMax[i] = ix.prefixMax[i-1]
		}
	}
	ix.suffixMin = make([]zxidWrite, len(ws))
	for i := len(ix.byStart) - 1; i >= 0; i-- {
		w := ix.byStart[i]
		if i == len(ix.byStart)-1 || w.zxid < ix.suffixMin[i+1].zxid {
			ix.suffixMin[i] = w
		} else {
			ix.suffixMin[i] = ix.suffixMin[i+1]
		}
	}
	return ix
}

// maxBefore is the acknowledged write of highest zxid that completed strictly before t (nil: none).
func (ix *writeIndex) maxBefore(t int64) *zxidWrite {
	n := sort.Search(len(ix.byEnd), func(i int) bool { return ix.byEnd[i].op.end() >= t })
	if n == 0 {
		return nil
	}
	return &ix.prefixMax[n-1]
}

// minAfter is the acknowledged write of lowest zxid invoked strictly after t (nil: none).
func (ix *writeIndex) minAfter(t int64) *zxidWrite {
	if t == timeInf {
		return nil
	}
	n := sort.Search(len(ix.byStart), func(i int) bool { return ix.byStart[i].op.start() > t })
	if n == len(ix.byStart) {
		return nil
	}
	return &ix.suffixMin[n]
}

// zxidBounds is the open interval a write's zxid lies in, from the acknowledged writes around it.
func (ix *writeIndex) zxidBounds(o *Op) (lo, hi int64) {
	lo, hi = 0, timeInf
	if w := ix.maxBefore(o.start()); w != nil {
		lo = w.zxid
	}
	if o.ok() {
		if w := ix.minAfter(o.end()); w != nil {
			hi = w.zxid
		}
	}
	return lo, hi
}

// checkOrder reports acknowledged writes whose zxids contradict real time, and zxids given to two
// writes.
func (ix *writeIndex) checkOrder(r *report, check string) {
	for _, b := range ix.byStart {
		if a := ix.maxBefore(b.op.start()); a != nil && a.zxid >= b.zxid {
			r.addf(check, []*Op{a.op, b.op},
				"write order contradicts zxids: a write with zxid %s completed before a write with zxid %s was invoked",
				zxid(a.zxid), zxid(b.zxid))
		}
	}
	seen := map[int64]*Op{}
	for _, w := range ix.byStart {
		if prev, dup := seen[w.zxid]; dup {
			r.addf(check, []*Op{prev, w.op}, "two acknowledged writes were given zxid %s", zxid(w.zxid))
			continue
		}
		seen[w.zxid] = w.op
	}
}
