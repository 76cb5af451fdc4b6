// Package app is the kube-proxy command: options and upstream-named flags
// over the proxy library, the healthz and metrics servers, and the list of
// parts the process runs.
package app

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/components/proxy"
)

// Options are the kube-proxy flags.
type Options struct {
	// Kubeconfig and Master locate the API server; with neither, the
	// in-cluster configuration is used.
	Kubeconfig, Master string
	// KubeAPIQPS, KubeAPIBurst and KubeAPIContentType tune the client.
	KubeAPIQPS         float32
	KubeAPIBurst       int
	KubeAPIContentType string
	// HostnameOverride names the node (default $NODE_NAME, else the
	// hostname).
	HostnameOverride string
	// ClusterCIDR is the comma-separated pod network.
	ClusterCIDR string
	// MasqueradeAll, MasqueradePodEgress and PodBridge shape masquerading
	// (see proxy.Options).
	MasqueradeAll       bool
	MasqueradePodEgress bool
	PodBridge           string
	// SyncPeriod and MinSyncPeriod pace the rule syncs.
	SyncPeriod, MinSyncPeriod time.Duration
	// HealthzBindAddress and MetricsBindAddress are host:port ("" turns
	// a server off).
	HealthzBindAddress, MetricsBindAddress string
	// Cleanup removes our rules and exits.
	Cleanup bool
	// SyncPodRoutes keeps a route to every other node's podCIDR through
	// its InternalIP (package podroutes), the job kindnetd does in kind:
	// pods reach pods on other nodes of one flat network.
	SyncPodRoutes bool
	// NetworkNamespace programs another network namespace (a path such
	// as /run/netns/NAME); for tests and debugging.
	NetworkNamespace string

	clusterCIDRs []netip.Prefix
}

// NewOptions returns upstream's defaults.
func NewOptions() *Options {
	return &Options{
		KubeAPIQPS:         5,
		KubeAPIBurst:       10,
		KubeAPIContentType: "application/vnd.kubernetes.protobuf",
		PodBridge:          proxy.DefaultPodBridge,
		SyncPeriod:         proxy.DefaultSyncPeriod,
		MinSyncPeriod:      proxy.DefaultMinSyncPeriod,
		HealthzBindAddress: "0.0.0.0:10256",
		MetricsBindAddress: "127.0.0.1:10249",
	}
}

// AddFlags registers the options as upstream-named flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Path to a kubeconfig file with the API server's location and credentials (default: in-cluster configuration).")
	fs.StringVar(&o.Master, "master", o.Master, "The address of the Kubernetes API server (overrides any value in kubeconfig).")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "QPS to use while talking with the API server.")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "Burst to use while talking with the API server.")
	fs.StringVar(&o.KubeAPIContentType, "kube-api-content-type", o.KubeAPIContentType, "Content type of requests sent to the API server.")
	fs.StringVar(&o.HostnameOverride, "hostname-override", o.HostnameOverride, "The name of this node (default: $NODE_NAME, else the hostname).")
	fs.StringVar(&o.ClusterCIDR, "cluster-cidr", o.ClusterCIDR, "Comma-separated CIDR ranges of the pods in the cluster; traffic to a service from outside them is masqueraded.")
	fs.BoolVar(&o.MasqueradeAll, "masquerade-all", o.MasqueradeAll, "SNAT all traffic sent through service addresses.")
	fs.BoolVar(&o.MasqueradePodEgress, "masquerade-pod-egress", o.MasqueradePodEgress, "Masquerade traffic from --cluster-cidr to destinations outside it that does not leave through --pod-bridge (so the CNI bridge's ipMasq can be off).")
	fs.StringVar(&o.PodBridge, "pod-bridge", o.PodBridge, "The node's pod bridge, for --masquerade-pod-egress.")
	fs.DurationVar(&o.SyncPeriod, "sync-period", o.SyncPeriod, "How often the rules are rewritten in full, whatever changed.")
	fs.DurationVar(&o.MinSyncPeriod, "min-sync-period", o.MinSyncPeriod, "The shortest time between syncs: changes within it are applied together.")
	fs.StringVar(&o.HealthzBindAddress, "healthz-bind-address", o.HealthzBindAddress, "host:port of the health check server (/healthz, /livez); empty turns it off.")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", o.MetricsBindAddress, "host:port of the metrics server (/metrics); empty turns it off.")
	fs.BoolVar(&o.Cleanup, "cleanup", o.Cleanup, "Remove kube-proxy's rules and exit.")
	fs.BoolVar(&o.SyncPodRoutes, "sync-pod-routes", o.SyncPodRoutes, "Keep a route to every other node's podCIDR via its InternalIP (nodes on one L2 network, as kind's).")
	fs.StringVar(&o.NetworkNamespace, "network-namespace", o.NetworkNamespace, "Program the network namespace at this path instead of our own (testing).")
	_ = fs.MarkHidden("network-namespace")
}

