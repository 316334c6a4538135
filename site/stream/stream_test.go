package stream

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI serves lists and watches the way the API server does, with
// watch events the test pushes.
type fakeAPI struct {
	t       *testing.T
	watches chan *fakeWatch // every opened watch, in order
	mu      sync.Mutex
	lists   map[string]int    // path -> lists served
	listRV  map[string]string // path -> list resourceVersion
	goneRV  map[string]bool   // watch resourceVersions answered 410 at open
	count   map[string]int    // path -> items in its list (default 1)
	active  sync.WaitGroup    // running watch handlers
}

type fakeWatch struct {
	path, rv, bookmarks string
	events              chan string // one JSON WatchEvent per send; close ends the watch
}

func newFakeAPI(t *testing.T) *fakeAPI {
	return &fakeAPI{t: t, watches: make(chan *fakeWatch, 16), lists: map[string]int{},
		listRV: map[string]string{}, goneRV: map[string]bool{}, count: map[string]int{}}
}

const podJSON = `{"kind":"Pod","metadata":{"name":"%s","namespace":"default","resourceVersion":"%s","managedFields":[{"manager":"kubectl"}]},"spec":{"nodeName":"n1"}}`

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer good" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`)
		return
	}
	q := r.URL.Query()
	if q.Get("watch") != "1" {
		f.list(w, r)
		return
	}
	f.mu.Lock()
	gone := f.goneRV[q.Get("resourceVersion")]
	f.mu.Unlock()
	if gone {
		w.WriteHeader(http.StatusGone)
		io.WriteString(w, `{"kind":"Status","code":410,"reason":"Expired"}`)
		return
	}
	f.active.Add(1)
	defer f.active.Done()
	fw := &fakeWatch{path: r.URL.Path, rv: q.Get("resourceVersion"), bookmarks: q.Get("allowWatchBookmarks"), events: make(chan string)}
	f.watches <- fw
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-fw.events:
			if !ok {
				return
			}
			io.WriteString(w, ev+"\n")
			w.(http.Flusher).Flush()
		}
	}
}

// list serves a list of count[path] pods (default 1), paginated by limit
// and continue (the offset).
func (f *fakeAPI) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.lists[r.URL.Path]++
	rv := f.listRV[r.URL.Path]
	total, ok := f.count[r.URL.Path]
	f.mu.Unlock()
	if !ok {
		total = 1
	}
	q := r.URL.Query()
	from, _ := strconv.Atoi(q.Get("continue"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	to := total
	if limit > 0 && from+limit < total {
		to = from + limit
	}
	items := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		items = append(items, fmt.Sprintf(podJSON, fmt.Sprintf("p%d", i), rv))
	}
	cont := ""
	if to < total {
		cont = strconv.Itoa(to)
	}
	fmt.Fprintf(w, `{"kind":"List","metadata":{"resourceVersion":%q,"continue":%q},"items":[%s]}`, rv, cont, strings.Join(items, ","))
}

// nextWatch returns the next watch the stream opened.
func (f *fakeAPI) nextWatch() *fakeWatch {
	f.t.Helper()
	select {
	case w := <-f.watches:
		return w
	case <-f.t.Context().Done():
		f.t.Fatal("no watch opened")
		return nil
	}
}

func (f *fakeAPI) listed(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists[path]
}

func testConfig(res ...Resource) Config {
	cfg := DefaultConfig()
	cfg.Resources = res
	cfg.RetryMin, cfg.RetryMax = time.Millisecond, 10*time.Millisecond
	cfg.Logger = slog.New(slog.DiscardHandler)
	return cfg
}

var pods = Resource{Name: "pods", Path: "/api/v1/pods"}

// client is the browser's end of one stream.
type client struct {
	t    *testing.T
	resp *http.Response
	dec  *json.Decoder
}

func open(t *testing.T, srv *httptest.Server, token, query string) *client {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/ui/stream"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &client{t: t, resp: resp, dec: json.NewDecoder(bufio.NewReader(resp.Body))}
}

// next returns the next frame that is not a PING.
func (c *client) next() Frame {
	c.t.Helper()
	for {
		var f Frame
		if err := c.dec.Decode(&f); err != nil {
			c.t.Fatalf("reading a frame: %v", err)
		}
		if f.Type != TypePing {
			return f
		}
	}
}

