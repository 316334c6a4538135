//go:build integration

package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The lab: a "node" namespace with a veth to a "pods" namespace holding two pods (two
// addresses, an echo server on each) and a veth to a "client" namespace.
const (
	nodePodSide    = "10.244.0.1"
	podA           = "10.244.0.2"
	podB           = "10.244.0.3"
	nodeClientSide = "192.168.77.1"
	clientIP       = "192.168.77.2"
)

type lab struct {
	node, pods, client testNS
	p                  *Proxier
}

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{node: newNS(t), pods: newNS(t), client: newNS(t)}
	veth(t, l.node, "to-pods", nodePodSide+"/24", l.pods, "eth0", podA+"/24,"+podB+"/24")
	veth(t, l.node, "to-client", nodeClientSide+"/24", l.client, "eth0", clientIP+"/24")
	route(t, l.pods, "", nodePodSide, "")
	route(t, l.client, "", nodeClientSide, "")
	// The node routes the service range somewhere, as its default route would: locally
	// originated connections are routed before they are DNATed.
	route(t, l.node, "10.96.0.0/16", "", "to-client")
	l.node.sysctl(t, "net.ipv4.ip_forward", "1")
	l.node.sysctl(t, "net.ipv4.conf.all.send_redirects", "0")
	startEcho(t, l.pods, "pod-a", netip.MustParseAddrPort(podA+":8080"))
	startEcho(t, l.pods, "pod-b", netip.MustParseAddrPort(podB+":8080"))
	cfg := DefaultConfig()
	cfg.NetnsPath = l.node.path()
	p, err := New(cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	l.p = p
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Cleanup(ctx); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
		p.Close()
	})
	return l
}

func ep(ip string) Endpoint { return Endpoint{IP: netip.MustParseAddr(ip), Port: 8080} }

func labServices(webEPs, dnsEPs []Endpoint) []Service {
	return []Service{
		{Namespace: "default", Name: "web", ClusterIP: netip.MustParseAddr("10.96.0.10"),
			Ports: []Port{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, NodePort: 30080, Endpoints: webEPs}}},
		{Namespace: "default", Name: "dns", ClusterIP: netip.MustParseAddr("10.96.0.11"),
			Ports: []Port{{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, NodePort: 30053, Endpoints: dnsEPs}}},
		{Namespace: "default", Name: "empty", ClusterIP: netip.MustParseAddr("10.96.0.12"),
			Ports: []Port{{Protocol: corev1.ProtocolTCP, Port: 80, NodePort: 30081}}},
		{Namespace: "default", Name: "hair", ClusterIP: netip.MustParseAddr("10.96.0.13"),
			Ports: []Port{{Protocol: corev1.ProtocolTCP, Port: 80, Endpoints: []Endpoint{ep(podA)}}}},
	}
}

// spread makes n connections and counts who answered; every answer must be from want and
// seen from peerIP.
func spread(t *testing.T, n int, dial func() (answer, error), peerIP string, want ...string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for i := 0; i < n; i++ {
		a, err := dial()
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if !slices.Contains(want, a.who) {
			t.Fatalf("connection %d answered by %q, want one of %v", i, a.who, want)
		}
		if ap, err := netip.ParseAddrPort(a.peer); err != nil || ap.Addr().String() != peerIP {
			t.Fatalf("connection %d: %s saw the client as %q, want %s", i, a.who, a.peer, peerIP)
		}
		seen[a.who]++
	}
	return seen
}

func TestProxyInNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := t.Context()
	rootForward, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	l := newLab(t)

	// A table that is not ours must survive everything.
	if _, err := l.node.run(ctx, "nft", "add table ip other; add chain ip other keep; add rule ip other keep counter"); err != nil {
		t.Fatal(err)
	}
	tablesBefore, err := l.node.run(ctx, "nft", "list", "tables")
	if err != nil {
		t.Fatal(err)
	}
	otherBefore, _ := l.node.run(ctx, "nft", "list", "table", "ip", "other")

	svcs := labServices([]Endpoint{ep(podA), ep(podB)}, []Endpoint{ep(podA), ep(podB)})
	st, err := l.p.Sync(ctx, svcs)
	if err != nil {
		t.Fatalf("first Sync: %v", err)
	}
	if !st.Full || st.ServicePorts != 4 {
		t.Fatalf("first sync stats %+v: want a full sync of 4 service ports", st)
	}

	t.Run("kernel matches nft -f of the same rules", func(t *testing.T) {
		got, err := l.node.run(ctx, "nft", "list", "table", "ip", "skiff")
		if err != nil {
			t.Fatal(err)
		}
		ref := newNS(t)
		script := FullScript(DefaultConfig(), svcs)
		f := t.TempDir() + "/full.nft"
		if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := ref.run(ctx, "nft", "-f", f); err != nil {
			t.Fatalf("nft -f: %v\n%s", err, out)
		}
		want, err := ref.run(ctx, "nft", "list", "table", "ip", "skiff")
		if err != nil {
			t.Fatal(err)
		}
		if g, w := normalizeListing(got), normalizeListing(want); g != w {
			t.Errorf("netlink-built table differs from nft -f of the script:\n--- netlink\n%s\n--- nft -f\n%s", g, w)
		}
	})

	t.Run("ClusterIP from a client reaches both endpoints", func(t *testing.T) {
		seen := spread(t, 40, func() (answer, error) { return dialTCP(l.client, "", "10.96.0.10:80") }, clientIP, "pod-a", "pod-b")
		if seen["pod-a"] == 0 || seen["pod-b"] == 0 {
			t.Errorf("answers %v: want both endpoints", seen)
		}
	})

	t.Run("NodePort from a client reaches both endpoints, masqueraded", func(t *testing.T) {
		seen := spread(t, 40, func() (answer, error) { return dialTCP(l.client, "", nodeClientSide+":30080") }, nodePodSide, "pod-a", "pod-b")
		if seen["pod-a"] == 0 || seen["pod-b"] == 0 {
			t.Errorf("answers %v: want both endpoints", seen)
		}
	})

	t.Run("ClusterIP and NodePort from the node itself", func(t *testing.T) {
		seen := spread(t, 30, func() (answer, error) { return dialTCP(l.node, "", "10.96.0.10:80") }, nodeClientSide, "pod-a", "pod-b")
		if seen["pod-a"] == 0 || seen["pod-b"] == 0 {
			t.Errorf("ClusterIP answers %v: want both endpoints", seen)
		}
		seen = spread(t, 30, func() (answer, error) { return dialTCP(l.node, "", nodeClientSide+":30080") }, nodePodSide, "pod-a", "pod-b")
		if seen["pod-a"] == 0 || seen["pod-b"] == 0 {
			t.Errorf("NodePort answers %v: want both endpoints", seen)
		}
	})

	t.Run("service without endpoints is refused fast", func(t *testing.T) {
		for _, c := range []struct {
			name string
			ns   testNS
			dst  string
		}{
			{"client ClusterIP", l.client, "10.96.0.12:80"},
			{"client NodePort", l.client, nodeClientSide + ":30081"},
			{"node ClusterIP", l.node, "10.96.0.12:80"},
			{"node NodePort", l.node, nodeClientSide + ":30081"},
		} {
			start := time.Now()
			_, err := dialTCP(c.ns, "", c.dst)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("%s %s: err %v, want connection refused", c.name, c.dst, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("%s %s: refused after %v, want fast", c.name, c.dst, d)
			}
		}
	})

	t.Run("hairpin: a pod reaches itself through its service", func(t *testing.T) {
		spread(t, 5, func() (answer, error) { return dialTCP(l.pods, podA, "10.96.0.13:80") }, nodePodSide, "pod-a")
	})

	t.Run("UDP conntrack towards a removed endpoint is deleted", func(t *testing.T) {
		u := newUDPClient(t, l.client, "10.96.0.11:53")
		first, err := u.ask()
		if err != nil {
			t.Fatalf("udp ask: %v", err)
		}
		for i := 0; i < 3; i++ { // the conntrack entry pins the flow
			if a, err := u.ask(); err != nil || a.who != first.who {
				t.Fatalf("udp ask %d: %v %v, want %s again", i, a, err, first.who)
			}
		}
		keep, other := ep(podB), "pod-b"
		if first.who == "pod-b" {
			keep, other = ep(podA), "pod-a"
		}
		st, err := l.p.Sync(ctx, labServices([]Endpoint{ep(podA), ep(podB)}, []Endpoint{keep}))
		if err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if st.Full || st.Changed != 1 || st.ConntrackDeleted < 1 {
			t.Errorf("stats %+v: want an incremental sync of 1 port deleting >= 1 conntrack entry", st)
		}
		a, err := u.ask()
		if err != nil || a.who != other {
			t.Errorf("after removing %s the same socket got %v %v, want %s", first.who, a, err, other)
		}
	})

	t.Run("removing an endpoint rewrites only its service", func(t *testing.T) {
		before, err := l.node.run(ctx, "nft", "-a", "list", "table", "ip", "skiff")
		if err != nil {
			t.Fatal(err)
		}
		// The DNS endpoints stay as the previous subtest left them, whichever it kept.
		dnsNow := slices.Clone(l.p.applied["default/dns/udp/dns"].endpoints)
		st, err := l.p.Sync(ctx, labServices([]Endpoint{ep(podA)}, dnsNow))
		if err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if st.Full || st.Changed != 1 || st.StaleChainsDeleted != 1 || st.ChainsAdded != 1 || st.RulesAdded != 1 || st.ChainsFlushed != 2 {
			t.Errorf("stats %+v: want web's service chain rewritten (1 rule), its removed endpoint's chain flushed and then deleted", st)
		}
		after, err := l.node.run(ctx, "nft", "-a", "list", "table", "ip", "skiff")
		if err != nil {
			t.Fatal(err)
		}
		b, a := chainBlocks(before), chainBlocks(after)
		for name, blk := range b {
			webSvc := strings.HasPrefix(name, "svc-") && strings.Contains(name, "default/web/")
			gone := strings.Contains(name, "default/web/") && strings.Contains(name, podB)
			switch {
			case gone && a[name] != "":
				t.Errorf("chain %s of the removed endpoint still exists", name)
			case webSvc && a[name] == blk:
				t.Errorf("chain %s of the changed service kept its rule handles", name)
			case !gone && !webSvc && a[name] != blk:
				t.Errorf("chain %s was rewritten but did not change:\n%s\n---\n%s", name, blk, a[name])
			}
		}
		seen := spread(t, 20, func() (answer, error) { return dialTCP(l.client, "", "10.96.0.10:80") }, clientIP, "pod-a")
		if seen["pod-a"] != 20 {
			t.Errorf("answers %v: want only pod-a", seen)
		}
	})

	t.Run("an unchanged sync writes nothing", func(t *testing.T) {
		cur := l.p.applied["default/dns/udp/dns"].endpoints
		st, err := l.p.Sync(ctx, labServices([]Endpoint{ep(podA)}, slices.Clone(cur)))
		if err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if st.Full || st.Changed != 0 || st.Objects() != 0 {
			t.Errorf("stats %+v: want nothing written", st)
		}
	})

	t.Run("Cleanup removes only our table", func(t *testing.T) {
		if err := l.p.Cleanup(ctx); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		after, err := l.node.run(ctx, "nft", "list", "tables")
		if err != nil {
			t.Fatal(err)
		}
		if after != tablesBefore {
			t.Errorf("tables after Cleanup:\n%s\nwant as before:\n%s", after, tablesBefore)
		}
		if other, _ := l.node.run(ctx, "nft", "list", "table", "ip", "other"); other != otherBefore {
			t.Errorf("table ip other changed:\n%s\nwant\n%s", other, otherBefore)
		}
		if err := l.p.Cleanup(ctx); err != nil {
			t.Errorf("second Cleanup: %v", err)
		}
		// And the next Sync rebuilds.
		st, err := l.p.Sync(ctx, labServices([]Endpoint{ep(podA)}, nil))
		if err != nil || !st.Full {
			t.Fatalf("Sync after Cleanup: %+v %v, want a full sync", st, err)
		}
		spread(t, 3, func() (answer, error) { return dialTCP(l.client, "", "10.96.0.10:80") }, clientIP, "pod-a")
	})

	if after, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(after) != string(rootForward) {
		t.Errorf("root namespace ip_forward changed from %q to %q", rootForward, after)
	}
}

