package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-sh/skiff/nodes/podsync"
	"github.com/skiff-sh/skiff/nodes/runtime"
)

// containers is pod sync's view of the containerd runtime.
type containers struct {
	rt       *runtime.Runtime
	client   kubernetes.Interface
	nodeName string
	// cgroupRoot is the parent of every pod's cgroup: /skiff/<node>.
	cgroupRoot string
}

var _ podsync.Runtime = (*containers)(nil)

func (c *containers) ImagePresent(ctx context.Context, ref string) (podsync.Image, bool, error) {
	info, err := c.rt.EnsureImage(ctx, ref, runtime.PullNever)
	switch {
	case errors.Is(err, runtime.ErrImageNeverPull):
		return podsync.Image{}, false, nil
	case err != nil:
		return podsync.Image{}, false, err
	}
	return podsync.Image{Ref: info.Ref, ID: info.ImageID}, true, nil
}

func (c *containers) PullImage(ctx context.Context, ref string) (podsync.Image, error) {
	info, err := c.rt.EnsureImage(ctx, ref, runtime.PullAlways)
	if err != nil {
		return podsync.Image{}, err
	}
	return podsync.Image{Ref: info.Ref, ID: info.ImageID}, nil
}

func (c *containers) podCgroup(uid string) string { return path.Join(c.cgroupRoot, uid) }

func (c *containers) CreateContainer(ctx context.Context, cfg podsync.ContainerConfig) (string, error) {
	env, err := c.env(ctx, cfg)
	if err != nil {
		return "", err
	}
	id := newContainerID()
	spec := runtime.ContainerSpec{
		ID:           id,
		Image:        cfg.Image.Ref,
		Command:      cfg.Container.Command,
		Args:         cfg.Container.Args,
		Env:          env,
		WorkingDir:   cfg.Container.WorkingDir,
		Hostname:     cfg.Pod.Name,
		NetNSPath:    cfg.NetnsPath,
		CgroupParent: c.podCgroup(string(cfg.Pod.UID)),
		Resources:    resources(cfg.Container),
		LogPath:      cfg.LogPath,
		Meta: runtime.Meta{
			PodUID: string(cfg.Pod.UID), PodNamespace: cfg.Pod.Namespace, PodName: cfg.Pod.Name,
			ContainerName: cfg.Container.Name, Attempt: uint32(cfg.Attempt),
		},
	}
	if err := c.rt.Create(ctx, spec); err != nil {
		return "", err
	}
	return id, nil
}

func (c *containers) StartContainer(ctx context.Context, id string) error { return c.rt.Start(ctx, id) }

func (c *containers) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	_, err := c.rt.Stop(ctx, id, grace)
	return err
}

func (c *containers) RemoveContainer(ctx context.Context, id string) error {
	st, err := c.rt.Status(ctx, id)
	if err != nil {
		return err
	}
	if err := c.rt.Delete(ctx, id); err != nil {
		return err
	}
	// The pod's cgroup goes with its last container (rmdir fails while others live).
	runtime.RemoveCgroup(c.podCgroup(st.Meta.PodUID)) //nolint:errcheck // best effort, see above
	return nil
}

func (c *containers) ListContainers(ctx context.Context, podUID string) ([]podsync.Container, error) {
	var all []runtime.Status
	var err error
	if podUID == "" {
		all, err = c.rt.List(ctx)
	} else {
		all, err = c.rt.ListPod(ctx, podUID)
	}
	if err != nil {
		return nil, err
	}
	var out []podsync.Container
	for _, s := range all {
		if s.Meta.PodUID == "" || (podUID != "" && s.Meta.PodUID != podUID) {
			continue
		}
		pc := podsync.Container{
			ID: s.ID, PodUID: s.Meta.PodUID, PodNamespace: s.Meta.PodNamespace, PodName: s.Meta.PodName,
			Name: s.Meta.ContainerName, Attempt: int(s.Meta.Attempt), ExitCode: int(s.ExitCode),
			CreatedAt: s.CreatedAt, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt, Image: s.ImageRef, ImageID: s.ImageID,
		}
		switch s.State {
		case runtime.StateRunning:
			pc.State = podsync.StateRunning
		case runtime.StateExited:
			pc.State = podsync.StateExited
		case runtime.StateCreated:
			pc.State = podsync.StateCreated
		default:
			// A task lost with its shim: treat as exited with an unknown code.
			pc.State, pc.ExitCode, pc.Reason = podsync.StateExited, 255, "Unknown"
		}
		out = append(out, pc)
	}
	return out, nil
}

func (c *containers) Exec(ctx context.Context, id string, cmd []string) (int, []byte, error) {
	timeout := time.Minute
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	res, err := c.rt.Exec(ctx, id, cmd, timeout)
	if err != nil {
		return -1, res.Output, err
	}
	return res.ExitCode, res.Output, nil
}

