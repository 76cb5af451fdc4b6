package proxy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Family is the address family of one of our nftables tables.
type Family int

const (
	// IPv4 is the "ip" table family.
	IPv4 Family = iota
	// IPv6 is the "ip6" table family.
	IPv6
)

// String is the nft name of the family.
func (f Family) String() string {
	if f == IPv6 {
		return "ip6"
	}
	return "ip"
}

func (f Family) addrType() string {
	if f == IPv6 {
		return "ipv6_addr"
	}
	return "ipv4_addr"
}

// of reports the family of addr.
func familyOf(addr netip.Addr) Family {
	if addr.Is4() || addr.Is4In6() {
		return IPv4
	}
	return IPv6
}

// Ruleset is the desired content of one family's kube-proxy table: a pure
// value built from Services and EndpointSlices (Build) and written to the
// kernel by the applier. Its String is nft syntax, for tests and debugging.
type Ruleset struct {
	Family Family
	// Chains in creation order, base chains first.
	Chains []*Chain
	// Sets are the named sets.
	Sets []*Set
	// Maps are the named verdict maps.
	Maps []*Map
}

// Chain returns the chain called name, or nil.
func (r *Ruleset) Chain(name string) *Chain {
	for _, c := range r.Chains {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Set returns the set called name, or nil.
func (r *Ruleset) Set(name string) *Set {
	for _, s := range r.Sets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Map returns the map called name, or nil.
func (r *Ruleset) Map(name string) *Map {
	for _, m := range r.Maps {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// String renders the table as `nft list table` would (close to it).
func (r *Ruleset) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s {\n", r.Family, TableName)
	for _, s := range r.Sets {
		b.WriteString(s.String())
	}
	for _, m := range r.Maps {
		b.WriteString(m.String())
	}
	for _, c := range r.Chains {
		b.WriteString(c.String())
	}
	b.WriteString("}\n")
	return b.String()
}

// Hook makes a chain a base chain.
type Hook struct {
	// Type is "filter" or "nat".
	Type string
	// Hook is prerouting, input, forward, output or postrouting.
	Hook string
	// Priority orders the chain among others on the hook (dstnat is -100,
	// srcnat 100).
	Priority int32
}

// Chain is a chain and its rules.
type Chain struct {
	Name string
	// Base is set for base chains.
	Base  *Hook
	Rules []Rule
}

// String renders the chain in nft syntax.
func (c *Chain) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
	if c.Base != nil {
		fmt.Fprintf(&b, "\t\ttype %s hook %s priority %d; policy accept;\n", c.Base.Type, c.Base.Hook, c.Base.Priority)
	}
	for _, r := range c.Rules {
		fmt.Fprintf(&b, "\t\t%s\n", r)
	}
	b.WriteString("\t}\n")
	return b.String()
}

// RuleStrings lists the chain's rules in nft syntax.
func (c *Chain) RuleStrings() []string {
	out := make([]string, len(c.Rules))
	for i, r := range c.Rules {
		out[i] = r.String()
	}
	return out
}

// Rule is a sequence of matches ending (usually) in a statement or verdict.
type Rule []Expr

// String renders the rule in nft syntax.
func (r Rule) String() string {
	parts := make([]string, len(r))
	for i, e := range r {
		parts[i] = e.String()
	}
	return strings.Join(parts, " ")
}

// Expr is one match, statement or verdict of a rule. The applier
// translates each kind to kernel expressions.
type Expr interface {
	String() string
}

// Dir picks the source or destination address of a packet.
type Dir int

const (
	// Src is the source address.
	Src Dir = iota
	// Dst is the destination address.
	Dst
)

func (d Dir) String() string {
	if d == Dst {
		return "daddr"
	}
	return "saddr"
}

func neq(neg bool) string {
	if neg {
		return "!= "
	}
	return ""
}

// CtStateNew matches the first packet of a connection.
type CtStateNew struct{}

func (CtStateNew) String() string { return "ct state new" }

// MatchAddr matches one address.
type MatchAddr struct {
	Dir  Dir
	Addr netip.Addr
	Neg  bool
}

func (m MatchAddr) String() string {
	return fmt.Sprintf("%s %s %s%s", familyOf(m.Addr), m.Dir, neq(m.Neg), m.Addr)
}

// MatchPrefix matches the addresses of a prefix.
type MatchPrefix struct {
	Dir    Dir
	Prefix netip.Prefix
	Neg    bool
}

func (m MatchPrefix) String() string {
	return fmt.Sprintf("%s %s %s%s", familyOf(m.Prefix.Addr()), m.Dir, neq(m.Neg), m.Prefix.Masked())
}

// MatchSet matches addresses in (or, negated, not in) a named set.
type MatchSet struct {
	Family Family
	Dir    Dir
	Set    string
	Neg    bool
}

func (m MatchSet) String() string {
	return fmt.Sprintf("%s %s %s@%s", m.Family, m.Dir, neq(m.Neg), m.Set)
}

// MatchProto matches the layer 4 protocol.
type MatchProto struct{ Proto Proto }

func (m MatchProto) String() string { return "meta l4proto " + m.Proto.String() }

// MatchDPort matches the protocol and destination port.
type MatchDPort struct {
	Proto Proto
	Port  uint16
}

func (m MatchDPort) String() string { return fmt.Sprintf("%s dport %d", m.Proto, m.Port) }

// FibDAddrLocal matches packets to an address of this host.
type FibDAddrLocal struct{}

func (FibDAddrLocal) String() string { return "fib daddr type local" }

// MatchOifName matches the output interface name.
type MatchOifName struct {
	Name string
	Neg  bool
}

func (m MatchOifName) String() string { return fmt.Sprintf("oifname %s%q", neq(m.Neg), m.Name) }

// MatchMarkClear matches packets whose mark has none of Mark's bits.
type MatchMarkClear struct{ Mark uint32 }

func (m MatchMarkClear) String() string { return fmt.Sprintf("mark and %#x == 0", m.Mark) }

// SetMarkOr sets Mark's bits in the packet mark.
type SetMarkOr struct{ Mark uint32 }

func (m SetMarkOr) String() string { return fmt.Sprintf("mark set mark or %#x", m.Mark) }

// SetMarkXor flips Mark's bits in the packet mark.
type SetMarkXor struct{ Mark uint32 }

func (m SetMarkXor) String() string { return fmt.Sprintf("mark set mark xor %#x", m.Mark) }

// VerdictKind is what a verdict does.
type VerdictKind int

const (
	// Jump runs a chain and comes back.
	Jump VerdictKind = iota
	// Goto runs a chain and does not come back.
	Goto
	// Return leaves the chain.
	Return
	// Accept accepts the packet.
	Accept
	// Drop drops the packet.
	Drop
)

// Verdict ends rule evaluation (or jumps).
type Verdict struct {
	Kind  VerdictKind
	Chain string
}

func (v Verdict) String() string {
	switch v.Kind {
	case Jump:
		return "jump " + v.Chain
	case Goto:
		return "goto " + v.Chain
	case Return:
		return "return"
	case Accept:
		return "accept"
	default:
		return "drop"
	}
}

// Reject answers the packet with an ICMP port unreachable or, with
// TCPReset, a TCP reset.
type Reject struct{ TCPReset bool }

func (r Reject) String() string {
	if r.TCPReset {
		return "reject with tcp reset"
	}
	return "reject"
}

// Masquerade source-NATs to the output interface's address.
type Masquerade struct{ FullyRandom bool }

func (m Masquerade) String() string {
	if m.FullyRandom {
		return "masquerade fully-random"
	}
	return "masquerade"
}

// DNAT rewrites the destination to Addr:Port.
type DNAT struct {
	Addr netip.Addr
	Port uint16
}

func (d DNAT) String() string {
	return "dnat to " + netip.AddrPortFrom(d.Addr, d.Port).String()
}

// KeyKind is the key of a verdict map.
type KeyKind int

const (
	// KeyAddrProtoPort is daddr . l4proto . dport.
	KeyAddrProtoPort KeyKind = iota
	// KeyProtoPort is l4proto . dport.
	KeyProtoPort
)

// VmapLookup looks the packet up in a named verdict map.
type VmapLookup struct {
	Family Family
	Key    KeyKind
	Map    string
}

func (v VmapLookup) String() string {
	if v.Key == KeyProtoPort {
		return "meta l4proto . th dport vmap @" + v.Map
	}
	return fmt.Sprintf("%s daddr . meta l4proto . th dport vmap @%s", v.Family, v.Map)
}

// NumgenVmap jumps (goto) to one of Chains picked at random.
type NumgenVmap struct{ Chains []string }

func (n NumgenVmap) String() string {
	elems := make([]string, len(n.Chains))
	for i, c := range n.Chains {
		elems[i] = fmt.Sprintf("%d : goto %s", i, c)
	}
	return fmt.Sprintf("numgen random mod %d vmap { %s }", len(n.Chains), strings.Join(elems, ", "))
}

// UpdateSetSAddr adds (or refreshes) the source address in a dynamic set.
type UpdateSetSAddr struct {
	Family Family
	Set    string
}

func (u UpdateSetSAddr) String() string {
	return fmt.Sprintf("update @%s { %s saddr }", u.Set, u.Family)
}

// SetKind is what a named set holds.
type SetKind int

const (
	// SetAddrs holds addresses.
	SetAddrs SetKind = iota
	// SetPrefixes holds prefixes (an interval set).
	SetPrefixes
	// SetAffinity is a dynamic set of client addresses with a timeout.
	SetAffinity
)

// Set is a named set of addresses.
type Set struct {
	Name     string
	Kind     SetKind
	Addrs    []netip.Addr
	Prefixes []netip.Prefix
	// Timeout is the element lifetime of an affinity set.
	Timeout time.Duration
}

// String renders the set in nft syntax.
func (s *Set) String() string {
	var b strings.Builder
	fam := IPv4
	switch {
	case len(s.Addrs) > 0:
		fam = familyOf(s.Addrs[0])
	case len(s.Prefixes) > 0:
		fam = familyOf(s.Prefixes[0].Addr())
	}
	fmt.Fprintf(&b, "\tset %s {\n\t\ttype %s\n", s.Name, fam.addrType())
	switch s.Kind {
	case SetPrefixes:
		b.WriteString("\t\tflags interval\n")
	case SetAffinity:
		fmt.Fprintf(&b, "\t\tflags dynamic,timeout\n\t\ttimeout %s\n", s.Timeout)
	}
	var elems []string
	for _, a := range s.Addrs {
		elems = append(elems, a.String())
	}
	for _, p := range s.Prefixes {
		elems = append(elems, p.Masked().String())
	}
	if len(elems) > 0 {
		fmt.Fprintf(&b, "\t\telements = { %s }\n", strings.Join(elems, ", "))
	}
	b.WriteString("\t}\n")
	return b.String()
}

// Map is a named verdict map.
type Map struct {
	Name     string
	Family   Family
	Key      KeyKind
	Elements []MapElement
}

// MapElement is one entry of a verdict map; Addr is unused with
// KeyProtoPort.
type MapElement struct {
	Addr    netip.Addr
	Proto   Proto
	Port    uint16
	Verdict Verdict
}

// KeyString renders the element's key.
func (e MapElement) KeyString() string {
	if !e.Addr.IsValid() {
		return fmt.Sprintf("%s . %d", e.Proto, e.Port)
	}
	return fmt.Sprintf("%s . %s . %d", e.Addr, e.Proto, e.Port)
}

// Lookup returns the verdict of the element with the given key, if any.
func (m *Map) Lookup(key string) (Verdict, bool) {
	for _, e := range m.Elements {
		if e.KeyString() == key {
			return e.Verdict, true
		}
	}
	return Verdict{}, false
}

// String renders the map in nft syntax.
func (m *Map) String() string {
	var b strings.Builder
	key := "inet_proto . inet_service"
	if m.Key == KeyAddrProtoPort {
		key = m.Family.addrType() + " . " + key
	}
	fmt.Fprintf(&b, "\tmap %s {\n\t\ttype %s : verdict\n", m.Name, key)
	if len(m.Elements) > 0 {
		elems := make([]string, len(m.Elements))
		for i, e := range m.Elements {
			elems[i] = e.KeyString() + " : " + e.Verdict.String()
		}
		fmt.Fprintf(&b, "\t\telements = { %s }\n", strings.Join(elems, ",\n\t\t\t     "))
	}
	b.WriteString("\t}\n")
	return b.String()
}

// Proto is a layer 4 protocol number.
type Proto uint8

// The protocols services use.
const (
	TCP  Proto = 6
	UDP  Proto = 17
	SCTP Proto = 132
)

// String is the nft name of the protocol.
func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case SCTP:
		return "sctp"
	}
	return strconv.Itoa(int(p))
}

// sortElements orders map elements by key for stable output.
func sortElements(es []MapElement) {
	slices.SortFunc(es, func(a, b MapElement) int {
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		if a.Proto != b.Proto {
			return int(a.Proto) - int(b.Proto)
		}
		return int(a.Port) - int(b.Port)
	})
}
