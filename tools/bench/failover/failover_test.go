package failover

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	c := DefaultConfig()
	c.Binary = "/bin/skiff"
	if err := c.Validate(); err != nil {
		t.Fatalf("default config with a binary: %v", err)
	}
	for _, mod := range []func(*Config){
		func(c *Config) { c.LabDir = "" },
		func(c *Config) { c.Binary = "" },
		func(c *Config) { c.Writers = 0 },
		func(c *Config) { c.After = 0 },
	} {
		c := DefaultConfig()
		c.Binary = "/bin/skiff"
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", c)
		}
	}
}

// The last line is read by machines: exactly this format.
func TestReportLastLine(t *testing.T) {
	var b bytes.Buffer
	Report(&b, Result{Leader: "vm2", FirstWrite: 1234 * time.Millisecond, Acked: 900, Lost: 0, Failed: 3})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if got, want := lines[len(lines)-1], "failover: first write after leader kill=1234ms lost=0"; got != want {
		t.Errorf("last line %q, want %q", got, want)
	}
}
