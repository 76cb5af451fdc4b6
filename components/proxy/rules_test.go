package proxy

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

var podCIDR = []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}

// build runs ServicePorts and Build and returns the IPv4 ruleset.
func build(t *testing.T, o Options, services []*corev1.Service, sls ...*discoveryv1.EndpointSlice) *Ruleset {
	t.Helper()
	d := Build(ServicePorts(services, sls), o)
	if len(d.Rulesets) == 0 || d.Rulesets[0].Family != IPv4 {
		t.Fatalf("no IPv4 ruleset: %+v", d.Rulesets)
	}
	return d.Rulesets[0]
}

// dnatTargets follows a map element to the endpoints it DNATs to.
func dnatTargets(t *testing.T, rs *Ruleset, v Verdict) []string {
	t.Helper()
	c := rs.Chain(v.Chain)
	if c == nil {
		t.Fatalf("no chain %s", v.Chain)
	}
	var out []string
	for _, r := range c.Rules {
		for _, e := range r {
			switch e := e.(type) {
			case Verdict:
				if e.Kind == Goto {
					out = append(out, dnatTargets(t, rs, e)...)
				}
			case NumgenVmap:
				for _, ch := range e.Chains {
					out = append(out, dnatTargets(t, rs, Verdict{Kind: Goto, Chain: ch})...)
				}
			case DNAT:
				out = append(out, e.String())
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestBuildServices(t *testing.T) {
	web := service("ns", "web", "10.96.0.10", svcPort("http", corev1.ProtocolTCP, 80, 8080, 0), svcPort("dns", corev1.ProtocolUDP, 53, 5353, 0))
	httpOnly := []discoveryv1.EndpointPort{slicePort("http", corev1.ProtocolTCP, 8080)}
	both := []discoveryv1.EndpointPort{slicePort("http", corev1.ProtocolTCP, 8080), slicePort("dns", corev1.ProtocolUDP, 5353)}
	np := service("ns", "np", "10.96.0.11", svcPort("", corev1.ProtocolTCP, 80, 8080, 30080))
	npSlice := slice("ns", "np", "np-1", []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 8080)}, ep("10.244.1.5", "ready"))

	type want struct {
		// serviceIPs: map key -> DNAT targets ("" means the key must be
		// absent); same for nodePorts.
		serviceIPs map[string][]string
		nodePorts  map[string][]string
		// rejected keys in no-endpoint-services / no-endpoint-nodeports.
		rejected, rejectedNodePorts []string
		// absentRejects must not be in no-endpoint-services.
		absentRejects []string
	}
	tests := []struct {
		name     string
		services []*corev1.Service
		slices   []*discoveryv1.EndpointSlice
		want     want
	}{
		{
			name:     "clusterIP with ready endpoints, every port",
			services: []*corev1.Service{web},
			slices:   []*discoveryv1.EndpointSlice{slice("ns", "web", "web-1", both, ep("10.244.1.2", "ready"), ep("10.244.2.3", "ready"))},
			want: want{serviceIPs: map[string][]string{
				"10.96.0.10 . tcp . 80": {"dnat to 10.244.1.2:8080", "dnat to 10.244.2.3:8080"},
				"10.96.0.10 . udp . 53": {"dnat to 10.244.1.2:5353", "dnat to 10.244.2.3:5353"},
			}, absentRejects: []string{"10.96.0.10 . tcp . 80"}},
		},
		{
			name:     "no endpoints: rejected, not dispatched",
			services: []*corev1.Service{web, np},
			want: want{serviceIPs: map[string][]string{"10.96.0.10 . tcp . 80": nil},
				rejected:          []string{"10.96.0.10 . tcp . 80", "10.96.0.10 . udp . 53", "10.96.0.11 . tcp . 80"},
				rejectedNodePorts: []string{"tcp . 30080"}},
		},
		{
			name:     "a port without endpoints is rejected while another is served",
			services: []*corev1.Service{web},
			slices:   []*discoveryv1.EndpointSlice{slice("ns", "web", "web-1", httpOnly, ep("10.244.1.2", "ready"))},
			want: want{serviceIPs: map[string][]string{"10.96.0.10 . tcp . 80": {"dnat to 10.244.1.2:8080"}, "10.96.0.10 . udp . 53": nil},
				rejected: []string{"10.96.0.10 . udp . 53"}},
		},
		{
			name:     "not-ready endpoints are excluded",
			services: []*corev1.Service{web},
			slices: []*discoveryv1.EndpointSlice{slice("ns", "web", "web-1", httpOnly,
				ep("10.244.1.2", "ready"), ep("10.244.1.3", "notready"), ep("10.244.1.4", "terminating"), ep("10.244.1.6", "unknown"))},
			want: want{serviceIPs: map[string][]string{"10.96.0.10 . tcp . 80": {"dnat to 10.244.1.2:8080", "dnat to 10.244.1.6:8080"}}},
		},
		{
			name:     "only terminating endpoints: serving ones are used",
			services: []*corev1.Service{web},
			slices: []*discoveryv1.EndpointSlice{slice("ns", "web", "web-1", httpOnly,
				ep("10.244.1.3", "notready"), ep("10.244.1.4", "terminating"), ep("10.244.1.5", "terminated"))},
			want: want{serviceIPs: map[string][]string{"10.96.0.10 . tcp . 80": {"dnat to 10.244.1.4:8080"}}},
		},
		{
			name:     "only not-serving endpoints: rejected",
			services: []*corev1.Service{web},
			slices: []*discoveryv1.EndpointSlice{slice("ns", "web", "web-1", httpOnly,
				ep("10.244.1.3", "notready"), ep("10.244.1.5", "terminated"))},
			want: want{serviceIPs: map[string][]string{"10.96.0.10 . tcp . 80": nil}, rejected: []string{"10.96.0.10 . tcp . 80"}},
		},
		{
			name:     "named ports across slices, merged and de-duplicated",
			services: []*corev1.Service{web},
			slices: []*discoveryv1.EndpointSlice{
				// Pods whose named port resolves differently are in different slices.
				slice("ns", "web", "web-a", httpOnly, ep("10.244.1.2", "ready"), ep("10.244.1.3", "notready")),
				slice("ns", "web", "web-b", []discoveryv1.EndpointPort{slicePort("http", corev1.ProtocolTCP, 9090)}, ep("10.244.2.2", "ready")),
				// The same address again (a slice mid-update): counted once, ready.
				slice("ns", "web", "web-c", httpOnly, ep("10.244.1.2", "notready"), ep("10.244.1.3", "ready")),
				// Another port name only.
				slice("ns", "web", "web-d", []discoveryv1.EndpointPort{slicePort("metrics", corev1.ProtocolTCP, 9100)}, ep("10.244.3.3", "ready")),
				// Another service's slice.
				slice("ns", "other", "other-1", httpOnly, ep("10.244.9.9", "ready")),
				slice("other-ns", "web", "web-1", httpOnly, ep("10.244.8.8", "ready")),
			},
			want: want{serviceIPs: map[string][]string{"10.96.0.10 . tcp . 80": {
				"dnat to 10.244.1.2:8080", "dnat to 10.244.1.3:8080", "dnat to 10.244.2.2:9090"}}},
		},
		{
			name:     "port name must match: an unnamed slice port does not serve a named service port",
			services: []*corev1.Service{web},
			slices:   []*discoveryv1.EndpointSlice{slice("ns", "web", "web-1", []discoveryv1.EndpointPort{slicePort("", corev1.ProtocolTCP, 8080)}, ep("10.244.1.2", "ready"))},
			want:     want{serviceIPs: map[string][]string{"10.96.0.10 . tcp . 80": nil}, rejected: []string{"10.96.0.10 . tcp . 80"}},
		},
		{
			name:     "protocol must match",
			services: []*corev1.Service{web},
			slices:   []*discoveryv1.EndpointSlice{slice("ns", "web", "web-1", []discoveryv1.EndpointPort{slicePort("dns", corev1.ProtocolTCP, 5353)}, ep("10.244.1.2", "ready"))},
			want:     want{serviceIPs: map[string][]string{"10.96.0.10 . udp . 53": nil}, rejected: []string{"10.96.0.10 . udp . 53"}},
		},
		{
			name:     "nodePort and clusterIP",
			services: []*corev1.Service{np},
			slices:   []*discoveryv1.EndpointSlice{npSlice},
			want: want{
				serviceIPs: map[string][]string{"10.96.0.11 . tcp . 80": {"dnat to 10.244.1.5:8080"}},
				nodePorts:  map[string][]string{"tcp . 30080": {"dnat to 10.244.1.5:8080"}},
			},
		},
		{
			name: "LoadBalancer is served on its node ports",
			services: []*corev1.Service{func() *corev1.Service {
				s := np.DeepCopy()
				s.Spec.Type = corev1.ServiceTypeLoadBalancer
				return s
			}()},
			slices: []*discoveryv1.EndpointSlice{npSlice},
			want:   want{nodePorts: map[string][]string{"tcp . 30080": {"dnat to 10.244.1.5:8080"}}},
		},
		{
			name: "externalIPs",
			services: []*corev1.Service{func() *corev1.Service {
				s := np.DeepCopy()
				s.Spec.ExternalIPs = []string{"192.0.2.7"}
				return s
			}()},
			slices: []*discoveryv1.EndpointSlice{npSlice},
			want:   want{serviceIPs: map[string][]string{"192.0.2.7 . tcp . 80": {"dnat to 10.244.1.5:8080"}}},
		},
		{
			name: "headless and ExternalName services are ignored",
			services: []*corev1.Service{
				service("ns", "headless", corev1.ClusterIPNone, svcPort("http", corev1.ProtocolTCP, 80, 8080, 0)),
				{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com", ClusterIP: "10.96.0.12",
					Ports: []corev1.ServicePort{svcPort("http", corev1.ProtocolTCP, 80, 80, 0)}}},
			},
			slices: []*discoveryv1.EndpointSlice{slice("ns", "headless", "h-1", httpOnly, ep("10.244.1.2", "ready"))},
			want:   want{absentRejects: []string{"10.96.0.12 . tcp . 80"}},
		},
		{
			name: "services of another proxy are ignored",
			services: []*corev1.Service{func() *corev1.Service {
				s := web.DeepCopy()
				s.Labels = map[string]string{LabelServiceProxyName: "other"}
				return s
			}()},
			want: want{serviceIPs: map[string][]string{"10.96.0.10 . tcp . 80": nil}, absentRejects: []string{"10.96.0.10 . tcp . 80"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := build(t, Options{ClusterCIDRs: podCIDR}, tt.services, tt.slices...)
			check := func(m *Map, want map[string][]string) {
				for key, targets := range want {
					v, ok := m.Lookup(key)
					if targets == nil {
						if ok {
							t.Errorf("%s has %s: %s", m.Name, key, v)
						}
						continue
					}
					if !ok {
						t.Errorf("%s has no %s:\n%s", m.Name, key, m)
						continue
					}
					if got := dnatTargets(t, rs, v); !slices.Equal(got, targets) {
						t.Errorf("%s %s goes to %v, want %v", m.Name, key, got, targets)
					}
				}
			}
			check(rs.Map(MapServiceIPs), tt.want.serviceIPs)
			check(rs.Map(MapServiceNodePorts), tt.want.nodePorts)
			for _, key := range tt.want.rejected {
				if v, ok := rs.Map(MapNoEndpointServices).Lookup(key); !ok || v != (Verdict{Kind: Goto, Chain: ChainReject}) {
					t.Errorf("%s not rejected:\n%s", key, rs.Map(MapNoEndpointServices))
				}
			}
			for _, key := range tt.want.rejectedNodePorts {
				if v, ok := rs.Map(MapNoEndpointNodePorts).Lookup(key); !ok || v != (Verdict{Kind: Goto, Chain: ChainReject}) {
					t.Errorf("node port %s not rejected:\n%s", key, rs.Map(MapNoEndpointNodePorts))
				}
			}
			for _, key := range tt.want.absentRejects {
				if _, ok := rs.Map(MapNoEndpointServices).Lookup(key); ok {
					t.Errorf("%s rejected", key)
				}
			}
			// Every chain a verdict names exists.
			for _, m := range rs.Maps {
				for _, e := range m.Elements {
					if rs.Chain(e.Verdict.Chain) == nil {
						t.Errorf("%s element %s names missing chain %s", m.Name, e.KeyString(), e.Verdict.Chain)
					}
				}
			}
		})
	}
}

// chainWith returns the rules (as strings) of the chain whose name has prefix.
func chainWith(t *testing.T, rs *Ruleset, prefix string) []string {
	t.Helper()
	for _, c := range rs.Chains {
		if strings.HasPrefix(c.Name, prefix) {
			return c.RuleStrings()
		}
	}
	t.Fatalf("no chain %s*:\n%s", prefix, rs)
	return nil
}

func TestBuildMasquerade(t *testing.T) {
	svc := service("ns", "web", "10.96.0.10", svcPort("http", corev1.ProtocolTCP, 80, 8080, 30080))
	sl := slice("ns", "web", "web-1", []discoveryv1.EndpointPort{slicePort("http", corev1.ProtocolTCP, 8080)}, ep("10.244.1.2", "ready"))
	const endpointChain = "endpoint-"
	tests := []struct {
		name         string
		o            Options
		service      []string // rules of the service chain
		external     []string
		endpoint     []string
		postrouting  []string
		cidrElements string
	}{
		{
			name: "off-cluster clients of the clusterIP, external traffic and hairpin",
			o:    Options{ClusterCIDRs: podCIDR},
			service: []string{
				"ip daddr 10.96.0.10 tcp dport 80 ip saddr != @cluster-cidrs jump mark-for-masquerade",
				"numgen random mod 1 vmap { 0 : goto endpoint-" + endpointNameBase(&ServicePort{Namespace: "ns", Name: "web", PortName: "http", Proto: TCP}, Endpoint{netip.MustParseAddr("10.244.1.2"), 8080}) + " }",
			},
			external:    []string{"jump mark-for-masquerade", "goto service-" + chainNameBase(&ServicePort{Namespace: "ns", Name: "web", PortName: "http", Proto: TCP})},
			endpoint:    []string{"ip saddr 10.244.1.2 jump mark-for-masquerade", "meta l4proto tcp dnat to 10.244.1.2:8080"},
			postrouting: []string{"jump masquerading"},
		},
		{
			name:     "masquerade all",
			o:        Options{ClusterCIDRs: podCIDR, MasqueradeAll: true},
			service:  []string{"ip daddr 10.96.0.10 tcp dport 80 jump mark-for-masquerade"},
			endpoint: []string{"ip saddr 10.244.1.2 jump mark-for-masquerade"},
		},
		{
			name:     "no cluster CIDR: clusterIP traffic keeps its source",
			o:        Options{},
			service:  []string{"numgen random mod 1"},
			endpoint: []string{"ip saddr 10.244.1.2 jump mark-for-masquerade"},
		},
		{
			name: "pod egress",
			o: Options{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("10.245.0.0/16"),
				netip.MustParsePrefix("fd00::/48")}, MasqueradePodEgress: true, PodBridge: "br-pods"},
			postrouting: []string{"jump masquerading",
				`ip saddr @cluster-cidrs ip daddr != @cluster-cidrs ip daddr != 224.0.0.0/4 oifname != "br-pods" masquerade`},
			cidrElements: "10.244.0.0/16, 10.245.0.0/16 }",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := build(t, tt.o, []*corev1.Service{svc}, sl)
			prefixMatch := func(chain string, got, want []string) {
				t.Helper()
				if len(got) < len(want) {
					t.Fatalf("%s: %q, want %q", chain, got, want)
				}
				for i, w := range want {
					if !strings.HasPrefix(got[i], w) {
						t.Errorf("%s rule %d: %q, want %q", chain, i, got[i], w)
					}
				}
			}
			prefixMatch("service", chainWith(t, rs, prefixServiceChain), tt.service)
			prefixMatch("external", chainWith(t, rs, prefixExternalChain), tt.external)
			prefixMatch("endpoint", chainWith(t, rs, endpointChain), tt.endpoint)
			post := rs.Chain(ChainNATPostrouting).RuleStrings()
			prefixMatch("postrouting", post, tt.postrouting)
			if len(tt.postrouting) > 0 && len(post) != len(tt.postrouting) {
				t.Errorf("postrouting %q, want %q", post, tt.postrouting)
			}
			if tt.cidrElements != "" && !strings.Contains(rs.Set(SetClusterCIDRs).String(), tt.cidrElements) {
				t.Errorf("cluster-cidrs %s, want %s", rs.Set(SetClusterCIDRs), tt.cidrElements)
			}
			want := []string{"mark and 0x4000 == 0 return", "mark set mark xor 0x4000", "masquerade fully-random"}
			if got := rs.Chain(ChainMasquerading).RuleStrings(); !slices.Equal(got, want) {
				t.Errorf("masquerading %q, want %q", got, want)
			}
		})
	}
}

