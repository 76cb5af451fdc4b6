package replicaset

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

type podOpt func(*corev1.Pod)

func mkPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), CreationTimestamp: metav1.NewTime(testNow.Add(-10 * time.Hour))},
		Spec:       corev1.PodSpec{NodeName: "n1"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func unscheduled(p *corev1.Pod) { p.Spec.NodeName = "" }
func onNode(n string) podOpt    { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}
func readySince(d time.Duration) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(testNow.Add(-d))}}
	}
}
func restarts(n int32) podOpt {
	return func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: n}} }
}
func created(d time.Duration) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(testNow.Add(-d)) }
}
func cost(v string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{PodDeletionCostAnnotation: v} }
}

func TestRanking(t *testing.T) {
	h := time.Hour
	for _, tc := range []struct {
		name          string
		first, second *corev1.Pod
	}{
		{"unscheduled before scheduled", mkPod("a", unscheduled, readySince(h)), mkPod("b", phase(corev1.PodPending))},
		{"pending before unknown", mkPod("a", phase(corev1.PodPending)), mkPod("b", phase(corev1.PodUnknown))},
		{"unknown before running", mkPod("a", phase(corev1.PodUnknown)), mkPod("b")},
		{"not ready before ready", mkPod("a"), mkPod("b", readySince(h))},
		{"lower deletion cost first", mkPod("a", readySince(h), cost("-5")), mkPod("b", readySince(h))},
		{"doubled up first", mkPod("a", readySince(h), onNode("crowded")), mkPod("b", readySince(h), onNode("n1"))},
		{"ready for less time first", mkPod("a", readySince(time.Minute)), mkPod("b", readySince(10*h))},
		{"more restarts first", mkPod("a", readySince(h), restarts(5)), mkPod("b", readySince(h), restarts(1))},
		{"newer first", mkPod("a", created(time.Minute)), mkPod("b", created(10*h))},
		{"same age bucket: uid", mkPod("a", created(100*time.Minute)), mkPod("b", created(101*time.Minute))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			related := []*corev1.Pod{mkPod("x", onNode("crowded")), mkPod("y", onNode("crowded"))}
			for _, order := range [][]*corev1.Pod{{tc.first, tc.second}, {tc.second, tc.first}} {
				got := podsToDelete(append([]*corev1.Pod(nil), order...), related, 1, testNow)
				if got[0] != tc.first {
					t.Fatalf("deleted %s first, want %s", got[0].Name, tc.first.Name)
				}
			}
		})
	}
}
