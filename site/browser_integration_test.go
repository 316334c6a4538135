//go:build integration

package site_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
)

// server is one real `skiff server` the browser talks to.
type server struct {
	url   string // https://127.0.0.1:PORT
	token string
	cs    *kubernetes.Clientset
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer runs a single-member `skiff server` (no node, no Serf) in a
// temp data dir and returns once /readyz answers ok.
func startServer(t *testing.T) *server {
	t.Helper()
	bin := os.Getenv("SKIFF_BIN")
	if bin == "" {
		t.Skip("SKIFF_BIN is unset: set it to a built skiff binary")
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "server", "--name", "solo", "--data-dir", dir,
		"--raft-addr", freeAddr(t), "--client-addr", freeAddr(t), "--api-addr", "127.0.0.1:0",
		"--serf-addr", "off", "--log-level", "warn")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	kubeconfig := filepath.Join(dir, "kubeconfig")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("server not ready within 30s")
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("server exited before it was ready: %v", err)
		default:
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err == nil {
			cfg.QPS, cfg.Burst = -1, 0 // no client-side throttling: the 5,000-pod test creates fast
			cs, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(t.Context())
			if err == nil && string(body) == "ok" {
				return &server{url: strings.TrimSuffix(cfg.Host, "/"), token: cfg.BearerToken, cs: cs}
			}
		}
		time.Sleep(100 * time.Millisecond) // no event tells when the server is ready
	}
}

// browser starts a headless chromium with its own profile; it is stopped
// when the test ends.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := "/usr/bin/chromium"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no chromium at %s: %v", path, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1500, 1100),
		// The server's certificate is from the cluster's own CA.
		chromedp.Flag("ignore-certificate-errors", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelT)
	return ctx
}

func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SKIFF_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// until waits, on DOM mutations, for the JavaScript expression to be truthy.
func until(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("%s: %v\npage:\n%s", what, err, body)
	}
}

