// Package certificates is the create step that makes the cluster's PKI and
// the host's admin credentials.
package certificates

import (
	"fmt"
	"net"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/kubelab/kubelab/components/internal/kubeconfig"
	"github.com/kubelab/kubelab/components/kubelab/cluster/certs"
	"github.com/kubelab/kubelab/components/kubelab/cluster/docker"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/nodes"
	"github.com/kubelab/kubelab/components/kubelab/cluster/nodeconfig"
)

type action struct{}

// NewAction returns the step.
func NewAction() actions.Action { return action{} }

// Execute creates the CAs and service-account keys, and the admin's
// kubeconfig entry for the API server's published host address.
func (action) Execute(ctx *actions.Context) error {
	return ctx.Step("Generating certificates 🔐", execute)
}

func execute(ctx *actions.Context) error {
	cp := ctx.ControlPlane()
	if cp.Name == "" {
		return fmt.Errorf("cluster %q has no control-plane node", ctx.Name())
	}
	p, err := certs.New(ctx.Name())
	if err != nil {
		return err
	}
	admin, err := p.Admin()
	if err != nil {
		return err
	}
	host, port, err := docker.PublishedPort(ctx.Ctx, cp.Name, docker.APIServerPort)
	if err != nil {
		return err
	}
	ctx.PKI = p
	ctx.Cluster = ClusterFor(ctx.Config, ctx.Nodes, ctx.Images.ControlPlane)
	ctx.Admin = kubeconfig.Cluster{
		Context:        nodes.ContextName(ctx.Name()),
		Server:         "https://" + net.JoinHostPort(host, port),
		CAData:         p.CA.CertPEM,
		ClientCertData: admin.Cert,
		ClientKeyData:  admin.Key,
	}
	return nil
}

// ClusterFor returns what the node files of cluster c with nodes ns are
// rendered from.
func ClusterFor(c *v1alpha4.Cluster, ns []nodeconfig.Node, images nodeconfig.Images) nodeconfig.Cluster {
	nc := nodeconfig.Cluster{
		Name:          c.Name,
		PodSubnet:     c.Networking.PodSubnet,
		ServiceSubnet: c.Networking.ServiceSubnet,
		Images:        images,
		ExtraSANs:     []string{c.Networking.APIServerAddress},
	}
	for _, n := range ns {
		switch n.Role {
		case v1alpha4.ControlPlaneRole:
			nc.ControlPlane = n
		case v1alpha4.WorkerRole:
			nc.TaintControlPlane = true // kubeadm's taint, kept only with workers (as kind does)
		}
	}
	return nc
}
