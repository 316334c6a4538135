package proxybench

import (
	"flag"
	"slices"
	"testing"

	"github.com/skiff-sh/skiff/tools/bench/benchflag"
)

func TestConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want []int
		ok   bool
	}{
		{"defaults", nil, []int{1000, 10000}, true},
		{"sizes", []string{"--services", "100,2000"}, []int{100, 2000}, true},
		{"zero", []string{"--services", "0"}, []int{0}, false},
		{"no endpoints", []string{"--endpoints", "0"}, []int{1000, 10000}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			cfg := RegisterFlags(fs)
			if err := fs.Parse(c.args); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.Services, c.want) {
				t.Errorf("services %v, want %v", cfg.Services, c.want)
			}
			if err := cfg.Validate(); (err == nil) != c.ok {
				t.Errorf("Validate() = %v, want ok=%t", err, c.ok)
			}
		})
	}
	if err := (&benchflag.Ints{}).Set("1,x"); err == nil {
		t.Error("Set(\"1,x\") succeeded")
	}
}

func TestChangeOneChangesOneService(t *testing.T) {
	svcs := services(10, 3)
	next := changeOne(svcs)
	diff := 0
	for i := range svcs {
		if !slices.Equal(svcs[i].Ports[0].Endpoints, next[i].Ports[0].Endpoints) {
			diff++
		}
	}
	if diff != 1 {
		t.Errorf("%d services changed, want 1", diff)
	}
	if svcs[3].Ports[0].Endpoints[2] == svcs[4].Ports[0].Endpoints[2] || svcs[0].ClusterIP == svcs[1].ClusterIP {
		t.Error("addresses repeat")
	}
}
