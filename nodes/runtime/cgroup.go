package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// RemoveCgroup removes the (empty) cgroup at path, e.g. a pod's
// "/skiff/<node>/<pod-uid>" once its containers are deleted, from every
// hierarchy (cgroup v1 controllers and the unified one). runc removes a
// container's own cgroup; the parents it created are left to the caller.
// A path that does not exist is not an error; one still in use is.
func RemoveCgroup(path string) error {
	if !filepath.IsAbs(path) || path == "/" || strings.Contains(path, "..") {
		return fmt.Errorf("runtime: removing cgroup %q: not an absolute path below the root", path)
	}
	ents, err := os.ReadDir(cgroupRoot)
	if err != nil {
		return fmt.Errorf("runtime: removing cgroup %s: %w", path, err)
	}
	var errs []error
	for _, e := range ents {
		if !e.IsDir() { // cpu,cpuacct style symlinks point at a listed directory
			continue
		}
		p := filepath.Join(cgroupRoot, e.Name(), path)
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	// cgroup2 mounted at the root (pure v2) keeps the path directly below it.
	if err := os.Remove(filepath.Join(cgroupRoot, path)); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, os.ErrPermission) {
		if _, statErr := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); statErr == nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("runtime: removing cgroup %s: %w", path, err)
	}
	return nil
}
