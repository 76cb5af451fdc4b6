// Package app is the kubelet command: its options and flags. Today it runs
// hollow (simulated) nodes with --hollow-nodes; the kubelet on containerd
// joins it later.
package app

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubelab/kubelab/components/kubelet/hollow"
)

// Options are the kubelet's flags.
type Options struct {
	// Kubeconfig is the path of the kubeconfig to reach the API server.
	Kubeconfig string
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
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		HollowNodePrefix:          "hollow-node-",
		NodeLeaseDurationSeconds:  40,
		NodeStatusUpdateFrequency: time.Minute,
	}
}

// AddFlags registers the flags on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "path to a kubeconfig file for the API server")
	fs.IntVar(&o.HollowNodes, "hollow-nodes", o.HollowNodes, "run this many hollow (simulated) nodes: they register, heartbeat and run their pods without containers")
	fs.StringVar(&o.HollowNodePrefix, "hollow-node-prefix", o.HollowNodePrefix, "prefix of the hollow node names (followed by an index)")
	fs.StringToStringVar(&o.Capacity, "hollow-node-capacity", o.Capacity, "capacity of each hollow node, e.g. cpu=8,memory=32Gi,pods=110 (default cpu=4,memory=16Gi,pods=110)")
	fs.StringToStringVar(&o.NodeLabels, "node-labels", o.NodeLabels, "labels to add to each node, e.g. topology.kubernetes.io/zone=a")
	fs.StringSliceVar(&o.RegisterWithTaints, "register-with-taints", o.RegisterWithTaints, "taints each node registers with, as key=value:Effect")
	fs.Int32Var(&o.NodeLeaseDurationSeconds, "node-lease-duration-seconds", o.NodeLeaseDurationSeconds, "duration of each node's Lease, renewed every quarter of it")
	fs.DurationVar(&o.NodeStatusUpdateFrequency, "node-status-update-frequency", o.NodeStatusUpdateFrequency, "how often each node posts its NodeStatus")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "client QPS limit (0: sized to the number of nodes)")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "client burst limit (0: twice the QPS)")
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
