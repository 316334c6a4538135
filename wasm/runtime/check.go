package runtime

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/skiff-sh/skiff/wasm/abi"
)

var (
	sigNone = []api.ValueType{}
	sigI32  = []api.ValueType{api.ValueTypeI32}
)

type exportSig struct {
	name            string
	params, results []api.ValueType
	required        bool
}

var exportSigs = []exportSig{
	{abi.ExportVersion, sigNone, sigI32, true},
	{abi.ExportArena, sigI32, sigI32, true},
	{abi.ExportConfigure, sigNone, sigI32, false},
	{abi.ExportInfo, sigNone, sigI32, false},
	{abi.ExportFilter, sigNone, sigI32, false},
	{abi.ExportScore, sigNone, sigI32, false},
	{abi.ExportReconcile, sigNone, sigI32, false},
}

// checkModule refuses imports other than WASI functions and checks the ABI exports. It returns
// the start functions to run (a Go reactor's _initialize) and the hooks the exports claim.
func checkModule(c wazero.CompiledModule) ([]string, Hooks, error) {
	var bad []string
	for _, f := range c.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != wasi_snapshot_preview1.ModuleName {
			bad = append(bad, mod+"."+name)
		}
	}
	for _, m := range c.ImportedMemories() {
		mod, name, _ := m.Import()
		bad = append(bad, mod+"."+name+" (memory)")
	}
	if len(bad) > 0 {
		return nil, Hooks{}, &Error{Op: "load", Kind: ErrForbiddenImport,
			Err: fmt.Errorf("imports %s; only %s functions are provided", strings.Join(bad, ", "), wasi_snapshot_preview1.ModuleName)}
	}
	exports := c.ExportedFunctions()
	if _, ok := c.ExportedMemories()[abi.ExportMemory]; !ok {
		return nil, Hooks{}, &Error{Op: "load", Kind: ErrMissingExport, Err: fmt.Errorf("no exported memory %q", abi.ExportMemory)}
	}
	for _, s := range exportSigs {
		def, ok := exports[s.name]
		if !ok {
			if s.required {
				return nil, Hooks{}, &Error{Op: "load", Kind: ErrMissingExport,
					Err: fmt.Errorf("no function %q (is it built with the skiff SDK?)", s.name)}
			}
			continue
		}
		if !slices.Equal(def.ParamTypes(), s.params) || !slices.Equal(def.ResultTypes(), s.results) {
			return nil, Hooks{}, &Error{Op: "load", Kind: ErrMissingExport,
				Err: fmt.Errorf("function %q has type %s, want %s", s.name, sigString(def.ParamTypes(), def.ResultTypes()), sigString(s.params, s.results))}
		}
	}
	hooks := Hooks{}
	_, hooks.Filter = exports[abi.ExportFilter]
	_, hooks.Score = exports[abi.ExportScore]
	_, hooks.Reconcile = exports[abi.ExportReconcile]
	if !hooks.Filter && !hooks.Score && !hooks.Reconcile {
		return nil, Hooks{}, &Error{Op: "load", Kind: ErrMissingExport,
			Err: fmt.Errorf("no hook exported (want %s, %s or %s)", abi.ExportFilter, abi.ExportScore, abi.ExportReconcile)}
	}
	var start []string
	if _, ok := exports["_initialize"]; ok {
		start = []string{"_initialize"}
	} else if _, ok := exports["_start"]; ok {
		return nil, Hooks{}, &Error{Op: "load", Kind: ErrMissingExport,
			Err: fmt.Errorf("module is a command (_start), not a reactor: build it with -buildmode=c-shared")}
	}
	return start, hooks, nil
}

func sigString(params, results []api.ValueType) string {
	name := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return name(params) + " -> " + name(results)
}
