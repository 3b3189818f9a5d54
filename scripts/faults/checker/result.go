package main

// The checker's output (FAULTS-SPEC.md "Checker contract").

import (
	"encoding/json"
	"fmt"
)

// anomaliesListedMax bounds the anomalies printed; every one is still counted.
const anomaliesListedMax = 2000

type verdict int

const (
	verdictValid verdict = iota
	verdictUnknown
	verdictInvalid
)

func (v verdict) MarshalJSON() ([]byte, error) {
	switch v {
	case verdictValid:
		return []byte("true"), nil
	case verdictInvalid:
		return []byte("false"), nil
	default:
		return []byte(`"unknown"`), nil
	}
}

// worse combines two verdicts: an anomaly outweighs an unknown, which outweighs valid.
func worse(a, b verdict) verdict {
	if a > b {
		return a
	}
	return b
}

type anomaly struct {
	Check string  `json:"check"`
	What  string  `json:"what"`
	Ops   []opRef `json:"ops"`
}

// porcupineResult is one porcupine run: over one register key, or over the counter.
type porcupineResult struct {
	Result        string `json:"result"` // linearizable | illegal | unknown
	Ops           int    `json:"ops"`
	Visualization string `json:"visualization,omitempty"`
	Error         string `json:"error,omitempty"`
	// InfoPruned counts info writes left out because the versions leave no room for them.
	InfoPruned int `json:"infoPruned,omitempty"`
}

type checkResult struct {
	Valid     verdict `json:"valid"`
	Ops       int     `json:"ops"`
	Ok        int     `json:"ok"`
	Fail      int     `json:"fail"`
	Info      int     `json:"info"`
	Anomalies int     `json:"anomalies"`
	// register: one porcupine result per key.
	Keys map[string]*porcupineResult `json:"keys,omitempty"`
	// counter: the porcupine result over the counter.
	Porcupine *porcupineResult `json:"porcupine,omitempty"`
	// Paths of porcupine's HTML visualisations written for this check.
	Visualization []string `json:"visualization"`
}

func (c *checkResult) count(o *Op) {
	c.Ops++
	switch o.Status {
	case "ok":
		c.Ok++
	case "fail":
		c.Fail++
	case "info":
		c.Info++
	}
}

type report struct {
	Valid     verdict                 `json:"valid"`
	Checks    map[string]*checkResult `json:"checks"`
	Anomalies []anomaly               `json:"anomalies"`
	// AnomaliesTotal counts every anomaly, listed or not.
	AnomaliesTotal int    `json:"anomaliesTotal"`
	Error          string `json:"error,omitempty"`
}

var checkNames = []string{"register", "seq", "counter", "lock", "watch"}

func newReport() *report {
	r := &report{Checks: map[string]*checkResult{}, Anomalies: []anomaly{}}
	for _, n := range checkNames {
		r.Checks[n] = &checkResult{Visualization: []string{}}
	}
	return r
}

func (r *report) add(check, what string, ops ...*Op) {
	r.addRefs(check, what, refs(ops...))
}

func (r *report) addf(check string, ops []*Op, format string, args ...any) {
	r.addRefs(check, fmt.Sprintf(format, args...), refs(ops...))
}

func (r *report) addRefs(check, what string, rs []opRef) {
	if rs == nil {
		rs = []opRef{}
	}
	c := r.Checks[check]
	c.Anomalies++
	c.Valid = worse(c.Valid, verdictInvalid)
	r.AnomaliesTotal++
	if len(r.Anomalies) < anomaliesListedMax {
		r.Anomalies = append(r.Anomalies, anomaly{Check: check, What: what, Ops: rs})
	}
}

// unknown marks a check whose outcome could not be decided (porcupine timed out).
func (r *report) unknown(check string) {
	c := r.Checks[check]
	c.Valid = worse(c.Valid, verdictUnknown)
}

func (r *report) finish() {
	r.Valid = verdictValid
	for _, c := range r.Checks {
		r.Valid = worse(r.Valid, c.Valid)
	}
}

func (r *report) exitCode() int {
	switch r.Valid {
	case verdictValid:
		return 0
	case verdictInvalid:
		return 1
	default:
		return 2
	}
}

func (r *report) json() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return b
}
