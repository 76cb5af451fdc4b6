package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/kubelab/kubelab/components/kubelet/hollow"
	"github.com/kubelab/kubelab/components/kubelet/kubelet"
)

// NewCommand returns the kubelet command.
func NewCommand(ctx context.Context) *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   "kubelet",
		Short: "kubelab's kubelet: registers nodes and runs their pods",
		Long: "kubelet registers its node with the API server, heartbeats, and runs the pods bound to it\n" +
			"through the node's container runtime (CRI, containerd), with CNI networking from the node's podCIDR.\n" +
			"With --hollow-nodes N it runs N simulated nodes in this process instead: their pods go through\n" +
			"their phases without containers (see the hollow.kubelab.dev/* pod annotations).",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Config != "" {
				if err := o.loadConfig(o.Config, cmd.Flags()); err != nil {
					return fmt.Errorf("kubelet: %w", err)
				}
			}
			return Run(cmd.Context(), o)
		},
	}
	o.AddFlags(cmd.Flags())
	cmd.SetContext(ctx)
	return cmd
}

// Run runs the kubelet described by o until ctx ends.
func Run(ctx context.Context, o *Options) error {
	if o.Kubeconfig == "" && o.HollowNodes <= 0 {
		return errors.New("kubelet: --kubeconfig is required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubelet: load kubeconfig: %w", err)
	}
	if o.HollowNodes <= 0 {
		return runReal(ctx, o, cfg)
	}
	ho, err := o.HollowOptions()
	if err != nil {
		return fmt.Errorf("kubelet: %w", err)
	}
	nodes, err := hollow.New(cfg, ho)
	if err != nil {
		return fmt.Errorf("kubelet: %w", err)
	}
	go func() {
		select {
		case <-nodes.Ready():
			slog.Info("kubelet ready", "hollowNodes", o.HollowNodes)
		case <-ctx.Done():
		}
	}()
	return nodes.Run(ctx)
}

// runReal runs the kubelet of this node on its container runtime.
func runReal(ctx context.Context, o *Options, rc *rest.Config) error {
	// The CRI client logs through klog: send that to our logger.
	klog.SetSlogLogger(slog.Default())
	cfg, err := o.KubeletConfig()
	if err != nil {
		return fmt.Errorf("kubelet: %w", err)
	}
	cfg.RestConfig = rc
	if o.KubeAPIQPS > 0 {
		rc.QPS, rc.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	}
	k, err := kubelet.New(cfg)
	if err != nil {
		return fmt.Errorf("kubelet: %w", err)
	}
	return k.Run(ctx)
}
