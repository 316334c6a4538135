// Package ipam hands out the pod addresses of one node from its pod CIDR and keeps every
// reservation on disk, in the manner of the CNI host-local plugin: one file per reserved address
// (named by the address, holding its owner's pod UID), a last_reserved_ip file so that released
// addresses are not reused at once, and a lock file that serialises every process using the same
// directory.
//
// A reservation is created by writing the owner to a temporary file and hard-linking it to the
// address's name: link(2) fails if the name exists, as O_EXCL does, and the name never exists
// without its full content, so a crash leaves either no reservation or a complete one (plus, at
// worst, a temporary file that the next operation removes).
package ipam

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrExhausted is returned by Allocate when every address of the pool is reserved.
var ErrExhausted = errors.New("ipam: no free address in pool")

const (
	lockName         = "lock"
	lastReservedName = "last_reserved_ip"
	tmpPrefix        = ".tmp-"
)

// Allocation is one reserved address and the owner (a pod UID) it was reserved for. An empty
// Owner marks a damaged reservation file (no readable owner); GC always removes those.
type Allocation struct {
	Owner string
	Addr  netip.Addr
}

// Store is the reservation state of one pool in one directory. It is safe for concurrent use
// by goroutines and by processes sharing the directory.
type Store struct {
	dir         string
	pool        netip.Prefix
	gateway     netip.Addr
	first, last netip.Addr
	mu          sync.Mutex
}

// Open returns the store of pool kept in dir, creating dir if needed. The pool's network
// address, its first usable address (the gateway) and, for IPv4, its broadcast address are
// never handed out; at least one address must remain.
func Open(dir string, pool netip.Prefix) (*Store, error) {
	if !pool.IsValid() {
		return nil, fmt.Errorf("ipam: opening %q: invalid pool %v", dir, pool)
	}
	pool = pool.Masked()
	network := pool.Addr()
	gateway := network.Next()
	first := gateway.Next()
	last := lastAddr(pool)
	if pool.Addr().Is4() {
		last = last.Prev() // broadcast
	}
	if !first.IsValid() || !last.IsValid() || !pool.Contains(first) || last.Less(first) {
		return nil, fmt.Errorf("ipam: opening %q: pool %v is too small (need at least one address besides network, gateway and broadcast)", dir, pool)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ipam: creating state dir %q: %w", dir, err)
	}
	return &Store{dir: dir, pool: pool, gateway: gateway, first: first, last: last}, nil
}

// lastAddr returns the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Pool returns the pool the store hands out addresses from.
func (s *Store) Pool() netip.Prefix { return s.pool }

// Gateway returns the pool's first usable address, which is reserved for the node's side.
func (s *Store) Gateway() netip.Addr { return s.gateway }

// Dir returns the directory the store keeps its files in.
func (s *Store) Dir() string { return s.dir }

// Allocate reserves an address for owner and returns it. If owner already holds an address,
// that address is returned and nothing changes. It returns ErrExhausted when the pool is full.
func (s *Store) Allocate(ctx context.Context, owner string) (netip.Addr, error) {
	if err := checkOwner(owner); err != nil {
		return netip.Addr{}, err
	}
	var addr netip.Addr
	err := s.locked(ctx, true, func() error {
		allocs, err := s.scan()
		if err != nil {
			return err
		}
		used := make(map[netip.Addr]bool, len(allocs))
		for _, a := range allocs {
			if a.Owner == owner {
				addr = a.Addr
				return nil
			}
			used[a.Addr] = true
		}
		start := s.first
		if lr, ok := s.readLastReserved(); ok {
			start = s.next(lr)
		}
		cand := start
		for {
			if !used[cand] {
				ok, err := s.reserve(cand, owner)
				if err != nil {
					return err
				}
				if ok {
					addr = cand
					return s.writeLastReserved(cand)
				}
			}
			cand = s.next(cand)
			if cand == start {
				return fmt.Errorf("ipam: allocating for %q in %v: %w", owner, s.pool, ErrExhausted)
			}
		}
	})
	return addr, err
}

// next returns the address after a in the allocatable range, wrapping around.
func (s *Store) next(a netip.Addr) netip.Addr {
	if a.Less(s.first) || !a.Less(s.last) {
		return s.first
	}
	return a.Next()
}

// Lookup returns the address owner holds, if any.
func (s *Store) Lookup(ctx context.Context, owner string) (netip.Addr, bool, error) {
	var addr netip.Addr
	var found bool
	err := s.locked(ctx, false, func() error {
		allocs, err := s.scan()
		if err != nil {
			return err
		}
		for _, a := range allocs {
			if a.Owner == owner {
				addr, found = a.Addr, true
				return nil
			}
		}
		return nil
	})
	return addr, found, err
}

// Release frees every address owner holds. Releasing an owner without an address is not an
// error. It reports whether anything was freed.
func (s *Store) Release(ctx context.Context, owner string) (bool, error) {
	if err := checkOwner(owner); err != nil {
		return false, err
	}
	var released bool
	err := s.locked(ctx, false, func() error {
		allocs, err := s.scan()
		if err != nil {
			return err
		}
		for _, a := range allocs {
			if a.Owner != owner {
				continue
			}
			if err := s.remove(a.Addr); err != nil {
				return err
			}
			released = true
		}
		return nil
	})
	return released, err
}

