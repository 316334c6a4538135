package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHandler(t *testing.T) {
	tests := []struct {
		name, version, hostname, method, path string
		want                                  string
	}{
		{"root", "1.0.0", "web-1", http.MethodGet, "/", "Hello, world!\nVersion: 1.0.0\nHostname: web-1\n"},
		{"any path", "2.0.0", "web-2", http.MethodGet, "/some/where?x=1", "Hello, world!\nVersion: 2.0.0\nHostname: web-2\n"},
		{"post", "1.0.0", "h", http.MethodPost, "/", "Hello, world!\nVersion: 1.0.0\nHostname: h\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(handler(tt.version, tt.hostname))
			t.Cleanup(srv.Close)
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status = %d, want 200", resp.StatusCode)
			}
			if got := string(body); got != tt.want {
				t.Errorf("body = %q, want %q", got, tt.want)
			}
		})
	}
}
