package proxy

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func eps(ips ...string) []Endpoint {
	var out []Endpoint
	for _, ip := range ips {
		out = append(out, Endpoint{IP: addr(ip), Port: 8080})
	}
	return out
}

// sample covers each shape: two endpoints with a NodePort, UDP, a single endpoint, no
// endpoints with a NodePort, two ports of one service.
func sample() []Service {
	return []Service{
		{Namespace: "default", Name: "web", ClusterIP: addr("10.96.0.10"), Ports: []Port{
			{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, NodePort: 30080, Endpoints: eps("10.244.0.3", "10.244.0.2")},
		}},
		{Namespace: "kube-system", Name: "dns", ClusterIP: addr("10.96.0.53"), Ports: []Port{
			{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, Endpoints: eps("10.244.1.5")},
			{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53, Endpoints: eps("10.244.1.5")},
		}},
		{Namespace: "default", Name: "empty", ClusterIP: addr("10.96.0.12"), Ports: []Port{
			{Port: 80, NodePort: 30081},
		}},
		{Namespace: "default", Name: "three", ClusterIP: addr("10.96.0.14"), Ports: []Port{
			{Port: 443, Endpoints: eps("10.244.0.2", "10.244.0.3", "10.244.1.5")},
		}},
	}
}

func newMemProxier(t *testing.T) (*Proxier, *memApplier, *fakeConntrack) {
	t.Helper()
	app := &memApplier{}
	ct := &fakeConntrack{}
	return newProxier(DefaultConfig(), app, ct, nil), app, ct
}

type fakeConntrack struct{ flows []staleFlow }

func (f *fakeConntrack) deleteUDP(_ context.Context, flows []staleFlow) (int, error) {
	f.flows = append(f.flows, flows...)
	return len(flows), nil
}

// fresh renders what a full sync of svcs programs.
func fresh(t *testing.T, svcs []Service) string {
	t.Helper()
	us, _ := units(svcs)
	st, err := applyMem(nil, fullTx(us, DefaultConfig().MasqueradeMark))
	if err != nil {
		t.Fatalf("full transaction does not apply: %v", err)
	}
	return st.render()
}

func TestGoldenTable(t *testing.T) {
	golden(t, "table.golden", fresh(t, sample()))
}

func TestGoldenScripts(t *testing.T) {
	golden(t, "full.nft.golden", FullScript(DefaultConfig(), sample()))
	next := sample()
	next[0].Ports[0].Endpoints = eps("10.244.0.2", "10.244.0.9") // one endpoint replaced
	next = slices.Delete(next, 2, 3)                             // "empty" removed
	golden(t, "incremental.nft.golden", IncrementalScript(sample(), next))
}

// TestIncrementalEqualsFull drives random changes through Sync and checks after every step
// that the table equals a fresh full build, and that only changed ports were written.
func TestIncrementalEqualsFull(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	p, app, _ := newMemProxier(t)
	ctx := t.Context()
	state := randomServices(rng, 30)
	if st, err := p.Sync(ctx, state); err != nil || !st.Full {
		t.Fatalf("first Sync: %+v %v", st, err)
	}
	for step := 0; step < 200; step++ {
		next, changed := mutate(rng, state)
		st, err := p.Sync(ctx, next)
		if err != nil {
			t.Fatalf("step %d: Sync: %v", step, err)
		}
		if st.Full {
			t.Fatalf("step %d: full sync without an error", step)
		}
		if st.Changed != changed {
			t.Fatalf("step %d: %d ports written, want %d", step, st.Changed, changed)
		}
		if got, want := app.st.render(), fresh(t, next); got != want {
			t.Fatalf("step %d: incremental table differs from a full build:\n%s", step, lineDiff(got, want))
		}
		state = next
	}
}

func TestErrorForcesFullSync(t *testing.T) {
	p, app, _ := newMemProxier(t)
	ctx := t.Context()
	if _, err := p.Sync(ctx, sample()); err != nil {
		t.Fatal(err)
	}
	app.failAfter = app.applies + 1
	next := sample()[:2]
	if _, err := p.Sync(ctx, next); !errors.Is(err, errInjected) {
		t.Fatalf("Sync with a failing transaction: %v, want the injected error", err)
	}
	st, err := p.Sync(ctx, next)
	if err != nil || !st.Full {
		t.Fatalf("Sync after an error: %+v %v, want a full sync", st, err)
	}
	if got, want := app.st.render(), fresh(t, next); got != want {
		t.Fatalf("table after recovery differs:\n%s", lineDiff(got, want))
	}
	if err := p.Cleanup(ctx); err != nil || app.st != nil {
		t.Fatalf("Cleanup: %v, table %v", err, app.st)
	}
	if st, err := p.Sync(ctx, next); err != nil || !st.Full {
		t.Fatalf("Sync after Cleanup: %+v %v, want a full sync", st, err)
	}
}