func text(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q)||{}).innerText||''`, css)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitDeployment watches the Deployment until ok holds.
func waitDeployment(t *testing.T, cs *kubernetes.Clientset, name, what string, ok func(*appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	d, err := cs.AppsV1().Deployments("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ok(d) {
		return d
	}
	w, err := cs.AppsV1().Deployments("default").Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: d.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		if d, isDep := ev.Object.(*appsv1.Deployment); isDep && ok(d) {
			return d
		}
	}
	t.Fatalf("deployment %s: %s: not within 30s (last: %+v)", name, what, d.Spec)
	return nil
}

func deployment(name, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	replicas := int32(2)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image}}},
			},
		},
	}
}

// TestDashboard drives the dashboard in chromium against a real server:
// a wrong token, sign-in, the cluster view, a deployment showing up live,
// scale and rollback from the UI, and a token the stream refuses.
func TestDashboard(t *testing.T) {
	srv := startServer(t)
	ctx := browser(t)
	shots := artifacts(t)
	ui := srv.url + "/ui/"
	const (
		v1 = "gcr.io/google-samples/hello-app:1.0"
		v2 = "gcr.io/google-samples/hello-app:2.0"
	)

	if err := chromedp.Do(ctx, chromedp.Navigate(ui), chromedp.WaitVisible(chromedp.ID("token"))); err != nil {
		t.Fatal(err)
	}

	t.Run("wrong token shows an error", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("token"), "not-the-token"), chromedp.Click(chromedp.ID("signin-submit"))); err != nil {
			t.Fatal(err)
		}
		until(t, ctx, "sign-in error", `document.getElementById('signin-error').innerText !== ''`)
		if msg := text(t, ctx, "#signin-error"); !strings.Contains(msg, "Wrong token") || !strings.Contains(msg, "401") {
			t.Fatalf("sign-in error %q, want it to say the token is wrong (401)", msg)
		}
		if hidden, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('view-cluster').hidden`)); !hidden {
			t.Fatal("cluster view shown before sign-in")
		}
		screenshot(t, ctx, shots, "signin-wrong-token")
	})

	t.Run("sign in and cluster view", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("token"), srv.token), chromedp.Click(chromedp.ID("signin-submit"))); err != nil {
			t.Fatal(err)
		}
		until(t, ctx, "stream live", `document.getElementById('conn').dataset.state === 'live'`)
		until(t, ctx, "leader row", `document.querySelector('#servers tbody tr.leader')`)
		row := text(t, ctx, "#servers tbody tr.leader")
		if !strings.Contains(row, "Leader") {
			t.Fatalf("leader row %q does not say Leader", row)
		}
		// The server is "solo" when /skiff/v1/status answers, else it is
		// named by its address (its own figures from /metrics).
		u, _ := url.Parse(srv.url)
		if !strings.Contains(row, "solo") && !strings.Contains(row, u.Host) {
			t.Fatalf("leader row %q names neither solo nor %s", row, u.Host)
		}
		if note := text(t, ctx, "#nodes-note"); !strings.Contains(note, "No nodes") {
			t.Fatalf("nodes note %q, want the no-nodes note (the server runs without --with-node)", note)
		}
		t.Logf("servers:\n%s", text(t, ctx, "#servers"))
		screenshot(t, ctx, shots, "cluster")
	})

	t.Run("deployment appears live, scale and rollback", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.__noReload = 1; location.hash = '#/workloads'`)); err != nil {
			t.Fatal(err)
		}
		until(t, ctx, "workloads view", `!document.getElementById('view-workloads').hidden`)
		start := time.Now()
		if _, err := srv.cs.AppsV1().Deployments("default").Create(t.Context(), deployment("web", v1), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		row := `#deployments tr[data-key="default/web"]`
		until(t, ctx, "deployment row", fmt.Sprintf(`document.querySelector(%q)`, row))
		t.Logf("deployment created with client-go appeared in the workloads view after %v (no reload)", time.Since(start).Round(time.Millisecond))
		if still, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__noReload === 1`)); !still {
			t.Fatal("the page reloaded")
		}
		if got := text(t, ctx, row); !strings.Contains(got, v1) {
			t.Fatalf("deployment row %q lacks the image %s", got, v1)
		}
		until(t, ctx, "pods listed", `document.querySelectorAll('#pods .vbody .vrow:not([hidden])').length === 2`)

		// Scale to 3 from the UI.
		input := row + ` input.scale-input`
		if err := chromedp.Do(ctx,
			chromedp.Focus(chromedp.CSS(input)),
			chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).select()`, input)),
			chromedp.SendKeys(chromedp.CSS(input), "3"),
			chromedp.Click(chromedp.CSS(row+` button.scale`)),
		); err != nil {
			t.Fatal(err)
		}
		waitDeployment(t, srv.cs, "web", "spec.replicas 3", func(d *appsv1.Deployment) bool { return d.Spec.Replicas != nil && *d.Spec.Replicas == 3 })
		until(t, ctx, "row shows 3 replicas", fmt.Sprintf(`document.querySelector(%q).children[2].innerText.endsWith('/3')`, row))
		until(t, ctx, "three pods listed", `document.querySelectorAll('#pods .vbody .vrow:not([hidden])').length === 3`)

		// A new revision with client-go, then roll back from the UI.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d, err := srv.cs.AppsV1().Deployments("default").Get(t.Context(), "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			d.Spec.Template.Spec.Containers[0].Image = v2
			_, err = srv.cs.AppsV1().Deployments("default").Update(t.Context(), d, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		waitDeployment(t, srv.cs, "web", "revision 2", func(d *appsv1.Deployment) bool {
			return d.Annotations["deployment.kubernetes.io/revision"] == "2"
		})
		sel := row + ` select.revision`
		until(t, ctx, "revision 1 offered", fmt.Sprintf(`[...document.querySelector(%q).options].some(o => o.value === '1')`, sel))
		screenshot(t, ctx, shots, "workloads")
		if err := chromedp.Do(ctx,
			chromedp.SetValue(chromedp.CSS(sel), "1"),
			chromedp.Click(chromedp.CSS(row+` button.rollback`)),
		); err != nil {
			t.Fatal(err)
		}
		d := waitDeployment(t, srv.cs, "web", "image back to "+v1, func(d *appsv1.Deployment) bool {
			return d.Spec.Template.Spec.Containers[0].Image == v1
		})
		if _, ok := d.Spec.Template.Labels["pod-template-hash"]; ok {
			t.Fatalf("rollback copied the pod-template-hash label into the template: %v", d.Spec.Template.Labels)
		}
		until(t, ctx, "toast", `document.getElementById('toast').innerText.includes('Rolled default/web back to revision 1')`)
		until(t, ctx, "row shows the old image", fmt.Sprintf(`document.querySelector(%q).children[5].innerText === %q`, row, v1))
		screenshot(t, ctx, shots, "workloads-rolled-back")
	})

	t.Run("stream resumes after a disconnect without relisting", func(t *testing.T) {
		before, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[skiff.perf.syncs, skiff.stream.connects]`))
		if err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`skiff.stream.abort.abort()`)); err != nil {
			t.Fatal(err)
		}
		until(t, ctx, "reconnected", fmt.Sprintf(`skiff.stream.connects > %d && document.getElementById('conn').dataset.state === 'live'`, before[1]))
		url, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`skiff.stream.url`))
		for _, res := range []string{"nodes", "pods", "deployments", "replicasets", "events"} {
			if !strings.Contains(url, res+"=") {
				t.Errorf("reconnected with %q: no resourceVersion for %s", url, res)
			}
		}
		if _, err := srv.cs.AppsV1().Deployments("default").Create(t.Context(), deployment("api", v2), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		until(t, ctx, "new deployment after the reconnect", `document.querySelector('#deployments tr[data-key="default/api"]')`)
		if syncs, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`skiff.perf.syncs`)); syncs != before[0] {
			t.Errorf("%d SYNC frames after the reconnect, want none (resumed from resourceVersions)", syncs-before[0])
		}
	})

	t.Run("a token the stream refuses signs out", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('skiff.token', 'stale')`), chromedp.Navigate(ui)); err != nil {
			t.Fatal(err)
		}
		until(t, ctx, "signed out", `document.getElementById('signin-error').innerText.includes('401')`)
		t.Logf("after a refused token: %q", text(t, ctx, "#signin-error"))
	})
}
