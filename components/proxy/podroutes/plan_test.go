package podroutes

import (
	"fmt"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// kroute is a kernel route as a dump lists it.
func kroute(dst, gw string, link int, proto netlink.RouteProtocol) netlink.Route {
	r := netlink.Route{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Protocol: proto, LinkIndex: link}
	_, r.Dst, _ = net.ParseCIDR(dst)
	if gw != "" {
		r.Gw = net.ParseIP(gw)
		if v4 := r.Gw.To4(); v4 != nil {
			r.Gw = v4
		}
	}
	return r
}

// brief is a route as "dst via gw dev link" for comparisons.
func brief(r netlink.Route) string {
	s := r.Dst.String()
	if r.Gw != nil {
		s += " via " + r.Gw.String()
	}
	return fmt.Sprintf("%s dev %d", s, r.LinkIndex)
}

func TestPlan(t *testing.T) {
	b := Route{Node: "b", Dst: pfx("10.244.1.0/24"), Gw: addr("172.18.0.3"), LinkIndex: 2}
	c := Route{Node: "c", Dst: pfx("10.244.2.0/24"), Gw: addr("172.18.0.4"), LinkIndex: 2}
	b6 := Route{Node: "b", Dst: pfx("fd00:10:244:1::/64"), Gw: addr("fc00::3"), LinkIndex: 2}
	blackhole := kroute("10.244.2.0/24", "", 0, DefaultProtocol)
	blackhole.Type = unix.RTN_BLACKHOLE
	v6 := kroute("fd00:10:244:1::/64", "fc00::9", 2, DefaultProtocol)
	v6.Priority = 1024

	tests := []struct {
		name        string
		owned       []netlink.Route
		desired     []Route
		wantWrites  []string // "add <route>" or "replace <route> (was <gw>, metric <n>)"
		wantDeletes []string
	}{
		{
			name:       "nothing owned: add all",
			desired:    []Route{b, c},
			wantWrites: []string{"add " + b.String(), "add " + c.String()},
		},
		{
			name:    "in sync: nothing to do",
			owned:   []netlink.Route{kroute("10.244.2.0/24", "172.18.0.4", 2, DefaultProtocol), kroute("10.244.1.0/24", "172.18.0.3", 2, DefaultProtocol)},
			desired: []Route{b, c},
		},
		{
			name:        "stale routes of deleted nodes go (cleanup at start)",
			owned:       []netlink.Route{kroute("10.244.1.0/24", "172.18.0.3", 2, DefaultProtocol), kroute("10.244.9.0/24", "172.18.0.10", 2, DefaultProtocol)},
			desired:     []Route{b},
			wantDeletes: []string{"10.244.9.0/24 via 172.18.0.10 dev 2"},
		},
		{
			name:       "new gateway replaces the route in place",
			owned:      []netlink.Route{kroute("10.244.1.0/24", "172.18.0.7", 2, DefaultProtocol)},
			desired:    []Route{b},
			wantWrites: []string{"replace " + b.String() + " (was 172.18.0.7, metric 0)"},
		},
		{
			name:       "new link replaces the route",
			owned:      []netlink.Route{kroute("10.244.1.0/24", "172.18.0.3", 5, DefaultProtocol)},
			desired:    []Route{b},
			wantWrites: []string{"replace " + b.String() + " (was 172.18.0.3, metric 0)"},
		},
		{
			name:       "an owned route that is no unicast route is replaced",
			owned:      []netlink.Route{blackhole},
			desired:    []Route{c},
			wantWrites: []string{"replace " + c.String() + " (was <nil>, metric 0)"},
		},
		{
			name:       "IPv6 replacement keeps the metric of the route it replaces",
			owned:      []netlink.Route{v6},
			desired:    []Route{b6},
			wantWrites: []string{"replace " + b6.String() + " (was fc00::9, metric 1024)"},
		},
		{
			name: "duplicates: the matching one is kept, the rest deleted",
			owned: []netlink.Route{
				kroute("10.244.1.0/24", "172.18.0.8", 2, DefaultProtocol),
				kroute("10.244.1.0/24", "172.18.0.3", 2, DefaultProtocol),
				kroute("10.244.1.0/24", "172.18.0.9", 2, DefaultProtocol),
			},
			desired:     []Route{b},
			wantDeletes: []string{"10.244.1.0/24 via 172.18.0.8 dev 2", "10.244.1.0/24 via 172.18.0.9 dev 2"},
		},
		{
			name:        "nothing desired: every owned route goes",
			owned:       []netlink.Route{kroute("10.244.1.0/24", "172.18.0.3", 2, DefaultProtocol), v6},
			wantDeletes: []string{"10.244.1.0/24 via 172.18.0.3 dev 2", "fd00:10:244:1::/64 via fc00::9 dev 2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			writes, deletes := plan(tc.owned, tc.desired)
			var gotWrites, gotDeletes []string
			for _, w := range writes {
				if w.Replaces == nil {
					gotWrites = append(gotWrites, "add "+w.Route.String())
					continue
				}
				gotWrites = append(gotWrites, fmt.Sprintf("replace %s (was %v, metric %d)", w.Route, w.Replaces.Gw, w.Replaces.Priority))
			}
			for _, d := range deletes {
				gotDeletes = append(gotDeletes, brief(d))
			}
			if diff := cmp.Diff(tc.wantWrites, gotWrites); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantDeletes, gotDeletes); diff != "" {
				t.Errorf("deletes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNetlinkRoute(t *testing.T) {
	r := netlinkRoute(Route{Node: "b", Dst: pfx("fd00:10:244:1::/64"), Gw: addr("fc00::3"), LinkIndex: 4}, 0xAB, 1024)
	if r.Dst.String() != "fd00:10:244:1::/64" || !r.Gw.Equal(net.ParseIP("fc00::3")) || r.LinkIndex != 4 ||
		r.Protocol != 0xAB || r.Priority != 1024 || r.Table != unix.RT_TABLE_MAIN || r.Type != unix.RTN_UNICAST {
		t.Errorf("netlinkRoute = %+v", r)
	}
	r4 := netlinkRoute(Route{Dst: pfx("10.244.1.0/24"), Gw: addr("172.18.0.3"), LinkIndex: 2}, 0xAB, 0)
	if len(r4.Gw) != 4 || len(r4.Dst.IP) != 4 || r4.Dst.String() != "10.244.1.0/24" {
		t.Errorf("IPv4 route not in 4-byte form: %+v", r4)
	}
}

func TestSplitRoutes(t *testing.T) {
	ours := kroute("10.244.1.0/24", "172.18.0.3", 2, DefaultProtocol)
	dflt := kroute("0.0.0.0/0", "172.18.0.1", 2, unix.RTPROT_BOOT)
	connected := kroute("172.18.0.0/16", "", 2, unix.RTPROT_KERNEL)
	connected6 := kroute("fc00:f853:ccd:e793::/64", "", 2, unix.RTPROT_KERNEL)
	linkLocal := kroute("fe80::/64", "", 2, unix.RTPROT_KERNEL)
	unreachable := kroute("10.99.0.0/16", "", 0, unix.RTPROT_STATIC)
	unreachable.Type = unix.RTN_UNREACHABLE
	otherTable := kroute("10.244.7.0/24", "172.18.0.5", 2, DefaultProtocol)
	otherTable.Table = 100
	otherProto := kroute("10.244.5.0/24", "172.18.0.6", 2, 0xAC)

	host, owned := splitRoutes([]netlink.Route{ours, dflt, connected, connected6, linkLocal, unreachable, otherTable, otherProto}, DefaultProtocol)
	var gotOwned []string
	for _, r := range owned {
		gotOwned = append(gotOwned, brief(r))
	}
	if diff := cmp.Diff([]string{"10.244.1.0/24 via 172.18.0.3 dev 2"}, gotOwned); diff != "" {
		t.Errorf("owned (-want +got):\n%s", diff)
	}
	wantOnLink := []OnLink{{pfx("172.18.0.0/16"), 2}, {pfx("fc00:f853:ccd:e793::/64"), 2}}
	if diff := cmp.Diff(wantOnLink, host.OnLink, cmp.Comparer(func(a, b OnLink) bool { return a == b })); diff != "" {
		t.Errorf("on-link (-want +got):\n%s", diff)
	}
	var foreign []string
	for _, p := range host.Foreign {
		foreign = append(foreign, p.String())
	}
	want := []string{"0.0.0.0/0", "172.18.0.0/16", "fc00:f853:ccd:e793::/64", "fe80::/64", "10.99.0.0/16", "10.244.5.0/24"}
	if diff := cmp.Diff(want, foreign); diff != "" {
		t.Errorf("foreign (-want +got):\n%s", diff)
	}
}
