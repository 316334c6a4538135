//go:build integration

package runtime_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/errdefs"

	"github.com/skiff-sh/skiff/nodes/podlogs"
	"github.com/skiff-sh/skiff/nodes/runtime"
)

const boxImage = "gcr.io/skiff-test/box:1"

func randID(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// run creates and starts a container running script under sh -c; it is
// deleted at cleanup.
func (e *env) run(t *testing.T, spec runtime.ContainerSpec, script string) runtime.ContainerSpec {
	t.Helper()
	if spec.ID == "" {
		spec.ID = randID("c")
	}
	if spec.Image == "" {
		spec.Image = boxImage
	}
	if script != "" {
		spec.Command = []string{"sh", "-c", script}
	}
	if spec.LogPath == "" {
		spec.LogPath = filepath.Join(e.dir, "logs", spec.ID, "0.log")
	}
	if _, err := e.rt.EnsureImage(t.Context(), spec.Image, runtime.PullIfNotPresent); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Create(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.rt.Delete(context.Background(), spec.ID); err != nil {
			t.Errorf("deleting %s: %v", spec.ID, err)
		}
	})
	if err := e.rt.Start(t.Context(), spec.ID); err != nil {
		t.Fatal(err)
	}
	return spec
}

// logs reads a container's log as kubectl logs would, after its exit.
func logs(t *testing.T, path string) string {
	t.Helper()
	exited := make(chan struct{})
	close(exited)
	var out bytes.Buffer
	if err := podlogs.Read(t.Context(), path, podlogs.Options{Follow: true, Exited: exited}, &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// followUntil follows a container's log until it holds want.
func followUntil(t *testing.T, path, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	w := &matchWriter{want: want, found: make(chan struct{}), cancel: cancel}
	podlogs.Read(ctx, path, podlogs.Options{Follow: true}, w)
	select {
	case <-w.found:
	default:
		t.Fatalf("log %s never showed %q; it holds %q", path, want, w.buf.String())
	}
}

type matchWriter struct {
	buf    bytes.Buffer
	want   string
	found  chan struct{}
	cancel context.CancelFunc
}

func (w *matchWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		select {
		case <-w.found:
		default:
			close(w.found)
			w.cancel()
		}
	}
	return len(p), nil
}

func TestIntegration(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	t.Run("pull policies through the mirror", func(t *testing.T) {
		img, err := e.rt.EnsureImage(ctx, boxImage, runtime.PullNever)
		if !errors.Is(err, runtime.ErrImageNeverPull) {
			t.Fatalf("Never before any pull: %v, want ErrImageNeverPull", err)
		}
		img, err = e.rt.EnsureImage(ctx, boxImage, runtime.PullIfNotPresent)
		if err != nil || !img.Pulled {
			t.Fatalf("IfNotPresent first time = %+v, %v; want a pull", img, err)
		}
		if img.Ref != boxImage || !strings.HasPrefix(img.Digest, "sha256:") || img.ImageID != "gcr.io/skiff-test/box@"+img.Digest {
			t.Fatalf("image = %+v", img)
		}
		again, err := e.rt.EnsureImage(ctx, boxImage, runtime.PullIfNotPresent)
		if err != nil || again.Pulled || again.Digest != img.Digest {
			t.Fatalf("IfNotPresent second time = %+v, %v; want no pull", again, err)
		}
		never, err := e.rt.EnsureImage(ctx, boxImage, runtime.PullNever)
		if err != nil || never.Pulled {
			t.Fatalf("Never when present = %+v, %v", never, err)
		}
		always, err := e.rt.EnsureImage(ctx, boxImage, runtime.PullAlways)
		if err != nil || !always.Pulled || always.Digest != img.Digest {
			t.Fatalf("Always = %+v, %v; want a pull of the same digest", always, err)
		}
		if _, err := e.rt.EnsureImage(ctx, "gcr.io/skiff-test/missing:1", runtime.PullIfNotPresent); !errors.Is(err, runtime.ErrImagePull) {
			t.Fatalf("missing image: %v, want ErrImagePull", err)
		}
	})

	t.Run("echo and exit: exit event, CRI log, status", func(t *testing.T) {
		spec := e.run(t, runtime.ContainerSpec{
			Env:  []runtime.EnvVar{{"WHO", "skiff"}},
			Meta: runtime.Meta{PodUID: "uid-1", PodNamespace: "default", PodName: "echo", ContainerName: "main", Attempt: 2},
		}, "echo hello $(WHO) $FROM_IMAGE $PWD; echo oops >&2; exit 3")
		ex := e.exits.wait(t, spec.ID, 20*time.Second)
		if ex.ExitCode != 3 || ex.ExitedAt.IsZero() {
			t.Fatalf("exit = %+v, want code 3 with a time", ex)
		}
		got := logs(t, spec.LogPath)
		if !strings.Contains(got, "hello skiff yes /tmp\n") || !strings.Contains(got, "oops\n") {
			t.Fatalf("log = %q", got)
		}
		raw, _ := os.ReadFile(spec.LogPath)
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			if _, err := podlogs.ParseEntry([]byte(line)); err != nil {
				t.Fatalf("log line %q is not CRI format: %v", line, err)
			}
		}
		if !bytes.Contains(raw, []byte(" stderr F oops\n")) {
			t.Fatalf("no stderr entry in %q", raw)
		}
		st, err := e.rt.Status(ctx, spec.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != runtime.StateExited || st.ExitCode != 3 || st.FinishedAt.IsZero() || st.StartedAt.IsZero() ||
			st.Meta != spec.Meta || st.ImageRef != boxImage || !strings.HasPrefix(st.ImageID, "gcr.io/skiff-test/box@sha256:") || st.LogPath != spec.LogPath {
			t.Fatalf("status = %+v", st)
		}
		if n := e.exits.count(spec.ID); n != 1 {
			t.Fatalf("%d exits reported, want 1", n)
		}
		// ListPod finds it by its pod, with the same state, and nothing else.
		pod, err := e.rt.ListPod(ctx, "uid-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(pod) != 1 || pod[0].ID != spec.ID || pod[0].State != runtime.StateExited || pod[0].ExitCode != 3 {
			t.Fatalf("ListPod(uid-1) = %+v, want %s exited with 3", pod, spec.ID)
		}
		if none, err := e.rt.ListPod(ctx, "uid-none"); err != nil || len(none) != 0 {
			t.Fatalf("ListPod of a pod without containers = %+v, %v", none, err)
		}
	})

	t.Run("raw log file without a logging binary", func(t *testing.T) {
		cfg := e.cfg
		cfg.LoggerBinary = ""
		raw, err := runtime.New(ctx, cfg, e.logger)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		id := randID("raw")
		logPath := filepath.Join(e.dir, "logs", id+".log")
		if err := raw.Create(ctx, runtime.ContainerSpec{ID: id, Image: boxImage, Command: []string{"echo", "plain"}, LogPath: logPath}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Delete(context.Background(), id) })
		if err := raw.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Stop(ctx, id, 10*time.Second); err != nil { // returns at once if it already exited
			t.Fatal(err)
		}
		ex := <-raw.Exits()
		if ex.ID != id || ex.ExitCode != 0 {
			t.Fatalf("exit = %+v", ex)
		}
		if b, _ := os.ReadFile(logPath); string(b) != "plain\n" {
			t.Fatalf("raw log = %q", b)
		}
	})

	t.Run("stop honours SIGTERM", func(t *testing.T) {
		spec := e.run(t, runtime.ContainerSpec{}, `trap 'echo got-term; exit 7' TERM; echo ready; sleep 1000 & wait`)
		followUntil(t, spec.LogPath, "ready")
		start := time.Now()
		ex, err := e.rt.Stop(ctx, spec.ID, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if ex.ExitCode != 7 || time.Since(start) > 10*time.Second {
			t.Fatalf("exit = %+v after %v, want 7 well within the grace period", ex, time.Since(start))
		}
		if got := logs(t, spec.LogPath); !strings.Contains(got, "got-term") {
			t.Fatalf("log = %q", got)
		}
		if e.exits.wait(t, spec.ID, 10*time.Second).ExitCode != 7 {
			t.Fatal("exit event disagrees with Stop")
		}
	})

	t.Run("stop uses the image STOPSIGNAL", func(t *testing.T) {
		spec := e.run(t, runtime.ContainerSpec{Image: "gcr.io/skiff-test/box:stopsig"}, `trap 'exit 9' INT; trap 'exit 8' TERM; echo ready; sleep 1000 & wait`)
		followUntil(t, spec.LogPath, "ready")
		ex, err := e.rt.Stop(ctx, spec.ID, 20*time.Second)
		if err != nil || ex.ExitCode != 9 {
			t.Fatalf("exit = %+v, %v; want 9 (SIGINT trap)", ex, err)
		}
	})

	t.Run("stop kills after the grace period", func(t *testing.T) {
		// PID 1 without a handler ignores SIGTERM.
		spec := e.run(t, runtime.ContainerSpec{Command: []string{"sleep", "1000"}}, "")
		st, err := e.rt.Status(ctx, spec.ID)
		if err != nil || st.State != runtime.StateRunning || st.Pid == 0 {
			t.Fatalf("status = %+v, %v", st, err)
		}
		const grace = 1500 * time.Millisecond
		start := time.Now()
		ex, err := e.rt.Stop(ctx, spec.ID, grace)
		took := time.Since(start)
		if err != nil || ex.ExitCode != 137 || took < grace || took > grace+10*time.Second {
			t.Fatalf("exit = %+v, %v after %v; want 137 after the %v grace", ex, err, took, grace)
		}
	})

	t.Run("exec", func(t *testing.T) {
		spec := e.run(t, runtime.ContainerSpec{Command: []string{"sleep", "1000"}}, "")
		res, err := e.rt.Exec(ctx, spec.ID, []string{"sh", "-c", "echo out; echo err >&2; exit 4"}, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 4 || !strings.Contains(string(res.Output), "out\n") || !strings.Contains(string(res.Output), "err\n") {
			t.Fatalf("exec = %d %q", res.ExitCode, res.Output)
		}
		res, err = e.rt.Exec(ctx, spec.ID, []string{"true"}, 10*time.Second)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("exec true = %+v, %v", res, err)
		}
		start := time.Now()
		_, err = e.rt.Exec(ctx, spec.ID, []string{"sleep", "30"}, 300*time.Millisecond)
		if !errors.Is(err, runtime.ErrExecTimeout) || time.Since(start) > 10*time.Second {
			t.Fatalf("exec past its timeout: %v after %v, want ErrExecTimeout", err, time.Since(start))
		}
		// Exec'd processes do not count as container exits.
		if n := e.exits.count(spec.ID); n != 0 {
			t.Fatalf("%d exits reported for a running container", n)
		}
	})

	t.Run("netns, hostname, resources", func(t *testing.T) {
		ns := randID("skiff-rt")
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v: %s", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v: %s", ns, err, out)
			}
		})
		nsPath := "/run/netns/" + ns
		var st syscall.Stat_t
		if err := syscall.Stat(nsPath, &st); err != nil {
			t.Fatal(err)
		}
		parent := "/" + randID("skiff-test") + "/pod1"
		t.Cleanup(func() {
			for _, p := range []string{parent, filepath.Dir(parent)} {
				if err := runtime.RemoveCgroup(p); err != nil {
					t.Errorf("removing cgroup: %v", err)
				}
			}
		})
		spec := e.run(t, runtime.ContainerSpec{
			Hostname: "pod-a", NetNSPath: nsPath, CgroupParent: parent,
			Resources: runtime.Resources{CPURequestMilli: 250, CPULimitMilli: 500, MemoryLimitBytes: 64 << 20},
		}, "hostname; readlink /proc/self/ns/net; echo ready; sleep 1000")
		followUntil(t, spec.LogPath, "ready")
		got := logs(t, spec.LogPath) // not exited: reads what is there
		want := fmt.Sprintf("pod-a\nnet:[%d]\n", st.Ino)
		if !strings.HasPrefix(got, want) {
			t.Fatalf("log = %q, want it to start %q", got, want)
		}
		cg := runtime.CgroupPath(parent, spec.ID)
		for file, want := range map[string]string{
			"/sys/fs/cgroup/memory" + cg + "/memory.limit_in_bytes": "67108864",
			"/sys/fs/cgroup/cpu" + cg + "/cpu.shares":               "256",
			"/sys/fs/cgroup/cpu" + cg + "/cpu.cfs_quota_us":         "50000",
			"/sys/fs/cgroup/cpu" + cg + "/cpu.cfs_period_us":        "100000",
		} {
			b, err := os.ReadFile(file)
			if err != nil || strings.TrimSpace(string(b)) != want {
				t.Errorf("%s = %q, %v; want %s", file, b, err, want)
			}
		}
		if _, err := e.rt.Stop(ctx, spec.ID, 0); err != nil {
			t.Fatal(err)
		}
		if err := e.rt.Delete(ctx, spec.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat("/sys/fs/cgroup/memory" + cg); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("container cgroup left after delete: %v", err)
		}
		if _, err := e.rt.Status(ctx, spec.ID); !errdefs.IsNotFound(err) {
			t.Errorf("status after delete: %v, want not found", err)
		}
	})

	t.Run("containerd restart: containers keep running, exits still reported", func(t *testing.T) {
		keep := e.run(t, runtime.ContainerSpec{}, `trap 'echo bye; exit 5' TERM; echo ready; sleep 1000 & wait`)
		lost := e.run(t, runtime.ContainerSpec{Command: []string{"sleep", "1000"}}, "")
		followUntil(t, keep.LogPath, "ready")
		before := map[string]runtime.Status{}
		for _, id := range []string{keep.ID, lost.ID} {
			st, err := e.rt.Status(ctx, id)
			if err != nil || st.State != runtime.StateRunning {
				t.Fatalf("%s: %+v, %v", id, st, err)
			}
			before[id] = st
		}
		// A second StartDaemon on the live socket adopts it.
		adopted, err := runtime.StartDaemon(ctx, e.dcfg, e.logger)
		if err != nil || !adopted.Adopted() || adopted.Pid() != e.daemon.Pid() {
			t.Fatalf("StartDaemon on a live socket = adopted %v pid %d, %v; want adoption of pid %d", adopted.Adopted(), adopted.Pid(), err, e.daemon.Pid())
		}
		if err := e.daemon.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		for id, st := range before {
			if err := syscall.Kill(int(st.Pid), 0); err != nil {
				t.Fatalf("%s (pid %d) died with containerd: %v", id, st.Pid, err)
			}
		}
		// Exits while containerd is down are not evented; they must be re-derived.
		if err := syscall.Kill(int(before[lost.ID].Pid), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		e.startDaemon(t)
		if e.daemon.Adopted() {
			t.Fatal("containerd was stopped, yet StartDaemon adopted something")
		}
		if ex := e.exits.wait(t, lost.ID, 30*time.Second); ex.ExitCode != 137 {
			t.Fatalf("exit while containerd was down = %+v, want 137", ex)
		}
		list, err := e.rt.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(list, func(s runtime.Status) bool { return s.ID == keep.ID })
		if i < 0 || list[i].State != runtime.StateRunning || list[i].Pid != before[keep.ID].Pid {
			t.Fatalf("after restart List has %+v, want %s running as pid %d", list, keep.ID, before[keep.ID].Pid)
		}
		// Its log still works (the logging binary outlived containerd), and
		// its exit is reported through the new connection.
		if _, err := e.rt.Exec(ctx, keep.ID, []string{"true"}, 10*time.Second); err != nil {
			t.Fatalf("exec after restart: %v", err)
		}
		if ex, err := e.rt.Stop(ctx, keep.ID, 20*time.Second); err != nil || ex.ExitCode != 5 {
			t.Fatalf("stop after restart = %+v, %v", ex, err)
		}
		if ex := e.exits.wait(t, keep.ID, 20*time.Second); ex.ExitCode != 5 {
			t.Fatalf("exit after restart = %+v, want 5", ex)
		}
		// The logging binary outlived containerd's restart.
		if got := logs(t, keep.LogPath); got != "ready\nbye\n" {
			t.Fatalf("log across the restart = %q", got)
		}
	})

	t.Run("create+start latency", func(t *testing.T) {
		const n = 10
		var d []time.Duration
		for i := range n {
			spec := runtime.ContainerSpec{ID: randID(fmt.Sprintf("lat%d", i)), Image: boxImage, Command: []string{"sleep", "1000"},
				LogPath: filepath.Join(e.dir, "logs", fmt.Sprintf("lat%d.log", i))}
			start := time.Now()
			if err := e.rt.Create(ctx, spec); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.rt.Delete(context.Background(), spec.ID) })
			if err := e.rt.Start(ctx, spec.ID); err != nil {
				t.Fatal(err)
			}
			d = append(d, time.Since(start))
		}
		slices.Sort(d)
		t.Logf("create+start over %d containers: p50 %v, p90 %v, min %v, max %v", n, d[n/2], d[n*9/10], d[0], d[n-1])
		if d[n/2] > 5*time.Second {
			t.Errorf("p50 %v is over the 5 s pod start SLO on its own", d[n/2])
		}
	})
}
