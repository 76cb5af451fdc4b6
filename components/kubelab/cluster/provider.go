// Package cluster is kubelab's lab cluster library, on sigs.k8s.io/kind:
// clusters whose nodes are Docker containers of kubelab's node image and
// whose control plane runs as static pods of kubelab's own images.
//
// Create turns a kind config file into a cluster step by step (see
// internal/create/actions), printing kind's status lines. Where the Docker
// daemon can grant --privileged, kind's provider creates the node
// containers (CreateWithStopBeforeSettingUpKubernetes) and kubelab sets up
// Kubernetes itself; where it cannot, kubelab runs the same containers with
// kind's labels, names and network and an equivalent capability set, so
// kind's provider lists, deletes and exports them either way.
package cluster

import (
	"context"
	"fmt"
	"io"
	"slices"

	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"github.com/kubelab/kubelab/components/internal/kubeconfig"
	"github.com/kubelab/kubelab/components/kubelab/cluster/docker"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/nodes"
)

// DefaultName is the name of a cluster created without --name or a name in
// its config.
const DefaultName = "kubelab"

// ContextName returns the kubeconfig context of cluster name, kubelab-<name>.
func ContextName(name string) string { return nodes.ContextName(name) }

// Provider creates, lists, deletes and inspects lab clusters.
type Provider struct {
	kind *kindcluster.Provider
	out  io.Writer
	log  logger
}

// NewProvider returns a provider printing to out; verbosity > 0 shows
// kind's debug messages.
func NewProvider(out io.Writer, verbosity int) *Provider {
	l := newLogger(out, verbosity)
	return &Provider{
		kind: kindcluster.NewProvider(kindcluster.ProviderWithDocker(), kindcluster.ProviderWithLogger(l)),
		out:  out,
		log:  l,
	}
}

// List returns the names of the clusters (kubelab's and kind's) that have
// node containers.
func (p *Provider) List(ctx context.Context) ([]string, error) {
	if _, err := docker.GetInfo(ctx); err != nil {
		return nil, err
	}
	names, err := p.kind.List()
	if err != nil {
		return nil, nodes.RunError(err)
	}
	slices.Sort(names)
	return names, nil
}

// ListNodes returns the node container names of cluster name, control
// plane first.
func (p *Provider) ListNodes(ctx context.Context, name string) ([]string, error) {
	if _, err := docker.GetInfo(ctx); err != nil {
		return nil, err
	}
	ns, err := nodes.List(ctx, p.kind, name)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out, nil
}

// Delete removes cluster name's node containers through kind's provider,
// and its context from the kubeconfig at kubeconfigPath ("" for $KUBECONFIG
// or ~/.kube/config). Deleting a cluster that does not exist is not an
// error, as in kind.
func (p *Provider) Delete(ctx context.Context, name, kubeconfigPath string) error {
	if _, err := docker.GetInfo(ctx); err != nil {
		return err
	}
	if kubeconfigPath == "" {
		kubeconfigPath = kubeconfig.DefaultPath()
	}
	if err := p.kind.Delete(name, kubeconfigPath); err != nil {
		return fmt.Errorf("delete cluster %q: %w", name, nodes.RunError(err))
	}
	if err := kubeconfig.Remove(kubeconfigPath, ContextName(name)); err != nil {
		return fmt.Errorf("delete cluster %q: %w", name, err)
	}
	return nil
}

// Kubeconfig returns the kubeconfig of cluster name for use from the host,
// context kubelab-<name>.
func (p *Provider) Kubeconfig(ctx context.Context, name string) ([]byte, error) {
	if _, err := docker.GetInfo(ctx); err != nil {
		return nil, err
	}
	c, err := nodes.AdminKubeconfig(ctx, p.kind, name)
	if err != nil {
		return nil, err
	}
	return kubeconfig.Bytes(c)
}
