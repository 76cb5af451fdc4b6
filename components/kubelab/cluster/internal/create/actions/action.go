// Package actions holds what the steps of `kubelab create cluster` share:
// the Action interface (one step, one package under this directory, as in
// kind's pkg/cluster/internal/create/actions) and the Context they read and
// fill in.
package actions

import (
	"context"
	"io"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"github.com/kubelab/kubelab/components/internal/kubeconfig"
	"github.com/kubelab/kubelab/components/kubelab/cluster/certs"
	"github.com/kubelab/kubelab/components/kubelab/cluster/nodeconfig"
	"github.com/kubelab/kubelab/components/kubelab/cluster/status"
)

// Action is one step of creating a cluster. It reports its progress on
// ctx.Status (Start, then End or an error) and records what later steps
// need in ctx.
type Action interface {
	Execute(ctx *Context) error
}

// Images are the local image references a cluster runs.
type Images struct {
	// Node is the node image.
	Node string
	// ControlPlane are the static pods' images.
	ControlPlane nodeconfig.Images
	// All are loaded into every node (pause, test workload, kube-proxy).
	All []string
}

// ControlPlaneRefs lists the control-plane images.
func (i Images) ControlPlaneRefs() []string {
	c := i.ControlPlane
	return []string{c.Etcd, c.APIServer, c.Scheduler, c.ControllerManager}
}

// Context is the state shared by the steps of one create.
type Context struct {
	// Ctx bounds every step.
	Ctx context.Context
	// Status prints the step lines.
	Status *status.Status
	// Out receives other output (kind's own lines on its path).
	Out io.Writer
	// Provider is kind's provider, which lists, deletes and exports nodes.
	Provider *kindcluster.Provider
	// Config is the validated cluster config, node images filled in.
	Config *v1alpha4.Cluster
	// Images are the images the cluster runs.
	Images Images
	// Wait bounds waiting for the nodes to be Ready (0: don't wait).
	Wait time.Duration
	// ControlPlaneTimeout bounds waiting for the API server.
	ControlPlaneTimeout time.Duration
	// NodeStartTimeout bounds waiting for each node container's
	// supervisor to report containerd up.
	NodeStartTimeout time.Duration
	// Start is when the create began.
	Start time.Time

	// Nodes are the provisioned nodes, control plane first (provision).
	Nodes []nodeconfig.Node
	// PKI is the cluster's PKI (certificates).
	PKI *certs.PKI
	// Admin is the host kubeconfig entry of the cluster (certificates).
	Admin kubeconfig.Cluster
	// Cluster is what node files are rendered from (certificates).
	Cluster nodeconfig.Cluster
}

// Step runs one step's work between its status lines: title while it
// runs, then ✓ or ✗ as run returns.
func (c *Context) Step(title string, run func(*Context) error) error {
	c.Status.Start(title)
	err := run(c)
	c.Status.End(err == nil)
	return err
}

// Name returns the cluster's name.
func (c *Context) Name() string { return c.Config.Name }

// ControlPlane returns the control-plane node.
func (c *Context) ControlPlane() nodeconfig.Node {
	for _, n := range c.Nodes {
		if n.Role == v1alpha4.ControlPlaneRole {
			return n
		}
	}
	return nodeconfig.Node{}
}

// Workers returns the worker nodes.
func (c *Context) Workers() []nodeconfig.Node {
	var w []nodeconfig.Node
	for _, n := range c.Nodes {
		if n.Role == v1alpha4.WorkerRole {
			w = append(w, n)
		}
	}
	return w
}

// RESTConfig returns an admin client configuration for the cluster,
// reached at its published host address.
func (c *Context) RESTConfig() (*rest.Config, error) {
	rc, err := kubeconfig.RESTConfig(c.Admin)
	if err != nil {
		return nil, err
	}
	rc.Timeout = 10 * time.Second
	return rc, nil
}

// Client returns an admin clientset for the cluster.
func (c *Context) Client() (kubernetes.Interface, error) {
	rc, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(rc)
}
