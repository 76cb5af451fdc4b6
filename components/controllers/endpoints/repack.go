package endpoints

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

type addressKey struct {
	ip  string
	uid types.UID
}

// portKey identifies a port by value (EndpointPort holds a pointer).
type portKey struct {
	name, proto, app string
	port             int32
}

func keyOfPort(p corev1.EndpointPort) portKey {
	k := portKey{name: p.Name, proto: string(p.Protocol), port: p.Port}
	if p.AppProtocol != nil {
		k.app = *p.AppProtocol
	}
	return k
}

// repack groups subsets into the canonical form upstream's RepackSubsets
// produces: one subset per distinct set of addresses, carrying every port
// those addresses serve, with addresses, ports and subsets sorted so equal
// inputs give equal outputs. An address both ready and not ready for a
// port counts as ready.
func repack(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	addrs := map[addressKey]*corev1.EndpointAddress{}
	byPort := map[portKey]map[addressKey]bool{}
	ports := map[portKey]corev1.EndpointPort{}
	sentinel := corev1.EndpointPort{Port: -1}
	mark := func(port corev1.EndpointPort, s *corev1.EndpointSubset) {
		pk := keyOfPort(port)
		ports[pk] = port
		set := byPort[pk]
		if set == nil {
			set = map[addressKey]bool{}
			byPort[pk] = set
		}
		for i := range s.Addresses {
			k := keyOf(&s.Addresses[i])
			addrs[k] = &s.Addresses[i]
			set[k] = true
		}
		for i := range s.NotReadyAddresses {
			k := keyOf(&s.NotReadyAddresses[i])
			if _, ok := addrs[k]; !ok {
				addrs[k] = &s.NotReadyAddresses[i]
			}
			if _, ok := set[k]; !ok {
				set[k] = false
			}
		}
	}
	for i := range subsets {
		s := &subsets[i]
		if len(s.Ports) == 0 {
			mark(sentinel, s)
			continue
		}
		for _, p := range s.Ports {
			mark(p, s)
		}
	}
	type group struct {
		set   map[addressKey]bool
		ports []corev1.EndpointPort
	}
	groups := map[string]*group{}
	for pk, set := range byPort {
		port := ports[pk]
		sig := signature(set)
		g := groups[sig]
		if g == nil {
			g = &group{set: set}
			groups[sig] = g
		}
		if port.Port > 0 {
			g.ports = append(g.ports, port)
		}
	}
	var out []corev1.EndpointSubset
	for _, g := range groups {
		var s corev1.EndpointSubset
		for k, ready := range g.set {
			if ready {
				s.Addresses = append(s.Addresses, *addrs[k])
			} else {
				s.NotReadyAddresses = append(s.NotReadyAddresses, *addrs[k])
			}
		}
		slices.SortFunc(s.Addresses, compareAddresses)
		slices.SortFunc(s.NotReadyAddresses, compareAddresses)
		s.Ports = g.ports
		slices.SortFunc(s.Ports, comparePorts)
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b corev1.EndpointSubset) int { return cmp.Compare(subsetKey(a), subsetKey(b)) })
	return out
}

func keyOf(a *corev1.EndpointAddress) addressKey {
	k := addressKey{ip: a.IP}
	if a.TargetRef != nil {
		k.uid = a.TargetRef.UID
	}
	return k
}

func signature(set map[addressKey]bool) string {
	keys := make([]string, 0, len(set))
	for k, ready := range set {
		keys = append(keys, fmt.Sprintf("%s/%s/%t", k.ip, k.uid, ready))
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

func compareAddresses(a, b corev1.EndpointAddress) int {
	ka, kb := keyOf(&a), keyOf(&b)
	return cmp.Or(cmp.Compare(ka.ip, kb.ip), cmp.Compare(ka.uid, kb.uid))
}

func comparePorts(a, b corev1.EndpointPort) int {
	return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Protocol, b.Protocol))
}

func subsetKey(s corev1.EndpointSubset) string {
	var b strings.Builder
	for _, p := range s.Ports {
		fmt.Fprintf(&b, "%s:%d/%s;", p.Name, p.Port, p.Protocol)
	}
	b.WriteString("|")
	for _, a := range s.Addresses {
		b.WriteString(a.IP + ",")
	}
	b.WriteString("|")
	for _, a := range s.NotReadyAddresses {
		b.WriteString(a.IP + ",")
	}
	return b.String()
}
