package endpointslice

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/kubelab/kubelab/components/controllers/endpoints/servicepods"
)

// plan is what one sync writes.
type plan struct {
	creates, updates, deletes []*discoveryv1.EndpointSlice
}

// group is the desired endpoints sharing one address type and port list.
type group struct {
	ports  []discoveryv1.EndpointPort
	eps    map[string]discoveryv1.Endpoint
	placed map[string]bool
}

// sliceState is an existing slice being reconciled.
type sliceState struct {
	slice   *discoveryv1.EndpointSlice
	group   *group
	eps     []discoveryv1.Endpoint
	changed bool
}

// plan computes the creates, updates and deletes that make existing (the
// service's managed slices, from the cache) list pods. Existing slices
// keep the endpoints they hold where those are still wanted, new
// endpoints fill slices that change anyway before untouched ones, and new
// slices are created only when the others are full.
func (sc *Controller) plan(svc *corev1.Service, pods []*corev1.Pod, existing []*discoveryv1.EndpointSlice) plan {
	var p plan
	types := addressTypesFor(svc)
	desired := map[discoveryv1.AddressType]map[string]*group{}
	for _, at := range types {
		desired[at] = map[string]*group{}
	}
	for _, pod := range pods {
		if !servicepods.ShouldPodBeInEndpoints(pod, true) {
			continue
		}
		ports := endpointPorts(svc, pod)
		sig := portsSignature(ports)
		for _, at := range types {
			ep, ok := sc.podToEndpoint(pod, svc, at)
			if !ok {
				continue
			}
			g := desired[at][sig]
			if g == nil {
				g = &group{ports: ports, eps: map[string]discoveryv1.Endpoint{}, placed: map[string]bool{}}
				desired[at][sig] = g
			}
			g.eps[string(pod.UID)] = ep
		}
	}
	byType := map[discoveryv1.AddressType][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		if _, wanted := desired[s.AddressType]; !wanted || !ownedBy(s, svc) {
			p.deletes = append(p.deletes, s)
			continue
		}
		byType[s.AddressType] = append(byType[s.AddressType], s)
	}
	for _, at := range types {
		sc.planType(&p, svc, at, desired[at], byType[at])
	}
	return p
}

// planType reconciles the slices of one address type.
func (sc *Controller) planType(p *plan, svc *corev1.Service, at discoveryv1.AddressType, groups map[string]*group, existing []*discoveryv1.EndpointSlice) {
	wantLabels := desiredLabels(svc)
	slices.SortFunc(existing, func(a, b *discoveryv1.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })
	var kept []*sliceState
	var emptied []*discoveryv1.EndpointSlice
	for _, s := range existing {
		g := groups[portsSignature(s.Ports)]
		if g == nil {
			emptied = append(emptied, s)
			continue
		}
		st := &sliceState{slice: s, group: g, changed: !maps.Equal(s.Labels, wantLabels)}
		for _, ep := range s.Endpoints {
			k := endpointKey(ep)
			d, ok := g.eps[k]
			if !ok || g.placed[k] || len(st.eps) >= sc.maxPer {
				st.changed = true
				continue
			}
			g.placed[k] = true
			st.eps = append(st.eps, d)
			if !apiequality.Semantic.DeepEqual(ep, d) {
				st.changed = true
			}
		}
		if len(st.eps) == 0 {
			emptied = append(emptied, s)
			continue
		}
		kept = append(kept, st)
	}
	sigs := make([]string, 0, len(groups))
	for sig := range groups {
		sigs = append(sigs, sig)
	}
	slices.Sort(sigs)
	var creates []*discoveryv1.EndpointSlice
	for _, sig := range sigs {
		g := groups[sig]
		var rest []string
		for k := range g.eps {
			if !g.placed[k] {
				rest = append(rest, k)
			}
		}
		slices.Sort(rest)
		fill := func(st *sliceState) {
			for len(rest) > 0 && len(st.eps) < sc.maxPer {
				st.eps = append(st.eps, g.eps[rest[0]])
				rest = rest[1:]
				st.changed = true
			}
		}
		for _, changedFirst := range []bool{true, false} {
			for _, st := range kept {
				if st.group == g && st.changed == changedFirst {
					fill(st)
				}
			}
		}
		for len(rest) > 0 {
			s := newSlice(svc, at, g.ports)
			n := min(len(rest), sc.maxPer)
			for _, k := range rest[:n] {
				s.Endpoints = append(s.Endpoints, g.eps[k])
			}
			rest = rest[n:]
			creates = append(creates, s)
		}
	}
	for _, st := range kept {
		if !st.changed {
			continue
		}
		s := st.slice.DeepCopy()
		s.Endpoints = st.eps
		s.Labels = wantLabels
		p.updates = append(p.updates, s)
	}
	if len(kept) == 0 && len(creates) == 0 {
		// No endpoints of this type: keep (or create) one empty placeholder
		// slice, as upstream does, so consumers see the service is handled.
		var placeholder *discoveryv1.EndpointSlice
		for i, s := range emptied {
			if len(s.Ports) == 0 {
				placeholder = s
				emptied = append(emptied[:i:i], emptied[i+1:]...)
				break
			}
		}
		switch {
		case placeholder == nil:
			creates = append(creates, newSlice(svc, at, []discoveryv1.EndpointPort{}))
		case len(placeholder.Endpoints) > 0 || !maps.Equal(placeholder.Labels, wantLabels):
			s := placeholder.DeepCopy()
			s.Endpoints = nil
			s.Labels = wantLabels
			p.updates = append(p.updates, s)
		}
	}
	p.creates = append(p.creates, creates...)
	p.deletes = append(p.deletes, emptied...)
}

