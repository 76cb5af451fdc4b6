package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/kubelab/kubelab/components/controllers/endpoints/servicepods"
)

// sync makes the managed slices of the service key match its pods.
func (sc *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := sc.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// Owned slices go with the service (garbage collector).
		sc.triggers.Forget(key)
		sc.tracker.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	existing, err := sc.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{
		discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: ManagedBy,
	}))
	if err != nil {
		return err
	}
	if sc.tracker.stale(key, existing) {
		// Our last writes are not in the cache yet; their events requeue
		// the service (the delay is a safety net).
		sc.queue.AddAfter(key, time.Second)
		return nil
	}
	var p plan
	if sel := servicepods.Selector(svc); sel == nil {
		p.deletes = existing // no selector (any more): nothing of ours belongs here
	} else {
		pods, err := sc.pods.Pods(ns).List(sel)
		if err != nil {
			return err
		}
		p = sc.plan(svc, pods, existing)
	}
	trigger, mark := sc.triggers.Peek(key)
	if err := sc.apply(ctx, key, p, trigger); err != nil {
		if !apierrors.IsConflict(err) && !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			sc.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices", "Error updating Endpoint Slices for Service %s: %v", key, err)
		}
		return err
	}
	sc.triggers.Done(key, mark)
	return nil
}

// apply writes a plan: creates first, then updates, then deletes, so
// addresses moving between slices are never missing from all of them.
func (sc *Controller) apply(ctx context.Context, key string, p plan, trigger time.Time) error {
	annotate := func(s *discoveryv1.EndpointSlice) {
		if trigger.IsZero() {
			delete(s.Annotations, corev1.EndpointsLastChangeTriggerTime)
			return
		}
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[corev1.EndpointsLastChangeTriggerTime] = trigger.UTC().Format(time.RFC3339Nano)
	}
	var errs []error
	for _, s := range p.creates {
		annotate(s)
		out, err := sc.client.DiscoveryV1().EndpointSlices(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("create endpointslice for %s: %w", key, err))
			continue
		}
		sc.tracker.expect(key, out.Name, out.Generation)
	}
	for _, s := range p.updates {
		annotate(s)
		out, err := sc.client.DiscoveryV1().EndpointSlices(s.Namespace).Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("update endpointslice %s/%s: %w", s.Namespace, s.Name, err))
			continue
		}
		sc.tracker.expect(key, out.Name, out.Generation)
	}
	for _, s := range p.deletes {
		err := sc.client.DiscoveryV1().EndpointSlices(s.Namespace).Delete(ctx, s.Name,
			metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete endpointslice %s/%s: %w", s.Namespace, s.Name, err))
			continue
		}
		sc.tracker.expect(key, s.Name, deleted)
	}
	if n := len(p.creates) + len(p.updates) + len(p.deletes); n > 0 {
		sc.log.Debug("endpointslices written", "service", key, "created", len(p.creates), "updated", len(p.updates), "deleted", len(p.deletes))
	}
	return errors.Join(errs...)
}

// desiredLabels are the service's labels (minus the reserved ones) plus
// the service name, the manager and, for headless services, the marker.
func desiredLabels(svc *corev1.Service) map[string]string {
	out := make(map[string]string, len(svc.Labels)+3)
	for k, v := range svc.Labels {
		switch k {
		case discoveryv1.LabelServiceName, discoveryv1.LabelManagedBy, servicepods.HeadlessLabel:
			continue
		}
		out[k] = v
	}
	out[discoveryv1.LabelServiceName] = svc.Name
	out[discoveryv1.LabelManagedBy] = ManagedBy
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		out[servicepods.HeadlessLabel] = ""
	}
	return out
}

// addressTypesFor returns the slice address types of the service's IP
// families (IPv4 when it names none).
func addressTypesFor(svc *corev1.Service) []discoveryv1.AddressType {
	var out []discoveryv1.AddressType
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			out = append(out, discoveryv1.AddressTypeIPv4)
		case corev1.IPv6Protocol:
			out = append(out, discoveryv1.AddressTypeIPv6)
		}
	}
	if len(out) == 0 {
		out = []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4}
	}
	return out
}

// newSlice returns an empty managed slice of the service.
func newSlice(svc *corev1.Service, at discoveryv1.AddressType, ports []discoveryv1.EndpointPort) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    svc.Name + "-",
			Namespace:       svc.Namespace,
			Labels:          desiredLabels(svc),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))},
		},
		AddressType: at,
		Ports:       ports,
	}
}

func ownedBy(s *discoveryv1.EndpointSlice, svc *corev1.Service) bool {
	for _, ref := range s.OwnerReferences {
		if ref.UID == svc.UID && ref.Kind == "Service" {
			return true
		}
	}
	return false
}
