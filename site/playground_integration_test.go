//go:build integration

package site_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/control/api/skiffv1alpha1"
	"github.com/skiff-sh/skiff/site"
	"github.com/skiff-sh/skiff/site/playground"
	"github.com/skiff-sh/skiff/wasm/build"
	"github.com/skiff-sh/skiff/wasm/builtin/builtintest"
)

// fakeNode registers a Node with allocatable resources and Ready status
// (no daemon runs it: it only has to be there to be scheduled onto).
func fakeNode(t *testing.T, srv *server, name, cpu, mem string) {
	t.Helper()
	n, err := srv.cs.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{"kubernetes.io/hostname": name}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem),
		corev1.ResourcePods: resource.MustParse("110")}
	n.Status = corev1.NodeStatus{Capacity: alloc, Allocatable: alloc, Conditions: []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}}
	if _, err := srv.cs.CoreV1().Nodes().UpdateStatus(t.Context(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// pendingPod makes a pod no scheduler serves, so it stays pending.
func pendingPod(t *testing.T, srv *server, name, cpu, mem string) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "pg"}},
		Spec: corev1.PodSpec{SchedulerName: "playground-test-nobody", Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}}}}}
	if _, err := srv.cs.CoreV1().Pods("default").Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// serverDecide asks the server's decide endpoint (wazero) about scenario.
func serverDecide(t *testing.T, srv *server, scenario json.RawMessage, module string, wasm []byte) *site.DecideResponse {
	t.Helper()
	body, err := json.Marshal(site.DecideRequest{Snapshot: scenario, Module: module, Wasm: wasm})
	if err != nil {
		t.Fatal(err)
	}
	out, err := srv.cs.Discovery().RESTClient().Post().AbsPath(site.APIPath+"/decide").SetHeader("Content-Type", "application/json").
		Body(body).DoRaw(t.Context())
	if err != nil {
		t.Fatalf("decide: %v: %s", err, out)
	}
	var res site.DecideResponse
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("decide answer: %v: %s", err, out)
	}
	return &res
}

// sameDecisions compares the browser's and the server's results pod by pod:
// placement, best nodes, and the whole node × phase matrix.
func sameDecisions(t *testing.T, what string, browser, server *playground.Result) {
	t.Helper()
	if !reflect.DeepEqual(browser.Nodes, server.Nodes) || len(browser.Decisions) != len(server.Decisions) {
		t.Fatalf("%s: browser nodes %v and %d decisions, server %v and %d", what, browser.Nodes, len(browser.Decisions), server.Nodes, len(server.Decisions))
	}
	for i, b := range browser.Decisions {
		s := server.Decisions[i]
		if b.Pod != s.Pod || b.Node != s.Node || !reflect.DeepEqual(b.Best, s.Best) || b.Score != s.Score ||
			!reflect.DeepEqual(b.Verdicts, s.Verdicts) || !reflect.DeepEqual(b.Scores, s.Scores) || b.Error != s.Error {
			t.Errorf("%s: pod %s: browser %+v\nserver %+v", what, b.Pod, b, s)
		}
	}
}

func mostAllocatedFile(t *testing.T) (string, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	w := filepath.Join("..", "wasm")
	b, err := build.Cached(ctx, filepath.Join(w, "examples", "mostallocated", "module"), filepath.Join(w, "examples", "mostallocated"),
		filepath.Join(w, "policies", "scheduler"), filepath.Join(w, "sdk"), filepath.Join(w, "abi"))
	if err != nil {
		t.Fatalf("build mostallocated: %v", err)
	}
	path := filepath.Join(t.TempDir(), "mostallocated.wasm")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, b
}

