package nscontroller

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The conditions kube-controller-manager's namespace deleter keeps, with
// their reasons and messages when all is well (status_condition_utils.go).
var (
	conditionTypes = []corev1.NamespaceConditionType{
		corev1.NamespaceDeletionDiscoveryFailure,
		corev1.NamespaceDeletionGVParsingFailure,
		corev1.NamespaceDeletionContentFailure,
		corev1.NamespaceContentRemaining,
		corev1.NamespaceFinalizersRemaining,
	}
	okMessages = map[corev1.NamespaceConditionType]string{
		corev1.NamespaceDeletionDiscoveryFailure: "All resources successfully discovered",
		corev1.NamespaceDeletionGVParsingFailure: "All legacy kube types successfully parsed",
		corev1.NamespaceDeletionContentFailure:   "All content successfully deleted, may be waiting on finalization",
		corev1.NamespaceContentRemaining:         "All content successfully removed",
		corev1.NamespaceFinalizersRemaining:      "All content successfully removed",
	}
	okReasons = map[corev1.NamespaceConditionType]string{
		corev1.NamespaceDeletionDiscoveryFailure: "ResourcesDiscovered",
		corev1.NamespaceDeletionGVParsingFailure: "ParsedGroupVersions",
		corev1.NamespaceDeletionContentFailure:   "ContentDeleted",
		corev1.NamespaceContentRemaining:         "ContentRemoved",
		corev1.NamespaceFinalizersRemaining:      "ContentRemoved",
	}
)

// conditions are the failing conditions c calls for; the others are set to
// their fine variant by updateConditions. Skiff discovers its resources in
// process, so the discovery conditions never fail.
func (c content) conditions() []corev1.NamespaceCondition {
	var out []corev1.NamespaceCondition
	if len(c.failures) > 0 {
		msgs := make([]string, 0, len(c.failures))
		for _, err := range c.failures {
			msgs = append(msgs, err.Error())
		}
		sort.Strings(msgs)
		out = append(out, corev1.NamespaceCondition{
			Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionTrue, Reason: "ContentDeletionFailed",
			Message: fmt.Sprintf("Failed to delete all resource types, %d remaining: %v", len(c.failures), strings.Join(msgs, ", ")),
		})
	}
	if s := counts(c.remaining, "%s has %d resource instances"); s != "" {
		out = append(out, corev1.NamespaceCondition{
			Type: corev1.NamespaceContentRemaining, Status: corev1.ConditionTrue, Reason: "SomeResourcesRemain",
			Message: "Some resources are remaining: " + s,
		})
	}
	if s := counts(c.finalizers, "%s in %d resource instances"); s != "" {
		out = append(out, corev1.NamespaceCondition{
			Type: corev1.NamespaceFinalizersRemaining, Status: corev1.ConditionTrue, Reason: "SomeFinalizerRemain",
			Message: "Some finalizers are remaining: " + s,
		})
	}
	return out
}

// counts formats the non-zero counts of m, sorted, comma-separated.
func counts(m map[string]int, format string) string {
	var parts []string
	for k, n := range m {
		if n > 0 {
			parts = append(parts, fmt.Sprintf(format, k, n))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// updateConditions sets every condition type the controller keeps in
// status: the failing ones from failing, the others to their fine variant.
// A condition's lastTransitionTime moves only when its status changes. It
// reports whether anything changed.
func updateConditions(status *corev1.NamespaceStatus, failing []corev1.NamespaceCondition, now metav1.Time) bool {
	changed := false
	for _, t := range conditionTypes {
		want := corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, Reason: okReasons[t], Message: okMessages[t]}
		for _, c := range failing {
			if c.Type == t {
				want = c
			}
		}
		want.LastTransitionTime = now
		i := slices.IndexFunc(status.Conditions, func(c corev1.NamespaceCondition) bool { return c.Type == t })
		if i < 0 {
			status.Conditions = append(status.Conditions, want)
			changed = true
			continue
		}
		old := &status.Conditions[i]
		if old.Status == want.Status && old.Reason == want.Reason && old.Message == want.Message {
			continue
		}
		if old.Status != want.Status {
			old.LastTransitionTime = now
		}
		old.Status, old.Reason, old.Message = want.Status, want.Reason, want.Message
		changed = true
	}
	return changed
}
