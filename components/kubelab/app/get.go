package app

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kubelab/kubelab/components/kubelab/cluster"
)

// newGetCommand returns `kubelab get`: clusters, nodes and kubeconfig.
func newGetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Get lab clusters, their nodes or kubeconfig",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newGetClustersCommand(), newGetNodesCommand(), newGetKubeconfigCommand())
	return cmd
}

func newGetClustersCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "clusters",
		Short: "List the clusters that have node containers (kubelab's and kind's)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			names, err := cluster.NewProvider(cmd.ErrOrStderr(), 0).List(cmd.Context())
			if err != nil {
				return err
			}
			if len(names) == 0 {
				cmd.PrintErrln("No clusters found.")
			}
			for _, n := range names {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		},
	}
}

func newGetNodesCommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List a cluster's node containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			names, err := cluster.NewProvider(cmd.ErrOrStderr(), 0).ListNodes(cmd.Context(), name)
			if err != nil {
				return err
			}
			if len(names) == 0 {
				cmd.PrintErrf("No nodes found for cluster %q.\n", name)
			}
			for _, n := range names {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", cluster.DefaultName, "cluster name")
	return cmd
}

func newGetKubeconfigCommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print a cluster's kubeconfig (context kubelab-<name>) for use from this host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := cluster.NewProvider(cmd.ErrOrStderr(), 0).Kubeconfig(cmd.Context(), name)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(data)
			return err
		},
	}
	cmd.Flags().StringVar(&name, "name", cluster.DefaultName, "cluster name")
	return cmd
}
