//go:build integration

package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/big"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/tools/bench/nodeloss"
	"github.com/skiff-sh/skiff/tools/lab"
	"github.com/skiff-sh/skiff/tools/lab/innetns"
)

// cluster is a lab with Skiff running in it, for one test.
type cluster struct {
	t          *testing.T
	lab        *lab.Lab
	cfg        lab.Config
	cc         lab.ClusterConfig
	client     kubernetes.Interface
	kubeconfig string
	kubectl    string
}

// kubectlBinary is the real kubectl: the machine's, else skiff's own.
func kubectlBinary(t *testing.T, skiff string) []string {
	if p, err := exec.LookPath("kubectl"); err == nil {
		return []string{p}
	}
	return []string{skiff, "kubectl"}
}

func labConfig(t *testing.T) lab.Config {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	n, _ := rand.Int(rand.Reader, big.NewInt(50))
	c := lab.DefaultConfig()
	c.Dir = filepath.Join(t.TempDir(), "lab")
	c.Name = "e2e" + hex.EncodeToString(b)[:4]
	c.Subnet = netip.MustParsePrefix(fmt.Sprintf("10.99.%d.0/24", 150+n.Int64()))
	c.StopGrace = 2 * time.Second
	return c
}

// labItems keeps the snapshot differences that belong to the lab (its
// names, subnet, directory, the blackhole routes); other tests running at
// the same time make the others.
func labItems(c lab.Config, diff []string) []string {
	marks := []string{c.Name, strings.TrimSuffix(c.Subnet.Addr().String(), ".0"), c.Dir}
	for _, p := range c.Blackhole {
		marks = append(marks, fmt.Sprintf("unreachable %s metric %d", p, lab.BlackholeMetric(c.Name)))
	}
	var ours []string
	for _, d := range diff {
		if slices.ContainsFunc(marks, func(m string) bool { return strings.Contains(d, m) }) {
			ours = append(ours, d)
		}
	}
	return ours
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	return startClusterWith(t, nil, lab.ClusterConfig{})
}

