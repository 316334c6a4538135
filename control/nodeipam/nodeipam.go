package nodeipam

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/skiff-sh/skiff/control/informer"
	"github.com/skiff-sh/skiff/control/registry"
)

// Defaults: Kubernetes' usual cluster CIDR (flannel's and kubeadm's
// examples) with a /24 per node, as kube-controller-manager's
// --node-cidr-mask-size.
var (
	DefaultClusterCIDR = netip.MustParsePrefix("10.244.0.0/16")
	DefaultNodeMaskLen = 24
)

// fieldManager names the controller in managedFields and events.
const fieldManager = "node-ipam-controller"

// ErrFull means every pod CIDR of the cluster range is in use.
var ErrFull = errors.New("nodeipam: no pod CIDR left in the cluster range")

// Config is the pod range and its division.
type Config struct {
	ClusterCIDR netip.Prefix
	NodeMaskLen int
	// Informers, if set, is the leadership term's shared factory (see
	// controllers.Controllers.Informers); if nil, Run makes its own.
	Informers *informer.Factory
	Logger    *slog.Logger
}

// DefaultConfig returns the default range: 10.244.0.0/16 in /24s.
func DefaultConfig() Config {
	return Config{ClusterCIDR: DefaultClusterCIDR, NodeMaskLen: DefaultNodeMaskLen}
}

// Validate checks that the range divides into node CIDRs.
func (c Config) Validate() error {
	if !c.ClusterCIDR.IsValid() || !c.ClusterCIDR.Addr().Is4() {
		return fmt.Errorf("nodeipam: cluster CIDR %q must be an IPv4 prefix", c.ClusterCIDR)
	}
	if c.NodeMaskLen < c.ClusterCIDR.Bits() || c.NodeMaskLen > 30 {
		return fmt.Errorf("nodeipam: node mask /%d must be between /%d and /30", c.NodeMaskLen, c.ClusterCIDR.Bits())
	}
	if c.NodeMaskLen-c.ClusterCIDR.Bits() > 16 {
		return fmt.Errorf("nodeipam: /%d in %s makes more than 65536 node CIDRs", c.NodeMaskLen, c.ClusterCIDR)
	}
	return nil
}

// Controller assigns pod CIDRs to Nodes.
type Controller struct {
	reg   *registry.Registry
	cfg   Config
	log   *slog.Logger
	nodes *registry.Store
}

// New returns the controller of reg's Nodes.
func New(reg *registry.Registry, cfg Config) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	nodes := reg.Store(corev1.SchemeGroupVersion.WithResource("nodes"))
	if nodes == nil {
		return nil, errors.New("nodeipam: the registry serves no nodes")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.ClusterCIDR = cfg.ClusterCIDR.Masked()
	return &Controller{reg: reg, cfg: cfg, log: log, nodes: nodes}, nil
}

// Run assigns CIDRs until ctx ends (one leadership term), then returns nil
// once its goroutines have stopped.
func (c *Controller) Run(ctx context.Context) error {
	f := c.cfg.Informers
	if f == nil {
		f = informer.NewFactory(c.reg, 0, c.log)
		defer f.Shutdown()
	}
	inf := f.ForStore(c.nodes)
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodeipam"})
	defer queue.ShutDown()
	enqueue := func(obj any) {
		if n, ok := obj.(*corev1.Node); ok && n.Spec.PodCIDR == "" {
			queue.Add(n.Name)
		}
	}
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	if err != nil {
		return fmt.Errorf("nodeipam: watch nodes: %w", err)
	}
	defer inf.RemoveEventHandler(reg)
	f.Start(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		return nil
	}
	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	// assigned remembers what this term gave out before the informer shows it.
	assigned := map[string]netip.Prefix{}
	for {
		name, quit := queue.Get()
		if quit {
			return nil
		}
		err := c.assign(ctx, inf.GetStore(), name, assigned)
		if err != nil && ctx.Err() == nil {
			c.log.Error("assign pod CIDR", "node", name, "err", err)
			queue.AddRateLimited(name)
		} else {
			queue.Forget(name)
		}
		queue.Done(name)
	}
}

// assign gives the node a free CIDR if it has none.
func (c *Controller) assign(ctx context.Context, nodes cache.Store, name string, assigned map[string]netip.Prefix) error {
	used := map[netip.Prefix]string{}
	for _, obj := range nodes.List() {
		n := obj.(*corev1.Node)
		for _, s := range append([]string{n.Spec.PodCIDR}, n.Spec.PodCIDRs...) {
			if p, err := netip.ParsePrefix(s); err == nil {
				used[p.Masked()] = n.Name
			}
		}
	}
	for node, p := range assigned {
		if _, exists, _ := nodes.GetByKey(node); exists {
			used[p] = node
		} else {
			delete(assigned, node)
		}
	}
	var cidr netip.Prefix
	_, _, err := c.nodes.Update(ctx, "", name, func(cur runtime.Object) (runtime.Object, error) {
		n := cur.(*corev1.Node).DeepCopy()
		if n.Spec.PodCIDR != "" {
			return nil, errUnchanged
		}
		if p, ok := assigned[name]; ok && used[p] == name {
			cidr = p
		} else {
			free, err := Free(c.cfg.ClusterCIDR, c.cfg.NodeMaskLen, func(p netip.Prefix) bool { _, ok := used[p]; return ok })
			if err != nil {
				return nil, err
			}
			cidr = free
		}
		n.Spec.PodCIDR = cidr.String()
		n.Spec.PodCIDRs = []string{cidr.String()}
		return n, nil
	}, registry.UpdateOptions{FieldManager: fieldManager})
	switch {
	case errors.Is(err, errUnchanged):
		return nil
	case err != nil:
		return fmt.Errorf("nodeipam: node %s: %w", name, err)
	}
	assigned[name] = cidr
	c.log.Info("assigned pod CIDR", "node", name, "cidr", cidr)
	return nil
}

var errUnchanged = errors.New("nodeipam: node already has a pod CIDR")

// Free returns the first /maskLen of cluster for which inUse is false.
func Free(cluster netip.Prefix, maskLen int, inUse func(netip.Prefix) bool) (netip.Prefix, error) {
	base := binary.BigEndian.Uint32(cluster.Masked().Addr().AsSlice())
	step := uint32(1) << (32 - maskLen)
	for i := range uint32(1) << (maskLen - cluster.Bits()) {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], base+i*step)
		if p := netip.PrefixFrom(netip.AddrFrom4(b), maskLen); !inUse(p) {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%w (%s in /%d)", ErrFull, cluster, maskLen)
}
