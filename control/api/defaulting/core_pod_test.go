package defaulting

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestPodMatchesKubeAPIServer compares with the spec kube-apiserver 1.37
// defaults for `kubectl run web --image=nginx:1.27 --port=80`. (A stored pod
// also shows serviceAccountName, tolerations, priority and preemptionPolicy:
// those come from admission plugins, not from defaulting.)
func TestPodMatchesKubeAPIServer(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"run": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: "nginx:1.27", Ports: []corev1.ContainerPort{{ContainerPort: 80}},
		}}},
	}
	Default(pod)
	assertSameJSON(t, pod.Spec, `
containers:
- image: nginx:1.27
  imagePullPolicy: IfNotPresent
  name: web
  ports:
  - containerPort: 80
    protocol: TCP
  resources: {}
  terminationMessagePath: /dev/termination-log
  terminationMessagePolicy: File
dnsPolicy: ClusterFirst
enableServiceLinks: true
restartPolicy: Always
schedulerName: default-scheduler
securityContext: {}
terminationGracePeriodSeconds: 30
`)
}

func TestImagePullPolicy(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"docker.io/library/nginx", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"registry.local:5000/team/app", corev1.PullAlways},
		{"registry.local:5000/team/app:v2", corev1.PullIfNotPresent},
		{"nginx@" + digest, corev1.PullIfNotPresent},
		{"nginx:latest@" + digest, corev1.PullAlways},
		{"NGINX", corev1.PullIfNotPresent}, // does not parse: no tag
		{"", corev1.PullIfNotPresent},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "c", Image: tt.image}},
				Volumes:    []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: tt.image}}}},
			}}
			Default(pod)
			if got := pod.Spec.Containers[0].ImagePullPolicy; got != tt.want {
				t.Errorf("container imagePullPolicy = %q, want %q", got, tt.want)
			}
			if got := pod.Spec.Volumes[0].Image.PullPolicy; got != tt.want {
				t.Errorf("image volume pullPolicy = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPod(t *testing.T) {
	tests := []struct {
		name  string
		spec  corev1.PodSpec
		check func(*testing.T, *corev1.Pod)
	}{
		{
			name: "explicit values are kept",
			spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, DNSPolicy: corev1.DNSNone, SchedulerName: "wasm",
				TerminationGracePeriodSeconds: ptrTo(int64(0)), EnableServiceLinks: ptrTo(false),
				SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptrTo(int64(1000))},
				Containers: []corev1.Container{{
					Name: "c", Image: "nginx", ImagePullPolicy: corev1.PullNever,
					TerminationMessagePath: "/tmp/msg", TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
					Ports: []corev1.ContainerPort{{ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
				}},
			},
			check: func(t *testing.T, p *corev1.Pod) {
				s := p.Spec
				if s.RestartPolicy != corev1.RestartPolicyNever || s.DNSPolicy != corev1.DNSNone || s.SchedulerName != "wasm" {
					t.Errorf("restart %q dns %q scheduler %q, want kept", s.RestartPolicy, s.DNSPolicy, s.SchedulerName)
				}
				if *s.TerminationGracePeriodSeconds != 0 || *s.EnableServiceLinks || *s.SecurityContext.RunAsUser != 1000 {
					t.Errorf("grace %d links %v runAsUser %d, want 0/false/1000", *s.TerminationGracePeriodSeconds, *s.EnableServiceLinks, *s.SecurityContext.RunAsUser)
				}
				c := s.Containers[0]
				if c.ImagePullPolicy != corev1.PullNever || c.TerminationMessagePath != "/tmp/msg" ||
					c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError || c.Ports[0].Protocol != corev1.ProtocolUDP {
					t.Errorf("container overrides lost: %+v", c)
				}
			},
		},
		{
			name: "probes and lifecycle hooks",
			spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "c", Image: "nginx",
				LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)}}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090}}, TimeoutSeconds: 4, PeriodSeconds: 5, SuccessThreshold: 2, FailureThreshold: 1},
				StartupProbe:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/up", Scheme: corev1.URISchemeHTTPS}}},
				Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{}}},
			}}},
			check: func(t *testing.T, p *corev1.Pod) {
				c := p.Spec.Containers[0]
				l := c.LivenessProbe
				if l.TimeoutSeconds != 1 || l.PeriodSeconds != 10 || l.SuccessThreshold != 1 || l.FailureThreshold != 3 {
					t.Errorf("liveness = %d/%d/%d/%d, want 1/10/1/3", l.TimeoutSeconds, l.PeriodSeconds, l.SuccessThreshold, l.FailureThreshold)
				}
				if l.HTTPGet.Path != "/" || l.HTTPGet.Scheme != corev1.URISchemeHTTP {
					t.Errorf("liveness httpGet = %+v, want path / scheme HTTP", l.HTTPGet)
				}
				r := c.ReadinessProbe
				if r.TimeoutSeconds != 4 || r.PeriodSeconds != 5 || r.SuccessThreshold != 2 || r.FailureThreshold != 1 || r.GRPC.Service == nil || *r.GRPC.Service != "" {
					t.Errorf("readiness = %+v, want 4/5/2/1 kept, grpc service \"\"", r)
				}
				if s := c.StartupProbe.HTTPGet; s.Path != "/up" || s.Scheme != corev1.URISchemeHTTPS {
					t.Errorf("startup httpGet = %+v, want kept", s)
				}
				if h := c.Lifecycle.PreStop.HTTPGet; h.Path != "/" || h.Scheme != corev1.URISchemeHTTP {
					t.Errorf("preStop httpGet = %+v, want path / scheme HTTP", h)
				}
			},
		},
		{
			name: "env field refs and file key refs",
			spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx", Env: []corev1.EnvVar{
				{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "B", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v2", FieldPath: "x"}}},
				{Name: "C", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "v", Path: "p", Key: "k"}}},
				{Name: "D", Value: "plain"},
			}}}},
			check: func(t *testing.T, p *corev1.Pod) {
				env := p.Spec.Containers[0].Env
				if env[0].ValueFrom.FieldRef.APIVersion != "v1" || env[1].ValueFrom.FieldRef.APIVersion != "v2" {
					t.Errorf("fieldRef apiVersions = %q/%q, want v1/v2", env[0].ValueFrom.FieldRef.APIVersion, env[1].ValueFrom.FieldRef.APIVersion)
				}
				if o := env[2].ValueFrom.FileKeyRef.Optional; o == nil || *o {
					t.Errorf("fileKeyRef.optional = %v, want false", o)
				}
				if env[3].ValueFrom != nil {
					t.Errorf("plain env got valueFrom %+v", env[3].ValueFrom)
				}
			},
		},
		{
			name: "requests from limits, rounded to milli, in pods only",
			spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "i", Image: "busybox", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"memory": mustQuantity("64Mi")}}}},
				Containers: []corev1.Container{{Name: "c", Image: "nginx", Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{"cpu": mustQuantity("0.0005"), "memory": mustQuantity("128Mi")},
					Requests: corev1.ResourceList{"memory": mustQuantity("100Mi")},
				}}},
				Overhead: corev1.ResourceList{"cpu": mustQuantity("0.0001")},
			},
			check: func(t *testing.T, p *corev1.Pod) {
				r := p.Spec.Containers[0].Resources
				for name, want := range map[corev1.ResourceName]string{"cpu": "1m", "memory": "100Mi"} {
					q := r.Requests[name]
					if got := q.String(); got != want {
						t.Errorf("requests[%s] = %s, want %s", name, got, want)
					}
				}
				if q := r.Limits["cpu"]; q.String() != "1m" {
					t.Errorf("limits[cpu] = %s, want 1m", q.String())
				}
				if q := p.Spec.InitContainers[0].Resources.Requests["memory"]; q.String() != "64Mi" {
					t.Errorf("init requests[memory] = %s, want 64Mi", q.String())
				}
				if q := p.Spec.Overhead["cpu"]; q.String() != "1m" {
					t.Errorf("overhead[cpu] = %s, want 1m", q.String())
				}
			},
		},
		{
			name: "host network: host ports from container ports",
			spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "c", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 81, HostPort: 8081}}}}},
			check: func(t *testing.T, p *corev1.Pod) {
				ports := p.Spec.Containers[0].Ports
				if ports[0].HostPort != 80 || ports[1].HostPort != 8081 {
					t.Errorf("hostPorts = %d/%d, want 80/8081", ports[0].HostPort, ports[1].HostPort)
				}
			},
		},
		{
			name: "ephemeral containers",
			spec: corev1.PodSpec{EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox:1.36"}}}},
			check: func(t *testing.T, p *corev1.Pod) {
				c := p.Spec.EphemeralContainers[0]
				if c.ImagePullPolicy != corev1.PullIfNotPresent || c.TerminationMessagePolicy != corev1.TerminationMessageReadFile {
					t.Errorf("ephemeral container = %+v, want IfNotPresent/File", c.EphemeralContainerCommon)
				}
			},
		},
		{
			name: "pod-level resources: requests from limits and containers, hugepage limits from containers",
			spec: corev1.PodSpec{
				Resources: &corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": mustQuantity("2"), "memory": mustQuantity("1Gi")}},
				Containers: []corev1.Container{
					{Name: "a", Image: "nginx", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": mustQuantity("500m")}}},
					{Name: "b", Image: "nginx", Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{"cpu": mustQuantity("250m")},
						Limits:   corev1.ResourceList{"hugepages-2Mi": mustQuantity("4Mi")},
					}},
				},
			},
			check: func(t *testing.T, p *corev1.Pod) {
				r := p.Spec.Resources
				for name, want := range map[corev1.ResourceName]string{"cpu": "750m", "memory": "1Gi", "hugepages-2Mi": "4Mi"} {
					q := r.Requests[name]
					if got := q.String(); got != want {
						t.Errorf("pod requests[%s] = %s, want %s", name, got, want)
					}
				}
				if q := r.Limits["hugepages-2Mi"]; q.String() != "4Mi" {
					t.Errorf("pod limits[hugepages-2Mi] = %s, want 4Mi", q.String())
				}
			},
		},
		{
			name: "pod-level resources unset: nothing added",
			spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": mustQuantity("1")}}}}},
			check: func(t *testing.T, p *corev1.Pod) {
				if p.Spec.Resources != nil {
					t.Errorf("pod resources = %+v, want nil", p.Spec.Resources)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}, Spec: tt.spec}
			assertIdempotent(t, p)
			Default(p)
			tt.check(t, p)
		})
	}
}

