package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/kubelab/kubelab/components/proxy/internal/netnstest"
)

// startProxier runs a real Proxier over a fake clientset, programming the
// node namespace of n.
func startProxier(t *testing.T, n *testNet, o Options, objs ...any) (*Proxier, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset()
	ctx := t.Context()
	for _, obj := range objs {
		var err error
		switch obj := obj.(type) {
		case *corev1.Service:
			_, err = client.CoreV1().Services(obj.Namespace).Create(ctx, obj, metav1.CreateOptions{})
		case *discoveryv1.EndpointSlice:
			_, err = client.DiscoveryV1().EndpointSlices(obj.Namespace).Create(ctx, obj, metav1.CreateOptions{})
		default:
			t.Fatalf("object %T", obj)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	o.NetNS = nsPath(n.node)
	if o.SyncPeriod == 0 {
		o.SyncPeriod = time.Hour // changes must arrive through events, not resyncs
	}
	if o.MinSyncPeriod == 0 {
		o.MinSyncPeriod = 20 * time.Millisecond
	}
	p, err := New(client, o)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	eventually(t, "first sync", func() error {
		if p.LastSync().IsZero() {
			return errors.New("no sync yet")
		}
		return nil
	})
	return p, client
}

var webPorts = []discoveryv1.EndpointPort{slicePort("http", corev1.ProtocolTCP, 8080), slicePort("dns", corev1.ProtocolUDP, 5353)}

func webService() *corev1.Service {
	return service("default", "web", "10.96.0.10",
		svcPort("http", corev1.ProtocolTCP, 80, 8080, 30080),
		svcPort("dns", corev1.ProtocolUDP, 53, 5353, 30053))
}

// answers dials addr from ns until every name in want has answered.
func answers(t *testing.T, ns, addr string, want ...string) {
	t.Helper()
	seen := map[string]bool{}
	eventually(t, fmt.Sprintf("%s from %s answered by %v", addr, ns, want), func() error {
		got, err := dialTCP(ns, addr)
		if err != nil {
			return err
		}
		seen[got] = true
		for _, w := range want {
			if !seen[w] {
				return fmt.Errorf("seen %v", seen)
			}
		}
		for s := range seen {
			if !contains(want, s) {
				t.Fatalf("%s answered by %q, want only %v", addr, s, want)
			}
		}
		return nil
	})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// refused dials until the connection is refused (rejected by the rules),
// failing on a timeout: clients must fail fast.
func refused(t *testing.T, ns, addr string) {
	t.Helper()
	eventually(t, addr+" refused from "+ns, func() error {
		_, err := dialTCP(ns, addr)
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return nil
		case isTimeout(err):
			t.Fatalf("%s from %s timed out instead of being refused: %v", addr, ns, err)
		case err == nil:
			return errors.New("connected")
		}
		return err
	})
}

func TestProxierRoutesServices(t *testing.T) {
	n := newTestNet(t)
	svc := webService()
	sl := slice("default", "web", "web-1", webPorts, ep(pod1IP, "ready"), ep(pod2IP, "ready"))
	empty := service("default", "empty", "10.96.0.20", svcPort("", corev1.ProtocolTCP, 80, 8080, 30081), svcPort("u", corev1.ProtocolUDP, 53, 5353, 0))
	_, client := startProxier(t, n, Options{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}}, svc, sl, empty)

	t.Run("clusterIP from the node", func(t *testing.T) { answers(t, n.node, "10.96.0.10:80", "pod1", "pod2") })
	t.Run("clusterIP from a routed client", func(t *testing.T) { answers(t, n.client, "10.96.0.10:80", "pod1", "pod2") })
	t.Run("clusterIP from a pod", func(t *testing.T) { answers(t, n.pod2, "10.96.0.10:80", "pod1", "pod2") })
	t.Run("hairpin", func(t *testing.T) { answers(t, n.pod1, "10.96.0.10:80", "pod1", "pod2") })
	t.Run("nodePort from a client", func(t *testing.T) { answers(t, n.client, nodeIP+":30080", "pod1", "pod2") })
	t.Run("nodePort from the node", func(t *testing.T) { answers(t, n.node, nodeIP+":30080", "pod1", "pod2") })
	t.Run("nodePort from a pod", func(t *testing.T) { answers(t, n.pod1, "10.244.1.1:30080", "pod1", "pod2") })
	t.Run("no endpoints: clusterIP refused", func(t *testing.T) {
		refused(t, n.node, "10.96.0.20:80")
		refused(t, n.pod1, "10.96.0.20:80")
	})
	t.Run("no endpoints: nodePort refused", func(t *testing.T) { refused(t, n.client, nodeIP+":30081") })
	t.Run("undefined clusterIP port refused", func(t *testing.T) { refused(t, n.pod1, "10.96.0.10:81") })
	t.Run("no endpoints: UDP port unreachable", func(t *testing.T) {
		// From a pod (forward path) the reject is an ICMP port unreachable.
		c := udpConn(t, n.pod2, "10.96.0.20:53")
		if _, err := exchange(c); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("UDP from a pod to a port without endpoints: %v, want ECONNREFUSED", err)
		}
		// From the node itself the send fails at once.
		c = udpConn(t, n.node, "10.96.0.20:53")
		if _, err := exchange(c); !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.EPERM) {
			t.Fatalf("UDP from the node to a port without endpoints: %v, want EPERM or ECONNREFUSED", err)
		}
	})

	t.Run("UDP endpoint removal moves the flow and cleans conntrack", func(t *testing.T) {
		c := udpConn(t, n.node, "10.96.0.10:53")
		var first string
		eventually(t, "UDP answer", func() error {
			var err error
			first, err = exchange(c)
			return err
		})
		keep, keepIP, goneIP := "pod2", pod2IP, pod1IP
		if first == "pod2" {
			keep, keepIP, goneIP = "pod1", pod1IP, pod2IP
		}
		// The same socket keeps its conntrack entry: without cleanup it
		// would stick to the removed (still running) pod.
		sl2 := slice("default", "web", "web-1", webPorts, ep(keepIP, "ready"))
		if _, err := client.DiscoveryV1().EndpointSlices("default").Update(t.Context(), sl2, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "UDP flow moved to "+keep, func() error {
			got, err := exchange(c)
			if err != nil {
				return err
			}
			if got != keep {
				return fmt.Errorf("answered by %s", got)
			}
			return nil
		})
		flows := conntrackFlows(t, n.node)
		for _, f := range flows {
			if f.Forward.Protocol == unix.IPPROTO_UDP && f.Forward.DstIP.String() == "10.96.0.10" && f.Reverse.SrcIP.String() == goneIP {
				t.Errorf("stale conntrack entry left: %s", f)
			}
		}
		answers(t, n.node, "10.96.0.10:80", keep)

		// Back to two endpoints for the other subtests' sake.
		if _, err := client.DiscoveryV1().EndpointSlices("default").Update(t.Context(), sl, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		answers(t, n.node, "10.96.0.10:80", "pod1", "pod2")
	})

	t.Run("UDP service appearing clears flows that bypassed it", func(t *testing.T) {
		// A client sending before the service is programmed gets a plain
		// conntrack entry (routed out unchanged); UDP keeps it alive, so
		// without cleanup the client would never reach the service.
		c := udpConn(t, n.pod2, "10.96.0.30:53")
		if _, err := exchange(c); !isTimeout(err) {
			t.Fatalf("before the service: %v, want no answer", err)
		}
		eventually(t, "conntrack entry of the unanswered flow", func() error {
			for _, f := range conntrackFlows(t, n.node) {
				if f.Forward.DstIP.String() == "10.96.0.30" {
					return nil
				}
			}
			return errors.New("none")
		})
		late := service("default", "late", "10.96.0.30", svcPort("u", corev1.ProtocolUDP, 53, 5353, 0))
		s := slice("default", "late", "late-1", []discoveryv1.EndpointPort{slicePort("u", corev1.ProtocolUDP, 5353)}, ep(pod1IP, "ready"))
		if _, err := client.CoreV1().Services("default").Create(t.Context(), late, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.DiscoveryV1().EndpointSlices("default").Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "UDP answered once the service exists", func() error {
			got, err := exchange(c)
			if err != nil {
				return err
			}
			if got != "pod1" {
				return fmt.Errorf("answered by %s", got)
			}
			return nil
		})
	})

	t.Run("service deleted: refused", func(t *testing.T) {
		if err := client.CoreV1().Services("default").Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		refused(t, n.client, nodeIP+":30080")
	})
}

