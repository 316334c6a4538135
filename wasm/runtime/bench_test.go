package runtime_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/runtime"
	"github.com/skiff-sh/skiff/wasm/runtime/testdata/leastalloc/policy"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

// BenchmarkSchedule is one pod's filter and score over all nodes, the example policy in wazero
// and natively, encoding included on both sides.
//
// "wasm" runs with deadlines enforced inside guest code (WithCloseOnContextDone), as uploaded
// modules must; "wasm-nointerrupt" runs under Config.NoInterrupt, as trusted built-ins could.
func BenchmarkSchedule(b *testing.B) {
	h := newHost(b, testConfig())
	m := load(b, h, "leastalloc", "leastalloc", runtime.ModuleOptions{})
	cfg := testConfig()
	cfg.NoInterrupt = true
	fast := load(b, newHost(b, cfg), "leastalloc", "leastalloc", runtime.ModuleOptions{})
	native := sdk.NewNativeScheduler(policy.LeastAllocated{})
	for _, nodes := range []int{500, 5000} {
		in := genInput(rand.New(rand.NewPCG(1, uint64(nodes))), nodes)
		in.Pod.NodeName = 0
		for _, side := range []struct {
			name string
			s    scheduler
		}{{"wasm", m}, {"wasm-nointerrupt", fast}, {"native", native}} {
			b.Run(fmt.Sprintf("%s/nodes=%d", side.name, nodes), func(b *testing.B) {
				var res abi.Result
				ctx := context.Background()
				if err := side.s.Schedule(ctx, in, &res); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if err := side.s.Schedule(ctx, in, &res); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nodes), "ns/node")
				b.ReportMetric(float64(len(res.Feasible)), "feasible")
			})
		}
	}
}

// BenchmarkScheduleParallel shows calls spreading over the instance pool.
func BenchmarkScheduleParallel(b *testing.B) {
	h := newHost(b, testConfig())
	m := load(b, h, "leastalloc", "leastalloc", runtime.ModuleOptions{})
	if err := m.Warm(context.Background()); err != nil {
		b.Fatal(err)
	}
	in := genInput(rand.New(rand.NewPCG(1, 500)), 500)
	b.RunParallel(func(pb *testing.PB) {
		var res abi.Result
		for pb.Next() {
			if err := m.Schedule(context.Background(), in, &res); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
