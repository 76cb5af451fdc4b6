// Command api benchmarks the kubelab API server the way users meet it: it
// starts the in-process control plane (components/kubelab/local: embedded
// etcd with fsync on, the API server over HTTPS on a free port) and drives
// it with client-go, then prints a markdown table of throughput and
// latency next to upstream's numbers and the targets.
//
// Every client is its own client-go clientset with QPS unlimited and, unless
// -shared-transport is given, its own transport (one TLS connection each), as
// independent components would be. The benchmark runs in the same process
// as the server, so client CPU (encoding, decoding, TLS) competes with the
// server for the same cores; the numbers are for the whole loop.
//
//	go run ./hack/bench/api [-clients 32] [-duration 5s] [-objects 500] [-cpuprofile cpu.out]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/components/kubelab/local"
)

// config holds the command-line flags.
type config struct {
	clients         int
	duration        time.Duration
	objects         int
	watchers        int
	watchWrites     int
	watchRate       float64
	valueSize       int
	protobuf        bool
	sharedTransport bool
	components      bool
	phases          string
	cpuProfile      string
	dataDir         string
}

// allPhases lists the phases in the order they run.
var allPhases = []string{"etcd", "create", "get", "list", "update", "watch"}

func main() {
	var c config
	flag.IntVar(&c.clients, "clients", 32, "concurrent clients of each throughput phase")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "duration of each throughput phase")
	flag.IntVar(&c.objects, "objects", 500, "pods in the namespace that gets, lists and updates use")
	flag.IntVar(&c.watchers, "watchers", 100, "concurrent pod watchers of the watch phase")
	flag.IntVar(&c.watchWrites, "watch-writes", 500, "pod creates whose events the watchers receive")
	flag.Float64Var(&c.watchRate, "watch-rate", 100, "pace of the watch phase's writes per second (0: as fast as -clients writers go)")
	flag.IntVar(&c.valueSize, "etcd-value-size", 1024, "bytes per value of the raw etcd put phase")
	flag.BoolVar(&c.protobuf, "protobuf", false, "clients also send protobuf bodies (client-go's default: JSON bodies, protobuf responses)")
	flag.BoolVar(&c.sharedTransport, "shared-transport", false, "all clients share one transport (one HTTP/2 connection) instead of one each")
	flag.BoolVar(&c.components, "components", false, "also run the controller-manager and scheduler, as `kubelab local` does (default: the API server and etcd alone)")
	flag.StringVar(&c.phases, "phases", strings.Join(allPhases, ","), "comma-separated phases to run")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phases to this file")
	flag.StringVar(&c.dataDir, "data-dir", "", "control plane data directory (default: a temporary one, removed afterwards)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, c, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-api:", err)
		os.Exit(1)
	}
}

func (c config) validate() error {
	if c.clients < 1 || c.objects < c.clients || c.watchers < 1 || c.watchWrites < 1 || c.duration <= 0 {
		return errors.New("want -clients >= 1, -objects >= -clients, -watchers >= 1, -watch-writes >= 1 and -duration > 0")
	}
	for _, p := range strings.Split(c.phases, ",") {
		if !slices.Contains(allPhases, p) {
			return fmt.Errorf("unknown phase %q (have %s)", p, strings.Join(allPhases, ","))
		}
	}
	return nil
}

func run(ctx context.Context, c config, out, progress io.Writer) error {
	if err := c.validate(); err != nil {
		return err
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(progress, &slog.HandlerOptions{Level: slog.LevelWarn})))
	dir := c.dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "kubelab-bench-api-")
		if err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	load0 := loadAverage()
	started := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := local.Options{DataDir: dir, Port: 0, Controllers: []string{}, NoScheduler: true}
	if c.components {
		opts.Controllers, opts.NoScheduler = nil, false
	}
	cl, err := local.Start(ctx, opts)
	if err != nil {
		return fmt.Errorf("start control plane: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cl.Run(ctx, nil) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			fmt.Fprintln(progress, "control plane did not stop within 30s")
		}
	}()
	select {
	case <-cl.APIServer.Ready():
	case err := <-done:
		return fmt.Errorf("control plane stopped: %w", err)
	case <-time.After(60 * time.Second):
		return errors.New("control plane not ready within 60s")
	}
	fmt.Fprintf(progress, "control plane ready at %s in %s (fsync on, controllers and scheduler %t, data in %s)\n",
		cl.Server, time.Since(started).Round(time.Millisecond), c.components, dir)

	base, err := clientcmd.BuildConfigFromFlags("", cl.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	base.QPS, base.Burst = -1, 0 // no client-side rate limiter
	if c.protobuf {
		base.ContentType = "application/vnd.kubernetes.protobuf"
		base.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	}
	b := &bench{cfg: c, etcd: cl.APIServer.EtcdClient(), progress: progress}
	if b.clients, err = newClients(base, c.clients, c.sharedTransport); err != nil {
		return err
	}
	if err := b.setup(ctx); err != nil {
		return err
	}

	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return fmt.Errorf("create CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	for _, p := range strings.Split(c.phases, ",") {
		if err := b.runPhase(ctx, p, base); err != nil {
			return fmt.Errorf("phase %s: %w", p, err)
		}
	}
	if c.cpuProfile != "" {
		pprof.StopCPUProfile()
		fmt.Fprintf(progress, "CPU profile written to %s (go tool pprof -top %s)\n", c.cpuProfile, c.cpuProfile)
	}
	b.report(out, machine{load0: load0, load1: loadAverage()})
	return nil
}

// newClients returns n clientsets over cfg: each with its own transport
// (a distinct dialer keeps client-go from sharing its cached one), or all
// over one when shared.
func newClients(cfg *rest.Config, n int, shared bool) ([]*kubernetes.Clientset, error) {
	var sharedCS *kubernetes.Clientset
	clients := make([]*kubernetes.Clientset, n)
	for i := range clients {
		if shared && sharedCS != nil {
			clients[i] = sharedCS
			continue
		}
		c := rest.CopyConfig(cfg)
		if !shared {
			c.Dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		}
		cs, err := kubernetes.NewForConfig(c)
		if err != nil {
			return nil, fmt.Errorf("client %d: %w", i, err)
		}
		clients[i], sharedCS = cs, cs
	}
	return clients, nil
}
