package podlogs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options select what Read returns, as kubectl logs' flags (PodLogOptions).
type Options struct {
	// Follow keeps reading as the file grows and rotates, until ctx ends or
	// Exited is closed and the file is drained.
	Follow bool
	// TailLines, when set, starts that many lines before the end.
	TailLines *int64
	// SinceTime, when set, skips entries older than it.
	SinceTime *time.Time
	// Timestamps prefixes each line with its RFC 3339 timestamp.
	Timestamps bool
	// LimitBytes, when set, stops after that many bytes of output.
	LimitBytes *int64
	// Exited, when closed, tells a following Read that the container has
	// exited: it returns once it has read what the file holds.
	Exited <-chan struct{}
}

// ErrNoLog reports that a container has no log file (yet).
var ErrNoLog = errors.New("podlogs: no log file")

// errLimit stops reading once LimitBytes were written.
var errLimit = errors.New("podlogs: byte limit reached")

// Files returns the log files of path, oldest first: path.N … path.1, path.
// Only files that exist are listed.
func Files(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("podlogs: listing log files of %s: %w", path, err)
	}
	type rotated struct {
		n    int
		name string
	}
	var rs []rotated
	hasCurrent := false
	for _, e := range ents {
		name := e.Name()
		if name == base {
			hasCurrent = true
			continue
		}
		suffix, ok := strings.CutPrefix(name, base+".")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(suffix)
		if err != nil || n < 1 {
			continue
		}
		rs = append(rs, rotated{n, filepath.Join(dir, name)})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].n > rs[j].n })
	out := make([]string, 0, len(rs)+1)
	for _, r := range rs {
		out = append(out, r.name)
	}
	if hasCurrent {
		out = append(out, path)
	}
	return out, nil
}

// Read writes the container log at path (with its rotated files) to w as
// `kubectl logs` shows it: the content of each entry, partial entries joined,
// filtered and shaped by opts.
func Read(ctx context.Context, path string, opts Options, w io.Writer) error {
	var wt *watcher
	if opts.Follow {
		// Watch before reading so that no write after our read goes unnoticed.
		var err error
		if wt, err = newWatcher(path); err != nil {
			return err
		}
		defer wt.close()
	}
	out := &output{w: w, opts: opts}
	if opts.LimitBytes != nil {
		out.left = *opts.LimitBytes
		if out.left <= 0 {
			return nil
		}
	}
	files, err := Files(path)
	if err != nil {
		return err
	}
	if len(files) == 0 && !opts.Follow {
		return fmt.Errorf("%w at %s", ErrNoLog, path)
	}
	startFile, startOff := 0, int64(0)
	if opts.TailLines != nil && len(files) > 0 {
		if startFile, startOff, err = tailStart(files, *opts.TailLines); err != nil {
			return err
		}
	}
	// Rotated files: read whole.
	for i := startFile; i < len(files)-1; i++ {
		off := int64(0)
		if i == startFile {
			off = startOff
		}
		if err := readFileFrom(files[i], off, out); err != nil {
			return done(err)
		}
	}
	var cur *os.File
	if len(files) > 0 {
		off := int64(0)
		if startFile == len(files)-1 {
			off = startOff
		}
		cur, err = os.Open(path)
		if err == nil {
			if _, err = cur.Seek(off, io.SeekStart); err != nil {
				cur.Close()
				return fmt.Errorf("podlogs: seeking in %s: %w", path, err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("podlogs: opening %s: %w", path, err)
		}
	}
	f := &follower{path: path, cur: cur, out: out}
	defer f.close()
	if err := f.drain(); err != nil {
		return done(err)
	}
	if !opts.Follow {
		return nil
	}
	exited := opts.Exited
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-exited:
			// Read what the file (and a file it rotated into) still holds.
			if err := f.drain(); err != nil {
				return done(err)
			}
			return done(f.switchIfRotated())
		case <-wt.events:
		case <-wt.failed:
			return wt.err
		}
		if err := f.drain(); err != nil {
			return done(err)
		}
		if err := f.switchIfRotated(); err != nil {
			return done(err)
		}
	}
}

func done(err error) error {
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

// follower reads the current file, carrying an incomplete last line over to
// the next read.
type follower struct {
	path    string
	cur     *os.File
	out     *output
	pending []byte
}

func (f *follower) close() {
	if f.cur != nil {
		f.cur.Close()
	}
}

// drain reads the current file to its end, emitting complete lines.
func (f *follower) drain() error {
	if f.cur == nil {
		cur, err := os.Open(f.path)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("podlogs: opening %s: %w", f.path, err)
		}
		f.cur = cur
	}
	buf := make([]byte, 32*1024)
	for {
		n, err := f.cur.Read(buf)
		if n > 0 {
			f.pending = append(f.pending, buf[:n]...)
			for {
				i := bytes.IndexByte(f.pending, '\n')
				if i < 0 {
					break
				}
				if err := f.out.line(f.pending[:i]); err != nil {
					return err
				}
				f.pending = f.pending[i+1:]
			}
			f.pending = append([]byte(nil), f.pending...)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("podlogs: reading %s: %w", f.path, err)
		}
	}
}

