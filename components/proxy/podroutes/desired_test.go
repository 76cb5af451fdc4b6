package podroutes

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// node is a Node with podCIDRs and InternalIPs.
func node(name string, podCIDRs []string, ips ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDRs: podCIDRs}}
	if len(podCIDRs) > 0 {
		n.Spec.PodCIDR = podCIDRs[0]
	}
	for _, ip := range ips {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	}
	return n
}

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

// lab is a host on 172.18.0.0/16 (link 2, like a kind node's eth0) and
// fc00:f853:ccd:e793::/64 (link 2), with its own podCIDR on cni0 (link 3).
var lab = Host{
	OnLink: []OnLink{
		{Prefix: pfx("172.18.0.0/16"), LinkIndex: 2},
		{Prefix: pfx("fc00:f853:ccd:e793::/64"), LinkIndex: 2},
		{Prefix: pfx("10.244.0.0/24"), LinkIndex: 3},
	},
	Local:   []netip.Addr{addr("172.18.0.2"), addr("fc00:f853:ccd:e793::2"), addr("10.244.0.1")},
	Foreign: []netip.Prefix{pfx("0.0.0.0/0"), pfx("172.18.0.0/16"), pfx("fc00:f853:ccd:e793::/64"), pfx("10.244.0.0/24")},
}

