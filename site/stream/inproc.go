package stream

import (
	"fmt"
	"io"
	"net/http"
	"sync"
)

// roundTrip serves req on h in its own goroutine and returns once h has
// written its status, with a body that streams whatever h writes after it.
// Closing the body (or cancelling req's context) ends the handler: its next
// write fails, and a watch stops on the context.
func roundTrip(h http.Handler, req *http.Request) *http.Response {
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, started: make(chan struct{})}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				w.WriteHeader(http.StatusInternalServerError)
				pw.CloseWithError(fmt.Errorf("stream: api handler panicked on %s %s: %v", req.Method, req.URL, v))
				return
			}
			w.WriteHeader(http.StatusOK)
			pw.Close()
		}()
		h.ServeHTTP(w, req)
	}()
	<-w.started
	return &http.Response{StatusCode: w.code, Status: http.StatusText(w.code), Header: w.sent, Body: pr,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: req}
}

// pipeWriter is an http.ResponseWriter and http.Flusher whose body goes
// into a pipe, so a streaming handler (a watch) can be read as it writes.
type pipeWriter struct {
	header  http.Header
	pw      *io.PipeWriter
	once    sync.Once
	started chan struct{}
	code    int
	sent    http.Header
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		return // informational: the final status follows
	}
	w.once.Do(func() {
		w.code, w.sent = code, w.header.Clone()
		close(w.started)
	})
}

func (w *pipeWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(p)
}

// Flush is a no-op beyond sending the status: the pipe hands every write
// to the reader as it happens.
func (w *pipeWriter) Flush() { w.WriteHeader(http.StatusOK) }
