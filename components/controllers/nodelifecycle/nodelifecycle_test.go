package nodelifecycle

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	"github.com/kubelab/kubelab/components/controllers"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// readyNode is a node whose kubelet last posted status at heartbeat.
func readyNode(name string, status corev1.ConditionStatus, heartbeat time.Time, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: metav1.NewTime(heartbeat)},
			{Type: corev1.NodeReady, Status: status, Reason: "KubeletReady", LastHeartbeatTime: metav1.NewTime(heartbeat)},
		}},
	}
}

func lease(node string, renew time.Time) *coordinationv1.Lease {
	r := metav1.NewMicroTime(renew)
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: corev1.NamespaceNodeLease}, Spec: coordinationv1.LeaseSpec{RenewTime: &r}}
}

func readyPod(name, node string, tolerations ...corev1.Toleration) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: node, Tolerations: tolerations},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

// clock is a settable time source.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newTestController(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset, *clock) {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	opts := controllers.DefaultOptions()
	ctl, err := New(t.Context(), &controllers.Context{Client: client, Informers: f, Options: opts,
		Recorder: func(string) record.EventRecorder { return record.NewFakeRecorder(100) }})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(t.Context().Done())
	f.WaitForCacheSync(t.Context().Done())
	c := ctl.(*Controller)
	clk := &clock{now: t0}
	c.now = clk.Now
	return c, client, clk
}

