// Package local runs a whole kubelab control plane in one process on the
// host: embedded etcd and the API server (the scheduler, controllers and
// hollow nodes join it as they are built), with certificates and a
// kubeconfig in a data directory.
package local

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/components/apiserver/app"
	"github.com/kubelab/kubelab/components/controllermanager"
	"github.com/kubelab/kubelab/components/internal/kubeconfig"
	"github.com/kubelab/kubelab/components/internal/pki"
	"github.com/kubelab/kubelab/components/kubelet/hollow"
	"github.com/kubelab/kubelab/components/scheduler"
)

// ContextName is the kubeconfig context `kubelab local` writes.
const ContextName = "kubelab-local"

// Options configure a local control plane.
type Options struct {
	// DataDir holds etcd data, certificates and the kubeconfig.
	DataDir string
	// Kubeconfig is where to write the kubeconfig (default DataDir/kubeconfig).
	Kubeconfig string
	// Address and Port the API server listens on (Port 0 picks a free one).
	Address string
	Port    int
	// UnsafeNoFsync trades etcd durability for speed (tests only).
	UnsafeNoFsync bool
	// Controllers selects the controllers to run (nil: all; empty slice: none).
	Controllers []string
	// NoScheduler leaves the kube-scheduler out.
	NoScheduler bool
	// HollowNodes is how many simulated nodes to run (kubelet hollow mode).
	HollowNodes int
	// ClusterCIDR is the pod network (default 10.244.0.0/16, or 10.128.0.0/9
	// with more than 256 hollow nodes).
	ClusterCIDR string
	// MaxRequestsInFlight and MaxMutatingRequestsInFlight override the API
	// server's in-flight limits when positive.
	MaxRequestsInFlight, MaxMutatingRequestsInFlight int
	// Out receives the ready line.
	Out io.Writer
	// ControllerManager, when set, adjusts the controller-manager's options
	// after the defaults (tests shorten --node-monitor-grace-period).
	ControllerManager func(*controllermanager.Options)
	// Hollow, when set, adjusts the hollow nodes' options (tests shorten
	// their heartbeat intervals).
	Hollow func(*hollow.Options)
}

// Cluster is a running local control plane.
type Cluster struct {
	opts       Options
	APIServer  *app.APIServer
	Kubeconfig string
	// Server is the API server URL.
	Server string
	// Hollow are the hollow nodes Run runs (nil without Options.HollowNodes),
	// for callers that silence and resume nodes.
	Hollow *hollow.Nodes

	// cm lets the controller-manager be stopped and started on its own.
	cm restartable
}

// Start prepares the control plane: certificates, etcd and a bound API
// server listener. Run serves it.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.DataDir == "" {
		return nil, fmt.Errorf("a data directory is required")
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if o.Address == "" {
		o.Address = "127.0.0.1"
	}
	if o.Kubeconfig == "" {
		o.Kubeconfig = filepath.Join(o.DataDir, "kubeconfig")
	}
	pkiDir := filepath.Join(o.DataDir, "pki")
	ca, err := pki.LoadOrCreateCA(pkiDir, "kubelab-ca")
	if err != nil {
		return nil, err
	}
	adminCert, adminKey, err := ca.LoadOrIssueClient(pkiDir, "admin", "kubernetes-admin", []string{"system:masters"})
	if err != nil {
		return nil, err
	}
	opts := app.NewOptions()
	opts.BindAddress = o.Address
	opts.SecurePort = o.Port
	opts.AdvertiseAddress = o.Address
	opts.DataDir = o.DataDir
	opts.EtcdUnsafeNoFsync = o.UnsafeNoFsync
	if o.MaxRequestsInFlight > 0 {
		opts.MaxRequestsInFlight = o.MaxRequestsInFlight
	}
	if o.MaxMutatingRequestsInFlight > 0 {
		opts.MaxMutatingRequestsInFlight = o.MaxMutatingRequestsInFlight
	}
	api, err := app.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	port := api.Addr().(*net.TCPAddr).Port
	server := "https://" + net.JoinHostPort(o.Address, strconv.Itoa(port))
	certPEM, err := os.ReadFile(adminCert)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(adminKey)
	if err != nil {
		return nil, err
	}
	if err := kubeconfig.Write(o.Kubeconfig, kubeconfig.Cluster{
		Context: ContextName, Server: server, CAData: ca.CertPEM, ClientCertData: certPEM, ClientKeyData: keyPEM,
	}); err != nil {
		return nil, err
	}
	c := &Cluster{opts: o, APIServer: api, Kubeconfig: o.Kubeconfig, Server: server}
	if o.HollowNodes > 0 {
		cfg, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("load kubeconfig: %w", err)
		}
		ho := hollow.Options{Count: o.HollowNodes}
		if o.Hollow != nil {
			o.Hollow(&ho)
		}
		if c.Hollow, err = hollow.New(cfg, ho); err != nil {
			return nil, fmt.Errorf("hollow nodes: %w", err)
		}
	}
	return c, nil
}

// Run serves until ctx is done: the API server, then the components that
// talk to it. It prints the ready line to out once all are running.
func (c *Cluster) Run(ctx context.Context, out io.Writer) error {
	apiCtx, stopAPI := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAPI()
	errc := make(chan error, 1)
	go func() { errc <- c.APIServer.Run(apiCtx) }()
	select {
	case <-c.APIServer.Ready():
	case err := <-errc:
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 5000, 10000
	var wg sync.WaitGroup
	compErr := make(chan error, 4)
	run := func(name string, f func(context.Context, *rest.Config) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := rest.CopyConfig(cfg)
			cfg.UserAgent = name
			if err := f(ctx, cfg); err != nil && ctx.Err() == nil {
				compErr <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	if c.opts.Controllers == nil || len(c.opts.Controllers) > 0 {
		run("kube-controller-manager", func(ctx context.Context, cfg *rest.Config) error {
			o := controllermanager.DefaultOptions()
			if c.opts.Controllers != nil {
				o.Controllers = c.opts.Controllers
			}
			if c.opts.ClusterCIDR != "" {
				o.ClusterCIDR = c.opts.ClusterCIDR
			} else if c.opts.HollowNodes > 256 {
				// One /24 per node: a /16 holds only 256 of them.
				o.ClusterCIDR = "10.128.0.0/9"
			}
			if c.opts.ControllerManager != nil {
				c.opts.ControllerManager(&o)
			}
			return c.cm.run(ctx, func(ctx context.Context) error { return controllermanager.Run(ctx, cfg, o) })
		})
	}
	if !c.opts.NoScheduler {
		run("kube-scheduler", func(ctx context.Context, cfg *rest.Config) error {
			s, err := scheduler.New(cfg, scheduler.Options{LeaderElection: &scheduler.LeaderElection{}})
			if err != nil {
				return err
			}
			return s.Run(ctx)
		})
	}
	if nodes := c.Hollow; nodes != nil {
		run("kubelet-hollow", func(ctx context.Context, _ *rest.Config) error { return nodes.Run(ctx) })
		select {
		case <-nodes.Ready():
		case <-ctx.Done():
		case err := <-compErr:
			return err
		}
	}
	if out != nil {
		fmt.Fprintf(out, "kubelab local is ready at %s; kubeconfig: %s (export KUBECONFIG=%s)\n", c.Server, c.Kubeconfig, c.Kubeconfig)
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-compErr:
		slog.Error("component failed; shutting down", "err", first)
	case first = <-errc:
		wg.Wait()
		return first
	}
	// Components stop first (leases are released), then the API server.
	wg.Wait()
	stopAPI()
	if err := <-errc; err != nil && first == nil {
		first = err
	}
	return first
}
