package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Resource is one collection the stream lists and watches in every
// namespace.
type Resource struct {
	// Name keys the resource in frames and in the resume query, e.g. "pods".
	Name string
	// Path is the collection's API path, e.g. "/api/v1/pods".
	Path string
}

// DefaultResources are what the dashboard shows.
var DefaultResources = []Resource{
	{Name: "nodes", Path: "/api/v1/nodes"},
	{Name: "pods", Path: "/api/v1/pods"},
	{Name: "deployments", Path: "/apis/apps/v1/deployments"},
	{Name: "replicasets", Path: "/apis/apps/v1/replicasets"},
	{Name: "events", Path: "/api/v1/events"},
}

// Frame types. SYNC carries the first page of a resource's list (the list
// replaces what the browser holds) and ITEMS each further page, the last
// without More; ADDED, MODIFIED and DELETED carry one object; BOOKMARK
// only moves the resourceVersion on; ERROR reports a failure the stream
// retries by itself; PING keeps an idle stream visibly alive.
const (
	TypeSync  = "SYNC"
	TypeItems = "ITEMS" // a further page of the SYNC in progress

	TypeBookmark = "BOOKMARK"
	TypeError    = "ERROR"
	TypePing     = "PING"
)

// Frame is one line of the stream.
type Frame struct {
	Type     string `json:"type"`
	Resource string `json:"resource,omitempty"`
	// ResourceVersion is where the browser resumes this resource from.
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Object          json.RawMessage   `json:"object,omitempty"`
	Items           []json.RawMessage `json:"items,omitempty"`
	// More is set on every page of a list but the last; only the last
	// carries the list's ResourceVersion.
	More    bool   `json:"more,omitempty"`
	Message string `json:"message,omitempty"`
}

// Config configures a stream Handler.
type Config struct {
	// Resources are listed and watched, each in all namespaces.
	Resources []Resource
	// Heartbeat is how often a PING frame is written.
	Heartbeat time.Duration
	// RetryMin and RetryMax bound the doubling wait before a failed list or
	// watch is tried again.
	RetryMin, RetryMax time.Duration
	// PageSize is how many objects one list call (and one SYNC or ITEMS
	// frame) holds, so the browser can paint the first page early.
	PageSize int
	Logger   *slog.Logger
}

// DefaultConfig returns a Config for the dashboard's resources; Logger
// must still be set.
func DefaultConfig() Config {
	return Config{Resources: DefaultResources, Heartbeat: 15 * time.Second,
		RetryMin: 250 * time.Millisecond, RetryMax: 10 * time.Second, PageSize: 500}
}

// Validate reports what is missing or wrong in c.
func (c Config) Validate() error {
	switch {
	case len(c.Resources) == 0:
		return errors.New("stream: no Resources")
	case c.Heartbeat <= 0:
		return fmt.Errorf("stream: Heartbeat %v must be positive", c.Heartbeat)
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return fmt.Errorf("stream: retry bounds %v..%v are not increasing and positive", c.RetryMin, c.RetryMax)
	case c.PageSize <= 0:
		return fmt.Errorf("stream: PageSize %d must be positive", c.PageSize)
	case c.Logger == nil:
		return errors.New("stream: Logger is required")
	}
	seen := map[string]bool{}
	for _, r := range c.Resources {
		if r.Name == "" || r.Path == "" || seen[r.Name] {
			return fmt.Errorf("stream: resource %q at %q: name and path required, names unique", r.Name, r.Path)
		}
		seen[r.Name] = true
	}
	return nil
}

// Handler serves one multiplexed stream per request: GET with the
// browser's Authorization header and, per resource to resume, a query
// parameter named after it holding the last resourceVersion seen (e.g.
// ?pods=1234). Resources without one are listed first.
type Handler struct {
	cfg Config
	api http.Handler
}

// New returns a Handler that reads from api, the API server's handler
// (authentication included).
func New(cfg Config, api http.Handler) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if api == nil {
		return nil, errors.New("stream: api handler is required")
	}
	return &Handler{cfg: cfg, api: api}, nil
}

// apiError is a non-success answer of the API server, kept to pass on.
type apiError struct {
	code        int
	contentType string
	body        []byte
}

func (e *apiError) Error() string {
	var st struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(e.body, &st) == nil && st.Message != "" {
		return fmt.Sprintf("%d %s: %s", e.code, http.StatusText(e.code), st.Message)
	}
	return fmt.Sprintf("%d %s", e.code, http.StatusText(e.code))
}

// fatal answers are passed to the browser instead of a stream: retrying
// with the same credentials cannot succeed.
func (e *apiError) fatal() bool {
	return e.code == http.StatusUnauthorized || e.code == http.StatusForbidden
}

