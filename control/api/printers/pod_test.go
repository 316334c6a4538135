package printers

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func running(ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: "web", Ready: ready, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(4 * time.Minute)}}}
}

func terminatedAt(d time.Duration) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", FinishedAt: ago(d)}}
}

func TestPodColumns(t *testing.T) {
	table := mustTable(t, &corev1.PodList{}, metav1.TableOptions{})
	if got, want := columnNames(table, false), []string{"Name", "Ready", "Status", "Restarts", "Age"}; !reflect.DeepEqual(got, want) {
		t.Errorf("columns = %v, want %v", got, want)
	}
	if got, want := columnNames(table, true), []string{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"}; !reflect.DeepEqual(got, want) {
		t.Errorf("wide columns = %v, want %v", got, want)
	}
	if table.Rows == nil || len(table.Rows) != 0 {
		t.Errorf("empty list rows = %#v, want empty non-nil slice", table.Rows)
	}
}

func TestPrintPod(t *testing.T) {
	always := ptr(corev1.ContainerRestartPolicyAlways)
	twoContainers := corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "web"}, {Name: "job"}}}
	oneContainer := corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "web"}}}
	twoInits := corev1.PodSpec{NodeName: "node-1", InitContainers: []corev1.Container{{Name: "init-a"}, {Name: "init-b"}}, Containers: []corev1.Container{{Name: "web"}}}
	ips := []corev1.PodIP{{IP: "10.42.0.7"}, {IP: "fd00::7"}}

	tests := []struct {
		name       string
		pod        corev1.Pod
		want       []any
		conditions []metav1.TableRowCondition
	}{{
		name: "running",
		pod: corev1.Pod{ObjectMeta: objMeta("web"), Spec: oneContainer, Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIPs: ips,
			ContainerStatuses: []corev1.ContainerStatus{running(true)},
		}},
		want: []any{"web", "1/1", "Running", "0", "5m", "10.42.0.7", "node-1", "<none>", "<none>"},
	}, {
		name: "crash looping",
		pod: corev1.Pod{ObjectMeta: objMeta("web"), Spec: oneContainer, Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIPs: ips,
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "web", RestartCount: 5,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: terminatedAt(2 * time.Minute),
			}},
		}},
		want: []any{"web", "0/1", "CrashLoopBackOff", "5 (2m ago)", "5m", "10.42.0.7", "node-1", "<none>", "<none>"},
	}, {
		name: "terminating",
		pod: corev1.Pod{ObjectMeta: func() metav1.ObjectMeta {
			m := objMeta("web")
			m.DeletionTimestamp = agoPtr(10 * time.Second)
			return m
		}(), Spec: oneContainer, Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIPs: ips,
			ContainerStatuses: []corev1.ContainerStatus{running(true)},
		}},
		want: []any{"web", "1/1", "Terminating", "0", "5m", "10.42.0.7", "node-1", "<none>", "<none>"},
	}, {
		name: "deleted on a lost node",
		pod: corev1.Pod{ObjectMeta: func() metav1.ObjectMeta {
			m := objMeta("web")
			m.DeletionTimestamp = agoPtr(10 * time.Second)
			return m
		}(), Spec: oneContainer, Status: corev1.PodStatus{Phase: corev1.PodRunning, Reason: "NodeLost"}},
		want: []any{"web", "0/1", "Unknown", "0", "5m", "<none>", "node-1", "<none>", "<none>"},
	}, {
		name: "succeeded and deleted stays Completed",
		pod: corev1.Pod{ObjectMeta: func() metav1.ObjectMeta {
			m := objMeta("job")
			m.DeletionTimestamp = agoPtr(10 * time.Second)
			return m
		}(), Spec: oneContainer, Status: corev1.PodStatus{
			Phase: corev1.PodSucceeded,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "web", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"},
			}}},
		}},
		want:       []any{"job", "0/1", "Completed", "0", "5m", "<none>", "node-1", "<none>", "<none>"},
		conditions: podSuccessConditions,
	}, {
		name: "failed with exit code and no reason",
		pod: corev1.Pod{ObjectMeta: objMeta("job"), Spec: oneContainer, Status: corev1.PodStatus{
			Phase: corev1.PodFailed,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "web", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: 137},
			}}},
		}},
		want:       []any{"job", "0/1", "ExitCode:137", "0", "5m", "<none>", "node-1", "<none>", "<none>"},
		conditions: podFailedConditions,
	}, {
		name: "killed by signal",
		pod: corev1.Pod{ObjectMeta: objMeta("job"), Spec: oneContainer, Status: corev1.PodStatus{
			Phase: corev1.PodFailed,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "web", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Signal: 9},
			}}},
		}},
		want:       []any{"job", "0/1", "Signal:9", "0", "5m", "<none>", "node-1", "<none>", "<none>"},
		conditions: podFailedConditions,
	}, {
		name: "one container completed, one still running and ready",
		pod: corev1.Pod{ObjectMeta: objMeta("web"), Spec: twoContainers, Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{running(true), {Name: "job", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"},
			}}},
		}},
		want: []any{"web", "1/2", "Running", "0", "5m", "<none>", "node-1", "<none>", "<none>"},
	}, {
		name: "one container completed, pod not ready",
		pod: corev1.Pod{ObjectMeta: objMeta("web"), Spec: twoContainers, Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
			ContainerStatuses: []corev1.ContainerStatus{running(true), {Name: "job", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"},
			}}},
		}},
		want: []any{"web", "1/2", "NotReady", "0", "5m", "<none>", "node-1", "<none>", "<none>"},
	}, {
		name: "pending, creating containers",
		pod: corev1.Pod{ObjectMeta: objMeta("web"), Spec: oneContainer, Status: corev1.PodStatus{
			Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "web", State: corev1.ContainerState{
				Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"},
			}}},
		}},
		want: []any{"web", "0/1", "ContainerCreating", "0", "5m", "<none>", "node-1", "<none>", "<none>"},
	}, {
		name: "scheduling gated",
		pod: corev1.Pod{ObjectMeta: objMeta("web"), Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web"}}}, Status: corev1.PodStatus{
			Phase:      corev1.PodPending,
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}},
		}},
		want: []any{"web", "0/1", "SchedulingGated", "0", "5m", "<none>", "<none>", "<none>", "<none>"},
	}, {
		name: "pending, preemption nominated a node",
		pod: corev1.Pod{ObjectMeta: objMeta("web"), Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web"}}}, Status: corev1.PodStatus{
			Phase: corev1.PodPending, NominatedNodeName: "node-2",
		}},
		want: []any{"web", "0/1", "Pending", "0", "5m", "<none>", "<none>", "node-2", "<none>"},
	}, {
		name: "first of two init containers running",
		pod: corev1.Pod{ObjectMeta: objMeta("web"), Spec: twoInits, Status: corev1.PodStatus{
			Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "init-a", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
				{Name: "init-b", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "web", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}},
		}},
		want: []any{"web", "0/1", "Init:0/2", "0", "5m", "<none>", "node-1", "<none>", "<none>"},
	}, {
		name: "second init container running",
		pod: corev1.Pod{ObjectMeta: objMeta("web"), Spec: twoInits, Status: corev1.PodStatus{
			Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "init-a", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}},
				{Name: "init-b", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			},
		}},
		want: []any{"web", "0/1", "Init:1/2", "0", "5m", "<none>", "node-1", "<none>", "<none>"},
	}, {
		name: "init container crash looping counts its restarts",
		pod: corev1.Pod{ObjectMeta: objMeta("web"), Spec: twoInits, Status: corev1.PodStatus{
			Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{{
				Name: "init-a", RestartCount: 3,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: terminatedAt(30 * time.Second),
			}},
		}},
		want: []any{"web", "0/1", "Init:CrashLoopBackOff", "3 (30s ago)", "5m", "<none>", "node-1", "<none>", "<none>"},
	}, {
		name: "init container failed with a reason",
		pod: corev1.Pod{ObjectMeta: objMeta("web"), Spec: twoInits, Status: corev1.PodStatus{
			Phase:                 corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "init-a", State: terminatedAt(time.Minute)}},
		}},
		want: []any{"web", "0/1", "Init:Error", "0", "5m", "<none>", "node-1", "<none>", "<none>"},
	}, {
		name: "init container failed with an exit code",
		pod: corev1.Pod{ObjectMeta: objMeta("web"), Spec: twoInits, Status: corev1.PodStatus{
			Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "init-a", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: 2},
			}}},
		}},
		want: []any{"web", "0/1", "Init:ExitCode:2", "0", "5m", "<none>", "node-1", "<none>", "<none>"},
	}, {
		name: "init container killed by a signal",
		pod: corev1.Pod{ObjectMeta: objMeta("web"), Spec: twoInits, Status: corev1.PodStatus{
			Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "init-a", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: 143, Signal: 15},
			}}},
		}},
		want: []any{"web", "0/1", "Init:Signal:15", "0", "5m", "<none>", "node-1", "<none>", "<none>"},
	}, {
		name: "sidecar counts towards ready and its restarts stay after init",
		pod: corev1.Pod{ObjectMeta: objMeta("web"), Spec: corev1.PodSpec{
			NodeName:       "node-1",
			InitContainers: []corev1.Container{{Name: "init"}, {Name: "proxy", RestartPolicy: always}},
			Containers:     []corev1.Container{{Name: "web"}},
		}, Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}},
			InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "init", RestartCount: 2, LastTerminationState: terminatedAt(time.Minute), State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}},
				{Name: "proxy", RestartCount: 1, LastTerminationState: terminatedAt(3 * time.Minute), Started: ptr(true), Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			},
			ContainerStatuses: []corev1.ContainerStatus{running(true)},
		}},
		want: []any{"web", "2/2", "Running", "1 (3m ago)", "5m", "<none>", "node-1", "<none>", "<none>"},
	}, {
		name: "readiness gates",
		pod: corev1.Pod{ObjectMeta: objMeta("web"), Spec: corev1.PodSpec{
			NodeName:       "node-1",
			Containers:     []corev1.Container{{Name: "web"}},
			ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/dns"}},
		}, Status: corev1.PodStatus{
			Phase:             corev1.PodRunning,
			Conditions:        []corev1.PodCondition{{Type: "example.com/lb", Status: corev1.ConditionTrue}, {Type: "example.com/dns", Status: corev1.ConditionFalse}},
			ContainerStatuses: []corev1.ContainerStatus{running(true)},
		}},
		want: []any{"web", "1/1", "Running", "0", "5m", "<none>", "node-1", "<none>", "1/2"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := mustTable(t, &tt.pod, metav1.TableOptions{})
			if len(table.Rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(table.Rows))
			}
			checkCells(t, table.Rows[0].Cells, tt.want)
			if !reflect.DeepEqual(table.Rows[0].Conditions, tt.conditions) {
				t.Errorf("conditions = %#v, want %#v", table.Rows[0].Conditions, tt.conditions)
			}
		})
	}
}

func TestPodListRowsFollowItems(t *testing.T) {
	list := &corev1.PodList{Items: []corev1.Pod{
		{ObjectMeta: objMeta("a"), Status: corev1.PodStatus{Phase: corev1.PodPending}},
		{ObjectMeta: objMeta("b"), Status: corev1.PodStatus{Phase: corev1.PodSucceeded}},
	}}
	table := mustTable(t, list, metav1.TableOptions{})
	if len(table.Rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(table.Rows))
	}
	for i, want := range []string{"a", "b"} {
		if got := table.Rows[i].Cells[0]; got != want {
			t.Errorf("row %d name = %v, want %s", i, got, want)
		}
	}
	if table.Rows[0].Conditions != nil || !reflect.DeepEqual(table.Rows[1].Conditions, podSuccessConditions) {
		t.Errorf("conditions = %v, %v; want none, then Completed", table.Rows[0].Conditions, table.Rows[1].Conditions)
	}
}
