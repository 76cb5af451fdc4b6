package endpoints

import (
	"context"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/kubelab/kubelab/components/controllers/endpoints/servicepods"
)

// maxCapacity is how many addresses one Endpoints object holds; beyond it
// the object is truncated and annotated, as upstream does.
const maxCapacity = 1000

// sync makes the Endpoints of the service key match its pods.
func (ec *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := ec.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		ec.triggers.Forget(key)
		// The service is gone: so are its endpoints (upstream does the same).
		if _, err := ec.endpoints.Endpoints(ns).Get(name); err != nil {
			return nil
		}
		err := ec.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpoints %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	sel := servicepods.Selector(svc)
	if sel == nil {
		return nil // no selector: the user manages these endpoints
	}
	pods, err := ec.pods.Pods(ns).List(sel)
	if err != nil {
		return err
	}
	subsets := repack(desiredSubsets(svc, pods))
	subsets, truncated := truncate(subsets)
	trigger, mark := ec.triggers.Peek(key)

	current, err := ec.endpoints.Endpoints(ns).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	want := desiredLabels(svc)
	if current != nil && apiequality.Semantic.DeepEqual(current.Subsets, subsets) &&
		maps.Equal(current.Labels, want) && (current.Annotations[corev1.EndpointsOverCapacity] != "") == truncated {
		ec.triggers.Done(key, mark)
		return nil
	}
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if current != nil {
		ep = current.DeepCopy()
	}
	ep.Subsets = subsets
	ep.Labels = want
	if ep.Annotations == nil {
		ep.Annotations = map[string]string{}
	}
	if !trigger.IsZero() {
		ep.Annotations[corev1.EndpointsLastChangeTriggerTime] = trigger.UTC().Format(time.RFC3339Nano)
	} else {
		delete(ep.Annotations, corev1.EndpointsLastChangeTriggerTime)
	}
	if truncated {
		ep.Annotations[corev1.EndpointsOverCapacity] = "truncated"
	} else {
		delete(ep.Annotations, corev1.EndpointsOverCapacity)
	}
	if current == nil {
		_, err = ec.client.CoreV1().Endpoints(ns).Create(ctx, ep, metav1.CreateOptions{})
	} else {
		_, err = ec.client.CoreV1().Endpoints(ns).Update(ctx, ep, metav1.UpdateOptions{})
	}
	if err != nil {
		if !apierrors.IsConflict(err) && !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			if current == nil {
				ec.recorder.Eventf(ep, corev1.EventTypeWarning, "FailedToCreateEndpoint", "Failed to create endpoint for service %s: %v", key, err)
			} else {
				ec.recorder.Eventf(ep, corev1.EventTypeWarning, "FailedToUpdateEndpoint", "Failed to update endpoint %s: %v", key, err)
			}
		}
		return fmt.Errorf("write endpoints %s: %w", key, err)
	}
	ec.triggers.Done(key, mark)
	ec.log.Debug("endpoints written", "service", key, "subsets", len(subsets))
	return nil
}

// desiredLabels are the service's labels, plus the headless marker for
// headless services.
func desiredLabels(svc *corev1.Service) map[string]string {
	out := make(map[string]string, len(svc.Labels)+1)
	for k, v := range svc.Labels {
		out[k] = v
	}
	delete(out, servicepods.HeadlessLabel)
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		out[servicepods.HeadlessLabel] = ""
	}
	return out
}

// desiredSubsets lists one subset per (pod, resolvable port): ready pods
// (or every pod, with publishNotReadyAddresses) as addresses, the others
// as notReadyAddresses. repack groups them afterwards.
func desiredSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	tolerateUnready := svc.Spec.PublishNotReadyAddresses
	var subsets []corev1.EndpointSubset
	for _, pod := range pods {
		if !servicepods.ShouldPodBeInEndpoints(pod, tolerateUnready) {
			continue
		}
		ip := servicepods.PodIP(pod, primaryIPv6(svc))
		if ip == "" {
			continue
		}
		addr := corev1.EndpointAddress{
			IP:        ip,
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if pod.Spec.NodeName != "" {
			n := pod.Spec.NodeName
			addr.NodeName = &n
		}
		if servicepods.ShouldSetHostname(pod, svc) {
			addr.Hostname = pod.Spec.Hostname
		}
		ready := tolerateUnready || servicepods.IsPodReady(pod)
		add := func(ports []corev1.EndpointPort) {
			s := corev1.EndpointSubset{Ports: ports}
			if ready {
				s.Addresses = []corev1.EndpointAddress{addr}
			} else {
				s.NotReadyAddresses = []corev1.EndpointAddress{addr}
			}
			subsets = append(subsets, s)
		}
		if len(svc.Spec.Ports) == 0 {
			if svc.Spec.ClusterIP == corev1.ClusterIPNone {
				add(nil) // headless without ports: addresses only
			}
			continue
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, err := servicepods.FindPort(pod, sp)
			if err != nil {
				continue // this pod does not serve this port
			}
			add([]corev1.EndpointPort{{Name: sp.Name, Port: int32(port), Protocol: sp.Protocol, AppProtocol: sp.AppProtocol}})
		}
	}
	return subsets
}

// primaryIPv6 reports whether the service's primary IP family is IPv6.
func primaryIPv6(svc *corev1.Service) bool {
	return len(svc.Spec.IPFamilies) > 0 && svc.Spec.IPFamilies[0] == corev1.IPv6Protocol
}

// truncate keeps at most maxCapacity addresses, ready ones first.
func truncate(subsets []corev1.EndpointSubset) ([]corev1.EndpointSubset, bool) {
	total := 0
	for _, s := range subsets {
		total += len(s.Addresses) + len(s.NotReadyAddresses)
	}
	if total <= maxCapacity {
		return subsets, false
	}
	left := maxCapacity
	for i := range subsets {
		n := min(left, len(subsets[i].Addresses))
		subsets[i].Addresses = subsets[i].Addresses[:n]
		left -= n
	}
	for i := range subsets {
		n := min(left, len(subsets[i].NotReadyAddresses))
		subsets[i].NotReadyAddresses = subsets[i].NotReadyAddresses[:n]
		left -= n
	}
	out := subsets[:0]
	for _, s := range subsets {
		if len(s.Addresses)+len(s.NotReadyAddresses) > 0 {
			out = append(out, s)
		}
	}
	return out, true
}
