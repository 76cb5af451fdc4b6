package nodeipam

import (
	"net/netip"
	"testing"
)

func TestCIDRSet(t *testing.T) {
	for _, tc := range []struct {
		cluster  string
		mask     int
		count    int
		first    string
		last     string
		occupied string // occupied before allocating; skipped
	}{
		{"10.244.0.0/16", 24, 256, "10.244.0.0/24", "10.244.255.0/24", ""},
		{"10.244.0.0/22", 24, 4, "10.244.0.0/24", "10.244.3.0/24", ""},
		{"10.244.0.0/22", 24, 4, "10.244.1.0/24", "10.244.0.0/24", "10.244.0.0/24"},
		{"10.0.0.0/8", 24, 65536, "10.0.0.0/24", "10.255.255.0/24", ""},
		{"10.244.0.0/24", 24, 1, "10.244.0.0/24", "10.244.0.0/24", ""},
		{"fd00:10:244::/56", 64, 256, "fd00:10:244::/64", "fd00:10:244:ff::/64", ""},
		{"fd00::/112", 120, 256, "fd00::/120", "fd00::ff00/120", ""},
	} {
		t.Run(tc.cluster+"/"+tc.occupied, func(t *testing.T) {
			s, err := newCIDRSet(netip.MustParsePrefix(tc.cluster), tc.mask)
			if err != nil {
				t.Fatal(err)
			}
			n := tc.count
			if tc.occupied != "" {
				if err := s.occupy(netip.MustParsePrefix(tc.occupied)); err != nil {
					t.Fatal(err)
				}
				n--
			}
			seen := map[netip.Prefix]bool{}
			var got []netip.Prefix
			for range n {
				p, err := s.allocate()
				if err != nil || seen[p] {
					t.Fatalf("allocate: %v %v dup=%v", p, err, seen[p])
				}
				if s.index(p.Addr()) < 0 || s.subnet(s.index(p.Addr())) != p {
					t.Fatalf("index/subnet round trip of %v", p)
				}
				seen[p] = true
				got = append(got, p)
			}
			if got[0].String() != tc.first {
				t.Errorf("first = %v, want %s", got[0], tc.first)
			}
			if tc.occupied == "" && got[len(got)-1].String() != tc.last {
				t.Errorf("last = %v, want %s", got[len(got)-1], tc.last)
			}
			if p, err := s.allocate(); err != errNoCIDRsRemaining {
				t.Fatalf("allocate from full set: %v %v", p, err)
			}
			if err := s.release(got[0]); err != nil {
				t.Fatal(err)
			}
			if p, err := s.allocate(); err != nil || p != got[0] {
				t.Fatalf("allocate after release = %v %v, want %v", p, err, got[0])
			}
		})
	}
}

func TestCIDRSetRejects(t *testing.T) {
	for _, tc := range []struct {
		cluster string
		mask    int
	}{
		{"10.244.0.0/16", 8},  // mask wider than the cluster
		{"10.0.0.0/8", 25},    // more than 2^16 subnets
		{"10.244.0.0/16", 33}, // longer than the address
		{"fd00::/48", 96},     // more than 2^16 subnets
	} {
		if _, err := newCIDRSet(netip.MustParsePrefix(tc.cluster), tc.mask); err == nil {
			t.Errorf("%s mask %d accepted", tc.cluster, tc.mask)
		}
	}
	s, _ := newCIDRSet(netip.MustParsePrefix("10.244.0.0/16"), 24)
	for _, p := range []string{"10.245.0.0/24", "fd00::/64", "10.0.0.0/8"} {
		if err := s.occupy(netip.MustParsePrefix(p)); err == nil {
			t.Errorf("occupied %s outside the cluster CIDR", p)
		}
	}
	// A larger range occupies every subnet it covers.
	if err := s.occupy(netip.MustParsePrefix("10.244.4.0/22")); err != nil || s.inUse != 4 {
		t.Fatalf("occupy /22: %v, inUse=%d", err, s.inUse)
	}
}

func TestParseClusterCIDRs(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		mask  int
		masks []int
		ok    bool
	}{
		{"10.244.0.0/16", 24, []int{24}, true},
		{"10.244.0.0/16,fd00:10:244::/56", 24, []int{24, 64}, true},
		{"fd00::/104", 120, []int{120}, true},
		{"", 24, nil, false},
		{"10.244.0.0/16,10.245.0.0/16", 24, nil, false},
		{"not-a-cidr", 24, nil, false},
	} {
		sets, err := parseClusterCIDRs(tc.spec, tc.mask)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err=%v, want ok=%v", tc.spec, err, tc.ok)
			continue
		}
		for i, s := range sets {
			if s.maskSize != tc.masks[i] {
				t.Errorf("%q: set %d mask %d, want %d", tc.spec, i, s.maskSize, tc.masks[i])
			}
		}
	}
}
