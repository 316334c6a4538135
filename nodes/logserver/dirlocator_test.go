package logserver

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/nodes/podsync"
)

// mkLog creates an empty log file for an instance, as podsync lays it out.
func mkLog(t *testing.T, dir, ns, pod, uid, container string, attempt int) string {
	t.Helper()
	p := podsync.LogPath(dir, ns, pod, uid, container, attempt)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDirLocator(t *testing.T) {
	dir := t.TempDir()
	web1 := mkLog(t, dir, "default", "web", "u1", "app", 1)
	web10 := mkLog(t, dir, "default", "web", "u1", "app", 10)
	mkLog(t, dir, "default", "web", "u1", "app", 2)
	// Not instances: rotated files, odd names, directories.
	for _, name := range []string{"11.log.1", "x.log", "011.log", "-1.log", "12.txt"} {
		if err := os.WriteFile(filepath.Join(filepath.Dir(web1), name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(filepath.Dir(web1), "13.log"), 0o755); err != nil {
		t.Fatal(err)
	}
	one := mkLog(t, dir, "default", "web", "u1", "side", 0)
	if err := os.MkdirAll(filepath.Join(dir, "default_web_u1", "waiting"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A pod whose name has web as a prefix, and web in another namespace.
	other := mkLog(t, dir, "default", "web-2", "u2", "app", 0)
	kube := mkLog(t, dir, "kube-system", "web", "u3", "app", 0)
	// A recreated pod of the same name: the newer directory wins.
	mkLog(t, dir, "default", "db", "old", "app", 5)
	cur := mkLog(t, dir, "default", "db", "new", "app", 0)
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "default_db_old"), past, past); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name               string
		ns, pod, container string
		previous           bool
		wantPath           string
		wantExited         bool
		wantErr            error
		wantMsg            string
	}{
		{"current is the highest attempt", "default", "web", "app", false, web10, false, nil, ""},
		{"previous is the next highest", "default", "web", "app", true, mkPath(dir, "default_web_u1", "app", "2.log"), true, nil, ""},
		{"single instance", "default", "web", "side", false, one, false, nil, ""},
		{"single instance has no previous", "default", "web", "side", true, "", false, ErrNoPrevious, `previous terminated container "side" in pod "web" not found`},
		{"no instance yet", "default", "web", "waiting", false, "", false, ErrNotStarted, `container "waiting" in pod "web" is waiting to start`},
		{"no instance, previous", "default", "web", "waiting", true, "", false, ErrNoPrevious, `previous terminated container "waiting" in pod "web" not found`},
		{"unknown container", "default", "web", "nope", false, "", false, ErrContainerNotFound, `container "nope" not found in pod "web"`},
		{"unknown pod", "default", "nope", "app", false, "", false, ErrPodNotFound, `pod "nope" does not exist`},
		{"pod name prefix does not match", "default", "web-2", "app", false, other, false, nil, ""},
		{"namespaces apart", "kube-system", "web", "app", false, kube, false, nil, ""},
		{"other namespace lacks it", "kube-public", "web", "app", false, "", false, ErrPodNotFound, `pod "web" does not exist`},
		{"reused pod name: newest directory", "default", "db", "app", false, cur, false, nil, ""},
		{"reused pod name: no previous in the newest", "default", "db", "app", true, "", false, ErrNoPrevious, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc, err := DirLocator{Dir: dir}.Locate(t.Context(), tt.ns, tt.pod, tt.container, tt.previous)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Locate error = %v, want %v", err, tt.wantErr)
				}
				if tt.wantMsg != "" && err.Error() != tt.wantMsg {
					t.Fatalf("Locate error message = %q, want %q", err, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Locate: %v", err)
			}
			if loc.Path != tt.wantPath {
				t.Fatalf("Path = %s, want %s", loc.Path, tt.wantPath)
			}
			exited := false
			if loc.Exited != nil {
				select {
				case <-loc.Exited:
					exited = true
				default:
				}
			}
			if exited != tt.wantExited {
				t.Fatalf("exited = %v, want %v", exited, tt.wantExited)
			}
		})
	}
}

func mkPath(parts ...string) string { return filepath.Join(parts...) }

func TestDirLocatorMissingDir(t *testing.T) {
	_, err := DirLocator{Dir: filepath.Join(t.TempDir(), "absent")}.Locate(t.Context(), "default", "web", "app", false)
	if err == nil || errors.Is(err, ErrPodNotFound) {
		t.Fatalf("Locate over a missing directory = %v, want an I/O error", err)
	}
}
