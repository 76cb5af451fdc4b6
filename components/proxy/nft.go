package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// staleChainDelay is how long an unused service chain is kept (flushed)
// before it is deleted: kernels before 6.2 notice a dropped map element's
// reference to a chain only a moment later, as upstream notes.
const staleChainDelay = time.Second

// applier writes one family's Ruleset to the kernel over netlink. Each
// apply is one netlink batch, which the kernel commits atomically: packets
// see the old ruleset or the new one, never half of either. Chains and
// maps are flushed and refilled rather than the table recreated, so
// session-affinity sets keep their entries; after a failed batch the next
// apply deletes and recreates the whole table.
type applier struct {
	family   Family
	netnsFd  int
	table    *nftables.Table
	stale    map[string]time.Time
	recreate bool
	nextID   uint32
}

func newApplier(f Family, netnsFd int) *applier {
	fam := nftables.TableFamilyIPv4
	if f == IPv6 {
		fam = nftables.TableFamilyIPv6
	}
	return &applier{family: f, netnsFd: netnsFd, table: &nftables.Table{Name: TableName, Family: fam}, stale: map[string]time.Time{}}
}

func (a *applier) conn() (*nftables.Conn, error) {
	if a.netnsFd > 0 {
		return nftables.New(nftables.WithNetNSFd(a.netnsFd))
	}
	return nftables.New()
}

// existing lists the chains and sets of our table in the kernel.
func (a *applier) existing(c *nftables.Conn) (chains, sets map[string]bool, err error) {
	chains, sets = map[string]bool{}, map[string]bool{}
	tables, err := c.ListTablesOfFamily(a.table.Family)
	if err != nil {
		return nil, nil, fmt.Errorf("list %s tables: %w", a.family, err)
	}
	found := false
	for _, t := range tables {
		found = found || t.Name == TableName
	}
	if !found {
		return chains, sets, nil
	}
	cs, err := c.ListChainsOfTableFamily(a.table.Family)
	if err != nil {
		return nil, nil, fmt.Errorf("list %s chains: %w", a.family, err)
	}
	for _, ch := range cs {
		if ch.Table.Name == TableName {
			chains[ch.Name] = true
		}
	}
	ss, err := c.GetSets(a.table)
	if err != nil {
		return nil, nil, fmt.Errorf("list %s sets: %w", a.family, err)
	}
	for _, s := range ss {
		if !s.Anonymous {
			sets[s.Name] = true
		}
	}
	return chains, sets, nil
}

