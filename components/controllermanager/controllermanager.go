// Package controllermanager runs kubelab's controllers: it builds the
// selected ones from a shared context, starts the shared informers, and runs
// them while it holds the leader lease.
package controllermanager

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"

	"github.com/kubelab/kubelab/components/controllers"
)

// Options configure the controller-manager.
type Options struct {
	// Controllers names the controllers to run: "*" for all, "-name" to
	// exclude one, as upstream's --controllers.
	Controllers []string
	// LeaderElect runs controllers only while holding the
	// kube-system/kube-controller-manager lease.
	LeaderElect   bool
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
	// Identity names this instance in the lease (default hostname + random).
	Identity string
	// Controller tuning.
	controllers.Options
	// Init, when set, replaces the constructors of the controllers it
	// names, for tuning beyond the shared options (tests build pod GC with
	// a short quarantine).
	Init map[string]controllers.InitFunc
}

// DefaultOptions returns upstream's defaults.
func DefaultOptions() Options {
	return Options{
		Controllers: []string{"*"}, LeaderElect: true,
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		Options: controllers.DefaultOptions(),
	}
}

// Names returns the known controller names, sorted.
func Names() []string {
	var names []string
	tableMu.RLock()
	defer tableMu.RUnlock()
	for n := range table {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// selected resolves the --controllers list.
func selected(list []string) ([]string, error) {
	all := Names()
	var out []string
	star := slices.Contains(list, "*")
	for _, item := range list {
		name := strings.TrimPrefix(item, "-")
		if item != "*" && !slices.Contains(all, name) {
			return nil, fmt.Errorf("unknown controller %q (known: %s)", name, strings.Join(all, ", "))
		}
	}
	for _, n := range all {
		if slices.Contains(list, "-"+n) {
			continue
		}
		if star || slices.Contains(list, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// Run runs the controller-manager until ctx is done.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	names, err := selected(o.Controllers)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if !o.LeaderElect {
		return runControllers(ctx, cfg, client, names, o)
	}
	id := o.Identity
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s_%d", host, time.Now().UnixNano())
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-controller-manager"},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	var runErr error
	var wg sync.WaitGroup
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock: lock, ReleaseOnCancel: true, Name: "kube-controller-manager",
		LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RetryPeriod: o.RetryPeriod,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) {
				wg.Add(1)
				defer wg.Done()
				slog.Info("became leader", "identity", id)
				runErr = runControllers(lctx, cfg, client, names, o)
			},
			OnStoppedLeading: func() { slog.Info("stopped leading", "identity", id) },
		},
	})
	wg.Wait()
	return runErr
}

func runControllers(ctx context.Context, cfg *rest.Config, client kubernetes.Interface, names []string, o Options) error {
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("metadata client: %w", err)
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	c := &controllers.Context{
		Config: cfg, Client: client,
		Informers:         informers.NewSharedInformerFactory(client, 0),
		Metadata:          meta,
		MetadataInformers: metadatainformer.NewSharedInformerFactory(meta, 0),
		Recorder: func(component string) record.EventRecorder {
			return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
		},
		Options: o.Options,
	}
	workers := o.ConcurrentSyncs
	if workers <= 0 {
		workers = 5
	}
	var running []controllers.Controller
	for _, n := range names {
		init := lookup(n)
		if f := o.Init[n]; f != nil {
			init = f
		}
		ctl, err := init(ctx, c)
		if err != nil {
			return fmt.Errorf("start controller %s: %w", n, err)
		}
		running = append(running, ctl)
	}
	c.Informers.Start(ctx.Done())
	c.MetadataInformers.Start(ctx.Done())
	var wg sync.WaitGroup
	for i, ctl := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctl.Run(ctx, workers)
		}()
		slog.Info("started controller", "name", names[i])
	}
	wg.Wait()
	c.Informers.Shutdown()
	c.MetadataInformers.Shutdown()
	return nil
}
