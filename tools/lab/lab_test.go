package lab

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func validConfig(t *testing.T) Config {
	t.Helper()
	c := DefaultConfig()
	c.Dir = t.TempDir()
	return c
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"one VM small subnet", func(c *Config) { c.VMs, c.Subnet = 1, netip.MustParsePrefix("10.99.0.0/28") }, ""},
		{"no dir", func(c *Config) { c.Dir = "" }, "Dir is empty"},
		{"dir at root", func(c *Config) { c.Dir = "/tmp" }, "too close to /"},
		{"dir is root", func(c *Config) { c.Dir = "/" }, "too close to /"},
		{"relative dir", func(c *Config) { c.Dir = ".data/lab" }, ""},
		{"empty name", func(c *Config) { c.Name = "" }, "Name"},
		{"long name", func(c *Config) { c.Name = "skiffskiff" }, "Name"},
		{"upper name", func(c *Config) { c.Name = "Skiff" }, "Name"},
		{"dash name", func(c *Config) { c.Name = "sk-1" }, "Name"},
		{"long bridge", func(c *Config) { c.Bridge = "abcdefghijklmnop" }, "Bridge"},
		{"slash bridge", func(c *Config) { c.Bridge = "a/b" }, "Bridge"},
		{"no subnet", func(c *Config) { c.Subnet = netip.Prefix{} }, "IPv4"},
		{"ipv6 subnet", func(c *Config) { c.Subnet = netip.MustParsePrefix("fd00::/64") }, "IPv4"},
		{"host bits", func(c *Config) { c.Subnet = netip.MustParsePrefix("10.99.0.5/24") }, "host bits"},
		{"zero VMs", func(c *Config) { c.VMs = 0 }, "VMs 0"},
		{"100 VMs", func(c *Config) { c.VMs = 100 }, "VMs 100"},
		{"subnet too small", func(c *Config) { c.VMs, c.Subnet = 5, netip.MustParsePrefix("10.99.0.0/28") }, "room for 4"},
		{"bad registry port", func(c *Config) { c.RegistryPort = 0 }, "RegistryPort"},
		{"no registry, no port", func(c *Config) { c.Registry, c.RegistryPort = false, 0 }, ""},
		{"blackhole inside subnet", func(c *Config) { c.Blackhole = []netip.Prefix{netip.MustParsePrefix("10.99.0.0/25")} }, "cut off"},
		{"blackhole around subnet", func(c *Config) { c.Blackhole = []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")} }, ""},
		{"blackhole unmasked", func(c *Config) { c.Blackhole = []netip.Prefix{netip.MustParsePrefix("10.244.1.0/16")} }, "masked"},
		{"negative grace", func(c *Config) { c.StopGrace = -time.Second }, "StopGrace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name       string
		mutate     func(*Config)
		wantBridge string
		wantBrAddr string
		wantVMs    []string // "name netns hostveth addr"
		wantReg    string
	}{
		{
			name:       "defaults",
			mutate:     func(*Config) {},
			wantBridge: "skiff-lab0",
			wantBrAddr: "10.99.0.1/24",
			wantVMs: []string{
				"vm1 skiff-vm1 skiff-vm1 10.99.0.11/24",
				"vm2 skiff-vm2 skiff-vm2 10.99.0.12/24",
				"vm3 skiff-vm3 skiff-vm3 10.99.0.13/24",
				"reg skiff-reg skiff-reg 10.99.0.2/24",
			},
			wantReg: "10.99.0.2:5000",
		},
		{
			name: "test lab without registry",
			mutate: func(c *Config) {
				c.Name, c.VMs, c.Registry, c.Bridge = "skifft1", 2, false, "skt-br"
				c.Subnet = netip.MustParsePrefix("10.99.201.0/24")
			},
			wantBridge: "skt-br",
			wantBrAddr: "10.99.201.1/24",
			wantVMs: []string{
				"vm1 skifft1-vm1 skifft1-vm1 10.99.201.11/24",
				"vm2 skifft1-vm2 skifft1-vm2 10.99.201.12/24",
			},
		},
		{
			name: "subnet crossing an octet",
			mutate: func(c *Config) {
				c.VMs, c.Subnet = 99, netip.MustParsePrefix("10.98.0.0/16")
			},
			wantBridge: "skiff-lab0",
			wantBrAddr: "10.98.0.1/16",
			wantReg:    "10.98.0.2:5000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.mutate(&c)
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			c, err := c.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			s := plan(c)
			if s.Bridge != tt.wantBridge || s.BridgeAddr.String() != tt.wantBrAddr {
				t.Errorf("bridge = %s %s, want %s %s", s.Bridge, s.BridgeAddr, tt.wantBridge, tt.wantBrAddr)
			}
			if s.RegistryAddr != tt.wantReg {
				t.Errorf("RegistryAddr = %q, want %q", s.RegistryAddr, tt.wantReg)
			}
			var got []string
			seen := map[string]bool{}
			for _, vm := range s.VMs {
				got = append(got, vm.Name+" "+vm.Netns+" "+vm.HostVeth+" "+vm.Addr.String())
				if len(vm.HostVeth) > 15 {
					t.Errorf("host veth %q is longer than 15", vm.HostVeth)
				}
				if seen[vm.Addr.Addr().String()] || !c.Subnet.Contains(vm.Addr.Addr()) || vm.Addr.Addr() == s.BridgeAddr.Addr() {
					t.Errorf("VM %s address %v is taken or outside %v", vm.Name, vm.Addr, c.Subnet)
				}
				seen[vm.Addr.Addr().String()] = true
			}
			if tt.wantVMs != nil && !slices.Equal(got, tt.wantVMs) {
				t.Errorf("VMs =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.wantVMs, "\n"))
			}
			if tt.name == "subnet crossing an octet" {
				if last := s.VMs[98]; last.Name != "vm99" || last.Addr.String() != "10.98.0.109/16" {
					t.Errorf("vm99 = %+v", last)
				}
			}
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	c := validConfig(t)
	c, err := c.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	s := plan(c)
	s.BridgeCreated = true
	s.Routes = []netip.Prefix{DefaultPodCIDR}
	s.VMs[0].NetnsIno, s.VMs[0].VethCreated = 4026532281, true
	if err := writeState(c.Dir, s); err != nil {
		t.Fatal(err)
	}
	got, err := readState(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
	l, err := Load(c.Dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if vm, err := l.VM("vm1"); err != nil || vm.NetnsIno != 4026532281 || vm.NetnsPath() != "/run/netns/skiff-vm1" {
		t.Errorf("Load: vm1 = %+v, %v", vm, err)
	}
	if _, err := l.VM("vm9"); err == nil {
		t.Errorf("VM(vm9) = nil error")
	}
	if l.RegistryAddr() != "10.99.0.2:5000" {
		t.Errorf("RegistryAddr = %q", l.RegistryAddr())
	}
	if entries, _ := os.ReadDir(c.Dir); len(entries) != 1 {
		t.Errorf("dir holds %d entries, want only lab.json (no temp file)", len(entries))
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, nil); !errors.Is(err, ErrNotUp) {
		t.Errorf("Load(empty) = %v, want ErrNotUp", err)
	}
	if err := DownDir(t.Context(), dir, nil); err != nil {
		t.Errorf("DownDir(empty) = %v, want nil", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lab.json"), []byte("{nope"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, nil); err == nil || errors.Is(err, ErrNotUp) {
		t.Errorf("Load(garbage) = %v, want a decoding error", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lab.json"), []byte(`{"version": 99}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Errorf("Load(version 99) = %v, want a version error", err)
	}
}

func TestUpRejectsExistingLab(t *testing.T) {
	c := validConfig(t)
	if err := os.WriteFile(filepath.Join(c.Dir, "lab.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Up(t.Context(), c, nil); !errors.Is(err, ErrExists) {
		t.Errorf("Up over an existing lab = %v, want ErrExists", err)
	}
}

func TestDiff(t *testing.T) {
	before := Resources{Links: []string{"eth0 device", "lo device"}, Routes: []string{"default via 10.0.0.1 dev eth0"}}
	after := Resources{Links: []string{"eth0 device", "lo device", "skiff-lab0 bridge"}, Netns: []string{"skiff-vm1"}}
	got := before.Diff(after)
	want := []string{"+link: skiff-lab0 bridge", "+netns: skiff-vm1", "-route: default via 10.0.0.1 dev eth0"}
	if !slices.Equal(got, want) {
		t.Errorf("Diff = %q, want %q", got, want)
	}
	if d := after.Diff(after); len(d) != 0 {
		t.Errorf("Diff with itself = %q", d)
	}
}

func TestMountHelpers(t *testing.T) {
	tests := []struct{ in, want string }{
		{`/run/netns/a`, `/run/netns/a`},
		{`/tmp/with\040space`, `/tmp/with space`},
		{`/tmp/back\134slash`, `/tmp/back\slash`},
		{`/tmp/trailing\04`, `/tmp/trailing\04`},
	}
	for _, tt := range tests {
		if got := unescapeMount(tt.in); got != tt.want {
			t.Errorf("unescapeMount(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	unders := []struct {
		path, dir string
		want      bool
	}{
		{"/a/b", "/a/b", true},
		{"/a/b/c", "/a/b", true},
		{"/a/b/c", "/a/b/", true},
		{"/a/bc", "/a/b", false},
		{"/a", "/a/b", false},
	}
	for _, tt := range unders {
		if got := under(tt.path, tt.dir); got != tt.want {
			t.Errorf("under(%q, %q) = %v, want %v", tt.path, tt.dir, got, tt.want)
		}
	}
}

func TestProcessEnv(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://proxy:3128")
	t.Setenv("https_proxy", "http://proxy:3128")
	t.Setenv("SKIFF_LAB_TEST", "kept")
	env := processEnv([]string{"EXTRA=1"})
	for _, kv := range env {
		if strings.HasPrefix(strings.ToLower(kv), "http_proxy=") || strings.HasPrefix(strings.ToLower(kv), "https_proxy=") {
			t.Errorf("processEnv kept %q", kv)
		}
	}
	if !slices.Contains(env, "SKIFF_LAB_TEST=kept") || env[len(env)-1] != "EXTRA=1" {
		t.Errorf("processEnv lost the environment or the extras: %q", env)
	}
}

func TestStatusString(t *testing.T) {
	st := Status{
		Dir: "/x/lab", Bridge: "skiff-lab0", BridgeUp: true, BridgeAddr: "10.99.0.1/24", RegistryAddr: "10.99.0.2:5000",
		VMs: []VMStatus{{
			VM:        VM{Name: "vm1", Netns: "skiff-vm1", Addr: netip.MustParsePrefix("10.99.0.11/24")},
			NetnsOK:   true,
			LinkUp:    true,
			Processes: []Process{{Name: "node", Pid: 42, Running: true}},
		}, {
			VM: VM{Name: "vm2", Netns: "skiff-vm2", Addr: netip.MustParsePrefix("10.99.0.12/24")},
		}},
	}
	out := st.String()
	for _, want := range []string{"bridge skiff-lab0 up", "registry http://10.99.0.2:5000", "vm1", "10.99.0.11", "node(42 running)", "skiff-vm2 (missing)"} {
		if !strings.Contains(out, want) {
			t.Errorf("Status.String() lacks %q:\n%s", want, out)
		}
	}
}
