// Package app is the kube-controller-manager command.
package app

import (
	"context"
	_ "github.com/kubelab/kubelab/components/controllermanager/all"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/components/controllermanager"
)

// NewCommand returns the kube-controller-manager command.
func NewCommand(ctx context.Context) *cobra.Command {
	o := controllermanager.DefaultOptions()
	var kubeconfig string
	var qps float32 = 100
	var burst = 200
	cmd := &cobra.Command{
		Use:          "kube-controller-manager",
		Short:        "kubelab's controllers: they keep the cluster at its desired state",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return err
			}
			cfg.QPS, cfg.Burst = qps, burst
			cfg.UserAgent = "kube-controller-manager"
			return controllermanager.Run(cmd.Context(), cfg, o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&kubeconfig, "kubeconfig", "", "Path to a kubeconfig (empty: in-cluster config).")
	fs.StringSliceVar(&o.Controllers, "controllers", o.Controllers, "Controllers to run: '*' for all, 'name' to enable, '-name' to disable. Known: "+strings.Join(controllermanager.Names(), ", "))
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Run controllers only while holding the kube-system/kube-controller-manager lease.")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", o.LeaseDuration, "Lease duration.")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", o.RenewDeadline, "Renew deadline.")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", o.RetryPeriod, "Retry period.")
	fs.DurationVar(&o.NodeMonitorGracePeriod, "node-monitor-grace-period", o.NodeMonitorGracePeriod, "How long a node may be unresponsive before it is marked unhealthy.")
	fs.DurationVar(&o.NodeMonitorPeriod, "node-monitor-period", o.NodeMonitorPeriod, "How often node health is checked.")
	fs.StringVar(&o.ClusterCIDR, "cluster-cidr", o.ClusterCIDR, "CIDR range for pods; node IPAM gives each node a podCIDR from it.")
	fs.IntVar(&o.NodeCIDRMaskSize, "node-cidr-mask-size", o.NodeCIDRMaskSize, "Prefix length of each node's podCIDR.")
	fs.IntVar(&o.TerminatedPodGCThreshold, "terminated-pod-gc-threshold", o.TerminatedPodGCThreshold, "Terminated pods kept before pod GC deletes the oldest.")
	fs.IntVar(&o.ConcurrentSyncs, "concurrent-syncs", o.ConcurrentSyncs, "Workers per controller.")
	fs.Float32Var(&qps, "kube-api-qps", qps, "QPS to use while talking with the API server.")
	fs.IntVar(&burst, "kube-api-burst", burst, "Burst to use while talking with the API server.")
	cmd.SetContext(ctx)
	return cmd
}
