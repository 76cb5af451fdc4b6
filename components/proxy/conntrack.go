package proxy

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// flowFilter selects UDP conntrack entries by the original destination
// (address, port) and the reply source (the endpoint). Zero fields match
// anything.
type flowFilter struct {
	origDst    netip.Addr
	origDPort  uint16
	replySrc   netip.Addr
	replySPort uint16
}

func (f flowFilter) String() string {
	return fmt.Sprintf("udp orig-dst %v:%d reply-src %v:%d", f.origDst, f.origDPort, f.replySrc, f.replySPort)
}

func (f flowFilter) match(flow *netlink.ConntrackFlow) bool {
	if flow.Forward.Protocol != unix.IPPROTO_UDP || flow.Forward.DstPort != f.origDPort {
		return false
	}
	if f.origDst.IsValid() && !addrEqual(flow.Forward.DstIP, f.origDst) {
		return false
	}
	if f.replySrc.IsValid() && !addrEqual(flow.Reverse.SrcIP, f.replySrc) {
		return false
	}
	return f.replySPort == 0 || flow.Reverse.SrcPort == f.replySPort
}

func addrEqual(ip []byte, a netip.Addr) bool {
	b, ok := netip.AddrFromSlice(ip)
	return ok && b.Unmap() == a
}

// flowFilters is a netlink.CustomConntrackFilter matching any of its filters.
type flowFilters []flowFilter

// MatchConntrackFlow implements netlink.CustomConntrackFilter.
func (fs flowFilters) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	for _, f := range fs {
		if f.match(flow) {
			return true
		}
	}
	return false
}

var _ netlink.CustomConntrackFilter = flowFilters(nil)

// staleUDPFlows lists the UDP conntrack entries of family f a change from
// prev to cur leaves stale, as upstream's conntrack cleanup does:
//   - a service port that goes from no endpoints to some: every entry to
//     its addresses and node port (created while it rejected; UDP keeps
//     them alive as long as the client sends);
//   - an endpoint that is no longer used: the entries of the service
//     port's addresses and node port answered by it.
func staleUDPFlows(prev, cur []*ServicePort, f Family) []flowFilter {
	before := map[string]*ServicePort{}
	for _, sp := range prev {
		if sp.Proto == UDP {
			before[sp.key()] = sp
		}
	}
	var out []flowFilter
	addrs := func(sp *ServicePort) []netip.Addr {
		return append(addrsOf(sp.ClusterIPs, f), addrsOf(sp.ExternalIPs, f)...)
	}
	for _, sp := range cur {
		if sp.Proto != UDP {
			continue
		}
		old := before[sp.key()]
		if len(sp.Endpoints(f)) > 0 && (old == nil || len(old.Endpoints(f)) == 0) {
			for _, a := range addrs(sp) {
				out = append(out, flowFilter{origDst: a, origDPort: sp.Port})
			}
			if sp.NodePort != 0 {
				out = append(out, flowFilter{origDPort: sp.NodePort})
			}
		}
	}
	curByKey := map[string]*ServicePort{}
	for _, sp := range cur {
		curByKey[sp.key()] = sp
	}
	for k, old := range before {
		kept := map[Endpoint]bool{}
		if sp := curByKey[k]; sp != nil {
			for _, e := range sp.Endpoints(f) {
				kept[e] = true
			}
		}
		for _, e := range old.Endpoints(f) {
			if kept[e] {
				continue
			}
			for _, a := range addrs(old) {
				out = append(out, flowFilter{origDst: a, origDPort: old.Port, replySrc: e.Addr, replySPort: e.Port})
			}
			if old.NodePort != 0 {
				out = append(out, flowFilter{origDPort: old.NodePort, replySrc: e.Addr, replySPort: e.Port})
			}
		}
	}
	return out
}

// deleteFlows deletes the matching conntrack entries of family f.
func deleteFlows(h *netlink.Handle, f Family, filters []flowFilter) (uint, error) {
	if len(filters) == 0 {
		return 0, nil
	}
	fam := netlink.InetFamily(unix.AF_INET)
	if f == IPv6 {
		fam = netlink.InetFamily(unix.AF_INET6)
	}
	n, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, fam, flowFilters(filters))
	if err != nil {
		return n, fmt.Errorf("delete stale %s UDP conntrack entries: %w", f, err)
	}
	return n, nil
}
