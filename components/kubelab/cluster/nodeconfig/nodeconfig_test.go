package nodeconfig

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	apiserverapp "github.com/kubelab/kubelab/components/apiserver/app"
	cmapp "github.com/kubelab/kubelab/components/controllermanager/app"
	"github.com/kubelab/kubelab/components/internal/pki"
	"github.com/kubelab/kubelab/components/kubelab/cluster/certs"
	proxyapp "github.com/kubelab/kubelab/components/proxy/app"
	schedulerapp "github.com/kubelab/kubelab/components/scheduler/app"
)

func testCluster() Cluster {
	return Cluster{
		Name:          "lab",
		ControlPlane:  Node{Name: "lab-control-plane", IP: "172.18.0.2", Role: v1alpha4.ControlPlaneRole},
		PodSubnet:     "10.244.0.0/16",
		ServiceSubnet: "10.96.0.0/16",
		Images: Images{
			Etcd: "kubelab/etcd:1", APIServer: "kubelab/kube-apiserver:1",
			Scheduler: "kubelab/kube-scheduler:1", ControllerManager: "kubelab/kube-controller-manager:1",
		},
		TaintControlPlane: true,
	}
}

func TestStaticPods(t *testing.T) {
	files, err := StaticPods(testCluster())
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Fatalf("%d manifests, want 4", len(files))
	}
	tests := []struct {
		name, image string
		args        []string // some of the arguments
		mounts      []string
	}{
		{Etcd, "kubelab/etcd:1", []string{"--data-dir=/var/lib/etcd", "--advertise-client-urls=https://172.18.0.2:2379",
			"--initial-cluster=lab-control-plane=https://172.18.0.2:2380", "--client-cert-auth=true"}, []string{"/var/lib/etcd", "/etc/kubernetes/pki/etcd"}},
		{APIServer, "kubelab/kube-apiserver:1", []string{"--advertise-address=172.18.0.2", "--secure-port=6443",
			"--etcd-servers=https://127.0.0.1:2379", "--service-cluster-ip-range=10.96.0.0/16", "--client-ca-file=/etc/kubernetes/pki/ca.crt",
			"--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt", "--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key",
			"--kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt"}, []string{"/etc/kubernetes/pki"}},
		{Scheduler, "kubelab/kube-scheduler:1", []string{"--kubeconfig=/etc/kubernetes/scheduler.conf"}, []string{"/etc/kubernetes/scheduler.conf"}},
		{ControllerManager, "kubelab/kube-controller-manager:1", []string{"--kubeconfig=/etc/kubernetes/controller-manager.conf", "--cluster-cidr=10.244.0.0/16"},
			[]string{"/etc/kubernetes/controller-manager.conf", "/etc/kubernetes/pki"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, ok := files[ManifestDir+"/"+tt.name+".yaml"]
			if !ok {
				t.Fatalf("no manifest for %s", tt.name)
			}
			var pod corev1.Pod
			if err := yaml.UnmarshalStrict(data, &pod); err != nil {
				t.Fatalf("manifest does not decode as a Pod: %v\n%s", err, data)
			}
			if pod.Kind != "Pod" || pod.APIVersion != "v1" || pod.Name != tt.name || pod.Namespace != "kube-system" {
				t.Errorf("meta = %v %v %s/%s", pod.APIVersion, pod.Kind, pod.Namespace, pod.Name)
			}
			if !pod.Spec.HostNetwork || pod.Spec.PriorityClassName != "system-node-critical" || pod.Labels["tier"] != "control-plane" {
				t.Errorf("spec: hostNetwork=%v priority=%q labels=%v", pod.Spec.HostNetwork, pod.Spec.PriorityClassName, pod.Labels)
			}
			c := pod.Spec.Containers[0]
			if c.Image != tt.image || c.ImagePullPolicy != corev1.PullIfNotPresent || len(c.Command) != 0 {
				t.Errorf("container image=%s pull=%s command=%v (the image's entrypoint must run)", c.Image, c.ImagePullPolicy, c.Command)
			}
			for _, a := range tt.args {
				if !slices.Contains(c.Args, a) {
					t.Errorf("args %v lack %s", c.Args, a)
				}
			}
			var mounts []string
			for _, m := range c.VolumeMounts {
				mounts = append(mounts, m.MountPath)
			}
			if !slices.Equal(mounts, tt.mounts) {
				t.Errorf("mounts = %v, want %v", mounts, tt.mounts)
			}
			for _, v := range pod.Spec.Volumes {
				if v.HostPath == nil {
					t.Errorf("volume %s is not a hostPath", v.Name)
				}
			}
		})
	}
}