// errGone is a resourceVersion older than the store's history.
var errGone = errors.New("stream: resourceVersion gone (410)")

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "stream: only GET", http.StatusMethodNotAllowed)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "stream: the connection cannot stream", http.StatusInternalServerError)
		return
	}
	q := r.URL.Query()
	ctx, cancel := context.WithCancel(r.Context())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	s := &session{cfg: h.cfg, api: h.api, orig: r, lines: make(chan []byte, 256)}
	ready := make(chan error, len(h.cfg.Resources))
	for _, res := range h.cfg.Resources {
		rv := q.Get(res.Name)
		wg.Go(func() { s.run(ctx, res, rv, ready) })
	}
	for range h.cfg.Resources {
		var err error
		select {
		case <-ctx.Done():
			return
		case err = <-ready:
		}
		if ae := (*apiError)(nil); errors.As(err, &ae) && ae.fatal() {
			if ae.contentType != "" {
				w.Header().Set("Content-Type", ae.contentType)
			}
			w.WriteHeader(ae.code)
			w.Write(ae.body) //nolint:errcheck // the browser left
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	s.write(ctx, w, flusher)
}

// session is one browser's stream.
type session struct {
	cfg   Config
	api   http.Handler
	orig  *http.Request
	lines chan []byte
}

// write copies frames to the browser, flushing when no more are queued,
// until ctx ends or a write fails.
func (s *session) write(ctx context.Context, w io.Writer, f http.Flusher) {
	tick := time.NewTicker(s.cfg.Heartbeat)
	defer tick.Stop()
	ping, _ := json.Marshal(Frame{Type: TypePing})
	ping = append(ping, '\n')
	for {
		var line []byte
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			line = ping
		case line = <-s.lines:
		}
		if _, err := w.Write(line); err != nil {
			return
		}
	drain:
		for {
			select {
			case line = <-s.lines:
				if _, err := w.Write(line); err != nil {
					return
				}
			default:
				break drain
			}
		}
		f.Flush()
	}
}

// send queues f for the browser; false once ctx ended.
func (s *session) send(ctx context.Context, f Frame) bool {
	line, err := json.Marshal(f)
	if err != nil {
		s.cfg.Logger.Error("stream: encoding a frame", "resource", f.Resource, "type", f.Type, "err", err)
		return true
	}
	select {
	case s.lines <- append(line, '\n'):
		return true
	case <-ctx.Done():
		return false
	}
}

// run lists and watches res until ctx ends, resuming from rv when set.
// Its first outcome (nil once listing or watching works) goes to ready.
func (s *session) run(ctx context.Context, res Resource, rv string, ready chan<- error) {
	first := true
	report := func(err error) {
		if first {
			first = false
			ready <- err
		}
	}
	wait := s.cfg.RetryMin
	// failed reports err and waits before the next try; false: give up.
	failed := func(err error) bool {
		report(err)
		if ae := (*apiError)(nil); errors.As(err, &ae) && ae.fatal() {
			return false
		}
		if ctx.Err() != nil {
			return false
		}
		s.cfg.Logger.Debug("stream: retrying", "resource", res.Name, "err", err, "wait", wait)
		if !s.send(ctx, Frame{Type: TypeError, Resource: res.Name, Message: err.Error()}) {
			return false
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		wait = min(2*wait, s.cfg.RetryMax)
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for ctx.Err() == nil {
		if rv == "" {
			listRV, err := s.list(ctx, res, func() { report(nil) })
			if errors.Is(err, errGone) {
				continue // the list's snapshot was compacted away between pages
			}
			if err != nil {
				if !failed(err) {
					return
				}
				continue
			}
			rv = listRV
		}
		wctx, wcancel := context.WithCancel(ctx)
		body, err := s.openWatch(wctx, res, rv)
		if err != nil {
			wcancel()
			if errors.Is(err, errGone) {
				rv = ""
				continue
			}
			if !failed(err) {
				return
			}
			continue
		}
		report(nil)
		wait = s.cfg.RetryMin
		rv, err = s.pump(ctx, res, rv, body)
		wcancel() // ends the API's watch handler
		body.Close()
		switch {
		case errors.Is(err, errGone):
			rv = ""
		case err != nil:
			if !failed(err) {
				return
			}
		}
	}
}

// call serves a GET of path on the API with the browser's credentials.
func (s *session) call(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, fmt.Errorf("stream: request for %s: %w", path, err)
	}
	req.Host, req.RemoteAddr = s.orig.Host, s.orig.RemoteAddr
	req.RequestURI = req.URL.RequestURI()
	if a := s.orig.Header.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a)
	}
	req.Header.Set("Accept", "application/json")
	return roundTrip(s.api, req), nil
}

// failure turns a non-success answer into an apiError (or errGone).
func failure(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode == http.StatusGone {
		return errGone
	}
	return &apiError{code: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: body}
}

