package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-sh/skiff/tools/chaos/history"
)

// DefaultConfigMapPrefix starts the names of ConfigMapRegister's ConfigMaps.
const DefaultConfigMapPrefix = "chaos-reg-"

// dataKey is the ConfigMap data key holding the register's value.
const dataKey = "v"

// ConfigMapRegister is a register workload on ConfigMaps through the
// Kubernetes API. Each register is a ConfigMap, created empty before the
// run (absent data key: the register reads ""); read is a GET (a quorum
// read), write a merge patch of the data key, cas an update carrying the
// resourceVersion of the value the client last saw: a 409 Conflict is a
// failed cas. History keys are "configmap/<namespace>/<name>".
type ConfigMapRegister struct {
	regs      registers
	clients   []kubernetes.Interface
	namespace string
	names     map[string]string // history key -> ConfigMap name
	next      atomic.Uint64
}

var _ Finisher = (*ConfigMapRegister)(nil)

// NewConfigMapRegister returns a workload on ConfigMaps in namespace over
// clients (round robin). An empty cfg.Prefix means DefaultConfigMapPrefix.
func NewConfigMapRegister(cfg RegisterConfig, namespace string, clients ...kubernetes.Interface) (*ConfigMapRegister, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultConfigMapPrefix
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if namespace == "" || len(clients) == 0 {
		return nil, fmt.Errorf("workload: configmap register: need a namespace (got %q) and at least one client (got %d)", namespace, len(clients))
	}
	w := &ConfigMapRegister{clients: clients, namespace: namespace, names: map[string]string{}}
	tag := runTag()
	for i := range cfg.Keys {
		name := fmt.Sprintf("%s%s-%d", cfg.Prefix, tag, i)
		key := "configmap/" + namespace + "/" + name
		w.names[key] = name
		w.regs.keys = append(w.regs.keys, key)
	}
	w.regs.cfg, w.regs.b = cfg, cmBackend{w}
	return w, nil
}

// Name implements Workload.
func (w *ConfigMapRegister) Name() string { return "configmap-register" }

// Keys returns the history keys of this run's registers.
func (w *ConfigMapRegister) Keys() []string { return append([]string(nil), w.regs.keys...) }

// Run implements Workload: it creates the ConfigMaps (not recorded), then
// runs the clients until ctx ends.
func (w *ConfigMapRegister) Run(ctx context.Context, rec *history.Recorder) error {
	for _, key := range w.regs.keys {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: w.names[key], Namespace: w.namespace, Labels: map[string]string{"app.kubernetes.io/part-of": "skiff-chaos"}}}
		_, err := retry(ctx, func(c context.Context) (*corev1.ConfigMap, error) {
			got, err := w.cli().CoreV1().ConfigMaps(w.namespace).Create(c, cm, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) { // an earlier attempt of ours got through
				return got, nil
			}
			return got, err
		})
		if err != nil {
			return fmt.Errorf("creating configmap %s/%s: %w", w.namespace, cm.Name, err)
		}
	}
	w.regs.run(ctx, rec)
	return nil
}

// Final implements Finisher.
func (w *ConfigMapRegister) Final(ctx context.Context, rec *history.Recorder) error {
	return w.regs.final(ctx, rec)
}

// Cleanup deletes the run's ConfigMaps.
func (w *ConfigMapRegister) Cleanup(ctx context.Context) error {
	var errs []error
	for _, key := range w.regs.keys {
		err := w.cli().CoreV1().ConfigMaps(w.namespace).Delete(ctx, w.names[key], metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("workload: deleting configmap %s/%s: %w", w.namespace, w.names[key], err))
		}
	}
	return errors.Join(errs...)
}

func (w *ConfigMapRegister) cli() kubernetes.Interface {
	return w.clients[int(w.next.Add(1)%uint64(len(w.clients)))]
}

type cmBackend struct{ w *ConfigMapRegister }

func cmOutput(cm *corev1.ConfigMap) (history.Output, error) {
	rev, err := strconv.ParseInt(cm.ResourceVersion, 10, 64)
	if err != nil {
		return history.Output{}, fmt.Errorf("configmap %s/%s: resourceVersion %q is not a revision: %w", cm.Namespace, cm.Name, cm.ResourceVersion, err)
	}
	v, found := cm.Data[dataKey]
	return history.Output{Value: v, Found: found, Rev: rev}, nil
}

func (b cmBackend) read(ctx context.Context, key string) (history.Output, error) {
	cm, err := b.w.cli().CoreV1().ConfigMaps(b.w.namespace).Get(ctx, b.w.names[key], metav1.GetOptions{})
	if err != nil {
		return history.Output{}, fmt.Errorf("get %s: %w", key, err)
	}
	return cmOutput(cm)
}

func (b cmBackend) write(ctx context.Context, key, value string) (history.Output, error) {
	patch, _ := json.Marshal(map[string]any{"data": map[string]string{dataKey: value}})
	cm, err := b.w.cli().CoreV1().ConfigMaps(b.w.namespace).Patch(ctx, b.w.names[key], types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return history.Output{}, fmt.Errorf("patch %s: %w", key, err)
	}
	return cmOutput(cm)
}

func (b cmBackend) cas(ctx context.Context, key string, expect known, value string) (bool, history.Output, error) {
	if expect.rev == 0 {
		return false, history.Output{}, fmt.Errorf("cas on %s: no resourceVersion known: %w", key, errNotSent)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: b.w.names[key], Namespace: b.w.namespace, ResourceVersion: strconv.FormatInt(expect.rev, 10),
			Labels: map[string]string{"app.kubernetes.io/part-of": "skiff-chaos"}},
		Data: map[string]string{dataKey: value},
	}
	got, err := b.w.cli().CoreV1().ConfigMaps(b.w.namespace).Update(ctx, cm, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return false, history.Output{}, nil
	}
	if err != nil {
		return false, history.Output{}, fmt.Errorf("update %s at resourceVersion %d: %w", key, expect.rev, err)
	}
	out, err := cmOutput(got)
	return err == nil, out, err
}

// errNotSent marks an operation that was never sent.
var errNotSent = errors.New("not sent")

// definite: the API server answered with a status that means the write was
// refused before it was stored.
func (cmBackend) definite(err error) bool {
	if errors.Is(err, errNotSent) {
		return true
	}
	switch {
	case apierrors.IsConflict(err), apierrors.IsNotFound(err), apierrors.IsInvalid(err), apierrors.IsBadRequest(err),
		apierrors.IsForbidden(err), apierrors.IsUnauthorized(err), apierrors.IsTooManyRequests(err),
		apierrors.IsRequestEntityTooLargeError(err), apierrors.IsMethodNotSupported(err), apierrors.IsNotAcceptable(err),
		apierrors.IsUnsupportedMediaType(err):
		return true
	}
	return false
}

func (b cmBackend) final(ctx context.Context, key string) (history.Output, error) {
	return retry(ctx, func(ctx context.Context) (history.Output, error) { return b.read(ctx, key) })
}

// KubeClient returns a client for the cluster of a kubeconfig file, with
// client-side rate limiting off (a workload measures the server, not
// client-go's limiter).
func KubeClient(kubeconfig string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("workload: loading kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	cfg.UserAgent = "skiff-chaos"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("workload: kubernetes client for %s: %w", cfg.Host, err)
	}
	return cs, nil
}
