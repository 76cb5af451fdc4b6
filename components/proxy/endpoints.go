package proxy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Labels that take Services and EndpointSlices away from this proxier, as
// upstream's informers select them out.
const (
	// LabelServiceProxyName names another proxy that handles the Service.
	LabelServiceProxyName = "service.kubernetes.io/service-proxy-name"
	// LabelHeadless marks EndpointSlices of headless Services.
	LabelHeadless = corev1.IsHeadlessService
)

// defaultAffinityTimeout is upstream's default
// sessionAffinityConfig.clientIP.timeoutSeconds.
const defaultAffinityTimeout = 10800 * time.Second

// ServicePort is one port of a Service as the proxier programs it.
type ServicePort struct {
	Namespace, Name, PortName string
	Proto                     Proto
	Port                      uint16
	// NodePort is 0 unless the Service is a NodePort or LoadBalancer one.
	NodePort    uint16
	ClusterIPs  []netip.Addr
	ExternalIPs []netip.Addr
	// Affinity is the ClientIP session affinity timeout (0: none).
	Affinity time.Duration
	// endpoints holds every endpoint of the port with its conditions.
	endpoints []endpoint
}

// Endpoint is an address and port traffic of a ServicePort goes to.
type Endpoint struct {
	Addr netip.Addr
	Port uint16
}

// String is addr:port.
func (e Endpoint) String() string { return netip.AddrPortFrom(e.Addr, e.Port).String() }

type endpoint struct {
	Endpoint
	ready, servingTerminating bool
}

// String is namespace/name:port, upstream's ServicePortName.
func (sp *ServicePort) String() string {
	return fmt.Sprintf("%s/%s:%s", sp.Namespace, sp.Name, sp.PortName)
}

// key identifies the port across syncs.
func (sp *ServicePort) key() string { return sp.String() + "/" + sp.Proto.String() }

// Endpoints returns the endpoints of family f traffic goes to: the ready
// ones or, when none is ready, the serving and terminating ones (upstream's
// fallback, so connections drain instead of failing during a rollout).
func (sp *ServicePort) Endpoints(f Family) []Endpoint {
	var ready, terminating []Endpoint
	for _, e := range sp.endpoints {
		if familyOf(e.Addr) != f {
			continue
		}
		if e.ready {
			ready = append(ready, e.Endpoint)
		} else if e.servingTerminating {
			terminating = append(terminating, e.Endpoint)
		}
	}
	if len(ready) > 0 {
		return ready
	}
	return terminating
}

// addrsOf returns the addresses of family f.
func addrsOf(addrs []netip.Addr, f Family) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		if familyOf(a) == f {
			out = append(out, a)
		}
	}
	return out
}

// protoOf converts a Kubernetes protocol ("" is TCP).
func protoOf(p corev1.Protocol) (Proto, bool) {
	switch p {
	case "", corev1.ProtocolTCP:
		return TCP, true
	case corev1.ProtocolUDP:
		return UDP, true
	case corev1.ProtocolSCTP:
		return SCTP, true
	}
	return 0, false
}

// ServicePorts turns Services and their EndpointSlices into the ports to
// program, sorted by name. Services of other proxies, ExternalName and
// headless Services, and ports with unknown protocols are left out.
// Endpoints come from every slice labelled kubernetes.io/service-name with
// the Service's name whose port has the Service port's name and protocol;
// an address listed twice counts once (ready if any copy is).
func ServicePorts(services []*corev1.Service, slicesIn []*discoveryv1.EndpointSlice) []*ServicePort {
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range slicesIn {
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" || s.Labels[LabelServiceProxyName] != "" {
			continue
		}
		k := s.Namespace + "/" + name
		bySvc[k] = append(bySvc[k], s)
	}
	var out []*ServicePort
	for _, svc := range services {
		if svc.Labels[LabelServiceProxyName] != "" || svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		clusterIPs := parseAddrs(svc.Spec.ClusterIPs)
		if len(svc.Spec.ClusterIPs) == 0 {
			clusterIPs = parseAddrs([]string{svc.Spec.ClusterIP})
		}
		if len(clusterIPs) == 0 { // headless ("None") or not allocated
			continue
		}
		var affinity time.Duration
		if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
			affinity = defaultAffinityTimeout
			if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
				affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
			}
		}
		nodePorts := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
		for _, p := range svc.Spec.Ports {
			proto, ok := protoOf(p.Protocol)
			if !ok || p.Port <= 0 || p.Port > 65535 {
				continue
			}
			sp := &ServicePort{
				Namespace: svc.Namespace, Name: svc.Name, PortName: p.Name, Proto: proto, Port: uint16(p.Port),
				ClusterIPs: clusterIPs, ExternalIPs: parseAddrs(svc.Spec.ExternalIPs), Affinity: affinity,
			}
			if nodePorts && p.NodePort > 0 && p.NodePort <= 65535 {
				sp.NodePort = uint16(p.NodePort)
			}
			sp.endpoints = endpointsFor(bySvc[svc.Namespace+"/"+svc.Name], p.Name, proto)
			out = append(out, sp)
		}
	}
	slices.SortFunc(out, func(a, b *ServicePort) int { return cmp.Compare(a.key(), b.key()) })
	return out
}

// endpointsFor merges the endpoints of the slices' ports called portName.
func endpointsFor(sl []*discoveryv1.EndpointSlice, portName string, proto Proto) []endpoint {
	merged := map[Endpoint]*endpoint{}
	for _, s := range sl {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		var port int32
		for _, p := range s.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			pp := corev1.ProtocolTCP
			if p.Protocol != nil {
				pp = *p.Protocol
			}
			if pr, ok := protoOf(pp); ok && pr == proto && name == portName && p.Port != nil {
				port = *p.Port
				break
			}
		}
		if port <= 0 || port > 65535 {
			continue
		}
		for _, e := range s.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			addr, err := netip.ParseAddr(e.Addresses[0])
			if err != nil {
				continue
			}
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			serving := ready
			if e.Conditions.Serving != nil {
				serving = *e.Conditions.Serving
			}
			terminating := e.Conditions.Terminating != nil && *e.Conditions.Terminating
			k := Endpoint{Addr: addr.Unmap(), Port: uint16(port)}
			m := merged[k]
			if m == nil {
				m = &endpoint{Endpoint: k}
				merged[k] = m
			}
			m.ready = m.ready || ready
			m.servingTerminating = m.servingTerminating || (serving && terminating)
		}
	}
	out := make([]endpoint, 0, len(merged))
	for _, e := range merged {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b endpoint) int {
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		return cmp.Compare(a.Port, b.Port)
	})
	return out
}

// parseAddrs parses IP strings, skipping bad ones and "None".
func parseAddrs(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}
