package nscontroller

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestGracePeriods(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(d)); return &t }
	for _, tc := range []struct {
		name        string
		ts          *metav1.Time
		grace       *int64
		wantPending time.Duration
		wantOverdue bool
	}{
		{"not deleting", nil, nil, 0, false},
		{"within its grace period", at(20 * time.Second), new(int64(30)), 20 * time.Second, false},
		{"grace period just over", at(0), new(int64(30)), 0, true},
		{"grace period long over", at(-time.Hour), new(int64(30)), 0, true},
		{"confirmed, held by a finalizer", at(-time.Hour), new(int64(0)), 0, false},
		{"no grace period recorded", at(-time.Hour), nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &metav1.ObjectMeta{DeletionTimestamp: tc.ts, DeletionGracePeriodSeconds: tc.grace}
			d, pending := gracePending(m, now)
			if d != tc.wantPending || pending != (tc.wantPending > 0) {
				t.Errorf("gracePending = %v %v, want %v", d, pending, tc.wantPending)
			}
			if got := overdue(m, now); got != tc.wantOverdue {
				t.Errorf("overdue = %v, want %v", got, tc.wantOverdue)
			}
		})
	}
}

func TestConditions(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	var status corev1.NamespaceStatus

	stuck := content{
		remaining:  map[string]int{"pods.": 2, "deployments.apps": 1, "secrets.": 0},
		finalizers: map[string]int{"example.com/b": 1, "example.com/a": 2},
		failures:   []error{errors.New("z failed"), errors.New("a failed")},
	}
	if !updateConditions(&status, stuck.conditions(), t0) {
		t.Fatal("first update reported no change")
	}
	want := map[corev1.NamespaceConditionType]string{
		corev1.NamespaceDeletionDiscoveryFailure: "False ResourcesDiscovered All resources successfully discovered",
		corev1.NamespaceDeletionGVParsingFailure: "False ParsedGroupVersions All legacy kube types successfully parsed",
		corev1.NamespaceDeletionContentFailure:   "True ContentDeletionFailed Failed to delete all resource types, 2 remaining: a failed, z failed",
		corev1.NamespaceContentRemaining:         "True SomeResourcesRemain Some resources are remaining: deployments.apps has 1 resource instances, pods. has 2 resource instances",
		corev1.NamespaceFinalizersRemaining:      "True SomeFinalizerRemain Some finalizers are remaining: example.com/a in 2 resource instances, example.com/b in 1 resource instances",
	}
	check := func(want map[corev1.NamespaceConditionType]string, wantTime map[corev1.NamespaceConditionType]metav1.Time) {
		t.Helper()
		if len(status.Conditions) != len(want) {
			t.Errorf("%d conditions, want %d", len(status.Conditions), len(want))
		}
		for _, c := range status.Conditions {
			if got := string(c.Status) + " " + c.Reason + " " + c.Message; got != want[c.Type] {
				t.Errorf("%s = %q, want %q", c.Type, got, want[c.Type])
			}
			if !c.LastTransitionTime.Equal(new(wantTime[c.Type])) {
				t.Errorf("%s changed at %v, want %v", c.Type, c.LastTransitionTime, wantTime[c.Type])
			}
		}
	}
	all := func(tm metav1.Time) map[corev1.NamespaceConditionType]metav1.Time {
		m := map[corev1.NamespaceConditionType]metav1.Time{}
		for _, typ := range conditionTypes {
			m[typ] = tm
		}
		return m
	}
	check(want, all(t0))

	// The same again changes nothing.
	if updateConditions(&status, stuck.conditions(), t1) {
		t.Error("same conditions reported a change")
	}

	// Content gone: the failing ones turn fine, at t1; the others keep t0.
	if !updateConditions(&status, content{}.conditions(), t1) {
		t.Fatal("emptied content reported no change")
	}
	want[corev1.NamespaceDeletionContentFailure] = "False ContentDeleted All content successfully deleted, may be waiting on finalization"
	want[corev1.NamespaceContentRemaining] = "False ContentRemoved All content successfully removed"
	want[corev1.NamespaceFinalizersRemaining] = "False ContentRemoved All content successfully removed"
	times := all(t1)
	times[corev1.NamespaceDeletionDiscoveryFailure] = t0
	times[corev1.NamespaceDeletionGVParsingFailure] = t0
	check(want, times)
}
