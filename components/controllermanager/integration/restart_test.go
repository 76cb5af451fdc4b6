package integration

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// controllerManagerLease returns the controller-manager's leader lease.
func (cl *cluster) controllerManagerLease(ctx context.Context) (*coordinationv1.Lease, error) {
	return cl.c.CoordinationV1().Leases("kube-system").Get(ctx, "kube-controller-manager", metav1.GetOptions{})
}

// TestControllerManagerRestart kills the controller-manager under a
// steady Deployment, ReplicaSet, DaemonSet and finished Job, changes one
// ReplicaSet while it is down, and starts it again: the new instance takes
// the released lease at once, makes exactly the one pod the change asks
// for, and creates or deletes nothing else.
func TestControllerManagerRestart(t *testing.T) {
	cl := startCluster(t, 3)
	ctx := t.Context()
	ns := cl.namespace(t, "steady")
	if _, err := cl.c.AppsV1().Deployments(ns).Create(ctx, deployment("web", "web:1", 3, 1, 0), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.c.AppsV1().ReplicaSets(ns).Create(ctx, replicaSet("cache", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.c.AppsV1().DaemonSets(ns).Create(ctx, daemonSet("agent"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.c.BatchV1().Jobs(ns).Create(ctx, job("once", 2, 2, 0, "0", "0"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cl.waitRolledOut(t, ns, "web")
	cl.waitRSStatus(t, ns, "cache", 2)
	cl.waitDaemonPods(t, ns, "agent", cl.nodes.Names()...)
	cl.waitJobCondition(t, ns, "once", "Complete", waitTimeout)
	obs := cl.observePods(t, ns, "", nil)
	before, err := cl.listPods(ctx, ns, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 3+2+3+2 {
		t.Fatalf("steady state: %s, want 10 pods", describePods(before))
	}
	// Nothing may be deleted from here on.
	obs.setCheck(func(pods []*corev1.Pod) string {
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				return "pod " + p.Name + " is being deleted"
			}
		}
		return ""
	})
	lease, err := cl.controllerManagerLease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := ptr.Deref(lease.Spec.HolderIdentity, "")
	if leader == "" {
		t.Fatalf("no controller-manager holds the lease: %+v", lease.Spec)
	}

	start := time.Now()
	if err := cl.cp.Cluster.StopControllerManager(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("controller-manager stopped in %v", time.Since(start).Round(time.Millisecond))
	if lease, err = cl.controllerManagerLease(ctx); err != nil {
		t.Fatal(err)
	}
	if h := ptr.Deref(lease.Spec.HolderIdentity, ""); h != "" {
		t.Errorf("lease still held by %q after the controller-manager stopped; it must release it", h)
	}
	// While it is down, the cache ReplicaSet is scaled up: nobody acts.
	scale, err := cl.c.AppsV1().ReplicaSets(ns).GetScale(ctx, "cache", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 3
	if _, err := cl.c.AppsV1().ReplicaSets(ns).UpdateScale(ctx, "cache", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	consistently(t, time.Second, "no new pod without a controller-manager", func(ctx context.Context) (bool, string) {
		pods, err := cl.listPods(ctx, ns, "app=cache")
		return err == nil && len(pods) == 2, describePods(pods)
	})

	start = time.Now()
	if err := cl.cp.Cluster.StartControllerManager(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new leader", func(ctx context.Context) (bool, string) {
		l, err := cl.controllerManagerLease(ctx)
		if err != nil {
			return false, err.Error()
		}
		h := ptr.Deref(l.Spec.HolderIdentity, "")
		return h != "" && h != leader, fmt.Sprintf("holder %q", h)
	})
	t.Logf("lease taken over %v after the restart", time.Since(start).Round(time.Millisecond))
	cl.waitRSStatus(t, ns, "cache", 3)
	t.Logf("scaled up %v after the restart", time.Since(start).Round(time.Millisecond))

	want := uids(before)
	consistently(t, 3*time.Second, "the pods from before and one new cache pod", func(ctx context.Context) (bool, string) {
		pods, err := cl.listPods(ctx, ns, "")
		if err != nil {
			return false, err.Error()
		}
		got := uids(pods)
		var added []string
		for id, name := range got {
			if _, ok := want[id]; !ok {
				added = append(added, name)
			}
		}
		missing := 0
		for id := range want {
			if _, ok := got[id]; !ok {
				missing++
			}
		}
		return missing == 0 && len(added) == 1, fmt.Sprintf("%d of the pods from before missing, added %v", missing, added)
	})
	cl.waitRolledOut(t, ns, "web")
	cl.waitDaemonPods(t, ns, "agent", cl.nodes.Names()...)
	if j, err := cl.c.BatchV1().Jobs(ns).Get(ctx, "once", metav1.GetOptions{}); err != nil || j.Status.Succeeded != 2 || j.Status.Active != 0 {
		t.Errorf("finished job after the restart: %+v (%v), want 2 succeeded, none active", j.Status, err)
	}
	obs.catchUp(t)
	obs.assertNoViolations(t)
	if n := len(obs.everSeen()); n != len(before)+1 {
		names := slices.Sorted(maps.Values(uids(before)))
		t.Errorf("%d pods seen, want the %d from before (%v) and one more", n, len(before), names)
	}
}

// TestControllerManagerRestartMidRollout kills and restarts the
// controller-manager twice while a Deployment rolls out: the new instances
// resume from what the API server holds, keep maxSurge/maxUnavailable at
// every revision and create exactly one pod per replica of the new
// template.
func TestControllerManagerRestartMidRollout(t *testing.T) {
	const replicas, surge, unavailable = 6, 1, 1
	cl := startCluster(t, 3)
	ctx := t.Context()
	ns := cl.namespace(t, "midway")
	obs := cl.observePods(t, ns, "app=web", nil)
	if _, err := cl.c.AppsV1().Deployments(ns).Create(ctx, deployment("web", "web:1", replicas, surge, unavailable), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cl.waitRolledOut(t, ns, "web")
	obs.catchUp(t)
	obs.setCheck(rollingBounds(replicas, surge, unavailable))

	d, err := cl.c.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "web:2"
	if _, err := cl.c.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, atNew := range []int{1, 3} {
		waitFor(t, fmt.Sprintf("%d web:2 pods", atNew), func(ctx context.Context) (bool, string) {
			images, err := cl.podImages(ctx, ns, "app=web")
			return err == nil && images["web:2"] >= atNew, fmt.Sprint(images, err)
		})
		if err := cl.cp.Cluster.StopControllerManager(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // the pods' readiness moves on meanwhile
		if err := cl.cp.Cluster.StartControllerManager(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cl.waitRolledOut(t, ns, "web")
	waitFor(t, "only web:2 pods", func(ctx context.Context) (bool, string) {
		images, err := cl.podImages(ctx, ns, "app=web")
		return err == nil && len(images) == 1 && images["web:2"] == replicas, fmt.Sprint(images, err)
	})
	obs.catchUp(t)
	obs.assertNoViolations(t)
	byImage := map[string]int{}
	for _, p := range obs.everSeen() {
		byImage[p.Spec.Containers[0].Image]++
	}
	if byImage["web:1"] != replicas || byImage["web:2"] != replicas {
		t.Errorf("pods ever created by image %v, want %d of each", byImage, replicas)
	}
}
