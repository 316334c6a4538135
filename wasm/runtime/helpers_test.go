package runtime_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/runtime"
)

// String ids of the generated inputs.
const (
	sEmpty = iota
	sZone
	sZoneA
	sZoneB
	sDisk
	sSSD
	sDedicated
	sGPU
	sImageA
	sImageB
	sOwner
	sNodeBase // node names start here
)

var baseStrings = []string{"", "zone", "a", "b", "disk", "ssd", "dedicated", "gpu", "img-a", "img-b", "owner-uid"}

// genInput is a random decision over n nodes: varied capacity and load, labels, taints,
// readiness and cordons, and a pod that sometimes has a selector, tolerations or a node name.
func genInput(r *rand.Rand, n int) *abi.Input {
	in := &abi.Input{Strings: append([]string(nil), baseStrings...)}
	for i := range n {
		in.Strings = append(in.Strings, "node-"+string(rune('a'+i%26))+string(rune('0'+i/26%10)))
	}
	p := &in.Pod
	p.CPUMilli = int64(r.IntN(2000))
	p.MemoryBytes = int64(r.IntN(4 << 30))
	p.Owner = sOwner
	p.Images = []uint32{sImageA}
	if r.IntN(3) == 0 {
		p.NodeSelector = []abi.Label{{Key: sZone, Value: sZoneA + uint32(r.IntN(2))}}
	}
	if r.IntN(2) == 0 {
		p.Tolerations = []abi.Toleration{{Key: sDedicated, Value: sGPU, Op: abi.TolerateEqual, Effect: abi.EffectNoSchedule}}
	}
	if r.IntN(10) == 0 && n > 0 {
		p.NodeName = sNodeBase + uint32(r.IntN(n))
	}
	in.Nodes = make([]abi.NodeInput, n)
	for i := range in.Nodes {
		nd := &in.Nodes[i]
		nd.Name = sNodeBase + uint32(i)
		nd.AllocCPUMilli = int64(1000 + r.IntN(16)*1000)
		nd.AllocMemory = int64(1+r.IntN(32)) << 30
		nd.ReqCPUMilli = r.Int64N(nd.AllocCPUMilli + 1)
		nd.ReqMemory = r.Int64N(nd.AllocMemory + 1)
		nd.AllocPods = 110
		nd.Pods = uint32(r.IntN(112))
		nd.Flags = abi.NodeReady
		if r.IntN(20) == 0 {
			nd.Flags = abi.NodeUnschedulable | abi.NodeReady
		}
		if r.IntN(30) == 0 {
			nd.Flags = 0
		}
		nd.Labels = []abi.Label{{Key: sZone, Value: sZoneA + uint32(r.IntN(2))}, {Key: sDisk, Value: sSSD}}
		if r.IntN(5) == 0 {
			nd.Taints = []abi.Taint{{Key: sDedicated, Value: sGPU, Effect: abi.EffectNoSchedule}}
		}
		nd.Images = []abi.Image{{ID: sImageA + uint32(r.IntN(2)), SizeMiB: 100}}
		nd.Matching = uint32(r.IntN(3))
	}
	return in
}

// compiledCache is shared by the tests' hosts (and by later runs: it sits beside the built
// guests), so most tests load modules from the compilation cache instead of compiling them.
var compiledCache string

func testConfig() runtime.Config {
	cfg := runtime.DefaultConfig()
	cfg.PoolSize = 2
	cfg.CacheDir = compiledCache
	return cfg
}

func newHost(t testing.TB, cfg runtime.Config) *runtime.Host {
	t.Helper()
	h, err := runtime.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("runtime.New: %v", err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func load(t testing.TB, h *runtime.Host, name, guest string, opts runtime.ModuleOptions) *runtime.Module {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := h.Load(ctx, name, guests[guest], opts)
	if err != nil {
		t.Fatalf("load %s: %v", guest, err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}
