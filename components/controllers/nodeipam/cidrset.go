package nodeipam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// errNoCIDRsRemaining is returned when every subnet of a cluster CIDR is
// allocated.
var errNoCIDRsRemaining = errors.New("CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range")

// maxSubnetBits bounds the bitmap, as upstream's cidrset does: a cluster
// CIDR may hold at most 2^16 node subnets.
const maxSubnetBits = 16

// cidrSet allocates the node-sized subnets of one cluster CIDR. It is not
// safe for concurrent use; the controller holds its lock.
type cidrSet struct {
	cluster  netip.Prefix
	maskSize int
	count    int // subnets in the cluster CIDR
	used     []uint64
	inUse    int
	next     int
}

// newCIDRSet splits cluster into subnets of maskSize bits.
func newCIDRSet(cluster netip.Prefix, maskSize int) (*cidrSet, error) {
	cluster = cluster.Masked()
	if maskSize < cluster.Bits() || maskSize > cluster.Addr().BitLen() {
		return nil, fmt.Errorf("node CIDR mask size %d does not fit cluster CIDR %s", maskSize, cluster)
	}
	if maskSize-cluster.Bits() > maxSubnetBits {
		return nil, fmt.Errorf("cluster CIDR %s with node mask size %d has more than 2^%d subnets", cluster, maskSize, maxSubnetBits)
	}
	n := 1 << (maskSize - cluster.Bits())
	return &cidrSet{cluster: cluster, maskSize: maskSize, count: n, used: make([]uint64, (n+63)/64)}, nil
}

// allocate returns a free subnet, continuing after the last one handed out.
func (s *cidrSet) allocate() (netip.Prefix, error) {
	if s.inUse >= s.count {
		return netip.Prefix{}, errNoCIDRsRemaining
	}
	for range s.count {
		i := s.next
		s.next = (s.next + 1) % s.count
		if !s.isUsed(i) {
			s.set(i, true)
			return s.subnet(i), nil
		}
	}
	return netip.Prefix{}, errNoCIDRsRemaining
}

// occupy marks every subnet p covers as used (a podCIDR that already
// exists). p must lie inside the cluster CIDR.
func (s *cidrSet) occupy(p netip.Prefix) error {
	first, last, err := s.span(p)
	if err != nil {
		return err
	}
	for i := first; i <= last; i++ {
		if !s.isUsed(i) {
			s.set(i, true)
		}
	}
	return nil
}

// release frees every subnet p covers.
func (s *cidrSet) release(p netip.Prefix) error {
	first, last, err := s.span(p)
	if err != nil {
		return err
	}
	for i := first; i <= last; i++ {
		if s.isUsed(i) {
			s.set(i, false)
		}
	}
	return nil
}

// contains reports whether p is in this set's family and range.
func (s *cidrSet) contains(p netip.Prefix) bool {
	return p.Addr().Is4() == s.cluster.Addr().Is4() && s.cluster.Contains(p.Addr()) && p.Bits() >= s.cluster.Bits()
}

// span returns the indexes of the first and last subnets p covers.
func (s *cidrSet) span(p netip.Prefix) (int, int, error) {
	p = p.Masked()
	if !s.contains(p) {
		return 0, 0, fmt.Errorf("CIDR %s is not inside cluster CIDR %s", p, s.cluster)
	}
	first := s.index(p.Addr())
	if p.Bits() >= s.maskSize {
		return first, first, nil
	}
	return first, first + (1 << (s.maskSize - p.Bits())) - 1, nil
}

func (s *cidrSet) isUsed(i int) bool { return s.used[i/64]&(1<<(i%64)) != 0 }

func (s *cidrSet) set(i int, used bool) {
	if used {
		s.used[i/64] |= 1 << (i % 64)
		s.inUse++
		return
	}
	s.used[i/64] &^= 1 << (i % 64)
	s.inUse--
}

// shift is the number of host bits of a node subnet.
func (s *cidrSet) shift() int { return s.cluster.Addr().BitLen() - s.maskSize }

// subnet is the i-th node subnet.
func (s *cidrSet) subnet(i int) netip.Prefix {
	hi, lo := toUint128(s.cluster.Addr())
	add := uint64(i)
	sh := s.shift()
	var addHi, addLo uint64
	switch {
	case sh >= 64:
		addHi = add << (sh - 64)
	case sh == 0:
		addLo = add
	default:
		addHi, addLo = add>>(64-sh), add<<sh
	}
	lo2 := lo + addLo
	if lo2 < lo {
		hi++
	}
	return netip.PrefixFrom(fromUint128(hi+addHi, lo2, s.cluster.Addr().Is4()), s.maskSize)
}

// index is the subnet number holding addr (inside the cluster CIDR).
func (s *cidrSet) index(addr netip.Addr) int {
	hi, lo := toUint128(addr)
	bhi, blo := toUint128(s.cluster.Addr())
	dlo := lo - blo
	dhi := hi - bhi
	if lo < blo {
		dhi--
	}
	sh := s.shift()
	switch {
	case sh >= 64:
		return int(dhi >> (sh - 64))
	case sh == 0:
		return int(dlo)
	default:
		return int(dlo>>sh | dhi<<(64-sh))
	}
}

// toUint128 splits an address into its high and low 64 bits (IPv4 in the
// low bits).
func toUint128(a netip.Addr) (uint64, uint64) {
	if a.Is4() {
		b := a.As4()
		return 0, uint64(binary.BigEndian.Uint32(b[:]))
	}
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

func fromUint128(hi, lo uint64, v4 bool) netip.Addr {
	if v4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}
