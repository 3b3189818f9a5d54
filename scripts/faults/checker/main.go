// faults-checker checks the histories the fault suite's workloads record against ZooKeeper's
// guarantees, with porcupine for linearizability (FAULTS-SPEC.md "Checker contract"; README.md).
//
//	faults-checker --history FILE [--history FILE…] --final FINAL.json --out DIR [--timeout-s 60] [--memory-mb 4096]
//
// It prints one JSON object and exits 0 when every check holds, 1 when an anomaly was found, 2 when
// a porcupine check timed out (unknown), porcupine's search outgrew --memory-mb, or the input is
// bad.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// memoryPollInterval is how often the heap is measured against --memory-mb.
const memoryPollInterval = 250 * time.Millisecond

type input struct {
	ops       []*Op
	final     *finalState
	finalPath string
	outDir    string
	timeout   time.Duration
	memoryMB  int
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	in, err := parseArgs(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "faults-checker: %v\n", err)
		stdout.Write(append(failedReport(err.Error()).json(), '\n'))
		return 2
	}
	// porcupine's search keeps every state it has seen; it cannot be stopped from outside, so a
	// search that outgrows the memory limit ends the process, with an unknown verdict.
	var outputOnce sync.Once
	stop := watchMemory(in.memoryMB, func(heapMB uint64) {
		outputOnce.Do(func() {
			msg := fmt.Sprintf("porcupine's search outgrew --memory-mb %d (heap %d MiB): unknown", in.memoryMB, heapMB)
			fmt.Fprintf(stderr, "faults-checker: %s\n", msg)
			stdout.Write(append(failedReport(msg).json(), '\n'))
			os.Exit(2)
		})
	})
	defer stop()
	r := check(in)
	code := r.exitCode()
	outputOnce.Do(func() { stdout.Write(append(r.json(), '\n')) })
	return code
}

// failedReport is the output of a run that decided nothing.
func failedReport(msg string) *report {
	r := newReport()
	r.Valid = verdictUnknown
	for _, c := range r.Checks {
		c.Valid = verdictUnknown
	}
	r.Error = msg
	return r
}

// watchMemory calls over when the Go heap grows past limitMB; the returned func stops watching.
func watchMemory(limitMB int, over func(heapMB uint64)) func() {
	limit := uint64(limitMB) << 20
	debug.SetMemoryLimit(int64(limit))
	done := make(chan struct{})
	go func() {
		ticker := time.NewTicker(memoryPollInterval)
		defer ticker.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > limit {
					over(ms.HeapAlloc >> 20)
				}
			}
		}
	}()
	return func() { close(done) }
}

func parseArgs(args []string, stderr io.Writer) (*input, error) {
	fs := flag.NewFlagSet("faults-checker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var histories stringList
	fs.Var(&histories, "history", "a workload history (JSON lines); repeat for several")
	finalPath := fs.String("final", "", "FINAL.json, every member's final state")
	outDir := fs.String("out", "", "directory for porcupine's visualisations of failing histories")
	timeoutS := fs.Float64("timeout-s", 60, "porcupine's timeout per check, in seconds")
	memoryMB := fs.Int("memory-mb", 4096, "heap limit; porcupine's search beyond it makes the run unknown")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if len(histories) == 0 || *finalPath == "" || *outDir == "" {
		return nil, errors.New("--history, --final and --out are required")
	}
	if *timeoutS <= 0 {
		return nil, errors.New("--timeout-s must be positive")
	}
	if *memoryMB < 16 {
		return nil, errors.New("--memory-mb must be at least 16")
	}
	in := &input{finalPath: *finalPath, outDir: *outDir,
		timeout: time.Duration(*timeoutS * float64(time.Second)), memoryMB: *memoryMB}
	for _, h := range histories {
		var err error
		if in.ops, err = readHistoryFile(h, in.ops); err != nil {
			return nil, err
		}
	}
	final, err := readFinal(*finalPath)
	if err != nil {
		return nil, err
	}
	in.final = final
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return nil, err
	}
	return in, nil
}

func check(in *input) *report {
	r := newReport()
	var acked []zxidWrite
	for _, o := range in.ops {
		if z := ackedZxid(o); z != 0 {
			acked = append(acked, zxidWrite{op: o, zxid: z})
		}
	}
	writes := newWriteIndex(acked)
	checkRegister(in, r, writes)
	checkSeq(in, r)
	checkCounter(in, r)
	checkLock(in, r)
	checkWatch(in, r, writes)
	r.finish()
	return r
}
