// Package builtin holds the policy modules compiled into the skiff binary: the default
// scheduler (../policies/scheduler) and the replicaset, deployment and endpoints controllers
// (../policies/replicaset, ../policies/deployment, ../policies/endpoints, ../policies/nodelifecycle). `make wasm` (which `make build` depends on) builds them into
// modules/, and this package embeds whatever is there. A clean checkout has only a placeholder,
// so `go test ./...` compiles; then the accessors return ErrNotBuilt and tests build the module
// from source instead (package builtintest).
package builtin

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
)

// SchedulerName is the spec.schedulerName of the built-in scheduler.
const SchedulerName = "default-scheduler"

// SchedulerFile is where `make wasm` writes the default scheduler module.
const SchedulerFile = "modules/scheduler.wasm"

// ErrNotBuilt means the binary was built without `make wasm`: only the placeholder is embedded.
var ErrNotBuilt = errors.New("builtin: module not built into this binary (run `make wasm`, or `make build`)")

//go:embed modules
var modules embed.FS

var wasmMagic = []byte("\x00asm")

// Where `make wasm` writes the controller modules.
const (
	ReplicaSetFile = "modules/replicaset.wasm"
	DeploymentFile = "modules/deployment.wasm"
	EndpointsFile  = "modules/endpoints.wasm"
	// NodeLifecycleFile is the node lifecycle controller (../policies/nodelifecycle).
	NodeLifecycleFile = "modules/nodelifecycle.wasm"
)

// Scheduler returns the default scheduler module.
func Scheduler() ([]byte, error) { return module(SchedulerFile) }

// ReplicaSet returns the replicaset controller module.
func ReplicaSet() ([]byte, error) { return module(ReplicaSetFile) }

// Deployment returns the deployment controller module.
func Deployment() ([]byte, error) { return module(DeploymentFile) }

// Endpoints returns the endpoints and endpointslice controller module.
func Endpoints() ([]byte, error) { return module(EndpointsFile) }

// NodeLifecycle returns the node lifecycle controller module.
func NodeLifecycle() ([]byte, error) { return module(NodeLifecycleFile) }

func module(path string) ([]byte, error) {
	b, err := modules.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotBuilt, path)
	}
	if err != nil {
		return nil, fmt.Errorf("builtin: %s: %w", path, err)
	}
	if len(b) < len(wasmMagic) || string(b[:len(wasmMagic)]) != string(wasmMagic) {
		return nil, fmt.Errorf("%w: %s is not a wasm module", ErrNotBuilt, path)
	}
	return b, nil
}
