//go:build integration

package network

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

var pods = []string{
	"0b6f6a1e-0000-4000-8000-000000000001",
	"0b6f6a1e-0000-4000-8000-000000000002",
	"0b6f6a1e-0000-4000-8000-000000000003",
}

func TestPodNetworkLifecycle(t *testing.T) {
	hostPath := testNetns(t, "host")
	addUplink(t, hostPath, "uplink0", netip.MustParsePrefix("192.168.77.1/24"), 1400)
	rootNS, err := netns.GetFromPath("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer rootNS.Close()
	rootBefore := readSysctl(t, rootNS, "net/ipv4/conf/default/rp_filter")

	cfg := testConfig(t, hostPath, "10.99.1.0/24")
	cfg.NodeIP = netip.MustParseAddr("192.168.77.1")
	m := testManager(t, cfg)
	hostNS := openNS(t, hostPath)

	if m.MTU() != 1400 {
		t.Errorf("MTU() = %d, want 1400 from the NodeIP's link", m.MTU())
	}
	for key, want := range map[string]string{"net/ipv4/ip_forward": "1", "net/ipv4/conf/all/rp_filter": "2", "net/ipv4/conf/default/rp_filter": "2"} {
		if got := readSysctl(t, hostNS, key); got != want {
			t.Errorf("host %s = %s, want %s", key, got, want)
		}
	}
	if got := readSysctl(t, rootNS, "net/ipv4/conf/default/rp_filter"); got != rootBefore {
		t.Errorf("root netns rp_filter changed from %s to %s", rootBefore, got)
	}

	var atts []Attachment
	for i, uid := range pods {
		a, err := m.Setup(t.Context(), uid)
		if err != nil {
			t.Fatalf("Setup(%s): %v", uid, err)
		}
		want := Attachment{PodUID: uid, NetnsPath: filepath.Join(cfg.StateDir, "netns", uid),
			IP: netip.AddrFrom4([4]byte{10, 99, 1, byte(2 + i)}), Gateway: netip.MustParseAddr("10.99.1.1"),
			HostVeth: HostVethName(uid), MTU: 1400}
		if a != want {
			t.Fatalf("Setup(%s) = %+v, want %+v", uid, a, want)
		}
		atts = append(atts, a)
	}

	t.Run("wiring", func(t *testing.T) {
		for _, a := range atts {
			ph := handleAt(t, a.NetnsPath)
			eth0, err := ph.LinkByName("eth0")
			if err != nil {
				t.Fatalf("%s: eth0: %v", a.PodUID, err)
			}
			if eth0.Attrs().MTU != 1400 || eth0.Attrs().Flags&net.FlagUp == 0 {
				t.Errorf("%s: eth0 mtu %d flags %v", a.PodUID, eth0.Attrs().MTU, eth0.Attrs().Flags)
			}
			addrs, _ := ph.AddrList(eth0, unix.AF_INET)
			if len(addrs) != 1 || addrs[0].IPNet.String() != a.IP.String()+"/32" {
				t.Errorf("%s: eth0 addresses %v, want %v/32", a.PodUID, addrs, a.IP)
			}
			lo, _ := ph.LinkByName("lo")
			if lo == nil || lo.Attrs().Flags&net.FlagUp == 0 {
				t.Errorf("%s: lo is not up", a.PodUID)
			}
			routes, _ := ph.RouteList(eth0, unix.AF_INET)
			var got []string
			for _, r := range routes {
				got = append(got, defaultIfNil(r.Dst).String()+" gw "+r.Gw.String())
			}
			sort.Strings(got)
			if want := []string{"0.0.0.0/0 gw 10.99.1.1", "10.99.1.1/32 gw <nil>"}; !slices.Equal(got, want) {
				t.Errorf("%s: pod routes %v, want %v", a.PodUID, got, want)
			}
			hv, err := m.host.LinkByName(a.HostVeth)
			if err != nil {
				t.Fatalf("%s: host veth: %v", a.PodUID, err)
			}
			haddrs, _ := m.host.AddrList(hv, unix.AF_INET)
			if len(haddrs) != 1 || haddrs[0].IPNet.String() != "10.99.1.1/32" {
				t.Errorf("%s: host veth addresses %v, want 10.99.1.1/32", a.PodUID, haddrs)
			}
			hroutes, _ := m.host.RouteList(hv, unix.AF_INET)
			if len(hroutes) != 1 || hroutes[0].Dst.String() != a.IP.String()+"/32" {
				t.Errorf("%s: host routes via veth %v, want only %v/32", a.PodUID, hroutes, a.IP)
			}
			if got := readSysctl(t, hostNS, "net/ipv4/conf/"+a.HostVeth+"/rp_filter"); got != "2" {
				t.Errorf("%s: host veth rp_filter = %s, want 2", a.PodUID, got)
			}
		}
	})

	t.Run("traffic", func(t *testing.T) {
		p1 := serve(t, atts[1].NetnsPath, atts[1].IP.String()+":0", "pod1")
		p0 := serve(t, atts[0].NetnsPath, atts[0].IP.String()+":0", "pod0")
		gw := serve(t, hostPath, "10.99.1.1:0", "host")
		mustReach(t, atts[0].NetnsPath, p1, "pod1")
		mustReach(t, atts[1].NetnsPath, p0, "pod0")
		mustReach(t, atts[2].NetnsPath, gw, "host")
		mustReach(t, hostPath, p0, "pod0")
	})

	before := map[string]string{"host": snapshot(t, hostPath)}
	for _, a := range atts {
		before[a.PodUID] = snapshot(t, a.NetnsPath)
	}
	checkUnchanged := func(t *testing.T, when string) {
		t.Helper()
		if got := snapshot(t, hostPath); got != before["host"] {
			t.Errorf("%s changed the host netns:\nbefore:\n%s\nafter:\n%s", when, before["host"], got)
		}
		for _, a := range atts {
			if got := snapshot(t, a.NetnsPath); got != before[a.PodUID] {
				t.Errorf("%s changed pod %s:\nbefore:\n%s\nafter:\n%s", when, a.PodUID, before[a.PodUID], got)
			}
		}
	}

	t.Run("setup is idempotent", func(t *testing.T) {
		for _, want := range atts {
			got, err := m.Setup(t.Context(), want.PodUID)
			if err != nil || got != want {
				t.Errorf("second Setup(%s) = %+v, %v; want %+v", want.PodUID, got, err, want)
			}
		}
		checkUnchanged(t, "a second Setup")
	})

	t.Run("adoption after restart", func(t *testing.T) {
		m2, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer m2.Close()
		got, err := m2.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, atts) {
			t.Errorf("List() after restart = %+v, want %+v", got, atts)
		}
		if err := m2.EnsureHost(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, want := range atts {
			if a, err := m2.Setup(t.Context(), want.PodUID); err != nil || a != want {
				t.Errorf("Setup(%s) after restart = %+v, %v; want %+v", want.PodUID, a, err, want)
			}
		}
		checkUnchanged(t, "restart + EnsureHost + Setup")
	})

	t.Run("teardown", func(t *testing.T) {
		uid := atts[1].PodUID
		for i := range 2 {
			if err := m.Teardown(t.Context(), uid); err != nil {
				t.Fatalf("Teardown #%d: %v", i+1, err)
			}
		}
		requireGone(t, m, uid)
		if hroutes, _ := m.host.RouteListFiltered(unix.AF_INET, &netlink.Route{Dst: ipNet(netip.PrefixFrom(atts[1].IP, 32))}, netlink.RT_FILTER_DST); len(hroutes) != 0 {
			t.Errorf("host route to torn-down pod left: %v", hroutes)
		}
		p2 := serve(t, atts[2].NetnsPath, atts[2].IP.String()+":0", "pod2")
		mustReach(t, atts[0].NetnsPath, p2, "pod2")
		list, err := m.List(t.Context())
		if err != nil || len(list) != 2 {
			t.Errorf("List after teardown = %v, %v; want 2 attachments", list, err)
		}
	})

	t.Run("gc", func(t *testing.T) {
		removed, err := m.GC(t.Context(), func(uid string) bool { return uid == atts[0].PodUID })
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(removed, []string{atts[2].PodUID}) {
			t.Errorf("GC removed %v, want [%s]", removed, atts[2].PodUID)
		}
		requireGone(t, m, atts[2].PodUID)
		if list, _ := m.List(t.Context()); len(list) != 1 || list[0] != atts[0] {
			t.Errorf("List after GC = %+v, want only %+v", list, atts[0])
		}
	})

	t.Run("remove all", func(t *testing.T) {
		if err := m.RemoveAll(t.Context()); err != nil {
			t.Fatal(err)
		}
		requireGone(t, m, atts[0].PodUID)
		if mp := mountsUnder(t, cfg.StateDir); len(mp) != 0 {
			t.Errorf("mounts left under state dir: %v", mp)
		}
		for _, d := range []string{"netns", "ipam"} {
			if _, err := os.Stat(filepath.Join(cfg.StateDir, d)); !os.IsNotExist(err) {
				t.Errorf("%s left after RemoveAll: %v", d, err)
			}
		}
		links, _ := m.host.LinkList()
		for _, l := range links {
			if _, ok := podUIDFromAlias(l.Attrs().Alias); ok {
				t.Errorf("host link %s left after RemoveAll", l.Attrs().Name)
			}
		}
		if _, err := m.host.LinkByName("uplink0"); err != nil {
			t.Errorf("RemoveAll touched the uplink: %v", err)
		}
	})
}

func TestSetupCompletesPartialState(t *testing.T) {
	hostPath := testNetns(t, "host")
	cfg := testConfig(t, hostPath, "10.99.1.0/24")
	cfg.MTU = 1450
	m := testManager(t, cfg)
	gw := serve(t, hostPath, "10.99.1.1:0", "host")
	uid := "partial-pod"

	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, a Attachment)
	}{
		{name: "address reserved only", break_: func(t *testing.T, a Attachment) {
			if err := m.host.LinkDel(mustLink(t, m.host, a.HostVeth)); err != nil {
				t.Fatal(err)
			}
			if err := removeNetns(a.NetnsPath); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "netns without veth", break_: func(t *testing.T, a Attachment) {
			if err := m.host.LinkDel(mustLink(t, m.host, a.HostVeth)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "netns file not mounted", break_: func(t *testing.T, a Attachment) {
			if err := unix.Unmount(a.NetnsPath, unix.MNT_DETACH); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "pod side unconfigured", break_: func(t *testing.T, a Attachment) {
			ph := handleAt(t, a.NetnsPath)
			eth0 := mustLink(t, ph, "eth0")
			if err := ph.AddrDel(eth0, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(a.IP, 32))}); err != nil {
				t.Fatal(err)
			}
			if err := ph.LinkSetDown(eth0); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "host side unconfigured", break_: func(t *testing.T, a Attachment) {
			hv := mustLink(t, m.host, a.HostVeth)
			if err := m.host.RouteDel(&netlink.Route{LinkIndex: hv.Attrs().Index, Dst: ipNet(netip.PrefixFrom(a.IP, 32)), Scope: netlink.SCOPE_LINK}); err != nil {
				t.Fatal(err)
			}
			if err := m.host.AddrAdd(hv, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix("10.99.1.200/32"))}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := m.Setup(t.Context(), uid)
			if err != nil {
				t.Fatal(err)
			}
			mustReach(t, want.NetnsPath, gw, "host")
			tc.break_(t, want)
			got, err := m.Setup(t.Context(), uid)
			if err != nil {
				t.Fatalf("Setup after %s: %v", tc.name, err)
			}
			if got != want {
				t.Errorf("Setup after %s = %+v, want %+v", tc.name, got, want)
			}
			mustReach(t, got.NetnsPath, gw, "host")
			hv := mustLink(t, m.host, got.HostVeth)
			if addrs, _ := m.host.AddrList(hv, unix.AF_INET); len(addrs) != 1 {
				t.Errorf("host veth addresses after repair: %v, want only the gateway", addrs)
			}
			if list, err := m.List(t.Context()); err != nil || len(list) != 1 || list[0] != want {
				t.Errorf("List after repair = %+v, %v", list, err)
			}
		})
	}
}

func mustLink(t *testing.T, h *netlink.Handle, name string) netlink.Link {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("link %s: %v", name, err)
	}
	return l
}

