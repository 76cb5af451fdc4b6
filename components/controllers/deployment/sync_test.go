package deployment

import (
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/kubelab/kubelab/components/controllers"
)

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

type harness struct {
	ctl    *Controller
	client *fake.Clientset
}

func newHarness(t *testing.T, objs ...runtime.Object) *harness {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(1000)
	ctl, err := New(t.Context(), &controllers.Context{Client: client, Informers: f, Recorder: func(string) record.EventRecorder { return rec }})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(t.Context().Done())
	f.WaitForCacheSync(t.Context().Done())
	c := ctl.(*Controller)
	c.now = func() time.Time { return testNow }
	return &harness{ctl: c, client: client}
}

// ownedRS is a replica set of d running image, with the hash label set.
func ownedRS(d *appsv1.Deployment, image, revision string, spec, available int32, created time.Time) *appsv1.ReplicaSet {
	tmpl := testTemplate(image)
	hash := ComputeHash(&tmpl, nil)
	tmpl.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	t := true
	want := replicas(d.Spec.Replicas)
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: d.Namespace, UID: types.UID("rs-" + image), Labels: tmpl.Labels,
			CreationTimestamp: metav1.NewTime(created),
			OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: &t}},
			Annotations: map[string]string{RevisionAnnotation: revision,
				DesiredReplicasAnnotation: itoa(want), MaxReplicasAnnotation: itoa(want + MaxSurge(d))},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: &spec, Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels}, Template: tmpl},
		Status: appsv1.ReplicaSetStatus{Replicas: spec, ReadyReplicas: available, AvailableReplicas: available,
			FullyLabeledReplicas: spec},
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// sizes returns the replica counts the sync wrote, by replica set image.
func (h *harness) sizes() map[string]int32 {
	out := map[string]int32{}
	for _, a := range h.client.Actions() {
		var rs *appsv1.ReplicaSet
		switch a := a.(type) {
		case clienttesting.CreateAction:
			rs, _ = a.GetObject().(*appsv1.ReplicaSet)
		case clienttesting.UpdateAction:
			if a.GetSubresource() == "" {
				rs, _ = a.GetObject().(*appsv1.ReplicaSet)
			}
		}
		if rs != nil {
			out[rs.Spec.Template.Spec.Containers[0].Image] = *rs.Spec.Replicas
		}
	}
	return out
}