// list sends res's list page by page (items without managedFields), the
// first page as SYNC and the rest as ITEMS, and returns the list's
// resourceVersion; listed is called once the first page is read.
func (s *session) list(ctx context.Context, res Resource, listed func()) (string, error) {
	cont := ""
	for page := 0; ; page++ {
		q := url.Values{"limit": {strconv.Itoa(s.cfg.PageSize)}}
		if cont != "" {
			q.Set("continue", cont)
		}
		resp, err := s.call(ctx, res.Path+"?"+q.Encode())
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			err := failure(resp)
			if errors.Is(err, errGone) {
				return "", err
			}
			return "", fmt.Errorf("stream: listing %s: %w", res.Name, err)
		}
		var list struct {
			Metadata struct {
				ResourceVersion string `json:"resourceVersion"`
				Continue        string `json:"continue"`
			} `json:"metadata"`
			Items []json.RawMessage `json:"items"`
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil {
			return "", fmt.Errorf("stream: decoding the list of %s: %w", res.Name, err)
		}
		for i, it := range list.Items {
			if list.Items[i], _, err = trim(it); err != nil {
				return "", fmt.Errorf("stream: item %d of %s: %w", i, res.Name, err)
			}
		}
		if page == 0 {
			listed()
		}
		f := Frame{Type: TypeItems, Resource: res.Name, Items: list.Items, More: list.Metadata.Continue != ""}
		if page == 0 {
			f.Type = TypeSync
		}
		if !f.More {
			f.ResourceVersion = list.Metadata.ResourceVersion
		}
		if !s.send(ctx, f) {
			return "", ctx.Err()
		}
		if !f.More {
			return list.Metadata.ResourceVersion, nil
		}
		cont = list.Metadata.Continue
	}
}

// openWatch starts watching res from rv.
func (s *session) openWatch(ctx context.Context, res Resource, rv string) (io.ReadCloser, error) {
	q := url.Values{"watch": {"1"}, "resourceVersion": {rv}, "allowWatchBookmarks": {"true"}}
	resp, err := s.call(ctx, res.Path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		err := failure(resp)
		if errors.Is(err, errGone) {
			return nil, err
		}
		return nil, fmt.Errorf("stream: watching %s from %s: %w", res.Name, rv, err)
	}
	return resp.Body, nil
}

// pump forwards res's watch events from body until it ends; it returns
// the last resourceVersion seen and nil at a clean end, errGone when the
// watch says rv is too old.
func (s *session) pump(ctx context.Context, res Resource, rv string, body io.Reader) (string, error) {
	dec := json.NewDecoder(body)
	for {
		var ev struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return rv, nil
			}
			return rv, fmt.Errorf("stream: reading the watch of %s: %w", res.Name, err)
		}
		switch ev.Type {
		case "ERROR":
			var st struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			_ = json.Unmarshal(ev.Object, &st)
			if st.Code == http.StatusGone {
				return rv, errGone
			}
			return rv, fmt.Errorf("stream: watch of %s: %d %s", res.Name, st.Code, st.Message)
		case "BOOKMARK":
			_, brv, err := trim(ev.Object)
			if err != nil {
				return rv, fmt.Errorf("stream: bookmark of %s: %w", res.Name, err)
			}
			rv = brv
			if !s.send(ctx, Frame{Type: TypeBookmark, Resource: res.Name, ResourceVersion: rv}) {
				return rv, nil
			}
		default:
			obj, orv, err := trim(ev.Object)
			if err != nil {
				return rv, fmt.Errorf("stream: %s event of %s: %w", ev.Type, res.Name, err)
			}
			rv = orv
			if !s.send(ctx, Frame{Type: ev.Type, Resource: res.Name, ResourceVersion: rv, Object: obj}) {
				return rv, nil
			}
		}
	}
}

// trim drops metadata.managedFields (the dashboard never shows them and
// they are often most of an object) and returns the object's
// resourceVersion.
func trim(obj json.RawMessage) (json.RawMessage, string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(obj, &top); err != nil {
		return nil, "", err
	}
	var md map[string]json.RawMessage
	if err := json.Unmarshal(top["metadata"], &md); err != nil {
		return nil, "", fmt.Errorf("metadata: %w", err)
	}
	var rv string
	if raw, ok := md["resourceVersion"]; ok {
		if err := json.Unmarshal(raw, &rv); err != nil {
			return nil, "", fmt.Errorf("metadata.resourceVersion: %w", err)
		}
	}
	if _, ok := md["managedFields"]; !ok {
		return obj, rv, nil
	}
	delete(md, "managedFields")
	var err error
	if top["metadata"], err = json.Marshal(md); err != nil {
		return nil, "", err
	}
	out, err := json.Marshal(top)
	return out, rv, err
}
