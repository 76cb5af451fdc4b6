package deployment

import (
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func ptr[T any](v T) *T { return &v }

func testTemplate(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
	}
}

func TestComputeHash(t *testing.T) {
	a, b := testTemplate("a"), testTemplate("b")
	h := ComputeHash(&a, nil)
	if h != ComputeHash(&a, nil) {
		t.Fatal("hash is not stable")
	}
	if len(h) == 0 || len(h) > 10 {
		t.Fatalf("hash %q: want a short label-safe string", h)
	}
	for name, other := range map[string]string{
		"other template":  ComputeHash(&b, nil),
		"collision 0":     ComputeHash(&a, ptr(int32(0))),
		"collision 1":     ComputeHash(&a, ptr(int32(1))),
		"collision 2 vs1": ComputeHash(&a, ptr(int32(2))),
	} {
		if other == h {
			t.Errorf("%s: same hash %q", name, h)
		}
	}
	if ComputeHash(&a, ptr(int32(1))) == ComputeHash(&a, ptr(int32(2))) {
		t.Error("collision counts 1 and 2 hash alike")
	}
	labelled := a.DeepCopy()
	labelled.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = h
	if !EqualIgnoreHash(&a, labelled) || EqualIgnoreHash(&a, &b) {
		t.Fatal("EqualIgnoreHash must ignore only the hash label")
	}
}

func TestResolveFenceposts(t *testing.T) {
	for _, tc := range []struct {
		surge, unavailable intstr.IntOrString
		desired            int32
		wantSurge, wantUn  int32
	}{
		{intstr.FromString("25%"), intstr.FromString("25%"), 10, 3, 2},
		{intstr.FromString("25%"), intstr.FromString("25%"), 4, 1, 1},
		{intstr.FromString("25%"), intstr.FromString("25%"), 1, 1, 0},
		{intstr.FromString("15%"), intstr.FromString("15%"), 10, 2, 1},
		{intstr.FromString("0%"), intstr.FromString("1%"), 2, 0, 1},
		{intstr.FromInt32(0), intstr.FromInt32(0), 3, 0, 1},
		{intstr.FromInt32(2), intstr.FromInt32(1), 3, 2, 1},
		{intstr.FromString("100%"), intstr.FromString("100%"), 3, 3, 3},
	} {
		name := tc.surge.String() + "/" + tc.unavailable.String() + " of " + strconv.Itoa(int(tc.desired))
		t.Run(name, func(t *testing.T) {
			s, u, err := ResolveFenceposts(&tc.surge, &tc.unavailable, tc.desired)
			if err != nil || s != tc.wantSurge || u != tc.wantUn {
				t.Fatalf("got %d/%d %v, want %d/%d", s, u, err, tc.wantSurge, tc.wantUn)
			}
		})
	}
}

func rollingDeployment(replicas int32, surge, unavailable intstr.IntOrString) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "d-uid", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: testTemplate("v2"),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}},
			RevisionHistoryLimit:    ptr(int32(10)),
			ProgressDeadlineSeconds: ptr(int32(600)),
		},
	}
}

func rsOf(name string, spec, status, available int32, annotations map[string]string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name), Annotations: annotations},
		Spec:       appsv1.ReplicaSetSpec{Replicas: &spec},
		Status:     appsv1.ReplicaSetStatus{Replicas: status, AvailableReplicas: available, ReadyReplicas: available},
	}
}

func TestNewRSNewReplicas(t *testing.T) {
	for _, tc := range []struct {
		name     string
		d        *appsv1.Deployment
		old, new *appsv1.ReplicaSet
		want     int32
	}{
		{"start of rollout takes the surge", rollingDeployment(10, intstr.FromInt32(3), intstr.FromInt32(0)),
			rsOf("old", 10, 10, 10, nil), rsOf("new", 0, 0, 0, nil), 3},
		{"surge rounds up", rollingDeployment(10, intstr.FromString("15%"), intstr.FromInt32(0)),
			rsOf("old", 10, 10, 10, nil), rsOf("new", 0, 0, 0, nil), 2},
		{"grows into room left by old", rollingDeployment(10, intstr.FromString("25%"), intstr.FromString("25%")),
			rsOf("old", 8, 8, 8, nil), rsOf("new", 2, 2, 0, nil), 5},
		{"never beyond spec.replicas", rollingDeployment(4, intstr.FromInt32(3), intstr.FromInt32(0)),
			rsOf("old", 0, 0, 0, nil), rsOf("new", 3, 3, 3, nil), 4},
		{"at the surge: no change", rollingDeployment(10, intstr.FromInt32(1), intstr.FromInt32(0)),
			rsOf("old", 10, 10, 10, nil), rsOf("new", 1, 1, 0, nil), 1},
		{"old pods still being deleted count", rollingDeployment(10, intstr.FromInt32(1), intstr.FromInt32(0)),
			rsOf("old", 7, 8, 8, nil), rsOf("new", 3, 3, 3, nil), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewRSNewReplicas(tc.d, []*appsv1.ReplicaSet{tc.old, tc.new}, tc.new)
			if err != nil || got != tc.want {
				t.Fatalf("got %d %v, want %d", got, err, tc.want)
			}
		})
	}
	d := rollingDeployment(7, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if got, _ := NewRSNewReplicas(d, nil, rsOf("new", 0, 0, 0, nil)); got != 7 {
		t.Fatalf("recreate: %d", got)
	}
}

