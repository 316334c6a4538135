package agent

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/skiff-sh/skiff/nodes/proxy"
)

// Events of the proxy (skiff trace reads them).
const (
	ProxyComponent        = "skiff-proxy"
	ReasonProxyProgrammed = "ProxyProgrammed"
)

// routed is the set of endpoint addresses the proxy's rules send
// connections to, for pod sync's drain (podsync.Config.Unrouted).
type routed struct {
	mu      sync.Mutex
	ips     map[netip.Addr]bool
	changed chan struct{} // closed and replaced on every programmed change
}

func newRouted() *routed { return &routed{ips: map[netip.Addr]bool{}, changed: make(chan struct{})} }

// set records what the rules route to now.
func (r *routed) set(svcs []proxy.Service) {
	ips := map[netip.Addr]bool{}
	for _, s := range svcs {
		for _, p := range s.Ports {
			for _, e := range p.Endpoints {
				ips[e.IP] = true
			}
		}
	}
	r.mu.Lock()
	r.ips = ips
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// unrouted waits until no rule routes to ip.
func (r *routed) unrouted(ctx context.Context, ip string) error {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return err
	}
	for {
		r.mu.Lock()
		routed, changed := r.ips[addr], r.changed
		r.mu.Unlock()
		if !routed {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("services still route to %s: %w", ip, ctx.Err())
		}
	}
}

// fullResync rebuilds the table now and then, whatever changed.
const fullResync = time.Hour

// runProxy programs the Services into nftables on every change of a
// Service or an EndpointSlice.
func (a *Agent) runProxy(ctx context.Context, events record.EventRecorder, routes *routed) error {
	p, err := proxy.New(proxy.DefaultConfig(), a.log.With("component", "proxy"))
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	defer p.Close()
	factory := informers.NewSharedInformerFactory(a.client, 0)
	services := factory.Core().V1().Services().Informer()
	slices := factory.Discovery().V1().EndpointSlices().Informer()
	changed := make(chan struct{}, 1)
	kick := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	for _, inf := range []cache.SharedIndexInformer{services, slices} {
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: kick, UpdateFunc: func(_, o any) { kick(o) }, DeleteFunc: kick,
		}); err != nil {
			return err
		}
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), services.HasSynced, slices.HasSynced) {
		return nil
	}
	applied := map[string]proxy.Service{}
	t := time.NewTicker(fullResync)
	defer t.Stop()
	for {
		var svcs []*corev1.Service
		for _, o := range services.GetStore().List() {
			svcs = append(svcs, o.(*corev1.Service))
		}
		var eps []*discoveryv1.EndpointSlice
		for _, o := range slices.GetStore().List() {
			eps = append(eps, o.(*discoveryv1.EndpointSlice))
		}
		desired := proxy.FromKubernetes(svcs, eps)
		began := time.Now()
		stats, err := p.Sync(ctx, desired)
		took := time.Since(began)
		switch {
		case err != nil && ctx.Err() == nil:
			a.log.Error("program services", "err", err)
		case err == nil:
			byKey := make(map[string]*corev1.Service, len(svcs))
			for _, s := range svcs {
				byKey[s.Namespace+"/"+s.Name] = s
			}
			next := map[string]proxy.Service{}
			for _, s := range desired {
				key := s.Namespace + "/" + s.Name
				next[key] = s
				if old, ok := applied[key]; ok && reflect.DeepEqual(old, s) { // netip.Addr defeats equality.Semantic
					continue
				}
				if svc := byKey[key]; svc != nil {
					events.Eventf(svc, corev1.EventTypeNormal, ReasonProxyProgrammed, "rules for %d endpoints programmed in %s", endpointCount(s), took.Round(100*time.Microsecond))
				}
			}
			applied = next
			routes.set(desired)
			if stats.Changed > 0 || stats.Full {
				a.log.Debug("services programmed", "full", stats.Full, "changed", stats.Changed, "took", took)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-t.C:
		}
	}
}

func endpointCount(s proxy.Service) int {
	seen := map[string]bool{}
	for _, p := range s.Ports {
		for _, e := range p.Endpoints {
			seen[e.IP.String()] = true
		}
	}
	return len(seen)
}