func TestBuildFixedChains(t *testing.T) {
	rs := build(t, Options{}, nil)
	want := map[string][]string{
		ChainNATPrerouting: {"jump services"},
		ChainNATOutput:     {"jump services"},
		ChainFilterInput:   {"ct state new jump endpoints-check"},
		ChainFilterForward: {"ct state new jump endpoints-check", "ct state new jump cluster-ips-check"},
		ChainFilterOutput:  {"ct state new jump endpoints-check"},
		ChainServices: {"ip daddr . meta l4proto . th dport vmap @service-ips",
			"fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports"},
		ChainEndpointsCheck: {"ip daddr . meta l4proto . th dport vmap @no-endpoint-services",
			"fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports"},
		ChainReject: {"meta l4proto tcp reject with tcp reset", "reject"},
	}
	for name, rules := range want {
		c := rs.Chain(name)
		if c == nil {
			t.Errorf("no chain %s", name)
			continue
		}
		if got := c.RuleStrings(); !slices.Equal(got, rules) {
			t.Errorf("%s: %q, want %q", name, got, rules)
		}
	}
	if h := rs.Chain(ChainNATPrerouting).Base; h == nil || h.Type != "nat" || h.Hook != "prerouting" || h.Priority != -100 {
		t.Errorf("nat-prerouting hook %+v", h)
	}
	if h := rs.Chain(ChainFilterInput).Base; h == nil || h.Priority >= -100 {
		t.Errorf("filter-input must run before DNAT: %+v", h)
	}

	// With node IPs, NodePorts answer on those only.
	rs = build(t, Options{NodeIPs: []netip.Addr{netip.MustParseAddr("172.18.0.2")}}, nil)
	if got := rs.Chain(ChainServices).RuleStrings()[1]; got != "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports" {
		t.Errorf("services with node IPs: %q", got)
	}
	if s := rs.Set(SetNodePortIPs); s == nil || len(s.Addrs) != 1 {
		t.Errorf("nodeport-ips set %v", s)
	}
}

