package podbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// cleanupTimeout bounds deleting the namespace at the end of a run.
const cleanupTimeout = 3 * time.Minute

// bench is one run against one cluster.
type bench struct {
	cfg    Config
	client kubernetes.Interface
	ns     string
	log    *slog.Logger
}

// Run runs the benchmark against the cluster of cfg.Kubeconfig and prints its report to w,
// ending with the final line. It removes every pod and the namespace it made before it
// returns, also on error or when ctx ends.
func Run(ctx context.Context, cfg Config, w io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	client, err := newClient(cfg)
	if err != nil {
		return err
	}
	return run(ctx, cfg, client, w)
}

// newClient is a client for cfg.Kubeconfig without client-side throttling, so that a round's
// creates go out at once.
func newClient(cfg Config) (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("podbench: loading kubeconfig %s: %w", cfg.Kubeconfig, err)
	}
	rc.QPS = -1
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("podbench: client for %s: %w", rc.Host, err)
	}
	return client, nil
}

func run(ctx context.Context, cfg Config, client kubernetes.Interface, w io.Writer) (err error) {
	b := &bench{cfg: cfg, client: client, ns: cfg.Namespace, log: cfg.Logger}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.ns == "" {
		b.ns = "podbench-" + randomSuffix()
	}
	nodes, err := b.readyNodes(ctx)
	if err != nil {
		return err
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: b.ns,
		Labels: map[string]string{labelApp: "podbench"}}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("podbench: creating namespace %s (it must not exist): %w", b.ns, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if derr := b.deleteNamespace(cctx); derr != nil {
			err = errors.Join(err, derr)
		}
	}()

	fmt.Fprintf(w, "pods: %d pods x %d rounds on %d nodes in namespace %s, image %s; create->ready = create request sent to Ready=True seen by a watch (client clock)\n",
		cfg.Pods, cfg.Rounds, len(nodes), b.ns, cfg.Image)
	if err := b.warmUp(ctx, nodes, w); err != nil {
		return err
	}
	var all []sample
	for r := 1; r <= cfg.Rounds; r++ {
		batch := fmt.Sprintf("r%d", r)
		pods := make([]*corev1.Pod, cfg.Pods)
		for i := range pods {
			pods[i] = b.newPod(batch, fmt.Sprintf("%s-p%03d", batch, i+1), "")
		}
		b.log.Info("podbench: round", "round", r, "pods", cfg.Pods)
		samples, took, err := b.runBatch(ctx, batch, pods)
		if err != nil {
			return errors.Join(err, b.deleteBatch(context.WithoutCancel(ctx), batch))
		}
		fmt.Fprintln(w, roundLine(r, samples, took))
		all = append(all, samples...)
		if err := b.deleteBatch(ctx, batch); err != nil {
			return err
		}
	}
	report(w, all, cfg.Goal)
	return nil
}

// warmUp runs one pod pinned to each node, so the image is present everywhere, and removes
// them again.
func (b *bench) warmUp(ctx context.Context, nodes []string, w io.Writer) error {
	const batch = "warm"
	pods := make([]*corev1.Pod, len(nodes))
	for i, n := range nodes {
		pods[i] = b.newPod(batch, fmt.Sprintf("warm-%d", i+1), n)
	}
	samples, took, err := b.runBatch(ctx, batch, pods)
	if err != nil {
		return errors.Join(fmt.Errorf("podbench: warm-up: %w", err), b.deleteBatch(context.WithoutCancel(ctx), batch))
	}
	pulled := 0
	for _, s := range samples {
		if s.ev.pulled {
			pulled++
		}
	}
	fmt.Fprintf(w, "warm-up: %s present on %d nodes (pulled on %d), one pinned pod each, all Ready in %s\n",
		b.cfg.Image, len(nodes), pulled, ms(took))
	return b.deleteBatch(ctx, batch)
}

// readyNodes names the schedulable nodes that are Ready, sorted.
func (b *bench) readyNodes(ctx context.Context) ([]string, error) {
	l, err := b.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("podbench: listing nodes: %w", err)
	}
	var out []string
	for _, n := range l.Items {
		if n.Spec.Unschedulable {
			continue
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				out = append(out, n.Name)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("podbench: no Ready, schedulable node among %d", len(l.Items))
	}
	slices.Sort(out)
	return out, nil
}

// deleteNamespace deletes the run's namespace and waits until it is gone. The namespace
// controller deletes what is left in it (pods, events) first; nothing else of the cluster
// changes state as it goes, so this polls.
func (b *bench) deleteNamespace(ctx context.Context) error {
	api := b.client.CoreV1().Namespaces()
	if err := api.Delete(ctx, b.ns, metav1.DeleteOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("podbench: deleting namespace %s: %w", b.ns, err)
	}
	for {
		_, err := api.Get(ctx, b.ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("podbench: namespace %s not gone (last get: %v): %w", b.ns, err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
