// Package build compiles policy modules: a Go package written against
// wasm/sdk becomes a wasip1 reactor module (GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared). Tests, the Makefile's built-in modules and
// `skiff policy build` use it. Builds are cached by a hash of the
// sources, so a module is rebuilt only when its code (or the SDK's, or the
// toolchain) changes.
package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Module builds the policy package in dir (a directory of a Go module;
// the build runs there, with that module's go.mod) and returns the .wasm.
func Module(ctx context.Context, dir string) ([]byte, error) {
	out, err := os.CreateTemp("", "skiff-policy-*.wasm")
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	out.Close()
	defer os.Remove(out.Name())
	if err := To(ctx, dir, out.Name()); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(out.Name())
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	return b, nil
}

// To builds the policy package in dir into the file out.
func To(ctx context.Context, dir, out string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	cmd := exec.CommandContext(ctx, goTool(), "build", "-trimpath", "-buildmode=c-shared", "-o", abs, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build: %s: %w\n%s", dir, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// goTool is the go command of the toolchain running this process when it
// is a test or `go run`, else the go on PATH.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Cached builds the policy package in dir unless a build of the same
// sources is cached under os.TempDir. deps are further directories whose
// .go files the build depends on (wasm/sdk and wasm/abi for a policy of
// this repository); their contents are part of the cache key.
func Cached(ctx context.Context, dir string, deps ...string) ([]byte, error) {
	key, err := sourceHash(append([]string{dir}, deps...))
	if err != nil {
		return nil, err
	}
	cacheDir := filepath.Join(os.TempDir(), "skiff-policy-cache")
	path := filepath.Join(cacheDir, key+".wasm")
	if b, err := os.ReadFile(path); err == nil {
		return b, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("build: cache: %w", err)
	}
	tmp := path + fmt.Sprintf(".%d.tmp", os.Getpid())
	defer os.Remove(tmp)
	if err := To(ctx, dir, tmp); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("build: cache: %w", err)
	}
	return os.ReadFile(path)
}

// sourceHash covers the toolchain and every .go file under roots.
func sourceHash(roots []string) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version())
	for _, root := range roots {
		var files []string
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (filepath.Ext(p) == ".go" || d.Name() == "go.mod") {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			return "", fmt.Errorf("build: hash %s: %w", root, err)
		}
		sort.Strings(files)
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				return "", fmt.Errorf("build: hash: %w", err)
			}
			fmt.Fprintln(h, filepath.ToSlash(f))
			_, err = io.Copy(h, fh)
			fh.Close()
			if err != nil {
				return "", fmt.Errorf("build: hash: %w", err)
			}
		}
	}
	if len(roots) == 0 {
		return "", errors.New("build: nothing to hash")
	}
	return hex.EncodeToString(h.Sum(nil))[:20], nil
}
