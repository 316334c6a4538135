package agent

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/nodes/proxy"
)

func svc(ips ...string) []proxy.Service {
	var eps []proxy.Endpoint
	for _, ip := range ips {
		eps = append(eps, proxy.Endpoint{IP: netip.MustParseAddr(ip), Port: 8080})
	}
	return []proxy.Service{{Namespace: "default", Name: "web", Ports: []proxy.Port{{Port: 80, Endpoints: eps}}}}
}

func TestUnroutedWaitsForTheRules(t *testing.T) {
	r := newRouted()
	if err := r.unrouted(t.Context(), "10.244.1.2"); err != nil {
		t.Fatalf("an address no rule routes to: %v", err)
	}
	r.set(svc("10.244.1.2", "10.244.1.3"))
	done := make(chan error, 1)
	go func() { done <- r.unrouted(t.Context(), "10.244.1.2") }()
	select {
	case err := <-done:
		t.Fatalf("returned %v while the rules still route to the address", err)
	case <-time.After(100 * time.Millisecond):
	}
	r.set(svc("10.244.1.2", "10.244.1.3", "10.244.1.4")) // another change: still routed
	select {
	case err := <-done:
		t.Fatalf("returned %v after an unrelated change", err)
	case <-time.After(100 * time.Millisecond):
	}
	r.set(svc("10.244.1.3"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still waiting after the rules dropped the address")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := r.unrouted(ctx, "10.244.1.3"); err == nil {
		t.Fatal("returned nil at the deadline for a routed address")
	}
	if err := r.unrouted(t.Context(), "not-an-ip"); err == nil {
		t.Fatal("accepted a bad address")
	}
}
