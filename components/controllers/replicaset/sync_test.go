package replicaset

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/kubelab/kubelab/components/controllers"
)

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func newRS(name string, replicas int32, sel map[string]string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Generation: 2},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      sel,
					Annotations: map[string]string{"note": "kept"},
					Finalizers:  []string{"example.com/keep"},
				},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
			},
		},
	}
}

func ownedPod(name string, rs *appsv1.ReplicaSet, lbl map[string]string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: lbl,
		CreationTimestamp: metav1.NewTime(testNow.Add(-time.Hour))}}
	if rs != nil {
		t := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &t}}
	}
	return p
}

func readyPod(p *corev1.Pod, node string) *corev1.Pod {
	p.Spec.NodeName = node
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
		LastTransitionTime: metav1.NewTime(testNow.Add(-time.Hour))}}
	return p
}

type harness struct {
	ctl      *Controller
	client   *fake.Clientset
	recorder *record.FakeRecorder
}

func newHarness(t *testing.T, objs ...runtime.Object) *harness {
	t.Helper()
	client := fake.NewClientset(objs...)
	var seq atomic.Int32
	client.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		p := a.(clienttesting.CreateAction).GetObject().(*corev1.Pod)
		if p.Name == "" {
			p.Name = fmt.Sprintf("%s%d", p.GenerateName, seq.Add(1))
		}
		return false, nil, nil
	})
	f := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(1000)
	c := &controllers.Context{Client: client, Informers: f, Recorder: func(string) record.EventRecorder { return rec }}
	ctl, err := New(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	f.Start(t.Context().Done())
	f.WaitForCacheSync(t.Context().Done())
	r := ctl.(*Controller)
	r.now = func() time.Time { return testNow }
	return &harness{ctl: r, client: client, recorder: rec}
}

func (h *harness) actions(verb, resource string) []clienttesting.Action {
	var out []clienttesting.Action
	for _, a := range h.client.Actions() {
		if a.GetVerb() == verb && a.GetResource().Resource == resource && a.GetSubresource() == "" {
			out = append(out, a)
		}
	}
	return out
}

func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestSyncCreatesAndDeletes(t *testing.T) {
	sel := map[string]string{"app": "a"}
	rs := newRS("rs", 3, sel)
	for _, tc := range []struct {
		name        string
		replicas    int32
		burst       int
		pods        int
		wantCreates int
		wantDeletes int
	}{
		{"create missing", 3, BurstReplicas, 0, 3, 0},
		{"create one more", 3, BurstReplicas, 2, 1, 0},
		{"steady", 3, BurstReplicas, 3, 0, 0},
		{"delete extra", 3, BurstReplicas, 5, 0, 2},
		{"scale to zero", 0, BurstReplicas, 4, 0, 4},
		{"create capped by burst", 9, 4, 0, 4, 0},
		{"delete capped by burst", 0, 2, 5, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rs.DeepCopy()
			r.Spec.Replicas = &tc.replicas
			objs := []runtime.Object{r}
			for i := 0; i < tc.pods; i++ {
				objs = append(objs, readyPod(ownedPod(fmt.Sprintf("p%d", i), r, sel), "n1"))
			}
			h := newHarness(t, objs...)
			h.ctl.burst = tc.burst
			if err := h.ctl.sync(t.Context(), "ns/rs"); err != nil {
				t.Fatal(err)
			}
			if got := len(h.actions("create", "pods")); got != tc.wantCreates {
				t.Errorf("creates = %d, want %d", got, tc.wantCreates)
			}
			if got := len(h.actions("delete", "pods")); got != tc.wantDeletes {
				t.Errorf("deletes = %d, want %d", got, tc.wantDeletes)
			}
			// Until the informer reports them, a second sync must not act again.
			before := len(h.client.Actions())
			if tc.wantCreates+tc.wantDeletes > 0 && !h.ctl.expectations.Satisfied("ns/rs") {
				if err := h.ctl.sync(t.Context(), "ns/rs"); err != nil {
					t.Fatal(err)
				}
				for _, a := range h.client.Actions()[before:] {
					if a.GetResource().Resource == "pods" && (a.GetVerb() == "create" || a.GetVerb() == "delete") {
						t.Errorf("acted again before observing: %s", a.GetVerb())
					}
				}
			}
		})
	}
}

func TestCreatedPodShape(t *testing.T) {
	sel := map[string]string{"app": "a"}
	h := newHarness(t, newRS("web", 1, sel))
	if err := h.ctl.sync(t.Context(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	creates := h.actions("create", "pods")
	if len(creates) != 1 {
		t.Fatalf("creates = %d", len(creates))
	}
	p := creates[0].(clienttesting.CreateAction).GetObject().(*corev1.Pod)
	if p.GenerateName != "web-" || p.Labels["app"] != "a" || p.Annotations["note"] != "kept" ||
		len(p.Finalizers) != 1 || p.Spec.Containers[0].Image != "img" {
		t.Fatalf("pod not from template: %+v", p.ObjectMeta)
	}
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.Kind != "ReplicaSet" || ref.APIVersion != "apps/v1" || ref.UID != "uid-web" ||
		ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Fatalf("owner reference %+v", p.OwnerReferences)
	}
	if ev := h.events(); len(ev) != 1 || !strings.HasPrefix(ev[0], "Normal SuccessfulCreate Created pod: web-") {
		t.Fatalf("events %v", ev)
	}
}

func TestCreateFailureSetsCondition(t *testing.T) {
	sel := map[string]string{"app": "a"}
	h := newHarness(t, newRS("rs", 4, sel))
	h.client.PrependReactor("create", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("quota exceeded")
	})
	if err := h.ctl.sync(t.Context(), "ns/rs"); err == nil {
		t.Fatal("want the create error")
	}
	// Slow start: one failing request, not four.
	if got := len(h.actions("create", "pods")); got != 1 {
		t.Fatalf("create attempts = %d, want 1", got)
	}
	if !h.ctl.expectations.Satisfied("ns/rs") {
		t.Fatal("expectations must be lowered for failed and skipped creates")
	}
	st := lastStatus(t, h)
	c := condition(st.Conditions, appsv1.ReplicaSetReplicaFailure)
	if c == nil || c.Reason != "FailedCreate" || !strings.Contains(c.Message, "quota exceeded") {
		t.Fatalf("conditions %+v", st.Conditions)
	}
	if ev := h.events(); len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning FailedCreate Error creating:") {
		t.Fatalf("events %v", ev)
	}
}

