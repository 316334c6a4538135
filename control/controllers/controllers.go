package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-sh/skiff/control/informer"
	"github.com/skiff-sh/skiff/control/registry"
)

// Defaults.
const (
	// DefaultWorkers is how many keys each controller reconciles at once.
	DefaultWorkers = 4
	// ExpectationTimeout is how long a key waits for the informers to show its writes.
	ExpectationTimeout = 15 * time.Second
)

// Controllers runs the ReplicaSet, Deployment, and Endpoints and EndpointSlice controllers.
type Controllers struct {
	reg      *registry.Registry
	policies map[string]Reconciler
	log      *slog.Logger
	// Informers, if set, is the factory of the leadership term, shared with other controllers:
	// Run starts it with its ctx and its owner shuts it down. If nil, Run makes its own.
	Informers *informer.Factory
	// Now is the clock handed to policies (tests move it). Default time.Now.
	Now func() time.Time
	// Workers per controller; default DefaultWorkers.
	Workers int
}

// New returns the controllers of reg deciding with policies (keys ReplicaSetModule,
// DeploymentModule and EndpointsModule; a controller whose policy is missing does not run). A
// nil logger discards.
func New(reg *registry.Registry, policies map[string]Reconciler, logger *slog.Logger) *Controllers {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Controllers{reg: reg, policies: policies, log: logger, Now: time.Now, Workers: DefaultWorkers}
}

// kind describes one controller: the kind it reconciles and the kind it controls.
type kind struct {
	module    string
	component string // event source and field manager
	owner     *registry.Store
	owned     *registry.Store
	// selector of an owner object.
	selector func(runtime.Object) *metav1.LabelSelector
}

func (c *Controllers) kinds() ([]kind, error) {
	deployments := c.reg.Store(appsv1.SchemeGroupVersion.WithResource("deployments"))
	replicaSets := c.reg.Store(appsv1.SchemeGroupVersion.WithResource("replicasets"))
	pods := c.reg.Store(corev1.SchemeGroupVersion.WithResource("pods"))
	if deployments == nil || replicaSets == nil || pods == nil {
		return nil, fmt.Errorf("controllers: the registry must serve deployments, replicasets and pods")
	}
	var out []kind
	if c.policies[ReplicaSetModule] != nil {
		out = append(out, kind{
			module: ReplicaSetModule, component: "replicaset-controller", owner: replicaSets, owned: pods,
			selector: func(o runtime.Object) *metav1.LabelSelector { return o.(*appsv1.ReplicaSet).Spec.Selector },
		})
	}
	if c.policies[DeploymentModule] != nil {
		out = append(out, kind{
			module: DeploymentModule, component: "deployment-controller", owner: deployments, owned: replicaSets,
			selector: func(o runtime.Object) *metav1.LabelSelector { return o.(*appsv1.Deployment).Spec.Selector },
		})
	}
	return out, nil
}

// Run runs the controllers until ctx ends (one leadership term), then returns nil once
// everything it started has stopped.
func (c *Controllers) Run(ctx context.Context) error {
	kinds, err := c.kinds()
	if err != nil {
		return err
	}
	events := c.reg.Store(corev1.SchemeGroupVersion.WithResource("events"))
	f := c.Informers
	if f == nil {
		f = informer.NewFactory(c.reg, 0, c.log)
		defer f.Shutdown()
	}
	workers := c.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	var loops []*loop
	for _, k := range kinds {
		l, err := newLoop(c, k, f, events)
		if err != nil {
			for _, l := range loops {
				l.stop()
			}
			return err
		}
		loops = append(loops, l)
	}
	var eps *endpointsLoop
	if c.policies[EndpointsModule] != nil {
		if eps, err = newEndpointsLoop(c, f, events); err != nil {
			for _, l := range loops {
				l.stop()
			}
			return err
		}
	}
	f.Start(ctx)
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Go(func() { l.run(ctx, workers) })
	}
	if eps != nil {
		wg.Go(func() { eps.run(ctx, workers) })
	}
	wg.Wait()
	return nil
}
