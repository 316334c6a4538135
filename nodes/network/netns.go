package network

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// isNetnsMount reports whether path is a mounted network namespace (an nsfs bind mount).
func isNetnsMount(path string) (bool, error) {
	var st unix.Statfs_t
	err := unix.Statfs(path, &st)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("network: checking netns mount %q: %w", path, err)
	}
	return st.Type == unix.NSFS_MAGIC, nil
}

// createNetns makes a new network namespace and bind-mounts it on path, so it lives until
// removeNetns, whatever processes come and go. An existing mount on path is kept.
func createNetns(path string) error {
	if ok, err := isNetnsMount(path); err != nil || ok {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("network: creating netns dir for %q: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o444)
	if err != nil {
		return fmt.Errorf("network: creating netns mount point %q: %w", path, err)
	}
	f.Close()

	errc := make(chan error, 1)
	go func() {
		// The thread goes back to its namespace before it is unlocked. Were it left to die
		// locked instead, the main thread would not die but be wedged in the new namespace,
		// and /proc/self/ns/net (the process's namespace) would then name the pod's.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("getting thread netns: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		merr := unix.Mount(src, path, "none", unix.MS_BIND, "")
		if merr != nil {
			merr = fmt.Errorf("bind-mounting %s: %w", src, merr)
		}
		if err := netns.Set(orig); err != nil {
			// Stay locked: the thread ends with this goroutine. The namespace is fine.
			errc <- merr
			return
		}
		runtime.UnlockOSThread()
		errc <- merr
	}()
	if err := <-errc; err != nil {
		removeNetns(path) //nolint:errcheck // best effort; the error below is what matters
		return fmt.Errorf("network: creating netns at %q: %w", path, err)
	}
	return nil
}

// removeNetns unmounts the namespace on path (every stacked mount) and removes the file.
// A missing or unmounted path is not an error. The kernel frees the namespace, and the links
// in it, once no process is left inside.
func removeNetns(path string) error {
	for range 16 {
		err := unix.Unmount(path, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			break
		}
		if err != nil {
			return fmt.Errorf("network: unmounting netns %q: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("network: removing netns file %q: %w", path, err)
	}
	return nil
}

// inNetns runs fn on an OS thread that is inside ns for the duration of the call. Sockets and
// /proc/sys/net files opened by fn belong to ns.
func inNetns(ns netns.NsHandle, fn func() error) error {
	type result struct{ err, restoreErr error }
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("network: getting thread netns: %w", err)}
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("network: entering netns: %w", err)}
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Stay locked: the thread dies with this goroutine instead of serving others
			// from the wrong namespace.
			done <- result{err: ferr, restoreErr: fmt.Errorf("network: leaving netns: %w", err)}
			return
		}
		runtime.UnlockOSThread()
		done <- result{err: ferr}
	}()
	r := <-done
	return errors.Join(r.err, r.restoreErr)
}
