package network

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		c := DefaultConfig()
		c.PodCIDR = netip.MustParsePrefix("10.244.1.0/24")
		return c
	}
	for _, tc := range []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "defaults+cidr", mutate: func(*Config) {}},
		{name: "no cidr", mutate: func(c *Config) { c.PodCIDR = netip.Prefix{} }, wantErr: "PodCIDR is not set"},
		{name: "ipv6 cidr", mutate: func(c *Config) { c.PodCIDR = netip.MustParsePrefix("fd00::/64") }, wantErr: "not IPv4"},
		{name: "tiny cidr", mutate: func(c *Config) { c.PodCIDR = netip.MustParsePrefix("10.0.0.0/31") }, wantErr: "too small"},
		{name: "relative state dir", mutate: func(c *Config) { c.StateDir = "state" }, wantErr: "StateDir"},
		{name: "relative host netns", mutate: func(c *Config) { c.HostNetns = "ns" }, wantErr: "HostNetns"},
		{name: "mtu low", mutate: func(c *Config) { c.MTU = 100 }, wantErr: "MTU"},
		{name: "mtu set", mutate: func(c *Config) { c.MTU = 1400 }},
		{name: "node ip v6", mutate: func(c *Config) { c.NodeIP = netip.MustParseAddr("fd00::1") }, wantErr: "NodeIP"},
		{name: "kernel protocol", mutate: func(c *Config) { c.RouteProtocol = 2 }, wantErr: "RouteProtocol"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mutate(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestHostVethName(t *testing.T) {
	seen := map[string]string{}
	for _, uid := range []string{
		"6f1c9a2e-3b1d-4c55-9f5e-0d7a8e2b6c41",
		"6f1c9a2e-3b1d-4c55-9f5e-0d7a8e2b6c42",
		"a",
		strings.Repeat("x", 253),
	} {
		n := HostVethName(uid)
		if len(n) != 15 || !strings.HasPrefix(n, "sk") {
			t.Errorf("HostVethName(%q) = %q, want sk + 13 characters", uid, n)
		}
		if again := HostVethName(uid); again != n {
			t.Errorf("HostVethName(%q) not deterministic: %q then %q", uid, n, again)
		}
		if other, dup := seen[n]; dup {
			t.Errorf("HostVethName(%q) = HostVethName(%q) = %q", uid, other, n)
		}
		seen[n] = uid
	}
	if got, want := HostVethName("a"), "skca978112ca1bb"; got != want {
		t.Errorf("HostVethName(a) = %q, want %q (the name is part of the on-node state)", got, want)
	}
}

func TestCheckPodUID(t *testing.T) {
	for uid, ok := range map[string]bool{
		"6f1c9a2e-3b1d-4c55-9f5e-0d7a8e2b6c41": true,
		"pod.a_b-1":                            true,
		"":                                     false,
		".":                                    false,
		"..":                                   false,
		"a/b":                                  false,
		"-x":                                   false,
		"a b":                                  false,
		strings.Repeat("x", 254):               false,
	} {
		if err := checkPodUID(uid); (err == nil) != ok {
			t.Errorf("checkPodUID(%q) = %v, want ok=%v", uid, err, ok)
		}
	}
}

func TestPodUIDFromAlias(t *testing.T) {
	for alias, want := range map[string]string{"skiff-pod:abc": "abc", "skiff-pod:": "", "other": "", "": ""} {
		got, ok := podUIDFromAlias(alias)
		if got != want || ok != (want != "") {
			t.Errorf("podUIDFromAlias(%q) = %q, %v; want %q", alias, got, ok, want)
		}
	}
}

func r(cidr, via string) Route {
	return Route{PodCIDR: netip.MustParsePrefix(cidr), Via: netip.MustParseAddr(via)}
}

func TestNormalizeRoutes(t *testing.T) {
	own := netip.MustParsePrefix("10.244.1.0/24")
	for _, tc := range []struct {
		name    string
		in      []Route
		want    []Route
		wantErr string
	}{
		{name: "empty"},
		{name: "sorted and deduplicated",
			in:   []Route{r("10.244.3.0/24", "192.168.0.3"), r("10.244.2.7/24", "192.168.0.2"), r("10.244.3.0/24", "192.168.0.3")},
			want: []Route{r("10.244.2.0/24", "192.168.0.2"), r("10.244.3.0/24", "192.168.0.3")}},
		{name: "own cidr", in: []Route{r("10.244.1.0/24", "192.168.0.1")}, wantErr: "overlaps"},
		{name: "covering own cidr", in: []Route{r("10.244.0.0/16", "192.168.0.1")}, wantErr: "overlaps"},
		{name: "conflicting via", in: []Route{r("10.244.2.0/24", "192.168.0.2"), r("10.244.2.0/24", "192.168.0.9")}, wantErr: "both"},
		{name: "ipv6", in: []Route{r("fd00::/64", "192.168.0.2")}, wantErr: "not IPv4"},
		{name: "no via", in: []Route{{PodCIDR: netip.MustParsePrefix("10.244.2.0/24")}}, wantErr: "node address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := normalizeRoutes(own, tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("normalizeRoutes = %v, want error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("normalizeRoutes = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPlanRoutes(t *testing.T) {
	for _, tc := range []struct {
		name              string
		existing, desired []Route
		replace, del      []Route
	}{
		{name: "nothing"},
		{name: "add", desired: []Route{r("10.244.2.0/24", "192.168.0.2")}, replace: []Route{r("10.244.2.0/24", "192.168.0.2")}},
		{name: "unchanged", existing: []Route{r("10.244.2.0/24", "192.168.0.2")}, desired: []Route{r("10.244.2.0/24", "192.168.0.2")}},
		{name: "via changed", existing: []Route{r("10.244.2.0/24", "192.168.0.2")}, desired: []Route{r("10.244.2.0/24", "192.168.0.22")},
			replace: []Route{r("10.244.2.0/24", "192.168.0.22")}},
		{name: "stale", existing: []Route{r("10.244.4.0/24", "192.168.0.4"), r("10.244.2.0/24", "192.168.0.2")}, desired: []Route{r("10.244.2.0/24", "192.168.0.2")},
			del: []Route{r("10.244.4.0/24", "192.168.0.4")}},
		{name: "all stale", existing: []Route{r("10.244.4.0/24", "192.168.0.4"), r("10.244.2.0/24", "192.168.0.2")},
			del: []Route{r("10.244.2.0/24", "192.168.0.2"), r("10.244.4.0/24", "192.168.0.4")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, del := planRoutes(tc.existing, tc.desired)
			if !slices.Equal(rep, tc.replace) || !slices.Equal(del, tc.del) {
				t.Errorf("planRoutes = replace %v, delete %v; want replace %v, delete %v", rep, del, tc.replace, tc.del)
			}
		})
	}
}

func TestPrefixConversion(t *testing.T) {
	for _, s := range []string{"10.244.1.5/32", "0.0.0.0/0", "10.244.0.0/16"} {
		p := netip.MustParsePrefix(s)
		if got, ok := prefixOf(ipNet(p)); !ok || got != p {
			t.Errorf("prefixOf(ipNet(%v)) = %v, %v", p, got, ok)
		}
	}
	if got, ok := prefixOf(defaultIfNil(nil)); !ok || got != netip.MustParsePrefix("0.0.0.0/0") {
		t.Errorf("prefixOf(defaultIfNil(nil)) = %v, %v; want 0.0.0.0/0", got, ok)
	}
}
