package main

// The register check: each /faults/reg/* key's history against the ZooKeeper model (regmodel.go)
// with porcupine, plus the direct checks that name an anomaly precisely (a proc's read going back on
// a key, write order against zxids, final registers that differ between members).

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/anishathalye/porcupine"
)

const registerPrefix = "/faults/reg/"

var registerFs = map[string]regKind{
	"read": regRead, "sync-read": regSyncRead, "write": regWrite, "cas": regCas,
	"create": regCreate, "delete": regDelete,
}

func isRegisterOp(o *Op) bool {
	_, known := registerFs[o.F]
	return known && strings.HasPrefix(o.Key, registerPrefix)
}

func isRegisterRead(o *Op) bool {
	return isRegisterOp(o) && (o.F == "read" || o.F == "sync-read")
}

func isRegisterWrite(o *Op) bool {
	return isRegisterOp(o) && !(o.F == "read" || o.F == "sync-read")
}

// observation is what a register read saw, if it saw anything: an ok read, or a read that failed
// with NONODE (which is "no node").
func observation(o *Op) (regOut, bool) {
	switch {
	case o.ok():
		if o.Out.Exists == nil || !*o.Out.Exists {
			return regOut{ok: true}, true
		}
		return regOut{ok: true, exists: true, value: o.Out.Value.V, version: o.Out.Version.V,
			mzxid: int64(o.Out.Mzxid)}, true
	case o.fail() && o.errCode() == "NONODE":
		return regOut{ok: true}, true
	}
	return regOut{}, false
}

// ackedZxid is the zxid an acknowledged register write was given (0: none reported).
func ackedZxid(o *Op) int64 {
	if !o.ok() || !isRegisterWrite(o) || o.F == "delete" {
		return 0
	}
	return int64(o.Out.Mzxid)
}

// observedZxid is the zxid an ok op showed its proc (0: none): the mzxid of what a read returned,
// the zxid of an acknowledged write, the zxid of a watch event.
func observedZxid(o *Op) int64 {
	if isRegisterRead(o) {
		if obs, ok := observation(o); ok && obs.exists {
			return obs.mzxid
		}
		return 0
	}
	if isRegisterWrite(o) {
		return ackedZxid(o)
	}
	if o.Wl == "watch" && o.F == "event" && o.ok() {
		return int64(o.Out.Zxid)
	}
	return 0
}

// readFloors gives every register read the highest zxid its proc had observed, on any key, before
// the read was invoked (global), and on the read's own key (perKey), with the op that showed it.
type floor struct {
	zxid int64
	op   *Op
}

func readFloors(ops []*Op) (global, perKey map[*Op]floor) {
	global = map[*Op]floor{}
	perKey = map[*Op]floor{}
	byProc := map[string][]*Op{}
	for _, o := range ops {
		if isRegisterOp(o) || (o.Wl == "watch" && o.F == "event") {
			byProc[o.Proc] = append(byProc[o.Proc], o)
		}
	}
	for _, pops := range byProc {
		var seen []*Op // ops that showed a zxid, by completion time
		for _, o := range pops {
			if observedZxid(o) != 0 {
				seen = append(seen, o)
			}
		}
		sort.SliceStable(seen, func(i, j int) bool { return seen[i].end() < seen[j].end() })
		reads := []*Op{}
		for _, o := range pops {
			if isRegisterRead(o) {
				reads = append(reads, o)
			}
		}
		sort.SliceStable(reads, func(i, j int) bool { return reads[i].start() < reads[j].start() })
		var g floor
		k := map[string]floor{}
		next := 0
		for _, rd := range reads {
			for next < len(seen) && seen[next].end() <= rd.start() {
				s := seen[next]
				next++
				if s == rd {
					continue
				}
				z := observedZxid(s)
				if z > g.zxid {
					g = floor{z, s}
				}
				if isRegisterOp(s) && z > k[s.Key].zxid {
					k[s.Key] = floor{z, s}
				}
			}
			global[rd] = g
			perKey[rd] = k[rd.Key]
		}
	}
	return global, perKey
}

// registerHistory is one key's history, ready for porcupine.
type registerHistory struct {
	key string
	ops []porcupine.Operation
	// reduced is ops without the info writes nobody saw take effect.
	reduced []porcupine.Operation
	init    regState
	// pruned counts the info writes left out because they cannot have happened.
	pruned int
}

