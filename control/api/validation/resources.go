package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	isNotIntegerErrorMsg = "must be an integer"
	// maxDataSize bounds the data of a ConfigMap or a Secret (core.MaxSecretSize).
	maxDataSize = 1 * 1024 * 1024
)

// standardResourceNames are the unprefixed resource names Kubernetes knows
// (pkg/apis/core/helper.IsStandardResourceName, without the hugepages
// prefix, which is checked separately).
var standardResourceNames = map[corev1.ResourceName]bool{
	corev1.ResourceCPU: true, corev1.ResourceMemory: true, corev1.ResourceEphemeralStorage: true,
	corev1.ResourceRequestsCPU: true, corev1.ResourceRequestsMemory: true, corev1.ResourceRequestsEphemeralStorage: true,
	corev1.ResourceLimitsCPU: true, corev1.ResourceLimitsMemory: true, corev1.ResourceLimitsEphemeralStorage: true,
	corev1.ResourcePods: true, corev1.ResourceQuotas: true, corev1.ResourceServices: true,
	corev1.ResourceReplicationControllers: true, corev1.ResourceSecrets: true, corev1.ResourceConfigMaps: true,
	corev1.ResourcePersistentVolumeClaims: true, corev1.ResourceStorage: true, corev1.ResourceRequestsStorage: true,
	corev1.ResourceServicesNodePorts: true, corev1.ResourceServicesLoadBalancers: true,
}

func isHugePageResourceName(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

// isNativeResource: unprefixed or in the kubernetes.io domain.
func isNativeResource(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
}

// isExtendedResourceName: a domain-prefixed name outside kubernetes.io that
// is still a valid quota key once "requests." is put in front of it.
func isExtendedResourceName(name corev1.ResourceName) bool {
	if isNativeResource(name) || strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+string(name))) == 0
}

// isOvercommitAllowed: requests may be below limits for native resources
// other than huge pages.
func isOvercommitAllowed(name corev1.ResourceName) bool {
	return isNativeResource(name) && !isHugePageResourceName(name)
}

func isStandardContainerResourceName(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return true
	}
	return isHugePageResourceName(name)
}

// validateContainerResourceName is Kubernetes' validateResourceName followed
// by validateContainerResourceName.
func validateContainerResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	allErrs := validateQualifiedName(string(name), fldPath)
	if len(allErrs) != 0 {
		return allErrs
	}
	if !strings.Contains(string(name), "/") {
		if !standardResourceNames[name] && !isHugePageResourceName(name) {
			allErrs = append(allErrs, field.Invalid(fldPath, name, "must be a standard resource type or fully qualified"))
		}
		if !isStandardContainerResourceName(name) {
			allErrs = append(allErrs, field.Invalid(fldPath, name, "must be a standard resource for containers"))
		}
	} else if !isNativeResource(name) && !isExtendedResourceName(name) {
		allErrs = append(allErrs, field.Invalid(fldPath, name, "doesn't follow extended resource name standard"))
	}
	return allErrs
}

// Quantities are only computed with inside these bounds: inf.Dec arithmetic
// on a quantity such as "1e999999999" (which parses) runs for minutes.
const (
	maxQuantityScale = 1000
	maxQuantityBits  = 4096
)

// quantityOutOfRange reports a quantity too large or too precise to compare.
func quantityOutOfRange(q resource.Quantity) bool {
	d := q.AsDec()
	s := int64(d.Scale())
	return s > maxQuantityScale || s < -maxQuantityScale || d.UnscaledBig().BitLen() > maxQuantityBits
}

// validateQuantityRange rejects a quantity validation cannot compute with.
// Kubernetes has no such check (it would hang instead); the message is the
// one it uses for malformed quantities elsewhere.
func validateQuantityRange(q resource.Quantity, fldPath *field.Path) field.ErrorList {
	if quantityOutOfRange(q) {
		return field.ErrorList{field.Invalid(fldPath, field.OmitValueType{}, "must be a valid resource quantity")}
	}
	return nil
}

