package podruntime

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// HostsFile is where the pod's managed /etc/hosts is kept.
func (c *Config) HostsFile(pod *corev1.Pod) string { return filepath.Join(c.PodDir(pod), "etc-hosts") }

// Hosts is the /etc/hosts the kubelet manages for a pod with addresses
// ips, as upstream: the localhost entries, the pod's hostname (fully
// qualified when it has a subdomain), and its hostAliases.
func (c *Config) Hosts(pod *corev1.Pod, ips []string) []byte {
	var b bytes.Buffer
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	host := hostname(pod)
	names := host
	if sub := pod.Spec.Subdomain; sub != "" {
		domain := c.ClusterDomain
		if domain == "" {
			domain = "cluster.local"
		}
		names = fmt.Sprintf("%s.%s.%s.svc.%s\t%s", host, sub, pod.Namespace, domain, host)
	}
	for _, ip := range ips {
		fmt.Fprintf(&b, "%s\t%s\n", ip, names)
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.Bytes()
}

// ManagesHosts reports whether the kubelet mounts its /etc/hosts into
// container c of pod: not for host-network pods (they see the node's)
// nor when the container mounts something at /etc/hosts itself.
func ManagesHosts(pod *corev1.Pod, c *corev1.Container) bool {
	if pod.Spec.HostNetwork {
		return false
	}
	for _, m := range c.VolumeMounts {
		if filepath.Clean(m.MountPath) == "/etc/hosts" {
			return false
		}
	}
	return true
}
