package scheduler_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/scheduler"
)

func TestLeaderElectionOneSchedulerBinds(t *testing.T) {
	cp := startControlPlane(t)
	c := cp.Client
	for i := range 3 {
		createNode(t, c, fmt.Sprintf("node-%d", i), "8", "16Gi", nil)
	}
	le := func(id string) scheduler.Options {
		return scheduler.Options{LeaderElection: &scheduler.LeaderElection{
			Identity: id, LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 250 * time.Millisecond,
		}}
	}
	a, stopA := startScheduler(t, cp.Config, le("a"))
	b, stopB := startScheduler(t, cp.Config, le("b"))
	eventually(t, 10*time.Second, "a leader", func() (bool, error) { return a.IsLeader() || b.IsLeader(), nil })
	leader, follower, stopLeader := a, b, stopA
	if b.IsLeader() {
		leader, follower, stopLeader = b, a, stopB
	}
	for i := range 20 {
		createPod(t, c, fmt.Sprintf("p-%d", i), "100m", "64Mi")
	}
	eventually(t, 30*time.Second, "20 pods bound", allBound(t, c, 20))
	if a.IsLeader() == b.IsLeader() {
		t.Fatalf("leaders: a=%v b=%v", a.IsLeader(), b.IsLeader())
	}
	if got := leader.Stats().Bound; got != 20 {
		t.Errorf("leader bound %d pods, want 20", got)
	}
	if got := follower.Stats(); got.Bound != 0 || got.Attempts != 0 {
		t.Errorf("follower stats %+v, want no attempts", got)
	}
	lease, err := c.CoordinationV1().Leases("kube-system").Get(t.Context(), "kube-scheduler", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity == nil || (*lease.Spec.HolderIdentity != "a" && *lease.Spec.HolderIdentity != "b") {
		t.Fatalf("lease holder %v", lease.Spec.HolderIdentity)
	}

	// The leader stops and releases the Lease; the follower takes over.
	stopLeader()
	eventually(t, 10*time.Second, "follower takes over", func() (bool, error) { return follower.IsLeader(), nil })
	for i := 20; i < 25; i++ {
		createPod(t, c, fmt.Sprintf("p-%d", i), "100m", "64Mi")
	}
	eventually(t, 30*time.Second, "25 pods bound", allBound(t, c, 25))
	if got := follower.Stats().Bound; got != 5 {
		t.Errorf("new leader bound %d pods, want 5", got)
	}
}
