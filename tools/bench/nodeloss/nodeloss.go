// Package nodeloss is `skiff bench nodeloss`: in a running lab, a Deployment of hello-world
// replicas spread over the nodes, then one VM cut off the network (lab.Isolate). It measures
// how long until the lost node is NotReady and until the Deployment has all its replicas
// Running and Ready elsewhere, checks that the lost pods leave the Service's endpoints, heals
// the VM and checks that its stale pods are removed. The last line of the report is
//
//	nodeloss: notready=Nms replacements-ready=Nms
//
// The anchor is Kubernetes with its defaults, which cannot run here: a node is marked after
// node-monitor-grace-period (50 s) and its pods evicted after the default toleration (300 s).
package nodeloss

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/control/apiserver"
	"github.com/skiff-sh/skiff/tools/lab"
)

// Goals of issue 6.
const (
	GoalNotReady     = 5 * time.Second
	GoalReplacements = 45 * time.Second
)

// Config configures a run.
type Config struct {
	// LabDir is the running lab's directory (skiff lab up --dir).
	LabDir string
	// Replicas of the Deployment (spread over the nodes by the scheduler).
	Replicas int
	// Image of its pods.
	Image string
	// VM to cut off; empty picks a VM running replicas that neither holds the raft leadership
	// nor serves the kubeconfig's API.
	VM string
	// Timeout bounds each wait.
	Timeout time.Duration
	Logger  *slog.Logger
}

// DefaultConfig is 6 hello-world replicas in the lab of `make up`.
func DefaultConfig() Config {
	return Config{LabDir: ".data/lab", Replicas: 6, Image: "gcr.io/google-samples/hello-app:1.0", Timeout: 3 * time.Minute}
}

// Validate reports a setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.LabDir == "":
		return errors.New("nodeloss: no lab directory")
	case c.Replicas < 2:
		return fmt.Errorf("nodeloss: %d replicas: need at least 2 to lose some", c.Replicas)
	case c.Image == "":
		return errors.New("nodeloss: no image")
	case c.Timeout <= 0:
		return errors.New("nodeloss: the timeout must be positive")
	}
	return nil
}

// RegisterFlags adds the flags of `skiff bench nodeloss` to fs.
func RegisterFlags(fs *flag.FlagSet) *Config {
	c := DefaultConfig()
	fs.StringVar(&c.LabDir, "lab", c.LabDir, "directory of the running lab (skiff lab up --dir)")
	fs.IntVar(&c.Replicas, "replicas", c.Replicas, "replicas of the deployment")
	fs.StringVar(&c.Image, "image", c.Image, "image of its pods")
	fs.StringVar(&c.VM, "vm", "", "VM to cut off (default: one running replicas that is not the raft leader)")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "bound of each wait")
	return &c
}

// Result is what one run measured and saw.
type Result struct {
	VM, Node string
	// Lost is how many replicas ran on the node when it was cut off.
	Lost int
	// NotReady: from the cut to the node's Ready condition leaving True.
	NotReady time.Duration
	// EndpointsClean: from the cut to no ready endpoint of the Service on the node.
	EndpointsClean time.Duration
	// ReplacementsReady: from the cut to all replicas Running and Ready on other nodes.
	ReplacementsReady time.Duration
	// StaleRemoved: from the heal to no pod of the Deployment left on the node.
	StaleRemoved time.Duration
}

const name = "nodeloss"

// Run runs the benchmark and writes its report to w.
func Run(ctx context.Context, cfg Config, w io.Writer) error {
	res, err := Measure(ctx, cfg)
	if err != nil {
		return err
	}
	Report(w, res)
	return nil
}

