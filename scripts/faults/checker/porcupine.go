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
func runPorcupine(model porcupine.Model, ops []porcupine.Operation, timeout time.Duration, outDir, vizName string) *porcupineResult {
	res := &porcupineResult{Ops: len(ops)}
	switch porcupine.CheckOperationsTimeout(model, ops, timeout) {
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