func TestProportionalSizes(t *testing.T) {
	ann := func(desired, maxR int) map[string]string {
		return map[string]string{DesiredReplicasAnnotation: strconv.Itoa(desired), MaxReplicasAnnotation: strconv.Itoa(maxR)}
	}
	for _, tc := range []struct {
		name      string
		replicas  int32
		surge     int32
		rss       []*appsv1.ReplicaSet
		want      map[string]int32
		direction string
	}{
		{"scale up 10 -> 12 mid-rollout", 12, 3,
			[]*appsv1.ReplicaSet{rsOf("old", 9, 9, 9, ann(10, 13)), rsOf("new", 4, 4, 0, ann(10, 13))},
			map[string]int32{"old": 10, "new": 5}, "up"},
		{"scale down 10 -> 5 mid-rollout", 5, 3,
			[]*appsv1.ReplicaSet{rsOf("old", 9, 9, 9, ann(10, 13)), rsOf("new", 4, 4, 0, ann(10, 13))},
			map[string]int32{"old": 6, "new": 2}, "down"},
		{"scale to zero", 0, 3,
			[]*appsv1.ReplicaSet{rsOf("old", 9, 9, 9, ann(10, 13)), rsOf("new", 4, 4, 0, ann(10, 13))},
			map[string]int32{"old": 0, "new": 0}, "down"},
		{"leftover goes to the largest", 20, 0,
			[]*appsv1.ReplicaSet{rsOf("a", 5, 5, 5, ann(10, 10)), rsOf("b", 3, 3, 3, ann(10, 10)), rsOf("c", 2, 2, 2, ann(10, 10))},
			map[string]int32{"a": 10, "b": 6, "c": 4}, "up"},
		{"rounding leftover 10 -> 11", 11, 0,
			[]*appsv1.ReplicaSet{rsOf("a", 5, 5, 5, ann(10, 10)), rsOf("b", 3, 3, 3, ann(10, 10)), rsOf("c", 2, 2, 2, ann(10, 10))},
			map[string]int32{"a": 6, "b": 3, "c": 2}, "up"},
		{"no annotation falls back to status.replicas", 20, 0,
			[]*appsv1.ReplicaSet{rsOf("a", 6, 6, 6, nil), rsOf("b", 4, 4, 4, nil)},
			map[string]int32{"a": 12, "b": 8}, "up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := rollingDeployment(tc.replicas, intstr.FromInt32(tc.surge), intstr.FromInt32(0))
			d.Status.Replicas = 10
			sizes, dir := proportionalSizes(d, tc.rss)
			got := map[string]int32{}
			total := int32(0)
			for _, s := range sizes {
				got[s.rs.Name] = s.size
				total += s.size
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("sizes %v, want %v", got, tc.want)
				}
			}
			if allowed := tc.replicas + tc.surge; tc.replicas > 0 && total != allowed {
				t.Fatalf("total %d, want %d", total, allowed)
			}
			if dir != tc.direction {
				t.Fatalf("direction %q", dir)
			}
		})
	}
}

func TestRevisionAnnotations(t *testing.T) {
	d := rollingDeployment(3, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Annotations = map[string]string{"team": "a", RevisionAnnotation: "9", corev1.LastAppliedConfigAnnotation: "{}"}
	created := &appsv1.ReplicaSet{}
	if !setNewReplicaSetAnnotations(d, created, "4", false) {
		t.Fatal("want a change")
	}
	want := map[string]string{"team": "a", RevisionAnnotation: "4", DesiredReplicasAnnotation: "3", MaxReplicasAnnotation: "4"}
	for k, v := range want {
		if created.Annotations[k] != v {
			t.Fatalf("annotations %v, want %v", created.Annotations, want)
		}
	}
	if len(created.Annotations) != len(want) {
		t.Fatalf("extra annotations copied: %v", created.Annotations)
	}
	// Rolling back to revision 1 makes it revision 5, remembering 1 (and 2).
	back := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{RevisionAnnotation: "2", RevisionHistoryAnnotation: "1"}}}
	setNewReplicaSetAnnotations(d, back, "5", true)
	if back.Annotations[RevisionAnnotation] != "5" || back.Annotations[RevisionHistoryAnnotation] != "1,2" {
		t.Fatalf("rollback annotations %v", back.Annotations)
	}
	// A newer revision is never lowered.
	if setNewReplicaSetAnnotations(d, back, "3", true) || back.Annotations[RevisionAnnotation] != "5" {
		t.Fatalf("revision lowered: %v", back.Annotations)
	}
}