func TestStaleChainsDeletedInSecondTransaction(t *testing.T) {
	p, app, _ := newMemProxier(t)
	ctx := t.Context()
	if _, err := p.Sync(ctx, sample()); err != nil {
		t.Fatal(err)
	}
	n := app.applies
	next := sample()
	next[0].Ports[0].Endpoints = eps("10.244.0.2")
	st, err := p.Sync(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	if app.applies != n+2 {
		t.Fatalf("%d transactions, want 2 (changes, then stale chains)", app.applies-n)
	}
	last := app.txs[len(app.txs)-1]
	if len(last.ops) != 1 || last.ops[0].kind != opDelChain || !strings.Contains(last.ops[0].chain, "10.244.0.3") {
		t.Errorf("second transaction %q: want the deletion of the removed endpoint's chain", last.script())
	}
	if st.StaleChainsDeleted != 1 || st.Changed != 1 || st.ChainsFlushed != 2 || st.ChainsAdded != 1 || st.RulesAdded != 1 {
		t.Errorf("stats %+v: want 1 port changed: its service chain rewritten, the removed endpoint's chain flushed and deleted", st)
	}
}

func TestConntrackOnlyForRemovedUDPEndpoints(t *testing.T) {
	p, _, ct := newMemProxier(t)
	ctx := t.Context()
	if _, err := p.Sync(ctx, sample()); err != nil {
		t.Fatal(err)
	}
	next := sample()
	next[0].Ports[0].Endpoints = eps("10.244.0.2") // TCP: no conntrack deletion
	next[1].Ports[0].Endpoints = eps("10.244.1.6") // UDP: 10.244.1.5 removed
	next[1].Ports[1].Endpoints = eps("10.244.1.6") // TCP
	st, err := p.Sync(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	want := []staleFlow{{clusterIP: addr("10.96.0.53"), port: 53, endpoint: addr("10.244.1.5")}}
	if !slices.Equal(ct.flows, want) || st.ConntrackDeleted != 1 {
		t.Errorf("conntrack deletions %+v (stats %d), want %+v", ct.flows, st.ConntrackDeleted, want)
	}
}

func TestUnitsSkipsWhatCannotBeProgrammed(t *testing.T) {
	for _, c := range []struct {
		name      string
		svcs      []Service
		units     int
		problems  int
		clusterIP bool // of the first unit
	}{
		{"sctp", []Service{{Namespace: "a", Name: "s", ClusterIP: addr("10.96.0.1"), Ports: []Port{{Protocol: corev1.ProtocolSCTP, Port: 1}}}}, 0, 1, false},
		{"ipv6 cluster IP, no node port", []Service{{Namespace: "a", Name: "s", ClusterIP: addr("fd00::1"), Ports: []Port{{Port: 80}}}}, 0, 1, false},
		{"ipv6 endpoint dropped", []Service{{Namespace: "a", Name: "s", ClusterIP: addr("10.96.0.1"), Ports: []Port{{Port: 80, Endpoints: []Endpoint{{IP: addr("fd00::2"), Port: 80}}}}}}, 1, 1, true},
		{"port out of range", []Service{{Namespace: "a", Name: "s", ClusterIP: addr("10.96.0.1"), Ports: []Port{{Port: 70000}}}}, 0, 1, false},
		{"duplicate port", []Service{{Namespace: "a", Name: "s", ClusterIP: addr("10.96.0.1"), Ports: []Port{{Port: 80}, {Port: 81}}}}, 1, 1, true},
		{"cluster IP collision", []Service{
			{Namespace: "a", Name: "s", ClusterIP: addr("10.96.0.1"), Ports: []Port{{Port: 80}}},
			{Namespace: "b", Name: "s", ClusterIP: addr("10.96.0.1"), Ports: []Port{{Port: 80, NodePort: 30000}}},
		}, 2, 1, true},
		{"no cluster IP, no node port", []Service{{Namespace: "a", Name: "s", Ports: []Port{{Port: 80}}}}, 0, 0, false},
		{"duplicate endpoints merged", []Service{{Namespace: "a", Name: "s", ClusterIP: addr("10.96.0.1"), Ports: []Port{{Port: 80, Endpoints: eps("10.0.0.1", "10.0.0.1")}}}}, 1, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			us, probs := units(c.svcs)
			if len(us) != c.units || len(probs) != c.problems {
				t.Fatalf("%d units, %d problems (%v); want %d, %d", len(us), len(probs), probs, c.units, c.problems)
			}
			if len(us) > 0 && us[0].clusterIP.IsValid() != c.clusterIP {
				t.Errorf("first unit cluster IP %v, want valid=%t", us[0].clusterIP, c.clusterIP)
			}
			if c.name == "duplicate endpoints merged" && len(us[0].endpoints) != 1 {
				t.Errorf("endpoints %v, want one", us[0].endpoints)
			}
		})
	}
}

func TestElementKeyEncoding(t *testing.T) {
	// As `nft --debug=netlink` shows 10.96.0.10 . tcp . 80 and tcp . 30080.
	e := elem{mapName: mapServiceIPs, addr: addr("10.96.0.10"), proto: protoTCP, port: 80}
	if got, want := fmt.Sprintf("% x", e.key()), "0a 60 00 0a 06 00 00 00 00 50 00 00"; got != want {
		t.Errorf("key %s, want %s", got, want)
	}
	e = elem{mapName: mapServiceNodePorts, proto: protoTCP, port: 30080}
	if got, want := fmt.Sprintf("% x", e.key()), "06 00 00 00 75 80 00 00"; got != want {
		t.Errorf("key %s, want %s", got, want)
	}
	if n := len(mapByName(mapServiceIPs).keyType().Name); n == 0 || mapByName(mapServiceIPs).keyType().Bytes != 12 {
		t.Errorf("service-ips key type %+v, want 12 bytes", mapByName(mapServiceIPs).keyType())
	}
}

func TestChunkElemsFitsNetlinkAttributes(t *testing.T) {
	var els []elem
	for i := 0; i < 5000; i++ {
		els = append(els, elem{mapName: mapServiceIPs, addr: addr("10.96.0.1"), proto: protoTCP, port: uint16(i),
			chain: "svc-" + strings.Repeat("x", 180)})
	}
	chunks := chunkElems(els)
	total := 0
	for _, c := range chunks {
		total += len(c)
		size := 0
		for _, e := range c {
			size += 64 + len(e.VerdictData.Chain)
		}
		if size > maxElemsBytes {
			t.Errorf("chunk of %d elements, ~%d bytes: over %d", len(c), size, maxElemsBytes)
		}
	}
	if total != len(els) || len(chunks) < 2 {
		t.Errorf("%d chunks with %d elements, want all %d in several", len(chunks), total, len(els))
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		mark uint32
		ok   bool
	}{{0x4000, true}, {1, true}, {0, false}, {0x4001, false}} {
		cfg := DefaultConfig()
		cfg.MasqueradeMark = c.mark
		if err := cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("mark %#x: Validate() = %v, want ok=%t", c.mark, err, c.ok)
		}
	}
	if _, err := New(Config{MasqueradeMark: 0x4000, NetnsPath: "/etc/hostname"}, nil); err == nil {
		t.Error("New with a file that is not a network namespace succeeded")
	}
}

