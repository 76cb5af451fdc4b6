package podroutes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// newNetNS creates a throwaway network namespace and a netlink handle on
// it, without moving the test's goroutine there. It skips the test when
// the machine does not let it create one.
func newNetNS(t *testing.T) *netlink.Handle {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root with CAP_NET_ADMIN to create a network namespace")
	}
	ns, err := func() (netns.NsHandle, error) {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			return 0, fmt.Errorf("get the current network namespace: %w", err)
		}
		defer orig.Close()
		ns, err := netns.New() // moves this thread into the new namespace
		if err != nil {
			runtime.UnlockOSThread()
			return 0, err
		}
		if err := netns.Set(orig); err != nil {
			// The thread stays locked and dies with its goroutine rather
			// than run other goroutines in the wrong namespace.
			ns.Close()
			return 0, fmt.Errorf("return to the original network namespace: %w", err)
		}
		runtime.UnlockOSThread()
		return ns, nil
	}()
	if errors.Is(err, unix.EPERM) {
		t.Skipf("cannot create a network namespace (needs CAP_SYS_ADMIN and CAP_NET_ADMIN): %v", err)
	}
	if err != nil {
		t.Fatalf("create a network namespace: %v", err)
	}
	t.Cleanup(func() { ns.Close() })
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle in the namespace: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// setUpLink gives the namespace a veth pair whose end v0 has 192.0.2.1/24
// and 2001:db8::1/64: the "node network" the other nodes' IPs are on.
func setUpLink(t *testing.T, h *netlink.Handle) netlink.Link {
	t.Helper()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "v0"}, PeerName: "v1"}); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			t.Skipf("the kernel cannot create veth interfaces: %v", err)
		}
		t.Fatalf("add veth: %v", err)
	}
	v0, err := h.LinkByName("v0")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"lo", "v0", "v1"} {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatalf("set %s up: %v", name, err)
		}
	}
	for _, a := range []string{"192.0.2.1/24", "2001:db8::1/64"} {
		ipn, err := netlink.ParseIPNet(a)
		if err != nil {
			t.Fatal(err)
		}
		// No duplicate address detection: the IPv6 address is usable at once.
		if err := h.AddrAdd(v0, &netlink.Addr{IPNet: ipn, Flags: unix.IFA_F_NODAD}); err != nil {
			t.Fatalf("add address %s: %v", a, err)
		}
	}
	return v0
}

// routesOf lists the main table's routes marked with protocol as
// "<dst> via <gw> dev <link name>", sorted.
func routesOf(t *testing.T, h *netlink.Handle, protocol netlink.RouteProtocol) []string {
	t.Helper()
	var routes []netlink.Route
	err := retryInterrupted(func() (err error) {
		routes, err = h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN, Protocol: protocol},
			netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
		return err
	})
	if err != nil {
		t.Fatalf("list routes: %v", err)
	}
	var out []string
	for _, r := range routes {
		dev := fmt.Sprint(r.LinkIndex)
		if l, err := h.LinkByIndex(r.LinkIndex); err == nil {
			dev = l.Attrs().Name
		}
		out = append(out, fmt.Sprintf("%s via %s dev %s", r.Dst, r.Gw, dev))
	}
	slices.Sort(out)
	return out
}

