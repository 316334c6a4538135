package validation

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateCreate returns the field errors of obj as a new object. obj must
// already be defaulted. Types this package does not know (Skiff's own API
// group, for instance) are accepted: the result is empty.
func ValidateCreate(obj runtime.Object) field.ErrorList {
	switch o := obj.(type) {
	case *corev1.Namespace:
		return validateNamespace(o)
	case *corev1.Node:
		return validateNode(o)
	case *corev1.Pod:
		return validatePodCreate(o)
	case *corev1.Service:
		return validateService(o)
	case *corev1.Endpoints:
		return validateEndpoints(o)
	case *corev1.ConfigMap:
		return validateConfigMap(o)
	case *corev1.Secret:
		return validateSecret(o)
	case *corev1.Event:
		return validateCoreEvent(o)
	case *eventsv1.Event:
		return validateEventCreate(o)
	case *appsv1.Deployment:
		return validateDeployment(o)
	case *appsv1.ReplicaSet:
		return validateReplicaSet(o)
	case *autoscalingv1.Scale:
		return validateScale(o)
	case *discoveryv1.EndpointSlice:
		return validateEndpointSlice(o, supportedAddressTypes)
	case *coordinationv1.Lease:
		return validateLease(o)
	}
	return nil
}

// ValidateUpdate returns the field errors of updating old to obj: obj must be
// valid as an object, and fields Kubernetes treats as immutable must keep
// their value. obj and old must be of the same type; a mismatch is reported
// as an internal error.
func ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	switch o := obj.(type) {
	case *corev1.Namespace:
		if p, ok := old.(*corev1.Namespace); ok {
			return validateNamespaceUpdate(o, p)
		}
	case *corev1.Node:
		if p, ok := old.(*corev1.Node); ok {
			return validateNodeUpdate(o, p)
		}
	case *corev1.Pod:
		if p, ok := old.(*corev1.Pod); ok {
			return validatePodUpdate(o, p)
		}
	case *corev1.Service:
		if p, ok := old.(*corev1.Service); ok {
			return validateServiceUpdate(o, p)
		}
	case *corev1.Endpoints:
		if p, ok := old.(*corev1.Endpoints); ok {
			return validateEndpointsUpdate(o, p)
		}
	case *corev1.ConfigMap:
		if p, ok := old.(*corev1.ConfigMap); ok {
			return validateConfigMapUpdate(o, p)
		}
	case *corev1.Secret:
		if p, ok := old.(*corev1.Secret); ok {
			return validateSecretUpdate(o, p)
		}
	case *corev1.Event:
		if _, ok := old.(*corev1.Event); ok {
			return validateCoreEvent(o)
		}
	case *eventsv1.Event:
		if p, ok := old.(*eventsv1.Event); ok {
			return validateEventUpdate(o, p)
		}
	case *appsv1.Deployment:
		if p, ok := old.(*appsv1.Deployment); ok {
			return validateDeploymentUpdate(o, p)
		}
	case *appsv1.ReplicaSet:
		if p, ok := old.(*appsv1.ReplicaSet); ok {
			return validateReplicaSetUpdate(o, p)
		}
	case *autoscalingv1.Scale:
		if _, ok := old.(*autoscalingv1.Scale); ok {
			// Kubernetes validates a scale write as a new Scale.
			return validateScale(o)
		}
	case *discoveryv1.EndpointSlice:
		if p, ok := old.(*discoveryv1.EndpointSlice); ok {
			return validateEndpointSliceUpdate(o, p)
		}
	case *coordinationv1.Lease:
		if p, ok := old.(*coordinationv1.Lease); ok {
			return validateLeaseUpdate(o, p)
		}
	default:
		return nil
	}
	return typeMismatch(obj, old)
}

// ValidateStatusUpdate returns the field errors of a write of obj through the
// /status subresource over old. For types without a status subresource it
// is the same as ValidateUpdate.
func ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	switch o := obj.(type) {
	case *corev1.Namespace:
		if p, ok := old.(*corev1.Namespace); ok {
			return validateNamespaceStatusUpdate(o, p)
		}
	case *corev1.Pod:
		if p, ok := old.(*corev1.Pod); ok {
			return validatePodStatusUpdate(o, p)
		}
	case *corev1.Service:
		if p, ok := old.(*corev1.Service); ok {
			return validateServiceStatusUpdate(o, p)
		}
	case *appsv1.Deployment:
		if p, ok := old.(*appsv1.Deployment); ok {
			return validateDeploymentStatusUpdate(o, p)
		}
	case *appsv1.ReplicaSet:
		if p, ok := old.(*appsv1.ReplicaSet); ok {
			return validateReplicaSetStatusUpdate(o, p)
		}
	default:
		// Node status goes through the same checks as a node update in
		// Kubernetes; the remaining types have no status subresource.
		return ValidateUpdate(obj, old)
	}
	return typeMismatch(obj, old)
}

func typeMismatch(obj, old runtime.Object) field.ErrorList {
	return field.ErrorList{field.InternalError(field.NewPath(""),
		fmt.Errorf("validation: cannot update a %T from a %T", obj, old))}
}

// standardFinalizers are the finalizer names that need no domain prefix
// (pkg/apis/core/helper.IsStandardFinalizerName).
var standardFinalizers = map[string]bool{
	string(corev1.FinalizerKubernetes): true,
	metav1.FinalizerOrphanDependents:   true,
	metav1.FinalizerDeleteDependents:   true,
}

// validateObjectMeta is Kubernetes' core ValidateObjectMeta: apimachinery's
// checks plus the rule that an unprefixed finalizer must be a standard one.
func validateObjectMeta(meta *metav1.ObjectMeta, namespaced bool, nameFn apimachineryvalidation.ValidateNameFunc, fldPath *field.Path) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(meta, namespaced, nameFn, fldPath)
	for i := range meta.Finalizers {
		allErrs = append(allErrs, validateKubeFinalizerName(meta.Finalizers[i], fldPath.Child("finalizers").Index(i))...)
	}
	return allErrs
}

// validateObjectMetaUpdate is Kubernetes' core ValidateObjectMetaUpdate.
func validateObjectMetaUpdate(newMeta, oldMeta *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(newMeta, oldMeta, fldPath)
	for i := range newMeta.Finalizers {
		allErrs = append(allErrs, validateKubeFinalizerName(newMeta.Finalizers[i], fldPath.Child("finalizers").Index(i))...)
	}
	return allErrs
}

func validateKubeFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	if !strings.Contains(name, "/") && !standardFinalizers[name] {
		return field.ErrorList{field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified")}
	}
	return nil
}

// validateFinalizerName checks a namespace spec finalizer.
func validateFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateFinalizerName(name, fldPath)
	return append(allErrs, validateKubeFinalizerName(name, fldPath)...)
}

func validateDNS1123Label(value string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

func validateDNS1123Subdomain(value string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

func validateQualifiedName(value string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range validation.IsQualifiedName(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

// validateName reports the messages of a name function as Invalid errors.
func validateName(nameFn apimachineryvalidation.ValidateNameFunc, value string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range nameFn(value, false) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

func validateNonnegative(value int64, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateNonnegativeField(value, fldPath)
}

func validateImmutable(newVal, oldVal any, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateImmutableField(newVal, oldVal, fldPath)
}