// TestPlayground runs the built-in scheduler in chromium's WebAssembly
// engine over a snapshot of a real server's cluster and wants the same
// decisions, node by node, as the server's wazero run of the same snapshot;
// then a local .wasm (the mostallocated example) side by side.
func TestPlayground(t *testing.T) {
	srv := startServer(t)
	for _, n := range []struct{ name, cpu, mem string }{{"pg-a", "4", "8Gi"}, {"pg-b", "4", "8Gi"}, {"pg-c", "2", "4Gi"}} {
		fakeNode(t, srv, n.name, n.cpu, n.mem)
	}
	for i, r := range []struct{ cpu, mem string }{{"500m", "512Mi"}, {"1", "1Gi"}, {"250m", "256Mi"}, {"3", "2Gi"}, {"3500m", "1Gi"}, {"6", "1Gi"}, {"100m", "64Mi"}} {
		pendingPod(t, srv, fmt.Sprintf("pg-%d", i), r.cpu, r.mem)
	}
	modPath, modBytes := mostAllocatedFile(t)
	ctx := browser(t)
	shots := artifacts(t)

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.url+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SetValue(chromedp.ID("token"), srv.token), chromedp.Click(chromedp.ID("signin-submit"))); err != nil {
		t.Fatal(err)
	}
	until(t, ctx, "signed in", `document.getElementById('conn').dataset.state === 'live'`)
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`location.hash = '#/playground'`)); err != nil {
		t.Fatal(err)
	}
	until(t, ctx, "playground view", `!document.getElementById('view-playground').hidden`)

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("pg-snapshot"))); err != nil {
		t.Fatal(err)
	}
	until(t, ctx, "snapshot taken", `document.querySelectorAll('#pg-nodes tbody tr').length === 3 && document.querySelectorAll('#pg-pods tbody tr').length === 7`)

	var scenario json.RawMessage
	t.Run("built-in scheduler: browser equals server", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("pg-run"))); err != nil {
			t.Fatal(err)
		}
		until(t, ctx, "run finished", `document.getElementById('pg-status').dataset.done === '1' && skiff.playground.results.a`)
		out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({scenario: skiff.playground.scenario, a: skiff.playground.results.a})`))
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Scenario json.RawMessage `json:"scenario"`
			A        struct {
				playground.Result
				Error string  `json:"error"`
				Ms    float64 `json:"ms"`
			} `json:"a"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if got.A.Error != "" {
			t.Fatalf("the browser run failed: %s (status %q)", got.A.Error, text(t, ctx, "#pg-status"))
		}
		scenario = got.Scenario
		placed := 0
		for _, d := range got.A.Decisions {
			if d.Node != "" {
				placed++
			}
		}
		if len(got.A.Decisions) != 7 || placed == 0 || placed == 7 {
			t.Fatalf("browser: %d decisions, %d placed; want 7 with some (not all) placed: %+v", len(got.A.Decisions), placed, got.A.Decisions)
		}
		srvRes := serverDecide(t, srv, scenario, site.BuiltinModule, nil)
		sameDecisions(t, "built-in", &got.A.Result, srvRes.Result)
		t.Logf("built-in scheduler in chromium: %d pods in %.1f ms, %d placed, equal to the server's", len(got.A.Decisions), got.A.Ms, placed)

		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("pg-check"))); err != nil {
			t.Fatal(err)
		}
		until(t, ctx, "server check", `document.getElementById('pg-server').dataset.agree`)
		if agree, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('pg-server').dataset.agree`)); agree != "yes" {
			t.Fatalf("the page's own server check: %q", text(t, ctx, "#pg-server"))
		}
		if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#pg-matrix details.pod-matrix').length`)); n != 7 {
			t.Fatalf("%d pod matrices, want 7", n)
		}
	})

	t.Run("local module side by side", func(t *testing.T) {
		if err := chromedp.Do(ctx,
			chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById('pg-module-b'); s.value = 'file'; s.dispatchEvent(new Event('change')); })()`),
			chromedp.SetUploadFiles(chromedp.ID("pg-file-b"), []string{modPath}),
		); err != nil {
			t.Fatal(err)
		}
		until(t, ctx, "file chosen", `skiff.playground.files.b !== null`)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("pg-run"))); err != nil {
			t.Fatal(err)
		}
		until(t, ctx, "both modules ran", `document.getElementById('pg-status').dataset.done === '1' && skiff.playground.results.b`)
		out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(skiff.playground.results.b)`))
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			playground.Result
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(out), &b); err != nil {
			t.Fatal(err)
		}
		if b.Error != "" {
			t.Fatalf("module B failed in the browser: %s", b.Error)
		}
		sameDecisions(t, "mostallocated", &b.Result, serverDecide(t, srv, scenario, "", modBytes).Result)
		rows := text(t, ctx, "#pg-summary")
		if !strings.Contains(rows, "mostallocated.wasm") || !strings.Contains(rows, "differ") {
			t.Fatalf("side-by-side summary names no local module or shows no difference (spreading vs packing):\n%s", rows)
		}
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#pg-matrix details').forEach((d, i) => { if (i < 2) d.open = true; })`)); err != nil {
			t.Fatal(err)
		}
		t.Logf("side by side:\n%s", rows)
		screenshot(t, ctx, shots, "playground")
	})

	t.Run("edited scenario", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("pg-new"))); err != nil {
			t.Fatal(err)
		}
		until(t, ctx, "empty scenario", `document.querySelectorAll('#pg-nodes tbody tr').length === 0`)
		form := func(id string, values map[string]string) {
			t.Helper()
			var acts []chromedp.Action[chromedp.Void]
			for name, v := range values {
				acts = append(acts, chromedp.SetValue(chromedp.CSS(fmt.Sprintf(`#%s [name=%s]`, id, name)), v))
			}
			acts = append(acts, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#%s button[type=submit]`, id))))
			if err := chromedp.Do(ctx, acts...); err != nil {
				t.Fatal(err)
			}
		}
		form("pg-add-node", map[string]string{"name": "big", "cpu": "8", "memory": "16Gi"})
		form("pg-add-node", map[string]string{"name": "tiny", "cpu": "1", "memory": "1Gi"})
		form("pg-add-pod", map[string]string{"name": "w", "cpu": "700m", "memory": "256Mi", "count": "4"})
		until(t, ctx, "scenario edited", `document.querySelectorAll('#pg-nodes tbody tr').length === 2 && document.querySelectorAll('#pg-pods tbody tr').length === 4`)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("pg-run"))); err != nil {
			t.Fatal(err)
		}
		until(t, ctx, "edited run", `document.getElementById('pg-status').dataset.done === '1' && skiff.playground.results.a && skiff.playground.results.b`)
		out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({scenario: skiff.playground.scenario, a: skiff.playground.results.a})`))
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Scenario json.RawMessage   `json:"scenario"`
			A        playground.Result `json:"a"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.A.Decisions) != 4 || strings.Join(got.A.Nodes, ",") != "big,tiny" {
			t.Fatalf("edited scenario ran as %v with %d decisions", got.A.Nodes, len(got.A.Decisions))
		}
		sameDecisions(t, "edited", &got.A, serverDecide(t, srv, got.Scenario, site.BuiltinModule, nil).Result)
		t.Logf("edited scenario:\n%s", text(t, ctx, "#pg-summary"))
	})
}