func checkRegister(in *input, r *report, writes *writeIndex) {
	c := r.Checks["register"]
	var regOps []*Op
	for _, o := range in.ops {
		if o.Wl == "register" {
			c.count(o)
		}
		if isRegisterOp(o) {
			regOps = append(regOps, o)
		}
	}
	writes.checkOrder(r, "register")

	global, perKey := readFloors(in.ops)
	for _, o := range regOps {
		f, has := perKey[o]
		obs, ok := observation(o)
		if has && ok && obs.exists && obs.mzxid != 0 && obs.mzxid < f.zxid {
			r.addf("register", []*Op{f.op, o},
				"%s went back on %s: it returned mzxid %s after its proc had seen mzxid %s there",
				o.F, o.Key, zxid(obs.mzxid), zxid(f.zxid))
		}
	}
	checkFinalRegisters(in, r)

	histories := buildRegisterHistories(in, regOps, global)
	c.Keys = map[string]*porcupineResult{}
	results := make([]*porcupineResult, len(histories))
	var wg sync.WaitGroup
	for i, h := range histories {
		wg.Add(1)
		go func(i int, h *registerHistory) {
			defer wg.Done()
			results[i] = runPorcupine(regModel(h.init), h.ops, h.reduced, in.timeout, in.outDir,
				"register-"+fileName(h.key)+".html")
		}(i, h)
	}
	wg.Wait()
	for i, h := range histories {
		res := results[i]
		res.InfoPruned = h.pruned
		c.Keys[h.key] = res
		if res.Visualization != "" {
			c.Visualization = append(c.Visualization, res.Visualization)
		}
		switch res.Result {
		case resultIllegal:
			what := fmt.Sprintf("the history of %s is not linearizable under the ZooKeeper model", h.key)
			if res.Visualization != "" {
				what += " (see " + res.Visualization + ")"
			}
			r.addRefs("register", what, nil)
		case resultUnknown:
			r.unknown("register")
		}
	}
}

func regModel(init regState) porcupine.Model {
	return porcupine.Model{
		Init:                      func() interface{} { return init },
		Step:                      regStep,
		Hash:                      regHash,
		DescribeOperation:         regDescribeOp,
		DescribeState:             regDescribeState,
		DescribeOperationMetadata: describeMetadata,
	}
}

// historyTimes is the earliest and latest time in the history.
func historyTimes(ops []*Op) (lo, hi int64) {
	lo, hi = timeInf, timeMinInf
	for _, o := range ops {
		if o.start() < lo {
			lo = o.start()
		}
		if o.start() > hi {
			hi = o.start()
		}
		if e := o.end(); e != timeInf && e > hi {
			hi = e
		}
	}
	if lo == timeInf {
		lo, hi = 0, 0
	}
	return lo, hi
}

