package validation

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var supportedPodPhases = []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown}

// ValidatePodStatusUpdate validates a write to the status of a pod: valid
// condition types, no node change, the QoS class kept, valid pod and host
// IPs, and no terminated container coming back to life unless the restart
// policy allows it. Unlike upstream it also rejects unknown phases.
func ValidatePodStatusUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&newPod.ObjectMeta, &oldPod.ObjectMeta)
	allErrs = append(allErrs, validateMirrorAnnotationUpdate(newPod, oldPod)...)
	system := sets.New(corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized)
	for i, c := range newPod.Status.Conditions {
		if !system.Has(c.Type) {
			// Upstream reports these under metadata, and so do we.
			allErrs = append(allErrs, qualifiedName(string(c.Type), metadataPath.Child("conditions").Index(i).Child("Type"))...)
		}
	}
	status := newPod.Status
	if newPod.Spec.NodeName != oldPod.Spec.NodeName {
		allErrs = append(allErrs, field.Forbidden(statusPath.Child("nodeName"), "may not be changed directly"))
	}
	if status.NominatedNodeName != oldPod.Status.NominatedNodeName && status.NominatedNodeName != "" {
		allErrs = append(allErrs, nameErrors(nameIsDNSSubdomain, status.NominatedNodeName, statusPath.Child("nominatedNodeName"))...)
	}
	allErrs = append(allErrs, immutable(status.QOSClass, oldPod.Status.QOSClass, statusPath.Child("qosClass"))...)
	if status.Phase != "" {
		known := false
		for _, p := range supportedPodPhases {
			known = known || p == status.Phase
		}
		if !known {
			allErrs = append(allErrs, field.NotSupported(statusPath.Child("phase"), status.Phase, supportedPodPhases))
		}
	}
	allErrs = append(allErrs, validateStateTransitions(status.ContainerStatuses, oldPod.Status.ContainerStatuses, oldPod.Spec.RestartPolicy, nil, statusPath.Child("containerStatuses"))...)
	allErrs = append(allErrs, validateStateTransitions(status.InitContainerStatuses, oldPod.Status.InitContainerStatuses, oldPod.Spec.RestartPolicy, oldPod.Spec.InitContainers, statusPath.Child("initContainerStatuses"))...)
	allErrs = append(allErrs, validateStateTransitions(status.EphemeralContainerStatuses, oldPod.Status.EphemeralContainerStatuses, corev1.RestartPolicyNever, nil, statusPath.Child("ephemeralContainerStatuses"))...)
	podIPs := effectiveIPs(status.PodIP, podIPStrings(status.PodIPs))
	allErrs = append(allErrs, validateIPList(podIPs, statusPath.Child("podIPs"))...)
	if len(status.HostIPs) > 0 {
		hostIPs := hostIPStrings(status.HostIPs)
		if status.HostIP != "" && status.HostIP != hostIPs[0] {
			allErrs = append(allErrs, field.Invalid(statusPath.Child("hostIPs").Index(0).Child("ip"), hostIPs[0], "must be equal to `hostIP`"))
		}
		allErrs = append(allErrs, validateIPList(hostIPs, statusPath.Child("hostIPs"))...)
	} else if status.HostIP != "" {
		allErrs = append(allErrs, utilvalidation.IsValidIP(statusPath.Child("hostIPs").Index(0), status.HostIP)...)
	}
	return allErrs
}

// effectiveIPs is the plural list as upstream's conversion builds it: the
// singular field wins as the first entry.
func effectiveIPs(single string, plural []string) []string {
	if single == "" {
		return plural
	}
	if len(plural) == 0 {
		return []string{single}
	}
	out := append([]string{single}, plural[1:]...)
	return out
}

func podIPStrings(ips []corev1.PodIP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.IP
	}
	return out
}

func hostIPStrings(ips []corev1.HostIP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.IP
	}
	return out
}

// validateIPList requires valid IPs, at most one per family, no duplicates.
func validateIPList(ips []string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, ip := range ips {
		allErrs = append(allErrs, utilvalidation.IsValidIP(fldPath.Index(i), ip)...)
	}
	if len(ips) > 1 {
		if !dualStack(ips) || len(ips) > 2 {
			allErrs = append(allErrs, field.Invalid(fldPath, ips, "may specify no more than one IP for each IP family"))
		}
		seen := sets.New[string]()
		for i, ip := range ips {
			if seen.Has(ip) {
				allErrs = append(allErrs, field.Duplicate(fldPath.Index(i), ip))
			}
			seen.Insert(ip)
		}
	}
	return allErrs
}

// dualStack reports whether a list holds both an IPv4 and an IPv6 address.
func dualStack(ips []string) bool {
	v4, v6 := false, false
	for _, s := range ips {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return false
		}
		if addr.Unmap().Is4() {
			v4 = true
		} else {
			v6 = true
		}
	}
	return v4 && v6
}

// validateStateTransitions forbids a terminated container becoming
// non-terminated unless the restart policy (or a sidecar) allows it.
func validateStateTransitions(newStatuses, oldStatuses []corev1.ContainerStatus, policy corev1.RestartPolicy, inits []corev1.Container, fldPath *field.Path) field.ErrorList {
	if policy == corev1.RestartPolicyAlways {
		return nil
	}
	var allErrs field.ErrorList
	for i, old := range oldStatuses {
		if old.State.Terminated == nil {
			continue
		}
		if old.State.Terminated.ExitCode != 0 && policy == corev1.RestartPolicyOnFailure {
			continue
		}
		sidecar := false
		for _, c := range inits {
			if c.Name == old.Name {
				sidecar = c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
				break
			}
		}
		if sidecar {
			continue
		}
		for _, s := range newStatuses {
			if s.Name == old.Name && s.State.Terminated == nil {
				allErrs = append(allErrs, field.Forbidden(fldPath.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return allErrs
}

// validateTemplateMetadata validates the labels and annotations of a pod
// template (at <template>.labels and <template>.annotations, as upstream
// reports them).
func validateTemplateMetadata(t *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	allErrs := metav1validation.ValidateLabels(t.Labels, fldPath.Child("labels"))
	allErrs = append(allErrs, apimachineryvalidation.ValidateAnnotations(t.Annotations, fldPath.Child("annotations"))...)
	if value, mirror := t.Annotations[mirrorPodAnnotation]; mirror && t.Spec.NodeName == "" {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("annotations").Key(mirrorPodAnnotation), value, "must set spec.nodeName if mirror pod annotation is set"))
	}
	return allErrs
}
