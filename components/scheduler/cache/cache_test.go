package cache

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelab/kubelab/components/scheduler/framework"
)

func testNode(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("10")},
	}}
}

func testPod(name, node, cpu string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name)},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}},
	}
}

// requested returns the CPU requested on each node.
func requested(c *Cache) map[string]int64 {
	out := map[string]int64{}
	c.Read(func(s Snapshot) {
		for _, n := range s.Nodes {
			out[n.Name] = n.Requested.MilliCPU
		}
	})
	return out
}

func TestAssumeConfirmForget(t *testing.T) {
	c := New(30 * time.Second)
	c.SetNode(testNode("n1"))
	c.SetNode(testNode("n2"))

	if err := c.AssumePod(framework.NewPodInfo(testPod("a", "n1", "1"))); err != nil {
		t.Fatal(err)
	}
	if got := requested(c)["n1"]; got != 1000 {
		t.Fatalf("assumed pod not counted: %d", got)
	}
	if err := c.AssumePod(framework.NewPodInfo(testPod("a", "n1", "1"))); err == nil {
		t.Fatal("assuming twice succeeded")
	}
	// The informer reports it bound elsewhere: it moves.
	c.AddPod(testPod("a", "n2", "1"))
	if r := requested(c); r["n1"] != 0 || r["n2"] != 1000 || c.IsAssumed("a") {
		t.Fatalf("after confirm: %v assumed=%v", r, c.IsAssumed("a"))
	}
	// Forget only applies to assumed pods.
	c.ForgetPod("a")
	if got := requested(c)["n2"]; got != 1000 {
		t.Fatalf("forget removed a confirmed pod: %d", got)
	}

	if err := c.AssumePod(framework.NewPodInfo(testPod("b", "n1", "2"))); err != nil {
		t.Fatal(err)
	}
	c.ForgetPod("b")
	if got := requested(c)["n1"]; got != 0 {
		t.Fatalf("forgotten pod still counted: %d", got)
	}
}

func TestAssumedPodExpires(t *testing.T) {
	c := New(30 * time.Second)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	c.SetNode(testNode("n1"))
	if err := c.AssumePod(framework.NewPodInfo(testPod("a", "n1", "1"))); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	c.CleanupExpired()
	if !c.IsAssumed("a") {
		t.Fatal("expired while binding")
	}
	c.FinishBinding("a")
	now = now.Add(29 * time.Second)
	c.CleanupExpired()
	if !c.IsAssumed("a") {
		t.Fatal("expired early")
	}
	now = now.Add(2 * time.Second)
	c.CleanupExpired()
	if _, pods := c.Counts(); pods != 0 {
		t.Fatal("not expired")
	}
}

func TestPodsOnUnknownAndRemovedNodes(t *testing.T) {
	c := New(time.Minute)
	c.AddPod(testPod("a", "late", "1"))
	if nodes, pods := c.Counts(); nodes != 0 || pods != 1 {
		t.Fatalf("nodes %d pods %d", nodes, pods)
	}
	c.SetNode(testNode("late"))
	if got := requested(c)["late"]; got != 1000 {
		t.Fatalf("pod seen before its node not counted: %d", got)
	}
	c.SetNode(testNode("n2"))
	c.RemoveNode("late")
	if nodes, _ := c.Counts(); nodes != 1 {
		t.Fatalf("nodes %d", nodes)
	}
	c.RemovePod("a")
	c.SetNode(testNode("late"))
	if got := requested(c)["late"]; got != 0 {
		t.Fatalf("removed pod counted on re-added node: %d", got)
	}
	// The list stays consistent after swap-removals.
	c.RemoveNode("n2")
	c.RemoveNode("late")
	c.RemoveNode("missing")
	if nodes, _ := c.Counts(); nodes != 0 {
		t.Fatalf("nodes %d", nodes)
	}
}