func TestRollingSteps(t *testing.T) {
	old := testNow.Add(-time.Hour)
	for _, tc := range []struct {
		name        string
		replicas    int32
		surge, un   intstr.IntOrString
		oldSpec     int32
		oldAvail    int32
		newSpec     int32 // -1: no new replica set yet
		newAvail    int32
		wantOld     int32 // -1: untouched
		wantNew     int32 // -1: untouched
		wantCreated bool
	}{
		{"start: new replica set takes the surge", 10, intstr.FromString("25%"), intstr.FromString("25%"), 10, 10, -1, 0, 8, 3, true},
		{"scale old down by maxUnavailable", 10, intstr.FromString("25%"), intstr.FromString("25%"), 10, 10, 3, 0, 8, -1, false},
		{"new pods available: grow new", 10, intstr.FromString("25%"), intstr.FromString("25%"), 8, 8, 3, 3, -1, 5, false},
		{"no surge: old goes first", 4, intstr.FromInt32(0), intstr.FromString("30%"), 4, 4, -1, 0, 3, 0, true},
		{"unavailable new pods block scale-down", 4, intstr.FromInt32(1), intstr.FromInt32(0), 4, 4, 1, 0, -1, -1, false},
		{"new available: old down by one", 4, intstr.FromInt32(1), intstr.FromInt32(0), 4, 4, 1, 1, 3, -1, false},
		{"unhealthy old pods go first", 4, intstr.FromInt32(0), intstr.FromInt32(1), 4, 2, 0, 0, 3, -1, false},
		{"unhealthy cleanup bounded by maxUnavailable", 4, intstr.FromInt32(0), intstr.FromInt32(2), 4, 1, 0, 0, 2, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := rollingDeployment(tc.replicas, tc.surge, tc.un)
			d.Annotations = map[string]string{RevisionAnnotation: "1"}
			objs := []runtime.Object{d, ownedRS(d, "v1", "1", tc.oldSpec, tc.oldAvail, old)}
			if tc.newSpec >= 0 {
				objs = append(objs, ownedRS(d, "v2", "2", tc.newSpec, tc.newAvail, testNow))
			}
			h := newHarness(t, objs...)
			if err := h.ctl.sync(t.Context(), "ns/web"); err != nil {
				t.Fatal(err)
			}
			got := h.sizes()
			if v, ok := got["v1"]; (tc.wantOld < 0 && ok) || (tc.wantOld >= 0 && v != tc.wantOld) {
				t.Errorf("old sized %v (written: %v), want %d", v, ok, tc.wantOld)
			}
			if v, ok := got["v2"]; (tc.wantNew < 0 && ok) || (tc.wantNew >= 0 && v != tc.wantNew) {
				t.Errorf("new sized %v (written: %v), want %d", v, ok, tc.wantNew)
			}
			created := false
			for _, a := range h.client.Actions() {
				if a.GetVerb() == "create" && a.GetResource().Resource == "replicasets" {
					created = true
					rs := a.(clienttesting.CreateAction).GetObject().(*appsv1.ReplicaSet)
					hash := rs.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
					if hash == "" || rs.Name != "web-"+hash || rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash ||
						rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || rs.Annotations[RevisionAnnotation] != "2" {
						t.Errorf("new replica set %s: labels %v selector %v annotations %v", rs.Name, rs.Labels, rs.Spec.Selector, rs.Annotations)
					}
					if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID || !*ref.BlockOwnerDeletion {
						t.Errorf("owner %v", rs.OwnerReferences)
					}
				}
			}
			if created != tc.wantCreated {
				t.Errorf("created=%v", created)
			}
		})
	}
}

