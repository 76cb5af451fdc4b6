package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/kubelab/kubelab/components/kubelab/cluster/config"
	"github.com/kubelab/kubelab/components/kubelab/cluster/docker"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions/certificates"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions/exportkubeconfig"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions/installproxy"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions/joinworkers"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions/kindprovision"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions/loadimages"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions/nodeimage"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions/provision"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions/startcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions/waitforready"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions/writeconfig"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/nodes"
	"github.com/kubelab/kubelab/components/kubelab/cluster/status"
)

// Provisioner says who creates the node containers.
type Provisioner string

// The provisioners.
const (
	// ProvisionerAuto probes the daemon: kind where it grants --privileged,
	// kubelab otherwise.
	ProvisionerAuto Provisioner = ""
	// ProvisionerKind has kind's provider create the nodes (--privileged).
	ProvisionerKind Provisioner = "kind"
	// ProvisionerKubelab has kubelab create them with its capability set.
	ProvisionerKubelab Provisioner = "kubelab"
)

// Default timeouts of a create.
const (
	DefaultWait                = 5 * time.Minute
	DefaultControlPlaneTimeout = 4 * time.Minute // kubeadm's wait for the control plane
	DefaultNodeStartTimeout    = time.Minute
)

// CreateOptions configure Create.
type CreateOptions struct {
	// Name overrides the config's name; with neither the name is "kubelab".
	Name string
	// ConfigPath is a kind config file ("" for one control-plane node, "-"
	// for standard input). Config, when set, is used instead.
	ConfigPath string
	Config     *v1alpha4.Cluster
	// NodeImage is every node's image ("" for the config's images, else the
	// newest kubelab/node build).
	NodeImage string
	// Wait bounds waiting for every node to be Ready (0: don't wait).
	Wait time.Duration
	// Retain keeps the nodes of a failed create for debugging.
	Retain bool
	// KubeconfigPath is the kubeconfig to merge into ("" for $KUBECONFIG's
	// first file, else ~/.kube/config).
	KubeconfigPath string
	// Provisioner forces who creates the node containers.
	Provisioner Provisioner
	// ControlPlaneTimeout and NodeStartTimeout override the defaults.
	ControlPlaneTimeout, NodeStartTimeout time.Duration

	// stopBeforeKubelets ends a create, successfully, once the nodes hold
	// their files and images (tests inspect that state).
	stopBeforeKubelets bool
}

// Create creates a cluster. A bad config, a name in use, missing images or
// an unreachable daemon fail before anything is made; a failure later
// deletes what was made unless Retain.
func (p *Provider) Create(ctx context.Context, o CreateOptions) error {
	start := time.Now()
	ac, err := p.prepare(ctx, &o)
	if err != nil {
		return err
	}
	ac.Start = start
	privileged := false
	switch o.Provisioner {
	case ProvisionerKind:
		privileged = true
	case ProvisionerAuto:
		var detail string
		privileged, detail = docker.CanRunPrivileged(ctx, ac.Images.Node)
		if !privileged {
			p.log.V(1).Infof("privileged probe: %s", detail)
		}
	}
	var steps []actions.Action
	if privileged {
		fmt.Fprintln(p.out, "Docker grants --privileged here; kind's provider creates the node containers")
		steps = []actions.Action{kindprovision.NewAction()}
	} else {
		fmt.Fprintln(p.out, "Docker cannot grant --privileged here; provisioning node containers with kubelab's capability set")
		fmt.Fprintf(p.out, "Creating cluster %q ...\n", o.Name)
		steps = []actions.Action{nodeimage.NewAction(), provision.NewAction(false)}
	}
	steps = append(steps,
		certificates.NewAction(),
		writeconfig.NewAction(),
		loadimages.NewAction(),
	)
	if !o.stopBeforeKubelets {
		steps = append(steps,
			startcontrolplane.NewAction(),
			installproxy.NewAction(),
			joinworkers.NewAction(),
			waitforready.NewAction(),
			exportkubeconfig.NewAction(o.KubeconfigPath),
		)
	}
	for _, step := range steps {
		if err = step.Execute(ac); err != nil {
			break
		}
	}
	if err == nil {
		ac.Status.End(true)
		return nil
	}
	ac.Status.End(false)
	if o.Retain {
		fmt.Fprintf(p.out, "Keeping the nodes of cluster %q (--retain); `kubelab export logs --name %s` collects their logs, `kubelab delete cluster --name %s` removes them\n", o.Name, o.Name, o.Name)
		return err
	}
	cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if derr := p.Delete(cleanupCtx, o.Name, o.KubeconfigPath); derr != nil {
		return errors.Join(err, fmt.Errorf("clean up: %w", derr))
	}
	return err
}

// prepare checks everything that can be checked before a container is
// made, and returns the create's context.
func (p *Provider) prepare(ctx context.Context, o *CreateOptions) (*actions.Context, error) {
	cfg := o.Config
	if cfg == nil {
		var err error
		if cfg, err = config.Load(o.ConfigPath); err != nil {
			return nil, err
		}
	} else {
		cfg = cfg.DeepCopy()
	}
	switch {
	case o.Name != "":
		cfg.Name = o.Name
	case cfg.Name == "":
		cfg.Name = DefaultName
	}
	o.Name = cfg.Name
	for _, w := range config.Warnings(cfg) {
		p.log.Warn(w)
	}
	// Validate before touching Docker: a broken config is reported as such,
	// whatever images exist.
	check := cfg.DeepCopy()
	config.SetNodeImage(check, "kubelab/node", false)
	if err := config.Validate(check); err != nil {
		return nil, err
	}
	if _, err := docker.GetInfo(ctx); err != nil {
		return nil, err
	}
	nodeImage := o.NodeImage
	if nodeImage == "" && !slices.ContainsFunc(cfg.Nodes, func(n v1alpha4.Node) bool { return n.Image == "" }) {
		nodeImage = cfg.Nodes[0].Image // the config names every node's image
	}
	if nodeImage != "" && !docker.ImageExists(ctx, nodeImage) {
		return nil, nodeimage.Missing(nodeImage)
	}
	imgs, err := resolveImages(ctx, nodeImage)
	if err != nil {
		return nil, err
	}
	config.SetNodeImage(cfg, imgs.Node, o.NodeImage != "")
	if err := config.Validate(cfg); err != nil {
		return nil, err
	}
	for _, n := range cfg.Nodes {
		if !docker.ImageExists(ctx, n.Image) {
			return nil, nodeimage.Missing(n.Image)
		}
	}
	existing, err := p.kind.ListNodes(cfg.Name)
	if err != nil {
		return nil, nodes.RunError(err)
	}
	if len(existing) > 0 {
		return nil, fmt.Errorf("node(s) already exist for a cluster with the name %q", cfg.Name)
	}
	ac := &actions.Context{
		Ctx:                 ctx,
		Status:              status.New(p.out),
		Out:                 p.out,
		Provider:            p.kind,
		Config:              cfg,
		Images:              imgs,
		Wait:                o.Wait,
		ControlPlaneTimeout: or(o.ControlPlaneTimeout, DefaultControlPlaneTimeout),
		NodeStartTimeout:    or(o.NodeStartTimeout, DefaultNodeStartTimeout),
	}
	return ac, nil
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