func TestBuildAffinity(t *testing.T) {
	svc := service("ns", "web", "10.96.0.10", svcPort("http", corev1.ProtocolTCP, 80, 8080, 0))
	svc.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	svc.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](600)}}
	sl := slice("ns", "web", "web-1", []discoveryv1.EndpointPort{slicePort("http", corev1.ProtocolTCP, 8080)}, ep("10.244.1.2", "ready"), ep("10.244.1.3", "ready"))
	rs := build(t, Options{}, []*corev1.Service{svc}, sl)
	var affinity []*Set
	for _, s := range rs.Sets {
		if s.Kind == SetAffinity {
			affinity = append(affinity, s)
			if s.Timeout != 600*time.Second {
				t.Errorf("%s timeout %v", s.Name, s.Timeout)
			}
		}
	}
	if len(affinity) != 2 {
		t.Fatalf("%d affinity sets, want one per endpoint", len(affinity))
	}
	svcRules := chainWith(t, rs, prefixServiceChain)
	if len(svcRules) != 3 || !strings.HasPrefix(svcRules[0], "ip saddr @affinity-") || !strings.Contains(svcRules[0], " goto endpoint-") ||
		!strings.HasPrefix(svcRules[2], "numgen random mod 2") {
		t.Errorf("service chain %q", svcRules)
	}
	epRules := chainWith(t, rs, prefixEndpointChain)
	if !slices.ContainsFunc(epRules, func(r string) bool { return strings.HasPrefix(r, "update @affinity-") }) {
		t.Errorf("endpoint chain does not record the client: %q", epRules)
	}

	// The default timeout is upstream's 3 hours.
	svc.Spec.SessionAffinityConfig = nil
	rs = build(t, Options{}, []*corev1.Service{svc}, sl)
	for _, s := range rs.Sets {
		if s.Kind == SetAffinity && s.Timeout != 3*time.Hour {
			t.Errorf("default timeout %v", s.Timeout)
		}
	}
}

