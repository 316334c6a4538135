package runtime

import (
	"bytes"
	"sync"
)

// logBuffer keeps the last limit bytes a module's instances wrote to stdout and stderr.
type logBuffer struct {
	mu      sync.Mutex
	limit   int
	b       []byte
	dropped int64
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	if len(p) > l.limit {
		l.dropped += int64(len(p) - l.limit)
		p = p[len(p)-l.limit:]
	}
	if over := len(l.b) + len(p) - l.limit; over > 0 {
		l.dropped += int64(over)
		l.b = append(l.b[:0], l.b[over:]...)
	}
	l.b = append(l.b, p...)
	return n, nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

func (l *logBuffer) Dropped() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

// tailWriter is one instance's stdout and stderr: it forwards to the module's log and keeps
// what the current call wrote (up to tailLimit bytes) to explain a trap.
type tailWriter struct {
	log  *logBuffer
	tail []byte
}

const tailLimit = 2048

func (t *tailWriter) Write(p []byte) (int, error) {
	t.log.Write(p)
	if room := tailLimit - len(t.tail); room > 0 {
		t.tail = append(t.tail, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (t *tailWriter) reset() { t.tail = t.tail[:0] }

// reason picks the most telling line of what the guest printed: a Go panic or fatal error.
func (t *tailWriter) reason() string {
	for _, key := range []string{"fatal error:", "panic:"} {
		if i := bytes.Index(t.tail, []byte(key)); i >= 0 {
			line := t.tail[i:]
			if j := bytes.IndexByte(line, '\n'); j >= 0 {
				line = line[:j]
			}
			return string(line)
		}
	}
	return ""
}

func (t *tailWriter) outOfMemory() bool { return bytes.Contains(t.tail, []byte("out of memory")) }
