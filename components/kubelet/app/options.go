// Package app is the kubelet command: its options and flags. By default
// it is the kubelet of one node, a CRI client of the node's containerd;
// with --hollow-nodes N it runs N simulated nodes instead.
package app

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubelab/kubelab/components/kubelet/cni"
	"github.com/kubelab/kubelab/components/kubelet/hollow"
	"github.com/kubelab/kubelab/components/kubelet/kubelet"
)

// Options are the kubelet's flags.
type Options struct {
	// Kubeconfig is the path of the kubeconfig to reach the API server.
	Kubeconfig string
	// Config is a KubeletConfiguration file; flags override it.
	Config string
	// HollowNodes is how many simulated nodes to run (0: none).
	HollowNodes int
	// HollowNodePrefix prefixes the hollow node names.
	HollowNodePrefix string
	// Capacity is each node's capacity, as resource=quantity pairs.
	Capacity map[string]string
	// NodeLabels are added to every node.
	NodeLabels map[string]string
	// RegisterWithTaints are key=value:Effect taints every node registers with.
	RegisterWithTaints []string
	// NodeLeaseDurationSeconds is the node Lease's duration.
	NodeLeaseDurationSeconds int32
	// NodeStatusUpdateFrequency is how often NodeStatus is posted.
	NodeStatusUpdateFrequency time.Duration
	// KubeAPIQPS and KubeAPIBurst limit the client (0: sized to the nodes).
	KubeAPIQPS   float32
	KubeAPIBurst int

	// Real is the kubelet on containerd (used when HollowNodes is 0).
	Real RealOptions
}

// RealOptions are the flags of the kubelet on containerd, named as
// upstream's.
type RealOptions struct {
	HostnameOverride         string
	NodeIP                   string
	ContainerRuntimeEndpoint string
	RootDir                  string
	PodLogsDir               string
	CNIConfDir               string
	PodManifestPath          string
	ClusterDNS               []string
	ClusterDomain            string
	ResolvConf               string
	MaxPods                  int64
	CgroupRoot               string
	KubeReserved             map[string]string
	SystemReserved           map[string]string
	Address                  string
	Port                     int
	TLSCertFile              string
	TLSPrivateKeyFile        string
	ClientCAFile             string
	ImagePullTimeout         time.Duration
	CNIMTU                   int
	CNINoMasquerade          bool
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		HollowNodePrefix:          "hollow-node-",
		NodeLeaseDurationSeconds:  40,
		NodeStatusUpdateFrequency: time.Minute,
		Real: RealOptions{
			ContainerRuntimeEndpoint: "unix:///run/containerd/containerd.sock",
			RootDir:                  "/var/lib/kubelet",
			PodLogsDir:               "/var/log/pods",
			CNIConfDir:               "/etc/cni/net.d",
			ClusterDomain:            "cluster.local",
			ResolvConf:               "/etc/resolv.conf",
			MaxPods:                  110,
			Address:                  "0.0.0.0",
			Port:                     10250,
			ImagePullTimeout:         30 * time.Second,
		},
	}
}

