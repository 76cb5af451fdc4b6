package proxy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// TableName is the name of our table in both families, as upstream's.
const TableName = "kube-proxy"

// MasqueradeMark is the packet mark bit asking for masquerade in
// postrouting (upstream's default --masquerade-bit 14).
const MasqueradeMark uint32 = 1 << 14

// Chain, set and map names, upstream's.
const (
	ChainFilterInput        = "filter-input"
	ChainFilterForward      = "filter-forward"
	ChainFilterOutput       = "filter-output"
	ChainFilterOutputPost   = "filter-output-post-dnat"
	ChainNATPrerouting      = "nat-prerouting"
	ChainNATOutput          = "nat-output"
	ChainNATPostrouting     = "nat-postrouting"
	ChainServices           = "services"
	ChainEndpointsCheck     = "endpoints-check"
	ChainClusterIPsCheck    = "cluster-ips-check"
	ChainReject             = "reject-chain"
	ChainMarkForMasquerade  = "mark-for-masquerade"
	ChainMasquerading       = "masquerading"
	MapServiceIPs           = "service-ips"
	MapServiceNodePorts     = "service-nodeports"
	MapNoEndpointServices   = "no-endpoint-services"
	MapNoEndpointNodePorts  = "no-endpoint-nodeports"
	SetClusterIPs           = "cluster-ips"
	SetClusterCIDRs         = "cluster-cidrs"
	SetNodePortIPs          = "nodeport-ips"
	prefixServiceChain      = "service-"
	prefixExternalChain     = "external-"
	prefixEndpointChain     = "endpoint-"
	prefixAffinitySet       = "affinity-"
	priorityDNAT            = -100
	prioritySNAT            = 100
	priorityFilterBeforeNAT = priorityDNAT - 10
	priorityFilterAfterNAT  = priorityDNAT + 10
)

// Desired is what one sync programs: a ruleset per family and the service
// ports it came from (for conntrack cleanup).
type Desired struct {
	Rulesets []*Ruleset
	Ports    []*ServicePort
}

// Build computes the rulesets for the service ports.
func Build(ports []*ServicePort, o Options) *Desired {
	o = o.withDefaults()
	d := &Desired{Ports: ports}
	for _, f := range o.Families() {
		d.Rulesets = append(d.Rulesets, buildRuleset(f, ports, o))
	}
	return d
}

// builder accumulates one family's ruleset.
type builder struct {
	f  Family
	o  Options
	rs *Ruleset
	// maps by name
	serviceIPs, nodePorts, noEPServices, noEPNodePorts *Map
}

func (b *builder) chain(name string, hook *Hook, rules ...Rule) *Chain {
	c := &Chain{Name: name, Base: hook, Rules: rules}
	b.rs.Chains = append(b.rs.Chains, c)
	return c
}

func buildRuleset(f Family, ports []*ServicePort, o Options) *Ruleset {
	b := &builder{f: f, o: o, rs: &Ruleset{Family: f}}
	b.serviceIPs = &Map{Name: MapServiceIPs, Family: f, Key: KeyAddrProtoPort}
	b.nodePorts = &Map{Name: MapServiceNodePorts, Family: f, Key: KeyProtoPort}
	b.noEPServices = &Map{Name: MapNoEndpointServices, Family: f, Key: KeyAddrProtoPort}
	b.noEPNodePorts = &Map{Name: MapNoEndpointNodePorts, Family: f, Key: KeyProtoPort}
	b.rs.Maps = []*Map{b.serviceIPs, b.nodePorts, b.noEPServices, b.noEPNodePorts}
	b.base()
	clusterIPs := map[netip.Addr]bool{}
	for _, sp := range ports {
		for _, ip := range addrsOf(sp.ClusterIPs, f) {
			clusterIPs[ip] = true
		}
		b.servicePort(sp)
	}
	ips := &Set{Name: SetClusterIPs, Kind: SetAddrs}
	for ip := range clusterIPs {
		ips.Addrs = append(ips.Addrs, ip)
	}
	sortAddrs(ips.Addrs)
	b.rs.Sets = append([]*Set{ips}, b.rs.Sets...)
	for _, m := range b.rs.Maps {
		sortElements(m.Elements)
	}
	return b.rs
}

