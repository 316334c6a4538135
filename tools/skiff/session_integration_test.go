//go:build integration

package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startServer runs a single-member `skiff server` and returns its data dir
// once the API answers /readyz.
func startServer(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	srv := exec.Command(bin, "server", "--name", "solo", "--data-dir", dir,
		"--raft-addr", freeAddr(t), "--client-addr", freeAddr(t), "--api-addr", "127.0.0.1:0", "--serf-addr", "off", "--log-level", "warn")
	var logs bytes.Buffer
	srv.Stdout, srv.Stderr = &logs, &logs
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-srv.Process.Pid, syscall.SIGKILL)
		_ = srv.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := exec.Command(bin, "kubectl", "--kubeconfig", filepath.Join(dir, "kubeconfig"), "get", "--raw", "/readyz").Output()
		if err == nil && string(out) == "ok" {
			return dir
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready within 15s: %v %q", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kubectlSession is one kubectl binary against one server.
type kubectlSession struct {
	t          *testing.T
	cmd        []string // the kubectl command, e.g. {"/usr/bin/kubectl"} or {skiff, "kubectl"}
	kubeconfig string
}

func (k *kubectlSession) command(ctx context.Context, args ...string) *exec.Cmd {
	full := append(append(append([]string{}, k.cmd[1:]...), "--kubeconfig", k.kubeconfig), args...)
	cmd := exec.CommandContext(ctx, k.cmd[0], full...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	return cmd
}

// run runs kubectl and returns stdout and stderr; a non-zero exit is err.
func (k *kubectlSession) run(args ...string) (string, string, error) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(k.t.Context(), 60*time.Second)
	defer cancel()
	cmd := k.command(ctx, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// must runs kubectl and fails the test on a non-zero exit.
func (k *kubectlSession) must(args ...string) string {
	k.t.Helper()
	out, errOut, err := k.run(args...)
	if err != nil {
		k.t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// expect fails unless every pattern matches s.
func expect(t *testing.T, what, s string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(s) {
			t.Errorf("%s: no match for %q in:\n%s", what, p, s)
		}
	}
}

const manifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: gcr.io/google-samples/hello-app:1.0
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
`

// TestKubectlSession drives the user session of issue 3 with the current
// kubectl (embedded in skiff) and with the machine's kubectl 1.32, default
// flags throughout.
func TestKubectlSession(t *testing.T) {
	bin := os.Getenv("SKIFF_BIN")
	if bin == "" {
		t.Skip("SKIFF_BIN is unset: set it to a built skiff binary (make test-integration does)")
	}
	kubectls := map[string][]string{"embedded-v0.37": {bin, "kubectl"}}
	if path, err := exec.LookPath("kubectl"); err == nil {
		kubectls["machine"] = []string{path}
	}
	for name, cmd := range kubectls {
		t.Run(name, func(t *testing.T) {
			dir := startServer(t, bin)
			k := &kubectlSession{t: t, cmd: cmd, kubeconfig: filepath.Join(dir, "kubeconfig")}
			runSession(t, k)
		})
	}
}

func runSession(t *testing.T, k *kubectlSession) {
	out := k.must("create", "deployment", "hello-world", "--image=gcr.io/google-samples/hello-app:1.0")
	expect(t, "create deployment", out, `deployment.apps/hello-world created`)

	out = k.must("get", "deploy,rs,pods", "-o", "wide")
	expect(t, "get -o wide", out,
		`NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR`,
		`deployment.apps/hello-world\s+0/1\s+[01]\s+0\s+\S+\s+hello-app\s+gcr.io/google-samples/hello-app:1.0\s+app=hello-world`)

	out = k.must("get", "deploy", "hello-world", "-o", "yaml")
	expect(t, "defaults", out,
		`progressDeadlineSeconds: 600`, `replicas: 1`, `revisionHistoryLimit: 10`,
		`maxSurge: 25%`, `maxUnavailable: 25%`, `type: RollingUpdate`,
		`imagePullPolicy: IfNotPresent`, `restartPolicy: Always`, `terminationGracePeriodSeconds: 30`,
		`dnsPolicy: ClusterFirst`, `schedulerName: default-scheduler`, `terminationMessagePath: /dev/termination-log`,
		`generation: 1`, `uid: [0-9a-f-]{36}`, `resourceVersion: "\d+"`, `creationTimestamp: "\d{4}-`)

	// apply of a multi-document manifest, then a change.
	path := filepath.Join(t.TempDir(), "web.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	out = k.must("apply", "-f", path)
	expect(t, "first apply", out, `deployment.apps/web created`, `service/web created`)
	if err := os.WriteFile(path, []byte(strings.Replace(manifest, "replicas: 2", "replicas: 4", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out = k.must("apply", "-f", path)
	expect(t, "second apply", out, `deployment.apps/web configured`, `service/web unchanged`)
	expect(t, "applied replicas", k.must("get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.metadata.generation}"), `^4 2$`)
	expect(t, "service", k.must("get", "svc", "web"), `web\s+ClusterIP\s+10\.\d+\.\d+\.\d+\s+<none>\s+80/TCP`)

	serverSideApply(t, k)

	expect(t, "scale", k.must("scale", "deploy/hello-world", "--replicas=3"), `deployment.apps/hello-world scaled`)
	expect(t, "set image", k.must("set", "image", "deploy/hello-world", "hello-app=gcr.io/google-samples/hello-app:2.0"), `image updated`)
	expect(t, "label", k.must("label", "deploy", "hello-world", "tier=front"), `labeled`)
	expect(t, "annotate", k.must("annotate", "deploy", "hello-world", "owner=skiff"), `annotated`)
	expect(t, "after scale, set image, label, annotate",
		k.must("get", "deploy", "hello-world", "-o", `jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.metadata.labels.tier} {.metadata.annotations.owner}`),
		`^3 gcr.io/google-samples/hello-app:2.0 front skiff$`)

	expect(t, "expose", k.must("expose", "deployment", "hello-world", "--port=80", "--target-port=8080", "--type=NodePort"), `service/hello-world exposed`)
	expect(t, "exposed service", k.must("get", "svc", "hello-world", "-o", "wide"),
		`hello-world\s+NodePort\s+10\.\d+\.\d+\.\d+\s+<none>\s+80:3\d{4}/TCP\s+\S+\s+app=hello-world`)

	// edit through KUBE_EDITOR.
	editor := filepath.Join(t.TempDir(), "editor.sh")
	if err := os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/^  replicas: 3$/  replicas: 5/' \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	edit := k.command(t.Context(), "edit", "deploy", "hello-world")
	edit.Env = append(edit.Env, "KUBE_EDITOR="+editor)
	if b, err := edit.CombinedOutput(); err != nil || !strings.Contains(string(b), "edited") {
		t.Fatalf("kubectl edit: %v\n%s", err, b)
	}
	expect(t, "edited replicas", k.must("get", "deploy", "hello-world", "-o", "jsonpath={.spec.replicas}"), `^5$`)

	watchSeesAChange(t, k)

	rollouts(t, k)

	out = k.must("explain", "deployment.spec")
	expect(t, "explain", out, `KIND:\s+Deployment`, `FIELD:\s+spec <DeploymentSpec>`, `(?s)DESCRIPTION:.*desired behavior`, `replicas\s+<integer>`)

	out = k.must("api-resources")
	expect(t, "api-resources", out,
		`deployments\s+deploy\s+apps/v1\s+true\s+Deployment`,
		`pods\s+po\s+v1\s+true\s+Pod`,
		`namespaces\s+ns\s+v1\s+false\s+Namespace`,
		`events\s+ev\s+v1\s+true\s+Event`)

	// An invalid object prints the field error and stores nothing.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	invalid := strings.Replace(strings.SplitN(manifest, "---", 2)[0], "name: web\n  labels", "name: Bad_Name\n  labels", 1)
	if err := os.WriteFile(bad, []byte(invalid), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := k.run("create", "-f", bad)
	if err == nil {
		t.Fatal("create of an invalid deployment succeeded")
	}
	expect(t, "invalid create", errOut, `is invalid`, `metadata.name: Invalid value: "Bad_Name"`)
	unknown := strings.Replace(strings.SplitN(manifest, "---", 2)[0], "replicas: 2", "replicas: 2\n  replicaz: 3", 1)
	if err := os.WriteFile(bad, []byte(unknown), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err = k.run("create", "-f", bad); err == nil {
		t.Fatal("create with an unknown field succeeded under kubectl's default strict validation")
	}
	expect(t, "unknown field", errOut, `unknown field "spec.replicaz"`)

	// delete with cascade: the deployment goes, and kubectl waits for it.
	expect(t, "delete", k.must("delete", "deploy", "web", "--cascade=foreground"), `deployment.apps "web" deleted`)
	if _, errOut, err = k.run("get", "deploy", "web"); err == nil || !strings.Contains(errOut, "NotFound") {
		t.Errorf("after delete: %v %s", err, errOut)
	}
	expect(t, "delete service", k.must("delete", "svc", "web"), `service "web" deleted`)
}

// watchSeesAChange runs `kubectl get --watch` and checks it prints a change
// made while it watches.
func watchSeesAChange(t *testing.T, k *kubectlSession) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := k.command(ctx, "get", "deploy", "hello-world", "--watch", "--output-watch-events", "-o", "custom-columns=EVENT:.type,REPLICAS:.object.spec.replicas")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	wait := func(pattern string) {
		t.Helper()
		re := regexp.MustCompile(pattern)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("kubectl get --watch ended before %q; stderr: %s", pattern, stderr.String())
				}
				if re.MatchString(l) {
					return
				}
			case <-ctx.Done():
				t.Fatalf("kubectl get --watch: no line matching %q; stderr: %s", pattern, stderr.String())
			}
		}
	}
	wait(`ADDED\s+5`)
	k.must("scale", "deploy/hello-world", "--replicas=6")
	wait(`MODIFIED\s+6`)
}

// serverSideApply applies a manifest server-side, checks field ownership
// (a conflict after another manager changed a field, resolved with
// --force-conflicts) and the managedFields kubectl shows.
func serverSideApply(t *testing.T, k *kubectlSession) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ssa.yaml")
	doc := strings.NewReplacer("name: web", "name: ssa", "app: web", "app: ssa", "replicas: 2", "replicas: 2").Replace(strings.SplitN(manifest, "---", 2)[0])
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	expect(t, "server-side apply", k.must("apply", "--server-side", "-f", path), `deployment.apps/ssa serverside-applied`)
	expect(t, "managedFields", k.must("get", "deploy", "ssa", "-o", "yaml", "--show-managed-fields"),
		`manager: kubectl`, `operation: Apply`, `f:replicas: \{\}`)
	k.must("scale", "deploy/ssa", "--replicas=5")
	_, errOut, err := k.run("apply", "--server-side", "-f", path)
	if err == nil {
		t.Fatal("server-side apply over a field another manager changed succeeded without --force-conflicts")
	}
	expect(t, "apply conflict", errOut, `conflict with "(kubectl|skiff)[^"]*"`, `\.spec\.replicas`)
	k.must("apply", "--server-side", "--force-conflicts", "-f", path)
	expect(t, "forced apply", k.must("get", "deploy", "ssa", "-o", "jsonpath={.spec.replicas}"), `^2$`)
	k.must("delete", "deploy", "ssa")
}

// rollouts checks kubectl's rollout commands against the deployment
// controller: history with change causes, undo (the old ReplicaSet comes
// back as the newest revision), pause, resume and restart (a new
// ReplicaSet).
func rollouts(t *testing.T, k *kubectlSession) {
	t.Helper()
	k.must("create", "deployment", "roll", "--image=nginx:1.27")
	k.must("annotate", "deploy", "roll", "kubernetes.io/change-cause=first")
	// waitRevision waits until the ReplicaSet of image has revision want.
	waitRevision := func(image, want string) {
		t.Helper()
		var got string
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			out := k.must("get", "rs", "-l", "app=roll", "-o", `jsonpath={range .items[*]}{.spec.template.spec.containers[0].image}={.metadata.annotations.deployment\.kubernetes\.io/revision}{"\n"}{end}`)
			for _, line := range strings.Split(out, "\n") {
				if img, r, ok := strings.Cut(line, "="); ok && img == image {
					got = r
				}
			}
			if got == want {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("the ReplicaSet of %s has revision %q, want %s", image, got, want)
	}
	waitRevision("nginx:1.27", "1")
	k.must("set", "image", "deploy/roll", "nginx=nginx:1.28")
	k.must("annotate", "deploy", "roll", "kubernetes.io/change-cause=second", "--overwrite")
	waitRevision("nginx:1.28", "2")
	// The controller copies the new change-cause onto the ReplicaSet made by set image in a
	// later reconcile, so the history is polled until it shows both.
	history := regexp.MustCompile(`(?m)^1\s+first\n2\s+second$`)
	for deadline := time.Now().Add(20 * time.Second); ; {
		out := k.must("rollout", "history", "deploy/roll")
		if history.MatchString(out) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout history: no match for %q in:\n%s", history, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	expect(t, "rollout undo", k.must("rollout", "undo", "deploy/roll"), `deployment.apps/roll rolled back`)
	waitRevision("nginx:1.27", "3") // undo brings the first ReplicaSet back as the newest
	expect(t, "image after undo", k.must("get", "deploy", "roll", "-o", "jsonpath={.spec.template.spec.containers[0].image}"), `^nginx:1.27$`)
	expect(t, "pause", k.must("rollout", "pause", "deploy/roll"), `paused`)
	expect(t, "resume", k.must("rollout", "resume", "deploy/roll"), `resumed`)
	expect(t, "restart", k.must("rollout", "restart", "deploy/roll"), `restarted`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := k.must("get", "rs", "-l", "app=roll", "-o", "name")
		if n := len(strings.Fields(out)); n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after rollout restart: ReplicaSets %q, want a third one", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	k.must("delete", "deploy", "roll")
}