// AddFlags registers the flags on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "path to a kubeconfig file for the API server")
	fs.StringVar(&o.Config, "config", o.Config, "a KubeletConfiguration (kubelet.config.k8s.io/v1beta1) file; flags given too override it")
	fs.IntVar(&o.HollowNodes, "hollow-nodes", o.HollowNodes, "run this many hollow (simulated) nodes: they register, heartbeat and run their pods without containers")
	fs.StringVar(&o.HollowNodePrefix, "hollow-node-prefix", o.HollowNodePrefix, "prefix of the hollow node names (followed by an index)")
	fs.StringToStringVar(&o.Capacity, "hollow-node-capacity", o.Capacity, "capacity of each hollow node, e.g. cpu=8,memory=32Gi,pods=110 (default cpu=4,memory=16Gi,pods=110)")
	fs.StringToStringVar(&o.NodeLabels, "node-labels", o.NodeLabels, "labels to add to each node, e.g. topology.kubernetes.io/zone=a")
	fs.StringSliceVar(&o.RegisterWithTaints, "register-with-taints", o.RegisterWithTaints, "taints each node registers with, as key=value:Effect")
	fs.Int32Var(&o.NodeLeaseDurationSeconds, "node-lease-duration-seconds", o.NodeLeaseDurationSeconds, "duration of each node's Lease, renewed every quarter of it")
	fs.DurationVar(&o.NodeStatusUpdateFrequency, "node-status-update-frequency", o.NodeStatusUpdateFrequency, "how often each node posts its NodeStatus")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "client QPS limit (0: sized to the number of nodes)")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "client burst limit (0: twice the QPS)")
	r := &o.Real
	fs.StringVar(&r.HostnameOverride, "hostname-override", r.HostnameOverride, "the node's name (default: the hostname)")
	fs.StringVar(&r.NodeIP, "node-ip", r.NodeIP, "the node's InternalIP (default: the address of eth0)")
	fs.StringVar(&r.ContainerRuntimeEndpoint, "container-runtime-endpoint", r.ContainerRuntimeEndpoint, "the CRI endpoint of the container runtime")
	fs.StringVar(&r.RootDir, "root-dir", r.RootDir, "the kubelet's directory (pod volumes, certificates)")
	fs.StringVar(&r.PodLogsDir, "pod-logs-dir", r.PodLogsDir, "where the runtime writes container logs")
	fs.StringVar(&r.CNIConfDir, "cni-conf-dir", r.CNIConfDir, "where the pod network's CNI config is written once the node has a podCIDR")
	fs.StringVar(&r.PodManifestPath, "pod-manifest-path", r.PodManifestPath, "a directory of static pod manifests to run and mirror into the API")
	fs.StringSliceVar(&r.ClusterDNS, "cluster-dns", r.ClusterDNS, "DNS server addresses for ClusterFirst pods (none: pods use the node's resolver)")
	fs.StringVar(&r.ClusterDomain, "cluster-domain", r.ClusterDomain, "the cluster's DNS domain")
	fs.StringVar(&r.ResolvConf, "resolv-conf", r.ResolvConf, "the node's resolver config, the base of pods' DNS")
	fs.Int64Var(&r.MaxPods, "max-pods", r.MaxPods, "the node's pod capacity")
	fs.StringVar(&r.CgroupRoot, "cgroup-root", r.CgroupRoot, "the cgroup under which pod cgroups are made (default: <node container cgroup>/kubepods)")
	fs.StringToStringVar(&r.KubeReserved, "kube-reserved", r.KubeReserved, "resources reserved for Kubernetes components, e.g. cpu=100m,memory=100Mi")
	fs.StringToStringVar(&r.SystemReserved, "system-reserved", r.SystemReserved, "resources reserved for the system, e.g. cpu=100m,memory=100Mi")
	fs.StringVar(&r.Address, "address", r.Address, "the address the kubelet API listens on")
	fs.IntVar(&r.Port, "port", r.Port, "the kubelet API's port (0: no API)")
	fs.StringVar(&r.TLSCertFile, "tls-cert-file", r.TLSCertFile, "the kubelet API's serving certificate (default: self-signed under --root-dir/pki)")
	fs.StringVar(&r.TLSPrivateKeyFile, "tls-private-key-file", r.TLSPrivateKeyFile, "the key of --tls-cert-file")
	fs.StringVar(&r.ClientCAFile, "client-ca-file", r.ClientCAFile, "CA that signs the client certificates the kubelet API accepts (the API server's)")
	fs.DurationVar(&r.ImagePullTimeout, "image-pull-timeout", r.ImagePullTimeout, "how long one image pull may take before the container waits with ErrImagePull")
	fs.IntVar(&r.CNIMTU, "cni-mtu", r.CNIMTU, "MTU of pod interfaces (0: the bridge plugin's default)")
	fs.BoolVar(&r.CNINoMasquerade, "cni-no-masquerade", r.CNINoMasquerade, "do not masquerade pod traffic leaving the pod network")
}

