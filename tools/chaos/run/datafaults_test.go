package run

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLastError(t *testing.T) {
	tests := []struct {
		name, log string
		from      int
		want      string
	}{
		{"a panic wins", "level=INFO msg=up\nlevel=ERROR msg=x\npanic: failed to save current term: no space left on device\ngoroutine 1\n", 0,
			"panic: failed to save current term: no space left on device"},
		{"a runtime fault", "level=INFO msg=up\nunexpected fault address 0x7f\nfatal error: fault\n[signal SIGBUS]\n", 0, "fatal error: fault"},
		{"else the last error", "level=ERROR msg=first\nlevel=INFO msg=b\nskiff: server: open raft log: error x\nbye\n", 0, "skiff: server: open raft log: error x"},
		{"else the last line", "level=INFO msg=a\nlevel=INFO msg=b\n", 0, "level=INFO msg=b"},
		{"only what the new process wrote", "panic: old\nlevel=INFO msg=new\n", len("panic: old\n"), "level=INFO msg=new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "skiff.log")
			if err := os.WriteFile(p, []byte(tt.log), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := lastError(p, int64(tt.from)); got != tt.want {
				t.Errorf("lastError = %q, want %q", got, tt.want)
			}
		})
	}
}
