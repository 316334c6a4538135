package apibench

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	namespace = "default"
	// podPrefix and podDigits make every pod name, and so every stored key,
	// the same length.
	podPrefix = "apibench-"
	podDigits = 6
	maxPods   = 1_000_000 // 10^podDigits
	// viaLabel names the server a pod was created through, so that the
	// watch on the next server can select exactly those pods.
	viaLabel = "apibench.skiff.sh/via"
)

// podName is the name of the i-th pod.
func podName(i int) string { return fmt.Sprintf("%s%0*d", podPrefix, podDigits, i) }

// podIndex inverts podName; ok is false for names podName does not make.
func podIndex(name string) (int, bool) {
	digits, ok := strings.CutPrefix(name, podPrefix)
	if !ok || len(digits) != podDigits {
		return 0, false
	}
	i, err := strconv.Atoi(digits)
	if err != nil || i < 0 {
		return 0, false
	}
	return i, true
}

// unscheduledScheduler is the schedulerName of the benchmark's pods: no
// scheduler serves it, so the pods stay unscheduled and the run measures
// the API (the default scheduler would otherwise retry every pod of a
// cluster without nodes and write a FailedScheduling event for each).
const unscheduledScheduler = "apibench-unscheduled"

// newPod is the i-th pod, created through server via: unscheduled, one
// nginx-like container with modest requests, as a small Deployment's pod is.
func newPod(i int, via string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      podName(i),
			Namespace: namespace,
			Labels:    map[string]string{"app": "apibench", viaLabel: via},
		},
		Spec: corev1.PodSpec{
			SchedulerName: unscheduledScheduler,
			Containers: []corev1.Container{{
				Name:  "web",
				Image: "docker.io/library/nginx:1.27",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("100m"),
						corev1.ResourceMemory: resource.MustParse("64Mi"),
					},
				},
			}},
		},
	}
}

// podKey is where the store keeps the i-th pod.
func podKey(i int) string { return "/registry/pods/" + namespace + "/" + podName(i) }

// putKey is the i-th raw put's key: as long as podKey(i), outside the
// prefixes the API server reads.
func putKey(i int) string { return "/apibench/puts/" + namespace + "/" + podName(i) }
