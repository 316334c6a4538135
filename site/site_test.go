package site

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// unauthorized is an API that refuses every request, as the real one does
// without a token.
var unauthorized = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	io.WriteString(w, `{"kind":"Status","code":401,"reason":"Unauthorized","message":"Unauthorized"}`)
})

func TestHandlerServesTheDashboard(t *testing.T) {
	srv := httptest.NewServer(Handler(Config{Logger: slog.New(slog.DiscardHandler)})(unauthorized))
	t.Cleanup(srv.Close)
	noRedirect := *srv.Client()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	tests := []struct {
		path, method string
		code         int
		contentType  string
		body         string
	}{
		{"/ui", "GET", http.StatusMovedPermanently, "", ""},
		{"/ui/", "GET", http.StatusOK, "text/html", `<script type="module" src="js/app.js">`},
		{"/ui/app.css", "GET", http.StatusOK, "text/css", "--row"},
		{"/ui/js/app.js", "GET", http.StatusOK, "javascript", "import"},
		{"/ui/js/views/workloads.js", "GET", http.StatusOK, "javascript", "rolloutStatus"},
		{"/ui/js/views/playground.js", "GET", http.StatusOK, "javascript", "podMatrix"},
		{"/ui/js/wasi.js", "GET", http.StatusOK, "javascript", "wasi_snapshot_preview1"},
		{"/ui/api/snapshot", "GET", http.StatusUnauthorized, "application/json", `"reason":"Unauthorized"`},
		{"/ui/api/decide", "GET", http.StatusNotFound, "", ""},
		{"/ui/nope.js", "GET", http.StatusNotFound, "", ""},
		{"/ui/stream", "GET", http.StatusUnauthorized, "application/json", `"reason":"Unauthorized"`},
		{"/ui/stream", "POST", http.StatusMethodNotAllowed, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, nil)
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.code, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, tc.contentType) {
				t.Errorf("content type %q, want %q", ct, tc.contentType)
			}
			if !strings.Contains(string(body), tc.body) {
				t.Errorf("body lacks %q", tc.body)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "script-src 'self' 'wasm-unsafe-eval';") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}
	if loc := func() string {
		resp, err := noRedirect.Get(srv.URL + "/ui")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Location")
	}(); loc != "/ui/" {
		t.Errorf("/ui redirects to %q, want /ui/", loc)
	}
}

func TestHandlerWithBadConfigAnswers500(t *testing.T) {
	h := Handler(Config{})(unauthorized) // no Logger
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "Logger") {
		t.Fatalf("got %d %q, want 500 naming the missing Logger", rec.Code, rec.Body.String())
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.Logger = slog.New(slog.DiscardHandler)
	tests := []struct {
		name   string
		change func(*Config)
		ok     bool
	}{
		{"defaults", func(*Config) {}, true},
		{"no logger", func(c *Config) { c.Logger = nil }, false},
		{"bad stream", func(c *Config) { c.Stream.Heartbeat = -1 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.change(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
