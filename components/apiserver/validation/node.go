package validation

import (
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const podCIDRChange = "node updates may not change podCIDR except from \"\" to valid"

// ValidateNode validates a node: a DNS subdomain name, unique valid taints,
// valid resource quantities and pod CIDRs (at most one per IP family).
func ValidateNode(n *corev1.Node) field.ErrorList {
	allErrs := validateObjectMeta(&n.ObjectMeta, false, nameIsDNSSubdomain)
	// Upstream reports taints under metadata, and so do we.
	allErrs = append(allErrs, validateTaints(n.Spec.Taints, metadataPath.Child("taints"))...)
	allErrs = append(allErrs, validateNodeResources(n)...)
	cidrs := podCIDRs(&n.Spec)
	if len(cidrs) > 0 {
		p := specPath.Child("podCIDRs")
		for i, c := range cidrs {
			allErrs = append(allErrs, utilvalidation.IsValidCIDR(p.Index(i), c)...)
		}
		if len(cidrs) > 1 {
			if !dualStackCIDRs(cidrs) || len(cidrs) > 2 {
				allErrs = append(allErrs, field.Invalid(p, cidrs, "may specify no more than one CIDR for each IP family"))
			}
			seen := sets.New[string]()
			for i, c := range cidrs {
				if seen.Has(c) {
					allErrs = append(allErrs, field.Duplicate(p.Index(i), c))
				}
				seen.Insert(c)
			}
		}
	}
	return allErrs
}

// podCIDRs is the plural list, or the singular field for older clients.
func podCIDRs(spec *corev1.NodeSpec) []string {
	if len(spec.PodCIDRs) == 0 && spec.PodCIDR != "" {
		return []string{spec.PodCIDR}
	}
	return spec.PodCIDRs
}

func dualStackCIDRs(cidrs []string) bool {
	var ips []string
	for _, c := range cidrs {
		ip, _, _ := strings.Cut(c, "/")
		if _, err := netip.ParseAddr(ip); err != nil {
			return false
		}
		ips = append(ips, ip)
	}
	return dualStack(ips)
}

func validateTaints(taints []corev1.Taint, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	unique := map[corev1.TaintEffect]sets.Set[string]{}
	for i, t := range taints {
		p := fldPath.Index(i)
		allErrs = append(allErrs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
		if errs := utilvalidation.IsValidLabelValue(t.Value); len(errs) != 0 {
			allErrs = append(allErrs, field.Invalid(p.Child("value"), t.Value, strings.Join(errs, ";")))
		}
		allErrs = append(allErrs, validateTaintEffect(t.Effect, false, p.Child("effect"))...)
		if unique[t.Effect].Has(t.Key) {
			dup := field.Duplicate(p, t)
			dup.Detail = "taints must be unique by key and effect pair"
			allErrs = append(allErrs, dup)
			continue
		}
		if unique[t.Effect] == nil {
			unique[t.Effect] = sets.New[string]()
		}
		unique[t.Effect].Insert(t.Key)
	}
	return allErrs
}

func validateNodeResources(n *corev1.Node) field.ErrorList {
	var allErrs field.ErrorList
	for name, q := range n.Status.Capacity {
		allErrs = append(allErrs, validateResourceQuantity(name, q, field.NewPath("status", "capacity", string(name)))...)
	}
	for name, q := range n.Status.Allocatable {
		allErrs = append(allErrs, validateResourceQuantity(name, q, field.NewPath("status", "allocatable", string(name)))...)
	}
	return allErrs
}

// ValidateNodeUpdate validates an update of a node: pod CIDRs and the
// provider ID may only be set once, addresses are unique.
func ValidateNodeUpdate(n, old *corev1.Node) field.ErrorList {
	allErrs := ValidateNode(n)
	allErrs = append(allErrs, validateObjectMetaUpdate(&n.ObjectMeta, &old.ObjectMeta)...)
	seen := map[corev1.NodeAddress]bool{}
	for i, a := range n.Status.Addresses {
		if seen[a] {
			allErrs = append(allErrs, field.Duplicate(field.NewPath("status", "addresses").Index(i), a))
		}
		seen[a] = true
	}
	if oldCIDRs, newCIDRs := podCIDRs(&old.Spec), podCIDRs(&n.Spec); len(oldCIDRs) > 0 {
		if len(oldCIDRs) != len(newCIDRs) {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("podCIDRs"), podCIDRChange))
		} else {
			for i := range oldCIDRs {
				if oldCIDRs[i] != newCIDRs[i] {
					allErrs = append(allErrs, field.Forbidden(specPath.Child("podCIDRs"), podCIDRChange))
				}
			}
		}
	}
	if old.Spec.ProviderID != "" && old.Spec.ProviderID != n.Spec.ProviderID {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	if n.Spec.DoNotUseExternalID != old.Spec.DoNotUseExternalID {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("externalID"), "may not be updated"))
	}
	return allErrs
}
