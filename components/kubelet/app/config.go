package app

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// configFile is the part of upstream's KubeletConfiguration
// (kubelet.config.k8s.io/v1beta1) kubelab's kubelet reads from --config.
// Fields it does not know are ignored.
type configFile struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`

	StaticPodPath             string            `json:"staticPodPath"`
	Address                   string            `json:"address"`
	Port                      *int              `json:"port"`
	TLSCertFile               string            `json:"tlsCertFile"`
	TLSPrivateKeyFile         string            `json:"tlsPrivateKeyFile"`
	ClusterDomain             string            `json:"clusterDomain"`
	ClusterDNS                []string          `json:"clusterDNS"`
	ResolvConf                *string           `json:"resolvConf"`
	MaxPods                   int64             `json:"maxPods"`
	CgroupRoot                string            `json:"cgroupRoot"`
	CgroupDriver              string            `json:"cgroupDriver"`
	KubeReserved              map[string]string `json:"kubeReserved"`
	SystemReserved            map[string]string `json:"systemReserved"`
	NodeLeaseDurationSeconds  int32             `json:"nodeLeaseDurationSeconds"`
	NodeStatusReportFrequency metav1.Duration   `json:"nodeStatusReportFrequency"`
	ContainerRuntimeEndpoint  string            `json:"containerRuntimeEndpoint"`
	PodLogsDir                string            `json:"podLogsDir"`
	RegisterWithTaints        []struct {
		Key    string `json:"key"`
		Value  string `json:"value"`
		Effect string `json:"effect"`
	} `json:"registerWithTaints"`
	Authentication struct {
		X509 struct {
			ClientCAFile string `json:"clientCAFile"`
		} `json:"x509"`
	} `json:"authentication"`
}

// loadConfig applies the KubeletConfiguration file at path to o; flags
// given on the command line (changed in fs) win, as upstream.
func (o *Options) loadConfig(path string, fs *pflag.FlagSet) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read --config: %w", err)
	}
	var c configFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("parse --config %s: %w", path, err)
	}
	if c.Kind != "" && c.Kind != "KubeletConfiguration" {
		return fmt.Errorf("--config %s: kind %q, want KubeletConfiguration", path, c.Kind)
	}
	if c.CgroupDriver != "" && c.CgroupDriver != "cgroupfs" {
		return fmt.Errorf("--config %s: cgroupDriver %q: kubelab's kubelet uses cgroupfs", path, c.CgroupDriver)
	}
	changed := func(name string) bool { return fs != nil && fs.Changed(name) }
	r := &o.Real
	setS := func(flag string, dst *string, v string) {
		if v != "" && !changed(flag) {
			*dst = v
		}
	}
	setS("pod-manifest-path", &r.PodManifestPath, c.StaticPodPath)
	setS("address", &r.Address, c.Address)
	setS("tls-cert-file", &r.TLSCertFile, c.TLSCertFile)
	setS("tls-private-key-file", &r.TLSPrivateKeyFile, c.TLSPrivateKeyFile)
	setS("cluster-domain", &r.ClusterDomain, c.ClusterDomain)
	setS("cgroup-root", &r.CgroupRoot, c.CgroupRoot)
	setS("container-runtime-endpoint", &r.ContainerRuntimeEndpoint, c.ContainerRuntimeEndpoint)
	setS("pod-logs-dir", &r.PodLogsDir, c.PodLogsDir)
	setS("client-ca-file", &r.ClientCAFile, c.Authentication.X509.ClientCAFile)
	if c.ResolvConf != nil && !changed("resolv-conf") {
		r.ResolvConf = *c.ResolvConf
	}
	if c.Port != nil && !changed("port") {
		r.Port = *c.Port
	}
	if len(c.ClusterDNS) > 0 && !changed("cluster-dns") {
		r.ClusterDNS = c.ClusterDNS
	}
	if c.MaxPods > 0 && !changed("max-pods") {
		r.MaxPods = c.MaxPods
	}
	if len(c.KubeReserved) > 0 && !changed("kube-reserved") {
		r.KubeReserved = c.KubeReserved
	}
	if len(c.SystemReserved) > 0 && !changed("system-reserved") {
		r.SystemReserved = c.SystemReserved
	}
	if c.NodeLeaseDurationSeconds > 0 && !changed("node-lease-duration-seconds") {
		o.NodeLeaseDurationSeconds = c.NodeLeaseDurationSeconds
	}
	if c.NodeStatusReportFrequency.Duration > 0 && !changed("node-status-update-frequency") {
		o.NodeStatusUpdateFrequency = c.NodeStatusReportFrequency.Duration
	}
	if len(c.RegisterWithTaints) > 0 && !changed("register-with-taints") {
		o.RegisterWithTaints = nil
		for _, t := range c.RegisterWithTaints {
			s := t.Key
			if t.Value != "" {
				s += "=" + t.Value
			}
			o.RegisterWithTaints = append(o.RegisterWithTaints, s+":"+t.Effect)
		}
	}
	return nil
}
