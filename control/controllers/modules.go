package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/policies/deployment"
	"github.com/skiff-sh/skiff/wasm/policies/endpoints"
	"github.com/skiff-sh/skiff/wasm/policies/nodelifecycle"
	"github.com/skiff-sh/skiff/wasm/policies/replicaset"
	"github.com/skiff-sh/skiff/wasm/runtime"
	"github.com/skiff-sh/skiff/wasm/sdk"
)

// Module names: the keys of the policies and of the module bytes the host expects.
const (
	ReplicaSetModule = "replicaset"
	DeploymentModule = "deployment"
	// EndpointsModule decides both the Endpoints and the EndpointSlices of a Service.
	EndpointsModule = "endpoints"
	// NodeLifecycleModule decides what becomes of a lost node and its pods; its host is
	// control/nodelifecycle.
	NodeLifecycleModule = "nodelifecycle"
)

// ReconcileDeadline bounds one reconcile call. It is longer than the
// host's default (made for the scheduler's hot path): a reconcile decodes
// an object and everything it owns as JSON, once per change, and must not
// fail because the machine is busy.
const ReconcileDeadline = time.Second

// Reconciler is a controller policy: a loaded module (*runtime.Module) or a policy run in
// process (*sdk.NativeReconciler).
type Reconciler interface {
	Reconcile(ctx context.Context, req *abi.ReconcileRequest) (*abi.ReconcileResult, error)
}

// Load loads the modules (name → .wasm) into host, as the policies of New. close releases them.
func Load(ctx context.Context, host *runtime.Host, modules map[string][]byte) (policies map[string]Reconciler, close func(context.Context) error, err error) {
	var loaded []*runtime.Module
	closeAll := func(ctx context.Context) error {
		var errs []error
		for _, m := range loaded {
			errs = append(errs, m.Close(ctx))
		}
		return errors.Join(errs...)
	}
	policies = map[string]Reconciler{}
	for name, wasm := range modules {
		m, err := host.Load(ctx, name, wasm, runtime.ModuleOptions{CallTimeout: ReconcileDeadline})
		if err != nil {
			closeAll(ctx)
			return nil, nil, fmt.Errorf("controllers: load module %s: %w", name, err)
		}
		if !m.Hooks().Reconcile {
			loaded = append(loaded, m)
			closeAll(ctx)
			return nil, nil, fmt.Errorf("controllers: module %s has no reconcile hook", name)
		}
		loaded = append(loaded, m)
		policies[name] = m
	}
	return policies, closeAll, nil
}

// Native is the built-in policies compiled into this process, run through the SDK's native
// adapter (the same JSON round trip a module gets). Tests and `skiff policy test` compare them
// with the modules.
func Native() map[string]Reconciler {
	return map[string]Reconciler{
		ReplicaSetModule:    sdk.NewNativeReconciler(replicaset.Policy{}),
		DeploymentModule:    sdk.NewNativeReconciler(deployment.Policy{}),
		EndpointsModule:     sdk.NewNativeReconciler(endpoints.Policy{}),
		NodeLifecycleModule: sdk.NewNativeReconciler(nodelifecycle.Policy{}),
	}
}