func TestDesired(t *testing.T) {
	self := node("cp", []string{"10.244.0.0/24", "fd00:10:244::/64"}, "172.18.0.2", "fc00:f853:ccd:e793::2")
	tests := []struct {
		name        string
		nodes       []*corev1.Node
		host        Host
		want        []Route
		wantSkipped []Skipped
	}{
		{
			name:  "two workers, IPv4, in name order",
			nodes: []*corev1.Node{node("worker2", []string{"10.244.2.0/24"}, "172.18.0.4"), self, node("worker", []string{"10.244.1.0/24"}, "172.18.0.3")},
			host:  lab,
			want: []Route{
				{Node: "worker", Dst: pfx("10.244.1.0/24"), Gw: addr("172.18.0.3"), LinkIndex: 2},
				{Node: "worker2", Dst: pfx("10.244.2.0/24"), Gw: addr("172.18.0.4"), LinkIndex: 2},
			},
		},
		{
			name:  "dual-stack node gets a route per family",
			nodes: []*corev1.Node{self, node("w", []string{"10.244.1.0/24", "fd00:10:244:1::/64"}, "172.18.0.3", "fc00:f853:ccd:e793::3")},
			host:  lab,
			want: []Route{
				{Node: "w", Dst: pfx("10.244.1.0/24"), Gw: addr("172.18.0.3"), LinkIndex: 2},
				{Node: "w", Dst: pfx("fd00:10:244:1::/64"), Gw: addr("fc00:f853:ccd:e793::3"), LinkIndex: 2},
			},
		},
		{
			name:        "IPv6 podCIDR without an IPv6 InternalIP",
			nodes:       []*corev1.Node{node("w", []string{"10.244.1.0/24", "fd00:10:244:1::/64"}, "172.18.0.3")},
			host:        lab,
			want:        []Route{{Node: "w", Dst: pfx("10.244.1.0/24"), Gw: addr("172.18.0.3"), LinkIndex: 2}},
			wantSkipped: []Skipped{{Node: "w", PodCIDR: "fd00:10:244:1::/64", Reason: "the node has no IPv6 InternalIP"}},
		},
		{
			name:        "IPv6-only node and an IPv4 podCIDR",
			nodes:       []*corev1.Node{node("w", []string{"10.244.1.0/24"}, "fc00:f853:ccd:e793::3")},
			host:        lab,
			wantSkipped: []Skipped{{Node: "w", PodCIDR: "10.244.1.0/24", Reason: "the node has no IPv4 InternalIP"}},
		},
		{
			name:  "the singular podCIDR when podCIDRs is empty; a podCIDR not in canonical form is masked",
			nodes: []*corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "w"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.1.7/24"}, Status: node("w", nil, "172.18.0.3").Status}},
			host:  lab,
			want:  []Route{{Node: "w", Dst: pfx("10.244.1.0/24"), Gw: addr("172.18.0.3"), LinkIndex: 2}},
		},
		{
			name:  "a node without podCIDRs is left out silently",
			nodes: []*corev1.Node{node("w", nil, "172.18.0.3")},
			host:  lab,
		},
		{
			name:        "InternalIP not on a directly connected network",
			nodes:       []*corev1.Node{node("far", []string{"10.244.5.0/24"}, "192.168.7.9")},
			host:        lab,
			wantSkipped: []Skipped{{Node: "far", PodCIDR: "10.244.5.0/24", Reason: "InternalIP 192.168.7.9 is not on a directly connected network (no overlay or encapsulation is set up)"}},
		},
		{
			name: "first InternalIP of the family; ExternalIP and Hostname ignored; IPv4-mapped IPv6 taken as IPv4",
			nodes: []*corev1.Node{{
				ObjectMeta: metav1.ObjectMeta{Name: "w"},
				Spec:       corev1.NodeSpec{PodCIDRs: []string{"10.244.1.0/24"}},
				Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
					{Type: corev1.NodeExternalIP, Address: "172.18.0.9"},
					{Type: corev1.NodeHostName, Address: "w"},
					{Type: corev1.NodeInternalIP, Address: "not-an-ip"},
					{Type: corev1.NodeInternalIP, Address: "::ffff:172.18.0.3"},
					{Type: corev1.NodeInternalIP, Address: "172.18.0.4"},
				}},
			}},
			host: lab,
			want: []Route{{Node: "w", Dst: pfx("10.244.1.0/24"), Gw: addr("172.18.0.3"), LinkIndex: 2}},
		},
		{
			name:  "the most specific connected network picks the link",
			nodes: []*corev1.Node{node("w", []string{"10.244.1.0/24"}, "172.18.5.3")},
			host:  Host{OnLink: []OnLink{{Prefix: pfx("172.16.0.0/12"), LinkIndex: 7}, {Prefix: pfx("172.18.5.0/24"), LinkIndex: 9}, {Prefix: pfx("172.18.0.0/16"), LinkIndex: 8}}},
			want:  []Route{{Node: "w", Dst: pfx("10.244.1.0/24"), Gw: addr("172.18.5.3"), LinkIndex: 9}},
		},
		{
			name:        "another node claiming this host's address",
			nodes:       []*corev1.Node{self, node("clone", []string{"10.244.1.0/24"}, "172.18.0.2")},
			host:        lab,
			wantSkipped: []Skipped{{Node: "clone", PodCIDR: "10.244.1.0/24", Reason: "InternalIP 172.18.0.2 is an address of this host"}},
		},
		{
			name:        "a podCIDR overlapping this node's own",
			nodes:       []*corev1.Node{self, node("w", []string{"10.244.0.128/25"}, "172.18.0.3")},
			host:        lab,
			wantSkipped: []Skipped{{Node: "w", PodCIDR: "10.244.0.128/25", Reason: "overlaps this node's podCIDR 10.244.0.0/24"}},
		},
		{
			name:        "two nodes claiming one podCIDR: the first by name keeps it",
			nodes:       []*corev1.Node{node("b", []string{"10.244.1.0/24"}, "172.18.0.4"), node("a", []string{"10.244.1.0/24"}, "172.18.0.3")},
			host:        lab,
			want:        []Route{{Node: "a", Dst: pfx("10.244.1.0/24"), Gw: addr("172.18.0.3"), LinkIndex: 2}},
			wantSkipped: []Skipped{{Node: "b", PodCIDR: "10.244.1.0/24", Reason: "overlaps podCIDR 10.244.1.0/24 of node a"}},
		},
		{
			name:  "a route to the same destination owned by someone else is left alone",
			nodes: []*corev1.Node{node("w", []string{"10.244.1.0/24"}, "172.18.0.3"), node("w2", []string{"10.244.2.0/24"}, "172.18.0.4")},
			host: Host{
				OnLink:  lab.OnLink,
				Foreign: append([]netip.Prefix{pfx("10.244.1.0/24"), pfx("10.244.0.0/16")}, lab.Foreign...),
			},
			want:        []Route{{Node: "w2", Dst: pfx("10.244.2.0/24"), Gw: addr("172.18.0.4"), LinkIndex: 2}},
			wantSkipped: []Skipped{{Node: "w", PodCIDR: "10.244.1.0/24", Reason: "a route to 10.244.1.0/24 that this controller does not own exists"}},
		},
		{
			name:        "invalid podCIDR",
			nodes:       []*corev1.Node{node("w", []string{"10.244.1.0/33", "10.244.2.0/24"}, "172.18.0.3")},
			host:        lab,
			want:        []Route{{Node: "w", Dst: pfx("10.244.2.0/24"), Gw: addr("172.18.0.3"), LinkIndex: 2}},
			wantSkipped: []Skipped{{Node: "w", PodCIDR: "10.244.1.0/33", Reason: `invalid podCIDR: netip.ParsePrefix("10.244.1.0/33"): prefix length out of range`}},
		},
		{
			name:  "this node unknown yet: the others are routed",
			nodes: []*corev1.Node{node("w", []string{"10.244.1.0/24"}, "172.18.0.3")},
			host:  lab,
			want:  []Route{{Node: "w", Dst: pfx("10.244.1.0/24"), Gw: addr("172.18.0.3"), LinkIndex: 2}},
		},
		{
			name:  "only this node",
			nodes: []*corev1.Node{self},
			host:  lab,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped := Desired(tc.nodes, "cp", tc.host)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantSkipped, skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRoutesMayDiffer(t *testing.T) {
	base := node("w", []string{"10.244.1.0/24"}, "172.18.0.3")
	heartbeat := base.DeepCopy()
	heartbeat.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	heartbeat.ResourceVersion = "42"
	newIP := base.DeepCopy()
	newIP.Status.Addresses[0].Address = "172.18.0.9"
	newCIDR := base.DeepCopy()
	newCIDR.Spec.PodCIDRs = append(newCIDR.Spec.PodCIDRs, "fd00::/64")
	singular := base.DeepCopy()
	singular.Spec.PodCIDR = "10.244.9.0/24"
	for _, tc := range []struct {
		name string
		cur  *corev1.Node
		want bool
	}{
		{"heartbeat", heartbeat, false},
		{"new InternalIP", newIP, true},
		{"new podCIDRs", newCIDR, true},
		{"new podCIDR", singular, true},
	} {
		if got := routesMayDiffer(base, tc.cur); got != tc.want {
			t.Errorf("%s: routesMayDiffer = %v, want %v", tc.name, got, tc.want)
		}
	}
}