func TestGCRemovesOrphans(t *testing.T) {
	hostPath := testNetns(t, "host")
	cfg := testConfig(t, hostPath, "10.99.1.0/24")
	m := testManager(t, cfg)
	live, err := m.Setup(t.Context(), "live-pod")
	if err != nil {
		t.Fatal(err)
	}
	// Orphans of every kind: a namespace mount alone, a marked veth alone (its peer in a
	// throwaway namespace), a damaged reservation; and a foreign link that must stay.
	if err := createNetns(m.netnsPath("orphan-netns")); err != nil {
		t.Fatal(err)
	}
	peerNS := openNS(t, testNetns(t, "peer"))
	orphan := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: HostVethName("orphan-veth")}, PeerName: "eth0", PeerNamespace: netlink.NsFd(peerNS)}
	if err := m.host.LinkAdd(orphan); err != nil {
		t.Fatal(err)
	}
	if err := m.host.LinkSetAlias(orphan, vethAliasPrefix+"orphan-veth"); err != nil {
		t.Fatal(err)
	}
	if err := m.host.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "skforeign"}, PeerName: "foreignpeer"}); err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(cfg.StateDir, "ipam", "10.99.1.100")
	if err := os.WriteFile(damaged, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	removed, err := m.GC(t.Context(), func(uid string) bool { return uid == "live-pod" })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"orphan-netns", "orphan-veth"}; !slices.Equal(removed, want) {
		t.Errorf("GC removed %v, want %v", removed, want)
	}
	requireGone(t, m, "orphan-netns")
	requireGone(t, m, "orphan-veth")
	if _, err := os.Stat(damaged); !os.IsNotExist(err) {
		t.Errorf("damaged reservation survived GC: %v", err)
	}
	if _, err := m.host.LinkByName("skforeign"); err != nil {
		t.Errorf("GC deleted a foreign link: %v", err)
	}
	if list, err := m.List(t.Context()); err != nil || len(list) != 1 || list[0] != live {
		t.Errorf("List after GC = %+v, %v; want only %+v", list, err, live)
	}
}

