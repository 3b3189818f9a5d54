package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runArgs(t *testing.T, args ...string) (int, map[string]any) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("output is not JSON: %v: %q", err, stdout.String())
	}
	return code, out
}

func writeFile(t *testing.T, dir, name, content string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadInputIsExit2(t *testing.T) {
	dir := t.TempDir()
	fb, _ := json.Marshal(newFinal(3))
	final := writeFile(t, dir, "FINAL.json", string(fb))
	good := &hist{}
	good.write("java-1", k0, 1000001, 1, 0x10, 100, 200)
	goodPath := writeFile(t, dir, "good.jsonl", strings.Join(good.lines, "\n")+"\n")
	cases := map[string][]string{
		"garbage line":  {"--history", writeFile(t, dir, "bad.jsonl", good.lines[0]+"\n{not json\n"+good.lines[0]+"\n"), "--final", final, "--out", dir},
		"bad status":    {"--history", writeFile(t, dir, "st.jsonl", strings.Replace(good.lines[0], `"ok"`, `"maybe"`, 1)+"\n"), "--final", final, "--out", dir},
		"missing file":  {"--history", filepath.Join(dir, "none.jsonl"), "--final", final, "--out", dir},
		"no final":      {"--history", goodPath, "--out", dir},
		"bad final":     {"--history", goodPath, "--final", writeFile(t, dir, "f.json", "{"), "--out", dir},
		"no members":    {"--history", goodPath, "--final", writeFile(t, dir, "f0.json", `{"members":[]}`), "--out", dir},
		"unknown flag":  {"--history", goodPath, "--final", final, "--out", dir, "--nope"},
		"zero timeout":  {"--history", goodPath, "--final", final, "--out", dir, "--timeout-s", "0"},
		"extra operand": {"--history", goodPath, "--final", final, "--out", dir, "x"},
	}
	for name, args := range cases {
		code, out := runArgs(t, args...)
		if code != 2 || out["valid"] != "unknown" || out["error"] == nil {
			t.Errorf("%s: exit %d, %v", name, code, out)
		}
	}
	code, out := runArgs(t, "--history", goodPath, "--final", final, "--out", dir)
	if code != 0 || out["valid"] != true {
		t.Fatalf("good input: exit %d, %v", code, out)
	}
}

// A workload killed mid-write leaves a last line without its newline: it is dropped, the rest is
// checked; histories from several files are checked together.
func TestTruncatedLastLineAndSeveralFiles(t *testing.T) {
	dir := t.TempDir()
	fb, _ := json.Marshal(newFinal(3).register(k0, 1000001, 1, 0x10))
	final := writeFile(t, dir, "FINAL.json", string(fb))
	a := &hist{}
	a.write("java-1", k0, 1000001, 1, 0x10, 100, 200)
	b := &hist{}
	b.read("kazoo-1", k0, 1000001, 1, 0x10, 300, 400)
	pa := writeFile(t, dir, "a.jsonl", a.lines[0]+"\n"+`{"proc":"java-1","wl":"regi`)
	pb := writeFile(t, dir, "b.jsonl", b.lines[0]+"\n")
	code, out := runArgs(t, "--history", pa, "--history", pb, "--final", final, "--out", dir)
	if code != 0 || out["valid"] != true {
		t.Fatalf("exit %d, %v", code, out)
	}
	reg := out["checks"].(map[string]any)["register"].(map[string]any)
	if reg["ops"] != float64(2) {
		t.Fatalf("register ops %v", reg["ops"])
	}
	// Without the write's file the read sees a value nobody wrote.
	code, _ = runArgs(t, "--history", pb, "--final", final, "--out", dir)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
}

// Every check is in the output with the counts the contract names.
func TestOutputShape(t *testing.T) {
	o := runChecker(t, &hist{}, newFinal(3))
	expectValid(t, o)
	for _, name := range []string{"register", "seq", "counter", "lock", "watch"} {
		c := o.rep.Checks[name]
		for _, field := range []string{"valid", "ops", "ok", "fail", "info", "anomalies", "visualization"} {
			if _, ok := c[field]; !ok {
				t.Errorf("check %s lacks %s: %s", name, field, o)
			}
		}
	}
}
