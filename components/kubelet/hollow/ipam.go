package hollow

import (
	"encoding/binary"
	"net/netip"
)

// maxPoolSize caps how many addresses of a node's podCIDR are used (an
// IPv6 /64 has more than any node runs pods).
const maxPoolSize = 1 << 16

// ipPool hands out pod IPs from a node's podCIDR as host-local IPAM does:
// the network address and the gateway (.1) are skipped, as is IPv4's
// broadcast address, and allocation continues after the last address
// handed out so an IP is not reused at once. Callers hold the node's lock.
type ipPool struct {
	base  netip.Addr
	first uint32 // first usable offset
	last  uint32 // last usable offset
	next  uint32
	used  []uint64 // bitmap by offset, made on first use
	inUse int
}

func newIPPool(p netip.Prefix) *ipPool {
	size := uint64(1) << min(p.Addr().BitLen()-p.Bits(), 32)
	size = min(size, maxPoolSize)
	last := uint32(size - 1)
	if p.Addr().Is4() {
		last-- // broadcast
	}
	return &ipPool{base: p.Masked().Addr(), first: 2, last: last, next: 2}
}

// size is the number of usable addresses.
func (p *ipPool) size() int {
	if p.last < p.first {
		return 0
	}
	return int(p.last - p.first + 1)
}

// allocate returns a free address, or false when the pool is exhausted.
func (p *ipPool) allocate() (netip.Addr, bool) {
	if p.inUse >= p.size() {
		return netip.Addr{}, false
	}
	if p.used == nil {
		p.used = make([]uint64, (p.last+64)/64)
	}
	for range p.size() {
		off := p.next
		p.next++
		if p.next > p.last {
			p.next = p.first
		}
		if !p.isUsed(off) {
			p.set(off, true)
			return p.addr(off), true
		}
	}
	return netip.Addr{}, false
}

// reserve marks addr as used (a pod that already had it); it reports false
// when addr is outside the pool or taken.
func (p *ipPool) reserve(addr netip.Addr) bool {
	off, ok := p.offset(addr)
	if !ok {
		return false
	}
	if p.used == nil {
		p.used = make([]uint64, (p.last+64)/64)
	}
	if p.isUsed(off) {
		return false
	}
	p.set(off, true)
	return true
}

// release frees addr.
func (p *ipPool) release(addr netip.Addr) {
	off, ok := p.offset(addr)
	if !ok || p.used == nil || !p.isUsed(off) {
		return
	}
	p.set(off, false)
}

func (p *ipPool) isUsed(off uint32) bool { return p.used[off/64]&(1<<(off%64)) != 0 }

func (p *ipPool) set(off uint32, used bool) {
	if used {
		p.used[off/64] |= 1 << (off % 64)
		p.inUse++
		return
	}
	p.used[off/64] &^= 1 << (off % 64)
	p.inUse--
}

// addr is base + off.
func (p *ipPool) addr(off uint32) netip.Addr {
	if p.base.Is4() {
		b := p.base.As4()
		binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(b[:])+off)
		return netip.AddrFrom4(b)
	}
	b := p.base.As16()
	binary.BigEndian.PutUint64(b[8:], binary.BigEndian.Uint64(b[8:])+uint64(off))
	return netip.AddrFrom16(b)
}

// offset is addr - base when addr is a usable address of the pool.
func (p *ipPool) offset(addr netip.Addr) (uint32, bool) {
	if addr.Is4() != p.base.Is4() {
		return 0, false
	}
	var d uint64
	if p.base.Is4() {
		a, b := addr.As4(), p.base.As4()
		x, y := binary.BigEndian.Uint32(a[:]), binary.BigEndian.Uint32(b[:])
		if x < y {
			return 0, false
		}
		d = uint64(x - y)
	} else {
		a, b := addr.As16(), p.base.As16()
		if [8]byte(a[:8]) != [8]byte(b[:8]) {
			return 0, false
		}
		x, y := binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:])
		if x < y {
			return 0, false
		}
		d = x - y
	}
	if d < uint64(p.first) || d > uint64(p.last) {
		return 0, false
	}
	return uint32(d), true
}