func TestSyncRoutesBetweenNodes(t *testing.T) {
	n1, n2 := testNetns(t, "node1"), testNetns(t, "node2")
	linkNodes(t, n1, n2, netip.MustParsePrefix("192.168.77.1/24"), netip.MustParsePrefix("192.168.77.2/24"))
	cfg1, cfg2 := testConfig(t, n1, "10.99.1.0/24"), testConfig(t, n2, "10.99.2.0/24")
	m1, m2 := testManager(t, cfg1), testManager(t, cfg2)
	a1, err := m1.Setup(t.Context(), "pod-on-node1")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := m2.Setup(t.Context(), "pod-on-node2")
	if err != nil {
		t.Fatal(err)
	}
	s2 := serve(t, a2.NetnsPath, a2.IP.String()+":0", "pod2")
	s1 := serve(t, a1.NetnsPath, a1.IP.String()+":0", "pod1")
	if _, err := dial(t, a1.NetnsPath, s2); err == nil {
		t.Fatalf("pod on node1 reached node2's pod before any route existed")
	}

	if err := m1.SyncRoutes(t.Context(), []Route{r("10.99.2.0/24", "192.168.77.2")}); err != nil {
		t.Fatal(err)
	}
	if err := m2.SyncRoutes(t.Context(), []Route{r("10.99.1.0/24", "192.168.77.1")}); err != nil {
		t.Fatal(err)
	}
	mustReach(t, a1.NetnsPath, s2, "pod2")
	mustReach(t, a2.NetnsPath, s1, "pod1")

	h1 := handleAt(t, n1)
	foreign := &netlink.Route{Dst: ipNet(netip.MustParsePrefix("10.99.9.0/24")), Gw: net.ParseIP("192.168.77.9"), Protocol: unix.RTPROT_STATIC}
	if err := h1.RouteAdd(foreign); err != nil {
		t.Fatal(err)
	}
	routesOf := func() []string {
		rs, err := h1.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			if r.Gw != nil {
				out = append(out, r.Dst.String()+" via "+r.Gw.String()+" proto "+r.Protocol.String())
			}
		}
		sort.Strings(out)
		return out
	}
	before := snapshot(t, n1)
	if err := m1.SyncRoutes(t.Context(), []Route{r("10.99.2.0/24", "192.168.77.2")}); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, n1); after != before {
		t.Errorf("an unchanged SyncRoutes changed the host:\n%s\n---\n%s", before, after)
	}

	if err := m1.SyncRoutes(t.Context(), []Route{r("10.99.2.0/24", "192.168.77.3"), r("10.99.3.0/24", "192.168.77.2")}); err != nil {
		t.Fatal(err)
	}
	want := []string{"10.99.2.0/24 via 192.168.77.3 proto 83", "10.99.3.0/24 via 192.168.77.2 proto 83", "10.99.9.0/24 via 192.168.77.9 proto static"}
	if got := routesOf(); !slices.Equal(got, want) {
		t.Errorf("routes after change = %v, want %v", got, want)
	}
	if err := m1.SyncRoutes(t.Context(), []Route{r("10.99.1.0/24", "192.168.77.2")}); err == nil {
		t.Errorf("SyncRoutes accepted a route for the node's own pod CIDR")
	}
	if err := m1.SyncRoutes(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if got, want := routesOf(), []string{"10.99.9.0/24 via 192.168.77.9 proto static"}; !slices.Equal(got, want) {
		t.Errorf("routes after SyncRoutes(nil) = %v, want only the foreign %v", got, want)
	}
}

