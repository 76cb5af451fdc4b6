package scheduler_test

import (
	"fmt"
	_ "github.com/kubelab/kubelab/components/controllers/nodeipam"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
	"github.com/kubelab/kubelab/components/scheduler"
)

// TestHollowNodesRunScheduledPods schedules onto hollow nodes (4 CPUs
// each), which then run the pods: the scheduler works with what the
// simulated kubelets register and report.
func TestHollowNodesRunScheduledPods(t *testing.T) {
	cp := testcontrolplane.StartWith(t, func(o *local.Options) {
		o.Controllers, o.NoScheduler = []string{"nodeipam"}, true
		o.HollowNodes = 3
	})
	c := cp.Client
	startScheduler(t, cp.Config, scheduler.Options{})
	for i := range 12 {
		createPod(t, c, fmt.Sprintf("p-%d", i), "1", "1Gi")
	}
	createPod(t, c, "too-big", "1", "1Gi") // 3 nodes x 4 CPUs are taken
	eventually(t, 30*time.Second, "12 pods running", func() (bool, error) {
		list, err := c.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		running := 0
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 12, fmt.Errorf("%d running", running)
	})
	eventually(t, 10*time.Second, "too-big reported", func() (bool, error) {
		msg, err := eventMessage(t, c, "too-big", "FailedScheduling")
		if err == nil && msg != "0/3 nodes are available: 3 Insufficient cpu." {
			err = fmt.Errorf("message %q", msg)
		}
		return err == nil, err
	})
	// Deleting a running pod frees its CPU once the hollow kubelet has
	// removed it; the waiting pod is then scheduled.
	if err := c.CoreV1().Pods("default").Delete(t.Context(), "p-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "too-big bound", func() (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(t.Context(), "too-big", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return p.Spec.NodeName != "", fmt.Errorf("not bound")
	})
}
