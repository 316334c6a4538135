//go:build integration

package lab

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDataDiskFillsAndFrees mounts a small data disk under a lab directory
// (no network: a lab record with one VM), fills it so a write fails with
// ENOSPC, frees it so writes work again, and leaves no mount behind.
func TestDataDiskFillsAndFrees(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	l := &Lab{logger: orDiscard(nil), state: State{Config: Config{Dir: dir}, VMs: []VM{{Name: "vm1"}}}}
	t.Cleanup(func() {
		if err := unmountUnder(dir); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	if err := l.MountDataDisk("vm1", 8<<20); err != nil {
		t.Fatal(err)
	}
	if !l.DataDiskMounted("vm1") {
		t.Fatal("the data disk is not seen mounted")
	}
	if err := l.MountDataDisk("vm1", 8<<20); err != nil {
		t.Errorf("mounting again: %v", err)
	}
	probe := filepath.Join(l.ServerDir("vm1"), "probe")
	n, err := l.FillDisk("vm1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("filled %d bytes", n)
	if n < 7<<20 {
		t.Errorf("filled only %d bytes of an 8 MiB disk", n)
	}
	if err := os.WriteFile(probe, make([]byte, 4096), 0o600); !errors.Is(err, unix.ENOSPC) {
		t.Errorf("a write to the full disk: %v, want ENOSPC", err)
	}
	if err := l.FreeDisk("vm1"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(probe, make([]byte, 4096), 0o600); err != nil {
		t.Errorf("a write after freeing: %v", err)
	}
	// A directory with data is not hidden under a new mount.
	other := &Lab{logger: orDiscard(nil), state: State{Config: Config{Dir: t.TempDir()}, VMs: []VM{{Name: "vm2"}}}}
	if err := os.MkdirAll(other.ServerDir("vm2"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other.ServerDir("vm2"), "raft.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := other.MountDataDisk("vm2", 8<<20); err == nil {
		_ = unmountUnder(other.Dir())
		t.Error("mounted over a server directory holding data")
	}
}
