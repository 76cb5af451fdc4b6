package app

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/kubelab/kubelab/components/scheduler"
)

// NewCommand returns the kube-scheduler command.
func NewCommand(ctx context.Context) *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   "kube-scheduler",
		Short: "kubelab's Kubernetes scheduler: assigns pending pods to nodes",
		Long: "kube-scheduler watches pods without a node, picks the best node that fits each\n" +
			"(resources, node selector and affinity, taints, host ports, pod anti-affinity)\n" +
			"and binds the pod to it. With --leader-elect only the holder of the Lease schedules.",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			cfg, err := o.RESTConfig()
			if err != nil {
				return err
			}
			s, err := scheduler.New(cfg, o.SchedulerOptions())
			if err != nil {
				return err
			}
			return s.Run(cmd.Context())
		},
	}
	o.AddFlags(cmd.Flags())
	cmd.SetContext(ctx)
	return cmd
}