// TestSetupLatency measures Setup (netns + veth + addresses + routes) and Teardown, and logs
// the percentiles; it fails only if a call fails or is absurdly slow.
func TestSetupLatency(t *testing.T) {
	hostPath := testNetns(t, "host")
	m := testManager(t, testConfig(t, hostPath, "10.99.0.0/22"))
	const n = 30
	var setup, teardown []time.Duration
	for i := range n {
		uid := "latency-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		start := time.Now()
		if _, err := m.Setup(t.Context(), uid); err != nil {
			t.Fatal(err)
		}
		setup = append(setup, time.Since(start))
	}
	uids, err := m.List(t.Context())
	if err != nil || len(uids) != n {
		t.Fatalf("List = %d attachments, %v; want %d", len(uids), err, n)
	}
	for _, a := range uids {
		start := time.Now()
		if err := m.Teardown(t.Context(), a.PodUID); err != nil {
			t.Fatal(err)
		}
		teardown = append(teardown, time.Since(start))
	}
	pct := func(d []time.Duration, p float64) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[int(p*float64(len(s)-1))]
	}
	t.Logf("Setup    n=%d p50=%v p90=%v max=%v", n, pct(setup, .5), pct(setup, .9), pct(setup, 1))
	t.Logf("Teardown n=%d p50=%v p90=%v max=%v", n, pct(teardown, .5), pct(teardown, .9), pct(teardown, 1))
	if p := pct(setup, .5); p > time.Second {
		t.Errorf("Setup p50 %v is over 1s", p)
	}
}

