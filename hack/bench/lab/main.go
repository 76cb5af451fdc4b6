// Command lab benchmarks a kubelab lab cluster the way users meet it: it
// brings kubelab's images up to date (only what changed is rebuilt) and
// prints their sizes, creates the default cluster (kindconfig/default.yaml:
// one control-plane node and two workers) through the same library as
// `kubelab create cluster`, timing it until every node is Ready, then
// measures pod startup latency (create -> Running seen by a watch) for a
// burst of test pods, prints a markdown table next to kind's and upstream's
// numbers and the targets, and deletes the cluster.
//
// The cluster's kubeconfig goes to a temporary file, so the user's
// kubeconfig and current context are left alone.
//
//	go run ./hack/bench/lab [-name bench-lab] [-config kindconfig/default.yaml] [-pods 30] [-keep]
//	go run ./hack/bench/lab -context kubelab-dev   # pod startup only, on an existing cluster
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	apiserverapp "github.com/kubelab/kubelab/components/apiserver/app"
	"github.com/kubelab/kubelab/components/kubelab/cluster"
	"github.com/kubelab/kubelab/components/kubelab/images"
)

// config holds the command-line flags.
type config struct {
	name       string
	configPath string
	pods       int
	serialPods int
	pacedPods  int
	pacedQPS   float64
	keep       bool
	context    string
}

func main() {
	var c config
	flag.StringVar(&c.name, "name", "bench-lab", "name of the cluster to create (it must not exist)")
	flag.StringVar(&c.configPath, "config", "kindconfig/default.yaml", "kind config file of the cluster")
	flag.IntVar(&c.pods, "pods", 30, "test pods created at once for the pod startup latency")
	flag.IntVar(&c.serialPods, "serial-pods", 10, "test pods then created one at a time, each once the one before runs (0: none)")
	flag.IntVar(&c.pacedPods, "paced-pods", 30, "test pods then created at -paced-qps without waiting, as density tests pace them (0: none)")
	flag.Float64Var(&c.pacedQPS, "paced-qps", 5, "pods per second for -paced-pods")
	flag.BoolVar(&c.keep, "keep", false, "keep the cluster afterwards (delete it with `kubelab delete cluster --name NAME`)")
	flag.StringVar(&c.context, "context", "", "only measure pod startup on the existing cluster of this kubeconfig context (no build, create or delete)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, c, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-lab:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, out, progress io.Writer) (err error) {
	if c.pods < 1 || c.serialPods < 0 || c.pacedPods < 0 || (c.pacedPods > 0 && c.pacedQPS <= 0) {
		return errors.New("want -pods >= 1, -serial-pods >= 0, -paced-pods >= 0 and -paced-qps > 0")
	}
	m := describeMachine(ctx)
	if c.context != "" {
		return startupOnly(ctx, c, m, out)
	}
	sizes, err := imageSizes(ctx, progress)
	if err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "kubelab-bench-lab-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	p := cluster.NewProvider(progress, 0)
	// A failed create deletes its nodes itself; a created cluster is deleted
	// here, whatever happens next, unless -keep.
	start := time.Now()
	err = p.Create(ctx, cluster.CreateOptions{
		Name: c.name, ConfigPath: c.configPath, Wait: cluster.DefaultWait, KubeconfigPath: kubeconfig,
	})
	createTime := time.Since(start)
	if err != nil {
		return fmt.Errorf("create cluster: %w", err)
	}
	defer func() {
		if c.keep {
			fmt.Fprintf(progress, "keeping cluster %q (kubelab delete cluster --name %s)\n", c.name, c.name)
			return
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if derr := p.Delete(dctx, c.name, kubeconfig); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	rc.QPS, rc.Burst = -1, 0
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	nodes, err := readyNodes(ctx, client)
	if err != nil {
		return err
	}
	fmt.Fprintf(progress, "cluster %q: %d nodes Ready %s after create started\n", c.name, nodes, createTime.Round(100*time.Millisecond))

	burst, serial, paced, err := measureStartup(ctx, client, c)
	if err != nil {
		return err
	}
	report(out, m, c, nodes, createTime, burst, serial, paced, sizes)
	return nil
}

// imageSizes builds the images whose inputs changed, as `make images`
// does, and returns every image's size, compressed size included.
func imageSizes(ctx context.Context, progress io.Writer) ([]images.Result, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	root, err := images.FindRoot(wd)
	if err != nil {
		return nil, err
	}
	sel, err := images.Select(root, images.Catalog(), nil)
	if err != nil {
		return nil, err
	}
	for _, n := range sel.Notes {
		fmt.Fprintf(progress, " • Note: %s\n", n)
	}
	opts := images.Options{Root: root, Compressed: true, Log: progress, KubernetesVersion: apiserverapp.GitVersion}
	return images.Build(ctx, opts, sel.Specs)
}

// startupOnly measures pod startup on the cluster of kubeconfig context
// c.context.
func startupOnly(ctx context.Context, c config, m machine, out io.Writer) error {
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(),
		&clientcmd.ConfigOverrides{CurrentContext: c.context}).ClientConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig context %s: %w", c.context, err)
	}
	rc.QPS, rc.Burst = -1, 0
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	nodes, err := readyNodes(ctx, client)
	if err != nil {
		return err
	}
	burst, serial, paced, err := measureStartup(ctx, client, c)
	if err != nil {
		return err
	}
	c.configPath = "context " + c.context
	report(out, m, c, nodes, 0, burst, serial, paced, nil)
	return nil
}

// measureStartup measures the burst of c.pods, then c.serialPods one at
// a time, then c.pacedPods at c.pacedQPS.
func measureStartup(ctx context.Context, client kubernetes.Interface, c config) (burst, serial, paced startup, err error) {
	image := images.Ref("testapp", images.DevTag)
	if burst, err = podStartup(ctx, client, c.pods, image, pace{}); err != nil {
		return burst, serial, paced, fmt.Errorf("pod startup, %d at once: %w", c.pods, err)
	}
	if c.serialPods > 0 {
		if serial, err = podStartup(ctx, client, c.serialPods, image, pace{serial: true}); err != nil {
			return burst, serial, paced, fmt.Errorf("pod startup, one at a time: %w", err)
		}
	}
	if c.pacedPods > 0 {
		every := time.Duration(float64(time.Second) / c.pacedQPS)
		if paced, err = podStartup(ctx, client, c.pacedPods, image, pace{every: every}); err != nil {
			return burst, serial, paced, fmt.Errorf("pod startup, %g/s: %w", c.pacedQPS, err)
		}
	}
	return burst, serial, paced, nil
}
