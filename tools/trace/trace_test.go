package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func collect(t *testing.T) *Timeline {
	t.Helper()
	tl, err := Collect(t.Context(), fake.NewClientset(fixture()...), "default", "web")
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return tl
}

// row is a step as "offset(ms)[~] step object node".
func row(s Step) string {
	return fmt.Sprintf("%d%s %s %s %s", s.Time.Sub(base).Milliseconds(), tilde(s.Approx), s.Step, s.Object, s.Node)
}

func TestCollectOrdersSteps(t *testing.T) {
	tl := collect(t)
	want := []string{
		"0~ created deployment/web ",
		"0~ replicaset created replicaset/web-1 ",
		"460 scaled deployment/web ",
		"500 pod created pod/web-1-old ",
		"520 scheduled pod/web-1-old node-1",
		"900 image pulled pod/web-1-old node-1",
		"1000 container started pod/web-1-old node-1",
		"10000~ replicaset created replicaset/web-2 ",
		"10050 scaled deployment/web ",
		"10100 pod created pod/web-2-a ",
		"10110 scheduled pod/web-2-a node-1",
		"10150 sandbox ready pod/web-2-a node-1",
		"10200 pod created pod/web-2-b ",
		"10210 scheduled pod/web-2-b node-2",
		"10250 sandbox ready pod/web-2-b node-2",
		"10300 pod created pod/web-2-c ",
		"10310 scheduled pod/web-2-c node-1",
		"10350 sandbox ready pod/web-2-c node-1",
		"10400 image pulled pod/web-2-a node-1",
		"10500 image pulled pod/web-2-b node-2",
		"10550 image pulled pod/web-2-c node-1",
		"10550~ container started pod/web-2-c node-1", // from status, moved up to its pull
		"10550~ pod ready pod/web-2-c node-1",
		"10600 container started pod/web-2-a node-1",
		"10600~ pod ready pod/web-2-a node-1", // condition says 10:00:10, moved up to its start
		"10700 container started pod/web-2-b node-2",
		"10700~ pod ready pod/web-2-b node-2",
		"10850 scaled deployment/web ",
		"10900 pod deleted pod/web-1-old node-1",
		"11000~ endpoints ready pod/web-2-a node-1",
		"11000~ endpoints ready pod/web-2-b node-2",
		"11000~ endpoints ready pod/web-2-c node-1",
		"11600 proxy programmed service/web node-1",
		"11700 proxy programmed service/web node-2",
	}
	var got []string
	for _, s := range tl.Steps {
		got = append(got, row(s))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("steps:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	if tl.Events != 24 {
		t.Errorf("Events = %d, want 24 (the unrelated ones ignored)", tl.Events)
	}
}

func TestCollectDetails(t *testing.T) {
	tl := collect(t)
	detail := map[string]string{}
	for _, s := range tl.Steps {
		detail[s.Step+" "+s.Object+" "+s.Node] = s.Detail
	}
	for key, want := range map[string]string{
		"created deployment/web ":                "replicas 3, image hello:2",
		"replicaset created replicaset/web-2 ":   "revision 2, image hello:2",
		"replicaset created replicaset/web-1 ":   "revision 1, image hello:1",
		"pod created pod/web-2-a ":               "by replicaset/web-2",
		"scheduled pod/web-2-b node-2":           "assigned to node-2",
		"image pulled pod/web-2-a node-1":        "hello:2 in 250ms",
		"image pulled pod/web-2-b node-2":        "hello:2 present",
		"sandbox ready pod/web-2-a node-1":       "IP 10.244.1.a, veth ska (12ms)",
		"container started pod/web-2-a node-1":   "container app",
		"container started pod/web-2-c node-1":   "container app",
		"pod ready pod/web-2-b node-2":           "Ready=True, IP 10.244.1.b",
		"endpoints ready pod/web-2-c node-1":     "in endpointslice web-x7k2 of service/web (slice last written)",
		"proxy programmed service/web node-2":    "rules for 3 endpoints programmed in 5ms",
		"pod deleted pod/web-1-old node-1":       "by replicaset/web-1",
		"scaled deployment/web ":                 "Scaled down replica set web-1 from 1 to 0",
		"container started pod/web-1-old node-1": "container app",
		"image pulled pod/web-1-old node-1":      "hello:1 in 350ms",
		"scheduled pod/web-1-old node-1":         "assigned to node-1",
		"sandbox ready pod/web-2-c node-1":       "IP 10.244.1.c, veth skc (12ms)",
		"endpoints ready pod/web-2-a node-1":     "in endpointslice web-x7k2 of service/web (slice last written)",
		"proxy programmed service/web node-1":    "rules for 3 endpoints programmed in 4ms",
		"pod created pod/web-1-old ":             "by replicaset/web-1",
		"pod ready pod/web-2-a node-1":           "Ready=True, IP 10.244.1.a",
		"container started pod/web-2-b node-2":   "container app",
		"image pulled pod/web-2-c node-1":        "hello:2 present",
		"scheduled pod/web-2-a node-1":           "assigned to node-1",
		"pod created pod/web-2-c ":               "by replicaset/web-2",
		"endpoints ready pod/web-2-b node-2":     "in endpointslice web-x7k2 of service/web (slice last written)",
		"pod ready pod/web-2-c node-1":           "Ready=True, IP 10.244.1.c",
		"sandbox ready pod/web-2-b node-2":       "IP 10.244.1.b, veth skb (12ms)",
		"scheduled pod/web-2-c node-1":           "assigned to node-1",
		"pod created pod/web-2-b ":               "by replicaset/web-2",
	} {
		if got, ok := detail[key]; !ok || got != want {
			t.Errorf("detail of %q = %q (found %v), want %q", key, got, ok, want)
		}
	}
}

func TestCollectIgnoresUnrelated(t *testing.T) {
	tl := collect(t)
	for _, s := range tl.Steps {
		switch {
		case strings.Contains(s.Object, "api"), s.Object == "pod/web-2-zzz", s.Object == "pod/web-manual":
			t.Errorf("step of an unrelated object: %s", row(s))
		case s.Step == StepKilling:
			t.Errorf("event of a former pod of the same name kept: %s", row(s))
		case s.Time.Before(base):
			t.Errorf("service event from before the deployment kept: %s", row(s))
		}
	}
}

func TestSummaries(t *testing.T) {
	tl := collect(t)
	want := []string{
		"pod web-1-old: not ready (scheduled +0.02s, pulled +0.40s, started +0.50s, deleted +10.40s)",
		"pod web-2-a: created→ready ~0.50s (scheduled +0.01s, pulled +0.30s, started +0.50s, endpoints ~+0.90s)",
		"pod web-2-b: created→ready ~0.50s (scheduled +0.01s, pulled +0.30s, started +0.50s, endpoints ~+0.80s)",
		"pod web-2-c: created→ready ~0.25s (scheduled +0.01s, pulled +0.25s, started ~+0.25s, endpoints ~+0.70s)",
	}
	var got []string
	for _, p := range tl.Pods {
		got = append(got, p.String())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summaries:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	if tl.Pods[1].Node != "node-1" || tl.Pods[2].Node != "node-2" {
		t.Errorf("nodes = %q, %q, want node-1, node-2", tl.Pods[1].Node, tl.Pods[2].Node)
	}
	if m, ok := tl.Pods[1].Mark(MarkReady); !ok || m.After != 500*time.Millisecond || !m.Approx {
		t.Errorf("web-2-a ready mark = %+v, %v", m, ok)
	}
}

func TestSummaryString(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    PodSummary
		want string
	}{
		{"brief's example", PodSummary{Pod: "web-abc", Marks: []Mark{{MarkScheduled, 10 * time.Millisecond, false},
			{MarkPulled, 300 * time.Millisecond, false}, {MarkStarted, 1520 * time.Millisecond, false}, {MarkReady, 1840 * time.Millisecond, false}}},
			"pod web-abc: created→ready 1.84s (scheduled +0.01s, pulled +0.30s, started +1.52s)"},
		{"only created", PodSummary{Pod: "p"}, "pod p: not ready"},
		{"approx ready", PodSummary{Pod: "p", Marks: []Mark{{MarkReady, time.Second, true}}}, "pod p: created→ready ~1.00s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRender(t *testing.T) {
	tl := collect(t)
	for _, tc := range []struct {
		name   string
		opts   RenderOptions
		want   []string // substrings, in order
		reject []string
	}{
		{"relative", RenderOptions{Relative: true}, []string{
			"deployment default/web\n",
			"OFFSET", "STEP", "OBJECT", "NODE", "DETAIL",
			"~+0.000s", "created", "deployment/web", "-", "replicas 3, image hello:2",
			"+10.100s", "pod created", "pod/web-2-a",
			"+10.400s", "image pulled", "pod/web-2-a", "node-1", "hello:2 in 250ms",
			"~+10.600s", "pod ready", "pod/web-2-a",
			"+11.700s", "proxy programmed", "service/web", "node-2",
			"~ known to the second only",
			"pod web-2-a: created→ready ~0.50s (scheduled +0.01s",
		}, []string{"TIME (UTC)", "2026-03-01T"}},
		{"absolute", RenderOptions{}, []string{"TIME (UTC)", "~2026-03-01T10:00:00.000Z", "2026-03-01T10:00:11.700Z"}, []string{"+0.000s", "OFFSET"}},
		{"wide", RenderOptions{Relative: true, Wide: true}, []string{"OFFSET", "TIME (UTC)", "~+0.000s", "~2026-03-01T10:00:00.000Z",
			"in endpointslice web-x7k2 of service/web (slice last written)", "+11.700s", "2026-03-01T10:00:11.700Z"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tl.Render(&b, tc.opts); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			rest := out
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			for _, r := range tc.reject {
				if strings.Contains(out, r) {
					t.Errorf("output has %q:\n%s", r, out)
				}
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{{"short", 8, "short"}, {"exactly8", 8, "exactly8"}, {"longer than eight", 8, "longer …"}, {"ééééé", 4, "ééé…"}} {
		if got := truncate(tc.in, tc.n); got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestRenderJSONRoundTrip(t *testing.T) {
	tl := collect(t)
	var b bytes.Buffer
	if err := tl.RenderJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Timeline
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("decoding %s: %v", b.String(), err)
	}
	if !reflect.DeepEqual(&back, tl) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", back, *tl)
	}
	if !strings.Contains(b.String(), `"time": "2026-03-01T10:00:10.1Z"`) {
		t.Errorf("JSON lacks a sub-second RFC 3339 time:\n%s", b.String())
	}
}

func TestCollectNotFound(t *testing.T) {
	_, err := Collect(t.Context(), fake.NewClientset(fixture()...), "default", "nope")
	if !apierrors.IsNotFound(err) {
		t.Fatalf("err = %v, want NotFound", err)
	}
	if want := `deployments.apps "nope" not found`; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q, want it to contain %q", err, want)
	}
	// The deployment exists, but in another namespace.
	if _, err := Collect(t.Context(), fake.NewClientset(fixture()...), "shop", "web"); !apierrors.IsNotFound(err) {
		t.Errorf("other namespace: err = %v, want NotFound", err)
	}
}

func TestEventTime(t *testing.T) {
	precise := time.Date(2026, 3, 1, 10, 0, 5, 123456789, time.UTC)
	named := func(name string, first time.Time) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name}, FirstTimestamp: metav1.NewTime(first)}
	}
	for _, tc := range []struct {
		name       string
		ev         *corev1.Event
		want       time.Time
		wantApprox bool
	}{
		{"from name", named(fmt.Sprintf("web.%x", precise.UnixNano()), precise.Truncate(time.Second)), precise, false},
		{"name disagrees", named(fmt.Sprintf("web.%x", precise.Add(-time.Hour).UnixNano()), precise.Truncate(time.Second)), precise.Truncate(time.Second), true},
		{"name not hex", named("web.custom-name", precise.Truncate(time.Second)), precise.Truncate(time.Second), true},
		{"eventTime wins", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "x"}, EventTime: metav1.NewMicroTime(precise.Truncate(time.Microsecond))},
			precise.Truncate(time.Microsecond), false},
		{"last timestamp", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "x"}, LastTimestamp: metav1.NewTime(precise.Truncate(time.Second))},
			precise.Truncate(time.Second), true},
		{"nothing", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, time.Time{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, approx := eventTime(tc.ev)
			if !got.Equal(tc.want) || approx != tc.wantApprox {
				t.Errorf("eventTime = %v, %v; want %v, %v", got, approx, tc.want, tc.wantApprox)
			}
		})
	}
}

