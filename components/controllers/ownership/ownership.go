// Package ownership implements what workload controllers share about the
// objects they own: claiming (adopting and releasing) pods by selector and
// controller ownerReference, expectations of creates and deletes not yet
// observed, and pod readiness and activity as upstream defines them.
package ownership

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Owner identifies a controller object that owns pods (or replica sets).
type Owner struct {
	metav1.Object
	// GVK is the owner's group, version and kind, for its ownerReference.
	GVK schema.GroupVersionKind
}

// Ref returns the controller ownerReference pointing at the owner, with
// blockOwnerDeletion set as upstream controllers set it.
func (o Owner) Ref() metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{
		APIVersion: o.GVK.GroupVersion().String(), Kind: o.GVK.Kind,
		Name: o.GetName(), UID: o.GetUID(), Controller: &t, BlockOwnerDeletion: &t,
	}
}

// Claim decides which of objs (pods or replica sets in the owner's
// namespace) the owner controls: those it already controls and that still
// match the selector, plus orphans that match, which it adopts. Objects it
// controls that no longer match are released. Adopt and release patch the
// object's ownerReferences; objs are not modified.
// An owner being deleted adopts nothing.
func Claim[T metav1.Object](ctx context.Context, owner Owner, selector labels.Selector, objs []T,
	patch func(ctx context.Context, namespace, name string, data []byte) error) ([]T, error) {
	var claimed []T
	var errs []error
	for _, obj := range objs {
		ref := metav1.GetControllerOfNoCopy(obj)
		matches := selector.Matches(labels.Set(obj.GetLabels()))
		switch {
		case ref != nil && ref.UID != owner.GetUID():
			continue // someone else's
		case ref != nil:
			if matches {
				claimed = append(claimed, obj)
				continue
			}
			if owner.GetDeletionTimestamp() != nil {
				continue
			}
			if err := patch(ctx, obj.GetNamespace(), obj.GetName(), releasePatch(owner, obj)); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		case matches && obj.GetDeletionTimestamp() == nil && owner.GetDeletionTimestamp() == nil:
			if err := patch(ctx, obj.GetNamespace(), obj.GetName(), adoptPatch(owner, obj)); err != nil {
				if !apierrors.IsNotFound(err) {
					errs = append(errs, err)
				}
				continue
			}
			claimed = append(claimed, obj)
		}
	}
	if len(errs) > 0 {
		return claimed, fmt.Errorf("claim objects for %s/%s: %v", owner.GetNamespace(), owner.GetName(), errs)
	}
	return claimed, nil
}

// adoptPatch adds the owner's controller reference, guarded by the
// object's uid so a recreated object is not adopted by mistake.
func adoptPatch(owner Owner, obj metav1.Object) []byte {
	p := map[string]interface{}{
		"metadata": map[string]interface{}{
			"ownerReferences": []metav1.OwnerReference{owner.Ref()},
			"uid":             obj.GetUID(),
		},
	}
	data, _ := json.Marshal(p)
	return data
}

// releasePatch removes the owner's reference (strategic merge delete).
func releasePatch(owner Owner, obj metav1.Object) []byte {
	p := map[string]interface{}{
		"metadata": map[string]interface{}{
			"ownerReferences": []map[string]interface{}{{"$patch": "delete", "uid": owner.GetUID()}},
			"uid":             obj.GetUID(),
		},
	}
	data, _ := json.Marshal(p)
	return data
}

// PodPatcher returns the patch function Claim uses for pods.
func PodPatcher(client kubernetes.Interface) func(ctx context.Context, ns, name string, data []byte) error {
	return func(ctx context.Context, ns, name string, data []byte) error {
		_, err := client.CoreV1().Pods(ns).Patch(ctx, name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
		return err
	}
}

// IsPodActive reports whether a pod counts toward a controller's replicas:
// not finished and not being deleted.
func IsPodActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

// IsPodReady reports whether the pod's Ready condition is True.
func IsPodReady(p *corev1.Pod) bool {
	c := PodCondition(p, corev1.PodReady)
	return c != nil && c.Status == corev1.ConditionTrue
}

// IsPodAvailable reports whether the pod has been ready for minReadySeconds at now.
func IsPodAvailable(p *corev1.Pod, minReadySeconds int32, now metav1.Time) bool {
	c := PodCondition(p, corev1.PodReady)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	return !c.LastTransitionTime.IsZero() &&
		c.LastTransitionTime.Add(secondsDuration(minReadySeconds)).Before(now.Time)
}

// PodCondition returns the pod's condition of type t, or nil.
func PodCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}
