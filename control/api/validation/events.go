package validation

import (
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Length limits of event fields.
const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

// eventFields is the part of an event both API versions share, named by
// the paths under which each version reports it.
type eventFields struct {
	namespace           string
	eventTime           metav1.MicroTime
	regardingNamespace  string
	reportingController string
	reportingInstance   string
	action              string
	reason              string
	note                string

	// Paths of the fields whose name differs between core/v1 and
	// events.k8s.io/v1.
	regardingPath, notePath *field.Path
}

// legacyValidateEvent is the check every event passes, whichever API it is
// written through: the namespaces agree and, for events that carry an event
// time (the new style), the reporting fields are set and short enough.
func legacyValidateEvent(e eventFields) field.ErrorList {
	var allErrs field.ErrorList
	nsPath := e.regardingPath.Child("namespace")
	if e.eventTime.IsZero() {
		if len(e.regardingNamespace) == 0 {
			if e.namespace != metav1.NamespaceNone && e.namespace != metav1.NamespaceDefault {
				allErrs = append(allErrs, field.Invalid(nsPath, e.regardingNamespace, "does not match event.namespace"))
			}
		} else if e.namespace != e.regardingNamespace {
			allErrs = append(allErrs, field.Invalid(nsPath, e.regardingNamespace, "does not match event.namespace"))
		}
	} else {
		if len(e.regardingNamespace) == 0 && e.namespace != metav1.NamespaceDefault && e.namespace != metav1.NamespaceSystem {
			allErrs = append(allErrs, field.Invalid(nsPath, e.regardingNamespace, "does not match event.namespace"))
		}
		if len(e.reportingController) == 0 {
			allErrs = append(allErrs, field.Required(field.NewPath("reportingController"), ""))
		}
		for _, msg := range validation.IsQualifiedName(e.reportingController) {
			allErrs = append(allErrs, field.Invalid(field.NewPath("reportingController"), e.reportingController, msg))
		}
		allErrs = append(allErrs, requiredWithLimit(e.reportingInstance, reportingInstanceLengthLimit, field.NewPath("reportingInstance"))...)
		allErrs = append(allErrs, requiredWithLimit(e.action, actionLengthLimit, field.NewPath("action"))...)
		allErrs = append(allErrs, requiredWithLimit(e.reason, reasonLengthLimit, field.NewPath("reason"))...)
		if len(e.note) > noteLengthLimit {
			allErrs = append(allErrs, field.Invalid(e.notePath, "", fmt.Sprintf("can have at most %v characters", noteLengthLimit)))
		}
	}
	for _, msg := range validation.IsDNS1123Subdomain(e.namespace) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("namespace"), e.namespace, msg))
	}
	return allErrs
}

func requiredWithLimit(value string, limit int, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(value) == 0 {
		allErrs = append(allErrs, field.Required(fldPath, ""))
	}
	if len(value) > limit {
		allErrs = append(allErrs, field.Invalid(fldPath, "", fmt.Sprintf("can have at most %v characters", limit)))
	}
	return allErrs
}

// validateCoreEvent checks a core/v1 event. As in Kubernetes, core/v1
// writes get only the legacy checks (and a name); updates are checked the
// same way.
func validateCoreEvent(e *corev1.Event) field.ErrorList {
	var allErrs field.ErrorList
	if len(e.Name) == 0 {
		allErrs = append(allErrs, field.Required(field.NewPath("metadata", "name"), "name or generateName is required"))
	}
	return append(allErrs, legacyValidateEvent(eventFields{
		namespace:           e.Namespace,
		eventTime:           e.EventTime,
		regardingNamespace:  e.InvolvedObject.Namespace,
		reportingController: e.ReportingController,
		reportingInstance:   e.ReportingInstance,
		action:              e.Action,
		reason:              e.Reason,
		note:                e.Message,
		regardingPath:       field.NewPath("involvedObject"),
		notePath:            field.NewPath("message"),
	})...)
}

