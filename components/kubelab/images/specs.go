package images

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Repository is the repository part of every kubelab image reference.
const Repository = "kubelab"

// DevTag is the stable tag that always points at the newest build of an image.
const DevTag = "dev"

// Spec describes one image: images/<Name>/Dockerfile plus the binaries
// compiled into its build context.
type Spec struct {
	// Name is the image name and the directory under images/.
	Name string
	// Binaries are compiled on the host and copied into the context.
	Binaries []Binary
	// ScratchTmp adds rootfs/tmp, world-writable and sticky, to the context
	// for `FROM scratch` images (COPY rootfs/ /), which have no /tmp of their
	// own. (`COPY tmp /tmp` would copy only its contents, into a 0755 /tmp.)
	ScratchTmp bool
	// Optional images are left out of the default set (with a note) while a
	// binary's package does not exist yet.
	Optional bool
	// Requires lists images whose references this one's build args name.
	Requires []string
	// Node marks the node image, whose context also needs the Debian base
	// image and the build args of the node (see node.go).
	Node bool
}

// Ref returns the reference of the image with the given tag.
func Ref(name, tag string) string { return Repository + "/" + name + ":" + tag }

// FullRef returns Ref with the docker.io registry spelled out, as containerd
// names images imported from `docker save`.
func FullRef(name, tag string) string { return "docker.io/" + Ref(name, tag) }

// toolsModule pins the node's runtime programs; etcdToolsModule pins etcdctl.
const (
	toolsModule     = "hack/tools"
	etcdToolsModule = "hack/tools/etcd"
)

// nodeTools are the node's runtime programs, built from the hack/tools module.
var nodeTools = []Binary{
	{Package: "github.com/containerd/containerd/v2/cmd/containerd", Module: toolsModule, Tags: []string{"no_btrfs"}},
	{Package: "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2", Module: toolsModule, Tags: []string{"no_btrfs"}},
	{Package: "github.com/containerd/containerd/v2/cmd/ctr", Module: toolsModule, Tags: []string{"no_btrfs"}},
	{Package: "sigs.k8s.io/cri-tools/cmd/crictl", Module: toolsModule, Tags: []string{"no_btrfs"}},
	{Package: "github.com/opencontainers/runc", Module: toolsModule, CGO: true, Tags: []string{"seccomp"}},
	{Package: "github.com/containernetworking/plugins/plugins/main/bridge", Module: toolsModule, Tags: []string{"no_btrfs"}, Dir: "cni"},
	{Package: "github.com/containernetworking/plugins/plugins/ipam/host-local", Module: toolsModule, Tags: []string{"no_btrfs"}, Dir: "cni"},
	{Package: "github.com/containernetworking/plugins/plugins/main/loopback", Module: toolsModule, Tags: []string{"no_btrfs"}, Dir: "cni"},
	{Package: "github.com/containernetworking/plugins/plugins/main/ptp", Module: toolsModule, Tags: []string{"no_btrfs"}, Dir: "cni"},
	{Package: "github.com/containernetworking/plugins/plugins/meta/portmap", Module: toolsModule, Tags: []string{"no_btrfs"}, Dir: "cni"},
}

// Catalog returns every image kubelab knows, in build order (an image comes
// after those it requires).
func Catalog() []Spec {
	cmd := func(name string) []Binary { return []Binary{{Package: "./cmd/" + name}} }
	return []Spec{
		{Name: "pause", Binaries: cmd("pause")},
		{Name: "etcd", Binaries: append(cmd("etcd"), Binary{Package: "go.etcd.io/etcd/etcdctl/v3", Module: etcdToolsModule}), ScratchTmp: true},
		{Name: "kube-apiserver", Binaries: cmd("kube-apiserver"), ScratchTmp: true},
		{Name: "kube-controller-manager", Binaries: cmd("kube-controller-manager"), ScratchTmp: true},
		{Name: "kube-scheduler", Binaries: cmd("kube-scheduler"), ScratchTmp: true},
		{Name: "kube-proxy", Binaries: cmd("kube-proxy"), ScratchTmp: true},
		{Name: "testapp", Binaries: cmd("testapp"), ScratchTmp: true},
		{
			Name:     "node",
			Binaries: append([]Binary{{Package: "./cmd/kubelet"}, {Package: "./cmd/node-supervisor"}}, nodeTools...),
			Requires: []string{"pause"},
			Node:     true,
		},
	}
}

// Selection is the outcome of Select: the specs to build, in order, and
// notes about optional images left out.
type Selection struct {
	Specs []Spec
	Notes []string
}

// Select picks specs by name from catalog (all when names is empty), adds
// what they require, and checks that the main-module packages of each exist
// under root. An optional image whose package is missing is left out of the
// default set with a note; asking for it by name, or for a required image
// whose package is missing, is an error.
func Select(root string, catalog []Spec, names []string) (Selection, error) {
	byName := map[string]Spec{}
	for _, s := range catalog {
		byName[s.Name] = s
	}
	want := map[string]bool{}
	explicit := map[string]bool{}
	var add func(string) error
	add = func(n string) error {
		s, ok := byName[n]
		if !ok {
			return fmt.Errorf("unknown image %q (known: %s)", n, strings.Join(specNames(catalog), ", "))
		}
		want[n] = true
		for _, r := range s.Requires {
			if err := add(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(names) == 0 {
		for _, s := range catalog {
			want[s.Name] = true
			for _, r := range s.Requires {
				want[r] = true
			}
		}
	}
	for _, n := range names {
		explicit[n] = true
		if err := add(n); err != nil {
			return Selection{}, err
		}
	}
	var sel Selection
	for _, s := range catalog {
		if !want[s.Name] {
			continue
		}
		if missing := missingPackages(root, s); len(missing) > 0 {
			if s.Optional && !explicit[s.Name] {
				sel.Notes = append(sel.Notes, fmt.Sprintf("%s: left out, %s does not exist yet", s.Name, strings.Join(missing, ", ")))
				continue
			}
			return Selection{}, fmt.Errorf("image %s needs %s, which does not exist yet", s.Name, strings.Join(missing, ", "))
		}
		sel.Specs = append(sel.Specs, s)
	}
	return sel, nil
}

// missingPackages lists the spec's main-module packages with no Go file.
func missingPackages(root string, s Spec) []string {
	var missing []string
	for _, b := range s.Binaries {
		if b.Module != "" {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(b.Package), "*.go"))
		if len(files) == 0 {
			missing = append(missing, b.Package)
		}
	}
	return missing
}

func specNames(specs []Spec) []string {
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		names = append(names, s.Name)
	}
	return names
}

// FindRoot returns the kubelab source tree containing dir: the nearest
// parent with images/ and the kubelab go.mod.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find source root: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		mod, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.HasPrefix(string(mod), "module github.com/kubelab/kubelab\n") {
			if _, err := os.Stat(filepath.Join(d, "images")); err == nil {
				return d, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no kubelab source tree (go.mod and images/) at or above %s", dir)
		}
	}
}
