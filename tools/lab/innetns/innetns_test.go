package innetns

import (
	"strings"
	"testing"
)

func TestDialerWantsIPs(t *testing.T) {
	tests := []struct{ addr, wantErr string }{
		{"localhost:80", "want an IP address"},
		{"example.com:443", "want an IP address"},
		{"10.0.0.1", "missing port"},
	}
	for _, tt := range tests {
		// The address is checked before any namespace is entered, so a
		// path that does not exist is fine here.
		_, err := Dialer("/nonexistent/netns")(t.Context(), "tcp", tt.addr)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("dial %q = %v, want an error containing %q", tt.addr, err, tt.wantErr)
		}
	}
}

func TestNewNamedRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", "a/b", "../x"} {
		if _, err := NewNamed(name); err == nil {
			t.Errorf("NewNamed(%q) = nil error", name)
		}
	}
}

func TestDoMissingNamespace(t *testing.T) {
	ran := false
	err := Do("/nonexistent/netns", func() error { ran = true; return nil })
	if err == nil || ran {
		t.Errorf("Do(missing) = %v, ran %v; want an error and fn not run", err, ran)
	}
}
