//go:build integration

package storebench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const etcdBin = "/usr/bin/etcd"

// testOptions are DefaultOptions with short timings, scratch space in a test
// directory and logs in the test output.
func testOptions(t *testing.T, d time.Duration) Options {
	t.Helper()
	o := DefaultOptions()
	o.Duration = d
	o.StartTimeout = 20 * time.Second
	o.FailoverTimeout = 20 * time.Second
	o.TempDir = t.TempDir()
	o.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	return o
}

func needEtcd(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(etcdBin); err != nil {
		t.Fatalf("etcd server not installed at %s (make deps installs etcd-server): %v", etcdBin, err)
	}
}

// TestRun is the real thing, against the skiff binary make test-integration builds.
func TestRun(t *testing.T) {
	bin := os.Getenv("SKIFF_BIN")
	if bin == "" {
		t.Skip("SKIFF_BIN is unset: set it to a built skiff binary (make test-integration does)")
	}
	needEtcd(t)
	o := testOptions(t, 300*time.Millisecond)
	o.SkiffBin = bin
	runAndCheck(t, o)
}

// TestRunEtcdAsSkiff drives all of Run — both clusters, the interleaving, the
// failover, the report — with etcd standing in for `skiff server`, so the
// benchmark is tested whether or not the Skiff server works.
func TestRunEtcdAsSkiff(t *testing.T) {
	needEtcd(t)
	o := testOptions(t, 300*time.Millisecond)
	o.SkiffBin = fakeSkiff(t)
	out := runAndCheck(t, o)
	// Both are etcd: no ratio should be wildly off.
	if strings.Contains(out, "note:") {
		t.Logf("failures were noted:\n%s", out)
	}
}

// runAndCheck runs the benchmark, checks the last line and that nothing is left.
func runAndCheck(t *testing.T, o Options) string {
	t.Helper()
	var out bytes.Buffer
	err := Run(t.Context(), o, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	last := lines[len(lines)-1]
	m := ratioLineRE.FindStringSubmatch(last)
	if m == nil {
		t.Fatalf("last line %q does not match %v", last, ratioLineRE)
	}
	for i, s := range m[1 : len(m)-1] {
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			t.Errorf("ratio %s (%s): %v", ratioSpecs[i].key, s, err)
		}
	}
	if ms, err := strconv.Atoi(m[len(m)-1]); err != nil || ms <= 0 {
		t.Errorf("failover %q: want a positive number of milliseconds (%v)", m[len(m)-1], err)
	}
	assertCleanedUp(t, o.TempDir)
	return out.String()
}

// TestEtcdWorkloads runs every workload briefly against a three-member etcd and
// then kills its leader, as the failover measurement does to Skiff.
func TestEtcdWorkloads(t *testing.T) {
	needEtcd(t)
	o := testOptions(t, 200*time.Millisecond)
	ports, err := freePorts(portsPerCluster)
	if err != nil {
		t.Fatal(err)
	}
	c, err := startEtcd(etcdBin, filepath.Join(o.TempDir, "etcd"), ports, o.Logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.stop()
		assertNoProcesses(t, o.TempDir)
	})
	if err := c.waitHealthy(t.Context(), o.StartTimeout); err != nil {
		t.Fatal(err)
	}
	for _, w := range workloads() {
		res, err := runWorkload(t.Context(), c, w, o)
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		t.Logf("%-8s %6.0f ops/s p50 %s ms p99 %s ms (%d ops, %d errors)", w.name, res.throughput(), ms(res.p50()), ms(res.p99()), res.ops(), res.errs)
		if res.ops() == 0 || res.errs != 0 {
			t.Errorf("%s: %d ops, %d errors (first: %v); want some ops and no errors", w.name, res.ops(), res.errs, res.firstErr)
		}
	}
	d, err := measureFailover(t.Context(), c, o)
	if err != nil {
		t.Fatalf("failover: %v", err)
	}
	t.Logf("etcd failover: %v", d)
	if d <= 0 || d > o.FailoverTimeout {
		t.Errorf("failover took %v, want within (0, %v]", d, o.FailoverTimeout)
	}
	if err := c.checkAlive(); err != nil {
		t.Errorf("after failover: %v", err)
	}
}

// TestRunCancelled cancels Run once the clusters are up: it must return the
// cancellation and leave no process and no file behind.
func TestRunCancelled(t *testing.T) {
	needEtcd(t)
	o := testOptions(t, 5*time.Second)
	o.SkiffBin = fakeSkiff(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := &cancelOnWrite{cancel: cancel}
	start := time.Now()
	err := Run(ctx, o, w)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel = %v, want %v", err, context.Canceled)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("Run took %v to notice the cancellation", took)
	}
	assertCleanedUp(t, o.TempDir)
}

