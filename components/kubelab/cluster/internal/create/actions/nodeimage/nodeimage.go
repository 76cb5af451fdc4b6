// Package nodeimage is the create step that makes sure the node image is
// present: no registry is reachable, so it is never pulled.
package nodeimage

import (
	"fmt"
	"slices"

	"github.com/kubelab/kubelab/components/kubelab/cluster/docker"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions"
)

type action struct{}

// NewAction returns the step.
func NewAction() actions.Action { return action{} }

// Execute checks that every node's image is in the daemon's image store.
func (action) Execute(ctx *actions.Context) error {
	var images []string
	for _, n := range ctx.Config.Nodes {
		if !slices.Contains(images, n.Image) {
			images = append(images, n.Image)
		}
	}
	for _, img := range images {
		ctx.Status.Start(fmt.Sprintf("Ensuring node image (%s) 🖼", img))
		if !docker.ImageExists(ctx.Ctx, img) {
			ctx.Status.End(false)
			return Missing(img)
		}
	}
	ctx.Status.End(true)
	return nil
}

// Missing is the error for a node image that Docker does not hold.
func Missing(ref string) error {
	return fmt.Errorf("node image %s is not in Docker's image store, and kubelab never pulls: build it with `make images` (kubelab build images)", ref)
}
