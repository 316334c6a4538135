package nodeloss

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, mod := range []func(*Config){
		func(c *Config) { c.LabDir = "" },
		func(c *Config) { c.Replicas = 1 },
		func(c *Config) { c.Image = "" },
		func(c *Config) { c.Timeout = 0 },
	} {
		c := DefaultConfig()
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", c)
		}
	}
}

// The last line is read by machines: exactly this format.
func TestReportLastLine(t *testing.T) {
	var b bytes.Buffer
	Report(&b, Result{VM: "vm3", Node: "lab-vm3", Lost: 2, NotReady: 2345 * time.Millisecond, ReplacementsReady: 33 * time.Second})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if got, want := lines[len(lines)-1], "nodeloss: notready=2345ms replacements-ready=33000ms"; got != want {
		t.Errorf("last line %q, want %q", got, want)
	}
}
