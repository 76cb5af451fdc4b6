// Package integration runs the whole kubelab control plane in one process
// (API server, scheduler, every controller of the controller-manager and
// hollow nodes, wired as `kubelab local --hollow-nodes 3` wires them) and
// checks that the pieces keep a cluster at its desired state together:
// nothing here writes a status the components should write.
package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/components/controllermanager"
	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/podgc"
	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
	"github.com/kubelab/kubelab/components/kubelet/hollow"
)

// Timings of the test clusters: heartbeats every second, a node is lost
// after gracePeriod without one (upstream: 10s and 40s).
const (
	renewInterval = time.Second
	gracePeriod   = 4 * time.Second
	// waitTimeout bounds every wait for the cluster to converge.
	waitTimeout = 30 * time.Second
)

// cluster is a running whole control plane with hollow nodes.
type cluster struct {
	cp *testcontrolplane.ControlPlane
	c  kubernetes.Interface
	// nodes are the hollow nodes the control plane runs.
	nodes *hollow.Nodes
}

// hollowOptions are the test's hollow node timings.
func hollowOptions(o *hollow.Options) {
	o.RenewInterval = renewInterval
	o.StatusUpdateInterval = 10 * time.Second
	o.KillDelay = 50 * time.Millisecond
}

// startCluster starts `kubelab local --hollow-nodes n` in process with
// every controller, node timings shortened for tests, and waits until
// the n nodes are Ready with a podCIDR.
func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	for _, name := range []string{"daemonset", "deployment", "endpoint", "endpointslice", "garbagecollector", "job", "namespace",
		"nodeipam", "nodelifecycle", "podgc", "replicaset", "replicationcontroller", "serviceaccount"} {
		if !slices.Contains(controllermanager.Names(), name) {
			t.Fatalf("controller %s is not registered (registered: %v)", name, controllermanager.Names())
		}
	}
	start := time.Now()
	cp := testcontrolplane.StartWith(t, func(o *local.Options) {
		o.Controllers = []string{"*"}
		o.HollowNodes = n
		o.Hollow = hollowOptions
		o.ControllerManager = func(o *controllermanager.Options) {
			o.NodeMonitorGracePeriod = gracePeriod
			o.NodeMonitorPeriod = 500 * time.Millisecond
			o.Init = map[string]controllers.InitFunc{
				"podgc": func(ctx context.Context, c *controllers.Context) (controllers.Controller, error) {
					return podgc.NewWithOptions(ctx, c, podgc.Options{Period: 500 * time.Millisecond, Quarantine: time.Second})
				},
			}
		}
	})
	cl := &cluster{cp: cp, c: cp.Client, nodes: cp.Cluster.Hollow}
	cl.waitNodesReady(t, n)
	t.Logf("control plane with %d ready hollow nodes in %v", n, time.Since(start).Round(time.Millisecond))
	return cl
}

// waitNodesReady waits until exactly n nodes exist, all Ready, untainted
// and with a podCIDR.
func (cl *cluster) waitNodesReady(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d ready nodes", n), func(ctx context.Context) (bool, string) {
		list, err := cl.c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var states []string
		ready := 0
		for _, node := range list.Items {
			ok := nodeReady(&node) == corev1.ConditionTrue && node.Spec.PodCIDR != "" && len(node.Spec.Taints) == 0
			if ok {
				ready++
			}
			states = append(states, fmt.Sprintf("%s ready=%s cidr=%q taints=%v", node.Name, nodeReady(&node), node.Spec.PodCIDR, node.Spec.Taints))
		}
		return ready == n && len(list.Items) == n, strings.Join(states, "; ")
	})
}

// startHollow runs n more hollow nodes named prefix+index until the
// returned stop is called (or the test ends) and waits until they are
// registered. capacity overrides the default capacity when set.
func (cl *cluster) startHollow(t *testing.T, prefix string, n int, capacity corev1.ResourceList) (stop func()) {
	t.Helper()
	o := hollow.Options{Count: n, NamePrefix: prefix, Capacity: capacity}
	hollowOptions(&o)
	nodes, err := hollow.New(cl.cp.Config, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- nodes.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hollow nodes %s: %v", prefix, err)
		}
	}
	t.Cleanup(stop)
	select {
	case <-nodes.Ready():
	case err := <-done:
		t.Fatalf("hollow nodes %s stopped: %v", prefix, err)
	case <-time.After(waitTimeout):
		t.Fatalf("hollow nodes %s did not register within %v", prefix, waitTimeout)
	}
	return stop
}

// namespace creates a namespace for one test.
func (cl *cluster) namespace(t *testing.T, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cl.c.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

// waitFor polls cond until it holds, failing the test after waitTimeout
// with cond's last description of what it saw.
func waitFor(t *testing.T, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	waitForWithin(t, waitTimeout, what, cond)
}

// waitForWithin is waitFor with its own timeout.
func waitForWithin(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ok, seen := cond(ctx)
		last = seen
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v; last seen: %s", what, err, last)
	}
}

// waitGone waits until get reports NotFound.
func waitGone(t *testing.T, what string, get func(ctx context.Context) error) {
	t.Helper()
	waitFor(t, what+" gone", func(ctx context.Context) (bool, string) {
		err := get(ctx)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, "still exists"
	})
}

// nodeReady is the node's Ready condition status.
func nodeReady(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

// podReady reports whether the pod's Ready condition is true.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podActive is upstream's IsPodActive: not terminal and not deleting.
func podActive(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// container is a container the hollow nodes run until it is deleted.
func container(image string) []corev1.Container {
	return []corev1.Container{{Name: "app", Image: image}}
}

// listPods lists the pods of ns matching selector.
func (cl *cluster) listPods(ctx context.Context, ns, selector string) ([]corev1.Pod, error) {
	list, err := cl.c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// waitRunning waits until exactly n pods of ns match selector, all
// active, Running and Ready, and returns them.
func (cl *cluster) waitRunning(t *testing.T, ns, selector string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	waitFor(t, fmt.Sprintf("%d running ready pods %s in %s", n, selector, ns), func(ctx context.Context) (bool, string) {
		list, err := cl.listPods(ctx, ns, selector)
		if err != nil {
			return false, err.Error()
		}
		pods = list
		ok := len(list) == n
		for i := range list {
			p := &list[i]
			ok = ok && podActive(p) && p.Status.Phase == corev1.PodRunning && podReady(p)
		}
		return ok, describePods(list)
	})
	return pods
}

// describePods summarizes pods for failure messages.
func describePods(pods []corev1.Pod) string {
	var out []string
	for i := range pods {
		p := &pods[i]
		s := fmt.Sprintf("%s(%s node=%s ready=%v", p.Name, p.Status.Phase, p.Spec.NodeName, podReady(p))
		if p.DeletionTimestamp != nil {
			s += " deleting"
		}
		out = append(out, s+")")
	}
	return fmt.Sprintf("%d pods: %s", len(pods), strings.Join(out, " "))
}

// uids returns the pods' UIDs as a set.
func uids(pods []corev1.Pod) map[string]string {
	out := map[string]string{}
	for _, p := range pods {
		out[string(p.UID)] = p.Name
	}
	return out
}

// consistently checks cond for d and fails the test the first time it
// does not hold: for asserting that nothing (more) happens.
func consistently(t *testing.T, d time.Duration, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if ok, seen := cond(t.Context()); !ok {
			t.Fatalf("%s no longer holds: %s", what, seen)
		}
		if time.Now().After(deadline) {
			return
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
