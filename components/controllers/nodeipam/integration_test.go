package nodeipam_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/record"

	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/nodeipam"
	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
)

// runIPAM runs a node IPAM controller against cp until the returned stop
// is called.
func runIPAM(t *testing.T, cp *testcontrolplane.ControlPlane, cluster string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts := controllers.DefaultOptions()
	opts.ClusterCIDR = cluster
	cc := &controllers.Context{Config: cp.Config, Client: cp.Client, Informers: informers.NewSharedInformerFactory(cp.Client, 0),
		Recorder: func(string) record.EventRecorder { return record.NewFakeRecorder(100) }, Options: opts}
	ctl, err := nodeipam.New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	cc.Informers.Start(ctx.Done())
	done := make(chan struct{})
	go func() { ctl.Run(ctx, 2); close(done) }()
	return func() { cancel(); <-done; cc.Informers.Shutdown() }
}

func waitCIDRs(t *testing.T, cp *testcontrolplane.ControlPlane, names ...string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := map[string]string{}
		for _, n := range names {
			node, err := cp.Client.CoreV1().Nodes().Get(t.Context(), n, metav1.GetOptions{})
			if err == nil && node.Spec.PodCIDR != "" {
				got[n] = node.Spec.PodCIDR
			}
		}
		if len(got) == len(names) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("podCIDRs after 10s: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func createNode(t *testing.T, cp *testcontrolplane.ControlPlane, name string) {
	t.Helper()
	if _, err := cp.Client.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestRestartKeepsAssignmentsAndReleasesDeleted(t *testing.T) {
	cp := testcontrolplane.StartWith(t, func(o *local.Options) { o.Controllers = []string{} })
	const cluster = "10.100.0.0/22" // four /24s
	stop := runIPAM(t, cp, cluster)
	for i := range 3 {
		createNode(t, cp, fmt.Sprintf("n%d", i))
	}
	first := waitCIDRs(t, cp, "n0", "n1", "n2")
	stop()

	// A new controller learns the three assignments before handing out the
	// fourth subnet, so n3 gets the one left.
	stop = runIPAM(t, cp, cluster)
	defer stop()
	createNode(t, cp, "n3")
	got := waitCIDRs(t, cp, "n3")
	for n, c := range first {
		if c == got["n3"] {
			t.Fatalf("n3 got %s, already held by %s", c, n)
		}
	}
	// The range is full; deleting n1 frees its subnet for n4.
	if err := cp.Client.CoreV1().Nodes().Delete(t.Context(), "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	createNode(t, cp, "n4")
	if c := waitCIDRs(t, cp, "n4")["n4"]; c != first["n1"] {
		t.Fatalf("n4 got %s, want n1's released %s", c, first["n1"])
	}
}
