package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
		Spec:       validPodSpec(),
	}
}

// validDeployment is a Deployment as apps/v1 defaulting leaves it.
func validDeployment() *appsv1.Deployment {
	maxUnavailable, maxSurge := intstr.FromString("25%"), intstr.FromString("25%")
	return &appsv1.Deployment{
		ObjectMeta: objectMeta("web"),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: validTemplate(),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &maxUnavailable, MaxSurge: &maxSurge}},
			RevisionHistoryLimit:    ptr(int32(10)),
			ProgressDeadlineSeconds: ptr(int32(600)),
		},
	}
}

func TestDeploymentCreate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		want   []wantErr
	}{
		{"valid", func(d *appsv1.Deployment) {}, nil},
		{"valid Recreate", func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}, nil},
		{"valid zero replicas and history", func(d *appsv1.Deployment) {
			d.Spec.Replicas, d.Spec.RevisionHistoryLimit = ptr(int32(0)), ptr(int32(0))
		}, nil},
		{"valid selector expression", func(d *appsv1.Deployment) {
			d.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"front", "back"}}}}
		}, nil},

		{"bad name", func(d *appsv1.Deployment) { d.Name = "Web" },
			[]wantErr{invalid("metadata.name", "")}},
		{"negative replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(-1)) },
			[]wantErr{invalid("spec.replicas", "must be greater than or equal to 0")}},
		// As in Kubernetes, a nil selector selects nothing, so it does not
		// match the template either.
		{"missing selector", func(d *appsv1.Deployment) { d.Spec.Selector = nil },
			[]wantErr{required("spec.selector", ""), invalid("spec.template.metadata.labels", "`selector` does not match template `labels`")}},
		{"empty selector", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} },
			[]wantErr{invalid("spec.selector", "empty selector is invalid for deployment")}},
		{"bad selector operator", func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near", Values: []string{"x"}}}
		}, []wantErr{invalid("spec.selector.matchExpressions[0].operator", "not a valid selector operator"), invalid("spec.selector", "invalid label selector")}},
		{"selector does not match template", func(d *appsv1.Deployment) { d.Spec.Selector.MatchLabels = map[string]string{"app": "api"} },
			[]wantErr{invalid("spec.template.metadata.labels", "`selector` does not match template `labels`")}},
		{"template restartPolicy Never", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			[]wantErr{notSupported("spec.template.spec.restartPolicy")}},
		{"template activeDeadlineSeconds", func(d *appsv1.Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr(int64(60)) },
			[]wantErr{invalid("spec.template.spec.activeDeadlineSeconds", "is not Supported")}},
		{"template container without image", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" },
			[]wantErr{required("spec.template.spec.containers[0].image", "")}},
		{"template without containers", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers = nil },
			[]wantErr{required("spec.template.spec.containers", "")}},
		{"template bad label", func(d *appsv1.Deployment) { d.Spec.Template.Labels["tier"] = "front end" },
			[]wantErr{invalid("spec.template.labels", "")}},
		{"template ephemeral containers", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		}, []wantErr{forbidden("spec.template.spec.ephemeralContainers", "ephemeral containers not allowed in pod template")}},
		{"template host port zero with hostNetwork", func(d *appsv1.Deployment) { d.Spec.Template.Spec.HostNetwork = true }, nil},
		{"both surge and unavailable zero", func(d *appsv1.Deployment) {
			zero := intstr.FromInt32(0)
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &zero}
		}, []wantErr{invalid("spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when `maxSurge` is 0")}},
		{"zero percent both", func(d *appsv1.Deployment) {
			zero := intstr.FromString("0%")
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &zero}
		}, []wantErr{invalid("spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when `maxSurge` is 0")}},
		{"max unavailable over 100%", func(d *appsv1.Deployment) {
			v := intstr.FromString("110%")
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = &v
		}, []wantErr{invalid("spec.strategy.rollingUpdate.maxUnavailable", "must not be greater than 100%")}},
		{"bad percent", func(d *appsv1.Deployment) {
			v := intstr.FromString("half")
			d.Spec.Strategy.RollingUpdate.MaxSurge = &v
		}, []wantErr{invalid("spec.strategy.rollingUpdate.maxSurge", "a valid percent string")}},
		{"negative surge", func(d *appsv1.Deployment) {
			v := intstr.FromInt32(-1)
			d.Spec.Strategy.RollingUpdate.MaxSurge = &v
		}, []wantErr{invalid("spec.strategy.rollingUpdate.maxSurge", "must be greater than or equal to 0")}},
		{"Recreate with rollingUpdate", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType },
			[]wantErr{forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")}},
		{"unknown strategy", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" },
			[]wantErr{notSupported("spec.strategy")}},
		{"negative revision history", func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr(int32(-1)) },
			[]wantErr{invalid("spec.revisionHistoryLimit", "must be greater than or equal to 0")}},
		{"negative minReadySeconds", func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = -1 },
			[]wantErr{invalid("spec.minReadySeconds", "must be greater than or equal to 0")}},
		{"progress deadline not above minReadySeconds", func(d *appsv1.Deployment) { d.Spec.MinReadySeconds = 600 },
			[]wantErr{invalid("spec.progressDeadlineSeconds", "must be greater than minReadySeconds")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDeployment()
			tt.mutate(d)
			checkErrs(t, ValidateCreate(d), tt.want...)
		})
	}
}

func TestDeploymentUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *appsv1.Deployment)
		want   []wantErr
	}{
		{"scale and new image", func(d *appsv1.Deployment) {
			d.Spec.Replicas = ptr(int32(5))
			d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
		}, nil},
		{"selector changed", func(d *appsv1.Deployment) { d.Spec.Selector.MatchLabels["tier"] = "front" },
			[]wantErr{invalid("spec.selector", "field is immutable")}},
		{"selector changed and no longer matching", func(d *appsv1.Deployment) { d.Spec.Selector.MatchLabels = map[string]string{"app": "api"} },
			[]wantErr{invalid("spec.selector", "field is immutable"), invalid("spec.template.metadata.labels", "`selector` does not match template `labels`")}},
		{"missing resource version", func(d *appsv1.Deployment) { d.ResourceVersion = "" },
			[]wantErr{invalid("metadata.resourceVersion", "must be specified for an update")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validDeployment()
			old.ObjectMeta = withRV(old.ObjectMeta)
			d := old.DeepCopy()
			tt.mutate(d)
			checkErrs(t, ValidateUpdate(d, old), tt.want...)
		})
	}
}

func TestDeploymentStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		status appsv1.DeploymentStatus
		want   []wantErr
	}{
		{"valid", appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 2, CollisionCount: ptr(int32(1))}, nil},
		{"more ready than replicas", appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 2, CollisionCount: ptr(int32(1))},
			[]wantErr{invalid("status.readyReplicas", "cannot be greater than status.replicas")}},
		{"more available than ready", appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 1, AvailableReplicas: 2, CollisionCount: ptr(int32(1))},
			[]wantErr{invalid("status.availableReplicas", "cannot be greater than readyReplicas")}},
		{"negative replicas", appsv1.DeploymentStatus{Replicas: -1, CollisionCount: ptr(int32(1))},
			[]wantErr{invalid("status.replicas", "must be greater than or equal to 0"),
				invalid("status.updatedReplicas", "cannot be greater than status.replicas"),
				invalid("status.readyReplicas", "cannot be greater than status.replicas"),
				invalid("status.availableReplicas", "cannot be greater than status.replicas")}},
		{"collision count decremented", appsv1.DeploymentStatus{},
			[]wantErr{invalid("status.collisionCount", "cannot be decremented")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validDeployment()
			old.ObjectMeta = withRV(old.ObjectMeta)
			old.Status.CollisionCount = ptr(int32(1))
			d := old.DeepCopy()
			d.Status = tt.status
			checkErrs(t, ValidateStatusUpdate(d, old), tt.want...)
		})
	}
}

func validReplicaSet() *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: objectMeta("web-5d8f7c9b6"),
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr(int32(3)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "pod-template-hash": "5d8f7c9b6"}},
			Template: validTemplate(),
		},
	}
}

func TestReplicaSet(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(rs *appsv1.ReplicaSet)
		want   []wantErr
	}{
		{"valid", func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Labels["pod-template-hash"] = "5d8f7c9b6" }, nil},
		{"selector does not match template", func(rs *appsv1.ReplicaSet) {},
			[]wantErr{invalid("spec.template.metadata.labels", "`selector` does not match template `labels`")}},
		{"negative replicas", func(rs *appsv1.ReplicaSet) {
			rs.Spec.Template.Labels["pod-template-hash"] = "5d8f7c9b6"
			rs.Spec.Replicas = ptr(int32(-2))
		}, []wantErr{invalid("spec.replicas", "must be greater than or equal to 0")}},
		{"missing selector", func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = nil },
			[]wantErr{required("spec.selector", ""), invalid("spec.template.metadata.labels", "`selector` does not match template `labels`")}},
		{"restartPolicy OnFailure", func(rs *appsv1.ReplicaSet) {
			rs.Spec.Template.Labels["pod-template-hash"] = "5d8f7c9b6"
			rs.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
		}, []wantErr{notSupported("spec.template.spec.restartPolicy")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := validReplicaSet()
			tt.mutate(rs)
			checkErrs(t, ValidateCreate(rs), tt.want...)
		})
	}
}

func TestReplicaSetUpdateAndStatus(t *testing.T) {
	old := validReplicaSet()
	old.ObjectMeta = withRV(old.ObjectMeta)
	old.Spec.Template.Labels["pod-template-hash"] = "5d8f7c9b6"

	rs := old.DeepCopy()
	rs.Spec.Replicas = ptr(int32(0))
	checkErrs(t, ValidateUpdate(rs, old))
	rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	checkErrs(t, ValidateUpdate(rs, old), invalid("spec.selector", "field is immutable"))

	rs = old.DeepCopy()
	rs.Status = appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, ObservedGeneration: 1}
	checkErrs(t, ValidateStatusUpdate(rs, old))
	rs.Status.FullyLabeledReplicas = 4
	checkErrs(t, ValidateStatusUpdate(rs, old), invalid("status.fullyLabeledReplicas", "cannot be greater than status.replicas"))
}
