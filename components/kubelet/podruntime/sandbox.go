package podruntime

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Config is where a node keeps pods and how they reach DNS.
type Config struct {
	// RootDir is the kubelet's directory (/var/lib/kubelet): pod volumes
	// and termination message files live under RootDir/pods/<uid>.
	RootDir string
	// PodLogsDir is where the runtime writes container logs (/var/log/pods).
	PodLogsDir string
	// CgroupRoot is the cgroup under which pod cgroups are made
	// ("<qos>/pod<uid>" below it; "" lets the runtime choose).
	CgroupRoot string
	// ClusterDNS are the cluster DNS servers for ClusterFirst pods (none:
	// ClusterFirst pods get the node's resolv.conf, as upstream).
	ClusterDNS []string
	// ClusterDomain is the cluster's DNS domain (cluster.local).
	ClusterDomain string
	// ResolvConf is the node's resolver configuration (/etc/resolv.conf).
	ResolvConf string
}

// PodDir is the pod's directory under the kubelet's root.
func (c *Config) PodDir(pod *corev1.Pod) string {
	return filepath.Join(c.RootDir, "pods", string(pod.UID))
}

// LogDir is the directory of the pod's container logs, as upstream:
// <PodLogsDir>/<namespace>_<name>_<uid>.
func (c *Config) LogDir(pod *corev1.Pod) string {
	return filepath.Join(c.PodLogsDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
}

// CgroupParent is the pod's cgroup (cgroupfs driver): below CgroupRoot,
// Guaranteed pods directly, the others in their QoS class's cgroup.
func (c *Config) CgroupParent(pod *corev1.Pod) string {
	if c.CgroupRoot == "" {
		return ""
	}
	dir := "pod" + string(pod.UID)
	switch QOSClass(pod) {
	case corev1.PodQOSBestEffort:
		return path.Join(c.CgroupRoot, "besteffort", dir)
	case corev1.PodQOSBurstable:
		return path.Join(c.CgroupRoot, "burstable", dir)
	}
	return path.Join(c.CgroupRoot, dir)
}

// SandboxConfig is the CRI sandbox config of the attempt'th sandbox of pod.
func (c *Config) SandboxConfig(pod *corev1.Pod, attempt uint32) (*runtimeapi.PodSandboxConfig, error) {
	dns, err := c.dnsConfig(pod)
	if err != nil {
		return nil, err
	}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{
			Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID), Attempt: attempt,
		},
		Hostname:     hostname(pod),
		LogDirectory: c.LogDir(pod),
		DnsConfig:    dns,
		PortMappings: portMappings(pod),
		Labels:       sandboxLabels(pod),
		Annotations:  copyMap(pod.Annotations),
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: c.CgroupParent(pod),
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: namespaceOptions(pod),
				Privileged:       anyPrivileged(pod),
			},
			Sysctls: sysctls(pod),
		},
	}
	if psc := pod.Spec.SecurityContext; psc != nil {
		sc := cfg.Linux.SecurityContext
		if psc.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		sc.SupplementalGroups = supplementalGroups(psc)
	}
	return cfg, nil
}

// hostname is the pod's hostname: spec.hostname or its name, at most 63
// characters; host-network pods keep the node's.
func hostname(pod *corev1.Pod) string {
	if pod.Spec.HostNetwork {
		return ""
	}
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// portMappings are the pod's host ports.
func portMappings(pod *corev1.Pod) []*runtimeapi.PortMapping {
	var out []*runtimeapi.PortMapping
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := runtimeapi.Protocol_TCP
			switch p.Protocol {
			case corev1.ProtocolUDP:
				proto = runtimeapi.Protocol_UDP
			case corev1.ProtocolSCTP:
				proto = runtimeapi.Protocol_SCTP
			}
			out = append(out, &runtimeapi.PortMapping{Protocol: proto, ContainerPort: p.ContainerPort,
				HostPort: p.HostPort, HostIp: p.HostIP})
		}
	}
	return out
}

// namespaceOptions are the pod's network, PID and IPC namespaces.
func namespaceOptions(pod *corev1.Pod) *runtimeapi.NamespaceOption {
	ns := &runtimeapi.NamespaceOption{
		Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD,
	}
	if pod.Spec.HostNetwork {
		ns.Network = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostIPC {
		ns.Ipc = runtimeapi.NamespaceMode_NODE
	}
	switch {
	case pod.Spec.HostPID:
		ns.Pid = runtimeapi.NamespaceMode_NODE
	case pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace:
		ns.Pid = runtimeapi.NamespaceMode_POD
	}
	return ns
}

func anyPrivileged(pod *corev1.Pod) bool {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
				return true
			}
		}
	}
	return false
}

func sysctls(pod *corev1.Pod) map[string]string {
	if pod.Spec.SecurityContext == nil || len(pod.Spec.SecurityContext.Sysctls) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, s := range pod.Spec.SecurityContext.Sysctls {
		out[s.Name] = s.Value
	}
	return out
}

func supplementalGroups(psc *corev1.PodSecurityContext) []int64 {
	var out []int64
	if psc.FSGroup != nil {
		out = append(out, *psc.FSGroup)
	}
	return append(out, psc.SupplementalGroups...)
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
