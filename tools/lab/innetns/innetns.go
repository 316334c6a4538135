// Package innetns runs Go code inside a network namespace: a function on a
// locked OS thread (Do), and TCP dials from inside it (Dialer, HTTPClient), so
// the lab and its tests can talk to lab addresses from a lab VM's point of view
// without spawning a process. It also creates and deletes named namespaces
// (NewNamed, DeleteNamed) the way `ip netns` names them.
//
// A thread whose namespace cannot be restored is never handed back to the Go
// runtime: its goroutine exits still locked, and the runtime ends the thread.
package innetns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread that has joined the network namespace at path
// (e.g. /run/netns/skiff-vm1). fn must not start goroutines that expect to be
// in that namespace: only its own thread is.
func Do(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// A fresh goroutine, so a thread we cannot restore dies with it.
		runtime.LockOSThread()
		restored := false
		defer func() {
			if restored {
				runtime.UnlockOSThread()
			}
		}()
		orig, err := netns.Get()
		if err != nil {
			restored = true
			errc <- fmt.Errorf("innetns: getting current network namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			restored = true
			errc <- fmt.Errorf("innetns: opening network namespace %s: %w", path, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			restored = netns.Set(orig) == nil
			errc <- fmt.Errorf("innetns: entering network namespace %s: %w", path, err)
			return
		}
		ferr := fn()
		restored = netns.Set(orig) == nil
		errc <- ferr
	}()
	return <-errc
}

// Dialer returns a DialContext function whose sockets live in the network
// namespace at path. Addresses must be IP literals (host:port): nothing is
// resolved, so no lookup ever leaves the namespace.
func Dialer(path string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("innetns: dialing %s in %s: %w", addr, path, err)
		}
		if _, err := netip.ParseAddr(host); err != nil {
			return nil, fmt.Errorf("innetns: dialing %s in %s: want an IP address, not a name", addr, path)
		}
		var conn net.Conn
		err = Do(path, func() error {
			// The socket is created on this (locked) thread, so it belongs to
			// the namespace; with an IP literal the dial stays on this goroutine.
			var derr error
			conn, derr = (&net.Dialer{}).DialContext(ctx, network, addr)
			return derr
		})
		return conn, err
	}
}

// Transport returns an HTTP transport dialing from inside the network
// namespace at path, with no proxy.
func Transport(path string) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           Dialer(path),
		MaxIdleConns:          10,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ForceAttemptHTTP2:     false,
	}
}

// HTTPClient returns an HTTP client whose connections start inside the
// network namespace at path (a curl run in that namespace, without curl).
func HTTPClient(path string) *http.Client {
	return &http.Client{Transport: Transport(path)}
}

// Dir is where named network namespaces live, as with `ip netns`.
const Dir = "/run/netns"

// NewNamed creates a network namespace bind-mounted at Dir/name (usable
// with `ip netns exec name` and nsenter --net=) and returns that path. The
// caller's threads stay where they are. Unlike `ip netns add` it does not
// turn Dir into a shared self-bind mount, so nothing outlives DeleteNamed.
func NewNamed(name string) (string, error) {
	path := filepath.Join(Dir, name)
	if name == "" || strings.ContainsRune(name, '/') {
		return "", fmt.Errorf("innetns: bad namespace name %q", name)
	}
	if _, err := os.Lstat(path); err == nil {
		return "", fmt.Errorf("innetns: network namespace %s already exists", path)
	}
	errc := make(chan error, 1)
	go func() {
		// netns.NewNamed moves this thread into the new namespace; a thread
		// that cannot move back stays locked and dies with this goroutine.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("innetns: getting current network namespace: %w", err)
			return
		}
		defer orig.Close()
		h, err := netns.NewNamed(name)
		if err == nil {
			h.Close()
		}
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		if err != nil {
			// NewNamed may leave an empty file (or a mount) behind.
			_ = unix.Unmount(path, unix.MNT_DETACH)
			_ = os.Remove(path)
			errc <- fmt.Errorf("innetns: creating network namespace %s: %w", name, err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		return "", err
	}
	return path, nil
}

// DeleteNamed unmounts and removes Dir/name; the namespace goes away with
// its last process. A missing namespace is not an error.
func DeleteNamed(name string) error {
	path := filepath.Join(Dir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("innetns: unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("innetns: removing %s: %w", path, err)
	}
	return nil
}
