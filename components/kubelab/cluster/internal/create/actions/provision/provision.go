// Package provision is the create step that runs the node containers itself,
// for daemons that cannot grant --privileged: kind's flags, labels, network
// and names, with docker.RestrictedSecurityArgs instead of --privileged, so
// kind's provider still lists, deletes and exports the nodes.
package provision

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/kubelab/kubelab/components/kubelab/cluster/config"
	"github.com/kubelab/kubelab/components/kubelab/cluster/docker"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/nodes"
)

// ReadyLine is what the node supervisor prints once containerd serves its
// socket: the line kind waits for on a systemd node.
var ReadyLine = regexp.MustCompile(`Reached target .*Multi-User System`)

type action struct {
	privileged bool
}

// NewAction returns the step; privileged runs the containers as kind does.
func NewAction(privileged bool) actions.Action { return action{privileged: privileged} }

// Execute creates the network and the node containers and waits for each
// node's supervisor to report containerd up.
func (a action) Execute(ctx *actions.Context) error {
	return ctx.Step("Preparing nodes "+strings.Repeat("📦 ", len(ctx.Config.Nodes)), a.provision)
}

func (a action) provision(ctx *actions.Context) error {
	info, err := docker.GetInfo(ctx.Ctx)
	if err != nil {
		return err
	}
	if err := docker.EnsureNetwork(ctx.Ctx, docker.NetworkName); err != nil {
		return err
	}
	specs, err := Plan(ctx.Config, a.privileged)
	if err != nil {
		return err
	}
	// Pick every free host port while holding all of them, so that no two
	// nodes get the same one; release them just before the containers start.
	_, statErr := os.Stat("/lib/modules")
	var releases []func()
	defer func() {
		for _, r := range releases {
			r()
		}
	}()
	for i := range specs {
		ports, release, err := docker.ResolvePorts(specs[i].Ports)
		if err != nil {
			return fmt.Errorf("node %s: %w", specs[i].Name, err)
		}
		releases = append(releases, release)
		specs[i].Ports = ports
		specs[i].LibModules = statErr == nil
		specs[i].Fuse = info.Rootless()
	}
	for _, r := range releases {
		r()
	}
	releases = nil
	g, gctx := errgroup.WithContext(ctx.Ctx)
	for _, spec := range specs {
		g.Go(func() error { return runNode(gctx, spec, ctx.NodeStartTimeout) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	ctx.Nodes, err = nodes.List(ctx.Ctx, ctx.Provider, ctx.Name())
	return err
}

// runNode runs spec's container and waits for its supervisor's ready line.
func runNode(ctx context.Context, spec docker.Node, timeout time.Duration) error {
	if err := docker.Run(ctx, nil, append([]string{"run"}, docker.RunArgs(spec)...)...); err != nil {
		return fmt.Errorf("start node %s: %w", spec.Name, err)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return docker.WaitForLog(wctx, spec.Name, ReadyLine)
}

// Plan returns the node containers of cluster c in config order: kind's
// names, extraMounts with absolute host paths, extraPortMappings, and on the
// control plane the API server's port published on
// networking.apiServerAddress:apiServerPort (0: a free port).
func Plan(c *v1alpha4.Cluster, privileged bool) ([]docker.Node, error) {
	names := config.NodeNames(c)
	specs := make([]docker.Node, 0, len(c.Nodes))
	for i, n := range c.Nodes {
		if err := docker.ValidateProtocols(n.ExtraPortMappings); err != nil {
			return nil, fmt.Errorf("node %s: %w", names[i], err)
		}
		spec := docker.Node{
			Name:       names[i],
			Cluster:    c.Name,
			Role:       n.Role,
			Image:      n.Image,
			Privileged: privileged,
			Ports:      append([]v1alpha4.PortMapping(nil), n.ExtraPortMappings...),
		}
		for _, m := range n.ExtraMounts {
			if !filepath.IsAbs(m.HostPath) {
				abs, err := filepath.Abs(m.HostPath)
				if err != nil {
					return nil, fmt.Errorf("unable to resolve absolute path for hostPath: %q: %w", m.HostPath, err)
				}
				m.HostPath = abs
			}
			spec.Mounts = append(spec.Mounts, m)
		}
		if n.Role == v1alpha4.ControlPlaneRole {
			spec.Ports = append(spec.Ports, v1alpha4.PortMapping{
				ListenAddress: c.Networking.APIServerAddress,
				HostPort:      c.Networking.APIServerPort,
				ContainerPort: docker.APIServerPort,
			})
		}
		specs = append(specs, spec)
	}
	return specs, nil
}
