// Package docker is how kubelab drives the Docker CLI for lab clusters: the
// `docker run` arguments of a node container, the privileged-mode probe, the
// `kind` network, images and container logs.
//
// Node containers carry kind's labels and flags, so sigs.k8s.io/kind's
// provider lists, deletes and exports them like its own. On a daemon that
// cannot grant --privileged, RunArgs replaces that flag by the capability set
// measured in DESIGN.md §3.
package docker

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

// Labels kind puts on node containers; kind's provider finds clusters by them.
const (
	ClusterLabel = "io.x-k8s.kind.cluster"
	RoleLabel    = "io.x-k8s.kind.role"
)

// NetworkName is the Docker network every kind (and kubelab) node joins.
const NetworkName = "kind"

// APIServerPort is the port the API server listens on inside the
// control-plane node.
const APIServerPort = 6443

// RestrictedSecurityArgs replace --privileged on daemons that cannot grant
// it: every capability but CAP_SYS_RESOURCE (which the daemon itself lacks),
// no seccomp, AppArmor or masked /proc and /sys paths, and every device
// allowed to the node's cgroup. The node supervisor then mounts the cgroup
// hierarchies read-write itself.
var RestrictedSecurityArgs = []string{
	"--cap-add", "ALL",
	"--cap-drop", "SYS_RESOURCE",
	"--security-opt", "seccomp=unconfined",
	"--security-opt", "apparmor=unconfined",
	"--security-opt", "systempaths=unconfined",
	"--device-cgroup-rule", "a *:* rwm",
}

// PrivilegedSecurityArgs are kind's own: a privileged container without
// seccomp and AppArmor.
var PrivilegedSecurityArgs = []string{
	"--privileged",
	"--security-opt", "seccomp=unconfined",
	"--security-opt", "apparmor=unconfined",
}

// Node describes one node container to run.
type Node struct {
	// Name is the container name and host name.
	Name string
	// Cluster is the cluster name (the io.x-k8s.kind.cluster label).
	Cluster string
	// Role is control-plane or worker.
	Role v1alpha4.NodeRole
	// Image is the node image.
	Image string
	// Privileged runs the container --privileged (kind's way) instead of
	// with RestrictedSecurityArgs.
	Privileged bool
	// Network is the Docker network to join (default NetworkName).
	Network string
	// Mounts are the config's extraMounts, host paths already absolute.
	Mounts []v1alpha4.Mount
	// Ports are the published ports with host ports resolved (see
	// ResolvePorts); the control-plane's API server mapping included.
	Ports []v1alpha4.PortMapping
	// LibModules mounts the host's /lib/modules read-only, as kind does.
	LibModules bool
	// Fuse passes /dev/fuse through (rootless or fuse-overlayfs daemons).
	Fuse bool
	// Env are extra KEY=VALUE variables.
	Env []string
}

// RunArgs returns the arguments after `docker run` that create n, in kind's
// order: name, kind's common flags, host name and role label, security
// flags, storage, mounts, ports, environment and finally the image.
func RunArgs(n Node) []string {
	network := n.Network
	if network == "" {
		network = NetworkName
	}
	args := []string{
		"--name", n.Name,
		"--hostname", n.Name,
		"--label", ClusterLabel + "=" + n.Cluster,
		"--label", RoleLabel + "=" + string(n.Role),
		"--detach",
		"--tty",
		"--net", network,
		// restart once after a daemon or host restart, never in a loop
		"--restart=on-failure:1",
		// the node supervisor is PID 1, not docker-init
		"--init=false",
		"--cgroupns=private",
	}
	if n.Privileged {
		args = append(args, PrivilegedSecurityArgs...)
	} else {
		args = append(args, RestrictedSecurityArgs...)
	}
	args = append(args,
		"--tmpfs", "/tmp",
		"--tmpfs", "/run",
		"--volume", "/var",
	)
	if n.LibModules {
		args = append(args, "--volume", "/lib/modules:/lib/modules:ro")
	}
	if n.Fuse {
		args = append(args, "--device", "/dev/fuse")
	}
	args = append(args, "-e", "KIND_EXPERIMENTAL_CONTAINERD_SNAPSHOTTER")
	args = append(args, MountArgs(n.Mounts)...)
	args = append(args, PortArgs(n.Ports)...)
	if n.Role == v1alpha4.ControlPlaneRole {
		args = append(args, "-e", "KUBECONFIG=/etc/kubernetes/admin.conf")
	}
	for _, e := range n.Env {
		args = append(args, "-e", e)
	}
	return append(args, n.Image)
}

