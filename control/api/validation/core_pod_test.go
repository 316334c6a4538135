package validation

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestPodCreate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   []wantErr
	}{
		{"valid", func(p *corev1.Pod) {}, nil},
		{"valid hostNetwork with matching host port", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 80
		}, nil},
		{"valid sidecar init container with probe", func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Name = "proxy"
			c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
			c.Ports = nil
			p.Spec.InitContainers = []corev1.Container{c}
		}, nil},
		{"valid extended resource with equal request and limit", func(p *corev1.Pod) {
			r := &p.Spec.Containers[0].Resources
			r.Requests["example.com/gpu"] = resource.MustParse("1")
			r.Limits["example.com/gpu"] = resource.MustParse("1")
		}, nil},
		{"valid downward API label subscript", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[1].ValueFrom.FieldRef.FieldPath = "metadata.labels['app']"
		}, nil},

		// metadata
		{"missing name", func(p *corev1.Pod) { p.Name = "" },
			[]wantErr{required("metadata.name", "name or generateName is required")}},
		{"name not a DNS subdomain", func(p *corev1.Pod) { p.Name = "Web_0" },
			[]wantErr{invalid("metadata.name", "lowercase RFC 1123 subdomain")}},
		{"missing namespace", func(p *corev1.Pod) { p.Namespace = "" },
			[]wantErr{required("metadata.namespace", "")}},
		{"bad label value", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "-bad-"} },
			[]wantErr{invalid("metadata.labels", "")}},
		{"unqualified finalizer", func(p *corev1.Pod) { p.Finalizers = []string{"cleanup"} },
			[]wantErr{invalid("metadata.finalizers[0]", "neither a standard finalizer name nor is it fully qualified")}},
		{"bad deletion cost", func(p *corev1.Pod) {
			p.Annotations = map[string]string{"controller.kubernetes.io/pod-deletion-cost": "lots"}
		}, []wantErr{invalid("metadata.annotations[controller.kubernetes.io/pod-deletion-cost]", "must be a 32bit integer")}},

		// containers
		{"no containers", func(p *corev1.Pod) { p.Spec.Containers = nil },
			[]wantErr{required("spec.containers", "")}},
		{"missing container name", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" },
			[]wantErr{required("spec.containers[0].name", "")}},
		{"container name not a DNS label", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "my.app" },
			[]wantErr{invalid("spec.containers[0].name", "must not contain dots")}},
		{"duplicate container names", func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Ports = nil
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, []wantErr{duplicate("spec.containers[1].name")}},
		{"init container name clashes", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "app", Image: "busybox",
				TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullAlways}}
		}, []wantErr{duplicate("spec.initContainers[0].name")}},
		{"missing image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			[]wantErr{required("spec.containers[0].image", "")}},
		{"image with whitespace", func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" },
			[]wantErr{invalid("spec.containers[0].image", "must not have leading or trailing whitespace")}},
		{"bad image pull policy", func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "Sometimes" },
			[]wantErr{notSupported("spec.containers[0].imagePullPolicy")}},
		{"missing termination message policy", func(p *corev1.Pod) { p.Spec.Containers[0].TerminationMessagePolicy = "" },
			[]wantErr{required("spec.containers[0].terminationMessagePolicy", "")}},
		{"restartPolicy on regular container", func(p *corev1.Pod) {
			p.Spec.Containers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
		}, []wantErr{forbidden("spec.containers[0].restartPolicy", "may not be set for non-init containers")}},
		{"probe on plain init container", func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Name, c.Ports, c.LivenessProbe = "init", nil, nil
			p.Spec.InitContainers = []corev1.Container{c}
		}, []wantErr{forbidden("spec.initContainers[0].readinessProbe", "without restartPolicy=Always")}},
		{"ephemeral containers at creation", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		}, []wantErr{forbidden("spec.ephemeralContainers", "cannot be set on a pod at creation")}},

		// ports
		{"container port zero", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 },
			[]wantErr{required("spec.containers[0].ports[0].containerPort", "")}},
		{"container port too big", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 },
			[]wantErr{invalid("spec.containers[0].ports[0].containerPort", "between 1 and 65535")}},
		{"host port too big", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].HostPort = 65536 },
			[]wantErr{invalid("spec.containers[0].ports[0].hostPort", "between 1 and 65535")}},
		{"duplicate port names", func(p *corev1.Pod) {
			c := &p.Spec.Containers[0]
			c.Ports = append(c.Ports, corev1.ContainerPort{Name: "http", ContainerPort: 81, Protocol: corev1.ProtocolTCP})
		}, []wantErr{duplicate("spec.containers[0].ports[1].name")}},
		{"port name too long", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports[0].Name = "a-very-long-name"
			p.Spec.Containers[0].ReadinessProbe.HTTPGet.Port = intstr.FromInt32(80)
		}, []wantErr{invalid("spec.containers[0].ports[0].name", "must be no more than 15 characters")}},
		{"bad protocol", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "ICMP" },
			[]wantErr{notSupported("spec.containers[0].ports[0].protocol")}},
		{"host port conflict", func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Name = "second"
			c.Ports = []corev1.ContainerPort{{ContainerPort: 81, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
			p.Spec.Containers[0].Ports[0].HostPort = 8080
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, []wantErr{duplicate("spec.containers[1].ports[0].hostPort")}},
		{"hostNetwork host port differs", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 8080
		}, []wantErr{invalid("spec.containers[0].ports[0].hostPort", "must match `containerPort` when `hostNetwork` is true")}},

		// env
		{"missing env name", func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "" },
			[]wantErr{required("spec.containers[0].env[0].name", "")}},
		{"env name with equals sign", func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "A=B" },
			[]wantErr{invalid("spec.containers[0].env[0].name", "")}},
		{"env value and valueFrom", func(p *corev1.Pod) { p.Spec.Containers[0].Env[1].Value = "x" },
			[]wantErr{invalid("spec.containers[0].env[1].valueFrom", "may not be specified when `value` is not empty")}},
		{"env valueFrom empty", func(p *corev1.Pod) { p.Spec.Containers[0].Env[1].ValueFrom = &corev1.EnvVarSource{} },
			[]wantErr{invalid("spec.containers[0].env[1].valueFrom", "must specify one of")}},
		{"env unsupported field path", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[1].ValueFrom.FieldRef.FieldPath = "spec.containers"
		}, []wantErr{notSupported("spec.containers[0].env[1].valueFrom.fieldRef.fieldPath")}},
		{"env secret key missing", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[1].ValueFrom = &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}}
		}, []wantErr{required("spec.containers[0].env[1].valueFrom.secretKeyRef.key", "")}},
		{"envFrom without source", func(p *corev1.Pod) { p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{Prefix: "X_"}} },
			[]wantErr{invalid("spec.containers[0].envFrom", "must specify one of: `configMapRef` or `secretRef`")}},

		// resources
		{"negative request", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("-1")
		}, []wantErr{invalid("spec.containers[0].resources.requests[cpu]", "must be greater than or equal to 0")}},
		{"request above limit", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("500m")
		}, []wantErr{invalid("spec.containers[0].resources.requests", "must be less than or equal to cpu limit of 200m")}},
		{"unknown standard resource", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits["pods"] = resource.MustParse("1")
		}, []wantErr{invalid("spec.containers[0].resources.limits[pods]", "must be a standard resource for containers")}},
		{"extended resource request without limit", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse("1")
		}, []wantErr{required("spec.containers[0].resources.limits", "Limit must be set for non overcommitable resources")}},
		{"fractional extended resource", func(p *corev1.Pod) {
			r := &p.Spec.Containers[0].Resources
			r.Requests["example.com/gpu"] = resource.MustParse("500m")
			r.Limits["example.com/gpu"] = resource.MustParse("500m")
		}, []wantErr{
			invalid("spec.containers[0].resources.requests[example.com/gpu]", "must be an integer"),
			invalid("spec.containers[0].resources.limits[example.com/gpu]", "must be an integer"),
		}},

		// pod-level policies
		{"bad restartPolicy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" },
			[]wantErr{notSupported("spec.restartPolicy")}},
		{"missing restartPolicy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "" },
			[]wantErr{required("spec.restartPolicy", "")}},
		{"bad dnsPolicy", func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" },
			[]wantErr{notSupported("spec.dnsPolicy")}},
		{"dnsPolicy None without config", func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone },
			[]wantErr{required("spec.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None")}},
		{"missing grace period", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = nil },
			[]wantErr{required("spec.terminationGracePeriodSeconds", "")}},
		{"zero activeDeadlineSeconds", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(0)) },
			[]wantErr{invalid("spec.activeDeadlineSeconds", "must be between 1 and 2147483647")}},
		{"bad nodeName", func(p *corev1.Pod) { p.Spec.NodeName = "Node_1" },
			[]wantErr{invalid("spec.nodeName", "")}},
		{"bad hostname", func(p *corev1.Pod) { p.Spec.Hostname = "a.b" },
			[]wantErr{invalid("spec.hostname", "must not contain dots")}},
		{"bad nodeSelector", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"bad key": "x"} },
			[]wantErr{invalid("spec.nodeSelector", "")}},
		{"nodeName with scheduling gates", func(p *corev1.Pod) {
			p.Spec.NodeName = "node-1"
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		}, []wantErr{forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared")}},
		{"toleration seconds without NoExecute", func(p *corev1.Pod) { p.Spec.Tolerations[0].Effect = corev1.TaintEffectNoSchedule },
			[]wantErr{invalid("spec.tolerations[0].effect", "effect must be 'NoExecute' when `tolerationSeconds` is set")}},
		{"toleration Exists with value", func(p *corev1.Pod) { p.Spec.Tolerations[0].Value = "x" },
			[]wantErr{invalid("spec.tolerations[0].operator", "value must be empty when `operator` is 'Exists'")}},
		{"node affinity In without values", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn}}}}}}}
		}, []wantErr{required("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values", "")}},
		{"pod anti-affinity without topology key", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}}
		}, []wantErr{
			required("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", "can not be empty"),
			invalid("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", "name part must be non-empty"),
			invalid("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", "name part must consist of"),
		}},

		// volumes and mounts
		{"volume without type", func(p *corev1.Pod) { p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{} },
			[]wantErr{required("spec.volumes[0]", "must specify a volume type"), notFound("spec.containers[0].volumeMounts[0].name")}},
		{"volume with two types", func(p *corev1.Pod) {
			p.Spec.Volumes[0].ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}
		}, []wantErr{forbidden("spec.volumes[0].configMap", "may not specify more than 1 volume type"), notFound("spec.containers[0].volumeMounts[0].name")}},
		{"volume name not a DNS label", func(p *corev1.Pod) {
			p.Spec.Volumes[0].Name = "Data"
			p.Spec.Containers[0].VolumeMounts = nil
		}, []wantErr{invalid("spec.volumes[0].name", "RFC 1123 label")}},
		{"duplicate volume names", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, p.Spec.Volumes[0])
		}, []wantErr{duplicate("spec.volumes[1].name")}},
		{"secret volume without name", func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{DefaultMode: ptr(int32(01000))}}
		}, []wantErr{
			required("spec.volumes[0].secret.secretName", ""),
			invalid("spec.volumes[0].secret.defaultMode", "must be a number between 0 and 0777"),
			notFound("spec.containers[0].volumeMounts[0].name"),
		}},
		{"hostPath with backsteps", func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/../etc"}}
		}, []wantErr{invalid("spec.volumes[0].hostPath.path", "must not contain '..'"), notFound("spec.containers[0].volumeMounts[0].name")}},
		{"mount of unknown volume", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].Name = "cache" },
			[]wantErr{notFound("spec.containers[0].volumeMounts[0].name")}},
		{"mount without path", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].MountPath = "" },
			[]wantErr{required("spec.containers[0].volumeMounts[0].mountPath", "")}},
		{"duplicate mount path", func(p *corev1.Pod) {
			c := &p.Spec.Containers[0]
			c.VolumeMounts = append(c.VolumeMounts, c.VolumeMounts[0])
		}, []wantErr{invalid("spec.containers[0].volumeMounts[1].mountPath", "must be unique")}},
		{"absolute subPath", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].SubPath = "/etc" },
			[]wantErr{invalid("spec.containers[0].volumeMounts.subPath", "must be a relative path")}},

		// probes
		{"probe without handler", func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe.HTTPGet = nil },
			[]wantErr{required("spec.containers[0].readinessProbe", "must specify a handler type")}},
		{"probe with two handlers", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe.Exec = &corev1.ExecAction{Command: []string{"true"}}
		}, []wantErr{forbidden("spec.containers[0].readinessProbe.httpGet", "may not specify more than 1 handler type")}},
		{"liveness success threshold", func(p *corev1.Pod) { p.Spec.Containers[0].LivenessProbe.SuccessThreshold = 2 },
			[]wantErr{invalid("spec.containers[0].livenessProbe.successThreshold", "must be 1")}},
		{"negative probe period", func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe.PeriodSeconds = -1 },
			[]wantErr{invalid("spec.containers[0].readinessProbe.periodSeconds", "must be greater than or equal to 0")}},
		{"probe port name unknown format", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe.HTTPGet.Port = intstr.FromString("Not_A_Port")
		}, []wantErr{invalid("spec.containers[0].readinessProbe.httpGet.port", "")}},
		{"exec probe without command", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe.ProbeHandler = corev1.ProbeHandler{Exec: &corev1.ExecAction{}}
		}, []wantErr{required("spec.containers[0].livenessProbe.exec.command", "")}},
		{"readiness probe grace period", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe.TerminationGracePeriodSeconds = ptr(int64(5))
		}, []wantErr{invalid("spec.containers[0].readinessProbe.terminationGracePeriodSeconds", "must not be set for readinessProbes")}},
		{"preStop sleep beyond grace period", func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 60}}}
		}, []wantErr{invalid("spec.containers[0].lifecycle.preStop.sleep", "less than terminationGracePeriodSeconds (30)")}},

		// status given at creation
		{"bad pod IP", func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.300"}} },
			[]wantErr{invalid("status.podIPs[0]", "must be a valid IP address")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			tt.mutate(p)
			checkErrs(t, ValidateCreate(p), tt.want...)
		})
	}
}

