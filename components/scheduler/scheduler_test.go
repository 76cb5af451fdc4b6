package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/kubelab/kubelab/components/internal/testcontrolplane"
	"github.com/kubelab/kubelab/components/kubelab/local"
	"github.com/kubelab/kubelab/components/scheduler"
)

// startControlPlane starts an API server without the controller-manager:
// these tests play the kubelet and controllers themselves, and the
// scheduler under test must be the only one.
func startControlPlane(t *testing.T) *testcontrolplane.ControlPlane {
	return testcontrolplane.StartWith(t, func(o *local.Options) { o.Controllers, o.NoScheduler = []string{}, true })
}

// startScheduler runs a scheduler until the test ends and waits for its
// caches; cancel stops it early.
func startScheduler(t *testing.T, cfg *rest.Config, opts scheduler.Options) (s *scheduler.Scheduler, cancel func()) {
	t.Helper()
	s, err := scheduler.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancelCtx := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stopped := false
	cancel = func() {
		if stopped {
			return
		}
		stopped = true
		cancelCtx()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("scheduler Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("scheduler did not stop within 30s")
		}
	}
	t.Cleanup(cancel)
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("scheduler stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("scheduler caches not synced within 30s")
	}
	return s, cancel
}

// createNode registers a Ready node with the given allocatable resources
// through the status subresource, as a kubelet would.
func createNode(t *testing.T, c kubernetes.Interface, name, cpu, mem string, labels map[string]string) {
	t.Helper()
	ctx := t.Context()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[corev1.LabelHostname] = name
	if _, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(mem),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status.Capacity, n.Status.Allocatable = res, res
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		_, err = c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("set status of node %s: %v", name, err)
	}
}

func createPod(t *testing.T, c kubernetes.Interface, name, cpu, mem string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)},
		}}}},
	}
	for _, m := range mutate {
		m(p)
	}
	out, err := c.CoreV1().Pods("default").Create(t.Context(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	return out
}

// eventually polls cond every 50ms until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s (last error: %v)", timeout, what, lastErr)
}

// boundPods returns pod name -> node of the pods in default.
func boundPods(t *testing.T, c kubernetes.Interface) (map[string]string, error) {
	list, err := c.CoreV1().Pods("default").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, p := range list.Items {
		out[p.Name] = p.Spec.NodeName
	}
	return out, nil
}

func allBound(t *testing.T, c kubernetes.Interface, n int) func() (bool, error) {
	return func() (bool, error) {
		pods, err := boundPods(t, c)
		if err != nil {
			return false, err
		}
		bound := 0
		for _, node := range pods {
			if node != "" {
				bound++
			}
		}
		if bound != n {
			return false, fmt.Errorf("%d of %d pods bound", bound, n)
		}
		return true, nil
	}
}

func TestSchedulesPodsOntoFittingNodes(t *testing.T) {
	cp := startControlPlane(t)
	c := cp.Client
	for i := range 3 {
		createNode(t, c, fmt.Sprintf("node-%d", i), "2", "4Gi", map[string]string{"disk": map[bool]string{true: "ssd", false: "hdd"}[i == 2]})
	}
	s, _ := startScheduler(t, cp.Config, scheduler.Options{})
	if !s.IsLeader() {
		eventually(t, 5*time.Second, "scheduler to run", func() (bool, error) { return s.IsLeader(), nil })
	}
	for i := range 9 {
		createPod(t, c, fmt.Sprintf("web-%d", i), "500m", "256Mi")
	}
	createPod(t, c, "wants-ssd", "100m", "64Mi", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} })
	createPod(t, c, "other-scheduler", "100m", "64Mi", func(p *corev1.Pod) { p.Spec.SchedulerName = "someone-else" })
	createPod(t, c, "gated", "100m", "64Mi", func(p *corev1.Pod) {
		p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
	})
	eventually(t, 30*time.Second, "10 pods bound", allBound(t, c, 10))

	pods, _ := boundPods(t, c)
	if pods["wants-ssd"] != "node-2" {
		t.Errorf("wants-ssd on %q, want node-2", pods["wants-ssd"])
	}
	if pods["other-scheduler"] != "" {
		t.Errorf("pod of another scheduler was bound to %s", pods["other-scheduler"])
	}
	if pods["gated"] != "" {
		t.Errorf("pod with a scheduling gate was bound to %s", pods["gated"])
	}
	perNode := map[string]int{}
	for name, node := range pods {
		if name != "wants-ssd" && node != "" {
			perNode[node]++
		}
	}
	for node, n := range perNode {
		if n > 4 { // 2 CPUs hold four 500m pods
			t.Errorf("node %s got %d pods of 500m", node, n)
		}
	}
	if len(perNode) != 3 {
		t.Errorf("pods not spread over the 3 nodes: %v", perNode)
	}
	got, err := c.CoreV1().Pods("default").Get(t.Context(), "web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasCondition(got, corev1.PodScheduled, corev1.ConditionTrue, "") {
		t.Errorf("web-0 conditions %+v", got.Status.Conditions)
	}
	eventually(t, 10*time.Second, "Scheduled event", func() (bool, error) {
		msg, err := eventMessage(t, c, "web-0", "Scheduled")
		return msg == "Successfully assigned default/web-0 to "+got.Spec.NodeName, err
	})
	if st := s.Stats(); st.Bound != 10 {
		t.Errorf("stats %+v, want 10 bound", st)
	}

	// Removing the gate releases the pod to the scheduler.
	gated, err := c.CoreV1().Pods("default").Get(t.Context(), "gated", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gated.Spec.SchedulingGates = nil
	if _, err := c.CoreV1().Pods("default").Update(t.Context(), gated, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("remove scheduling gate: %v", err)
	}
	eventually(t, 30*time.Second, "11 pods bound", allBound(t, c, 11))
}

