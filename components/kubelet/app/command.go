package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/components/kubelet/hollow"
)

// NewCommand returns the kubelet command.
func NewCommand(ctx context.Context) *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   "kubelet",
		Short: "kubelab's kubelet: registers nodes and runs their pods",
		Long: "kubelet registers nodes with the API server, heartbeats and runs the pods bound to them.\n" +
			"With --hollow-nodes N it runs N simulated nodes in this process: their pods go through\n" +
			"their phases without containers (see the hollow.kubelab.dev/* pod annotations).",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return Run(cmd.Context(), o)
		},
	}
	o.AddFlags(cmd.Flags())
	cmd.SetContext(ctx)
	return cmd
}

// Run runs the kubelet described by o until ctx ends.
func Run(ctx context.Context, o *Options) error {
	if o.HollowNodes <= 0 {
		return errors.New("kubelet: only hollow nodes are implemented yet; pass --hollow-nodes N")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubelet: load kubeconfig: %w", err)
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
