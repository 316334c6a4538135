package defaulting

import (
	// The digest algorithms must be linked for image references with a
	// digest to parse, as in Kubernetes' pkg/util/parsers.
	_ "crypto/sha256"
	_ "crypto/sha512"
	"strings"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	"k8s.io/utils/ptr"
)

// Pod and pod template defaults: core/v1 SetDefaults_Pod, SetDefaults_PodSpec
// and everything the generated defaulter reaches beneath a PodSpec.

// defaultPod defaults a Pod in the generated defaulter's order: the Pod-only
// defaults (requests from limits, pod-level resources, service links, host
// ports) first, then the pod spec, then the resource lists in status.
func defaultPod(pod *corev1.Pod) {
	requestsFromLimits(pod.Spec.Containers)
	requestsFromLimits(pod.Spec.InitContainers)
	// PodLevelResources is on by default (beta since 1.34). Pod-level
	// requests default only after the container-level ones above.
	defaultHugePagePodLimits(pod)
	defaultPodRequests(pod)
	if pod.Spec.EnableServiceLinks == nil {
		pod.Spec.EnableServiceLinks = ptrTo(corev1.DefaultEnableServiceLinks)
	}
	if pod.Spec.HostNetwork {
		hostPortsFromContainerPorts(pod.Spec.Containers)
		hostPortsFromContainerPorts(pod.Spec.InitContainers)
	}

	defaultPodSpec(&pod.Spec)

	st := &pod.Status
	for _, statuses := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses, st.EphemeralContainerStatuses} {
		for i := range statuses {
			roundResourceList(statuses[i].AllocatedResources)
			if statuses[i].Resources != nil {
				roundResourceRequirements(statuses[i].Resources)
			}
		}
	}
	roundResourceList(st.AllocatedResources)
	if st.Resources != nil {
		roundResourceRequirements(st.Resources)
	}
}

// defaultPodTemplateSpec defaults a pod template as apps/v1 and core/v1 do for
// Deployments, ReplicaSets and PodTemplates: the pod spec only. The Pod-only
// defaults (enableServiceLinks, requests from limits) are not applied, so a
// Deployment's template shows neither.
func defaultPodTemplateSpec(t *corev1.PodTemplateSpec) {
	defaultPodSpec(&t.Spec)
}

// requestsFromLimits sets a container's missing requests to its limits.
func requestsFromLimits(containers []corev1.Container) {
	for i := range containers {
		res := &containers[i].Resources
		if res.Limits == nil {
			continue
		}
		if res.Requests == nil {
			res.Requests = make(corev1.ResourceList)
		}
		for name, q := range res.Limits {
			if _, ok := res.Requests[name]; !ok {
				res.Requests[name] = q.DeepCopy()
			}
		}
	}
}

// hostPortsFromContainerPorts gives a host-network pod's ports their
// container port as host port.
func hostPortsFromContainerPorts(containers []corev1.Container) {
	for i := range containers {
		ports := containers[i].Ports
		for j := range ports {
			if ports[j].HostPort == 0 {
				ports[j].HostPort = ports[j].ContainerPort
			}
		}
	}
}

// defaultHugePagePodLimits defaults pod-level hugepage limits to the sum of
// the containers' hugepage limits, when pod-level resources are partly set and
// the pod requests no such hugepages itself.
func defaultHugePagePodLimits(pod *corev1.Pod) {
	res := pod.Spec.Resources
	if res == nil || (len(res.Limits) == 0 && len(res.Requests) == 0) {
		return
	}
	limits := res.Limits
	if limits == nil {
		limits = make(corev1.ResourceList)
	}
	for name, q := range resourcehelper.AggregateContainerLimits(pod, resourcehelper.PodResourcesOptions{}) {
		if !resourcehelper.IsSupportedPodLevelResource(name) || !isHugePageResourceName(name) {
			continue
		}
		if _, ok := res.Requests[name]; ok {
			continue
		}
		if _, ok := limits[name]; !ok {
			limits[name] = q.DeepCopy()
		}
	}
	if len(limits) > 0 {
		res.Limits = limits
	}
}

