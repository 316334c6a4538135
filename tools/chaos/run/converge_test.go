package run

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func node(name, cpu, mem string) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}}
}

func pod(uid, nodeName, cpu, mem string, phase corev1.PodPhase) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p-" + uid, UID: types.UID(uid)},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}}}},
		Status: corev1.PodStatus{Phase: phase}}
}

func TestOvercommitted(t *testing.T) {
	nodes := []corev1.Node{node("a", "1", "1Gi"), node("b", "2", "1Gi")}
	tests := []struct {
		name string
		pods []corev1.Pod
		want []string // substrings, one per violation
	}{
		{"fits", []corev1.Pod{pod("1", "a", "500m", "512Mi", corev1.PodRunning), pod("2", "a", "500m", "512Mi", corev1.PodRunning)}, nil},
		{"memory over", []corev1.Pod{pod("1", "a", "100m", "768Mi", corev1.PodRunning), pod("2", "a", "100m", "768Mi", corev1.PodPending)}, []string{"node a: pods request 1536Mi memory"}},
		{"cpu over on b", []corev1.Pod{pod("1", "b", "1500m", "1Mi", corev1.PodRunning), pod("2", "b", "1", "1Mi", corev1.PodRunning)}, []string{"node b: pods request 2500m CPU"}},
		{"finished and unbound pods do not count", []corev1.Pod{pod("1", "a", "1", "1Gi", corev1.PodRunning), pod("2", "a", "1", "1Gi", corev1.PodSucceeded), pod("3", "", "9", "9Gi", corev1.PodPending)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Overcommitted(nodes, tt.pods)
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %d violations like %q", got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("violation %q lacks %q", got[i], tt.want[i])
				}
			}
		})
	}
}

func TestBindingsCatchAPodOnTwoNodes(t *testing.T) {
	var b bindings
	b.observe([]corev1.Pod{pod("1", "a", "0", "0", ""), pod("2", "", "0", "0", "")})
	b.observe([]corev1.Pod{pod("1", "a", "0", "0", ""), pod("2", "b", "0", "0", "")})
	if d := b.doubles(); len(d) != 0 {
		t.Fatalf("binding once flagged: %v", d)
	}
	b.observe([]corev1.Pod{pod("1", "b", "0", "0", "")})
	if d := b.doubles(); len(d) != 1 || !strings.Contains(d[0], "bound to a, then to b") {
		t.Errorf("doubles %v, want pod 1 bound to a then b", d)
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err == nil {
		t.Error("a config without a binary was accepted")
	}
	c.Binary = "/bin/skiff"
	if err := c.Validate(); err != nil {
		t.Errorf("default config with a binary: %v", err)
	}
	c.Faults = nil
	if err := c.Validate(); err == nil {
		t.Error("a config without faults was accepted")
	}
}