func TestPodUpdate(t *testing.T) {
	tests := []struct {
		name   string
		old    func(p *corev1.Pod)
		mutate func(p *corev1.Pod)
		want   []wantErr
	}{
		{"no change", nil, func(p *corev1.Pod) {}, nil},
		{"labels and image change", nil, func(p *corev1.Pod) {
			p.Labels = map[string]string{"version": "2"}
			p.Spec.Containers[0].Image = "nginx:1.28"
		}, nil},
		{"toleration added", nil, func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
		}, nil},
		{"toleration seconds changed", nil, func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr(int64(10)) }, nil},
		{"activeDeadlineSeconds set", nil, func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(60)) }, nil},
		{"scheduling gate removed", func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		}, func(p *corev1.Pod) { p.Spec.SchedulingGates = nil }, nil},
		{"gated pod gains node selector", func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		}, func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "a"} }, nil},

		{"missing resource version", nil, func(p *corev1.Pod) { p.ResourceVersion = "" },
			[]wantErr{invalid("metadata.resourceVersion", "must be specified for an update")}},
		{"name changed", nil, func(p *corev1.Pod) { p.Name = "web-1" },
			[]wantErr{invalid("metadata.name", "field is immutable")}},
		{"nodeName set", nil, func(p *corev1.Pod) { p.Spec.NodeName = "node-1" },
			[]wantErr{forbidden("spec", "pod updates may not change fields other than")}},
		{"nodeName changed", func(p *corev1.Pod) { p.Spec.NodeName = "node-1" }, func(p *corev1.Pod) { p.Spec.NodeName = "node-2" },
			[]wantErr{forbidden("spec", "spec.nodeName")}},
		{"resources changed", nil, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = resource.MustParse("300m")
		}, []wantErr{forbidden("spec", "`spec.containers[*].image`")}},
		{"container added", nil, func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Name, c.Ports = "sidecar", nil
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, []wantErr{forbidden("spec.containers", "pod updates may not add or remove containers")}},
		{"image removed", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			[]wantErr{required("spec.containers[0].image", ""), required("spec.containers[0].image", "")}},
		{"activeDeadlineSeconds raised", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(60)) },
			func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(120)) },
			[]wantErr{invalid("spec.activeDeadlineSeconds", "must be less than or equal to previous value")}},
		{"activeDeadlineSeconds unset", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(60)) },
			func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil },
			[]wantErr{invalid("spec.activeDeadlineSeconds", "must not update from a positive integer to nil value")}},
		{"toleration removed", nil, func(p *corev1.Pod) { p.Spec.Tolerations = nil },
			[]wantErr{forbidden("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds")}},
		{"scheduling gate added", nil, func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		}, []wantErr{forbidden("spec.schedulingGates[0].name", "only deletion is allowed")}},
		{"gated pod node selector changed", func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
			p.Spec.NodeSelector = map[string]string{"zone": "a"}
		}, func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "b"} },
			[]wantErr{invalid("spec.nodeSelector", "only additions to spec.nodeSelector are allowed")}},
		{"still validated as a pod", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" },
			[]wantErr{invalid("spec.containers[0].image", "must not have leading or trailing whitespace")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validPod()
			old.ObjectMeta = withRV(old.ObjectMeta)
			if tt.old != nil {
				tt.old(old)
			}
			p := old.DeepCopy()
			tt.mutate(p)
			checkErrs(t, ValidateUpdate(p, old), tt.want...)
		})
	}
}