func TestRecreateWaitsForOldPods(t *testing.T) {
	d := rollingDeployment(3, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	oldRS := ownedRS(d, "v1", "1", 0, 0, testNow.Add(-time.Hour))
	oldRS.Status.Replicas = 0
	t0 := true
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: oldRS.Spec.Template.Labels,
		OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: oldRS.Name, UID: oldRS.UID, Controller: &t0}},
		DeletionTimestamp: &metav1.Time{Time: testNow}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	h := newHarness(t, d, oldRS, pod)
	if err := h.ctl.sync(t.Context(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.sizes()["v2"]; ok {
		t.Fatal("new replica set created while an old pod is still terminating")
	}
	h2 := newHarness(t, d, oldRS)
	if err := h2.ctl.sync(t.Context(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if got := h2.sizes()["v2"]; got != 3 {
		t.Fatalf("new replica set sized %d, want 3 at once", got)
	}
}

func lastDeploymentStatus(t *testing.T, h *harness) appsv1.DeploymentStatus {
	t.Helper()
	var st *appsv1.DeploymentStatus
	for _, a := range h.client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			if d, ok := a.(clienttesting.UpdateAction).GetObject().(*appsv1.Deployment); ok {
				st = &d.Status
			}
		}
	}
	if st == nil {
		t.Fatal("no status update")
	}
	return *st
}

func TestConditions(t *testing.T) {
	for _, tc := range []struct {
		name       string
		progress   *appsv1.DeploymentCondition
		paused     bool
		newAvail   int32
		wantReason string
		wantAvail  corev1.ConditionStatus
	}{
		{"complete", &appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: ReasonRSUpdated,
			LastUpdateTime: metav1.NewTime(testNow)}, false, 3, ReasonNewRSAvailable, corev1.ConditionTrue},
		{"deadline exceeded", &appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: ReasonRSUpdated,
			LastUpdateTime: metav1.NewTime(testNow.Add(-time.Hour))}, false, 0, ReasonTimedOut, corev1.ConditionFalse},
		{"paused", nil, true, 0, ReasonPaused, corev1.ConditionFalse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := rollingDeployment(3, intstr.FromInt32(1), intstr.FromInt32(0))
			d.Spec.Paused = tc.paused
			d.Annotations = map[string]string{RevisionAnnotation: "1"}
			if tc.progress != nil {
				d.Status.Conditions = []appsv1.DeploymentCondition{*tc.progress}
				// No change in the counts since the last sync: no progress.
				d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas = 3, 3, 0, 0
			}
			rs := ownedRS(d, "v2", "1", 3, tc.newAvail, testNow.Add(-2*time.Hour))
			h := newHarness(t, d, rs)
			if err := h.ctl.sync(t.Context(), "ns/web"); err != nil {
				t.Fatal(err)
			}
			st := lastDeploymentStatus(t, h)
			p, a := condition(st, appsv1.DeploymentProgressing), condition(st, appsv1.DeploymentAvailable)
			if p == nil || p.Reason != tc.wantReason || a == nil || a.Status != tc.wantAvail {
				t.Fatalf("conditions %+v", st.Conditions)
			}
			if st.ObservedGeneration != 1 || st.Replicas != 3 || st.UpdatedReplicas != 3 || st.AvailableReplicas != tc.newAvail ||
				st.UnavailableReplicas != 3-tc.newAvail {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

func TestCleanupKeepsHistoryLimit(t *testing.T) {
	d := rollingDeployment(1, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Spec.RevisionHistoryLimit = ptr(int32(1))
	d.Annotations = map[string]string{RevisionAnnotation: "4"}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1, ReadyReplicas: 1}
	objs := []runtime.Object{d, ownedRS(d, "v2", "4", 1, 1, testNow)}
	for i, img := range []string{"a", "b", "c"} {
		rs := ownedRS(d, img, itoa(int32(i+1)), 0, 0, testNow.Add(-time.Duration(3-i)*time.Hour))
		objs = append(objs, rs)
	}
	h := newHarness(t, objs...)
	if err := h.ctl.sync(t.Context(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, a := range h.client.Actions() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "replicasets" {
			deleted = append(deleted, a.(clienttesting.DeleteAction).GetName())
		}
	}
	if len(deleted) != 2 {
		t.Fatalf("deleted %v, want the two oldest revisions", deleted)
	}
	for _, name := range deleted {
		if name == ownedRS(d, "c", "3", 0, 0, testNow).Name {
			t.Fatalf("deleted the newest old revision: %v", deleted)
		}
	}
}

func TestHashCollisionRaisesCollisionCount(t *testing.T) {
	d := rollingDeployment(2, intstr.FromInt32(1), intstr.FromInt32(0))
	hash := ComputeHash(&d.Spec.Template, nil)
	squatter := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-" + hash, Namespace: "ns", UID: "squatter", Labels: map[string]string{"app": "other"}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(0)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}},
			Template: testTemplate("unrelated")},
	}
	h := newHarness(t, d, squatter)
	if err := h.ctl.sync(t.Context(), "ns/web"); err == nil {
		t.Fatal("want the AlreadyExists error")
	}
	st := lastDeploymentStatus(t, h)
	if st.CollisionCount == nil || *st.CollisionCount != 1 {
		t.Fatalf("collisionCount %v", st.CollisionCount)
	}
	if other := ComputeHash(&d.Spec.Template, st.CollisionCount); other == hash {
		t.Fatal("the raised collision count must give another name")
	}
}

func TestSelectingAllIsReported(t *testing.T) {
	d := rollingDeployment(2, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Spec.Selector = &metav1.LabelSelector{}
	d.Generation = 4
	h := newHarness(t, d)
	if err := h.ctl.sync(t.Context(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if st := lastDeploymentStatus(t, h); st.ObservedGeneration != 4 {
		t.Fatalf("observedGeneration %d", st.ObservedGeneration)
	}
	for _, a := range h.client.Actions() {
		if a.GetResource().Resource == "replicasets" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			t.Fatalf("acted on replica sets: %v", a)
		}
	}
	select {
	case e := <-h.ctl.recorder.(*record.FakeRecorder).Events:
		if e != "Warning SelectingAll This deployment is selecting all pods. A non-empty selector is required." {
			t.Fatalf("event %q", e)
		}
	default:
		t.Fatal("no event")
	}
}
