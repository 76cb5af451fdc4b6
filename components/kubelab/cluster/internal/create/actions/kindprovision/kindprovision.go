// Package kindprovision is the create step for daemons that can grant
// --privileged: sigs.k8s.io/kind's own provider makes the node containers
// from kubelab's node image and stops before setting up Kubernetes, which
// kubelab then does itself.
package kindprovision

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"github.com/kubelab/kubelab/components/kubelab/cluster/docker"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions/provision"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/nodes"
)

type action struct{}

// NewAction returns the step.
func NewAction() actions.Action { return action{} }

// Execute has kind create the nodes (kind prints its own step lines), then
// waits for each node's supervisor to report containerd up: kind itself
// proceeds on cgroup v1 hosts as soon as the node says so.
func (action) Execute(ctx *actions.Context) error {
	cfg := ctx.Config.DeepCopy()
	opts := []kindcluster.CreateOption{
		kindcluster.CreateWithV1Alpha4Config(cfg),
		kindcluster.CreateWithStopBeforeSettingUpKubernetes(true),
		kindcluster.CreateWithRetain(true), // kubelab cleans up after a failure itself
		kindcluster.CreateWithDisplayUsage(false),
		kindcluster.CreateWithDisplaySalutation(false),
	}
	if img := commonImage(ctx); img != "" {
		opts = append(opts, kindcluster.CreateWithNodeImage(img))
	}
	if err := ctx.Provider.Create(ctx.Name(), opts...); err != nil {
		return fmt.Errorf("kind: %w", nodes.RunError(err))
	}
	var err error
	if ctx.Nodes, err = nodes.List(ctx.Ctx, ctx.Provider, ctx.Name()); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx.Ctx)
	for _, n := range ctx.Nodes {
		g.Go(func() error {
			wctx, cancel := context.WithTimeout(gctx, ctx.NodeStartTimeout)
			defer cancel()
			return docker.WaitForLog(wctx, n.Name, provision.ReadyLine)
		})
	}
	return g.Wait()
}

// commonImage returns the image all nodes share, or "" if they differ.
func commonImage(ctx *actions.Context) string {
	img := ctx.Config.Nodes[0].Image
	for _, n := range ctx.Config.Nodes {
		if n.Image != img {
			return ""
		}
	}
	return img
}
