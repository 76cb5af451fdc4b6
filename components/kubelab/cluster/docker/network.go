package docker

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"net"
)

// ULASubnet returns the IPv6 /64 kind derives from a network name: fc00::/8
// with the next 56 bits from the SHA-1 of the name (kind's
// generateULASubnetFromName, first attempt), so that a network kubelab
// creates is the one kind would have created.
func ULASubnet(name string) string {
	ip := make([]byte, 16)
	ip[0] = 0xfc
	ip[1] = 0x00
	h := sha1.New()
	_, _ = h.Write([]byte(name))
	_ = binary.Write(h, binary.LittleEndian, int32(0))
	bs := h.Sum(nil)
	for i := 2; i < 8; i++ {
		ip[i] = bs[i]
	}
	subnet := &net.IPNet{IP: net.IP(ip), Mask: net.CIDRMask(64, 128)}
	return fmt.Sprint(subnet)
}
