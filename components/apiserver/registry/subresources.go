package registry

import (
	"context"
	"encoding/json"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var scaleGK = autoscalingv1.SchemeGroupVersion.WithKind("Scale").GroupKind()

func (s *Store) scaleOf(obj runtime.Object) *autoscalingv1.Scale {
	spec, status, sel := s.res.Scale.Get(obj)
	m := MetaOf(obj)
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{
			Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: sel},
	}
}

// GetScale returns the scale subresource of ns/name.
func (s *Store) GetScale(ctx context.Context, ns, name string) (*autoscalingv1.Scale, error) {
	obj, err := s.getStored(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return s.scaleOf(obj), nil
}

// UpdateScale sets spec.replicas of ns/name from scale.
func (s *Store) UpdateScale(ctx context.Context, ns, name string, scale *autoscalingv1.Scale, o WriteOptions) (*autoscalingv1.Scale, error) {
	if scale.Name != name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", scale.Name, name))
	}
	return s.scaleUpdate(ctx, ns, name, scale.ResourceVersion, o, func(*autoscalingv1.Scale) (*autoscalingv1.Scale, error) { return scale, nil })
}

// PatchScale patches the scale subresource of ns/name.
func (s *Store) PatchScale(ctx context.Context, ns, name string, pt types.PatchType, patch []byte, o PatchOptions) (*autoscalingv1.Scale, error) {
	if pt == types.ApplyPatchType || pt == types.ApplyCBORPatchType {
		return nil, apierrors.NewMethodNotSupported(s.gr, "apply to the scale subresource")
	}
	return s.scaleUpdate(ctx, ns, name, "", o.WriteOptions, func(cur *autoscalingv1.Scale) (*autoscalingv1.Scale, error) {
		orig, err := json.Marshal(cur)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		patched, err := ApplyPatch(pt, orig, patch, &autoscalingv1.Scale{})
		if err != nil {
			return nil, err
		}
		out := &autoscalingv1.Scale{}
		if err := o.Decode(patched, out); err != nil {
			return nil, err
		}
		if out.ResourceVersion != "" && out.ResourceVersion != cur.ResourceVersion {
			return nil, conflict(s.gr, name)
		}
		return out, nil
	})
}

func (s *Store) scaleUpdate(ctx context.Context, ns, name, precondition string, o WriteOptions, next func(cur *autoscalingv1.Scale) (*autoscalingv1.Scale, error)) (*autoscalingv1.Scale, error) {
	o.Subresource = ""
	out, err := s.GuaranteedUpdate(ctx, ns, name, precondition, o, func(existing runtime.Object) (runtime.Object, error) {
		want, err := next(s.scaleOf(existing))
		if err != nil {
			return nil, err
		}
		if want.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleGK, name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "replicas"), want.Spec.Replicas, "must be greater than or equal to 0")})
		}
		s.res.Scale.SetReplicas(existing, want.Spec.Replicas)
		return existing, nil
	})
	if err != nil {
		return nil, err
	}
	stored, err := s.toStored(out)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return s.scaleOf(stored), nil
}

// Bind assigns a pod to a node through the pods/binding subresource. A pod
// is bound once: a second binding is a conflict. As upstream's BindingREST
// (a GuaranteedUpdate straight on storage), the binding leaves the pod's
// managedFields alone: the scheduler never becomes a field manager of the
// pod, and a binding, one per pod, does not pay for the field manager.
func (s *Store) Bind(ctx context.Context, ns string, b *corev1.Binding, o WriteOptions) error {
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), b.Name, field.ErrorList{
			field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node", "<empty>"})})
	}
	if b.Target.Name == "" {
		return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), b.Name, field.ErrorList{
			field.Required(field.NewPath("target", "name"), "")})
	}
	o.Subresource = "binding"
	o.appliedManagedFields = true // kept as stored
	precondition := ""
	if b.ResourceVersion != "" {
		precondition = b.ResourceVersion
	}
	_, err := s.GuaranteedUpdate(ctx, ns, b.Name, precondition, o, func(existing runtime.Object) (runtime.Object, error) {
		pod := existing.(*corev1.Pod)
		if b.UID != "" && b.UID != pod.UID {
			return nil, apierrors.NewConflict(s.gr, b.Name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", b.UID, pod.UID))
		}
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(s.gr, b.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", b.Name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(s.gr, b.Name, fmt.Errorf("pod %s is already assigned to node %q", b.Name, pod.Spec.NodeName))
		}
		if len(pod.Spec.SchedulingGates) != 0 {
			return nil, apierrors.NewConflict(s.gr, b.Name, fmt.Errorf("pod %s has non-empty .spec.schedulingGates", b.Name))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now()})
		return pod, nil
	})
	return err
}

func setPodCondition(pod *corev1.Pod, c corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			pod.Status.Conditions[i] = c
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}

// Finalize replaces a namespace's spec.finalizers (namespaces/finalize).
// When none remain on a namespace being deleted, it is removed.
func (s *Store) Finalize(ctx context.Context, name string, in *corev1.Namespace, o WriteOptions) (runtime.Object, error) {
	o.Subresource = "finalize"
	return s.GuaranteedUpdate(ctx, "", name, in.ResourceVersion, o, func(existing runtime.Object) (runtime.Object, error) {
		ns := existing.(*corev1.Namespace)
		ns.Spec.Finalizers = in.Spec.Finalizers
		return ns, nil
	})
}
