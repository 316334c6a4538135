//go:build integration

package innetns

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func ino(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func newNS(t *testing.T) (name, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name = "skiffti-" + hex.EncodeToString(b)
	path, err := NewNamed(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := DeleteNamed(name); err != nil {
			t.Error(err)
		}
	})
	return name, path
}

func TestDoAndDial(t *testing.T) {
	name, path := newNS(t)
	if _, err := NewNamed(name); err == nil {
		t.Errorf("NewNamed of an existing name = nil error")
	}
	target := ino(t, path)
	runtime.LockOSThread()
	home := ino(t, "/proc/thread-self/ns/net")
	runtime.UnlockOSThread()
	if target == home {
		t.Fatalf("the new namespace is the caller's")
	}

	// fn runs inside; lo comes up there, and a listener binds there.
	var ln net.Listener
	err := Do(path, func() error {
		var st unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
			return err
		}
		if st.Ino != target {
			return errors.New("fn did not run in the namespace")
		}
		if out, err := runIP("link", "set", "lo", "up"); err != nil {
			return errors.New(string(out))
		}
		var lerr error
		ln, lerr = net.Listen("tcp", "127.0.0.1:0")
		return lerr
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "inside") }))
	}()

	// The caller's threads never moved.
	runtime.LockOSThread()
	if got := ino(t, "/proc/thread-self/ns/net"); got != home {
		t.Errorf("caller's thread is in namespace %d after Do, want %d", got, home)
	}
	runtime.UnlockOSThread()

	// The listener is reachable through HTTPClient, not from the caller's loopback.
	resp, err := HTTPClient(path).Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "inside" {
		t.Errorf("body = %q, want inside", body)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Errorf("the namespace's listener %s answers on the caller's loopback", ln.Addr())
	}
	if err := DeleteNamed(name); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after DeleteNamed: %v", path, err)
	}
}

// runIP runs the ip command from the current thread's namespace (a child
// forked from a locked thread inherits its namespace).
func runIP(args ...string) ([]byte, error) {
	return exec.Command("ip", args...).CombinedOutput()
}
