// Package servicepods holds what the endpoints and endpointslice
// controllers share about turning a Service and the pods it selects into
// addresses: which pods belong in endpoints and with which IP, how a
// service port resolves against a pod's containers, which services a pod
// change concerns (and the informer handlers that queue them), and the
// trigger time recorded in endpoints.kubernetes.io/last-change-trigger-time.
package servicepods

import (
	"fmt"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// HeadlessLabel marks endpoints and slices of headless services.
const HeadlessLabel = "service.kubernetes.io/headless"

// Selector returns the service's pod selector, or nil for a service whose
// endpoints are managed by the user (no selector) or that has none by
// definition (type ExternalName).
func Selector(svc *corev1.Service) labels.Selector {
	if len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	return labels.Set(svc.Spec.Selector).AsSelectorPreValidated()
}

// ShouldPodBeInEndpoints reports whether a pod contributes an address:
// it has an IP, is not terminal (Succeeded or Failed) and, unless
// includeTerminating, is not being deleted.
func ShouldPodBeInEndpoints(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// IsPodReady reports whether the pod's Ready condition is True.
func IsPodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// PodIP returns the first of the pod's IPs (status.podIP, then
// status.podIPs) of the family asked for, IPv6 or IPv4, or "".
func PodIP(pod *corev1.Pod, ipv6 bool) string {
	ips := []string{pod.Status.PodIP}
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			continue
		}
		if (ip.To4() == nil) == ipv6 {
			return s
		}
	}
	return ""
}

// ShouldSetHostname reports whether the pod's hostname is published in
// the service's endpoints: the pod names the service as its subdomain.
func ShouldSetHostname(pod *corev1.Pod, svc *corev1.Service) bool {
	return pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace
}

// FindPort resolves a service port's targetPort against the pod: a
// number is used as is, a name is looked up in the pod's containers
// (matching protocol too). An unset targetPort means the service port.
func FindPort(pod *corev1.Pod, sp *corev1.ServicePort) (int, error) {
	target := sp.TargetPort
	switch {
	case target.Type == intstr.String && target.StrVal != "":
		for _, c := range allContainers(pod) {
			for _, p := range c.Ports {
				if p.Name == target.StrVal && protocolOf(p.Protocol) == protocolOf(sp.Protocol) {
					return int(p.ContainerPort), nil
				}
			}
		}
		return 0, fmt.Errorf("no container port named %q for service port %q in pod %s/%s", target.StrVal, sp.Name, pod.Namespace, pod.Name)
	case target.Type == intstr.Int && target.IntVal != 0:
		return int(target.IntVal), nil
	default:
		return int(sp.Port), nil
	}
}

func allContainers(pod *corev1.Pod) []corev1.Container {
	out := make([]corev1.Container, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	out = append(out, pod.Spec.Containers...)
	// Sidecars (restartable init containers) may serve ports too.
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			out = append(out, c)
		}
	}
	return out
}

func protocolOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// ServicesForPod returns the keys (namespace/name) of the services in the
// pod's namespace whose selector matches the pod's labels.
func ServicesForPod(lister corelisters.ServiceLister, pod *corev1.Pod) []string {
	svcs, err := lister.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var keys []string
	set := labels.Set(pod.Labels)
	for _, svc := range svcs {
		if sel := Selector(svc); sel != nil && sel.Matches(set) {
			keys = append(keys, svc.Namespace+"/"+svc.Name)
		}
	}
	return keys
}

// PodChanged reports whether an update of a pod can change any endpoint:
// its IPs, readiness, deletion, node, hostname, phase or container ports.
// Label changes are handled by the caller (they change which services
// select the pod).
func PodChanged(old, cur *corev1.Pod) bool {
	if old.ResourceVersion == cur.ResourceVersion {
		return false
	}
	if old.Status.PodIP != cur.Status.PodIP || len(old.Status.PodIPs) != len(cur.Status.PodIPs) ||
		IsPodReady(old) != IsPodReady(cur) || (old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) ||
		old.Spec.NodeName != cur.Spec.NodeName || old.Spec.Hostname != cur.Spec.Hostname ||
		old.Spec.Subdomain != cur.Spec.Subdomain || old.Status.Phase != cur.Status.Phase ||
		old.Generation != cur.Generation {
		return true
	}
	for i := range old.Status.PodIPs {
		if old.Status.PodIPs[i] != cur.Status.PodIPs[i] {
			return true
		}
	}
	return false
}

// TriggerTime returns when a pod change happened that affects endpoints:
// the last transition of its Ready condition, else its creation.
func TriggerTime(pod *corev1.Pod) time.Time {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	return pod.CreationTimestamp.Time
}

// TriggerTracker remembers, per service key, the changes not yet written
// to its endpoints, for the last-change-trigger-time annotation (the time
// from a change to the endpoints update is what users measure).
type TriggerTracker struct {
	mu sync.Mutex
	m  map[string][]time.Time
}

// NewTriggerTracker returns an empty tracker.
func NewTriggerTracker() *TriggerTracker { return &TriggerTracker{m: map[string][]time.Time{}} }

// Record notes a change at t for key.
func (t *TriggerTracker) Record(key string, at time.Time) {
	if at.IsZero() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.m[key] = append(t.m[key], at)
}

// Peek returns the earliest change recorded for key (zero if none) and a
// mark to pass to Done once that change is written.
func (t *TriggerTracker) Peek(key string) (time.Time, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var first time.Time
	for _, at := range t.m[key] {
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first, len(t.m[key])
}

// Done forgets the changes of key up to mark; changes recorded since Peek
// stay for the next sync.
func (t *TriggerTracker) Done(key string, mark int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rest := t.m[key][min(mark, len(t.m[key])):]
	if len(rest) == 0 {
		delete(t.m, key)
		return
	}
	t.m[key] = append([]time.Time(nil), rest...)
}

// Forget drops key (its service is gone).
func (t *TriggerTracker) Forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}
