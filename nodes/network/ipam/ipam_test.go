package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func mustOpen(t *testing.T, dir, pool string) *Store {
	t.Helper()
	s, err := Open(dir, netip.MustParsePrefix(pool))
	if err != nil {
		t.Fatalf("Open(%q): %v", pool, err)
	}
	return s
}

func mustAlloc(t *testing.T, s *Store, owner string) netip.Addr {
	t.Helper()
	a, err := s.Allocate(t.Context(), owner)
	if err != nil {
		t.Fatalf("Allocate(%q): %v", owner, err)
	}
	return a
}

func TestOpen(t *testing.T) {
	for _, tc := range []struct {
		pool      string
		wantErr   bool
		gw, first string
		last      string
	}{
		{pool: "10.244.1.0/24", gw: "10.244.1.1", first: "10.244.1.2", last: "10.244.1.254"},
		{pool: "10.244.1.7/24", gw: "10.244.1.1", first: "10.244.1.2", last: "10.244.1.254"},
		{pool: "10.0.0.0/30", gw: "10.0.0.1", first: "10.0.0.2", last: "10.0.0.2"},
		{pool: "10.0.0.0/31", wantErr: true},
		{pool: "10.0.0.0/32", wantErr: true},
		{pool: "fd00::/120", gw: "fd00::1", first: "fd00::2", last: "fd00::ff"},
	} {
		t.Run(tc.pool, func(t *testing.T) {
			s, err := Open(t.TempDir(), netip.MustParsePrefix(tc.pool))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Open(%s) = nil error, want one", tc.pool)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%s): %v", tc.pool, err)
			}
			if got := s.Gateway().String(); got != tc.gw {
				t.Errorf("Gateway() = %s, want %s", got, tc.gw)
			}
			if s.first.String() != tc.first || s.last.String() != tc.last {
				t.Errorf("range = %s-%s, want %s-%s", s.first, s.last, tc.first, tc.last)
			}
		})
	}
	if _, err := Open(t.TempDir(), netip.Prefix{}); err == nil {
		t.Errorf("Open(invalid prefix) = nil error")
	}
}

func TestAllocateSequenceAndIdempotence(t *testing.T) {
	s := mustOpen(t, t.TempDir(), "10.244.1.0/24")
	for i, want := range []string{"10.244.1.2", "10.244.1.3", "10.244.1.4"} {
		if got := mustAlloc(t, s, fmt.Sprintf("pod-%d", i)); got.String() != want {
			t.Errorf("Allocate(pod-%d) = %s, want %s", i, got, want)
		}
	}
	if got := mustAlloc(t, s, "pod-1"); got.String() != "10.244.1.3" {
		t.Errorf("second Allocate(pod-1) = %s, want the same 10.244.1.3", got)
	}
	all, err := s.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Errorf("List() = %v, want 3 allocations", all)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir(), "10.244.1.3"))
	if err != nil || string(b) != "pod-1\n" {
		t.Errorf("reservation file = %q, %v; want %q", b, err, "pod-1\n")
	}
	if a, ok, err := s.Lookup(t.Context(), "pod-2"); err != nil || !ok || a.String() != "10.244.1.4" {
		t.Errorf("Lookup(pod-2) = %v %v %v", a, ok, err)
	}
	if _, ok, err := s.Lookup(t.Context(), "nobody"); err != nil || ok {
		t.Errorf("Lookup(nobody) = %v %v, want not found", ok, err)
	}
}

func TestExhaustionAndReuse(t *testing.T) {
	s := mustOpen(t, t.TempDir(), "10.0.0.0/29") // .2 - .6
	var got []string
	for i := range 5 {
		got = append(got, mustAlloc(t, s, fmt.Sprintf("p%d", i)).String())
	}
	want := []string{"10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"}
	if !slices.Equal(got, want) {
		t.Fatalf("allocations = %v, want %v", got, want)
	}
	if _, err := s.Allocate(t.Context(), "p5"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("Allocate on a full pool: err = %v, want ErrExhausted", err)
	}
	if ok, err := s.Release(t.Context(), "p2"); err != nil || !ok {
		t.Fatalf("Release(p2) = %v, %v", ok, err)
	}
	if ok, err := s.Release(t.Context(), "p2"); err != nil || ok {
		t.Fatalf("second Release(p2) = %v, %v; want false, nil", ok, err)
	}
	if a := mustAlloc(t, s, "p5"); a.String() != "10.0.0.4" {
		t.Errorf("Allocate after release = %s, want the freed 10.0.0.4", a)
	}
}

