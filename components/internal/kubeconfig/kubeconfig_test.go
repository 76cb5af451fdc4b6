package kubeconfig

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubelab/kubelab/components/internal/pki"
)

func testCluster(t *testing.T) Cluster {
	t.Helper()
	ca, err := pki.LoadOrCreateCA(t.TempDir(), "kubelab-ca")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueClientPEM("kubernetes-admin", []string{"system:masters"})
	if err != nil {
		t.Fatal(err)
	}
	return Cluster{
		Context:        "kubelab-local",
		Server:         "https://127.0.0.1:6443",
		CAData:         ca.CertPEM,
		ClientCertData: certPEM,
		ClientKeyData:  keyPEM,
	}
}

func TestWrite(t *testing.T) {
	c := testCluster(t)
	path := filepath.Join(t.TempDir(), "nested", "dir", "kubeconfig")
	if err := Write(path, c); err != nil {
		t.Fatal(err)
	}
	assertMode(t, path, 0o600)

	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "kubelab-local" || len(cfg.Contexts) != 1 || len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 {
		t.Fatalf("unexpected config: current %q, %d contexts, %d clusters, %d users",
			cfg.CurrentContext, len(cfg.Contexts), len(cfg.Clusters), len(cfg.AuthInfos))
	}
	ctx := cfg.Contexts["kubelab-local"]
	if ctx == nil || ctx.Cluster != "kubelab-local" || ctx.AuthInfo != "kubelab-local" {
		t.Fatalf("context %+v", ctx)
	}

	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != c.Server || !bytes.Equal(rc.CAData, c.CAData) ||
		!bytes.Equal(rc.CertData, c.ClientCertData) || !bytes.Equal(rc.KeyData, c.ClientKeyData) {
		t.Errorf("rest config does not carry the embedded data: host %q", rc.Host)
	}

	// Write replaces whatever was there.
	c2 := c
	c2.Context, c2.Server = "kubelab-other", "https://10.0.0.1:6443"
	if err := Write(path, c2); err != nil {
		t.Fatal(err)
	}
	if cfg := mustLoad(t, path); len(cfg.Contexts) != 1 || cfg.CurrentContext != "kubelab-other" {
		t.Errorf("second Write kept old entries: %v", slices.Sorted(maps.Keys(cfg.Contexts)))
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		c    Cluster
	}{
		{name: "no context", c: Cluster{Server: "https://x"}},
		{name: "no server", c: Cluster{Context: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			if err := Write(path, tt.c); err == nil {
				t.Error("Write: expected an error")
			}
			if err := Merge(path, tt.c, true); err == nil {
				t.Error("Merge: expected an error")
			}
			if _, err := os.Stat(path); err == nil {
				t.Error("a file was written for an invalid entry")
			}
		})
	}
}

func TestRESTConfig(t *testing.T) {
	c := testCluster(t)
	c.Token = "abc"
	rc, err := RESTConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != c.Server || rc.BearerToken != "abc" || !bytes.Equal(rc.CAData, c.CAData) {
		t.Errorf("rest config %+v", rc)
	}
}

func TestMerge(t *testing.T) {
	existing := clientcmdapi.NewConfig()
	existing.Clusters["prod"] = &clientcmdapi.Cluster{Server: "https://prod:6443"}
	existing.AuthInfos["prod-admin"] = &clientcmdapi.AuthInfo{Token: "prod-token"}
	existing.Contexts["prod"] = &clientcmdapi.Context{Cluster: "prod", AuthInfo: "prod-admin", Namespace: "apps"}
	existing.Clusters["kubelab-local"] = &clientcmdapi.Cluster{Server: "https://stale:1"}
	existing.Contexts["kubelab-local"] = &clientcmdapi.Context{Cluster: "kubelab-local", AuthInfo: "kubelab-local"}
	existing.CurrentContext = "prod"

	tests := []struct {
		name        string
		makeCurrent bool
		wantCurrent string
	}{
		{name: "keep current context", makeCurrent: false, wantCurrent: "prod"},
		{name: "switch current context", makeCurrent: true, wantCurrent: "kubelab-local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			if err := clientcmd.WriteToFile(*existing, path); err != nil {
				t.Fatal(err)
			}
			c := testCluster(t)
			if err := Merge(path, c, tt.makeCurrent); err != nil {
				t.Fatal(err)
			}
			cfg := mustLoad(t, path)
			if cfg.CurrentContext != tt.wantCurrent {
				t.Errorf("current-context %q, want %q", cfg.CurrentContext, tt.wantCurrent)
			}
			if got := slices.Sorted(maps.Keys(cfg.Contexts)); !slices.Equal(got, []string{"kubelab-local", "prod"}) {
				t.Errorf("contexts %v", got)
			}
			if p := cfg.Contexts["prod"]; p == nil || p.Namespace != "apps" || cfg.AuthInfos["prod-admin"].Token != "prod-token" ||
				cfg.Clusters["prod"].Server != "https://prod:6443" {
				t.Error("prod entries were not preserved")
			}
			if got := cfg.Clusters["kubelab-local"].Server; got != c.Server {
				t.Errorf("kubelab-local server %q, want %q (entry not replaced)", got, c.Server)
			}
			if !bytes.Equal(cfg.AuthInfos["kubelab-local"].ClientKeyData, c.ClientKeyData) {
				t.Error("kubelab-local user not written")
			}
		})
	}
}