// TestComponentArgsParse parses the generated arguments with each
// component's own flags: a flag the binary lacks would crash-loop its pod.
func TestComponentArgsParse(t *testing.T) {
	c := testCluster()
	ctx := context.Background()
	tests := []struct {
		name string
		cmd  interface{ ParseFlags([]string) error }
		args []string
	}{
		{APIServer, apiserverapp.NewCommand(ctx), APIServerArgs(c)},
		{Scheduler, schedulerapp.NewCommand(ctx), SchedulerArgs(c)},
		{ControllerManager, cmapp.NewCommand(ctx), ControllerManagerArgs(c)},
		{Proxy, proxyapp.NewCommand(ctx), ProxyDaemonSet(c).Spec.Template.Spec.Containers[0].Args},
	}
	for _, tt := range tests {
		if err := tt.cmd.ParseFlags(tt.args); err != nil {
			t.Errorf("%s rejects its static pod's arguments: %v", tt.name, err)
		}
	}
}

func TestKubeletConfig(t *testing.T) {
	c := testCluster()
	for _, tt := range []struct {
		node    Node
		tainted bool
	}{
		{c.ControlPlane, true},
		{Node{Name: "lab-worker", IP: "172.18.0.3", Role: v1alpha4.WorkerRole}, false},
	} {
		data, err := KubeletConfig(c, tt.node)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := yaml.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
			"staticPodPath": "/etc/kubernetes/manifests", "cgroupDriver": "cgroupfs",
			"containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock",
			"clusterDomain":            "cluster.local", "providerID": "kind://docker/lab/" + tt.node.Name,
			"tlsCertFile": "/var/lib/kubelet/pki/kubelet.crt", "failSwapOn": false,
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v", tt.node.Name, k, got[k], v)
			}
		}
		if dns := got["clusterDNS"].([]any); len(dns) != 1 || dns[0] != "10.96.0.10" {
			t.Errorf("clusterDNS = %v", dns)
		}
		_, tainted := got["registerWithTaints"]
		if tainted != tt.tainted {
			t.Errorf("%s: registerWithTaints present = %v, want %v", tt.node.Name, tainted, tt.tainted)
		}
	}
}

func TestNodeAndControlPlaneFiles(t *testing.T) {
	c := testCluster()
	p, err := certs.New("lab")
	if err != nil {
		t.Fatal(err)
	}
	worker := Node{Name: "lab-worker", IP: "172.18.0.3", Role: v1alpha4.WorkerRole}
	nf, err := NodeFiles(c, p, worker)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/kubelet.conf", "/var/lib/kubelet/pki/kubelet.crt", "/var/lib/kubelet/pki/kubelet.key"} {
		if len(nf[path]) == 0 {
			t.Errorf("node files lack %s", path)
		}
	}
	if _, ok := nf[KubeletConfigPath]; ok {
		t.Errorf("node files hold %s, which must come last", KubeletConfigPath)
	}
	checkKubeconfig(t, nf["/etc/kubernetes/kubelet.conf"], "https://lab-control-plane:6443", "system:node:lab-worker", p.CA)

	cf, err := ControlPlaneFiles(c, p)
	if err != nil {
		t.Fatal(err)
	}
	checkKubeconfig(t, cf["/etc/kubernetes/admin.conf"], "https://lab-control-plane:6443", "kubernetes-admin", p.CA)
	checkKubeconfig(t, cf["/etc/kubernetes/scheduler.conf"], "https://172.18.0.2:6443", "system:kube-scheduler", p.CA)
	checkKubeconfig(t, cf["/etc/kubernetes/controller-manager.conf"], "https://172.18.0.2:6443", "system:kube-controller-manager", p.CA)
	for _, name := range ControlPlaneComponents {
		if len(cf[ManifestDir+"/"+name+".yaml"]) == 0 {
			t.Errorf("control-plane files lack the %s manifest", name)
		}
	}
	if len(cf["/etc/kubernetes/pki/apiserver.crt"]) == 0 {
		t.Error("control-plane files lack the API server certificate")
	}
}

func checkKubeconfig(t *testing.T, data []byte, server, user string, ca *pki.CA) {
	t.Helper()
	cfg, err := clientcmd.Load(data)
	if err != nil {
		t.Fatalf("kubeconfig of %s: %v", user, err)
	}
	kctx := cfg.Contexts[cfg.CurrentContext]
	if cfg.CurrentContext != user+"@kubernetes" || kctx == nil || kctx.AuthInfo != user || kctx.Cluster != "kubernetes" {
		t.Fatalf("kubeconfig of %s: current context %q = %+v", user, cfg.CurrentContext, kctx)
	}
	if got := cfg.Clusters["kubernetes"].Server; got != server {
		t.Errorf("kubeconfig of %s: server %s, want %s", user, got, server)
	}
	cert, err := pki.ParseCert(cfg.AuthInfos[user].ClientCertificateData)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != user || cert.CheckSignatureFrom(ca.Cert) != nil {
		t.Errorf("kubeconfig of %s: client certificate for %s, signed by the CA: %v", user, cert.Subject.CommonName, cert.CheckSignatureFrom(ca.Cert))
	}
	if !strings.Contains(string(cfg.Clusters["kubernetes"].CertificateAuthorityData), "CERTIFICATE") {
		t.Errorf("kubeconfig of %s has no CA data", user)
	}
}
