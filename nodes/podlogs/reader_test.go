package podlogs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// writeLog writes lines l0..l(n-1) one second apart from t0+1s, rotating at
// maxSize with 3 files kept, and returns the path.
func writeLog(t *testing.T, n int, maxSize int64) string {
	t.Helper()
	w, path := newTestWriter(t, maxSize, 3)
	for i := range n {
		if err := w.Write(Entry{Time: t0.Add(time.Duration(i+1) * time.Second), Stream: Stdout, Content: fmt.Appendf(nil, "l%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func lines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "l%d\n", i)
	}
	return b.String()
}

func TestRead(t *testing.T) {
	// Entries are 43 bytes ("<30-byte time> stdout F l0\n"); 3 a file → 9 lines: l0-l2, l3-l5, l6-l8.
	const size = 3 * 43
	tests := []struct {
		name string
		n    int
		opts Options
		want string
	}{
		{"all across rotated files", 9, Options{}, lines(0, 9)},
		{"tail within current file", 9, Options{TailLines: ptr[int64](2)}, lines(7, 9)},
		{"tail across files", 9, Options{TailLines: ptr[int64](5)}, lines(4, 9)},
		{"tail more than there is", 9, Options{TailLines: ptr[int64](100)}, lines(0, 9)},
		{"tail zero", 9, Options{TailLines: ptr[int64](0)}, ""},
		{"since", 9, Options{SinceTime: ptr(t0.Add(7 * time.Second))}, lines(6, 9)},
		{"since and tail", 9, Options{TailLines: ptr[int64](5), SinceTime: ptr(t0.Add(8 * time.Second))}, lines(7, 9)},
		{"timestamps", 2, Options{Timestamps: true}, "2024-05-01T12:00:01Z l0\n2024-05-01T12:00:02Z l1\n"},
		{"limit bytes cuts a line", 9, Options{LimitBytes: ptr[int64](7)}, "l0\nl1\nl"},
		{"limit bytes larger than log", 2, Options{LimitBytes: ptr[int64](1000)}, lines(0, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeLog(t, tt.n, size)
			var out bytes.Buffer
			if err := Read(t.Context(), path, tt.opts, &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Fatalf("Read = %q, want %q", out.String(), tt.want)
			}
		})
	}
}

func TestReadJoinsPartialsAndSkipsGarbage(t *testing.T) {
	w, path := newTestWriter(t, 0, 1)
	w.Write(Entry{Time: t0, Stream: Stdout, Partial: true, Content: []byte("hel")})
	w.Write(Entry{Time: t0, Stream: Stdout, Content: []byte("lo")})
	w.f.Write([]byte("not a log line\n"))
	w.Write(Entry{Time: t0, Stream: Stderr, Content: []byte("err")})
	w.f.Write([]byte("2024-05-01T12:00:00Z stdout F unfinished")) // no newline yet
	var out bytes.Buffer
	if err := Read(t.Context(), path, Options{}, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello\nerr\n" {
		t.Fatalf("Read = %q", out.String())
	}
}

func TestReadMissing(t *testing.T) {
	err := Read(t.Context(), filepath.Join(t.TempDir(), "none.log"), Options{}, io.Discard)
	if !errors.Is(err, ErrNoLog) {
		t.Fatalf("err = %v, want ErrNoLog", err)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader that can
// wait for content.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the buffer holds want, failing after a timeout.
func (s *syncBuffer) waitFor(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for s.String() != want {
		select {
		case <-s.changed:
		case <-timeout:
			t.Fatalf("output = %q, want %q", s.String(), want)
		}
	}
}

func TestFollowAcrossRotationUntilExit(t *testing.T) {
	w, path := newTestWriter(t, 3*43, 3)
	write := func(from, to int) {
		for i := from; i < to; i++ {
			if err := w.Write(Entry{Time: t0, Stream: Stdout, Content: fmt.Appendf(nil, "l%d", i)}); err != nil {
				t.Error(err)
			}
		}
	}
	write(0, 2)
	exited := make(chan struct{})
	out := newSyncBuffer()
	done := make(chan error, 1)
	go func() { done <- Read(t.Context(), path, Options{Follow: true, Exited: exited}, out) }()
	out.waitFor(t, lines(0, 2))
	write(2, 4) // rotates after l2
	out.waitFor(t, lines(0, 4))
	// One rotation at a time while the reader keeps up: nothing is lost.
	// (Rotations past the kept files before the reader gets to them lose
	// lines by design; below.)
	write(4, 7)
	out.waitFor(t, lines(0, 7))
	write(7, 10)
	out.waitFor(t, lines(0, 10))
	// Many rotations at once may rotate the open file out of the kept set;
	// what was dropped before the reader got to it is lost (as in kubelet),
	// the rest arrives in order.
	write(10, 30)
	write(30, 31)
	close(exited)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return after the container exited")
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if strings.Join(got[:10], "\n")+"\n" != lines(0, 10) {
		t.Fatalf("output starts %q, want %q", got[:10], lines(0, 10))
	}
	last := -1
	for _, l := range got {
		var n int
		if _, err := fmt.Sscanf(l, "l%d", &n); err != nil || n <= last {
			t.Fatalf("output %q: %q out of order or repeated", out.String(), l)
		}
		last = n
	}
	// The file being written when the container exited was read to its end:
	// l29-l30 (two-digit lines are 44 bytes, two to a file). (The rotated
	// files of a burst, l25-l28 here, are usually read too, but not always:
	// a known gap, see the session note.)
	if !strings.HasSuffix(out.String(), lines(29, 31)) {
		t.Fatalf("output %q does not end with %q", out.String(), lines(29, 31))
	}
}

func TestFollowWaitsForFileAndStopsOnContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.log")
	ctx, cancel := context.WithCancel(t.Context())
	out := newSyncBuffer()
	done := make(chan error, 1)
	go func() { done <- Read(ctx, path, Options{Follow: true, Timestamps: true}, out) }()
	w, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Write(Entry{Time: t0, Stream: Stdout, Content: []byte("hi")})
	out.waitFor(t, "2024-05-01T12:00:00Z hi\n")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return after its context ended")
	}
}

func TestFollowTailAndLimit(t *testing.T) {
	path := writeLog(t, 5, 0)
	out := newSyncBuffer()
	// Limit reached: a following Read returns without waiting.
	if err := Read(t.Context(), path, Options{Follow: true, TailLines: ptr[int64](1), LimitBytes: ptr[int64](3)}, out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "l4\n" {
		t.Fatalf("Read = %q", out.String())
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	for _, n := range []string{"0.log", "0.log.1", "0.log.3", "0.log.2", "0.log.x", "0.log.0", "1.log", "1.log.1"} {
		w, err := NewWriter(filepath.Join(dir, n), 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	got, err := Files(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{path + ".3", path + ".2", path + ".1", path}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Files = %v, want %v", got, want)
	}
}