// updateSlice writes sl, waits until the proxier's lister has it and syncs,
// so the kernel has the rules for it when this returns.
func updateSlice(t *testing.T, p *Proxier, client *fake.Clientset, sl *discoveryv1.EndpointSlice) {
	t.Helper()
	if _, err := client.DiscoveryV1().EndpointSlices(sl.Namespace).Update(t.Context(), sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "lister sees the slice", func() error {
		got, err := p.slices.EndpointSlices(sl.Namespace).Get(sl.Name)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(got.Endpoints, sl.Endpoints) {
			return errors.New("old endpoints")
		}
		return nil
	})
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestProxierTerminatingFallbackAndAffinity(t *testing.T) {
	n := newTestNet(t)
	svc := webService()
	svc.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	svc.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
	sl := slice("default", "web", "web-1", webPorts, ep(pod1IP, "ready"), ep(pod2IP, "ready"))
	p, client := startProxier(t, n, Options{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}}, svc, sl)

	t.Run("affinity sticks", func(t *testing.T) {
		var first string
		eventually(t, "first answer", func() error {
			var err error
			first, err = dialTCP(n.client, "10.96.0.10:80")
			return err
		})
		for i := range 20 {
			got, err := dialTCP(n.client, "10.96.0.10:80")
			if err != nil {
				t.Fatal(err)
			}
			if got != first {
				t.Fatalf("dial %d answered by %s, first by %s: affinity not kept", i, got, first)
			}
		}
		// A resync keeps the affinity entries.
		if err := p.Sync(); err != nil {
			t.Fatal(err)
		}
		if got, err := dialTCP(n.client, "10.96.0.10:80"); err != nil || got != first {
			t.Fatalf("after resync: %q, %v; want %s", got, err, first)
		}
	})

	t.Run("terminating endpoints serve when none is ready", func(t *testing.T) {
		updateSlice(t, p, client, slice("default", "web", "web-1", webPorts, ep(pod1IP, "terminating"), ep(pod2IP, "notready")))
		answers(t, n.client, "10.96.0.10:80", "pod1")
		answers(t, n.node, "10.96.0.10:80", "pod1")
		updateSlice(t, p, client, slice("default", "web", "web-1", webPorts, ep(pod1IP, "terminated"), ep(pod2IP, "notready")))
		refused(t, n.node, "10.96.0.10:80")
	})
}

