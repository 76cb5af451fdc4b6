package podruntime

import (
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Upstream's resolver limits.
const (
	maxDNSSearches = 32
	maxDNSServers  = 3
)

// dnsConfig is the pod's resolver configuration for its dnsPolicy, as
// upstream: ClusterFirst gets the cluster DNS servers and search domains
// (or the node's when no cluster DNS is configured), Default the node's,
// None only the pod's dnsConfig, which is merged in every case.
func (c *Config) dnsConfig(pod *corev1.Pod) (*runtimeapi.DNSConfig, error) {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault // ClusterFirstWithHostNet is what asks for cluster DNS then
	}
	if policy == corev1.DNSClusterFirstWithHostNet {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && len(c.ClusterDNS) == 0 {
		policy = corev1.DNSDefault
	}
	cfg := &runtimeapi.DNSConfig{}
	switch policy {
	case corev1.DNSDefault, corev1.DNSClusterFirst:
		host, err := readResolvConf(c.ResolvConf)
		if err != nil {
			return nil, err
		}
		cfg = host
		if policy == corev1.DNSClusterFirst {
			domain := c.ClusterDomain
			if domain == "" {
				domain = "cluster.local"
			}
			cfg.Servers = append([]string(nil), c.ClusterDNS...)
			cfg.Searches = append([]string{pod.Namespace + ".svc." + domain, "svc." + domain, domain}, cfg.Searches...)
			cfg.Options = []string{"ndots:5"}
		}
	case corev1.DNSNone:
	default:
		return nil, fmt.Errorf("pod %s/%s: unknown dnsPolicy %q", pod.Namespace, pod.Name, policy)
	}
	if pc := pod.Spec.DNSConfig; pc != nil {
		cfg.Servers = appendUnique(cfg.Servers, pc.Nameservers...)
		cfg.Searches = appendUnique(cfg.Searches, pc.Searches...)
		cfg.Options = mergeOptions(cfg.Options, pc.Options)
	}
	if len(cfg.Servers) > maxDNSServers {
		cfg.Servers = cfg.Servers[:maxDNSServers]
	}
	if len(cfg.Searches) > maxDNSSearches {
		cfg.Searches = cfg.Searches[:maxDNSSearches]
	}
	return cfg, nil
}

// readResolvConf reads servers, search domains and options from path (no
// file: an empty config).
func readResolvConf(path string) (*runtimeapi.DNSConfig, error) {
	cfg := &runtimeapi.DNSConfig{}
	if path == "" {
		return cfg, nil
	}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return cfg, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read resolver config: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			cfg.Servers = append(cfg.Servers, f[1])
		case "search":
			cfg.Searches = f[1:]
		case "options":
			cfg.Options = append(cfg.Options, f[1:]...)
		}
	}
	return cfg, nil
}

func appendUnique(list []string, more ...string) []string {
	for _, m := range more {
		dup := false
		for _, l := range list {
			if l == m {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, m)
		}
	}
	return list
}

// mergeOptions adds the pod's options, a pod option replacing a node
// option of the same name.
func mergeOptions(opts []string, pod []corev1.PodDNSConfigOption) []string {
	for _, o := range pod {
		s := o.Name
		if o.Value != nil {
			s += ":" + *o.Value
		}
		replaced := false
		for i, cur := range opts {
			if name, _, _ := strings.Cut(cur, ":"); name == o.Name {
				opts[i], replaced = s, true
			}
		}
		if !replaced {
			opts = append(opts, s)
		}
	}
	return opts
}