// cancelOnWrite cancels when Run prints its header, that is, once both
// clusters are healthy.
type cancelOnWrite struct {
	once   sync.Once
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	w.once.Do(func() { time.AfterFunc(300*time.Millisecond, w.cancel) })
	return len(p), nil
}

// TestMemberThatExits checks that a server dying at startup is reported with its
// stderr, at once rather than at the deadline.
func TestMemberThatExits(t *testing.T) {
	needEtcd(t)
	o := testOptions(t, time.Second)
	o.SkiffBin = writeScript(t, "#!/bin/sh\necho 'skiff: raft-addr already in use' >&2\nexit 3\n")
	start := time.Now()
	err := Run(t.Context(), o, io.Discard)
	if err == nil {
		t.Fatal("Run with a skiff that exits: nil error")
	}
	for _, want := range []string{"skiff member n1 exited unexpectedly", "exit status 3", "skiff: raft-addr already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if took := time.Since(start); took > o.StartTimeout {
		t.Errorf("Run took %v, the whole start timeout, to notice", took)
	}
	assertCleanedUp(t, o.TempDir)
}

// TestMemberThatHangs checks the health deadline, its message, and that the
// whole process group, children included, is killed.
func TestMemberThatHangs(t *testing.T) {
	dir := t.TempDir()
	bin := writeScript(t, "#!/bin/sh\necho \"listening on nothing\" >&2\nsleep 987654 &\nwait\n")
	ports, err := freePorts(portsPerCluster)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := skiffSpecs(bin, dir, ports)
	if err != nil {
		t.Fatal(err)
	}
	c, err := startCluster("skiff", dir, specs, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	err = c.waitHealthy(t.Context(), 700*time.Millisecond)
	c.stop()
	if err == nil {
		t.Fatal("waitHealthy of servers that never answer: nil error")
	}
	for _, want := range []string{"skiff cluster not healthy after 700ms", "status of n1 at 127.0.0.1:", "--- skiff n3", "listening on nothing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if pids := processesWith(t, "sleep\x00987654"); len(pids) > 0 {
		t.Errorf("children of killed members survive: pids %v", pids)
	}
	assertNoProcesses(t, dir)
}

// fakeSkiff writes a `skiff server` stand-in that runs etcd under Skiff's flags.
func fakeSkiff(t *testing.T) string {
	t.Helper()
	return writeScript(t, `#!/bin/sh
# skiff server stand-in: etcd under skiff's flags.
[ "$1" = server ] || { echo "fake skiff: want server, got $1" >&2; exit 2; }
shift
while [ $# -gt 0 ]; do
	case "$1" in
	--name) name=$2 ;;
	--data-dir) dir=$2 ;;
	--raft-addr) raft=$2 ;;
	--client-addr) client=$2 ;;
	--api-addr) ;; # the stand-in serves no Kubernetes API
	--serf-addr) ;; # nor gossip
	--peers) peers=$2 ;;
	*) echo "fake skiff: unknown flag $1" >&2; exit 2 ;;
	esac
	shift 2
done
exec `+etcdBin+` --name "$name" --data-dir "$dir" \
	--listen-client-urls "http://$client" --advertise-client-urls "http://$client" \
	--listen-peer-urls "http://$raft" --initial-advertise-peer-urls "http://$raft" \
	--initial-cluster "$(echo "$peers" | sed 's#=#=http://#g')" \
	--initial-cluster-state new --initial-cluster-token fake-skiff
`)
}

func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "skiff")
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// assertCleanedUp checks that Run removed its scratch directory from parent and
// that no process still refers to it.
func assertCleanedUp(t *testing.T, parent string) {
	t.Helper()
	assertNoProcesses(t, parent)
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind in %s: %s", parent, e.Name())
	}
}

// assertNoProcesses fails if a process's command line mentions dir.
func assertNoProcesses(t *testing.T, dir string) {
	t.Helper()
	if pids := processesWith(t, dir); len(pids) > 0 {
		t.Errorf("processes left running under %s: %v", dir, pids)
	}
}

// processesWith lists processes whose NUL-separated command line contains s.
func processesWith(t *testing.T, s string) []string {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		if strings.Contains(string(b), s) {
			pid := filepath.Base(filepath.Dir(p))
			pids = append(pids, pid+": "+strings.ReplaceAll(string(bytes.TrimRight(b, "\x00")), "\x00", " "))
		}
	}
	return pids
}
