package proxy

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Registers: reg 1 is the first 16-byte register (32-bit registers 8-11);
// concatenations continue in 32-bit registers.
const (
	reg1   = 1
	reg2   = 2
	reg32a = 8
)

func (a *applier) addrPayload(d Dir, reg uint32) *expr.Payload {
	off, n := uint32(12), uint32(4)
	if d == Dst {
		off = 16
	}
	if a.family == IPv6 {
		off, n = 8, 16
		if d == Dst {
			off = 24
		}
	}
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}
}

func cmpOp(neg bool) expr.CmpOp {
	if neg {
		return expr.CmpOpNeq
	}
	return expr.CmpOpEq
}

func dportPayload(reg uint32) *expr.Payload {
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
}

// exprs translates a rule; anonymous maps it needs are added to c.
func (a *applier) exprs(c *nftables.Conn, r Rule, sets map[string]*nftables.Set) ([]expr.Any, error) {
	var out []expr.Any
	lookup := func(name string) (*nftables.Set, error) {
		s := sets[name]
		if s == nil {
			return nil, fmt.Errorf("no set %s", name)
		}
		return s, nil
	}
	for _, e := range r {
		switch e := e.(type) {
		case CtStateNew:
			out = append(out,
				&expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
				&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
					Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: make([]byte, 4)},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: make([]byte, 4)})
		case MatchAddr:
			out = append(out, a.addrPayload(e.Dir, reg1),
				&expr.Cmp{Op: cmpOp(e.Neg), Register: reg1, Data: e.Addr.AsSlice()})
		case MatchPrefix:
			p := e.Prefix.Masked()
			n := uint32(p.Addr().BitLen() / 8)
			mask := make([]byte, n)
			for i := 0; i < p.Bits(); i++ {
				mask[i/8] |= 0x80 >> (i % 8)
			}
			out = append(out, a.addrPayload(e.Dir, reg1),
				&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: n, Mask: mask, Xor: make([]byte, n)},
				&expr.Cmp{Op: cmpOp(e.Neg), Register: reg1, Data: p.Addr().AsSlice()})
		case MatchSet:
			s, err := lookup(e.Set)
			if err != nil {
				return nil, err
			}
			out = append(out, a.addrPayload(e.Dir, reg1),
				&expr.Lookup{SourceRegister: reg1, SetName: s.Name, SetID: s.ID, Invert: e.Neg})
		case MatchProto:
			out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{byte(e.Proto)}})
		case MatchDPort:
			out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{byte(e.Proto)}},
				dportPayload(reg1),
				&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.BigEndian.PutUint16(e.Port)})
		case FibDAddrLocal:
			out = append(out, &expr.Fib{Register: reg1, FlagDADDR: true, ResultADDRTYPE: true},
				&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)})
		case MatchOifName:
			name := make([]byte, unix.IFNAMSIZ)
			copy(name, e.Name)
			out = append(out, &expr.Meta{Key: expr.MetaKeyOIFNAME, Register: reg1},
				&expr.Cmp{Op: cmpOp(e.Neg), Register: reg1, Data: name})
		case MatchMarkClear:
			out = append(out, &expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
				&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
					Mask: binaryutil.NativeEndian.PutUint32(e.Mark), Xor: make([]byte, 4)},
				&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: make([]byte, 4)})
		case SetMarkOr:
			out = append(out, &expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
				&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
					Mask: binaryutil.NativeEndian.PutUint32(^e.Mark), Xor: binaryutil.NativeEndian.PutUint32(e.Mark)},
				&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1})
		case SetMarkXor:
			out = append(out, &expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
				&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
					Mask: binaryutil.NativeEndian.PutUint32(0xffffffff), Xor: binaryutil.NativeEndian.PutUint32(e.Mark)},
				&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1})
		case Verdict:
			out = append(out, kernelVerdict(e))
		case Reject:
			if e.TCPReset {
				out = append(out, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
			} else if a.family == IPv6 {
				out = append(out, &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 4}) // ICMPv6 port unreachable
			} else {
				out = append(out, &expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 3}) // ICMP port unreachable
			}
		case Masquerade:
			out = append(out, &expr.Masq{FullyRandom: e.FullyRandom})
		case DNAT:
			fam := uint32(unix.NFPROTO_IPV4)
			if a.family == IPv6 {
				fam = unix.NFPROTO_IPV6
			}
			out = append(out,
				&expr.Immediate{Register: reg1, Data: e.Addr.AsSlice()},
				&expr.Immediate{Register: reg2, Data: binaryutil.BigEndian.PutUint16(e.Port)},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: fam, RegAddrMin: reg1, RegAddrMax: reg1,
					RegProtoMin: reg2, RegProtoMax: reg2, Specified: true})
		case VmapLookup:
			m, err := lookup(e.Map)
			if err != nil {
				return nil, err
			}
			next := uint32(reg32a)
			if e.Key == KeyAddrProtoPort {
				p := a.addrPayload(Dst, reg1)
				out = append(out, p)
				next += p.Len / 4
			}
			out = append(out,
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: regFor(next)},
				dportPayload(next+1),
				&expr.Lookup{SourceRegister: reg1, DestRegister: 0, IsDestRegSet: true, SetName: m.Name, SetID: m.ID})
		case NumgenVmap:
			anon := &nftables.Set{Table: a.table, Name: "__map%d", ID: a.id(), Anonymous: true, Constant: true,
				IsMap: true, KeyType: nftables.TypeInteger, DataType: nftables.TypeVerdict,
				KeyByteOrder: binaryutil.NativeEndian}
			elems := make([]nftables.SetElement, len(e.Chains))
			for i, ch := range e.Chains {
				elems[i] = nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)),
					VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: ch}}
			}
			if err := c.AddSet(anon, elems); err != nil {
				return nil, err
			}
			out = append(out,
				&expr.Numgen{Register: reg1, Modulus: uint32(len(e.Chains)), Type: unix.NFT_NG_RANDOM},
				&expr.Lookup{SourceRegister: reg1, DestRegister: 0, IsDestRegSet: true, SetName: anon.Name, SetID: anon.ID})
		case UpdateSetSAddr:
			s, err := lookup(e.Set)
			if err != nil {
				return nil, err
			}
			out = append(out, a.addrPayload(Src, reg1),
				&expr.Dynset{SrcRegKey: reg1, SetName: s.Name, SetID: s.ID, Operation: unix.NFT_DYNSET_OP_UPDATE})
		default:
			return nil, fmt.Errorf("no translation for %T", e)
		}
	}
	return out, nil
}

// regFor names a 32-bit register: reg32a (8) is the start of reg 1, which
// nft writes as "reg 1" when a value starts there.
func regFor(r32 uint32) uint32 {
	if r32 == reg32a {
		return reg1
	}
	return r32
}