// validateResourceListRange applies validateQuantityRange to every entry.
func validateResourceListRange(list corev1.ResourceList, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for name, q := range list {
		allErrs = append(allErrs, validateQuantityRange(q, fldPath.Key(string(name)))...)
	}
	return allErrs
}

// podSpecOutOfRange reports whether any quantity of a pod spec is out of
// range, so that callers can stop before comparing specs.
func podSpecOutOfRange(spec *corev1.PodSpec) bool {
	lists := []corev1.ResourceList{spec.Overhead}
	if spec.Resources != nil {
		lists = append(lists, spec.Resources.Limits, spec.Resources.Requests)
	}
	for _, c := range spec.Containers {
		lists = append(lists, c.Resources.Limits, c.Resources.Requests)
	}
	for _, c := range spec.InitContainers {
		lists = append(lists, c.Resources.Limits, c.Resources.Requests)
	}
	for _, c := range spec.EphemeralContainers {
		lists = append(lists, c.Resources.Limits, c.Resources.Requests)
	}
	for _, l := range lists {
		for _, q := range l {
			if quantityOutOfRange(q) {
				return true
			}
		}
	}
	for _, v := range spec.Volumes {
		if v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil && quantityOutOfRange(*v.EmptyDir.SizeLimit) {
			return true
		}
	}
	return false
}

// validateResourceQuantityValue: never negative, and whole for resources that
// are counted (extended resources).
func validateResourceQuantityValue(name corev1.ResourceName, value resource.Quantity, fldPath *field.Path) field.ErrorList {
	if quantityOutOfRange(value) {
		return validateQuantityRange(value, fldPath)
	}
	var allErrs field.ErrorList
	if value.Cmp(resource.Quantity{}) < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath, value.String(), apimachineryvalidation.IsNegativeErrorMsg))
	}
	if isExtendedResourceName(name) && value.MilliValue()%1000 != 0 {
		allErrs = append(allErrs, field.Invalid(fldPath, value, isNotIntegerErrorMsg))
	}
	return allErrs
}

// validateResourceRequirements checks names and quantities of a container's
// limits and requests, and that each request fits its limit.
func validateResourceRequirements(req *corev1.ResourceRequirements, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	limPath := fldPath.Child("limits")
	reqPath := fldPath.Child("requests")
	limCPUOrMemory, reqCPUOrMemory, hugePages := false, false, false
	for name, q := range req.Limits {
		p := limPath.Key(string(name))
		allErrs = append(allErrs, validateContainerResourceName(name, p)...)
		allErrs = append(allErrs, validateResourceQuantityValue(name, q, p)...)
		if isHugePageResourceName(name) {
			hugePages = true
		}
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
			limCPUOrMemory = true
		}
	}
	for name, q := range req.Requests {
		p := reqPath.Key(string(name))
		allErrs = append(allErrs, validateContainerResourceName(name, p)...)
		allErrs = append(allErrs, validateResourceQuantityValue(name, q, p)...)
		limit, ok := req.Limits[name]
		switch {
		case ok && (quantityOutOfRange(q) || quantityOutOfRange(limit)):
			// Reported above, and not comparable.
		case ok && q.Cmp(limit) != 0 && !isOvercommitAllowed(name):
			allErrs = append(allErrs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
		case ok && q.Cmp(limit) > 0:
			allErrs = append(allErrs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
		case !ok && !isOvercommitAllowed(name):
			allErrs = append(allErrs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
		if isHugePageResourceName(name) {
			hugePages = true
		}
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
			reqCPUOrMemory = true
		}
	}
	if hugePages && !limCPUOrMemory && !reqCPUOrMemory {
		allErrs = append(allErrs, field.Forbidden(fldPath, "HugePages require cpu or memory"))
	}
	return allErrs
}
