package podlogs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// Writer appends entries to a log file and rotates it by size. It is safe for
// concurrent use; each entry is written with a single write call.
type Writer struct {
	mu       sync.Mutex
	path     string
	maxSize  int64
	maxFiles int
	f        *os.File
	size     int64
	buf      []byte
	now      func() time.Time
}

// NewWriter opens (appending to) the log file at path. The file rotates before
// an entry would take it past maxSize bytes (maxSize <= 0: never), keeping
// maxFiles files in all: path and path.1 … path.<maxFiles-1>.
func NewWriter(path string, maxSize int64, maxFiles int) (*Writer, error) {
	if maxFiles < 1 {
		maxFiles = 1
	}
	w := &Writer{path: path, maxSize: maxSize, maxFiles: maxFiles, now: time.Now}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("podlogs: opening log file %s: %w", w.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("podlogs: stat of log file %s: %w", w.path, err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Write appends one entry, rotating first if it would not fit.
func (w *Writer) Write(e Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("podlogs: writing to %s: %w", w.path, os.ErrClosed)
	}
	w.buf = AppendEntry(w.buf[:0], e)
	if w.maxSize > 0 && w.size > 0 && w.size+int64(len(w.buf)) > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("podlogs: writing to %s: %w", w.path, err)
	}
	return nil
}

// rotate shifts path.i to path.i+1 (dropping the oldest), path to path.1, and
// opens a new path.
func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("podlogs: closing %s for rotation: %w", w.path, err)
	}
	w.f = nil
	if w.maxFiles == 1 {
		if err := os.Remove(w.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("podlogs: rotating %s: %w", w.path, err)
		}
		return w.open()
	}
	oldest := RotatedName(w.path, w.maxFiles-1)
	if err := os.Remove(oldest); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("podlogs: rotating %s: removing %s: %w", w.path, oldest, err)
	}
	for i := w.maxFiles - 2; i >= 1; i-- {
		from, to := RotatedName(w.path, i), RotatedName(w.path, i+1)
		if err := os.Rename(from, to); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("podlogs: rotating %s: %w", w.path, err)
		}
	}
	if err := os.Rename(w.path, RotatedName(w.path, 1)); err != nil {
		return fmt.Errorf("podlogs: rotating %s: %w", w.path, err)
	}
	return w.open()
}

// Close closes the current file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fmt.Errorf("podlogs: closing %s: %w", w.path, err)
	}
	return nil
}

// CopyStream reads r until EOF and writes each line as an entry of stream,
// splitting lines longer than MaxLineSize into partial entries. A last line
// without a newline is written as a full entry. It returns nil at EOF.
func (w *Writer) CopyStream(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, MaxLineSize)
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if werr := w.Write(Entry{Time: w.now(), Stream: stream, Content: line[:len(line)-1]}); werr != nil {
				return werr
			}
		case errors.Is(err, bufio.ErrBufferFull):
			if werr := w.Write(Entry{Time: w.now(), Stream: stream, Partial: true, Content: line}); werr != nil {
				return werr
			}
		case errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed):
			if len(line) > 0 {
				if werr := w.Write(Entry{Time: w.now(), Stream: stream, Content: line}); werr != nil {
					return werr
				}
			}
			return nil
		default:
			if len(line) > 0 {
				_ = w.Write(Entry{Time: w.now(), Stream: stream, Content: line})
			}
			return fmt.Errorf("podlogs: reading %s for %s: %w", stream, w.path, err)
		}
	}
}

// RotatedName is the name of the i-th rotated file of path (i >= 1; 1 is the
// newest).
func RotatedName(path string, i int) string {
	return path + "." + strconv.Itoa(i)
}