// waitRoutes polls until the routes marked with protocol are want.
func waitRoutes(t *testing.T, h *netlink.Handle, protocol netlink.RouteProtocol, want []string, why string) {
	t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := routesOf(t, h, protocol)
		diff := cmp.Diff(want, got)
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: routes with protocol %d after 30s (-want +got):\n%s", why, protocol, diff)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockedBuffer collects the controller's log for assertions.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestControllerInNetNS runs the controller against a throwaway network
// namespace and a fake API: routes appear with the controller's protocol,
// follow a node's new IP and a node's deletion, come back after being
// deleted by hand, and routes it does not own are never touched.
func TestControllerInNetNS(t *testing.T) {
	h := newNetNS(t)
	v0 := setUpLink(t, h)

	mustRoute := func(dst, gw string, proto netlink.RouteProtocol) *netlink.Route {
		t.Helper()
		_, ipn, err := net.ParseCIDR(dst)
		if err != nil {
			t.Fatal(err)
		}
		r := &netlink.Route{Dst: ipn, Gw: net.ParseIP(gw), LinkIndex: v0.Attrs().Index, Protocol: proto}
		if err := h.RouteAdd(r); err != nil {
			t.Fatalf("add route %s via %s: %v", dst, gw, err)
		}
		return r
	}
	// Someone else's routes: one to an unrelated network, one to exactly
	// the podCIDR of node-d.
	mustRoute("10.99.0.0/24", "192.0.2.50", unix.RTPROT_STATIC)
	mustRoute("10.244.4.0/24", "192.0.2.60", unix.RTPROT_BOOT)
	foreign := []string{"10.244.4.0/24 via 192.0.2.60 dev v0", "10.99.0.0/24 via 192.0.2.50 dev v0"}
	// A route the controller owned before a restart, for a node gone since.
	mustRoute("10.250.0.0/24", "192.0.2.77", DefaultProtocol)

	client := fake.NewClientset(
		node("node-a", []string{"10.244.0.0/24", "fd00:10:244::/64"}, "192.0.2.1", "2001:db8::1"),
		node("node-b", []string{"10.244.1.0/24", "fd00:10:244:1::/64"}, "192.0.2.2", "2001:db8::2"),
		node("node-c", []string{"10.244.2.0/24"}, "192.0.2.3"),
		node("node-far", []string{"10.244.3.0/24"}, "203.0.113.5"),
		node("node-d", []string{"10.244.4.0/24"}, "192.0.2.4"),
		node("node-new", nil, "192.0.2.5"),
	)
	var logs lockedBuffer
	ctl := New(client, "node-a", Options{
		Handle:       h,
		ResyncPeriod: 300 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ctl.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	t.Cleanup(stop)

	select {
	case <-ctl.Ready():
	case err := <-done:
		t.Fatalf("Run returned before its first sync: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatalf("no successful sync within 30s; log:\n%s", logs.String())
	}
	// Ready means the first sync is done: no polling needed.
	if diff := cmp.Diff([]string{
		"10.244.1.0/24 via 192.0.2.2 dev v0",
		"10.244.2.0/24 via 192.0.2.3 dev v0",
		"fd00:10:244:1::/64 via 2001:db8::2 dev v0",
	}, routesOf(t, h, DefaultProtocol)); diff != "" {
		t.Fatalf("routes after the first sync (-want +got):\n%s", diff)
	}
	for _, want := range []string{
		`peer=node-far podCIDR=10.244.3.0/24 reason="InternalIP 203.0.113.5 is not on a directly connected network`,
		`peer=node-d podCIDR=10.244.4.0/24 reason="a route to 10.244.4.0/24 that this controller does not own exists"`,
		`msg="added route" controller=podroutes node=node-a peer=node-b dst=10.244.1.0/24 via=192.0.2.2`,
		`msg="removed route" controller=podroutes node=node-a dst=10.250.0.0/24 via=192.0.2.77`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs.String())
		}
	}

	nodes := client.CoreV1().Nodes()
	t.Run("node IP changes: route replaced", func(t *testing.T) {
		b, err := nodes.Get(t.Context(), "node-b", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b.Status.Addresses[0].Address = "192.0.2.12"
		if _, err := nodes.Update(t.Context(), b, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRoutes(t, h, DefaultProtocol, []string{
			"10.244.1.0/24 via 192.0.2.12 dev v0",
			"10.244.2.0/24 via 192.0.2.3 dev v0",
			"fd00:10:244:1::/64 via 2001:db8::2 dev v0",
		}, "after node-b's IPv4 changed")
	})

	t.Run("node deleted: route removed", func(t *testing.T) {
		if err := nodes.Delete(t.Context(), "node-c", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRoutes(t, h, DefaultProtocol, []string{
			"10.244.1.0/24 via 192.0.2.12 dev v0",
			"fd00:10:244:1::/64 via 2001:db8::2 dev v0",
		}, "after node-c was deleted")
	})

	t.Run("node gets its podCIDR: route added", func(t *testing.T) {
		n, err := nodes.Get(t.Context(), "node-new", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.5.0/24", []string{"10.244.5.0/24"}
		if _, err := nodes.Update(t.Context(), n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRoutes(t, h, DefaultProtocol, []string{
			"10.244.1.0/24 via 192.0.2.12 dev v0",
			"10.244.5.0/24 via 192.0.2.5 dev v0",
			"fd00:10:244:1::/64 via 2001:db8::2 dev v0",
		}, "after node-new got a podCIDR")
	})

	t.Run("route deleted by hand: restored on resync", func(t *testing.T) {
		_, dst, _ := net.ParseCIDR("10.244.1.0/24")
		if err := h.RouteDel(&netlink.Route{Dst: dst, Gw: net.ParseIP("192.0.2.12"), Protocol: DefaultProtocol}); err != nil {
			t.Fatalf("delete the route by hand: %v", err)
		}
		if got := routesOf(t, h, DefaultProtocol); slices.Contains(got, "10.244.1.0/24 via 192.0.2.12 dev v0") {
			t.Fatalf("the route is still there after deleting it: %v", got)
		}
		waitRoutes(t, h, DefaultProtocol, []string{
			"10.244.1.0/24 via 192.0.2.12 dev v0",
			"10.244.5.0/24 via 192.0.2.5 dev v0",
			"fd00:10:244:1::/64 via 2001:db8::2 dev v0",
		}, "after deleting a route by hand")
	})

	// Routes of other protocols were never touched.
	if diff := cmp.Diff(foreign[:1], routesOf(t, h, unix.RTPROT_BOOT)); diff != "" {
		t.Errorf("boot-protocol route changed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(foreign[1:], routesOf(t, h, unix.RTPROT_STATIC)); diff != "" {
		t.Errorf("static route changed (-want +got):\n%s", diff)
	}

	// Stopping leaves the routes in place.
	stop()
	if got := routesOf(t, h, DefaultProtocol); len(got) != 3 {
		t.Errorf("routes after the controller stopped: %v, want the 3 it kept", got)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	client := fake.NewClientset()
	for _, tc := range []struct {
		name, node string
		protocol   netlink.RouteProtocol
		want       string
	}{
		{"kernel protocol", "n", unix.RTPROT_KERNEL, "route protocol 2 is invalid"},
		{"static protocol", "n", unix.RTPROT_STATIC, "route protocol 4 is invalid"},
		{"too large", "n", 256, "route protocol 256 is invalid"},
		{"no node name", "", 0, "the node name is empty"},
	} {
		err := New(client, tc.node, Options{Protocol: tc.protocol}).Run(t.Context())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Run = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
