package defaults

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Service defaults a service as upstream's SetDefaults_Service does, plus
// the IP family fields upstream's service REST storage fills in before it
// allocates cluster IPs (that allocation is done elsewhere): a single-stack
// IPv4 service unless the cluster IPs say otherwise, and a headless service
// without selector requires dual-stack.
func Service(s *corev1.Service) {
	spec := &s.Spec
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	if spec.SessionAffinity == corev1.ServiceAffinityNone {
		spec.SessionAffinityConfig = nil
	}
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		c := spec.SessionAffinityConfig
		if c == nil || c.ClientIP == nil || c.ClientIP.TimeoutSeconds == nil {
			timeout := corev1.DefaultClientIPServiceAffinitySeconds
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{
				ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &timeout},
			}
		}
	}
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == intstr.FromInt32(0) || p.TargetPort == intstr.FromString("") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if ExternallyAccessible(s) && spec.ExternalTrafficPolicy == "" {
		spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if spec.InternalTrafficPolicy == nil && (spec.Type == corev1.ServiceTypeClusterIP ||
		spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer) {
		cluster := corev1.ServiceInternalTrafficPolicyCluster
		spec.InternalTrafficPolicy = &cluster
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer {
		if spec.AllocateLoadBalancerNodePorts == nil {
			on := true
			spec.AllocateLoadBalancerNodePorts = &on
		}
		vip := corev1.LoadBalancerIPModeVIP
		for i, ing := range s.Status.LoadBalancer.Ingress {
			if ing.IP != "" && ing.IPMode == nil {
				s.Status.LoadBalancer.Ingress[i].IPMode = &vip
			}
		}
	}
	// Old clients only know the singular field: mirror it into the plural.
	if spec.ClusterIP != "" && len(spec.ClusterIPs) == 0 {
		spec.ClusterIPs = []string{spec.ClusterIP}
	}
	ipFamilies(spec)
}

// ExternallyAccessible reports whether a service is reachable from outside
// the cluster, in which case it has an external traffic policy.
func ExternallyAccessible(s *corev1.Service) bool {
	return s.Spec.Type == corev1.ServiceTypeLoadBalancer ||
		s.Spec.Type == corev1.ServiceTypeNodePort ||
		(s.Spec.Type == corev1.ServiceTypeClusterIP && len(s.Spec.ExternalIPs) > 0)
}

// ipFamilies fills ipFamilyPolicy and ipFamilies for a single-stack IPv4
// cluster, as upstream's allocator defaults them.
func ipFamilies(spec *corev1.ServiceSpec) {
	if spec.Type == corev1.ServiceTypeExternalName {
		return
	}
	if len(spec.ClusterIPs) > 0 && spec.ClusterIPs[0] == corev1.ClusterIPNone {
		if len(spec.Selector) == 0 {
			setPolicy(spec, corev1.IPFamilyPolicyRequireDualStack)
			if len(spec.IPFamilies) == 0 {
				spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
			}
			if len(spec.IPFamilies) == 1 && *spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack {
				spec.IPFamilies = append(spec.IPFamilies, otherFamily(spec.IPFamilies[0]))
			}
			return
		}
		setPolicy(spec, corev1.IPFamilyPolicySingleStack)
		if len(spec.IPFamilies) == 0 {
			spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
		return
	}
	setPolicy(spec, corev1.IPFamilyPolicySingleStack)
	if len(spec.IPFamilies) == 0 {
		for _, ip := range spec.ClusterIPs {
			if f, ok := family(ip); ok {
				spec.IPFamilies = append(spec.IPFamilies, f)
			}
		}
	}
	if len(spec.IPFamilies) == 0 {
		spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	}
}

func setPolicy(spec *corev1.ServiceSpec, p corev1.IPFamilyPolicy) {
	if spec.IPFamilyPolicy == nil {
		spec.IPFamilyPolicy = &p
	}
}

func otherFamily(f corev1.IPFamily) corev1.IPFamily {
	if f == corev1.IPv6Protocol {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}

func family(ip string) (corev1.IPFamily, bool) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "", false
	}
	if addr.Is4() {
		return corev1.IPv4Protocol, true
	}
	return corev1.IPv6Protocol, true
}

// PrepareServiceUpdate carries the values the API server allocated over to
// an update that omits them, as upstream's service strategy does
// (patchAllocatedValues and NormalizeClusterIPs): clusterIP(s), node ports,
// health check node port and, when the cluster IPs are kept, the IP family
// fields. Without it, `kubectl replace` of a manifest without clusterIP
// fails. Call it before Service on update.
func PrepareServiceUpdate(s, old *corev1.Service) {
	spec, oldSpec := &s.Spec, &old.Spec
	if needsClusterIP(old) && needsClusterIP(s) {
		if spec.ClusterIP == "" {
			spec.ClusterIP = oldSpec.ClusterIP
		}
		if len(spec.ClusterIPs) == 0 && len(oldSpec.ClusterIPs) > 0 {
			spec.ClusterIPs = slices.Clone(oldSpec.ClusterIPs)
		}
		// The singular field changed and the plural did not: make the plural
		// follow so that validation reports the change on clusterIPs.
		if spec.ClusterIP != oldSpec.ClusterIP && slices.Equal(spec.ClusterIPs, oldSpec.ClusterIPs) && spec.ClusterIP != "" {
			spec.ClusterIPs = []string{spec.ClusterIP}
		}
		if slices.Equal(spec.ClusterIPs, oldSpec.ClusterIPs) {
			if spec.IPFamilyPolicy == nil && oldSpec.IPFamilyPolicy != nil {
				p := *oldSpec.IPFamilyPolicy
				spec.IPFamilyPolicy = &p
			}
			if len(spec.IPFamilies) == 0 {
				spec.IPFamilies = slices.Clone(oldSpec.IPFamilies)
			}
		}
	}
	if needsNodePort(old) && needsNodePort(s) {
		used := map[int32]bool{}
		inNew := map[int32]bool{}
		for _, p := range spec.Ports {
			inNew[p.NodePort] = true
		}
		byName := map[string]int32{}
		for _, p := range oldSpec.Ports {
			byName[p.Name] = p.NodePort
			if p.NodePort != 0 && inNew[p.NodePort] {
				used[p.NodePort] = true
			}
		}
		for i := range spec.Ports {
			p := &spec.Ports[i]
			if p.NodePort == 0 && !used[byName[p.Name]] {
				p.NodePort = byName[p.Name]
			}
		}
	}
	if needsHealthCheck(old) && needsHealthCheck(s) && spec.HealthCheckNodePort == 0 {
		spec.HealthCheckNodePort = oldSpec.HealthCheckNodePort
	}
	dropTypeDependentFields(s, old)
}

// dropTypeDependentFields is upstream's: when an update switches a service
// to a type that no longer uses a field the server may have filled in, and
// the client left that field as it was, the field is cleared (so that
// NodePort -> ClusterIP does not fail validation on externalTrafficPolicy).
func dropTypeDependentFields(s, old *corev1.Service) {
	spec, oldSpec := &s.Spec, &old.Spec
	if needsClusterIP(old) && !needsClusterIP(s) {
		if spec.ClusterIP == oldSpec.ClusterIP && slices.Equal(spec.ClusterIPs, oldSpec.ClusterIPs) {
			spec.ClusterIP, spec.ClusterIPs = "", nil
		}
		if slices.Equal(spec.IPFamilies, oldSpec.IPFamilies) {
			spec.IPFamilies = nil
		}
		if equalPtr(spec.IPFamilyPolicy, oldSpec.IPFamilyPolicy) {
			spec.IPFamilyPolicy = nil
		}
	}
	if needsNodePort(old) && !needsNodePort(s) && sameNodePorts(s, old) {
		for i := range spec.Ports {
			spec.Ports[i].NodePort = 0
		}
	}
	if needsHealthCheck(old) && !needsHealthCheck(s) && spec.HealthCheckNodePort == oldSpec.HealthCheckNodePort {
		spec.HealthCheckNodePort = 0
	}
	if spec.Type != corev1.ServiceTypeLoadBalancer {
		if equalPtr(spec.AllocateLoadBalancerNodePorts, oldSpec.AllocateLoadBalancerNodePorts) {
			spec.AllocateLoadBalancerNodePorts = nil
		}
		if equalPtr(spec.LoadBalancerClass, oldSpec.LoadBalancerClass) {
			spec.LoadBalancerClass = nil
		}
		s.Status.LoadBalancer = corev1.LoadBalancerStatus{}
	}
	if ExternallyAccessible(old) && !ExternallyAccessible(s) && spec.ExternalTrafficPolicy == oldSpec.ExternalTrafficPolicy {
		spec.ExternalTrafficPolicy = ""
	}
}

// sameNodePorts reports whether s adds no node port old did not have
// (ports may be added, removed or changed otherwise), as upstream decides.
func sameNodePorts(s, old *corev1.Service) bool {
	had := map[int32]bool{}
	for _, p := range old.Spec.Ports {
		if p.NodePort != 0 {
			had[p.NodePort] = true
		}
	}
	for _, p := range s.Spec.Ports {
		if p.NodePort != 0 && !had[p.NodePort] {
			return false
		}
	}
	return true
}

func equalPtr[T comparable](a, b *T) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func needsClusterIP(s *corev1.Service) bool {
	return s.Spec.Type != corev1.ServiceTypeExternalName
}

func needsNodePort(s *corev1.Service) bool {
	return s.Spec.Type == corev1.ServiceTypeNodePort || s.Spec.Type == corev1.ServiceTypeLoadBalancer
}

func needsHealthCheck(s *corev1.Service) bool {
	return s.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		(s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal)
}