// KubeletConfig converts the flags into the kubelet's config.
func (o *Options) KubeletConfig() (kubelet.Config, error) {
	r := o.Real
	cfg := kubelet.Config{
		NodeName: r.HostnameOverride, NodeIP: r.NodeIP, NodeLabels: o.NodeLabels,
		RuntimeEndpoint: r.ContainerRuntimeEndpoint, RootDir: r.RootDir, PodLogsDir: r.PodLogsDir,
		CNIConfDir: r.CNIConfDir, CNI: cni.Options{MTU: r.CNIMTU, IPMasq: !r.CNINoMasquerade},
		CgroupRoot: r.CgroupRoot, ClusterDNS: r.ClusterDNS, ClusterDomain: r.ClusterDomain, ResolvConf: r.ResolvConf,
		MaxPods: r.MaxPods, PodManifestPath: r.PodManifestPath,
		LeaseDurationSeconds: o.NodeLeaseDurationSeconds, StatusReportInterval: o.NodeStatusUpdateFrequency,
		ImagePullTimeout: r.ImagePullTimeout,
	}
	for _, s := range o.RegisterWithTaints {
		t, err := parseTaint(s)
		if err != nil {
			return cfg, fmt.Errorf("--register-with-taints: %w", err)
		}
		cfg.RegisterWithTaints = append(cfg.RegisterWithTaints, t)
	}
	reserved := corev1.ResourceList{}
	for flag, m := range map[string]map[string]string{"--kube-reserved": r.KubeReserved, "--system-reserved": r.SystemReserved} {
		for k, v := range m {
			q, err := resource.ParseQuantity(v)
			if err != nil {
				return cfg, fmt.Errorf("%s %s=%s: %w", flag, k, v, err)
			}
			sum := reserved[corev1.ResourceName(k)]
			sum.Add(q)
			reserved[corev1.ResourceName(k)] = sum
		}
	}
	cfg.Reserved = reserved
	if r.Port > 0 {
		cfg.Server = &kubelet.ServerConfig{Address: r.Address, Port: r.Port,
			TLSCertFile: r.TLSCertFile, TLSKeyFile: r.TLSPrivateKeyFile, ClientCAFile: r.ClientCAFile}
	}
	return cfg, nil
}

// HollowOptions converts the flags into hollow node options.
func (o *Options) HollowOptions() (hollow.Options, error) {
	h := hollow.Options{
		Count: o.HollowNodes, NamePrefix: o.HollowNodePrefix, Labels: o.NodeLabels,
		LeaseDurationSeconds: o.NodeLeaseDurationSeconds,
		StatusUpdateInterval: o.NodeStatusUpdateFrequency,
		QPS:                  o.KubeAPIQPS, Burst: o.KubeAPIBurst,
	}
	if o.NodeLeaseDurationSeconds > 0 {
		h.RenewInterval = time.Duration(o.NodeLeaseDurationSeconds) * time.Second / 4
	}
	if len(o.Capacity) > 0 {
		h.Capacity = corev1.ResourceList{}
		for k, v := range o.Capacity {
			q, err := resource.ParseQuantity(v)
			if err != nil {
				return h, fmt.Errorf("--hollow-node-capacity %s=%s: %w", k, v, err)
			}
			h.Capacity[corev1.ResourceName(k)] = q
		}
	}
	for _, s := range o.RegisterWithTaints {
		t, err := parseTaint(s)
		if err != nil {
			return h, fmt.Errorf("--register-with-taints: %w", err)
		}
		h.Taints = append(h.Taints, t)
	}
	return h, nil
}

// parseTaint reads key[=value]:Effect.
func parseTaint(s string) (corev1.Taint, error) {
	kv, effect, ok := strings.Cut(s, ":")
	if !ok {
		return corev1.Taint{}, fmt.Errorf("taint %q: want key[=value]:Effect", s)
	}
	t := corev1.Taint{Effect: corev1.TaintEffect(effect)}
	t.Key, t.Value, _ = strings.Cut(kv, "=")
	switch t.Effect {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
	default:
		return corev1.Taint{}, fmt.Errorf("taint %q: unknown effect %q", s, effect)
	}
	if t.Key == "" {
		return corev1.Taint{}, fmt.Errorf("taint %q: empty key", s)
	}
	return t, nil
}