// MountArgs converts extraMounts to --volume flags as kind does:
// host:container[:ro,Z,rshared|rslave].
func MountArgs(mounts []v1alpha4.Mount) []string {
	args := make([]string, 0, len(mounts))
	for _, m := range mounts {
		bind := m.HostPath + ":" + m.ContainerPath
		var attrs []string
		if m.Readonly {
			attrs = append(attrs, "ro")
		}
		if m.SelinuxRelabel {
			attrs = append(attrs, "Z")
		}
		switch m.Propagation {
		case v1alpha4.MountPropagationBidirectional:
			attrs = append(attrs, "rshared")
		case v1alpha4.MountPropagationHostToContainer:
			attrs = append(attrs, "rslave")
		}
		if len(attrs) > 0 {
			bind += ":" + strings.Join(attrs, ",")
		}
		args = append(args, "--volume="+bind)
	}
	return args
}

// PortArgs converts resolved port mappings to --publish flags
// (address:hostPort:containerPort/protocol). An empty listen address is
// 0.0.0.0 and an empty protocol TCP, as in kind.
func PortArgs(ports []v1alpha4.PortMapping) []string {
	args := make([]string, 0, len(ports))
	for _, p := range ports {
		addr := p.ListenAddress
		if addr == "" {
			addr = "0.0.0.0"
		}
		proto := p.Protocol
		if proto == "" {
			proto = v1alpha4.PortMappingProtocolTCP
		}
		hostPort := p.HostPort
		if hostPort < 0 {
			hostPort = 0 // -1: the runtime picks
		}
		args = append(args, fmt.Sprintf("--publish=%s:%d/%s",
			net.JoinHostPort(addr, strconv.Itoa(int(hostPort))), p.ContainerPort, proto))
	}
	return args
}

// ValidateProtocols rejects port mappings with a protocol Docker does not
// publish.
func ValidateProtocols(ports []v1alpha4.PortMapping) error {
	for _, p := range ports {
		switch p.Protocol {
		case "", v1alpha4.PortMappingProtocolTCP, v1alpha4.PortMappingProtocolUDP, v1alpha4.PortMappingProtocolSCTP:
		default:
			return fmt.Errorf("unknown port mapping protocol: %v", p.Protocol)
		}
	}
	return nil
}

// ResolvePorts returns ports with every host port 0 replaced by a free port
// on its listen address, as kind picks them (so that the mapping survives a
// daemon restart). The returned release function closes the listeners that
// reserve the picked ports; call it just before `docker run`.
func ResolvePorts(ports []v1alpha4.PortMapping) (resolved []v1alpha4.PortMapping, release func(), err error) {
	var listeners []net.Listener
	release = func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}
	for _, p := range ports {
		if p.HostPort == 0 {
			addr := p.ListenAddress
			if addr == "" {
				addr = "0.0.0.0"
			}
			l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
			if err != nil {
				release()
				return nil, nil, fmt.Errorf("pick a free host port on %s: %w", addr, err)
			}
			listeners = append(listeners, l)
			p.HostPort = int32(l.Addr().(*net.TCPAddr).Port)
		}
		resolved = append(resolved, p)
	}
	return resolved, release, nil
}
