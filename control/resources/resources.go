package resources

import (
	"fmt"
	"log/slog"
	"net/netip"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-sh/skiff/control/allocator"
	"github.com/skiff-sh/skiff/control/registry"
)

// Options configure the resources that depend on the cluster.
type Options struct {
	// KV keeps cluster-wide allocations (service IPs and node ports).
	KV allocator.KV
	// ServiceCIDR is the range of service cluster IPs.
	ServiceCIDR netip.Prefix
	// NodePortMin and NodePortMax bound node ports.
	NodePortMin, NodePortMax int
	// WasmCacheDir, if set, keeps the wasm runtime's compiled modules for
	// validating uploaded policy modules ("" keeps them in memory).
	WasmCacheDir string
	// DefaultTolerationSeconds is how long a new pod tolerates the taints
	// node.kubernetes.io/not-ready and unreachable (NoExecute) unless it says
	// otherwise, as Kubernetes' DefaultTolerationSeconds admission plugin
	// gives (300 s there; Skiff evicts from a lost node sooner). Negative: add
	// none.
	DefaultTolerationSeconds int64
	Logger                   *slog.Logger
}

// DefaultTolerationSeconds is Skiff's default for Options.DefaultTolerationSeconds.
const DefaultTolerationSeconds = 30

// DefaultOptions are Kubernetes' usual ranges (kubeadm's service CIDR).
func DefaultOptions(kv allocator.KV) Options {
	return Options{
		KV: kv, ServiceCIDR: netip.MustParsePrefix("10.96.0.0/12"),
		NodePortMin: 30000, NodePortMax: 32767, Logger: slog.Default(),
		DefaultTolerationSeconds: DefaultTolerationSeconds,
	}
}

// All returns the served resources, in discovery order.
func All(opts Options) ([]*registry.Resource, error) {
	ips, err := allocator.NewIPRange(opts.KV, "/registry/allocations/clusterips", opts.ServiceCIDR)
	if err != nil {
		return nil, fmt.Errorf("resources: %w", err)
	}
	ports, err := allocator.NewPortRange(opts.KV, "/registry/allocations/nodeports", opts.NodePortMin, opts.NodePortMax)
	if err != nil {
		return nil, fmt.Errorf("resources: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	svc := &serviceAllocator{ips: ips, ports: ports, logger: opts.Logger}
	var all []*registry.Resource
	all = append(all, core(svc, opts.DefaultTolerationSeconds)...)
	all = append(all, apps()...)
	all = append(all, others()...)
	all = append(all, skiff(opts)...)
	return all, nil
}

// base fills in what every resource shares: names, store prefix and the
// generic defaulting and validation hooks.
func base(gvk schema.GroupVersionKind, plural, singular string, namespaced bool, newObj, newList func() runtime.Object) *registry.Resource {
	return &registry.Resource{
		Kind: gvk, Plural: plural, Singular: singular, Namespaced: namespaced,
		Prefix: "/registry/" + plural,
		New:    newObj, NewList: newList,
		Default:        defaultObject,
		Validate:       validateCreate,
		ValidateUpdate: validateUpdate,
		ValidateStatus: validateStatus,
	}
}

// Default returns the served resources with DefaultOptions; they cannot
// fail to build.
func Default(kv allocator.KV) []*registry.Resource {
	all, err := All(DefaultOptions(kv))
	if err != nil {
		panic(err)
	}
	return all
}
