package policycli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-sh/skiff/wasm/abi"
	"github.com/skiff-sh/skiff/wasm/build"
	wasmrt "github.com/skiff-sh/skiff/wasm/runtime"
)

// errNoGo says the Go toolchain is missing: policies are plain Go, compiled by it.
var errNoGo = errors.New("the Go toolchain is required to build a policy (Go 1.24 or later, for GOOS=wasip1 and //go:wasmexport), " +
	"and no `go` was found on PATH; install it from https://go.dev/dl/")

// findGo reports whether a go command is available where wasm/build looks for one: in the
// GOROOT this binary was built with, else on PATH.
func findGo(goroot string, lookPath func(string) (string, error)) error {
	if goroot != "" {
		if _, err := os.Stat(filepath.Join(goroot, "bin", "go")); err == nil {
			return nil
		}
	}
	if _, err := lookPath("go"); err != nil {
		return errNoGo
	}
	return nil
}

// Built is a built and checked module.
type Built struct {
	Wasm  []byte
	Hooks wasmrt.Hooks
	Info  abi.Info
	// Took is the time of the build and the check.
	Took time.Duration
}

// BuildModule builds the policy package in dir (a `package main` using wasm/sdk) into a wasip1
// reactor module, then loads it in a fresh wasm runtime, as the cluster would (ABI version,
// imports, hooks, a dry run of each hook), and returns it.
func BuildModule(ctx context.Context, dir string) (*Built, error) {
	start := time.Now()
	if err := findGo(goruntime.GOROOT(), exec.LookPath); err != nil {
		return nil, fmt.Errorf("policy build %s: %w", dir, err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("policy build: %s is not a directory of a Go package", dir)
	}
	wasm, err := build.Module(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("policy build: %w", err)
	}
	m, closeHost, err := loadModule(ctx, filepath.Base(dir), wasm)
	if err != nil {
		return nil, fmt.Errorf("policy build %s: built, but the module does not load: %w", dir, err)
	}
	defer closeHost()
	return &Built{Wasm: wasm, Hooks: m.Hooks(), Info: m.Info(), Took: time.Since(start)}, nil
}

// loadModule loads wasm in a fresh host configured as for uploads; closeHost releases both.
func loadModule(ctx context.Context, name string, wasm []byte) (*wasmrt.Module, func(), error) {
	cfg := wasmrt.DefaultConfig()
	cfg.PoolSize = 1
	h, err := wasmrt.New(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	m, err := h.Load(ctx, name, wasm, wasmrt.ModuleOptions{})
	if err != nil {
		h.Close(context.WithoutCancel(ctx))
		return nil, nil, err
	}
	return m, func() { h.Close(context.WithoutCancel(ctx)) }, nil
}

// hookList names the hooks in the ABI's words.
func hookList(h wasmrt.Hooks) string {
	var s []string
	if h.Filter {
		s = append(s, "filter")
	}
	if h.Score {
		s = append(s, "score")
	}
	if h.Reconcile {
		s = append(s, "reconcile")
	}
	return strings.Join(s, ",")
}

// defaultOutput is NAME.wasm in the working directory: the module's own name (skiff_info), else
// the package directory's, else its parent's when the package sits in a directory named module
// (as wasm/examples/mostallocated/module).
func defaultOutput(dir string, info abi.Info) string {
	name := info.Name
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		abs, err := filepath.Abs(dir)
		if err != nil {
			abs = dir
		}
		name = filepath.Base(abs)
		if name == "module" || name == "main" {
			name = filepath.Base(filepath.Dir(abs))
		}
	}
	return name + ".wasm"
}

// buildCmd is `skiff policy build DIR [-o FILE|-]`.
func buildCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("policy build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the module to `FILE` (- for standard output; default NAME.wasm, NAME the module's)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{errors.New("policy build takes one package directory")}
	}
	dir := pos[0]
	b, err := BuildModule(ctx, dir)
	if err != nil {
		return err
	}
	report := stdout
	path := *out
	switch path {
	case "-":
		report = stderr // the module goes to stdout
		if _, err := stdout.Write(b.Wasm); err != nil {
			return fmt.Errorf("policy build: write the module: %w", err)
		}
	case "":
		path = defaultOutput(dir, b.Info)
		fallthrough
	default:
		if err := os.WriteFile(path, b.Wasm, 0o644); err != nil {
			return fmt.Errorf("policy build: %w", err)
		}
	}
	name := "(none)"
	if b.Info.Name != "" {
		name = strconv.Quote(b.Info.Name)
	}
	fmt.Fprintf(report, "built %s from %s: %.1f MiB (%d bytes), ABI v%d, hooks %s, module name %s (built and checked in %v)\n",
		path, dir, float64(len(b.Wasm))/(1<<20), len(b.Wasm), abi.Version, hookList(b.Hooks), name, b.Took.Round(10*time.Millisecond))
	return nil
}