func TestReleasedAddressNotReusedAtOnce(t *testing.T) {
	s := mustOpen(t, t.TempDir(), "10.0.0.0/24")
	a := mustAlloc(t, s, "a")
	if _, err := s.Release(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if b := mustAlloc(t, s, "b"); b == a {
		t.Errorf("Allocate right after release reused %s; want the next address", a)
	}
	// A second store on the same directory (another process) continues from last_reserved_ip.
	s2 := mustOpen(t, s.Dir(), "10.0.0.0/24")
	if c := mustAlloc(t, s2, "c"); c.String() != "10.0.0.4" {
		t.Errorf("Allocate from a reopened store = %s, want 10.0.0.4", c)
	}
}

func TestCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, "10.0.0.0/29")
	// A crash between writing and linking leaves a temporary file; one between create and write
	// (an O_EXCL writer) leaves an empty reservation; foreign files must be left alone.
	for name, content := range map[string]string{
		".tmp-123":   "ghost\n",
		"10.0.0.2":   "",
		"notes.txt":  "keep",
		"10.0.0.200": "out of range",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if a := mustAlloc(t, s, "p"); a.String() != "10.0.0.3" {
		t.Errorf("Allocate = %s, want 10.0.0.3 (the empty reservation of .2 still holds it)", a)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-123")); !os.IsNotExist(err) {
		t.Errorf("stale temporary file survived: %v", err)
	}
	removed, err := s.GC(t.Context(), func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0].Addr.String() != "10.0.0.2" || removed[0].Owner != "" {
		t.Errorf("GC(all live) removed %v, want only the damaged 10.0.0.2", removed)
	}
	for _, keep := range []string{"notes.txt", "10.0.0.200", "10.0.0.3"} {
		if _, err := os.Stat(filepath.Join(dir, keep)); err != nil {
			t.Errorf("%s was removed: %v", keep, err)
		}
	}
}

func TestGC(t *testing.T) {
	s := mustOpen(t, t.TempDir(), "10.0.0.0/24")
	for _, o := range []string{"a", "b", "c", "d"} {
		mustAlloc(t, s, o)
	}
	live := map[string]bool{"b": true, "d": true}
	removed, err := s.GC(t.Context(), func(o string) bool { return live[o] })
	if err != nil {
		t.Fatal(err)
	}
	var gotRemoved []string
	for _, r := range removed {
		gotRemoved = append(gotRemoved, r.Owner)
	}
	if !slices.Equal(gotRemoved, []string{"a", "c"}) {
		t.Errorf("GC removed %v, want [a c]", gotRemoved)
	}
	left, err := s.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var owners []string
	for _, a := range left {
		owners = append(owners, a.Owner)
	}
	if !slices.Equal(owners, []string{"b", "d"}) {
		t.Errorf("after GC List owners = %v, want [b d]", owners)
	}
	if err := s.RemoveAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Dir()); !os.IsNotExist(err) {
		t.Errorf("RemoveAll left %s: %v", s.Dir(), err)
	}
}

func TestInvalidOwner(t *testing.T) {
	s := mustOpen(t, t.TempDir(), "10.0.0.0/24")
	for _, o := range []string{"", "a\nb", "x\x00"} {
		if _, err := s.Allocate(t.Context(), o); err == nil {
			t.Errorf("Allocate(%q) = nil error", o)
		}
	}
}

// Two stores on one directory stand for two processes; every owner must get a distinct address.
func TestConcurrentStoresShareDirectory(t *testing.T) {
	dir := t.TempDir()
	stores := []*Store{mustOpen(t, dir, "10.0.0.0/24"), mustOpen(t, dir, "10.0.0.0/24")}
	const n = 40
	addrs := make([]netip.Addr, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			addrs[i], errs[i] = stores[i%2].Allocate(t.Context(), fmt.Sprintf("pod-%d", i))
		})
	}
	wg.Wait()
	seen := map[netip.Addr]int{}
	for i, a := range addrs {
		if errs[i] != nil {
			t.Fatalf("Allocate(pod-%d): %v", i, errs[i])
		}
		if j, dup := seen[a]; dup {
			t.Fatalf("pod-%d and pod-%d both got %s", i, j, a)
		}
		seen[a] = i
	}
}

func TestContextCancelledWhileLocked(t *testing.T) {
	s := mustOpen(t, t.TempDir(), "10.0.0.0/24")
	held := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	other := mustOpen(t, s.Dir(), "10.0.0.0/24")
	go func() {
		done <- s.locked(t.Context(), true, func() error { close(held); <-release; return nil })
	}()
	<-held
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := other.Allocate(ctx, "x"); err == nil {
		t.Errorf("Allocate with a cancelled context while the lock is held = nil error")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
