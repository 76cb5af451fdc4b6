package podroutes

import (
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// change is one route to write: a new one (Replaces nil) or one replacing
// an owned route to the same destination in place.
type change struct {
	Route    Route
	Replaces *netlink.Route
}

// plan compares the routes the controller owns (as listed) with the
// desired ones: an owned route that matches a desired one (destination,
// gateway, link) is kept; a desired route with an owned route to its
// destination that does not match replaces it in place (no gap in
// connectivity when a node's IP changes); any other desired route is
// added; every other owned route (nodes gone, duplicates) is deleted.
func plan(owned []netlink.Route, desired []Route) (writes []change, deletes []netlink.Route) {
	byDst := map[netip.Prefix][]int{} // indexes into owned
	for i, r := range owned {
		if dst, ok := prefixOf(r.Dst); ok {
			byDst[dst] = append(byDst[dst], i)
		}
	}
	used := make([]bool, len(owned))
	for _, d := range desired {
		candidates := byDst[d.Dst]
		i := slices.IndexFunc(candidates, func(i int) bool { return matches(owned[i], d) })
		switch {
		case i >= 0:
		case len(candidates) > 0:
			i = 0
			old := owned[candidates[0]]
			writes = append(writes, change{Route: d, Replaces: &old})
		default:
			writes = append(writes, change{Route: d})
			continue
		}
		used[candidates[i]] = true
		byDst[d.Dst] = slices.Delete(slices.Clone(candidates), i, i+1)
	}
	for i, r := range owned {
		if !used[i] {
			deletes = append(deletes, r)
		}
	}
	return writes, deletes
}

// matches reports whether the kernel route r is d.
func matches(r netlink.Route, d Route) bool {
	gw, ok := addrOf(r.Gw)
	return ok && gw == d.Gw && r.LinkIndex == d.LinkIndex && len(r.MultiPath) == 0 && r.Type == unix.RTN_UNICAST
}

// netlinkRoute is the kernel route for r, marked with protocol; priority
// is the metric (that of the route it replaces, or 0 for the kernel's
// default).
func netlinkRoute(r Route, protocol netlink.RouteProtocol, priority int) *netlink.Route {
	return &netlink.Route{
		Dst:       &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())},
		Gw:        r.Gw.AsSlice(),
		LinkIndex: r.LinkIndex,
		Protocol:  protocol,
		Priority:  priority,
		Table:     unix.RT_TABLE_MAIN,
		Type:      unix.RTN_UNICAST,
	}
}

// prefixOf converts a route destination (nil: none).
func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := addrOf(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits != a.BitLen() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones).Masked(), true
}

// addrOf converts an IP, IPv4 in its 4-byte form (nil: invalid).
func addrOf(ip net.IP) (netip.Addr, bool) {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	a, ok := netip.AddrFromSlice(ip)
	return a, ok
}
