//go:build integration

package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testConfig is a lab that cannot collide with a user's: a random name
// ("skifft" + 3 hex digits) and a random subnet in 10.99.200-249.0/24.
func testConfig(t *testing.T, vms int, registry bool) Config {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	n, _ := rand.Int(rand.Reader, big.NewInt(50))
	c := DefaultConfig()
	c.Dir = filepath.Join(t.TempDir(), "lab")
	c.Name = "skifft" + hex.EncodeToString(b)[:3]
	c.VMs = vms
	c.Subnet = netip.MustParsePrefix(fmt.Sprintf("10.99.%d.0/24", 200+n.Int64()))
	c.Registry = registry
	c.ImageCache = t.TempDir()
	c.StopGrace = time.Second
	return c
}

// upLab brings a lab up and downs it in t.Cleanup, also when the test fails.
func upLab(t *testing.T, c Config) *Lab {
	t.Helper()
	l, err := Up(t.Context(), c, testLogger(t))
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Down(context.Background()); err != nil {
			t.Errorf("cleanup Down: %v", err)
		}
	})
	return l
}

// labItems keeps the Diff lines that belong to lab c (its names, subnet,
// directory, the blackhole routes); other lines are other tests' business.
func labItems(c Config, diff []string) (ours, others []string) {
	marks := []string{c.Name, strings.TrimSuffix(c.Subnet.Addr().String(), ".0"), c.Dir}
	for _, p := range c.Blackhole {
		marks = append(marks, fmt.Sprintf("unreachable %s metric %d", p, BlackholeMetric(c.Name)))
	}
	for _, d := range diff {
		if slices.ContainsFunc(marks, func(m string) bool { return strings.Contains(d, m) }) {
			ours = append(ours, d)
		} else {
			others = append(others, d)
		}
	}
	return ours, others
}

func snapshot(t *testing.T, dir string) Resources {
	t.Helper()
	r, err := Snapshot(dir)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return r
}

