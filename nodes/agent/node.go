package agent

import (
	"bufio"
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-sh/skiff/nodes/runtime"
)

// capacity is the node's: the machine's CPUs and memory unless configured.
func (a *Agent) capacity() corev1.ResourceList {
	cpu := a.cfg.CPU
	if cpu.IsZero() {
		cpu = *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI)
	}
	mem := a.cfg.Memory
	if mem.IsZero() {
		var si unix.Sysinfo_t
		if unix.Sysinfo(&si) == nil {
			mem = *resource.NewQuantity(int64(si.Totalram)*int64(si.Unit), resource.BinarySI)
		}
	}
	pods := a.cfg.MaxPods
	if pods <= 0 {
		pods = DefaultMaxPods
	}
	return corev1.ResourceList{
		corev1.ResourceCPU:    cpu,
		corev1.ResourceMemory: mem,
		corev1.ResourcePods:   *resource.NewQuantity(int64(pods), resource.DecimalSI),
	}
}

// nodeInfo describes the machine as the kubelet's NodeSystemInfo does.
func (a *Agent) nodeInfo(runtimeVersion string) corev1.NodeSystemInfo {
	var uts unix.Utsname
	unix.Uname(&uts) //nolint:errcheck // never fails
	machineID, _ := os.ReadFile("/etc/machine-id")
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return corev1.NodeSystemInfo{
		MachineID:               strings.TrimSpace(string(machineID)),
		BootID:                  strings.TrimSpace(string(bootID)),
		KernelVersion:           unix.ByteSliceToString(uts.Release[:]),
		OSImage:                 osImage(),
		ContainerRuntimeVersion: runtimeVersion,
		KubeletVersion:          a.cfg.Version,
		OperatingSystem:         goruntime.GOOS,
		Architecture:            goruntime.GOARCH,
	}
}

func osImage() string {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

// desiredStatus is the node's status now; conditions' heartbeat is now.
func (a *Agent) desiredStatus(old *corev1.NodeStatus, runtimeVersion string) corev1.NodeStatus {
	now := metav1.Now()
	capacity := a.capacity()
	st := corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity.DeepCopy(),
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: a.cfg.NodeIP.String()},
			{Type: corev1.NodeHostName, Address: a.cfg.NodeName},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(a.cfg.LogPort)}},
		NodeInfo:        a.nodeInfo(runtimeVersion),
	}
	if old != nil {
		st.Images = old.Images
	}
	conds := []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "skiff node is posting ready status"},
	}
	for _, c := range conds {
		c.LastHeartbeatTime, c.LastTransitionTime = now, now
		if old != nil {
			for _, o := range old.Conditions {
				if o.Type == c.Type && o.Status == c.Status {
					c.LastTransitionTime = o.LastTransitionTime
				}
			}
		}
		st.Conditions = append(st.Conditions, c)
	}
	return st
}

// register creates the Node, or takes over the one a previous run left.
func (a *Agent) register(ctx context.Context) (*corev1.Node, error) {
	nodes := a.client.CoreV1().Nodes()
	labels := map[string]string{
		"kubernetes.io/hostname": a.cfg.NodeName,
		"kubernetes.io/os":       goruntime.GOOS,
		"kubernetes.io/arch":     goruntime.GOARCH,
	}
	for k, v := range a.cfg.Labels {
		labels[k] = v
	}
	for {
		n, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			n, err = nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Labels: labels}}, metav1.CreateOptions{FieldManager: "skiff-node"})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			a.log.Warn("register node (retrying)", "err", err)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		changed := false
		for k, v := range labels {
			if n.Labels[k] != v {
				if n.Labels == nil {
					n.Labels = map[string]string{}
				}
				n.Labels[k], changed = v, true
			}
		}
		if changed {
			if n, err = nodes.Update(ctx, n, metav1.UpdateOptions{FieldManager: "skiff-node"}); err != nil {
				a.log.Warn("label node (retrying)", "err", err)
				continue
			}
		}
		a.log.Info("node registered", "ip", a.cfg.NodeIP)
		return n, nil
	}
}

// postStatus posts the node's status at once, then whenever it changes and
// at least every 5 minutes (the kubelet's nodeStatusReportFrequency).
func (a *Agent) postStatus(ctx context.Context, rt *runtime.Runtime) error {
	version := "containerd://unknown"
	if v, err := rt.Client().Version(ctx); err == nil {
		version = "containerd://" + v.Version
	}
	var posted time.Time
	var last *corev1.NodeStatus
	t := time.NewTicker(statusInterval)
	defer t.Stop()
	for {
		n, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if err == nil {
			want := a.desiredStatus(&n.Status, version)
			if last == nil || time.Since(posted) >= statusReportMax || !sameStatus(*last, want) || !sameConditions(n.Status, want) {
				n.Status = want
				if _, err = a.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{FieldManager: "skiff-node"}); err == nil {
					posted, last = time.Now(), &want
				}
			}
		}
		if err != nil && ctx.Err() == nil {
			a.log.Warn("post node status", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sameConditions reports whether the stored status has the conditions this
// daemon would post: the node lifecycle controller turns them Unknown when it
// loses touch with the node, and the node says otherwise once it is back.
func sameConditions(stored, want corev1.NodeStatus) bool {
	if len(stored.Conditions) != len(want.Conditions) {
		return false
	}
	for _, w := range want.Conditions {
		found := false
		for _, s := range stored.Conditions {
			found = found || (s.Type == w.Type && s.Status == w.Status && s.Reason == w.Reason)
		}
		if !found {
			return false
		}
	}
	return true
}

// sameStatus compares statuses without heartbeat times.
func sameStatus(a, b corev1.NodeStatus) bool {
	a, b = *a.DeepCopy(), *b.DeepCopy()
	for _, s := range []*corev1.NodeStatus{&a, &b} {
		for i := range s.Conditions {
			s.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
	}
	return equality.Semantic.DeepEqual(a, b)
}

// renewLease keeps the node's Lease fresh every 10 s.
func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.client.CoordinationV1().Leases(leaseNamespace)
	holder, duration := a.cfg.NodeName, int32(leaseDuration/time.Second)
	t := time.NewTicker(renewInterval)
	defer t.Stop()
	for {
		now := metav1.NewMicroTime(time.Now())
		l, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			l = &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: leaseNamespace},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &duration, RenewTime: &now},
			}
			if node, gerr := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{}); gerr == nil {
				l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
			}
			_, err = leases.Create(ctx, l, metav1.CreateOptions{FieldManager: "skiff-node"})
		case err == nil:
			l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &holder, &duration, &now
			_, err = leases.Update(ctx, l, metav1.UpdateOptions{FieldManager: "skiff-node"})
		}
		if err != nil && ctx.Err() == nil {
			a.log.Warn("renew node lease", "err", fmt.Errorf("lease %s/%s: %w", leaseNamespace, a.cfg.NodeName, err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