// policyModule reads a SchedulingPolicy's spec.module and history length.
func policyModule(t *testing.T, srv *server, name string) (string, int) {
	t.Helper()
	out, err := srv.cs.Discovery().RESTClient().Get().AbsPath("/apis/skiff.dev/v1alpha1/schedulingpolicies/" + name).DoRaw(t.Context())
	if err != nil {
		t.Fatalf("get schedulingpolicy %s: %v", name, err)
	}
	var p skiffv1alpha1.SchedulingPolicy
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p.Spec.Module, len(p.Status.History)
}

// TestPolicies uploads modules from the Policies view: a broken one shows
// the server's validation error; two versions of a policy, a rollback and
// a switch change the SchedulingPolicy.
func TestPolicies(t *testing.T) {
	srv := startServer(t)
	packPath, packBytes := mostAllocatedFile(t)
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.wasm")
	if err := os.WriteFile(broken, []byte("\x00asm\x01\x00\x00\x00not a module"), 0o644); err != nil {
		t.Fatal(err)
	}
	builtinPath := filepath.Join(dir, "builtin.wasm")
	builtinBytes := builtintest.Scheduler(t)
	if err := os.WriteFile(builtinPath, builtinBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	shots := artifacts(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.url+"/ui/"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SetValue(chromedp.ID("token"), srv.token), chromedp.Click(chromedp.ID("signin-submit"))); err != nil {
		t.Fatal(err)
	}
	until(t, ctx, "signed in", `document.getElementById('conn').dataset.state === 'live'`)
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`location.hash = '#/policies'`)); err != nil {
		t.Fatal(err)
	}
	until(t, ctx, "policies view", `!document.getElementById('view-policies').hidden`)

	upload := func(t *testing.T, policy, file string) {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.SetValue(chromedp.ID("pol-name"), policy),
			chromedp.SetUploadFiles(chromedp.ID("pol-file"), []string{file}),
			chromedp.Click(chromedp.ID("pol-submit")),
		); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("a broken module shows the validation error", func(t *testing.T) {
		upload(t, "packer", broken)
		until(t, ctx, "error shown", `document.getElementById('pol-error').innerText !== ''`)
		msg := text(t, ctx, "#pol-error")
		if !strings.Contains(msg, "broken.wasm") || !strings.Contains(msg, "(422)") {
			t.Fatalf("upload error %q, want the server's 422 for broken.wasm", msg)
		}
		t.Logf("broken module: %s", msg)
		screenshot(t, ctx, shots, "policies-broken-upload")
	})

	packDigest, builtinDigest := skiffv1alpha1.Digest(packBytes), skiffv1alpha1.Digest(builtinBytes)
	row := `#pol-policies tr[data-key="packer"]`
	t.Run("two versions, roll back, switch", func(t *testing.T) {
		upload(t, "packer", packPath)
		until(t, ctx, "policy row", fmt.Sprintf(`document.querySelector(%q)`, row))
		if m, _ := policyModule(t, srv, "packer"); m != packDigest {
			t.Fatalf("packer runs %s, want %s", m, packDigest)
		}
		upload(t, "packer", builtinPath)
		until(t, ctx, "second version", fmt.Sprintf(`document.querySelectorAll('%s ol.history li').length === 2`, row))
		if m, n := policyModule(t, srv, "packer"); m != builtinDigest || n != 2 {
			t.Fatalf("packer runs %s with %d versions, want %s with 2", m, n, builtinDigest)
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(row+` button.rollback`))); err != nil {
			t.Fatal(err)
		}
		until(t, ctx, "rolled back", `document.getElementById('toast').innerText.startsWith('Rolled back packer')`)
		if m, _ := policyModule(t, srv, "packer"); m != packDigest {
			t.Fatalf("after the rollback packer runs %s, want %s", m, packDigest)
		}
		until(t, ctx, "switch offers the built-in", fmt.Sprintf(`[...document.querySelector('%s select.switch').options].some(o => o.value === %q)`, row, builtinDigest))
		if err := chromedp.Do(ctx,
			chromedp.SetValue(chromedp.CSS(row+` select.switch`), builtinDigest),
			chromedp.Click(chromedp.CSS(row+` button.switch`)),
		); err != nil {
			t.Fatal(err)
		}
		until(t, ctx, "switched", `document.getElementById('toast').innerText.startsWith('Switched packer')`)
		if m, _ := policyModule(t, srv, "packer"); m != builtinDigest {
			t.Fatalf("after the switch packer runs %s, want %s", m, builtinDigest)
		}
		until(t, ctx, "row shows the switch", fmt.Sprintf(`document.querySelector('%s').children[1].innerText === %q`, row, builtinDigest[len("sha256:"):][:12]))
		until(t, ctx, "modules listed", `document.querySelectorAll('#pol-modules tbody tr').length === 2`)
		t.Logf("policies:\n%s", text(t, ctx, "#pol-policies"))
		screenshot(t, ctx, shots, "policies")
	})
}
