package agent

import (
	"context"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/skiff-sh/skiff/nodes/network"
)

// routeResync re-adds routes someone removed, as flannel's host-gw does.
const routeResync = 10 * time.Second

// syncRoutes routes every other node's pod CIDR through its address.
func (a *Agent) syncRoutes(ctx context.Context, m *network.Manager) error {
	factory := informers.NewSharedInformerFactory(a.client, 0)
	nodes := factory.Core().V1().Nodes().Informer()
	changed := make(chan struct{}, 1)
	kick := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: kick, UpdateFunc: func(_, n any) { kick(n) }, DeleteFunc: kick,
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), nodes.HasSynced) {
		return nil
	}
	t := time.NewTicker(routeResync)
	defer t.Stop()
	for {
		var routes []network.Route
		for _, obj := range nodes.GetStore().List() {
			if r, ok := routeTo(obj.(*corev1.Node), a.cfg.NodeName); ok {
				routes = append(routes, r)
			}
		}
		if err := m.SyncRoutes(ctx, routes); err != nil && ctx.Err() == nil {
			a.log.Error("sync routes to other nodes' pods", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-t.C:
		}
	}
}

// routeTo is the route to another node's pods: its pod CIDR via its
// InternalIP.
func routeTo(n *corev1.Node, self string) (network.Route, bool) {
	if n.Name == self || n.Spec.PodCIDR == "" {
		return network.Route{}, false
	}
	cidr, err := netip.ParsePrefix(n.Spec.PodCIDR)
	if err != nil {
		return network.Route{}, false
	}
	for _, addr := range n.Status.Addresses {
		if addr.Type != corev1.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(addr.Address); err == nil && ip.Is4() {
			return network.Route{PodCIDR: cidr, Via: ip}, true
		}
	}
	return network.Route{}, false
}
