package podbench

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/skiff-sh/skiff/nodes/podsync"
)

func readyNode(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

// fakeCluster is a fake clientset with a scheduler and nodes in one goroutine: each new pod is
// placed round-robin (unless pinned), gets the node's events (SandboxReady, Pulled, Created,
// Started, named as client-go's recorder names them) and turns Ready.
type fakeCluster struct {
	*fake.Clientset
	mu      sync.Mutex
	uids    int
	started []string // pods the "nodes" started, in order
	pinned  map[string]string
}

func newFakeCluster(t *testing.T, nodes ...string) *fakeCluster {
	objs := []runtime.Object{readyNode(nodes[0]), readyNode(nodes[1])}
	notReady := readyNode("down")
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	objs = append(objs, notReady)
	for _, n := range nodes[2:] {
		objs = append(objs, readyNode(n))
	}
	fc := &fakeCluster{Clientset: fake.NewClientset(objs...), pinned: map[string]string{}}
	// The API gives every created pod a uid.
	fc.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		fc.mu.Lock()
		fc.uids++
		p.UID = types.UID(fmt.Sprintf("uid-%d", fc.uids))
		fc.mu.Unlock()
		return false, nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	w, err := fc.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	go func() {
		defer close(done)
		next := 0
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type != watch.Added {
				continue
			}
			node := p.Spec.NodeName
			if node == "" {
				node = nodes[next%len(nodes)]
				next++
			} else {
				fc.mu.Lock()
				fc.pinned[p.Name] = node
				fc.mu.Unlock()
			}
			p = p.DeepCopy()
			p.Spec.NodeName = node
			if _, err := fc.CoreV1().Pods(p.Namespace).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
				t.Errorf("binding %s: %v", p.Name, err)
				continue
			}
			at := time.Now()
			for i, e := range []struct{ reason, msg string }{
				{podsync.ReasonSandboxReady, "pod network ready: IP 10.244.0.9 on veth skx (netns+veth 4.5ms)"},
				{"Pulled", `Container image "x" already present on machine`},
				{"Created", "Created container: hello"},
				{"Started", "Started container hello"},
			} {
				stamp := at.Add(time.Duration(i) * 10 * time.Millisecond)
				_, err := fc.CoreV1().Events(p.Namespace).Create(ctx, &corev1.Event{
					ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", p.Name, stamp.UnixNano()), Namespace: p.Namespace},
					InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
					Reason:         e.reason, Message: e.msg, FirstTimestamp: metav1.NewTime(stamp),
				}, metav1.CreateOptions{})
				if err != nil {
					t.Errorf("event for %s: %v", p.Name, err)
				}
			}
			fc.mu.Lock()
			fc.started = append(fc.started, p.Name)
			fc.mu.Unlock()
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
			if _, err := fc.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				t.Errorf("status of %s: %v", p.Name, err)
			}
		}
	}()
	return fc
}

// The whole run against a fake cluster: warm-up pinned to every Ready node, rounds of
// unpinned pods, every pod Ready, the breakdown from the events, and nothing left after.
func TestRunFake(t *testing.T) {
	fc := newFakeCluster(t, "n1", "n2", "n3")
	cfg := DefaultConfig()
	cfg.Pods, cfg.Rounds, cfg.Namespace = 5, 2, "bench"
	cfg.Timeout, cfg.EventWait = 10*time.Second, 5*time.Second
	var out bytes.Buffer
	if err := run(t.Context(), cfg, fc, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Logf("report:\n%s", out.String())
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if last := lines[len(lines)-1]; !finalLineRE.MatchString(last) || !strings.Contains(last, "netns+veth p50=5ms, container start p50=10ms") {
		t.Errorf("final line = %q", last)
	}
	for _, want := range []string{
		"pods: 5 pods x 2 rounds on 3 nodes in namespace bench",
		"warm-up: " + DefaultImage + " present on 3 nodes (pulled on 0)",
		"round 1: 5 pods Ready", "round 2: 5 pods Ready", "(pods per node: n1=2 n2=2 n3=1)",
		"all rounds: 10 pods",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "without events") {
		t.Errorf("some pods lack events in the report")
	}
	fc.mu.Lock()
	started, pinned := len(fc.started), fc.pinned
	fc.mu.Unlock()
	if started != 3+10 {
		t.Errorf("the nodes started %d pods, want 3 warm-up + 10", started)
	}
	if want := map[string]string{"warm-1": "n1", "warm-2": "n2", "warm-3": "n3"}; fmt.Sprint(pinned) != fmt.Sprint(want) {
		t.Errorf("pinned warm-up pods = %v, want %v", pinned, want)
	}
	pods, err := fc.CoreV1().Pods("").List(t.Context(), metav1.ListOptions{})
	if err != nil || len(pods.Items) != 0 {
		t.Errorf("pods left after the run: %d, %v", len(pods.Items), err)
	}
	if _, err := fc.CoreV1().Namespaces().Get(t.Context(), "bench", metav1.GetOptions{}); err == nil {
		t.Errorf("namespace bench left after the run")
	}
}

// A pod that never turns Ready fails the round with where it stands, and the run still
// removes its pods and namespace.
func TestRunFakeNotReady(t *testing.T) {
	fc := fake.NewClientset(readyNode("n1"))
	cfg := DefaultConfig()
	cfg.Pods, cfg.Rounds, cfg.Namespace = 2, 1, "stuck"
	cfg.Timeout = 300 * time.Millisecond
	var out bytes.Buffer
	err := run(t.Context(), cfg, fc, &out)
	if err == nil || !strings.Contains(err.Error(), "warm-up") || !strings.Contains(err.Error(), "1 of 1 pods not Ready") ||
		!strings.Contains(err.Error(), "warm-1 on n1") {
		t.Fatalf("run = %v, want the warm-up pod not Ready on n1", err)
	}
	pods, _ := fc.CoreV1().Pods("").List(t.Context(), metav1.ListOptions{})
	if len(pods.Items) != 0 {
		t.Errorf("%d pods left after a failed run", len(pods.Items))
	}
	if _, err := fc.CoreV1().Namespaces().Get(t.Context(), "stuck", metav1.GetOptions{}); err == nil {
		t.Errorf("namespace left after a failed run")
	}
	if strings.Contains(out.String(), "pods: create->ready") {
		t.Errorf("a failed run printed the final line:\n%s", out.String())
	}
}

// An existing namespace is not the run's: it refuses and leaves it alone.
func TestRunFakeNamespaceExists(t *testing.T) {
	fc := fake.NewClientset(readyNode("n1"), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mine"}})
	cfg := DefaultConfig()
	cfg.Namespace = "mine"
	err := run(t.Context(), cfg, fc, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "must not exist") {
		t.Fatalf("run in an existing namespace = %v", err)
	}
	if _, err := fc.CoreV1().Namespaces().Get(t.Context(), "mine", metav1.GetOptions{}); err != nil {
		t.Errorf("the existing namespace was touched: %v", err)
	}
}
