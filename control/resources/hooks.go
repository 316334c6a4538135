package resources

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiff-sh/skiff/control/api/defaulting"
	"github.com/skiff-sh/skiff/control/api/validation"
)

// The generic hooks every resource starts with.
func defaultObject(obj runtime.Object) { defaulting.Default(obj) }

func validateCreate(obj runtime.Object) field.ErrorList { return validation.ValidateCreate(obj) }

func validateUpdate(obj, old runtime.Object) field.ErrorList {
	return validation.ValidateUpdate(obj, old)
}

func validateStatus(obj, old runtime.Object) field.ErrorList {
	return validation.ValidateStatusUpdate(obj, old)
}