// startClusterWith brings up a lab changed by labMod (if set) and starts Skiff in it with cc
// (its Binary is filled in).
func startClusterWith(t *testing.T, labMod func(*lab.Config), cc lab.ClusterConfig) *cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the end-to-end tests need root (network namespaces, containerd, nftables)")
	}
	bin := os.Getenv("SKIFF_BIN")
	if bin == "" {
		t.Fatal("SKIFF_BIN must name the built skiff binary (make test-integration sets it)")
	}
	cfg := labConfig(t)
	if labMod != nil {
		labMod(&cfg)
	}
	before, err := lab.Snapshot(cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	l, err := lab.Up(t.Context(), cfg, logger)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	cc.Binary = bin
	c := &cluster{t: t, lab: l, cfg: cfg, kubeconfig: l.KubeconfigPath(), cc: cc}
	t.Cleanup(func() {
		if t.Failed() {
			for _, vm := range l.VMs() {
				if raw, err := os.ReadFile(l.LogPath(vm.Name, "skiff")); err == nil {
					t.Logf("--- %s log (tail) ---\n%s", vm.Name, tail(string(raw), 4000))
				}
			}
		}
		if err := l.Down(context.Background()); err != nil {
			t.Errorf("lab down: %v", err)
			return
		}
		after, err := lab.Snapshot(cfg.Dir)
		if err != nil {
			t.Error(err)
			return
		}
		if left := labItems(cfg, before.Diff(after)); len(left) > 0 {
			t.Errorf("lab down left: %q", left)
		}
	})
	rc, err := l.StartCluster(t.Context(), c.cc)
	if err != nil {
		t.Fatalf("start the cluster: %v", err)
	}
	if c.client, err = kubernetes.NewForConfig(rc); err != nil {
		t.Fatal(err)
	}
	c.kubectl = strings.Join(kubectlBinary(t, bin), " ")
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// run runs the real kubectl and returns its output.
func (c *cluster) run(args ...string) string {
	c.t.Helper()
	argv := append(strings.Fields(c.kubectl), args...)
	cmd := exec.CommandContext(c.t.Context(), argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// get fetches url from inside vm with a new connection each time, as curl does.
func (c *cluster) get(vm, url string) (string, error) {
	v, err := c.lab.VM(vm)
	if err != nil {
		return "", err
	}
	tr := innetns.Transport(v.NetnsPath())
	tr.DisableKeepAlives = true
	client := &http.Client{Transport: tr, Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), err
}

func (c *cluster) eventually(what string, timeout time.Duration, f func() error) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cluster) pods(selector string) []corev1.Pod {
	c.t.Helper()
	list, err := c.client.CoreV1().Pods("default").List(c.t.Context(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		c.t.Fatal(err)
	}
	return list.Items
}

func (c *cluster) clusterIP(svc string) string {
	c.t.Helper()
	s, err := c.client.CoreV1().Services("default").Get(c.t.Context(), svc, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return s.Spec.ClusterIP
}

func hostname(body string) string {
	for _, line := range strings.Split(body, "\n") {
		if h, ok := strings.CutPrefix(line, "Hostname: "); ok {
			return h
		}
	}
	return ""
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// vmOf is the lab VM a node name belongs to.
func (c *cluster) vmOf(node string) string { return strings.TrimPrefix(node, c.cfg.Name+"-") }

// nodeDir is a VM's node daemon data directory (server --with-node).
func (c *cluster) nodeDir(vm string) string {
	return filepath.Join(c.lab.VMDir(vm), "server", "node")
}

// TestLifecycle is issue 5's "what it must show", in one lab.
func TestLifecycle(t *testing.T) {
	c := startCluster(t)
	ctx := t.Context()

	t.Run("cluster members through Serf", func(t *testing.T) {
		c.t = t
		c.eventually("every server alive in skiff cluster members", 30*time.Second, func() error {
			cmd := exec.CommandContext(ctx, c.cc.Binary, "cluster", "members")
			cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			for _, vm := range []string{"vm1", "vm2", "vm3"} {
				if !strings.Contains(string(out), vm+" ") || !strings.Contains(string(out), "node="+c.cfg.Name+"-"+vm) {
					return fmt.Errorf("no %s in\n%s", vm, out)
				}
			}
			if n := strings.Count(string(out), " alive "); n != 3 {
				return fmt.Errorf("%d alive, want 3:\n%s", n, out)
			}
			return nil
		})
		c.eventually("skiff cluster status shows one leader and two followers", 30*time.Second, func() error {
			cmd := exec.CommandContext(ctx, c.cc.Binary, "cluster", "status")
			cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			if strings.Count(string(out), " Leader ") != 1 || strings.Count(string(out), " Follower ") != 2 {
				return fmt.Errorf("want one Leader and two Followers:\n%s", out)
			}
			t.Logf("skiff cluster status:\n%s", out)
			return nil
		})
	})

	t.Run("hello-world", func(t *testing.T) {
		c.t = t
		c.run("create", "deployment", "hello-world", "--image=gcr.io/google-samples/hello-app:1.0")
		c.run("rollout", "status", "deployment/hello-world", "--timeout=120s")
		c.run("expose", "deployment", "hello-world", "--port=80", "--target-port=8080")
		pods := c.pods("app=hello-world")
		if len(pods) != 1 || !isReady(&pods[0]) || pods[0].Status.PodIP == "" {
			t.Fatalf("pods: %+v", pods)
		}
		ip := c.clusterIP("hello-world")
		var body string
		c.eventually("hello-world through its ClusterIP from vm2", 20*time.Second, func() (err error) {
			body, err = c.get("vm2", "http://"+ip+"/")
			return err
		})
		if !strings.HasPrefix(body, "Hello, world!\nVersion: 1.0.0\n") || hostname(body) != pods[0].Name {
			t.Fatalf("answer %q, want hello-app 1.0.0 from %s", body, pods[0].Name)
		}
	})

	t.Run("scale spreads and balances", func(t *testing.T) {
		c.t = t
		c.run("scale", "deployment", "hello-world", "--replicas=6")
		c.run("rollout", "status", "deployment/hello-world", "--timeout=120s")
		nodes := map[string]bool{}
		for _, p := range c.pods("app=hello-world") {
			nodes[p.Spec.NodeName] = true
		}
		if len(nodes) != 3 {
			t.Fatalf("6 replicas on %d nodes, want all 3: %v", len(nodes), nodes)
		}
		ip := c.clusterIP("hello-world")
		seen := map[string]int{}
		c.eventually("30 requests seeing at least 4 pods", 20*time.Second, func() error {
			clear(seen)
			for range 30 {
				body, err := c.get("vm1", "http://"+ip+"/")
				if err != nil {
					return err
				}
				seen[hostname(body)]++
			}
			if len(seen) < 4 {
				return fmt.Errorf("hostnames %v", seen)
			}
			return nil
		})
	})

	t.Run("pod to pod across VMs", func(t *testing.T) {
		c.t = t
		pods := c.pods("app=hello-world")
		var a, b *corev1.Pod
		for i := range pods {
			for j := range pods {
				if pods[i].Spec.NodeName != pods[j].Spec.NodeName {
					a, b = &pods[i], &pods[j]
				}
			}
		}
		if a == nil {
			t.Fatal("no two pods on different nodes")
		}
		netns := filepath.Join(c.nodeDir(c.vmOf(a.Spec.NodeName)), "network", "netns", string(a.UID))
		out, err := exec.CommandContext(ctx, "nsenter", "--net="+netns, "wget", "-qO-", "-T", "3",
			"http://"+b.Status.PodIP+":8080/").CombinedOutput()
		if err != nil || hostname(string(out)) != b.Name {
			t.Fatalf("from pod %s (%s) to pod %s at %s: %v\n%s", a.Name, a.Spec.NodeName, b.Name, b.Status.PodIP, err, out)
		}
	})

	t.Run("node port from another VM", func(t *testing.T) {
		c.t = t
		c.run("patch", "service", "hello-world", "-p", `{"spec":{"type":"NodePort"}}`)
		s, err := c.client.CoreV1().Services("default").Get(ctx, "hello-world", metav1.GetOptions{})
		if err != nil || s.Spec.Ports[0].NodePort == 0 {
			t.Fatalf("service %v: %v", s, err)
		}
		vm3, _ := c.lab.VM("vm3")
		url := fmt.Sprintf("http://%s:%d/", vm3.Addr.Addr(), s.Spec.Ports[0].NodePort)
		c.eventually("hello-world on vm3's node port from vm1", 20*time.Second, func() error {
			body, err := c.get("vm1", url)
			if err == nil && !strings.HasPrefix(body, "Hello, world!") {
				err = fmt.Errorf("answer %q", body)
			}
			return err
		})
	})

	t.Run("logs and logs -f", func(t *testing.T) {
		c.t = t
		pod := c.pods("app=hello-world")[0]
		if out := c.run("logs", pod.Name); !strings.Contains(out, "hello-app 1.0.0: serving on") {
			t.Fatalf("kubectl logs: %q", out)
		}
		argv := append(strings.Fields(c.kubectl), "logs", "-f", "--tail=1", pod.Name)
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(fctx, argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer cancel()
		lines := bufio.NewScanner(stdout)
		if !lines.Scan() { // the --tail=1 line: the stream is open
			t.Fatalf("logs -f printed nothing: %v", lines.Err())
		}
		marker := "/follow-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		if _, err := c.get("vm1", "http://"+pod.Status.PodIP+":8080"+marker); err != nil {
			t.Fatal(err)
		}
		for lines.Scan() {
			if strings.Contains(lines.Text(), marker) {
				return
			}
		}
		t.Fatalf("logs -f never showed the request to %s: %v", marker, lines.Err())
	})

	t.Run("rolling update and undo without a failed request", func(t *testing.T) {
		c.t = t
		ip := c.clusterIP("hello-world")
		var failures, requests atomic.Int64
		var mu sync.Mutex
		var firstFailure error
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := c.get("vm3", "http://"+ip+"/")
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					mu.Lock()
					if firstFailure == nil {
						firstFailure = err
					}
					mu.Unlock()
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
		// Once the rollout is complete (the old pods are terminating; the
		// proxies drop them within milliseconds), only the new version answers.
		versions := func(want string) {
			t.Helper()
			c.eventually("20 answers in a row from "+want, 10*time.Second, func() error {
				for range 20 {
					body, err := c.get("vm2", "http://"+ip+"/")
					if err != nil || !strings.Contains(body, "Version: "+want+"\n") {
						return fmt.Errorf("answer %q, %v", body, err)
					}
				}
				return nil
			})
		}
		c.run("set", "image", "deployment/hello-world", "hello-app=gcr.io/google-samples/hello-app:2.0")
		if out := c.run("rollout", "status", "deployment/hello-world", "--timeout=180s"); !strings.Contains(out, "successfully rolled out") {
			t.Fatalf("rollout status: %q", out)
		}
		versions("2.0.0")
		c.run("rollout", "undo", "deployment/hello-world")
		if out := c.run("rollout", "status", "deployment/hello-world", "--timeout=180s"); !strings.Contains(out, "successfully rolled out") {
			t.Fatalf("rollout status after undo: %q", out)
		}
		versions("1.0.0")
		close(stop)
		wg.Wait()
		t.Logf("%d requests through two rollouts, %d failed", requests.Load(), failures.Load())
		if failures.Load() > 0 {
			t.Fatalf("%d of %d requests failed during the rollouts; first: %v", failures.Load(), requests.Load(), firstFailure)
		}
	})

	t.Run("crash loop back-off grows", func(t *testing.T) {
		c.t = t
		c.run("create", "deployment", "crash", "--image=gcr.io/skiff/testbox:1", "--", "sh", "-c", "echo dying; exit 1")
		var p *corev1.Pod
		c.eventually("the crashing pod backing off 20s", 90*time.Second, func() error {
			pods := c.pods("app=crash")
			if len(pods) != 1 || len(pods[0].Status.ContainerStatuses) != 1 {
				return fmt.Errorf("pods %d", len(pods))
			}
			p = &pods[0]
			cs := p.Status.ContainerStatuses[0]
			if w := cs.State.Waiting; w == nil || w.Reason != "CrashLoopBackOff" || !strings.Contains(w.Message, "back-off 20s") {
				return fmt.Errorf("state %+v, restarts %d", cs.State, cs.RestartCount)
			}
			return nil
		})
		cs := p.Status.ContainerStatuses[0]
		if cs.RestartCount < 2 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 {
			t.Fatalf("container status %+v", cs)
		}
		events, err := c.client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + p.Name})
		if err != nil {
			t.Fatal(err)
		}
		backoffs := 0
		for _, e := range events.Items {
			if e.Reason == "BackOff" && strings.Contains(e.Message, "Back-off restarting failed container") {
				backoffs += int(max(e.Count, 1))
			}
		}
		if backoffs < 2 {
			t.Fatalf("%d BackOff events, want one per back-off (at least 2)", backoffs)
		}
		if out := c.run("logs", p.Name, "--previous"); !strings.Contains(out, "dying") {
			t.Fatalf("logs --previous: %q", out)
		}
		c.run("delete", "deployment", "crash")
	})

	t.Run("readiness failure leaves endpoints and nftables", func(t *testing.T) {
		c.t = t
		manifest := `apiVersion: apps/v1
kind: Deployment
metadata: {name: flaky}
spec:
  selector: {matchLabels: {app: flaky}}
  template:
    metadata: {labels: {app: flaky}}
    spec:
      containers:
      - name: web
        image: gcr.io/skiff/testbox:1
        command: ["sh", "-c", "touch /tmp/ready; httpd -f -p 8080 -h / & sleep 12; rm /tmp/ready; sleep 3600"]
        readinessProbe:
          exec: {command: ["test", "-f", "/tmp/ready"]}
          periodSeconds: 1
          failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata: {name: flaky}
spec:
  selector: {app: flaky}
  ports: [{port: 80, targetPort: 8080}]
`
		path := filepath.Join(t.TempDir(), "flaky.yaml")
		if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		c.run("apply", "-f", path)
		var ip string
		c.eventually("the flaky pod Ready", 60*time.Second, func() error {
			pods := c.pods("app=flaky")
			if len(pods) != 1 || !isReady(&pods[0]) {
				return fmt.Errorf("not ready")
			}
			ip = pods[0].Status.PodIP
			return nil
		})
		inRules := func(vm string) bool {
			out, err := c.lab.Exec(ctx, vm, []string{"nft", "list", "table", "ip", "skiff"})
			return err == nil && strings.Contains(string(out), ip+":8080")
		}
		vms := []string{"vm1", "vm2", "vm3"}
		c.eventually("the ready pod in every node's rules", 20*time.Second, func() error {
			for _, vm := range vms {
				if !inRules(vm) {
					return fmt.Errorf("%s has no rule for %s", vm, ip)
				}
			}
			return nil
		})
		c.eventually("the pod unready once its probe fails", 60*time.Second, func() error {
			if pods := c.pods("app=flaky"); len(pods) == 1 && !isReady(&pods[0]) {
				return nil
			}
			return fmt.Errorf("still ready")
		})
		unready := time.Now()
		gone := map[string]time.Duration{}
		c.eventually("the unready pod out of every node's rules", 20*time.Second, func() error {
			for _, vm := range vms {
				if _, ok := gone[vm]; !ok && !inRules(vm) {
					gone[vm] = time.Since(unready)
				}
			}
			if len(gone) < len(vms) {
				return fmt.Errorf("removed on %v so far", gone)
			}
			return nil
		})
		t.Logf("after the pod turned unready (as seen by this test), its rules were gone in: %v", gone)
		ep, err := c.client.CoreV1().Endpoints("default").Get(ctx, "flaky", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ep.Subsets {
			for _, a := range s.Addresses {
				if a.IP == ip {
					t.Fatalf("unready pod %s still a ready endpoint: %+v", ip, ep.Subsets)
				}
			}
		}
		c.run("delete", "-f", path)
	})

	t.Run("a containerd restart kills no pod", func(t *testing.T) {
		c.t = t
		node := c.cfg.Name + "-vm1"
		onNode := func() map[string]string {
			out := map[string]string{}
			for _, p := range c.pods("app=hello-world") {
				if p.Spec.NodeName == node && len(p.Status.ContainerStatuses) == 1 {
					cs := p.Status.ContainerStatuses[0]
					out[p.Name] = fmt.Sprintf("%s/%d/%s", cs.ContainerID, cs.RestartCount, p.Status.PodIP)
				}
			}
			return out
		}
		before := onNode()
		if len(before) == 0 {
			t.Fatalf("no hello-world pod on %s", node)
		}
		pidFile := filepath.Join(c.nodeDir("vm1"), "containerd", "state", "containerd.pid")
		raw, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		old, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatalf("kill containerd %d: %v", old, err)
		}
		c.eventually("the node daemon starting containerd again", 30*time.Second, func() error {
			raw, err := os.ReadFile(pidFile)
			if err != nil {
				return err
			}
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(raw))); pid == old || pid == 0 {
				return fmt.Errorf("still pid %d", pid)
			}
			return nil
		})
		// A pod on the node still answers, and nothing restarted.
		for _, p := range c.pods("app=hello-world") {
			if p.Spec.NodeName == node {
				if _, err := c.get("vm2", "http://"+p.Status.PodIP+":8080/"); err != nil {
					t.Fatalf("pod %s after the containerd restart: %v", p.Name, err)
				}
			}
		}
		time.Sleep(3 * time.Second) // give a wrong restart the time to show
		if after := onNode(); !maps.Equal(before, after) {
			t.Fatalf("pods on %s before %v, after %v", node, before, after)
		}
	})

	t.Run("an uploaded scheduler places pods", func(t *testing.T) {
		c.t = t
		module := filepath.Join(t.TempDir(), "mostallocated.wasm")
		build := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-o", module, "../../wasm/examples/mostallocated/module")
		build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build the example scheduler: %v\n%s", err, out)
		}
		push := exec.CommandContext(ctx, c.cc.Binary, "policy", "push", "mostallocated", module)
		push.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
		if out, err := push.CombinedOutput(); err != nil {
			t.Fatalf("skiff policy push: %v\n%s", err, out)
		}
		manifest := `apiVersion: apps/v1
kind: Deployment
metadata: {name: packed}
spec:
  replicas: 4
  selector: {matchLabels: {app: packed}}
  template:
    metadata: {labels: {app: packed}}
    spec:
      schedulerName: mostallocated
      containers:
      - name: hello-app
        image: gcr.io/google-samples/hello-app:1.0
        resources: {requests: {cpu: 100m, memory: 64Mi}}
`
		path := filepath.Join(t.TempDir(), "packed.yaml")
		if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		c.run("apply", "-f", path)
		c.run("rollout", "status", "deployment/packed", "--timeout=120s")
		nodes := map[string]int{}
		for _, p := range c.pods("app=packed") {
			if p.DeletionTimestamp == nil {
				nodes[p.Spec.NodeName]++
			}
		}
		if len(nodes) != 1 {
			t.Fatalf("the bin-packing scheduler spread 4 pods over %v, want one node", nodes)
		}
		c.run("delete", "-f", path)
	})

	t.Run("kill -9 of a node daemon changes nothing", func(t *testing.T) {
		c.t = t
		node := c.cfg.Name + "-vm3"
		manifest := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: pinned}
spec:
  replicas: 10
  selector: {matchLabels: {app: pinned}}
  template:
    metadata: {labels: {app: pinned}}
    spec:
      nodeSelector: {kubernetes.io/hostname: %q}
      containers: [{name: hello-app, image: "gcr.io/google-samples/hello-app:1.0"}]
`, node)
		path := filepath.Join(t.TempDir(), "pinned.yaml")
		if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		c.run("apply", "-f", path)
		c.run("rollout", "status", "deployment/pinned", "--timeout=180s")
		type podState struct{ ip, container string }
		state := func() map[string]podState {
			out := map[string]podState{}
			for _, p := range c.pods("app=pinned") {
				if p.Spec.NodeName != node || p.DeletionTimestamp != nil || len(p.Status.ContainerStatuses) != 1 || !isReady(&p) {
					continue
				}
				cs := p.Status.ContainerStatuses[0]
				out[p.Name] = podState{ip: p.Status.PodIP, container: fmt.Sprintf("%s/%d", cs.ContainerID, cs.RestartCount)}
			}
			return out
		}
		before := state()
		if len(before) != 10 {
			t.Fatalf("%d ready pods on %s, want 10", len(before), node)
		}
		leaks := func() string {
			links, _ := c.lab.Exec(ctx, "vm3", []string{"ip", "-o", "link"})
			netns, _ := os.ReadDir(filepath.Join(c.nodeDir("vm3"), "network", "netns"))
			ipam, _ := os.ReadDir(filepath.Join(c.nodeDir("vm3"), "network", "ipam"))
			return fmt.Sprintf("links=%d netns=%d ipam=%d", strings.Count(string(links), "\n"), len(netns), len(ipam))
		}
		resources := leaks()

		if err := c.lab.Stop("vm3", "skiff", syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := c.lab.Wait(wctx, "vm3", "skiff"); err != nil {
			t.Fatalf("wait for the killed daemon: %v", err)
		}
		if _, err := c.lab.StartCluster(ctx, c.cc); err != nil {
			t.Fatalf("restart vm3: %v", err)
		}
		// Let the new daemon sync every pod, then compare.
		time.Sleep(5 * time.Second)
		after := state()
		for name, b := range before {
			if a, ok := after[name]; !ok || a != b {
				t.Errorf("pod %s: before %+v, after %+v (want the same IP, container and restart count)", name, b, a)
			}
		}
		if got := leaks(); got != resources {
			t.Errorf("vm3's network after the restart: %s, before: %s", got, resources)
		}
		c.run("delete", "deployment", "pinned")
	})

	t.Run("a rolling restart of every server fails no command beyond a retry", func(t *testing.T) {
		c.t = t
		// skiff kubectl fails over between the servers the lab's kubeconfig lists.
		// Commands run to their end (ctx is the test's): one cut short could have changed
		// the deployment without the loop knowing.
		kubectl := func(args ...string) (string, error) {
			cmd := exec.CommandContext(ctx, c.cc.Binary, append([]string{"kubectl"}, args...)...)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig)
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		c.run("create", "deployment", "rolling", "--image=gcr.io/google-samples/hello-app:1.0", "--replicas=2")
		c.run("rollout", "status", "deployment/rolling", "--timeout=120s")
		loopCtx, stopLoop := context.WithCancel(ctx)
		var commands, retried, failed atomic.Int32
		var took atomic.Int64
		var lastReplicas atomic.Int32
		var firstFailure atomic.Value
		loopDone := make(chan struct{})
		go func() {
			defer close(loopDone)
			for i := 0; loopCtx.Err() == nil; i++ {
				replicas := int32(1 + i%4)
				args := []string{"scale", "deployment/rolling", fmt.Sprintf("--replicas=%d", replicas)}
				if i%2 == 1 {
					args = []string{"get", "deployment", "rolling", "-o", "name"}
				}
				start := time.Now()
				out, err := kubectl(args...)
				if err != nil {
					retried.Add(1)
					time.Sleep(time.Second)
					out, err = kubectl(args...)
				}
				commands.Add(1)
				took.Add(int64(time.Since(start)))
				switch {
				case err != nil:
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("%v: %v: %s", args, err, out))
				case args[0] == "scale":
					lastReplicas.Store(replicas)
				}
			}
		}()
		restartStart := time.Now()
		for _, vm := range []string{"vm1", "vm2", "vm3"} {
			stopping := time.Now()
			if err := c.lab.Stop(vm, "skiff", syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := c.lab.Wait(wctx, vm, "skiff")
			cancel()
			if err != nil {
				t.Fatalf("%s did not stop: %v", vm, err)
			}
			stopped := time.Now()
			if _, err := c.lab.StartCluster(ctx, c.cc); err != nil {
				t.Fatalf("restart %s: %v", vm, err)
			}
			// One at a time: the next server stops only once this one is back in raft.
			c.eventually(vm+" back in raft", time.Minute, func() error {
				servers, err := c.servers(ctx)
				if err != nil {
					return err
				}
				for _, s := range servers {
					if (s.State != "Leader" && s.State != "Follower") || s.Error != "" || s.LastContactMillis > 1000 {
						return fmt.Errorf("%s: %s %s (last contact %dms)", s.Name, s.State, s.Error, s.LastContactMillis)
					}
				}
				return nil
			})
			t.Logf("%s: stopped in %v, back and Ready in %v", vm, stopped.Sub(stopping).Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
		}
		time.Sleep(2 * time.Second)
		stopLoop()
		<-loopDone
		t.Logf("during the rolling restart (%v): %d commands (%v each on average), %d retried, %d failed after the retry",
			time.Since(restartStart).Round(time.Second), commands.Load(), time.Duration(took.Load()/max(int64(commands.Load()), 1)).Round(time.Millisecond), retried.Load(), failed.Load())
		if failed.Load() > 0 || commands.Load() < 3 {
			t.Errorf("%d of %d commands failed after a retry (first: %v)", failed.Load(), commands.Load(), firstFailure.Load())
		}
		want := lastReplicas.Load()
		c.eventually("the last scale in effect", 2*time.Minute, func() error {
			d, err := c.client.AppsV1().Deployments("default").Get(ctx, "rolling", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if *d.Spec.Replicas != want || d.Status.ReadyReplicas != want || d.Status.UpdatedReplicas != want {
				return fmt.Errorf("spec %d, ready %d, updated %d; want %d", *d.Spec.Replicas, d.Status.ReadyReplicas, d.Status.UpdatedReplicas, want)
			}
			return nil
		})
		if hw := c.pods("app=hello-world"); len(hw) == 0 {
			t.Error("hello-world lost its pods in the rolling restart")
		}
		c.run("delete", "deployment", "rolling")
	})

	t.Run("a VM cut off the network loses its node and its pods move", func(t *testing.T) {
		c.t = t
		cfg := nodeloss.DefaultConfig()
		cfg.LabDir = c.cfg.Dir
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
		// Measure fails unless the node turns NotReady, its pods leave the Service's
		// endpoints, replacements are Ready elsewhere, and after healing its stale pods
		// are gone and the node is Ready without taints.
		res, err := nodeloss.Measure(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		nodeloss.Report(&b, res)
		t.Logf("\n%s", b.String())
		if isolated, err := c.lab.Isolated(res.VM); err != nil || isolated {
			t.Errorf("%s still isolated after the run: %v %v", res.VM, isolated, err)
		}
	})
}
