package validation

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const mirrorPodAnnotation = "kubernetes.io/config.mirror"

// updatablePodSpecFields is what upstream lists when a pod update changes
// anything else.
var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

// ValidatePod validates a new pod.
func ValidatePod(pod *corev1.Pod) field.ErrorList {
	allErrs := validatePodMetadataAndSpec(pod)
	if len(pod.Spec.EphemeralContainers) > 0 {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	if pod.Spec.NodeName != "" && len(pod.Spec.SchedulingGates) != 0 {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("nodeName"), "cannot be set until all schedulingGates have been cleared"))
	}
	return allErrs
}

// validatePodMetadataAndSpec is what pod create and update share.
func validatePodMetadataAndSpec(pod *corev1.Pod) field.ErrorList {
	allErrs := validateObjectMeta(&pod.ObjectMeta, true, nameIsDNSSubdomain)
	if value, mirror := pod.Annotations[mirrorPodAnnotation]; mirror && pod.Spec.NodeName == "" {
		allErrs = append(allErrs, field.Invalid(metadataPath.Child("annotations").Key(mirrorPodAnnotation), value, "must set spec.nodeName if mirror pod annotation is set"))
	}
	allErrs = append(allErrs, validatePodSpec(&pod.Spec, &pod.ObjectMeta, specPath)...)
	if pod.Spec.ServiceAccountName == "" {
		for vi, v := range pod.Spec.Volumes {
			if v.Projected == nil {
				continue
			}
			for si, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					allErrs = append(allErrs, field.Forbidden(specPath.Child("volumes").Index(vi).Child("projected", "sources").Index(si).Child("serviceAccountToken"),
						"must not be specified when serviceAccountName is not set"))
				}
			}
		}
	}
	for i := range pod.Spec.Containers {
		allErrs = append(allErrs, validateContainerOnlyForPod(&pod.Spec.Containers[i], specPath.Child("containers").Index(i))...)
	}
	for i := range pod.Spec.InitContainers {
		allErrs = append(allErrs, validateContainerOnlyForPod(&pod.Spec.InitContainers[i], specPath.Child("initContainers").Index(i))...)
	}
	return allErrs
}

// ValidatePodUpdate validates an update of a pod: only container images,
// activeDeadlineSeconds (set or lowered), added tolerations, removed
// scheduling gates and a negative grace period set to 1 may change.
func ValidatePodUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&newPod.ObjectMeta, &oldPod.ObjectMeta)
	allErrs = append(allErrs, validatePodMetadataAndSpec(newPod)...)
	allErrs = append(allErrs, validateMirrorAnnotationUpdate(newPod, oldPod)...)

	errs, stop := validateContainerUpdates(newPod.Spec.Containers, oldPod.Spec.Containers, specPath.Child("containers"))
	if allErrs = append(allErrs, errs...); stop {
		return allErrs
	}
	errs, stop = validateContainerUpdates(newPod.Spec.InitContainers, oldPod.Spec.InitContainers, specPath.Child("initContainers"))
	if allErrs = append(allErrs, errs...); stop {
		return allErrs
	}
	adsPath := specPath.Child("activeDeadlineSeconds")
	if ads := newPod.Spec.ActiveDeadlineSeconds; ads != nil {
		if *ads < 0 || *ads > math.MaxInt32 {
			return append(allErrs, field.Invalid(adsPath, *ads, utilvalidation.InclusiveRangeError(0, math.MaxInt32)))
		}
		if old := oldPod.Spec.ActiveDeadlineSeconds; old != nil && *old < *ads {
			return append(allErrs, field.Invalid(adsPath, *ads, "must be less than or equal to previous value"))
		}
	} else if oldPod.Spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Invalid(adsPath, newPod.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}
	allErrs = append(allErrs, validateOnlyAddedTolerations(newPod.Spec.Tolerations, oldPod.Spec.Tolerations, specPath.Child("tolerations"))...)
	allErrs = append(allErrs, validateOnlyDeletedSchedulingGates(newPod.Spec.SchedulingGates, oldPod.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)
	if apiequality.Semantic.DeepEqual(newPod.Spec, oldPod.Spec) {
		return allErrs
	}
	return append(allErrs, validateImmutablePodSpec(&newPod.Spec, &oldPod.Spec)...)
}

