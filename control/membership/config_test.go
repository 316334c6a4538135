package membership

import (
	"strings"
	"testing"
	"time"
)

func validConfig() Config {
	c := FastConfig()
	c.NodeName = "s1"
	c.Role = RoleServer
	c.JoinToken = "token"
	return c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string // substring; empty means valid
	}{
		{"fast is valid", func(*Config) {}, ""},
		{"default is valid", func(c *Config) {
			d := DefaultConfig()
			d.NodeName, d.Role, d.JoinToken = "n1", RoleNode, "t"
			*c = d
		}, ""},
		{"advertise ok", func(c *Config) { c.AdvertiseAddr = "10.0.0.5:7946" }, ""},
		{"no name", func(c *Config) { c.NodeName = "" }, "NodeName is empty"},
		{"long name", func(c *Config) { c.NodeName = strings.Repeat("x", 129) }, "longer than"},
		{"bad role", func(c *Config) { c.Role = "worker" }, "Role"},
		{"bind no port", func(c *Config) { c.BindAddr = "127.0.0.1" }, "BindAddr"},
		{"bind hostname", func(c *Config) { c.BindAddr = "localhost:0" }, "must be an IP"},
		{"bind bad port", func(c *Config) { c.BindAddr = "127.0.0.1:99999" }, "bad port"},
		{"advertise wildcard", func(c *Config) { c.AdvertiseAddr = "0.0.0.0:7946" }, "concrete"},
		{"advertise port 0", func(c *Config) { c.AdvertiseAddr = "10.0.0.5:0" }, "concrete"},
		{"no token", func(c *Config) { c.JoinToken = "" }, "empty join token"},
		{"role tag", func(c *Config) { c.Tags = map[string]string{TagRole: "node"} }, "set from Role"},
		{"bad join", func(c *Config) { c.Join = []string{"10.0.0.1"} }, "Join address"},
		{"negative retry", func(c *Config) { c.RetryJoinInterval = -time.Second }, "RetryJoinInterval"},
		{"no event buffer", func(c *Config) { c.EventBuffer = 0 }, "EventBuffer"},
		{"zero probe", func(c *Config) { c.Timings.ProbeInterval = 0 }, "ProbeInterval"},
		{"probe timeout > interval", func(c *Config) { c.Timings.ProbeTimeout = time.Second }, "exceeds"},
		{"zero suspicion", func(c *Config) { c.Timings.SuspicionMult = 0 }, "SuspicionMult"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
