package scheduler

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-sh/skiff/control/scheduler/records"
	"github.com/skiff-sh/skiff/wasm/abi"
)

// podInput is a pod's record; needStrings says the policy must see the string table (Gt/Lt
// requirements, tolerations of taints by key).
type podInput struct {
	abi.PodInput
	owner       string
	needStrings bool
}

// newPodInput describes a pod for the policy, interning its strings.
func newPodInput(pod *corev1.Pod, strs, owners *records.Interner) podInput {
	p := podInput{owner: records.ControllerUID(&pod.ObjectMeta)}
	p.PodInput, p.needStrings = records.Pod(pod, strs, owners)
	return p
}

// untoleratedTaint is the text of the first NoSchedule or NoExecute taint of r the pod does not
// tolerate, as kube-scheduler's TaintToleration words it.
func untoleratedTaint(r *abi.NodeInput, tols []abi.Toleration, strs *records.Interner) string {
	for _, t := range r.Taints {
		if t.Effect == abi.EffectPreferNoSchedule {
			continue
		}
		ok := false
		for _, tol := range tols {
			if tol.Tolerates(t) {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Sprintf("{%s: %s}", strs.Text(t.Key), strs.Text(t.Value))
		}
	}
	return ""
}