// base adds the hooks and the fixed chains.
func (b *builder) base() {
	f := b.f
	ctNewJump := func(chain string) Rule { return Rule{CtStateNew{}, Verdict{Kind: Jump, Chain: chain}} }
	b.chain(ChainFilterInput, &Hook{"filter", "input", priorityFilterBeforeNAT}, ctNewJump(ChainEndpointsCheck))
	b.chain(ChainFilterForward, &Hook{"filter", "forward", priorityFilterBeforeNAT},
		ctNewJump(ChainEndpointsCheck), ctNewJump(ChainClusterIPsCheck))
	b.chain(ChainFilterOutput, &Hook{"filter", "output", priorityFilterBeforeNAT}, ctNewJump(ChainEndpointsCheck))
	b.chain(ChainFilterOutputPost, &Hook{"filter", "output", priorityFilterAfterNAT}, ctNewJump(ChainClusterIPsCheck))
	b.chain(ChainNATPrerouting, &Hook{"nat", "prerouting", priorityDNAT}, Rule{Verdict{Kind: Jump, Chain: ChainServices}})
	b.chain(ChainNATOutput, &Hook{"nat", "output", priorityDNAT}, Rule{Verdict{Kind: Jump, Chain: ChainServices}})
	post := b.chain(ChainNATPostrouting, &Hook{"nat", "postrouting", prioritySNAT}, Rule{Verdict{Kind: Jump, Chain: ChainMasquerading}})

	var cidrs []netip.Prefix
	for _, p := range b.o.ClusterCIDRs {
		if familyOf(p.Addr()) == f {
			cidrs = append(cidrs, p.Masked())
		}
	}
	if len(cidrs) > 0 {
		b.rs.Sets = append(b.rs.Sets, &Set{Name: SetClusterCIDRs, Kind: SetPrefixes, Prefixes: cidrs})
		if b.o.MasqueradePodEgress {
			multicast := netip.MustParsePrefix("224.0.0.0/4")
			if f == IPv6 {
				multicast = netip.MustParsePrefix("ff00::/8")
			}
			post.Rules = append(post.Rules, Rule{
				MatchSet{Family: f, Dir: Src, Set: SetClusterCIDRs},
				MatchSet{Family: f, Dir: Dst, Set: SetClusterCIDRs, Neg: true},
				MatchPrefix{Dir: Dst, Prefix: multicast, Neg: true},
				MatchOifName{Name: b.o.PodBridge, Neg: true},
				Masquerade{},
			})
		}
	}

	nodePortMatch := []Expr{FibDAddrLocal{}, b.notLoopback()}
	if nodeIPs := addrsOf(b.o.NodeIPs, f); len(nodeIPs) > 0 {
		sortAddrs(nodeIPs)
		b.rs.Sets = append(b.rs.Sets, &Set{Name: SetNodePortIPs, Kind: SetAddrs, Addrs: nodeIPs})
		nodePortMatch = []Expr{MatchSet{Family: f, Dir: Dst, Set: SetNodePortIPs}}
	}
	b.chain(ChainEndpointsCheck, nil,
		Rule{VmapLookup{Family: f, Key: KeyAddrProtoPort, Map: MapNoEndpointServices}},
		append(append(Rule{}, nodePortMatch...), VmapLookup{Family: f, Key: KeyProtoPort, Map: MapNoEndpointNodePorts}))
	b.chain(ChainClusterIPsCheck, nil,
		Rule{MatchSet{Family: f, Dir: Dst, Set: SetClusterIPs}, Verdict{Kind: Goto, Chain: ChainReject}})
	b.chain(ChainReject, nil, Rule{MatchProto{TCP}, Reject{TCPReset: true}}, Rule{Reject{}})
	b.chain(ChainServices, nil,
		Rule{VmapLookup{Family: f, Key: KeyAddrProtoPort, Map: MapServiceIPs}},
		append(append(Rule{}, nodePortMatch...), VmapLookup{Family: f, Key: KeyProtoPort, Map: MapServiceNodePorts}))
	b.chain(ChainMarkForMasquerade, nil, Rule{SetMarkOr{MasqueradeMark}})
	b.chain(ChainMasquerading, nil,
		Rule{MatchMarkClear{MasqueradeMark}, Verdict{Kind: Return}},
		Rule{SetMarkXor{MasqueradeMark}},
		Rule{Masquerade{FullyRandom: true}})
}

func (b *builder) notLoopback() Expr {
	if b.f == IPv6 {
		return MatchAddr{Dir: Dst, Addr: netip.IPv6Loopback(), Neg: true}
	}
	return MatchPrefix{Dir: Dst, Prefix: netip.MustParsePrefix("127.0.0.0/8"), Neg: true}
}

