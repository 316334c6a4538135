package podbench

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want string // "" = valid
	}{
		{"named namespace", func(c *Config) { c.Namespace = "bench-1" }, ""},
		{"no kubeconfig", func(c *Config) { c.Kubeconfig = "" }, "no kubeconfig"},
		{"no pods", func(c *Config) { c.Pods = 0 }, "pods 0"},
		{"no rounds", func(c *Config) { c.Rounds = 0 }, "rounds 0"},
		{"bad namespace", func(c *Config) { c.Namespace = "Bench_1" }, `namespace "Bench_1"`},
		{"no image", func(c *Config) { c.Image = "" }, "no image"},
		{"no workers", func(c *Config) { c.Workers = 0 }, "workers 0"},
		{"no timeout", func(c *Config) { c.Timeout = 0 }, "must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	fs := flag.NewFlagSet("bench pods", flag.ContinueOnError)
	c := RegisterFlags(fs)
	if err := fs.Parse([]string{"--kubeconfig", "/lab/kubeconfig", "--pods", "5", "--rounds", "1", "--timeout", "30s"}); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Kubeconfig, want.Pods, want.Rounds, want.Timeout = "/lab/kubeconfig", 5, 1, 30*time.Second
	if *c != want {
		t.Errorf("parsed config = %+v, want %+v", *c, want)
	}
}