func serve(t *testing.T, cfg Config, api http.Handler) *httptest.Server {
	t.Helper()
	h, err := New(cfg, api)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestStreamListsThenWatchesEveryResource(t *testing.T) {
	api := newFakeAPI(t)
	nodes := Resource{Name: "nodes", Path: "/api/v1/nodes"}
	api.listRV[pods.Path], api.listRV[nodes.Path] = "10", "20"
	srv := serve(t, testConfig(pods, nodes), api)
	c := open(t, srv, "good", "")
	if c.resp.StatusCode != http.StatusOK || c.resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("status %d, content type %q", c.resp.StatusCode, c.resp.Header.Get("Content-Type"))
	}
	syncs := map[string]Frame{}
	for range 2 {
		f := c.next()
		if f.Type != TypeSync {
			t.Fatalf("frame %+v before both SYNCs", f)
		}
		syncs[f.Resource] = f
	}
	for name, rv := range map[string]string{"pods": "10", "nodes": "20"} {
		f := syncs[name]
		if f.ResourceVersion != rv || len(f.Items) != 1 {
			t.Errorf("%s: SYNC at %q with %d items, want %s with 1", name, f.ResourceVersion, len(f.Items), rv)
		}
		if len(f.Items) == 1 && strings.Contains(string(f.Items[0]), "managedFields") {
			t.Errorf("%s: managedFields not trimmed: %s", name, f.Items[0])
		}
	}
	watches := map[string]*fakeWatch{}
	for range 2 {
		w := api.nextWatch()
		watches[w.path] = w
	}
	if w := watches[pods.Path]; w.rv != "10" || w.bookmarks != "true" {
		t.Fatalf("pods watch from %q bookmarks %q, want 10 and true", w.rv, w.bookmarks)
	}
	if w := watches[nodes.Path]; w.rv != "20" {
		t.Fatalf("nodes watch from %q, want 20", w.rv)
	}

	tests := []struct {
		watch           *fakeWatch
		event           string
		typ, resource   string
		resourceVersion string
	}{
		{watches[pods.Path], `{"type":"ADDED","object":` + fmt.Sprintf(podJSON, "b", "11") + `}`, "ADDED", "pods", "11"},
		{watches[nodes.Path], `{"type":"MODIFIED","object":{"kind":"Node","metadata":{"name":"n1","resourceVersion":"21"}}}`, "MODIFIED", "nodes", "21"},
		{watches[pods.Path], `{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"15"}}}`, TypeBookmark, "pods", "15"},
		{watches[pods.Path], `{"type":"DELETED","object":` + fmt.Sprintf(podJSON, "b", "16") + `}`, "DELETED", "pods", "16"},
	}
	for _, tc := range tests {
		tc.watch.events <- tc.event
		f := c.next()
		if f.Type != tc.typ || f.Resource != tc.resource || f.ResourceVersion != tc.resourceVersion {
			t.Errorf("after %s: frame %s %s at %s, want %s %s at %s", tc.event, f.Type, f.Resource, f.ResourceVersion, tc.typ, tc.resource, tc.resourceVersion)
		}
		if strings.Contains(string(f.Object), "managedFields") {
			t.Errorf("managedFields not trimmed: %s", f.Object)
		}
	}
}

func TestStreamWrongTokenIsPassedOn(t *testing.T) {
	api := newFakeAPI(t)
	srv := serve(t, testConfig(pods, Resource{Name: "nodes", Path: "/api/v1/nodes"}), api)
	c := open(t, srv, "bad", "")
	body, _ := io.ReadAll(c.resp.Body)
	if c.resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"reason":"Unauthorized"`) {
		t.Fatalf("got %d %s, want 401 with the API's Status", c.resp.StatusCode, body)
	}
}

func TestStreamResumesWithoutListing(t *testing.T) {
	api := newFakeAPI(t)
	api.listRV[pods.Path] = "10"
	srv := serve(t, testConfig(pods), api)
	c := open(t, srv, "good", "?pods=42")
	w := api.nextWatch()
	if w.rv != "42" {
		t.Fatalf("resumed watch from %q, want 42", w.rv)
	}
	w.events <- `{"type":"ADDED","object":` + fmt.Sprintf(podJSON, "c", "43") + `}`
	if f := c.next(); f.Type != "ADDED" || f.ResourceVersion != "43" {
		t.Fatalf("first frame %s at %s, want ADDED at 43", f.Type, f.ResourceVersion)
	}
	if n := api.listed(pods.Path); n != 0 {
		t.Fatalf("listed pods %d times on resume, want 0", n)
	}
}

func TestStreamRelistsWhenGone(t *testing.T) {
	tests := []struct {
		name string
		// atOpen answers the watch from resourceVersion 5 with HTTP 410;
		// otherwise the watch opens and sends an ERROR event with code 410.
		atOpen bool
	}{
		{"410 at open", true},
		{"ERROR event", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeAPI(t)
			api.listRV[pods.Path] = "30"
			api.goneRV["5"] = tc.atOpen
			srv := serve(t, testConfig(pods), api)
			c := open(t, srv, "good", "?pods=5")
			if !tc.atOpen {
				w := api.nextWatch()
				w.events <- `{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old resource version"}}`
			}
			f := c.next()
			if f.Type != TypeSync || f.ResourceVersion != "30" {
				t.Fatalf("after 410: frame %s at %s, want SYNC at 30", f.Type, f.ResourceVersion)
			}
			if w := api.nextWatch(); w.rv != "30" {
				t.Fatalf("watch after relist from %q, want 30", w.rv)
			}
		})
	}
}

