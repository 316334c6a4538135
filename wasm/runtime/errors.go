package runtime

import (
	"errors"
	"fmt"
)

// Conditions callers test with errors.Is. Every error this package returns for a module is an
// *Error that wraps one of them and names the module.
var (
	ErrCompile         = errors.New("wasm: module does not compile")
	ErrForbiddenImport = errors.New("wasm: module imports something the host does not provide")
	ErrMissingExport   = errors.New("wasm: missing or mistyped export")
	ErrABIVersion      = errors.New("wasm: unsupported ABI version")
	ErrConfig          = errors.New("wasm: module rejected its configuration")
	ErrTimeout         = errors.New("wasm: call deadline exceeded")
	ErrTrap            = errors.New("wasm: trap")
	ErrMemoryLimit     = errors.New("wasm: memory limit exceeded")
	ErrBadOutput       = errors.New("wasm: bad output")
	ErrQuarantined     = errors.New("wasm: module quarantined")
	ErrClosed          = errors.New("wasm: module closed")
)

// Error is a failure of one module at one step: loading, or one call of one export.
type Error struct {
	Module string // the name the module was loaded under
	Op     string // "load", "instantiate" or the export called, e.g. "skiff_filter"
	Kind   error  // one of the package's sentinels, or the caller's context error
	Err    error  // the cause, when there is more to say; may be nil
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("wasm module %q: %s: %v", e.Module, e.Op, e.Kind)
	}
	return fmt.Sprintf("wasm module %q: %s: %v: %v", e.Module, e.Op, e.Kind, e.Err)
}

// Unwrap makes errors.Is see both the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// countsAsFailure reports whether the module is to blame: such errors advance the quarantine
// counter. discards reports whether the instance is unusable afterwards.
func (e *Error) countsAsFailure() bool {
	switch e.Kind {
	case ErrTimeout, ErrTrap, ErrMemoryLimit, ErrBadOutput:
		return true
	}
	return false
}

func (e *Error) discards() bool {
	switch e.Kind {
	case ErrBadOutput, ErrQuarantined, ErrClosed, ErrMissingExport:
		return false
	}
	return true
}