func getNode(t *testing.T, client *fake.Clientset, name string) *corev1.Node {
	t.Helper()
	n, err := client.CoreV1().Nodes().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func taintSet(n *corev1.Node) map[string]bool {
	out := map[string]bool{}
	for _, t := range n.Spec.Taints {
		out[t.ToString()] = true
	}
	return out
}

func TestSyncNode(t *testing.T) {
	unreachableNE := "node.kubernetes.io/unreachable:NoExecute"
	unreachableNS := "node.kubernetes.io/unreachable:NoSchedule"
	for _, tc := range []struct {
		name      string
		node      *corev1.Node
		lease     *coordinationv1.Lease
		renewAt   time.Duration // lease renewed again this long after t0 (0: not)
		later     time.Duration // second sync this long after t0
		disrupted bool
		ready     corev1.ConditionStatus
		reason    string
		taints    []string
		podReady  bool
	}{
		{name: "heartbeats within grace", node: readyNode("a", corev1.ConditionTrue, t0), later: 30 * time.Second,
			ready: corev1.ConditionTrue, reason: "KubeletReady", podReady: true},
		{name: "silent node goes unknown, tainted, pods unready", node: readyNode("a", corev1.ConditionTrue, t0), later: 41 * time.Second,
			ready: corev1.ConditionUnknown, reason: "NodeStatusUnknown", taints: []string{unreachableNS, unreachableNE}},
		{name: "lease renewal keeps it healthy", node: readyNode("a", corev1.ConditionTrue, t0), lease: lease("a", t0), renewAt: 30 * time.Second,
			later: 60 * time.Second, ready: corev1.ConditionTrue, reason: "KubeletReady", podReady: true},
		{name: "kubelet reports not ready", node: readyNode("a", corev1.ConditionFalse, t0), later: time.Second,
			ready: corev1.ConditionFalse, reason: "KubeletReady",
			taints: []string{"node.kubernetes.io/not-ready:NoSchedule", "node.kubernetes.io/not-ready:NoExecute"}},
		{name: "stale taints removed, others kept", later: time.Second,
			node: readyNode("a", corev1.ConditionTrue, t0,
				corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute},
				corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
				corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}),
			ready: corev1.ConditionTrue, reason: "KubeletReady", taints: []string{"dedicated=gpu:NoSchedule"}, podReady: true},
		{name: "full disruption: no NoExecute taint", node: readyNode("a", corev1.ConditionTrue, t0), later: 41 * time.Second, disrupted: true,
			ready: corev1.ConditionUnknown, reason: "NodeStatusUnknown", taints: []string{unreachableNS}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.node, readyPod("p", "a")}
			if tc.lease != nil {
				objs = append(objs, tc.lease)
			}
			c, client, clk := newTestController(t, objs...)
			ctx := t.Context()
			if err := c.syncNode(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if tc.renewAt > 0 {
				clk.now = t0.Add(tc.renewAt)
				l := lease("a", clk.now)
				if _, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(ctx, l, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
				waitFor(t, func() bool {
					got, err := c.leases.Leases(corev1.NamespaceNodeLease).Get("a")
					return err == nil && got.Spec.RenewTime.Time.Equal(clk.now)
				})
				if err := c.syncNode(ctx, "a"); err != nil {
					t.Fatal(err)
				}
			}
			clk.now = t0.Add(tc.later)
			c.disrupted = tc.disrupted
			waitFor(t, func() bool {
				n, err := c.nodes.Get("a")
				return err == nil && n.ResourceVersion == getNode(t, client, "a").ResourceVersion
			})
			if err := c.syncNode(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			// The status update moved the node on: sync once more on
			// the fresh copy for the taints.
			waitFor(t, func() bool {
				n, err := c.nodes.Get("a")
				return err == nil && n.ResourceVersion == getNode(t, client, "a").ResourceVersion
			})
			if err := c.syncNode(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			n := getNode(t, client, "a")
			cond := nodeCondition(n, corev1.NodeReady)
			if cond.Status != tc.ready || cond.Reason != tc.reason {
				t.Fatalf("Ready = %s/%s, want %s/%s", cond.Status, cond.Reason, tc.ready, tc.reason)
			}
			if tc.ready == corev1.ConditionUnknown {
				if m := nodeCondition(n, corev1.NodeMemoryPressure); m.Status != corev1.ConditionUnknown {
					t.Errorf("MemoryPressure = %s", m.Status)
				}
				if d := nodeCondition(n, corev1.NodeDiskPressure); d == nil || d.Reason != "NodeStatusNeverUpdated" {
					t.Errorf("DiskPressure = %+v", d)
				}
			}
			got := taintSet(n)
			if len(got) != len(tc.taints) {
				t.Fatalf("taints = %v, want %v", got, tc.taints)
			}
			for _, want := range tc.taints {
				if !got[want] {
					t.Fatalf("taints = %v, want %v", got, tc.taints)
				}
			}
			for _, tt := range n.Spec.Taints {
				if tt.Effect == corev1.TaintEffectNoExecute && tt.Key == corev1.TaintNodeUnreachable && tt.TimeAdded == nil {
					t.Errorf("NoExecute taint without timeAdded")
				}
			}
			p, _ := client.CoreV1().Pods("ns").Get(ctx, "p", metav1.GetOptions{})
			if isPodReady(p) != tc.podReady {
				t.Fatalf("pod ready = %v, want %v", isPodReady(p), tc.podReady)
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNeverPostedNode(t *testing.T) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a", CreationTimestamp: metav1.NewTime(t0)}}
	c, client, clk := newTestController(t, n)
	clk.now = t0.Add(50 * time.Second) // past the 40s grace, within the 60s startup grace
	if err := c.syncNode(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	if nodeCondition(getNode(t, client, "a"), corev1.NodeReady) != nil {
		t.Fatal("marked within the startup grace period")
	}
	clk.now = t0.Add(61 * time.Second)
	if err := c.syncNode(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	cond := nodeCondition(getNode(t, client, "a"), corev1.NodeReady)
	if cond == nil || cond.Status != corev1.ConditionUnknown || cond.Reason != "NodeStatusNeverUpdated" || cond.Message != "Kubelet never posted node status." {
		t.Fatalf("Ready = %+v", cond)
	}
}

func TestFullyDisrupted(t *testing.T) {
	zone := func(n *corev1.Node, z string) *corev1.Node {
		n.Labels = map[string]string{corev1.LabelTopologyZone: z}
		return n
	}
	for _, tc := range []struct {
		name  string
		nodes []*corev1.Node
		want  bool
	}{
		{"no nodes", nil, false},
		{"one of two lost", []*corev1.Node{readyNode("a", corev1.ConditionTrue, t0), readyNode("b", corev1.ConditionUnknown, t0)}, false},
		{"all lost", []*corev1.Node{readyNode("a", corev1.ConditionFalse, t0), readyNode("b", corev1.ConditionUnknown, t0)}, true},
		{"one zone lost, another fine", []*corev1.Node{zone(readyNode("a", corev1.ConditionUnknown, t0), "z1"), zone(readyNode("b", corev1.ConditionTrue, t0), "z2")}, false},
		{"every zone lost", []*corev1.Node{zone(readyNode("a", corev1.ConditionUnknown, t0), "z1"), zone(readyNode("b", corev1.ConditionUnknown, t0), "z2")}, true},
	} {
		if got := fullyDisrupted(tc.nodes); got != tc.want {
			t.Errorf("%s: fullyDisrupted = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestWantedTaints(t *testing.T) {
	cordoned := readyNode("a", corev1.ConditionTrue, t0)
	cordoned.Spec.Unschedulable = true
	pressure := readyNode("a", corev1.ConditionTrue, t0)
	pressure.Status.Conditions[0].Status = corev1.ConditionTrue
	for _, tc := range []struct {
		name string
		node *corev1.Node
		want []taintKey
	}{
		{"ready", readyNode("a", corev1.ConditionTrue, t0), nil},
		{"cordoned", cordoned, []taintKey{{corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule}}},
		{"memory pressure", pressure, []taintKey{{corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule}}},
	} {
		got := wantedTaints(tc.node, false)
		if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
			t.Errorf("%s: wantedTaints = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDesiredTaintsKeepTimeAdded(t *testing.T) {
	added := metav1.NewTime(t0.Add(-time.Minute))
	n := readyNode("a", corev1.ConditionUnknown, t0, corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added})
	got := desiredTaints(n, wantedTaints(n, false), metav1.NewTime(t0))
	for _, tt := range got {
		if tt.Effect == corev1.TaintEffectNoExecute && !tt.TimeAdded.Equal(&added) {
			t.Fatalf("timeAdded reset: %v", tt.TimeAdded)
		}
	}
	if len(got) != 2 {
		t.Fatalf("taints = %v", got)
	}
}
