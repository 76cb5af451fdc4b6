package app

import (
	"github.com/spf13/cobra"

	"github.com/kubelab/kubelab/components/kubelab/cluster"
)

// newCreateCommand returns `kubelab create`, the parent of `create cluster`.
func newCreateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a lab cluster",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newCreateClusterCommand())
	return cmd
}

func newCreateClusterCommand() *cobra.Command {
	o := cluster.CreateOptions{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Create a cluster whose nodes are Docker containers, from a kind config file",
		Long: "cluster creates a lab cluster as kind does, from a kind config file (kind.x-k8s.io/v1alpha4;\n" +
			"kindconfig/ holds examples): node containers of kubelab's node image, a PKI, static pods of\n" +
			"kubelab's etcd, kube-apiserver, kube-scheduler and kube-controller-manager images on the\n" +
			"control plane, kubelets on every node. It waits until every node is Ready (--wait) and makes\n" +
			"context kubelab-<name> current in $KUBECONFIG or ~/.kube/config. Where Docker cannot grant\n" +
			"--privileged, kubelab runs the node containers itself with an equivalent capability set;\n" +
			"kind still lists, deletes and exports them. A failed create removes its nodes unless --retain.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := cluster.NewProvider(cmd.ErrOrStderr(), 0)
			return p.Create(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Name, "name", "", "cluster name, overrides the config's (default kubelab)")
	fs.StringVar(&o.ConfigPath, "config", "", "kind config file (kind.x-k8s.io/v1alpha4); '-' reads standard input (default one control-plane node)")
	fs.StringVar(&o.NodeImage, "image", "", "node image of every node (default the newest local kubelab/node build)")
	fs.DurationVar(&o.Wait, "wait", cluster.DefaultWait, "how long to wait for every node to be Ready (0 does not wait)")
	fs.BoolVar(&o.Retain, "retain", false, "keep the nodes when create fails, for debugging")
	fs.StringVar(&o.KubeconfigPath, "kubeconfig", "", "kubeconfig to merge the cluster into (default $KUBECONFIG or ~/.kube/config)")
	return cmd
}

// newDeleteCommand returns `kubelab delete`, the parent of `delete cluster`.
func newDeleteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete a lab cluster",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newDeleteClusterCommand())
	return cmd
}

func newDeleteClusterCommand() *cobra.Command {
	var name, kubeconfigPath string
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Delete a cluster's node containers and its kubeconfig context",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.ErrOrStderr()
			cmd.PrintErrf("Deleting cluster %q ...\n", name)
			return cluster.NewProvider(out, 0).Delete(cmd.Context(), name, kubeconfigPath)
		},
	}
	cmd.Flags().StringVar(&name, "name", cluster.DefaultName, "cluster name")
	cmd.Flags().StringVar(&kubeconfigPath, "kubeconfig", "", "kubeconfig to remove the cluster's context from (default $KUBECONFIG or ~/.kube/config)")
	return cmd
}