// defaultPodRequests defaults pod-level requests, when pod-level limits are
// set: to the containers' aggregate requests for overcommittable resources,
// else to the pod-level limit.
func defaultPodRequests(pod *corev1.Pod) {
	res := pod.Spec.Resources
	if res == nil || len(res.Limits) == 0 {
		return
	}
	reqs := res.Requests
	if reqs == nil {
		reqs = make(corev1.ResourceList)
	}
	for name, q := range resourcehelper.AggregateContainerRequests(pod, resourcehelper.PodResourcesOptions{}) {
		if _, ok := reqs[name]; !ok && resourcehelper.IsSupportedPodLevelResource(name) && isOvercommitAllowed(name) {
			reqs[name] = q.DeepCopy()
		}
	}
	for name, q := range res.Limits {
		if _, ok := reqs[name]; !ok && resourcehelper.IsSupportedPodLevelResource(name) {
			reqs[name] = q.DeepCopy()
		}
	}
	if len(reqs) > 0 {
		res.Requests = reqs
	}
}

func isHugePageResourceName(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// isOvercommitAllowed: native (unprefixed or *kubernetes.io/) and not hugepages.
func isOvercommitAllowed(name corev1.ResourceName) bool {
	native := !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
	return native && !isHugePageResourceName(name)
}

// defaultPodSpec ports SetDefaults_PodSpec and walks the nested types.
func defaultPodSpec(spec *corev1.PodSpec) {
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptrTo(int64(corev1.DefaultTerminationGracePeriodSeconds))
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = corev1.DefaultSchedulerName
	}

	for i := range spec.Volumes {
		defaultVolume(&spec.Volumes[i])
	}
	for i := range spec.InitContainers {
		defaultContainer(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		defaultContainer(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		defaultContainer((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	roundResourceList(spec.Overhead)
	if spec.Resources != nil {
		roundResourceRequirements(spec.Resources)
	}
}

// defaultContainer ports SetDefaults_Container and the defaults beneath it.
func defaultContainer(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = pullPolicyFor(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		from := c.Env[i].ValueFrom
		if from == nil {
			continue
		}
		if from.FieldRef != nil {
			defaultFieldSelector(from.FieldRef)
		}
		if from.FileKeyRef != nil && from.FileKeyRef.Optional == nil {
			from.FileKeyRef.Optional = ptrTo(false)
		}
	}
	roundResourceRequirements(&c.Resources)
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p != nil {
			defaultProbe(p)
		}
	}
	if lc := c.Lifecycle; lc != nil {
		for _, h := range []*corev1.LifecycleHandler{lc.PostStart, lc.PreStop} {
			if h != nil && h.HTTPGet != nil {
				defaultHTTPGet(h.HTTPGet)
			}
		}
	}
}

// pullPolicyFor is Always for a ":latest" or untagged, undigested image and
// IfNotPresent otherwise, as SetDefaults_Container decides.
func pullPolicyFor(image string) corev1.PullPolicy {
	if imageTag(image) == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// imageTag ports the tag half of pkg/util/parsers.ParseImageName: the tag if
// there is one, "latest" when there is neither tag nor digest, and "" for a
// digest-only reference or one that does not parse (Kubernetes ignores the
// parse error; validation rejects such an image).
func imageTag(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return ""
	}
	if tagged, ok := named.(reference.Tagged); ok && tagged.Tag() != "" {
		return tagged.Tag()
	}
	if _, ok := named.(reference.Digested); ok {
		return ""
	}
	return "latest"
}

// defaultProbe ports SetDefaults_Probe, SetDefaults_HTTPGetAction and the
// declarative gRPC service default ("").
func defaultProbe(p *corev1.Probe) {
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	if p.HTTPGet != nil {
		defaultHTTPGet(p.HTTPGet)
	}
	if p.GRPC != nil && p.GRPC.Service == nil {
		p.GRPC.Service = ptrTo("")
	}
}

func defaultHTTPGet(h *corev1.HTTPGetAction) {
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

func defaultFieldSelector(f *corev1.ObjectFieldSelector) {
	if f.APIVersion == "" {
		f.APIVersion = "v1"
	}
}

// defaultVolume ports SetDefaults_Volume and the per-source defaults.
func defaultVolume(v *corev1.Volume) {
	src := &v.VolumeSource
	if ptr.AllPtrFieldsNil(src) {
		src.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	// ImageVolume is on by default (beta, enabled since 1.35).
	if src.Image != nil && src.Image.PullPolicy == "" {
		src.Image.PullPolicy = pullPolicyFor(src.Image.Reference)
	}
	if src.HostPath != nil && src.HostPath.Type == nil {
		src.HostPath.Type = ptrTo(corev1.HostPathUnset)
	}
	if src.Secret != nil && src.Secret.DefaultMode == nil {
		src.Secret.DefaultMode = ptrTo(corev1.SecretVolumeSourceDefaultMode)
	}
	if src.ConfigMap != nil && src.ConfigMap.DefaultMode == nil {
		src.ConfigMap.DefaultMode = ptrTo(corev1.ConfigMapVolumeSourceDefaultMode)
	}
	if d := src.DownwardAPI; d != nil {
		if d.DefaultMode == nil {
			d.DefaultMode = ptrTo(corev1.DownwardAPIVolumeSourceDefaultMode)
		}
		defaultDownwardAPIFiles(d.Items)
	}
	if p := src.Projected; p != nil {
		if p.DefaultMode == nil {
			p.DefaultMode = ptrTo(corev1.ProjectedVolumeSourceDefaultMode)
		}
		for i := range p.Sources {
			s := &p.Sources[i]
			if s.DownwardAPI != nil {
				defaultDownwardAPIFiles(s.DownwardAPI.Items)
			}
			if s.ServiceAccountToken != nil && s.ServiceAccountToken.ExpirationSeconds == nil {
				s.ServiceAccountToken.ExpirationSeconds = ptrTo(int64(3600))
			}
		}
	}
	if s := src.ISCSI; s != nil && s.ISCSIInterface == "" {
		s.ISCSIInterface = "default"
	}
	if s := src.RBD; s != nil {
		if s.RBDPool == "" {
			s.RBDPool = "rbd"
		}
		if s.RadosUser == "" {
			s.RadosUser = "admin"
		}
		if s.Keyring == "" {
			s.Keyring = "/etc/ceph/keyring"
		}
	}
	if s := src.AzureDisk; s != nil {
		if s.CachingMode == nil {
			s.CachingMode = ptrTo(corev1.AzureDataDiskCachingReadWrite)
		}
		if s.FSType == nil {
			s.FSType = ptrTo("ext4")
		}
		if s.ReadOnly == nil {
			s.ReadOnly = ptrTo(false)
		}
		if s.Kind == nil {
			s.Kind = ptrTo(corev1.AzureSharedBlobDisk)
		}
	}
	if s := src.ScaleIO; s != nil {
		if s.StorageMode == "" {
			s.StorageMode = "ThinProvisioned"
		}
		if s.FSType == "" {
			s.FSType = "xfs"
		}
	}
	if e := src.Ephemeral; e != nil && e.VolumeClaimTemplate != nil {
		spec := &e.VolumeClaimTemplate.Spec
		if spec.VolumeMode == nil {
			spec.VolumeMode = ptrTo(corev1.PersistentVolumeFilesystem)
		}
		roundResourceList(spec.Resources.Limits)
		roundResourceList(spec.Resources.Requests)
	}
}

func defaultDownwardAPIFiles(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		if items[i].FieldRef != nil {
			defaultFieldSelector(items[i].FieldRef)
		}
	}
}