func BenchmarkSetupTeardown(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	dir := b.TempDir()
	hostPath := filepath.Join(dir, "host")
	if err := createNetns(hostPath); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { removeNetns(hostPath) })
	cfg := DefaultConfig()
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.HostNetns = hostPath
	cfg.PodCIDR = netip.MustParsePrefix("10.99.0.0/22")
	m, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := m.RemoveAll(context.Background()); err != nil {
			b.Error(err)
		}
		m.Close()
	})
	if err := m.EnsureHost(b.Context()); err != nil {
		b.Fatal(err)
	}
	var setup time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := m.Setup(b.Context(), "bench-pod"); err != nil {
			b.Fatal(err)
		}
		setup += time.Since(start)
		if err := m.Teardown(b.Context(), "bench-pod"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(setup.Microseconds())/float64(b.N), "setup-us/op")
}

// Regression: createNetns once let its thread exit locked inside the new namespace; when that
// thread was the main thread, Go wedged it there instead of ending it, and /proc/self/ns/net
// (the process's namespace, the default host namespace) then named a pod's namespace.
func TestNetnsHelpersLeaveEveryThreadInItsNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	self, err := netns.GetFromPath("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	dir := t.TempDir()
	other := testNetns(t, "other")
	otherNS := openNS(t, other)
	for i := range 40 {
		p := filepath.Join(dir, "ns"+string(rune('a'+i%26))+string(rune('a'+i/26)))
		if err := createNetns(p); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { removeNetns(p) })
		if err := inNetns(otherNS, func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		ns, err := netns.GetFromPath("/proc/self/task/" + task.Name() + "/ns/net")
		if err != nil {
			continue // the thread ended meanwhile
		}
		if !ns.Equal(self) {
			t.Errorf("thread %s is in netns %v, not the process's %v", task.Name(), ns, self)
		}
		ns.Close()
	}
}
