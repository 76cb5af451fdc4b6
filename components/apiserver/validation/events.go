package validation

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits of the fields of new-style events.
const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

// ValidateEvent validates an event as upstream's core/v1 API does: the
// involved object's namespace must match the event's (old-style events may
// also live in "default" for cluster-scoped objects), and events with an
// eventTime need their reporting fields. The stricter events.k8s.io/v1
// create rules are not applied: the same check serves both APIs.
func ValidateEvent(e *corev1.Event) field.ErrorList {
	allErrs := validateObjectMeta(&e.ObjectMeta, true, nameIsPathSegment)
	return append(allErrs, legacyValidateEvent(e)...)
}

// ValidateEventUpdate validates an update of an event.
func ValidateEventUpdate(e, old *corev1.Event) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&e.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, nameErrors(nameIsPathSegment, e.Name, metadataPath.Child("name"))...)
	return append(allErrs, legacyValidateEvent(e)...)
}

func legacyValidateEvent(e *corev1.Event) field.ErrorList {
	var allErrs field.ErrorList
	nsPath := field.NewPath("involvedObject", "namespace")
	const mismatch = "does not match event.namespace"
	if e.EventTime.IsZero() {
		if e.InvolvedObject.Namespace == "" {
			if e.Namespace != metav1.NamespaceNone && e.Namespace != metav1.NamespaceDefault {
				allErrs = append(allErrs, field.Invalid(nsPath, e.InvolvedObject.Namespace, mismatch))
			}
		} else if e.Namespace != e.InvolvedObject.Namespace {
			allErrs = append(allErrs, field.Invalid(nsPath, e.InvolvedObject.Namespace, mismatch))
		}
	} else {
		if e.InvolvedObject.Namespace == "" && e.Namespace != metav1.NamespaceDefault && e.Namespace != metav1.NamespaceSystem {
			allErrs = append(allErrs, field.Invalid(nsPath, e.InvolvedObject.Namespace, mismatch))
		}
		if e.ReportingController == "" {
			allErrs = append(allErrs, field.Required(field.NewPath("reportingController"), ""))
		}
		allErrs = append(allErrs, qualifiedName(e.ReportingController, field.NewPath("reportingController"))...)
		allErrs = append(allErrs, requiredMax(e.ReportingInstance, reportingInstanceLengthLimit, field.NewPath("reportingInstance"))...)
		allErrs = append(allErrs, requiredMax(e.Action, actionLengthLimit, field.NewPath("action"))...)
		allErrs = append(allErrs, requiredMax(e.Reason, reasonLengthLimit, field.NewPath("reason"))...)
		if len(e.Message) > noteLengthLimit {
			allErrs = append(allErrs, field.Invalid(field.NewPath("message"), "", fmt.Sprintf("can have at most %v characters", noteLengthLimit)))
		}
	}
	for _, msg := range utilvalidation.IsDNS1123Subdomain(e.Namespace) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("namespace"), e.Namespace, msg))
	}
	return allErrs
}

func requiredMax(value string, limit int, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if value == "" {
		allErrs = append(allErrs, field.Required(fldPath, ""))
	}
	if len(value) > limit {
		allErrs = append(allErrs, field.Invalid(fldPath, "", fmt.Sprintf("can have at most %v characters", limit)))
	}
	return allErrs
}