// List returns every reservation, ordered by address.
func (s *Store) List(ctx context.Context) ([]Allocation, error) {
	var out []Allocation
	err := s.locked(ctx, false, func() error {
		var err error
		out, err = s.scan()
		return err
	})
	return out, err
}

// GC frees every reservation whose owner is not live, and every damaged one, and returns what
// it freed, ordered by address.
func (s *Store) GC(ctx context.Context, live func(owner string) bool) ([]Allocation, error) {
	var removed []Allocation
	err := s.locked(ctx, false, func() error {
		allocs, err := s.scan()
		if err != nil {
			return err
		}
		for _, a := range allocs {
			if a.Owner != "" && live(a.Owner) {
				continue
			}
			if err := s.remove(a.Addr); err != nil {
				return err
			}
			removed = append(removed, a)
		}
		return nil
	})
	return removed, err
}

// RemoveAll deletes the store's directory with every reservation in it.
func (s *Store) RemoveAll(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ipam: removing %q: %w", s.dir, err)
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("ipam: removing %q: %w", s.dir, err)
	}
	return nil
}

func checkOwner(owner string) error {
	if owner == "" || strings.ContainsAny(owner, "\n\r\x00") {
		return fmt.Errorf("ipam: invalid owner %q", owner)
	}
	return nil
}

// locked runs fn holding the in-process mutex and the directory's file lock. Only a writer
// (create) makes a missing directory; for the others a missing directory holds nothing and
// fn does not run.
func (s *Store) locked(ctx context.Context, create bool, fn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if create {
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			return fmt.Errorf("ipam: creating state dir %q: %w", s.dir, err)
		}
	} else if _, err := os.Stat(s.dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	f, err := os.OpenFile(filepath.Join(s.dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("ipam: opening lock in %q: %w", s.dir, err)
	}
	defer f.Close()
	backoff := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("ipam: locking %q: %w", s.dir, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("ipam: waiting for lock on %q: %w", s.dir, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN) //nolint:errcheck // closing the file unlocks too
	if err := s.cleanTemp(); err != nil {
		return err
	}
	return fn()
}

// scan reads every reservation file. Files that do not name an address of the allocatable
// range are not reservations and are ignored.
func (s *Store) scan() ([]Allocation, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("ipam: reading %q: %w", s.dir, err)
	}
	var out []Allocation
	for _, e := range ents {
		a, err := netip.ParseAddr(e.Name())
		if err != nil || !e.Type().IsRegular() || !s.inRange(a) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ipam: reading reservation %v in %q: %w", a, s.dir, err)
		}
		owner, _, _ := strings.Cut(string(b), "\n")
		out = append(out, Allocation{Owner: strings.TrimSpace(owner), Addr: a})
	}
	slices.SortFunc(out, func(x, y Allocation) int { return x.Addr.Compare(y.Addr) })
	return out, nil
}

func (s *Store) inRange(a netip.Addr) bool {
	return a.IsValid() && !a.Less(s.first) && !s.last.Less(a)
}

// reserve creates the reservation file of a for owner. It reports false if a is taken.
func (s *Store) reserve(a netip.Addr, owner string) (bool, error) {
	tmp, err := os.CreateTemp(s.dir, tmpPrefix)
	if err != nil {
		return false, fmt.Errorf("ipam: reserving %v for %q: %w", a, owner, err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(owner + "\n")
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return false, fmt.Errorf("ipam: reserving %v for %q: writing %q: %w", a, owner, tmp.Name(), werr)
	}
	err = os.Link(tmp.Name(), filepath.Join(s.dir, a.String()))
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ipam: reserving %v for %q: %w", a, owner, err)
	}
	return true, s.syncDir()
}

func (s *Store) remove(a netip.Addr) error {
	err := os.Remove(filepath.Join(s.dir, a.String()))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ipam: releasing %v in %q: %w", a, s.dir, err)
	}
	return s.syncDir()
}

func (s *Store) readLastReserved() (netip.Addr, bool) {
	b, err := os.ReadFile(filepath.Join(s.dir, lastReservedName))
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(strings.TrimSpace(string(b)))
	if err != nil || !s.inRange(a) {
		return netip.Addr{}, false
	}
	return a, true
}

// writeLastReserved records a atomically (temporary file and rename); it is only a hint, so
// losing it in a crash costs nothing but the reuse order.
func (s *Store) writeLastReserved(a netip.Addr) error {
	tmp, err := os.CreateTemp(s.dir, tmpPrefix)
	if err != nil {
		return fmt.Errorf("ipam: recording last reserved %v: %w", a, err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(a.String() + "\n")
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), filepath.Join(s.dir, lastReservedName))
	}
	if werr != nil {
		return fmt.Errorf("ipam: recording last reserved %v in %q: %w", a, s.dir, werr)
	}
	return nil
}

// cleanTemp removes temporary files a crashed writer left behind. It runs under the file lock,
// so no writer is between creating and linking one.
func (s *Store) cleanTemp() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("ipam: reading %q: %w", s.dir, err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("ipam: removing stale %q: %w", e.Name(), err)
			}
		}
	}
	return nil
}

func (s *Store) syncDir() error {
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("ipam: syncing %q: %w", s.dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("ipam: syncing %q: %w", s.dir, err)
	}
	return nil
}
