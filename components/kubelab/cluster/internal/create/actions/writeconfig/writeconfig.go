// Package writeconfig is the create step that writes the PKI, kubeconfigs
// and static pod manifests into the nodes (everything but the kubelet's
// config, whose arrival starts the kubelet).
package writeconfig

import (
	"maps"

	"golang.org/x/sync/errgroup"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/nodes"
	"github.com/kubelab/kubelab/components/kubelab/cluster/nodeconfig"
)

type action struct{}

// NewAction returns the step.
func NewAction() actions.Action { return action{} }

// Execute renders and writes each node's files, the nodes in parallel.
func (action) Execute(ctx *actions.Context) error {
	return ctx.Step("Writing configuration 📜", execute)
}

func execute(ctx *actions.Context) error {
	g, gctx := errgroup.WithContext(ctx.Ctx)
	for _, n := range ctx.Nodes {
		files, err := nodeconfig.NodeFiles(ctx.Cluster, ctx.PKI, n)
		if err != nil {
			return err
		}
		if n.Role == v1alpha4.ControlPlaneRole {
			cp, err := nodeconfig.ControlPlaneFiles(ctx.Cluster, ctx.PKI)
			if err != nil {
				return err
			}
			maps.Copy(files, cp)
		}
		g.Go(func() error { return nodes.WriteFiles(gctx, n.Name, files) })
	}
	return g.Wait()
}
