package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// wantErr describes one expected field error: its type, its exact field
// path and a part of its detail ("" matches any detail).
type wantErr struct {
	typ    field.ErrorType
	field  string
	detail string
}

func invalid(path, detail string) wantErr  { return wantErr{field.ErrorTypeInvalid, path, detail} }
func required(path, detail string) wantErr { return wantErr{field.ErrorTypeRequired, path, detail} }
func forbidden(path, detail string) wantErr {
	return wantErr{field.ErrorTypeForbidden, path, detail}
}
func notSupported(path string) wantErr { return wantErr{field.ErrorTypeNotSupported, path, ""} }
func duplicate(path string) wantErr    { return wantErr{field.ErrorTypeDuplicate, path, ""} }
func notFound(path string) wantErr     { return wantErr{field.ErrorTypeNotFound, path, ""} }
func tooLong(path string) wantErr      { return wantErr{field.ErrorTypeTooLong, path, ""} }

// checkErrs requires got to hold exactly the wanted errors, in any order.
func checkErrs(t *testing.T, got field.ErrorList, want ...wantErr) {
	t.Helper()
	used := make([]bool, len(got))
	ok := len(got) == len(want)
	for _, w := range want {
		found := false
		for i, e := range got {
			if !used[i] && e.Type == w.typ && e.Field == w.field && strings.Contains(e.Detail, w.detail) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			ok = false
		}
	}
	if !ok {
		var b strings.Builder
		for _, e := range got {
			b.WriteString("\n\t" + e.Error())
		}
		t.Errorf("got %d errors:%s\nwant %d: %+v", len(got), b.String(), len(want), want)
	}
}

func ptr[T any](v T) *T { return &v }

func objectMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceDefault}
}

// validPodSpec is a defaulted pod spec exercising most checked fields.
func validPodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		Containers: []corev1.Container{{
			Name:  "app",
			Image: "nginx:1.27",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
			Env: []corev1.EnvVar{
				{Name: "MODE", Value: "prod"},
				{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
			},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			},
			VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
				TimeoutSeconds:   1,
				PeriodSeconds:    10,
				SuccessThreshold: 1,
				FailureThreshold: 3,
			},
			LivenessProbe: &corev1.Probe{
				ProbeHandler:     corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}},
				TimeoutSeconds:   1,
				PeriodSeconds:    10,
				SuccessThreshold: 1,
				FailureThreshold: 3,
			},
			TerminationMessagePath:   corev1.TerminationMessagePathDefault,
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			ImagePullPolicy:          corev1.PullIfNotPresent,
		}},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		TerminationGracePeriodSeconds: ptr(int64(30)),
		DNSPolicy:                     corev1.DNSClusterFirst,
		SchedulerName:                 corev1.DefaultSchedulerName,
		Tolerations: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr(int64(300))}},
	}
}

func validPod() *corev1.Pod {
	return &corev1.Pod{ObjectMeta: objectMeta("web-0"), Spec: validPodSpec()}
}

// withRV returns m with a resource version, as
// the API server sets before validating an update.
func withRV(m metav1.ObjectMeta) metav1.ObjectMeta {
	m.ResourceVersion = "7"
	return m
}
