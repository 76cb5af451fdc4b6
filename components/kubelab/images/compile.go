package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// buildGroup is a set of packages compiled by one `go build`.
type buildGroup struct {
	module string
	cgo    bool
	tags   string
}

// compileBinaries builds the binaries of specs: the main module's into
// Output/bin (go's own cache makes that quick when nothing changed); each
// tools module's (hack/tools...) into Output/cache/tools/<key>, where key
// covers that module's go.mod and go.sum, the Go version, the packages and
// build settings, so tools are compiled once per version. It returns the
// binary directory of each tools module.
func compileBinaries(ctx context.Context, opts Options, specs []Spec) (map[string]string, error) {
	groups := map[buildGroup][]string{}
	seen := map[string]bool{}
	for _, s := range specs {
		for _, b := range s.Binaries {
			if seen[b.Module+" "+b.Package] {
				continue
			}
			seen[b.Module+" "+b.Package] = true
			g := buildGroup{module: b.Module, cgo: b.CGO, tags: strings.Join(b.Tags, ",")}
			groups[g] = append(groups[g], b.Package)
		}
	}
	byModule := map[string][]buildGroup{}
	for g, pkgs := range groups {
		sort.Strings(pkgs)
		if g.module == "" {
			if err := goBuild(ctx, opts.Go, opts.Root, filepath.Join(opts.Output, "bin"), g.cgo, splitTags(g.tags), "", pkgs); err != nil {
				return nil, err
			}
			continue
		}
		byModule[g.module] = append(byModule[g.module], g)
	}
	dirs := map[string]string{}
	for module, gs := range byModule {
		sort.Slice(gs, func(i, j int) bool { return fmt.Sprint(gs[i]) < fmt.Sprint(gs[j]) })
		dir, err := compileTools(ctx, opts, module, gs, groups)
		if err != nil {
			return nil, err
		}
		dirs[module] = dir
	}
	return dirs, nil
}

// compileTools builds the groups of the tools module in Root/module, unless
// their cache directory is complete.
func compileTools(ctx context.Context, opts Options, module string, gs []buildGroup, groups map[buildGroup][]string) (string, error) {
	modDir := filepath.Join(opts.Root, filepath.FromSlash(module))
	gover, err := goVersion(ctx, opts.Go)
	if err != nil {
		return "", err
	}
	gomod, err := os.ReadFile(filepath.Join(modDir, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("compile tools: %w", err)
	}
	ldflags := toolVersionFlags(gomod)
	keyValues := map[string]string{"module": module, "go": gover, "ldflags": goLDFlags + " " + ldflags}
	var pkgs []string
	for _, g := range gs {
		keyValues[fmt.Sprintf("group cgo=%t tags=%s", g.cgo, g.tags)] = strings.Join(groups[g], " ")
		pkgs = append(pkgs, groups[g]...)
	}
	key, err := HashInputs(keyValues, filepath.Join(modDir, "go.mod"), filepath.Join(modDir, "go.sum"))
	if err != nil {
		return "", err
	}
	dir := filepath.Join(opts.Output, "cache", "tools", key)
	done := filepath.Join(dir, ".complete")
	if _, err := os.Stat(done); err == nil {
		return dir, nil
	}
	start := time.Now()
	fmt.Fprintf(opts.Log, " • Compiling %s (%s) into %s, once per version ...\n", module, shortNames(pkgs), dir)
	for _, g := range gs {
		if g.cgo && strings.Contains(g.tags, "seccomp") {
			if err := ensureHostPackages(ctx, opts, "libseccomp-dev"); err != nil {
				return "", err
			}
		}
		if err := goBuild(ctx, opts.Go, modDir, dir, g.cgo, splitTags(g.tags), ldflags, groups[g]); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(done, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("compile tools: %w", err)
	}
	fmt.Fprintf(opts.Log, " ✓ Compiled %s (%s)\n", module, time.Since(start).Round(time.Second))
	return dir, nil
}

// shortNames returns the binary names of packages, for progress lines.
func shortNames(pkgs []string) string {
	names := make([]string, 0, len(pkgs))
	for _, p := range pkgs {
		names = append(names, Binary{Package: p}.name())
	}
	return strings.Join(names, ", ")
}

// versionVars are the variables that tools' release builds stamp with their
// module's version; `go build` of a module dependency leaves them unset.
var versionVars = map[string]string{
	"github.com/containerd/containerd/v2": "github.com/containerd/containerd/v2/version.Version",
	"sigs.k8s.io/cri-tools":               "sigs.k8s.io/cri-tools/pkg/version.Version",
}

// toolVersionFlags returns -X flags setting versionVars to the versions the
// tools go.mod requires.
func toolVersionFlags(gomod []byte) string {
	var flags []string
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "require" {
			f = f[1:]
		}
		if len(f) < 2 {
			continue
		}
		if v, ok := versionVars[f[0]]; ok {
			flags = append(flags, "-X "+v+"="+f[1])
		}
	}
	sort.Strings(flags)
	return strings.Join(flags, " ")
}

func splitTags(tags string) []string {
	if tags == "" {
		return nil
	}
	return strings.Split(tags, ",")
}

// ensureHostPackages installs missing Debian packages the build needs on the
// host (debootstrap, libseccomp-dev) through hack/install-image-deps.sh.
func ensureHostPackages(ctx context.Context, opts Options, pkgs ...string) error {
	script := filepath.Join(opts.Root, "hack", "install-image-deps.sh")
	c := exec.CommandContext(ctx, script, pkgs...)
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", script, strings.Join(pkgs, " "), err, tail(string(out), 20))
	}
	return nil
}
