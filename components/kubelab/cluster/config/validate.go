package config

import (
	"fmt"
	"net"
	"regexp"
	"strings"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/errors"
)

// validNameRE is kind's rule for cluster names (node names are derived
// from it).
var validNameRE = regexp.MustCompile(`^[a-z0-9.-]+$`)

// Validate reports every problem with c as one aggregated error, or nil.
// It checks what kind checks, with kind's messages (ValidateKind), and then
// what kubelab cannot do yet: more than one control-plane node (kind would
// put a load balancer in front, pulled from a registry), and IPv6 or
// dual-stack networking.
func Validate(c *v1alpha4.Cluster) error {
	errs := []error{}
	if err := ValidateKind(c); err != nil {
		errs = append(errs, err)
	}
	controlPlanes := 0
	for _, n := range c.Nodes {
		if n.Role == v1alpha4.ControlPlaneRole {
			controlPlanes++
		}
	}
	if controlPlanes > 1 {
		errs = append(errs, errors.Errorf("kubelab supports one %s node, the config has %d", v1alpha4.ControlPlaneRole, controlPlanes))
	}
	if f := c.Networking.IPFamily; f != "" && f != v1alpha4.IPv4Family {
		errs = append(errs, errors.Errorf("ipFamily %s is not supported by kubelab yet; use ipv4", f))
	}
	if len(errs) > 0 {
		return errors.NewAggregate(errs)
	}
	return nil
}

// Warnings lists settings of c that kubelab accepts but ignores: the
// kubeadm and containerd patches (kubelab runs neither kubeadm nor kind's
// containerd config), feature gates, runtime config and the proxy mode.
func Warnings(c *v1alpha4.Cluster) []string {
	var w []string
	add := func(set bool, field string) {
		if set {
			w = append(w, fmt.Sprintf("%s is ignored by kubelab", field))
		}
	}
	add(len(c.FeatureGates) > 0, "featureGates")
	add(len(c.RuntimeConfig) > 0, "runtimeConfig")
	add(len(c.KubeadmConfigPatches) > 0 || len(c.KubeadmConfigPatchesJSON6902) > 0, "kubeadmConfigPatches")
	add(len(c.ContainerdConfigPatches) > 0 || len(c.ContainerdConfigPatchesJSON6902) > 0, "containerdConfigPatches")
	add(c.Networking.KubeProxyMode != "" && c.Networking.KubeProxyMode != v1alpha4.IPTablesProxyMode, "networking.kubeProxyMode")
	add(c.Networking.DNSSearch != nil, "networking.dnsSearch")
	for i, n := range c.Nodes {
		add(len(n.KubeadmConfigPatches) > 0 || len(n.KubeadmConfigPatchesJSON6902) > 0, fmt.Sprintf("nodes[%d].kubeadmConfigPatches", i))
	}
	return w
}

// ValidateKind is kind's validation of a defaulted cluster config
// (pkg/internal/apis/config/validate.go in kind v0.33.0), on the public
// v1alpha4 types and with kind's messages.
func ValidateKind(c *v1alpha4.Cluster) error {
	errs := []error{}
	if !validNameRE.MatchString(c.Name) {
		errs = append(errs, errors.Errorf("'%s' is not a valid cluster name, cluster names must match `%s`",
			c.Name, validNameRE.String()))
	}
	if c.Networking.APIServerPort != 0 {
		if err := validatePort(c.Networking.APIServerPort); err != nil {
			errs = append(errs, errors.Wrapf(err, "invalid apiServerPort"))
		}
	}
	switch c.Networking.IPFamily {
	case v1alpha4.IPv4Family, v1alpha4.IPv6Family, v1alpha4.DualStackFamily:
	default:
		errs = append(errs, errors.Errorf("invalid ipFamily: %s", c.Networking.IPFamily))
	}
	if err := validateSubnets(c.Networking.PodSubnet, c.Networking.IPFamily); err != nil {
		errs = append(errs, errors.Errorf("invalid pod subnet %v", err))
	}
	if err := validateSubnets(c.Networking.ServiceSubnet, c.Networking.IPFamily); err != nil {
		errs = append(errs, errors.Errorf("invalid service subnet %v", err))
	}
	switch c.Networking.KubeProxyMode {
	case v1alpha4.IPTablesProxyMode, v1alpha4.IPVSProxyMode, v1alpha4.NFTablesProxyMode, "none":
	default:
		errs = append(errs, errors.Errorf("invalid kubeProxyMode: %s", c.Networking.KubeProxyMode))
	}
	controlPlanes := 0
	for i, n := range c.Nodes {
		if err := validateNode(n); err != nil {
			errs = append(errs, errors.Errorf("invalid configuration for node %d: %v", i, err))
		}
		if n.Role == v1alpha4.ControlPlaneRole {
			controlPlanes++
		}
	}
	if controlPlanes < 1 {
		errs = append(errs, errors.Errorf("must have at least one %s node", string(v1alpha4.ControlPlaneRole)))
	}
	if len(errs) > 0 {
		return errors.NewAggregate(errs)
	}
	return nil
}

