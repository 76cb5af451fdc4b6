// Package joinworkers is the create step that starts the workers' kubelets
// by writing their kubelet config; they register with the API server.
package joinworkers

import (
	"golang.org/x/sync/errgroup"

	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions/startcontrolplane"
)

type action struct{}

// NewAction returns the step.
func NewAction() actions.Action { return action{} }

// Execute starts every worker's kubelet; a cluster without workers skips
// the step, as kind does.
func (action) Execute(ctx *actions.Context) error {
	workers := ctx.Workers()
	if len(workers) == 0 {
		return nil
	}
	return ctx.Step("Joining worker nodes 🚜", func(ctx *actions.Context) error {
		g, _ := errgroup.WithContext(ctx.Ctx)
		for _, n := range workers {
			g.Go(func() error { return startcontrolplane.StartKubelet(ctx, n) })
		}
		return g.Wait()
	})
}
