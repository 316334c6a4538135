package logserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/nodes/podlogs"
	"github.com/skiff-sh/skiff/nodes/podsync"
)

const token = "s3cret"

// writeLog appends entries to the log file of an instance.
func writeLog(t *testing.T, path string, entries ...podlogs.Entry) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b []byte
	for _, e := range entries {
		b = podlogs.AppendEntry(b, e)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func entry(ts time.Time, stream, content string) podlogs.Entry {
	return podlogs.Entry{Time: ts, Stream: stream, Content: []byte(content)}
}

// serveLogs starts Handler over loc with the test token.
func serveLogs(t *testing.T, loc Locator) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(Handler(loc, BearerToken(token), slogFor(t)))
	t.Cleanup(srv.Close)
	return srv
}

func slogFor(t *testing.T) *slogLogger { return newTestLogger(t) }

func do(t *testing.T, ctx context.Context, url, tok string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func get(t *testing.T, url, tok string) (int, string) {
	t.Helper()
	resp := do(t, t.Context(), url, tok)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestContainerLogs(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC()
	t0 := now.Add(-time.Hour) // old lines
	t1 := now.Add(-time.Minute)
	cur := podsync.LogPath(dir, "default", "web", "u1", "app", 1)
	writeLog(t, podsync.LogPath(dir, "default", "web", "u1", "app", 0),
		entry(t0, podlogs.Stdout, "crashed once"))
	writeLog(t, cur,
		entry(t0, podlogs.Stdout, "one"),
		entry(t0.Add(time.Second), podlogs.Stderr, "two"),
		podlogs.Entry{Time: t1, Stream: podlogs.Stdout, Partial: true, Content: []byte("thr")},
		entry(t1, podlogs.Stdout, "ee"),
	)
	writeLog(t, podsync.LogPath(dir, "default", "web", "u1", "side", 0), entry(t0, podlogs.Stdout, "side"))
	if err := os.MkdirAll(filepath.Join(dir, "default_web_u1", "waiting"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := serveLogs(t, DirLocator{Dir: dir})
	base := srv.URL + "/containerLogs/default/web/"
	ts := func(tm time.Time) string { return tm.Format(time.RFC3339Nano) }

	tests := []struct {
		name     string
		path     string
		tok      string
		wantCode int
		wantBody string
	}{
		{"whole log", "app", token, 200, "one\ntwo\nthree\n"},
		{"other container", "side", token, 200, "side\n"},
		{"tailLines", "app?tailLines=3", token, 200, "two\nthree\n"},
		{"tailLines counts file entries, as kubelet", "app?tailLines=1", token, 200, "ee\n"},
		{"tailLines=0", "app?tailLines=0", token, 200, ""},
		{"legacy tail", "app?tail=2", token, 200, "three\n"},
		{"legacy tail=all", "app?tail=all&tailLines=1", token, 200, "one\ntwo\nthree\n"},
		{"timestamps", "app?timestamps=true&tailLines=3", token, 200,
			ts(t0.Add(time.Second)) + " two\n" + ts(t1) + " thr" + ts(t1) + " ee\n"},
		{"sinceTime (RFC 3339)", "app?sinceTime=" + t0.Add(time.Second).Format(time.RFC3339), token, 200, "two\nthree\n"},
		{"sinceSeconds", "app?sinceSeconds=600", token, 200, "three\n"},
		{"limitBytes", "app?limitBytes=6", token, 200, "one\ntw"},
		{"previous", "app?previous=true", token, 200, "crashed once\n"},
		{"previous=1", "app?previous=1", token, 200, "crashed once\n"},
		{"previous=false", "app?previous=false", token, 200, "one\ntwo\nthree\n"},
		{"stream=All", "app?stream=All", token, 200, "one\ntwo\nthree\n"},

		{"no token", "app", "", 401, "Unauthorized"},
		{"wrong token", "app", "nope", 401, "Unauthorized"},

		{"unknown container", "nope", token, 404, `container "nope" not found in pod "web"`},
		{"no previous", "side?previous=true", token, 404, `previous terminated container "side" in pod "web" not found`},
		{"not started", "waiting", token, 400, `container "waiting" in pod "web" is waiting to start`},

		{"negative tailLines", "app?tailLines=-1", token, 400, "tailLines: Invalid value: -1: must be greater than or equal to 0"},
		{"tailLines not a number", "app?tailLines=x", token, 400, `invalid query parameter tailLines="x"`},
		{"limitBytes=0", "app?limitBytes=0", token, 400, "limitBytes: Invalid value: 0: must be greater than 0"},
		{"sinceSeconds=0", "app?sinceSeconds=0", token, 400, "sinceSeconds: Invalid value: 0: must be greater than 0"},
		{"both since", "app?sinceSeconds=5&sinceTime=" + t0.Format(time.RFC3339), token, 400, "at most one of `sinceTime` or `sinceSeconds` may be specified"},
		{"bad sinceTime", "app?sinceTime=yesterday", token, 400, `invalid query parameter sinceTime="yesterday"`},
		{"stream selection", "app?stream=Stdout", token, 400, `stream: Unsupported value: "Stdout"`},
		{"bad container name", "a_b", token, 400, `invalid container name "a_b"`},
		{"escaped slash", "..%2F..%2Fetc", token, 400, "invalid container name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, base+tt.path, tt.tok)
			if code != tt.wantCode {
				t.Fatalf("GET %s: %d %q, want %d", tt.path, code, body, tt.wantCode)
			}
			if tt.wantCode == 200 && body != tt.wantBody {
				t.Fatalf("GET %s body = %q, want %q", tt.path, body, tt.wantBody)
			}
			if tt.wantCode != 200 && !strings.Contains(body, tt.wantBody) {
				t.Fatalf("GET %s body = %q, want it to contain %q", tt.path, body, tt.wantBody)
			}
		})
	}

	t.Run("unknown pod", func(t *testing.T) {
		code, body := get(t, srv.URL+"/containerLogs/default/nope/app", token)
		if code != 404 || body != `pod "nope" does not exist` {
			t.Fatalf("GET unknown pod: %d %q", code, body)
		}
	})
	t.Run("healthz needs no token", func(t *testing.T) {
		if code, body := get(t, srv.URL+"/healthz", ""); code != 200 || body != "ok" {
			t.Fatalf("GET /healthz: %d %q", code, body)
		}
	})
	t.Run("content type", func(t *testing.T) {
		resp := do(t, t.Context(), base+"app", token)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Fatalf("Content-Type = %q, want text/plain", ct)
		}
	})
}

func TestContainerLogsLocatorFailures(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "0.log")
	loc := LocatorFunc(func(ctx context.Context, ns, pod, c string, previous bool) (Location, error) {
		switch c {
		case "broken":
			return Location{}, errors.New("runtime unreachable")
		case "wrapped":
			return Location{}, fmt.Errorf("looking: %w", NotFound(ErrContainerNotFound, ns, pod, c))
		}
		return Location{Path: missing}, nil
	})
	srv := serveLogs(t, loc)
	for _, tc := range []struct {
		container string
		code      int
		body      string
	}{
		{"broken", 500, "runtime unreachable"},
		{"wrapped", 404, `container "wrapped" not found in pod "web"`},
		{"nofile", 404, `container "nofile" in pod "web" has no log file`},
	} {
		code, body := get(t, srv.URL+"/containerLogs/default/web/"+tc.container, token)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("container %s: %d %q, want %d %q", tc.container, code, body, tc.code, tc.body)
		}
	}
}

