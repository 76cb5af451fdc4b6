// Package loadimages is the create step that loads kubelab's images into
// each node's containerd, as `kind load docker-image` does: `docker save`
// on the host, `ctr --namespace=k8s.io images import` in the node.
package loadimages

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/kubelab/kubelab/components/kubelab/cluster/docker"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/nodes"
)

// PauseImageFile names the pause image the node's containerd pins.
const PauseImageFile = "/kind/pause-image"

type action struct{}

// NewAction returns the step.
func NewAction() actions.Action { return action{} }

// Execute loads the control-plane images into the control-plane node and
// the pause image (the one the node image pins), the test workload and
// kube-proxy into every node.
func (action) Execute(ctx *actions.Context) error {
	return ctx.Step("Loading images 🚚", execute)
}

func execute(ctx *actions.Context) error {
	all := slices.Clone(ctx.Images.All)
	pause, err := nodes.ReadFile(ctx.Ctx, ctx.ControlPlane().Name, PauseImageFile)
	if err != nil {
		return fmt.Errorf("find the node image's pause image: %w", err)
	}
	if ref := strings.TrimSpace(string(pause)); ref != "" && !slices.Contains(all, ref) {
		all = append([]string{ref}, all...)
	}
	dir, err := os.MkdirTemp("", "kubelab-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	allTar, cpTar := filepath.Join(dir, "all.tar"), filepath.Join(dir, "control-plane.tar")
	if err := Save(ctx.Ctx, allTar, all); err != nil {
		return err
	}
	if err := Save(ctx.Ctx, cpTar, ctx.Images.ControlPlaneRefs()); err != nil {
		return err
	}
	g, _ := errgroup.WithContext(ctx.Ctx)
	for _, node := range ctx.Nodes {
		archives := []string{allTar}
		if node.Role == v1alpha4.ControlPlaneRole {
			archives = append(archives, cpTar)
		}
		n := nodes.NewNode(node.Name)
		g.Go(func() error {
			for _, a := range archives {
				f, err := os.Open(a)
				if err != nil {
					return err
				}
				err = nodeutils.LoadImageArchive(n, f)
				f.Close()
				if err != nil {
					return fmt.Errorf("load %s into node %s: %w", filepath.Base(a), n, nodes.RunError(err))
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// Save writes refs to the archive path with `docker save`, after checking
// that each is present (kubelab never pulls).
func Save(ctx context.Context, path string, refs []string) error {
	var missing []string
	for _, r := range refs {
		if !docker.ImageExists(ctx, r) {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("image(s) %s not in Docker's image store: build them with `make images` (kubelab build images)", strings.Join(missing, ", "))
	}
	if err := docker.Run(ctx, nil, append([]string{"save", "-o", path}, refs...)...); err != nil {
		return fmt.Errorf("save images: %w", err)
	}
	return nil
}