func buildRegisterHistories(in *input, regOps []*Op, floors map[*Op]floor) []*registerHistory {
	tMin, tMax := historyTimes(in.ops)
	byKey := map[string][]*Op{}
	for _, o := range regOps {
		byKey[o.Key] = append(byKey[o.Key], o)
	}
	hasFinal := false
	for _, o := range regOps {
		if strings.HasPrefix(o.Proc, "final-") {
			hasFinal = true
		}
	}
	if !hasFinal && in.final != nil {
		// The final reads are not in the history: add each member's registers as sync-reads after
		// every workload op, so porcupine checks that every member holds the linearized state.
		for mi, m := range in.final.Members {
			for key, reg := range m.Registers {
				if !strings.HasPrefix(key, registerPrefix) {
					continue
				}
				t0, t1 := tMax+1+int64(2*mi), tMax+2+int64(2*mi)
				op := finalRegisterOp(in.finalPath, m, key, reg, t0, t1)
				byKey[key] = append(byKey[key], op)
			}
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []*registerHistory
	for _, key := range keys {
		out = append(out, buildKeyHistory(key, byKey[key], floors, tMin))
	}
	return out
}

func finalRegisterOp(file string, m finalMember, key string, reg finalRegister, t0, t1 int64) *Op {
	exists := reg.Exists
	o := &Op{Proc: "final-" + m.name(), Wl: "register", F: "sync-read", Key: key, Status: "ok",
		T0: &t0, T1: &t1, File: file}
	o.Out = fields{Exists: &exists, Value: reg.Value, Version: reg.Version, Mzxid: reg.Mzxid}
	o.Raw = []byte(fmt.Sprintf(`{"member":%q,"key":%q,"exists":%v,"value":%d,"version":%d,"mzxid":%q}`,
		m.name(), key, reg.Exists, reg.Value.V, reg.Version.V, reg.Mzxid.String()))
	return o
}

// keyValueZxids gives each value of one key's history the zxid of its write, from every ok op that
// showed it (values are unique per key); a value shown with two zxids gets -1.
func keyValueZxids(ops []*Op) map[int64]int64 {
	valueZxid := map[int64]int64{}
	note := func(v, z int64) {
		if z == 0 {
			return
		}
		if old, ok := valueZxid[v]; ok && old != z {
			valueZxid[v] = -1
			return
		}
		valueZxid[v] = z
	}
	for _, o := range ops {
		if obs, ok := observation(o); ok && isRegisterRead(o) && obs.exists {
			note(obs.value, obs.mzxid)
		}
		if o.ok() && isRegisterWrite(o) && o.F != "delete" {
			note(o.In.Value.V, int64(o.Out.Mzxid))
		}
	}
	return valueZxid
}

// writeZxid is the zxid of a register write that happened: from its reply, or for an info write
// from a read that returned its value (0: unknown, or a delete).
func writeZxid(o *Op, valueZxid map[int64]int64) int64 {
	if o.F == "delete" || o.fail() {
		return 0
	}
	if o.ok() {
		return int64(o.Out.Mzxid)
	}
	if z := valueZxid[o.In.Value.V]; z > 0 {
		return z
	}
	return 0
}

func buildKeyHistory(key string, ops []*Op, floors map[*Op]floor, tMin int64) *registerHistory {
	valueZxid := keyValueZxids(ops)
	// The zxids of this key's writes that happened, to turn a read's floor into the write it must
	// follow.
	var writeZxids []int64
	zxidStart := map[int64]int64{} // zxid -> invocation of the write given it
	for _, o := range ops {
		if isRegisterWrite(o) {
			if z := writeZxid(o, valueZxid); z != 0 {
				writeZxids = append(writeZxids, z)
				if t, ok := zxidStart[z]; !ok || o.start() < t {
					zxidStart[z] = o.start()
				}
			}
		}
	}
	sort.Slice(writeZxids, func(i, j int) bool { return writeZxids[i] < writeZxids[j] })
	needFor := func(floor int64) int64 {
		i := sort.Search(len(writeZxids), func(i int) bool { return writeZxids[i] > floor })
		if i == 0 {
			return 0
		}
		return writeZxids[i-1]
	}
	// The earliest invocation of a write of each value, and of a delete.
	firstWrite := map[int64]int64{}
	firstDelete := timeInf
	for _, o := range ops {
		if !isRegisterWrite(o) || o.fail() {
			continue
		}
		if o.F == "delete" {
			if o.start() < firstDelete {
				firstDelete = o.start()
			}
			continue
		}
		if t, ok := firstWrite[o.In.Value.V]; !ok || o.start() < t {
			firstWrite[o.In.Value.V] = o.start()
		}
	}

	// The final state, from a final read, for the pruning of info writes.
	var finalState *regOut
	for _, o := range ops {
		if strings.HasPrefix(o.Proc, "final-") && isRegisterRead(o) {
			if obs, ok := observation(o); ok {
				finalState = &obs
			}
		}
	}
	drop := prunableInfoWrites(ops, valueZxid, finalState)

	ids := clientIDs{}
	h := &registerHistory{key: key, init: regState{exists: true}, pruned: len(drop)}
	for _, o := range ops {
		if drop[o] {
			continue
		}
		kind := registerFs[o.F]
		pop := porcupine.Operation{ClientId: ids.of(o.Proc), Metadata: o.Proc + " " + o.ref()}
		switch kind {
		case regRead, regSyncRead:
			obs, ok := observation(o)
			if !ok {
				continue // a read that returned nothing says nothing
			}
			need := needFor(floors[o].zxid)
			in := regIn{kind: kind, need: need}
			pop.Input, pop.Output = in, obs
			pop.Return = o.end()
			pop.Call = o.start()
			if kind == regRead {
				// It may be served by a lagging member: it can be linearized at any point before it
				// completed at which the state it returned can exist.
				start := tMin - 1
				if obs.exists && obs.value == h.init.value {
					// Possibly the initial state, which exists from the start.
				} else if obs.exists {
					if t, ok := firstWrite[obs.value]; ok {
						start = t
					}
				} else if firstDelete != timeInf {
					start = firstDelete
				}
				// It follows the write it needs, which was linearized after that write's invocation.
				if t, ok := zxidStart[need]; ok && need != 0 {
					start = max(start, t)
				}
				pop.Call = min(start, pop.Return)
			}
		default:
			w := regIn{kind: kind, info: o.info(), expVersion: -1}
			switch kind {
			case regWrite, regCreate:
				w.value = o.In.Value.V
			case regCas:
				w.value = o.In.Value.V
				w.expVersion = o.In.ExpectedVersion.V
			case regDelete:
				if o.In.ExpectedVersion.Set {
					w.expVersion = o.In.ExpectedVersion.V
				}
			}
			out := regOut{ok: o.ok(), err: o.errCode()}
			w.zxid = writeZxid(o, valueZxid)
			if o.ok() && kind != regDelete {
				out.version = o.Out.Version.V
			}
			pop.Input, pop.Output = w, out
			pop.Call, pop.Return = o.start(), o.end()
			if w.info && w.zxid == 0 {
				h.ops = append(h.ops, pop)
				continue
			}
		}
		h.ops = append(h.ops, pop)
		h.reduced = append(h.reduced, pop)
	}
	return h
}

// checkFinalRegisters: after every fault healed, all members hold the same registers.
func checkFinalRegisters(in *input, r *report) {
	if in.final == nil || len(in.final.Members) < 2 {
		return
	}
	first := in.final.Members[0]
	for _, m := range in.final.Members[1:] {
		keys := map[string]bool{}
		for k := range first.Registers {
			keys[k] = true
		}
		for k := range m.Registers {
			keys[k] = true
		}
		for k := range keys {
			a, aok := first.Registers[k]
			b, bok := m.Registers[k]
			if aok != bok || a.Exists != b.Exists ||
				(a.Exists && (a.Value != b.Value || a.Version != b.Version || a.Mzxid != b.Mzxid)) {
				r.addRefs("register", fmt.Sprintf("final state of %s differs between member %s and member %s",
					k, first.name(), m.name()), nil)
			}
		}
	}
}
