// Package exportkubeconfig is the last create step: it merges the cluster's
// admin entry into the user's kubeconfig ($KUBECONFIG's first file, else
// ~/.kube/config) as context kubelab-<name> and makes it current, as kind
// does with kind-<name>.
package exportkubeconfig

import (
	"github.com/kubelab/kubelab/components/internal/kubeconfig"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions"
)

type action struct {
	path string
}

// NewAction returns the step; path "" means kubeconfig.DefaultPath().
func NewAction(path string) actions.Action { return action{path: path} }

// Execute merges the kubeconfig and prints how to use it.
func (a action) Execute(ctx *actions.Context) error {
	path := a.path
	if path == "" {
		path = kubeconfig.DefaultPath()
	}
	if err := kubeconfig.Merge(path, ctx.Admin, true); err != nil {
		return err
	}
	ctx.Status.Printf("Set kubectl context to %q", ctx.Admin.Context)
	ctx.Status.Printf("You can now use your cluster with:\n\nkubectl cluster-info --context %s\n", ctx.Admin.Context)
	return nil
}