// TestSyncAfterErrorIsFull breaks the table behind the proxier's back: the incremental sync
// fails, and the next one rebuilds.
func TestSyncAfterErrorIsFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ctx := t.Context()
	n := newNS(t)
	cfg := DefaultConfig()
	cfg.NetnsPath = n.path()
	p, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Cleanup(context.Background()); p.Close() })
	svcs := labServices([]Endpoint{ep(podA)}, nil)
	if _, err := p.Sync(ctx, svcs); err != nil {
		t.Fatal(err)
	}
	if _, err := n.run(ctx, "nft", "delete", "table", "ip", "skiff"); err != nil {
		t.Fatal(err)
	}
	svcs2 := labServices([]Endpoint{ep(podA), ep(podB)}, nil)
	if _, err := p.Sync(ctx, svcs2); err == nil {
		t.Fatal("incremental Sync into a deleted table succeeded")
	}
	st, err := p.Sync(ctx, svcs2)
	if err != nil || !st.Full {
		t.Fatalf("Sync after an error: %+v %v, want a full sync", st, err)
	}
	if out, _ := n.run(ctx, "nft", "list", "table", "ip", "skiff"); !strings.Contains(out, podB+":8080") {
		t.Errorf("rebuilt table lacks the new endpoint:\n%s", out)
	}
}

// normalizeListing makes `nft list table` output comparable: map elements sorted (their
// order follows the kernel's hash), objects sorted by name, blank lines dropped.
func normalizeListing(s string) string {
	var objs []string
	var cur []string
	inElems := false
	var elems []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "table "):
			continue
		case inElems || strings.HasPrefix(line, "elements = {"):
			body := strings.TrimPrefix(line, "elements = {")
			done := strings.HasSuffix(body, "}")
			body = strings.TrimSuffix(body, "}")
			for _, e := range strings.Split(body, ",") {
				if e = strings.TrimSpace(e); e != "" {
					elems = append(elems, e)
				}
			}
			inElems = !done
			if done {
				sort.Strings(elems)
				cur = append(cur, "elements: "+strings.Join(elems, ", "))
				elems = nil
			}
		case line == "}":
			if len(cur) > 0 {
				objs = append(objs, strings.Join(cur, "\n  "))
			}
			cur = nil
		default:
			cur = append(cur, line)
		}
	}
	sort.Strings(objs)
	return strings.Join(objs, "\n")
}

// chainBlocks splits `nft -a list table` output into chains by name, with their handles.
func chainBlocks(s string) map[string]string {
	out := map[string]string{}
	name := ""
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "chain ") {
			name = strings.Fields(t)[1]
			b.Reset()
		}
		if name != "" {
			b.WriteString(t + "\n")
			if t == "}" {
				out[name] = b.String()
				name = ""
			}
		}
	}
	return out
}
