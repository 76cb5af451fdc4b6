// Command scheduler benchmarks scheduling at scale: it starts the control
// plane in this process (embedded etcd with fsync, the API server, the
// node IPAM controller and the kube-scheduler, the same library code as the
// binaries), 5,000 hollow nodes in a child process (so that the control
// plane's memory is measured alone), creates 10,000 pods through the API
// server and prints how fast they were bound and became Running.
//
//	go run ./hack/bench/scheduler [-nodes 5000] [-pods 10000] [-creators 64]
package main

import (
	"context"
	"flag"
	"fmt"
	_ "github.com/kubelab/kubelab/components/controllermanager/all"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/kubelab/kubelab/components/kubelet/hollow"
	"k8s.io/client-go/tools/clientcmd"
)

// config holds the flags.
type config struct {
	nodes, pods, creators  int
	hollowChild            bool
	kubeconfig             string
	dataDir                string
	cpuProfile, memProfile string
}

func main() {
	var c config
	flag.IntVar(&c.nodes, "nodes", 5000, "hollow nodes")
	flag.IntVar(&c.pods, "pods", 10000, "pods to create")
	flag.IntVar(&c.creators, "creators", 64, "concurrent pod creators")
	flag.BoolVar(&c.hollowChild, "hollow-child", false, "internal: run the hollow nodes against -kubeconfig")
	flag.StringVar(&c.kubeconfig, "kubeconfig", "", "internal: kubeconfig of the child")
	flag.StringVar(&c.dataDir, "data-dir", "", "control plane data directory (default: temporary)")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the control plane, from the first create to all pods Running, to this file")
	flag.StringVar(&c.memProfile, "memprofile", "", "write a heap profile of the control plane at the end to this file")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if c.hollowChild {
		err = runHollow(ctx, c)
	} else {
		err = run(ctx, c, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-scheduler:", err)
		stop()
		os.Exit(1)
	}
}

// runHollow is the child process: hollow nodes until killed.
func runHollow(ctx context.Context, c config) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return err
	}
	nodes, err := hollow.New(cfg, hollow.Options{Count: c.nodes})
	if err != nil {
		return err
	}
	return nodes.Run(ctx)
}

// startHollow re-executes this program as the hollow-node child.
func startHollow(ctx context.Context, c config, kubeconfig string, stderr io.Writer) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "-hollow-child", "-kubeconfig", kubeconfig, "-nodes", fmt.Sprint(c.nodes))
	cmd.Stderr = stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start hollow nodes: %w", err)
	}
	return cmd, nil
}
