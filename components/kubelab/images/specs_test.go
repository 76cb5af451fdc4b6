package images

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/kubelab/kubelab/components/supervisor"
)

// repoRoot is the kubelab source tree this test file is in.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root, err := FindRoot(filepath.Dir(file))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestSelect(t *testing.T) {
	root := writeTree(t, map[string]string{
		"cmd/a/main.go":    "package main",
		"cmd/base/main.go": "package main",
	})
	catalog := []Spec{
		{Name: "base", Binaries: []Binary{{Package: "./cmd/base"}}},
		{Name: "a", Binaries: []Binary{{Package: "./cmd/a"}, {Package: "example.com/tool", Module: "hack/tools"}}, Requires: []string{"base"}},
		{Name: "opt", Binaries: []Binary{{Package: "./cmd/opt"}}, Optional: true},
		{Name: "req", Binaries: []Binary{{Package: "./cmd/req"}}},
	}
	tests := []struct {
		name      string
		names     []string
		catalog   []Spec
		want      []string
		wantNotes int
		wantErr   string
	}{
		{name: "default leaves out a missing optional image", catalog: catalog[:3], want: []string{"base", "a"}, wantNotes: 1},
		{name: "requires come first", names: []string{"a"}, catalog: catalog, want: []string{"base", "a"}},
		{name: "one image", names: []string{"base"}, catalog: catalog, want: []string{"base"}},
		{name: "optional asked for by name", names: []string{"opt"}, catalog: catalog, wantErr: "needs ./cmd/opt, which does not exist yet"},
		{name: "required image missing its package", catalog: catalog, wantErr: "image req needs ./cmd/req"},
		{name: "unknown image", names: []string{"nope"}, catalog: catalog, wantErr: `unknown image "nope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := Select(root, tc.catalog, tc.names)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := specNames(sel.Specs); !slices.Equal(got, tc.want) {
				t.Errorf("selected %v, want %v", got, tc.want)
			}
			if len(sel.Notes) != tc.wantNotes {
				t.Errorf("notes %v, want %d", sel.Notes, tc.wantNotes)
			}
		})
	}
}

// TestCatalogMatchesDockerfiles checks each image's Dockerfile copies only
// binaries its spec builds, and that scratch images get their /tmp.
func TestCatalogMatchesDockerfiles(t *testing.T) {
	root := repoRoot(t)
	copied := regexp.MustCompile(`(?m)(?:^|\s)((?:bin|cni)/[A-Za-z0-9._-]+)`)
	for _, s := range Catalog() {
		b, err := os.ReadFile(filepath.Join(root, "images", s.Name, "Dockerfile"))
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		df := string(b)
		have := map[string]bool{}
		for _, bin := range s.Binaries {
			have[bin.dir()+"/"+bin.name()] = true
		}
		for _, m := range copied.FindAllStringSubmatch(df, -1) {
			if !have[m[1]] {
				t.Errorf("%s: Dockerfile copies %s, which the spec does not build", s.Name, m[1])
			}
		}
		if s.ScratchTmp != strings.Contains(df, "COPY rootfs/ /") {
			t.Errorf("%s: ScratchTmp=%t but the Dockerfile's COPY rootfs/ / presence differs", s.Name, s.ScratchTmp)
		}
	}
}

func TestBinaryName(t *testing.T) {
	tests := []struct {
		b    Binary
		want string
	}{
		{Binary{Package: "./cmd/kube-apiserver"}, "kube-apiserver"},
		{Binary{Package: "go.etcd.io/etcd/etcdctl/v3"}, "etcdctl"},
		{Binary{Package: "github.com/opencontainers/runc"}, "runc"},
		{Binary{Package: "example.com/v2tool"}, "v2tool"},
		{Binary{Package: "x", Name: "y"}, "y"},
	}
	for _, tc := range tests {
		if got := tc.b.name(); got != tc.want {
			t.Errorf("name(%s) = %s, want %s", tc.b.Package, got, tc.want)
		}
	}
}

func TestToolVersionFlags(t *testing.T) {
	gomod := "module m\n\nrequire sigs.k8s.io/cri-tools v1.37.0 // indirect\n\nrequire (\n\tgithub.com/containerd/containerd/v2 v2.4.2 // indirect\n\tgithub.com/other/x v1.0.0\n)\n"
	want := "-X github.com/containerd/containerd/v2/version.Version=v2.4.2 -X sigs.k8s.io/cri-tools/pkg/version.Version=v1.37.0"
	if got := toolVersionFlags([]byte(gomod)); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFindRoot(t *testing.T) {
	root := repoRoot(t)
	got, err := FindRoot(filepath.Join(root, "components", "kubelab"))
	if err != nil || got != root {
		t.Errorf("FindRoot = %s, %v; want %s", got, err, root)
	}
	if _, err := FindRoot(t.TempDir()); err == nil {
		t.Error("want an error outside a kubelab tree")
	}
}

// TestNodeFiles checks the node image's config files: the supervisor config
// parses, and containerd's config keeps the settings nested nodes need.
func TestNodeFiles(t *testing.T) {
	files := filepath.Join(repoRoot(t), "images", "node", "files")
	b, err := os.ReadFile(filepath.Join(files, "etc", "kubelab", "supervisor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := supervisor.ParseConfig(b)
	if err != nil {
		t.Fatalf("supervisor.yaml: %v", err)
	}
	var programs []string
	for _, p := range cfg.Programs {
		programs = append(programs, p.Name)
	}
	if !slices.Contains(programs, "containerd") || !slices.Contains(programs, "kubelet") {
		t.Errorf("supervisor programs %v, want containerd and kubelet", programs)
	}
	b, err = os.ReadFile(filepath.Join(files, "etc", "containerd", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"restrict_oom_score_adj = true",
		"sandbox = '@PAUSE_IMAGE@'",
		"snapshotter = 'overlayfs'",
		"SystemdCgroup = false",
		"BinaryName = '/usr/local/sbin/runc'",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("containerd config.toml lacks %q", want)
		}
	}
}
