package app

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"

	corev1 "k8s.io/api/core/v1"
)

func TestParseTaint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want corev1.Taint
		ok   bool
	}{
		{"dedicated=gpu:NoSchedule", corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}, true},
		{"node.kubernetes.io/not-ready:NoExecute", corev1.Taint{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoExecute}, true},
		{"a=b", corev1.Taint{}, false},
		{"a=b:Sometimes", corev1.Taint{}, false},
		{"=b:NoSchedule", corev1.Taint{}, false},
	} {
		got, err := parseTaint(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseTaint(%q) = %+v, %v; want %+v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestHollowOptions(t *testing.T) {
	o := NewOptions()
	o.HollowNodes = 3
	o.Capacity = map[string]string{"cpu": "8", "pods": "20"}
	o.RegisterWithTaints = []string{"x=y:NoSchedule"}
	o.NodeLeaseDurationSeconds = 20
	h, err := o.HollowOptions()
	if err != nil {
		t.Fatal(err)
	}
	if h.Count != 3 || h.Capacity.Cpu().Value() != 8 || h.Capacity.Pods().Value() != 20 || len(h.Taints) != 1 ||
		h.RenewInterval != 5*time.Second || h.StatusUpdateInterval != time.Minute {
		t.Fatalf("hollow options = %+v", h)
	}
	o.Capacity = map[string]string{"cpu": "lots"}
	if _, err := o.HollowOptions(); err == nil {
		t.Fatal("bad quantity accepted")
	}
}

func TestKubeletConfig(t *testing.T) {
	o := NewOptions()
	o.NodeLabels = map[string]string{"node-role.kubernetes.io/control-plane": ""}
	o.RegisterWithTaints = []string{"node-role.kubernetes.io/control-plane:NoSchedule"}
	o.Real.KubeReserved = map[string]string{"memory": "100Mi"}
	o.Real.SystemReserved = map[string]string{"memory": "50Mi", "cpu": "100m"}
	o.Real.ClusterDNS = []string{"10.96.0.10"}
	cfg, err := o.KubeletConfig()
	if err != nil {
		t.Fatal(err)
	}
	if mem := cfg.Reserved[corev1.ResourceMemory]; mem.String() != "150Mi" || len(cfg.RegisterWithTaints) != 1 ||
		cfg.Server == nil || cfg.Server.Port != 10250 || cfg.RuntimeEndpoint != "unix:///run/containerd/containerd.sock" ||
		!cfg.CNI.IPMasq || cfg.ClusterDNS[0] != "10.96.0.10" {
		t.Fatalf("config = %+v", cfg)
	}
	o.Real.Port = 0
	if cfg, _ := o.KubeletConfig(); cfg.Server != nil {
		t.Error("--port 0 still serves")
	}
	o.Real.KubeReserved = map[string]string{"memory": "lots"}
	if _, err := o.KubeletConfig(); err == nil {
		t.Error("bad --kube-reserved accepted")
	}
}

func TestLoadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: /etc/kubernetes/manifests
clusterDNS: [10.96.0.10]
clusterDomain: lab.local
cgroupDriver: cgroupfs
port: 10251
authentication:
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
tlsCertFile: /var/lib/kubelet/pki/kubelet.crt
tlsPrivateKeyFile: /var/lib/kubelet/pki/kubelet.key
registerWithTaints:
- {key: node-role.kubernetes.io/control-plane, effect: NoSchedule}
nodeStatusReportFrequency: 30s
failSwapOn: false
`), 0o644); err != nil {
		t.Fatal(err)
	}
	o := NewOptions()
	fs := pflag.NewFlagSet("kubelet", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse([]string{"--cluster-domain=cluster.local"}); err != nil {
		t.Fatal(err)
	}
	if err := o.loadConfig(path, fs); err != nil {
		t.Fatal(err)
	}
	r := o.Real
	if r.PodManifestPath != "/etc/kubernetes/manifests" || r.ClusterDNS[0] != "10.96.0.10" || r.ClusterDomain != "cluster.local" ||
		r.Port != 10251 || r.ClientCAFile != "/etc/kubernetes/pki/ca.crt" || r.TLSCertFile == "" ||
		o.RegisterWithTaints[0] != "node-role.kubernetes.io/control-plane:NoSchedule" || o.NodeStatusUpdateFrequency != 30*time.Second {
		t.Fatalf("options = %+v %+v", o, r)
	}
	if err := os.WriteFile(path, []byte("kind: KubeletConfiguration\ncgroupDriver: systemd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := o.loadConfig(path, fs); err == nil {
		t.Error("systemd cgroup driver accepted")
	}
}
