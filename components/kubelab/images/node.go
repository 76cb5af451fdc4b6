package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// NodeBaseName is the image of the node's Debian root filesystem, before
// kubelab's binaries and configuration are added.
const NodeBaseName = "node-base"

// prepareNode makes sure the node's Debian base image exists and returns the
// node image's build args: BASE (that image), PAUSE_IMAGE (the sandbox image
// pinned in containerd's config, content-tagged) and KUBERNETES_VERSION (the
// line of /kind/version). tags holds the content tags of images built before.
func prepareNode(ctx context.Context, opts Options, tags map[string]string) (map[string]string, error) {
	pause, ok := tags["pause"]
	if !ok {
		return nil, fmt.Errorf("the pause image must be built before the node image")
	}
	base, err := ensureNodeBase(ctx, opts)
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"BASE":               base,
		"PAUSE_IMAGE":        FullRef("pause", pause),
		"KUBERNETES_VERSION": opts.KubernetesVersion,
	}, nil
}

// ensureNodeBase returns kubelab/node-base:<key>, where key hashes
// hack/node-rootfs.sh (which holds the Debian suite and package list) and
// the MIRROR it is given. A missing image is imported from the cached
// root filesystem tarball Output/cache/rootfs/<key>.tar, which is made with
// debootstrap when missing.
func ensureNodeBase(ctx context.Context, opts Options) (string, error) {
	script := filepath.Join(opts.Root, "hack", "node-rootfs.sh")
	mirror := os.Getenv("MIRROR")
	key, err := HashInputs(map[string]string{"mirror": mirror}, script)
	if err != nil {
		return "", err
	}
	ref := Ref(NodeBaseName, key)
	id, err := opts.Docker.ImageID(ctx, ref)
	if err != nil {
		return "", err
	}
	if id != "" {
		return ref, nil
	}
	tarball := filepath.Join(opts.Output, "cache", "rootfs", key+".tar")
	if _, err := os.Stat(tarball); err != nil {
		start := time.Now()
		fmt.Fprintf(opts.Log, " • Making the node's Debian root filesystem with debootstrap (%s) ...\n", tarball)
		if err := os.MkdirAll(filepath.Dir(tarball), 0o755); err != nil {
			return "", fmt.Errorf("node root filesystem: %w", err)
		}
		c := exec.CommandContext(ctx, script, tarball)
		out, err := c.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("%s: %w\n%s", script, err, tail(string(out), 30))
		}
		fmt.Fprintf(opts.Log, " ✓ Made the node root filesystem (%s)\n", time.Since(start).Round(time.Second))
	}
	if err := opts.Docker.Import(ctx, tarball, ref); err != nil {
		return "", err
	}
	fmt.Fprintf(opts.Log, " ✓ Imported %s\n", ref)
	return ref, nil
}
