package images

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// Binary is a Go program compiled on the host and copied into an image.
type Binary struct {
	// Package is the import path or "./cmd/x" path of the main package.
	Package string
	// Name is the file name under the context's bin/ (default: the package's last element).
	Name string
	// Module is "" for kubelab's own module, else the directory (relative to
	// the source root) of a tools module that pins the program's version,
	// e.g. hack/tools for containerd, runc, the CNI plugins and crictl. Tools
	// are built once per version into the cache.
	Module string
	// CGO builds with CGO_ENABLED=1 (runc: needs glibc and libseccomp).
	CGO bool
	// Tags are Go build tags.
	Tags []string
	// Dir is the directory under the context the binary goes to (default "bin").
	Dir string
}

// name returns the binary's file name: Name, else the package path's last
// element that is not a major version suffix ("v3"), as `go build` names it.
func (b Binary) name() string {
	if b.Name != "" {
		return b.Name
	}
	base := path.Base(b.Package)
	if dir := path.Dir(b.Package); len(base) > 1 && base[0] == 'v' && strings.Trim(base[1:], "0123456789") == "" && dir != "." {
		return path.Base(dir)
	}
	return base
}

// dir returns the context directory the binary goes to.
func (b Binary) dir() string {
	if b.Dir != "" {
		return b.Dir
	}
	return "bin"
}

// goLDFlags are the linker flags of every host build: stripped.
const goLDFlags = "-s -w"

// goBuild compiles pkgs (from moduleDir) into outDir with one `go build
// -trimpath`, so the compiler shares work between them and skips what is up
// to date. extraLDFlags are added to goLDFlags (e.g. -X version stamps).
func goBuild(ctx context.Context, goBin, moduleDir, outDir string, cgo bool, tags []string, extraLDFlags string, pkgs []string) error {
	if len(pkgs) == 0 {
		return nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	args := []string{"build", "-trimpath", "-ldflags", strings.TrimSpace(goLDFlags + " " + extraLDFlags)}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, "-o", outDir+string(filepath.Separator))
	args = append(args, pkgs...)
	c := exec.CommandContext(ctx, goBin, args...)
	c.Dir = moduleDir
	cgoEnv := "CGO_ENABLED=0"
	if cgo {
		cgoEnv = "CGO_ENABLED=1"
	}
	c.Env = append(os.Environ(), cgoEnv)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		return fmt.Errorf("go %s (in %s, %s): %w\n%s", strings.Join(args, " "), moduleDir, cgoEnv, err, tail(out.String(), 30))
	}
	return nil
}

// goVersion returns `go env GOVERSION`, part of the tools cache key.
func goVersion(ctx context.Context, goBin string) (string, error) {
	out, err := exec.CommandContext(ctx, goBin, "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
