package loggerbin

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestInstall covers both builds: with the logger embedded (after `make
// build`) it is installed once, executable and byte for byte; without it
// Install says so and writes nothing.
func TestInstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bin")
	want, err := Binary()
	if errors.Is(err, ErrNotBuilt) {
		if _, err := Install(dir); !errors.Is(err, ErrNotBuilt) {
			t.Fatalf("Install without the logger = %v, want ErrNotBuilt", err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("Install without the logger created %s", dir)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	path, err := Install(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("installed %d bytes (%v), want the embedded %d", len(got), err, len(want))
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm()&0o111 == 0 {
		t.Fatalf("installed logger mode %v is not executable", st.Mode())
	}
	before := st.ModTime()
	if _, err := Install(dir); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); !st.ModTime().Equal(before) {
		t.Error("a second Install rewrote an identical logger")
	}
	if err := os.WriteFile(path, []byte("stale"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(dir); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Error("a stale logger was not replaced")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in %s, want only the logger (no temporary files left)", len(entries), dir)
	}
}
