package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestCheckHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			if r.Header.Get("X-Probe") != "yes" || r.URL.RawQuery != "a=1" || r.Host != "example.test" {
				http.Error(w, "bad request "+r.Host+" "+r.URL.RawQuery, http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		case "/redirect":
			http.Redirect(w, r, "/ok?a=1", http.StatusFound)
		default:
			http.Error(w, "sick", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	host, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	c := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	target := Target{PodIP: host, Container: c}
	headers := []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}, {Name: "Host", Value: "example.test"}}
	for _, tc := range []struct {
		name, path string
		port       intstr.IntOrString
		want       Result
		msg        string
	}{
		{"ok by number", "/ok?a=1", intstr.FromInt32(int32(port)), Success, ""},
		{"ok by name", "/ok?a=1", intstr.FromString("http"), Success, ""},
		{"redirect on the host", "/redirect", intstr.FromString("http"), Success, ""},
		{"503", "/sick", intstr.FromString("http"), Failure, "HTTP probe failed with statuscode: 503: sick"},
		{"unknown port name", "/ok", intstr.FromString("metrics"), Failure, `port "metrics" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: tc.path, Port: tc.port, HTTPHeaders: headers}}}
			got, msg := Check(context.Background(), p, target)
			if got != tc.want || !strings.Contains(msg, tc.msg) {
				t.Errorf("Check = %v %q, want %v %q", got, msg, tc.want, tc.msg)
			}
		})
	}
}

func TestCheckTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(port))}}}
	if got, msg := Check(context.Background(), p, Target{PodIP: "127.0.0.1"}); got != Success {
		t.Fatalf("open port: %v %s", got, msg)
	}
	ln.Close()
	if got, msg := Check(context.Background(), p, Target{PodIP: "127.0.0.1"}); got != Failure || !strings.Contains(msg, "refused") {
		t.Fatalf("closed port: %v %q, want a refused failure", got, msg)
	}
}

func TestCheckExec(t *testing.T) {
	p := &corev1.Probe{TimeoutSeconds: 1, ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/healthy"}}}}
	for _, tc := range []struct {
		name string
		exec ExecFunc
		want Result
		msg  string
	}{
		{"exit 0", func(context.Context, []string) (int, []byte, error) { return 0, nil, nil }, Success, ""},
		{"exit 1", func(context.Context, []string) (int, []byte, error) { return 1, []byte("no such file\n"), nil }, Failure, `exited with 1: no such file`},
		{"timeout", func(ctx context.Context, _ []string) (int, []byte, error) { <-ctx.Done(); return -1, nil, ctx.Err() }, Failure, "timed out after 1s"},
		{"no exec", nil, Failure, "not available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, msg := Check(context.Background(), p, Target{Exec: tc.exec})
			if got != tc.want || !strings.Contains(msg, tc.msg) {
				t.Errorf("Check = %v %q, want %v %q", got, msg, tc.want, tc.msg)
			}
		})
	}
}

// switchable is an exec probe whose answer the test sets.
type switchable struct{ healthy atomic.Bool }

func (s *switchable) exec(context.Context, []string) (int, []byte, error) {
	if s.healthy.Load() {
		return 0, nil, nil
	}
	return 1, []byte("unhealthy"), nil
}

type recorder struct {
	mu      sync.Mutex
	changes []string
	fails   int
}

func (r *recorder) report(k Kind, v Result, changed bool, _ string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if changed {
		r.changes = append(r.changes, k.String()+"="+v.String())
	}
	if v == Failure {
		r.fails++
	}
}

func (r *recorder) get() ([]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.changes...), r.fails
}

func execProbe(period, failures int32, delay int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}},
		PeriodSeconds:       period,
		FailureThreshold:    failures,
		InitialDelaySeconds: delay,
	}
}

func TestReadinessThresholds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sw switchable
		var rec recorder
		c := &corev1.Container{ReadinessProbe: execProbe(1, 3, 5)}
		s := NewSet(c, Target{Exec: sw.exec}, time.Now(), rec.report)
		defer s.Stop()
		if s.Ready() {
			t.Fatal("ready before the first readiness success")
		}
		sw.healthy.Store(true)
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if s.Ready() {
			t.Fatal("ready during the initial delay")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if !s.Ready() {
			t.Fatal("not ready after a success past the initial delay")
		}
		sw.healthy.Store(false)
		time.Sleep(2 * time.Second) // two failures: below the threshold
		synctest.Wait()
		if !s.Ready() {
			t.Fatal("unready after 2 failures with failureThreshold 3")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if s.Ready() {
			t.Fatal("still ready after 3 failures")
		}
		changes, fails := rec.get()
		if strings.Join(changes, ",") != "Readiness=success,Readiness=failure" || fails != 3 {
			t.Fatalf("reports %v with %d failures", changes, fails)
		}
	})
}

func TestStartupGatesLiveness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var startupOK, live switchable
		live.healthy.Store(false) // would fail at once if it ran
		var rec recorder
		c := &corev1.Container{
			StartupProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"startup"}}}, PeriodSeconds: 1, FailureThreshold: 30},
			LivenessProbe: execProbe(1, 2, 0),
		}
		exec := func(ctx context.Context, cmd []string) (int, []byte, error) {
			if cmd[0] == "startup" {
				return startupOK.exec(ctx, cmd)
			}
			return live.exec(ctx, cmd)
		}
		s := NewSet(c, Target{Exec: exec}, time.Now(), rec.report)
		defer s.Stop()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if changes, _ := rec.get(); len(changes) != 0 || s.Started() {
			t.Fatalf("before startup succeeded: changes %v, started %v", changes, s.Started())
		}
		startupOK.healthy.Store(true)
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		if !s.Started() || !s.Ready() {
			t.Fatalf("started=%v ready=%v after startup success (no readiness probe)", s.Started(), s.Ready())
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		changes, _ := rec.get()
		if strings.Join(changes, ",") != "Startup=success,Liveness=failure" {
			t.Fatalf("changes %v, want startup success then liveness failure", changes)
		}
	})
}