// Report writes the report; its last line is the machine-read one.
func Report(w io.Writer, r Result) {
	fmt.Fprintf(w, "cut off %s (node %s) with %d replicas on it\n", r.VM, r.Node, r.Lost)
	fmt.Fprintf(w, "node NotReady after %dms (goal ≤ %dms; Kubernetes' default node-monitor-grace-period: 50000ms)\n", r.NotReady.Milliseconds(), GoalNotReady.Milliseconds())
	fmt.Fprintf(w, "its pods out of the Service's endpoints after %dms\n", r.EndpointsClean.Milliseconds())
	fmt.Fprintf(w, "replacements Running and Ready after %dms (goal ≤ %dms; Kubernetes' defaults evict after 50000+300000ms)\n", r.ReplacementsReady.Milliseconds(), GoalReplacements.Milliseconds())
	fmt.Fprintf(w, "after healing, its stale pods removed in %dms\n", r.StaleRemoved.Milliseconds())
	fmt.Fprintf(w, "nodeloss: notready=%dms replacements-ready=%dms\n", r.NotReady.Milliseconds(), r.ReplacementsReady.Milliseconds())
}

// Measure runs the scenario and returns what it measured. It heals the VM and deletes what
// it created, also when it fails.
func Measure(ctx context.Context, cfg Config) (res Result, err error) {
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l, err := lab.Load(cfg.LabDir, log)
	if err != nil {
		return res, fmt.Errorf("nodeloss: %w", err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", l.KubeconfigPath())
	if err != nil {
		return res, fmt.Errorf("nodeloss: %w", err)
	}
	rc.Timeout = 10 * time.Second
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return res, fmt.Errorf("nodeloss: %w", err)
	}
	ns := "default"
	labels := map[string]string{"app": name}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(cfg.Replicas)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64(2)),
					Containers: []corev1.Container{{Name: "hello-app", Image: cfg.Image,
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1}}},
				},
			},
		},
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		return res, fmt.Errorf("nodeloss: create the deployment: %w", err)
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return res, fmt.Errorf("nodeloss: create the service: %w", err)
	}
	isolated := ""
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if isolated != "" {
			if herr := l.Heal(isolated); herr != nil {
				err = errors.Join(err, herr)
			}
		}
		bg := metav1.DeletePropagationBackground
		_ = client.AppsV1().Deployments(ns).Delete(cctx, name, metav1.DeleteOptions{PropagationPolicy: &bg})
		_ = client.CoreV1().Services(ns).Delete(cctx, name, metav1.DeleteOptions{})
	}()

	log.Info("waiting for the replicas", "replicas", cfg.Replicas)
	if err := poll(ctx, cfg.Timeout, "all replicas ready", func() (bool, error) {
		pods, err := readyPods(ctx, client, ns, "")
		return len(pods) == cfg.Replicas, err
	}); err != nil {
		return res, err
	}
	vm := cfg.VM
	if vm == "" {
		if vm, err = pickVM(ctx, client, l); err != nil {
			return res, err
		}
	}
	node := l.NodeName(vm)
	res.VM, res.Node = vm, node
	onNode, err := readyPods(ctx, client, ns, node)
	if err != nil {
		return res, err
	}
	res.Lost = len(onNode)
	if res.Lost == 0 {
		return res, fmt.Errorf("nodeloss: no replica runs on %s; nothing to lose", node)
	}

	if err := poll(ctx, cfg.Timeout, "the Service's endpoints on the node", func() (bool, error) {
		n, err := readyEndpointsOn(ctx, client, ns, node)
		return n == res.Lost, err
	}); err != nil {
		return res, err
	}

	log.Info("cutting the VM off", "vm", vm, "node", node, "replicas", res.Lost)
	cut := time.Now()
	if err := l.Isolate(vm); err != nil {
		return res, err
	}
	isolated = vm
	var notReady, endpointsClean, replaced time.Duration
	err = poll(ctx, cfg.Timeout, "node NotReady, endpoints clean, replacements ready", func() (bool, error) {
		if notReady == 0 {
			n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if nodeReady(n) != corev1.ConditionTrue {
				notReady = time.Since(cut)
				log.Info("node not ready", "after", notReady)
			}
		}
		if endpointsClean == 0 {
			n, err := readyEndpointsOn(ctx, client, ns, node)
			if err != nil {
				return false, err
			}
			if n == 0 {
				endpointsClean = time.Since(cut)
				log.Info("endpoints clean", "after", endpointsClean)
			}
		}
		if replaced == 0 {
			pods, err := readyPods(ctx, client, ns, "")
			if err != nil {
				return false, err
			}
			elsewhere := slices.DeleteFunc(pods, func(p corev1.Pod) bool { return p.Spec.NodeName == node })
			if len(elsewhere) >= cfg.Replicas {
				replaced = time.Since(cut)
				log.Info("replacements ready", "after", replaced)
			}
		}
		return notReady > 0 && endpointsClean > 0 && replaced > 0, nil
	})
	res.NotReady, res.EndpointsClean, res.ReplacementsReady = notReady, endpointsClean, replaced
	if err != nil {
		return res, err
	}

	log.Info("healing the VM", "vm", vm)
	if err := l.Heal(vm); err != nil {
		return res, err
	}
	isolated = ""
	healed := time.Now()
	err = poll(ctx, cfg.Timeout, "stale pods removed and the node Ready", func() (bool, error) {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name, FieldSelector: "spec.nodeName=" + node})
		if err != nil {
			return false, err
		}
		if len(pods.Items) > 0 {
			return false, nil
		}
		if res.StaleRemoved == 0 {
			res.StaleRemoved = time.Since(healed)
		}
		n, err := client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return nodeReady(n) == corev1.ConditionTrue && !tainted(n), nil
	})
	return res, err
}

