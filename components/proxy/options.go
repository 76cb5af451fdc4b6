package proxy

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Proxier and the rules it writes.
type Options struct {
	// NodeName is this node's name (logs only: traffic policies are not
	// implemented).
	NodeName string
	// NodeIPs are the addresses NodePorts answer on; empty means every
	// local address of the node (`fib daddr type local`), loopback excepted.
	NodeIPs []netip.Addr
	// ClusterCIDRs are the pod network. Traffic to a clusterIP from outside
	// them is masqueraded; with none, only hairpin and NodePort traffic is.
	ClusterCIDRs []netip.Prefix
	// MasqueradeAll masquerades all service traffic.
	MasqueradeAll bool
	// MasqueradePodEgress masquerades traffic from ClusterCIDRs to
	// destinations outside them that does not leave through PodBridge, so
	// the CNI bridge's own ipMasq can be off.
	MasqueradePodEgress bool
	// PodBridge is the node's pod bridge (default cni0).
	PodBridge string
	// MinSyncPeriod coalesces bursts of changes (default 100ms).
	MinSyncPeriod time.Duration
	// SyncPeriod is the full resync interval (default 30s).
	SyncPeriod time.Duration
	// NetNS is the path of a network namespace to program (e.g.
	// /run/netns/NAME); empty is the proxier's own.
	NetNS string
	// Logger logs; nil uses slog.Default().
	Logger *slog.Logger
	// Metrics, when set, receives the proxier's metrics.
	Metrics prometheus.Registerer
}

// Defaults used when an option is zero.
const (
	DefaultMinSyncPeriod = 100 * time.Millisecond
	DefaultSyncPeriod    = 30 * time.Second
	DefaultPodBridge     = "cni0"
)

// withDefaults fills zero options.
func (o Options) withDefaults() Options {
	if o.MinSyncPeriod == 0 {
		o.MinSyncPeriod = DefaultMinSyncPeriod
	}
	if o.SyncPeriod == 0 {
		o.SyncPeriod = DefaultSyncPeriod
	}
	if o.PodBridge == "" {
		o.PodBridge = DefaultPodBridge
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Validate checks the options.
func (o Options) Validate() error {
	if o.MinSyncPeriod < 0 || o.SyncPeriod < 0 {
		return fmt.Errorf("sync periods must not be negative (min %v, full %v)", o.MinSyncPeriod, o.SyncPeriod)
	}
	if o.SyncPeriod > 0 && o.MinSyncPeriod > o.SyncPeriod {
		return fmt.Errorf("min sync period %v exceeds sync period %v", o.MinSyncPeriod, o.SyncPeriod)
	}
	for _, p := range o.ClusterCIDRs {
		if !p.IsValid() {
			return fmt.Errorf("invalid cluster CIDR %v", p)
		}
	}
	for _, a := range o.NodeIPs {
		if !a.IsValid() || a.IsLoopback() {
			return fmt.Errorf("node IP %v: NodePorts cannot answer on it", a)
		}
	}
	if len(o.PodBridge) > 15 {
		return fmt.Errorf("pod bridge name %q is longer than an interface name can be", o.PodBridge)
	}
	return nil
}

// Families are the table families the options call for: IPv4 always,
// IPv6 when a cluster CIDR or node IP is IPv6.
func (o Options) Families() []Family {
	fams := []Family{IPv4}
	for _, p := range o.ClusterCIDRs {
		if familyOf(p.Addr()) == IPv6 {
			return append(fams, IPv6)
		}
	}
	for _, a := range o.NodeIPs {
		if familyOf(a) == IPv6 {
			return append(fams, IPv6)
		}
	}
	return fams
}
