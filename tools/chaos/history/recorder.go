package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// FileName is the name of a history file in a report directory.
const FileName = "history.jsonl"

// Recorder records a history for concurrent clients. Entries are kept in
// memory and, when the Recorder has a writer, appended to it as JSON lines.
type Recorder struct {
	start time.Time

	mu      sync.Mutex
	entries History
	nextOp  int64
	clients int
	w       *bufio.Writer
	closer  io.Closer
	err     error
}

// NewRecorder starts a run now. w, if not nil, receives every entry as a
// JSON line; Close flushes it.
func NewRecorder(w io.Writer) *Recorder {
	r := &Recorder{start: time.Now()}
	if w != nil {
		r.w = bufio.NewWriter(w)
	}
	return r
}

// Create starts a run recorded in dir/FileName (created or truncated).
func Create(dir string) (*Recorder, error) {
	path := filepath.Join(dir, FileName)
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("history: creating %s: %w", path, err)
	}
	r := NewRecorder(f)
	r.closer = f
	return r, nil
}

// Since returns the run's monotonic clock: the time since it started.
func (r *Recorder) Since() time.Duration { return time.Since(r.start) }

// NewClient returns a fresh client id, unique in this run (0, 1, 2, ...).
// A client whose operation ended Unknown should continue under a new id, so
// each client has at most one operation open at a time.
func (r *Recorder) NewClient() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.clients
	r.clients++
	return c
}

// Op is an operation that was invoked; complete it exactly once.
type Op struct {
	r      *Recorder
	id     int64
	client int
	f      Func
	key    string
}

// Invoke records that client starts f on key.
func (r *Recorder) Invoke(client int, f Func, key string, in Input) Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextOp++
	op := Op{r: r, id: r.nextOp, client: client, f: f, key: key}
	r.appendLocked(Entry{Kind: Invoke, Op: op.id, Client: client, Time: r.Since(), Func: f, Key: key, In: &in})
	return op
}

// ID is the operation's id in the history.
func (o Op) ID() int64 { return o.id }

// OK records that the operation happened and returned out.
func (o Op) OK(out Output) { o.complete(OK, &out, nil) }

// Fail records that the operation certainly did not take effect. out may
// carry what it learned (a cas whose compare failed); err says why.
func (o Op) Fail(out Output, err error) { o.complete(Fail, &out, err) }

// Unknown records that the operation may or may not have taken effect.
func (o Op) Unknown(err error) { o.complete(Unknown, nil, err) }

// Event records an event received by the watch session o, on key.
func (o Op) Event(key string, out Output) {
	o.r.record(Entry{Kind: Event, Op: o.id, Client: o.client, Func: o.f, Key: key, Out: &out})
}

// Progress records that the watch session o was told it has received every
// event through rev.
func (o Op) Progress(rev int64) {
	o.r.record(Entry{Kind: Progress, Op: o.id, Client: o.client, Func: o.f, Key: o.key, Out: &Output{Rev: rev}})
}

func (o Op) complete(k Kind, out *Output, err error) {
	e := Entry{Kind: k, Op: o.id, Client: o.client, Func: o.f, Key: o.key, Out: out}
	if err != nil {
		e.Err = err.Error()
	}
	o.r.record(e)
}

// Final records the value of key read after the run.
func (r *Recorder) Final(client int, key string, out Output) {
	r.record(Entry{Kind: Final, Client: client, Func: Read, Key: key, Out: &out})
}

func (r *Recorder) record(e Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.Time = r.Since()
	r.appendLocked(e)
}

func (r *Recorder) appendLocked(e Entry) {
	r.entries = append(r.entries, e)
	if r.w == nil || r.err != nil {
		return
	}
	b, err := json.Marshal(e)
	if err == nil {
		b = append(b, '\n')
		_, err = r.w.Write(b)
	}
	if err != nil {
		r.err = fmt.Errorf("history: writing entry for op %d: %w", e.Op, err)
	}
}

// History returns a copy of the entries recorded so far.
func (r *Recorder) History() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(History(nil), r.entries...)
}

// Flush writes buffered entries to the writer.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w != nil && r.err == nil {
		if err := r.w.Flush(); err != nil {
			r.err = fmt.Errorf("history: flushing: %w", err)
		}
	}
	return r.err
}

// Close flushes the writer and closes the file Create opened. It returns the
// first error met writing the history.
func (r *Recorder) Close() error {
	err := r.Flush()
	if r.closer != nil {
		if cerr := r.closer.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("history: closing: %w", cerr)
		}
		r.closer = nil
	}
	return err
}

// Decode loads a history written as JSON lines.
func Decode(rd io.Reader) (History, error) {
	var h History
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return h, fmt.Errorf("history: decoding line %d: %w", line, err)
		}
		h = append(h, e)
	}
	if err := sc.Err(); err != nil {
		return h, fmt.Errorf("history: reading line %d: %w", line+1, err)
	}
	return h, nil
}

// Load reads the history in dir/FileName, or in path if it names a file.
func Load(path string) (History, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, FileName)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("history: opening %s: %w", path, err)
	}
	defer f.Close()
	h, err := Decode(f)
	if err != nil {
		return h, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}