// validateImmutablePodSpec masks the mutable fields and reports any other
// difference with upstream's Forbidden message and a diff.
func validateImmutablePodSpec(newSpec, oldSpec *corev1.PodSpec) field.ErrorList {
	var allErrs field.ErrorList
	munged := newSpec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = oldSpec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = oldSpec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = oldSpec.ActiveDeadlineSeconds
	munged.SchedulingGates = oldSpec.SchedulingGates
	munged.Tolerations = oldSpec.Tolerations
	if old := oldSpec.TerminationGracePeriodSeconds; old != nil && *old < 0 &&
		munged.TerminationGracePeriodSeconds != nil && *munged.TerminationGracePeriodSeconds == 1 {
		munged.TerminationGracePeriodSeconds = old
	}
	if len(oldSpec.SchedulingGates) > 0 {
		// Gated pods may gain node selectors and node affinity terms.
		if !apiequality.Semantic.DeepEqual(munged.NodeSelector, oldSpec.NodeSelector) {
			for k, v := range oldSpec.NodeSelector {
				if nv, ok := munged.NodeSelector[k]; !ok || nv != v {
					allErrs = append(allErrs, field.Invalid(specPath.Child("nodeSelector"), munged.NodeSelector, "only additions to spec.nodeSelector are allowed (no mutations or deletions)"))
					break
				}
			}
			munged.NodeSelector = oldSpec.NodeSelector
		}
		var oldNA *corev1.NodeAffinity
		if oldSpec.Affinity != nil {
			oldNA = oldSpec.Affinity.NodeAffinity
		}
		switch {
		case munged.Affinity == nil && oldNA != nil:
			munged.Affinity = &corev1.Affinity{NodeAffinity: oldNA}
		case munged.Affinity != nil && oldSpec.Affinity == nil && munged.Affinity.PodAffinity == nil && munged.Affinity.PodAntiAffinity == nil:
			munged.Affinity = nil
		case munged.Affinity != nil:
			munged.Affinity.NodeAffinity = oldNA
		}
	}
	if !apiequality.Semantic.DeepEqual(*munged, *oldSpec) {
		diff := cmp.Diff(*oldSpec, *munged)
		allErrs = append(allErrs, field.Forbidden(specPath, fmt.Sprintf("pod updates may not change fields other than %s\n%v",
			strings.Join(updatablePodSpecFields, ","), diff)))
	}
	return allErrs
}

func validateMirrorAnnotationUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	p := metadataPath.Child("annotations").Key(mirrorPodAnnotation)
	oldVal, hadOld := oldPod.Annotations[mirrorPodAnnotation]
	newVal, hasNew := newPod.Annotations[mirrorPodAnnotation]
	switch {
	case hadOld && (!hasNew || newVal != oldVal):
		return field.ErrorList{field.Forbidden(p, "may not remove or update mirror pod annotation")}
	case !hadOld && hasNew:
		return field.ErrorList{field.Forbidden(p, "may not add mirror pod annotation")}
	}
	return nil
}

func validateContainerUpdates(newCtrs, oldCtrs []corev1.Container, fldPath *field.Path) (field.ErrorList, bool) {
	if len(newCtrs) != len(oldCtrs) {
		return field.ErrorList{field.Forbidden(fldPath, "pod updates may not add or remove containers")}, true
	}
	var allErrs field.ErrorList
	for i, c := range newCtrs {
		if c.Image == "" {
			allErrs = append(allErrs, field.Required(fldPath.Index(i).Child("image"), ""))
		}
		if len(strings.TrimSpace(c.Image)) != len(c.Image) {
			allErrs = append(allErrs, field.Invalid(fldPath.Index(i).Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
	}
	return allErrs, false
}

// validateOnlyAddedTolerations allows new tolerations and changes of
// tolerationSeconds, nothing else.
func validateOnlyAddedTolerations(newTols, oldTols []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	for _, old := range oldTols {
		found := false
		for _, t := range newTols {
			o := *old.DeepCopy()
			o.TolerationSeconds = t.TolerationSeconds
			if reflect.DeepEqual(o, t) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(fldPath, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return validateTolerations(newTols, fldPath)
}

func validateOnlyDeletedSchedulingGates(newGates, oldGates []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	old := sets.New[string]()
	for _, g := range oldGates {
		old.Insert(g.Name)
	}
	var allErrs field.ErrorList
	for i, g := range newGates {
		if !old.Has(g.Name) {
			allErrs = append(allErrs, field.Forbidden(fldPath.Index(i).Child("name"), fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return allErrs
}

// validatePodTemplateSpec validates the pod template of a controller.
func validatePodTemplateSpec(t *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateTemplateMetadata(t, fldPath)
	allErrs = append(allErrs, validatePodSpec(&t.Spec, nil, fldPath.Child("spec"))...)
	if len(t.Spec.EphemeralContainers) > 0 {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return allErrs
}