// v1EventFields reports an events.k8s.io/v1 event under its own field
// names (regarding, note) where Kubernetes would use the core ones.
func v1EventFields(e *eventsv1.Event) eventFields {
	return eventFields{
		namespace:           e.Namespace,
		eventTime:           e.EventTime,
		regardingNamespace:  e.Regarding.Namespace,
		reportingController: e.ReportingController,
		reportingInstance:   e.ReportingInstance,
		action:              e.Action,
		reason:              e.Reason,
		note:                e.Note,
		regardingPath:       field.NewPath("regarding"),
		notePath:            field.NewPath("note"),
	}
}

// validateEventCreate is the strict validation of events.k8s.io/v1.
func validateEventCreate(e *eventsv1.Event) field.ErrorList {
	allErrs := legacyValidateEvent(v1EventFields(e))
	allErrs = append(allErrs, validateObjectMeta(&e.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	allErrs = append(allErrs, validateEventSeries(e)...)
	if e.EventTime.IsZero() {
		allErrs = append(allErrs, field.Required(field.NewPath("eventTime"), ""))
	}
	if e.Type != corev1.EventTypeNormal && e.Type != corev1.EventTypeWarning {
		allErrs = append(allErrs, field.Invalid(field.NewPath("type"), "", fmt.Sprintf("has invalid value: %v", e.Type)))
	}
	if !e.DeprecatedFirstTimestamp.IsZero() {
		allErrs = append(allErrs, field.Invalid(field.NewPath("deprecatedFirstTimestamp"), "", "needs to be unset"))
	}
	if !e.DeprecatedLastTimestamp.IsZero() {
		allErrs = append(allErrs, field.Invalid(field.NewPath("deprecatedLastTimestamp"), "", "needs to be unset"))
	}
	if e.DeprecatedCount != 0 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("deprecatedCount"), "", "needs to be unset"))
	}
	if e.DeprecatedSource.Component != "" || e.DeprecatedSource.Host != "" {
		allErrs = append(allErrs, field.Invalid(field.NewPath("deprecatedSource"), "", "needs to be unset"))
	}
	return allErrs
}

// validateEventUpdate: only the series (and metadata) of an event may
// change.
func validateEventUpdate(e, old *eventsv1.Event) field.ErrorList {
	allErrs := legacyValidateEvent(v1EventFields(e))
	allErrs = append(allErrs, validateObjectMetaUpdate(&e.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))...)
	if !reflect.DeepEqual(e.Series, old.Series) {
		allErrs = append(allErrs, validateEventSeries(e)...)
	}
	for _, f := range []struct {
		name     string
		new, old any
	}{
		{"regarding", e.Regarding, old.Regarding},
		{"reason", e.Reason, old.Reason},
		{"note", e.Note, old.Note},
		{"deprecatedSource", e.DeprecatedSource, old.DeprecatedSource},
		{"deprecatedFirstTimestamp", e.DeprecatedFirstTimestamp, old.DeprecatedFirstTimestamp},
		{"deprecatedLastTimestamp", e.DeprecatedLastTimestamp, old.DeprecatedLastTimestamp},
		{"deprecatedCount", e.DeprecatedCount, old.DeprecatedCount},
		{"type", e.Type, old.Type},
		{"eventTime", e.EventTime, old.EventTime},
		{"action", e.Action, old.Action},
		{"related", e.Related, old.Related},
		{"reportingController", e.ReportingController, old.ReportingController},
		{"reportingInstance", e.ReportingInstance, old.ReportingInstance},
	} {
		allErrs = append(allErrs, validateImmutable(f.new, f.old, field.NewPath(f.name))...)
	}
	return allErrs
}

func validateEventSeries(e *eventsv1.Event) field.ErrorList {
	if e.Series == nil {
		return nil
	}
	var allErrs field.ErrorList
	if e.Series.Count < 2 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("series.count"), "", "should be at least 2"))
	}
	if e.Series.LastObservedTime.IsZero() {
		allErrs = append(allErrs, field.Required(field.NewPath("series.lastObservedTime"), ""))
	}
	return allErrs
}