func lastStatus(t *testing.T, h *harness) appsv1.ReplicaSetStatus {
	t.Helper()
	var st *appsv1.ReplicaSetStatus
	for _, a := range h.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			s := a.(clienttesting.UpdateAction).GetObject().(*appsv1.ReplicaSet).Status
			st = &s
		}
	}
	if st == nil {
		t.Fatal("no status update")
	}
	return *st
}

func TestStatusCounts(t *testing.T) {
	sel := map[string]string{"app": "a"}
	rs := newRS("rs", 4, sel)
	rs.Spec.Template.Labels = map[string]string{"app": "a", "tier": "web"}
	rs.Spec.MinReadySeconds = 600
	full := map[string]string{"app": "a", "tier": "web"}
	fresh := readyPod(ownedPod("fresh", rs, full), "n1")
	fresh.Status.Conditions[0].LastTransitionTime = metav1.NewTime(testNow.Add(-time.Minute))
	pending := ownedPod("pending", rs, sel)
	pending.Status.Phase = corev1.PodPending
	done := ownedPod("done", rs, full)
	done.Status.Phase = corev1.PodSucceeded
	dying := readyPod(ownedPod("dying", rs, full), "n1")
	dying.DeletionTimestamp = &metav1.Time{Time: testNow}
	h := newHarness(t, rs, readyPod(ownedPod("old", rs, full), "n1"), fresh, pending, done, dying)
	if err := h.ctl.sync(t.Context(), "ns/rs"); err != nil {
		t.Fatal(err)
	}
	st := lastStatus(t, h)
	if st.Replicas != 3 || st.FullyLabeledReplicas != 2 || st.ReadyReplicas != 2 || st.AvailableReplicas != 1 ||
		st.ObservedGeneration != 2 || st.TerminatingReplicas == nil || *st.TerminatingReplicas != 1 {
		t.Fatalf("status %+v", st)
	}
	if got := len(h.actions("create", "pods")); got != 1 {
		t.Fatalf("creates = %d, want 1 (terminating and finished pods do not count)", got)
	}
}

func TestClaimAdoptsAndReleases(t *testing.T) {
	sel := map[string]string{"app": "a"}
	rs := newRS("rs", 2, sel)
	orphan := readyPod(ownedPod("orphan", nil, sel), "n1")
	stray := readyPod(ownedPod("stray", rs, map[string]string{"app": "other"}), "n1")
	mine := readyPod(ownedPod("mine", rs, sel), "n1")
	h := newHarness(t, rs, orphan, stray, mine)
	if err := h.ctl.sync(t.Context(), "ns/rs"); err != nil {
		t.Fatal(err)
	}
	patched := map[string]string{}
	for _, a := range h.actions("patch", "pods") {
		pa := a.(clienttesting.PatchAction)
		patched[pa.GetName()] = string(pa.GetPatch())
	}
	if !strings.Contains(patched["orphan"], `"controller":true`) || !strings.Contains(patched["stray"], `"$patch":"delete"`) || len(patched) != 2 {
		t.Fatalf("patches %v", patched)
	}
	if n := len(h.actions("create", "pods")) + len(h.actions("delete", "pods")); n != 0 {
		t.Fatalf("%d creates/deletes; adopted orphan and owned pod make 2", n)
	}
	if st := lastStatus(t, h); st.Replicas != 2 {
		t.Fatalf("replicas %d", st.Replicas)
	}
}

func TestDeletedOwnerAdoptsNothing(t *testing.T) {
	sel := map[string]string{"app": "a"}
	rs := newRS("rs", 1, sel)
	h := newHarness(t, rs, ownedPod("orphan", nil, sel))
	// The API server no longer has the ReplicaSet the cache still shows.
	if err := h.client.Tracker().Delete(appsv1.SchemeGroupVersion.WithResource("replicasets"), "ns", "rs"); err != nil {
		t.Fatal(err)
	}
	if err := h.ctl.sync(t.Context(), "ns/rs"); err != nil {
		t.Fatal(err)
	}
	if n := len(h.actions("patch", "pods")); n != 0 {
		t.Fatalf("%d adoption patches for a deleted owner", n)
	}
}

func TestInvalidSelectorReported(t *testing.T) {
	rs := newRS("rs", 1, map[string]string{"app": "a"})
	rs.Spec.Selector = &metav1.LabelSelector{}
	h := newHarness(t, rs, ownedPod("x", nil, map[string]string{"app": "b"}))
	if err := h.ctl.sync(t.Context(), "ns/rs"); err != nil {
		t.Fatal(err)
	}
	if n := len(h.client.Actions()); n != 0 {
		for _, a := range h.client.Actions() {
			if a.GetVerb() != "list" && a.GetVerb() != "watch" {
				t.Fatalf("acted on an empty selector: %v", a)
			}
		}
	}
	if ev := h.events(); len(ev) != 1 || !strings.HasPrefix(ev[0], "Warning InvalidSelector") {
		t.Fatalf("events %v", ev)
	}
}