func newContainerID() string {
	var b [16]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand never fails on Linux
	return hex.EncodeToString(b[:])
}

// resources maps requests and limits to the runtime's cgroup settings.
func resources(c *corev1.Container) runtime.Resources {
	var r runtime.Resources
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		r.CPURequestMilli = q.MilliValue()
	}
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		r.CPULimitMilli = q.MilliValue()
		if r.CPURequestMilli == 0 {
			r.CPURequestMilli = r.CPULimitMilli
		}
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimitBytes = q.Value()
	}
	return r
}

// env resolves a container's environment as the kubelet does: envFrom
// first, then env in order; values from the pod's fields, resources,
// ConfigMaps and Secrets.
func (c *containers) env(ctx context.Context, cfg podsync.ContainerConfig) ([]runtime.EnvVar, error) {
	pod, ctr := cfg.Pod, cfg.Container
	var out []runtime.EnvVar
	for _, from := range ctr.EnvFrom {
		data, err := c.source(ctx, pod.Namespace, from)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			out = append(out, runtime.EnvVar{Name: from.Prefix + k, Value: v})
		}
	}
	for _, e := range ctr.Env {
		if e.ValueFrom == nil {
			out = append(out, runtime.EnvVar{Name: e.Name, Value: e.Value})
			continue
		}
		v, err := c.valueFrom(ctx, pod, ctr, cfg.PodIP, e.ValueFrom)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		out = append(out, runtime.EnvVar{Name: e.Name, Value: v})
	}
	return out, nil
}

func (c *containers) source(ctx context.Context, ns string, from corev1.EnvFromSource) (map[string]string, error) {
	switch {
	case from.ConfigMapRef != nil:
		cm, err := c.client.CoreV1().ConfigMaps(ns).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
		if err != nil {
			if from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
				return nil, nil
			}
			return nil, fmt.Errorf("configmap %q: %w", from.ConfigMapRef.Name, err)
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		s, err := c.client.CoreV1().Secrets(ns).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
		if err != nil {
			if from.SecretRef.Optional != nil && *from.SecretRef.Optional {
				return nil, nil
			}
			return nil, fmt.Errorf("secret %q: %w", from.SecretRef.Name, err)
		}
		out := map[string]string{}
		for k, v := range s.Data {
			out[k] = string(v)
		}
		return out, nil
	}
	return nil, nil
}

func (c *containers) valueFrom(ctx context.Context, pod *corev1.Pod, ctr *corev1.Container, podIP string, from *corev1.EnvVarSource) (string, error) {
	switch {
	case from.FieldRef != nil:
		return fieldValue(pod, podIP, from.FieldRef.FieldPath)
	case from.ResourceFieldRef != nil:
		return resourceValue(ctr, from.ResourceFieldRef)
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := c.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			if v, ok := cm.Data[ref.Key]; ok {
				return v, nil
			}
			err = fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		if ref.Optional != nil && *ref.Optional {
			return "", nil
		}
		return "", err
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		s, err := c.client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			if v, ok := s.Data[ref.Key]; ok {
				return string(v), nil
			}
			err = fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		if ref.Optional != nil && *ref.Optional {
			return "", nil
		}
		return "", err
	}
	return "", errors.New("no value source")
}

// fieldValue is the downward API's value of a pod field.
func fieldValue(pod *corev1.Pod, podIP, field string) (string, error) {
	switch field {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	case "status.hostIP", "status.hostIPs":
		return pod.Status.HostIP, nil
	}
	for _, prefix := range []string{"metadata.labels['", "metadata.annotations['"} {
		if strings.HasPrefix(field, prefix) && strings.HasSuffix(field, "']") {
			key := field[len(prefix) : len(field)-2]
			if prefix == "metadata.labels['" {
				return pod.Labels[key], nil
			}
			return pod.Annotations[key], nil
		}
	}
	return "", fmt.Errorf("unsupported fieldRef %q", field)
}

// resourceValue is the downward API's value of a container resource, in
// the divisor's units (default 1), rounded up as the kubelet does.
func resourceValue(ctr *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	var q = ref.Divisor
	divisor := int64(1)
	if !q.IsZero() {
		divisor = q.MilliValue()
	}
	name, limit := strings.CutPrefix(ref.Resource, "limits.")
	if !limit {
		name = strings.TrimPrefix(ref.Resource, "requests.")
	}
	list := ctr.Resources.Requests
	if limit {
		list = ctr.Resources.Limits
	}
	v, ok := list[corev1.ResourceName(name)]
	if !ok {
		return "0", nil
	}
	if q.IsZero() {
		if name == "cpu" {
			return strconv.FormatInt((v.MilliValue()+999)/1000, 10), nil
		}
		return strconv.FormatInt(v.Value(), 10), nil
	}
	return strconv.FormatInt((v.MilliValue()+divisor-1)/divisor, 10), nil
}