// pickVM is a VM running replicas that is neither the raft leader nor the kubeconfig's server
// (the first VM), so the cut loses a node, not the API the benchmark talks to.
func pickVM(ctx context.Context, client kubernetes.Interface, l *lab.Lab) (string, error) {
	raw, err := client.Discovery().RESTClient().Get().AbsPath(apiserver.StatusPath).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("nodeloss: cluster status: %w", err)
	}
	var servers []apiserver.ServerStatus
	if err := json.Unmarshal(raw, &servers); err != nil {
		return "", fmt.Errorf("nodeloss: cluster status: %w", err)
	}
	leader := ""
	for _, s := range servers {
		if s.State == "Leader" {
			leader = s.Name
		}
	}
	vms := l.VMs()
	for i := len(vms) - 1; i > 0; i-- { // never the first: it serves the kubeconfig
		vm := vms[i].Name
		if vm == lab.RegistryVM || vm == leader {
			continue
		}
		pods, err := readyPods(ctx, client, "default", l.NodeName(vm))
		if err != nil {
			return "", err
		}
		if len(pods) > 0 {
			return vm, nil
		}
	}
	return "", errors.New("nodeloss: no VM runs replicas without being the raft leader or the first server")
}

// readyPods are the Deployment's Ready pods that are not being deleted (on node, if set).
func readyPods(ctx context.Context, client kubernetes.Interface, ns, node string) ([]corev1.Pod, error) {
	opts := metav1.ListOptions{LabelSelector: "app=" + name}
	if node != "" {
		opts.FieldSelector = "spec.nodeName=" + node
	}
	pods, err := client.CoreV1().Pods(ns).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(pods.Items, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil || !podReady(&p) }), nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func nodeReady(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

func tainted(n *corev1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == "node.kubernetes.io/unreachable" || t.Key == "node.kubernetes.io/not-ready" {
			return true
		}
	}
	return false
}

// readyEndpointsOn counts the Service's ready endpoints on node.
func readyEndpointsOn(ctx context.Context, client kubernetes.Interface, ns, node string) (int, error) {
	slices, err := client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			if ep.NodeName != nil && *ep.NodeName == node && (ep.Conditions.Ready == nil || *ep.Conditions.Ready) {
				n++
			}
		}
	}
	return n, nil
}

// poll calls check every 100 ms until it is done, fails or timeout passes. Transient API
// errors (a server cut off, an election) are retried; each request is bounded by the client's
// timeout.
func poll(ctx context.Context, timeout time.Duration, what string, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		done, err := check()
		if done && err == nil {
			return nil
		}
		if err != nil && !retryable(err) {
			return fmt.Errorf("nodeloss: %s: %w", what, err)
		}
		last = err
		if time.Now().After(deadline) {
			return fmt.Errorf("nodeloss: %s: not within %v (last error: %v)", what, timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func retryable(err error) bool {
	return !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) && !apierrors.IsUnauthorized(err) && !apierrors.IsBadRequest(err)
}
