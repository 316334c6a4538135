package podlogs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// watcher reports changes to a log file and its rotated siblings through
// inotify on their directory.
type watcher struct {
	f      *os.File
	events chan struct{} // one pending wake-up at most
	failed chan struct{} // closed when reading inotify failed; err says why
	err    error
	done   chan struct{}
}

func newWatcher(path string) (*watcher, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("podlogs: inotify for %s: %w", path, err)
	}
	const mask = unix.IN_MODIFY | unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
		unix.IN_DELETE | unix.IN_CLOSE_WRITE
	if _, err := unix.InotifyAddWatch(fd, dir, mask); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("podlogs: watching %s: %w", dir, err)
	}
	// A non-blocking descriptor gives a pollable *os.File: Close unblocks Read.
	w := &watcher{f: os.NewFile(uintptr(fd), "inotify"), events: make(chan struct{}, 1),
		failed: make(chan struct{}), done: make(chan struct{})}
	go w.loop(base)
	return w, nil
}

func (w *watcher) loop(base string) {
	defer close(w.done)
	buf := make([]byte, 64*1024)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			w.err = fmt.Errorf("podlogs: reading inotify events: %w", err)
			close(w.failed)
			return
		}
		if relevant(buf[:n], base) {
			w.wake()
		}
	}
}

func (w *watcher) wake() {
	select {
	case w.events <- struct{}{}:
	default:
	}
}

// relevant says whether a batch of inotify events names base or base.N, or
// overflowed.
func relevant(b []byte, base string) bool {
	for len(b) >= unix.SizeofInotifyEvent {
		mask := binary.NativeEndian.Uint32(b[4:8])
		nameLen := int(binary.NativeEndian.Uint32(b[12:16]))
		end := unix.SizeofInotifyEvent + nameLen
		if end > len(b) {
			return true
		}
		if mask&unix.IN_Q_OVERFLOW != 0 {
			return true
		}
		name := strings.TrimRight(string(b[unix.SizeofInotifyEvent:end]), "\x00")
		if name == base || strings.HasPrefix(name, base+".") {
			return true
		}
		b = b[end:]
	}
	return false
}

func (w *watcher) close() {
	w.f.Close()
	<-w.done
}
