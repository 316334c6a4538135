// Package sdk turns plain Go into a Skiff policy module. A module author implements Scheduler
// (or Reconciler), registers it from an init function, and leaves main empty:
//
//	package main
//
//	import "github.com/skiff-sh/skiff/wasm/sdk"
//
//	func init() { sdk.RegisterScheduler(myPolicy{}) }
//	func main() {}
//
// Built with `GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o policy.wasm ./dir`, the
// SDK provides the module's exports (skiff_abi_version, skiff_arena, skiff_filter, skiff_score,
// skiff_reconcile, skiff_configure, skiff_info; see ../ABI.md) and hands the policy views of the
// arena the host writes into, so a hot-path call allocates nothing in the guest. Built for the
// host, the same policy runs in-process through NativeScheduler and NativeReconciler, which drive
// it through the very same encoding; `skiff policy test` and `skiff bench scheduler` compare the two.
//
// Hooks a module registers nothing for answer abi.StatusNotImplemented, which the host treats as
// the hook being absent.
package sdk

import "github.com/skiff-sh/skiff/wasm/abi"

// Scheduler is a scheduling policy. Both methods see all of one pod's candidate nodes at once.
//
// Filter must call out.Set for every node i in [0, nodes.Len()) with abi.Feasible, or with
// abi.Unschedulable / abi.Unresolvable and the reasons. Score must call out.Set for every node i
// in [0, nodes.Len()) (the nodes that passed the filter) with a score in [0, abi.MaxScore].
// Neither may keep the views after returning.
type Scheduler interface {
	Filter(pod abi.Pod, nodes abi.Nodes, out abi.Verdicts)
	Score(pod abi.Pod, nodes abi.Nodes, out abi.Scores)
}

// Reconciler is a controller policy: given one object and all it owns, it says what to write.
type Reconciler interface {
	Reconcile(req *abi.ReconcileRequest) (*abi.ReconcileResult, error)
}

// Configurer is implemented by policies that take a configuration document (JSON), given once
// per instance before any other call.
type Configurer interface {
	Configure(config []byte) error
}

var (
	scheduler  Scheduler
	reconciler Reconciler
	info       abi.Info
)

// RegisterScheduler makes s the module's scheduler (skiff_filter and skiff_score).
func RegisterScheduler(s Scheduler) { scheduler = s }

// RegisterReconciler makes r the module's controller (skiff_reconcile).
func RegisterReconciler(r Reconciler) { reconciler = r }

// SetInfo sets what skiff_info answers: the module's name and the texts of its own reason bits.
func SetInfo(i abi.Info) { info = i }

// configure hands config to every registered policy that takes one.
func configure(config []byte) error {
	if c, ok := scheduler.(Configurer); ok {
		if err := c.Configure(config); err != nil {
			return err
		}
	}
	if c, ok := reconciler.(Configurer); ok {
		if err := c.Configure(config); err != nil {
			return err
		}
	}
	return nil
}
