package nodeipam_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/control/nodeipam"
	"github.com/skiff-sh/skiff/control/registry"
	"github.com/skiff-sh/skiff/control/resources"
	"github.com/skiff-sh/skiff/raftstore/storetest"
)

func TestFree(t *testing.T) {
	cluster := netip.MustParsePrefix("10.244.0.0/16")
	used := map[netip.Prefix]bool{
		netip.MustParsePrefix("10.244.0.0/24"): true,
		netip.MustParsePrefix("10.244.1.0/24"): true,
		netip.MustParsePrefix("10.244.3.0/24"): true,
	}
	got, err := nodeipam.Free(cluster, 24, func(p netip.Prefix) bool { return used[p] })
	if err != nil || got != netip.MustParsePrefix("10.244.2.0/24") {
		t.Fatalf("Free = %v, %v; want 10.244.2.0/24", got, err)
	}
	small := netip.MustParsePrefix("10.0.0.0/30")
	_, err = nodeipam.Free(small, 31, func(netip.Prefix) bool { return true })
	if !errors.Is(err, nodeipam.ErrFull) {
		t.Fatalf("Free of a full range = %v, want ErrFull", err)
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []nodeipam.Config{
		{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"), NodeMaskLen: 8},
		{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"), NodeMaskLen: 31},
		{ClusterCIDR: netip.MustParsePrefix("fd00::/64"), NodeMaskLen: 80},
		{NodeMaskLen: 24},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%v) = nil, want an error", c)
		}
	}
	if err := nodeipam.DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
}

func newRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	c := storetest.New(t, 1, nil)
	opts := resources.DefaultOptions(c.Nodes[0].Store())
	opts.Logger = slog.New(slog.DiscardHandler)
	res, err := resources.All(opts)
	if err != nil {
		t.Fatal(err)
	}
	return registry.NewRegistry(c.Nodes[0].Store(), res)
}

func run(t *testing.T, reg *registry.Registry, cfg nodeipam.Config) {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := nodeipam.New(reg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

func createNode(t *testing.T, nodes *registry.Store, name, podCIDR string) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: podCIDR}}
	if podCIDR != "" {
		n.Spec.PodCIDRs = []string{podCIDR}
	}
	if _, err := nodes.Create(context.Background(), "", n, registry.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitCIDR waits until the node has a pod CIDR and returns it.
func waitCIDR(t *testing.T, nodes *registry.Store, name string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		obj, err := nodes.Get(context.Background(), "", name)
		if err != nil {
			t.Fatal(err)
		}
		n := obj.(*corev1.Node)
		if n.Spec.PodCIDR != "" {
			if len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
				t.Fatalf("node %s: podCIDRs %v do not match podCIDR %s", name, n.Spec.PodCIDRs, n.Spec.PodCIDR)
			}
			return n.Spec.PodCIDR
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("node %s got no pod CIDR", name)
	return ""
}

func TestAssignsDistinctCIDRs(t *testing.T) {
	reg := newRegistry(t)
	nodes := reg.Store(corev1.SchemeGroupVersion.WithResource("nodes"))
	createNode(t, nodes, "preset", "10.244.0.0/24")
	createNode(t, nodes, "a", "")
	run(t, reg, nodeipam.DefaultConfig())
	createNode(t, nodes, "b", "")
	createNode(t, nodes, "c", "")

	got := map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		got[n] = waitCIDR(t, nodes, n)
	}
	if cidr := waitCIDR(t, nodes, "preset"); cidr != "10.244.0.0/24" {
		t.Errorf("preset node's CIDR changed to %s", cidr)
	}
	seen := map[string]string{"10.244.0.0/24": "preset"}
	for n, cidr := range got {
		if other, dup := seen[cidr]; dup {
			t.Errorf("nodes %s and %s both have %s", n, other, cidr)
		}
		seen[cidr] = n
		if p := netip.MustParsePrefix(cidr); p.Bits() != 24 || !nodeipam.DefaultClusterCIDR.Contains(p.Addr()) {
			t.Errorf("node %s: %s is not a /24 of %s", n, cidr, nodeipam.DefaultClusterCIDR)
		}
	}

	// A deleted node's CIDR is free again.
	freed := got["b"]
	if _, _, err := nodes.Delete(context.Background(), "", "b", nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		createNode(t, nodes, "d", "")
		if cidr := waitCIDR(t, nodes, "d"); cidr == freed {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("node d got %s, want the freed %s", cidr, freed)
		}
		// The informer had not seen b go yet: try again.
		if _, _, err := nodes.Delete(context.Background(), "", "d", nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFullRangeLeavesNodeWithout(t *testing.T) {
	reg := newRegistry(t)
	nodes := reg.Store(corev1.SchemeGroupVersion.WithResource("nodes"))
	cfg := nodeipam.Config{ClusterCIDR: netip.MustParsePrefix("10.9.0.0/23"), NodeMaskLen: 24}
	run(t, reg, cfg)
	createNode(t, nodes, "a", "")
	createNode(t, nodes, "b", "")
	a, b := waitCIDR(t, nodes, "a"), waitCIDR(t, nodes, "b")
	if a == b {
		t.Fatalf("a and b both got %s", a)
	}
	createNode(t, nodes, "c", "")
	time.Sleep(300 * time.Millisecond) // give it the chance to misbehave
	obj, err := nodes.Get(context.Background(), "", "c")
	if err != nil {
		t.Fatal(err)
	}
	if cidr := obj.(*corev1.Node).Spec.PodCIDR; cidr != "" {
		t.Fatalf("node c got %s from a full range", cidr)
	}
}
