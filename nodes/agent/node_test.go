package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The daemon re-posts its status when the stored conditions are not the
// ones it would post (the node lifecycle controller turned them Unknown).
func TestSameConditions(t *testing.T) {
	want := corev1.NodeStatus{Conditions: []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory"},
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"},
	}}
	unknown := *want.DeepCopy()
	unknown.Conditions[1].Status, unknown.Conditions[1].Reason = corev1.ConditionUnknown, "NodeStatusUnknown"
	reordered := corev1.NodeStatus{Conditions: []corev1.NodeCondition{want.Conditions[1], want.Conditions[0]}}
	for _, c := range []struct {
		name   string
		stored corev1.NodeStatus
		same   bool
	}{
		{"as posted", want, true},
		{"reordered", reordered, true},
		{"turned Unknown by the controller", unknown, false},
		{"none stored", corev1.NodeStatus{}, false},
	} {
		if got := sameConditions(c.stored, want); got != c.same {
			t.Errorf("%s: sameConditions = %v, want %v", c.name, got, c.same)
		}
	}
}
