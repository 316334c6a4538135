package podlogs

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock returns times one second apart from a fixed start.
func fakeClock(start time.Time) func() time.Time {
	var mu sync.Mutex
	n := 0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n++
		return start.Add(time.Duration(n) * time.Second)
	}
}

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func newTestWriter(t *testing.T, maxSize int64, maxFiles int) (*Writer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.log")
	w, err := NewWriter(path, maxSize, maxFiles)
	if err != nil {
		t.Fatal(err)
	}
	w.now = fakeClock(t0)
	t.Cleanup(func() { w.Close() })
	return w, path
}

func readEntries(t *testing.T, path string) []Entry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []Entry
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if l == "" {
			continue
		}
		e, err := ParseEntry([]byte(l))
		if err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		e.Content = append([]byte(nil), e.Content...)
		out = append(out, e)
	}
	return out
}

func TestCopyStreamLines(t *testing.T) {
	long := strings.Repeat("x", MaxLineSize*2+10)
	type want struct {
		partial bool
		content string
	}
	tests := []struct {
		name  string
		input string
		want  []want
	}{
		{"lines", "a\nbb\n", []want{{false, "a"}, {false, "bb"}}},
		{"empty lines kept", "\n\nz\n", []want{{false, ""}, {false, ""}, {false, "z"}}},
		{"last line without newline", "a\nrest", []want{{false, "a"}, {false, "rest"}}},
		{"long line split", long + "\n", []want{{true, long[:MaxLineSize]}, {true, long[MaxLineSize : 2*MaxLineSize]}, {false, long[2*MaxLineSize:]}}},
		{"exactly max size", strings.Repeat("y", MaxLineSize-1) + "\n", []want{{false, strings.Repeat("y", MaxLineSize-1)}}},
		{"nothing", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, path := newTestWriter(t, 0, 1)
			if err := w.CopyStream(Stderr, strings.NewReader(tt.input)); err != nil {
				t.Fatal(err)
			}
			got := readEntries(t, path)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d entries, want %d", len(got), len(tt.want))
			}
			for i, g := range got {
				if g.Stream != Stderr || g.Partial != tt.want[i].partial || string(g.Content) != tt.want[i].content {
					t.Fatalf("entry %d = %s %v %d bytes, want partial=%v %d bytes", i, g.Stream, g.Partial, len(g.Content), tt.want[i].partial, len(tt.want[i].content))
				}
			}
		})
	}
}

func TestRotation(t *testing.T) {
	// Each entry is 44 bytes: 30 (time) + 1 + 6 (stdout) + 3 (" F ") + 3 + 1.
	const entry = 44
	tests := []struct {
		name      string
		maxSize   int64
		maxFiles  int
		lines     int
		wantFiles []int // entries per file, oldest first
	}{
		{"no rotation when under size", 10 * entry, 3, 5, []int{5}},
		{"rotates at size", 2 * entry, 3, 5, []int{2, 2, 1}},
		{"drops the oldest", 2 * entry, 3, 9, []int{2, 2, 1}},
		{"single file truncates", 2 * entry, 1, 5, []int{1}},
		{"never rotates with size 0", 0, 3, 7, []int{7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, path := newTestWriter(t, tt.maxSize, tt.maxFiles)
			var in strings.Builder
			for i := range tt.lines {
				in.WriteString(strings.Repeat(string(rune('a'+i)), 3) + "\n")
			}
			if err := w.CopyStream(Stdout, strings.NewReader(in.String())); err != nil {
				t.Fatal(err)
			}
			files, err := Files(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != len(tt.wantFiles) {
				t.Fatalf("files = %v, want %d files", files, len(tt.wantFiles))
			}
			// Entries across files, oldest first, are the last lines written, in order.
			var all []Entry
			for i, f := range files {
				es := readEntries(t, f)
				if len(es) != tt.wantFiles[i] {
					t.Fatalf("%s has %d entries, want %d", f, len(es), tt.wantFiles[i])
				}
				if st, _ := os.Stat(f); tt.maxSize > 0 && st.Size() > tt.maxSize {
					t.Fatalf("%s is %d bytes, over max %d", f, st.Size(), tt.maxSize)
				}
				all = append(all, es...)
			}
			first := tt.lines - len(all)
			for i, e := range all {
				want := strings.Repeat(string(rune('a'+first+i)), 3)
				if string(e.Content) != want {
					t.Fatalf("entry %d = %q, want %q", i, e.Content, want)
				}
			}
		})
	}
}

func TestNewWriterAppends(t *testing.T) {
	w, path := newTestWriter(t, 0, 1)
	if err := w.CopyStream(Stdout, strings.NewReader("one\n")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w2, err := NewWriter(path, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if err := w2.CopyStream(Stdout, strings.NewReader("two\n")); err != nil {
		t.Fatal(err)
	}
	if es := readEntries(t, path); len(es) != 2 || string(es[1].Content) != "two" {
		t.Fatalf("entries after reopen = %d, want 2 ending with two", len(es))
	}
}

func TestPumpBothStreams(t *testing.T) {
	w, path := newTestWriter(t, 0, 1)
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Pump(t.Context(), w, outR, errR) }()
	io.WriteString(outW, "to stdout\n")
	io.WriteString(errW, "to stderr\n")
	outW.Close()
	errW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range readEntries(t, path) {
		got[e.Stream] += string(e.Content)
	}
	if got[Stdout] != "to stdout" || got[Stderr] != "to stderr" {
		t.Fatalf("streams = %v", got)
	}
	if err := w.Write(Entry{Time: t0, Stream: Stdout}); err == nil {
		t.Fatal("write after Pump returned: want error (writer closed)")
	}
}

func TestPumpStopsOnContext(t *testing.T) {
	w, _ := newTestWriter(t, 0, 1)
	r, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Pump(ctx, w, r, nil) }()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Pump did not return after its context ended")
	}
}

func TestLoggerArgsRoundTrip(t *testing.T) {
	m := LoggerArgs("/var/log/pods/x/0.log", 1234, 3)
	// The shim passes key then value for each query parameter, in map order.
	var args []string
	for k, v := range m {
		args = append(args, k, v)
	}
	c, err := ParseLoggerArgs(args)
	if err != nil {
		t.Fatal(err)
	}
	if c != (LoggerConfig{Path: "/var/log/pods/x/0.log", MaxSize: 1234, MaxFiles: 3}) {
		t.Fatalf("config = %+v", c)
	}
	for _, bad := range [][]string{{}, {"-path", "/x", "-max-files", "0"}, {"-nope", "1"}} {
		if _, err := ParseLoggerArgs(bad); err == nil {
			t.Fatalf("ParseLoggerArgs(%q) succeeded, want error", bad)
		}
	}
}

func TestCopyStreamTimestampsFromClock(t *testing.T) {
	w, path := newTestWriter(t, 0, 1)
	if err := w.CopyStream(Stdout, bytes.NewBufferString("a\nb\n")); err != nil {
		t.Fatal(err)
	}
	es := readEntries(t, path)
	if !es[0].Time.Equal(t0.Add(time.Second)) || !es[1].Time.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("times = %v, %v", es[0].Time, es[1].Time)
	}
}