func TestProxierRepairsTamperingAndCleansUp(t *testing.T) {
	n := newTestNet(t)
	p, _ := startProxier(t, n, Options{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}},
		webService(), slice("default", "web", "web-1", webPorts, ep(pod1IP, "ready")))
	answers(t, n.node, "10.96.0.10:80", "pod1")

	c := netnstest.NFTables(t, nsPath(n.node))
	table := &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
	services := &nftables.Chain{Name: ChainServices, Table: table}
	hasChain := func(name string) bool {
		chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range chains {
			if ch.Table.Name == TableName && ch.Name == name {
				return true
			}
		}
		return false
	}

	t.Run("flushed chain and foreign chain", func(t *testing.T) {
		c.FlushChain(services)
		c.AddChain(&nftables.Chain{Name: "intruder", Table: table})
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		if rules, _ := c.GetRules(table, services); len(rules) != 0 {
			t.Fatalf("tampering failed: %d rules", len(rules))
		}
		if err := p.Sync(); err != nil {
			t.Fatal(err)
		}
		if rules, err := c.GetRules(table, services); err != nil || len(rules) != 2 {
			t.Fatalf("services chain after resync: %d rules, %v; want 2", len(rules), err)
		}
		answers(t, n.node, "10.96.0.10:80", "pod1")
		// Unknown chains are flushed at once and deleted a little later.
		eventually(t, "foreign chain deleted", func() error {
			if err := p.Sync(); err != nil {
				return err
			}
			if hasChain("intruder") {
				return errors.New("still there")
			}
			return nil
		})
	})

	t.Run("incompatible map: the table is recreated", func(t *testing.T) {
		c.FlushChain(services)
		c.DelSet(&nftables.Set{Name: MapServiceIPs, Table: table})
		if err := c.AddSet(&nftables.Set{Name: MapServiceIPs, Table: table, KeyType: nftables.TypeIPAddr}, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		var errs []error
		for range 3 {
			err := p.Sync()
			if err == nil {
				break
			}
			errs = append(errs, err)
		}
		if len(errs) == 3 {
			t.Fatalf("no recovery: %v", errs)
		}
		t.Logf("syncs failed before recreating: %v", errs)
		answers(t, n.node, "10.96.0.10:80", "pod1")
	})

	t.Run("cleanup", func(t *testing.T) {
		if err := Cleanup(nsPath(n.node)); err != nil {
			t.Fatal(err)
		}
		tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			if tb.Name == TableName {
				t.Fatal("table left after Cleanup")
			}
		}
		if err := Cleanup(nsPath(n.node)); err != nil {
			t.Fatalf("Cleanup without a table: %v", err)
		}
	})
}

