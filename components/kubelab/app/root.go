// Package app holds the kubelab command line: the lab tool whose verbs
// mirror kind's.
package app

import (
	"context"
	_ "github.com/kubelab/kubelab/components/controllermanager/all"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kubelab/kubelab/components/kubelab/local"
)

// NewCommand returns the kubelab root command.
func NewCommand(ctx context.Context) *cobra.Command {
	root := &cobra.Command{
		Use:           "kubelab",
		Short:         "kubelab runs small, real Kubernetes clusters for learning and testing",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(newLocalCommand())
	root.AddCommand(newBuildCommand())
	root.AddCommand(newCreateCommand())
	root.AddCommand(newDeleteCommand())
	root.AddCommand(newGetCommand())
	root.AddCommand(newLoadCommand())
	root.AddCommand(newExportCommand())
	root.SetContext(ctx)
	return root
}

func defaultDataDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ".kubelab/local"
	}
	return filepath.Join(home, ".kubelab", "local")
}

func newLocalCommand() *cobra.Command {
	o := local.Options{}
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run a control plane in this process (etcd, API server, controllers, optional hollow nodes) until interrupted",
		Long: "local runs embedded etcd and the kubelab API server on this host. It creates a CA, serving\n" +
			"and admin certificates under --data-dir, writes a kubeconfig with context kubelab-local,\n" +
			"prints one line when ready, and shuts down cleanly on SIGINT or SIGTERM. Restarted on the\n" +
			"same --data-dir it keeps its data.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := local.Start(cmd.Context(), o)
			if err != nil {
				return err
			}
			return c.Run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.DataDir, "data-dir", defaultDataDir(), "directory for etcd data, certificates and the kubeconfig")
	cmd.Flags().StringVar(&o.Kubeconfig, "kubeconfig", "", "where to write the kubeconfig (default <data-dir>/kubeconfig)")
	cmd.Flags().StringVar(&o.Address, "address", "127.0.0.1", "address the API server listens on")
	cmd.Flags().IntVar(&o.Port, "port", 6443, "port the API server listens on (0 picks a free port)")
	cmd.Flags().IntVar(&o.HollowNodes, "hollow-nodes", 0, "run this many simulated nodes (hollow kubelets) in the process")
	cmd.Flags().StringSliceVar(&o.Controllers, "controllers", nil, "controllers to run ('*' for all, '-name' to disable one; default all)")
	return cmd
}
