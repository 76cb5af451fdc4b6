package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/components/proxy"
	"github.com/kubelab/kubelab/components/proxy/podroutes"
)

// NewCommand returns the kube-proxy command.
func NewCommand(ctx context.Context) *cobra.Command {
	o := NewOptions()
	cmd := &cobra.Command{
		Use:   "kube-proxy",
		Short: "kubelab's service proxy: programs Services into the node's nftables",
		Long: "kube-proxy watches Services and EndpointSlices and keeps a \"kube-proxy\" nftables table\n" +
			"(per IP family) that DNATs traffic to clusterIPs, externalIPs and node ports to a ready\n" +
			"endpoint, rejects ports without endpoints and masquerades what must come back through\n" +
			"this node. It talks netlink directly: no nft or iptables binary is needed.",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			if o.Cleanup {
				if err := proxy.Cleanup(o.NetworkNamespace); err != nil {
					return err
				}
				slog.Info("removed kube-proxy rules")
				return nil
			}
			return Run(cmd.Context(), o)
		},
	}
	o.AddFlags(cmd.Flags())
	cmd.SetContext(ctx)
	return cmd
}

// Runnable is a part of the kube-proxy process that works until ctx ends.
type Runnable interface {
	Run(ctx context.Context) error
}

// RunnableFunc adapts a function to Runnable.
type RunnableFunc func(ctx context.Context) error

// Run implements Runnable.
func (f RunnableFunc) Run(ctx context.Context) error { return f(ctx) }

// Run runs kube-proxy until ctx ends: the proxier, the healthz and metrics
// servers, and whatever else runnables adds.
func Run(ctx context.Context, o *Options) error {
	nodeName, err := o.NodeName()
	if err != nil {
		return err
	}
	cfg, err := o.RESTConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p, err := proxy.New(client, o.ProxyOptions(nodeName, reg))
	if err != nil {
		return err
	}
	parts, err := o.runnables(client, nodeName, p, reg)
	if err != nil {
		return err
	}
	slog.Info("kube-proxy starting", "node", nodeName, "healthz", o.HealthzBindAddress, "metrics", o.MetricsBindAddress)
	return RunAll(ctx, parts...)
}

// runnables lists the parts of the process: the proxier, the pod-route
// controller (--sync-pod-routes) and the servers; RunAll stops them all
// when one fails.
func (o *Options) runnables(client kubernetes.Interface, nodeName string, p *proxy.Proxier, reg *prometheus.Registry) ([]Runnable, error) {
	parts := []Runnable{p}
	if o.SyncPodRoutes {
		var ro podroutes.Options
		if o.NetworkNamespace != "" {
			ns, err := netns.GetFromPath(o.NetworkNamespace)
			if err != nil {
				return nil, fmt.Errorf("--network-namespace: %w", err)
			}
			h, err := netlink.NewHandleAt(ns)
			ns.Close()
			if err != nil {
				return nil, fmt.Errorf("--network-namespace: %w", err)
			}
			ro.Handle = h
		}
		parts = append(parts, podroutes.New(client, nodeName, ro))
	}
	if o.HealthzBindAddress != "" {
		ln, err := net.Listen("tcp", o.HealthzBindAddress)
		if err != nil {
			return nil, fmt.Errorf("--healthz-bind-address: %w", err)
		}
		parts = append(parts, &server{name: "healthz", ln: ln, handler: healthMux(p.LastSync, p.SyncPeriod(), nil)})
	}
	if o.MetricsBindAddress != "" {
		ln, err := net.Listen("tcp", o.MetricsBindAddress)
		if err != nil {
			closeListeners(parts)
			return nil, fmt.Errorf("--metrics-bind-address: %w", err)
		}
		parts = append(parts, &server{name: "metrics", ln: ln, handler: metricsMux(reg)})
	}
	return parts, nil
}

func closeListeners(parts []Runnable) {
	for _, r := range parts {
		if s, ok := r.(*server); ok {
			s.ln.Close()
		}
	}
}

// RunAll runs the parts together until ctx ends or one fails; a failure
// stops the others and is returned.
func RunAll(ctx context.Context, parts ...Runnable) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, r := range parts {
		g.Go(func() error { return r.Run(ctx) })
	}
	return g.Wait()
}
