package nodeconfig

import (
	"fmt"
	"net/netip"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	"github.com/kubelab/kubelab/components/kubelab/cluster/certs"
)

// Kubelet paths on every node.
const (
	// KubeletConfigPath is the KubeletConfiguration the node's supervisor
	// waits for before it starts the kubelet.
	KubeletConfigPath = "/var/lib/kubelet/config.yaml"
	// KubeletPKIDir holds the kubelet's serving certificate.
	KubeletPKIDir = "/var/lib/kubelet/pki"
	// ContainerRuntimeEndpoint is the node's containerd.
	ContainerRuntimeEndpoint = "unix:///run/containerd/containerd.sock"
	// ControlPlaneTaint is the key of kubeadm's control-plane taint and
	// role label.
	ControlPlaneTaint = "node-role.kubernetes.io/control-plane"
)

// KubeletConfiguration is the subset of upstream's
// kubelet.config.k8s.io/v1beta1 KubeletConfiguration that kubelab sets,
// with upstream's field names, so either kubelet reads it.
type KubeletConfiguration struct {
	APIVersion                  string            `json:"apiVersion"`
	Kind                        string            `json:"kind"`
	StaticPodPath               string            `json:"staticPodPath"`
	Address                     string            `json:"address"`
	Port                        int32             `json:"port"`
	ReadOnlyPort                int32             `json:"readOnlyPort"`
	TLSCertFile                 string            `json:"tlsCertFile"`
	TLSPrivateKeyFile           string            `json:"tlsPrivateKeyFile"`
	Authentication              Authentication    `json:"authentication"`
	Authorization               Authorization     `json:"authorization"`
	HealthzBindAddress          string            `json:"healthzBindAddress"`
	HealthzPort                 int32             `json:"healthzPort"`
	ClusterDomain               string            `json:"clusterDomain"`
	ClusterDNS                  []string          `json:"clusterDNS"`
	CgroupDriver                string            `json:"cgroupDriver"`
	ContainerRuntimeEndpoint    string            `json:"containerRuntimeEndpoint"`
	FailSwapOn                  bool              `json:"failSwapOn"`
	ProviderID                  string            `json:"providerID"`
	RegisterWithTaints          []Taint           `json:"registerWithTaints,omitempty"`
	EvictionHard                map[string]string `json:"evictionHard"`
	ImageGCHighThresholdPercent int32             `json:"imageGCHighThresholdPercent"`
	ResolvConf                  string            `json:"resolvConf"`
}

// Authentication is the kubelet API's client authentication.
type Authentication struct {
	X509      X509Authentication `json:"x509"`
	Webhook   Enabled            `json:"webhook"`
	Anonymous Enabled            `json:"anonymous"`
}

// X509Authentication names the CA that signs the kubelet API's clients.
type X509Authentication struct {
	ClientCAFile string `json:"clientCAFile"`
}

// Enabled is an on/off setting.
type Enabled struct {
	Enabled bool `json:"enabled"`
}

// Authorization is the kubelet API's authorization mode.
type Authorization struct {
	Mode string `json:"mode"`
}

// Taint is a v1.Taint without timeAdded.
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// KubeletConfig renders node n's KubeletConfiguration: static pods from
// ManifestDir, containerd's CRI socket, the cgroupfs driver (the supervisor
// is PID 1, not systemd), kind's provider ID and eviction thresholds (disk
// pressure never evicts lab pods), the cluster DNS at the service subnet's
// tenth address, and its API served with the kubelet's pair to clients of
// the cluster CA.
func KubeletConfig(c Cluster, n Node) ([]byte, error) {
	dns, err := tenthIP(c.ServiceSubnet)
	if err != nil {
		return nil, err
	}
	kc := KubeletConfiguration{
		APIVersion:        "kubelet.config.k8s.io/v1beta1",
		Kind:              "KubeletConfiguration",
		StaticPodPath:     ManifestDir,
		Address:           "0.0.0.0",
		Port:              10250,
		TLSCertFile:       KubeletPKIDir + "/kubelet.crt",
		TLSPrivateKeyFile: KubeletPKIDir + "/kubelet.key",
		Authentication: Authentication{
			X509: X509Authentication{ClientCAFile: certs.Dir + "/ca.crt"},
		},
		Authorization:            Authorization{Mode: "AlwaysAllow"},
		HealthzBindAddress:       "127.0.0.1",
		HealthzPort:              10248,
		ClusterDomain:            "cluster.local",
		ClusterDNS:               []string{dns},
		CgroupDriver:             "cgroupfs",
		ContainerRuntimeEndpoint: ContainerRuntimeEndpoint,
		ProviderID:               fmt.Sprintf("kind://docker/%s/%s", c.Name, n.Name),
		EvictionHard: map[string]string{
			"nodefs.available": "0%", "nodefs.inodesFree": "0%", "imagefs.available": "0%",
		},
		ImageGCHighThresholdPercent: 100,
		ResolvConf:                  "/etc/resolv.conf",
	}
	if n.Role == v1alpha4.ControlPlaneRole && c.TaintControlPlane {
		kc.RegisterWithTaints = []Taint{{Key: ControlPlaneTaint, Effect: "NoSchedule"}}
	}
	data, err := yaml.Marshal(kc)
	if err != nil {
		return nil, fmt.Errorf("encode kubelet config of %s: %w", n.Name, err)
	}
	return data, nil
}

// tenthIP returns the tenth address of cidr (10.96.0.10 for 10.96.0.0/16),
// where upstream clusters put their DNS Service.
func tenthIP(cidr string) (string, error) {
	first, err := certs.FirstIP(cidr)
	if err != nil {
		return "", err
	}
	a := netip.MustParseAddr(first)
	for range 9 {
		a = a.Next()
	}
	return a.String(), nil
}
