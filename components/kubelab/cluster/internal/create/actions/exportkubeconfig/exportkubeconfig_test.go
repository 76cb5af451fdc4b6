package exportkubeconfig

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/components/internal/kubeconfig"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions"
	"github.com/kubelab/kubelab/components/kubelab/cluster/status"
)

func TestExecuteMergesAndSelects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	other := kubeconfig.Cluster{Context: "other", Server: "https://10.0.0.1:6443", Token: "t"}
	if err := kubeconfig.Write(path, other); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx := &actions.Context{
		Ctx:    t.Context(),
		Status: status.New(&out),
		Admin: kubeconfig.Cluster{
			Context: "kubelab-lab", Server: "https://127.0.0.1:40000",
			CAData: []byte("ca"), ClientCertData: []byte("cert"), ClientKeyData: []byte("key"),
		},
	}
	for range 2 { // merging twice replaces, it does not duplicate
		if err := NewAction(path).Execute(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "kubelab-lab" {
		t.Errorf("current context = %q", cfg.CurrentContext)
	}
	if len(cfg.Contexts) != 2 || cfg.Contexts["other"] == nil {
		t.Errorf("contexts = %v, want other kept beside kubelab-lab", cfg.Contexts)
	}
	if c := cfg.Clusters["kubelab-lab"]; c == nil || c.Server != "https://127.0.0.1:40000" || string(c.CertificateAuthorityData) != "ca" {
		t.Errorf("cluster entry = %+v", c)
	}
	if u := cfg.AuthInfos["kubelab-lab"]; u == nil || string(u.ClientCertificateData) != "cert" {
		t.Errorf("user entry = %+v", u)
	}
	if !strings.Contains(out.String(), `Set kubectl context to "kubelab-lab"`) ||
		!strings.Contains(out.String(), "kubectl cluster-info --context kubelab-lab") {
		t.Errorf("output = %q", out.String())
	}
}

func TestExecuteDefaultsToKUBECONFIG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kc")
	t.Setenv("KUBECONFIG", path+string(os.PathListSeparator)+filepath.Join(t.TempDir(), "second"))
	ctx := &actions.Context{Ctx: t.Context(), Status: status.New(&bytes.Buffer{}),
		Admin: kubeconfig.Cluster{Context: "kubelab-x", Server: "https://127.0.0.1:1"}}
	if err := NewAction("").Execute(ctx); err != nil {
		t.Fatal(err)
	}
	if cfg, err := clientcmd.LoadFromFile(path); err != nil || cfg.CurrentContext != "kubelab-x" {
		t.Fatalf("first $KUBECONFIG file: %v, %v", cfg, err)
	}
}
