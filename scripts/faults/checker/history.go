package main

// Reading the workload histories (JSON lines, FAULTS-SPEC.md "History line").

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// Limits on hostile or broken input: a history line longer than this is a bad input, and so is a
// history with more operations than this.
const (
	historyLineBytesMax = 1 << 20
	historyOpsMax       = 20_000_000
)

// Infinity and minus infinity on the history's clock: an info op completes at timeInf.
const (
	timeInf    = int64(math.MaxInt64)
	timeMinInf = int64(math.MinInt64)
)

// num is an integer that may be given as a JSON number or as a decimal string (data is decimal
// ASCII), or be absent / null.
type num struct {
	V   int64
	Set bool
}

func (n *num) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*n = num{}
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		s = strings.TrimSpace(str)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %s", string(b))
	}
	*n = num{V: v, Set: true}
	return nil
}

// zxid is a ZooKeeper transaction id, given as a hex string "0x…" (or a JSON integer). 0 means
// unknown: no transaction has zxid 0, and the clients' "no zxid" (-1) is read as unknown too.
type zxid int64

func (z *zxid) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "null" {
		*z = 0
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		str = strings.TrimSpace(str)
		if str == "" {
			*z = 0
			return nil
		}
		base := 10
		if strings.HasPrefix(str, "0x") || strings.HasPrefix(str, "0X") {
			str = str[2:]
			base = 16
		}
		v, err := strconv.ParseUint(str, base, 64)
		if err != nil {
			return fmt.Errorf("bad zxid %s", string(b))
		}
		*z = zxid(max(int64(v), 0))
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("bad zxid %s", string(b))
	}
	*z = zxid(max(v, 0))
	return nil
}

func (z zxid) String() string { return fmt.Sprintf("0x%x", int64(z)) }

// fields holds every key that appears in an op's "in" or "out" object; absent keys stay unset.
type fields struct {
	Value           num    `json:"value"`
	ExpectedVersion num    `json:"expectedVersion"`
	Exists          *bool  `json:"exists"`
	Version         num    `json:"version"`
	Mzxid           zxid   `json:"mzxid"`
	Name            string `json:"name"`
	From            num    `json:"from"`
	To              num    `json:"to"`
	Va              num    `json:"va"`
	Vb              num    `json:"vb"`
	A               num    `json:"a"`
	B               num    `json:"b"`
	Type            string `json:"type"`
	Path            string `json:"path"`
	Zxid            zxid   `json:"zxid"`
	State           string `json:"state"`
}

// Op is one history line.
type Op struct {
	Proc    string          `json:"proc"`
	Wl      string          `json:"wl"`
	F       string          `json:"f"`
	Key     string          `json:"key"`
	InRaw   json.RawMessage `json:"in"`
	Status  string          `json:"status"`
	OutRaw  json.RawMessage `json:"out"`
	Err     json.RawMessage `json:"err"`
	T0      *int64          `json:"t0"`
	T1      *int64          `json:"t1"`
	Session *string         `json:"session"`
	Member  *string         `json:"member"`

	In  fields `json:"-"`
	Out fields `json:"-"`
	// Where the line came from, for anomaly reports.
	File string `json:"-"`
	Line int    `json:"-"`
	// The line itself, as read.
	Raw json.RawMessage `json:"-"`
}

func (o *Op) ok() bool   { return o.Status == "ok" }
func (o *Op) fail() bool { return o.Status == "fail" }
func (o *Op) info() bool { return o.Status == "info" }

// start is the invocation time; end the completion time, timeInf for an op without one (info).
func (o *Op) start() int64 { return *o.T0 }
func (o *Op) end() int64 {
	if o.T1 == nil || o.info() {
		return timeInf
	}
	return *o.T1
}

// errCode is ZooKeeper's code name of a failed op ("" when none).
func (o *Op) errCode() string {
	if len(o.Err) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(o.Err, &s) == nil {
		return s
	}
	return strings.Trim(string(o.Err), `"`)
}

