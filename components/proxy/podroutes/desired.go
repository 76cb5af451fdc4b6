package podroutes

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// Route is a route the controller keeps: Dst (another node's podCIDR) via
// Gw (that node's InternalIP) out of the link with index LinkIndex, the
// link of the directly connected network Gw is on.
type Route struct {
	// Node is the node whose podCIDR Dst is.
	Node      string
	Dst       netip.Prefix
	Gw        netip.Addr
	LinkIndex int
}

// String is "<dst> via <gw> (node <node>)".
func (r Route) String() string {
	return fmt.Sprintf("%s via %s (node %s)", r.Dst, r.Gw, r.Node)
}

// OnLink is a network this host reaches directly: a main-table unicast
// route without a gateway (the kernel's route for an interface address,
// or a static on-link route).
type OnLink struct {
	Prefix    netip.Prefix
	LinkIndex int
}

// Host is what the routes to other nodes depend on besides the Nodes.
type Host struct {
	// OnLink are the directly connected networks.
	OnLink []OnLink
	// Local are the host's own addresses.
	Local []netip.Addr
	// Foreign are the destinations of main-table routes the controller
	// does not own: a podCIDR one of them already covers exactly is left
	// to its owner rather than replaced.
	Foreign []netip.Prefix
}

// Skipped is a podCIDR of another node that gets no route, and why.
type Skipped struct {
	Node, PodCIDR, Reason string
}

// Desired computes the routes this node (self) needs to reach the
// podCIDRs of every other node in nodes: one per podCIDR, via the
// InternalIP of the same family, on the link of the directly connected
// network that IP is on. A podCIDR is skipped, with the reason, when it
// does not parse, when the node has no InternalIP of its family, when that
// IP is not on a directly connected network (no overlay is built) or is
// one of this host's own addresses, when it overlaps this node's podCIDRs
// or one already routed to another node (nodes are taken in name order),
// or when a route the controller does not own has exactly that
// destination. Nodes without podCIDRs are left out silently: node IPAM
// has not reached them yet. The result is in node name order.
func Desired(nodes []*corev1.Node, self string, host Host) ([]Route, []Skipped) {
	sorted := slices.Clone(nodes)
	slices.SortFunc(sorted, func(a, b *corev1.Node) int { return cmp.Compare(a.Name, b.Name) })

	var own []netip.Prefix
	for _, n := range sorted {
		if n.Name == self {
			for _, c := range podCIDRs(n) {
				if p, err := netip.ParsePrefix(c); err == nil {
					own = append(own, p.Masked())
				}
			}
		}
	}

	var routes []Route
	var skipped []Skipped
	for _, n := range sorted {
		if n.Name == self {
			continue
		}
		v4, v6 := internalIPs(n)
		for _, c := range podCIDRs(n) {
			skip := func(format string, args ...any) {
				skipped = append(skipped, Skipped{Node: n.Name, PodCIDR: c, Reason: fmt.Sprintf(format, args...)})
			}
			p, err := netip.ParsePrefix(c)
			if err != nil {
				skip("invalid podCIDR: %v", err)
				continue
			}
			p = p.Masked()
			gw, family := v4, "IPv4"
			if p.Addr().Is6() {
				gw, family = v6, "IPv6"
			}
			if !gw.IsValid() {
				skip("the node has no %s InternalIP", family)
				continue
			}
			if slices.Contains(host.Local, gw) {
				skip("InternalIP %s is an address of this host", gw)
				continue
			}
			link, ok := onLink(host.OnLink, gw)
			if !ok {
				skip("InternalIP %s is not on a directly connected network (no overlay or encapsulation is set up)", gw)
				continue
			}
			if i := slices.IndexFunc(own, p.Overlaps); i >= 0 {
				skip("overlaps this node's podCIDR %s", own[i])
				continue
			}
			if i := slices.IndexFunc(routes, func(r Route) bool { return r.Dst.Overlaps(p) }); i >= 0 {
				skip("overlaps podCIDR %s of node %s", routes[i].Dst, routes[i].Node)
				continue
			}
			if slices.Contains(host.Foreign, p) {
				skip("a route to %s that this controller does not own exists", p)
				continue
			}
			routes = append(routes, Route{Node: n.Name, Dst: p, Gw: gw, LinkIndex: link})
		}
	}
	return routes, skipped
}

// podCIDRs are spec.podCIDRs, or spec.podCIDR of a node written by a
// client that only knows the singular field.
func podCIDRs(n *corev1.Node) []string {
	if len(n.Spec.PodCIDRs) > 0 {
		return n.Spec.PodCIDRs
	}
	if n.Spec.PodCIDR != "" {
		return []string{n.Spec.PodCIDR}
	}
	return nil
}

// internalIPs are the node's first IPv4 and first IPv6 InternalIP (each
// invalid when it has none).
func internalIPs(n *corev1.Node) (v4, v6 netip.Addr) {
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			continue
		}
		ip = ip.Unmap()
		switch {
		case ip.Is4() && !v4.IsValid():
			v4 = ip
		case ip.Is6() && !v6.IsValid():
			v6 = ip.WithZone("")
		}
	}
	return v4, v6
}

// onLink returns the link of the most specific directly connected network
// that holds ip.
func onLink(nets []OnLink, ip netip.Addr) (int, bool) {
	best := -1
	for i, n := range nets {
		if n.Prefix.Contains(ip) && (best < 0 || n.Prefix.Bits() > nets[best].Prefix.Bits()) {
			best = i
		}
	}
	if best < 0 {
		return 0, false
	}
	return nets[best].LinkIndex, true
}
