package nodeconfig

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/kubelab/kubelab/components/internal/pki"
	"github.com/kubelab/kubelab/components/kubelab/cluster/certs"
)

func TestProxyDaemonSet(t *testing.T) {
	c := testCluster()
	c.Images.Proxy = "kubelab/kube-proxy:1"
	ds := ProxyDaemonSet(c)
	// It must survive the trip through YAML/JSON as the API server gets it.
	data, err := yaml.Marshal(ds)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, ds); err != nil {
		t.Fatal(err)
	}
	if ds.Namespace != "kube-system" || ds.Name != "kube-proxy" || ds.Kind != "DaemonSet" {
		t.Errorf("meta %s %s/%s", ds.Kind, ds.Namespace, ds.Name)
	}
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork || len(spec.Tolerations) != 1 || spec.Tolerations[0].Operator != corev1.TolerationOpExists || spec.Tolerations[0].Key != "" {
		t.Errorf("hostNetwork=%v tolerations=%v: kube-proxy must run on every node, tainted or not", spec.HostNetwork, spec.Tolerations)
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(ds.Spec.Template.Labels)) {
		t.Errorf("selector %v does not match template labels %v", ds.Spec.Selector, ds.Spec.Template.Labels)
	}
	ctr := spec.Containers[0]
	if ctr.Image != "kubelab/kube-proxy:1" || len(ctr.Command) != 0 {
		t.Errorf("image %s command %v", ctr.Image, ctr.Command)
	}
	for _, a := range []string{"--cluster-cidr=10.244.0.0/16", "--hostname-override=$(NODE_NAME)", "--sync-pod-routes", "--kubeconfig=/var/lib/kube-proxy/kubeconfig.conf"} {
		if !slices.Contains(ctr.Args, a) {
			t.Errorf("args %v lack %s", ctr.Args, a)
		}
	}
	if ctr.Env[0].Name != "NODE_NAME" || ctr.Env[0].ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("env %v", ctr.Env)
	}
	caps := ctr.SecurityContext.Capabilities.Add
	if !slices.Contains(caps, "NET_ADMIN") || ctr.SecurityContext.Privileged != nil {
		t.Errorf("capabilities %v privileged %v: NET_ADMIN and nothing privileged", caps, ctr.SecurityContext.Privileged)
	}
	if hp := spec.Volumes[0].HostPath; hp == nil || hp.Path != ProxyKubeconfigPath {
		t.Errorf("volume %v must mount %s", spec.Volumes[0], ProxyKubeconfigPath)
	}
	if p := ctr.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Port.IntValue() != ProxyHealthzPort || p.HTTPGet.Path != "/healthz" {
		t.Errorf("readiness probe %v", ctr.ReadinessProbe)
	}
}

func TestNodeFilesProxyKubeconfig(t *testing.T) {
	p, err := certs.New("lab")
	if err != nil {
		t.Fatal(err)
	}
	c := testCluster()
	files, err := NodeFiles(c, p, Node{Name: "lab-worker", IP: "172.18.0.3", Role: "worker"})
	if err != nil {
		t.Fatal(err)
	}
	kc, err := clientcmd.Load(files[ProxyKubeconfigPath])
	if err != nil {
		t.Fatalf("%s: %v", ProxyKubeconfigPath, err)
	}
	ctx := kc.Contexts[kc.CurrentContext]
	if ctx == nil || ctx.AuthInfo != certs.ProxyUser || kc.Clusters[ctx.Cluster].Server != c.InternalServer() {
		t.Fatalf("kube-proxy kubeconfig context %+v", ctx)
	}
	cert, err := pki.ParseCert(kc.AuthInfos[ctx.AuthInfo].ClientCertificateData)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != certs.ProxyUser {
		t.Errorf("client certificate CN %q, want %s", cert.Subject.CommonName, certs.ProxyUser)
	}
}