func TestLab(t *testing.T) {
	c := testConfig(t, 2, true)
	before := snapshot(t, c.Dir)
	ctx := t.Context()
	l := upLab(t, c)
	vm1, _ := l.VM("vm1")
	vm2, _ := l.VM("vm2")

	t.Run("resources", func(t *testing.T) {
		during := snapshot(t, c.Dir)
		diff := before.Diff(during)
		for _, want := range []string{
			"+link: " + c.Name + "-lab0 bridge",
			"+link: " + c.Name + "-vm1 veth",
			"+link: " + c.Name + "-reg veth",
			"+netns: " + c.Name + "-vm1",
			"+netns: " + c.Name + "-vm2",
			"+netns: " + c.Name + "-reg",
			"+mount: /run/netns/" + c.Name + "-vm2",
		} {
			if !slices.Contains(diff, want) {
				t.Errorf("after Up, the snapshot diff lacks %q:\n%s", want, strings.Join(diff, "\n"))
			}
		}
		for _, p := range c.Blackhole {
			if !slices.Contains(during.Routes, fmt.Sprintf("unreachable %s metric %d", p, BlackholeMetric(c.Name))) {
				t.Errorf("no unreachable route for %v in the root namespace: %q", p, during.Routes)
			}
		}
		if !slices.ContainsFunc(during.Processes, func(p string) bool { return strings.HasSuffix(p, " "+c.Name+"-reg") }) {
			t.Errorf("no process in %s-reg (the registry): %q", c.Name, during.Processes)
		}
	})

	t.Run("status", func(t *testing.T) {
		st, err := l.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.BridgeUp || len(st.VMs) != 3 {
			t.Fatalf("status: %s", st)
		}
		for _, vm := range st.VMs {
			if !vm.NetnsOK || !vm.LinkUp {
				t.Errorf("VM %s: netns ok %v, link up %v", vm.Name, vm.NetnsOK, vm.LinkUp)
			}
		}
		t.Logf("status:\n%s", st)
	})

	t.Run("sysctls and routes", func(t *testing.T) {
		for key, want := range map[string]string{"net/ipv4/ip_forward": "1", "net/ipv4/conf/all/rp_filter": "2", "net/ipv4/conf/eth0/rp_filter": "2"} {
			got, err := readSysctl(vm1, key)
			if err != nil || got != want {
				t.Errorf("%s in vm1 = %q, %v; want %q", key, got, err, want)
			}
		}
		out, err := l.Exec(ctx, "vm1", []string{"ip", "-4", "route", "show"})
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if strings.Contains(string(out), "default") || !strings.Contains(string(out), c.Subnet.String()) {
			t.Errorf("vm1 routes = %q, want only the lab subnet", out)
		}
	})

	t.Run("vm to vm", func(t *testing.T) {
		out, err := l.Exec(ctx, "vm1", []string{"busybox", "ping", "-c", "1", "-W", "5", vm2.Addr.Addr().String()})
		if err != nil {
			t.Fatalf("ping vm1 → vm2: %v: %s", err, out)
		}
		www := filepath.Join(l.VMDir("vm2"), "www")
		if err := os.MkdirAll(www, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("hello from vm2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		addr := netip.AddrPortFrom(vm2.Addr.Addr(), 8080).String()
		if err := l.Start(ctx, "vm2", "httpd", []string{"busybox", "httpd", "-f", "-p", addr, "-h", www}, nil); err != nil {
			t.Fatal(err)
		}
		waitListening(t, l, "vm1", addr)
		out, err = l.Exec(ctx, "vm1", []string{"busybox", "wget", "-q", "-O", "-", "http://" + addr + "/"})
		if err != nil || string(out) != "hello from vm2\n" {
			t.Errorf("wget vm1 → vm2 = %q, %v", out, err)
		}
		// The host reaches VMs over the bridge too.
		resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("host → vm2: %v", err)
		}
		resp.Body.Close()
	})

	t.Run("no way out", func(t *testing.T) {
		start := time.Now()
		_, err := l.Dial(ctx, "vm1", "tcp", "10.255.255.1:80")
		if !errors.Is(err, syscall.ENETUNREACH) {
			t.Errorf("dial 10.255.255.1 from vm1 = %v, want network unreachable", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("dial took %v: a timeout, not an immediate refusal", d)
		}
		out, err := l.Exec(ctx, "vm1", []string{"busybox", "ping", "-c", "1", "-W", "1", "10.255.255.1"})
		if err == nil || !strings.Contains(string(out), "unreachable") {
			t.Errorf("ping 10.255.255.1 from vm1 = %q, %v; want 'Network unreachable'", out, err)
		}
	})

	t.Run("registry", func(t *testing.T) {
		client, err := l.HTTPClient("vm2")
		if err != nil {
			t.Fatal(err)
		}
		for repo, want := range map[string][]string{"google-samples/hello-app": {"1.0", "2.0"}, "skiff/testbox": {"1"}} {
			var tags struct {
				Name string   `json:"name"`
				Tags []string `json:"tags"`
			}
			getJSON(t, client, "http://"+l.RegistryAddr()+"/v2/"+repo+"/tags/list", &tags)
			slices.Sort(tags.Tags)
			if tags.Name != repo || !slices.Equal(tags.Tags, want) {
				t.Errorf("tags of %s = %+v, want %v", repo, tags, want)
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+l.RegistryAddr()+"/v2/google-samples/hello-app/manifests/2.0", nil)
		req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("manifest hello-app:2.0 from vm2: %s", resp.Status)
		}
	})

	t.Run("processes", func(t *testing.T) {
		if err := l.Start(ctx, "vm1", "sleeper", []string{"busybox", "sleep", "1000"}, nil); err != nil {
			t.Fatal(err)
		}
		if err := l.Start(ctx, "vm1", "sleeper", []string{"busybox", "sleep", "1000"}, nil); err == nil {
			t.Errorf("starting a second sleeper = nil error, want already running")
		}
		procs, err := l.Processes("vm1")
		if err != nil || len(procs) != 1 || !procs[0].Running || procs[0].Name != "sleeper" {
			t.Fatalf("Processes(vm1) = %+v, %v", procs, err)
		}
		pid := procs[0].Pid
		if got, _ := nsIno(fmt.Sprintf("/proc/%d/ns/net", pid)); got != vm1.NetnsIno {
			t.Errorf("sleeper is in netns %d, want vm1's %d", got, vm1.NetnsIno)
		}
		if err := l.Stop("vm1", "sleeper", syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := l.Wait(ctx, "vm1", "sleeper"); err != nil {
			t.Fatal(err)
		}
		if err := l.Stop("vm1", "sleeper", syscall.SIGTERM); !errors.Is(err, ErrNotRunning) {
			t.Errorf("Stop of a stopped process = %v, want ErrNotRunning", err)
		}
		// Restart under the same name, as chaos does after a kill.
		if err := l.Start(ctx, "vm1", "sleeper", []string{"busybox", "sleep", "1000"}, nil); err != nil {
			t.Fatal(err)
		}
		// One that ignores SIGTERM (Down must SIGKILL it), one that leaves
		// its process group (Down must find it by namespace).
		if err := l.Start(ctx, "vm2", "stubborn", []string{"busybox", "sh", "-c", `trap "" TERM; echo ready; while :; do busybox sleep 1; done`}, nil); err != nil {
			t.Fatal(err)
		}
		if err := l.Start(ctx, "vm2", "escaper", []string{"busybox", "setsid", "busybox", "sleep", "1000"}, nil); err != nil {
			t.Fatal(err)
		}
	})

	// Down from a fresh Load, as `skiff lab down` in another process does.
	var pids []int
	for _, vm := range []string{"vm1", "vm2", RegistryVM} {
		procs, _ := l.Processes(vm)
		for _, p := range procs {
			pids = append(pids, p.Pid)
		}
	}
	inLab := func(r Resources) []string {
		var out []string
		for _, p := range r.Processes {
			if strings.Contains(p, c.Name+"-") {
				out = append(out, p)
			}
		}
		return out
	}
	if got := inLab(snapshot(t, c.Dir)); len(got) < 4 {
		t.Errorf("processes in the lab before Down = %q, want at least httpd, sleeper, stubborn, escaper, registry", got)
	}
	l2, err := Load(c.Dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := l2.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	t.Logf("Down took %v", time.Since(start))
	for _, pid := range pids {
		if procAlive(pid) {
			t.Errorf("pid %d survived Down", pid)
		}
	}
	after := snapshot(t, c.Dir)
	ours, others := labItems(c, before.Diff(after))
	if len(ours) > 0 {
		t.Errorf("Down left the lab's resources behind:\n%s", strings.Join(ours, "\n"))
	}
	if len(others) > 0 {
		t.Logf("changes by others while the test ran (not the lab's):\n%s", strings.Join(others, "\n"))
	}
	if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lab dir %s still there after Down: %v", c.Dir, err)
	}

	// Down again, in every form: nothing to do, no error.
	if err := l2.Down(ctx); err != nil {
		t.Errorf("second Down: %v", err)
	}
	if err := l.Down(ctx); err != nil {
		t.Errorf("Down on the original Lab: %v", err)
	}
	if err := DownDir(ctx, c.Dir, nil); err != nil {
		t.Errorf("DownDir after Down: %v", err)
	}
	if _, err := Load(c.Dir, nil); !errors.Is(err, ErrNotUp) {
		t.Errorf("Load after Down = %v, want ErrNotUp", err)
	}
	if d := before.Diff(snapshot(t, c.Dir)); len(d) > 0 {
		if ours, _ := labItems(c, d); len(ours) > 0 {
			t.Errorf("repeated Down changed things: %q", ours)
		}
	}
}

// procAlive says whether pid exists and is not a zombie.
func procAlive(pid int) bool {
	st, err := procState(pid)
	return err == nil && st != 'Z' && st != 'X'
}

// waitListening dials addr from vm until it accepts (the server was just
// started and has no readiness signal of its own).
func waitListening(t *testing.T, l *Lab, vm, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		conn, err := l.Dial(ctx, vm, "tcp", addr)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never listened (seen from %s): %v", addr, vm, err)
		case <-time.After(delay):
		}
	}
}

func getJSON(t *testing.T, client *http.Client, url string, v any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
}

// A failure late in Up (here: the image cache is a file) removes
// everything Up made, the running registry included.
func TestUpFailureRollsBack(t *testing.T) {
	c := testConfig(t, 1, true)
	cache := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(cache, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c.ImageCache = cache
	before := snapshot(t, c.Dir)
	l, err := Up(t.Context(), c, testLogger(t))
	if err == nil {
		t.Cleanup(func() { _ = l.Down(context.Background()) })
		t.Fatal("Up with a file as image cache = nil error")
	}
	t.Logf("Up failed as expected: %v", err)
	t.Cleanup(func() { _ = DownDir(context.Background(), c.Dir, nil) })
	if ours, _ := labItems(c, before.Diff(snapshot(t, c.Dir))); len(ours) > 0 {
		t.Errorf("the failed Up left:\n%s", strings.Join(ours, "\n"))
	}
	if _, err := Load(c.Dir, nil); !errors.Is(err, ErrNotUp) {
		t.Errorf("Load after a failed Up = %v, want ErrNotUp", err)
	}
}

// A second lab whose names or subnet are taken fails before touching
// anything, and the first lab is unharmed.
func TestUpConflicts(t *testing.T) {
	a := testConfig(t, 1, false)
	la := upLab(t, a)

	sameName := testConfig(t, 1, false)
	sameName.Name = a.Name
	if _, err := Up(t.Context(), sameName, testLogger(t)); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("Up with a taken name = %v, want 'already exists'", err)
	}
	sameSubnet := testConfig(t, 1, false)
	sameSubnet.Subnet = a.Subnet
	if _, err := Up(t.Context(), sameSubnet, testLogger(t)); err == nil || !strings.Contains(err.Error(), "overlaps") {
		t.Errorf("Up with a taken subnet = %v, want 'overlaps'", err)
	}
	for _, c := range []Config{sameName, sameSubnet} {
		if _, err := os.Stat(filepath.Join(c.Dir, "lab.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a refused Up left %s/lab.json", c.Dir)
		}
	}
	st, err := la.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !st.BridgeUp || !st.VMs[0].NetnsOK || !st.VMs[0].LinkUp {
		t.Errorf("the first lab was harmed:\n%s", st)
	}
	out, err := la.Exec(t.Context(), "vm1", []string{"busybox", "ping", "-c", "1", "-W", "5", a.Subnet.Addr().Next().String()})
	if err != nil {
		t.Errorf("vm1 → bridge after the refused Ups: %v: %s", err, out)
	}
}

// helperEnv makes the test binary act as a short-lived `skiff lab up`.
const helperEnv = "SKIFF_LAB_TEST_HELPER_CONFIG"

// TestHelperUp is not a test: run by TestDownFromAnotherProcess, it brings
// a lab up, starts a process in it and exits without Down.
func TestHelperUp(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("helper for TestDownFromAnotherProcess")
	}
	var c Config
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}
	l, err := Up(context.Background(), c, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(context.Background(), "vm1", "sleeper", []string{"busybox", "sleep", "1000"}, nil); err != nil {
		t.Fatal(err)
	}
}