// randomServices makes n services with 1-2 ports and 0-4 endpoints.
func randomServices(rng *rand.Rand, n int) []Service {
	var out []Service
	for i := 0; i < n; i++ {
		out = append(out, randomService(rng, i))
	}
	return out
}

func randomService(rng *rand.Rand, i int) Service {
	s := Service{Namespace: "ns", Name: fmt.Sprintf("s%d", i), ClusterIP: netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)})}
	for p := 0; p < 1+rng.IntN(2); p++ {
		port := Port{Name: fmt.Sprintf("p%d", p), Port: int32(80 + p)}
		if rng.IntN(2) == 0 {
			port.Protocol = corev1.ProtocolUDP
		}
		if rng.IntN(3) == 0 {
			port.NodePort = int32(30000 + i*2 + p)
		}
		port.Endpoints = randomEndpoints(rng)
		s.Ports = append(s.Ports, port)
	}
	return s
}

func randomEndpoints(rng *rand.Rand) []Endpoint {
	var out []Endpoint
	for j := 0; j < rng.IntN(5); j++ {
		out = append(out, Endpoint{IP: netip.AddrFrom4([4]byte{10, 244, 0, byte(2 + rng.IntN(8))}), Port: 8080})
	}
	return out
}

// mutate changes a few services (endpoints, node ports, removal, addition) and returns how
// many service ports differ from before.
func mutate(rng *rand.Rand, svcs []Service) ([]Service, int) {
	next := make([]Service, 0, len(svcs)+1)
	for _, s := range svcs {
		s.Ports = slices.Clone(s.Ports)
		next = append(next, s)
	}
	for k := 0; k < 1+rng.IntN(3); k++ {
		i := rng.IntN(len(next))
		switch rng.IntN(5) {
		case 0:
			next = slices.Delete(next, i, i+1)
		case 1:
			next = append(next, randomService(rng, 1000+rng.IntN(1000)))
		case 2:
			next[i].Ports[0].NodePort = int32(31000 + rng.IntN(1000))
		default:
			next[i].Ports[0].Endpoints = randomEndpoints(rng)
		}
	}
	a, _ := units(svcs)
	b, _ := units(next)
	old := map[string]*unit{}
	for _, u := range a {
		old[u.key] = u
	}
	changed := 0
	seen := map[string]bool{}
	for _, u := range b {
		seen[u.key] = true
		if o := old[u.key]; o == nil || !o.equal(u) {
			changed++
		}
	}
	for k := range old {
		if !seen[k] {
			changed++
		}
	}
	return next, changed
}

func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b bytes.Buffer
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			fmt.Fprintf(&b, "line %d:\n  got  %q\n  want %q\n", i+1, gl, wl)
			if b.Len() > 2000 {
				break
			}
		}
	}
	return b.String()
}
