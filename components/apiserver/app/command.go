package app

import (
	"context"

	"github.com/spf13/cobra"
)

// NewCommand returns the kube-apiserver command.
func NewCommand(ctx context.Context) *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   "kube-apiserver",
		Short: "kubelab's Kubernetes API server: the REST API over etcd",
		Long: "kube-apiserver serves the Kubernetes API over HTTPS and keeps every object in etcd\n" +
			"(external with --etcd-servers, or embedded in --data-dir).",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := New(cmd.Context(), o)
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