// podToEndpoint builds the pod's endpoint of the address type; false when
// the pod has no IP of that family.
func (sc *Controller) podToEndpoint(pod *corev1.Pod, svc *corev1.Service, at discoveryv1.AddressType) (discoveryv1.Endpoint, bool) {
	ip := servicepods.PodIP(pod, at != discoveryv1.AddressTypeIPv4)
	if ip == "" {
		return discoveryv1.Endpoint{}, false
	}
	serving := svc.Spec.PublishNotReadyAddresses || servicepods.IsPodReady(pod)
	terminating := pod.DeletionTimestamp != nil
	// Ready is never true for a terminating pod unless the service
	// publishes not-ready addresses.
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses:  []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		node := pod.Spec.NodeName
		ep.NodeName = &node
		if n, err := sc.nodes.Get(node); err == nil {
			if zone := n.Labels[corev1.LabelTopologyZone]; zone != "" {
				ep.Zone = &zone
			}
		}
	}
	if servicepods.ShouldSetHostname(pod, svc) {
		h := pod.Spec.Hostname
		ep.Hostname = &h
	}
	return ep, true
}

// endpointPorts resolves the service ports against the pod; ports the pod
// does not serve (a named targetPort it lacks) are left out.
func endpointPorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	out := []discoveryv1.EndpointPort{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		n, err := servicepods.FindPort(pod, sp)
		if err != nil {
			continue
		}
		name, port, proto := sp.Name, int32(n), sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		out = append(out, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto, AppProtocol: sp.AppProtocol})
	}
	return out
}

// portsSignature identifies a port list.
func portsSignature(ports []discoveryv1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&b, "%s:%s:%s:%s;", deref(p.Name), derefInt(p.Port), derefProto(p.Protocol), deref(p.AppProtocol))
	}
	return b.String()
}

func endpointKey(ep discoveryv1.Endpoint) string {
	if ep.TargetRef != nil && ep.TargetRef.UID != "" {
		return string(ep.TargetRef.UID)
	}
	return strings.Join(ep.Addresses, ",")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefInt(p *int32) string {
	if p == nil {
		return ""
	}
	return fmt.Sprint(*p)
}

func derefProto(p *corev1.Protocol) string {
	if p == nil {
		return string(corev1.ProtocolTCP)
	}
	return string(*p)
}
