package policycli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/wasm/abi"
)

const exampleDir = "../../wasm/examples/mostallocated/module"

var wasmMagic = []byte("\x00asm\x01\x00\x00\x00")

// TestBuildExample builds the example policy from its directory, into a file and to stdout,
// and checks what `policy build` reports from loading it.
func TestBuildExample(t *testing.T) {
	file := filepath.Join(t.TempDir(), "out.wasm")
	var out, errOut bytes.Buffer
	if code := Run(t.Context(), []string{"build", exampleDir, "-o", file}, &out, &errOut, nil); code != 0 {
		t.Fatalf("build = %d\n%s%s", code, out.String(), errOut.String())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, wasmMagic) {
		t.Fatalf("%s is not a wasm module", file)
	}
	for _, want := range []string{"built " + file + " from " + exampleDir, "ABI v1", "hooks filter,score", `module name "mostallocated"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("build printed %q, want %q in it", out.String(), want)
		}
	}

	// -o -: the module on stdout, the report on stderr.
	out.Reset()
	errOut.Reset()
	if code := Run(t.Context(), []string{"build", "-o", "-", exampleDir}, &out, &errOut, nil); code != 0 {
		t.Fatalf("build -o - = %d\n%s", code, errOut.String())
	}
	if !bytes.Equal(out.Bytes(), b) || !strings.Contains(errOut.String(), "hooks filter,score") {
		t.Errorf("build -o -: %d bytes on stdout (want the %d of the first build, -trimpath makes them equal), stderr %q", out.Len(), len(b), errOut.String())
	}
}

func TestBuildErrors(t *testing.T) {
	notPolicy := t.TempDir()
	if err := os.WriteFile(filepath.Join(notPolicy, "go.mod"), []byte("module example.com/p\n\ngo 1.24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A reactor without the SDK builds, and is refused when checked.
	if err := os.WriteFile(filepath.Join(notPolicy, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"no directory", []string{"build"}, 2, "one package directory"},
		{"two directories", []string{"build", "a", "b"}, 2, "one package directory"},
		{"bad flag", []string{"build", "--nope", exampleDir}, 2, "nope"},
		{"missing directory", []string{"build", filepath.Join(notPolicy, "missing")}, 1, "not a directory"},
		{"not a policy", []string{"build", notPolicy}, 1, "does not load"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Run(t.Context(), tt.args, &out, &errOut, nil)
			if code != tt.code || !strings.Contains(errOut.String(), tt.inStderr) {
				t.Errorf("code %d, stderr %q; want %d and %q", code, errOut.String(), tt.code, tt.inStderr)
			}
		})
	}
}

func TestFindGo(t *testing.T) {
	goroot := t.TempDir()
	if err := os.MkdirAll(filepath.Join(goroot, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(goroot, "bin", "go"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	onPath := func(string) (string, error) { return "/usr/bin/go", nil }
	notOnPath := func(string) (string, error) { return "", errors.New("not found") }
	tests := []struct {
		name   string
		goroot string
		look   func(string) (string, error)
		ok     bool
	}{
		{"in GOROOT", goroot, notOnPath, true},
		{"on PATH", "", onPath, true},
		{"GOROOT without go, on PATH", t.TempDir(), onPath, true},
		{"nowhere", t.TempDir(), notOnPath, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := findGo(tt.goroot, tt.look)
			if (err == nil) != tt.ok || (err != nil && !strings.Contains(err.Error(), "Go toolchain is required")) {
				t.Errorf("findGo = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestDefaultOutput(t *testing.T) {
	tests := []struct{ dir, name, want string }{
		{"x/module", "mostallocated", "mostallocated.wasm"},
		{"x/mostallocated/module", "", "mostallocated.wasm"},
		{"x/binpack", "", "binpack.wasm"},
		{"x/binpack", "../evil", "binpack.wasm"},
	}
	for _, tt := range tests {
		if got := defaultOutput(tt.dir, abi.Info{Name: tt.name}); got != tt.want {
			t.Errorf("defaultOutput(%q, %q) = %q, want %q", tt.dir, tt.name, got, tt.want)
		}
	}
}
