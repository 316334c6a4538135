package server_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/control/server"
)

func TestJoinToken(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	cfg := server.DefaultConfig()
	cfg.DataDir = t.TempDir()
	first, err := server.JoinToken(cfg, log)
	if err != nil || len(first) < 32 {
		t.Fatalf("made token %q, %v", first, err)
	}
	raw, err := os.ReadFile(filepath.Join(cfg.DataDir, "join-token"))
	if err != nil || strings.TrimSpace(string(raw)) != first {
		t.Fatalf("token file %q, %v; want %q", raw, err, first)
	}
	if again, err := server.JoinToken(cfg, log); err != nil || again != first {
		t.Fatalf("second start: %q, %v; want the same %q", again, err, first)
	}
	cfg.JoinToken = "given"
	if got, _ := server.JoinToken(cfg, log); got != "given" {
		t.Fatalf("a configured token: got %q", got)
	}
	other := server.DefaultConfig()
	other.DataDir = t.TempDir()
	if tok, _ := server.JoinToken(other, log); tok == first {
		t.Fatal("two clusters made the same token")
	}
}