func validateNode(n v1alpha4.Node) error {
	errs := []error{}
	switch n.Role {
	case v1alpha4.ControlPlaneRole, v1alpha4.WorkerRole:
	default:
		errs = append(errs, errors.Errorf("%q is not a valid node role", n.Role))
	}
	if n.Image == "" {
		errs = append(errs, errors.New("image is a required field"))
	}
	for _, m := range n.ExtraPortMappings {
		if err := validatePort(m.HostPort); err != nil {
			errs = append(errs, errors.Wrapf(err, "invalid hostPort"))
		}
		if err := validatePort(m.ContainerPort); err != nil {
			errs = append(errs, errors.Wrapf(err, "invalid containerPort"))
		}
	}
	if err := validatePortMappings(n.ExtraPortMappings); err != nil {
		errs = append(errs, errors.Wrapf(err, "invalid portMapping"))
	}
	if len(errs) > 0 {
		return errors.NewAggregate(errs)
	}
	return nil
}

// validatePortMappings rejects two mappings of the same host address, port
// and protocol (a wildcard address conflicts with every address).
func validatePortMappings(mappings []v1alpha4.PortMapping) error {
	const errMsg = "port mapping with same listen address, port and protocol already configured"
	wildcard := net.ParseIP("0.0.0.0")
	bound := map[string]map[string]bool{}
	for _, m := range mappings {
		if m.HostPort == -1 || m.HostPort == 0 {
			continue // random ports never collide
		}
		addr := net.ParseIP(m.ListenAddress)
		if m.ListenAddress == "" {
			addr = wildcard
		}
		if addr == nil {
			return fmt.Errorf("invalid listen address: %s", m.ListenAddress)
		}
		addrString := addr.String()
		portProtocol := fmt.Sprintf("%d/%s", m.HostPort, m.Protocol)
		dupErr := fmt.Errorf("%s: %s:%s", errMsg, addrString, portProtocol)
		if addr.Equal(net.ParseIP("::")) {
			addr, addrString = wildcard, wildcard.String()
		}
		set, ok := bound[portProtocol]
		if !ok {
			set = map[string]bool{}
			bound[portProtocol] = set
		}
		if ok && (addr.Equal(wildcard) && len(set) > 0 || set[addrString] || set[wildcard.String()]) {
			return dupErr
		}
		set[addrString] = true
	}
	return nil
}

func validatePort(port int32) error {
	// -1 asks the container runtime to pick the port.
	if port < -1 || port > 65535 {
		return errors.Errorf("invalid port number: %d", port)
	}
	return nil
}

func validateSubnets(subnetStr string, family v1alpha4.ClusterIPFamily) error {
	var subnets []*net.IPNet
	for _, s := range strings.Split(subnetStr, ",") {
		_, cidr, err := net.ParseCIDR(s)
		if err != nil {
			return fmt.Errorf("failed to parse cidr value:%q with error: %v", s, err)
		}
		subnets = append(subnets, cidr)
	}
	dual := family == v1alpha4.DualStackFamily
	switch {
	case len(subnets) == 0:
		return errors.New("no subnets defined")
	case dual && len(subnets) > 2:
		return errors.New("expected one (IPv4 or IPv6) CIDR or two CIDRs from each family for dual-stack networking")
	case dual && len(subnets) == 2:
		if (subnets[0].IP.To4() == nil) == (subnets[1].IP.To4() == nil) {
			return errors.New("expected one (IPv4 or IPv6) CIDR or two CIDRs from each family for dual-stack networking")
		}
	case !dual && len(subnets) > 1:
		return errors.New("only one CIDR allowed for single-stack networking")
	case family == v1alpha4.IPv4Family && subnets[0].IP.To4() == nil:
		return errors.New("expected IPv4 CIDR for IPv4 family")
	case family == v1alpha4.IPv6Family && subnets[0].IP.To4() != nil:
		return errors.New("expected IPv6 CIDR for IPv6 family")
	}
	return nil
}

// NodeNames returns the container (and host) name of each node of c, in
// order, as kind names them: <cluster>-control-plane, <cluster>-worker,
// <cluster>-worker2, ...
func NodeNames(c *v1alpha4.Cluster) []string {
	count := map[v1alpha4.NodeRole]int{}
	names := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		count[n.Role]++
		suffix := ""
		if count[n.Role] > 1 {
			suffix = fmt.Sprint(count[n.Role])
		}
		names[i] = fmt.Sprintf("%s-%s%s", c.Name, n.Role, suffix)
	}
	return names
}
