package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/kubelab/kubelab/components/kubelab/cluster/config"
	"github.com/kubelab/kubelab/components/kubelab/cluster/docker"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/nodes"
	"github.com/kubelab/kubelab/components/kubelab/cluster/nodeconfig"
)

// requireDocker skips the test without a Docker daemon and fails it
// without the images a cluster needs, naming what is missing.
func requireDocker(t *testing.T) {
	t.Helper()
	if _, err := docker.GetInfo(t.Context()); err != nil {
		t.Skipf("needs a Docker daemon: %v", err)
	}
	// Images are built, not a machine capability: `make test` builds
	// them before the tests wherever Docker runs, so their absence fails.
	if _, err := resolveImages(t.Context(), ""); err != nil {
		t.Fatalf("kubelab's images are missing (`make images` builds them; `make test` does so first): %v", err)
	}
}

// clusterNodes lists the containers labelled for cluster name, directly
// through Docker.
func clusterNodes(t *testing.T, name string) []string {
	t.Helper()
	out, err := docker.Output(context.WithoutCancel(t.Context()), "ps", "-a", "--filter", "label="+docker.ClusterLabel+"="+name, "--format", "{{.Names}}")
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Fields(out)
	slices.Sort(names)
	return names
}

// TestProvisionAndDelete creates a two-node cluster from the real node
// image up to the point where the kubelets would start (nodes, PKI, files,
// images), checks each piece from outside and inside the nodes, and deletes
// it through kind's provider.
func TestProvisionAndDelete(t *testing.T) {
	requireDocker(t)
	name := fmt.Sprintf("it-%d", time.Now().UnixNano()%1_000_000)
	kubeconfigPath := filepath.Join(t.TempDir(), "kubeconfig")
	var out bytes.Buffer
	p := NewProvider(&out, 0)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("create output:\n%s", out.String())
		}
		_ = p.Delete(context.Background(), name, kubeconfigPath)
	})
	cfg, err := config.Parse([]byte("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n- role: worker\n"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = p.Create(t.Context(), CreateOptions{Name: name, Config: cfg, KubeconfigPath: kubeconfigPath, stopBeforeKubelets: true})
	if err != nil {
		t.Fatalf("create up to the kubelets: %v", err)
	}
	t.Logf("nodes, PKI, files and images in %s:\n%s", time.Since(start).Round(time.Millisecond), out.String())

	cp, worker := name+"-control-plane", name+"-worker"
	if got := clusterNodes(t, name); !slices.Equal(got, []string{cp, worker}) {
		t.Fatalf("containers labelled for %s = %v", name, got)
	}
	// kind's provider sees the cluster.
	clusters, err := p.List(t.Context())
	if err != nil || !slices.Contains(clusters, name) {
		t.Errorf("List = %v, %v; want %s in it", clusters, err, name)
	}
	listed, err := p.ListNodes(t.Context(), name)
	if err != nil || !slices.Equal(listed, []string{cp, worker}) {
		t.Errorf("ListNodes = %v, %v", listed, err)
	}
	// The control plane publishes the API server port on loopback only.
	host, port, err := docker.PublishedPort(t.Context(), cp, docker.APIServerPort)
	if err != nil || host != "127.0.0.1" || port == "" {
		t.Errorf("published API server port = %s:%s, %v", host, port, err)
	}
	if _, _, err := docker.PublishedPort(t.Context(), worker, docker.APIServerPort); err == nil {
		t.Error("the worker publishes the API server port")
	}

	for _, n := range []string{cp, worker} {
		role := "worker"
		if n == cp {
			role = "control-plane"
		}
		if got, _ := docker.Output(t.Context(), "inspect", "--format", `{{index .Config.Labels "io.x-k8s.kind.role"}}`, n); strings.TrimSpace(got) != role {
			t.Errorf("%s role label = %q", n, got)
		}
		if got, err := nodes.Exec(t.Context(), n, "cat", "/etc/hostname"); err != nil || strings.TrimSpace(got) != n {
			t.Errorf("%s hostname = %q, %v", n, got, err)
		}
		if got, err := nodes.Exec(t.Context(), n, "cat", "/kind/version"); err != nil || len(strings.Split(strings.TrimSpace(got), "\n")) != 1 {
			t.Errorf("%s /kind/version = %q, %v", n, got, err)
		}
		// The node's files are in place, but not the kubelet's config.
		for _, f := range []string{"/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/kubelet.conf", "/var/lib/kubelet/pki/kubelet.crt"} {
			if _, err := nodes.Exec(t.Context(), n, "test", "-s", f); err != nil {
				t.Errorf("%s lacks %s", n, f)
			}
		}
		if _, err := nodes.Exec(t.Context(), n, "test", "-e", nodeconfig.KubeletConfigPath); err == nil {
			t.Errorf("%s already has %s", n, nodeconfig.KubeletConfigPath)
		}
		// containerd answers and holds the pause image the node pins.
		images, err := nodes.Exec(t.Context(), n, "ctr", "--namespace=k8s.io", "images", "ls", "-q")
		if err != nil {
			t.Errorf("%s: ctr images ls: %v", n, err)
		}
		pause, _ := nodes.Exec(t.Context(), n, "cat", "/kind/pause-image")
		if pause = strings.TrimSpace(pause); !strings.Contains(images, pause) {
			t.Errorf("%s: pinned pause image %q not loaded; images:\n%s", n, pause, images)
		}
	}
	imgs, err := resolveImages(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	cpImages, _ := nodes.Exec(t.Context(), cp, "ctr", "--namespace=k8s.io", "images", "ls", "-q")
	for _, ref := range imgs.ControlPlaneRefs() {
		if !strings.Contains(cpImages, ref) {
			t.Errorf("control plane lacks image %s; images:\n%s", ref, cpImages)
		}
	}
	// Workload images are on every node under their content tag and
	// :dev, the tag pods name (kubectl run --image=kubelab/testapp:dev).
	for _, n := range []string{cp, worker} {
		got, _ := nodes.Exec(t.Context(), n, "ctr", "--namespace=k8s.io", "images", "ls", "-q")
		for _, ref := range imgs.All {
			if !strings.Contains(got, "docker.io/"+ref+"\n") {
				t.Errorf("%s lacks image %s; images:\n%s", n, ref, got)
			}
		}
	}
	if !slices.Contains(imgs.All, "kubelab/testapp:dev") {
		t.Errorf("workload images %v lack kubelab/testapp:dev", imgs.All)
	}
	for _, f := range []string{"/etc/kubernetes/admin.conf", "/etc/kubernetes/pki/apiserver.crt", "/etc/kubernetes/pki/etcd/server.key",
		"/etc/kubernetes/manifests/etcd.yaml", "/etc/kubernetes/manifests/kube-apiserver.yaml",
		"/etc/kubernetes/manifests/kube-scheduler.yaml", "/etc/kubernetes/manifests/kube-controller-manager.yaml"} {
		if _, err := nodes.Exec(t.Context(), cp, "test", "-s", f); err != nil {
			t.Errorf("control plane lacks %s", f)
		}
	}
	if mode, _ := nodes.Exec(t.Context(), cp, "stat", "-c", "%a", "/etc/kubernetes/pki/ca.key"); strings.TrimSpace(mode) != "600" {
		t.Errorf("ca.key mode = %q, want 600", mode)
	}

	// load docker-image: the worker lacks etcd's image until it is loaded,
	// and loading it again does nothing.
	etcdRef := imgs.ControlPlane.Etcd
	var loadOut bytes.Buffer
	lp := NewProvider(&loadOut, 0)
	if err := lp.LoadImages(t.Context(), name, []string{etcdRef}, []string{worker}); err != nil {
		t.Fatalf("LoadImages: %v", err)
	}
	if got, _ := nodes.Exec(t.Context(), worker, "ctr", "--namespace=k8s.io", "images", "ls", "-q"); !strings.Contains(got, etcdRef) {
		t.Errorf("after LoadImages the worker lacks %s:\n%s", etcdRef, got)
	}
	if !strings.Contains(loadOut.String(), "not yet present on node \""+worker+"\", loading...") {
		t.Errorf("LoadImages output = %q", loadOut.String())
	}
	loadOut.Reset()
	if err := lp.LoadImages(t.Context(), name, []string{etcdRef}, []string{worker}); err != nil || loadOut.Len() != 0 {
		t.Errorf("second LoadImages = %v, output %q; want a silent no-op", err, loadOut.String())
	}
	if err := lp.LoadImages(t.Context(), name, []string{"kubelab/absent:1"}, nil); err == nil || !strings.Contains(err.Error(), "not present locally") {
		t.Errorf("LoadImages of an absent image = %v", err)
	}

	// get kubeconfig reads the admin entry back, pointed at the host port.
	data, err := p.Kubeconfig(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := clientcmd.Load(data)
	if err != nil || kc.CurrentContext != ContextName(name) || kc.Clusters[ContextName(name)].Server != "https://127.0.0.1:"+port {
		t.Errorf("kubeconfig = %s, %v", data, err)
	}

	// A second create of the same name fails and leaves the cluster alone.
	err = p.Create(t.Context(), CreateOptions{Name: name, Config: cfg, KubeconfigPath: kubeconfigPath})
	if err == nil || !strings.Contains(err.Error(), "already exist") {
		t.Errorf("second create = %v, want a name-in-use error", err)
	}
	if got := clusterNodes(t, name); len(got) != 2 {
		t.Errorf("after the second create, nodes = %v", got)
	}

	dir, err := p.ExportLogs(t.Context(), name, t.TempDir())
	if err != nil {
		t.Errorf("ExportLogs: %v", err)
	}
	for _, f := range []string{"docker-info.txt", cp + "/serial.log", cp + "/inspect.json", cp + "/kubernetes-version.txt", worker + "/containerd.log"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("exported logs lack %s", f)
		}
	}

	if err := p.Delete(t.Context(), name, kubeconfigPath); err != nil {
		t.Fatal(err)
	}
	if got := clusterNodes(t, name); len(got) != 0 {
		t.Errorf("after delete, nodes = %v", got)
	}
}

// TestCreateFailsCleanly checks that inputs rejected before provisioning
// leave no container behind.
func TestCreateFailsCleanly(t *testing.T) {
	if _, err := docker.GetInfo(t.Context()); err != nil {
		t.Skipf("needs a Docker daemon: %v", err)
	}
	name := fmt.Sprintf("bad-%d", time.Now().UnixNano()%1_000_000)
	tests := []struct {
		desc string
		o    CreateOptions
		want string
	}{
		{"missing node image", CreateOptions{NodeImage: "kubelab/does-not-exist:1"}, "kubelab never pulls"},
		{"broken config", CreateOptions{ConfigPath: filepath.Join(t.TempDir(), "missing.yaml")}, "error reading file"},
		{"two control planes", CreateOptions{Config: mustParse(t, "nodes:\n- role: control-plane\n- role: control-plane\n")}, "kubelab supports one control-plane node"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			tt.o.Name = name
			err := NewProvider(&bytes.Buffer{}, 0).Create(t.Context(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Create = %v, want %q", err, tt.want)
			}
			if got := clusterNodes(t, name); len(got) != 0 {
				t.Errorf("nodes left behind: %v", got)
			}
		})
	}
}

func mustParse(t *testing.T, nodes string) *v1alpha4.Cluster {
	t.Helper()
	c, err := config.Parse([]byte("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n" + nodes))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
