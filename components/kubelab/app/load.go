package app

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kubelab/kubelab/components/kubelab/cluster"
)

// newLoadCommand returns `kubelab load`, the parent of `load docker-image`.
func newLoadCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Load images into a lab cluster's nodes",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newLoadDockerImageCommand())
	return cmd
}

func newLoadDockerImageCommand() *cobra.Command {
	var name string
	var only []string
	cmd := &cobra.Command{
		Use:   "docker-image IMAGE [IMAGE...]",
		Short: "Load local Docker images into the nodes' containerd, as kind load docker-image",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cluster.NewProvider(cmd.ErrOrStderr(), 0).LoadImages(cmd.Context(), name, args, only)
		},
	}
	cmd.Flags().StringVar(&name, "name", cluster.DefaultName, "cluster name")
	cmd.Flags().StringSliceVar(&only, "nodes", nil, "load only into these nodes (default all)")
	return cmd
}

// newExportCommand returns `kubelab export`, the parent of `export logs`.
func newExportCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export a lab cluster's logs",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newExportLogsCommand())
	return cmd
}

func newExportLogsCommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "logs [DIR]",
		Short: "Write a cluster's logs to DIR (default a new temporary directory) and print the directory",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			dir, err := cluster.NewProvider(cmd.ErrOrStderr(), 0).ExportLogs(cmd.Context(), name, dir)
			if dir != "" {
				cmd.PrintErrf("Exported logs for cluster %q to:\n", name)
				fmt.Fprintln(cmd.OutOrStdout(), dir)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&name, "name", cluster.DefaultName, "cluster name")
	return cmd
}
