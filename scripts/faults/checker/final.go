package main

// FINAL.json: each member's state once the workloads and the nemesis have ended and every fault is
// healed (FAULTS-SPEC.md "Final state").

import (
	"encoding/json"
	"fmt"
	"os"
)

const finalBytesMax = 256 << 20

type finalRegister struct {
	Exists  bool `json:"exists"`
	Value   num  `json:"value"`
	Version num  `json:"version"`
	Mzxid   zxid `json:"mzxid"`
}

type finalCounter struct {
	A num `json:"a"`
	B num `json:"b"`
}

type finalMember struct {
	ID          int                      `json:"id"`
	Kind        string                   `json:"kind"`
	Address     string                   `json:"address"`
	Registers   map[string]finalRegister `json:"registers"`
	SeqChildren []string                 `json:"seqChildren"`
	Counter     *finalCounter            `json:"counter"`
	LastZxid    zxid                     `json:"lastZxid"`
}

type finalState struct {
	Members []finalMember `json:"members"`
}

func (m *finalMember) name() string {
	if m.Address != "" {
		return fmt.Sprintf("%d@%s", m.ID, m.Address)
	}
	return fmt.Sprintf("%d", m.ID)
}

func readFinal(path string) (*finalState, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > finalBytesMax {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, finalBytesMax)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseFinal(b, path)
}

func parseFinal(b []byte, path string) (*finalState, error) {
	var f finalState
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(f.Members) == 0 {
		return nil, fmt.Errorf("%s: no members", path)
	}
	return &f, nil
}