func TestPodUpdateMessageNamesChangedField(t *testing.T) {
	old := validPod()
	old.ObjectMeta = withRV(old.ObjectMeta)
	p := old.DeepCopy()
	p.Spec.DNSPolicy = corev1.DNSDefault
	errs := ValidateUpdate(p, old)
	if len(errs) != 1 || !strings.Contains(errs[0].Detail, "changed: spec.dnsPolicy") {
		t.Fatalf("want one error naming spec.dnsPolicy, got %v", errs)
	}
}

func TestPodStatusUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   []wantErr
	}{
		{"running with IPs", func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.PodIP, p.Status.PodIPs = "10.244.1.5", []corev1.PodIP{{IP: "10.244.1.5"}, {IP: "fd00::5"}}
			p.Status.HostIP, p.Status.HostIPs = "192.168.1.2", []corev1.HostIP{{IP: "192.168.1.2"}}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}, nil},
		{"nodeName changed", func(p *corev1.Pod) { p.Spec.NodeName = "node-2" },
			[]wantErr{forbidden("status.nodeName", "may not be changed directly")}},
		{"two IPv4 pod IPs", func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}} },
			[]wantErr{invalid("status.podIPs", "may specify no more than one IP for each IP family")}},
		{"hostIP mismatch", func(p *corev1.Pod) {
			p.Status.HostIP, p.Status.HostIPs = "192.168.1.2", []corev1.HostIP{{IP: "192.168.1.3"}}
		}, []wantErr{invalid("status.hostIPs[0].ip", "must be equal to `hostIP`")}},
		{"bad custom condition type", func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: "bad type", Status: corev1.ConditionTrue}}
		}, []wantErr{invalid("metadata.conditions[0].Type", "")}},
		{"qosClass changed", func(p *corev1.Pod) { p.Status.QOSClass = corev1.PodQOSGuaranteed },
			[]wantErr{invalid("status.qosClass", "field is immutable")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validPod()
			old.ObjectMeta = withRV(old.ObjectMeta)
			old.Spec.NodeName = "node-1"
			old.Status.QOSClass = corev1.PodQOSBurstable
			p := old.DeepCopy()
			tt.mutate(p)
			checkErrs(t, ValidateStatusUpdate(p, old), tt.want...)
		})
	}
}

