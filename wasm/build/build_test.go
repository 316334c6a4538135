package build_test

import (
	"bytes"
	"testing"

	"github.com/skiff-sh/skiff/wasm/build"
)

// TestCachedBuildsTheExamplePolicy builds the runtime tests' example
// policy and checks it is a wasm module, and that a second call is served
// from the cache with the same bytes.
func TestCachedBuildsTheExamplePolicy(t *testing.T) {
	dir := "../runtime/testdata/leastalloc"
	a, err := build.Cached(t.Context(), dir, "../sdk", "../abi")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(a, []byte("\x00asm\x01\x00\x00\x00")) {
		t.Fatalf("not a wasm module: % x", a[:min(8, len(a))])
	}
	b, err := build.Cached(t.Context(), dir, "../sdk", "../abi")
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("second build: %v, same bytes %v", err, bytes.Equal(a, b))
	}
	if _, err := build.Module(t.Context(), "../runtime/testdata/does-not-exist"); err == nil {
		t.Fatal("building a missing package succeeded")
	}
}