func (o *Op) session() string {
	if o.Session == nil {
		return ""
	}
	return *o.Session
}

// ref names the op in anomaly reports.
func (o *Op) ref() string { return fmt.Sprintf("%s:%d", o.File, o.Line) }

// opRef is what an anomaly lists for each op involved: where it is and the line itself.
type opRef struct {
	At string          `json:"at"`
	Op json.RawMessage `json:"op"`
}

func refs(ops ...*Op) []opRef {
	out := make([]opRef, 0, len(ops))
	for _, o := range ops {
		if o == nil {
			continue
		}
		out = append(out, opRef{At: o.ref(), Op: o.Raw})
	}
	return out
}

// parseOp decodes and validates one line.
func parseOp(line []byte, file string, lineNo int) (*Op, error) {
	var o Op
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("%s:%d: %v", file, lineNo, err)
	}
	for _, part := range []struct {
		raw json.RawMessage
		dst *fields
		nm  string
	}{{o.InRaw, &o.In, "in"}, {o.OutRaw, &o.Out, "out"}} {
		if len(part.raw) == 0 || string(part.raw) == "null" {
			continue
		}
		if err := json.Unmarshal(part.raw, part.dst); err != nil {
			return nil, fmt.Errorf("%s:%d: field %s: %v", file, lineNo, part.nm, err)
		}
	}
	if o.Proc == "" || o.F == "" {
		return nil, fmt.Errorf("%s:%d: proc and f are required", file, lineNo)
	}
	switch o.Status {
	case "ok", "fail", "info":
	default:
		return nil, fmt.Errorf("%s:%d: status %q is not ok, fail or info", file, lineNo, o.Status)
	}
	if o.T0 == nil {
		return nil, fmt.Errorf("%s:%d: t0 is required", file, lineNo)
	}
	if o.Status != "info" {
		if o.T1 == nil {
			return nil, fmt.Errorf("%s:%d: t1 is required unless status is info", file, lineNo)
		}
		if *o.T1 < *o.T0 {
			return nil, fmt.Errorf("%s:%d: t1 before t0", file, lineNo)
		}
	}
	o.File = file
	o.Line = lineNo
	o.Raw = append(json.RawMessage(nil), line...)
	return &o, nil
}

// readHistory reads one JSONL file. A last line without its newline that does not parse is the
// trace of a workload killed mid-write and is dropped; any other bad line is an error.
func readHistory(r io.Reader, file string, into []*Op) ([]*Op, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	lineNo := 0
	for {
		line, err := readLine(br)
		if len(line) == 0 && err == io.EOF {
			return into, nil
		}
		if err != nil && err != io.EOF {
			return into, fmt.Errorf("%s: %v", file, err)
		}
		lineNo++
		complete := err == nil
		if len(bytes.TrimSpace(line)) == 0 {
			if !complete {
				return into, nil
			}
			continue
		}
		op, perr := parseOp(line, file, lineNo)
		if perr != nil {
			if !complete {
				return into, nil
			}
			return into, perr
		}
		if len(into) >= historyOpsMax {
			return into, fmt.Errorf("%s: more than %d operations", file, historyOpsMax)
		}
		into = append(into, op)
		if !complete {
			return into, nil
		}
	}
}

// readLine returns one line without its newline; err is io.EOF when the line had no newline.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > historyLineBytesMax {
			return nil, fmt.Errorf("line longer than %d bytes", historyLineBytesMax)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == nil {
			return buf[:len(buf)-1], nil
		}
		return buf, err
	}
}

func readHistoryFile(path string, into []*Op) ([]*Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return into, err
	}
	defer f.Close()
	return readHistory(f, path, into)
}

// procIndex is the numeric suffix of a proc name ("java-3" -> 3), -1 when there is none.
func procIndex(proc string) int {
	i := strings.LastIndexByte(proc, '-')
	if i < 0 {
		return -1
	}
	n, err := strconv.Atoi(proc[i+1:])
	if err != nil {
		return -1
	}
	return n
}