// Validate checks the options.
func (o *Options) Validate() error {
	o.clusterCIDRs = nil
	if strings.TrimSpace(o.ClusterCIDR) != "" {
		for _, s := range strings.Split(o.ClusterCIDR, ",") {
			p, err := netip.ParsePrefix(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("--cluster-cidr %q: %w", o.ClusterCIDR, err)
			}
			o.clusterCIDRs = append(o.clusterCIDRs, p.Masked())
		}
	}
	if o.SyncPeriod <= 0 {
		return fmt.Errorf("--sync-period %v must be positive", o.SyncPeriod)
	}
	if o.MinSyncPeriod < 0 || o.MinSyncPeriod > o.SyncPeriod {
		return fmt.Errorf("--min-sync-period %v must be within 0..--sync-period (%v)", o.MinSyncPeriod, o.SyncPeriod)
	}
	for flag, addr := range map[string]string{"healthz-bind-address": o.HealthzBindAddress, "metrics-bind-address": o.MetricsBindAddress} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("--%s %q: want host:port: %w", flag, addr, err)
		}
	}
	if o.PodBridge == "" || len(o.PodBridge) > 15 {
		return fmt.Errorf("--pod-bridge %q is not an interface name", o.PodBridge)
	}
	if o.KubeAPIQPS < 0 || o.KubeAPIBurst < 0 {
		return fmt.Errorf("--kube-api-qps and --kube-api-burst must not be negative")
	}
	return nil
}

// NodeName is --hostname-override, else $NODE_NAME, else the hostname,
// lowercased as upstream does.
func (o *Options) NodeName() (string, error) {
	name := o.HostnameOverride
	if name == "" {
		name = os.Getenv("NODE_NAME")
	}
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("node name: %w", err)
		}
		name = h
	}
	return strings.ToLower(strings.TrimSpace(name)), nil
}

// RESTConfig builds the client configuration.
func (o *Options) RESTConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags(o.Master, o.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load client configuration: %w", err)
	}
	cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	cfg.ContentType = o.KubeAPIContentType
	cfg.AcceptContentTypes = o.KubeAPIContentType + ",application/json"
	cfg.UserAgent = rest.DefaultKubernetesUserAgent() + "/kube-proxy"
	return cfg, nil
}

// ProxyOptions converts the flags (after Validate) to library options.
func (o *Options) ProxyOptions(nodeName string, reg prometheus.Registerer) proxy.Options {
	return proxy.Options{
		NodeName:            nodeName,
		ClusterCIDRs:        o.clusterCIDRs,
		MasqueradeAll:       o.MasqueradeAll,
		MasqueradePodEgress: o.MasqueradePodEgress,
		PodBridge:           o.PodBridge,
		MinSyncPeriod:       o.MinSyncPeriod,
		SyncPeriod:          o.SyncPeriod,
		NetNS:               o.NetworkNamespace,
		Metrics:             reg,
	}
}