func TestMergeNewFileAndSymlink(t *testing.T) {
	dir := t.TempDir()
	c := testCluster(t)

	path := filepath.Join(dir, ".kube", "config")
	if err := Merge(path, c, false); err != nil {
		t.Fatal(err)
	}
	assertMode(t, path, 0o600)
	if cfg := mustLoad(t, path); cfg.Contexts["kubelab-local"] == nil || cfg.CurrentContext != "" {
		t.Errorf("new file: contexts %v current %q", slices.Sorted(maps.Keys(cfg.Contexts)), cfg.CurrentContext)
	}

	link := filepath.Join(dir, "link")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	c.Context = "second"
	if err := Merge(link, c, true); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("symlink replaced by a file (err %v)", err)
	}
	if cfg := mustLoad(t, path); cfg.CurrentContext != "second" || len(cfg.Contexts) != 2 {
		t.Errorf("target not updated through the link: current %q", cfg.CurrentContext)
	}
	if _, err := os.Stat(link + ".lock"); !os.IsNotExist(err) {
		t.Errorf("lock file left behind: %v", err)
	}
}

func TestMergeConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	base := testCluster(t)
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := base
			c.Context = fmt.Sprintf("ctx-%d", i)
			errs[i] = Merge(path, c, true)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("merge %d: %v", i, err)
		}
	}
	if got := len(mustLoad(t, path).Contexts); got != n {
		t.Errorf("%d contexts after %d concurrent merges", got, n)
	}
}

func TestMergeWaitsForLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Merge(path, testCluster(t), true) }()

	select {
	case err := <-done:
		t.Fatalf("Merge returned while the file was locked: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := os.Remove(path + ".lock"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-t.Context().Done():
		t.Fatal("Merge did not finish after the lock was released")
	}
}

func TestRemove(t *testing.T) {
	tests := []struct {
		name         string
		remove       string
		wantContexts []string
		wantClusters []string
		wantUsers    []string
		wantCurrent  string
	}{
		{
			name:         "current context",
			remove:       "kubelab-local",
			wantContexts: []string{"prod", "shared-a", "shared-b"},
			wantClusters: []string{"prod", "shared"},
			wantUsers:    []string{"prod", "shared"},
		},
		{
			name:         "shared cluster and user kept",
			remove:       "shared-a",
			wantContexts: []string{"kubelab-local", "prod", "shared-b"},
			wantClusters: []string{"kubelab-local", "prod", "shared"},
			wantUsers:    []string{"kubelab-local", "prod", "shared"},
			wantCurrent:  "kubelab-local",
		},
		{
			name:         "unknown context",
			remove:       "nope",
			wantContexts: []string{"kubelab-local", "prod", "shared-a", "shared-b"},
			wantClusters: []string{"kubelab-local", "prod", "shared"},
			wantUsers:    []string{"kubelab-local", "prod", "shared"},
			wantCurrent:  "kubelab-local",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			c := testCluster(t)
			for _, e := range []Cluster{
				{Context: "prod", Server: "https://prod"},
				{Context: "shared-a", Name: "shared", User: "shared", Server: "https://shared"},
				{Context: "shared-b", Name: "shared", User: "shared", Server: "https://shared"},
				c,
			} {
				if err := Merge(path, e, true); err != nil {
					t.Fatal(err)
				}
			}
			if err := Remove(path, tt.remove); err != nil {
				t.Fatal(err)
			}
			cfg := mustLoad(t, path)
			if got := slices.Sorted(maps.Keys(cfg.Contexts)); !slices.Equal(got, tt.wantContexts) {
				t.Errorf("contexts %v, want %v", got, tt.wantContexts)
			}
			if got := slices.Sorted(maps.Keys(cfg.Clusters)); !slices.Equal(got, tt.wantClusters) {
				t.Errorf("clusters %v, want %v", got, tt.wantClusters)
			}
			if got := slices.Sorted(maps.Keys(cfg.AuthInfos)); !slices.Equal(got, tt.wantUsers) {
				t.Errorf("users %v, want %v", got, tt.wantUsers)
			}
			if cfg.CurrentContext != tt.wantCurrent {
				t.Errorf("current-context %q, want %q", cfg.CurrentContext, tt.wantCurrent)
			}
		})
	}
}

func TestRemoveMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent", "config")
	if err := Remove(path, "kubelab-local"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Errorf("Remove created files for a missing kubeconfig: %v", err)
	}
}

func TestDefaultPath(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name       string
		kubeconfig string
		want       string
	}{
		{name: "unset", want: filepath.Join(home, ".kube", "config")},
		{name: "single", kubeconfig: "/tmp/a", want: "/tmp/a"},
		{name: "list", kubeconfig: "/tmp/a" + string(os.PathListSeparator) + "/tmp/b", want: "/tmp/a"},
		{name: "leading empty", kubeconfig: string(os.PathListSeparator) + "/tmp/b", want: "/tmp/b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOME", home)
			t.Setenv("KUBECONFIG", tt.kubeconfig)
			if got := DefaultPath(); got != tt.want {
				t.Errorf("DefaultPath() = %q, want %q", got, tt.want)
			}
		})
	}
}

func mustLoad(t *testing.T, path string) *clientcmdapi.Config {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", path, got, want)
	}
}