func TestPodStatusResourcesRounded(t *testing.T) {
	p := &corev1.Pod{Status: corev1.PodStatus{
		ContainerStatuses: []corev1.ContainerStatus{{
			Name:               "c",
			AllocatedResources: corev1.ResourceList{"cpu": mustQuantity("0.0001")},
			Resources:          &corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": mustQuantity("0.0002")}},
		}},
		AllocatedResources: corev1.ResourceList{"cpu": mustQuantity("0.0003")},
	}}
	Default(p)
	cs := p.Status.ContainerStatuses[0]
	for what, q := range map[string]interface{ String() string }{
		"container allocated": ptrTo(cs.AllocatedResources["cpu"]),
		"container limits":    ptrTo(cs.Resources.Limits["cpu"]),
		"pod allocated":       ptrTo(p.Status.AllocatedResources["cpu"]),
	} {
		if q.String() != "1m" {
			t.Errorf("%s cpu = %s, want 1m", what, q.String())
		}
	}
}

func TestVolumes(t *testing.T) {
	tests := []struct {
		name  string
		src   corev1.VolumeSource
		check func(*testing.T, corev1.VolumeSource)
	}{
		{
			name: "no source becomes emptyDir",
			check: func(t *testing.T, v corev1.VolumeSource) {
				if v.EmptyDir == nil {
					t.Errorf("source = %+v, want emptyDir", v)
				}
			},
		},
		{
			name: "secret and configMap mode 0644",
			src:  corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}},
			check: func(t *testing.T, v corev1.VolumeSource) {
				if *v.Secret.DefaultMode != 420 {
					t.Errorf("secret defaultMode = %d, want 420", *v.Secret.DefaultMode)
				}
			},
		},
		{
			name: "configMap mode kept",
			src:  corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{DefaultMode: ptrTo(int32(0o400))}},
			check: func(t *testing.T, v corev1.VolumeSource) {
				if *v.ConfigMap.DefaultMode != 0o400 || v.EmptyDir != nil {
					t.Errorf("configMap = %+v emptyDir %v, want mode 256 and no emptyDir", v.ConfigMap, v.EmptyDir)
				}
			},
		},
		{
			name: "hostPath type empty",
			src:  corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}},
			check: func(t *testing.T, v corev1.VolumeSource) {
				if v.HostPath.Type == nil || *v.HostPath.Type != "" {
					t.Errorf("hostPath.type = %v, want \"\"", v.HostPath.Type)
				}
			},
		},
		{
			name: "downwardAPI and projected",
			src: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
			}}},
			check: func(t *testing.T, v corev1.VolumeSource) {
				p := v.Projected
				if *p.DefaultMode != 420 || *p.Sources[0].ServiceAccountToken.ExpirationSeconds != 3600 {
					t.Errorf("projected mode %d expiration %d, want 420/3600", *p.DefaultMode, *p.Sources[0].ServiceAccountToken.ExpirationSeconds)
				}
				if got := p.Sources[1].DownwardAPI.Items[0].FieldRef.APIVersion; got != "v1" {
					t.Errorf("projected fieldRef apiVersion = %q, want v1", got)
				}
			},
		},
		{
			name: "downwardAPI volume",
			src:  corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{{Path: "l", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}},
			check: func(t *testing.T, v corev1.VolumeSource) {
				if *v.DownwardAPI.DefaultMode != 420 || v.DownwardAPI.Items[0].FieldRef.APIVersion != "v1" {
					t.Errorf("downwardAPI = %+v, want mode 420 and fieldRef v1", v.DownwardAPI)
				}
			},
		},
		{
			name: "ephemeral claim template",
			src: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
				Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{"storage": mustQuantity("1Gi")}}},
			}}},
			check: func(t *testing.T, v corev1.VolumeSource) {
				if m := v.Ephemeral.VolumeClaimTemplate.Spec.VolumeMode; m == nil || *m != corev1.PersistentVolumeFilesystem {
					t.Errorf("volumeMode = %v, want Filesystem", m)
				}
			},
		},
		{
			name: "legacy in-tree sources",
			src:  corev1.VolumeSource{RBD: &corev1.RBDVolumeSource{CephMonitors: []string{"m"}, RBDImage: "i"}},
			check: func(t *testing.T, v corev1.VolumeSource) {
				if r := v.RBD; r.RBDPool != "rbd" || r.RadosUser != "admin" || r.Keyring != "/etc/ceph/keyring" {
					t.Errorf("rbd = %+v, want rbd/admin/keyring defaults", r)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := corev1.PodSpec{Volumes: []corev1.Volume{{Name: "v", VolumeSource: tt.src}}}
			d := helloWorld()
			d.Spec.Template.Spec.Volumes = spec.Volumes
			pod := &corev1.Pod{Spec: *spec.DeepCopy()}
			assertIdempotent(t, pod)
			Default(pod)
			tt.check(t, pod.Spec.Volumes[0].VolumeSource)
			Default(d) // templates get the same volume defaults
			tt.check(t, d.Spec.Template.Spec.Volumes[0].VolumeSource)
		})
	}
}