func hasCondition(p *corev1.Pod, typ corev1.PodConditionType, status corev1.ConditionStatus, reason string) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == typ && c.Status == status && (reason == "" || c.Reason == reason) {
			return true
		}
	}
	return false
}

// eventMessage returns the message of the newest event with reason about
// the pod.
func eventMessage(t *testing.T, c kubernetes.Interface, pod, reason string) (string, error) {
	list, err := c.CoreV1().Events("default").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	msg := ""
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "Pod" && e.InvolvedObject.Name == pod && e.Reason == reason {
			msg = e.Message
		}
	}
	if msg == "" {
		return "", errors.New("no such event")
	}
	return msg, nil
}

func TestUnschedulablePodIsReportedThenScheduledWhenANodeWithRoomAppears(t *testing.T) {
	cp := startControlPlane(t)
	c := cp.Client
	for i := range 3 {
		createNode(t, c, fmt.Sprintf("small-%d", i), "1", "2Gi", nil)
	}
	startScheduler(t, cp.Config, scheduler.Options{})
	createPod(t, c, "big", "4", "1Gi")

	const want = "0/3 nodes are available: 3 Insufficient cpu."
	eventually(t, 20*time.Second, "PodScheduled=False condition", func() (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(t.Context(), "big", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled {
				if cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable && cond.Message == want {
					return true, nil
				}
				return false, fmt.Errorf("condition %+v", cond)
			}
		}
		return false, errors.New("no PodScheduled condition")
	})
	eventually(t, 20*time.Second, "FailedScheduling event", func() (bool, error) {
		msg, err := eventMessage(t, c, "big", "FailedScheduling")
		if err == nil && msg != want {
			err = fmt.Errorf("message %q", msg)
		}
		return err == nil, err
	})
	var e corev1.Event
	list, _ := c.CoreV1().Events("default").List(t.Context(), metav1.ListOptions{})
	for _, ev := range list.Items {
		if ev.Reason == "FailedScheduling" {
			e = ev
		}
	}
	if e.Type != corev1.EventTypeWarning || e.Source.Component != scheduler.DefaultSchedulerName {
		t.Errorf("event type %q source %+v", e.Type, e.Source)
	}

	createNode(t, c, "large", "8", "16Gi", nil)
	eventually(t, 20*time.Second, "big bound to large", func() (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(t.Context(), "big", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Spec.NodeName != "large" {
			return false, fmt.Errorf("on %q", p.Spec.NodeName)
		}
		if !hasCondition(p, corev1.PodScheduled, corev1.ConditionTrue, "") {
			return false, fmt.Errorf("conditions %+v", p.Status.Conditions)
		}
		return true, nil
	})
}

// TestBurstNeverOvercommits creates more pods than fit at once: the pods
// bound moments before count (assumed) before the informer reports them, so
// exactly the pods that fit are bound and the rest are reported.
func TestBurstNeverOvercommits(t *testing.T) {
	cp := startControlPlane(t)
	c := cp.Client
	createNode(t, c, "a", "2", "8Gi", nil)
	createNode(t, c, "b", "2", "8Gi", nil)
	for i := range 10 {
		createPod(t, c, fmt.Sprintf("p-%d", i), "1", "128Mi")
	}
	// Two pods with required anti-affinity on the hostname, each matching
	// the other, and a third: only two nodes, so one waits.
	for i := range 3 {
		createPod(t, c, fmt.Sprintf("spread-%d", i), "0", "0", func(p *corev1.Pod) {
			p.Labels = map[string]string{"app": "spread"}
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
					TopologyKey:   corev1.LabelHostname,
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
				}},
			}}
		})
	}
	s, _ := startScheduler(t, cp.Config, scheduler.Options{})
	eventually(t, 30*time.Second, "6 pods bound", allBound(t, c, 6))
	eventually(t, 10*time.Second, "attempts for every unfit pod", func() (bool, error) {
		st := s.Stats()
		return st.Unschedulable >= 7, fmt.Errorf("stats %+v", st)
	})
	pods, _ := boundPods(t, c)
	cpu := map[string]int{}
	spread := map[string]int{}
	for name, node := range pods {
		if node == "" {
			continue
		}
		if name[:2] == "p-" {
			cpu[node]++
		} else {
			spread[node]++
		}
	}
	if cpu["a"] != 2 || cpu["b"] != 2 {
		t.Errorf("1-CPU pods per node %v, want 2 each", cpu)
	}
	if spread["a"] != 1 || spread["b"] != 1 {
		t.Errorf("anti-affine pods per node %v, want 1 each", spread)
	}
	var waiting string
	for i := range 3 {
		if name := fmt.Sprintf("spread-%d", i); pods[name] == "" {
			waiting = name
		}
	}
	const want = "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."
	eventually(t, 10*time.Second, "anti-affinity FailedScheduling event", func() (bool, error) {
		msg, err := eventMessage(t, c, waiting, "FailedScheduling")
		if err == nil && msg != want {
			err = fmt.Errorf("message %q", msg)
		}
		return err == nil, err
	})
	time.Sleep(500 * time.Millisecond) // nothing more may be bound
	if ok, err := allBound(t, c, 6)(); !ok {
		t.Error(err)
	}
}
