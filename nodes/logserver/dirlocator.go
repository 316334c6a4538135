package logserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DirLocator locates logs in a log directory alone, laid out as
// nodes/podsync writes it (podsync.LogPath):
//
//	<Dir>/<namespace>_<pod>_<uid>/<container>/<attempt>.log
//
// The current instance is the highest attempt, the previous one the next
// highest. Without the runtime it cannot tell whether the current instance
// still runs, so its Exited is nil (a follow ends with the request); the
// previous instance has exited by definition. When a pod's name was reused,
// the most recently modified pod directory is the pod's.
type DirLocator struct {
	Dir string
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Locate implements Locator.
func (l DirLocator) Locate(ctx context.Context, namespace, pod, container string, previous bool) (Location, error) {
	podDir, err := l.podDir(namespace, pod)
	if err != nil {
		return Location{}, err
	}
	cdir := filepath.Join(podDir, container)
	if st, err := os.Stat(cdir); err != nil || !st.IsDir() {
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return Location{}, fmt.Errorf("logserver: looking for container %s of pod %s/%s: %w", container, namespace, pod, err)
		}
		return Location{}, NotFound(ErrContainerNotFound, namespace, pod, container)
	}
	attempts, err := logAttempts(cdir)
	if err != nil {
		return Location{}, fmt.Errorf("logserver: listing instances of container %s of pod %s/%s: %w", container, namespace, pod, err)
	}
	n := len(attempts)
	switch {
	case previous && n < 2:
		return Location{}, NotFound(ErrNoPrevious, namespace, pod, container)
	case previous:
		return Location{Path: attemptPath(cdir, attempts[n-2]), Exited: closedChan}, nil
	case n == 0:
		return Location{}, NotFound(ErrNotStarted, namespace, pod, container)
	}
	return Location{Path: attemptPath(cdir, attempts[n-1])}, nil
}

// podDir finds <Dir>/<namespace>_<pod>_<uid>. Namespaces and pod names are
// DNS names, without "_", so the prefix is unambiguous.
func (l DirLocator) podDir(namespace, pod string) (string, error) {
	ents, err := os.ReadDir(l.Dir)
	if err != nil {
		return "", fmt.Errorf("logserver: reading log directory %s: %w", l.Dir, err)
	}
	prefix := namespace + "_" + pod + "_"
	var best string
	var bestTime time.Time
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) || strings.Contains(e.Name()[len(prefix):], "_") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if best == "" || info.ModTime().After(bestTime) {
			best, bestTime = filepath.Join(l.Dir, e.Name()), info.ModTime()
		}
	}
	if best == "" {
		return "", NotFound(ErrPodNotFound, namespace, pod, "")
	}
	return best, nil
}

// logAttempts lists the attempts that have a log file (<n>.log), ascending.
func logAttempts(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		num, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok || e.IsDir() {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || strconv.Itoa(n) != num {
			continue
		}
		out = append(out, n)
	}
	sort.Ints(out)
	return out, nil
}

func attemptPath(dir string, attempt int) string {
	return filepath.Join(dir, strconv.Itoa(attempt)+".log")
}