func TestBuildDualStack(t *testing.T) {
	svc := service("ns", "web", "10.96.0.10", svcPort("http", corev1.ProtocolTCP, 80, 8080, 30080))
	svc.Spec.ClusterIPs = []string{"10.96.0.10", "fd00:96::10"}
	v4 := slice("ns", "web", "web-v4", []discoveryv1.EndpointPort{slicePort("http", corev1.ProtocolTCP, 8080)}, ep("10.244.1.2", "ready"))
	v6 := slice("ns", "web", "web-v6", []discoveryv1.EndpointPort{slicePort("http", corev1.ProtocolTCP, 8080)}, ep("fd00:244::2", "ready"))
	v6.AddressType = discoveryv1.AddressTypeIPv6
	o := Options{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:244::/48")}}
	d := Build(ServicePorts([]*corev1.Service{svc}, []*discoveryv1.EndpointSlice{v4, v6}), o)
	if len(d.Rulesets) != 2 || d.Rulesets[1].Family != IPv6 {
		t.Fatalf("want ip and ip6 rulesets, got %d", len(d.Rulesets))
	}
	for _, tc := range []struct {
		rs     *Ruleset
		key    string
		target string
	}{{d.Rulesets[0], "10.96.0.10 . tcp . 80", "dnat to 10.244.1.2:8080"}, {d.Rulesets[1], "fd00:96::10 . tcp . 80", "dnat to [fd00:244::2]:8080"}} {
		v, ok := tc.rs.Map(MapServiceIPs).Lookup(tc.key)
		if !ok {
			t.Fatalf("%s: no %s", tc.rs.Family, tc.key)
		}
		if got := dnatTargets(t, tc.rs, v); !slices.Equal(got, []string{tc.target}) {
			t.Errorf("%s: %v, want %s", tc.rs.Family, got, tc.target)
		}
	}
	if got := d.Rulesets[1].Chain(ChainServices).RuleStrings()[1]; !strings.Contains(got, "ip6 daddr != ::1") {
		t.Errorf("ip6 nodeports rule %q", got)
	}
	// IPv4-only options make no ip6 table.
	if d := Build(nil, Options{ClusterCIDRs: podCIDR}); len(d.Rulesets) != 1 {
		t.Errorf("%d rulesets for IPv4 options", len(d.Rulesets))
	}
}

func TestStaleUDPFlows(t *testing.T) {
	a, b := netip.MustParseAddr("10.244.1.2"), netip.MustParseAddr("10.244.1.3")
	port := func(nodePort uint16, eps ...netip.Addr) *ServicePort {
		sp := &ServicePort{Namespace: "ns", Name: "dns", PortName: "dns", Proto: UDP, Port: 53, NodePort: nodePort,
			ClusterIPs: []netip.Addr{netip.MustParseAddr("10.96.0.10")}, ExternalIPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}
		for _, e := range eps {
			sp.endpoints = append(sp.endpoints, endpoint{Endpoint: Endpoint{e, 5353}, ready: true})
		}
		return sp
	}
	tcp := port(0, a)
	tcp.Proto = TCP
	tests := []struct {
		name      string
		prev, cur []*ServicePort
		want      []string
	}{
		{"unchanged", []*ServicePort{port(0, a)}, []*ServicePort{port(0, a)}, nil},
		{"endpoint added", []*ServicePort{port(0, a)}, []*ServicePort{port(0, a, b)}, nil},
		{"endpoint removed", []*ServicePort{port(30053, a, b)}, []*ServicePort{port(30053, a)}, []string{
			"udp orig-dst 10.96.0.10:53 reply-src 10.244.1.3:5353",
			"udp orig-dst 192.0.2.1:53 reply-src 10.244.1.3:5353",
			"udp orig-dst invalid IP:30053 reply-src 10.244.1.3:5353"}},
		{"from none to some", []*ServicePort{port(30053)}, []*ServicePort{port(30053, a)}, []string{
			"udp orig-dst 10.96.0.10:53 reply-src invalid IP:0",
			"udp orig-dst 192.0.2.1:53 reply-src invalid IP:0",
			"udp orig-dst invalid IP:30053 reply-src invalid IP:0"}},
		{"new service", nil, []*ServicePort{port(0, a)}, []string{
			"udp orig-dst 10.96.0.10:53 reply-src invalid IP:0",
			"udp orig-dst 192.0.2.1:53 reply-src invalid IP:0"}},
		{"service deleted", []*ServicePort{port(0, a)}, nil, []string{
			"udp orig-dst 10.96.0.10:53 reply-src 10.244.1.2:5353",
			"udp orig-dst 192.0.2.1:53 reply-src 10.244.1.2:5353"}},
		{"TCP is left alone", []*ServicePort{tcp}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range staleUDPFlows(tt.prev, tt.cur, IPv4) {
				got = append(got, f.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestIntervalElements(t *testing.T) {
	p := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	tests := []struct {
		name     string
		prefixes []netip.Prefix
		want     []string // key, "end" marks interval ends
	}{
		{"one", []netip.Prefix{p("10.244.0.0/16")}, []string{"0.0.0.0 end", "10.244.0.0", "10.245.0.0 end"}},
		{"nested and adjacent merge", []netip.Prefix{p("10.245.0.0/16"), p("10.244.0.0/16"), p("10.244.3.0/24")},
			[]string{"0.0.0.0 end", "10.244.0.0", "10.246.0.0 end"}},
		{"disjoint", []netip.Prefix{p("10.0.0.0/8"), p("192.168.0.0/16")},
			[]string{"0.0.0.0 end", "10.0.0.0", "11.0.0.0 end", "192.168.0.0", "192.169.0.0 end"}},
		{"everything", []netip.Prefix{p("0.0.0.0/0")}, []string{"0.0.0.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range intervalElements(tt.prefixes, IPv4) {
				a, _ := netip.AddrFromSlice(e.Key)
				s := a.String()
				if e.IntervalEnd {
					s += " end"
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
