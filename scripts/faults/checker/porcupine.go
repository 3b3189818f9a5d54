package main

// Running porcupine on one partition (a register key, or the counter) and keeping its HTML
// visualisation of a failing history.

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

const (
	resultLinearizable = "linearizable"
	resultIllegal      = "illegal"
	resultUnknown      = "unknown"
)

func describeMetadata(m interface{}) string {
	if s, ok := m.(string); ok {
		return s
	}
	return ""
}

// runPorcupine checks ops against model within timeout; for a history that is not linearizable it
// runs porcupine again, verbosely, and writes the visualisation to outDir/vizName.
//
// reduced is ops without the info ops that need not have happened (nobody saw their effect). Info
// ops complete at infinity, so each stays a candidate at every step of porcupine's search, and
// many of them make it exponential. A linearization of reduced is one of ops in which they did not
// happen, so reduced is checked first (briefly) and ops only when reduced is not found linearizable.
func runPorcupine(model porcupine.Model, ops, reduced []porcupine.Operation, timeout time.Duration, outDir, vizName string) *porcupineResult {
	res := &porcupineResult{Ops: len(ops)}
	deadline := time.Now().Add(timeout)
	if reduced != nil && len(reduced) < len(ops) {
		// When some of them did happen, porcupine can take long to prove reduced illegal: give it
		// a tenth of the time.
		if porcupine.CheckOperationsTimeout(model, reduced, timeout/10) == porcupine.Ok {
			res.Result = resultLinearizable
			return res
		}
	}
	remaining := time.Until(deadline)
	if remaining <= 0 {
		res.Result = resultUnknown
		return res
	}
	switch porcupine.CheckOperationsTimeout(model, ops, remaining) {
	case porcupine.Ok:
		res.Result = resultLinearizable
		return res
	case porcupine.Unknown:
		res.Result = resultUnknown
		return res
	}
	res.Result = resultIllegal
	verbose, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	if verbose == porcupine.Ok {
		// Cannot happen with a pure model; say so rather than hide it.
		res.Error = "the verbose run found the history linearizable"
		return res
	}
	path := filepath.Join(outDir, vizName)
	if err := visualize(model, info, path); err != nil {
		res.Error = fmt.Sprintf("visualisation: %v", err)
		return res
	}
	res.Visualization = path
	return res
}

func visualize(model porcupine.Model, info porcupine.LinearizationInfo, path string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return porcupine.VisualizePath(model, info, path)
}

// fileName turns a znode path into a file name ("/faults/reg/2" -> "faults_reg_2").
func fileName(path string) string {
	var b strings.Builder
	for _, c := range strings.TrimPrefix(path, "/") {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// clientIDs numbers procs for porcupine's visualisation (one row per proc).
type clientIDs map[string]int

func (c clientIDs) of(proc string) int {
	if id, ok := c[proc]; ok {
		return id
	}
	id := len(c)
	c[proc] = id
	return id
}
