// Command hostile is a test guest that misbehaves on demand. It schedules like the leastalloc
// example, except that the pod's priority (or the "always" setting of its configuration) picks
// an attack: see the mode constants.
package main

import (
	"encoding/json"
	"net"
	"os"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/runtime/testdata/leastalloc/policy"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

const (
	modeOK         = 0
	modeLoop       = 1
	modeMemoryBomb = 2
	modePanic      = 3
	modeBadScore   = 4
	modeBadVerdict = 5
	modeFile       = 6
	modeDial       = 7
	modeNilDeref   = 8
	modeEnv        = 9
)

type config struct {
	Always int32  `json:"always"` // when non-zero, the mode of every call, the dry run included
	Path   string `json:"path"`   // file modeFile tries to create
	Addr   string `json:"addr"`   // address modeDial tries to reach
}

type hostile struct {
	policy.LeastAllocated
	cfg config
}

var sink [][]byte

func (h *hostile) Configure(b []byte) error { return json.Unmarshal(b, &h.cfg) }

func (h *hostile) mode(pod abi.Pod) int32 {
	if h.cfg.Always != 0 {
		return h.cfg.Always
	}
	return pod.Priority()
}

func all(out abi.Verdicts) {
	for i := 0; i < out.Len(); i++ {
		out.Set(i, abi.Feasible, 0)
	}
}

func (h *hostile) Filter(pod abi.Pod, nodes abi.Nodes, out abi.Verdicts) {
	switch h.mode(pod) {
	case modeLoop:
		for {
		}
	case modeMemoryBomb:
		for {
			sink = append(sink, make([]byte, 16<<20))
		}
	case modePanic:
		panic("hostile: boom")
	case modeBadVerdict:
		for i := 0; i < out.Len(); i++ {
			out.Set(i, abi.Verdict(7), 0)
		}
		return
	case modeFile:
		if _, err := os.ReadFile("/etc/hostname"); err != nil {
			panic("hostile: read /etc/hostname: " + err.Error())
		}
		if err := os.WriteFile(h.cfg.Path, []byte("escaped"), 0o644); err != nil {
			panic("hostile: write: " + err.Error())
		}
		all(out) // the sandbox leaked: the test sees success
		return
	case modeDial:
		c, err := net.Dial("tcp", h.cfg.Addr)
		if err != nil {
			panic("hostile: dial: " + err.Error())
		}
		c.Close()
		all(out)
		return
	case modeNilDeref:
		var p *abi.Verdicts
		_ = p.Len()
	case modeEnv:
		all(out)
		return
	}
	h.LeastAllocated.Filter(pod, nodes, out)
}

func (h *hostile) Score(pod abi.Pod, nodes abi.Nodes, out abi.Scores) {
	switch h.mode(pod) {
	case modeBadScore:
		for i := 0; i < out.Len(); i++ {
			out.Set(i, 250)
		}
		return
	case modeEnv:
		// Everything the guest can see of the host's process: must be nothing.
		n := int32(len(os.Environ()) + len(os.Args))
		if wd, err := os.Getwd(); err == nil && wd != "" && wd != "/" {
			n += 10
		}
		if _, err := os.ReadDir("/"); err == nil {
			n += 20
		}
		for i := 0; i < out.Len(); i++ {
			out.Set(i, n)
		}
		return
	}
	h.LeastAllocated.Score(pod, nodes, out)
}

func init() { sdk.RegisterScheduler(&hostile{}) }

func main() {}
