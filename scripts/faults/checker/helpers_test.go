package main

// Hand-built histories for the tests.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type obj = map[string]any

// hist builds a JSONL history.
type hist struct {
	lines []string
}

// op appends one line; t1 < 0 means none (info).
func (h *hist) op(proc, wl, f, key string, in obj, status string, out obj, err string, t0, t1 int64) {
	line := obj{"proc": proc, "wl": wl, "f": f, "key": key, "in": in, "status": status, "out": out,
		"t0": t0, "session": "s-" + proc, "member": "127.0.0.21:2181"}
	if err != "" {
		line["err"] = err
	} else {
		line["err"] = nil
	}
	if t1 >= 0 {
		line["t1"] = t1
	} else {
		line["t1"] = nil
	}
	if key == "" {
		delete(line, "key")
	}
	b, e := json.Marshal(line)
	if e != nil {
		panic(e)
	}
	h.lines = append(h.lines, string(b))
}

func z(n int) string { return fmt.Sprintf("0x%x", 0x100000000+n) }

// Register ops on a key.
func (h *hist) read(proc, key string, value, version int64, mz int, t0, t1 int64) {
	h.op(proc, "register", "read", key, nil, "ok", obj{"exists": true, "value": value, "version": version, "mzxid": z(mz)}, "", t0, t1)
}
func (h *hist) syncRead(proc, key string, value, version int64, mz int, t0, t1 int64) {
	h.op(proc, "register", "sync-read", key, nil, "ok", obj{"exists": true, "value": value, "version": version, "mzxid": z(mz)}, "", t0, t1)
}
func (h *hist) readNone(proc, key string, t0, t1 int64) {
	h.op(proc, "register", "read", key, nil, "ok", obj{"exists": false}, "", t0, t1)
}
func (h *hist) write(proc, key string, value, version int64, mz int, t0, t1 int64) {
	h.op(proc, "register", "write", key, obj{"value": value}, "ok", obj{"version": version, "mzxid": z(mz)}, "", t0, t1)
}
func (h *hist) writeInfo(proc, key string, value int64, t0 int64) {
	h.op(proc, "register", "write", key, obj{"value": value}, "info", nil, "", t0, -1)
}
func (h *hist) cas(proc, key string, value, expected, version int64, mz int, t0, t1 int64) {
	h.op(proc, "register", "cas", key, obj{"value": value, "expectedVersion": expected}, "ok", obj{"version": version, "mzxid": z(mz)}, "", t0, t1)
}
func (h *hist) casFail(proc, key string, value, expected int64, t0, t1 int64) {
	h.op(proc, "register", "cas", key, obj{"value": value, "expectedVersion": expected}, "fail", nil, "BADVERSION", t0, t1)
}

// final is a FINAL.json under construction.
type final struct {
	Members []obj `json:"members"`
}

// newFinal: n members, no registers, no seq children, counter 0/0.
func newFinal(n int) *final {
	f := &final{}
	for i := 1; i <= n; i++ {
		f.Members = append(f.Members, obj{"id": i, "kind": "zkts", "address": fmt.Sprintf("127.0.0.%d:2181", 20+i),
			"registers": obj{}, "seqChildren": []string{}, "counter": obj{"a": 0, "b": 0}, "lastZxid": z(0)})
	}
	return f
}

func (f *final) register(key string, value, version int64, mz int) *final {
	for _, m := range f.Members {
		m["registers"].(obj)[key] = obj{"exists": true, "value": value, "version": version, "mzxid": z(mz)}
	}
	return f
}

func (f *final) counter(a, b int64) *final {
	for _, m := range f.Members {
		m["counter"] = obj{"a": a, "b": b}
	}
	return f
}

func (f *final) seq(children ...string) *final {
	for _, m := range f.Members {
		m["seqChildren"] = children
	}
	return f
}

// outcome is the checker's parsed output.
type outcome struct {
	code   int
	stdout string
	rep    struct {
		Valid     any `json:"valid"`
		Checks    map[string]map[string]any
		Anomalies []struct {
			Check string
			What  string
			Ops   []struct{ At string }
		}
		Error string
	}
	outDir string
}

func runChecker(t *testing.T, h *hist, f *final, extra ...string) *outcome {
	t.Helper()
	dir := t.TempDir()
	hp := filepath.Join(dir, "history.jsonl")
	if err := os.WriteFile(hp, []byte(strings.Join(h.lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fb, _ := json.Marshal(f)
	fp := filepath.Join(dir, "FINAL.json")
	if err := os.WriteFile(fp, fb, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	args := append([]string{"--history", hp, "--final", fp, "--out", out, "--timeout-s", "30"}, extra...)
	var stdout, stderr bytes.Buffer
	o := &outcome{outDir: out}
	o.code = run(args, &stdout, &stderr)
	o.stdout = stdout.String()
	if err := json.Unmarshal(stdout.Bytes(), &o.rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	return o
}

func (o *outcome) String() string { return o.stdout }

// expectValid: exit 0, valid true, no anomalies.
func expectValid(t *testing.T, o *outcome) {
	t.Helper()
	if o.code != 0 || o.rep.Valid != true || len(o.rep.Anomalies) != 0 {
		t.Fatalf("expected a valid history, got exit %d:\n%s", o.code, o)
	}
}

// expectAnomaly: exit 1, valid false, and an anomaly of check whose text contains what.
func expectAnomaly(t *testing.T, o *outcome, check, what string) {
	t.Helper()
	if o.code != 1 || o.rep.Valid != false {
		t.Fatalf("expected an anomaly, got exit %d:\n%s", o.code, o)
	}
	for _, a := range o.rep.Anomalies {
		if a.Check == check && strings.Contains(a.What, what) {
			return
		}
	}
	t.Fatalf("expected a %s anomaly containing %q:\n%s", check, what, o)
}

// keyResult is porcupine's result for one register key.
func (o *outcome) keyResult(key string) map[string]any {
	keys, _ := o.rep.Checks["register"]["keys"].(map[string]any)
	res, _ := keys[key].(map[string]any)
	return res
}