// servicePort adds one service port's map elements and chains.
func (b *builder) servicePort(sp *ServicePort) {
	f := b.f
	clusterIPs := addrsOf(sp.ClusterIPs, f)
	if len(clusterIPs) == 0 {
		return // not a service of this family
	}
	externalIPs := addrsOf(sp.ExternalIPs, f)
	eps := sp.Endpoints(f)
	reject := Verdict{Kind: Goto, Chain: ChainReject}
	if len(eps) == 0 {
		for _, ip := range append(clusterIPs, externalIPs...) {
			b.noEPServices.Elements = append(b.noEPServices.Elements, MapElement{Addr: ip, Proto: sp.Proto, Port: sp.Port, Verdict: reject})
		}
		if sp.NodePort != 0 {
			b.noEPNodePorts.Elements = append(b.noEPNodePorts.Elements, MapElement{Proto: sp.Proto, Port: sp.NodePort, Verdict: reject})
		}
		return
	}

	base := chainNameBase(sp)
	svcChain := prefixServiceChain + base
	for _, ip := range clusterIPs {
		b.serviceIPs.Elements = append(b.serviceIPs.Elements, MapElement{Addr: ip, Proto: sp.Proto, Port: sp.Port, Verdict: Verdict{Kind: Goto, Chain: svcChain}})
	}
	if len(externalIPs) > 0 || sp.NodePort != 0 {
		extChain := prefixExternalChain + base
		for _, ip := range externalIPs {
			b.serviceIPs.Elements = append(b.serviceIPs.Elements, MapElement{Addr: ip, Proto: sp.Proto, Port: sp.Port, Verdict: Verdict{Kind: Goto, Chain: extChain}})
		}
		if sp.NodePort != 0 {
			b.nodePorts.Elements = append(b.nodePorts.Elements, MapElement{Proto: sp.Proto, Port: sp.NodePort, Verdict: Verdict{Kind: Goto, Chain: extChain}})
		}
		// Traffic from outside may come back through another node: always
		// masquerade it, as upstream does for Cluster traffic policy.
		b.chain(extChain, nil,
			Rule{Verdict{Kind: Jump, Chain: ChainMarkForMasquerade}},
			Rule{Verdict{Kind: Goto, Chain: svcChain}})
	}

	svc := b.chain(svcChain, nil)
	for _, ip := range clusterIPs {
		match := Rule{MatchAddr{Dir: Dst, Addr: ip}, MatchDPort{Proto: sp.Proto, Port: sp.Port}}
		switch {
		case b.o.MasqueradeAll:
			svc.Rules = append(svc.Rules, append(match, Verdict{Kind: Jump, Chain: ChainMarkForMasquerade}))
		case b.rs.Set(SetClusterCIDRs) != nil:
			// Off-cluster clients (node processes, routed clients) are
			// masqueraded so replies come back here to be un-DNATed.
			svc.Rules = append(svc.Rules, append(match,
				MatchSet{Family: f, Dir: Src, Set: SetClusterCIDRs, Neg: true},
				Verdict{Kind: Jump, Chain: ChainMarkForMasquerade}))
		}
	}
	epChains := make([]string, len(eps))
	for i, ep := range eps {
		epChains[i] = prefixEndpointChain + endpointNameBase(sp, ep)
		if sp.Affinity > 0 {
			set := prefixAffinitySet + endpointNameBase(sp, ep)
			svc.Rules = append(svc.Rules, Rule{MatchSet{Family: f, Dir: Src, Set: set}, Verdict{Kind: Goto, Chain: epChains[i]}})
		}
	}
	svc.Rules = append(svc.Rules, Rule{NumgenVmap{Chains: epChains}})

	for i, ep := range eps {
		c := b.chain(epChains[i], nil,
			// Hairpin: a pod reaching itself through the service must
			// be masqueraded or its reply would bypass the un-DNAT.
			Rule{MatchAddr{Dir: Src, Addr: ep.Addr}, Verdict{Kind: Jump, Chain: ChainMarkForMasquerade}})
		if sp.Affinity > 0 {
			set := prefixAffinitySet + endpointNameBase(sp, ep)
			b.rs.Sets = append(b.rs.Sets, &Set{Name: set, Kind: SetAffinity, Timeout: sp.Affinity})
			c.Rules = append(c.Rules, Rule{UpdateSetSAddr{Family: f, Set: set}})
		}
		c.Rules = append(c.Rules, Rule{MatchProto{sp.Proto}, DNAT{Addr: ep.Addr, Port: ep.Port}})
	}
}

// hashed prefixes name with a hash of itself, as upstream's chain names:
// distinct even where names differ in one character, and valid nft names.
func hashed(name string) string {
	h := sha256.Sum256([]byte(name))
	return base32.StdEncoding.EncodeToString(h[:])[:8] + "-" + name
}

// chainNameBase is HASH-namespace/name/proto/portname.
func chainNameBase(sp *ServicePort) string {
	return hashed(fmt.Sprintf("%s/%s/%s/%s", sp.Namespace, sp.Name, sp.Proto, sp.PortName))
}

// endpointNameBase is HASH-namespace/name/proto/portname__ip/port.
func endpointNameBase(sp *ServicePort, ep Endpoint) string {
	ip := strings.ReplaceAll(ep.Addr.String(), ":", ".")
	return hashed(fmt.Sprintf("%s/%s/%s/%s__%s/%d", sp.Namespace, sp.Name, sp.Proto, sp.PortName, ip, ep.Port))
}

// isServiceChain reports whether a chain belongs to a service port (its
// name has a slash; the fixed chains' names do not).
func isServiceChain(name string) bool { return strings.Contains(name, "/") }

func sortAddrs(a []netip.Addr) { slices.SortFunc(a, netip.Addr.Compare) }