// switchIfRotated moves to a new file at path when the open one was rotated
// away: it reads what is left of the open file, then every rotated file newer
// than it (rotation is first in, first out: if the open file is gone from the
// list, all listed ones are newer), then opens path.
func (f *follower) switchIfRotated() error {
	if f.cur == nil {
		return f.drain()
	}
	st, err := os.Stat(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // between rename and create; the create wakes us
	}
	if err != nil {
		return fmt.Errorf("podlogs: stat of %s: %w", f.path, err)
	}
	ost, err := f.cur.Stat()
	if err != nil {
		return fmt.Errorf("podlogs: stat of open %s: %w", f.path, err)
	}
	if sameFile(st, ost) {
		return nil
	}
	if err := f.drain(); err != nil {
		return err
	}
	// Keep the old file open while matching: once closed, a deleted file's
	// inode can be reused by a new file.
	newer, err := openNewer(f.path, ost)
	f.cur.Close()
	f.cur, f.pending = nil, nil
	if err != nil {
		return err
	}
	// The last one is path itself, if it exists: it stays open.
	for i, nf := range newer {
		f.cur = nf
		if err := f.drain(); err != nil {
			for _, rest := range newer[i+1:] {
				rest.Close()
			}
			return err
		}
		if i < len(newer)-1 || nf.Name() != f.path {
			nf.Close()
			f.cur, f.pending = nil, nil
		}
	}
	return nil
}

// openNewer opens the log files of path (rotated ones and path itself) that
// are newer than old, oldest first. Files are opened, then checked against
// their names again, so that a rotation in between does not make us read a
// file twice or skip one.
func openNewer(path string, old os.FileInfo) ([]*os.File, error) {
	for attempt := 0; ; attempt++ {
		files, err := Files(path)
		if err != nil {
			return nil, err
		}
		var opened []*os.File
		var infos []os.FileInfo
		closeAll := func() {
			for _, o := range opened {
				o.Close()
			}
		}
		stable := true
		for _, name := range files {
			o, err := os.Open(name)
			if errors.Is(err, os.ErrNotExist) {
				stable = false
				break
			}
			if err != nil {
				closeAll()
				return nil, fmt.Errorf("podlogs: opening %s: %w", name, err)
			}
			st, err := o.Stat()
			if err != nil {
				o.Close()
				closeAll()
				return nil, fmt.Errorf("podlogs: stat of %s: %w", name, err)
			}
			opened, infos = append(opened, o), append(infos, st)
		}
		if stable {
			// Still the same names for the same files?
			for i, name := range files {
				st, err := os.Stat(name)
				if err != nil || !sameFile(st, infos[i]) {
					stable = false
					break
				}
			}
		}
		if !stable && attempt < 5 {
			closeAll()
			continue
		}
		for i, st := range infos {
			if sameFile(st, old) {
				for _, o := range opened[:i+1] {
					o.Close()
				}
				return opened[i+1:], nil
			}
		}
		return opened, nil
	}
}

func sameFile(a, b os.FileInfo) bool {
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 {
		return os.SameFile(a, b)
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

func readFileFrom(path string, off int64, out *output) error {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // rotated away meanwhile
	}
	if err != nil {
		return fmt.Errorf("podlogs: opening %s: %w", path, err)
	}
	defer fh.Close()
	if _, err := fh.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("podlogs: seeking in %s: %w", path, err)
	}
	br := bufio.NewReaderSize(fh, 64*1024)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if err := out.line(line[:len(line)-1]); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("podlogs: reading %s: %w", path, err)
		}
	}
}

// tailStart finds where the last n lines of files begin: the index of the
// file and the offset in it.
func tailStart(files []string, n int64) (int, int64, error) {
	if n < 0 {
		return 0, 0, nil
	}
	need := n
	for i := len(files) - 1; i >= 0; i-- {
		data, err := os.ReadFile(files[i])
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, 0, fmt.Errorf("podlogs: reading %s: %w", files[i], err)
		}
		// Only complete lines count; an unfinished last line is not shown.
		end := bytes.LastIndexByte(data, '\n') + 1
		if need == 0 {
			return i, int64(end), nil
		}
		var starts []int64 // start offsets of complete lines
		for off := 0; off < end; {
			starts = append(starts, int64(off))
			off += bytes.IndexByte(data[off:end], '\n') + 1
		}
		if int64(len(starts)) >= need {
			return i, starts[int64(len(starts))-need], nil
		}
		need -= int64(len(starts))
	}
	return 0, 0, nil
}

// output turns entries into kubectl logs output.
type output struct {
	w    io.Writer
	opts Options
	left int64 // bytes left when LimitBytes is set
	buf  []byte
}

func (o *output) line(raw []byte) error {
	e, err := ParseEntry(raw)
	if err != nil {
		return nil // skip what is not ours, as kubelet does
	}
	if o.opts.SinceTime != nil && e.Time.Before(*o.opts.SinceTime) {
		return nil
	}
	o.buf = o.buf[:0]
	if o.opts.Timestamps {
		o.buf = e.Time.AppendFormat(o.buf, time.RFC3339Nano)
		o.buf = append(o.buf, ' ')
	}
	o.buf = append(o.buf, e.Content...)
	if !e.Partial {
		o.buf = append(o.buf, '\n')
	}
	b := o.buf
	if o.opts.LimitBytes != nil {
		if int64(len(b)) > o.left {
			b = b[:o.left]
		}
		o.left -= int64(len(b))
	}
	if _, err := o.w.Write(b); err != nil {
		return fmt.Errorf("podlogs: writing output: %w", err)
	}
	if o.opts.LimitBytes != nil && o.left <= 0 {
		return errLimit
	}
	return nil
}
