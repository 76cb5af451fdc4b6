package podgc

import (
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	"github.com/kubelab/kubelab/components/controllers"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func pod(name, node string, phase corev1.PodPhase, age time.Duration, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(t0.Add(-age))},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: phase},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func terminating(p *corev1.Pod) {
	now := metav1.NewTime(t0)
	p.DeletionTimestamp = &now
}

func evicted(p *corev1.Pod) { p.Status.Reason = "Evicted" }

func node(name string, ready corev1.ConditionStatus, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}},
	}
}

func TestGC(t *testing.T) {
	outOfService := corev1.Taint{Key: corev1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: corev1.TaintEffectNoExecute}
	for _, tc := range []struct {
		name      string
		threshold int
		objs      []runtime.Object
		wantGone  []string
	}{
		{"under threshold", 3, []runtime.Object{node("n", corev1.ConditionTrue),
			pod("a", "n", corev1.PodSucceeded, 3*time.Hour), pod("b", "n", corev1.PodFailed, 2*time.Hour), pod("c", "n", corev1.PodRunning, time.Hour)}, nil},
		{"oldest terminated beyond threshold, evicted first", 2, []runtime.Object{node("n", corev1.ConditionTrue),
			pod("old", "n", corev1.PodSucceeded, 3*time.Hour), pod("mid", "n", corev1.PodFailed, 2*time.Hour),
			pod("new", "n", corev1.PodSucceeded, time.Hour), pod("ev", "n", corev1.PodFailed, time.Minute, evicted),
			pod("run", "n", corev1.PodRunning, 5*time.Hour)}, []string{"ev", "old"}},
		{"threshold 0 disables terminated GC", 0, []runtime.Object{node("n", corev1.ConditionTrue),
			pod("a", "n", corev1.PodSucceeded, time.Hour)}, nil},
		{"pods of a missing node", 100, []runtime.Object{node("n", corev1.ConditionTrue),
			pod("orphan", "gone", corev1.PodRunning, time.Hour), pod("ok", "n", corev1.PodRunning, time.Hour)}, []string{"orphan"}},
		{"unscheduled terminating", 100, []runtime.Object{
			pod("stuck", "", corev1.PodPending, time.Hour, terminating), pod("pending", "", corev1.PodPending, time.Hour)}, []string{"stuck"}},
		{"terminating on out-of-service node", 100, []runtime.Object{
			node("down", corev1.ConditionFalse, outOfService), node("flaky", corev1.ConditionFalse),
			pod("t1", "down", corev1.PodRunning, time.Hour, terminating), pod("r1", "down", corev1.PodRunning, time.Hour),
			pod("t2", "flaky", corev1.PodRunning, time.Hour, terminating)}, []string{"t1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.objs...)
			f := informers.NewSharedInformerFactory(client, 0)
			opts := controllers.DefaultOptions()
			opts.TerminatedPodGCThreshold = tc.threshold
			c, err := NewWithOptions(t.Context(), &controllers.Context{Client: client, Informers: f, Options: opts,
				Recorder: func(string) record.EventRecorder { return record.NewFakeRecorder(10) }}, Options{Quarantine: 0})
			if err != nil {
				t.Fatal(err)
			}
			f.Start(t.Context().Done())
			f.WaitForCacheSync(t.Context().Done())
			c.gc(t.Context()) // a zero quarantine ends at once
			var gone []string
			for _, a := range client.Actions() {
				if a.GetVerb() == "delete" && a.GetResource().Resource == "pods" {
					gone = append(gone, a.(interface{ GetName() string }).GetName())
				}
			}
			sort.Strings(gone)
			want := append([]string(nil), tc.wantGone...)
			sort.Strings(want)
			if len(gone) != len(want) {
				t.Fatalf("deleted %v, want %v", gone, want)
			}
			for i := range gone {
				if gone[i] != want[i] {
					t.Fatalf("deleted %v, want %v", gone, want)
				}
			}
		})
	}
}

func TestOrphanMarkedFailedBeforeDelete(t *testing.T) {
	orphan := pod("orphan", "gone", corev1.PodRunning, time.Hour)
	orphan.Finalizers = []string{"keep"}
	client := fake.NewClientset(orphan)
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := NewWithOptions(t.Context(), &controllers.Context{Client: client, Informers: f, Options: controllers.DefaultOptions(),
		Recorder: func(string) record.EventRecorder { return record.NewFakeRecorder(10) }}, Options{Quarantine: 0})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(t.Context().Done())
	f.WaitForCacheSync(t.Context().Done())
	pods, _ := c.pods.List(labels.Everything())
	c.gcOrphaned(t.Context(), pods, nil)
	var verbs []string
	for _, a := range client.Actions() {
		if a.GetResource().Resource == "pods" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			verbs = append(verbs, a.GetVerb()+"/"+a.GetSubresource())
		}
	}
	if len(verbs) != 2 || verbs[0] != "patch/status" || verbs[1] != "delete/" {
		t.Fatalf("actions = %v, want status patch then delete", verbs)
	}
}

func TestQuarantineDelaysOrphanGC(t *testing.T) {
	client := fake.NewClientset(pod("orphan", "gone", corev1.PodRunning, time.Hour))
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := NewWithOptions(t.Context(), &controllers.Context{Client: client, Informers: f, Options: controllers.DefaultOptions(),
		Recorder: func(string) record.EventRecorder { return record.NewFakeRecorder(10) }}, Options{Quarantine: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(t.Context().Done())
	f.WaitForCacheSync(t.Context().Done())
	c.gc(t.Context())
	c.gc(t.Context())
	for _, a := range client.Actions() {
		if a.GetVerb() == "delete" {
			t.Fatal("orphan deleted within its quarantine")
		}
	}
}
