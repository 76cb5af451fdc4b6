package hollow

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func testNodes(t *testing.T, n int, objs ...runtime.Object) (*Nodes, *fake.Clientset) {
	t.Helper()
	o, err := Options{Count: n, Labels: map[string]string{"zone": "a"}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(objs...)
	h, err := newNodes(client, o)
	if err != nil {
		t.Fatal(err)
	}
	return h, client
}

func TestRegisterAndHeartbeat(t *testing.T) {
	h, client := testNodes(t, 2)
	ctx := t.Context()
	if next := h.beat(ctx, beat{node: 1, kind: beatRegister}); next != 0 {
		t.Fatalf("register asked to run again in %v", next)
	}
	node, err := client.CoreV1().Nodes().Get(ctx, "hollow-node-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{corev1.LabelHostname: "hollow-node-1", corev1.LabelOSStable: "linux", LabelHollow: "true", "zone": "a"} {
		if node.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, node.Labels[k], v)
		}
	}
	if len(node.Status.Addresses) == 0 || node.Status.Addresses[0].Address != "100.64.0.2" {
		t.Errorf("addresses = %v", node.Status.Addresses)
	}
	if q := node.Status.Allocatable[corev1.ResourceMemory]; q.String() != "16Gi" {
		t.Errorf("allocatable memory = %v", q.String())
	}
	lease, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "hollow-node-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *lease.Spec.HolderIdentity != "hollow-node-1" || *lease.Spec.LeaseDurationSeconds != 40 {
		t.Errorf("lease = %+v", lease)
	}
	first := lease.Spec.RenewTime.Time
	time.Sleep(2 * time.Millisecond)
	if next := h.beat(ctx, beat{node: 1, kind: beatLease}); next < 10*time.Second || next > 11*time.Second {
		t.Fatalf("next lease renewal in %v", next)
	}
	lease, _ = client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "hollow-node-1", metav1.GetOptions{})
	if !lease.Spec.RenewTime.Time.After(first) {
		t.Error("lease not renewed")
	}
	if next := h.beat(ctx, beat{node: 1, kind: beatStatus}); next < time.Minute {
		t.Fatalf("next status in %v", next)
	}
	if h.Stats().LeaseWrites.Load() != 2 || h.Stats().StatusWrites.Load() != 1 {
		t.Errorf("stats: leases %d statuses %d", h.Stats().LeaseWrites.Load(), h.Stats().StatusWrites.Load())
	}
	if !h.Stop("hollow-node-1") || h.beat(ctx, beat{node: 1, kind: beatLease}) != 0 {
		t.Error("a stopped node still heartbeats")
	}
	if h.Stop("nope") {
		t.Error("Stop of an unknown node succeeded")
	}
}

func TestRegisterExistingNode(t *testing.T) {
	stale := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "hollow-node-0", Labels: map[string]string{"keep": "me"}},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.7.0/24", PodCIDRs: []string{"10.244.7.0/24"}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown,
			Reason: "NodeStatusUnknown"}}},
	}
	h, client := testNodes(t, 1, stale)
	if next := h.beat(t.Context(), beat{node: 0, kind: beatRegister}); next != 0 {
		t.Fatalf("register failed, retry in %v", next)
	}
	node, _ := client.CoreV1().Nodes().Get(t.Context(), "hollow-node-0", metav1.GetOptions{})
	if node.Labels["keep"] != "me" || node.Labels[LabelHollow] != "true" {
		t.Errorf("labels = %v", node.Labels)
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && (c.Status != corev1.ConditionTrue || c.Reason != "KubeletReady") {
			t.Errorf("ready = %+v", c)
		}
	}
	if !h.nodes[0].cidr.IsValid() || h.nodes[0].cidr.String() != "10.244.7.0/24" {
		t.Errorf("podCIDR not learnt: %v", h.nodes[0].cidr)
	}
	select {
	case <-h.Ready():
	default:
		t.Error("Ready not closed after the only node registered")
	}
}

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{Count: 5000}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.NamePrefix != "hollow-node-" || o.RenewInterval != 10*time.Second || o.StatusUpdateInterval != time.Minute ||
		o.LeaseDurationSeconds != 40 || o.Workers != 125 || o.BackoffBase != 10*time.Second || o.BackoffMax != 5*time.Minute {
		t.Fatalf("defaults: %+v", o)
	}
	if o.QPS < 1000 {
		t.Errorf("QPS %v too low for 5000 nodes", o.QPS)
	}
	// Pod status writers and the client limit grow with the nodes, as
	// each real kubelet writes its own pods' statuses (--kube-api-qps 50).
	if o.PodWorkers != 125 || o.QPS < 50*5000 || o.Burst < 2*int(o.QPS) {
		t.Errorf("pod workers %d, QPS %v, burst %d for 5000 nodes; want 125, >= 250000, >= 2*QPS", o.PodWorkers, o.QPS, o.Burst)
	}
	small, err := Options{Count: 1}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if small.PodWorkers != 16 || small.QPS < 200 {
		t.Errorf("pod workers %d, QPS %v for 1 node; want 16, >= 200", small.PodWorkers, small.QPS)
	}
	for _, bad := range []Options{{Count: -1}, {Count: 10, NodeIPRange: "10.0.0.0/30"}, {Count: 1, NodeIPRange: "x"}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