// The real CLI flow: `skiff lab up` starts things and exits; a later
// `skiff lab down` in another process finds and removes all of it.
func TestDownFromAnotherProcess(t *testing.T) {
	c := testConfig(t, 1, false)
	t.Cleanup(func() { _ = DownDir(context.Background(), c.Dir, nil) })
	before := snapshot(t, c.Dir)
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperUp$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(raw))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper up: %v\n%s", err, out)
	}

	l, err := Load(c.Dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	procs, err := l.Processes("vm1")
	if err != nil || len(procs) != 1 || !procs[0].Running {
		t.Fatalf("after the helper exited, Processes(vm1) = %+v, %v; want the sleeper running", procs, err)
	}
	pid := procs[0].Pid
	if _, err := l.Exec(t.Context(), "vm1", []string{"busybox", "ping", "-c", "1", "-W", "5", c.Subnet.Addr().Next().String()}); err != nil {
		t.Errorf("vm1 → bridge in the loaded lab: %v", err)
	}
	if err := l.Down(t.Context()); err != nil {
		t.Fatal(err)
	}
	if procAlive(pid) {
		t.Errorf("the sleeper (pid %d) survived Down", pid)
	}
	if ours, _ := labItems(c, before.Diff(snapshot(t, c.Dir))); len(ours) > 0 {
		t.Errorf("Down from another process left:\n%s", strings.Join(ours, "\n"))
	}
}
