package hollow

import (
	"net/netip"
	"testing"
)

func TestIPPool(t *testing.T) {
	for _, tc := range []struct {
		cidr       string
		size       int
		first, end string
	}{
		{"10.244.3.0/24", 253, "10.244.3.2", "10.244.3.254"},
		{"10.244.0.0/30", 1, "10.244.0.2", "10.244.0.2"},
		{"fd00:10:244:1::/64", maxPoolSize - 2, "fd00:10:244:1::2", "fd00:10:244:1::ffff"},
	} {
		t.Run(tc.cidr, func(t *testing.T) {
			p := newIPPool(netip.MustParsePrefix(tc.cidr))
			if p.size() != tc.size {
				t.Fatalf("size = %d, want %d", p.size(), tc.size)
			}
			seen := map[netip.Addr]bool{}
			var last netip.Addr
			for i := range tc.size {
				ip, ok := p.allocate()
				if !ok || seen[ip] {
					t.Fatalf("allocation %d: %v %v (dup=%v)", i, ip, ok, seen[ip])
				}
				if i == 0 && ip.String() != tc.first {
					t.Fatalf("first = %v, want %s", ip, tc.first)
				}
				seen[ip], last = true, ip
			}
			if last.String() != tc.end {
				t.Fatalf("last = %v, want %s", last, tc.end)
			}
			if ip, ok := p.allocate(); ok {
				t.Fatalf("allocated %v from a full pool", ip)
			}
			p.release(last)
			if ip, ok := p.allocate(); !ok || ip != last {
				t.Fatalf("after release got %v %v, want %v", ip, ok, last)
			}
		})
	}
}

func TestIPPoolReserveAndNoQuickReuse(t *testing.T) {
	p := newIPPool(netip.MustParsePrefix("10.0.0.0/24"))
	if !p.reserve(netip.MustParseAddr("10.0.0.2")) {
		t.Fatal("reserve a free address")
	}
	for _, bad := range []string{"10.0.0.2", "10.0.0.1", "10.0.0.255", "10.0.1.5", "fd00::2"} {
		if p.reserve(netip.MustParseAddr(bad)) {
			t.Errorf("reserved %s", bad)
		}
	}
	a, _ := p.allocate()
	if a.String() != "10.0.0.3" {
		t.Fatalf("allocate skipped reserved: got %v", a)
	}
	p.release(a)
	b, _ := p.allocate()
	if b == a {
		t.Fatalf("released address %v reused at once", a)
	}
}
