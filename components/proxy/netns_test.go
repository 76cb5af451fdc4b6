package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubelab/kubelab/components/proxy/internal/netnstest"
)

// testNet is a small lab in throwaway network namespaces:
//
//	client (192.168.77.2) --veth-- node (eth0 192.168.77.1; cni0 10.244.1.1/24) --bridge-- pod1 (10.244.1.2), pod2 (10.244.1.3)
//
// The node has br_netfilter on for its bridge (when the kernel has it), IP
// forwarding, hairpin bridge ports and a default route towards the client,
// as a kubelab node has towards its network. Pods run TCP (8080) and UDP
// (5353) servers answering with their name.
type testNet struct {
	t                        *testing.T
	node, client, pod1, pod2 string
}

var netSeq atomic.Int32

const (
	nodeIP   = "192.168.77.1"
	clientIP = "192.168.77.2"
	pod1IP   = "10.244.1.2"
	pod2IP   = "10.244.1.3"
)

// requireNetAdmin skips the test when this machine cannot make network
// namespaces with nf_tables in them.
func requireNetAdmin(t *testing.T) { netnstest.Require(t) }

func run(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func newTestNet(t *testing.T) *testNet {
	requireNetAdmin(t)
	id := fmt.Sprintf("%d-%d", os.Getpid(), netSeq.Add(1))
	n := &testNet{t: t, node: "kpt-node-" + id, client: "kpt-cl-" + id, pod1: "kpt-p1-" + id, pod2: "kpt-p2-" + id}
	for _, ns := range []string{n.node, n.client, n.pod1, n.pod2} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	nodeSh := func(cmd string) { exec.Command("ip", "netns", "exec", n.node, "sh", "-c", cmd).Run() }
	nodeSh("echo 1 > /proc/sys/net/ipv4/ip_forward")
	// Per-namespace on recent kernels; absent without br_netfilter.
	nodeSh("echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables")

	run(t, "ip", "-n", n.node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", n.client)
	run(t, "ip", "-n", n.node, "addr", "add", nodeIP+"/24", "dev", "eth0")
	run(t, "ip", "-n", n.node, "link", "set", "eth0", "up")
	run(t, "ip", "-n", n.client, "addr", "add", clientIP+"/24", "dev", "eth0")
	run(t, "ip", "-n", n.client, "link", "set", "eth0", "up")
	run(t, "ip", "-n", n.client, "route", "add", "default", "via", nodeIP)
	run(t, "ip", "-n", n.node, "route", "add", "default", "via", clientIP)

	run(t, "ip", "-n", n.node, "link", "add", "cni0", "type", "bridge")
	run(t, "ip", "-n", n.node, "addr", "add", "10.244.1.1/24", "dev", "cni0")
	run(t, "ip", "-n", n.node, "link", "set", "cni0", "up")
	for i, p := range []struct{ ns, ip, name string }{{n.pod1, pod1IP, "pod1"}, {n.pod2, pod2IP, "pod2"}} {
		host := fmt.Sprintf("veth%d", i+1)
		run(t, "ip", "-n", n.node, "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", p.ns)
		run(t, "ip", "-n", n.node, "link", "set", host, "master", "cni0")
		run(t, "ip", "-n", n.node, "link", "set", host, "type", "bridge_slave", "hairpin", "on")
		run(t, "ip", "-n", n.node, "link", "set", host, "up")
		run(t, "ip", "-n", p.ns, "addr", "add", p.ip+"/24", "dev", "eth0")
		run(t, "ip", "-n", p.ns, "link", "set", "eth0", "up")
		run(t, "ip", "-n", p.ns, "route", "add", "default", "via", "10.244.1.1")
		n.serve(p.ns, p.ip, p.name)
	}
	return n
}

// IPv6 addresses of the dual-stack lab (addIPv6).
const (
	nodeIP6   = "fd00:77::1"
	clientIP6 = "fd00:77::2"
	pod1IP6   = "fd00:244:1::2"
	pod2IP6   = "fd00:244:1::3"
)

// addIPv6 makes the lab dual-stack, with the same shape in IPv6, and
// starts the pods' servers on their IPv6 addresses too.
func (n *testNet) addIPv6() {
	t := n.t
	if out, err := exec.Command("ip", "-n", n.client, "-6", "addr", "add", clientIP6+"/64", "dev", "eth0", "nodad").CombinedOutput(); err != nil {
		t.Skipf("no IPv6 here: %v: %s", err, out)
	}
	exec.Command("ip", "netns", "exec", n.node, "sh", "-c",
		"echo 1 > /proc/sys/net/ipv6/conf/all/forwarding; echo 1 > /proc/sys/net/bridge/bridge-nf-call-ip6tables").Run()
	run(t, "ip", "-n", n.node, "-6", "addr", "add", nodeIP6+"/64", "dev", "eth0", "nodad")
	run(t, "ip", "-n", n.client, "-6", "route", "add", "default", "via", nodeIP6)
	run(t, "ip", "-n", n.node, "-6", "route", "add", "default", "via", clientIP6)
	run(t, "ip", "-n", n.node, "-6", "addr", "add", "fd00:244:1::1/64", "dev", "cni0", "nodad")
	for _, p := range []struct{ ns, ip, name string }{{n.pod1, pod1IP6, "pod1"}, {n.pod2, pod2IP6, "pod2"}} {
		run(t, "ip", "-n", p.ns, "-6", "addr", "add", p.ip+"/64", "dev", "eth0", "nodad")
		run(t, "ip", "-n", p.ns, "-6", "route", "add", "default", "via", "fd00:244:1::1")
		n.serve(p.ns, "["+p.ip+"]", p.name)
	}
}

// nsPath is the file of a namespace, for Options.NetNS.
func nsPath(ns string) string { return netnstest.Path(ns) }

// inNS runs fn on a thread in namespace ns.
func inNS(ns string, fn func() error) error { return netnstest.Do(nsPath(ns), fn) }

// serve starts the pod's servers: TCP 8080 writes the name, UDP 5353
// answers every datagram with it.
func (n *testNet) serve(ns, ip, name string) {
	t := n.t
	var ln net.Listener
	var pc net.PacketConn
	err := inNS(ns, func() error {
		var err error
		if ln, err = net.Listen("tcp", ip+":8080"); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp", ip+":5353")
		return err
	})
	if err != nil {
		t.Fatalf("servers in %s: %v", name, err)
	}
	t.Cleanup(func() { ln.Close(); pc.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(name))
			c.Close()
		}
	}()
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(name), from)
		}
	}()
}

// dialTCP connects from namespace ns and returns what the server wrote.
// Refused connections come back as errors wrapping ECONNREFUSED.
func dialTCP(ns, addr string) (string, error) {
	var c net.Conn
	err := inNS(ns, func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(c); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// udpConn is a connected UDP socket opened in a namespace; one socket keeps
// one conntrack entry (same addresses and ports) across exchanges.
func udpConn(t *testing.T, ns, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	if err := inNS(ns, func() error {
		var err error
		c, err = net.Dial("udp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends a datagram and reads the answer. An ICMP port
// unreachable comes back as ECONNREFUSED.
func exchange(c net.Conn) (string, error) {
	if _, err := c.Write([]byte("hi")); err != nil {
		return "", err
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// isTimeout reports a deadline error.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// eventually polls fn until it returns nil or the deadline passes.
func eventually(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
