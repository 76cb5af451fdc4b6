// Package validation checks API objects as upstream's
// k8s.io/kubernetes/pkg/apis/*/validation does, on the versioned types: the
// same rules, field paths, error types and messages, so that kubectl and
// client-go see the same 422 Invalid errors. Each ValidateX covers the
// object's metadata; each ValidateXUpdate covers the metadata update rules,
// the immutable fields and the new object itself.
//
// Feature-gated behaviour follows the gates' defaults of the Kubernetes
// release matching k8s.io/api.
package validation

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// nameFunc validates a name; prefix is true for generateName prefixes.
type nameFunc = apimachineryvalidation.ValidateNameFunc

var (
	// nameIsDNSSubdomain is the rule for most names.
	nameIsDNSSubdomain nameFunc = apimachineryvalidation.NameIsDNSSubdomain
	// nameIsDNSLabel is the rule for namespaces.
	nameIsDNSLabel nameFunc = apimachineryvalidation.NameIsDNSLabel
	// nameIsDNS1035Label is the rule for services: a label starting with a letter.
	nameIsDNS1035Label nameFunc = apimachineryvalidation.NameIsDNS1035Label
	// nameIsPathSegment is the rule every object name obeys in a URL.
	nameIsPathSegment nameFunc = path.ValidatePathSegmentName
)

var (
	metadataPath = field.NewPath("metadata")
	specPath     = field.NewPath("spec")
	statusPath   = field.NewPath("status")
)

// standardFinalizers are the finalizer names that need no domain prefix.
var standardFinalizers = map[string]bool{
	string(corev1.FinalizerKubernetes): true,
	metav1.FinalizerOrphanDependents:   true,
	metav1.FinalizerDeleteDependents:   true,
}

// validateObjectMeta validates metadata on create with the core API's extra
// finalizer rule.
func validateObjectMeta(meta *metav1.ObjectMeta, namespaced bool, fn nameFunc) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(meta, namespaced, fn, metadataPath)
	for i, f := range meta.Finalizers {
		allErrs = append(allErrs, validateKubeFinalizerName(f, metadataPath.Child("finalizers").Index(i))...)
	}
	return allErrs
}

// validateObjectMetaUpdate validates a metadata update with the core API's
// extra finalizer rule.
func validateObjectMetaUpdate(newMeta, oldMeta *metav1.ObjectMeta) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(newMeta, oldMeta, metadataPath)
	for i, f := range newMeta.Finalizers {
		allErrs = append(allErrs, validateKubeFinalizerName(f, metadataPath.Child("finalizers").Index(i))...)
	}
	return allErrs
}

// validateKubeFinalizerName rejects unqualified finalizer names that are not
// one of the standard ones.
func validateKubeFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	if !strings.Contains(name, "/") && !standardFinalizers[name] {
		return field.ErrorList{field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified")}
	}
	return nil
}

// validateFinalizerName validates a namespace spec finalizer.
func validateFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateFinalizerName(name, fldPath)
	return append(allErrs, validateKubeFinalizerName(name, fldPath)...)
}

// immutable returns "field is immutable" when newVal differs from oldVal.
func immutable(newVal, oldVal interface{}, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateImmutableField(newVal, oldVal, fldPath)
}

// nonNegative returns "must be greater than or equal to 0" for negatives.
func nonNegative(value int64, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateNonnegativeField(value, fldPath)
}

// dnsLabel validates an RFC 1123 label.
func dnsLabel(value string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range utilvalidation.IsDNS1123Label(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

// dnsSubdomain validates an RFC 1123 subdomain.
func dnsSubdomain(value string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range utilvalidation.IsDNS1123Subdomain(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

// qualifiedName validates a name like a label key (optional DNS prefix).
func qualifiedName(value string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range utilvalidation.IsQualifiedName(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

// nameErrors turns the messages of a name function into Invalid errors.
func nameErrors(fn nameFunc, value string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range fn(value, false) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

// portNum validates a port number 1-65535.
func portNum(port int32, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range utilvalidation.IsValidPortNum(int(port)) {
		allErrs = append(allErrs, field.Invalid(fldPath, port, msg))
	}
	return allErrs
}

// supportedProtocols are the protocols of ports.
var supportedProtocols = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}

// protocol validates a required port protocol.
func protocol(p corev1.Protocol, fldPath *field.Path) field.ErrorList {
	switch p {
	case "":
		return field.ErrorList{field.Required(fldPath, "")}
	case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		return nil
	}
	return field.ErrorList{field.NotSupported(fldPath, p, supportedProtocols)}
}
