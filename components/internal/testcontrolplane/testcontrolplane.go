// Package testcontrolplane starts a real in-process control plane (embedded
// etcd and the kubelab API server) for integration tests, the same code
// `kubelab local` runs.
package testcontrolplane

import (
	"context"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/components/kubelab/local"
)

// ControlPlane is a running test control plane.
type ControlPlane struct {
	t       testing.TB
	DataDir string
	// Kubeconfig is the path of an admin kubeconfig.
	Kubeconfig string
	// Config is an admin client config; Client a clientset over it.
	Config *rest.Config
	Client kubernetes.Interface
	// Cluster is the running local control plane: its hollow nodes and
	// its controller-manager's stop and start (replaced by Restart).
	Cluster *local.Cluster

	configure func(*local.Options)
	cancel    context.CancelFunc
	done      chan error
}

// Start starts a control plane on a free port with data in a temporary
// directory and stops it when the test ends.
func Start(t testing.TB) *ControlPlane {
	t.Helper()
	return StartWith(t, nil)
}

// StartWith is Start with the local options adjusted by configure (for
// example a tiny in-flight limit); it is applied on every (re)start.
func StartWith(t testing.TB, configure func(*local.Options)) *ControlPlane {
	t.Helper()
	cp := &ControlPlane{t: t, DataDir: t.TempDir(), configure: configure}
	cp.start()
	t.Cleanup(cp.Stop)
	return cp
}

func (cp *ControlPlane) start() {
	t := cp.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts := local.Options{DataDir: cp.DataDir, Port: 0, UnsafeNoFsync: os.Getenv("KUBELAB_TEST_FSYNC") == ""}
	if cp.configure != nil {
		cp.configure(&opts)
	}
	c, err := local.Start(ctx, opts)
	if err != nil {
		cancel()
		t.Fatalf("start control plane: %v", err)
	}
	cp.cancel = cancel
	cp.done = make(chan error, 1)
	go func() { cp.done <- c.Run(ctx, nil) }()
	select {
	case <-c.APIServer.Ready():
	case err := <-cp.done:
		t.Fatalf("control plane stopped: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("control plane not ready within 60s")
	}
	cp.Kubeconfig = c.Kubeconfig
	cp.Cluster = c
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	cp.Config = cfg
	cp.Client = kubernetes.NewForConfigOrDie(cfg)
}

// Stop shuts the control plane down and waits for it.
func (cp *ControlPlane) Stop() {
	if cp.cancel == nil {
		return
	}
	cp.cancel()
	select {
	case <-cp.done:
	case <-time.After(70 * time.Second):
		cp.t.Errorf("control plane did not stop within 70s")
	}
	cp.cancel = nil
}

// Restart stops the control plane and starts it again on the same data
// directory (a new port: refresh clients from Config and Client).
func (cp *ControlPlane) Restart() {
	cp.t.Helper()
	cp.Stop()
	cp.start()
}
