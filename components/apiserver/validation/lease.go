package validation

import (
	"slices"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateLease validates a lease: positive duration, non-negative
// transitions, a known strategy, and a preferred holder only with one.
func ValidateLease(l *coordinationv1.Lease) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&l.ObjectMeta, true, nameIsDNSSubdomain, metadataPath)
	return append(allErrs, validateLeaseSpec(&l.Spec)...)
}

// ValidateLeaseUpdate validates an update of a lease.
func ValidateLeaseUpdate(l, old *coordinationv1.Lease) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&l.ObjectMeta, &old.ObjectMeta, metadataPath)
	return append(allErrs, validateLeaseSpec(&l.Spec)...)
}

func validateLeaseSpec(spec *coordinationv1.LeaseSpec) field.ErrorList {
	var allErrs field.ErrorList
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds <= 0 {
		allErrs = append(allErrs, field.Invalid(specPath.Child("leaseDurationSeconds"), spec.LeaseDurationSeconds, "must be greater than 0"))
	}
	if spec.LeaseTransitions != nil && *spec.LeaseTransitions < 0 {
		allErrs = append(allErrs, field.Invalid(specPath.Child("leaseTransitions"), spec.LeaseTransitions, "must be greater than or equal to 0"))
	}
	if spec.Strategy != nil {
		valid := []coordinationv1.CoordinatedLeaseStrategy{coordinationv1.OldestEmulationVersion}
		p := specPath.Child("strategy").Child("strategy")
		if !strings.Contains(string(*spec.Strategy), "/") {
			if !slices.Contains(valid, *spec.Strategy) {
				allErrs = append(allErrs, field.NotSupported(p, *spec.Strategy, valid))
			}
		} else {
			allErrs = append(allErrs, qualifiedName(string(*spec.Strategy), p)...)
		}
	}
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && (spec.Strategy == nil || *spec.Strategy == "") {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return allErrs
}