func TestStreamSendsTheListInPages(t *testing.T) {
	api := newFakeAPI(t)
	api.listRV[pods.Path], api.count[pods.Path] = "50", 5
	cfg := testConfig(pods)
	cfg.PageSize = 2
	srv := serve(t, cfg, api)
	c := open(t, srv, "good", "")
	want := []struct {
		typ  string
		n    int
		more bool
		rv   string
	}{{TypeSync, 2, true, ""}, {TypeItems, 2, true, ""}, {TypeItems, 1, false, "50"}}
	for i, w := range want {
		f := c.next()
		if f.Type != w.typ || len(f.Items) != w.n || f.More != w.more || f.ResourceVersion != w.rv {
			t.Fatalf("page %d: %s with %d items more=%v rv=%q, want %s with %d more=%v rv=%q",
				i, f.Type, len(f.Items), f.More, f.ResourceVersion, w.typ, w.n, w.more, w.rv)
		}
	}
	if w := api.nextWatch(); w.rv != "50" {
		t.Fatalf("watch after the paged list from %q, want 50", w.rv)
	}
}

func TestStreamRewatchesFromLastVersionWhenAWatchEnds(t *testing.T) {
	api := newFakeAPI(t)
	api.listRV[pods.Path] = "10"
	srv := serve(t, testConfig(pods), api)
	c := open(t, srv, "good", "")
	if f := c.next(); f.Type != TypeSync {
		t.Fatalf("first frame %s, want SYNC", f.Type)
	}
	w := api.nextWatch()
	w.events <- `{"type":"ADDED","object":` + fmt.Sprintf(podJSON, "d", "12") + `}`
	c.next()
	close(w.events) // the API ends the watch (its timeout)
	if w2 := api.nextWatch(); w2.rv != "12" {
		t.Fatalf("rewatched from %q, want 12", w2.rv)
	}
	if n := api.listed(pods.Path); n != 1 {
		t.Fatalf("listed %d times, want 1", n)
	}
}

func TestStreamStopsItsWatchesWhenTheBrowserLeaves(t *testing.T) {
	api := newFakeAPI(t)
	srv := serve(t, testConfig(pods, Resource{Name: "nodes", Path: "/api/v1/nodes"}), api)
	c := open(t, srv, "good", "")
	api.nextWatch()
	api.nextWatch()
	c.resp.Body.Close()
	done := make(chan struct{})
	go func() { api.active.Wait(); close(done) }()
	select {
	case <-done:
	case <-t.Context().Done():
		t.Fatal("watch handlers still running after the browser left")
	}
}

func TestStreamHeartbeat(t *testing.T) {
	api := newFakeAPI(t)
	cfg := testConfig(pods)
	cfg.Heartbeat = 5 * time.Millisecond
	srv := serve(t, cfg, api)
	c := open(t, srv, "good", "")
	for {
		var f Frame
		if err := c.dec.Decode(&f); err != nil {
			t.Fatal(err)
		}
		if f.Type == TypePing {
			return
		}
	}
}

func TestConfigValidate(t *testing.T) {
	valid := testConfig(pods)
	tests := []struct {
		name   string
		change func(*Config)
		ok     bool
	}{
		{"defaults with logger", func(*Config) {}, true},
		{"no resources", func(c *Config) { c.Resources = nil }, false},
		{"duplicate names", func(c *Config) { c.Resources = []Resource{pods, pods} }, false},
		{"no path", func(c *Config) { c.Resources = []Resource{{Name: "x"}} }, false},
		{"no heartbeat", func(c *Config) { c.Heartbeat = 0 }, false},
		{"retry max below min", func(c *Config) { c.RetryMax = 0 }, false},
		{"no logger", func(c *Config) { c.Logger = nil }, false},
		{"no page size", func(c *Config) { c.PageSize = 0 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.change(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestTrim(t *testing.T) {
	tests := []struct {
		in, rv string
		err    bool
	}{
		{fmt.Sprintf(podJSON, "a", "7"), "7", false},
		{`{"metadata":{"name":"x"}}`, "", false},
		{`{"metadata":7}`, "", true},
		{`not json`, "", true},
	}
	for _, tc := range tests {
		out, rv, err := trim(json.RawMessage(tc.in))
		if (err != nil) != tc.err || rv != tc.rv {
			t.Errorf("trim(%s) = rv %q err %v, want rv %q err=%v", tc.in, rv, err, tc.rv, tc.err)
		}
		if err == nil && strings.Contains(string(out), "managedFields") {
			t.Errorf("trim(%s) kept managedFields", tc.in)
		}
	}
}