func TestMessages(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{SandboxReadyMessage("10.244.1.5", "sk1a2b3c", 12*time.Millisecond+300*time.Microsecond), "pod network ready: IP 10.244.1.5 on veth sk1a2b3c (netns+veth 12ms)"},
		{sandboxDetail(SandboxReadyMessage("10.244.1.5", "sk1a2b3c", 900*time.Microsecond)), "IP 10.244.1.5, veth sk1a2b3c (900µs)"},
		{ProxyProgrammedMessage(3, 4*time.Millisecond), "rules for 3 endpoints programmed in 4ms"},
		{pulledDetail(`Successfully pulled image "nginx:1.27" in 1.2s (1.2s including waiting). Image size: 7 bytes.`), "nginx:1.27 in 1.2s"},
		{pulledDetail(`Container image "nginx:1.27" already present on machine`), "nginx:1.27 present"},
		{pulledDetail("something else"), "something else"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantOut string // substring of stdout
		wantErr string // substring of the error; "" for none
	}{
		{"table", []string{"deployment", "web"}, "pod web-2-a: created→ready", ""},
		{"flags after name", []string{"deployment", "web", "-n", "default", "-o", "wide"}, "TIME (UTC)", ""},
		{"flags before", []string{"-o=json", "deploy", "web"}, `"deployment": "web"`, ""},
		{"slash form", []string{"deployment/web", "--namespace", "default", "--absolute"}, "2026-03-01T10:00:11.700Z", ""},
		{"unknown deployment", []string{"deployment", "x"}, "", `deployments.apps "x" not found`},
		{"other namespace", []string{"deployment", "web", "-n", "shop"}, "", `deployments.apps "web" not found in namespace "shop"`},
		{"no name", []string{"deployment"}, "", "want deployment NAME"},
		{"other kind", []string{"pod", "web-2-a"}, "", `cannot trace "pod"`},
		{"bad output", []string{"deployment", "web", "-o", "yaml"}, "", `unknown output format "yaml"`},
		{"bad flag", []string{"deployment", "web", "--bogus"}, "", "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Run(t.Context(), tc.args, &stdout, &stderr, fake.NewClientset(fixture()...))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Run: %v (stderr %s)", err, stderr.String())
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Run err = %v, want %q", err, tc.wantErr)
			}
			if !strings.Contains(stdout.String(), tc.wantOut) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantOut, stdout.String())
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := Run(t.Context(), []string{"-h"}, &stdout, &stderr, fake.NewClientset()); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(stderr.String(), "usage: skiff trace deployment NAME") {
		t.Errorf("usage not printed: %q", stderr.String())
	}
}

func TestRunWarnsWithoutEvents(t *testing.T) {
	var keep []runtime.Object
	for _, o := range fixture() {
		if _, isEvent := o.(*corev1.Event); !isEvent {
			keep = append(keep, o)
		}
	}
	var stdout, stderr bytes.Buffer
	if err := Run(t.Context(), []string{"deployment", "web"}, &stdout, &stderr, fake.NewClientset(keep...)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "no events found") {
		t.Errorf("no warning on stderr: %q", stderr.String())
	}
	// Without events, the live pods still show, from their status.
	if !strings.Contains(stdout.String(), "pod web-2-a: created→ready ~") {
		t.Errorf("no status-only summary:\n%s", stdout.String())
	}
}