// TestFollowEndsWhenTheContainerExits: lines appear as they are written, and
// the stream ends once Exited is closed and the file is drained.
func TestFollowEndsWhenTheContainerExits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	writeLog(t, path, entry(time.Now(), podlogs.Stdout, "first"))
	exited := make(chan struct{})
	srv := serveLogs(t, LocatorFunc(func(context.Context, string, string, string, bool) (Location, error) {
		return Location{Path: path, Exited: exited}, nil
	}))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	resp := do(t, ctx, srv.URL+"/containerLogs/default/web/app?follow=true", token)
	if resp.StatusCode != 200 {
		t.Fatalf("follow: %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	readLine := func(want string) {
		t.Helper()
		line, err := br.ReadString('\n')
		if err != nil || line != want {
			t.Fatalf("read %q, %v; want %q", line, err, want)
		}
	}
	readLine("first\n")
	writeLog(t, path, entry(time.Now(), podlogs.Stdout, "second"))
	readLine("second\n")
	writeLog(t, path, entry(time.Now(), podlogs.Stdout, "last words"))
	close(exited)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("reading to the end: %v", err)
	}
	if string(rest) != "last words\n" {
		t.Fatalf("after exit read %q, want the rest of the file and the end", rest)
	}
}

// TestFollowSendsHeadersAtOnce: a client waiting for response headers must
// not wait for the first line; and the stream ends when the client leaves.
func TestFollowSendsHeadersAtOnceAndEndsWithTheClient(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	writeLog(t, path) // empty
	handlerDone := make(chan struct{})
	h := Handler(LocatorFunc(func(context.Context, string, string, string, bool) (Location, error) {
		return Location{Path: path}, nil
	}), nil, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if strings.HasPrefix(r.URL.Path, "/containerLogs/") {
			close(handlerDone)
		}
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	hdrCtx, hdrCancel := context.WithTimeout(ctx, 10*time.Second)
	defer hdrCancel()
	go func() {
		// Only the header wait is bounded: cancel the request if it takes long.
		select {
		case <-hdrCtx.Done():
			if errors.Is(hdrCtx.Err(), context.DeadlineExceeded) {
				cancel()
			}
		case <-ctx.Done():
		}
	}()
	resp := do(t, ctx, srv.URL+"/containerLogs/default/web/app?follow=1", "")
	hdrCancel()
	if resp.StatusCode != 200 {
		t.Fatalf("follow over an empty log: %d", resp.StatusCode)
	}
	cancel()
	select {
	case <-handlerDone:
	case <-time.After(10 * time.Second):
		t.Fatal("handler still streaming 10s after the client went away")
	}
}