func TestPodStatusTerminatedStaysTerminated(t *testing.T) {
	old := validPod()
	old.ObjectMeta = withRV(old.ObjectMeta)
	old.Spec.RestartPolicy = corev1.RestartPolicyNever
	old.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}}
	p := old.DeepCopy()
	p.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	checkErrs(t, ValidateStatusUpdate(p, old), forbidden("status.containerStatuses[0].state", "may not be transitioned to non-terminated state"))
}

// TestHugeQuantityIsRejectedQuickly is a regression test: inf.Dec arithmetic
// on "1e999999999" (a quantity that parses) used to run for minutes, in the
// request/limit comparison and in the spec comparison of a pod update.
func TestHugeQuantityIsRejectedQuickly(t *testing.T) {
	huge := resource.MustParse("1e999999999")
	done := make(chan struct{})
	go func() {
		defer close(done)
		p := validPod()
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = huge
		p.Spec.Overhead = corev1.ResourceList{corev1.ResourceMemory: huge}
		checkErrs(t, ValidateCreate(p),
			invalid("spec.containers[0].resources.requests[cpu]", "must be a valid resource quantity"),
			invalid("spec.overhead[memory]", "must be a valid resource quantity"))

		old := validPod()
		old.ObjectMeta = withRV(old.ObjectMeta)
		p.ObjectMeta = old.ObjectMeta
		checkErrs(t, ValidateUpdate(p, old),
			invalid("spec.containers[0].resources.requests[cpu]", "must be a valid resource quantity"),
			invalid("spec.overhead[memory]", "must be a valid resource quantity"))

		n := validNode()
		n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: huge}
		checkErrs(t, ValidateCreate(n), invalid("status.allocatable.cpu", "must be a valid resource quantity"))
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("validation of a huge quantity did not finish in 20s")
	}
}