func TestProxierDualStack(t *testing.T) {
	n := newTestNet(t)
	n.addIPv6()
	svc := webService()
	svc.Spec.ClusterIPs = []string{"10.96.0.10", "fd00:96::10"}
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	v4 := slice("default", "web", "web-v4", webPorts, ep(pod1IP, "ready"), ep(pod2IP, "ready"))
	v6 := slice("default", "web", "web-v6", webPorts, ep(pod1IP6, "ready"), ep(pod2IP6, "ready"))
	v6.AddressType = discoveryv1.AddressTypeIPv6
	empty := service("default", "empty", "fd00:96::20", svcPort("", corev1.ProtocolTCP, 80, 8080, 30081))
	startProxier(t, n, Options{ClusterCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:244::/48")}},
		svc, v4, v6, empty)

	answers(t, n.node, "[fd00:96::10]:80", "pod1", "pod2")
	answers(t, n.client, "[fd00:96::10]:80", "pod1", "pod2")
	answers(t, n.pod1, "[fd00:96::10]:80", "pod1", "pod2")
	answers(t, n.client, "["+nodeIP6+"]:30080", "pod1", "pod2")
	answers(t, n.client, nodeIP+":30080", "pod1", "pod2")
	refused(t, n.pod1, "[fd00:96::20]:80")
	refused(t, n.client, "["+nodeIP6+"]:30081")
	c := udpConn(t, n.pod2, "[fd00:96::10]:53")
	eventually(t, "UDP over IPv6", func() error {
		_, err := exchange(c)
		return err
	})
}

func conntrackFlows(t *testing.T, ns string) []*netlink.ConntrackFlow {
	t.Helper()
	h, err := netns.GetFromPath(nsPath(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nh, err := netlink.NewHandleAt(h, unix.NETLINK_NETFILTER)
	if err != nil {
		t.Fatal(err)
	}
	defer nh.Close()
	flows, err := nh.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	return flows
}