// deleteStale deletes chains that have been unused long enough.
func (a *applier) deleteStale(c *nftables.Conn, now time.Time) error {
	n := 0
	for name, since := range a.stale {
		if now.Sub(since) >= staleChainDelay {
			c.DelChain(&nftables.Chain{Name: name, Table: a.table})
			delete(a.stale, name)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete %d stale chains: %w", n, err)
	}
	return nil
}

// apply makes the kernel's table equal to rs.
func (a *applier) apply(rs *Ruleset) (err error) {
	c, err := a.conn()
	if err != nil {
		return fmt.Errorf("nftables connection: %w", err)
	}
	defer func() {
		if err != nil {
			a.recreate = true
		}
	}()
	now := time.Now()
	staleErr := a.deleteStale(c, now) // leftovers are retried on the next apply
	chains, sets, err := a.existing(c)
	if err != nil {
		return err
	}
	if a.recreate {
		c.AddTable(a.table)
		c.DelTable(a.table)
		chains, sets = map[string]bool{}, map[string]bool{}
		clear(a.stale)
	}
	c.AddTable(a.table)

	kchains := map[string]*nftables.Chain{}
	for _, ch := range rs.Chains {
		kc := a.kernelChain(ch)
		c.AddChain(kc)
		c.FlushChain(kc)
		kchains[ch.Name] = kc
		delete(a.stale, ch.Name)
	}
	for name := range chains {
		if kchains[name] == nil {
			c.FlushChain(&nftables.Chain{Name: name, Table: a.table})
			if _, ok := a.stale[name]; !ok {
				a.stale[name] = now
			}
		}
	}

	ksets := map[string]*nftables.Set{}
	for _, s := range rs.Sets {
		ks, elems, err := a.kernelSet(s)
		if err != nil {
			return err
		}
		if err := c.AddSet(ks, nil); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
		if s.Kind != SetAffinity { // affinity entries survive syncs
			c.FlushSet(ks)
			if len(elems) > 0 {
				if err := c.SetAddElements(ks, elems); err != nil {
					return fmt.Errorf("set %s elements: %w", s.Name, err)
				}
			}
		}
		ksets[s.Name] = ks
	}
	for _, m := range rs.Maps {
		km, elems := a.kernelMap(m)
		if err := c.AddSet(km, nil); err != nil {
			return fmt.Errorf("map %s: %w", m.Name, err)
		}
		c.FlushSet(km)
		if len(elems) > 0 {
			if err := c.SetAddElements(km, elems); err != nil {
				return fmt.Errorf("map %s elements: %w", m.Name, err)
			}
		}
		ksets[m.Name] = km
	}
	for name := range sets {
		if ksets[name] == nil {
			c.DelSet(&nftables.Set{Name: name, Table: a.table})
		}
	}

	for _, ch := range rs.Chains {
		for _, r := range ch.Rules {
			exprs, err := a.exprs(c, r, ksets)
			if err != nil {
				return fmt.Errorf("chain %s rule %q: %w", ch.Name, r, err)
			}
			c.AddRule(&nftables.Rule{Table: a.table, Chain: kchains[ch.Name], Exprs: exprs})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("write %s %s table: %w", a.family, TableName, err)
	}
	return staleErr
}

func (a *applier) id() uint32 {
	a.nextID++
	return a.nextID
}

var hooks = map[string]*nftables.ChainHook{
	"prerouting":  nftables.ChainHookPrerouting,
	"input":       nftables.ChainHookInput,
	"forward":     nftables.ChainHookForward,
	"output":      nftables.ChainHookOutput,
	"postrouting": nftables.ChainHookPostrouting,
}

func (a *applier) kernelChain(ch *Chain) *nftables.Chain {
	kc := &nftables.Chain{Name: ch.Name, Table: a.table}
	if ch.Base != nil {
		accept := nftables.ChainPolicyAccept
		kc.Hooknum = hooks[ch.Base.Hook]
		kc.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(ch.Base.Priority))
		kc.Type = nftables.ChainType(ch.Base.Type)
		kc.Policy = &accept
	}
	return kc
}

func (a *applier) addrType() nftables.SetDatatype {
	if a.family == IPv6 {
		return nftables.TypeIP6Addr
	}
	return nftables.TypeIPAddr
}

func (a *applier) kernelSet(s *Set) (*nftables.Set, []nftables.SetElement, error) {
	ks := &nftables.Set{Table: a.table, Name: s.Name, ID: a.id(), KeyType: a.addrType()}
	var elems []nftables.SetElement
	switch s.Kind {
	case SetAddrs:
		for _, ad := range s.Addrs {
			elems = append(elems, nftables.SetElement{Key: ad.AsSlice()})
		}
	case SetPrefixes:
		ks.Interval = true
		elems = intervalElements(s.Prefixes, a.family)
	case SetAffinity:
		ks.Dynamic, ks.HasTimeout, ks.Timeout, ks.Size = true, true, s.Timeout, 65535
	default:
		return nil, nil, fmt.Errorf("set %s: unknown kind %d", s.Name, s.Kind)
	}
	return ks, elems, nil
}

// intervalElements encodes prefixes as interval-set elements: each merged
// range as a start element and an interval-end element at the address
// after it (none when the range reaches the top of the address space),
// plus, as nft writes it, an interval end at the zero address when no
// range starts there.
func intervalElements(prefixes []netip.Prefix, f Family) []nftables.SetElement {
	type rng struct {
		start netip.Addr
		end   netip.Addr // exclusive; invalid means "to the top"
	}
	var rs []rng
	for _, p := range prefixes {
		p = p.Masked()
		rs = append(rs, rng{p.Addr(), lastAddr(p).Next()})
	}
	// Sort and merge overlapping or adjacent ranges: the kernel refuses
	// overlapping intervals.
	slices.SortFunc(rs, func(x, y rng) int { return x.start.Compare(y.start) })
	var merged []rng
	for _, r := range rs {
		if n := len(merged); n > 0 {
			last := &merged[n-1]
			if !last.end.IsValid() || !last.end.Less(r.start) {
				if last.end.IsValid() && (!r.end.IsValid() || last.end.Less(r.end)) {
					last.end = r.end
				}
				continue
			}
		}
		merged = append(merged, r)
	}
	zero := netip.IPv4Unspecified()
	if f == IPv6 {
		zero = netip.IPv6Unspecified()
	}
	var elems []nftables.SetElement
	if len(merged) == 0 || merged[0].start != zero {
		elems = append(elems, nftables.SetElement{Key: zero.AsSlice(), IntervalEnd: true})
	}
	for _, r := range merged {
		elems = append(elems, nftables.SetElement{Key: r.start.AsSlice()})
		if r.end.IsValid() {
			elems = append(elems, nftables.SetElement{Key: r.end.AsSlice(), IntervalEnd: true})
		}
	}
	return elems
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (a *applier) kernelMap(m *Map) (*nftables.Set, []nftables.SetElement) {
	key := nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
	if m.Key == KeyAddrProtoPort {
		key = nftables.MustConcatSetType(a.addrType(), nftables.TypeInetProto, nftables.TypeInetService)
	}
	km := &nftables.Set{Table: a.table, Name: m.Name, ID: a.id(), IsMap: true, Concatenation: true,
		KeyType: key, DataType: nftables.TypeVerdict}
	elems := make([]nftables.SetElement, 0, len(m.Elements))
	for _, e := range m.Elements {
		var k []byte
		if m.Key == KeyAddrProtoPort {
			k = append(k, e.Addr.AsSlice()...)
		}
		// Each field of a concatenation is padded to 4 bytes.
		k = append(k, byte(e.Proto), 0, 0, 0, byte(e.Port>>8), byte(e.Port), 0, 0)
		elems = append(elems, nftables.SetElement{Key: k, VerdictData: kernelVerdict(e.Verdict)})
	}
	return km, elems
}

func kernelVerdict(v Verdict) *expr.Verdict {
	kinds := map[VerdictKind]expr.VerdictKind{Jump: expr.VerdictJump, Goto: expr.VerdictGoto,
		Return: expr.VerdictReturn, Accept: expr.VerdictAccept, Drop: expr.VerdictDrop}
	return &expr.Verdict{Kind: kinds[v.Kind], Chain: v.Chain}
}

// Cleanup deletes our tables (both families) from the network namespace
// at netnsPath (empty: the caller's). Missing tables are not an error.
func Cleanup(netnsPath string) error {
	fd := 0
	if netnsPath != "" {
		f, err := os.Open(netnsPath)
		if err != nil {
			return fmt.Errorf("open network namespace: %w", err)
		}
		defer f.Close()
		fd = int(f.Fd())
	}
	var errs []error
	for _, fam := range []Family{IPv4, IPv6} {
		a := newApplier(fam, fd)
		c, err := a.conn()
		if err != nil {
			return fmt.Errorf("nftables connection: %w", err)
		}
		c.AddTable(a.table) // adding first makes the delete succeed when absent
		c.DelTable(a.table)
		if err := c.Flush(); err != nil {
			if fam == IPv6 && (errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EOPNOTSUPP)) {
				continue // no ip6 nf_tables in this kernel: nothing of ours there
			}
			errs = append(errs, fmt.Errorf("delete %s %s table: %w", fam, TableName, err))
		}
	}
	return errors.Join(errs...)
}
