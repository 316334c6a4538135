package membership

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLogAdapterLevels(t *testing.T) {
	tests := []struct {
		line      string
		wantLevel string
		wantMsg   string
	}{
		{"[WARN] memberlist: refuting a suspect message", "WARN", "memberlist: refuting a suspect message"},
		{"[ERR] memberlist: failed to decrypt", "ERROR", "memberlist: failed to decrypt"},
		{"[INFO] serf: EventMemberJoin: s1", "INFO", "serf: EventMemberJoin: s1"},
		{"[DEBUG] memberlist: stream connection", "DEBUG", "memberlist: stream connection"},
		{"no level here", "INFO", "no level here"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			newLogLogger(l).Print(tt.line)
			out := buf.String()
			if !strings.Contains(out, "level="+tt.wantLevel) || !strings.Contains(out, `msg="`+tt.wantMsg+`"`) {
				t.Fatalf("logged %q, want level=%s msg=%q", out, tt.wantLevel, tt.wantMsg)
			}
		})
	}
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	newLogLogger(l).Print("[DEBUG] memberlist: noise")
	if buf.Len() != 0 {
		t.Fatalf("debug line logged at info level: %q", buf.String())
	}
}
